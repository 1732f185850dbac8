import Foundation
import GRDB
import JPKI

/// The embedded registry: one SQLite file (GRDB, WAL mode), created with its schema on first use.
/// The daemon reads it while `jpkid registry` writes; writers wait up to `timeoutSeconds`.
public final class SQLiteRegistry: RegistryStore {
    private let pool: DatabasePool
    /// The file path.
    public let path: String

    /// Opens (creating the file with mode 0640 and its directory if needed) and migrates.
    public init(path: String, timeoutSeconds: Double = 5) throws(EligibilityError) {
        self.path = path
        let dir = (path as NSString).deletingLastPathComponent
        if !dir.isEmpty, !FileManager.default.fileExists(atPath: dir) {
            do {
                try FileManager.default.createDirectory(
                    atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o750])
            } catch {
                throw .unavailable("cannot create directory \(dir): \(error.localizedDescription)")
            }
        }
        // The file holds names and birth dates: not world-readable.
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o640)
        guard fd >= 0 else { throw .unavailable("cannot open \(path): \(String(cString: strerror(errno)))") }
        close(fd)
        var config = Configuration()
        config.busyMode = .timeout(timeoutSeconds)
        config.foreignKeysEnabled = true
        config.label = "eligibility"
        do {
            pool = try DatabasePool(path: path, configuration: config)
            var migrator = DatabaseMigrator()
            for m in RegistrySchema.migrations {
                migrator.registerMigration(m.id) { db in
                    for sql in m.sqlite { try db.execute(sql: sql) }
                }
            }
            try migrator.migrate(pool)
        } catch let e as DatabaseError {
            throw .unavailable("\(path): \(e.message ?? e.description)")
        } catch {
            throw .unavailable("\(path): \(error)")
        }
    }

    private func read<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws(EligibilityError)
        -> T
    {
        do { return try await pool.read(body) } catch { throw Self.map(error) }
    }

    private func write<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws(EligibilityError)
        -> T
    {
        do { return try await pool.write(body) } catch { throw Self.map(error) }
    }

    static func map(_ error: any Error) -> EligibilityError {
        if let e = error as? EligibilityError { return e }
        if let e = error as? DatabaseError {
            if e.resultCode == .SQLITE_BUSY || e.resultCode == .SQLITE_LOCKED { return .timeout }
            return .backend(e.message ?? "sqlite error \(e.resultCode.rawValue)")
        }
        return .backend("\(error)")
    }

    static func record(_ row: Row) throws -> InsuranceRecord {
        let status: String = row["status"]
        let validTo: String? = row["valid_to"]
        return InsuranceRecord(
            insurerNumber: row["insurer_number"], symbol: row["symbol"], number: row["number"],
            branch: row["branch"], name: row["name"], nameKana: row["name_kana"],
            birthDate: try CalendarDate(row["birth_date"] as String), copaymentRatio: row["copayment_ratio"],
            validFrom: try CalendarDate(row["valid_from"] as String),
            validTo: try validTo.map { v throws(EligibilityError) in try CalendarDate(v) },
            status: InsuranceRecord.Status(rawValue: status) ?? .lost)
    }

    public func record(for key: CardKey) async throws(EligibilityError) -> InsuranceRecord? {
        try await read { db in
            let row = try Row.fetchOne(
                db,
                sql: """
                    SELECT r.* FROM card_links l JOIN insurance_records r ON r.id = l.record_id
                    WHERE l.issuer_key_id = ? AND l.serial = ?
                    """, arguments: [key.issuerKeyID, key.serial])
            if let row { return try Self.record(row) }
            // A v1 link with this DN (or, without a DN label, this serial) that no single anchor
            // resolved: it may be this card or a same-serial card of another root generation.
            let legacy =
                try Int.fetchOne(
                    db,
                    sql: """
                        SELECT count(*) FROM card_links WHERE issuer_key_id IS NULL AND serial = ?
                          AND (? IS NULL OR issuer = ?)
                        """, arguments: [key.serial, key.issuer, key.issuer]) ?? 0
            if legacy > 0 { throw EligibilityError.relinkRequired("card \(key)") }
            return nil
        }
    }

    public func upsert(_ record: InsuranceRecord) async throws(EligibilityError) -> Int64 {
        try record.validate()
        return try await write { db in try Self.upsert(db, record) }
    }

    static func upsert(_ db: Database, _ record: InsuranceRecord) throws -> Int64 {
        try db.execute(
            sql: """
                INSERT INTO insurance_records (insurer_number, symbol, number, branch, name, name_kana,
                  birth_date, copayment_ratio, valid_from, valid_to, status, updated_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (insurer_number, symbol, number, branch) DO UPDATE SET
                  name = excluded.name, name_kana = excluded.name_kana, birth_date = excluded.birth_date,
                  copayment_ratio = excluded.copayment_ratio, valid_from = excluded.valid_from,
                  valid_to = excluded.valid_to, status = excluded.status, updated_at = excluded.updated_at
                """,
            arguments: [
                record.insurerNumber, record.symbol, record.number, record.branch, record.name, record.nameKana,
                record.birthDate.description, record.copaymentRatio, record.validFrom.description,
                record.validTo?.description, record.status.rawValue, RegistrySchema.now(),
            ])
        guard
            let id = try Int64.fetchOne(
                db,
                sql:
                    "SELECT id FROM insurance_records WHERE insurer_number = ? AND symbol = ? AND number = ? AND branch = ?",
                arguments: [record.insurerNumber, record.symbol, record.number, record.branch])
        else { throw EligibilityError.backend("upserted record not found") }
        return id
    }

    public func link(_ key: CardKey, kind: CredentialKind?, recordID: Int64, replace: Bool)
        async throws(EligibilityError)
    {
        try await write { db in try Self.link(db, key, kind: kind, recordID: recordID, replace: replace) }
    }

    /// Adds (or moves, with `replace`) one credential's link; the record's other links stay.
    static func link(_ db: Database, _ key: CardKey, kind: CredentialKind?, recordID: Int64, replace: Bool) throws {
        guard try Bool.fetchOne(db, sql: "SELECT 1 FROM insurance_records WHERE id = ?", arguments: [recordID]) != nil
        else { throw EligibilityError.notFound("record \(recordID)") }
        if let existing = try Int64.fetchOne(
            db, sql: "SELECT record_id FROM card_links WHERE issuer_key_id = ? AND serial = ?",
            arguments: [key.issuerKeyID, key.serial])
        {
            if existing == recordID {
                // The same link again: it stays (and learns its kind when one is given).
                if let kind {
                    try db.execute(
                        sql: "UPDATE card_links SET kind = ? WHERE issuer_key_id = ? AND serial = ?",
                        arguments: [kind.rawValue, key.issuerKeyID, key.serial])
                }
                return
            }
            guard replace else { throw EligibilityError.alreadyLinked(recordID: existing) }
            try db.execute(
                sql:
                    "UPDATE card_links SET record_id = ?, linked_at = ?, kind = COALESCE(?, kind) WHERE issuer_key_id = ? AND serial = ?",
                arguments: [recordID, RegistrySchema.now(), kind?.rawValue, key.issuerKeyID, key.serial])
        } else {
            try db.execute(
                sql:
                    "INSERT INTO card_links (issuer_key_id, serial, issuer, record_id, linked_at, kind) VALUES (?, ?, ?, ?, ?, ?)",
                arguments: [key.issuerKeyID, key.serial, key.issuer, recordID, RegistrySchema.now(), kind?.rawValue])
        }
        // A v1 link of this DN and serial to the same record is this link, now by key.
        if let issuer = key.issuer {
            try db.execute(
                sql:
                    "DELETE FROM card_links WHERE issuer_key_id IS NULL AND issuer = ? AND serial = ? AND record_id = ?",
                arguments: [issuer, key.serial, recordID])
        }
    }

    @discardableResult
    public func unlink(_ key: CardKey) async throws(EligibilityError) -> Int64 {
        try await write { db in try Self.unlink(db, key).recordID }
    }

    /// Removes one credential's link: the record it pointed to and how many it has left.
    static func unlink(_ db: Database, _ key: CardKey) throws -> (recordID: Int64, remaining: Int) {
        guard
            let id = try Int64.fetchOne(
                db, sql: "SELECT record_id FROM card_links WHERE issuer_key_id = ? AND serial = ?",
                arguments: [key.issuerKeyID, key.serial])
        else { throw EligibilityError.notFound(RegistrySchema.noSuchCredential(key)) }
        try db.execute(
            sql: "DELETE FROM card_links WHERE issuer_key_id = ? AND serial = ?",
            arguments: [key.issuerKeyID, key.serial])
        let left =
            try Int.fetchOne(db, sql: "SELECT count(*) FROM card_links WHERE record_id = ?", arguments: [id]) ?? 0
        return (id, left)
    }

    public func apply(
        _ changes: [RegistryChange], beforeCommit: @escaping @Sendable ([RegistryChangeOutcome]) throws -> Void
    ) async throws(EligibilityError) -> [RegistryChangeOutcome] {
        for c in changes { try c.validate() }
        // GRDB's write is one transaction: rolled back when the closure throws, or when the
        // process dies before COMMIT (the WAL never holds half of it).
        return try await write { db in
            var out: [RegistryChangeOutcome] = []
            var last: Int64?
            for c in changes {
                switch c {
                case .upsert(let r):
                    let id = try Self.upsert(db, r)
                    last = id
                    out.append(.saved(recordID: id))
                case .link(let key, let recordID, let replace, let kind):
                    guard let id = recordID ?? last else { throw EligibilityError.notFound("no record to link to") }
                    do {
                        try Self.link(db, key, kind: kind, recordID: id, replace: replace)
                        out.append(.linked(key, recordID: id))
                    } catch EligibilityError.alreadyLinked(let other) {
                        out.append(.linkRefused(key, recordID: id, linkedTo: other))
                    }
                case .unlink(let key):
                    let (id, left) = try Self.unlink(db, key)
                    out.append(.unlinked(key, recordID: id, remaining: left))
                }
            }
            do { try beforeCommit(out) } catch { throw EligibilityError.unavailable("\(error)") }
            return out
        }
    }

    public func list() async throws(EligibilityError) -> [RegistryEntry] {
        try await read { db in
            let links = try Row.fetchAll(
                db,
                sql:
                    "SELECT \(Self.credentialColumns) FROM card_links WHERE issuer_key_id IS NOT NULL ORDER BY \(Self.credentialOrder)"
            )
            var credentials: [Int64: [Credential]] = [:]
            for l in links {
                credentials[l["record_id"], default: []].append(try Self.credential(l))
            }
            return try Row.fetchAll(db, sql: "SELECT * FROM insurance_records ORDER BY id").map { row in
                let id: Int64 = row["id"]
                return RegistryEntry(id: id, record: try Self.record(row), credentials: credentials[id] ?? [])
            }
        }
    }

    public func entry(id: Int64) async throws(EligibilityError) -> RegistryEntry? {
        try await read { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT * FROM insurance_records WHERE id = ?", arguments: [id])
            else { return nil }
            let credentials = try Row.fetchAll(
                db,
                sql:
                    "SELECT \(Self.credentialColumns) FROM card_links WHERE record_id = ? AND issuer_key_id IS NOT NULL ORDER BY \(Self.credentialOrder)",
                arguments: [id]
            ).map { l in try Self.credential(l) }
            return RegistryEntry(id: id, record: try Self.record(row), credentials: credentials)
        }
    }

    static let credentialColumns = "record_id, issuer_key_id, issuer, serial, kind, linked_at"
    /// Oldest link first, then by key.
    static let credentialOrder = "linked_at, issuer_key_id, serial"

    static func credential(_ l: Row) throws -> Credential {
        let kind: String? = l["kind"]
        return Credential(
            key: try CardKey(issuerKeyID: l["issuer_key_id"] as String, serial: l["serial"], issuer: l["issuer"]),
            kind: kind.flatMap(CredentialKind.init(rawValue:)), linkedAt: l["linked_at"])
    }

    public func legacyLinks() async throws(EligibilityError) -> [LegacyCardLink] {
        try await read { db in try Self.legacy(db) }
    }

    static func legacy(_ db: Database) throws -> [LegacyCardLink] {
        try Row.fetchAll(
            db,
            sql: "SELECT issuer, serial, record_id FROM card_links WHERE issuer_key_id IS NULL ORDER BY issuer, serial"
        ).map { LegacyCardLink(issuer: $0["issuer"], serial: $0["serial"], recordID: $0["record_id"]) }
    }

    @discardableResult
    public func resolveLegacyLinks(anchors: [String: [String]]) async throws(EligibilityError) -> [LegacyCardLink] {
        let normalized = try RegistrySchema.normalize(anchors: anchors)
        return try await write { db in
            var left: [LegacyCardLink] = []
            for var l in try Self.legacy(db) {
                let ids = normalized[l.issuer] ?? []
                l.matchingAnchors = ids.count
                guard ids.count == 1, let id = ids.first else {
                    left.append(l)
                    continue
                }
                if let existing = try Int64.fetchOne(
                    db, sql: "SELECT record_id FROM card_links WHERE issuer_key_id = ? AND serial = ?",
                    arguments: [id, l.serial])
                {
                    if existing == l.recordID {
                        try db.execute(
                            sql: "DELETE FROM card_links WHERE issuer_key_id IS NULL AND issuer = ? AND serial = ?",
                            arguments: [l.issuer, l.serial])
                    } else {
                        left.append(l)
                    }
                    continue
                }
                try db.execute(
                    sql:
                        "UPDATE card_links SET issuer_key_id = ? WHERE issuer_key_id IS NULL AND issuer = ? AND serial = ?",
                    arguments: [id, l.issuer, l.serial])
            }
            return left
        }
    }
}
