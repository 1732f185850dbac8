import ArgumentParser
import AuditTrail
import Eligibility
import Foundation
import JPKI
import JPKIDaemon
import JPKIVerify
import SmartCard
import Synchronization
import TerminalIO

/// `jpkid registry import|list|link|unlink`: administration of the eligibility registry named by
/// the `eligibility` section of the daemon configuration. Every change appends JSON lines to the
/// daemon's audit log (uid, operation, card key, record id — never names or birth dates).
public struct RegistryCommand: AsyncParsableCommand {
    /// Creates the command (ArgumentParser fills it in).
    public init() {}

    public static let configuration = CommandConfiguration(
        commandName: "registry",
        abstract: "Administer the eligibility registry (マイナ保険証): import, list, link, unlink, legacy.",
        subcommands: [Import.self, List.self, Link.self, Unlink.self, Legacy.self, ReferenceNumbers.self])
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
        do { return try RegistryAudit(config: cfg) } catch {
            fail("\(error) (registry changes are refused when they cannot be audited)")
            throw ExitCode(2)
        }
    }
}

/// JSON lines appended to the daemon's audit log for registry changes, through the same
/// hash-chained writer as the daemon's (see README "Audit trail"). Fields: `time`, `uid`, `pid`,
/// `exe`, `operation` (`registry-import`, `registry-record`, `registry-link`, `registry-unlink`,
/// `registry-commit`), `cardKey` (the credential's key: issuer key id + serial of its auth
/// certificate), `credentialKind` (link: `card`, `android-phone`, `iphone`, `unknown`),
/// `credentialsLeft` (unlink: how many the record still has), `card` (the auth certificate's
/// SHA-256, when at hand), `record` (id), `outcome`, `txn` (one id per transaction), and counts
/// for an import — the daemon's one line shape, ``JPKIDaemon/AuditEntry``. Never names, birth
/// dates or PINs.
///
/// A change's lines are written and `fsync`'d inside its database transaction, before COMMIT;
/// a `registry-commit` line follows the commit. Killed in between, the log holds the lines of a
/// transaction without its `registry-commit`: the registry then has either that change or
/// nothing of it, never a change without its lines.
final class RegistryAudit: Sendable {
    /// A line of this command (uid, pid and executable of this process) with `fill`'s fields.
    static func entry(
        _ operation: String, outcome: String = "ok", _ fill: (inout AuditEntry) -> Void = { _ in }
    ) -> AuditEntry {
        var e = AuditEntry(
            uid: getuid(), pid: getpid(), exe: executable, comm: "jpkid registry", operation: operation,
            outcome: outcome)
        fill(&e)
        return e
    }

    private let log: AuditLog
    private let auditError = Mutex<AuditError?>(nil)
    /// This process's executable (the kernel's word, as for the daemon's peers).
    static let executable = PeerCredentials(pid: getpid(), uid: getuid(), gid: getgid()).executable
    /// This command's transaction id.
    let txn = UUID().uuidString.lowercased()

    init(config: DaemonConfig) throws(ConfigError) {
        log = try AuditLog(config: config, createKey: false)
    }

    static func encode(_ e: AuditEntry) -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(e)) ?? Data("{}".utf8)
    }

    /// The lines for what a transaction did, with this command's `txn`; `kind`: the linked
    /// credential's kind, when the command read it.
    func entries(
        _ outcomes: [RegistryChangeOutcome], fingerprint: String? = nil, kind: CredentialKind? = nil
    ) -> [AuditEntry] {
        let txn = self.txn
        return outcomes.map { o in
            switch o {
            case .saved(let id):
                return Self.entry("registry-record") {
                    $0.record = id
                    $0.txn = txn
                }
            case .linked(let key, let id), .linkRefused(let key, let id, _):
                let refused = if case .linkRefused = o { true } else { false }
                return Self.entry("registry-link", outcome: refused ? "already_linked" : "ok") {
                    $0.cardKey = key
                    $0.credentialKind = kind?.rawValue
                    $0.card = fingerprint
                    $0.record = id
                    $0.txn = txn
                }
            case .unlinked(let key, let id, let left):
                return Self.entry("registry-unlink") {
                    $0.cardKey = key
                    $0.credentialsLeft = left
                    $0.record = id
                    $0.txn = txn
                }
            }
        }
    }

    /// Writes lines inside a transaction (blocking until they are on disk).
    func writeInTransaction(_ entries: [AuditEntry]) throws(AuditError) {
        do {
            try log.writer.appendSync(entries.map(Self.encode))
        } catch {
            auditError.withLock { $0 = error }
            throw error
        }
    }

    /// The code to report for a failed change: `audit_unavailable` when its lines could not be
    /// written (and so nothing was committed), else the registry's.
    func code(_ error: EligibilityError) -> String {
        auditError.withLock { $0 }.map(\.code) ?? error.code
    }

    /// After COMMIT: the transaction's closing line.
    func committed() async {
        do {
            try await log.writer.append(Self.encode(Self.entry("registry-commit") { [txn] in $0.txn = txn }))
        } catch {
            fail(
                "warning: the change is committed and audited, but its registry-commit line could not be written: \(error)"
            )
        }
        await log.close()
    }

    /// A listing of the registry (one line with the number of records shown).
    func recordList(count: Int) async throws(AuditError) {
        try await log.writer.append(Self.encode(Self.entry("registry-list") { $0.rows = count }))
        await log.close()
    }

    /// One line for a whole command (e.g. an export), then the log is closed.
    func recordOperation(_ operation: String, rows: Int? = nil, outcome: String = "ok") async throws(AuditError) {
        try await log.writer.append(
            Self.encode(
                Self.entry(operation, outcome: outcome) { [txn] in
                    $0.txn = txn
                    $0.rows = rows
                }))
        await log.close()
    }

    /// A failed or refused change (nothing was committed).
    func failed(_ operation: String, card: CardKey? = nil, record: Int64? = nil, outcome: String) async {
        try? await log.writer.append(
            Self.encode(
                Self.entry(operation, outcome: outcome) { [txn] in
                    $0.cardKey = card
                    $0.record = record
                    $0.txn = txn
                }))
        await log.close()
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
                // One transaction: every valid row, and their audit lines written before COMMIT.
                // Old files (issuer DN, no issuerKeyID) resolve through the configured auth anchors.
                report = try await RegistryCSV.importCSV(
                    text, into: store, replaceLinks: replace, anchors: cfg.eligibility.anchorKeyIDs
                ) {
                    report, outcomes in
                    var lines = audit.entries(outcomes)
                    lines.append(
                        RegistryAudit.entry("registry-import", outcome: report.errors.isEmpty ? "ok" : "partial") {
                            $0.txn = audit.txn
                            $0.rows = report.rows
                            $0.recordsSaved = report.recordsSaved
                            $0.cardsLinked = report.cardsLinked
                            $0.rowsRejected = report.rowsRejected
                            $0.linksRefused = report.linksRefused
                        })
                    try audit.writeInTransaction(lines)
                }
            } catch {
                await store.shutdown()
                let code = audit.code(error)
                await audit.failed("registry-import", outcome: code)
                fail("\(code): \(error) (nothing was imported)")
                throw ExitCode(1)
            }
            await audit.committed()
            await store.shutdown()
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                say(String(decoding: try encoder.encode(report), as: UTF8.self))
            } else {
                for e in report.errors { say("error: \(e)") }
                say(
                    "rows \(report.rows), records saved \(report.recordsSaved), cards linked \(report.cardsLinked), rows rejected \(report.rowsRejected), links refused \(report.linksRefused)"
                )
            }
            if !report.errors.isEmpty { throw ExitCode(1) }
        }
    }

    /// `jpkid registry list [--json]`.
    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List records and their linked credentials.")

        @OptionGroup var options: RegistryOptions

        @Flag(help: "Print JSON (an array of {id, record, cards, credentials}).")
        var json = false

        func run() async throws {
            let cfg = try options.load()
            let audit = try options.audit(cfg)
            let store = try await options.store(cfg)
            let entries: [RegistryEntry]
            do { entries = try await store.list() } catch {
                fail("\(error.code): \(error)")
                await store.shutdown()
                throw ExitCode(1)
            }
            await store.shutdown()
            // Listing shows every record (names, birth dates): audited first, like a disclosure.
            do { try await audit.recordList(count: entries.count) } catch {
                fail("audit_unavailable: \(error) (the registry is not shown)")
                throw ExitCode(1)
            }
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                say(String(decoding: try encoder.encode(entries), as: UTF8.self))
                return
            }
            var table = TextTable(headers: [
                "id", "insurer", "symbol", "number", "branch", "name", "birth", "ratio", "from", "to", "status",
                "credentials",
            ])
            for e in entries {
                let r = e.record
                table.rows.append([
                    String(e.id), r.insurerNumber, r.symbol, r.number, r.branch, r.name, r.birthDate.description,
                    String(r.copaymentRatio), r.validFrom.description, r.validTo?.description ?? "-", r.status.rawValue,
                    e.credentials.isEmpty
                        ? "-" : e.credentials.map { "\($0.kind?.rawValue ?? "-"):\($0.key)" }.joined(separator: " "),
                ])
            }
            say(table.render())
        }
    }

    /// `jpkid registry unlink --issuer-key-id HEX --serial HEX` (or `--issuer DN` when exactly one
    /// configured auth anchor has that DN): removes one credential; the record and its other
    /// credentials stay. A record left without credentials stays in the registry (listed,
    /// exported) but no card or phone finds it until one is linked again; that is said.
    struct Unlink: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove one credential's link (the record and its other credentials stay).")

        @OptionGroup var options: RegistryOptions

        @Option(help: "The auth certificate's authority key identifier (hex, colons allowed).")
        var issuerKeyID: String?

        @Option(help: "Auth certificate issuer DN (RFC 2253): instead of --issuer-key-id when one anchor has it.")
        var issuer: String?

        @Option(help: "Auth certificate serial number (hex).")
        var serial: String

        func run() async throws {
            let cfg = try options.load()
            let key: CardKey
            do {
                key = try RegistryOptions.key(
                    issuerKeyID: issuerKeyID, issuer: issuer, serial: serial, anchors: cfg.eligibility.anchorKeyIDs)
            } catch {
                fail("\(error.code): \(error)")
                throw ExitCode(64)
            }
            let audit = try options.audit(cfg)
            let store = try await options.store(cfg)
            do {
                let outcomes = try await store.apply([.unlink(key)]) { outcomes in
                    try audit.writeInTransaction(audit.entries(outcomes))
                }
                await audit.committed()
                if case .unlinked(_, let id, let left) = outcomes.first {
                    say("unlinked credential \(key) from record \(id); \(left) credential(s) left")
                    if left == 0 {
                        say(
                            "record \(id) has no credential left: it stays in the registry, but no card or phone finds it until one is linked (jpkid registry link --record \(id))"
                        )
                    }
                }
            } catch {
                let code = audit.code(error)
                await audit.failed("registry-unlink", card: key, outcome: code)
                fail("\(code): \(error)")
                await store.shutdown()
                throw ExitCode(1)
            }
            await store.shutdown()
        }
    }
}

extension RegistryOptions {
    /// A card key from options: the key id, or the DN when exactly one configured anchor has it.
    static func key(issuerKeyID: String?, issuer: String?, serial: String, anchors: [String: [String]])
        throws(EligibilityError) -> CardKey
    {
        if let issuerKeyID { return try CardKey(issuerKeyID: issuerKeyID, serial: serial, issuer: issuer) }
        guard let issuer else { throw .invalidKey("give --issuer-key-id (or --issuer)") }
        let ids = anchors[issuer.trimmingCharacters(in: .whitespaces)] ?? []
        guard ids.count == 1 else {
            throw .invalidKey("\(ids.count) configured auth anchors have this issuer DN: give --issuer-key-id")
        }
        return try CardKey(issuerKeyID: ids[0], serial: serial, issuer: issuer)
    }
}

extension RegistryCommand {
    /// `jpkid registry legacy [--json]`: links written before issuer keys that the configured
    /// anchors do not resolve (their DN is shared by several anchors, or by none). Eligibility
    /// for such a DN and serial answers `card_relink_required` until the card is linked again.
    struct Legacy: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List card links by issuer name only that need the card linked again.")

        @OptionGroup var options: RegistryOptions

        @Flag(help: "Print JSON (an array of {issuer, serial, recordID, matchingAnchors}).")
        var json = false

        func run() async throws {
            let cfg = try options.load()
            let store = try await options.store(cfg)
            let links: [LegacyCardLink]
            do {
                links = try await store.resolveLegacyLinks(anchors: cfg.eligibility.anchorKeyIDs)
            } catch {
                fail("\(error.code): \(error)")
                await store.shutdown()
                throw ExitCode(1)
            }
            await store.shutdown()
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                say(String(decoding: try encoder.encode(links), as: UTF8.self))
                return
            }
            var table = TextTable(headers: ["record", "serial", "anchors", "issuer"])
            for l in links {
                table.rows.append([String(l.recordID), l.serial, String(l.matchingAnchors ?? 0), l.issuer])
            }
            say(table.render())
            say("\(links.count) link(s) need the card linked again (jpkid registry link)")
        }
    }
}
