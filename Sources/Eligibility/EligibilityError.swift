import Foundation
import StableCodes

/// An eligibility failure with a stable ``code``. Messages never carry names, birth dates or PINs.
public enum EligibilityError: Error, CodedError, Sendable, Equatable, CustomStringConvertible {
    /// The registry (SQLite file, PostgreSQL server, HTTP gateway) cannot be reached or opened.
    case unavailable(String)
    /// The registry answered, but not as expected (SQL error, bad gateway answer, schema problem).
    case backend(String)
    /// The registry did not answer within `timeoutSeconds`.
    case timeout
    /// A card key is malformed (empty issuer, serial not hexadecimal …).
    case invalidKey(String)
    /// A record field is invalid (`field` names it: `birthDate`, `copaymentRatio` …).
    case invalidRecord(field: String, reason: String)
    /// The named record or link does not exist.
    case notFound(String)
    /// The card is already linked to another record (unlink first, or link with replace).
    case alreadyLinked(recordID: Int64)
    /// The eligibility configuration is invalid.
    case configuration(field: String, reason: String)
    /// The operation is not offered by this provider (e.g. registry administration over HTTP).
    case unsupported(String)
    /// The registry links this card's issuer DN and serial only (a link written before issuer
    /// keys), and several configured anchors share that DN: which card it meant is unknown.
    /// Link the card again (`jpkid registry link`); `jpkid registry legacy` lists such links.
    case relinkRequired(String)
    /// The qualification-check terminal bridge (provider `oqs`) failed; the code is the bridge's.
    case terminal(OQSError)

    /// A stable machine-readable code.
    public var code: String {
        switch self {
        case .unavailable: "registry_unavailable"
        case .backend: "registry_error"
        case .timeout: "registry_timeout"
        case .invalidKey: "invalid_card_key"
        case .invalidRecord: "invalid_record"
        case .notFound: "not_found"
        case .alreadyLinked: "already_linked"
        case .configuration: "eligibility_config_invalid"
        case .unsupported: "unsupported"
        case .relinkRequired: "card_relink_required"
        case .terminal(let e): e.code
        }
    }

    public var description: String {
        switch self {
        case .unavailable(let m): "registry unavailable: \(m)"
        case .backend(let m): "registry error: \(m)"
        case .timeout: "registry did not answer in time"
        case .invalidKey(let m): "invalid card key: \(m)"
        case .invalidRecord(let f, let r): "invalid record field \(f): \(r)"
        case .notFound(let m): "not found: \(m)"
        case .alreadyLinked(let id): "card already linked to record \(id)"
        case .configuration(let f, let r): "eligibility config field \(f): \(r)"
        case .unsupported(let m): "unsupported: \(m)"
        case .relinkRequired(let m): "card must be linked again (issuer name shared by several anchors): \(m)"
        case .terminal(let e): e.description
        }
    }
}
