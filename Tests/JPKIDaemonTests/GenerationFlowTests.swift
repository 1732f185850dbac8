import CardSimulator
import Eligibility
import Foundation
import JPKIDaemon
import JPKIVerify
import TestBench
import Testing

extension EligibilityFlowTests {
    /// Done-when (issue 15), through jpkid: two cards whose auth certificates have the SAME
    /// serial (1001) and issuer DN under two root generations — 00-ordinary (2023) and a copy of
    /// it carrying pki/extra's same-serial-2019-auth certificate and key (2019) — linked to two
    /// records, get their own two answers from `POST /v1/sessions/{s}/eligibility`, verified
    /// against every configured generation with their CRLs.
    @Test func sameSerialTwoGenerationsThroughJpkid() async throws {
        let dir = try FileManager.default.url(
            for: .itemReplacementDirectory, in: .userDomainMask, appropriateFor: URL(fileURLWithPath: "/tmp"),
            create: true)
        let cardsDir = try VirtualMyNumberCard.fixturesCardsDirectory()
        let extra = cardsDir.deletingLastPathComponent().appendingPathComponent("pki/extra")
        let copy = dir.appendingPathComponent("card-2019")
        try FileManager.default.copyItem(at: cardsDir.appendingPathComponent("00-ordinary"), to: copy)
        for (from, to) in [
            ("same-serial-2019-auth.der", "000A.der"), ("same-serial-2019-auth.test-key.pem", "auth-key.test.pem"),
        ] {
            let target = copy.appendingPathComponent("jpki/\(to)")
            try FileManager.default.removeItem(at: target)
            try FileManager.default.copyItem(at: extra.appendingPathComponent(from), to: target)
        }
        let cards: [String: URL] = ["new": cardsDir.appendingPathComponent("00-ordinary"), "old": copy]
        var (cfg, work) = DaemonTests.config(trust: true)
        cfg.eligibility.provider = .sqlite
        cfg.eligibility.sqlitePath = work + "/registry.sqlite"
        let store = try await cfg.eligibility.makeStore()
        var keys: [String: CardKey] = [:]
        for (g, card) in cards {
            let der = try Data(contentsOf: card.appendingPathComponent("jpki/000A.der"))
            keys[g] = try CardKey(authCertificate: try CertificateInfo(der: der))
        }
        #expect(keys["old"]?.serial == keys["new"]?.serial && keys["old"] != keys["new"])
        let oldID = try await store.upsert(
            try Self.record(number: "7001", name: "旧　世代", birth: "1950-01-01", lost: true))
        let newID = try await store.upsert(try Self.record(number: "7002", name: "新　世代", birth: "1990-01-01"))
        try await store.link(try #require(keys["old"]), recordID: oldID, replace: false)
        try await store.link(try #require(keys["new"]), recordID: newID, replace: false)
        await store.shutdown()

        try await DaemonTests.withSlot(cfg, .simulated) { http, slot in
            var previous: String?
            for (g, status, number) in [("new", "eligible", "7002"), ("old", "not_eligible", "7001")] {
                let card = try VirtualMyNumberCard(directory: try #require(cards[g]))
                let session = try #require(try await slot.insert(card, otherThan: previous))
                previous = session
                let r = try await http.request("POST", "/v1/sessions/\(session)/eligibility", body: #"{"pin":"1234"}"#)
                let text = String(decoding: r.body, as: UTF8.self)
                #expect(r.status == 200, "\(g): \(text)")
                #expect(r.json["status"] as? String == status, "\(g): \(text)")
                #expect((r.json["record"] as? [String: Any])?["number"] as? String == number, "\(g): \(text)")
                try await slot.remove()
            }
        }
        // The audit names each answer's card by its issuer key.
        let audit = try auditText(cfg.auditLog)
        for k in keys.values { #expect(audit.contains(k.issuerKeyID)) }
    }
}
