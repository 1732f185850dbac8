import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// Why an exchange with a Unix-socket HTTP server failed.
public enum UnixSocketHTTPError: Error, Sendable, Equatable {
    /// The connection could not be made (errno: `ENOENT` no socket file, `ECONNREFUSED` nobody
    /// listens, `EACCES` not permitted; 0 when unknown).
    case connect(errno: Int32, message: String)
    /// The peer closed the connection before a complete answer.
    case closed
    /// No complete answer before the deadline.
    case timeout
    /// The answer's body is larger than allowed.
    case tooLarge
    /// The answer is not HTTP.
    case protocolError(String)

    /// A stable code.
    public var code: String {
        switch self {
        case .connect: "connect_failed"
        case .closed: "connection_closed"
        case .timeout: "timeout"
        case .tooLarge: "too_large"
        case .protocolError: "protocol_error"
        }
    }

    /// For people.
    public var message: String {
        switch self {
        case .connect(_, let m): m
        case .closed: "the peer closed the connection without a complete answer"
        case .timeout: "no answer in time"
        case .tooLarge: "the answer is larger than allowed"
        case .protocolError(let m): m
        }
    }
}

/// HTTP/1.1 over a Unix socket (jpkid's API) on async-http-client (`http+unix://` URLs): one
/// request per connection (`Connection: close`, as jpkid's per-uid connection limits expect), a
/// deadline per request, bodies bounded. Used by the test bench, `jpki-bench`, `card-inspect
/// doctor` and the reception page.
public struct UnixSocketHTTPClient: Sendable {
    /// The socket path.
    public let socketPath: String

    /// Creates a client for the socket at `socketPath`.
    public init(socketPath: String) { self.socketPath = socketPath }

    /// A complete answer.
    public struct Response: Sendable {
        /// The status code.
        public var status: Int
        /// Header fields in order (names as sent).
        public var headers: [(name: String, value: String)]
        /// The body.
        public var body: [UInt8]

        /// The first value of the field `name` (case-insensitive).
        public func header(_ name: String) -> String? {
            headers.first { $0.name.caseInsensitiveCompare(name) == .orderedSame }?.value
        }
    }

    /// The process-wide client: no redirects, no decompression, no connection retries, HTTP/1.1,
    /// on NIO's singleton event loop group. Never shut down (it lives as long as the process).
    /// Its pool does not queue: concurrent requests get concurrent connections (up to 1,024), as
    /// they would from as many separate clients — jpkid's own limits decide, not this client's.
    static let client: HTTPClient = {
        var configuration = HTTPClient.Configuration(
            redirectConfiguration: .disallow, timeout: .init(connect: .seconds(10)), decompression: .disabled)
        configuration.httpVersion = .http1Only
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = 1024
        return HTTPClient(
            eventLoopGroup: MultiThreadedEventLoopGroup.singleton, configuration: configuration)
    }()

    func prepare(_ method: String, _ target: String, headers: [(String, String)], body: [UInt8]?)
        throws(UnixSocketHTTPError) -> HTTPClientRequest
    {
        guard let url = URL(httpURLWithSocketPath: socketPath, uri: target) else {
            throw .protocolError("not a request target: \(target)")
        }
        var r = HTTPClientRequest(url: url.absoluteString)
        r.method = HTTPMethod(rawValue: method)
        r.headers.add(name: "Host", value: "localhost")
        r.headers.add(name: "Connection", value: "close")
        for (name, value) in headers { r.headers.add(name: name, value: value) }
        if let body {
            if !headers.contains(where: { $0.0.lowercased() == "content-type" }) {
                r.headers.add(name: "Content-Type", value: "application/json")
            }
            r.body = .bytes(body)
        }
        return r
    }

    /// Sends a request and reads the whole answer.
    /// - Parameters:
    ///   - target: path and query (`/v1/readers`).
    ///   - body: sent with `Content-Type: application/json` unless `headers` name another type.
    ///   - timeout: seconds for the whole exchange.
    ///   - maxBytes: the largest body accepted.
    public func request(
        _ method: String, _ target: String, headers: [(String, String)] = [], body: [UInt8]? = nil,
        timeout: Double = 30, maxBytes: Int = 64 << 20
    ) async throws(UnixSocketHTTPError) -> Response {
        let r = try prepare(method, target, headers: headers, body: body)
        do {
            let deadline = NIODeadline.now() + .milliseconds(Int64(timeout * 1000))
            let response = try await Self.client.execute(r, deadline: deadline)
            var buffer = try await response.body.collect(upTo: maxBytes)
            return Response(
                status: Int(response.status.code), headers: response.headers.map { ($0.name, $0.value) },
                body: buffer.readBytes(length: buffer.readableBytes) ?? [])
        } catch {
            throw Self.failure(error)
        }
    }

    /// Sends a request and hands the answer's head to `onHead`, then each body chunk as it arrives
    /// to `onChunk` (Server-Sent Events), until the peer ends the answer, `onChunk` returns false,
    /// or the task is cancelled.
    public func stream(
        _ method: String = "GET", _ target: String, headers: [(String, String)] = [],
        onHead: (_ status: Int, _ headers: [(name: String, value: String)]) async throws -> Void,
        onChunk: ([UInt8]) async throws -> Bool
    ) async throws {
        let r = try prepare(method, target, headers: headers, body: nil)
        let response: HTTPClientResponse
        do {
            response = try await Self.client.execute(r, deadline: .distantFuture)
        } catch {
            throw Self.failure(error)
        }
        try await onHead(Int(response.status.code), response.headers.map { ($0.name, $0.value) })
        do {
            for try await var chunk in response.body {
                guard try await onChunk(chunk.readBytes(length: chunk.readableBytes) ?? []) else { return }
            }
        } catch {
            // Errors of the connection are typed; the callbacks' own errors pass through.
            if error is HTTPClientError || error is IOError || error is HTTPParserError { throw Self.failure(error) }
            throw error
        }
    }

    /// The typed reason for an async-http-client / NIO error.
    static func failure(_ error: any Error) -> UnixSocketHTTPError {
        if let e = error as? UnixSocketHTTPError { return e }
        if let e = error as? IOError {
            return .connect(errno: e.errnoCode, message: String(cString: strerror(e.errnoCode)))
        }
        if let e = error as? HTTPClientError {
            switch e {
            case .remoteConnectionClosed: return .closed
            case .connectTimeout: return .connect(errno: ETIMEDOUT, message: "connect timeout")
            case .deadlineExceeded, .readTimeout: return .timeout
            default: return .protocolError("\(e)")
            }
        }
        if let e = error as? NIOConnectionError, let first = e.connectionErrors.first {
            return failure(first.error)
        }
        if error is SocketAddressError { return .connect(errno: ENAMETOOLONG, message: "socket path too long") }
        if error is NIOTooManyBytesError { return .tooLarge }
        if error is HTTPParserError { return .protocolError("not an HTTP answer") }
        if error is CancellationError { return .timeout }
        return .protocolError("\(error)")
    }
}
