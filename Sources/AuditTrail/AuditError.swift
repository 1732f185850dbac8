import StableCodes

/// Errors of the audit trail. ``code`` is stable (it appears in API answers and exit messages).
public enum AuditError: Error, CodedError, Sendable, Equatable, CustomStringConvertible {
    /// A line could not be made durable (disk full, read-only, permission…): whatever it would
    /// have recorded must be refused.
    case unavailable(path: String, reason: String)
    /// The checkpoint key could not be created, read or used.
    case key(String)
    /// The writer was closed.
    case closed

    /// Stable code.
    public var code: String {
        switch self {
        case .unavailable: "audit_unavailable"
        case .key: "audit_key"
        case .closed: "audit_closed"
        }
    }

    public var description: String {
        switch self {
        case .unavailable(let path, let reason): "audit log \(path) cannot be written: \(reason)"
        case .key(let m): "audit key: \(m)"
        case .closed: "audit log closed"
        }
    }
}
