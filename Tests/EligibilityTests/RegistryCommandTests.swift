import CardSimulator
import Eligibility
import Foundation
import JPKIDaemon
import RegistryCommands
import SmartCard
import SmartCardPCSC
import TestBench
import Testing

/// `jpkid registry …` and `jpkid audit …` as an administrator runs them: in-process through
/// RegistryCommands, and end to end through the jpkid executable for `serve` and a card link.
@Suite("jpkid registry commands", .serialized)
struct RegistryCommandTests {
    struct Setup {
        let dir: URL
        let config: String
        let audit: String
        let sqlite: String
    }

    func setup(trust: Bool = true) throws -> Setup {
        let dir = try temporaryDirectory("cli")
        let sqlite = dir.appendingPathComponent("var/eligibility.sqlite").path
        let audit = dir.appendingPathComponent("audit.jsonl").path
        var json: [String: Any] = [
            "socket": ["path": dir.appendingPathComponent("jpkid.sock").path],
            "auditLog": audit,
            "eligibility": ["provider": "sqlite", "sqlitePath": sqlite],
        ]
        if trust {
            // config/demo.json's fixture trust (every root generation, the ECDSA stand-in's too),
            // its paths made absolute: one list for the demo, the scripts and the tests.
            let demo = try JSONSerialization.jsonObject(
                with: Data(contentsOf: packageRoot.appendingPathComponent("config/demo.json")))
            let section = try #require((demo as? [String: Any])?["trust"] as? [String: Any])
            json["trust"] = section.mapValues { value -> Any in
                if let list = value as? [String] { return list.map { packageRoot.appendingPathComponent($0).path } }
                return packageRoot.appendingPathComponent(value as? String ?? "").path
            }
        }
        let config = dir.appendingPathComponent("config.json").path
        try JSONSerialization.data(withJSONObject: json).write(to: URL(fileURLWithPath: config))
        return Setup(dir: dir, config: config, audit: audit, sqlite: sqlite)
    }

    /// What a command printed and its exit status.
    struct CommandResult {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// `jpkid registry …` / `jpkid audit …` run in this process (RegistryCommands), as the
    /// executable runs them: its output and exit status.
    func jpkid(_ args: [String]) async -> CommandResult {
        let captured = CapturedOutput()
        let rest = Array(args.dropFirst())
        let status: Int32
        switch args.first {
        case "registry": status = await CommandRunner.run(RegistryCommand.self, rest, output: captured.output)
        case "audit": status = await CommandRunner.run(AuditCommand.self, rest, output: captured.output)
        default:
            Issue.record("not a library command: \(args)")
            status = -1
        }
        return CommandResult(status: status, stdout: captured.stdout, stderr: captured.stderr)
    }

    /// The jpkid executable as a separate process (end-to-end: `serve`, a PIN on stdin).
    func jpkidProcess(_ args: [String], stdin: Data? = nil) throws -> ProcessResult {
        try runProgram(try builtBinary("jpkid"), args, stdin: stdin)
    }

    func auditLines(_ s: Setup) throws -> [[String: Any]] {
        let text = (try? String(contentsOfFile: s.audit, encoding: .utf8)) ?? ""
        return try text.split(separator: "\n").map {
            try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }
    }

    @Test func serveSyntaxStillWorks() throws {
        let s = try setup()
        let ok = try jpkidProcess(["--socket", "/tmp/x.sock", "--config", s.config, "--check-config"])
        #expect(ok.status == 0)
        #expect(ok.stdout.contains("configuration OK"))
        let bad = s.dir.appendingPathComponent("bad.json").path
        try Data(#"{"eligibility":{"provider":"postgres"}}"#.utf8).write(to: URL(fileURLWithPath: bad))
        let r = try jpkidProcess(["--config", bad, "--check-config"])
        #expect(r.status == 2)
        #expect(r.stderr.contains("eligibility.postgresURL"))
    }

    @Test("registry reference-numbers writes the 照会番号 registration file for the terminal (provider oqs)")
    func referenceNumbers() async throws {
        let s = try setup()
        let folder = s.dir.appendingPathComponent("oqs")
        try FileManager.default.createDirectory(
            at: folder.appendingPathComponent("req"), withIntermediateDirectories: true)
        let json: [String: Any] = [
            "auditLog": s.audit, "trust": fixtureTrust,
            "eligibility": [
                "provider": "oqs", "sqlitePath": s.sqlite,
                "oqs": ["folder": folder.path, "medicalInstitutionCode": "1311111111"],
            ],
        ]
        let config = s.dir.appendingPathComponent("oqs.json").path
        try JSONSerialization.data(withJSONObject: json).write(to: URL(fileURLWithPath: config))
        let csv = packageRoot.appendingPathComponent("apdu-fixtures/registry/demo.csv").path
        #expect(await jpkid(["registry", "import", csv, "--config", config]).status == 0)
        let r = await jpkid(["registry", "reference-numbers", "--config", config])
        #expect(r.status == 0, "\(r.stderr)")
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.appendingPathComponent("req").path)
        let name = try #require(files.first)
        #expect(files.count == 1 && name.hasPrefix("OQSmuimm01req_JPKID00") && name.hasSuffix(".xml"))
        let root = try XMLTree.parse(try Data(contentsOf: folder.appendingPathComponent("req/" + name)))
        #expect(root.at(["MessageHeader", "MedicalInstitutionCode"])?.text == "1311111111")
        let infos = root.child("MessageBody")?.all("ReferenceNumberRegistrationInfo") ?? []
        // Active records only (demo.csv has one lost record), 照会番号 = record id.
        #expect(infos.count == 9 && infos.allSatisfy { Int($0.value("ReferenceNumber") ?? "") != nil })
        // 6-digit insurer numbers are right-aligned to 8 characters.
        #expect(infos.contains { $0.child("InsurerNumber")?.text == "  141044" })
        #expect(try auditLines(s).contains { $0["operation"] as? String == "registry-reference-numbers" })
        // Not provider oqs: refused.
        #expect(await jpkid(["registry", "reference-numbers", "--config", s.config]).status == 2)
    }

    @Test func importListUnlink() async throws {
        let s = try setup()
        let csv = packageRoot.appendingPathComponent("apdu-fixtures/registry/demo.csv").path
        let imp = await jpkid(["registry", "import", csv, "--config", s.config])
        #expect(imp.status == 0, "\(imp.stderr)")
        #expect(imp.stdout.contains("rows 10, records saved 10, cards linked 9, rows rejected 0"))
        // The SQLite file was created, not world-readable.
        let attrs = try FileManager.default.attributesOfItem(atPath: s.sqlite)
        #expect(((attrs[.posixPermissions] as? Int) ?? 0o777) & 0o007 == 0)

        let list = await jpkid(["registry", "list", "--json", "--config", s.config])
        #expect(list.status == 0)
        let entries = try JSONDecoder().decode([RegistryEntry].self, from: Data(list.stdout.utf8))
        #expect(entries.count == 10)
        #expect(
            entries.flatMap(\.cards).map(\.serial).sorted() == [
                "1001", "1011", "1021", "1031", "1041", "1061", "1071", "1081", "1091",
            ])
        let table = await jpkid(["registry", "list", "--config", s.config])
        #expect(table.stdout.contains("高橋　崎辺"))
        #expect(table.stdout.split(separator: "\n").count == 11)

        // By DN alone the card is ambiguous (four root generations share it: 2015, 2019, 2023 and
        // the ECDSA stand-in); by key id it is one.
        let byDN = await jpkid([
            "registry", "unlink", "--issuer", fixtureAuthIssuer, "--serial", "1001", "--config", s.config,
        ])
        #expect(byDN.status == 64 && byDN.stderr.contains("4 configured auth anchors"), "\(byDN.stderr)")
        let un = await jpkid([
            "registry", "unlink", "--issuer-key-id", fixtureAuthKeyID, "--serial", "1001", "--config", s.config,
        ])
        #expect(un.status == 0, "\(un.stderr)")
        // Card 00's record had that one credential: it stays, and the command says so.
        #expect(un.stdout.contains("0 credential(s) left"), "\(un.stdout)")
        #expect(un.stdout.contains("has no credential left: it stays in the registry"), "\(un.stdout)")
        let again = await jpkid([
            "registry", "unlink", "--issuer-key-id", fixtureAuthKeyID, "--serial", "1001", "--config", s.config,
        ])
        #expect(again.status == 1)
        #expect(again.stderr.contains("not_found"))
        #expect(again.stderr.contains("no credential with key 1001@keyid:\(fixtureAuthKeyID)"), "\(again.stderr)")

        let lines = try auditLines(s)
        let ops = lines.compactMap { $0["operation"] as? String }
        #expect(ops.filter { $0 == "registry-link" }.count == 9)
        #expect(ops.contains("registry-import"))
        #expect(ops.filter { $0 == "registry-unlink" }.count == 2)
        #expect(ops.filter { $0 == "registry-list" }.count == 2, "each listing is audited")
        let unlinked = lines.first { ($0["operation"] as? String) == "registry-unlink" }
        #expect((unlinked?["cardKey"] as? [String: String])?["serial"] == "1001")
        #expect(unlinked?["credentialsLeft"] as? Int == 0)
        #expect(unlinked?["uid"] as? Int == Int(getuid()))
        #expect(lines.last?["outcome"] as? String == "not_found")
        // No names or birth dates in the audit.
        let raw = try String(contentsOfFile: s.audit, encoding: .utf8)
        for secret in ["山田", "高橋", "佐藤", "1980-02-17", "ヤマダ"] { #expect(!raw.contains(secret)) }
    }

    @Test func importReportsBadRows() async throws {
        let s = try setup()
        let csv = s.dir.appendingPathComponent("bad.csv")
        try Data(
            """
            issuer,serial,insurerNumber,symbol,number,branch,name,birthDate,copaymentRatio,validFrom
            ,,06139991,,1,00,山田　太郎,1980-02-17,30,2024-04-01
            ,,06139991,,2,00,山田　花子,1980-02-17,35,2024-04-01
            """.utf8
        ).write(to: csv)
        let r = await jpkid(["registry", "import", csv.path, "--config", s.config])
        #expect(r.status == 1)
        #expect(r.stdout.contains("error: line 3, column copaymentRatio"))
        #expect(r.stdout.contains("rows 2, records saved 1, cards linked 0, rows rejected 1"))
        #expect(!r.stdout.contains("山田"))
        let json = await jpkid(["registry", "import", csv.path, "--json", "--config", s.config])
        let report = try JSONDecoder().decode(RegistryCSV.Report.self, from: Data(json.stdout.utf8))
        #expect(report.errors.map(\.line) == [3])
        #expect(report.recordsSaved == 1)
    }

    @Test func unwritableAuditRefusesChanges() async throws {
        let s = try setup()
        let cfg = s.dir.appendingPathComponent("noaudit.json").path
        let json: [String: Any] = [
            "auditLog": "/proc/jpki-no-such-dir/audit.jsonl",
            "eligibility": ["sqlitePath": s.sqlite],
        ]
        try JSONSerialization.data(withJSONObject: json).write(to: URL(fileURLWithPath: cfg))
        let csv = packageRoot.appendingPathComponent("apdu-fixtures/registry/demo.csv").path
        let r = await jpkid(["registry", "import", csv, "--config", cfg])
        #expect(r.status == 2)
        #expect(!FileManager.default.fileExists(atPath: s.sqlite))
    }

    /// 保険証利用登録 through the real PC/SC stack: the simulated card signs a challenge, the
    /// certificate is verified, and the card's key is linked; a revoked card is refused.
    @Test func linkWithCard() async throws {
        let s = try setup()
        let reader = TestBench.slots[0].readerName
        try await TestBench.exclusive {
            try await withCard("00-ordinary") {
                let r = try jpkidProcess(
                    [
                        "registry", "link", "--config", s.config, "--reader", reader, "--pin-stdin",
                        "--insurer-number", "06139991", "--symbol", "試験記号", "--number", "1001", "--branch", "00",
                        "--name", "山田　太郎", "--birth-date", "1980-02-17", "--copayment-ratio", "30",
                        "--valid-from", "2024-04-01",
                    ], stdin: Data("1234\n".utf8))
                #expect(r.status == 0, "\(r.stderr)")
                #expect(r.stdout.contains("linked card 1001"))
            }
            try await withCard("01-kanji-variant") {
                let wrong = try jpkidProcess(
                    ["registry", "link", "--config", s.config, "--reader", reader, "--pin-stdin", "--record", "1"],
                    stdin: Data("0000\n".utf8))
                #expect(wrong.status == 1)
                #expect(wrong.stderr.contains("wrong_pin"))
                // The same person's second credential is added; the first stays linked.
                let second = try jpkidProcess(
                    ["registry", "link", "--config", s.config, "--reader", reader, "--pin-stdin", "--record", "1"],
                    stdin: Data("5678\n".utf8))
                #expect(second.status == 0, "\(second.stderr)")
                #expect(second.stdout.contains("linked card 1011"), "\(second.stdout)")
                #expect(second.stdout.contains("the record has 2 credential(s)"), "\(second.stdout)")
            }
            // And the person's Android phone (its auth certificate is readable only after the PIN).
            try await withCard("20-android-phone") {
                let phone = try jpkidProcess(
                    ["registry", "link", "--config", s.config, "--reader", reader, "--pin-stdin", "--record", "1"],
                    stdin: Data("4321\n".utf8))
                #expect(phone.status == 0, "\(phone.stderr)")
                #expect(phone.stdout.contains("linked android-phone 1141"), "\(phone.stdout)")
                #expect(phone.stdout.contains("the record has 3 credential(s)"), "\(phone.stdout)")
            }
            // And a renewed card with an ECDSA P-384 key (the stand-in of the next card).
            try await withCard("30-ecdsa-p384-standin") {
                let ec = try jpkidProcess(
                    ["registry", "link", "--config", s.config, "--reader", reader, "--pin-stdin", "--record", "1"],
                    stdin: Data("1234\n".utf8))
                #expect(ec.status == 0, "\(ec.stderr)")
                #expect(ec.stdout.contains("the record has 4 credential(s)"), "\(ec.stdout)")
            }
            try await withCard("04-revoked") {
                let r = try jpkidProcess(
                    ["registry", "link", "--config", s.config, "--reader", reader, "--pin-stdin", "--record", "1"],
                    stdin: Data("9876\n".utf8))
                #expect(r.status == 1)
                #expect(r.stderr.contains("verification_failed"))
            }
        }
        let store = try SQLiteRegistry(path: s.sqlite)
        let entries = try await store.list()
        #expect(entries.count == 1)
        #expect(
            Set(entries.first?.cards ?? []) == [
                try CardKey(issuerKeyID: fixtureAuthKeyID, serial: "1001", issuer: fixtureAuthIssuer),
                try CardKey(issuerKeyID: fixtureAuthKeyID, serial: "1011", issuer: fixtureAuthIssuer),
                try CardKey(issuerKeyID: fixtureAuthKeyID, serial: "1141", issuer: fixtureAuthIssuer),
                try CardKey(
                    authCertificateDER: Array(
                        try Data(
                            contentsOf: packageRoot.appendingPathComponent(
                                "apdu-fixtures/cards/30-ecdsa-p384-standin/jpki/000A.der"))), anchors: []),
            ])
        #expect(
            Dictionary(grouping: entries.first?.credentials ?? [], by: { $0.kind?.rawValue ?? "-" }).mapValues(\.count)
                == ["card": 3, "android-phone": 1])
        let lines = try auditLines(s)
        let links = lines.filter { ($0["operation"] as? String) == "registry-link" }
        #expect(
            links.compactMap { $0["outcome"] as? String } == [
                "ok", "wrong_pin", "ok", "ok", "ok", "verification_failed",
            ])
        #expect(
            links.filter { $0["outcome"] as? String == "ok" }.map { $0["credentialKind"] as? String } == [
                "card", "card", "android-phone", "card",
            ])
        let raw = try String(contentsOfFile: s.audit, encoding: .utf8)
        for secret in ["1234", "9876", "山田", "1980-02-17"] {
            #expect(!raw.contains("\"\(secret)\"") && !raw.contains(secret + "\n"))
        }
        #expect(!raw.contains("山田"))
    }

    /// Inserts a fixture card into slot 0 for `body`, then removes it.
    func withCard(_ name: String, _ body: () async throws -> Void) async throws {
        // The lock's previous holder may have restarted pcscd: wait until vpcd listens again.
        let port = TestBench.slots[0].port
        let listening = await TestBench.waitUntil(timeout: .seconds(30)) { TestBench.vpcdListening(port: port) }
        #expect(listening, "vpcd is not listening on \(port)")
        let bridge = VPCDBridge(card: try VirtualMyNumberCard.fixture(name), port: port)
        try bridge.start()
        do {
            let present = try await TestBench.waitUntil(timeout: .seconds(10)) {
                let ctx = try await PCSCContext.establish()
                let states = try await ctx.readerStates()
                await ctx.release()
                return states.contains { $0.name == TestBench.slots[0].readerName && $0.cardPresent }
            }
            #expect(present, "the simulated card did not appear in pcscd")
            try await body()
        } catch {
            bridge.stop()
            bridge.waitUntilStopped()
            throw error
        }
        bridge.stop()
        bridge.waitUntilStopped()
        _ = try await TestBench.waitUntil(timeout: .seconds(10)) {
            let ctx = try await PCSCContext.establish()
            let states = try await ctx.readerStates()
            await ctx.release()
            return !states.contains { $0.name == TestBench.slots[0].readerName && $0.cardPresent }
        }
    }
}
