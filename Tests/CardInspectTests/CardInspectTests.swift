import CardSimulator
import Foundation
import Inspect
import JPKI
import JPKIVerify
import SmartCard
import TerminalIO
import TestBench
import Testing

/// Inserts a fixture card into slot 0 ("Virtual PCD 00 00") for the duration of `body`, holding
/// the bench lock, and always removes it.
func withCard(
    _ name: String = "00-ordinary", behaviour: CardBehaviour? = nil,
    _ body: (VirtualMyNumberCard) async throws -> Void
) async throws {
    try await withCard(
        try VirtualMyNumberCard.fixture(name, behaviour: behaviour),
        authCertificate: try Data(contentsOf: CLI.fixture(name, "jpki/000A.der")),
        body)
}

/// The same for a simulated card built by the test (e.g. from a modified profile copy).
func withCard(
    _ card: VirtualMyNumberCard, authCertificate expected: Data, _ body: (VirtualMyNumberCard) async throws -> Void
) async throws {
    try await TestBench.exclusive {
        // Never talk to somebody else's card: the slot must be empty before the insertion,
        // and the card that appears must be this fixture (its auth certificate).
        // (The previous holder of the bench may have removed its card a moment ago: pcscd can
        // take a poll cycle to notice, so wait for the slot to be seen empty.)
        var empty = false
        for _ in 0..<100 where !empty {
            empty = try await listReaders().first { $0.name == slot0 }?.cardPresent == false
            if !empty { try await Task.sleep(for: .milliseconds(50)) }
        }
        try #require(empty, "slot 0 already holds a card that is not this test's")
        let bridge = VPCDBridge(card: card, port: TestBench.slots[0].port)
        try bridge.start()
        defer {
            bridge.stop()
            bridge.waitUntilStopped()
        }
        let present = try await TestBench.waitUntil {
            let states = try await listReaders()
            return states.first { $0.name == TestBench.slots[0].readerName }?.cardPresent == true
        }
        #expect(present, "the simulated card did not show up in pcscd")
        // Let the reader settle (the first APDU after insertion can fail with
        // SCARD_E_NOT_TRANSACTED; CardAccess retries that), so APDU counts below are exact.
        _ = try await CardAccess.open(slot0, trace: nil).run { try CardProbe.probe($0) }
        if card.profile.authCertificateAfterPIN {
            // An Android phone shows no certificate before the PIN: its token (and the ATR) then.
            let inserted = try await CardAccess.open(slot0, trace: nil).run {
                try MyNumberCard(channel: $0, certificateAfterPIN: true).identity()
            }
            let token = try Data(contentsOf: CLI.fixture(card.profile.name, "jpki/0006.bin")).prefix(32)
            try #require(inserted == CardIdentity(tokenInfo: [UInt8](token)), "another card is in slot 0")
            let atr = try await CardAccess.open(slot0, trace: nil).atr
            try #require(atr == card.atr, "another card is in slot 0")
        } else {
            let inserted = try await CardAccess.open(slot0, trace: nil).withCard { try $0.identity() }
            try #require(inserted == CardIdentity(authCertificateDER: [UInt8](expected)), "another card is in slot 0")
        }
        try await body(card)
        // The bridge is stopped by the defer; wait until pcscd sees the card gone so the next
        // test starts from an empty slot.
        bridge.stop()
        bridge.waitUntilStopped()
        _ = try await TestBench.waitUntil {
            let states = try await listReaders()
            return states.first { $0.name == TestBench.slots[0].readerName }?.cardPresent == false
        }
    }
}

/// The column at which `needle` starts in `line`, in display columns.
func column(of needle: String, in line: Substring) -> Int? {
    guard let r = line.range(of: needle) else { return nil }
    return DisplayWidth.of(String(line[..<r.lowerBound]))
}

let slot0 = "Virtual PCD 00 00"

/// Waits (up to 15 s) until the child has printed `text` on stdout.
func waitForOutput(_ child: CLI.Child, _ text: String) async -> Bool {
    for _ in 0..<1500 {
        if child.stdout.contains(text) { return true }
        try? await Task.sleep(for: .milliseconds(10))
    }
    return child.stdout.contains(text)
}

@Suite("card-inspect against the simulated card through pcscd", .serialized)
struct CardInspectBenchTests {
    @Test("readers: text table aligned, JSON with card type and ATR")
    func readers() async throws {
        try await withCard { _ in
            let text = try await CLI.run(["readers"])
            #expect(text.status == 0, "\(text.stderr)")
            let lines = text.stdout.split(separator: "\n")
            let row = try #require(lines.first { $0.contains(slot0) })
            #expect(row.contains("My Number card (個人番号カード)"))
            #expect(row.contains("3BDA13FF8131FB468012392F31C173C601C03B"))
            // The ATR column starts at the same display column as its header, although the
            // type column holds double-width characters.
            #expect(column(of: "ATR", in: lines[0]) == column(of: "3BDA13FF", in: row))

            let json = try await CLI.run(["readers", "--json"])
            #expect(json.status == 0)
            let readers = json.json["readers"] as? [[String: Any]] ?? []
            let r0 = try #require(readers.first { $0["name"] as? String == slot0 })
            #expect(r0["cardPresent"] as? Bool == true)
            #expect(r0["cardType"] as? String == "my-number-card")
            #expect(r0["tokenLabel"] as? String == "JPKIAPICCTOKEN2")
            #expect(r0["atr"] as? String == "3BDA13FF8131FB468012392F31C173C601C03B")
            #expect(r0["index"] as? Int == 0)
            let r1 = try #require(readers.first { $0["name"] as? String == "Virtual PCD 00 01" })
            #expect(r1["cardPresent"] as? Bool == false)
            #expect(r1["atr"] is NSNull && r1["cardType"] is NSNull)

            let one = try await CLI.run(["readers", "--reader", "00 01", "--json"])
            #expect((one.json["readers"] as? [[String: Any]])?.count == 1)
        }
    }

    @Test("status: applications, token label, card id and certificate summary")
    func status() async throws {
        try await withCard { _ in
            let authDER = try Data(contentsOf: CLI.fixture("00-ordinary", "jpki/000A.der"))
            let fingerprint = DigestAlgorithm.sha256.hash(authDER).map { String(format: "%02x", $0) }.joined()
            let json = try await CLI.run(["status", "--reader", "0", "--json"])
            #expect(json.status == 0, "\(json.stderr)")
            #expect(json.json["cardType"] as? String == "my-number-card")
            #expect(json.json["cardId"] as? String == fingerprint)
            let apps = json.json["applications"] as? [String: Bool] ?? [:]
            #expect(apps["jpki"] == true && apps["text"] == true && apps["visual"] == true && apps["common"] == true)
            let certs = json.json["certificates"] as? [[String: Any]] ?? []
            #expect(certs.map { $0["kind"] as? String } == ["auth", "auth-ca", "sign-ca"])
            #expect(certs.first?["serial"] as? String == "1001")
            #expect(certs.first?["length"] as? Int == authDER.count)

            let text = try await CLI.run(["status", "--reader", slot0])
            #expect(text.status == 0)
            #expect(text.stdout.contains("JPKIAPICCTOKEN2"))
            #expect(text.stdout.contains("card:" + fingerprint.prefix(16)))
            #expect(text.stdout.contains("利用者証明用電子証明書"))
        }
    }

    @Test("certs: summaries, --out writes DER and PEM equal to the card's, --pem, --sign with the password")
    func certs() async throws {
        try await withCard { card in
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ci-certs-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: dir) }
            let r = try await CLI.run(["certs", "--reader", "0", "--out", dir.path])
            #expect(r.status == 0, "\(r.stderr)")
            for (kind, file) in [("auth", "000A"), ("auth-ca", "000B"), ("sign-ca", "0002")] {
                let written = try Data(contentsOf: dir.appendingPathComponent("\(kind).der"))
                #expect(written == (try Data(contentsOf: CLI.fixture("00-ordinary", "jpki/\(file).der"))))
                let pem = try String(contentsOf: dir.appendingPathComponent("\(kind).pem"), encoding: .utf8)
                #expect(try CertificateInfo(pem: pem).der == written)
            }
            #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("sign.der").path))
            #expect(r.stdout.contains("署名用CA証明書"))

            let pem = try await CLI.run(["certs", "--reader", "0", "--pem"])
            #expect(pem.status == 0)
            #expect(pem.stdout.components(separatedBy: "-----BEGIN CERTIFICATE-----").count == 4)

            let signed = try await CLI.run(
                ["certs", "--reader", "0", "--sign", "--pin-stdin", "--json"], stdin: "ABC123\n")
            #expect(signed.status == 0, "\(signed.stderr)")
            let list = signed.json["certificates"] as? [[String: Any]] ?? []
            #expect(list.map { $0["kind"] as? String } == ["auth", "auth-ca", "sign", "sign-ca"])
            // The auth certificate's issuer key (the registry's card key with its serial) is the
            // AKI openssl reads from the same file.
            let akiText = try runProgram(
                "/usr/bin/openssl",
                [
                    "x509", "-inform", "DER", "-noout", "-ext", "authorityKeyIdentifier", "-in",
                    CLI.fixture("00-ordinary", "jpki/000A.der").path,
                ])
            let aki = akiText.stdout.split(separator: "\n").last.map {
                $0.trimmingCharacters(in: .whitespaces).replacingOccurrences(of: ":", with: "")
            }
            #expect(list.first?["issuerKeyID"] as? String == aki && aki?.count == 40)
            let sign = try #require(list.first { $0["kind"] as? String == "sign" })
            #expect(
                Data(base64Encoded: sign["der"] as? String ?? "")
                    == (try Data(contentsOf: CLI.fixture("00-ordinary", "jpki/0001.der"))))
            #expect(card.triesLeft(.sign) == 5)
        }
    }

    @Test("verify without a PIN: chain + CRL, exit 0, 4 APDUs; a revoked card exits 11")
    func verify() async throws {
        try await withCard { _ in
            let r = try await CLI.run(["verify", "--reader", "0", "--trust", CLI.pki, "--trace"])
            #expect(r.status == 0, "\(r.stderr)")
            #expect(r.stdout.contains("Verdict: VERIFIED"))
            #expect(r.stderr.contains("trace: 4 APDUs"))
            #expect(r.stderr.contains("> 00A4040C0AD392F000260100000001"))

            let json = try await CLI.run(["verify", "--reader", "0", "--trust", CLI.pki, "--json"])
            #expect(json.status == 0)
            let report = json.json["report"] as? [String: Any] ?? [:]
            #expect(report["verdict"] as? Bool == true)
            let checks = report["checks"] as? [[String: Any]] ?? []
            let crl = try #require(checks.first { $0["id"] as? String == "crl" })
            #expect(crl["outcome"] as? String == "passed" && crl["revocation"] as? String == "good")
            #expect(checks.contains { $0["id"] as? String == "chain" && $0["outcome"] as? String == "passed" })
            #expect((json.json["certificate"] as? [String: Any])?["serial"] as? String == "1001")
            #expect(json.json["challenge"] is NSNull)
        }
        try await withCard("04-revoked") { _ in
            let r = try await CLI.run(["verify", "--reader", "0", "--trust", CLI.pki, "--json"])
            #expect(r.status == 11)
            let checks = (r.json["report"] as? [String: Any])?["checks"] as? [[String: Any]] ?? []
            let crl = try #require(checks.first { $0["id"] as? String == "crl" })
            #expect(crl["outcome"] as? String == "failed")
            #expect((crl["revocation"] as? String)?.hasPrefix("revoked (keyCompromise") == true)
            let text = try await CLI.run(["verify", "--reader", "0", "--trust", CLI.pki])
            #expect(text.status == 11)
            #expect(text.stdout.contains("Verdict: NOT VERIFIED (crl not passed)"))
        }
    }

    @Test("verify: every root generation in the trust directory (one DN); a 2019 card is found by key")
    func verifyGenerations() async throws {
        // 03 is of the 2019 generation and valid today.
        try await withCard("03-same-name-b") { _ in
            let r = try await CLI.run(["verify", "--reader", "0", "--trust", CLI.pki, "--json"])
            #expect(r.status == 0, "\(r.stderr)")
            let trust = r.json["trust"] as? [String: Any] ?? [:]
            // 3 RSA generations + the ECDSA P-384 stand-in generation, auth and sign each.
            #expect((trust["anchors"] as? [String])?.count == 8 && (trust["crls"] as? [String])?.count == 8)
        }
        // 09 (2015 generation) verifies at the fixture reference date with `verify --at`: that
        // option comes with the card-state work (branch states), which tests it.
    }

    @Test("verify --with-pin: the card signs a challenge; the PIN never shows in the trace")
    func verifyWithPIN() async throws {
        try await withCard { card in
            let r = try await CLI.run(
                ["verify", "--reader", "0", "--trust", CLI.pki, "--with-pin", "--pin-stdin", "--trace", "--json"],
                stdin: "1234\n")
            #expect(r.status == 0, "\(r.stderr)")
            let checks = (r.json["report"] as? [String: Any])?["checks"] as? [[String: Any]] ?? []
            #expect(
                checks.contains { $0["id"] as? String == "challengeSignature" && $0["outcome"] as? String == "passed" })
            #expect(Data(base64Encoded: r.json["challenge"] as? String ?? "")?.count == 32)
            #expect(r.stderr.contains("> 0020008004********"))
            #expect(!r.stderr.contains("31323334"))
            #expect(card.triesLeft(.auth) == 3)
        }
    }

    @Test("verify --with-pin on the ECDSA P-384 stand-in: EC chain + EC-signed CRL, r ‖ s over SHA-384")
    func verifyECDSA() async throws {
        try await withCard("30-ecdsa-p384-standin") { card in
            let r = try await CLI.run(
                ["verify", "--reader", "0", "--trust", CLI.pki, "--with-pin", "--pin-stdin", "--json"], stdin: "1234\n")
            #expect(r.status == 0, "\(r.stderr)")
            let checks = (r.json["report"] as? [String: Any])?["checks"] as? [[String: Any]] ?? []
            func check(_ id: String) -> [String: Any]? { checks.first { $0["id"] as? String == id } }
            #expect(check("chain")?["outcome"] as? String == "passed", "\(checks)")
            #expect(check("crl")?["outcome"] as? String == "passed", "\(checks)")
            #expect(check("challengeSignature")?["outcome"] as? String == "passed", "\(checks)")
            #expect(check("challengeSignature")?["detail"] as? String == "ECDSA-P384-SHA384")
            #expect(Data(base64Encoded: r.json["signature"] as? String ?? "")?.count == 96)
            #expect(card.triesLeft(.auth) == 3)
        }
    }

    /// card-inspect against each silicon-like option of the card (and all of them):
    /// certificates with the sign password, PIN status, verify with the auth PIN.
    @Test(
        "certs, pin-status and verify --with-pin against each card behaviour",
        arguments: CardBehaviour.itemNames + ["silicon"])
    func behaviours(spec: String) async throws {
        let expected = try CardBehaviour(parsing: spec)
        try await withCard(behaviour: expected) { card in
            let certs = try await CLI.run(
                ["certs", "--reader", "0", "--sign", "--pin-stdin", "--json"], stdin: "ABC123\n")
            #expect(certs.status == 0, "\(spec): \(certs.stderr)")
            let list = certs.json["certificates"] as? [[String: Any]] ?? []
            for (kind, file) in [("auth", "000A"), ("auth-ca", "000B"), ("sign", "0001"), ("sign-ca", "0002")] {
                let entry = list.first { $0["kind"] as? String == kind }
                #expect(
                    Data(base64Encoded: entry?["der"] as? String ?? "")
                        == (try Data(contentsOf: CLI.fixture("00-ordinary", "jpki/\(file).der"))), "\(spec) \(kind)")
            }
            let pins = try await CLI.run(["pin-status", "--reader", "0", "--json"])
            #expect(pins.status == 0, "\(spec): \(pins.stderr)")
            let auth = (pins.json["pins"] as? [[String: Any]] ?? []).first { $0["pin"] as? String == "auth" }
            #expect(auth?["triesLeft"] as? Int == 3, "\(spec)")
            let verify = try await CLI.run(
                ["verify", "--reader", "0", "--trust", CLI.pki, "--with-pin", "--pin-stdin", "--json"], stdin: "1234\n")
            #expect(verify.status == 0, "\(spec): \(verify.stderr)")
            let checks = (verify.json["report"] as? [String: Any])?["checks"] as? [[String: Any]] ?? []
            #expect(
                checks.contains { $0["id"] as? String == "challengeSignature" && $0["outcome"] as? String == "passed" },
                "\(spec)")
            #expect(card.triesLeft(.auth) == 3 && card.triesLeft(.sign) == 5)
            #expect(card.behaviour == expected)
        }
    }

    @Test("pin-status: every counter, none spent; aligned despite Japanese names; last try flagged")
    func pinStatus() async throws {
        try await withCard { card in
            let r = try await CLI.run(["pin-status", "--reader", "0"])
            #expect(r.status == 0, "\(r.stderr)")
            let lines = r.stdout.split(separator: "\n")
            #expect(lines.count == 10)
            let apColumn = column(of: "AP", in: lines[0])
            for (line, ap) in zip(lines.dropFirst(), ["jpki", "jpki", "text", "text", "text", "visual"]) {
                #expect(column(of: "  \(ap)  ", in: line).map { $0 + 2 } == apColumn, "\(line)")
            }
            #expect(lines[1].hasPrefix("auth ") && lines[1].contains("3/3"))
            #expect(lines[2].contains("5/5"))

            let json = try await CLI.run(["pin-status", "--reader", "0", "--json"])
            let pins = json.json["pins"] as? [[String: Any]] ?? []
            #expect(pins.count == 9)
            let auth = try #require(pins.first { $0["pin"] as? String == "auth" })
            #expect(auth["triesLeft"] as? Int == 3 && auth["maxTries"] as? Int == 3 && auth["state"] as? String == "ok")
            #expect(card.triesLeft(.auth) == 3 && card.triesLeft(.sign) == 5 && card.triesLeft(.text) == 3)
        }
        try await withCard("05-nearly-blocked") { _ in
            let json = try await CLI.run(["pin-status", "--reader", "0", "--json"])
            let pins = json.json["pins"] as? [[String: Any]] ?? []
            for name in ["auth", "sign", "text"] {
                let p = try #require(pins.first { $0["pin"] as? String == name })
                #expect(p["triesLeft"] as? Int == 1 && p["state"] as? String == "last-try")
            }
            let text = try await CLI.run(["pin-status", "--reader", "0"])
            #expect(text.stdout.contains("LAST TRY"))
        }
    }

    @Test("identity: basic 4 info with integrity verified; My Number only with --my-number; trace redacted")
    func identity() async throws {
        try await withCard { _ in
            let r = try await CLI.run(
                ["identity", "--reader", "0", "--pin-stdin", "--trust", CLI.pki, "--trace"], stdin: "1234\n")
            #expect(r.status == 0, "\(r.stderr)")
            #expect(r.stdout.contains("山田　太郎"))
            #expect(r.stdout.contains("東京都千代田区千代田試験町一丁目２番３号"))
            #expect(r.stdout.contains("1980-02-17"))
            #expect(r.stdout.contains("完全性 Integrity"))
            #expect(r.stdout.contains("verified (textCVCertificate"))
            #expect(!r.stdout.contains("123456789018"))
            // Values start at the same display column on every line.
            let lines = r.stdout.split(separator: "\n")
            let starts = Set(
                zip(lines, ["山田", "東京都", "1980", "1 (男性", "verified"]).map { column(of: $1, in: $0) })
            #expect(starts.count == 1)
            // The trace has neither the PIN nor the name (UTF-8 of 山 = E5B1B1).
            #expect(r.stderr.contains("bytes redacted"))
            #expect(!r.stderr.contains("31323334") && !r.stderr.contains("E5B1B1"))

            let json = try await CLI.run(
                ["identity", "--reader", "0", "--pin-stdin", "--json", "--my-number"], stdin: "1234\n")
            #expect(json.status == 0)
            #expect(json.json["name"] as? String == "山田　太郎")
            #expect(json.json["nameNFKC"] as? String == "山田 太郎")
            #expect(json.json["birthDate"] as? String == "1980-02-17")
            #expect(json.json["sex"] as? String == "1")
            #expect(json.json["myNumber"] as? String == "123456789018")
            #expect(json.json["integrity"] is NSNull)

            let unverified = try await CLI.run(["identity", "--reader", "0", "--pin-stdin"], stdin: "1234\n")
            #expect(unverified.stdout.contains("not checked (no CV issuer key"))
            #expect(!unverified.stdout.contains("123456789018"))
        }
    }

    @Test("face: the JPEG 2000 photo written, integrity verified; 照合番号B by default, the My Number route only asked for")
    func face() async throws {
        try await withCard { card in
            let out = FileManager.default.temporaryDirectory.appendingPathComponent("ci-face-\(UUID().uuidString).jp2")
            defer { try? FileManager.default.removeItem(at: out) }
            // The default asks for 照合番号B: the text-AP PIN is not accepted as one, and the
            // text AP (where the My Number lives) is never opened.
            let asPIN = try await CLI.run(["face", "--reader", "0", "--out", out.path, "--pin-stdin"], stdin: "1234\n")
            #expect(asPIN.status == 7 && asPIN.errorLines.count == 1, "\(asPIN.stderr)")
            #expect(asPIN.stderr.contains("[invalid_pin_format]"), "\(asPIN.stderr)")
            #expect(card.triesLeft(.text) == 3 && card.triesLeft(.visualB) == 10)
            #expect(!FileManager.default.fileExists(atPath: out.path))

            let r = try await CLI.run(
                ["face", "--reader", "0", "--out", out.path, "--key", "my-number", "--pin-stdin", "--trust", CLI.pki],
                stdin: "1234\n")
            #expect(r.status == 0, "\(r.stderr)")
            let expected = try Data(contentsOf: CLI.fixture("00-ordinary", "face.jp2"))
            #expect(try Data(contentsOf: out) == expected)
            #expect(r.stdout.contains("verified (visualCVCertificate, visualIntegrity)"))
            #expect(r.stdout.contains("2035-02-17"))
            let attrs = try FileManager.default.attributesOfItem(atPath: out.path)
            #expect((attrs[.posixPermissions] as? Int) == 0o600)
            try FileManager.default.removeItem(at: out)

            let b = try await CLI.run(
                ["face", "--reader", "0", "--out", out.path, "--pin-stdin", "--json"], stdin: "55021720352285\n")
            #expect(b.status == 0, "\(b.stderr)")
            #expect(b.json["bytes"] as? Int == expected.count)
            #expect(try Data(contentsOf: out) == expected)
            #expect(card.triesLeft(.visualB) == 10 && card.triesLeft(.text) == 3)
        }
    }

    @Test("sign: the signature verifies with the sign certificate (checked here too); --out writes it")
    func sign() async throws {
        try await withCard { card in
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ci-sign-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: dir) }
            let doc = dir.appendingPathComponent("doc.txt")
            try Data("受付票 2026-11-23\n".utf8).write(to: doc)
            let sig = dir.appendingPathComponent("doc.sig")
            let r = try await CLI.run(
                ["sign", "--reader", "0", "--in", doc.path, "--out", sig.path, "--trust", CLI.pki, "--pin-stdin"],
                stdin: "abc123\n")
            #expect(r.status == 0, "\(r.stderr)")
            #expect(r.stdout.contains("Verdict: VERIFIED"))
            let signature = try Data(contentsOf: sig)
            #expect(signature.count == 256)
            let certDER = try Data(contentsOf: CLI.fixture("00-ordinary", "jpki/0001.der"))
            let digest = DigestAlgorithm.sha256.hash(try Data(contentsOf: doc))
            let check = DocumentSignature.verify(
                digest: digest, algorithm: .sha256, signature: signature, signCertificateDER: certDER)
            #expect(check.verdict)

            let json = try await CLI.run(
                ["sign", "--reader", "0", "--in", doc.path, "--pin-stdin", "--json"], stdin: "ABC123\n")
            #expect(json.status == 0)
            #expect(json.json["sha256"] as? String == digest.map { String(format: "%02x", $0) }.joined())
            #expect(Data(base64Encoded: json.json["signature"] as? String ?? "") == signature)
            #expect(json.json["signatureFile"] is NSNull)
            #expect(card.triesLeft(.sign) == 5)
        }
    }

    @Test("watch: card inserted and removed events, then SIGINT ends it with 0")
    func watch() async throws {
        try await TestBench.exclusive {
            let child = try CLI.start(["watch", "--json", "--reader", slot0])
            var stopped = false
            defer { if !stopped { kill(child.pid, SIGKILL) } }
            // The monitor first reports the readers present.
            #expect(await waitForOutput(child, "\"reader-added\""))
            #expect(!child.stdout.contains("Virtual PCD 00 01"))
            let bridge = VPCDBridge(card: try VirtualMyNumberCard.fixture("00-ordinary"), port: TestBench.slots[0].port)
            try bridge.start()
            let inserted = await waitForOutput(child, "\"card-inserted\"")
            bridge.stop()
            bridge.waitUntilStopped()
            #expect(inserted)
            #expect(await waitForOutput(child, "\"card-removed\""), "\(child.stdout)")
            kill(child.pid, SIGINT)
            let status = await child.wait()
            stopped = true
            #expect(status == 0, "\(child.stderr)")
            let events = child.stdout.split(separator: "\n").map {
                (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] ?? [:]
            }
            let insert = try #require(events.first { $0["event"] as? String == "card-inserted" })
            #expect(insert["reader"] as? String == slot0)
            #expect(insert["atr"] as? String == "3BDA13FF8131FB468012392F31C173C601C03B")
            #expect(insert["cardType"] as? String == "my-number-card")
            #expect(events.allSatisfy { $0["time"] is String })
        }
    }
}

@Suite("card-inspect PIN prompt on a terminal", .serialized)
struct CardInspectTerminalTests {
    @Test("the PIN is read with echo off; the last try needs a typed yes")
    func prompt() async throws {
        try await withCard { card in
            let child = try CLI.startOnTerminal(["verify", "--reader", "0", "--trust", CLI.pki, "--with-pin"])
            #expect(await waitForOutput(child, "4 digits): "))
            child.send("1234\n")
            let status = await child.wait()
            child.closeStdin()
            #expect(status == 0, "\(child.stdout)")
            #expect(child.stdout.contains("Verdict: VERIFIED"))
            #expect(!child.stdout.contains("1234"), "the PIN was echoed")
            #expect(card.triesLeft(.auth) == 3)
        }
        try await withCard("05-nearly-blocked") { card in
            let no = try CLI.startOnTerminal(["verify", "--reader", "0", "--trust", CLI.pki, "--with-pin"])
            #expect(await waitForOutput(no, "Type yes to continue: "))
            no.send("no\n")
            #expect(await no.wait() == 10)
            no.closeStdin()
            #expect(!no.stdout.contains("4 digits): "), "asked for the PIN after no")
            #expect(card.triesLeft(.auth) == 1)

            let yes = try CLI.startOnTerminal(["verify", "--reader", "0", "--trust", CLI.pki, "--with-pin"])
            #expect(await waitForOutput(yes, "Type yes to continue: "))
            yes.send("yes\n")
            #expect(await waitForOutput(yes, "4 digits): "))
            yes.send("2468\n")
            #expect(await yes.wait() == 0, "\(yes.stdout)")
            yes.closeStdin()
            #expect(card.triesLeft(.auth) == 3)  // a correct PIN resets the counter
        }
    }
}

@Suite("card-inspect errors: one line, distinct exit codes", .serialized)
struct CardInspectErrorTests {
    /// One line on stderr (no trace), naming the code.
    func expectOneLine(
        _ r: CLI.Result, _ status: Int32, _ code: String, sourceLocation: SourceLocation = #_sourceLocation
    ) {
        #expect(r.status == status, "\(r.stderr)", sourceLocation: sourceLocation)
        #expect(r.errorLines.count == 1, "\(r.stderr)", sourceLocation: sourceLocation)
        #expect(r.stderr.hasPrefix("card-inspect: "), sourceLocation: sourceLocation)
        #expect(r.stderr.contains("[\(code)]"), "\(r.stderr)", sourceLocation: sourceLocation)
    }

    @Test("no PC/SC service: exit 3")
    func noService() async throws {
        let r = try await CLI.run(["readers"], environment: ["PCSCLITE_CSOCK_NAME": "/nonexistent/pcscd.comm"])
        expectOneLine(r, 3, "no_service")
        let status = try await CLI.run(
            ["status", "--json"], environment: ["PCSCLITE_CSOCK_NAME": "/nonexistent/pcscd.comm"])
        #expect(status.status == 3)
        #expect((status.json["error"] as? [String: Any])?["code"] as? String == "no_service")
        #expect((status.json["error"] as? [String: Any])?["exitStatus"] as? Int == 3)
    }

    @Test("reader index out of range and unknown reader name: exit 4; empty slot: exit 5")
    func readerSelection() async throws {
        try await TestBench.exclusive {
            expectOneLine(try await CLI.run(["status", "--reader", "7"]), 4, "reader_not_found")
            let named = try await CLI.run(["verify", "--reader", "No Such Reader", "--trust", CLI.pki])
            expectOneLine(named, 4, "reader_not_found")
            #expect(named.stderr.contains("no reader named 'No Such Reader'"))
            expectOneLine(try await CLI.run(["pin-status", "--reader", "1"]), 5, "no_card")
            expectOneLine(try await CLI.run(["status"]), 5, "no_card")
        }
    }

    @Test("PIN format, wrong PIN, no terminal: exits 7, 8, 2; counters as expected")
    func pins() async throws {
        try await withCard { card in
            let format = try await CLI.run(["identity", "--reader", "0", "--pin-stdin"], stdin: "12a4\n")
            expectOneLine(format, 7, "invalid_pin_format")
            #expect(card.triesLeft(.text) == 3)
            let empty = try await CLI.run(["identity", "--reader", "0", "--pin-stdin"], stdin: "")
            expectOneLine(empty, 2, "no_pin")

            let wrong = try await CLI.run(
                ["verify", "--reader", "0", "--trust", CLI.pki, "--with-pin", "--pin-stdin"], stdin: "9999\n")
            expectOneLine(wrong, 8, "wrong_pin")
            #expect(wrong.stderr.contains("wrong auth PIN, 2 tries left"))
            #expect(!wrong.stderr.contains("9999"))
            #expect(card.triesLeft(.auth) == 2)

            // No controlling terminal (the child runs in its own session) and no --pin-stdin.
            let noTTY = try await CLI.run(["sign", "--reader", "0", "--in", "/etc/hostname"])
            expectOneLine(noTTY, 2, "no_terminal")
            #expect(card.triesLeft(.sign) == 5)
        }
    }

    @Test("one try left: refused without --allow-last-try (exit 10); wrong last try blocks (8), then 9")
    func lastTry() async throws {
        try await withCard("05-nearly-blocked") { card in
            let refused = try await CLI.run(
                ["verify", "--reader", "0", "--trust", CLI.pki, "--with-pin", "--pin-stdin"], stdin: "2468\n")
            expectOneLine(refused, 10, "last_try_refused")
            #expect(card.triesLeft(.auth) == 1)
            let allowed = try await CLI.run(
                ["verify", "--reader", "0", "--trust", CLI.pki, "--with-pin", "--pin-stdin", "--allow-last-try"],
                stdin: "2468\n")
            #expect(allowed.status == 0, "\(allowed.stderr)")

            let wrong = try await CLI.run(
                ["sign", "--reader", "0", "--in", "/etc/hostname", "--pin-stdin", "--allow-last-try"],
                stdin: "WRONG1\n")
            expectOneLine(wrong, 8, "wrong_pin")
            #expect(wrong.stderr.contains("it is now blocked"))
            let blocked = try await CLI.run(
                ["sign", "--reader", "0", "--in", "/etc/hostname", "--pin-stdin", "--allow-last-try"],
                stdin: "NEAR88\n")
            expectOneLine(blocked, 9, "pin_blocked")
            #expect(card.triesLeft(.sign) == 0)
        }
    }

    @Test("usage errors exit 2; unreadable files exit 12; --help documents the exit codes")
    func usageAndFiles() async throws {
        let unknown = try await CLI.run(["frobnicate"])
        #expect(unknown.status == 2 && unknown.errorLines.count == 1)
        let missing = try await CLI.run(["face", "--reader", "0"])
        #expect(missing.status == 2 && missing.stderr.contains("--out"))
        let badKey = try await CLI.run(["face", "--out", "/tmp/x.jp2", "--key", "c"])
        #expect(badKey.status == 2)
        let pemJSON = try await CLI.run(["certs", "--pem", "--json"])
        #expect(pemJSON.status == 2)

        expectOneLine(try await CLI.run(["sign", "--in", "/nonexistent/file"]), 12, "file_unreadable")
        expectOneLine(try await CLI.run(["verify", "--trust", "/nonexistent/dir"]), 12, "trust_unreadable")

        let help = try await CLI.run(["--help"])
        #expect(help.status == 0)
        for s in ExitStatus.allCases {
            #expect(help.stdout.contains("\(s.rawValue)  \(s.summary)"), "\(s)")
        }
        for sub in ["readers", "watch", "status", "certs", "verify", "pin-status", "identity", "face", "sign"] {
            #expect(help.stdout.contains(sub))
            let h = try await CLI.run([sub, "--help"])
            #expect(h.status == 0 && h.stdout.contains("--reader") && h.stdout.contains("--json"))
        }
    }
}

@Suite("card-inspect rendering")
struct RenderingTests {
    @Test("display width: CJK and full-width count 2, combining marks 0")
    func widths() {
        #expect(DisplayWidth.of("山田　太郎") == 10)
        #expect(DisplayWidth.of("ABC") == 3)
        #expect(DisplayWidth.of("ｱｲ") == 2)  // half-width katakana
        #expect(DisplayWidth.of("２番３号") == 8)
        #expect(DisplayWidth.of("e\u{301}") == 1)
        #expect(DisplayWidth.of("髙橋　﨑邊") == 10)
    }

    @Test("tables align columns by display width")
    func table() {
        var t = TextTable(headers: ["Key", "Value", "#3"])
        t.add("名前", "山田　太郎", "#3")
        t.add("a", "b", "#3")
        let lines = t.render().split(separator: "\n")
        #expect(lines.map { column(of: "#3", in: $0) } == [18, 18, 18])
        #expect(lines.allSatisfy { !$0.hasSuffix(" ") })
    }

    @Test("JSON: key order kept, nulls explicit, strings escaped, UTF-8 kept")
    func json() {
        let j = JSON.object([("b", .int(1)), ("a", .null), ("s", .string("山\"\n\u{1}"))])
        #expect(j.compact() == #"{"b":1,"a":null,"s":"山\"\n\u0001"}"#)
        #expect(j.rendered() == "{\n  \"b\": 1,\n  \"a\": null,\n  \"s\": \"山\\\"\\n\\u0001\"\n}")
    }
}
