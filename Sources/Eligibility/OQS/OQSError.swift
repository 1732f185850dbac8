import Foundation
import StableCodes

/// A failure of the qualification-check terminal bridge, with a stable ``code``. Messages carry
/// no names, numbers or birth dates (only codes, file-level reasons and the terminal's error code).
public enum OQSError: Error, CodedError, Sendable, Equatable, CustomStringConvertible {
    /// The shared folder (or its `req/`/`res/` directory) does not exist or cannot be watched.
    case folderMissing(String)
    /// The request file could not be written (permissions, disk full …).
    case io(String)
    /// The terminal did not pick the request up (the file stayed in `req/`) within
    /// `pickupTimeoutSeconds`; the request was withdrawn.
    case terminalNotResponding
    /// The terminal took the request but no answer came within `answerTimeoutSeconds`.
    case timeout
    /// The answer is not the documented XML (not well-formed, wrong root, unknown code …).
    case malformedAnswer(String)
    /// The terminal answered with an error (`SegmentOfResult` 9 or `ProcessingResultStatus` 2).
    case terminalError(code: String)
    /// The answer names another medical institution, or a qualification other than the one asked.
    case answerMismatch(String)
    /// The bridge was shut down while the query waited.
    case shutDown

    /// The stable machine-readable code.
    public var code: String {
        switch self {
        case .folderMissing: "oqs_folder_missing"
        case .io: "oqs_io_error"
        case .terminalNotResponding: "oqs_terminal_not_responding"
        case .timeout: "oqs_timeout"
        case .malformedAnswer: "oqs_malformed_answer"
        case .terminalError: "oqs_terminal_error"
        case .answerMismatch: "oqs_answer_mismatch"
        case .shutDown: "oqs_shut_down"
        }
    }

    public var description: String {
        switch self {
        case .folderMissing(let m): "terminal folder missing: \(m)"
        case .io(let m): "terminal folder I/O error: \(m)"
        case .terminalNotResponding: "the terminal did not pick the request up"
        case .timeout: "the terminal did not answer in time"
        case .malformedAnswer(let m): "malformed terminal answer: \(m)"
        case .terminalError(let c): "the terminal answered with error \(c)"
        case .answerMismatch(let m): "terminal answer does not match the request: \(m)"
        case .shutDown: "the terminal bridge was shut down"
        }
    }
}
