import CardSimulator
import Eligibility
import Foundation
import JPKI
import JPKIDaemon
import Logging
import TestBench
import Testing

/// Several credentials per person (issue 16), through jpkid in-process over simulated readers:
/// two credentials linked to one record give that record through either, and the audit names
/// the credential each answer used by its key.
@Suite("several credentials per person (in-process, no pcscd)")
struct CredentialFlowTests {
    @Test("a person linked with card and phone gets the same record through both")
    func sameRecordThroughEachCredential() async throws {
        // One person's card and smartphones (each its own auth certificate and serial; the
        // Android phone's certificate is readable only after the PIN).
        let credentials: [(card: String, pin: String, kind: CredentialKind)] = [
            ("00-ordinary", "1234", .card), ("20-android-phone", "4321", .androidPhone), ("21-iphone", "8765", .iphone),
        ]
        var (cfg, dir) = DaemonTests.config(trust: true)
        cfg.eligibility.provider = .sqlite
        cfg.eligibility.sqlitePath = dir + "/registry.sqlite"
        let store = try await cfg.eligibility.makeStore()
        let person = try await store.upsert(
            try EligibilityFlowTests.record(number: "7007", name: "山田　太郎", birth: "1980-02-17"))
        let someoneElse = try await store.upsert(
            try EligibilityFlowTests.record(number: "8008", name: "佐藤　花子", birth: "1975-04-01"))
        try await store.link(try EligibilityFlowTests.key("02-same-name-a"), recordID: someoneElse, replace: false)
        for c in credentials {
            try await store.link(try EligibilityFlowTests.key(c.card), kind: c.kind, recordID: person, replace: false)
        }
        #expect(try await store.entry(id: person)?.credentials.map(\.kind) == credentials.map(\.kind))
        await store.shutdown()

        typealias H = InProcessDaemonTests
        try await H.withHarness(cfg) { h in
            // Then a card linked to nobody and a revoked card: their answers name their keys too.
            let others: [(String, String, String)] = [
                ("05-nearly-blocked", #"{"pin":"2468","allowLastTry":true}"#, "unknown_card"),
                ("04-revoked", #"{"pin":"9876"}"#, "verification_failed"),
            ]
            let all = credentials.map { ($0.card, "{\"pin\":\"\($0.pin)\"}", "eligible") } + others
            for c in all {
                let (session, _) = try await H.insert(c.0, h)
                let r = try await H.request(h, "POST", "/v1/sessions/\(session)/eligibility", body: c.1)
                #expect(r.status == 200 && r.json["status"] as? String == c.2, "\(c.0): \(r.text)")
                if c.2 == "eligible" {
                    #expect((r.json["record"] as? [String: Any])?["number"] as? String == "7007", "\(c.0): \(r.text)")
                }
                try await H.remove(h)
            }
        }

        // Each answer's audit line names the credential used, by key (issuer key id + serial).
        let lines = try String(contentsOfFile: cfg.auditLog, encoding: .utf8).split(separator: "\n").compactMap {
            try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        let answers = lines.filter { $0["operation"] as? String == "eligibility" }
        let keys = answers.compactMap { $0["cardKey"] as? [String: Any] }
        #expect(
            answers.map { $0["outcome"] as? String } == [
                "eligible", "eligible", "eligible", "unknown_card", "verification_failed",
            ])
        #expect(
            keys.compactMap { $0["serial"] as? String }
                == (try ["00-ordinary", "20-android-phone", "21-iphone", "05-nearly-blocked", "04-revoked"].map {
                    try EligibilityFlowTests.key($0).serial
                }))
        #expect(
            keys.allSatisfy {
                $0["issuerKeyID"] as? String == (try? EligibilityFlowTests.key("00-ordinary"))?.issuerKeyID
            })
        let raw = try String(contentsOfFile: cfg.auditLog, encoding: .utf8)
        for secret in ["山田", "1980-02-17"] { #expect(!raw.contains(secret)) }
    }
}
