import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// A request as seen by the API: method, path, query, headers, body and the peer's credentials.
public struct APIRequest: Sendable {
    public var method: HTTPMethod
    public var path: String
    public var query: [String: String]
    public var headers: HTTPHeaders
    public var body: [UInt8]
    public var peer: PeerCredentials?
}

/// A response: JSON, raw bytes, or a stream of Server-Sent Events.
public struct APIResponse: Sendable {
    public enum Body: Sendable {
        case bytes([UInt8])
        case events(AsyncStream<String>)
    }
    public var status: HTTPResponseStatus
    public var headers: HTTPHeaders
    public var body: Body

    /// A JSON response.
    public static func json<T: Encodable>(_ value: T, status: HTTPResponseStatus = .ok) -> APIResponse {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        let data = (try? encoder.encode(value)) ?? Data("{}".utf8)
        var h = HTTPHeaders()
        h.add(name: "content-type", value: "application/json; charset=utf-8")
        return APIResponse(status: status, headers: h, body: .bytes(Array(data)))
    }

    /// The JSON error body `{"error":{"code":…,"message":…}}`.
    public static func error(_ e: APIError) -> APIResponse {
        struct Body: Encodable {
            struct Inner: Encodable {
                var code: String
                var message: String
                var details: [String: String]?
            }
            var error: Inner
        }
        return json(
            Body(error: .init(code: e.code, message: e.message, details: e.details.isEmpty ? nil : e.details)),
            status: HTTPResponseStatus(statusCode: e.status))
    }

    /// Raw bytes with a content type.
    public static func bytes(_ bytes: [UInt8], contentType: String) -> APIResponse {
        var h = HTTPHeaders()
        h.add(name: "content-type", value: contentType)
        return APIResponse(status: .ok, headers: h, body: .bytes(bytes))
    }
}

/// Answers API requests.
public protocol APIResponder: Sendable {
    /// Produces the response for a request.
    func respond(to request: APIRequest) async -> APIResponse
    /// A response that can be produced at once, without blocking or suspending, on the
    /// connection's event loop; nil sends the request to ``respond(to:)``.
    func respondOnEventLoop(to request: APIRequest) -> APIResponse?
}

extension APIResponder {
    /// By default every request goes to ``respond(to:)``.
    public func respondOnEventLoop(to request: APIRequest) -> APIResponse? { nil }
}

/// HTTP/1.1 on a Unix socket (SwiftNIO). Peer credentials come from SO_PEERCRED; request heads
/// and bodies are size-limited; a client that does not finish its request in time gets 408.
public final class HTTPServer: Sendable {
    private let group: MultiThreadedEventLoopGroup
    private let channel: any Channel
    /// The socket path.
    public let path: String
    /// Whether this process created the socket file (and removes it at shutdown); false for a
    /// socket passed by systemd, which owns it.
    let ownsSocketFile: Bool

    /// Binds the socket (replacing a stale one), sets its mode and group, and starts serving.
    /// With `listenFD` (systemd socket activation) it serves that already-bound socket instead,
    /// leaving path, mode and group to the socket unit.
    public static func start(
        path: String, mode: mode_t, group groupName: String?, limits: DaemonConfig.Limits,
        responder: any APIResponder, logger: Logger, threads: Int = System.coreCount, listenFD: CInt? = nil
    ) async throws -> HTTPServer {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, threads))
        let dir = (path as NSString).deletingLastPathComponent
        if !dir.isEmpty { try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
        // Remove a stale socket, but never a live one.
        if FileManager.default.fileExists(atPath: path) {
            if Self.isLive(path) { throw APIError(500, "socket_in_use", "another process serves \(path)") }
            unlink(path)
        }
        let connections = ConnectionCounter(limit: limits.maxConnections)
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 512)
            .childChannelInitializer { channel in
                guard connections.tryAcquire() else {
                    return channel.close()
                }
                channel.closeFuture.whenComplete { _ in connections.release() }
                // The handler is created and added on the channel's event loop (it is not Sendable).
                return channel.pipeline.configureHTTPServerPipeline(withErrorHandling: true).flatMapThrowing {
                    try channel.pipeline.syncOperations.addHandler(
                        HTTPConnectionHandler(responder: responder, limits: limits, logger: logger))
                }
            }
            .childChannelOption(.allowRemoteHalfClosure, value: false)
        if let listenFD {
            do {
                let channel = try await bootstrap.withBoundSocket(listenFD).get()
                return HTTPServer(group: group, channel: channel, path: path, ownsSocketFile: false)
            } catch {
                try? await group.shutdownGracefully()
                throw error
            }
        }
        // Create the socket with the final mode: no window where it is wider.
        let oldMask = umask(0o777 & ~mode)
        let channel: any Channel
        do {
            channel = try await bootstrap.bind(unixDomainSocketPath: path, cleanupExistingSocketFile: false).get()
        } catch {
            umask(oldMask)
            try? await group.shutdownGracefully()
            throw error
        }
        umask(oldMask)
        chmod(path, mode)
        if let groupName {
            guard let gr = getgrnam(groupName) else {
                try? await channel.close()
                try? await group.shutdownGracefully()
                throw ConfigError.invalid(field: "socket.group", reason: "no such group \(groupName)")
            }
            chown(path, uid_t.max, gr.pointee.gr_gid)
        }
        return HTTPServer(group: group, channel: channel, path: path, ownsSocketFile: true)
    }

    private init(group: MultiThreadedEventLoopGroup, channel: any Channel, path: String, ownsSocketFile: Bool) {
        self.group = group
        self.channel = channel
        self.path = path
        self.ownsSocketFile = ownsSocketFile
    }

    /// Stops accepting, closes the socket file and the event loops.
    public func shutdown() async {
        try? await channel.close()
        if ownsSocketFile { unlink(path) }
        try? await group.shutdownGracefully()
    }

    static func isLive(_ path: String) -> Bool {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else { return false }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            for (i, b) in bytes.enumerated() { raw[i] = b }
        }
        return withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) == 0
            }
        }
    }
}

final class ConnectionCounter: Sendable {
    private let count = Mutex(0)
    let limit: Int
    init(limit: Int) { self.limit = limit }
    func tryAcquire() -> Bool {
        count.withLock {
            if $0 >= limit { return false }
            $0 += 1
            return true
        }
    }
    func release() { count.withLock { $0 -= 1 } }
}

/// One connection: collects a request within the limits, hands it to the responder, writes the
/// response. NIO's pipelining handler (from `configureHTTPServerPipeline`) keeps responses in order.
final class HTTPConnectionHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let responder: any APIResponder
    private let limits: DaemonConfig.Limits
    private let logger: Logger
    private var head: HTTPRequestHead?
    private var body: [UInt8] = []
    private var rejected = false
    private var peer: PeerCredentials?
    private var timer: Scheduled<Void>?
    private var streaming: Task<Void, Never>?
    private var inFlight = false

    init(responder: any APIResponder, limits: DaemonConfig.Limits, logger: Logger) {
        self.responder = responder
        self.limits = limits
        self.logger = logger
    }

    func channelActive(context: ChannelHandlerContext) {
        if let provider = context.channel as? any SocketOptionProvider {
            let cred: EventLoopFuture<PeerCred> = provider.unsafeGetSocketOption(
                level: SocketOptionLevel(SOL_SOCKET), name: SocketOptionName(SO_PEERCRED))
            let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
            cred.whenSuccess { c in
                bound.value.peer = PeerCredentials(pid: c.pid, uid: c.uid, gid: c.gid)
            }
        }
        armTimer(context: context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        streaming?.cancel()
        context.fireChannelInactive()
    }

    /// Closes a connection whose request is not complete in time (408) or that idles.
    private func armTimer(context: ChannelHandlerContext) {
        timer?.cancel()
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        let seconds = head == nil ? max(limits.requestTimeoutSeconds, 30) : limits.requestTimeoutSeconds
        timer = context.eventLoop.scheduleTask(in: .milliseconds(Int64(seconds * 1000))) {
            let (handler, context) = bound.value
            guard !handler.inFlight else { return }
            if handler.head != nil {
                handler.send(
                    .error(APIError(408, "request_timeout", "request not received in time")), context: context,
                    keepAlive: false)
            } else {
                context.close(promise: nil)
            }
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h):
            head = h
            body = []
            rejected = false
            armTimer(context: context)
            let headerBytes = h.headers.reduce(h.uri.utf8.count) { $0 + $1.name.utf8.count + $1.value.utf8.count + 4 }
            if headerBytes > limits.maxHeaderBytes {
                reject(
                    APIError(431, "headers_too_large", "request head exceeds the configured limit"), context: context)
            } else if let len = h.headers.first(name: "content-length").flatMap(Int.init), len > limits.maxBodyBytes {
                reject(.payloadTooLarge, context: context)
            }
        case .body(var buffer):
            guard !rejected else { return }
            if body.count + buffer.readableBytes > limits.maxBodyBytes {
                reject(.payloadTooLarge, context: context)
                return
            }
            body += buffer.readBytes(length: buffer.readableBytes) ?? []
        case .end:
            guard !rejected, let h = head else { return }
            timer?.cancel()
            dispatch(h, context: context)
        }
    }

    private func reject(_ e: APIError, context: ChannelHandlerContext) {
        rejected = true
        body = []
        send(.error(e), context: context, keepAlive: false)
    }

    private func dispatch(_ h: HTTPRequestHead, context: ChannelHandlerContext) {
        let (path, query) = RequestDecoding.splitTarget(h.uri)
        let request = APIRequest(
            method: h.method, path: path, query: query, headers: h.headers, body: body, peer: peer)
        body = []
        let keepAlive = h.isKeepAlive
        if let immediate = responder.respondOnEventLoop(to: request) {
            head = nil
            send(immediate, context: context, keepAlive: keepAlive)
            return
        }
        inFlight = true
        let responder = self.responder
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        let loop = context.eventLoop
        Task {
            let response = await responder.respond(to: request)
            loop.execute {
                let (handler, context) = bound.value
                handler.inFlight = false
                handler.head = nil
                handler.send(response, context: context, keepAlive: keepAlive)
            }
        }
    }

    private func send(_ response: APIResponse, context: ChannelHandlerContext, keepAlive: Bool) {
        guard context.channel.isActive else { return }
        var headers = response.headers
        switch response.body {
        case .bytes(let bytes):
            headers.replaceOrAdd(name: "content-length", value: String(bytes.count))
            headers.replaceOrAdd(name: "connection", value: keepAlive ? "keep-alive" : "close")
            context.write(
                wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: response.status, headers: headers))),
                promise: nil)
            var buffer = context.channel.allocator.buffer(capacity: bytes.count)
            buffer.writeBytes(bytes)
            context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
            if keepAlive {
                context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
                armTimer(context: context)
            } else {
                let done = context.eventLoop.makePromise(of: Void.self)
                context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: done)
                let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
                done.futureResult.whenComplete { _ in bound.value.close(promise: nil) }
            }
        case .events(let stream):
            headers.replaceOrAdd(name: "cache-control", value: "no-cache")
            headers.replaceOrAdd(name: "connection", value: "keep-alive")
            timer?.cancel()
            context.writeAndFlush(
                wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: response.status, headers: headers))),
                promise: nil)
            let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            let loop = context.eventLoop
            streaming = Task {
                for await text in stream {
                    let alive: Bool =
                        (try? await loop.submit {
                            let (handler, context) = bound.value
                            guard context.channel.isActive else { return false }
                            // A client that does not read is closed rather than buffered for.
                            guard context.channel.isWritable else {
                                context.close(promise: nil)
                                return false
                            }
                            var buffer = context.channel.allocator.buffer(capacity: text.utf8.count)
                            buffer.writeString(text)
                            context.writeAndFlush(handler.wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
                            return true
                        }.get()) ?? false
                    if !alive { return }
                }
                loop.execute {
                    let (handler, context) = bound.value
                    if context.channel.isActive {
                        context.writeAndFlush(handler.wrapOutboundOut(.end(nil)), promise: nil)
                        context.close(promise: nil)
                    }
                }
            }
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        logger.debug("connection error", metadata: ["error": "\(type(of: error))"])
        context.close(promise: nil)
    }
}

/// The layout of Linux `struct ucred` (SO_PEERCRED); Glibc only exposes it under _GNU_SOURCE.
struct PeerCred: Sendable {
    var pid: Int32 = 0
    var uid: UInt32 = 0
    var gid: UInt32 = 0
}
