import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

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
/// apply to the user who runs jpki-reception: SO_PEERCRED).
public struct JpkidClient: Sendable {
    /// jpkid's socket path.
    public let socketPath: String
    let group: any EventLoopGroup
    /// Largest answer accepted (a face photo is a few KiB; certificates a few KiB).
    static let maxBody = 4 << 20

    /// Creates a client for the socket at `socketPath`.
    public init(socketPath: String, group: any EventLoopGroup) {
        self.socketPath = socketPath
        self.group = group
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

    typealias Connection = NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>

    func connect() async throws(JpkidClientError) -> Connection {
        do {
            return try await ClientBootstrap(group: group)
                .connectTimeout(.seconds(3))
                .connect(unixDomainSocketPath: socketPath) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHTTPClientHandlers()
                        return try Connection(wrappingChannelSynchronously: channel)
                    }
                }
        } catch {
            throw .unavailable
        }
    }

    static func head(_ method: HTTPMethod, _ path: String, bodyLength: Int?) -> HTTPRequestHead {
        var h = HTTPRequestHead(version: .http1_1, method: method, uri: path)
        h.headers.add(name: "host", value: "localhost")
        h.headers.add(name: "connection", value: "close")
        if let bodyLength {
            h.headers.add(name: "content-type", value: "application/json")
            h.headers.add(name: "content-length", value: String(bodyLength))
        }
        return h
    }

    /// Sends one request and collects the answer.
    public func request(_ method: HTTPMethod, _ path: String, body: [UInt8]? = nil) async throws(JpkidClientError)
        -> Response
    {
        let connection = try await connect()
        do {
            return try await connection.executeThenClose { inbound, outbound in
                try await outbound.write(.head(Self.head(method, path, bodyLength: body?.count)))
                if let body { try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: body)))) }
                try await outbound.write(.end(nil))
                var status = 0
                var headers: [String: String] = [:]
                var collected: [UInt8] = []
                for try await part in inbound {
                    switch part {
                    case .head(let h):
                        status = Int(h.status.code)
                        for (name, value) in h.headers { headers[name.lowercased()] = value }
                    case .body(let buffer):
                        guard collected.count + buffer.readableBytes <= Self.maxBody else {
                            throw JpkidClientError.tooLarge
                        }
                        collected += buffer.readableBytesView
                    case .end:
                        return Response(status: status, headers: headers, body: collected)
                    }
                }
                throw JpkidClientError.protocolError
            }
        } catch let e as JpkidClientError {
            throw e
        } catch {
            throw .protocolError
        }
    }

    /// Opens `GET /v1/events` and hands every body chunk (Server-Sent Events text) to `onChunk`
    /// until jpkid closes the stream, `onChunk` throws, or the task is cancelled. Returns the
    /// status when it is not 200.
    public func events(onHead: (Int) async throws -> Void, onChunk: (ByteBuffer) async throws -> Void)
        async throws
    {
        let connection = try await connect()
        try await connection.executeThenClose { inbound, outbound in
            try await outbound.write(.head(Self.head(.GET, "/v1/events", bodyLength: nil)))
            try await outbound.write(.end(nil))
            for try await part in inbound {
                switch part {
                case .head(let h): try await onHead(Int(h.status.code))
                case .body(let buffer): try await onChunk(buffer)
                case .end: return
                }
            }
        }
    }
}
