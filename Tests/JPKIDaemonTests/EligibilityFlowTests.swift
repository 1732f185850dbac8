import AuditTrail
import CardSimulator
import Eligibility
import Foundation
import JPKIDaemon
import JPKIVerify
import Logging
import TestBench
import Testing

/// The clinic reception flow end to end: pcscd + jpki-sim, jpkid in-process, the registry
/// seeded through the registry API, `POST /v1/sessions/{s}/eligibility` over the socket.
@Suite("eligibility through pcscd + jpki-sim", .serialized)
struct EligibilityFlowTests {
    /// A registry backend for one test run.
    enum Backend: String, CaseIterable, CustomTestStringConvertible {
        case sqlite, postgres
        var testDescription: String { rawValue }
    }

    static func key(_ card: String) throws -> CardKey {
        let info = try CertificateInfo(der: try Data(contentsOf: try fixtureFile(card, "jpki/000A.der")))
        return try CardKey(authCertificate: info)
    }

    static func record(number: String, name: String, birth: String, validTo: String? = nil, lost: Bool = false)
        throws -> InsuranceRecord
    {
        InsuranceRecord(
            insurerNumber: "06139991", symbol: "試験", number: number, branch: "00", name: name,
            birthDate: try CalendarDate(birth), copaymentRatio: 30, validFrom: try CalendarDate("2020-04-01"),
            validTo: try validTo.map { try CalendarDate($0) }, status: lost ? .lost : .active)
    }

    /// A daemon configuration on the fixture PKI with a freshly seeded registry:
    /// 00 eligible (1001), 02 expired (3003), 03 lost → not_eligible (4004), 04 active but its
    /// certificate is revoked, 05 not linked → unknown_card.
    static func seededConfig(_ backend: Backend, mode: EligibilityConfiguration.Mode = .pin) async throws
        -> DaemonConfig
    {
        var (cfg, dir) = DaemonTests.config(trust: true)
        cfg.eligibility.mode = mode
        switch backend {
        case .sqlite:
            cfg.eligibility.provider = .sqlite
            cfg.eligibility.sqlitePath = dir + "/registry.sqlite"
        case .postgres:
            cfg.eligibility.provider = .postgres
            cfg.eligibility.postgresURL = try await PostgresCluster.shared.newDatabase()
        }
        let store = try await cfg.eligibility.makeStore()
        let rows: [(String, InsuranceRecord)] = [
            ("00-ordinary", try record(number: "1001", name: "山田　太郎", birth: "1980-02-17")),
            ("02-same-name-a", try record(number: "3003", name: "佐藤　花子", birth: "1975-04-01", validTo: "2026-03-31")),
            ("03-same-name-b", try record(number: "4004", name: "佐藤　花子", birth: "2003-08-20", lost: true)),
            ("04-revoked", try record(number: "5005", name: "鈴木　一郎", birth: "2001-06-15")),
        ]
        for (card, rec) in rows {
            let id = try await store.upsert(rec)
            try await store.link(try key(card), recordID: id, replace: false)
        }
        await store.shutdown()
        return cfg
    }

    /// Runs `body` with a daemon (simulated readers unless `tier` says pcscd); cards are inserted by
    /// the body through `insert`, which returns the slot and the new session. Every card inserted
    /// is removed at the end, also when the body fails half-way.
    func withDaemon(
        _ cfg: DaemonConfig, tier: ReaderTier = .simulated,
        _ body: (UnixHTTP, (String, String?) async throws -> (TestSlot, String)) async throws -> Void
    ) async throws {
        try await DaemonTests.withSlot(cfg, tier) { http, slot in
            var previous: String?
            try await body(http) { card, faults in
                let session = try #require(
                    try await slot.insert(
                        try VirtualMyNumberCard.fixture(card, faults: try FaultSpec(parsing: faults ?? "")),
                        otherThan: previous))
                previous = session
                return (slot, session)
            }
        }
    }

    /// Removes the card (see ``TestSlot/remove()``).
    static func remove(_ slot: TestSlot) async throws {
        try await slot.remove()
    }

    /// Removes a card served by `bridge` (tests that drive vpcd themselves) and waits until vpcd
    /// has let go of it, so the next card inserted is never queued behind the previous one.
    static func remove(_ bridge: VPCDBridge) {
        bridge.stop()
        bridge.waitUntilStopped()
        _ = TestBench.waitForSlotFree(TestBench.slots[0])
    }

    @Test(
        "each result kind; the revoked card is refused; the same-name pair never crosses", arguments: Backend.allCases)
    func resultKinds(_ backend: Backend) async throws {
        let cfg = try await Self.seededConfig(backend)
        let cards: [(card: String, pin: String, status: String, number: String?)] = [
            ("00-ordinary", "1234", "eligible", "1001"),
            ("02-same-name-a", "1111", "expired", "3003"),
            ("03-same-name-b", "2222", "not_eligible", "4004"),
            ("04-revoked", "9876", "verification_failed", nil),
            ("05-nearly-blocked", "2468", "unknown_card", nil),
        ]
        try await withDaemon(cfg) { http, insert in
            for c in cards {
                let (slot, session) = try await insert(c.card, nil)
                let body =
                    c.card == "05-nearly-blocked" ? #"{"pin":"2468","allowLastTry":true}"# : #"{"pin":"\#(c.pin)"}"#
                let r = try await http.request("POST", "/v1/sessions/\(session)/eligibility", body: body)
                let text = String(decoding: r.body, as: UTF8.self)
                #expect(r.status == 200, "\(c.card): \(text)")
                #expect(r.json["status"] as? String == c.status, "\(c.card): \(text)")
                #expect(r.json["session"] as? String == session)
                let record = r.json["record"] as? [String: Any]
                #expect(record?["number"] as? String == c.number, "\(c.card): \(text)")
                if c.status == "verification_failed" {
                    #expect((r.json["verification"] as? [String: Any])?["verdict"] as? Bool == false)
                    #expect(!text.contains("鈴木"))
                }
                try await Self.remove(slot)
            }
            // Wrong PIN: no result, a PIN error.
            let (slot, session) = try await insert("00-ordinary", nil)
            let wrong = try await http.request("POST", "/v1/sessions/\(session)/eligibility", body: #"{"pin":"0000"}"#)
            #expect(wrong.status == 401 && wrong.errorCode == "wrong_pin")
            try await Self.remove(slot)
        }
        let audit = try auditText(cfg.auditLog)
        for status in ["eligible", "expired", "not_eligible", "unknown_card"] { #expect(audit.contains(status)) }
        // As whole tokens: hashes and fingerprints are hex, and "1234" may occur inside one.
        for secret in ["佐藤", "山田", "1980-02-17", "1234", "2222"] { #expect(!containsToken(audit, secret)) }
        // The disclosure report for 00-ordinary's card, asked by its serial: the eligibility
        // answer (it names the card by serial and fingerprint) and, through the fingerprint, the
        // card operations that led to it; no other card's accesses.
        var q = AuditReport.Query()
        q.serials = ["1001"]
        let report = AuditReport.select(files: AuditFormat.files(ofLog: cfg.auditLog), query: q)
        #expect(report.contains { $0.operation == "eligibility" && $0.outcome == "eligible" })
        #expect(report.contains { $0.operation == "eligibility-card" && $0.outcome == "ok" })
        #expect(!report.contains { $0.outcome == "expired" || $0.outcome == "not_eligible" })
        #expect(report.allSatisfy { $0.uid == Int64(getuid()) && $0.exe != nil })
        #expect(try Self.verifyLog(cfg).problem == nil)
    }

    static func verifyLog(_ cfg: DaemonConfig) throws -> AuditVerification {
        try DaemonTests.verifyAudit(cfg)
    }

    @Test("a card swapped mid-flow gives card_session_ended, never a mixed result")
    func swapMidFlow() async throws {
        let cfg = try await Self.seededConfig(.sqlite)
        try await withDaemon(cfg) { http, insert in
            // 100 ms per APDU: the flow (4 APDUs: SELECT, counter, VERIFY, SIGN) is in flight
            // when the card is swapped 150 ms after the request.
            let (first, session) = try await insert("02-same-name-a", "slow:100")
            // A child task: the client is async, so it holds no thread while it waits.
            async let response = http.request(
                "POST", "/v1/sessions/\(session)/eligibility", body: #"{"pin":"1111"}"#)
            try await Task.sleep(for: .milliseconds(150))
            try await Self.remove(first)
            // A person swaps cards in well over a few hundred ms; vpcd (the test driver) also
            // needs to have seen the removal before it accepts the next card in that slot.
            _ = try await TestBench.waitUntil {
                let readers = try await http.request("GET", "/v1/readers").json["readers"] as? [[String: Any]] ?? []
                return readers.first { $0["name"] as? String == TestBench.slots[0].readerName }?["session"] == nil
            }
            let (second, newSession) = try await insert("03-same-name-b", nil)
            let r = try await response
            let text = String(decoding: r.body, as: UTF8.self)
            #expect(r.status == 409 && r.errorCode == "card_session_ended", "\(r.status) \(text)")
            #expect(!text.contains("4004") && !text.contains("3003"))
            // The new card gets its own answer on its own session.
            let fresh = try await http.request(
                "POST", "/v1/sessions/\(newSession)/eligibility", body: #"{"pin":"2222"}"#)
            #expect((fresh.json["record"] as? [String: Any])?["number"] as? String == "4004")
            try await Self.remove(second)
        }
    }

    @Test("visual mode: no PIN, staff confirmation required; the certificate is still verified")
    func visualMode() async throws {
        let cfg = try await Self.seededConfig(.sqlite, mode: .visual)
        try await withDaemon(cfg) { http, insert in
            let (slot, session) = try await insert("00-ordinary", nil)
            let unconfirmed = try await http.request("POST", "/v1/sessions/\(session)/eligibility", body: "{}")
            #expect(unconfirmed.status == 400)
            let withPIN = try await http.request(
                "POST", "/v1/sessions/\(session)/eligibility", body: #"{"pin":"1234","visualConfirmed":true}"#)
            #expect(withPIN.status == 400)
            let r = try await http.request(
                "POST", "/v1/sessions/\(session)/eligibility", body: #"{"visualConfirmed":true}"#)
            #expect(
                r.status == 200 && r.json["status"] as? String == "eligible" && r.json["mode"] as? String == "visual")
            try await Self.remove(slot)
            let (revoked, s2) = try await insert("04-revoked", nil)
            let refused = try await http.request(
                "POST", "/v1/sessions/\(s2)/eligibility", body: #"{"visualConfirmed":true}"#)
            #expect(refused.json["status"] as? String == "verification_failed")
            try await Self.remove(revoked)
        }
    }

    @Test("each request chooses a mode among eligibility.modes; the answer and the audit say which")
    func perRequestMode() async throws {
        var cfg = try await Self.seededConfig(.sqlite, mode: .pin)
        cfg.eligibility.modes = [.pin, .visual]
        try await withDaemon(cfg) { http, insert in
            let (slot, session) = try await insert("00-ordinary", nil)
            let visual = try await http.request(
                "POST", "/v1/sessions/\(session)/eligibility", body: #"{"mode":"visual","visualConfirmed":true}"#)
            #expect(visual.status == 200 && visual.json["mode"] as? String == "visual")
            #expect(visual.json["status"] as? String == "eligible")
            let pin = try await http.request("POST", "/v1/sessions/\(session)/eligibility", body: #"{"pin":"1234"}"#)
            #expect(pin.status == 200 && pin.json["mode"] as? String == "pin")
            let bad = try await http.request(
                "POST", "/v1/sessions/\(session)/eligibility", body: #"{"mode":"face","visualConfirmed":true}"#)
            #expect(bad.status == 400)
            let audit = try String(contentsOfFile: cfg.auditLog, encoding: .utf8)
            #expect(audit.contains("\"eligibility-visual\""))
            try await Self.remove(slot)
        }
        // A mode the configuration does not allow is refused (403) before the card is touched.
        var pinOnly = try await Self.seededConfig(.sqlite, mode: .pin)
        pinOnly.eligibility.modes = nil
        try await withDaemon(pinOnly) { http, insert in
            let (slot, session) = try await insert("00-ordinary", nil)
            let r = try await http.request(
                "POST", "/v1/sessions/\(session)/eligibility", body: #"{"mode":"visual","visualConfirmed":true}"#)
            #expect(r.status == 403 && r.errorCode == "mode_not_allowed")
            try await Self.remove(slot)
        }
    }

    @Test("without trust anchors eligibility refuses to answer (503 trust_not_configured)")
    func needsTrust() async throws {
        var (cfg, dir) = DaemonTests.config()
        cfg.eligibility.sqlitePath = dir + "/registry.sqlite"
        try await withDaemon(cfg) { http, insert in
            let (slot, session) = try await insert("00-ordinary", nil)
            let r = try await http.request("POST", "/v1/sessions/\(session)/eligibility", body: #"{"pin":"1234"}"#)
            #expect(r.status == 503 && r.errorCode == "trust_not_configured")
            try await Self.remove(slot)
        }
    }
}

/// Runs blocking client code on a dedicated thread.
func onThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { c in
        Thread { c.resume(with: Result { try body() }) }.start()
    }
}
