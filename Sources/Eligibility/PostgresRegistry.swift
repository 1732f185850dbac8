import Foundation
import JPKI
import Logging
import PostgresNIO

/// A parsed `postgresURL`: `postgres://USER[:PASSWORD]@HOST[:PORT]/DB` (TCP) or
/// `postgres://USER[:PASSWORD]@/DB?host=/socket/dir[&port=N]` (Unix socket, as libpq's `host=`).
/// TLS is not supported yet: `sslmode` may only be `disable` (use a Unix socket or a trusted LAN).
public struct PostgresTarget: Sendable, Equatable {
    /// Host name / address, or nil for a Unix socket.
    public var host: String?
    /// TCP port, or the socket's port suffix.
    public var port: Int
    /// Unix socket path (`DIR/.s.PGSQL.PORT`), or nil for TCP.
    public var socketPath: String?
    /// User name.
    public var username: String
    /// Password, if any (never logged).
    public var password: String?
    /// Database name.
    public var database: String

    /// Parses a URL; throws ``EligibilityError/configuration(field:reason:)``.
    public init(url text: String) throws(EligibilityError) {
        func bad(_ r: String) -> EligibilityError { .configuration(field: "eligibility.postgresURL", reason: r) }
        guard let c = URLComponents(string: text), let scheme = c.scheme?.lowercased(),
            scheme == "postgres" || scheme == "postgresql"
        else { throw bad("must be postgres://USER@HOST[:PORT]/DB") }
        let query = Dictionary((c.queryItems ?? []).map { ($0.name, $0.value ?? "") }, uniquingKeysWith: { $1 })
        if let mode = query["sslmode"], mode != "disable" { throw bad("TLS is not supported (sslmode=disable only)") }
        guard let user = c.user, !user.isEmpty else { throw bad("a user name is required") }
        username = user.removingPercentEncoding ?? user
        password = c.password.map { $0.removingPercentEncoding ?? $0 }
        let db = c.path.hasPrefix("/") ? String(c.path.dropFirst()) : c.path
        guard !db.isEmpty else { throw bad("a database name is required") }
        database = db
        if let p = query["port"] {
            guard let v = Int(p), (1...65535).contains(v) else { throw bad("bad port") }
            port = v
        } else {
            port = c.port ?? 5432
        }
        if let dir = query["host"], dir.hasPrefix("/") {
            host = nil
            socketPath = dir + "/.s.PGSQL.\(port)"
        } else if let h = c.host, !h.isEmpty {
            host = h
            socketPath = nil
        } else {
            throw bad("a host (or ?host=/socket/dir) is required")
        }
    }

    var clientConfiguration: PostgresClient.Configuration {
        if let socketPath {
            return .init(unixSocketPath: socketPath, username: username, password: password, database: database)
        }
        return .init(
            host: host ?? "localhost", port: port, username: username, password: password, database: database,
            tls: .disable)
    }
}

/// The shared registry on PostgreSQL (several reception PCs): the same schema as SQLite, migrated
/// on start under an advisory lock so that PCs starting together do not race.
public final class PostgresRegistry: RegistryStore {
    private let client: PostgresClient
    private let runner: Task<Void, Never>
    private let timeout: Duration
    private let logger: Logger

    /// Connects (pool) and migrates; throws `registry_unavailable` when the server cannot be
    /// reached within `timeoutSeconds`.
    public init(url: String, timeoutSeconds: Double = 5, logger: Logger = Logger(label: "eligibility.postgres"))
        async throws(EligibilityError)
    {
        let target = try PostgresTarget(url: url)
        var config = target.clientConfiguration
        config.options.connectTimeout = .milliseconds(Int64(timeoutSeconds * 1000))
        config.options.maximumConnections = 4
        config.options.minimumConnections = 0
        let client = PostgresClient(configuration: config, backgroundLogger: logger)
        self.client = client
        self.logger = logger
        self.timeout = .milliseconds(Int64(timeoutSeconds * 1000))
        self.runner = Task { await client.run() }
        do {
            try await migrate()
        } catch {
            runner.cancel()
            if case .timeout = error { throw .unavailable("PostgreSQL did not answer within \(timeoutSeconds) s") }
            throw error
        }
    }

    deinit { runner.cancel() }

    public func shutdown() async {
        runner.cancel()
        await runner.value
    }

    /// Runs `body` with the time limit; maps PostgreSQL errors to stable codes.
    private func run<T: Sendable>(_ body: @escaping @Sendable (PostgresClient) async throws -> T)
        async throws(EligibilityError)
        -> T
    {
        let client = self.client
        let timeout = self.timeout
        do {
            return try await withThrowingTaskGroup(of: T?.self) { group in
                group.addTask { try await body(client) }
                group.addTask {
                    try await Task.sleep(for: timeout)
                    return nil
                }
                defer { group.cancelAll() }
                guard let first = try await group.next(), let value = first else { throw EligibilityError.timeout }
                return value
            }
        } catch {
            throw Self.map(error)
        }
    }

    static func map(_ error: any Error) -> EligibilityError {
        if let e = error as? EligibilityError { return e }
        if let e = error as? PostgresTransactionError {
            if let inner = e.closureError { return map(inner) }
            if let inner = e.beginError { return map(inner) }
            if let inner = e.commitError { return map(inner) }
            return .backend("transaction failed")
        }
        if let e = error as? PSQLError {
            if let server = e.serverInfo, let message = server[.message] {
                let code = server[.sqlState] ?? "?"
                return .backend("PostgreSQL \(code): \(message)")
            }
            return .unavailable("PostgreSQL: \(e.code)")
        }
        if error is CancellationError { return .timeout }
        return .unavailable("\(error)")
    }

    private func migrate() async throws(EligibilityError) {
        let logger = self.logger
        try await run { client in
            try await client.withTransaction(logger: logger) { conn in
                try await conn.query("SELECT pg_advisory_xact_lock(727274001)", logger: logger)
                try await conn.query(
                    "CREATE TABLE IF NOT EXISTS eligibility_migrations (id TEXT PRIMARY KEY, applied_at TEXT NOT NULL)",
                    logger: logger)
                var applied: Set<String> = []
                for try await id in try await conn.query("SELECT id FROM eligibility_migrations", logger: logger)
                    .decode(String.self)
                {
                    applied.insert(id)
                }
                for m in RegistrySchema.migrations where !applied.contains(m.id) {
                    for sql in m.postgres { try await conn.query(PostgresQuery(unsafeSQL: sql), logger: logger) }
                    try await conn.query(
                        "INSERT INTO eligibility_migrations (id, applied_at) VALUES (\(m.id), \(RegistrySchema.now()))",
                        logger: logger)
                }
            }
        }
    }

    typealias RecordColumns = (
        Int64, String, String, String, String, String, String?, String, Int, String, String?, String
    )

    static let recordColumns =
        "r.id, r.insurer_number, r.symbol, r.number, r.branch, r.name, r.name_kana, r.birth_date, r.copayment_ratio, r.valid_from, r.valid_to, r.status"

    static func record(_ c: RecordColumns) throws -> (Int64, InsuranceRecord) {
        (
            c.0,
            InsuranceRecord(
                insurerNumber: c.1, symbol: c.2, number: c.3, branch: c.4, name: c.5, nameKana: c.6,
                birthDate: try CalendarDate(c.7), copaymentRatio: c.8, validFrom: try CalendarDate(c.9),
                validTo: try c.10.map { v throws(EligibilityError) in try CalendarDate(v) },
                status: InsuranceRecord.Status(rawValue: c.11) ?? .lost)
        )
    }

    public func record(for key: CardKey) async throws(EligibilityError) -> InsuranceRecord? {
        let logger = self.logger
        return try await run { client in
            let rows = try await client.query(
                """
                SELECT \(unescaped: Self.recordColumns) FROM card_links l JOIN insurance_records r ON r.id = l.record_id
                WHERE l.issuer_key_id = \(key.issuerKeyID) AND l.serial = \(key.serial)
                """, logger: logger)
            for try await c in rows.decode(RecordColumns.self) { return try Self.record(c).1 }
            // A v1 link no single anchor resolved (see SQLiteRegistry.record(for:)).
            for try await n in try await client.query(
                """
                SELECT count(*) FROM card_links WHERE issuer_key_id IS NULL AND serial = \(key.serial)
                  AND (\(key.issuer)::text IS NULL OR issuer = \(key.issuer))
                """, logger: logger
            ).decode(Int64.self) where n > 0 {
                throw EligibilityError.relinkRequired("card \(key)")
            }
            return nil
        }
    }

    public func upsert(_ record: InsuranceRecord) async throws(EligibilityError) -> Int64 {
        try record.validate()
        let logger = self.logger
        return try await run { client in
            let rows = try await client.query(
                """
                INSERT INTO insurance_records (insurer_number, symbol, number, branch, name, name_kana,
                  birth_date, copayment_ratio, valid_from, valid_to, status, updated_at)
                VALUES (\(record.insurerNumber), \(record.symbol), \(record.number), \(record.branch), \(record.name),
                  \(record.nameKana), \(record.birthDate.description), \(Int32(record.copaymentRatio)),
                  \(record.validFrom.description), \(record.validTo?.description), \(record.status.rawValue),
                  \(RegistrySchema.now()))
                ON CONFLICT (insurer_number, symbol, number, branch) DO UPDATE SET
                  name = excluded.name, name_kana = excluded.name_kana, birth_date = excluded.birth_date,
                  copayment_ratio = excluded.copayment_ratio, valid_from = excluded.valid_from,
                  valid_to = excluded.valid_to, status = excluded.status, updated_at = excluded.updated_at
                RETURNING id
                """, logger: logger)
            for try await id in rows.decode(Int64.self) { return id }
            throw EligibilityError.backend("upsert returned no id")
        }
    }

    public func link(_ key: CardKey, kind: CredentialKind?, recordID: Int64, replace: Bool)
        async throws(EligibilityError)
    {
        let logger = self.logger
        try await run { client in
            try await client.withTransaction(logger: logger) { conn in
                if let other = try await Self.link(conn, key, kind: kind, recordID, replace: replace, logger: logger) {
                    throw EligibilityError.alreadyLinked(recordID: other)
                }
            }
        }
    }

    /// Adds (or moves) one credential's link in `conn`'s transaction, the record's other links
    /// staying; returns the other record when refused (linked elsewhere, no replace).
    static func link(
        _ conn: PostgresConnection, _ key: CardKey, kind: CredentialKind?, _ id: Int64, replace: Bool, logger: Logger
    ) async throws -> Int64? {
        var exists = false
        for try await _ in try await conn.query(
            "SELECT id FROM insurance_records WHERE id = \(id) FOR UPDATE", logger: logger
        ).decode(Int64.self) { exists = true }
        guard exists else { throw EligibilityError.notFound("record \(id)") }
        var existing: Int64?
        for try await e in try await conn.query(
            "SELECT record_id FROM card_links WHERE issuer_key_id = \(key.issuerKeyID) AND serial = \(key.serial) FOR UPDATE",
            logger: logger
        ).decode(Int64.self) { existing = e }
        if let existing, existing != id, !replace { return existing }
        let kindCode = kind?.rawValue
        if existing == nil {
            try await conn.query(
                """
                INSERT INTO card_links (issuer_key_id, serial, issuer, record_id, linked_at, kind)
                VALUES (\(key.issuerKeyID), \(key.serial), \(key.issuer), \(id), \(RegistrySchema.now()), \(kindCode))
                """,
                logger: logger)
        } else if existing != id {
            try await conn.query(
                """
                UPDATE card_links SET record_id = \(id), linked_at = \(RegistrySchema.now()),
                  kind = COALESCE(\(kindCode)::text, kind)
                WHERE issuer_key_id = \(key.issuerKeyID) AND serial = \(key.serial)
                """,
                logger: logger)
        } else if let kindCode {
            // The same link again: it stays, and learns its kind.
            try await conn.query(
                "UPDATE card_links SET kind = \(kindCode) WHERE issuer_key_id = \(key.issuerKeyID) AND serial = \(key.serial)",
                logger: logger)
        }
        if let issuer = key.issuer {
            try await conn.query(
                "DELETE FROM card_links WHERE issuer_key_id IS NULL AND issuer = \(issuer) AND serial = \(key.serial) AND record_id = \(id)",
                logger: logger)
        }
        return nil
    }

    @discardableResult
    public func unlink(_ key: CardKey) async throws(EligibilityError) -> Int64 {
        let logger = self.logger
        return try await run { client in
            let rows = try await client.query(
                "DELETE FROM card_links WHERE issuer_key_id = \(key.issuerKeyID) AND serial = \(key.serial) RETURNING record_id",
                logger: logger)
            for try await id in rows.decode(Int64.self) { return id }
            throw EligibilityError.notFound(RegistrySchema.noSuchCredential(key))
        }
    }

    public func apply(
        _ changes: [RegistryChange], beforeCommit: @escaping @Sendable ([RegistryChangeOutcome]) throws -> Void
    ) async throws(EligibilityError) -> [RegistryChangeOutcome] {
        for c in changes { try c.validate() }
        let logger = self.logger
        // One transaction on one connection, without the lookup time limit (an import of many
        // rows takes as long as it takes); killed before COMMIT, PostgreSQL rolls it back.
        do {
            return try await client.withTransaction(logger: logger) { conn in
                var out: [RegistryChangeOutcome] = []
                var last: Int64?
                for c in changes {
                    switch c {
                    case .upsert(let record):
                        var id: Int64?
                        for try await v in try await conn.query(
                            """
                            INSERT INTO insurance_records (insurer_number, symbol, number, branch, name, name_kana,
                              birth_date, copayment_ratio, valid_from, valid_to, status, updated_at)
                            VALUES (\(record.insurerNumber), \(record.symbol), \(record.number), \(record.branch), \(record.name),
                              \(record.nameKana), \(record.birthDate.description), \(Int32(record.copaymentRatio)),
                              \(record.validFrom.description), \(record.validTo?.description), \(record.status.rawValue),
                              \(RegistrySchema.now()))
                            ON CONFLICT (insurer_number, symbol, number, branch) DO UPDATE SET
                              name = excluded.name, name_kana = excluded.name_kana, birth_date = excluded.birth_date,
                              copayment_ratio = excluded.copayment_ratio, valid_from = excluded.valid_from,
                              valid_to = excluded.valid_to, status = excluded.status, updated_at = excluded.updated_at
                            RETURNING id
                            """, logger: logger
                        ).decode(Int64.self) { id = v }
                        guard let id else { throw EligibilityError.backend("upsert returned no id") }
                        last = id
                        out.append(.saved(recordID: id))
                    case .link(let key, let recordID, let replace, let kind):
                        guard let id = recordID ?? last else { throw EligibilityError.notFound("no record to link to") }
                        if let other = try await Self.link(
                            conn, key, kind: kind, id, replace: replace, logger: logger)
                        {
                            out.append(.linkRefused(key, recordID: id, linkedTo: other))
                            continue
                        }
                        out.append(.linked(key, recordID: id))
                    case .unlink(let key):
                        var id: Int64?
                        for try await v in try await conn.query(
                            "DELETE FROM card_links WHERE issuer_key_id = \(key.issuerKeyID) AND serial = \(key.serial) RETURNING record_id",
                            logger: logger
                        ).decode(Int64.self) { id = v }
                        guard let id else { throw EligibilityError.notFound(RegistrySchema.noSuchCredential(key)) }
                        var left = 0
                        for try await n in try await conn.query(
                            "SELECT count(*) FROM card_links WHERE record_id = \(id)", logger: logger
                        ).decode(Int64.self) { left = Int(n) }
                        out.append(.unlinked(key, recordID: id, remaining: left))
                    }
                }
                // The audit write blocks (fsync): run it off the cooperative pool.
                let result = out
                try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
                    DispatchQueue.global().async {
                        do {
                            try beforeCommit(result)
                            c.resume()
                        } catch {
                            c.resume(throwing: EligibilityError.unavailable("\(error)"))
                        }
                    }
                }
                return out
            }
        } catch {
            throw Self.map(error)
        }
    }

    public func list() async throws(EligibilityError) -> [RegistryEntry] {
        let logger = self.logger
        return try await run { client in
            var credentials: [Int64: [Credential]] = [:]
            for try await c in try await client.query(
                "SELECT \(unescaped: Self.credentialColumns) FROM card_links WHERE issuer_key_id IS NOT NULL ORDER BY \(unescaped: Self.credentialOrder)",
                logger: logger
            ).decode(CredentialColumns.self) {
                credentials[c.0, default: []].append(try Self.credential(c))
            }
            var out: [RegistryEntry] = []
            for try await c in try await client.query(
                "SELECT \(unescaped: Self.recordColumns) FROM insurance_records r ORDER BY r.id", logger: logger
            ).decode(RecordColumns.self) {
                let (id, record) = try Self.record(c)
                out.append(RegistryEntry(id: id, record: record, credentials: credentials[id] ?? []))
            }
            return out
        }
    }

    public func entry(id: Int64) async throws(EligibilityError) -> RegistryEntry? {
        let logger = self.logger
        return try await run { client in
            var found: (Int64, InsuranceRecord)?
            for try await c in try await client.query(
                "SELECT \(unescaped: Self.recordColumns) FROM insurance_records r WHERE r.id = \(id)", logger: logger
            ).decode(RecordColumns.self) { found = try Self.record(c) }
            guard let found else { return nil }
            var credentials: [Credential] = []
            for try await c in try await client.query(
                "SELECT \(unescaped: Self.credentialColumns) FROM card_links WHERE record_id = \(id) AND issuer_key_id IS NOT NULL ORDER BY \(unescaped: Self.credentialOrder)",
                logger: logger
            ).decode(CredentialColumns.self) {
                credentials.append(try Self.credential(c))
            }
            return RegistryEntry(id: found.0, record: found.1, credentials: credentials)
        }
    }

    typealias CredentialColumns = (Int64, String, String?, String, String?, String)
    static let credentialColumns = SQLiteRegistry.credentialColumns
    static let credentialOrder = SQLiteRegistry.credentialOrder

    static func credential(_ c: CredentialColumns) throws -> Credential {
        Credential(
            key: try CardKey(issuerKeyID: c.1, serial: c.3, issuer: c.2),
            kind: c.4.flatMap(CredentialKind.init(rawValue:)), linkedAt: c.5)
    }

    static func legacy(_ conn: PostgresConnection, logger: Logger) async throws -> [LegacyCardLink] {
        var out: [LegacyCardLink] = []
        for try await (issuer, serial, id) in try await conn.query(
            "SELECT issuer, serial, record_id FROM card_links WHERE issuer_key_id IS NULL ORDER BY issuer, serial",
            logger: logger
        ).decode((String, String, Int64).self) {
            out.append(LegacyCardLink(issuer: issuer, serial: serial, recordID: id))
        }
        return out
    }

    public func legacyLinks() async throws(EligibilityError) -> [LegacyCardLink] {
        let logger = self.logger
        return try await run { client in
            try await client.withConnection { conn in try await Self.legacy(conn, logger: logger) }
        }
    }

    @discardableResult
    public func resolveLegacyLinks(anchors: [String: [String]]) async throws(EligibilityError) -> [LegacyCardLink] {
        let normalized = try RegistrySchema.normalize(anchors: anchors)
        let logger = self.logger
        return try await run { client in
            try await client.withTransaction(logger: logger) { conn in
                var left: [LegacyCardLink] = []
                for var l in try await Self.legacy(conn, logger: logger) {
                    let ids = normalized[l.issuer] ?? []
                    l.matchingAnchors = ids.count
                    guard ids.count == 1, let id = ids.first else {
                        left.append(l)
                        continue
                    }
                    var existing: Int64?
                    for try await e in try await conn.query(
                        "SELECT record_id FROM card_links WHERE issuer_key_id = \(id) AND serial = \(l.serial) FOR UPDATE",
                        logger: logger
                    ).decode(Int64.self) { existing = e }
                    if let existing {
                        if existing == l.recordID {
                            try await conn.query(
                                "DELETE FROM card_links WHERE issuer_key_id IS NULL AND issuer = \(l.issuer) AND serial = \(l.serial)",
                                logger: logger)
                        } else {
                            left.append(l)
                        }
                        continue
                    }
                    try await conn.query(
                        "UPDATE card_links SET issuer_key_id = \(id) WHERE issuer_key_id IS NULL AND issuer = \(l.issuer) AND serial = \(l.serial)",
                        logger: logger)
                }
                return left
            }
        }
    }
}
