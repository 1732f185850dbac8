import Foundation
import HTTPTransport
import NIOCore
import NIOHTTP1

/// Why jpkid could not be asked.
public enum JpkidClientError: Error, Sendable, Equatable {
    /// The socket is missing or refuses connections: jpkid is not running (or this user may not
    /// reach its socket).
    case unavailable
    /// The connection broke or the answer was not HTTP.
    case protocolError
    /// The answer was larger than allowed.
    case tooLarge
}

/// A client of jpkid's HTTP/1.1 API on its Unix socket, one request per connection (jpkid's roles
/// apply to the user who runs jpki-reception: SO_PEERCRED), through async-http-client
/// (`HTTPTransport.UnixSocketHTTPClient`, on NIO's singleton event loop group like the page's server).
public struct JpkidClient: Sendable {
    /// jpkid's socket path.
    public let socketPath: String
    /// Largest answer accepted (a face photo is a few KiB; certificates a few KiB).
    static let maxBody = 4 << 20
    /// Time allowed for one answer (a PIN operation on a slow contact reader takes seconds).
    static let timeoutSeconds = 60.0

    /// Creates a client for the socket at `socketPath`.
    public init(socketPath: String) {
        self.socketPath = socketPath
    }

    /// A complete answer.
    public struct Response: Sendable {
        /// HTTP status.
        public var status: Int
        /// Header fields (names lowercased).
        public var headers: [String: String]
        /// The body.
        public var body: [UInt8]

        /// The body as a JSON object (empty when it is not one).
        public var json: [String: Any] {
            (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] ?? [:]
        }
    }

    static func map(_ error: UnixSocketHTTPError) -> JpkidClientError {
        switch error {
        case .connect: .unavailable
        case .tooLarge: .tooLarge
        default: .protocolError
        }
    }

    /// Sends one request and collects the answer.
    public func request(_ method: HTTPMethod, _ path: String, body: [UInt8]? = nil) async throws(JpkidClientError)
        -> Response
    {
        do {
            let r = try await UnixSocketHTTPClient(socketPath: socketPath).request(
                method.rawValue, path, body: body, timeout: Self.timeoutSeconds, maxBytes: Self.maxBody)
            var headers: [String: String] = [:]
            for (name, value) in r.headers { headers[name.lowercased()] = value }
            return Response(status: r.status, headers: headers, body: r.body)
        } catch {
            throw Self.map(error)
        }
    }

    /// Opens `GET /v1/events` and hands every body chunk (Server-Sent Events text) to `onChunk`
    /// until jpkid closes the stream, `onChunk` throws, or the task is cancelled.
    public func events(onHead: (Int) async throws -> Void, onChunk: (ByteBuffer) async throws -> Void)
        async throws
    {
        do {
            try await UnixSocketHTTPClient(socketPath: socketPath).stream(
                "GET", "/v1/events", onHead: { status, _ in try await onHead(status) },
                onChunk: { bytes in
                    try await onChunk(ByteBuffer(bytes: bytes))
                    return true
                })
        } catch let e as UnixSocketHTTPError {
            throw Self.map(e)
        }
    }
}
