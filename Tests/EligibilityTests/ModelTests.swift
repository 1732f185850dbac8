import Eligibility
import Foundation
import JPKIDaemon
import JPKIVerify
import TestBench
import Testing

@Suite("Card keys")
struct CardKeyTests {
    @Test func serialNormalization() throws {
        #expect(try CardKey.normalize(serial: "1001") == "1001")
        #expect(try CardKey.normalize(serial: "0A1B") == "A1B")
        #expect(try CardKey.normalize(serial: "0a:1b") == "A1B")
        #expect(try CardKey.normalize(serial: "serial=00FF") == "FF")
        #expect(try CardKey.normalize(serial: "0x0000") == "0")
        #expect(throws: EligibilityError.invalidKey("serial is not hexadecimal")) {
            try CardKey.normalize(serial: "-1A")
        }
        #expect(throws: EligibilityError.invalidKey("empty serial")) { try CardKey.normalize(serial: " ") }
        #expect(throws: EligibilityError.invalidKey("empty issuer")) {
            try CardKey(issuerKeyID: "0A0B0C0D", serial: "1", issuer: "  ")
        }
        #expect(try CardKey.normalize(keyID: "keyid:0a:0b:0c:0d") == "0A0B0C0D")
        #expect(throws: EligibilityError.invalidKey("issuer key id must be 4 to 64 bytes")) {
            try CardKey.normalize(keyID: "0A0")
        }
    }

    /// The identity is the issuer's key: the DN is a label (same DN, other key = other card).
    @Test func identityIsTheIssuerKey() throws {
        let a = try CardKey(issuerKeyID: "0A0B0C0D", serial: "1", issuer: " O=JPKI,C=JP ")
        #expect(a.issuer == "O=JPKI,C=JP")
        #expect(a == (try CardKey(issuerKeyID: "0a0b0c0d", serial: "01", issuer: "o=other")))
        #expect(a != (try CardKey(issuerKeyID: "0A0B0C0E", serial: "1", issuer: "O=JPKI,C=JP")))
        #expect(a.description == "1@keyid:0A0B0C0D")
    }

    /// The key built from CertificateInfo equals the one openssl prints (what the CSV holds).
    @Test(arguments: [("00-ordinary", "1001"), ("01-kanji-variant", "1011"), ("04-revoked", "1041")])
    func keyFromCertificateMatchesOpenSSL(_ card: String, _ serial: String) throws {
        let path = packageRoot.appendingPathComponent("apdu-fixtures/cards/\(card)/jpki/000A.der")
        let info = try CertificateInfo(der: try Data(contentsOf: path))
        let key = try CardKey(authCertificate: info)
        let out = try runProgram(
            "/usr/bin/openssl",
            [
                "x509", "-inform", "DER", "-in", path.path, "-noout", "-issuer", "-serial", "-nameopt", "RFC2253",
                "-ext", "authorityKeyIdentifier",
            ])
        #expect(out.status == 0)
        let lines = out.stdout.split(separator: "\n").map(String.init)
        let issuer = try #require(lines.first { $0.hasPrefix("issuer=") }).dropFirst("issuer=".count)
        let ser = try #require(lines.first { $0.hasPrefix("serial=") })
        let aki = try #require(lines.firstIndex { $0.contains("Authority Key Identifier") })
        let keyID = lines[aki + 1].trimmingCharacters(in: .whitespaces)
        let expected = try CardKey(issuerKeyID: keyID, serial: ser, issuer: String(issuer))
        #expect(key == expected)
        #expect(key.issuer == expected.issuer)
        #expect(key.serial == serial)
        #expect(key.issuerKeyID == fixtureAuthKeyID)
    }

    /// Without an AKI the key id comes from the one anchor with the issuer DN; with two, none.
    @Test func keyWithoutAKIComesFromTheOneAnchor() throws {
        let g = try SameDNGenerations.make()
        let info = try CertificateInfo(der: g.noAKICard)
        let key = try CardKey(authCertificate: info, anchors: [g.root2023])
        #expect(
            key.issuerKeyID == g.root2023.subjectKeyIdentifier.map { $0.map { String(format: "%02X", $0) }.joined() })
        #expect(throws: EligibilityError.self) {
            try CardKey(authCertificate: info, anchors: [g.root2019, g.root2023])
        }
    }

    @Test func codableValidates() throws {
        let k = try JSONDecoder().decode(
            CardKey.self, from: Data(#"{"issuerKeyID":"0a0b0c0d","issuer":"C=JP","serial":"00ab"}"#.utf8))
        #expect(k.serial == "AB")
        #expect(k.issuerKeyID == "0A0B0C0D")
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode(CardKey.self, from: Data(#"{"issuerKeyID":"0a0b0c0d","serial":"zz"}"#.utf8))
        }
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode(CardKey.self, from: Data(#"{"issuer":"C=JP","serial":"ab"}"#.utf8))
        }
    }
}

@Suite("Dates, records and status")
struct StatusTests {
    @Test func calendarDates() throws {
        #expect(try CalendarDate("2024-02-29").description == "2024-02-29")
        #expect(try CalendarDate("19800217") == CalendarDate("1980-02-17"))
        #expect(throws: EligibilityError.self) { try CalendarDate("2023-02-29") }
        #expect(throws: EligibilityError.self) { try CalendarDate("2023-13-01") }
        #expect(throws: EligibilityError.self) { try CalendarDate("2023-1-01") }
        #expect(try CalendarDate("2023-12-31") < CalendarDate("2024-01-01"))
        // 2026-11-23T03:00:00Z is the same day in both zones.
        let morningUTC = Date(timeIntervalSince1970: 1_795_402_800)
        #expect(
            CalendarDate.today(now: morningUTC) == CalendarDate.today(in: TimeZone(identifier: "UTC")!, now: morningUTC)
        )
        // 2026-11-22T20:00:00Z is already 2026-11-23 in Tokyo.
        let lateUTC = Date(timeIntervalSince1970: 1_795_377_600)
        #expect(CalendarDate.today(in: TimeZone(identifier: "UTC")!, now: lateUTC).description == "2026-11-22")
        #expect(CalendarDate.today(now: lateUTC).description == "2026-11-23")
    }

    @Test func decideRules() {
        let r = sampleRecord(validTo: "2026-03-31")
        #expect(EligibilityStatus.decide(record: nil, on: date("2026-01-01")) == .unknownCard)
        #expect(EligibilityStatus.decide(record: r, on: date("2024-03-31")) == .notEligible, "before validFrom")
        #expect(EligibilityStatus.decide(record: r, on: date("2024-04-01")) == .eligible, "validFrom inclusive")
        #expect(EligibilityStatus.decide(record: r, on: date("2026-03-31")) == .eligible, "validTo inclusive")
        #expect(EligibilityStatus.decide(record: r, on: date("2026-04-01")) == .expired)
        #expect(EligibilityStatus.decide(record: sampleRecord(), on: date("2099-01-01")) == .eligible, "open-ended")
        let lost = sampleRecord(validTo: "2026-03-31", status: .lost)
        #expect(EligibilityStatus.decide(record: lost, on: date("2025-01-01")) == .notEligible)
        #expect(
            EligibilityStatus.decide(record: lost, on: date("2027-01-01")) == .notEligible, "lost wins over expired")
    }

    @Test func stableRawValues() {
        #expect(
            EligibilityStatus.allCases.map(\.rawValue) == [
                "eligible", "not_eligible", "expired", "unknown_card", "verification_failed", "multiple",
                "new_qualification_exists",
            ])
        #expect(EligibilityError.timeout.code == "registry_timeout")
        #expect(EligibilityError.alreadyLinked(recordID: 1).code == "already_linked")
    }

    @Test func resultJSON() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let ok = EligibilityResult.evaluate(record: sampleRecord(), on: date("2026-11-23"))
        let json = String(decoding: try encoder.encode(ok), as: UTF8.self)
        #expect(json.contains(#""status":"eligible""#))
        #expect(json.contains(#""checkedOn":"2026-11-23""#))
        #expect(json.contains(#""birthDate":"1980-02-17""#))
        #expect(json.contains(#""copaymentRatio":30"#))
        #expect(try JSONDecoder().decode(EligibilityResult.self, from: try encoder.encode(ok)) == ok)
        let failed = EligibilityResult.verificationFailed(on: date("2026-11-23"))
        let fjson = String(decoding: try encoder.encode(failed), as: UTF8.self)
        #expect(fjson == #"{"checkedOn":"2026-11-23","status":"verification_failed"}"#)
    }

    @Test func recordValidation() {
        var r = sampleRecord()
        #expect(throws: Never.self) { try r.validate() }
        r.insurerNumber = "1234567"
        #expect(throws: EligibilityError.invalidRecord(field: "insurerNumber", reason: "must be 6 or 8 digits")) {
            try r.validate()
        }
        r = sampleRecord()
        r.branch = "1"
        #expect(throws: EligibilityError.self) { try r.validate() }
        r = sampleRecord(validTo: "2020-01-01")
        #expect(throws: EligibilityError.invalidRecord(field: "validTo", reason: "before validFrom")) {
            try r.validate()
        }
        r = sampleRecord(name: "　 ")
        #expect(throws: EligibilityError.self) { try r.validate() }
    }
}

@Suite("Eligibility configuration")
struct ConfigurationTests {
    @Test func defaultsAndDaemonConfig() throws {
        let cfg = try DaemonConfig.parse(Data("{}".utf8))
        #expect(cfg.eligibility == EligibilityConfiguration())
        #expect(cfg.eligibility.provider == .sqlite)
        #expect(cfg.eligibility.mode == .pin)
        #expect(cfg.eligibility.timeoutSeconds == 5)
        let full = try DaemonConfig.parse(
            Data(
                #"{"eligibility":{"provider":"postgres","postgresURL":"postgres://u:p@db.example:6543/reg","timeoutSeconds":3,"mode":"visual"}}"#
                    .utf8))
        #expect(full.eligibility.provider == .postgres)
        #expect(full.eligibility.mode == .visual)
        #expect(full.eligibility.timeoutSeconds == 3)
    }

    @Test func unknownKeysAndBadValuesRejected() {
        #expect(throws: ConfigError.self) {
            try DaemonConfig.parse(Data(#"{"eligibility":{"provder":"sqlite"}}"#.utf8))
        }
        do {
            _ = try DaemonConfig.parse(Data(#"{"eligibility":{"provder":"sqlite"}}"#.utf8))
        } catch {
            #expect(error.description.contains("eligibility.provder"))
        }
        #expect(throws: ConfigError.self) {
            try DaemonConfig.parse(Data(#"{"eligibility":{"provider":"mysql"}}"#.utf8))
        }
        #expect(throws: ConfigError.self) { try DaemonConfig.parse(Data(#"{"eligibility":{"mode":"face"}}"#.utf8)) }
        #expect(throws: ConfigError.self) {
            try DaemonConfig.parse(Data(#"{"eligibility":{"provider":"postgres"}}"#.utf8))
        }
        #expect(throws: ConfigError.self) {
            try DaemonConfig.parse(Data(#"{"eligibility":{"provider":"http","httpURL":"https://x/y"}}"#.utf8))
        }
        #expect(throws: ConfigError.self) {
            try DaemonConfig.parse(Data(#"{"eligibility":{"timeoutSeconds":0}}"#.utf8))
        }
        #expect(throws: ConfigError.self) { try DaemonConfig.parse(Data(#"{"elegibility":{}}"#.utf8)) }
    }

    @Test func postgresURLs() throws {
        let tcp = try PostgresTarget(url: "postgres://reg:s%40cret@10.0.0.5:6543/registry")
        #expect(tcp.host == "10.0.0.5")
        #expect(tcp.port == 6543)
        #expect(tcp.username == "reg")
        #expect(tcp.password == "s@cret")
        #expect(tcp.database == "registry")
        #expect(tcp.socketPath == nil)
        let sock = try PostgresTarget(url: "postgresql://postgres@/reg?host=/run/postgresql")
        #expect(sock.socketPath == "/run/postgresql/.s.PGSQL.5432")
        #expect(sock.host == nil)
        #expect(throws: EligibilityError.self) { try PostgresTarget(url: "mysql://u@h/db") }
        #expect(throws: EligibilityError.self) { try PostgresTarget(url: "postgres://u@h/") }
        #expect(throws: EligibilityError.self) { try PostgresTarget(url: "postgres://h/db") }
        #expect(throws: EligibilityError.self) { try PostgresTarget(url: "postgres://u@h/db?sslmode=require") }
    }

    @Test func httpIsReadOnly() async throws {
        var c = EligibilityConfiguration()
        c.provider = .http
        c.httpURL = "http://127.0.0.1:9/lookup"
        await #expect(throws: EligibilityError.self) { _ = try await c.makeStore() }
        let p = try await c.makeProvider()
        #expect(p is HTTPEligibilityProvider)
    }
}
