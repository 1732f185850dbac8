import CardSimulator
import Eligibility
import Foundation
import JPKIDaemon
import OQSFakeTerminal
import TestBench
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Provider `oqs` end to end: pcscd + jpki-sim, jpkid, the fake terminal on a folder.
@Suite("oqs provider through pcscd + jpki-sim", .serialized)
struct OQSFlowTests {
    static let institution = "1311111111"

    /// The seeded registry of ``EligibilityFlowTests`` with provider `oqs` on a fresh folder,
    /// and a fake terminal answering from the fixture rules.
    static func setUp(pickup: Double = 5, answer: Double = 10) async throws -> (DaemonConfig, FakeOQSTerminal) {
        var cfg = try await EligibilityFlowTests.seededConfig(.sqlite)
        let dir = (cfg.eligibility.sqlitePath as NSString).deletingLastPathComponent
        var o = EligibilityConfiguration.OQS()
        o.folder = dir + "/oqs"
        o.medicalInstitutionCode = institution
        o.pickupTimeoutSeconds = pickup
        o.answerTimeoutSeconds = answer
        cfg.eligibility.provider = .oqs
        cfg.eligibility.oqs = o
        let f = try FakeOQSTerminal.fixture(
            try VirtualMyNumberCard.fixturesCardsDirectory().deletingLastPathComponent()
                .appendingPathComponent("oqs/terminal.json").path)
        let fake = try FakeOQSTerminal(folder: o.folder, rules: f.rules, default: f.default ?? .init(validity: "4"))
        return (cfg, fake)
    }

    static func files(_ dir: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).sorted()
    }

    @Test("demo card → proof → terminal query → each 資格有効性 code; errors map to HTTP")
    func eachCode() async throws {
        let (cfg, fake) = try await Self.setUp(pickup: 0.5, answer: 1.5)
        defer { fake.stop() }
        let cases: [(validity: String, status: String, record: Bool)] = [
            ("1", "eligible", true), ("2", "not_eligible", true), ("3", "new_qualification_exists", true),
            ("4", "not_eligible", false), ("5", "multiple", false),
        ]
        try await EligibilityFlowTests().withDaemon(cfg) { http, insert in
            let (slot, session) = try await insert("00-ordinary", nil)
            for c in cases {
                fake.setRule(.init(validity: c.validity, result: ["Name": "端末　太郎"]), forNumber: "1001")
                let r = try await http.request("POST", "/v1/sessions/\(session)/eligibility", body: #"{"pin":"1234"}"#)
                let text = String(decoding: r.body, as: UTF8.self)
                #expect(r.status == 200 && r.json["status"] as? String == c.status, "\(c.validity): \(text)")
                let terminal = r.json["terminal"] as? [String: Any]
                #expect(terminal?["qualificationValidity"] as? String == c.validity, "\(text)")
                // The record is the terminal's (its name), not the local registry's.
                #expect(((r.json["record"] as? [String: Any])?["name"] as? String == "端末　太郎") == c.record, "\(text)")
            }
            // Typed failures reach the client with their codes.
            for (kind, code, status) in [
                ("error", "oqs_terminal_error", 502), ("ignore", "oqs_terminal_not_responding", 504),
                ("malformed", "oqs_malformed_answer", 502),
            ] {
                fake.setRule(.init(kind: kind), forNumber: "1001")
                let r = try await http.request("POST", "/v1/sessions/\(session)/eligibility", body: #"{"pin":"1234"}"#)
                #expect(
                    r.status == status && r.errorCode == code, "\(kind): \(String(decoding: r.body, as: UTF8.self))")
            }
            // The queries carried the linked numbers and birth date.
            #expect(fake.received.allSatisfy { $0.number == "1001" && $0.birthDate.description == "1980-02-17" })
            try await EligibilityFlowTests.remove(slot)
        }
        let audit = try String(contentsOfFile: cfg.auditLog, encoding: .utf8)
        for secret in ["端末", "山田", "1980-02-17", "19800217"] { #expect(!audit.contains(secret)) }
        #expect(Self.files(cfg.eligibility.oqs!.folder + "/req").isEmpty)
        #expect(Self.files(cfg.eligibility.oqs!.folder + "/res").isEmpty)
    }

    @Test("a card swapped while the terminal answers gives 409; the answer is consumed and discarded")
    func swapMidQuery() async throws {
        let (cfg, fake) = try await Self.setUp()
        defer { fake.stop() }
        fake.setRule(.init(validity: "1", delayMilliseconds: 1500, result: ["Name": "佐藤　花子"]), forNumber: "3003")
        try await EligibilityFlowTests().withDaemon(cfg) { http, insert in
            let (first, session) = try await insert("02-same-name-a", nil)
            async let response = http.request(
                "POST", "/v1/sessions/\(session)/eligibility", body: #"{"pin":"1111"}"#)
            // The query is at the terminal: swap the card.
            #expect(await TestBench.waitUntil { !fake.received.isEmpty })
            try await EligibilityFlowTests.remove(first)
            let (second, _) = try await insert("03-same-name-b", nil)
            let r = try await response
            let text = String(decoding: r.body, as: UTF8.self)
            #expect(r.status == 409 && r.errorCode == "card_session_ended", "\(r.status) \(text)")
            #expect(!text.contains("佐藤") && !text.contains("3003"))
            #expect(Self.files(cfg.eligibility.oqs!.folder + "/res").isEmpty, "the answer file was consumed")
            try await EligibilityFlowTests.remove(second)
        }
    }

    @Test("face-reader results are joined by 照会番号, announced by id, served to identity, audited")
    func faceIntake() async throws {
        let (cfg, fake) = try await Self.setUp()
        defer { fake.stop() }
        let store = try await cfg.eligibility.makeStore()
        let entry = try #require(try await store.list().first { $0.record.number == "1001" })
        await store.shutdown()
        try await DaemonTests.running(cfg, readers: TestSlot.backend(.simulated)) {
            let http = UnixHTTP(path: cfg.socket.path)
            // Registration file for the terminal: one entry per active record, 照会番号 = record id.
            let fields = [
                "Name": "山田　太郎", "InsurerNumber": "06139991", "InsuredIdentificationNumber": "1001",
                "Birthdate": "19800217", "ReferenceNumber": String(entry.id),
            ]
            // Give the intake thread its watch before the file arrives (it takes only new files).
            #expect(
                try await TestBench.waitUntil { try await http.request("GET", "/v1/oqs/face-results").status == 200 })
            // Subscribe to the events first (the reader returns once the daemon has subscribed it).
            let events = try await SSEReader(http: http)
            defer { events.close() }
            var joined: String?
            _ = try fake.dropFaceResult(fields)
            // The event names the result by id only.
            let event = try #require(try await events.next("oqs-face-result"))
            let eventText = String(decoding: try JSONSerialization.data(withJSONObject: event), as: UTF8.self)
            #expect(
                try await TestBench.waitUntil {
                    let list = try await http.request("GET", "/v1/oqs/face-results").json["results"] as? [[String: Any]]
                    joined = list?.first?["id"] as? String
                    return joined != nil
                })
            let id = try #require(joined)
            #expect(event["result"] as? String == id && !eventText.contains("山田"), "\(eventText)")
            let r = try await http.request("GET", "/v1/oqs/face-results/\(id)")
            #expect(r.status == 200 && r.json["join"] as? String == "joined")
            #expect((r.json["patient"] as? [String: Any])?["recordID"] as? Int == Int(entry.id))
            // Another 番号 under the same 照会番号 is never joined.
            var other = fields
            other["InsuredIdentificationNumber"] = "9999"
            _ = try fake.dropFaceResult(other)
            #expect(
                try await TestBench.waitUntil {
                    let list = try await http.request("GET", "/v1/oqs/face-results").json["results"] as? [[String: Any]]
                    return list?.first?["join"] as? String == "numbers_differ"
                })
            #expect(try await http.request("GET", "/v1/oqs/face-results/nope").errorCode == "face_result_not_found")
            // A broken file is refused with its code (audited, announced), never taken as a result.
            let face = cfg.eligibility.oqs!.folder + "/face"
            #expect(OQSTerminal.writeAtomically(Data("<XmlMsg>".utf8), directory: face, name: "broken.xml") == nil)
            #expect(
                try await TestBench.waitUntil {
                    (try? String(contentsOfFile: cfg.auditLog, encoding: .utf8))?.contains("oqs_malformed_answer")
                        == true
                })
        }
        // Without the identity role the results are refused.
        var statusOnly = cfg
        statusOnly.roles.users = [String(getuid()): [.status, .authenticate]]
        statusOnly.socket.path = (cfg.socket.path as NSString).deletingLastPathComponent + "/status-only.sock"
        try await DaemonTests.running(statusOnly, readers: TestSlot.backend(.simulated)) {
            let r = try await UnixHTTP(path: statusOnly.socket.path).request("GET", "/v1/oqs/face-results")
            #expect(r.status == 403 && r.errorCode == "forbidden")
        }
        let audit = try String(contentsOfFile: cfg.auditLog, encoding: .utf8)
        #expect(audit.contains("oqs-face-intake") && audit.contains("oqs-face-result"))
        #expect(!audit.contains("山田") && !audit.contains("19800217"))
    }

    @Test(
        "kill -9 of jpkid mid-query: no half-written request; the late answer is never consumed",
        ReaderTier.pcscdTier)
    func killedMidQuery() async throws {
        var (cfg, fake) = try await Self.setUp()
        defer { fake.stop() }
        fake.setRule(.init(validity: "1", delayMilliseconds: 1500, result: ["Name": "遅延　太郎"]), forNumber: "1001")
        cfg.logLevel = "warning"
        let dir = (cfg.eligibility.sqlitePath as NSString).deletingLastPathComponent
        let configPath = dir + "/jpkid.json"
        try JSONEncoder().encode(cfg).write(to: URL(fileURLWithPath: configPath))
        let folder = cfg.eligibility.oqs!.folder
        try await TestBench.exclusive {
            let http = UnixHTTP(path: cfg.socket.path)
            let jpkid = try builtBinary("jpkid")
            let pid = try spawnProgram(
                jpkid, ["--config", configPath], stdinPath: "/dev/null", stdoutPath: "/dev/null",
                stderrPath: dir + "/jpkid.log")
            var killed = false
            defer {
                if !killed {
                    kill(pid, SIGKILL)
                    _ = waitForExit(pid)
                }
            }
            // Runs last (after the card is removed): this test kills a PC/SC client mid-operation.
            defer { TestBench.afterKilledClient() }
            let bridge = VPCDBridge(card: try VirtualMyNumberCard.fixture("00-ordinary"), port: TestBench.slots[0].port)
            try bridge.start()
            defer { EligibilityFlowTests.remove(bridge) }
            #expect(
                await TestBench.waitUntil(timeout: .seconds(30)) {
                    (try? await http.request("GET", "/v1/health")) != nil
                })
            let session = try #require(try await DaemonTests().waitForSession(http))
            async let response = try? await http.request(
                "POST", "/v1/sessions/\(session)/eligibility", body: #"{"pin":"1234"}"#)
            #expect(await TestBench.waitUntil { !fake.received.isEmpty })
            kill(pid, SIGKILL)
            _ = waitForExit(pid)
            killed = true
            _ = await response
            // Nothing half-written is left for the terminal.
            #expect(Self.files(folder + "/req").allSatisfy { !$0.hasPrefix(".jpkid-") })
            // The terminal answers the dead query; a new jpkid discards that answer at start.
            #expect(await TestBench.waitUntil { Self.files(folder + "/res").count == 1 })
            let late = try #require(Self.files(folder + "/res").first)
            var restarted = cfg
            restarted.socket.path = dir + "/jpkid2.sock"
            try await DaemonTests.running(restarted) {
                #expect(await TestBench.waitUntil { !Self.files(folder + "/res").contains(late) })
                fake.setRule(.init(validity: "1", result: ["Name": "新規　太郎"]), forNumber: "1001")
                let http2 = UnixHTTP(path: restarted.socket.path)
                let s2 = try #require(try await DaemonTests().waitForSession(http2))
                let r = try await http2.request("POST", "/v1/sessions/\(s2)/eligibility", body: #"{"pin":"1234"}"#)
                #expect((r.json["record"] as? [String: Any])?["name"] as? String == "新規　太郎")
            }
        }
    }
}
