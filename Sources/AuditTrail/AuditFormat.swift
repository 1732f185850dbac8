import Foundation

/// The line format shared by the writer, the verifier and the report.
public enum AuditFormat {
    /// `prev` of the first line ever.
    public static let zeroHash = String(repeating: "0", count: 64)

    /// SHA-256 (hex) of a line's bytes, as `prev` names it.
    public static func hashOf(_ line: Data) -> String { Digest.sha256Hex(line) }

    /// The current time as the lines carry it (ISO 8601, UTC, seconds).
    public static func now() -> String { Date().formatted(.iso8601) }

    /// `{"seq":N,"prev":"…",` followed by the rest of `object`.
    static func chain(_ object: Data, seq: UInt64, prev: String) -> Data {
        var line = Data("{\"seq\":\(seq),\"prev\":\"\(prev)\"".utf8)
        let rest = object.drop(while: { $0 == 0x20 }).dropFirst()  // past "{"
        if rest.first(where: { $0 != 0x20 }) != 0x7D { line.append(0x2C) }  // "," unless "}"
        line.append(contentsOf: rest)
        return line
    }

    static func object(_ fields: [String: String]) -> Data {
        (try? JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys, .withoutEscapingSlashes]))
            ?? Data("{}".utf8)
    }

    /// The object of a checkpoint line at `seq` whose previous line hashes to `prev`.
    static func checkpoint(seq: UInt64, prev: String, signer: AuditSigner) -> Data {
        let time = now()
        let sig = signer.sign(checkpointMessage(seq: seq, prev: prev, time: time)) ?? ""
        return object(["operation": "checkpoint", "time": time, "key": signer.publicKeyHex, "signature": sig])
    }

    /// The fields every line has, parsed.
    public struct Line: Sendable {
        /// Sequence number.
        public var seq: UInt64
        /// Hash of the previous line.
        public var prev: String
        /// The `operation` field.
        public var operation: String?
        /// The `time` field.
        public var time: String?
        /// Every field.
        public var fields: [String: any Sendable]
        /// SHA-256 of the line's bytes.
        public var hash: String
    }

    /// Parses a line (without its newline); nil when it is not an audit line.
    public static func parse(_ bytes: Data) -> Line? {
        guard let obj = try? JSONSerialization.jsonObject(with: bytes) as? [String: Any],
            let seqNum = obj["seq"] as? NSNumber, let prev = obj["prev"] as? String
        else { return nil }
        let seq = seqNum.uint64Value
        guard seqNum.stringValue == String(seq) else { return nil }
        var fields: [String: any Sendable] = [:]
        for (k, v) in obj { fields[k] = sendable(v) }
        return Line(
            seq: seq, prev: prev, operation: obj["operation"] as? String, time: obj["time"] as? String,
            fields: fields, hash: Digest.sha256Hex(bytes))
    }

    private static func sendable(_ v: Any) -> any Sendable {
        switch v {
        case let s as String: return s
        case let n as NSNumber:
            return n.doubleValue == Double(n.int64Value) ? n.int64Value as any Sendable : n.doubleValue
        case let a as [Any]: return a.map(sendable)
        case let d as [String: Any]: return d.mapValues(sendable)
        default: return "\(v)"
        }
    }

    static func parseTime(_ s: String?) -> Date? {
        guard let s else { return nil }
        return try? Date.ISO8601FormatStyle().parse(s)
    }

    /// Rotated files of `path` (`PATH.<12-digit first seq>`), oldest first.
    public static func rotatedFiles(of path: String) -> [String] {
        let dir = (path as NSString).deletingLastPathComponent
        let base = (path as NSString).lastPathComponent + "."
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir.isEmpty ? "." : dir)) ?? []
        return names.filter { n in
            n.hasPrefix(base) && n.count == base.count + 12 && n.dropFirst(base.count).allSatisfy(\.isNumber)
        }.sorted().map { dir.isEmpty ? $0 : dir + "/" + $0 }
    }

    /// Every file of a log, oldest first: its rotated files, then the current one.
    public static func files(ofLog path: String) -> [String] {
        rotatedFiles(of: path) + (FileManager.default.fileExists(atPath: path) ? [path] : [])
    }

    /// The last complete line of `data` (which ends with a newline), without the newline.
    static func lastLine(in data: Data) -> Data? {
        guard data.last == 0x0A else { return nil }
        let body = data.dropLast()
        let start = body.lastIndex(of: 0x0A).map { $0 + 1 } ?? body.startIndex
        return Data(body[start...])
    }

    struct Ends {
        var first: (seq: UInt64, time: Date?)?
        var last: (seq: UInt64, hash: String, operation: String?)?
        var tornBytes = 0
    }

    /// The first and last complete lines of an open file and the size of a torn tail, reading
    /// only the ends of the file.
    static func scanEnds(fd: Int32, size: off_t) -> Ends {
        var ends = Ends()
        guard size > 0 else { return ends }
        // Last: read back until the chunk holds the newline before the last complete line.
        var chunk = min(size, 65_536)
        var tail = Data()
        while true {
            tail = pread(fd, offset: size - chunk, count: Int(chunk))
            let newlines = tail.filter { $0 == 0x0A }.count
            if newlines >= 2 || chunk == size { break }
            chunk = min(size, chunk * 4)
        }
        var complete = tail
        if let lastNL = tail.lastIndex(of: 0x0A) {
            ends.tornBytes = tail.endIndex - lastNL - 1
            complete = tail[tail.startIndex...lastNL]
        } else {
            ends.tornBytes = tail.count
            complete = Data()
        }
        if let line = lastLine(in: Data(complete)), let parsed = parse(line) {
            ends.last = (parsed.seq, parsed.hash, parsed.operation)
        }
        // First.
        var head = Data()
        var n = min(size, 65_536)
        while true {
            head = pread(fd, offset: 0, count: Int(n))
            if head.contains(0x0A) || n == size { break }
            n = min(size, n * 4)
        }
        if let nl = head.firstIndex(of: 0x0A), let parsed = parse(Data(head[..<nl])) {
            ends.first = (parsed.seq, parseTime(parsed.time))
        }
        return ends
    }

    static func pread(_ fd: Int32, offset: off_t, count: Int) -> Data {
        var data = Data(count: count)
        let n = data.withUnsafeMutableBytes { Foundation.pread(fd, $0.baseAddress, count, offset) }
        return n > 0 ? data.prefix(n) : Data()
    }

    /// The last complete line of a file.
    static func lastLine(ofFile path: String) -> (seq: UInt64, hash: String, operation: String?)? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { return nil }
        return scanEnds(fd: fd, size: st.st_size).last
    }
}
