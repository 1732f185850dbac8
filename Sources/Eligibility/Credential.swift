import Foundation
import JPKI

/// One credential linked to a registry record: the key its eligibility is looked up by, and
/// what it is. A record links any number of them (card, phone, a renewed card); each key links
/// to at most one record.
public struct Credential: Sendable, Hashable, Codable {
    /// The auth certificate's key (issuer key id + serial).
    public var key: CardKey
    /// The kind (JPKI's ``JPKI/CredentialKind``, by the token label read when it was linked), or
    /// nil for a link written before kinds were recorded (schema `v3-credential-kind` keeps such
    /// links as they were: their kind is not known).
    public var kind: CredentialKind?
    /// When it was linked (ISO 8601, as stored).
    public var linkedAt: String

    /// Creates a value.
    public init(key: CardKey, kind: CredentialKind?, linkedAt: String) {
        self.key = key
        self.kind = kind
        self.linkedAt = linkedAt
    }

    /// `kind key` for listings, `-` when the kind is not recorded.
    public var description: String { "\(kind?.rawValue ?? "-") \(key)" }
}
