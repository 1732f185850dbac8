import Foundation
import JPKIDaemon
import Logging
import TestBench
import Testing

/// One local client cannot lock the others out: a peer without a role holds no slot, one uid
/// holds at most `maxConnectionsPerPeer` connections and `maxEventStreamsPerPeer` streams, and a
/// stream whose client stops reading is closed. The greedy client is a separate process
/// (`Tests/tools/greedy-peer.py`) running as another uid (nobody), so SO_PEERCRED tells it apart.
/// These daemons leave the bench's readers alone (`ignoreReaders`), so no bench lock is needed.
@Suite("jpkid: fair to every local client", .serialized)
struct FairnessTests {
    static let greedyUID: UInt32 = 65534

    static func config(greedyRoles: [Role]?) -> DaemonConfig {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent(
            "jpkid-fair-\(UUID().uuidString.prefix(8))")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        chmod(dir.path, 0o755)
        var c = DaemonConfig()
        c.socket.path = dir.appendingPathComponent("jpkid.sock").path
        // The greedy peer runs as another uid: it must be able to connect at all.
        c.socket.mode = "0666"
        c.auditLog = dir.appendingPathComponent("audit.jsonl").path
        c.roles.users = [String(getuid()): Role.allCases]
        if let greedyRoles { c.roles.users[String(greedyUID)] = greedyRoles }
        c.ignoreReaders = TestBench.slots.map(\.readerName)
        return c
    }

    /// Simulated readers (none): fairness is about connections, not cards.
    static func running<T>(_ cfg: DaemonConfig, _ body: () async throws -> T) async throws -> T {
        try await DaemonTests.running(cfg, readers: TestSlot.backend(.simulated), body)
    }

    @Test("a peer without any role is answered 403 at once and holds no connection slot")
    func roleless() async throws {
        var cfg = Self.config(greedyRoles: nil)
        cfg.limits.maxConnections = 32
        try await Self.running(cfg) {
            let greedy = try GreedyPeer(socket: cfg.socket.path, uid: Self.greedyUID, count: 100, mode: "idle")
            defer { greedy.stop() }
            #expect(try await greedy.opened()["opened"] == 100)
            let http = UnixHTTP(path: cfg.socket.path)
            let run = try await WellBehavedRun.run(http, "/v1/health", count: 100)
            print("roleless flood: well-behaved client \(run.summary)")
            #expect(run.ok == 100, "\(run.histogram)")
            let report = try await greedy.report { ($0["403 closed"] ?? 0) == 100 }
            #expect(report["403 closed"] == 100, "\(report)")
            // Refused at connect, and audited as such — rate-limited per uid, so a flood cannot
            // fill the disk (at most refusalsPerMinute lines, the rest counted as suppressed).
            func refusals() -> [String] {
                ((try? String(contentsOfFile: cfg.auditLog, encoding: .utf8)) ?? "").split(separator: "\n")
                    .map(String.init).filter {
                        $0.contains("\"operation\":\"refused\"") && $0.contains("\"outcome\":\"unknown_peer\"")
                            && $0.contains("\"uid\":\(Self.greedyUID)")
                    }
            }
            #expect(await TestBench.waitUntil { refusals().count >= 1 })
            #expect(refusals().count <= cfg.audit.refusalsPerMinute, "\(refusals().count) refusal lines")
        }
    }

    @Test("one uid holding every connection it may does not lock out another uid")
    func greedyConnections() async throws {
        var cfg = Self.config(greedyRoles: [.status])
        cfg.limits.maxConnectionsPerPeer = 16
        try await Self.running(cfg) {
            let greedy = try GreedyPeer(socket: cfg.socket.path, uid: Self.greedyUID, count: 200, mode: "idle")
            defer { greedy.stop() }
            #expect(try await greedy.opened()["opened"] == 200)
            let http = UnixHTTP(path: cfg.socket.path)
            let run = try await WellBehavedRun.run(http, "/v1/readers", count: 200)
            print("greedy uid holding 16 idle connections: well-behaved uid \(run.summary)")
            #expect(run.ok == 200, "\(run.histogram)")
            let report = try await greedy.report { ($0["503 closed"] ?? 0) == 184 }
            #expect(report["503 closed"] == 184 && report["none open"] == 16, "\(report)")
        }
    }

    @Test("event streams: a per-uid limit, heartbeats, and a client that stops reading is closed")
    func eventStreams() async throws {
        var cfg = Self.config(greedyRoles: [.status])
        cfg.limits.maxEventStreamsPerPeer = 4
        cfg.limits.eventHeartbeatSeconds = 0.2
        try await Self.running(cfg) {
            let greedy = try GreedyPeer(socket: cfg.socket.path, uid: Self.greedyUID, count: 10, mode: "events")
            defer { greedy.stop() }
            #expect(try await greedy.opened()["opened"] == 10)
            // Four streams were granted and, never read, are closed after two heartbeats; six got 429.
            let report = try await greedy.report { ($0["200 closed"] ?? 0) == 4 && ($0["429 open"] ?? 0) == 6 }
            #expect(report["200 closed"] == 4 && report["429 open"] == 6, "\(report)")
            // A client that reads keeps its stream through many heartbeats.
            let http = UnixHTTP(path: cfg.socket.path)
            let heartbeats = try await blocking { () -> Int in
                let fd = try http.connect(timeout: 5)
                defer { close(fd) }
                http.send(fd, Array("GET /v1/events HTTP/1.1\r\nHost: localhost\r\n\r\n".utf8))
                var text = ""
                var buf = [UInt8](repeating: 0, count: 4096)
                while text.components(separatedBy: ": heartbeat").count - 1 < 8 {
                    let n = recv(fd, &buf, buf.count, 0)
                    if n <= 0 { break }
                    text += String(decoding: buf[0..<n], as: UTF8.self)
                }
                return text.components(separatedBy: ": heartbeat").count - 1
            }
            #expect(heartbeats >= 8, "a reading client's stream ended after \(heartbeats) heartbeats")
            // The closed streams gave their slots back: the same uid is granted four streams again.
            let second = try GreedyPeer(socket: cfg.socket.path, uid: Self.greedyUID, count: 4, mode: "events")
            defer { second.stop() }
            #expect(try await second.opened()["opened"] == 4)
            let granted = try await second.report { ($0["200 open"] ?? 0) + ($0["200 closed"] ?? 0) == 4 }
            #expect((granted["200 open"] ?? 0) + (granted["200 closed"] ?? 0) == 4, "\(granted)")
        }
    }
}
