import Foundation
import JPKI

/// CSV import of registry rows.
///
/// Format: UTF-8 (a BOM is ignored), RFC 4180 quoting (issuer DNs contain commas: quote them),
/// lines starting with `#` are comments, blank lines are ignored, the first other line is the
/// header naming the columns (any order):
///
/// | column | required | meaning |
/// |---|---|---|
/// | `issuerKeyID` | with `serial` (or `issuer`) | the auth certificate's authority key identifier (hex, colons allowed: `openssl x509 -noout -ext authorityKeyIdentifier`) |
/// | `issuer` | no (a label; or instead of `issuerKeyID`, see below) | auth certificate issuer DN (RFC 2253, as `openssl x509 -issuer -nameopt RFC2253`) |
/// | `serial` | with `issuerKeyID` or `issuer` | auth certificate serial (hex; normalized, see ``CardKey``) |
/// | `insurerNumber`, `symbol`, `number`, `branch` | yes (`symbol` may be empty) | the qualification |
/// | `name`, `nameKana` | `name` | insured person |
/// | `birthDate`, `validFrom`, `validTo` | not `validTo` | `yyyy-MM-dd` |
/// | `copaymentRatio` | yes | 0, 10, 20 or 30 (percent) |
/// | `status` | no (default `active`) | `active` or `lost` |
/// | `kind` | no | the credential's kind (``CredentialKind``): `card`, `android-phone`, `iphone`, `unknown` |
///
/// Several rows with one qualification and different keys link several credentials (card,
/// phone, renewed card) to that one record.
///
/// A row with `issuerKeyID`/`issuer`/`serial` empty only stores the record (link it later with
/// `jpkid registry link`). Each bad row is reported with its line, column and reason; the valid
/// rows are imported.
///
/// Files written before issuer keys (`issuer`,`serial` without `issuerKeyID`) still import: a
/// row's key id is taken from the configured auth anchors (`anchors`, DN → key ids) when exactly
/// one anchor has its DN; when several do (J-LIS root generations share one DN) or none, the row
/// is rejected with a reason naming the `issuerKeyID` column.
public enum RegistryCSV {
    /// The known columns.
    public static let columns = [
        "issuerKeyID", "issuer", "serial", "insurerNumber", "symbol", "number", "branch", "name", "nameKana",
        "birthDate",
        "copaymentRatio", "validFrom", "validTo", "status", "kind",
    ]
    static let required: Set<String> = [
        "insurerNumber", "symbol", "number", "branch", "name", "birthDate", "copaymentRatio", "validFrom",
    ]

    /// One problem with one row.
    public struct RowError: Error, Codable, Sendable, Equatable, CustomStringConvertible {
        /// Line number in the file (1-based) where the row starts; 0 for the file as a whole.
        public var line: Int
        /// The column concerned, if any.
        public var column: String?
        /// Why (never echoes names or birth dates).
        public var reason: String

        public var description: String {
            "line \(line)" + (column.map { ", column \($0)" } ?? "") + ": \(reason)"
        }
    }

    /// A parsed, valid row.
    public struct Row: Sendable, Equatable {
        /// Line where the row starts.
        public var line: Int
        /// The credential to link, if given.
        public var key: CardKey?
        /// Its kind, when the `kind` column gives it.
        public var kind: CredentialKind? = nil
        /// The record.
        public var record: InsuranceRecord
    }

    /// What an import did.
    public struct Report: Codable, Sendable, Equatable {
        /// Data rows read (excluding header, comments, blank lines).
        public var rows = 0
        /// Records inserted or updated.
        public var recordsSaved = 0
        /// Cards linked (or already linked to the same record).
        public var cardsLinked = 0
        /// Rows not imported at all (bad fields; or every row when the header is bad).
        public var rowsRejected = 0
        /// Rows whose record was saved but whose card link was refused (already linked elsewhere).
        public var linksRefused = 0
        /// The errors, by line.
        public var errors: [RowError] = []
        /// (record id, card key) of every link made, for the audit log.
        public var linked: [LinkedCard] = []
    }

    /// One link made by an import.
    public struct LinkedCard: Codable, Sendable, Equatable {
        /// Record id.
        public var recordID: Int64
        /// Card key.
        public var card: CardKey
    }

    /// Splits CSV text into records with their starting line numbers.
    static func records(_ text: String) throws(RowError) -> [(line: Int, fields: [String])] {
        var out: [(Int, [String])] = []
        var fields: [String] = []
        var field = ""
        var inQuotes = false
        var quotedField = false
        var line = 1
        var rowStart = 1
        var chars = Array(text.unicodeScalars)
        if chars.first == "\u{FEFF}" { chars.removeFirst() }
        var i = 0
        func endRow() {
            fields.append(field)
            let blank = fields.count == 1 && fields[0].trimmingCharacters(in: .whitespaces).isEmpty && !quotedField
            let comment = fields.first?.hasPrefix("#") == true && !quotedField
            if !blank && !comment { out.append((rowStart, fields)) }
            fields = []
            field = ""
            quotedField = false
        }
        while i < chars.count {
            let c = chars[i]
            if inQuotes {
                if c == "\"" {
                    if i + 1 < chars.count && chars[i + 1] == "\"" {
                        field.unicodeScalars.append("\"")
                        i += 1
                    } else {
                        inQuotes = false
                    }
                } else {
                    if c == "\n" { line += 1 }
                    field.unicodeScalars.append(c)
                }
            } else if c == "\"" && field.isEmpty {
                inQuotes = true
                quotedField = true
            } else if c == "," {
                fields.append(field)
                field = ""
            } else if c == "\r" && i + 1 < chars.count && chars[i + 1] == "\n" {
                // CRLF: handled at the LF.
            } else if c == "\n" || c == "\r" {
                endRow()
                line += 1
                rowStart = line
            } else {
                field.unicodeScalars.append(c)
            }
            i += 1
        }
        if inQuotes { throw RowError(line: rowStart, column: nil, reason: "unterminated quoted field") }
        if !field.isEmpty || !fields.isEmpty { endRow() }
        return out
    }

    /// Parses CSV text into valid rows and row errors (nothing is written).
    public static func parse(_ text: String, anchors: [String: [String]] = [:]) -> (
        rows: [Row], errors: [RowError], dataRows: Int
    ) {
        let all: [(line: Int, fields: [String])]
        do { all = try records(text) } catch { return ([], [error], 0) }
        guard let header = all.first else {
            return ([], [RowError(line: 0, column: nil, reason: "no header line")], 0)
        }
        let names = header.fields.map { $0.trimmingCharacters(in: .whitespaces) }
        var errors: [RowError] = []
        for n in names where !columns.contains(n) {
            errors.append(RowError(line: header.line, column: n, reason: "unknown column"))
        }
        for n in columns where names.filter({ $0 == n }).count > 1 {
            errors.append(RowError(line: header.line, column: n, reason: "duplicate column"))
        }
        for n in required.sorted() where !names.contains(n) {
            errors.append(RowError(line: header.line, column: n, reason: "missing column"))
        }
        if (names.contains("issuer") || names.contains("issuerKeyID")) != names.contains("serial") {
            errors.append(
                RowError(line: header.line, column: nil, reason: "serial goes with issuerKeyID (or issuer)"))
        }
        let anchorIDs: [String: [String]]
        do { anchorIDs = try RegistrySchema.normalize(anchors: anchors) } catch {
            return ([], [RowError(line: 0, column: nil, reason: "\(error)")], all.count - 1)
        }
        if !errors.isEmpty { return ([], errors, all.count - 1) }
        var rows: [Row] = []
        for r in all.dropFirst() {
            guard r.fields.count == names.count else {
                errors.append(
                    RowError(line: r.line, column: nil, reason: "\(r.fields.count) fields, header has \(names.count)"))
                continue
            }
            var v: [String: String] = [:]
            for (n, f) in zip(names, r.fields) { v[n] = f.trimmingCharacters(in: .whitespaces) }
            do {
                rows.append(try row(v, line: r.line, anchors: anchorIDs))
            } catch {
                errors.append(error)
            }
        }
        return (rows, errors, all.count - 1)
    }

    static func row(_ v: [String: String], line: Int, anchors: [String: [String]]) throws(RowError) -> Row {
        func fail(_ column: String, _ reason: String) -> RowError {
            RowError(line: line, column: column, reason: reason)
        }
        func date(_ c: String) throws(RowError) -> CalendarDate {
            do { return try CalendarDate(v[c] ?? "") } catch { throw fail(c, "not a yyyy-MM-dd date") }
        }
        for c in required where c != "symbol" && (v[c] ?? "").isEmpty { throw fail(c, "empty") }
        var key: CardKey?
        let issuer = v["issuer"] ?? ""
        var keyID = v["issuerKeyID"] ?? ""
        let serial = v["serial"] ?? ""
        if !issuer.isEmpty || !keyID.isEmpty || !serial.isEmpty {
            if keyID.isEmpty && issuer.isEmpty { throw fail("issuerKeyID", "empty while serial is set") }
            if serial.isEmpty { throw fail("serial", "empty while the issuer is set") }
            if keyID.isEmpty {
                let ids = anchors[issuer] ?? []
                guard ids.count == 1 else {
                    throw fail(
                        "issuerKeyID",
                        ids.isEmpty
                            ? "no configured anchor has this issuer DN: give issuerKeyID"
                            : "\(ids.count) configured anchors share this issuer DN: give issuerKeyID")
                }
                keyID = ids[0]
            }
            do { key = try CardKey(issuerKeyID: keyID, serial: serial, issuer: issuer.isEmpty ? nil : issuer) } catch {
                if case .invalidKey(let m) = error {
                    throw fail(m.contains("serial") ? "serial" : m.contains("key id") ? "issuerKeyID" : "issuer", m)
                }
                throw fail("serial", "\(error)")
            }
        }
        var kind: CredentialKind?
        if let k = v["kind"], !k.isEmpty {
            guard key != nil else { throw fail("kind", "set while no credential (serial) is given") }
            guard let parsed = CredentialKind(rawValue: k) else {
                throw fail("kind", "must be card, android-phone, iphone or unknown")
            }
            kind = parsed
        }
        guard let ratio = Int(v["copaymentRatio"] ?? "") else { throw fail("copaymentRatio", "not a number") }
        let status: InsuranceRecord.Status
        if let s = v["status"], !s.isEmpty {
            guard let st = InsuranceRecord.Status(rawValue: s) else { throw fail("status", "must be active or lost") }
            status = st
        } else {
            status = .active
        }
        var validTo: CalendarDate?
        if !(v["validTo"] ?? "").isEmpty { validTo = try date("validTo") }
        let record = InsuranceRecord(
            insurerNumber: v["insurerNumber"] ?? "", symbol: v["symbol"] ?? "", number: v["number"] ?? "",
            branch: v["branch"] ?? "", name: v["name"] ?? "",
            nameKana: (v["nameKana"] ?? "").isEmpty ? nil : v["nameKana"], birthDate: try date("birthDate"),
            copaymentRatio: ratio, validFrom: try date("validFrom"), validTo: validTo, status: status)
        do { try record.validate() } catch {
            if case .invalidRecord(let f, let r) = error { throw fail(f, r) }
            throw fail("", "\(error)")
        }
        return Row(line: line, key: key, kind: kind, record: record)
    }

    /// Imports CSV text: valid rows are saved (records upserted, cards linked), bad rows are
    /// reported. A card already linked to another record is an error for that row unless
    /// `replaceLinks` (its record is still saved). Store failures (database down) throw.
    ///
    /// All valid rows are written in one transaction: all of them or none. `beforeCommit` runs
    /// inside it with the report and each change's outcome (where the audit lines are made
    /// durable); when it throws, nothing is imported.
    public static func importCSV(
        _ text: String, into store: any RegistryStore, replaceLinks: Bool = false, anchors: [String: [String]] = [:],
        beforeCommit: @escaping @Sendable (Report, [RegistryChangeOutcome]) throws -> Void = { _, _ in }
    ) async throws(EligibilityError) -> Report {
        let (rows, errors, count) = parse(text, anchors: anchors)
        var changes: [RegistryChange] = []
        var lineOfChange: [Int] = []
        for row in rows {
            changes.append(.upsert(row.record))
            lineOfChange.append(row.line)
            if let key = row.key {
                changes.append(.link(key, recordID: nil, replace: replaceLinks, kind: row.kind))
                lineOfChange.append(row.line)
            }
        }
        let lines = lineOfChange
        @Sendable func report(_ outcomes: [RegistryChangeOutcome]) -> Report {
            var report = Report()
            report.rows = count
            report.errors = errors
            for (i, o) in outcomes.enumerated() {
                switch o {
                case .saved: report.recordsSaved += 1
                case .linked(let key, let id):
                    report.cardsLinked += 1
                    report.linked.append(LinkedCard(recordID: id, card: key))
                case .linkRefused(_, let id, let other):
                    report.linksRefused += 1
                    report.errors.append(
                        RowError(
                            line: lines[i], column: "serial",
                            reason:
                                "record \(id) saved, but the card is already linked to record \(other) (use --replace)")
                    )
                case .unlinked: break
                }
            }
            report.errors.sort { $0.line < $1.line }
            report.rowsRejected = count - rows.count
            return report
        }
        let outcomes = try await store.apply(changes) { outcomes in try beforeCommit(report(outcomes), outcomes) }
        return report(outcomes)
    }
}
