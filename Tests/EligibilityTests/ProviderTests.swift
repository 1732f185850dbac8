import Eligibility
import Foundation
import JPKIVerify
import TestBench
import Testing

/// The registries under test: the same suite runs against each.
enum Backend: String, CaseIterable, CustomTestStringConvertible {
    case sqlite
    case postgres

    var testDescription: String { rawValue }

    /// A fresh, empty registry.
    func makeStore() async throws -> any RegistryStore {
        var config = EligibilityConfiguration()
        switch self {
        case .sqlite:
            config.provider = .sqlite
            config.sqlitePath = try temporaryDirectory("sqlite").appendingPathComponent("registry.sqlite").path
        case .postgres:
            config.provider = .postgres
            config.postgresURL = try await PostgresCluster.shared.newDatabase()
        }
        return try await config.makeStore()
    }

    /// A configuration pointing at a fresh registry (for reopening the same one).
    func makeConfiguration() async throws -> EligibilityConfiguration {
        var config = EligibilityConfiguration()
        switch self {
        case .sqlite:
            config.sqlitePath = try temporaryDirectory("sqlite").appendingPathComponent("sub/registry.sqlite").path
        case .postgres:
            config.provider = .postgres
            config.postgresURL = try await PostgresCluster.shared.newDatabase()
        }
        return config
    }
}

@Suite("Registry providers (SQLite and PostgreSQL)")
struct ProviderTests {
    let key = try! CardKey(issuerKeyID: fixtureAuthKeyID, serial: "1001", issuer: fixtureAuthIssuer)
    let otherKey = try! CardKey(issuerKeyID: fixtureAuthKeyID, serial: "1011", issuer: fixtureAuthIssuer)

    @Test(arguments: Backend.allCases)
    func emptyRegistryKnowsNoCard(_ backend: Backend) async throws {
        let store = try await backend.makeStore()
        defer { Task { await store.shutdown() } }
        #expect(try await store.record(for: key) == nil)
        #expect(try await store.list().isEmpty)
        #expect(try await store.check(key, on: date("2026-11-23")).status == .unknownCard)
    }

    @Test(arguments: Backend.allCases)
    func upsertLinkLookup(_ backend: Backend) async throws {
        let store = try await backend.makeStore()
        let record = sampleRecord()
        let id = try await store.upsert(record)
        #expect(try await store.record(for: key) == nil, "a record without a link is not found by card")
        try await store.link(key, recordID: id, replace: false)
        #expect(try await store.record(for: key) == record)
        #expect(try await store.record(for: otherKey) == nil)
        // The key is normalized: leading zeros and lower case find the same link.
        #expect(
            try await store.record(
                for: try CardKey(issuerKeyID: fixtureAuthKeyID, serial: "0x001001", issuer: fixtureAuthIssuer))
                == record)
        // A different issuer key with the same serial (and DN) is a different card.
        #expect(
            try await store.record(
                for: try CardKey(issuerKeyID: "0A0B0C0D", serial: "1001", issuer: fixtureAuthIssuer)) == nil)
        let result = try await store.check(key, on: date("2026-11-23"))
        #expect(result.status == .eligible)
        #expect(result.record == record)
        await store.shutdown()
    }

    @Test(arguments: Backend.allCases)
    func upsertUpdatesSameQualification(_ backend: Backend) async throws {
        let store = try await backend.makeStore()
        let id1 = try await store.upsert(sampleRecord())
        let changed = sampleRecord(validTo: "2026-03-31", status: .lost)
        let id2 = try await store.upsert(changed)
        #expect(id1 == id2)
        let id3 = try await store.upsert(sampleRecord(number: "2002"))
        #expect(id3 != id1)
        try await store.link(key, recordID: id1, replace: false)
        #expect(try await store.record(for: key) == changed)
        #expect(try await store.list().map(\.id) == [id1, id3])
        await store.shutdown()
    }

    @Test(arguments: Backend.allCases)
    func fieldsRoundTrip(_ backend: Backend) async throws {
        let store = try await backend.makeStore()
        let r = InsuranceRecord(
            insurerNumber: "141044", symbol: "", number: "ｱ-12", branch: "07", name: "髙橋　﨑邊", nameKana: nil,
            birthDate: date("2000-02-29"), copaymentRatio: 0, validFrom: date("2020-01-01"),
            validTo: date("2030-12-31"), status: .active)
        let id = try await store.upsert(r)
        try await store.link(key, recordID: id, replace: false)
        #expect(try await store.record(for: key) == r)
        let entry = try await store.entry(id: id)
        #expect(entry?.id == id && entry?.record == r && entry?.cards == [key])
        #expect(try await store.entry(id: id + 1000) == nil)
        await store.shutdown()
    }

    @Test(arguments: Backend.allCases)
    func linkRules(_ backend: Backend) async throws {
        let store = try await backend.makeStore()
        let a = try await store.upsert(sampleRecord(number: "1"))
        let b = try await store.upsert(sampleRecord(number: "2"))
        try await store.link(key, recordID: a, replace: false)
        try await store.link(key, recordID: a, replace: false)  // same link again: no-op
        await #expect(throws: EligibilityError.alreadyLinked(recordID: a)) {
            try await store.link(key, recordID: b, replace: false)
        }
        #expect(try await store.record(for: key)?.number == "1", "a refused re-link changes nothing")
        try await store.link(key, recordID: b, replace: true)
        #expect(try await store.record(for: key)?.number == "2")
        await #expect(throws: EligibilityError.notFound("record 999999")) {
            try await store.link(otherKey, recordID: 999_999, replace: false)
        }
        // Two cards (a renewed card) may point at one record.
        try await store.link(otherKey, recordID: b, replace: false)
        let entries = try await store.list()
        #expect(entries.first { $0.id == b }?.cards == [key, otherKey])
        #expect(entries.first { $0.id == a }?.cards == [])
        await store.shutdown()
    }

    @Test(arguments: Backend.allCases)
    func unlink(_ backend: Backend) async throws {
        let store = try await backend.makeStore()
        let id = try await store.upsert(sampleRecord())
        try await store.link(key, recordID: id, replace: false)
        #expect(try await store.unlink(key) == id)
        #expect(try await store.record(for: key) == nil)
        #expect(try await store.entry(id: id) != nil, "unlink keeps the record")
        await #expect(throws: EligibilityError.self) { try await store.unlink(key) }
        do {
            try await store.unlink(key)
        } catch {
            #expect(error.code == "not_found")
        }
        await store.shutdown()
    }

    @Test(arguments: Backend.allCases)
    func invalidRecordRefused(_ backend: Backend) async throws {
        let store = try await backend.makeStore()
        var r = sampleRecord()
        r.copaymentRatio = 25
        await #expect(
            throws: EligibilityError.invalidRecord(field: "copaymentRatio", reason: "must be 0, 10, 20 or 30")
        ) {
            _ = try await store.upsert(r)
        }
        #expect(try await store.list().isEmpty)
        await store.shutdown()
    }

    @Test(arguments: Backend.allCases)
    func reopenKeepsDataAndMigratesOnce(_ backend: Backend) async throws {
        let config = try await backend.makeConfiguration()
        let first = try await config.makeStore()
        let id = try await first.upsert(sampleRecord())
        try await first.link(key, recordID: id, replace: false)
        await first.shutdown()
        let second = try await config.makeStore()
        #expect(try await second.record(for: key) == sampleRecord())
        // The lookup-only provider from the same configuration sees the same data.
        let provider = try await config.makeProvider()
        #expect(try await provider.record(for: key) == sampleRecord())
        await provider.shutdown()
        await second.shutdown()
    }

    /// The demo CSV gives every result kind on the documented day.
    @Test(arguments: Backend.allCases)
    func demoCSVGivesEachResult(_ backend: Backend) async throws {
        let store = try await backend.makeStore()
        let text = try String(
            contentsOf: packageRoot.appendingPathComponent("apdu-fixtures/registry/demo.csv"), encoding: .utf8)
        let report = try await RegistryCSV.importCSV(text, into: store, anchors: fixtureAnchors)
        #expect(report.errors == [])
        #expect(report.rows == 10)
        #expect(report.recordsSaved == 10)
        #expect(report.cardsLinked == 9)
        // Importing again changes nothing (same qualifications, same links).
        let again = try await RegistryCSV.importCSV(text, into: store, anchors: fixtureAnchors)
        #expect(again.errors == [])
        #expect(try await store.list().count == 10)
        let day = date("2026-11-23")
        let expected: [(String, EligibilityStatus)] = [
            ("00-ordinary", .eligible), ("01-kanji-variant", .eligible), ("02-same-name-a", .expired),
            ("03-same-name-b", .notEligible), ("04-revoked", .eligible), ("05-nearly-blocked", .unknownCard),
            ("06-expired-in-grace", .eligible), ("07-expired-past-grace", .eligible),
            ("08-face-auth-card", .eligible), ("09-generation-2015", .eligible),
        ]
        for (card, status) in expected {
            // Each card's own key (its certificate's AKI: cards of three root generations).
            let der = try Data(
                contentsOf: packageRoot.appendingPathComponent("apdu-fixtures/cards/\(card)/jpki/000A.der"))
            let key = try CardKey(authCertificate: try CertificateInfo(der: der))
            #expect(try await store.check(key, on: day).status == status, "card \(card)")
            // The same serial under another generation's key is another card.
            let other = try CardKey(issuerKeyID: "0A0B0C0D", serial: key.serial, issuer: key.issuer)
            #expect(try await store.check(other, on: day).status == .unknownCard)
        }
        await store.shutdown()
    }

    @Test(arguments: Backend.allCases)
    func importReportsBadRowsAndKeepsGoodOnes(_ backend: Backend) async throws {
        let store = try await backend.makeStore()
        let csv = """
            issuer,serial,insurerNumber,symbol,number,branch,name,birthDate,copaymentRatio,validFrom,validTo,status
            "\(fixtureAuthIssuer)",1001,06139991,A,1,00,山田　太郎,1980-02-17,30,2024-04-01,,active
            "\(fixtureAuthIssuer)",10G1,06139991,A,2,00,山田　花子,1980-02-17,30,2024-04-01,,active
            "\(fixtureAuthIssuer)",1011,06139991,A,3,00,山田　次郎,1980-02-30,30,2024-04-01,,active
            "\(fixtureAuthIssuer)",1021,06139991,A,4,00,山田　三郎,1980-02-17,30,2024-04-01,,active
            "\(fixtureAuthIssuer)",1001,06139991,A,5,00,山田　四郎,1980-02-17,30,2024-04-01,,active
            """
        let report = try await RegistryCSV.importCSV(csv, into: store, anchors: fixtureAnchors)
        #expect(report.rows == 5)
        #expect(report.rowsRejected == 2)
        #expect(report.linksRefused == 1)
        #expect(report.recordsSaved == 3)
        #expect(report.cardsLinked == 2)
        #expect(report.errors.map(\.line) == [3, 4, 6])
        #expect(report.errors.map(\.column) == ["serial", "birthDate", "serial"])
        #expect(
            try await store.record(
                for: try CardKey(issuerKeyID: fixtureAuthKeyID, serial: "1001", issuer: fixtureAuthIssuer))?.number
                == "1")
        #expect(
            try await store.record(
                for: try CardKey(issuerKeyID: fixtureAuthKeyID, serial: "1021", issuer: fixtureAuthIssuer))?.number
                == "4")
        await store.shutdown()
    }
}

@Suite("PostgreSQL specifics")
struct PostgresSpecificTests {
    @Test func unreachableServerIsUnavailable() async throws {
        var config = EligibilityConfiguration()
        config.provider = .postgres
        config.postgresURL = "postgres://postgres@/nodb?host=/nonexistent-jpki-dir"
        config.timeoutSeconds = 2
        do {
            let store = try await config.makeStore()
            await store.shutdown()
            Issue.record("connecting to a missing server succeeded")
        } catch {
            #expect(error.code == "registry_unavailable")
        }
    }

    @Test func concurrentStartsMigrateOnce() async throws {
        var config = EligibilityConfiguration()
        config.provider = .postgres
        config.postgresURL = try await PostgresCluster.shared.newDatabase()
        let c = config
        // Several reception PCs starting together: the advisory lock serializes the migration.
        let stores = try await withThrowingTaskGroup(of: (any RegistryStore).self) { group in
            for _ in 0..<4 { group.addTask { try await c.makeStore() } }
            var out: [any RegistryStore] = []
            for try await s in group { out.append(s) }
            return out
        }
        let id = try await stores[0].upsert(sampleRecord())
        let k = try CardKey(issuerKeyID: fixtureAuthKeyID, serial: "1001", issuer: fixtureAuthIssuer)
        try await stores[1].link(k, recordID: id, replace: false)
        #expect(try await stores[3].record(for: k) == sampleRecord())
        for s in stores { await s.shutdown() }
    }
}
