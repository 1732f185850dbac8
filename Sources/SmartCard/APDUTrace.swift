import Synchronization

/// A record of APDU exchanges in the transcript text form (`> 00A4…` / `< …9000`), with
/// sensitive parts redacted before they are stored: VERIFY/CHANGE data always, and response
/// data the caller marked sensitive. Redacted bytes are shown as `**` per byte, never the value.
public final class APDUTrace: Sendable {
    private let lines = Mutex<[String]>([])
    private let sink: (@Sendable (String) -> Void)?

    /// Creates a trace; `sink` (optional) receives each line as it is recorded.
    public init(sink: (@Sendable (String) -> Void)? = nil) {
        self.sink = sink
    }

    /// The recorded lines.
    public var recorded: [String] { lines.withLock { $0 } }

    /// Removes all lines.
    public func clear() { lines.withLock { $0.removeAll() } }

    func recordCommand(_ command: CommandAPDU, encoded: [UInt8], sensitivity: Sensitivity) {
        var text: String
        if sensitivity.contains(.commandData) && !command.data.isEmpty {
            // Header + length fields stay; data bytes are masked.
            let headerCount = command.isExtended ? 7 : 5
            let trailer = encoded.count - headerCount - command.data.count
            text =
                "> " + encoded[0..<headerCount].hexString
                + String(repeating: "**", count: command.data.count)
                + encoded[(encoded.count - trailer)...].hexString
        } else {
            text = "> " + encoded.hexString
        }
        append(text)
    }

    func recordResponse(_ response: ResponseAPDU, sensitivity: Sensitivity) {
        let sw = [response.statusWord.sw1, response.statusWord.sw2].hexString
        if sensitivity.contains(.responseData) && !response.data.isEmpty {
            append("< [\(response.data.count) bytes redacted] " + sw)
        } else {
            append("< " + response.data.hexString + sw)
        }
    }

    func recordMalformedResponse(_ count: Int) {
        append("< [malformed response, \(count) bytes]")
    }

    private func append(_ line: String) {
        lines.withLock { $0.append(line) }
        sink?(line)
    }
}
