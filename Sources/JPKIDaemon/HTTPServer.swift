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
        var response = json(
            Body(error: .init(code: e.code, message: e.message, details: e.details.isEmpty ? nil : e.details)),
            status: HTTPResponseStatus(statusCode: e.status))
        if !e.allow.isEmpty { response.headers.add(name: "allow", value: e.allow.joined(separator: ", ")) }
        return response
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
    private let connections: ConnectionCounter
    /// The socket path.
    public let path: String
    /// Whether this process created the socket file (and removes it at shutdown); false for a
    /// socket passed by systemd, which owns it.
    let ownsSocketFile: Bool

    /// Binds the socket (replacing a stale one), sets its mode and group, and starts serving.
    /// With `listenFD` (systemd socket activation) it serves that already-bound socket instead,
    /// leaving path, mode and group to the socket unit.
    ///
    /// Fairness: a connection's peer credentials (SO_PEERCRED) are read as soon as it is
    /// accepted. A peer that `admit` refuses (no role at all) is answered 403 `unknown_peer` at
    /// once and closed, holding no slot; a peer uid over `limits.maxConnectionsPerPeer` is
    /// answered 503 `too_many_connections` and closed; `limits.maxConnections` stays the
    /// whole-daemon guard (closed without an answer).
    ///
    /// `eventLoopGroup` (else a new one of `threads` threads) is the daemon's NIO group, shared
    /// with its HTTP clients (OCSP, gateway); the server shuts it down when it stops.
    public static func start(
        path: String, mode: mode_t, group groupName: String?, limits: DaemonConfig.Limits,
        responder: any APIResponder, logger: Logger, threads: Int = System.coreCount, listenFD: CInt? = nil,
        eventLoopGroup: MultiThreadedEventLoopGroup? = nil,
        admit: @escaping @Sendable (PeerCredentials) -> Bool = { _ in true },
        refused: RefusalHook? = nil
    ) async throws -> HTTPServer {
        let group = eventLoopGroup ?? MultiThreadedEventLoopGroup(numberOfThreads: max(1, threads))
        let dir = (path as NSString).deletingLastPathComponent
        if !dir.isEmpty { try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
        // Remove a stale socket, but never a live one — and never the one systemd passed
        // (`listenFD`): jpkid may not be able to connect to it (socket mode 0660 for
        // jpkid-clients), which must not make it look stale and unlinked.
        if listenFD == nil, FileManager.default.fileExists(atPath: path) {
            if Self.isLive(path) { throw APIError(500, "socket_in_use", "another process serves \(path)") }
            unlink(path)
        }
        let connections = ConnectionCounter(limit: limits.maxConnections, perPeer: limits.maxConnectionsPerPeer)
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 512)
            .childChannelInitializer { channel in
                // The handler is created and added on the channel's event loop (it is not Sendable).
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        AdmissionHandler(
                            connections: connections, admit: admit, refused: refused,
                            makeHandler: {
                                HTTPConnectionHandler(
                                    responder: responder, limits: limits, logger: logger, peer: $0, refused: refused)
                            }
                        ))
                }
            }
            .childChannelOption(.allowRemoteHalfClosure, value: false)
        if let listenFD {
            do {
                let channel = try await bootstrap.withBoundSocket(listenFD).get()
                return HTTPServer(
                    group: group, channel: channel, path: path, ownsSocketFile: false, connections: connections)
            } catch {
                try? await group.shutdownGracefully()
                throw error
            }
        }
        // The socket file is never wider than `mode`: the socket's own mode is set before bind(2),
        // which creates the file with (that mode & ~umask); chmod then widens it to exactly
        // `mode`. (Changing the umask around bind(2) would do it too, but the umask is
        // process-wide: files other threads create meanwhile would get the socket's mode.)
        let fd: CInt
        do {
            fd = try Self.bindUnixSocket(path: path, mode: mode)
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
        let channel: any Channel
        do {
            channel = try await bootstrap.withBoundSocket(fd).get()
        } catch {
            close(fd)
            unlink(path)
            try? await group.shutdownGracefully()
            throw error
        }
        chmod(path, mode)
        if let groupName {
            guard let gr = getgrnam(groupName) else {
                try? await channel.close()
                unlink(path)
                try? await group.shutdownGracefully()
                throw ConfigError.invalid(field: "socket.group", reason: "no such group \(groupName)")
            }
            chown(path, uid_t.max, gr.pointee.gr_gid)
        }
        return HTTPServer(
            group: group, channel: channel, path: path, ownsSocketFile: true, connections: connections)
    }

    private init(
        group: MultiThreadedEventLoopGroup, channel: any Channel, path: String, ownsSocketFile: Bool,
        connections: ConnectionCounter
    ) {
        self.connections = connections
        self.group = group
        self.channel = channel
        self.path = path
        self.ownsSocketFile = ownsSocketFile
    }

    /// Connections accepted and requests begun so far (both monotonic), and connections open now.
    public var activity: (accepted: UInt64, requests: UInt64, open: Int) { connections.activity }

    /// Stops accepting, closes the socket file and the event loops.
    public func shutdown() async {
        try? await channel.close()
        if ownsSocketFile { unlink(path) }
        try? await group.shutdownGracefully()
    }

    /// A listening Unix stream socket at `path` whose file is created no wider than `mode`.
    static func bindUnixSocket(path: String, mode: mode_t) throws(APIError) -> CInt {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw APIError(500, "socket_error", "socket: \(String(cString: strerror(errno)))") }
        fchmod(fd, mode)
        let bound = withUnixAddress(path) { bind(fd, $0, $1) }
        guard let bound else {
            close(fd)
            throw APIError(500, "socket_error", "socket path too long: \(path)")
        }
        guard bound == 0, listen(fd, 512) == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw APIError(500, "socket_error", "cannot listen on \(path): \(reason)")
        }
        return fd
    }

    static func isLive(_ path: String) -> Bool {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        return withUnixAddress(path) { connect(fd, $0, $1) } == 0
    }

    /// Calls `body` with a `sockaddr_un` for `path` and its length; nil when the path is too long.
    private static func withUnixAddress<T>(
        _ path: String, _ body: (UnsafePointer<sockaddr>, socklen_t) -> T
    ) -> T? {
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else { return nil }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            for (i, b) in bytes.enumerated() { raw[i] = b }
        }
        return withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
    }
}

/// The first handler of every connection: once it is active, reads the peer's SO_PEERCRED and
/// either answers a canned refusal and closes (no role: 403 `unknown_peer`; the uid's
/// connections full: 503 `too_many_connections`; the daemon full: closed unanswered) or takes
/// a slot, installs the HTTP pipeline and steps aside.
final class AdmissionHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer

    private let connections: ConnectionCounter
    private let admit: @Sendable (PeerCredentials) -> Bool
    private let refused: RefusalHook?
    private let makeHandler: (PeerCredentials) -> HTTPConnectionHandler
    private let credentials: (any Channel) -> PeerCredentials?

    /// `credentials` reads the peer (SO_PEERCRED by default; tests of the handler on an
    /// `EmbeddedChannel`, which has no socket, pass their own).
    init(
        connections: ConnectionCounter, admit: @escaping @Sendable (PeerCredentials) -> Bool, refused: RefusalHook?,
        credentials: @escaping (any Channel) -> PeerCredentials? = AdmissionHandler.peerCredentials(of:),
        makeHandler: @escaping (PeerCredentials) -> HTTPConnectionHandler
    ) {
        self.connections = connections
        self.admit = admit
        self.refused = refused
        self.credentials = credentials
        self.makeHandler = makeHandler
    }

    func channelActive(context: ChannelHandlerContext) {
        let peer = credentials(context.channel)
        guard let peer, admit(peer) else {
            refused?("CONNECT", "", peer, APIError.unknownPeer.code)
            refuse(context, .unknownPeer)
            return
        }
        switch connections.tryAcquire(uid: peer.uid) {
        case .overTotal:
            refused?("CONNECT", "", peer, "too_many_connections_total")
            context.close(promise: nil)
            return
        case .overPeer:
            refused?("CONNECT", "", peer, APIError.tooManyConnections.code)
            refuse(context, .tooManyConnections)
            return
        case .acquired:
            break
        }
        let connections = self.connections
        context.channel.closeFuture.whenComplete { _ in connections.release(uid: peer.uid) }
        do {
            let pipeline = context.pipeline.syncOperations
            try pipeline.configureHTTPServerPipeline(withErrorHandling: true)
            let handler = makeHandler(peer)
            handler.tally = connections
            try pipeline.addHandler(handler)
        } catch {
            context.close(promise: nil)
            return
        }
        context.fireChannelActive()
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }

    /// Nothing is read before admission; whatever arrives first goes on to the HTTP decoder.
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        context.fireChannelRead(data)
    }

    /// The peer's SO_PEERCRED (nil when the socket cannot tell); on the event loop the option is
    /// read at once.
    static func peerCredentials(of channel: any Channel) -> PeerCredentials? {
        guard let provider = channel as? any SocketOptionProvider else { return nil }
        let cred: EventLoopFuture<PeerCred> = provider.unsafeGetSocketOption(
            level: SocketOptionLevel(SOL_SOCKET), name: SocketOptionName(SO_PEERCRED))
        var result: PeerCredentials?
        cred.assumeIsolated().whenSuccess { result = PeerCredentials(pid: $0.pid, uid: $0.uid, gid: $0.gid) }
        return result
    }

    /// Writes a complete canned answer — no request is read, no HTTP pipeline is built, no slot
    /// is held — and closes the connection.
    private func refuse(_ context: ChannelHandlerContext, _ error: APIError) {
        guard case .bytes(let bytes) = APIResponse.error(error).body else {
            context.close(promise: nil)
            return
        }
        var head = "HTTP/1.1 \(error.status) \(HTTPResponseStatus(statusCode: error.status).reasonPhrase)\r\n"
        head += "content-type: application/json; charset=utf-8\r\ncontent-length: \(bytes.count)\r\n"
        head += "connection: close\r\n\r\n"
        var buffer = context.channel.allocator.buffer(capacity: head.utf8.count + bytes.count)
        buffer.writeString(head)
        buffer.writeBytes(bytes)
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.writeAndFlush(NIOAny(buffer)).whenComplete { _ in bound.value.close(promise: nil) }
    }
}

/// Told about every request the HTTP layer refuses before the API sees it (who, what, the code),
/// so it can be audited: `method`/`path` are `CONNECT`/"" for refusals at connect time.
public typealias RefusalHook =
    @Sendable (_ method: String, _ path: String, _ peer: PeerCredentials?, _ code: String)
    -> Void

/// Open connections, in all and per peer uid.
final class ConnectionCounter: Sendable {
    enum Outcome { case acquired, overTotal, overPeer }
    private struct Counts {
        var total = 0
        var byUID: [UInt32: Int] = [:]
        var accepted: UInt64 = 0
        var requests: UInt64 = 0
    }
    private let counts = Mutex(Counts())
    let limit: Int
    let perPeer: Int
    init(limit: Int, perPeer: Int) {
        self.limit = limit
        self.perPeer = perPeer
    }
    func tryAcquire(uid: UInt32) -> Outcome {
        counts.withLock {
            if $0.total >= limit { return .overTotal }
            if $0.byUID[uid, default: 0] >= perPeer { return .overPeer }
            $0.total += 1
            $0.byUID[uid, default: 0] += 1
            $0.accepted &+= 1
            return .acquired
        }
    }
    /// Connections accepted and requests begun so far (both monotonic), and connections open now.
    var activity: (accepted: UInt64, requests: UInt64, open: Int) {
        counts.withLock { ($0.accepted, $0.requests, $0.total) }
    }
    /// Counts a request whose head arrived (for ``HTTPServer/activity``).
    func noteRequest() { counts.withLock { $0.requests &+= 1 } }
    func release(uid: UInt32) {
        counts.withLock {
            $0.total -= 1
            let n = $0.byUID[uid, default: 1] - 1
            // Drop the entry at zero: a stream of one-off peers leaves nothing behind.
            $0.byUID[uid] = n > 0 ? n : nil
        }
    }
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
    private var heartbeat: RepeatedTask?
    /// Unread bytes of the event stream at the last heartbeat (event loop only).
    private var previousUnread = 0
    private var inFlight = false
    private let refused: RefusalHook?
    /// Counts the requests begun (set by ``AdmissionHandler`` to the daemon's counter).
    var tally: ConnectionCounter?

    init(
        responder: any APIResponder, limits: DaemonConfig.Limits, logger: Logger, peer: PeerCredentials?,
        refused: RefusalHook? = nil
    ) {
        self.responder = responder
        self.limits = limits
        self.logger = logger
        self.peer = peer
        self.refused = refused
    }

    func handlerAdded(context: ChannelHandlerContext) {
        // Added to an already active channel (the initializer ran after accept).
        if context.channel.isActive { armTimer(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        armTimer(context: context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        heartbeat?.cancel()
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
            if let head = handler.head {
                handler.refused?(head.method.rawValue, head.uri, handler.peer, "request_timeout")
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
            tally?.noteRequest()
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
        if let head { refused?(head.method.rawValue, head.uri, peer, e.code) }
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
            startHeartbeat(context: context)
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

    /// SSE heartbeats (a comment line) every `limits.eventHeartbeatSeconds`. Before each one the
    /// bytes the client has not read yet are measured (SO_MEMINFO: on a Unix stream socket the
    /// sender is charged for every byte until the receiver reads it). When that count was not
    /// zero at the previous heartbeat and has not shrunk since, the client has stopped reading:
    /// the stream is closed, so a subscriber that never reads cannot hold its slot forever.
    private func startHeartbeat(context: ChannelHandlerContext) {
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        let interval = TimeAmount.milliseconds(Int64(max(0.01, limits.eventHeartbeatSeconds) * 1000))
        heartbeat = context.eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { task in
            let (_, context) = bound.value
            guard context.channel.isActive else {
                task.cancel()
                return
            }
            // On the event loop the option future is complete: the callback runs here and now.
            Self.unreadBytes(context.channel).whenSuccess { unread in
                let (handler, context) = bound.value
                guard context.channel.isActive else { return }
                if let unread, unread > 0, handler.previousUnread > 0, unread >= handler.previousUnread {
                    handler.logger.notice("event stream closed: the client stopped reading")
                    task.cancel()
                    context.close(promise: nil)
                    return
                }
                handler.previousUnread = unread ?? 0
                var buffer = context.channel.allocator.buffer(capacity: 16)
                buffer.writeString(": heartbeat\n\n")
                context.writeAndFlush(handler.wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
            }
        }
    }

    /// Bytes written to the socket that the peer has not read yet (SO_MEMINFO's
    /// SK_MEMINFO_WMEM_ALLOC, kernel accounting units), nil when the kernel cannot tell.
    static func unreadBytes(_ channel: any Channel) -> EventLoopFuture<Int?> {
        guard let provider = channel as? any SocketOptionProvider else {
            return channel.eventLoop.makeSucceededFuture(nil)
        }
        // SO_MEMINFO (asm-generic/socket.h: 55) is not exported by Glibc's Swift module.
        let info: EventLoopFuture<SocketMemInfo> = provider.unsafeGetSocketOption(
            level: SocketOptionLevel(SOL_SOCKET), name: SocketOptionName(55))
        return info.map { Int($0.wmemAlloc) }.recover { _ in nil }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        logger.debug("connection error", metadata: ["error": "\(type(of: error))"])
        // Unparseable requests (NIO's error handler has answered 400) are refusals too.
        if error is HTTPParserError { refused?(head?.method.rawValue ?? "-", head?.uri ?? "", peer, "bad_request") }
        context.close(promise: nil)
    }
}

/// The first SK_MEMINFO_VARS (9) counters of SO_MEMINFO (linux/sock_diag.h order).
struct SocketMemInfo: Sendable {
    var rmemAlloc: UInt32 = 0
    var rcvbuf: UInt32 = 0
    var wmemAlloc: UInt32 = 0
    var sndbuf: UInt32 = 0
    var fwdAlloc: UInt32 = 0
    var wmemQueued: UInt32 = 0
    var optmem: UInt32 = 0
    var backlog: UInt32 = 0
    var drops: UInt32 = 0
}

/// The layout of Linux `struct ucred` (SO_PEERCRED); Glibc only exposes it under _GNU_SOURCE.
struct PeerCred: Sendable {
    var pid: Int32 = 0
    var uid: UInt32 = 0
    var gid: UInt32 = 0
}
