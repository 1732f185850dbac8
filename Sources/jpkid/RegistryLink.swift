import ArgumentParser
import Eligibility
import Foundation
import JPKI
import JPKIDaemon
import JPKIVerify
import SmartCard
import SmartCardPCSC

extension RegistryCommand {
    /// `jpkid registry link`: 保険証利用登録. Reads the card's auth certificate, verifies the auth
    /// PIN and has the card sign a fresh 32-byte challenge with the auth key, verifies the
    /// signature and the certificate (chain + revocation, anchors from `trust`), then links the
    /// certificate's (issuer, serial) to a record given by `--record ID` or by record options.
    struct Link: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Link the card in a reader to an insurance record (needs the auth PIN).",
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
            let pin = try readPIN()
            defer { pin.wipe() }
            let challenge: CardChallenge
            do { challenge = try CardChallenge() } catch {
                fail("cannot make a challenge: \(error)")
                throw ExitCode(1)
            }
            let digestInfo = Array(challenge.digestInfo)
            let allow = allowLastTry
            let signed: (signature: [UInt8], certificate: [UInt8])
            do {
                let card = try await PCSCCard.connect(reader: readerName)
                do {
                    signed = try await card.perform { channel in
                        let c = MyNumberCard(channel: channel)
                        let sig = try c.signWithAuthKey(digestInfo: digestInfo, pin: pin, allowLastTry: allow)
                        let cert = try c.readCertificate(.auth)
                        return (sig.value, cert.value.der)
                    }
                } catch {
                    await card.disconnect()
                    throw error
                }
                await card.disconnect()
            } catch let e as JPKIError {
                await audit.failed("registry-link", outcome: e.code)
                fail("\(e.code): \(e)")
                await store.shutdown()
                throw ExitCode(1)
            } catch {
                await audit.failed("registry-link", outcome: "card_error")
                fail("card: \(error)")
                await store.shutdown()
                throw ExitCode(1)
            }
            pin.wipe()
            let (signature, certificate) = signed
            let report = await challenge.verifyPresence(
                signature: Data(signature), authCertificateDER: Data(certificate), verifier: verifier)
            let info: CertificateInfo
            let key: CardKey
            do {
                info = try CertificateInfo(der: Data(certificate))
                key = try CardKey(authCertificate: info, anchors: cfg.authAnchorCertificates)
            } catch {
                await audit.failed("registry-link", outcome: "verification_failed")
                fail("verification_failed: the auth certificate does not parse")
                await store.shutdown()
                throw ExitCode(1)
            }
            guard report.verdict else {
                await audit.failed("registry-link", card: key, outcome: "verification_failed")
                let failed = report.checks.filter { $0.outcome != .passed }.map(\.id)
                fail("verification_failed: the card was not linked (failed: \(failed.joined(separator: ", ")))")
                await store.shutdown()
                throw ExitCode(1)
            }
            // The record (when new) and the link in one transaction, audited before COMMIT.
            let fingerprint = SHA256.hash(certificate).hexString.lowercased()
            var changes: [RegistryChange] = []
            if let newRecord { changes.append(.upsert(newRecord)) }
            changes.append(.link(key, recordID: record, replace: replace))
            do {
                let outcomes = try await store.apply(changes) { outcomes in
                    try audit.writeInTransaction(audit.entries(outcomes, fingerprint: fingerprint))
                }
                await audit.committed()
                await store.shutdown()
                switch outcomes.last {
                case .linked(_, let id):
                    print("linked card \(key) (\(key.issuer ?? "")) to record \(id)")
                case .linkRefused(_, let id, let other):
                    fail("already_linked: the card is linked to record \(other), not \(id) (use --replace)")
                    throw ExitCode(1)
                default:
                    break
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

        /// The PIN from one line of stdin (`--pin-stdin`) or a no-echo prompt on /dev/tty.
        func readPIN() throws -> PIN {
            var bytes: [UInt8] = []
            if pinStdin {
                var c: UInt8 = 0
                while read(0, &c, 1) == 1, c != 0x0A {
                    if c != 0x0D { bytes.append(c) }
                }
            } else {
                let fd = open("/dev/tty", O_RDWR | O_CLOEXEC)
                guard fd >= 0 else {
                    fail("no terminal for the PIN prompt: use --pin-stdin")
                    throw ExitCode(64)
                }
                defer { close(fd) }
                var old = termios()
                tcgetattr(fd, &old)
                var noEcho = old
                noEcho.c_lflag &= ~tcflag_t(ECHO)
                tcsetattr(fd, TCSAFLUSH, &noEcho)
                let prompt = Array("Auth PIN (4 digits): ".utf8)
                _ = write(fd, prompt, prompt.count)
                var c: UInt8 = 0
                while read(fd, &c, 1) == 1, c != 0x0A {
                    if c != 0x0D { bytes.append(c) }
                }
                tcsetattr(fd, TCSAFLUSH, &old)
                _ = write(fd, [0x0A], 1)
            }
            return PIN(bytes: &bytes)
        }
    }
}
