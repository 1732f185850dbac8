import Foundation
import Synchronization

/// One audit entry. It records who did what to which session — never a PIN, a My Number or an
/// identity value.
public struct AuditEntry: Codable, Sendable, Equatable {
    /// ISO 8601 time.
    public var time: String
    /// Peer uid.
    public var uid: UInt32?
    /// Peer pid.
    public var pid: Int32?
    /// Peer process name.
    public var process: String?
    /// Operation (e.g. `authenticate`, `identity`, `my-number`).
    public var operation: String
    /// Card session id, when the operation concerns a card.
    public var session: String?
    /// Reader name.
    public var reader: String?
    /// Outcome code: `ok` or an error code.
    public var outcome: String
}

/// Append-only JSON-lines audit log. Each entry is one `write(2)` to an `O_APPEND` file, so
/// lines never interleave, and is flushed to the kernel before the response is sent.
public final class AuditLog: Sendable {
    private let fd: Int32
    private let lock = Mutex(())
    /// The file path.
    public let path: String

    /// Opens (creating, mode 0640) the audit file and its directory.
    public init(path: String) throws(ConfigError) {
        self.path = path
        let dir = (path as NSString).deletingLastPathComponent
        if !dir.isEmpty {
            try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        }
        let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o640)
        guard fd >= 0 else {
            throw .unreadable(path: path, reason: "cannot open audit log: \(String(cString: strerror(errno)))")
        }
        self.fd = fd
    }

    deinit { close(fd) }

    /// Appends an entry.
    public func record(
        _ operation: String, peer: PeerCredentials?, session: String? = nil, reader: String? = nil,
        outcome: String
    ) {
        append(
            AuditEntry(
                time: Date().formatted(.iso8601), uid: peer?.uid, pid: peer?.pid, process: peer?.processName,
                operation: operation, session: session, reader: reader, outcome: outcome))
    }

    /// Appends any entry as one JSON line (sorted keys) in a single `write(2)`. Callers put no
    /// PINs, My Numbers or identity values in it.
    public func append<Entry: Encodable>(_ entry: Entry) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard var line = try? encoder.encode(entry) else { return }
        line.append(0x0A)
        lock.withLock { _ in
            _ = line.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        }
    }
}
