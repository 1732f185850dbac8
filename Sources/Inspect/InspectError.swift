import JPKI
import JPKIVerify
import SmartCard
import SmartCardPCSC
import StableCodes

/// The exit statuses of `card-inspect` (**contract**: documented in `--help` and the README).
public enum ExitStatus: Int32, Sendable, CaseIterable {
    /// Success (for `verify`, `identity`, `face`, `sign`: everything that was checked passed).
    case ok = 0
    /// An unexpected internal error.
    case internalError = 1
    /// Bad arguments, or no way to enter a PIN (no terminal and no `--pin-stdin`, empty input).
    case usage = 2
    /// The PC/SC service (pcscd) is not running, or no reader is connected.
    case noReader = 3
    /// `--reader NAME|INDEX` matches no reader.
    case readerNotFound = 4
    /// No card in the reader (or it was removed during the operation).
    case noCard = 5
    /// The card failed: not a JPKI card, unexpected status word, malformed data, reader busy.
    case cardError = 6
    /// The PIN does not have the required format; nothing was sent to the card.
    case invalidPINFormat = 7
    /// The PIN was wrong; one try was spent.
    case wrongPIN = 8
    /// The PIN is blocked; nothing was sent.
    case pinBlocked = 9
    /// One try is left and `--allow-last-try` was not given (or not confirmed); nothing was sent.
    case lastTryRefused = 10
    /// A verification failed (chain, revocation, signature, integrity).
    case verificationFailed = 11
    /// A file could not be read or written (`--in`, `--out`, `--trust`, `--cv-key`).
    case fileError = 12

    /// One line for `--help` and the README.
    public var summary: String {
        switch self {
        case .ok: "success (everything checked passed)"
        case .internalError: "internal error"
        case .usage: "usage error (bad arguments, or no terminal and no --pin-stdin)"
        case .noReader: "no PC/SC service (pcscd not running) or no reader connected"
        case .readerNotFound: "--reader matches no reader (unknown name, index out of range)"
        case .noCard: "no card in the reader, or the card was removed"
        case .cardError: "card error (not a JPKI card, unexpected answer, reader busy)"
        case .invalidPINFormat: "invalid PIN format (the PIN was not sent to the card)"
        case .wrongPIN: "wrong PIN (one try spent; the message says how many are left)"
        case .pinBlocked: "PIN blocked (nothing sent)"
        case .lastTryRefused: "only one try left and --allow-last-try not given (nothing sent)"
        case .verificationFailed: "verification failed (chain, revocation, signature, integrity)"
        case .fileError: "cannot read or write a file (--in, --out, --trust, --cv-key)"
        }
    }

    /// The exit-code table, as printed in `--help`.
    public static var table: String {
        allCases.map { s in
            let n = String(s.rawValue)
            return String(repeating: " ", count: 2 - n.count) + n + "  " + s.summary
        }.joined(separator: "\n")
    }
}

/// A failure of a `card-inspect` command: exit status, stable code and a one-line English
/// message. Never carries a PIN, a My Number or identity data.
public struct InspectError: Error, CodedError, Sendable, Equatable, CustomStringConvertible {
    /// The process exit status.
    public var status: ExitStatus
    /// A stable machine-readable code (e.g. `wrong_pin`, `reader_not_found`).
    public var code: String
    /// A one-line message for people.
    public var message: String

    /// Creates an error.
    public init(_ status: ExitStatus, _ code: String, _ message: String) {
        self.status = status
        self.code = code
        self.message = message
    }

    /// `message [code]`.
    public var description: String { "\(message) [\(code)]" }

    /// Maps a PC/SC failure (context, reader list, connect).
    public static func from(_ e: PCSCError, reader: String? = nil) -> InspectError {
        let on = reader.map { " in reader '\($0)'" } ?? ""
        switch e.rc {
        case PCSCError.eNoService, PCSCError.eServiceStopped, PCSCError.fCommError:
            return InspectError(
                .noReader, "no_service", "the PC/SC service is not running (start pcscd) (\(e.name))")
        case PCSCError.eNoReadersAvailable:
            return InspectError(.noReader, "no_reader", "no smart-card reader is connected")
        case PCSCError.eUnknownReader, PCSCError.eReaderUnavailable:
            return InspectError(
                .readerNotFound, "reader_not_found", "the reader\(on.isEmpty ? "" : on) is gone (\(e.name))")
        case PCSCError.eNoSmartcard, PCSCError.wRemovedCard, PCSCError.wResetCard:
            return InspectError(.noCard, "no_card", "no card\(on) (\(e.name))")
        case PCSCError.eSharingViolation:
            return InspectError(
                .cardError, "reader_busy", "another application holds the card\(on) exclusively (\(e.name))")
        default:
            return InspectError(.cardError, "pcsc_error", "PC/SC failure\(on): \(e.description)")
        }
    }

    /// Maps a channel failure.
    public static func from(_ e: SmartCardError, reader: String? = nil) -> InspectError {
        switch e {
        case .cardRemoved:
            return InspectError(.noCard, "card_removed", "the card was removed during the operation")
        case .service(let p):
            return from(PCSCError(rc: p.status, function: p.function), reader: reader)
        default:
            return InspectError(.cardError, e.code, "card communication failed: \(e)")
        }
    }

    /// Maps a JPKI card-layer failure.
    public static func from(_ e: JPKIError, reader: String? = nil) -> InspectError {
        switch e {
        case .transport(let t):
            return from(t, reader: reader)
        case .notJPKICard, .applicationNotFound(.jpki):
            return InspectError(
                .cardError, "not_a_jpki_card", "the card has no JPKI application (not a My Number card)")
        case .invalidPINFormat(let k, let reason):
            return InspectError(
                .invalidPINFormat, e.code, "invalid \(PINLabels.english(k)) format: \(reason); the PIN was not sent")
        case .wrongPIN(let k, let n):
            let left = n == 0 ? "it is now blocked" : n == 1 ? "1 try left" : "\(n) tries left"
            return InspectError(.wrongPIN, e.code, "wrong \(PINLabels.english(k)), \(left)")
        case .pinBlocked(let k):
            return InspectError(
                .pinBlocked, e.code,
                "the \(PINLabels.english(k)) is blocked (reset it at the municipal office); nothing was sent")
        case .lastTryRefused(let k):
            return InspectError(
                .lastTryRefused, e.code,
                "only one \(PINLabels.english(k)) try is left; refused without trying (use --allow-last-try)")
        default:
            return InspectError(.cardError, e.code, e.description)
        }
    }

    /// Maps any error thrown by a card operation.
    public static func from(any error: any Error, reader: String? = nil) -> InspectError {
        switch error {
        case let e as InspectError: e
        case let e as JPKIError: from(e, reader: reader)
        case let e as SmartCardError: from(e, reader: reader)
        case let e as PCSCError: from(e, reader: reader)
        case let e as JPKIVerifyError: InspectError(.internalError, e.code, e.message)
        default: InspectError(.internalError, "internal_error", "unexpected error: \(type(of: error))")
        }
    }
}

/// Names of the PINs for messages and tables.
public enum PINLabels {
    /// English name, e.g. `auth PIN`.
    public static func english(_ k: PINKind) -> String {
        switch k {
        case .auth: "auth PIN"
        case .sign: "sign password"
        case .text: "text-AP PIN"
        case .textA: "text-AP key A (My Number)"
        case .textB: "text-AP key B"
        case .visualBirth: "visual-AP birth-date key"
        case .visualB: "visual-AP key B"
        case .visualA: "visual-AP key A (My Number)"
        case .common: "common-AP PIN"
        case .juki: "juki-AP PIN"
        }
    }

    /// Japanese name as printed in the card's documentation.
    public static func japanese(_ k: PINKind) -> String {
        switch k {
        case .auth: "利用者証明用電子証明書 暗証番号"
        case .sign: "署名用電子証明書 暗証番号"
        case .text: "券面事項入力補助用 暗証番号"
        case .textA: "照合番号A（個人番号）"
        case .textB: "照合番号B"
        case .visualBirth: "生年月日"
        case .visualB: "照合番号B"
        case .visualA: "照合番号A（個人番号）"
        case .common: "共通AP 暗証番号"
        case .juki: "住基AP 暗証番号"
        }
    }
}
