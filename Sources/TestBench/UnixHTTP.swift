import Foundation
import HTTPTransport

/// The tests' HTTP/1.1 client of jpkid's Unix socket: ``request(_:_:body:)`` goes through
/// async-http-client (`HTTPTransport.UnixSocketHTTPClient`); the raw socket helpers below
/// (``connect(timeout:)``, ``send(_:_:)``, ``readAll(_:)``) stay for the tests that send what no
/// HTTP client would (malformed heads, pipelining, slow peers).
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

    /// Sends one request (one connection, `Connection: close`) and reads the whole answer within
    /// 30 s. A peer that closes without an answer gives status 0 (as jpkid does for a peer it
    /// refuses); a failed connection throws `POSIXError`.
    public func request(_ method: String, _ target: String, body: String? = nil) async throws -> Response {
        let client = UnixSocketHTTPClient(socketPath: path)
        do {
            let r = try await client.request(method, target, body: body.map { Array($0.utf8) }, timeout: 30)
            var headers: [String: String] = [:]
            for (name, value) in r.headers { headers[name.lowercased()] = value }
            return Response(status: r.status, body: r.body, headers: headers)
        } catch {
            switch error {
            case .closed: return Response(status: 0, body: [])
            case .connect(let e, _): throw POSIXError(POSIXErrorCode(rawValue: e) ?? .ECONNREFUSED)
            default: throw error
            }
        }
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

/// Server-Sent Events read through async-http-client's streaming response (no thread, no raw
/// socket): blocks (`event: …\ndata: …`) in arrival order.
public final class SSEReader: @unchecked Sendable {
    private enum Item: Sendable {
        case block(String)
        case timeout(Int)
    }

    private let continuation: AsyncStream<Item>.Continuation
    private var iterator: AsyncStream<Item>.AsyncIterator
    private let task: Task<Void, Never>
    private var calls = 0
    /// The response head's fields, names lowercased.
    public let headers: [String: String]

    /// Opens `GET target` and returns once the daemon has subscribed the stream (its first chunk,
    /// the `retry:` line, is written after the subscription): no event after this can be missed.
    /// Throws when the answer is not 200 or no `retry:` line comes within 10 s.
    public init(http: UnixHTTP, target: String = "/v1/events") async throws {
        let (items, continuation) = AsyncStream<Item>.makeStream()
        let (heads, head) = AsyncStream<Result<[String: String], UnixSocketHTTPError>>.makeStream()
        self.continuation = continuation
        let client = UnixSocketHTTPClient(socketPath: http.path)
        task = Task {
            var text = ""
            var fields: [String: String] = [:]
            do {
                try await client.stream(
                    "GET", target,
                    onHead: { status, headers in
                        for (name, value) in headers { fields[name.lowercased()] = value }
                        if status != 200 { throw UnixSocketHTTPError.protocolError("status \(status)") }
                    },
                    onChunk: { bytes in
                        text += String(decoding: bytes, as: UTF8.self)
                        while let range = text.range(of: "\n\n") {
                            let block = String(text[..<range.lowerBound])
                            text.removeSubrange(..<range.upperBound)
                            if block.hasPrefix("retry:") {
                                head.yield(.success(fields))
                            } else {
                                continuation.yield(.block(block))
                            }
                        }
                        return true
                    })
            } catch {
                head.yield(.failure(error as? UnixSocketHTTPError ?? .protocolError("\(error)")))
            }
            head.finish()
            continuation.finish()
        }
        iterator = items.makeAsyncIterator()
        let timer = Task {
            try? await Task.sleep(for: .seconds(10))
            head.yield(.failure(.timeout))
        }
        defer { timer.cancel() }
        var first = heads.makeAsyncIterator()
        switch await first.next() {
        case .success(let h)?: headers = h
        case .failure(let e)?:
            task.cancel()
            throw e
        case nil:
            task.cancel()
            throw UnixSocketHTTPError.closed
        }
    }

    deinit { close() }

    /// The data object of the next event of `type` for which `accept` holds (other events are
    /// skipped); nil when the stream ends or `timeout` passes without one.
    public func next(
        _ type: String, timeout: Duration = .seconds(10), where accept: ([String: Any]) -> Bool = { _ in true }
    ) async throws -> [String: Any]? {
        calls += 1
        let call = calls
        let continuation = self.continuation
        let timer = Task {
            try? await Task.sleep(for: timeout)
            continuation.yield(.timeout(call))
        }
        defer { timer.cancel() }
        while let item = await iterator.next() {
            switch item {
            case .timeout(let c) where c == call: return nil
            case .timeout: continue
            case .block(let block):
                if let json = try Self.eventData(block, type: type), accept(json) { return json }
            }
        }
        return nil
    }

    /// The data of a server-sent event block if it is of `type` (nil for another type).
    public static func eventData(_ block: String, type: String) throws -> [String: Any]? {
        guard block.contains("event: \(type)\n"),
            let line = block.split(separator: "\n").first(where: { $0.hasPrefix("data: ") })
        else { return nil }
        return try JSONSerialization.jsonObject(with: Data(line.dropFirst(6).utf8)) as? [String: Any]
    }

    /// Ends the stream (the connection closes).
    public func close() {
        task.cancel()
        continuation.finish()
    }
}
