import StableCodes

/// Why bytes are not a valid command or response APDU, or a command cannot be encoded.
public enum APDUFormatError: Error, CodedError, Sendable, Hashable {
    /// Fewer than 4 header bytes (command) or 2 status bytes (response).
    case tooShort(Int)
    /// Command data longer than 65,535 bytes.
    case dataTooLong(Int)
    /// Le outside 1...65,536.
    case invalidLe(Int)
    /// The body does not match any ISO 7816-4 case.
    case inconsistentLength(Int)
    /// Extended Lc of zero.
    case zeroExtendedLc
    /// The command needs extended length but the reader or card does not allow it.
    case extendedLengthNotAllowed

    /// A stable code for logs and APIs.
    public var code: String {
        switch self {
        case .tooShort: "apdu_too_short"
        case .dataTooLong: "apdu_data_too_long"
        case .invalidLe: "apdu_invalid_le"
        case .inconsistentLength: "apdu_inconsistent_length"
        case .zeroExtendedLc: "apdu_zero_extended_lc"
        case .extendedLengthNotAllowed: "apdu_extended_not_allowed"
        }
    }
}

/// Errors of the card channel and its transports.
public enum SmartCardError: Error, CodedError, Sendable, Equatable, CustomStringConvertible {
    /// A command could not be encoded or a response could not be decoded.
    case format(APDUFormatError)
    /// The reader service behind the transport failed (PC/SC: a call's return code).
    case service(ReaderServiceError)
    /// The card was removed or reset during the exchange.
    case cardRemoved
    /// The card kept answering 61xx/6Cxx past the limits (a broken or hostile card).
    case chainingLimitExceeded
    /// A non-PC/SC transport (e.g. TCP to vpcd) failed.
    case transport(String)

    /// A stable code for logs and APIs.
    public var code: String {
        switch self {
        case .format(let e): e.code
        case .service(let e): e.name
        case .cardRemoved: "card_removed"
        case .chainingLimitExceeded: "chaining_limit_exceeded"
        case .transport: "transport_failure"
        }
    }

    public var description: String {
        switch self {
        case .format(let e): "malformed APDU: \(e)"
        case .service(let e): e.description
        case .cardRemoved: "the card was removed"
        case .chainingLimitExceeded: "the card exceeded the response chaining limits"
        case .transport(let m): "transport failure: \(m)"
        }
    }
}

/// A failure of the reader service behind a transport, in backend-neutral terms (the PC/SC backend
/// makes these from pcsc-lite's return codes), so that the layers above the core never name a
/// backend's types.
public struct ReaderServiceError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Stable name (PC/SC: pcsc-lite's, e.g. `SCARD_E_NO_SERVICE`).
    public let name: String
    /// The backend's numeric status (PC/SC: the return code).
    public let status: UInt32
    /// What failed (PC/SC: the function).
    public let function: String
    /// Whether trying again shortly may succeed (the reader still settling after an insertion,
    /// a reset by another application, another application's transaction).
    public let isTransient: Bool

    /// Creates an error.
    public init(name: String, status: UInt32, function: String, isTransient: Bool) {
        self.name = name
        self.status = status
        self.function = function
        self.isTransient = isTransient
    }

    public var description: String { "\(function): \(name) (0x\(String(status, radix: 16, uppercase: true)))" }
}
