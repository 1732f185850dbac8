import Eligibility
import Foundation
import JPKIVerify
import TestBench
import Testing

/// Two root generations with one DN (as J-LIS's 2019 and 2023 roots) and two auth certificates
/// with the SAME serial, one under each (made with openssl: EC keys, fast), plus one without AKI.
struct SameDNGenerations {
    static let dn =
        "/C=JP/O=jpki-linux fixture/OU=JPKI for user authentication/OU=Japan Agency for Local Authority Information Systems"
    let dir: URL
    let root2019: CertificateInfo
    let root2023: CertificateInfo
    let card2019: Data
    let card2023: Data
    let noAKICard: Data
    var anchorFiles: [String] { ["r2019.pem", "r2023.pem"].map { dir.appendingPathComponent($0).path } }

    static func make() throws -> SameDNGenerations {
        let dir = try temporaryDirectory("generations")
        func openssl(_ args: [String]) throws {
            let r = try runProgram("/usr/bin/openssl", args)
            guard r.status == 0 else { throw TestFailure("openssl \(args.first ?? ""): \(r.stderr)") }
        }
        func p(_ n: String) -> String { dir.appendingPathComponent(n).path }
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
        for g in ["2019", "2023"] {
            try openssl(
                ["req", "-x509"] + ec + [
                    "-keyout", p("r\(g).key"), "-out", p("r\(g).pem"), "-subj", dn, "-days", "3650",
                    "-addext", "subjectKeyIdentifier=hash", "-addext", "basicConstraints=critical,CA:TRUE",
                    "-addext", "keyUsage=critical,keyCertSign,cRLSign",
                ])
        }
        try openssl(["req", "-new"] + ec + ["-keyout", p("ee.key"), "-subj", "/C=JP/CN=test", "-out", p("ee.csr")])
        try Data("authorityKeyIdentifier=keyid\n".utf8).write(to: URL(fileURLWithPath: p("aki.ext")))
        try Data("authorityKeyIdentifier=none\nsubjectKeyIdentifier=none\n".utf8).write(
            to: URL(fileURLWithPath: p("noaki.ext")))
        func issue(_ g: String, _ ext: String, _ out: String) throws -> Data {
            try openssl([
                "x509", "-req", "-in", p("ee.csr"), "-CA", p("r\(g).pem"), "-CAkey", p("r\(g).key"), "-set_serial",
                "0x1001", "-days", "100", "-extfile", p(ext), "-outform", "DER", "-out", p(out),
            ])
            return try Data(contentsOf: URL(fileURLWithPath: p(out)))
        }
        return SameDNGenerations(
            dir: dir,
            root2019: try CertificateInfo(pem: String(contentsOfFile: p("r2019.pem"), encoding: .utf8)),
            root2023: try CertificateInfo(pem: String(contentsOfFile: p("r2023.pem"), encoding: .utf8)),
            card2019: try issue("2019", "aki.ext", "a2019.der"), card2023: try issue("2023", "aki.ext", "a2023.der"),
            noAKICard: try issue("2023", "noaki.ext", "noaki.der"))
    }
}

@Suite("Card keys across root generations with one DN")
struct CardKeyGenerationTests {
    /// Done-when (issue 15): the same serial under two same-DN generations gets two answers.
    @Test(arguments: Backend.allCases)
    func sameSerialTwoGenerationsTwoAnswers(_ backend: Backend) async throws {
        let g = try SameDNGenerations.make()
        let k2019 = try CardKey(authCertificate: try CertificateInfo(der: g.card2019))
        let k2023 = try CardKey(authCertificate: try CertificateInfo(der: g.card2023))
        #expect(k2019.serial == k2023.serial)
        #expect(k2019.issuer == k2023.issuer)
        #expect(k2019 != k2023)
        let store = try await backend.makeStore()
        defer { Task { await store.shutdown() } }
        let active = try await store.upsert(sampleRecord(number: "2019"))
        let lost = try await store.upsert(sampleRecord(number: "2023", status: .lost))
        try await store.link(k2019, recordID: active, replace: false)
        try await store.link(k2023, recordID: lost, replace: false)
        let day = date("2026-11-23")
        #expect(try await store.check(k2019, on: day).status == .eligible)
        #expect(try await store.check(k2023, on: day).status == .notEligible)
        #expect(try await store.record(for: k2019)?.number == "2019")
        #expect(try await store.record(for: k2023)?.number == "2023")
    }

    /// The same with the fixture PKI: card 00 (serial 1001, 2023 root) and pki/extra's
    /// revoked-2015-auth (serial 1001, 2015 root, same DN) are two keys and two answers.
    @Test func fixtureCardsSameSerialTwoGenerations() async throws {
        let pki = packageRoot.appendingPathComponent("apdu-fixtures")
        let card00 = try CardKey(
            authCertificate: try CertificateInfo(
                der: try Data(contentsOf: pki.appendingPathComponent("cards/00-ordinary/jpki/000A.der"))))
        let old = try CardKey(
            authCertificate: try CertificateInfo(
                pem: try String(
                    contentsOf: pki.appendingPathComponent("pki/extra/revoked-2015-auth.pem"), encoding: .utf8)))
        #expect(card00.serial == "1001" && old.serial == "1001" && card00.issuer == old.issuer)
        #expect(card00 != old)
        let store = try await Backend.sqlite.makeStore()
        defer { Task { await store.shutdown() } }
        try await store.link(card00, recordID: try await store.upsert(sampleRecord(number: "A")), replace: false)
        try await store.link(old, recordID: try await store.upsert(sampleRecord(number: "B")), replace: false)
        #expect(try await store.record(for: card00)?.number == "A")
        #expect(try await store.record(for: old)?.number == "B")
    }

    /// The key of a card proof's certificate (DER): the anchors are read only without an AKI,
    /// and bytes that are no certificate are `invalid_card_key`.
    @Test func keyFromProofCertificateDER() throws {
        let s = try SameDNGenerations.make()
        var anchorsRead = 0
        func anchors() -> [CertificateInfo] {
            anchorsRead += 1
            return [s.root2023]
        }
        let withAKI = try CardKey(authCertificateDER: [UInt8](s.card2023), anchors: anchors())
        #expect(withAKI == (try CardKey(authCertificate: try CertificateInfo(der: s.card2023))))
        #expect(anchorsRead == 0)
        let noAKI = try CardKey(authCertificateDER: [UInt8](s.noAKICard), anchors: anchors())
        #expect(anchorsRead == 1)
        #expect(noAKI.issuerKeyID == withAKI.issuerKeyID && noAKI.serial == "1001")
        #expect(
            (#expect(throws: EligibilityError.self) {
                try CardKey(authCertificateDER: [0x30, 0x03, 0x02, 0x01, 0x00], anchors: [])
            })?.code == "invalid_card_key")
    }

    /// A registry written by the v1 schema (DN + serial only) opens, migrates in place, and its
    /// links resolve when one anchor has the DN; links whose DN several anchors share refuse
    /// eligibility with `card_relink_required` until linked again.
    @Test(arguments: Backend.allCases)
    func migratesV1RegistryInPlace(_ backend: Backend) async throws {
        let g = try SameDNGenerations.make()
        let shared = g.root2019.subject.rfc2253
        let unique = "OU=Other root,O=jpki-linux fixture,C=JP"
        let uniqueKey = "0102030405060708090A0B0C0D0E0F1011121314"
        let k2019 = try CardKey(authCertificate: try CertificateInfo(der: g.card2019))
        let k2023 = try CardKey(authCertificate: try CertificateInfo(der: g.card2023))
        var config = try await backend.makeConfiguration()
        config.provider = backend == .sqlite ? .sqlite : .postgres
        try V1Registry.write(
            config,
            sql: [
                """
                INSERT INTO insurance_records (insurer_number, symbol, number, branch, name, birth_date,
                  copayment_ratio, valid_from, status, updated_at)
                  VALUES ('06139991', '', '1', '00', 'A', '1980-02-17', 30, '2024-04-01', 'active', 'x'),
                         ('06139991', '', '2', '00', 'B', '1980-02-17', 30, '2024-04-01', 'active', 'x')
                """,
                "INSERT INTO card_links VALUES ('\(shared.replacingOccurrences(of: "'", with: "''"))', '1001', 1, 'x')",
                "INSERT INTO card_links VALUES ('\(unique)', '2002', 2, 'x')",
            ])
        config.anchorKeyIDs = CardKey.anchorKeyIDs([g.root2019, g.root2023])
        config.anchorKeyIDs[unique] = [uniqueKey]
        let store = try await config.makeStore()
        defer { Task { await store.shutdown() } }
        // Resolved: the one anchor with that DN.
        #expect(try await store.record(for: try CardKey(issuerKeyID: uniqueKey, serial: "2002"))?.number == "2")
        // Ambiguous: both generations' cards with serial 1001 are refused, with a stable code.
        for k in [k2019, k2023] {
            await #expect(throws: EligibilityError.relinkRequired("card \(k)")) { try await store.record(for: k) }
            let code = await #expect(throws: EligibilityError.self) { try await store.check(k) }
            #expect(code?.code == "card_relink_required")
        }
        let legacy = try await store.legacyLinks()
        #expect(legacy.map(\.serial) == ["1001"])
        #expect(try await store.resolveLegacyLinks(anchors: config.anchorKeyIDs).first?.matchingAnchors == 2)
        // Linked again with the card (2023): that link is by key and the legacy row is gone.
        try await store.link(k2023, recordID: 1, replace: false)
        #expect(try await store.legacyLinks().isEmpty)
        #expect(try await store.record(for: k2023)?.number == "1")
        #expect(try await store.record(for: k2019) == nil)
        #expect(try await store.list().first { $0.id == 2 }?.cards.map(\.issuerKeyID) == [uniqueKey])
    }
}

/// Writes a registry with the v1 DDL (as main wrote it before issuer keys), through the
/// databases' own command-line clients, so that the migration meets a real old file.
enum V1Registry {
    static let v1SQLite = [
        """
        CREATE TABLE insurance_records (
          id INTEGER PRIMARY KEY AUTOINCREMENT, insurer_number TEXT NOT NULL, symbol TEXT NOT NULL,
          number TEXT NOT NULL, branch TEXT NOT NULL, name TEXT NOT NULL, name_kana TEXT,
          birth_date TEXT NOT NULL,
          copayment_ratio INTEGER NOT NULL CHECK (copayment_ratio BETWEEN 0 AND 100),
          valid_from TEXT NOT NULL, valid_to TEXT, status TEXT NOT NULL CHECK (status IN ('active', 'lost')),
          updated_at TEXT NOT NULL, UNIQUE (insurer_number, symbol, number, branch))
        """,
        """
        CREATE TABLE card_links (
          issuer TEXT NOT NULL, serial TEXT NOT NULL,
          record_id INTEGER NOT NULL REFERENCES insurance_records(id) ON DELETE CASCADE,
          linked_at TEXT NOT NULL, PRIMARY KEY (issuer, serial))
        """,
        "CREATE INDEX card_links_record ON card_links(record_id)",
        "CREATE TABLE grdb_migrations (identifier TEXT NOT NULL PRIMARY KEY)",
        "INSERT INTO grdb_migrations VALUES ('v1-records-and-links')",
    ]
    static let v1Postgres = [
        """
        CREATE TABLE insurance_records (
          id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, insurer_number TEXT NOT NULL,
          symbol TEXT NOT NULL, number TEXT NOT NULL, branch TEXT NOT NULL, name TEXT NOT NULL, name_kana TEXT,
          birth_date TEXT NOT NULL,
          copayment_ratio INTEGER NOT NULL CHECK (copayment_ratio BETWEEN 0 AND 100),
          valid_from TEXT NOT NULL, valid_to TEXT, status TEXT NOT NULL CHECK (status IN ('active', 'lost')),
          updated_at TEXT NOT NULL, UNIQUE (insurer_number, symbol, number, branch))
        """,
        """
        CREATE TABLE card_links (
          issuer TEXT NOT NULL, serial TEXT NOT NULL,
          record_id BIGINT NOT NULL REFERENCES insurance_records(id) ON DELETE CASCADE,
          linked_at TEXT NOT NULL, PRIMARY KEY (issuer, serial))
        """,
        "CREATE INDEX card_links_record ON card_links(record_id)",
        "CREATE TABLE eligibility_migrations (id TEXT PRIMARY KEY, applied_at TEXT NOT NULL)",
        "INSERT INTO eligibility_migrations VALUES ('v1-records-and-links', 'x')",
    ]

    static func write(_ config: EligibilityConfiguration, sql: [String]) throws {
        let r: ProcessResult
        if config.provider == .postgres {
            let url = try #require(config.postgresURL.flatMap(URLComponents.init(string:)))
            let host = try #require(url.queryItems?.first { $0.name == "host" }?.value)
            let script = (v1Postgres + sql).map { $0 + ";" }.joined(separator: "\n")
            r = try runProgram(
                "/usr/bin/psql",
                [
                    "-h", host, "-U", "postgres", "-d", String(url.path.dropFirst()), "-v", "ON_ERROR_STOP=1", "-q",
                    "-c", script,
                ])
        } else {
            try FileManager.default.createDirectory(
                atPath: (config.sqlitePath as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            let script = (v1SQLite + sql).map { $0 + ";" }.joined(separator: "\n")
            r = try runProgram("/usr/bin/sqlite3", ["-bail", config.sqlitePath], stdin: Data(script.utf8))
        }
        guard r.status == 0 else { throw TestFailure("v1 registry: \(r.stderr)") }
    }
}

extension RegistryCommandTests {
    /// Through jpkid: a CSV with issuerKeyID links the same serial under both generations to two
    /// records; an old-format row (DN only) whose DN both anchors have is refused naming the
    /// column; a v1 link stays legacy, `jpkid registry legacy` lists it, and eligibility for it
    /// is `card_relink_required`.
    @Test func sameSerialTwoGenerationsThroughJpkid() async throws {
        let g = try SameDNGenerations.make()
        let s = try setup(trust: false)
        let dn = g.root2019.subject.rfc2253
        let k2019 = try CardKey(authCertificate: try CertificateInfo(der: g.card2019))
        let k2023 = try CardKey(authCertificate: try CertificateInfo(der: g.card2023))
        let config = s.dir.appendingPathComponent("generations.json").path
        try JSONSerialization.data(withJSONObject: [
            "auditLog": s.audit, "eligibility": ["sqlitePath": s.sqlite], "trust": ["authAnchors": g.anchorFiles],
        ]).write(to: URL(fileURLWithPath: config))
        var sqliteConfig = EligibilityConfiguration()
        sqliteConfig.sqlitePath = s.sqlite
        try V1Registry.write(
            sqliteConfig,
            sql: [
                """
                INSERT INTO insurance_records (insurer_number, symbol, number, branch, name, birth_date,
                  copayment_ratio, valid_from, status, updated_at)
                  VALUES ('06139991', '', '9', '00', 'C', '1980-02-17', 30, '2024-04-01', 'active', 'x')
                """,
                "INSERT INTO card_links VALUES ('\(dn)', '2002', 1, 'x')",
            ])
        let q = "\"\(dn)\""
        let csv = s.dir.appendingPathComponent("gen.csv").path
        try Data(
            """
            issuerKeyID,issuer,serial,insurerNumber,symbol,number,branch,name,birthDate,copaymentRatio,validFrom,status
            \(k2019.issuerKeyID),\(q),1001,06139991,,1,00,A,1980-02-17,30,2024-04-01,active
            \(k2023.issuerKeyID),,1001,06139991,,2,00,B,1980-02-17,30,2024-04-01,lost
            ,\(q),1003,06139991,,3,00,D,1980-02-17,30,2024-04-01,active

            """.utf8
        ).write(to: URL(fileURLWithPath: csv))
        let imp = await jpkid(["registry", "import", csv, "--config", config])
        #expect(imp.status == 1)
        #expect(imp.stdout.contains("line 4, column issuerKeyID: 2 configured anchors share this issuer DN"))
        #expect(imp.stdout.contains("cards linked 2"))
        let store = try SQLiteRegistry(path: s.sqlite)
        defer { Task { await store.shutdown() } }
        let day = date("2026-11-23")
        #expect(try await store.check(k2019, on: day).status == .eligible)
        #expect(try await store.check(k2023, on: day).status == .notEligible)
        let legacy = await jpkid(["registry", "legacy", "--json", "--config", config])
        #expect(legacy.status == 0)
        let links = try JSONDecoder().decode([LegacyCardLink].self, from: Data(legacy.stdout.utf8))
        #expect(links == [LegacyCardLink(issuer: dn, serial: "2002", recordID: 1, matchingAnchors: 2)])
        let k = try CardKey(issuerKeyID: k2023.issuerKeyID, serial: "2002", issuer: dn)
        #expect(
            (await #expect(throws: EligibilityError.self) { try await store.check(k, on: day) })?.code
                == "card_relink_required")
        // Unlink by key id; by DN it is refused (two anchors have it).
        let byDN = await jpkid(["registry", "unlink", "--issuer", dn, "--serial", "1001", "--config", config])
        #expect(byDN.status == 64)
        let byKey = await jpkid([
            "registry", "unlink", "--issuer-key-id", k2019.issuerKeyID, "--serial", "1001", "--config", config,
        ])
        #expect(byKey.status == 0)
        #expect(try await store.record(for: k2019) == nil)
        #expect(try await store.record(for: k2023)?.number == "2")
    }
}
