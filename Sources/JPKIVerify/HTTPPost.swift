import Foundation

#if canImport(Glibc)
    import Glibc
    private let sockStream = Int32(SOCK_STREAM.rawValue)
    private let sendFlags = Int32(MSG_NOSIGNAL)
#elseif canImport(Musl)
    import Musl
    private let sockStream = SOCK_STREAM
    private let sendFlags = Int32(MSG_NOSIGNAL)
#elseif canImport(Darwin)
    import Darwin
    private let sockStream = SOCK_STREAM
    private let sendFlags: Int32 = 0
#endif

/// A minimal HTTP/1.0 POST client over POSIX sockets (plain HTTP, no redirects, no chunked
/// bodies) with connect and read deadlines. Used only for OCSP to a configured responder.
enum HTTPPost {
    struct Target {
        let host: String
        let port: UInt16
        let path: String
    }

    static func target(_ url: URL) throws(JPKIVerifyError) -> Target {
        guard url.scheme?.lowercased() == "http" else {
            throw .unsupportedURL("only http:// is supported")
        }
        guard let host = url.host, !host.isEmpty else { throw .unsupportedURL("no host") }
        let port = url.port ?? 80
        guard (1...65535).contains(port) else { throw .unsupportedURL("bad port") }
        var path = url.path.isEmpty ? "/" : url.path
        if let q = url.query { path += "?" + q }
        return Target(host: host, port: UInt16(port), path: path)
    }

    /// POSTs `body` and returns the response body of a 200 answer.
    static func post(
        url: URL, contentType: String, accept: String, body: Data, connectTimeout: Double,
        readTimeout: Double, maxBytes: Int
    ) throws(JPKIVerifyError) -> Data {
        let t = try target(url)
        let fd = try connect(host: t.host, port: t.port, timeout: connectTimeout)
        defer { close(fd) }
        let hostHeader = t.host.contains(":") ? "[\(t.host)]:\(t.port)" : "\(t.host):\(t.port)"
        var request = Data(
            ("POST \(t.path) HTTP/1.0\r\nHost: \(hostHeader)\r\nContent-Type: \(contentType)\r\n"
                + "Accept: \(accept)\r\nContent-Length: \(body.count)\r\nConnection: close\r\n\r\n")
                .utf8)
        request.append(body)
        let deadline = Date().addingTimeInterval(readTimeout)
        try sendAll(fd, request, deadline: deadline)
        let raw = try receive(fd, deadline: deadline, maxBytes: maxBytes + 16 * 1024)
        return try parseResponse(raw, maxBytes: maxBytes)
    }

    static func parseResponse(_ raw: Data, maxBytes: Int) throws(JPKIVerifyError) -> Data {
        let bytes = [UInt8](raw)
        let sep: [UInt8] = [13, 10, 13, 10]
        guard let headerEnd = bytes.firstRange(of: sep) else {
            throw .transport("no HTTP header terminator")
        }
        guard let head = String(bytes: bytes[..<headerEnd.lowerBound], encoding: .isoLatin1) else {
            throw .transport("bad HTTP header")
        }
        let lines = head.components(separatedBy: "\r\n")
        let status = lines[0].split(separator: " ", omittingEmptySubsequences: true)
        guard status.count >= 2, status[0].hasPrefix("HTTP/1."), let code = Int(status[1]) else {
            throw .transport("bad HTTP status line")
        }
        guard code == 200 else { throw .transport("HTTP status \(code)") }
        var contentLength: Int? = nil
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let name = line[..<colon].trimmingCharacters(in: .whitespaces).lowercased()
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            if name == "content-length" {
                guard let n = Int(value), n >= 0 else { throw .transport("bad Content-Length") }
                contentLength = n
            } else if name == "transfer-encoding", value.lowercased() != "identity" {
                throw .transport("unsupported Transfer-Encoding")
            }
        }
        let body = Data(bytes[headerEnd.upperBound...])
        if let n = contentLength {
            guard n <= maxBytes else { throw .transport("response too large") }
            guard body.count >= n else { throw .transport("truncated HTTP body") }
            return body.prefix(n)
        }
        guard body.count <= maxBytes else { throw .transport("response too large") }
        return body
    }

    private static func connect(host: String, port: UInt16, timeout: Double) throws(JPKIVerifyError)
        -> Int32
    {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = sockStream
        hints.ai_flags = AI_NUMERICSERV
        var res: UnsafeMutablePointer<addrinfo>? = nil
        guard getaddrinfo(host, String(port), &hints, &res) == 0, let first = res else {
            throw .transport("cannot resolve responder host")
        }
        defer { freeaddrinfo(res) }
        var lastError = "connect failed"
        var ai: UnsafeMutablePointer<addrinfo>? = first
        while let a = ai {
            ai = a.pointee.ai_next
            let fd = socket(a.pointee.ai_family, a.pointee.ai_socktype, a.pointee.ai_protocol)
            if fd < 0 { continue }
            let flags = fcntl(fd, F_GETFL, 0)
            _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
            var rc = Glibc_connect(fd, a.pointee.ai_addr, a.pointee.ai_addrlen)
            if rc != 0 && errno == EINPROGRESS {
                var pfd = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                let pr = poll(&pfd, 1, Int32(max(1, timeout * 1000)))
                if pr == 1 {
                    var soErr: Int32 = 0
                    var len = socklen_t(MemoryLayout<Int32>.size)
                    getsockopt(fd, SOL_SOCKET, SO_ERROR, &soErr, &len)
                    rc = soErr == 0 ? 0 : -1
                    if soErr != 0 {
                        lastError =
                            soErr == ECONNREFUSED ? "connection refused" : "connect error \(soErr)"
                    }
                } else {
                    lastError = pr == 0 ? "connect timeout" : "poll failed"
                    rc = -1
                }
            } else if rc != 0 {
                lastError = errno == ECONNREFUSED ? "connection refused" : "connect error \(errno)"
            }
            if rc == 0 { return fd }
            close(fd)
        }
        throw .transport(lastError)
    }

    private static func wait(_ fd: Int32, events: Int16, deadline: Date) throws(JPKIVerifyError) {
        while true {
            let remaining = deadline.timeIntervalSinceNow
            guard remaining > 0 else { throw .transport("read timeout") }
            var pfd = pollfd(fd: fd, events: events, revents: 0)
            let pr = poll(&pfd, 1, Int32(max(1, remaining * 1000)))
            if pr > 0 { return }
            if pr == 0 { throw .transport("read timeout") }
            if errno != EINTR { throw .transport("poll failed") }
        }
    }

    private static func sendAll(_ fd: Int32, _ data: Data, deadline: Date) throws(JPKIVerifyError) {
        let bytes = [UInt8](data)
        var off = 0
        while off < bytes.count {
            try wait(fd, events: Int16(POLLOUT), deadline: deadline)
            let n = bytes[off...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, sendFlags) }
            if n > 0 {
                off += n
            } else if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
                continue
            } else {
                throw .transport("send failed")
            }
        }
    }

    /// True when the header is complete and a Content-Length body has fully arrived.
    static func isComplete(_ data: Data) -> Bool {
        let bytes = [UInt8](data)
        guard let end = bytes.firstRange(of: [13, 10, 13, 10] as [UInt8]) else { return false }
        let head = String(decoding: bytes[..<end.lowerBound], as: UTF8.self).lowercased()
        for line in head.components(separatedBy: "\r\n") where line.hasPrefix("content-length:") {
            guard
                let n = Int(
                    line.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces))
            else { return false }
            return bytes.count - end.upperBound >= n
        }
        return false
    }

    private static func receive(_ fd: Int32, deadline: Date, maxBytes: Int) throws(JPKIVerifyError)
        -> Data
    {
        var out = Data()
        var buf = [UInt8](repeating: 0, count: 16 * 1024)
        while true {
            try wait(fd, events: Int16(POLLIN), deadline: deadline)
            let n = recv(fd, &buf, buf.count, 0)
            if n > 0 {
                out.append(contentsOf: buf[..<n])
                if out.count > maxBytes { throw .transport("response too large") }
                if isComplete(out) { return out }
            } else if n == 0 {
                return out
            } else if errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR {
                continue
            } else {
                throw .transport("recv failed")
            }
        }
    }
}

/// `connect(2)` under a name that does not clash with ``HTTPPost/connect``.
@inline(__always)
private func Glibc_connect(_ fd: Int32, _ addr: UnsafeMutablePointer<sockaddr>!, _ len: socklen_t)
    -> Int32
{
    #if canImport(Glibc)
        Glibc.connect(fd, addr, len)
    #elseif canImport(Musl)
        Musl.connect(fd, addr, len)
    #else
        Darwin.connect(fd, addr, len)
    #endif
}
