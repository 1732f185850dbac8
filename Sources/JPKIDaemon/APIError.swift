import StableCodes

/// An error answered to an API client: HTTP status + stable code + message. Messages never
/// contain PINs, My Numbers or identity values.
public struct APIError: Error, CodedError, Sendable, Equatable, CustomStringConvertible {
    /// HTTP status.
    public var status: Int
    /// Stable machine-readable code.
    public var code: String
    /// Human-readable message.
    public var message: String
    /// Extra fields (e.g. `retriesLeft`), numbers or short strings only.
    public var details: [String: String]
    /// For 405: the methods the endpoint answers, sent as the `Allow` header (RFC 9110 §15.5.6).
    public var allow: [String] = []

    /// Creates an error.
    public init(_ status: Int, _ code: String, _ message: String, details: [String: String] = [:]) {
        self.status = status
        self.code = code
        self.message = message
        self.details = details
    }

    public var description: String { "\(status) \(code): \(message)" }

    /// The session's card was removed or replaced (contract: 409 `card_session_ended`).
    public static let sessionEnded = APIError(
        409, "card_session_ended", "the card of this session was removed or replaced; use the new session")
    /// The session's credential shows its auth certificate only after the auth PIN (Android
    /// smartphone JPKI) and no PIN-verified operation (authenticate, eligibility in mode `pin`) has
    /// bound the session to it yet: 428 `certificate_after_pin`.
    public static let certificateAfterPIN = APIError(
        428, "certificate_after_pin",
        "this credential shows its auth certificate only after the auth PIN: authenticate or check eligibility with the PIN first",
        details: ["alternative": "pin"])
    /// No such session (never existed).
    public static let sessionNotFound = APIError(404, "session_not_found", "no such card session")
    /// The peer lacks a role.
    public static func forbidden(_ role: Role) -> APIError {
        APIError(403, "forbidden", "this operation needs the \(role.rawValue) role")
    }
    /// Unknown route.
    public static let notFound = APIError(404, "not_found", "no such endpoint")
    /// Wrong method; `allowed` goes into the `Allow` header.
    public static func methodNotAllowed(allowed: [String]) -> APIError {
        var e = APIError(
            405, "method_not_allowed",
            "method not allowed on this endpoint; allowed: \(allowed.joined(separator: ", "))")
        e.allow = allowed
        return e
    }
    /// Body is not valid JSON of the expected shape.
    public static func badRequest(_ message: String) -> APIError { APIError(400, "bad_request", message) }
    /// Body too large.
    public static let payloadTooLarge = APIError(413, "payload_too_large", "request body exceeds the configured limit")
    /// Card operation took too long.
    public static let timeout = APIError(504, "card_timeout", "the card operation did not finish in time")
    /// The peer has no role at all (answered at connect time, before any request is read).
    public static let unknownPeer = APIError(403, "unknown_peer", "this user has no role")
    /// The peer's uid holds `limits.maxConnectionsPerPeer` connections already.
    public static let tooManyConnections = APIError(
        503, "too_many_connections", "this user holds the most connections allowed; close some and retry")
    /// The peer's uid holds `limits.maxEventStreamsPerPeer` event streams already.
    public static let tooManyEventStreams = APIError(
        429, "too_many_event_streams", "this user holds the most event streams allowed; close one and retry")
    /// The audit log cannot be written (disk full, read-only, permission): whatever needs an audit
    /// line is refused until it can be written again.
    public static let auditUnavailable = APIError(
        503, "audit_unavailable", "the audit log cannot be written: operations that must be audited are refused")
    /// Reader service gone.
    public static let serviceUnavailable = APIError(503, "pcsc_unavailable", "the PC/SC service is not reachable")
}
