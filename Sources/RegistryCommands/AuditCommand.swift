import ArgumentParser
import AuditTrail
import Foundation
import JPKIDaemon
import TerminalIO

/// `jpkid audit verify|report` (contract subcommands): check the audit trail, and answer "who
/// looked at my data?" for one person. The logic lives in the AuditTrail library.
public struct AuditCommand: AsyncParsableCommand {
    /// Creates the command (ArgumentParser fills it in).
    public init() {}

    public static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Check the audit log (hash chain, signatures) and report accesses to one person's data.",
        subcommands: [Verify.self, Report.self])

    /// The configured log and key, or explicit files.
    static func files(config: String?, explicit: [String]) throws -> (files: [String], key: String, head: String?) {
        var cfg = DaemonConfig()
        if let config {
            do { cfg = try DaemonConfig.load(path: config) } catch {
                fail("\(error)")
                throw ExitCode(2)
            }
        }
        let key = AuditSigner.publicKeyPath(for: cfg.audit.keyPath(auditLog: cfg.auditLog))
        if !explicit.isEmpty {
            // The head file belongs to the current file: check it when that file is among them.
            let current = explicit.last!
            let head = FileManager.default.fileExists(atPath: current + ".head") ? current + ".head" : nil
            return (explicit, key, head)
        }
        return (AuditFormat.files(ofLog: cfg.auditLog), key, cfg.auditLog + ".head")
    }

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check the chain, sequence numbers and checkpoint signatures across rotated files.",
            discussion:
                "Exit 0 with a summary, or 1 naming the first bad line and what is wrong (edited, removed, reordered, truncated, bad_signature, forged)."
        )

        @Option(help: "The daemon's JSON configuration (auditLog and audit.keyFile).")
        var config: String?

        @Option(help: "Public key PEM (default: the configured key's .pub.pem).")
        var key: String?

        @Argument(help: "Files to check, oldest first (default: the configured log and its rotated files).")
        var files: [String] = []

        func run() async throws {
            let (list, defaultKey, head) = try AuditCommand.files(config: config, explicit: files)
            guard !list.isEmpty else {
                fail("no audit files found")
                throw ExitCode(2)
            }
            // No key file at all: only a log jpkid never signed (registry commands before the
            // daemon's first start) verifies; any checkpoint or head file then fails.
            var publicKey: AuditPublicKey?
            let keyPath = key ?? defaultKey
            if key != nil || FileManager.default.fileExists(atPath: keyPath) {
                do { publicKey = try AuditPublicKey(path: keyPath) } catch {
                    fail("\(error) (checkpoint signatures need the daemon's public key)")
                    throw ExitCode(2)
                }
            } else {
                say("note: no public key at \(keyPath): signatures cannot be checked")
            }
            let v = AuditVerifier.verify(files: list, publicKey: publicKey, headFile: head)
            for n in v.notes { say("note: \(n)") }
            if let p = v.problem {
                fail("audit log NOT verified: \(p)")
                throw ExitCode(1)
            }
            say(
                "audit log verified: \(v.lines) lines in \(v.files.count) file(s), seq \(v.firstSeq ?? 0)…\(v.lastSeq ?? 0), \(v.checkpoints) signed checkpoint(s), last signed seq \(v.lastSignedSeq.map(String.init) ?? "none")"
            )
        }
    }

    struct Report: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Every audited access to one person's card(s) and registry record.",
            discussion:
                "Prints time, operation, caller (uid, executable, self-reported name), reader and outcome; no personal values. Verify the log first (jpkid audit verify)."
        )

        @Option(help: "The daemon's JSON configuration.")
        var config: String?

        @Option(
            help:
                "The card: its auth certificate's SHA-256 fingerprint (64 hex digits) or serial number (hex).")
        var card: String?

        @Option(help: "With a serial: the auth certificate issuer DN (RFC 2253) or issuer key id (hex).")
        var issuer: String?

        @Option(help: "The registry record id.")
        var record: Int64?

        @Option(help: "From (ISO 8601 time, or yyyy-MM-dd).")
        var from: String?

        @Option(help: "To (ISO 8601 time, or yyyy-MM-dd: the whole day).")
        var to: String?

        @Flag(help: "Print JSON.")
        var json = false

        @Argument(help: "Files to read, oldest first (default: the configured log and its rotated files).")
        var files: [String] = []

        func parse(_ s: String?, endOfDay: Bool) throws -> Date? {
            guard let s else { return nil }
            if let d = try? Date.ISO8601FormatStyle().parse(s) { return d }
            if let d = try? Date.ISO8601FormatStyle().parse(s + "T00:00:00Z") {
                return endOfDay ? d.addingTimeInterval(86_399) : d
            }
            fail("not a time: \(s)")
            throw ExitCode(64)
        }

        func run() async throws {
            guard (card == nil) != (record == nil) else {
                fail("give --card KEY or --record ID")
                throw ExitCode(64)
            }
            var q = AuditReport.Query()
            if let card {
                let hex = card.filter { $0 != ":" }
                if hex.count == 64, hex.allSatisfy(\.isHexDigit), issuer == nil {
                    q.fingerprints = [hex.lowercased()]
                } else if !hex.isEmpty, hex.allSatisfy(\.isHexDigit) {
                    q.serials = [AuditReport.normalize(serial: hex)]
                    q.issuer = issuer
                } else {
                    fail("--card must be a fingerprint or a serial number in hex")
                    throw ExitCode(64)
                }
            }
            q.record = record
            q.from = try parse(from, endOfDay: false)
            q.to = try parse(to, endOfDay: true)
            let (list, _, _) = try AuditCommand.files(config: config, explicit: files)
            let accesses = AuditReport.select(files: list, query: q)
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                say(String(decoding: try encoder.encode(accesses), as: UTF8.self))
                return
            }
            var table = TextTable(headers: [
                "time", "seq", "operation", "outcome", "uid", "executable", "self-reported name", "reader",
            ])
            for a in accesses {
                table.rows.append([
                    a.time ?? "-", String(a.seq), a.operation ?? "-", a.outcome ?? "-", a.uid.map(String.init) ?? "-",
                    a.exe ?? "-", a.selfReportedName ?? "-", a.reader ?? "-",
                ])
            }
            say(table.render())
            say("\(accesses.count) access(es)")
        }
    }
}
