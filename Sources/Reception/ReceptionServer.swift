import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix

/// Why the server could not start.
public enum ReceptionError: Error, Sendable, Equatable, CustomStringConvertible {
    /// `--listen` is not `127.0.0.1:PORT` (the page is served on loopback only).
    case notLoopback(String)
    /// The bundled page is missing from the build.
    case assetsMissing

    /// Stable code and reason.
    public var description: String {
        switch self {
        case .notLoopback(let s): "listen address must be 127.0.0.1:PORT (loopback only), not \(s) [not_loopback]"
        case .assetsMissing: "the page's assets are missing from the build [assets_missing]"
        }
    }
}

/// The reception counter's web server: serves the page and a small API on 127.0.0.1 and asks
/// jpkid (over its Unix socket) for everything; never talks to pcscd.
public final class ReceptionServer: Sendable {
    typealias Connection = NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>

    /// The security checks (Host, token/cookie, Origin).
    public let requestGuard: RequestGuard
    /// The port actually bound.
    public let port: Int
    let listener: NIOAsyncChannel<Connection, Never>
    let api: ReceptionAPI
    let assets: [String: (type: String, body: [UInt8])]
    let logger: Logger

    /// The start address with the one-time token: print it once.
    public var startURL: String {
        "http://127.0.0.1:\(port)/?token=\(requestGuard.token ?? "")"
    }

    /// Parses `127.0.0.1:PORT` (loopback only; PORT 0 = any free port).
    public static func parseListen(_ s: String) throws(ReceptionError) -> Int {
        let parts = s.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, parts[0] == "127.0.0.1", let port = Int(parts[1]), (0...65535).contains(port) else {
            throw .notLoopback(s)
        }
        return port
    }

    /// Binds `127.0.0.1:port` (0 = any free port).
    public static func bind(
        port: Int, jpkidSocket: String, group: any EventLoopGroup, idleSeconds: Int = 120,
        logger: Logger = Logger(label: "jpki-reception")
    ) async throws -> ReceptionServer {
        let listener = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .bind(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    return try Connection(wrappingChannelSynchronously: channel)
                }
            }
        let bound = listener.channel.localAddress?.port ?? port
        return ReceptionServer(
            listener: listener, port: bound, jpkid: JpkidClient(socketPath: jpkidSocket),
            idleSeconds: idleSeconds, assets: try loadAssets(), logger: logger)
    }

    init(
        listener: NIOAsyncChannel<Connection, Never>, port: Int, jpkid: JpkidClient, idleSeconds: Int,
        assets: [String: (type: String, body: [UInt8])], logger: Logger
    ) {
        self.listener = listener
        self.port = port
        self.requestGuard = RequestGuard(authority: "127.0.0.1:\(port)")
        self.api = ReceptionAPI(jpkid: jpkid, idleSeconds: idleSeconds)
        self.assets = assets
        self.logger = logger
    }

    /// The bundled page (index.html, app.js, app.css, …), read once.
    static func loadAssets() throws -> [String: (type: String, body: [UInt8])] {
        guard let dir = Bundle.module.url(forResource: "Assets", withExtension: nil) else {
            throw ReceptionError.assetsMissing
        }
        let types = [
            "html": "text/html; charset=utf-8", "js": "text/javascript; charset=utf-8",
            "css": "text/css; charset=utf-8", "svg": "image/svg+xml",
        ]
        var out: [String: (type: String, body: [UInt8])] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: dir.path) {
            let ext = (name as NSString).pathExtension
            guard let type = types[ext] else { continue }
            let data = try Data(contentsOf: dir.appendingPathComponent(name))
            out["/" + (name == "index.html" ? "" : name)] = (type, Array(data))
        }
        guard out["/"] != nil else { throw ReceptionError.assetsMissing }
        return out
    }

    /// Serves until the task is cancelled.
    public func run() async throws {
        try await withThrowingDiscardingTaskGroup { group in
            try await listener.executeThenClose { inbound in
                for try await connection in inbound {
                    group.addTask { await self.serve(connection) }
                }
            }
        }
    }

    func serve(_ connection: Connection) async {
        try? await connection.executeThenClose { inbound, outbound in
            var head: HTTPRequestHead?
            var body: [UInt8] = []
            var tooLarge = false
            for try await part in inbound {
                switch part {
                case .head(let h):
                    head = h
                    body = []
                    tooLarge = false
                case .body(let b):
                    if body.count + b.readableBytes > 16384 { tooLarge = true } else { body += b.readableBytesView }
                case .end:
                    guard let h = head else { return }
                    head = nil
                    let keepOpen = try await respond(
                        h, body: tooLarge ? nil : body, outbound, closed: connection.channel.closeFuture)
                    // Wipe the copy of the body (it may hold a PIN) as soon as it was used.
                    for i in body.indices { body[i] = 0 }
                    if !keepOpen { return }
                }
            }
        }
    }

    /// Headers every answer carries.
    static func securityHeaders(_ h: inout HTTPHeaders) {
        h.add(
            name: "content-security-policy",
            value:
                "default-src 'self'; img-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; "
                + "frame-ancestors 'none'; base-uri 'none'; form-action 'none'; object-src 'none'")
        h.add(name: "x-frame-options", value: "DENY")
        h.add(name: "x-content-type-options", value: "nosniff")
        h.add(name: "referrer-policy", value: "no-referrer")
        h.add(name: "cross-origin-opener-policy", value: "same-origin")
        h.add(name: "cross-origin-resource-policy", value: "same-origin")
        // Nothing is cached: the answers carry personal data, the page is tiny.
        h.add(name: "cache-control", value: "no-store")
    }

    func write(
        _ outbound: NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>, status: HTTPResponseStatus,
        type: String, body: [UInt8], extra: [(String, String)] = [], keepAlive: Bool
    ) async throws {
        var h = HTTPHeaders()
        Self.securityHeaders(&h)
        h.add(name: "content-type", value: type)
        h.add(name: "content-length", value: String(body.count))
        if !keepAlive { h.add(name: "connection", value: "close") }
        for (n, v) in extra { h.add(name: n, value: v) }
        try await outbound.write(.head(HTTPResponseHead(version: .http1_1, status: status, headers: h)))
        if !body.isEmpty { try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: body)))) }
        try await outbound.write(.end(nil))
    }

    static func errorJSON(_ code: String, _ message: String) -> [UInt8] {
        let obj: [String: Any] = ["error": ["code": code, "message": message]]
        return Array((try? JSONSerialization.data(withJSONObject: obj)) ?? Data())
    }

    /// Answers one request; false = close the connection afterwards.
    func respond(
        _ head: HTTPRequestHead, body: [UInt8]?, _ out: NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>,
        closed: EventLoopFuture<Void>
    ) async throws -> Bool {
        let keepAlive = head.isKeepAlive
        let headers = head.headers.map { ($0.name.lowercased(), $0.value) }
        switch requestGuard.check(method: head.method.rawValue, target: head.uri, headers: headers) {
        case .refuse(let status, let code):
            logger.notice("refused", metadata: ["code": "\(code)", "method": "\(head.method.rawValue)"])
            let message =
                code == "wrong_host"
                ? "misdirected request: use http://\(requestGuard.authority)/"
                : "refused: open the address jpki-reception printed when it started"
            try await write(
                out, status: HTTPResponseStatus(statusCode: status), type: "application/json",
                body: Self.errorJSON(code, message), keepAlive: false)
            return false
        case .exchangeToken(let cookie):
            try await write(
                out, status: .seeOther, type: "text/plain; charset=utf-8", body: [],
                extra: [("set-cookie", cookie), ("location", "/")], keepAlive: keepAlive)
            return keepAlive
        case .allow:
            break
        }
        guard let body else {
            try await write(
                out, status: .payloadTooLarge, type: "application/json",
                body: Self.errorJSON("payload_too_large", "request too large"), keepAlive: false)
            return false
        }
        let path = String(head.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)[0])
        if head.method == .GET, let asset = assets[path] {
            try await write(out, status: .ok, type: asset.type, body: asset.body, keepAlive: keepAlive)
            return keepAlive
        }
        if head.method == .GET, path == "/api/events" {
            // The relay ends when the browser goes away (its connection closes), not only at the
            // next event: jpkid's connection is released at once.
            let relay = Task { try await self.streamEvents(out) }
            closed.whenComplete { _ in relay.cancel() }
            _ = try? await relay.value
            return false
        }
        let answer = await api.handle(method: head.method, path: path, body: body)
        try await write(
            out, status: HTTPResponseStatus(statusCode: answer.status), type: answer.type, body: answer.body,
            keepAlive: keepAlive)
        return keepAlive
    }

    /// Relays jpkid's event stream (reader/card events with session ids; no personal data).
    func streamEvents(_ out: NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>) async throws {
        var h = HTTPHeaders()
        Self.securityHeaders(&h)
        h.add(name: "content-type", value: "text/event-stream")
        h.add(name: "connection", value: "close")
        try await out.write(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: h)))
        let api = self.api
        do {
            try await api.jpkid.events(
                onHead: { status in
                    guard status == 200 else { throw JpkidClientError.protocolError }
                },
                onChunk: { chunk in
                    await api.observeEvents(String(buffer: chunk))
                    try await out.write(.body(.byteBuffer(chunk)))
                })
        } catch is JpkidClientError {
            // The page shows "jpkid is not running" and the browser reconnects.
            try await out.write(
                .body(.byteBuffer(ByteBuffer(string: "retry: 2000\nevent: jpkid-unavailable\ndata: {}\n\n"))))
        }
        try await out.write(.end(nil))
    }
}
