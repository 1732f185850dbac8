import CardSimulator
import Eligibility
import Foundation
import JPKIDaemon
import JPKIVerify
import TestBench
import Testing

extension EligibilityFlowTests {
    /// Done-when (issue 15), through jpkid: two cards whose auth certificates have the SAME
    /// serial and issuer DN, issued by two root generations (two same-DN roots made here with
    /// openssl, valid today; the card key pair is 00-ordinary's), linked to two records, get
    /// their own two answers from `POST /v1/sessions/{s}/eligibility`.
    @Test func sameSerialTwoGenerationsThroughJpkid() async throws {
        let dir = try FileManager.default.url(
            for: .itemReplacementDirectory, in: .userDomainMask, appropriateFor: URL(fileURLWithPath: "/tmp"),
            create: true)
        func p(_ n: String) -> String { dir.appendingPathComponent(n).path }
        func openssl(_ args: [String]) throws {
            let r = try runProgram("/usr/bin/openssl", args)
            guard r.status == 0 else { throw TestFailure("openssl \(args.first ?? ""): \(r.stderr)") }
        }
        let source = try VirtualMyNumberCard.fixturesCardsDirectory().appendingPathComponent("00-ordinary")
        let dn = "/C=JP/O=jpki-linux fixture/OU=JPKI for user authentication/OU=generation test"
        try openssl([
            "req", "-new", "-key", source.appendingPathComponent("jpki/auth-key.test.pem").path, "-subj",
            "/C=JP/CN=generation test", "-out", p("ee.csr"),
        ])
        try Data(
            "keyUsage=critical,digitalSignature\ncertificatePolicies=\(JPKIPolicyOID.auth)\nauthorityKeyIdentifier=keyid\n"
                .utf8
        ).write(to: URL(fileURLWithPath: p("ee.ext")))
        var cards: [String: URL] = [:]
        for g in ["old", "new"] {
            try openssl([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", p("\(g).key"), "-out", p("\(g).pem"),
                "-subj", dn, "-days", "3650", "-addext", "subjectKeyIdentifier=hash", "-addext",
                "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
            ])
            let card = dir.appendingPathComponent("card-\(g)")
            try FileManager.default.copyItem(at: source, to: card)
            try FileManager.default.removeItem(at: card.appendingPathComponent("jpki/000A.der"))
            try openssl([
                "x509", "-req", "-in", p("ee.csr"), "-CA", p("\(g).pem"), "-CAkey", p("\(g).key"), "-set_serial",
                "0x1001", "-days", "365", "-extfile", p("ee.ext"), "-outform", "DER", "-out",
                card.appendingPathComponent("jpki/000A.der").path,
            ])
            cards[g] = card
        }
        var (cfg, work) = DaemonTests.config(trust: true)
        cfg.trust.authAnchors = [p("old.pem"), p("new.pem")]
        cfg.trust.crls = []
        cfg.trust.revocationUnavailable = "soft-fail"
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

        try await TestBench.exclusive {
            let http = UnixHTTP(path: cfg.socket.path)
            try await DaemonTests.running(cfg) {
                var previous: String?
                for (g, status, number) in [("new", "eligible", "7002"), ("old", "not_eligible", "7001")] {
                    let bridge = VPCDBridge(
                        card: try VirtualMyNumberCard(directory: try #require(cards[g])), port: TestBench.slots[0].port)
                    try bridge.start()
                    defer { Self.remove(bridge) }
                    let session = try #require(try await DaemonTests().waitForSession(http, otherThan: previous))
                    previous = session
                    let r = try http.request("POST", "/v1/sessions/\(session)/eligibility", body: #"{"pin":"1234"}"#)
                    let text = String(decoding: r.body, as: UTF8.self)
                    #expect(r.status == 200, "\(g): \(text)")
                    #expect(r.json["status"] as? String == status, "\(g): \(text)")
                    #expect((r.json["record"] as? [String: Any])?["number"] as? String == number, "\(g): \(text)")
                }
            }
        }
        // The audit names each answer's card by its issuer key.
        let audit = try auditText(cfg.auditLog)
        for k in keys.values { #expect(audit.contains(k.issuerKeyID)) }
    }
}
