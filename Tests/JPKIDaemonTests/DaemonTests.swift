import CardSimulator
import Foundation
import JPKI
import JPKIDaemon
import Logging
import SmartCard
import TestBench
import Testing

/// jpkid end to end: the daemon in-process on a temporary Unix socket, requests over that socket,
/// simulated cards in simulated readers (no pcscd) — or, for the tests about pcscd's own behaviour
/// (the integration tier, ``ReaderTier/pcscd``), the real pcscd + vpcd with cards served through
/// VPCDBridge.
@Suite("jpkid's API (simulated readers; pcscd + vpcd as the integration tier)", .serialized)
struct DaemonTests {
    static func config(myNumber: Bool = false, roles: [Role] = Role.allCases, trust: Bool = false) -> (
        DaemonConfig, String
    ) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("jpkid-\(UUID().uuidString.prefix(8))")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        var c = DaemonConfig()
        c.socket.path = dir.appendingPathComponent("jpkid.sock").path
        c.auditLog = dir.appendingPathComponent("audit.jsonl").path
        c.roles.users = [String(getuid()): roles]
        c.myNumber.enabled = myNumber
        c.limits.maxBodyBytes = 4096
        if trust { c.trust = fixtureTrust() }
        return (c, dir.path)
    }

    /// The fixture trust of config/demo.json (every root generation, its CRL, the 券面 issuer keys),
    /// its paths made absolute: one list for the demo, the scripts (`scripts/fixture-trust`) and
    /// the tests.
    static func fixtureTrust() -> DaemonConfig.Trust {
        let root = try! VirtualMyNumberCard.fixturesCardsDirectory().deletingLastPathComponent()
            .deletingLastPathComponent()
        var t = try! DaemonConfig.load(path: root.appendingPathComponent("config/demo.json").path).trust
        func absolute(_ p: String) -> String { root.appendingPathComponent(p).path }
        t.authAnchors = t.authAnchors.map(absolute)
        t.signAnchors = t.signAnchors.map(absolute)
        t.crls = t.crls.map(absolute)
        t.textIssuerKey = t.textIssuerKey.map(absolute)
        t.visualIssuerKey = t.visualIssuerKey.map(absolute)
        return t
    }

    /// Runs `body` with an in-process daemon that is shut down however `body` ends (a daemon
    /// left running would keep watching the bench's readers during later tests). Its log label
    /// names its directory, so interleaved test output says which daemon logged what.
    /// `readers`: simulated readers (nil: pcscd, and the caller holds the bench through
    /// `TestBench.exclusive`).
    static func running<T>(
        _ cfg: DaemonConfig, readers: SimulatedReaders? = nil, _ body: () async throws -> T
    ) async throws -> T {
        let label = URL(fileURLWithPath: cfg.socket.path).deletingLastPathComponent().lastPathComponent
        let daemon = try await Daemon.start(config: cfg, logger: Logger(label: label), readers: readers)
        let result: T
        do {
            result = try await body()
        } catch {
            await daemon.shutdown()
            throw error
        }
        await daemon.shutdown()
        return result
    }

    /// Inserts `card` into slot 0 for the length of `body`; removed however `body` ends.
    static func inserted<T>(_ card: VirtualMyNumberCard, _ body: (VPCDBridge) async throws -> T) async throws -> T {
        let bridge = VPCDBridge(card: card, port: TestBench.slots[0].port)
        defer {
            bridge.stop()
            bridge.waitUntilStopped()
        }
        try bridge.start()
        return try await body(bridge)
    }

    /// Runs `body` with a daemon and a card in slot 0, in `tier` (simulated readers unless the
    /// test is about pcscd; see ``ReaderTier``).
    func withDaemon(
        card name: String = "00-ordinary", tier: ReaderTier = .simulated, myNumber: Bool = false,
        roles: [Role] = Role.allCases, trust: Bool = false, faults: String? = nil,
        operationTimeout: Double? = nil, behaviour: CardBehaviour? = nil,
        _ body: (UnixHTTP, TestSlot, DaemonConfig) async throws -> Void
    ) async throws {
        var (cfg, _) = Self.config(myNumber: myNumber, roles: roles, trust: trust)
        if let operationTimeout { cfg.limits.operationTimeoutSeconds = operationTimeout }
        let card = try VirtualMyNumberCard.fixture(
            name, faults: try FaultSpec(parsing: faults ?? ""), behaviour: behaviour)
        try await Self.withSlot(cfg, tier) { http, slot in
            #expect(try await slot.insert(card) != nil)
            try await body(http, slot, cfg)
        }
    }

    /// Runs `body` with a daemon of `tier` and its (empty) slot 0, released however `body` ends.
    /// The pcscd tier holds the bench's lock; the simulated tier shares nothing with other tests.
    static func withSlot(
        _ cfg: DaemonConfig, _ tier: ReaderTier, _ body: (UnixHTTP, TestSlot) async throws -> Void
    ) async throws {
        func run() async throws {
            let readers = TestSlot.backend(tier)
            try await running(cfg, readers: readers) {
                let http = UnixHTTP(path: cfg.socket.path)
                let slot = try await TestSlot.open(tier, http: http, readers: readers)
                defer { slot.close() }
                try await body(http, slot)
            }
        }
        if tier == .pcscd { try await TestBench.exclusive { try await run() } } else { try await run() }
    }

    func waitForSession(_ http: UnixHTTP, otherThan old: String? = nil) async throws -> String? {
        var found: String?
        var last = ""
        defer { if found == nil || found == old { print("readers at timeout: \(last)") } }
        _ = try await TestBench.waitUntil {
            let r = try await http.request("GET", "/v1/readers")
            last = String(decoding: r.body, as: UTF8.self)
            found = Self.slot0(r)?["session"] as? String
            return found != nil && found != old
        }
        return found == old ? nil : found
    }

    /// Slot 0's entry in a `/v1/readers` answer.
    static func slot0(_ readers: UnixHTTP.Response) -> [String: Any]? {
        (readers.json["readers"] as? [[String: Any]])?.first { $0["name"] as? String == TestBench.slots[0].readerName }
    }

    @Test("readers, health, session and pin-status; unknown routes and methods")
    func basics() async throws {
        try await withDaemon { http, _, _ in
            let health = try await http.request("GET", "/v1/health")
            #expect(health.status == 200 && health.json["pcsc"] as? String == "up")
            let session = try #require(try await waitForSession(http))
            #expect(session.count == 32)
            let s = try await http.request("GET", "/v1/sessions/\(session)")
            #expect(s.status == 200 && s.json["reader"] as? String == "Virtual PCD 00 00")
            let pins = try await http.request("GET", "/v1/sessions/\(session)/pin-status")
            let auth = (pins.json["pins"] as? [String: Any])?["auth"] as? [String: Any]
            #expect(auth?["triesLeft"] as? Int == 3)
            #expect(try await http.request("GET", "/v1/nothing").status == 404)
            let wrongMethod = try await http.request("DELETE", "/v1/readers")
            #expect(wrongMethod.status == 405 && wrongMethod.headers["allow"] == "GET")
            #expect(try await http.request("GET", "/v1/sessions/\(session)/authenticate").headers["allow"] == "POST")
            #expect(
                try await http.request("GET", "/v1/sessions/00112233445566778899AABBCCDDEEFF").errorCode
                    == "session_not_found")
            let certs = try await http.request("GET", "/v1/sessions/\(session)/certificates")
            let list = certs.json["certificates"] as? [[String: Any]] ?? []
            #expect(list.count == 3)
            let fixtureDER = try Data(contentsOf: try fixtureFile("00-ordinary", "jpki/000A.der"))
            #expect(list.first?["der"] as? String == fixtureDER.base64EncodedString())
        }
    }

    @Test("authenticate: the card signs the challenge with the auth key; wrong PIN counts down; no PIN in audit")
    func authenticate() async throws {
        try await withDaemon { http, _, cfg in
            let session = try #require(try await waitForSession(http))
            let challenge = Data((0..<32).map { UInt8($0) }).base64EncodedString()
            let r = try await http.request(
                "POST", "/v1/sessions/\(session)/authenticate", body: #"{"pin":"1234","challenge":"\#(challenge)"}"#)
            #expect(r.status == 200)
            let sig = Data(base64Encoded: r.json["signature"] as? String ?? "") ?? Data()
            #expect(sig.count == 256)
            #expect(r.json["challenge"] as? String == challenge)
            // The signature verifies against the fixture certificate (openssl CLI).
            #expect(
                try verifyWithOpenSSL(signature: sig, challenge: Data(base64Encoded: challenge)!, card: "00-ordinary"))

            let wrong = try await http.request("POST", "/v1/sessions/\(session)/authenticate", body: #"{"pin":"9999"}"#)
            #expect(wrong.status == 401 && wrong.errorCode == "wrong_pin")
            #expect(
                (wrong.json["error"] as? [String: Any]).flatMap { $0["details"] as? [String: String] }?["triesLeft"]
                    == "2")
            let badFormat = try await http.request(
                "POST", "/v1/sessions/\(session)/authenticate", body: #"{"pin":"12a4"}"#)
            #expect(badFormat.errorCode == "invalid_pin_format")
            // A correct PIN resets the counter.
            _ = try await http.request("POST", "/v1/sessions/\(session)/authenticate", body: #"{"pin":"1234"}"#)
            let audit = try auditText(cfg.auditLog)
            #expect(audit.contains("\"operation\":\"authenticate\""))
            #expect(audit.contains("wrong_pin"))
            // As whole tokens: the audit's hashes are hex, and "1234" may occur inside one.
            #expect(!containsToken(audit, "1234") && !containsToken(audit, "9999"))
        }
    }

    @Test("authenticate returns an OpenSSL verification report: chain + CRL + challenge signature")
    func verifiedAuthentication() async throws {
        try await withDaemon(trust: true) { http, _, _ in
            let session = try #require(try await waitForSession(http))
            let r = try await http.request("POST", "/v1/sessions/\(session)/authenticate", body: #"{"pin":"1234"}"#)
            #expect(r.status == 200 && r.json["verified"] as? Bool == true && r.json["chainChecked"] as? Bool == true)
            let checks = ((r.json["verification"] as? [String: Any])?["checks"] as? [[String: Any]] ?? [])
                .compactMap { $0["id"] as? String }
            #expect(checks.contains("chain") && checks.contains("crl") && checks.contains("challengeSignature"))
        }
        try await withDaemon(card: "04-revoked", trust: true) { http, _, _ in
            let session = try #require(try await waitForSession(http))
            let r = try await http.request("POST", "/v1/sessions/\(session)/authenticate", body: #"{"pin":"9876"}"#)
            #expect(r.status == 200 && r.json["verified"] as? Bool == false)
        }
        // A card of the 2019 root generation (same DN as 2023, other key): the chain and the CRL
        // are found by key among every configured generation.
        try await withDaemon(card: "03-same-name-b", trust: true) { http, _, _ in
            let session = try #require(try await waitForSession(http))
            let r = try await http.request("POST", "/v1/sessions/\(session)/authenticate", body: #"{"pin":"2222"}"#)
            #expect(r.status == 200 && r.json["verified"] as? Bool == true, "\(r.json)")
        }
        try await withDaemon { http, _, _ in
            let session = try #require(try await waitForSession(http))
            let r = try await http.request("POST", "/v1/sessions/\(session)/authenticate", body: #"{"pin":"1234"}"#)
            // Without configured anchors the card is never reported verified.
            #expect(r.status == 200 && r.json["verified"] as? Bool == false && r.json["chainChecked"] as? Bool == false)
        }
    }

    /// jpkid against each silicon-like option of the card (and all of them): certificates,
    /// PIN status and a verified possession proof, through the real pcscd + vpcd.
    @Test(
        "certificates, pin-status and authenticate against each card behaviour", ReaderTier.pcscdTier,
        arguments: CardBehaviour.itemNames + ["silicon"])
    func behaviours(spec: String) async throws {
        let expected = try CardBehaviour(parsing: spec)
        try await withDaemon(tier: .pcscd, trust: true, behaviour: expected) { http, slot, _ in
            let session = try #require(try await waitForSession(http))
            let certs = try await http.request("GET", "/v1/sessions/\(session)/certificates")
            let list = certs.json["certificates"] as? [[String: Any]] ?? []
            #expect(certs.status == 200 && list.count == 3, "\(spec)")
            let fixtureDER = try Data(contentsOf: try fixtureFile("00-ordinary", "jpki/000A.der"))
            #expect(list.first?["der"] as? String == fixtureDER.base64EncodedString(), "\(spec)")
            let pins = try await http.request("GET", "/v1/sessions/\(session)/pin-status")
            let auth = (pins.json["pins"] as? [String: Any])?["auth"] as? [String: Any]
            #expect(auth?["triesLeft"] as? Int == 3, "\(spec)")
            let challenge = Data((0..<32).map { UInt8($0 ^ 0x5A) })
            let r = try await http.request(
                "POST", "/v1/sessions/\(session)/authenticate",
                body: #"{"pin":"1234","challenge":"\#(challenge.base64EncodedString())"}"#)
            #expect(r.status == 200 && r.json["verified"] as? Bool == true, "\(spec): \(r.body.count)")
            let sig = Data(base64Encoded: r.json["signature"] as? String ?? "") ?? Data()
            #expect(try verifyWithOpenSSL(signature: sig, challenge: challenge, card: "00-ordinary"))
            let wrong = try await http.request("POST", "/v1/sessions/\(session)/authenticate", body: #"{"pin":"9999"}"#)
            #expect(wrong.errorCode == "wrong_pin", "\(spec)")
            let sim = try #require(slot.card as? VirtualMyNumberCard)
            #expect(sim.triesLeft(.auth) == 2 && sim.behaviour == expected)
        }
    }

    @Test("the last-try guard is an explicit request flag")
    func lastTry() async throws {
        try await withDaemon(card: "05-nearly-blocked") { http, _, _ in
            let session = try #require(try await waitForSession(http))
            let r = try await http.request("POST", "/v1/sessions/\(session)/authenticate", body: #"{"pin":"0000"}"#)
            #expect(r.status == 428 && r.errorCode == "last_try_refused")
            let pins = try await http.request("GET", "/v1/sessions/\(session)/pin-status")
            #expect(((pins.json["pins"] as? [String: Any])?["auth"] as? [String: Any])?["triesLeft"] as? Int == 1)
            let ok = try await http.request(
                "POST", "/v1/sessions/\(session)/authenticate", body: #"{"pin":"2468","allowLastTry":true}"#)
            #expect(ok.status == 200)
        }
    }

    @Test("identity with the role; My Number off by default, and denied without the role")
    func identity() async throws {
        try await withDaemon { http, _, cfg in
            let session = try #require(try await waitForSession(http))
            let r = try await http.request("POST", "/v1/sessions/\(session)/identity", body: #"{"pin":"1234"}"#)
            #expect(r.status == 200)
            #expect(r.json["name"] as? String == "山田　太郎")
            #expect(r.json["myNumber"] == nil)
            // 照合番号B opens the basic 4 information as well (integrity not checked that way).
            let b = try await http.request(
                "POST", "/v1/sessions/\(session)/identity", body: #"{"pin":"55021720352285","keyKind":"B"}"#)
            #expect(b.status == 200 && b.json["name"] as? String == "山田　太郎")
            #expect(b.json["birthDate"] as? String == "1980-02-17" && b.json["integrityVerified"] as? Bool == false)
            let mn = try await http.request(
                "POST", "/v1/sessions/\(session)/identity", body: #"{"pin":"1234","myNumber":true}"#)
            #expect(mn.status == 403 && mn.errorCode == "my_number_disabled")
            let audit = try auditText(cfg.auditLog)
            #expect(!audit.contains("山田") && !audit.contains("東京都"))
        }
        try await withDaemon(myNumber: true, roles: [.status, .identity]) { http, _, _ in
            let session = try #require(try await waitForSession(http))
            let mn = try await http.request(
                "POST", "/v1/sessions/\(session)/identity", body: #"{"pin":"1234","myNumber":true}"#)
            #expect(mn.status == 403 && mn.errorCode == "forbidden")
            let auth = try await http.request("POST", "/v1/sessions/\(session)/authenticate", body: #"{"pin":"1234"}"#)
            #expect(auth.status == 403)
        }
        try await withDaemon(myNumber: true) { http, _, cfg in
            let session = try #require(try await waitForSession(http))
            let mn = try await http.request(
                "POST", "/v1/sessions/\(session)/identity", body: #"{"pin":"1234","myNumber":true}"#)
            let profile = try profileIdentity("00-ordinary")
            #expect(mn.status == 200 && mn.json["myNumber"] as? String == profile["myNumber"])
            let audit = try auditText(cfg.auditLog)
            #expect(audit.contains("identity+my-number"))
            #expect(!audit.contains(profile["myNumber"] ?? "-"))
        }
    }

    @Test("a swapped card ends the session: 409 card_session_ended, never the new card's data")
    func swap() async throws {
        try await withDaemon { http, slot, _ in
            let old = try #require(try await waitForSession(http))
            try await slot.remove()
            let new = try #require(
                try await slot.insert(try VirtualMyNumberCard.fixture("01-kanji-variant"), otherThan: old))
            #expect(new != old)
            let r = try await http.request("POST", "/v1/sessions/\(old)/identity", body: #"{"pin":"5678"}"#)
            #expect(r.status == 409 && r.errorCode == "card_session_ended")
            #expect(!String(decoding: r.body, as: UTF8.self).contains("髙橋"))
            let certs = try await http.request("GET", "/v1/sessions/\(old)/certificates")
            #expect(certs.status == 409)
            let fresh = try await http.request("POST", "/v1/sessions/\(new)/identity", body: #"{"pin":"5678"}"#)
            #expect((fresh.json["name"] as? String)?.contains("髙橋") == true)
        }
    }

    @Test(
        "a swap within a few ms (no removal reported): ATR, type and certificate all belong to the new card",
        ReaderTier.pcscdTier)
    func fastSwap() async throws {
        try await TestBench.exclusive {
            let (cfg, _) = Self.config()
            try await Self.running(cfg) {
                let http = UnixHTTP(path: cfg.socket.path)
                let events = try await SSEReader(http: http)
                defer { events.close() }
                let first = VPCDBridge(
                    card: try VirtualMyNumberCard.fixture("00-ordinary"), port: TestBench.slots[0].port)
                let second = VPCDBridge(
                    card: try VirtualMyNumberCard.fixture("02-same-name-a"), port: TestBench.slots[0].port)
                try first.start()
                defer {
                    for b in [first, second] {
                        b.stop()
                        b.waitUntilStopped()
                    }
                }
                let old = try #require(try await waitForSession(http))
                let oldEntry = try #require(Self.slot0(try await http.request("GET", "/v1/readers")))
                let firstATR = try profileATR("00-ordinary")
                let secondATR = try profileATR("02-same-name-a")
                #expect(firstATR != secondATR && oldEntry["atr"] as? String == firstATR)
                // The swap: one card out and the other in, a few milliseconds apart — faster than
                // pcscd's presence polling, so pcscd may never report the removal.
                let start = ContinuousClock.now
                first.stop()
                first.waitUntilStopped()
                try second.start()
                print("fast swap: card out → card in in \(ContinuousClock.now - start)")
                // The old session's next operation meets the other card: 409, never its data.
                let stale = try await http.request("GET", "/v1/sessions/\(old)/certificates")
                #expect(stale.status == 409 && stale.errorCode == "card_session_ended", "\(stale.status) \(stale.text)")
                let new = try #require(try await waitForSession(http, otherThan: old))
                let secondFingerprint = SHA256.hash(
                    Array(try Data(contentsOf: try fixtureFile("02-same-name-a", "jpki/000A.der")))
                ).hexString
                // /v1/readers
                let entry = try #require(Self.slot0(try await http.request("GET", "/v1/readers")))
                #expect(entry["session"] as? String == new)
                #expect(entry["state"] as? String == "ready")
                #expect(entry["atr"] as? String == secondATR, "readers shows ATR \(entry["atr"] ?? "nil")")
                #expect(entry["cardType"] as? String == "my-number-card")
                // GET /v1/sessions/{s}
                let session = try await http.request("GET", "/v1/sessions/\(new)")
                #expect(
                    session.json["atr"] as? String == secondATR, "session shows ATR \(session.json["atr"] ?? "nil")")
                let identity = session.json["identity"] as? [String: Any]
                #expect(
                    (identity?["authCertificateFingerprint"] as? String)?.uppercased() == secondFingerprint.uppercased()
                )
                #expect(identity?["cardType"] as? String == "my-number-card")
                #expect(session.json["reader"] as? String == TestBench.slots[0].readerName)
                // The card-inserted event of the new session.
                let inserted = try #require(
                    try await events.next("card-inserted") { $0["session"] as? String == new })
                #expect(inserted["atr"] as? String == secondATR, "event shows ATR \(inserted["atr"] ?? "nil")")
                #expect(inserted["reader"] as? String == TestBench.slots[0].readerName)
                // And the new card answers as itself.
                let certs = try await http.request("GET", "/v1/sessions/\(new)/certificates")
                #expect((certs.json["card"] as? String)?.uppercased() == secondFingerprint.uppercased())
            }
        }
    }

    @Test("a card removed while a request is in flight gives 409, not data", ReaderTier.pcscdTier)
    func removedInFlight() async throws {
        // Slow card: 30 ms per APDU, so the identity read (~11 APDUs) is in flight when yanked.
        try await withDaemon(tier: .pcscd, faults: "slow:30") { http, slot, _ in
            let session = try #require(try await waitForSession(http))
            async let response = Task.detached {
                try await http.request("POST", "/v1/sessions/\(session)/identity", body: #"{"pin":"1234"}"#)
            }.value
            try await Task.sleep(for: .milliseconds(120))
            try await slot.remove()
            let r = try await response
            #expect(
                r.status == 409 && r.errorCode == "card_session_ended",
                "\(r.status) \(String(decoding: r.body, as: UTF8.self))")
            #expect(!String(decoding: r.body, as: UTF8.self).contains("山田"))
        }
    }

    @Test("events: SSE reports card insertion with its session and removal", ReaderTier.pcscdTier)
    func events() async throws {
        try await TestBench.exclusive {
            let (cfg, _) = Self.config()
            try await Self.running(cfg) {
                let http = UnixHTTP(path: cfg.socket.path)
                // Returns once subscribed (the `retry:` line): no sleep needed before inserting.
                let events = try await SSEReader(http: http)
                defer { events.close() }
                let session = try await Self.inserted(try VirtualMyNumberCard.fixture("00-ordinary")) { _ in
                    try #require(try await waitForSession(http))
                }
                #expect(events.headers["content-type"]?.contains("text/event-stream") == true)
                let inserted = try await events.next("card-inserted")
                #expect(inserted?["session"] as? String == session, "\(inserted ?? [:])")
                let removed = try await events.next("card-removed")
                #expect(removed?["session"] as? String == session, "\(removed ?? [:])")
            }
        }
    }

    @Test("malformed and oversized requests get clear errors; the daemon keeps serving")
    func badRequests() async throws {
        try await withDaemon { http, _, cfg in
            let session = try #require(try await waitForSession(http))
            let garbage = try await http.request("POST", "/v1/sessions/\(session)/identity", body: "{not json")
            #expect(garbage.status == 400 && garbage.errorCode == "bad_request")
            let big = "{\"pin\":\"" + String(repeating: "1", count: 10_000) + "\"}"
            let tooBig = try await http.request("POST", "/v1/sessions/\(session)/identity", body: big)
            #expect(tooBig.status == 413)
            // Refused by the HTTP layer before the API: audited all the same.
            #expect(
                await TestBench.waitUntil {
                    ((try? String(contentsOfFile: cfg.auditLog, encoding: .utf8)) ?? "").contains(
                        "\"outcome\":\"payload_too_large\"")
                })
            // Raw protocol garbage.
            _ = try await blocking {
                let fd = try http.connect()
                defer { close(fd) }
                http.send(fd, Array("\u{1}\u{2}NOT HTTP\r\n\r\n".utf8))
                return http.readAll(fd).count
            }
            // A client that dies mid-request.
            let fd2 = try http.connect()
            http.send(
                fd2, Array("POST /v1/sessions/\(session)/identity HTTP/1.1\r\nContent-Length: 100\r\n\r\n{\"pi".utf8))
            close(fd2)
            #expect(try await http.request("GET", "/v1/health").status == 200)
        }
    }

    @Test("/v1/readers (answered on the event loop) needs the status role and follows every change")
    func readersRole() async throws {
        var (cfg, _) = Self.config(roles: [.authenticate])
        try await Self.running(cfg, readers: TestSlot.backend(.simulated)) {
            let r = try await UnixHTTP(path: cfg.socket.path).request("GET", "/v1/readers")
            #expect(r.status == 403 && r.errorCode == "forbidden", "\(r.status) \(r.text)")
        }
        (cfg, _) = Self.config(roles: [.status])
        try await Self.withSlot(cfg, .simulated) { http, slot in
            func slot0() async throws -> [String: Any]? { Self.slot0(try await http.request("GET", "/v1/readers")) }
            #expect(try await slot0()?["state"] as? String == "empty")
            let session = try #require(try await slot.insert(try VirtualMyNumberCard.fixture("00-ordinary")))
            #expect(try await slot0()?["session"] as? String == session)
            try await slot.remove()
            // Every change is on the board before its event: no waiting after the removal event.
            #expect(try await slot0()?["state"] as? String == "empty")
            #expect(try await slot0()?["session"] == nil, "the removed card's session \(session) is still listed")
        }
    }

    @Test("peers without a role get 403 on everything but health")
    func unknownPeer() async throws {
        do {
            var (cfg, _) = Self.config()
            cfg.roles.users = [:]
            try await Self.running(cfg, readers: TestSlot.backend(.simulated)) {
                let http = UnixHTTP(path: cfg.socket.path)
                // Such a peer is answered 403 and closed at once, before its request is read: the
                // answer is read from a raw connection whatever happened to the request's write (an
                // HTTP client may report the close of its write instead).
                func raw(_ target: String) async throws -> UnixHTTP.Response {
                    try await blocking {
                        let fd = try http.connect()
                        defer { close(fd) }
                        _ = http.send(fd, UnixHTTP.requestBytes("GET", target, body: nil))
                        return UnixHTTP.parse(http.readAll(fd))
                    }
                }
                let r = try await raw("/v1/readers")
                #expect(r.status == 403 && r.errorCode == "unknown_peer")
                #expect(try await raw("/v1/events").status == 403)
                var mode = stat()
                stat(cfg.socket.path, &mode)
                #expect(mode.st_mode & 0o777 == 0o660)
            }
            #expect(!FileManager.default.fileExists(atPath: cfg.socket.path))
        }
    }
}

func fixtureFile(_ card: String, _ path: String) throws -> URL {
    try VirtualMyNumberCard.fixturesCardsDirectory().appendingPathComponent(card).appendingPathComponent(path)
}

/// The ATR (hex) a fixture card presents.
func profileATR(_ card: String) throws -> String {
    let data = try Data(contentsOf: try fixtureFile(card, "profile.json"))
    let json = try JSONSerialization.jsonObject(with: data) as? [String: Any]
    return (json?["atr"] as? String) ?? ""
}

func profileIdentity(_ card: String) throws -> [String: String] {
    let data = try Data(contentsOf: try fixtureFile(card, "profile.json"))
    let json = try JSONSerialization.jsonObject(with: data) as? [String: Any]
    return (json?["identity"] as? [String: String]) ?? [:]
}

/// Verifies an RSA PKCS#1 v1.5 SHA-256 signature over `challenge` with the card's auth
/// certificate, using the openssl CLI (independent of our code).
func verifyWithOpenSSL(signature: Data, challenge: Data, card: String) throws -> Bool {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sig-\(UUID().uuidString.prefix(8))")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    try signature.write(to: dir.appendingPathComponent("sig"))
    try challenge.write(to: dir.appendingPathComponent("msg"))
    let cert = try fixtureFile(card, "jpki/000A.der").path
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/bin/sh")
    p.arguments = [
        "-c",
        "openssl x509 -inform DER -in '\(cert)' -pubkey -noout > '\(dir.path)/pub' && openssl dgst -sha256 -verify '\(dir.path)/pub' -signature '\(dir.path)/sig' '\(dir.path)/msg'",
    ]
    p.standardOutput = FileHandle.nullDevice
    p.standardError = FileHandle.nullDevice
    try p.run()
    p.waitUntilExit()
    return p.terminationStatus == 0
}
