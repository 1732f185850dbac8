import SmartCard
import StableCodes

/// Every failure of the JPKI card layer. `code` is a stable string for logs and APIs; no case
/// ever carries a PIN, My Number or identity field.
public enum JPKIError: Error, CodedError, Sendable, Equatable, CustomStringConvertible {
    /// The transport or channel failed (card removed, PC/SC error, malformed APDU).
    case transport(SmartCardError)
    /// The JPKI AP is not on the card: not a My Number / 住基 card.
    case notJPKICard
    /// An application answered SELECT with 6A82.
    case applicationNotFound(JPKIApplication)
    /// An EF answered SELECT with 6A82.
    case fileNotFound(UInt16)
    /// The operation needs a PIN that is not verified (6982).
    case pinRequired(PINKind?)
    /// The PIN is blocked (63C0 / 6983 / 6984); nothing was sent that could spend a try.
    case pinBlocked(PINKind)
    /// The card has no such PIN at all (its PIN EF answers SELECT with 6A82): a
    /// 顔認証マイナンバーカード, issued without PINs (see ``CardDetection/authPINPresent``).
    /// Refused before any VERIFY is sent; only face or visual confirmation works with this card.
    case pinNotSet(PINKind)
    /// The PIN was wrong; this many tries remain.
    case wrongPIN(PINKind, triesLeft: Int)
    /// Exactly one try is left and the caller did not allow spending it; nothing was sent.
    case lastTryRefused(PINKind)
    /// The retry counter could not be read, so the last-try guard cannot be applied; nothing was
    /// sent. Kept for API stability: ``JPKICommands/verifyPIN(_:pin:allowLastTry:bySFI:on:)`` no
    /// longer throws it (a 9000 answer to the counter query means "already verified", see there).
    case pinCounterUnknown(PINKind)
    /// The PIN does not have the required format; no APDU was sent.
    case invalidPINFormat(PINKind, reason: String)
    /// The PIN object was already wiped.
    case pinWiped
    /// The card refused the command data (6700 / 6A80 / 6985).
    case wrongData(StatusWord)
    /// A status word this operation does not expect.
    case unexpectedStatus(StatusWord, operation: String)
    /// A BER-TLV structure on the card is malformed.
    case tlv(BERTLVError)
    /// A file's content does not have the documented layout.
    case malformedData(String)
    /// The file ended before the length its header declares.
    case truncatedFile(UInt16, expected: Int, got: Int)
    /// A file is larger than this library reads (READ BINARY offsets are 15 bits).
    case fileTooLarge(UInt16, Int)
    /// The My Number is not 12 digits with a valid check digit.
    case invalidMyNumber
    /// The digest length does not match the algorithm.
    case invalidDigest(String)
    /// The card in the reader is not the one the caller expected (its auth certificate differs):
    /// found before any PIN was sent.
    case cardChanged
    /// The key is on an elliptic curve other than P-256 and P-384.
    case unsupportedCurve(String)
    /// The key is neither RSA nor EC (e.g. Ed25519).
    case unsupportedKeyAlgorithm(String)

    /// A stable code for logs and APIs.
    public var code: String {
        switch self {
        case .transport(let e): "transport." + e.code
        case .notJPKICard: "not_a_jpki_card"
        case .cardChanged: "card_changed"
        case .applicationNotFound: "application_not_found"
        case .fileNotFound: "file_not_found"
        case .pinRequired: "pin_required"
        case .pinBlocked: "pin_blocked"
        case .pinNotSet: "pin_not_set"
        case .wrongPIN: "wrong_pin"
        case .lastTryRefused: "last_try_refused"
        case .pinCounterUnknown: "pin_counter_unknown"
        case .invalidPINFormat: "invalid_pin_format"
        case .pinWiped: "pin_wiped"
        case .wrongData: "wrong_data"
        case .unexpectedStatus: "unexpected_status"
        case .tlv(let e): "tlv." + e.code
        case .malformedData: "malformed_data"
        case .truncatedFile: "truncated_file"
        case .fileTooLarge: "file_too_large"
        case .invalidMyNumber: "invalid_my_number"
        case .invalidDigest: "invalid_digest"
        case .unsupportedCurve: "unsupported_curve"
        case .unsupportedKeyAlgorithm: "unsupported_key_algorithm"
        }
    }

    /// An English description without personal data.
    public var description: String {
        switch self {
        case .transport(let e): "transport: \(e)"
        case .notJPKICard: "the card has no JPKI application"
        case .applicationNotFound(let ap): "application \(ap) not found on the card"
        case .fileNotFound(let fid): "EF \(fid.hex4) not found"
        case .pinRequired(let k): "PIN required" + (k.map { " (\($0))" } ?? "")
        case .pinBlocked(let k): "the \(k) PIN is blocked"
        case .pinNotSet(let k):
            "the card has no \(k) PIN (a card issued without PINs: face or visual confirmation only)"
        case .wrongPIN(let k, let n): "wrong \(k) PIN, \(n) tries left"
        case .lastTryRefused(let k):
            "only one \(k) PIN try is left; refused without trying (allow the last try explicitly)"
        case .pinCounterUnknown(let k):
            "the \(k) PIN retry counter is unknown; refused without trying"
        case .invalidPINFormat(let k, let reason): "invalid \(k) PIN format: \(reason)"
        case .pinWiped: "the PIN was already wiped"
        case .wrongData(let sw): "the card refused the data (\(sw))"
        case .unexpectedStatus(let sw, let op): "\(op): unexpected status \(sw) (\(sw.meaning))"
        case .tlv(let e): "malformed TLV: \(e)"
        case .malformedData(let m): "malformed card data: \(m)"
        case .truncatedFile(let fid, let e, let g): "EF \(fid.hex4) ended after \(g) of \(e) bytes"
        case .fileTooLarge(let fid, let n): "EF \(fid.hex4) declares \(n) bytes, too large"
        case .invalidMyNumber: "the My Number is not 12 digits with a valid check digit"
        case .invalidDigest(let m): "invalid digest: \(m)"
        case .cardChanged: "the card in the reader is not the expected card"
        case .unsupportedCurve(let m): "unsupported elliptic curve: \(m) (P-256 and P-384 are supported)"
        case .unsupportedKeyAlgorithm(let m): "unsupported key algorithm: \(m) (RSA and ECDSA are supported)"
        }
    }
}

extension UInt16 {
    /// Four upper-case hex digits.
    var hex4: String { [UInt8(self >> 8), UInt8(self & 0xFF)].hexString }
}
