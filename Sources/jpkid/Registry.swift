import ArgumentParser
import Eligibility
import Foundation
import JPKI
import JPKIDaemon
import JPKIVerify
import SmartCard

/// `jpkid registry import|list|link|unlink`: administration of the eligibility registry named by
/// the `eligibility` section of the daemon configuration. Every change appends JSON lines to the
/// daemon's audit log (uid, operation, card key, record id — never names or birth dates).
struct RegistryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "registry",
        abstract: "Administer the eligibility registry (マイナ保険証): import, list, link, unlink.",
        subcommands: [Import.self, List.self, Link.self, Unlink.self, ReferenceNumbers.self])
}

/// The options every registry subcommand takes.
struct RegistryOptions: ParsableArguments {
    @Option(help: "The daemon's JSON configuration (its eligibility section and auditLog).")
    var config: String?

    func load() throws -> DaemonConfig {
        do {
            return try config.map { try DaemonConfig.load(path: $0) } ?? DaemonConfig()
        } catch {
            fail("\(error)")
            throw ExitCode(2)
        }
    }

    /// Opens the registry (creating an SQLite file with its schema when needed).
    func store(_ cfg: DaemonConfig) async throws -> any RegistryStore {
        do {
            return try await cfg.eligibility.makeStore()
        } catch {
            fail("\(error.code): \(error)")
            throw ExitCode(2)
        }
    }

    func audit(_ cfg: DaemonConfig) throws -> RegistryAudit {
        do { return try RegistryAudit(path: cfg.auditLog) } catch {
            fail("\(error) (registry changes are refused when they cannot be audited)")
            throw ExitCode(2)
        }
    }
}

func fail(_ message: String) {
    FileHandle.standardError.write(Data("jpkid: \(message)\n".utf8))
}

/// JSON lines appended to the daemon's audit log for registry changes. Fields: `time`, `uid`,
/// `pid`, `process`, `operation` (`registry-import`, `registry-record`, `registry-link`,
/// `registry-unlink`), `card` (issuer + serial of the auth certificate), `record` (id),
/// `outcome`, and counts for an import. Never names, birth dates or PINs.
final class RegistryAudit {
    struct Entry: Encodable {
        var time: String
        var uid: UInt32
        var pid: Int32
        var process: String
        var operation: String
        var card: CardKey?
        var record: Int64?
        var outcome: String
        var rows: Int?
        var recordsSaved: Int?
        var cardsLinked: Int?
        var rowsRejected: Int?
    }

    private let log: AuditLog

    init(path: String) throws(ConfigError) {
        log = try AuditLog(path: path)
    }

    func record(
        _ operation: String, card: CardKey? = nil, record: Int64? = nil, outcome: String = "ok",
        report: RegistryCSV.Report? = nil
    ) {
        let e = Entry(
            time: Date().formatted(.iso8601), uid: getuid(), pid: getpid(), process: "jpkid registry",
            operation: operation, card: card, record: record, outcome: outcome, rows: report?.rows,
            recordsSaved: report?.recordsSaved, cardsLinked: report?.cardsLinked, rowsRejected: report?.rowsRejected)
        log.append(e)
    }
}

extension RegistryCommand {
    /// `jpkid registry import FILE.csv`.
    struct Import: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Import records (and card links) from a CSV file; reports each bad row.",
            discussion: "Columns: \(RegistryCSV.columns.joined(separator: ",")). See README.")

        @OptionGroup var options: RegistryOptions

        @Argument(help: "The CSV file (UTF-8, header line, # comments).")
        var file: String

        @Flag(help: "Re-link a card that is already linked to another record.")
        var replace = false

        @Flag(help: "Print the report as JSON.")
        var json = false

        func run() async throws {
            let cfg = try options.load()
            let text: String
            do {
                text = try String(contentsOfFile: file, encoding: .utf8)
            } catch {
                fail("cannot read \(file) as UTF-8: \(error.localizedDescription)")
                throw ExitCode(2)
            }
            let audit = try options.audit(cfg)
            let store = try await options.store(cfg)
            let report: RegistryCSV.Report
            do {
                report = try await RegistryCSV.importCSV(text, into: store, replaceLinks: replace)
            } catch {
                await store.shutdown()
                audit.record("registry-import", outcome: error.code)
                fail("\(error.code): \(error)")
                throw ExitCode(1)
            }
            for l in report.linked { audit.record("registry-link", card: l.card, record: l.recordID) }
            audit.record("registry-import", outcome: report.errors.isEmpty ? "ok" : "partial", report: report)
            await store.shutdown()
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                print(String(decoding: try encoder.encode(report), as: UTF8.self))
            } else {
                for e in report.errors { print("error: \(e)") }
                print(
                    "rows \(report.rows), records saved \(report.recordsSaved), cards linked \(report.cardsLinked), rows rejected \(report.rowsRejected), links refused \(report.linksRefused)"
                )
            }
            if !report.errors.isEmpty { throw ExitCode(1) }
        }
    }

    /// `jpkid registry list [--json]`.
    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List records and their linked cards.")

        @OptionGroup var options: RegistryOptions

        @Flag(help: "Print JSON (an array of {id, record, cards}).")
        var json = false

        func run() async throws {
            let cfg = try options.load()
            let store = try await options.store(cfg)
            let entries: [RegistryEntry]
            do { entries = try await store.list() } catch {
                fail("\(error.code): \(error)")
                await store.shutdown()
                throw ExitCode(1)
            }
            await store.shutdown()
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                print(String(decoding: try encoder.encode(entries), as: UTF8.self))
                return
            }
            let header = [
                "id", "insurer", "symbol", "number", "branch", "name", "birth", "ratio", "from", "to", "status",
                "cards",
            ]
            var rows = [header]
            for e in entries {
                let r = e.record
                rows.append([
                    String(e.id), r.insurerNumber, r.symbol, r.number, r.branch, r.name, r.birthDate.description,
                    String(r.copaymentRatio), r.validFrom.description, r.validTo?.description ?? "-", r.status.rawValue,
                    e.cards.isEmpty ? "-" : e.cards.map(\.serial).joined(separator: " "),
                ])
            }
            print(Table.render(rows))
        }
    }

    /// `jpkid registry unlink --issuer DN --serial HEX`.
    struct Unlink: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a card's link (the record stays).")

        @OptionGroup var options: RegistryOptions

        @Option(help: "Auth certificate issuer DN (RFC 2253).")
        var issuer: String

        @Option(help: "Auth certificate serial number (hex).")
        var serial: String

        func run() async throws {
            let cfg = try options.load()
            let key: CardKey
            do { key = try CardKey(issuer: issuer, serial: serial) } catch {
                fail("\(error.code): \(error)")
                throw ExitCode(64)
            }
            let audit = try options.audit(cfg)
            let store = try await options.store(cfg)
            do {
                let id = try await store.unlink(key)
                audit.record("registry-unlink", card: key, record: id)
                print("unlinked card \(key.serial) from record \(id)")
            } catch {
                audit.record("registry-unlink", card: key, outcome: error.code)
                fail("\(error.code): \(error)")
                await store.shutdown()
                throw ExitCode(1)
            }
            await store.shutdown()
        }
    }
}

/// A plain text table (column widths by display width: CJK counts 2).
enum Table {
    static func width(_ s: String) -> Int {
        s.unicodeScalars.reduce(0) { n, u in
            n
                + ((0x1100...0x115F).contains(u.value) || (0x2E80...0xA4CF).contains(u.value)
                    || (0xAC00...0xD7A3).contains(u.value) || (0xF900...0xFAFF).contains(u.value)
                    || (0xFE30...0xFE4F).contains(u.value) || (0xFF00...0xFF60).contains(u.value)
                    || (0xFFE0...0xFFE6).contains(u.value) || (0x20000...0x3FFFD).contains(u.value) ? 2 : 1)
        }
    }

    static func render(_ rows: [[String]]) -> String {
        guard let first = rows.first else { return "" }
        let widths = (0..<first.count).map { c in rows.map { width($0[c]) }.max() ?? 0 }
        return rows.map { row in
            zip(row, widths).map { cell, w in cell + String(repeating: " ", count: w - width(cell)) }
                .joined(separator: "  ").trimmingCharacters(in: .whitespaces)
        }.joined(separator: "\n")
    }
}
