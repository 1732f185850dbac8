import ArgumentParser
import Eligibility
import Foundation
import JPKI
import JPKIDaemon
import JPKIVerify
import SmartCard
import SmartCardPCSC
import TerminalIO

extension RegistryCommand {
    /// `jpkid registry link`: 保険証利用登録. Reads the card's auth certificate, verifies the auth
    /// PIN and has the card sign a fresh 32-byte challenge with the auth key, verifies the
    /// signature and the certificate (chain + revocation, anchors from `trust`), then links the
    /// certificate's (issuer, serial) to a record given by `--record ID` or by record options.
    struct Link: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add the card or phone in a reader to an insurance record's credentials (needs the auth PIN).",
            discussion: """
                The PIN comes from --pin-stdin or a no-echo prompt on the terminal, never from argv.
                Give the record as --record ID (see `jpkid registry list`) or with --insurer-number,
                --number, --branch, --name, --birth-date, --copayment-ratio, --valid-from
                (and optionally --symbol, --name-kana, --valid-to, --status).
                """)

        @OptionGroup var options: RegistryOptions

        @Option(help: "Reader name or index (see /v1/readers); default: the only reader.")
        var reader: String?

        @Flag(help: "Read the auth PIN from standard input (one line).")
        var pinStdin = false

        @Flag(help: "Allow the PIN attempt when only one try is left.")
        var allowLastTry = false

        @Flag(help: "Re-link a card that is already linked to another record.")
        var replace = false

        @Option(help: "Existing record id.") var record: Int64?
        @Option(help: "保険者番号 (6 or 8 digits).") var insurerNumber: String?
        @Option(help: "記号.") var symbol: String = ""
        @Option(help: "番号.") var number: String?
        @Option(help: "枝番 (2 digits).") var branch: String?
        @Option(help: "Name (U+3000 or space between family and given name).") var name: String?
        @Option(help: "Name in katakana.") var nameKana: String?
        @Option(help: "Birth date yyyy-MM-dd.") var birthDate: String?
        @Option(help: "Copayment ratio in percent: 0, 10, 20, 30.") var copaymentRatio: Int?
        @Option(help: "First valid day yyyy-MM-dd.") var validFrom: String?
        @Option(help: "Last valid day yyyy-MM-dd (inclusive).") var validTo: String?
        @Option(help: "active or lost.") var status: String = "active"

        func validate() throws {
            let given =
                [insurerNumber, number, branch, name, birthDate, validFrom].contains { $0 != nil }
                || copaymentRatio != nil
            if record != nil && given { throw ValidationError("give either --record or the record options, not both") }
            if record == nil {
                let missing =
                    [
                        ("--insurer-number", insurerNumber), ("--number", number), ("--branch", branch),
                        ("--name", name),
                        ("--birth-date", birthDate), ("--valid-from", validFrom),
                    ].filter { $0.1 == nil }.map(\.0) + (copaymentRatio == nil ? ["--copayment-ratio"] : [])
                if !missing.isEmpty {
                    throw ValidationError(
                        "give --record ID or the record options (missing \(missing.joined(separator: ", ")))")
                }
            }
        }

        func recordFromOptions() throws(EligibilityError) -> InsuranceRecord {
            guard let st = InsuranceRecord.Status(rawValue: status) else {
                throw .invalidRecord(field: "status", reason: "must be active or lost")
            }
            func date(_ s: String?, _ field: String) throws(EligibilityError) -> CalendarDate {
                do { return try CalendarDate(s ?? "") } catch {
                    throw .invalidRecord(field: field, reason: "expected yyyy-MM-dd")
                }
            }
            let r = InsuranceRecord(
                insurerNumber: insurerNumber ?? "", symbol: symbol, number: number ?? "", branch: branch ?? "",
                name: name ?? "", nameKana: nameKana, birthDate: try date(birthDate, "birthDate"),
                copaymentRatio: copaymentRatio ?? -1, validFrom: try date(validFrom, "validFrom"),
                validTo: try validTo.map { v throws(EligibilityError) in try date(v, "validTo") }, status: st)
            try r.validate()
            return r
        }

        func run() async throws {
            let cfg = try options.load()
            guard let verifier = try? DaemonAPI.makeVerifier(cfg.trust) else {
                fail("link needs trust.authAnchors in the configuration: only a verified card may be linked")
                throw ExitCode(2)
            }
            var newRecord: InsuranceRecord?
            if record == nil {
                do { newRecord = try recordFromOptions() } catch {
                    fail("\(error.code): \(error)")
                    throw ExitCode(64)
                }
            }
            let audit = try options.audit(cfg)
            let store = try await options.store(cfg)
            // Check the record id before asking for the PIN.
            if let record {
                let found: RegistryEntry?
                do { found = try await store.entry(id: record) } catch {
                    fail("\(error.code): \(error)")
                    await store.shutdown()
                    throw ExitCode(1)
                }
                if found == nil {
                    fail("not_found: no record \(record)")
                    await store.shutdown()
                    throw ExitCode(1)
                }
            }
            let readerName = try await resolveReader()
            let pin = try await readPIN()
            defer { pin.wipe() }
            let challenge: CardChallenge
            do { challenge = try CardChallenge() } catch {
                fail("cannot make a challenge: \(error)")
                throw ExitCode(1)
            }
            let allow = allowLastTry
            // The card proof (JPKIVerify's CardProofService): the auth certificate, PIN and the
            // signature in one transaction (the certificate after the PIN on an Android phone,
            // whose certificate is readable only then), then signature, chain and revocation.
            let service = CardProofService(verifier: verifier)
            let signed: (proof: SignedChallenge, tokenLabel: String?)
            do {
                let card = try await PCSCCard.connect(reader: readerName)
                do {
                    signed = try await card.perform { channel in
                        let proof = try service.sign(
                            MyNumberCard(channel: channel), challenge: challenge, pin: pin, allowLastTry: allow)
                        return (proof, Self.tokenLabel(channel))
                    }
                } catch {
                    await card.disconnect()
                    throw error
                }
                await card.disconnect()
            } catch {
                let code = (error as? JPKIError)?.code ?? "card_error"
                await audit.failed("registry-link", outcome: code)
                fail(error is JPKIError ? "\(code): \(error)" : "card: \(error)")
                await store.shutdown()
                throw ExitCode(1)
            }
            pin.wipe()
            let proof = await service.verify(signed.proof)
            // What the credential is (card, Android or iPhone) by its token label: a label for
            // the registry and the audit; the link itself is by key.
            let kind = signed.tokenLabel.map(CredentialKind.init(tokenLabel:))
            let key: CardKey
            do { key = try CardKey(proof: proof, anchors: cfg.authAnchorCertificates) } catch {
                await audit.failed("registry-link", outcome: "verification_failed")
                fail("verification_failed: the auth certificate does not parse")
                await store.shutdown()
                throw ExitCode(1)
            }
            guard proof.verified else {
                await audit.failed("registry-link", card: key, outcome: "verification_failed")
                let failed = proof.report.checks.filter { $0.outcome != .passed }.map(\.id)
                fail("verification_failed: the card was not linked (failed: \(failed.joined(separator: ", ")))")
                await store.shutdown()
                throw ExitCode(1)
            }
            let fingerprint = proof.card.hex
            // The record (when new) and the link in one transaction, audited before COMMIT.
            var changes: [RegistryChange] = []
            if let newRecord { changes.append(.upsert(newRecord)) }
            changes.append(.link(key, recordID: record, replace: replace, kind: kind))
            do {
                let outcomes = try await store.apply(changes) { outcomes in
                    try audit.writeInTransaction(audit.entries(outcomes, fingerprint: fingerprint, kind: kind))
                }
                await audit.committed()
                switch outcomes.last {
                case .linked(_, let id):
                    // Added to the record's credentials: the others stay linked.
                    let count = (try? await store.entry(id: id))?.credentials.count
                    await store.shutdown()
                    say(
                        "linked \(kind?.rawValue ?? "credential") \(key) (\(key.issuer ?? "")) to record \(id)"
                            + (count.map { "; the record has \($0) credential(s)" } ?? ""))
                case .linkRefused(_, let id, let other):
                    await store.shutdown()
                    fail("already_linked: the card is linked to record \(other), not \(id) (use --replace)")
                    throw ExitCode(1)
                default:
                    await store.shutdown()
                }
            } catch let e as EligibilityError {
                let code = audit.code(e)
                await audit.failed("registry-link", card: key, record: record, outcome: code)
                fail("\(code): \(e)")
                await store.shutdown()
                throw ExitCode(1)
            }
        }

        func resolveReader() async throws -> String {
            let names: [String]
            do {
                let ctx = try await PCSCContext.establish()
                names = try await ctx.readers()
                await ctx.release()
            } catch {
                fail("PC/SC: \(error)")
                throw ExitCode(1)
            }
            if let reader {
                if names.contains(reader) { return reader }
                if let i = Int(reader), names.indices.contains(i) { return names[i] }
                fail(
                    "no reader \(reader); readers: \(names.enumerated().map { "\($0.offset): \($0.element)" }.joined(separator: "; "))"
                )
                throw ExitCode(1)
            }
            guard names.count == 1 else {
                fail(names.isEmpty ? "no reader" : "several readers: choose one with --reader NAME|INDEX")
                throw ExitCode(1)
            }
            return names[0]
        }

        /// The token label (JPKI EF 0006, first 32 bytes, trailing spaces and NULs removed), nil
        /// when the card does not answer it (the JPKI AP is selected: the card just signed).
        static func tokenLabel(_ channel: CardChannel) -> String? {
            do throws(JPKIError) {
                try JPKICommands.selectFile(JPKIFile.tokenInfo, on: channel)
                var bytes = try JPKICommands.readBinary(offset: 0, length: 32, on: channel).data
                while let last = bytes.last, last == 0x20 || last == 0x00 { bytes.removeLast() }
                return String(decoding: bytes, as: UTF8.self)
            } catch {
                return nil
            }
        }

        /// The PIN from one line of stdin (`--pin-stdin`) or a no-echo prompt on the terminal
        /// (TerminalIO's prompt: echo restored also when a signal ends the process there).
        func readPIN() async throws -> PIN {
            do {
                return try await PINInput.read(pinStdin ? .standardInput : .terminal, prompt: "Auth PIN (4 digits): ")
            } catch {
                fail("\(error.code): \(error.message)")
                throw ExitCode(64)
            }
        }
    }
}
