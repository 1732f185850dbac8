import Eligibility
import Foundation
import JPKI
import Testing

/// Several credentials per person (issue 16): a record links a card, a phone and a renewed card;
/// each finds the same record, and removing one leaves the others.
extension ProviderTests {
    /// A phone's auth certificate: its own serial under the same issuer key (test-made key; the
    /// phone fixtures come with issue 16's simulated phones).
    var phoneKey: CardKey { try! CardKey(issuerKeyID: fixtureAuthKeyID, serial: "7A01", issuer: fixtureAuthIssuer) }

    @Test(arguments: Backend.allCases)
    func severalCredentialsFindOneRecord(_ backend: Backend) async throws {
        let store = try await backend.makeStore()
        defer { Task { await store.shutdown() } }
        let person = try await store.upsert(sampleRecord(number: "1"))
        let other = try await store.upsert(sampleRecord(number: "2", name: "佐藤　花子"))
        try await store.link(key, kind: .card, recordID: person, replace: false)
        // A second credential is added, not a replacement of the first.
        try await store.link(phoneKey, kind: .androidPhone, recordID: person, replace: false)
        try await store.link(otherKey, recordID: person, replace: false)
        for k in [key, phoneKey, otherKey] {
            #expect(try await store.record(for: k)?.number == "1", "\(k)")
            #expect(try await store.check(k, on: date("2026-11-23")).status == .eligible)
        }
        let entry = try #require(try await store.entry(id: person))
        #expect(Set(entry.cards) == [key, phoneKey, otherKey])
        #expect(
            Dictionary(uniqueKeysWithValues: entry.credentials.map { ($0.key, $0.kind) }) == [
                key: .card, phoneKey: .androidPhone, otherKey: nil,
            ])
        #expect(entry.credentials.allSatisfy { !$0.linkedAt.isEmpty })
        #expect(try await store.list().first { $0.id == other }?.credentials == [])
        // Linking the same key again keeps one link and learns its kind.
        try await store.link(otherKey, kind: .card, recordID: person, replace: false)
        #expect(try await store.entry(id: person)?.credentials.first { $0.key == otherKey }?.kind == .card)
        #expect(try await store.entry(id: person)?.credentials.count == 3)
        // A key is one person's: another record is refused, the links stay.
        await #expect(throws: EligibilityError.alreadyLinked(recordID: person)) {
            try await store.link(phoneKey, kind: .androidPhone, recordID: other, replace: false)
        }

        // Unlink one: the record keeps the others and says how many are left.
        let out = try await store.apply([.unlink(phoneKey)]) { _ in }
        #expect(out == [.unlinked(phoneKey, recordID: person, remaining: 2)])
        #expect(try await store.record(for: phoneKey) == nil)
        #expect(try await store.record(for: key)?.number == "1")
        #expect(try await store.record(for: otherKey)?.number == "1")
        // Unlink an unknown key: refused, nothing changed, a message that names the key.
        do {
            _ = try await store.apply([.unlink(key), .unlink(phoneKey)]) { _ in }
            Issue.record("unlinking an unknown key succeeded")
        } catch {
            #expect(error.code == "not_found")
            #expect("\(error)".contains("no credential with key \(phoneKey)"), "\(error)")
        }
        #expect(try await store.record(for: key)?.number == "1", "the refused change was rolled back")
        // The last credential: the record stays, found by no key.
        #expect(try await store.apply([.unlink(key)]) { _ in } == [.unlinked(key, recordID: person, remaining: 1)])
        #expect(
            try await store.apply([.unlink(otherKey)]) { _ in } == [.unlinked(otherKey, recordID: person, remaining: 0)]
        )
        #expect(try await store.entry(id: person)?.credentials == [])
        #expect(try await store.entry(id: person)?.record.number == "1")
    }

    /// A registry written before credential kinds (schema v2, links by key) opens and migrates in
    /// place: every existing link is kept as a credential of its record (kind not recorded), and
    /// a phone linked afterwards is added after it.
    @Test(arguments: Backend.allCases)
    func migratesV2LinksToCredentials(_ backend: Backend) async throws {
        var config = try await backend.makeConfiguration()
        config.provider = backend == .sqlite ? .sqlite : .postgres
        let sqlite = backend == .sqlite
        try V1Registry.write(
            config,
            sql: (sqlite ? V2Schema.sqlite : V2Schema.postgres) + [
                """
                INSERT INTO insurance_records (insurer_number, symbol, number, branch, name, birth_date,
                  copayment_ratio, valid_from, status, updated_at)
                  VALUES ('06139991', '', '1', '00', 'A', '1980-02-17', 30, '2024-04-01', 'active', 'x'),
                         ('06139991', '', '2', '00', 'B', '1980-02-17', 30, '2024-04-01', 'active', 'x')
                """,
                """
                INSERT INTO card_links (issuer_key_id, serial, issuer, record_id, linked_at) VALUES
                  ('\(fixtureAuthKeyID)', '1001', NULL, 1, '2025-01-01T00:00:00Z'),
                  ('\(fixtureAuthKeyID)', '1011', NULL, 2, '2025-01-01T00:00:00Z'),
                  ('\(fixtureAuthKeyID)', '1021', NULL, 2, '2025-02-01T00:00:00Z')
                """,
            ])
        let store = try await config.makeStore()
        defer { Task { await store.shutdown() } }
        let k1021 = try CardKey(issuerKeyID: fixtureAuthKeyID, serial: "1021")
        #expect(try await store.record(for: key)?.number == "1")
        #expect(try await store.record(for: otherKey)?.number == "2")
        #expect(try await store.record(for: k1021)?.number == "2")
        let before = try await store.list()
        #expect(before.map { $0.credentials.map(\.key) } == [[key], [otherKey, k1021]])
        #expect(before.flatMap(\.credentials).allSatisfy { $0.kind == nil })
        try await store.link(phoneKey, kind: .iphone, recordID: 1, replace: false)
        let entry = try #require(try await store.entry(id: 1))
        #expect(entry.credentials.map(\.key) == [key, phoneKey], "the existing link stays first")
        #expect(entry.credentials.map(\.kind) == [nil, .iphone])
        #expect(try await store.record(for: phoneKey)?.number == "1")
        #expect(try await store.record(for: key)?.number == "1")
    }

    /// A CSV with one qualification on several rows links each row's credential to that record,
    /// with its kind.
    @Test(arguments: Backend.allCases)
    func csvLinksSeveralCredentials(_ backend: Backend) async throws {
        let store = try await backend.makeStore()
        defer { Task { await store.shutdown() } }
        let csv = """
            issuerKeyID,serial,kind,insurerNumber,symbol,number,branch,name,birthDate,copaymentRatio,validFrom
            \(fixtureAuthKeyID),1001,card,06139991,A,1,00,山田　太郎,1980-02-17,30,2024-04-01
            \(fixtureAuthKeyID),7A01,android-phone,06139991,A,1,00,山田　太郎,1980-02-17,30,2024-04-01
            \(fixtureAuthKeyID),7A02,watch,06139991,A,1,00,山田　太郎,1980-02-17,30,2024-04-01
            ,,card,06139991,A,2,00,山田　花子,1980-02-17,30,2024-04-01
            """
        let report = try await RegistryCSV.importCSV(csv, into: store)
        #expect(report.errors.map(\.line) == [4, 5])
        #expect(report.errors.map(\.column) == ["kind", "kind"])
        #expect(report.recordsSaved == 2 && report.cardsLinked == 2)
        let entries = try await store.list()
        #expect(entries.count == 1)
        let kinds = Dictionary(uniqueKeysWithValues: (entries.first?.credentials ?? []).map { ($0.key, $0.kind) })
        #expect(kinds == [key: .card, phoneKey: .androidPhone])
        #expect(try await store.record(for: phoneKey)?.number == "1")
    }
}

/// The v2 schema (`v2-issuer-key`) as main wrote it before credential kinds, applied on top of
/// ``V1Registry``'s v1 DDL and recorded as applied.
enum V2Schema {
    static let sqlite = [
        """
        CREATE TABLE card_links_v2 (
          issuer_key_id TEXT, serial TEXT NOT NULL, issuer TEXT,
          record_id INTEGER NOT NULL REFERENCES insurance_records(id) ON DELETE CASCADE,
          linked_at TEXT NOT NULL, CHECK (issuer_key_id IS NOT NULL OR issuer IS NOT NULL))
        """,
        "DROP TABLE card_links",
        "ALTER TABLE card_links_v2 RENAME TO card_links",
        "CREATE UNIQUE INDEX card_links_key ON card_links(issuer_key_id, serial) WHERE issuer_key_id IS NOT NULL",
        "CREATE UNIQUE INDEX card_links_legacy ON card_links(issuer, serial) WHERE issuer_key_id IS NULL",
        "CREATE INDEX card_links_record ON card_links(record_id)",
        "INSERT INTO grdb_migrations VALUES ('v2-issuer-key')",
    ]
    static let postgres = [
        "ALTER TABLE card_links ADD COLUMN issuer_key_id TEXT",
        "ALTER TABLE card_links DROP CONSTRAINT card_links_pkey",
        "ALTER TABLE card_links ALTER COLUMN issuer DROP NOT NULL",
        "ALTER TABLE card_links ADD CONSTRAINT card_links_named CHECK (issuer_key_id IS NOT NULL OR issuer IS NOT NULL)",
        "CREATE UNIQUE INDEX card_links_key ON card_links(issuer_key_id, serial) WHERE issuer_key_id IS NOT NULL",
        "CREATE UNIQUE INDEX card_links_legacy ON card_links(issuer, serial) WHERE issuer_key_id IS NULL",
        "INSERT INTO eligibility_migrations VALUES ('v2-issuer-key', 'x')",
    ]
}
