import AuditTrail
import CardSimulator
import Foundation
import JPKIDaemon
import RegistryCommands
import TestBench
import Testing

/// The audit log's text for checks that no PIN or personal value is in it, without the chain's
/// own hex and base64 (`prev`, checkpoint `key`/`signature`, card fingerprints), where a short
/// PIN such as 1234 can occur by chance.
func auditText(_ path: String) throws -> String {
    let text = try String(contentsOfFile: path, encoding: .utf8)
    return text.replacingOccurrences(
        of: #""(prev|key|signature|card)":"[0-9A-Za-z+/=]+""#, with: "", options: .regularExpression)
}

extension DaemonTests {
    static func auditLines(_ path: String) -> [[String: Any]] {
        AuditFormat.files(ofLog: path).flatMap { f in
            ((try? String(contentsOfFile: f, encoding: .utf8)) ?? "").split(separator: "\n").compactMap {
                try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
            }
        }
    }

    static func verifyAudit(_ cfg: DaemonConfig) throws -> AuditVerification {
        let key = try AuditPublicKey(
            path: AuditSigner.publicKeyPath(for: cfg.audit.keyPath(auditLog: cfg.auditLog)))
        return AuditVerifier.verify(
            files: AuditFormat.files(ofLog: cfg.auditLog), publicKey: key, headFile: cfg.auditLog + ".head")
    }

    @Test("audit: a full disk refuses disclosures (503 audit_unavailable), serves the rest, recovers by itself")
    func auditFullDisk() async throws {
        try await withSmallTmpfs { dir in
            do {
                var (cfg, _) = Self.config()
                cfg.auditLog = dir + "/audit.jsonl"
                let card = try VirtualMyNumberCard.fixture("00-ordinary", faults: try FaultSpec(parsing: ""))
                try await Self.withSlot(cfg, .simulated) { http, slot in
                    do {
                        let session = try #require(try await slot.insert(card))
                        let identity = "/v1/sessions/\(session)/identity"
                        #expect(try await http.request("POST", identity, body: #"{"pin":"1234"}"#).status == 200)
                        let filler = try fillFileSystem(dir)
                        // The log's last page may still have room: another writer's lines fill it.
                        let other = try AuditLog(config: cfg, createKey: false)
                        var filled = 0
                        while (try? await other.record("filler", peer: nil, outcome: "ok")) != nil { filled += 1 }
                        #expect(filled < 100)
                        for _ in 0..<2 {
                            let r = try await http.request("POST", identity, body: #"{"pin":"1234"}"#)
                            #expect(r.status == 503 && r.errorCode == "audit_unavailable")
                            #expect(!String(decoding: r.body, as: UTF8.self).contains("山田"))
                            let pins = try await http.request("GET", "/v1/sessions/\(session)/pin-status")
                            #expect(pins.status == 503 && pins.errorCode == "audit_unavailable")
                        }
                        // What needs no audit is still served.
                        #expect(try await http.request("GET", "/v1/readers").status == 200)
                        #expect(try await http.request("GET", "/v1/health").status == 200)
                        #expect(try await http.request("GET", "/v1/sessions/\(session)").status == 200)
                        // Space back: the next disclosure is answered (and audited), no restart.
                        try FileManager.default.removeItem(atPath: filler)
                        let ok = try await http.request("POST", identity, body: #"{"pin":"1234"}"#)
                        #expect(ok.status == 200 && ok.json["name"] as? String == "山田　太郎")
                    }
                }
                let v = try Self.verifyAudit(cfg)
                #expect(v.problem == nil, "\(v.problem.map(String.init(describing:)) ?? "")")
                // The same through `jpkid audit verify` (in-process), with the daemon's public key.
                let pub = AuditSigner.publicKeyPath(for: cfg.audit.keyPath(auditLog: cfg.auditLog))
                let cli = CapturedOutput()
                let status = await CommandRunner.run(
                    AuditCommand.self, ["verify", "--key", pub] + AuditFormat.files(ofLog: cfg.auditLog),
                    output: cli.output)
                #expect(status == 0, "\(cli.stderr)")
                #expect(cli.stdout.contains("audit log verified") && !cli.stdout.contains("0 signed checkpoint"))
                let lines = Self.auditLines(cfg.auditLog)
                let answered = lines.filter {
                    $0["operation"] as? String == "identity" && $0["outcome"] as? String == "ok"
                }
                #expect(answered.count == 2)
                #expect(answered.allSatisfy { $0["card"] is String && $0["exe"] is String })
            }
        }
    }

    @Test("audit: refused requests are audited with the caller's uid, pid and executable, rate-limited")
    func auditRefusals() async throws {
        do {
            var (cfg, _) = Self.config(roles: [.status])
            cfg.audit.refusalsPerMinute = 3
            try await Self.running(cfg, readers: TestSlot.backend(.simulated)) {
                let http = UnixHTTP(path: cfg.socket.path)
                for _ in 0..<5 {
                    let r = try await http.request("POST", "/v1/sessions/00112233445566778899AABBCCDDEEFF/identity")
                    #expect(r.status == 403)
                }
                let r = try await http.request("GET", "/v1/nothing?x=1")
                #expect(r.status == 404)
            }
            let refused = Self.auditLines(cfg.auditLog).filter { $0["operation"] as? String == "refused" }
            // 3 per minute: the 2 forbidden ones and the 404 beyond the limit are counted, not written.
            #expect(refused.count == 3)
            #expect(refused.allSatisfy { $0["outcome"] as? String == "forbidden" })
            let first = try #require(refused.first)
            #expect(first["uid"] as? Int == Int(getuid()))
            #expect(first["pid"] as? Int == Int(getpid()))
            let exe = try #require(first["exe"] as? String)
            #expect(FileManager.default.fileExists(atPath: exe))
            #expect(first["comm"] is String)
            #expect((first["request"] as? String)?.hasPrefix("POST /v1/sessions/") == true)
            #expect(try Self.verifyAudit(cfg).problem == nil)
        }
    }

    @Test("audit: kill -9 of jpkid under load loses no line of an answered request", ReaderTier.pcscdTier)
    func auditKillNine() async throws {
        try await TestBench.exclusive {
            let (cfg, dir) = Self.config(roles: [.status])
            let config = dir + "/jpkid.json"
            try Data(
                #"{"roles":{"users":{"\#(getuid())":["status"]}},"socket":{"path":"\#(cfg.socket.path)"},"auditLog":"\#(cfg.auditLog)","logLevel":"error"}"#
                    .utf8
            ).write(to: URL(fileURLWithPath: config))
            let pid = try spawnProgram(
                try builtBinary("jpkid"), ["--config", config], stdinPath: "/dev/null", stdoutPath: nil,
                stderrPath: dir + "/stderr")
            var killed = false
            defer {
                if !killed {
                    kill(pid, SIGKILL)
                    _ = waitForExit(pid)
                }
            }
            let card = try VirtualMyNumberCard.fixture("00-ordinary", faults: try FaultSpec(parsing: ""))
            let load = LoadCounter()
            try await Self.inserted(card) { _ in
                let http = UnixHTTP(path: cfg.socket.path)
                _ = try await TestBench.waitUntil(timeout: .seconds(30)) {
                    (try? await http.request("GET", "/v1/health"))?.status == 200
                }
                let session = try #require(try await waitForSession(http))
                // Four clients read the PIN status as fast as they can (each answer is a
                // disclosure with its audit line) until jpkid is killed under them.
                for _ in 0..<4 {
                    Task.detached {
                        while true {
                            guard let r = try? await http.request("GET", "/v1/sessions/\(session)/pin-status"),
                                r.status != 0
                            else { break }
                            if r.status == 200 { load.add(ok: 1) }
                        }
                        load.add(done: 1)
                    }
                }
                #expect(try await TestBench.waitUntil(timeout: .seconds(30)) { load.ok >= 40 })
                kill(pid, SIGKILL)
                _ = waitForExit(pid)
                killed = true
                #expect(try await TestBench.waitUntil(timeout: .seconds(30)) { load.done == 4 })
            }
            TestBench.afterKilledClient()
            let answered = load.ok
            let lines = Self.auditLines(cfg.auditLog).filter {
                $0["operation"] as? String == "pin-status" && $0["outcome"] as? String == "ok"
            }
            // Every answer had its line on disk before it left; a line may exist for an answer
            // the kill cut off.
            #expect(lines.count >= answered, "answered \(answered), audited \(lines.count)")
            print("kill -9 under load: \(answered) answers, \(lines.count) audit lines")
            let v = try Self.verifyAudit(cfg)
            #expect(v.problem == nil, "\(v.problem.map(String.init(describing:)) ?? "")")
        }
    }
}

/// Counts answers across client threads.
final class LoadCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var _ok = 0
    private var _done = 0
    var ok: Int { lock.withLock { _ok } }
    var done: Int { lock.withLock { _done } }
    func add(ok: Int = 0, done: Int = 0) {
        lock.withLock {
            _ok += ok
            _done += done
        }
    }
}
