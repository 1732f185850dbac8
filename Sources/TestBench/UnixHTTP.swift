import Foundation

/// A small HTTP/1.1 client over a Unix socket for tests (one request per connection, blocking),
/// with a receive timeout as a safety bound.
public struct UnixHTTP: Sendable {
    /// The socket path.
    public let path: String

    /// Creates a client for the socket at `path`.
    public init(path: String) { self.path = path }

    /// A parsed answer (status 0 when no complete head arrived).
    public struct Response: Sendable {
        public var status: Int
        public var body: [UInt8]
        /// Header fields, names lowercased.
        public var headers: [String: String] = [:]
        public init(status: Int, body: [UInt8], headers: [String: String] = [:]) {
            self.status = status
            self.body = body
            self.headers = headers
        }
        public var text: String { String(decoding: body, as: UTF8.self) }
        public var json: [String: Any] {
            (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] ?? [:]
        }
        public var errorCode: String? { (json["error"] as? [String: Any])?["code"] as? String }
    }

    /// Connects (blocking); the socket gets a receive timeout of `timeout` seconds.
    public func connect(timeout: Int = 30) throws -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            for (i, b) in bytes.enumerated() { raw[i] = b }
        }
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard rc == 0 else {
            let e = errno
            close(fd)
            throw POSIXError(POSIXErrorCode(rawValue: e) ?? .ECONNREFUSED)
        }
        var tv = timeval(tv_sec: timeout, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        return fd
    }

    @discardableResult
    public func send(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var sent = 0
        while sent < bytes.count {
            let n = bytes.withUnsafeBytes {
                Glibc.send(fd, $0.baseAddress! + sent, bytes.count - sent, Int32(MSG_NOSIGNAL))
            }
            if n <= 0 { return false }
            sent += n
        }
        return true
    }

    public func readAll(_ fd: Int32) -> [UInt8] {
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = recv(fd, &buf, buf.count, 0)
            if n <= 0 { break }
            out += buf[0..<n]
        }
        return out
    }

    public static func requestBytes(_ method: String, _ target: String, body: String?) -> [UInt8] {
        var text = "\(method) \(target) HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
        if let body { text += "Content-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n" }
        text += "\r\n" + (body ?? "")
        return Array(text.utf8)
    }

    public func request(_ method: String, _ target: String, body: String? = nil) throws -> Response {
        let fd = try connect()
        defer { close(fd) }
        send(fd, Self.requestBytes(method, target, body: body))
        return Self.parse(readAll(fd))
    }

    public static func parse(_ raw: [UInt8]) -> Response {
        guard let sep = raw.firstRange(of: [13, 10, 13, 10]) else { return Response(status: 0, body: []) }
        let head = String(decoding: raw[..<sep.lowerBound], as: UTF8.self)
        let status = Int(head.split(separator: " ").dropFirst().first ?? "") ?? 0
        var headers: [String: String] = [:]
        for line in head.split(separator: "\r\n").dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(
                in: .whitespaces)
        }
        return Response(status: status, body: Array(raw[sep.upperBound...]), headers: headers)
    }
}
