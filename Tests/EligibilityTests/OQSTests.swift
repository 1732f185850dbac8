import Eligibility
import Foundation
import OQSFakeTerminal
import TestBench
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The `oqs` provider against the fake terminal (its fixture rules are keyed by 番号).
@Suite("OQS terminal bridge")
struct OQSTests {
    static let institution = "1311111111"
    let key = try! CardKey(issuerKeyID: fixtureAuthKeyID, serial: "1001", issuer: fixtureAuthIssuer)
    let day = date("2026-11-30")

    static func fixture() throws -> FakeOQSTerminal.Fixture {
        try FakeOQSTerminal.fixture(packageRoot.appendingPathComponent("apdu-fixtures/oqs/terminal.json").path)
    }

    /// A registry whose card `key` is linked to a record with 番号 `number`, a fake terminal on a
    /// fresh folder, and the provider.
    static func setUp(
        number: String, pickup: Double = 2, answer: Double = 3, rules: [String: FakeOQSTerminal.Rule]? = nil
    ) async throws -> (OQSEligibilityProvider, FakeOQSTerminal, String) {
        let dir = try temporaryDirectory("oqs")
        let folder = dir.appendingPathComponent("share").path
        let f = try fixture()
        let fake = try FakeOQSTerminal(
            folder: folder, rules: rules ?? f.rules, default: f.default ?? .init(validity: "4"))
        var cfg = EligibilityConfiguration()
        cfg.provider = .oqs
        cfg.sqlitePath = dir.appendingPathComponent("registry.sqlite").path
        var o = EligibilityConfiguration.OQS()
        o.folder = folder
        o.medicalInstitutionCode = institution
        o.pickupTimeoutSeconds = pickup
        o.answerTimeoutSeconds = answer
        cfg.oqs = o
        #expect(cfg.problems().isEmpty)
        let store = try await cfg.makeStore()
        let id = try await store.upsert(sampleRecord(number: number))
        try await store.link(
            try CardKey(issuerKeyID: fixtureAuthKeyID, serial: "1001", issuer: fixtureAuthIssuer), recordID: id,
            replace: false)
        let provider = try #require(try await cfg.makeProvider() as? OQSEligibilityProvider)
        return (provider, fake, folder)
    }

    static func code(_ body: () async throws -> Void) async -> String? {
        do {
            try await body()
            return nil
        } catch let e as EligibilityError {
            return e.code
        } catch {
            return "\(error)"
        }
    }

    @Test(
        "each 資格有効性 code maps to its status",
        arguments: [
            ("1001", EligibilityStatus.eligible, true), ("2002", .notEligible, true),
            ("3003", .newQualificationExists, true), ("4004", .notEligible, false), ("5005", .multiple, false),
        ])
    func validityCodes(_ number: String, _ status: EligibilityStatus, _ hasRecord: Bool) async throws {
        let (provider, fake, _) = try await Self.setUp(number: number)
        defer { fake.stop() }
        let r = try await provider.check(key, on: day)
        await provider.shutdown()
        #expect(r.status == status)
        #expect((r.record != nil) == hasRecord)
        #expect(
            r.terminal?.qualificationValidity
                == ["1001": "1", "2002": "2", "3003": "3", "4004": "4", "5005": "5"][number])
        // The query the terminal saw carries the linked numbers and birth date, with our identifier.
        let q = try #require(fake.received.first)
        #expect(q.number == number && q.insurerNumber == "06139991" && q.birthDate == date("1980-02-17"))
        #expect(q.medicalInstitutionCode == Self.institution && q.identifier == r.terminal?.identifier)
        if number == "1001" {
            let rec = try #require(r.record)
            #expect(rec.name == "山田　太郎" && rec.copaymentRatio == 30 && rec.validFrom == date("2024-04-01"))
            #expect(rec.status == .active)
        }
        if number == "2002" { #expect(r.record?.status == .lost && r.record?.validTo == date("2025-03-31")) }
    }

    @Test("a card without a local link is unknown_card and the terminal is not asked")
    func unlinked() async throws {
        let (provider, fake, _) = try await Self.setUp(number: "1001")
        defer { fake.stop() }
        let r = try await provider.check(
            try CardKey(issuerKeyID: fixtureAuthKeyID, serial: "BEEF", issuer: fixtureAuthIssuer), on: day)
        await provider.shutdown()
        #expect(r.status == .unknownCard && fake.received.isEmpty)
    }

    @Test(
        "terminal failures are typed errors with stable codes",
        arguments: [
            ("6006", "oqs_terminal_error"), ("6106", "oqs_terminal_error"), ("7007", "oqs_timeout"),
            ("7107", "oqs_terminal_not_responding"), ("8008", "oqs_malformed_answer"),
            ("8108", "oqs_answer_mismatch"), ("8208", "oqs_answer_mismatch"),
        ])
    func failures(_ number: String, _ code: String) async throws {
        let (provider, fake, folder) = try await Self.setUp(number: number, pickup: 0.3, answer: 1.5)
        defer { fake.stop() }
        let started = ContinuousClock.now
        let got = await Self.code { _ = try await provider.check(key, on: day) }
        let took = ContinuousClock.now - started
        await provider.shutdown()
        #expect(got == code)
        // Nothing of ours is left behind: a request not picked up is withdrawn, answers consumed.
        let left =
            (try FileManager.default.contentsOfDirectory(atPath: folder + "/req"))
            + (try FileManager.default.contentsOfDirectory(atPath: folder + "/res"))
        #expect(left.isEmpty, "\(left)")
        // Not picked up: decided at the pickup limit, well before the answer limit.
        if code == "oqs_terminal_not_responding" { #expect(took < .milliseconds(1400)) }
        if code == "oqs_timeout" { #expect(took >= .milliseconds(1490)) }
    }

    @Test("a slow answer within the limit and a Shift_JIS answer are taken")
    func slowAndShiftJIS() async throws {
        for (number, name) in [("9009", "遅延　四郎"), ("9109", "髙橋　﨑子")] {
            let (provider, fake, _) = try await Self.setUp(number: number)
            let r = try await provider.check(key, on: day)
            await provider.shutdown()
            fake.stop()
            #expect(r.status == .eligible && r.record?.name == name)
        }
    }

    @Test("a missing folder is oqs_folder_missing")
    func missingFolder() async throws {
        let (provider, fake, folder) = try await Self.setUp(number: "1001")
        fake.stop()
        try FileManager.default.removeItem(atPath: folder)
        let got = await Self.code { _ = try await provider.check(key, on: day) }
        await provider.shutdown()
        #expect(got == "oqs_folder_missing")
    }

    @Test("a late answer is discarded and never attached to the next query")
    func lateAnswer() async throws {
        var rules = try Self.fixture().rules
        rules["1001"] = .init(validity: "1", delayMilliseconds: 900, result: ["Name": "遅すぎ　五郎"])
        let (provider, fake, folder) = try await Self.setUp(number: "1001", pickup: 0.3, answer: 0.5, rules: rules)
        defer { fake.stop() }
        #expect(await Self.code { _ = try await provider.check(key, on: day) } == "oqs_timeout")
        // The next query asks for the same patient; the terminal now answers at once with another name.
        fake.setRule(.init(validity: "1", result: ["Name": "山田　太郎"]), forNumber: "1001")
        let r = try await provider.check(key, on: day)
        #expect(r.record?.name == "山田　太郎")
        // The late answer arrives later and is deleted, unconsumed.
        #expect(await TestBench.waitUntil(timeout: .seconds(5)) { provider.terminal.counters.discarded == 1 })
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder + "/res").isEmpty)
        #expect(provider.terminal.counters.delivered == 1)
        await provider.shutdown()
    }

    @Test("what a killed run left is cleaned at start: temporary files, orphan requests, stale answers")
    func crashLeftovers() async throws {
        let dir = try temporaryDirectory("oqs-crash")
        let folder = dir.path
        for d in ["req", "res"] {
            try FileManager.default.createDirectory(atPath: folder + "/" + d, withIntermediateDirectories: true)
        }
        let q = OQSQuery(
            identifier: "JPKID00DEADBEEF00001", medicalInstitutionCode: Self.institution, confirmationDate: day,
            insurerNumber: "06139991", symbol: "記号", number: "1001", branch: "00", birthDate: date("1980-02-17"))
        // Half-written request (killed before rename), a complete orphan request, its stale answer,
        // and another application's answer.
        try Data(q.document.prefix(40)).write(to: URL(fileURLWithPath: folder + "/req/.jpkid-\(q.fileName).tmp"))
        try q.document.write(to: URL(fileURLWithPath: folder + "/req/" + q.fileName))
        let stale = FakeOQSTerminal.answer(for: q, rule: .init(validity: "1"))
        try stale.write(to: URL(fileURLWithPath: folder + "/res/OQSsiquc01res_\(q.identifier).xml"))
        var foreign = q
        foreign.identifier = "ORCA0000000000000001"
        let foreignName = "OQSsiquc01res_\(foreign.identifier).xml"
        try FakeOQSTerminal.answer(for: foreign, rule: .init(validity: "1")).write(
            to: URL(fileURLWithPath: folder + "/res/" + foreignName))
        let terminal = OQSTerminal(configuration: .init(folder: folder, medicalInstitutionCode: Self.institution))
        terminal.start()
        #expect(await TestBench.waitUntil(timeout: .seconds(5)) { terminal.counters.discarded == 1 })
        let c = terminal.counters
        terminal.shutdown()
        #expect(c.temporariesRemoved == 1 && c.withdrawn == 1 && c.delivered == 0)
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder + "/req").isEmpty)
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder + "/res") == [foreignName])
    }

    @Test("requests are written atomically: only the complete file appears under the final name")
    func atomicWrite() throws {
        let dir = try temporaryDirectory("oqs-atomic").path
        let data = Data((0..<100_000).map { UInt8($0 % 251) })
        #expect(OQSTerminal.writeAtomically(data, directory: dir, name: "OQSsiquc01req_X.xml") == nil)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["OQSsiquc01req_X.xml"])
        #expect(try Data(contentsOf: URL(fileURLWithPath: dir + "/OQSsiquc01req_X.xml")) == data)
        // An existing temporary name (another writer, or a leftover) is never overwritten.
        FileManager.default.createFile(atPath: dir + "/.jpkid-Y.xml.tmp", contents: Data("x".utf8))
        #expect(OQSTerminal.writeAtomically(data, directory: dir, name: "Y.xml")?.code == "oqs_io_error")
        #expect(
            OQSTerminal.writeAtomically(data, directory: dir + "/nope", name: "Z.xml")?.code == "oqs_folder_missing")
    }

    @Test("the sample answer parses; bad documents are malformed; DOCTYPEs are refused")
    func parsing() throws {
        let data = try Data(contentsOf: packageRoot.appendingPathComponent("apdu-fixtures/oqs/answer-sample.xml"))
        let a = try OQSAnswer(document: data)
        #expect(a.identifier == "JPKID00SAMPLE0000001" && a.qualificationValidity == "1" && a.results.count == 1)
        let r = try #require(a.results.first)
        #expect(r.insurerNumber == "123456" && r.number == "4260" && r.birthDate == date("2001-03-27"))
        #expect(r.copaymentRatio == 30 && r.referenceNumber == "42" && r.name == "試験　太郎")
        let bad: [String] = [
            "not xml", "<XmlMsg>", "<Other/>", "<XmlMsg><MessageBody/></XmlMsg>",
            "<XmlMsg><MessageHeader/><MessageBody><QualificationValidity>7</QualificationValidity></MessageBody></XmlMsg>",
            "<XmlMsg><MessageHeader><QualificationConfirmationDate>2026-13-01</QualificationConfirmationDate></MessageHeader><MessageBody/></XmlMsg>",
            "<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY a \"aaaa\">]><XmlMsg><MessageHeader/><MessageBody/></XmlMsg>",
        ]
        for b in bad {
            #expect(throws: OQSError.self, "\(b)") { try OQSAnswer(document: Data(b.utf8)) }
        }
        // Inputs that crashed Foundation's XMLParser (fuzz/regressions/oqs-answer) are refused first.
        let crashers: [Data] = [
            Data("<XmlMsg><A".utf8) + Data([0xF0, 0x28]) + Data("></A></XmlMsg>".utf8),
            Data("<?xml<e>20261130</e>".utf8), Data("<XmlMsg><?pi?></XmlMsg>".utf8),
            Data("<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><XmlMsg/>".utf8),
        ]
        for c in crashers { #expect(throws: OQSError.self) { try OQSAnswer(document: c) } }
        #expect(throws: Never.self) {
            try XMLTree.parse(Data("\u{FEFF}<?xml version='1.0' standalone='no' ?>\n<a/>".utf8))
        }
    }

    @Test("Shift_JIS answers are read as code page 932: 髙 and 﨑 survive")
    func shiftJIS() throws {
        #expect(XMLTree.transcode(Data("髙﨑".utf8), from: "UTF-8", to: "CP932") == Data([0xFB, 0xFC, 0xFA, 0xB1]))
        var doc = Data("<?xml version=\"1.0\" encoding=\"Shift_JIS\"?><XmlMsg><Name>".utf8)
        doc += Data([0xFB, 0xFC, 0x8B, 0xB4, 0x81, 0x40, 0xFA, 0xB1, 0x8E, 0x71])  // 髙橋　﨑子
        doc += Data("</Name></XmlMsg>".utf8)
        #expect(try XMLTree.parse(doc).value("Name") == "髙橋　﨑子")
        #expect(throws: XMLTreeError.self) {
            try XMLTree.parse(
                Data("<?xml version=\"1.0\" encoding=\"Shift_JIS\"?><a>".utf8) + Data([0x81]) + Data("</a>".utf8))
        }
    }

    @Test("face results join by 照会番号 only when the record's numbers and birth date agree")
    func faceJoin() async throws {
        var cfg = EligibilityConfiguration()
        cfg.sqlitePath = try temporaryDirectory("oqs-face").appendingPathComponent("r.sqlite").path
        let store = try await cfg.makeStore()
        let id = try await store.upsert(sampleRecord(number: "1001"))
        func result(_ fields: [String: String]) throws -> OQSFaceResult {
            let doc = FakeOQSTerminal.answer(
                for: OQSQuery(
                    identifier: "F", medicalInstitutionCode: Self.institution, confirmationDate: day,
                    insurerNumber: "06139991", symbol: "", number: "1001", branch: "00", birthDate: date("1980-02-17")),
                rule: .init(validity: "1", result: fields))
            return OQSFaceResult(id: "x", file: "f.xml", receivedAt: "now", answer: try OQSAnswer(document: doc))
        }
        let cases: [([String: String], String, Int64?)] = [
            (["ReferenceNumber": String(id)], "joined", id),
            ([:], "no_reference_number", nil),
            (["ReferenceNumber": "999999"], "not_registered", nil),
            (["ReferenceNumber": String(id), "Birthdate": "19800218"], "numbers_differ", nil),
            (["ReferenceNumber": String(id), "InsurerNumber": "06139992"], "numbers_differ", nil),
        ]
        for (fields, join, record) in cases {
            var r = try result(fields)
            await r.join(using: store)
            #expect(r.join == join && r.patient?.recordID == record, "\(fields)")
            #expect(r.status == .eligible)
        }
        await store.shutdown()
    }

    @Test("the 照会番号 registration file carries each record id with its insurance numbers")
    func registrationFile() throws {
        let reg = OQSReferenceRegistration(
            identifier: "JPKID00REG", medicalInstitutionCode: Self.institution,
            entries: [.init(referenceNumber: "7", insurerNumber: "138057", symbol: "記<号>", number: "12", branch: "00")])
        #expect(reg.fileName == "OQSmuimm01req_JPKID00REG.xml")
        let root = try XMLTree.parse(reg.document)
        let info = try #require(root.at(["MessageBody", "ReferenceNumberRegistrationInfo"]))
        #expect(info.value("ReferenceNumber") == "7" && info.child("InsurerNumber")?.text == "  138057")
        #expect(info.value("InsuredCardSymbol") == "記<号>")
    }

    @Test("configuration: the oqs section is required, checked, and unknown keys are refused")
    func configuration() throws {
        let ok = #"{"provider":"oqs","oqs":{"folder":"/srv/oqs","medicalInstitutionCode":"1311111111"}}"#
        let c = try JSONDecoder().decode(EligibilityConfiguration.self, from: Data(ok.utf8))
        #expect(c.problems().isEmpty && c.registryKind == .sqlite && c.oqs?.answerTimeoutSeconds == 30)
        let missing = try JSONDecoder().decode(EligibilityConfiguration.self, from: Data(#"{"provider":"oqs"}"#.utf8))
        #expect(missing.problems().map(\.code) == ["eligibility_config_invalid"])
        let bad = #"{"provider":"oqs","oqs":{"folder":"rel","medicalInstitutionCode":"12","station":"x"}}"#
        #expect(try JSONDecoder().decode(EligibilityConfiguration.self, from: Data(bad.utf8)).problems().count == 3)
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode(
                EligibilityConfiguration.self, from: Data(#"{"oqs":{"folder":"/x","typo":1}}"#.utf8))
        }
    }
}
