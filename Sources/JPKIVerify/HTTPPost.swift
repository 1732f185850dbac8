import Foundation
import SmartCard

#if canImport(Glibc)
    import Glibc
    private let sendFlags = Int32(MSG_NOSIGNAL)
#elseif canImport(Musl)
    import Musl
    private let sendFlags = Int32(MSG_NOSIGNAL)
#elseif canImport(Darwin)
    import Darwin
    private let sendFlags: Int32 = 0
#endif

/// A minimal HTTP/1.0 POST client over POSIX sockets (plain HTTP, no redirects, no chunked
/// bodies) with connect and read deadlines. It blocks the calling thread: async callers run it
/// on a thread of their own. Used for OCSP to a configured responder and by the eligibility
/// gateway provider, so that jpkid needs neither URLSession nor libcurl.
public enum HTTPPost {
    /// Why an exchange failed.
    public enum Failure: Error, Sendable, Equatable {
        /// Not an `http://HOST[:PORT]/PATH` URL.
        case unsupportedURL(String)
        /// The host could not be resolved or refused the connection.
        case unreachable(String)
        /// The connect or read deadline passed.
        case timeout(String)
        /// The answer is not acceptable HTTP (bad status line, chunked, too large, truncated).
        case protocolError(String)

        /// A one-line description.
        public var message: String {
            switch self {
            case .unsupportedURL(let m), .unreachable(let m), .timeout(let m), .protocolError(let m): m
            }
        }

        var verifyError: JPKIVerifyError {
            if case .unsupportedURL(let m) = self { return .unsupportedURL(m) }
            return .transport(message)
        }
    }

    /// A complete answer.
    public struct Answer: Sendable, Equatable {
        /// The HTTP status code.
        public let status: Int
        /// The body (Content-Length bytes, or everything up to the connection's end).
        public let body: Data
    }

    struct Target {
        let host: String
        let port: UInt16
        let path: String
    }

    static func target(_ url: URL) throws(JPKIVerifyError) -> Target {
        do {
            return try parseTarget(url)
        } catch {
            throw error.verifyError
        }
    }

    static func parseTarget(_ url: URL) throws(Failure) -> Target {
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

    /// POSTs `body` and returns the response body of a 200 answer (OCSP).
    static func post(
        url: URL, contentType: String, accept: String, body: Data, connectTimeout: Double,
        readTimeout: Double, maxBytes: Int
    ) throws(JPKIVerifyError) -> Data {
        let answer: Answer
        do {
            answer = try exchange(
                url: url, contentType: contentType, accept: accept, body: body, connectTimeout: connectTimeout,
                readTimeout: readTimeout, maxBytes: maxBytes)
        } catch {
            throw error.verifyError
        }
        return try okBody(answer)
    }

    /// POSTs `body` to `url` (`http://` only) and returns the answer, whatever its status.
    /// Blocks for at most `connectTimeout` + `readTimeout` seconds, plus the name lookup when
    /// the host is a name rather than an address (getaddrinfo has no deadline).
    public static func exchange(
        url: URL, contentType: String, accept: String, body: Data, connectTimeout: Double,
        readTimeout: Double, maxBytes: Int
    ) throws(Failure) -> Answer {
        let t = try parseTarget(url)
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
        return try parseAnswer(raw, maxBytes: maxBytes)
    }

    /// The body of a 200 answer (OCSP's view of ``parseAnswer(_:maxBytes:)``).
    static func parseResponse(_ raw: Data, maxBytes: Int) throws(JPKIVerifyError) -> Data {
        let answer: Answer
        do {
            answer = try parseAnswer(raw, maxBytes: maxBytes)
        } catch {
            throw error.verifyError
        }
        return try okBody(answer)
    }

    /// OCSP accepts only a 200 answer.
    private static func okBody(_ answer: Answer) throws(JPKIVerifyError) -> Data {
        guard answer.status == 200 else { throw .transport("HTTP status \(answer.status)") }
        return answer.body
    }

    /// Parses a complete raw answer: status line, headers, body.
    static func parseAnswer(_ raw: Data, maxBytes: Int) throws(Failure) -> Answer {
        let bytes = [UInt8](raw)
        let sep: [UInt8] = [13, 10, 13, 10]
        guard let headerEnd = bytes.firstRange(of: sep) else {
            throw .protocolError("no HTTP header terminator")
        }
        guard let head = String(bytes: bytes[..<headerEnd.lowerBound], encoding: .isoLatin1) else {
            throw .protocolError("bad HTTP header")
        }
        let lines = head.components(separatedBy: "\r\n")
        let status = lines[0].split(separator: " ", omittingEmptySubsequences: true)
        guard status.count >= 2, status[0].hasPrefix("HTTP/1."), let code = Int(status[1]), (100...999).contains(code)
        else {
            throw .protocolError("bad HTTP status line")
        }
        var contentLength: Int? = nil
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let name = line[..<colon].trimmingCharacters(in: .whitespaces).lowercased()
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            if name == "content-length" {
                guard let n = Int(value), n >= 0 else { throw .protocolError("bad Content-Length") }
                contentLength = n
            } else if name == "transfer-encoding", value.lowercased() != "identity" {
                throw .protocolError("unsupported Transfer-Encoding")
            }
        }
        let body = Data(bytes[headerEnd.upperBound...])
        if let n = contentLength {
            guard n <= maxBytes else { throw .protocolError("response too large") }
            guard body.count >= n else { throw .protocolError("truncated HTTP body") }
            return Answer(status: code, body: body.prefix(n))
        }
        guard body.count <= maxBytes else { throw .protocolError("response too large") }
        return Answer(status: code, body: body)
    }

    /// A connected socket in non-blocking mode (sends and receives wait with poll).
    private static func connect(host: String, port: UInt16, timeout: Double) throws(Failure) -> Int32 {
        let fd: Int32
        do {
            fd = try TCPConnect.connect(host: host, port: port, timeoutMilliseconds: Int32(max(1, timeout * 1000)))
        } catch {
            switch error {
            case .unresolved: throw .unreachable("cannot resolve host \(host)")
            case .failed(let e) where e == ETIMEDOUT: throw .timeout("connect timeout")
            case .failed(let e): throw .unreachable(e == ECONNREFUSED ? "connection refused" : "connect error \(e)")
            }
        }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL, 0) | O_NONBLOCK)
        return fd
    }

    private static func wait(_ fd: Int32, events: Int16, deadline: Date) throws(Failure) {
        while true {
            let remaining = deadline.timeIntervalSinceNow
            guard remaining > 0 else { throw .timeout("read timeout") }
            var pfd = pollfd(fd: fd, events: events, revents: 0)
            let pr = poll(&pfd, 1, Int32(max(1, remaining * 1000)))
            if pr > 0 { return }
            if pr == 0 { throw .timeout("read timeout") }
            if errno != EINTR { throw .unreachable("poll failed") }
        }
    }

    private static func sendAll(_ fd: Int32, _ data: Data, deadline: Date) throws(Failure) {
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
                throw .unreachable("send failed")
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

    private static func receive(_ fd: Int32, deadline: Date, maxBytes: Int) throws(Failure)
        -> Data
    {
        var out = Data()
        var buf = [UInt8](repeating: 0, count: 16 * 1024)
        while true {
            try wait(fd, events: Int16(POLLIN), deadline: deadline)
            let n = recv(fd, &buf, buf.count, 0)
            if n > 0 {
                out.append(contentsOf: buf[..<n])
                if out.count > maxBytes { throw .protocolError("response too large") }
                if isComplete(out) { return out }
            } else if n == 0 {
                return out
            } else if errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR {
                continue
            } else {
                throw .unreachable("recv failed")
            }
        }
    }
}
