import Foundation

/// What a peer may do. Granted by uid or group in the configuration.
public enum Role: String, Codable, Sendable, CaseIterable, Comparable {
    /// Health, readers, events, certificates, PIN status.
    case status
    /// Card authentication (auth PIN + challenge) and eligibility.
    case authenticate
    /// Basic 4 information and card face.
    case identity
    /// The My Number itself (also needs `myNumber.enabled`).
    case myNumber = "my-number"
    /// Registry administration.
    case admin

    public static func < (a: Role, b: Role) -> Bool { a.rawValue < b.rawValue }
}
