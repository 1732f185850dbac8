import Foundation
import Logging

/// Logs that fit journald: when systemd connected stderr to the journal (`JOURNAL_STREAM`, see
/// systemd.exec(5)), one line per event with the syslog priority prefix `<N>` (sd-daemon(3)) and
/// no timestamp of our own (the journal stamps every line).
public enum JournalLog {
    /// Whether `fd` is the stream `JOURNAL_STREAM` names (`DEVICE:INODE`, as systemd sets it);
    /// false when the variable is absent or names another file (stderr was redirected).
    public static func isJournalStream(
        environment: [String: String] = ProcessInfo.processInfo.environment, fd: CInt = 2
    )
        -> Bool
    {
        guard let value = environment["JOURNAL_STREAM"] else { return false }
        let parts = value.split(separator: ":")
        guard parts.count == 2, let dev = UInt64(parts[0]), let ino = UInt64(parts[1]) else { return false }
        var st = stat()
        guard fstat(fd, &st) == 0 else { return false }
        return UInt64(st.st_dev) == dev && UInt64(st.st_ino) == ino
    }

    /// The syslog priority of a level (sd-daemon(3): `<7>` debug … `<2>` critical).
    public static func priority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: 7
        case .info: 6
        case .notice: 5
        case .warning: 4
        case .error: 3
        case .critical: 2
        }
    }

    /// One journal line: `<N>label: message key=value …`; line breaks in the message or a value
    /// become spaces, so an event is always exactly one line.
    public static func line(level: Logger.Level, label: String, message: String, metadata: Logger.Metadata)
        -> String
    {
        var text = "<\(priority(level))>\(label): \(message)"
        for key in metadata.keys.sorted() {
            text += " \(key)=\(metadata[key]!)"
        }
        return text.map { $0.isNewline ? " " : String($0) }.joined() + "\n"
    }
}

/// A swift-log handler writing ``JournalLog`` lines to a sink (stderr by default).
public struct JournalLogHandler: LogHandler {
    /// The logger label.
    public let label: String
    /// The minimum level.
    public var logLevel: Logger.Level = .info
    /// Metadata attached to every line.
    public var metadata: Logger.Metadata = [:]
    private let sink: @Sendable (String) -> Void

    /// A handler writing to stderr (one `write(2)` per line, so lines never interleave).
    public static func standardError(label: String) -> JournalLogHandler {
        JournalLogHandler(label: label) { line in
            let bytes = Array(line.utf8)
            _ = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
        }
    }

    /// A handler writing to `sink`.
    public init(label: String, sink: @escaping @Sendable (String) -> Void) {
        self.label = label
        self.sink = sink
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var all = metadata
        if let extra = event.metadata { all.merge(extra) { $1 } }
        sink(JournalLog.line(level: event.level, label: label, message: "\(event.message)", metadata: all))
    }
}
