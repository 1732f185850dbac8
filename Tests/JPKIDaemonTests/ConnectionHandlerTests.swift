import Foundation
import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing

@testable import JPKIDaemon

/// The connection handlers on an `EmbeddedChannel`: admission by peer credentials and per-uid
/// limits, HTTP limits (413, 408 on the event loop's own clock), 405 with `Allow` — bytes in,
/// bytes out, no socket and no waiting.
@Suite("HTTP connection handlers (EmbeddedChannel)")
struct ConnectionHandlerTests {
    /// Answers on the event loop: 200 `{"path": …}` for GET /ok, 405 with Allow for others.
    struct Echo: APIResponder {
        func respond(to request: APIRequest) async -> APIResponse { respondOnEventLoop(to: request)! }
        func respondOnEventLoop(to request: APIRequest) -> APIResponse? {
            guard request.method == .GET else { return .error(.methodNotAllowed(allowed: ["GET"])) }
            return .json(["path": request.path, "uid": String(request.peer?.uid ?? 0)])
        }
    }

    static let alice = PeerCredentials(pid: 10, uid: 1000, gid: 1000)

    /// A channel with the admission handler for `peer`, made active.
    static func channel(
        peer: PeerCredentials?, connections: ConnectionCounter = ConnectionCounter(limit: 8, perPeer: 2),
        limits: DaemonConfig.Limits = DaemonConfig.Limits(), refusals: Refusals = Refusals()
    ) throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(
            AdmissionHandler(
                connections: connections, admit: { $0.uid != 65534 },
                refused: { method, _, _, code in refusals.add("\(method) \(code)") },
                credentials: { _ in peer },
                makeHandler: {
                    HTTPConnectionHandler(
                        responder: Echo(), limits: limits, logger: .init(label: "test"), peer: $0,
                        refused: { method, _, _, code in refusals.add("\(method) \(code)") })
                }))
        try channel.connect(to: SocketAddress(unixDomainSocketPath: "/tmp/x")).wait()
        return channel
    }

    /// Everything the channel wrote, as text.
    static func output(_ channel: EmbeddedChannel) throws -> String {
        var text = ""
        while let buffer = try channel.readOutbound(as: ByteBuffer.self) {
            text += String(buffer: buffer)
        }
        return text
    }

    static func send(_ channel: EmbeddedChannel, _ text: String) throws {
        try channel.writeInbound(ByteBuffer(string: text))
    }

    final class Refusals: @unchecked Sendable {
        private let lock = NSLock()
        private var list: [String] = []
        func add(_ s: String) { lock.withLock { list.append(s) } }
        var all: [String] { lock.withLock { list } }
    }

    @Test("no credentials, or a peer without a role: 403 unknown_peer at once, closed, audited")
    func unknownPeer() throws {
        for peer in [nil, PeerCredentials(pid: 1, uid: 65534, gid: 65534)] {
            let refusals = Refusals()
            let counter = ConnectionCounter(limit: 8, perPeer: 2)
            let channel = try Self.channel(peer: peer, connections: counter, refusals: refusals)
            let out = try Self.output(channel)
            #expect(out.hasPrefix("HTTP/1.1 403 Forbidden\r\n") && out.contains(#""code":"unknown_peer""#), "\(out)")
            #expect(!channel.isActive)
            #expect(counter.activity.open == 0, "a refused peer holds no slot")
            #expect(refusals.all == ["CONNECT unknown_peer"])
        }
    }

    @Test("a uid over its connection limit: 503 too_many_connections; the slot comes back on close")
    func perPeerLimit() throws {
        let counter = ConnectionCounter(limit: 8, perPeer: 2)
        let held = try (0..<2).map { _ in try Self.channel(peer: Self.alice, connections: counter) }
        #expect(counter.activity.open == 2)
        let refusals = Refusals()
        let third = try Self.channel(peer: Self.alice, connections: counter, refusals: refusals)
        let out = try Self.output(third)
        #expect(out.hasPrefix("HTTP/1.1 503") && out.contains("too_many_connections"), "\(out)")
        #expect(refusals.all == ["CONNECT too_many_connections"])
        // Another uid is not affected; closing one of alice's frees her slot.
        let bob = try Self.channel(peer: PeerCredentials(pid: 11, uid: 1001, gid: 1001), connections: counter)
        #expect(bob.isActive)
        _ = try held[0].finish()
        let again = try Self.channel(peer: Self.alice, connections: counter)
        let againOutput = try Self.output(again)
        #expect(again.isActive && againOutput.isEmpty)
    }

    @Test("an admitted peer is served; 405 carries Allow; requests are counted for the trimmer")
    func served() throws {
        let counter = ConnectionCounter(limit: 8, perPeer: 2)
        let channel = try Self.channel(peer: Self.alice, connections: counter)
        try Self.send(channel, "GET /ok HTTP/1.1\r\nHost: x\r\n\r\n")
        let ok = try Self.output(channel)
        #expect(ok.hasPrefix("HTTP/1.1 200 OK\r\n") && ok.contains(#""uid":"1000""#), "\(ok)")
        try Self.send(channel, "DELETE /ok HTTP/1.1\r\nHost: x\r\n\r\n")
        let wrong = try Self.output(channel)
        #expect(wrong.hasPrefix("HTTP/1.1 405") && wrong.lowercased().contains("\r\nallow: get\r\n"), "\(wrong)")
        #expect(counter.activity.requests == 2)
    }

    @Test("a body over limits.maxBodyBytes: 413, closed, audited")
    func bodyTooLarge() throws {
        var limits = DaemonConfig.Limits()
        limits.maxBodyBytes = 256
        let refusals = Refusals()
        let channel = try Self.channel(peer: Self.alice, limits: limits, refusals: refusals)
        try Self.send(
            channel, "POST /ok HTTP/1.1\r\nHost: x\r\nContent-Length: 300\r\n\r\n" + String(repeating: "a", count: 300))
        let out = try Self.output(channel)
        #expect(out.hasPrefix("HTTP/1.1 413") && out.contains("payload_too_large"), "\(out)")
        #expect(refusals.all == ["POST payload_too_large"])
    }

    @Test("a request not complete within requestTimeoutSeconds: 408 (the loop's clock, no waiting)")
    func slowRequest() throws {
        var limits = DaemonConfig.Limits()
        limits.requestTimeoutSeconds = 2
        let channel = try Self.channel(peer: Self.alice, limits: limits)
        try Self.send(channel, "POST /ok HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(1999))
        #expect(try Self.output(channel).isEmpty)
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(2))
        let out = try Self.output(channel)
        #expect(out.hasPrefix("HTTP/1.1 408") && out.contains("request_timeout"), "\(out)")
    }
}
