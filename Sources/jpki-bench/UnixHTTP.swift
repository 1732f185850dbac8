import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A minimal blocking HTTP/1.1 client over a Unix socket, for the latency measurements (one
/// request at a time; the load generator is `bench/http_load.c`). Responses must carry
/// Content-Length, except the event stream, which is read chunk by chunk.
final class UnixHTTPConnection {
    private let fd: Int32
    private var buffer: [UInt8] = []

    /// Connects to the socket.
    init(path: String) throws {
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw BenchError("socket: \(String(cString: strerror(errno)))") }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else { throw BenchError("socket path too long") }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            for (i, b) in bytes.enumerated() { raw[i] = b }
        }
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard rc == 0 else {
            close(fd)
            throw BenchError("connect \(path): \(String(cString: strerror(errno)))")
        }
    }

    deinit { close(fd) }

    /// Sends a request and reads the whole response: (status, body).
    func request(_ method: String, _ path: String, body: String? = nil) throws -> (Int, [UInt8]) {
        try sendHead(method, path, body: body)
        let (status, headers) = try readHead()
        guard let length = headers["content-length"].flatMap({ Int($0) }) else {
            throw BenchError("response without content-length")
        }
        return (status, try readExact(length))
    }

    /// Sends a request head (and body).
    func sendHead(_ method: String, _ path: String, body: String? = nil) throws {
        var text = "\(method) \(path) HTTP/1.1\r\nHost: localhost\r\n"
        if let body {
            text += "Content-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
        } else {
            text += "\r\n"
        }
        let bytes = Array(text.utf8)
        var sent = 0
        while sent < bytes.count {
            let n = bytes.withUnsafeBytes { send(fd, $0.baseAddress! + sent, bytes.count - sent, Int32(MSG_NOSIGNAL)) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw BenchError("send: \(String(cString: strerror(errno)))") }
            sent += n
        }
    }

    /// Reads a response head: status and lower-cased headers.
    func readHead() throws -> (Int, [String: String]) {
        while true {
            if let end = find([13, 10, 13, 10]) {
                let head = String(decoding: buffer[0..<end], as: UTF8.self)
                buffer.removeFirst(end + 4)
                let lines = head.components(separatedBy: "\r\n")
                let parts = lines[0].split(separator: " ")
                guard parts.count >= 2, let status = Int(parts[1]) else { throw BenchError("bad status line") }
                var headers: [String: String] = [:]
                for line in lines.dropFirst() {
                    guard let colon = line.firstIndex(of: ":") else { continue }
                    headers[line[..<colon].lowercased()] = line[line.index(after: colon)...]
                        .trimmingCharacters(in: .whitespaces)
                }
                return (status, headers)
            }
            try fill()
        }
    }

    /// Reads the next chunk of a chunked body (nil at the last chunk).
    func readChunk() throws -> [UInt8]? {
        var lineEnd = find([13, 10])
        while lineEnd == nil {
            try fill()
            lineEnd = find([13, 10])
        }
        guard let end = lineEnd else { throw BenchError("bad chunk line") }
        let sizeText = String(decoding: buffer[0..<end], as: UTF8.self)
            .split(separator: ";", omittingEmptySubsequences: false)[0]
        guard let size = Int(sizeText.trimmingCharacters(in: .whitespaces), radix: 16) else {
            throw BenchError("bad chunk size")
        }
        buffer.removeFirst(end + 2)
        let data = try readExact(size)
        _ = try readExact(2)
        return size == 0 ? nil : data
    }

    private func readExact(_ count: Int) throws -> [UInt8] {
        while buffer.count < count { try fill() }
        let out = Array(buffer[0..<count])
        buffer.removeFirst(count)
        return out
    }

    private func find(_ pattern: [UInt8]) -> Int? {
        guard buffer.count >= pattern.count else { return nil }
        for i in 0...(buffer.count - pattern.count) where buffer[i] == pattern[0] {
            if Array(buffer[i..<(i + pattern.count)]) == pattern { return i }
        }
        return nil
    }

    private func fill() throws {
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress!, $0.count, 0) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw BenchError("connection closed by the daemon") }
            buffer += chunk[0..<n]
            return
        }
    }
}

/// The daemon's Server-Sent Events, one event at a time.
final class EventStream {
    private let connection: UnixHTTPConnection
    private var text = ""

    /// Subscribes to `/v1/events`.
    init(socket: String) throws {
        connection = try UnixHTTPConnection(path: socket)
        try connection.sendHead("GET", "/v1/events")
        let (status, headers) = try connection.readHead()
        guard status == 200 else { throw BenchError("GET /v1/events answered \(status)") }
        guard headers["transfer-encoding"]?.lowercased() == "chunked" else {
            throw BenchError("event stream is not chunked")
        }
    }

    /// The next event: its type and its JSON data.
    func next() throws -> (type: String, data: [String: Any]) {
        while true {
            if let range = text.range(of: "\n\n") {
                let block = text[..<range.lowerBound]
                text.removeSubrange(..<range.upperBound)
                var type = "message"
                var data: [String: Any] = [:]
                for line in block.split(separator: "\n") {
                    if line.hasPrefix("event: ") { type = String(line.dropFirst(7)) }
                    if line.hasPrefix("data: ") {
                        data =
                            (try? JSONSerialization.jsonObject(with: Data(line.dropFirst(6).utf8)))
                            as? [String: Any] ?? [:]
                    }
                }
                if block.hasPrefix("retry:") { continue }
                return (type, data)
            }
            guard let chunk = try connection.readChunk() else { throw BenchError("event stream ended") }
            text += String(decoding: chunk, as: UTF8.self)
        }
    }
}
