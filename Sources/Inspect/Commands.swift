import ArgumentParser
import Foundation
import JPKI
import JPKIVerify
import SmartCard
import SmartCardPCSC
import TerminalIO

/// `card-inspect`: look at My Number cards and readers. The subcommand names are a contract.
public struct CardInspect: AsyncParsableCommand {
    /// The command tree and the help text (exit codes included).
    public static let configuration = CommandConfiguration(
        commandName: "card-inspect",
        abstract: "Look at a My Number card (個人番号カード, JPKI) and the PC/SC readers.",
        discussion: """
            Every subcommand takes --reader NAME|INDEX, --json and --trace. PINs are read from a \
            no-echo terminal prompt or, with --pin-stdin, as one line from standard input; never \
            from arguments or the environment. A PIN is never retried automatically, and with one \
            try left it is only sent with --allow-last-try (or after typing yes at the prompt).

            Exit codes:
            \(ExitStatus.table)
            """,
        subcommands: [
            ReadersCommand.self, WatchCommand.self, StatusCommand.self, CertsCommand.self,
            VerifyCommand.self, PINStatusCommand.self, IdentityCommand.self, FaceCommand.self,
            SignCommand.self, DoctorCommand.self,
        ])

    /// Creates the root command.
    public init() {}

    /// The process entry point: parses `arguments` (without the program name), runs the
    /// subcommand and returns the exit status. Usage errors exit 2 with a one-line message.
    public static func run(arguments: [String]) async -> Int32 {
        do {
            var command = try parseAsRoot(arguments)
            if var async = command as? AsyncParsableCommand {
                try await async.run()
            } else {
                try command.run()
            }
            return 0
        } catch let e as ExitCode {
            return e.rawValue
        } catch {
            let code = exitCode(for: error)
            if code == .success {
                Runner.out(fullMessage(for: error))
                return 0
            }
            if code == .validationFailure {
                Runner.err("card-inspect: \(message(for: error)) [usage] (see card-inspect --help)")
                return ExitStatus.usage.rawValue
            }
            Runner.err("card-inspect: \(message(for: error))")
            return code.rawValue
        }
    }
}

/// Summaries shared by the subcommands.
func readerJSON(_ access: CardAccess) -> JSON {
    .object([
        ("index", .int(access.index)), ("name", .string(access.reader)),
        ("atr", .string(access.atr.hexString)),
    ])
}

/// `Virtual PCD 00 00 (#0)`.
func readerText(_ access: CardAccess) -> String { "\(access.reader) (#\(access.index))" }

// MARK: readers

/// `readers`: every reader, whether a card is in it, its ATR and the card type.
struct ReadersCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "readers", abstract: "List the readers, their cards (ATR) and card types.")

    @OptionGroup var common: CommonOptions

    func run() async throws {
        let spec = common.reader
        let trace = common.trace
        try await Runner.execute(common) { (apduTrace) throws(InspectError) in
            let all = try await listReaders()
            if all.isEmpty { throw InspectError(.noReader, "no_reader", "no smart-card reader is connected") }
            var chosen: [(Int, ReaderState)] = Array(all.enumerated())
            if spec != nil {
                let (i, s) = try selectReader(spec, in: all, requireCard: false)
                chosen = [(i, s)]
            }
            var rows: [JSON] = []
            var table = TextTable(headers: ["#", "Reader", "Card", "Type", "ATR"])
            for (i, state) in chosen {
                var probe: CardProbe?
                var failure: InspectError?
                if state.cardPresent {
                    let access = CardAccess(
                        reader: state.name, index: i, atr: state.atr, trace: trace ? apduTrace : nil)
                    do throws(InspectError) {
                        probe = try await access.run { ch in try CardProbe.probe(ch) }
                    } catch {
                        failure = error
                    }
                }
                rows.append(
                    .object([
                        ("index", .int(i)), ("name", .string(state.name)),
                        ("cardPresent", .bool(state.cardPresent)),
                        ("atr", state.cardPresent ? .string(state.atr.hexString) : .null),
                        ("cardType", .string(probe?.type.code)), ("tokenLabel", .string(probe?.tokenLabel)),
                        ("error", .string(failure?.code)),
                    ]))
                let type = probe?.type.label ?? failure.map { "unreadable: \($0.message)" } ?? ""
                table.rows.append([
                    String(i), state.name, state.cardPresent ? "yes" : "no", type,
                    state.cardPresent ? state.atr.hexString : "",
                ])
            }
            return Outcome(json: .object([("readers", .array(rows))]), text: table.render())
        }
    }
}

// MARK: watch

/// `watch`: reader and card events until Ctrl-C.
struct WatchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "watch",
        abstract: "Print reader and card events as they happen, until Ctrl-C (JSON Lines with --json).")

    @OptionGroup var common: CommonOptions

    func run() async throws {
        let json = common.json
        let trace = common.trace ? APDUTrace(sink: { Runner.err($0) }) : nil
        var filter: String?
        if let spec = common.reader {
            // An index or part of a name refers to the readers present now.
            do {
                let readers = try await listReaders()
                filter = try selectReader(spec, in: readers, requireCard: false).state.name
            } catch {
                Runner.err("card-inspect: \(error.message) [\(error.code)]")
                throw ExitCode(error.status.rawValue)
            }
        }
        let monitor = PCSCMonitor()
        signal(SIGINT, SIG_IGN)
        signal(SIGTERM, SIG_IGN)
        var unblock = sigset_t()
        sigemptyset(&unblock)
        sigaddset(&unblock, SIGINT)
        sigaddset(&unblock, SIGTERM)
        pthread_sigmask(SIG_UNBLOCK, &unblock, nil)
        var sources: [DispatchSourceSignal] = []
        for sig in [SIGINT, SIGTERM] {
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { monitor.stop() }
            source.resume()
            sources.append(source)
        }
        if !json { Runner.err("Watching readers; Ctrl-C to stop.") }
        for await event in monitor.events {
            let (name, reader, atr): (String, String?, [UInt8]?) =
                switch event {
                case .readerAdded(let r): ("reader-added", r, nil)
                case .readerRemoved(let r): ("reader-removed", r, nil)
                case .cardInserted(let r, let a): ("card-inserted", r, a)
                case .cardRemoved(let r): ("card-removed", r, nil)
                case .serviceUnavailable: ("service-unavailable", nil, nil)
                case .serviceRestored: ("service-restored", nil, nil)
                }
            if let filter, let reader, reader != filter { continue }
            var probe: CardProbe?
            if case .cardInserted(let r, let a) = event {
                let access = CardAccess(reader: r, index: -1, atr: a, trace: trace)
                probe = try? await access.run { ch in try CardProbe.probe(ch) }
            }
            let now = Date()
            if json {
                Runner.out(
                    JSON.object([
                        ("time", .string(iso8601(now))), ("event", .string(name)), ("reader", .string(reader)),
                        ("atr", .string(atr?.hexString)), ("cardType", .string(probe?.type.code)),
                    ]).compact())
            } else {
                var cells = [timeOfDay(now), DisplayWidth.pad(name, to: 19), reader ?? ""]
                if let atr { cells.append(atr.hexString) }
                if let probe { cells.append(probe.type.label) }
                Runner.out(cells.joined(separator: "  "))
            }
        }
        withExtendedLifetime(sources) {}
    }

    func timeOfDay(_ d: Date) -> String {
        let f = DateFormatter()
        f.dateFormat = "HH:mm:ss"
        f.locale = Locale(identifier: "en_US_POSIX")
        return f.string(from: d)
    }
}

// MARK: status

/// `status`: which applications answer, token info and certificate summary.
struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show the card: type, token label, which applications answer, certificate summary.")

    @OptionGroup var common: CommonOptions
    @OptionGroup var time: TimeOptions

    func run() async throws {
        let spec = common.reader
        let now = try time.date()
        try await Runner.execute(common) { (trace) throws(InspectError) in
            let access = try await CardAccess.open(spec, trace: trace)
            let (detection, certs) = try await access.withCard {
                card -> (CardDetection, [JPKICertificateKind: [UInt8]]) in
                let d = try card.detect()
                guard d.applications.contains(.jpki) else { return (d, [:]) }
                // An Android phone shows its auth certificate only after the PIN: the CAs only.
                let reader = MyNumberCard(channel: card.channel, certificateAfterPIN: d.authCertificateAfterPIN)
                return (d, try reader.readCertificates().value)
            }
            let apps: [JPKIApplication] = [.jpki, .text, .visual, .common, .juki]
            var info = TextTable()
            info.add("Reader", readerText(access))
            info.add("ATR", access.atr.hexString)
            info.add("Card type", detection.cardType.label)
            info.add("Token label", detection.tokenLabel ?? "-")
            info.add("Credential", CredentialText.text(detection.credentialKind))
            info.add(
                "Card ID",
                detection.identity.map { "\($0) (SHA-256 of the auth certificate)" }
                    ?? (detection.authCertificateAfterPIN
                        ? "- (the auth certificate is shown only after the auth PIN: verify --with-pin)" : "-"))
            let present = apps.filter { detection.applications.contains($0) }.map(\.rawValue)
            let missing = apps.filter { !detection.applications.contains($0) }.map(\.rawValue)
            info.add(
                "Applications",
                present.joined(separator: " ")
                    + (missing.isEmpty ? "" : "  (missing: \(missing.joined(separator: " ")))"))
            if detection.applications.contains(.jpki) {
                info.add(
                    "PIN",
                    detection.authPINPresent == false
                        ? "none: issued without PINs (顔認証マイナンバーカード) — face or visual confirmation only"
                        : "auth PIN present")
                info.add("Modes", detection.confirmationModes.joined(separator: " "))
            }
            let standing = certs[.auth].flatMap { try? CertificateInfo(der: Data($0)) }.map {
                ExpiryPolicy.jpki.standing(of: $0, at: now)
            }
            if let standing { info.add("Auth certificate", StandingText.text(standing)) }
            var text = info.render()
            var certJSON: [JSON] = []
            if !certs.isEmpty {
                var t = TextTable(headers: ["Kind", "名称", "Subject", "Serial", "Valid until"])
                for k in CertificateText.order {
                    guard let der = certs[k] else { continue }
                    t.rows.append(CertificateText.row(k, der: der))
                    certJSON.append(CertificateText.json(k, der: der, includeDER: false))
                }
                text += "\n\nCertificates (the sign certificate needs the sign password: certs --sign)\n" + t.render()
            }
            let json = JSON.object([
                ("reader", readerJSON(access)), ("cardType", .string(detection.cardType.code)),
                ("tokenLabel", .string(detection.tokenLabel)), ("credential", .string(detection.credentialKind.code)),
                ("authCertificateAfterPIN", .bool(detection.authCertificateAfterPIN)),
                ("cardId", .string(detection.identity?.hex)),
                ("applications", .object(apps.map { ($0.rawValue, .bool(detection.applications.contains($0))) })),
                ("certificates", .array(certJSON)),
                ("authPINPresent", detection.authPINPresent.map { .bool($0) } ?? .null),
                ("signCertificatePresent", detection.signCertificatePresent.map { .bool($0) } ?? .null),
                ("modes", .array(detection.confirmationModes.map { .string($0) })),
                ("authCertificateStanding", standing.map(StandingText.json) ?? .null),
            ])
            return Outcome(json: json, text: text)
        }
    }
}

// MARK: certs

/// `certs`: certificate summaries; `--out DIR` writes DER + PEM, `--pem` prints PEM.
struct CertsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "certs",
        abstract: "Read the certificates (auth, auth CA, sign CA; the sign certificate with --sign).")

    @OptionGroup var common: CommonOptions
    @OptionGroup var pinOptions: PINOptions

    @Option(name: .long, help: ArgumentHelp("Write <kind>.der and <kind>.pem into this directory.", valueName: "dir"))
    var out: String?

    @Flag(name: .long, help: "Print the certificates as PEM to stdout instead of the summary.")
    var pem = false

    @Flag(name: .long, help: "Also read the sign certificate (asks for the sign password).")
    var sign = false

    func validate() throws {
        if pem && common.json { throw ValidationError("--pem and --json cannot be combined") }
    }

    func run() async throws {
        let spec = common.reader
        let (out, pem, sign, pinOptions) = (self.out, self.pem, self.sign, self.pinOptions)
        try await Runner.execute(common) { (trace) throws(InspectError) in
            if let out {
                var isDir: ObjCBool = false
                guard FileManager.default.fileExists(atPath: out, isDirectory: &isDir), isDir.boolValue else {
                    throw InspectError(.fileError, "file_unwritable", "output directory \(out) does not exist")
                }
            }
            let access = try await CardAccess.open(spec, trace: trace)
            var pin: PIN?
            var allow = false
            if sign {
                let got = try await Runner.obtainPIN(
                    .sign, prompt: "Sign password (署名用電子証明書 暗証番号, 6-16 characters): ",
                    options: pinOptions, access: access)
                (pin, allow) = (got.pin, got.allowLastTry)
            }
            defer { pin?.wipe() }
            let (signPIN, allowLast) = (pin, allow)
            let result = try await access.withCard { card in
                try card.readCertificates(signPIN: signPIN, allowLastTry: allowLast)
            }
            var written: [String] = []
            var json: [JSON] = []
            var table = TextTable(headers: ["Kind", "名称", "Subject", "Serial", "Valid until"])
            var pemText = ""
            for k in CertificateText.order {
                guard let der = result.value[k] else { continue }
                json.append(CertificateText.json(k, der: der, includeDER: true))
                table.rows.append(CertificateText.row(k, der: der))
                pemText += CertificateText.pem(der)
                if let out {
                    let base = URL(fileURLWithPath: out).appendingPathComponent(CertificateText.kindCode(k))
                    try writeFile(base.path + ".der", Data(der))
                    try writeFile(base.path + ".pem", Data(CertificateText.pem(der).utf8))
                    written += [base.path + ".der", base.path + ".pem"]
                }
            }
            var text = pem ? String(pemText.dropLast()) : table.render()
            if !pem && !written.isEmpty { text += "\n\nWrote " + written.joined(separator: ", ") }
            return Outcome(
                json: .object([
                    ("reader", readerJSON(access)), ("cardId", .string(result.card.hex)),
                    ("certificates", .array(json)), ("written", .array(written.map { .string($0) })),
                ]), text: text)
        }
    }
}

// MARK: verify

/// `verify --trust DIR`: chain + revocation of the auth certificate; challenge-response with
/// `--with-pin`.
struct VerifyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Verify the auth certificate (chain, validity, policy, CRL); with --with-pin also a card challenge.",
        discussion: """
            DIR holds the trust anchors (self-signed CA certificates, PEM) and CRLs (PEM), \
            e.g. apdu-fixtures/pki. Without --with-pin only the auth certificate is read \
            (4 APDUs with extended length). With --with-pin the card signs a fresh 32-byte \
            random challenge with the auth key after the auth PIN is verified.
            """)

    @OptionGroup var common: CommonOptions
    @OptionGroup var pinOptions: PINOptions

    @Option(name: .long, help: ArgumentHelp("Trust directory: anchor and CRL PEM files.", valueName: "dir"))
    var trust: String

    @Flag(name: .customLong("with-pin"), help: "Also prove the card is present: the auth key signs a challenge.")
    var withPIN = false

    @OptionGroup var time: TimeOptions

    func run() async throws {
        let spec = common.reader
        let (trustPath, withPIN, pinOptions) = (trust, self.withPIN, self.pinOptions)
        let now = try time.date()
        try await Runner.execute(common) { (trace) throws(InspectError) in
            let trust = try TrustDirectory(path: trustPath)
            let verifier = try trust.verifier()
            let access = try await CardAccess.open(spec, trace: trace)
            let report: VerificationReport
            let der: [UInt8]
            var proof: CardProof?
            if withPIN {
                let (pin, allow) = try await Runner.obtainPIN(
                    .auth, prompt: "Auth PIN (利用者証明用電子証明書 暗証番号, 4 digits): ",
                    options: pinOptions, access: access)
                defer { pin.wipe() }
                let challenge: CardChallenge
                do throws(JPKIVerifyError) {
                    challenge = try CardChallenge()
                } catch {
                    throw InspectError(.internalError, error.code, error.message)
                }
                // The card proof: one transaction (auth certificate, PIN, signature — the
                // certificate after the PIN on an Android phone), then the signature and the
                // certificate's chain and revocation.
                let service = CardProofService(verifier: verifier)
                let signed = try await access.withCard { card in
                    try service.sign(card, challenge: challenge, pin: pin, allowLastTry: allow)
                }
                let verified = await service.verify(signed, at: now)
                (proof, report, der) = (verified, verified.report, verified.authCertificate)
            } else {
                do throws(InspectError) {
                    der = try await access.withCard { card in try card.readCertificate(.auth).value.der }
                } catch let e where e.code == "pin_required" {
                    throw InspectError(
                        .cardError, "certificate_after_pin",
                        "this credential (an Android phone) shows its auth certificate only after the auth PIN: use --with-pin"
                    )
                }
                report = await verifier.verify(certificateDER: Data(der), purpose: .auth, at: now)
            }
            let standing = (try? CertificateInfo(der: Data(der))).map { ExpiryPolicy.jpki.standing(of: $0, at: now) }
            let identity = CardIdentity(authCertificateDER: der)
            var head = TextTable()
            head.add("Reader", readerText(access))
            head.add("Card ID", identity.description)
            let row = CertificateText.row(.auth, der: der)
            head.add("Certificate", "\(row[1])  \(row[2])  serial \(row[3])  valid until \(row[4])")
            head.add("Trust", "\(trust.path): \(trust.anchors.count) anchors, \(trust.crls.count) CRLs")
            if withPIN { head.add("Challenge", "32 random bytes, signed by the card's auth key") }
            if let standing { head.add("Standing", StandingText.text(standing)) }
            let json = JSON.object([
                ("reader", readerJSON(access)), ("cardId", .string(identity.hex)),
                ("certificate", CertificateText.json(.auth, der: der, includeDER: false)),
                (
                    "trust",
                    .object([
                        ("directory", .string(trust.path)),
                        ("anchors", .array(trust.anchors.map { .string($0.lastPathComponent) })),
                        ("crls", .array(trust.crls.map { .string($0.lastPathComponent) })),
                    ])
                ),
                ("challenge", .string(proof.map { $0.challenge.bytes.base64EncodedString() })),
                ("signature", .string(proof.map { Data($0.signature).base64EncodedString() })),
                ("report", ReportText.json(report)),
                ("authCertificateStanding", standing.map(StandingText.json) ?? .null),
            ])
            return Outcome(
                json: json, text: head.render() + "\n\n" + ReportText.text(report),
                status: report.verdict ? .ok : .verificationFailed)
        }
    }
}

// MARK: pin-status

/// `pin-status`: every PIN's remaining tries, spending none.
struct PINStatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pin-status",
        abstract: "Show how many tries every PIN has left (an empty VERIFY: no try is spent).")

    @OptionGroup var common: CommonOptions

    func run() async throws {
        let spec = common.reader
        try await Runner.execute(common) { (trace) throws(InspectError) in
            let access = try await CardAccess.open(spec, trace: trace)
            let result = try await access.withCard { card in try card.allPINStatus(PINKind.standardSet) }
            var table = TextTable(headers: ["PIN", "名称", "AP", "Tries", "State"])
            var json: [JSON] = []
            for k in PINKind.standardSet {
                guard let r = result.value[k] else { continue }
                var tries: Int?
                var state: String
                var error: String?
                switch r {
                case .success(.triesLeft(let n)):
                    tries = n
                    state = n == 1 ? "last-try" : "ok"
                case .success(.blocked):
                    tries = 0
                    state = "blocked"
                case .success(.verified):
                    state = "verified"
                case .failure(let e):
                    state = "unavailable"
                    error = e.code
                }
                json.append(
                    .object([
                        ("pin", .string(k.rawValue)), ("application", .string(k.application.rawValue)),
                        ("triesLeft", .int(tries)), ("maxTries", .int(k.maxTries)), ("state", .string(state)),
                        ("error", .string(error)),
                    ]))
                let triesText = tries.map { "\($0)/\(k.maxTries)" } ?? "-"
                let stateText =
                    switch state {
                    case "last-try": "LAST TRY: a wrong PIN blocks it"
                    case "blocked": "BLOCKED (reset at the municipal office)"
                    case "unavailable": "unavailable (\(error ?? ""))"
                    default: state
                    }
                table.rows.append([k.rawValue, PINLabels.japanese(k), k.application.rawValue, triesText, stateText])
            }
            return Outcome(
                json: .object([
                    ("reader", readerJSON(access)), ("cardId", .string(result.card.hex)), ("pins", .array(json)),
                ]), text: table.render())
        }
    }
}

// MARK: identity

/// `identity`: basic 4 information (and the My Number only with `--my-number`), integrity
/// verified when the text-AP CV issuer key is available.
struct IdentityCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "identity",
        abstract: "Read the basic 4 information (基本4情報) with the text-AP PIN; --my-number adds the My Number.",
        discussion: """
            The integrity record (EF 0003) is verified through the AP's CV certificate when the \
            CV issuer key is given (--cv-key) or found in --trust DIR (cv/text-cv-issuer.pub.pem). \
            The My Number is read and shown only with --my-number.
            """)

    @OptionGroup var common: CommonOptions
    @OptionGroup var pinOptions: PINOptions

    @Flag(name: .customLong("my-number"), help: "Also read and show the 12-digit My Number (個人番号).")
    var myNumber = false

    @Option(name: .customLong("cv-key"), help: ArgumentHelp("Text-AP CV issuer public key (PEM).", valueName: "file"))
    var cvKey: String?

    @Option(
        name: .long, help: ArgumentHelp("Trust directory (its cv/text-cv-issuer.pub.pem is used).", valueName: "dir"))
    var trust: String?

    func run() async throws {
        let spec = common.reader
        let (myNumber, cvKey, trustPath, pinOptions) = (self.myNumber, self.cvKey, self.trust, self.pinOptions)
        try await Runner.execute(common) { (trace) throws(InspectError) in
            let key = try issuerKey(cvKey: cvKey, trust: trustPath, visual: false)
            let access = try await CardAccess.open(spec, trace: trace)
            let (pin, allow) = try await Runner.obtainPIN(
                .text, prompt: "Text-AP PIN (券面事項入力補助用 暗証番号, 4 digits): ", options: pinOptions,
                access: access)
            defer { pin.wipe() }
            let result = try await access.withCard { card in
                try card.readTextAP(pin: pin, includeMyNumber: myNumber, allowLastTry: allow)
            }
            let data = result.value
            var report: VerificationReport?
            if let key {
                do throws(JPKIVerifyError) {
                    report = try APIntegrityVerifier(textIssuerKey: key, visualIssuerKey: nil).verifyText(data)
                } catch {
                    throw InspectError(.fileError, error.code, "CV issuer key \(key.path): \(error.message)")
                }
            }
            let b = data.basicInfo
            var t = TextTable()
            t.add("氏名 Name", b.name)
            t.add("住所 Address", b.address)
            t.add("生年月日 Birth date", b.birthDate.description)
            t.add("性別 Sex", sexText(b.sex))
            if let my = data.myNumber { t.add("個人番号 My Number", my.digits) }
            t.add("完全性 Integrity", integrityText(report, keyHint: "--cv-key or --trust"))
            var text = t.render()
            if let report, !report.verdict { text += "\n\n" + ReportText.text(report) }
            let json = JSON.object([
                ("reader", readerJSON(access)), ("cardId", .string(result.card.hex)),
                ("name", .string(b.name)), ("nameNFKC", .string(b.nameNFKC)),
                ("address", .string(b.address)), ("addressNFKC", .string(b.addressNFKC)),
                ("birthDate", .string(b.birthDate.description)), ("sex", .string(b.sex.code)),
                ("myNumber", .string(data.myNumber?.digits)),
                ("integrity", report.map(ReportText.json) ?? .null),
            ])
            return Outcome(json: json, text: text, status: report.map { $0.verdict ? .ok : .verificationFailed } ?? .ok)
        }
    }
}

/// `1 (男性 male)`.
func sexText(_ s: Sex) -> String {
    switch s {
    case .male: "1 (男性 male)"
    case .female: "2 (女性 female)"
    case .notKnown: "0 (不明 not known)"
    case .notApplicable: "9 (適用不能 not applicable)"
    }
}

/// The integrity line.
func integrityText(_ report: VerificationReport?, keyHint: String) -> String {
    guard let report else { return "not checked (no CV issuer key: \(keyHint))" }
    if report.verdict {
        return "verified (" + report.checks.filter(\.outcome.isPassed).map(\.id).joined(separator: ", ") + ")"
    }
    return "FAILED (" + ReportText.failedSummary(report) + ")"
}

/// The CV issuer key: `--cv-key`, else the one in `--trust DIR`, else none.
func issuerKey(cvKey: String?, trust: String?, visual: Bool) throws(InspectError) -> URL? {
    if let cvKey {
        guard FileManager.default.isReadableFile(atPath: cvKey) else {
            throw InspectError(.fileError, "file_unreadable", "cannot read CV issuer key \(cvKey)")
        }
        return URL(fileURLWithPath: cvKey)
    }
    guard let trust else { return nil }
    let dir = try TrustDirectory(path: trust)
    return visual ? dir.visualIssuerKey : dir.textIssuerKey
}

// MARK: face

/// `face --out FILE`: the face photo (JPEG 2000) from the visual AP.
struct FaceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "face",
        abstract: "Save the face photo (JPEG 2000) from the card face (券面事項確認AP).",
        discussion: """
            The visual AP opens with 照合番号B or 照合番号A (the My Number). By default \
            (--key b) 照合番号B is asked for (14 digits: birth date as era YYMMDD, expiry \
            year, security code), and the My Number is never touched. With --key my-number \
            the text-AP PIN is asked for instead, and the My Number is read from the text AP \
            and used as 照合番号A without being shown or kept (like identity --my-number, \
            this route must be asked for explicitly). The file is written with mode 0600.
            """)

    /// How the visual AP is opened.
    enum KeyRoute: String, ExpressibleByArgument, CaseIterable {
        /// 照合番号B, typed from the card face (the default).
        case b
        /// The text-AP PIN; the My Number read with it serves as 照合番号A.
        case myNumber = "my-number"
    }

    @OptionGroup var common: CommonOptions
    @OptionGroup var pinOptions: PINOptions

    @Option(name: .long, help: ArgumentHelp("Where to write the face photo (.jp2).", valueName: "file"))
    var out: String

    @Option(
        name: .long,
        help: "How to open the visual AP: b (照合番号B, default) or my-number (text-AP PIN; the My Number as 照合番号A)."
    )
    var key: KeyRoute = .b

    @Option(name: .customLong("cv-key"), help: ArgumentHelp("Visual-AP CV issuer public key (PEM).", valueName: "file"))
    var cvKey: String?

    @Option(
        name: .long, help: ArgumentHelp("Trust directory (its cv/visual-cv-issuer.pub.pem is used).", valueName: "dir"))
    var trust: String?

    func run() async throws {
        let spec = common.reader
        let (out, route, cvKey, trustPath, pinOptions) = (self.out, self.key, self.cvKey, self.trust, self.pinOptions)
        try await Runner.execute(common) { (trace) throws(InspectError) in
            let key = try issuerKey(cvKey: cvKey, trust: trustPath, visual: true)
            let access = try await CardAccess.open(spec, trace: trace)
            let kind: PINKind = route == .myNumber ? .text : .visualB
            let prompt =
                route == .myNumber
                ? "Text-AP PIN (券面事項入力補助用 暗証番号, 4 digits): "
                : "照合番号B (14 digits: birth date YYMMDD, expiry year, security code): "
            let (pin, allow) = try await Runner.obtainPIN(kind, prompt: prompt, options: pinOptions, access: access)
            defer { pin.wipe() }
            let result = try await access.withCard { card -> CardResult<CardFaceData> in
                if route == .b { return try card.readCardFace(key: pin, kind: .visualB, allowLastTry: allow) }
                let my = try card.readMyNumber(pin: pin, kind: .text, allowLastTry: allow).value
                var digits = Array(my.digits.utf8)
                let keyA = PIN(bytes: &digits)
                defer { keyA.wipe() }
                return try card.readCardFace(key: keyA, kind: .visualA, allowLastTry: allow)
            }
            let face = result.value.face
            try writeFile(out, Data(face.faceJPEG2000), mode: 0o600)
            var report: VerificationReport?
            if let key {
                do throws(JPKIVerifyError) {
                    report = try APIntegrityVerifier(textIssuerKey: nil, visualIssuerKey: key).verifyVisual(
                        result.value)
                } catch {
                    throw InspectError(.fileError, error.code, "CV issuer key \(key.path): \(error.message)")
                }
            }
            var t = TextTable()
            t.add("Face photo", "\(face.faceJPEG2000.count) bytes, JPEG 2000, written to \(out)")
            t.add("Card expiry", face.expiry.description)
            t.add("Integrity", integrityText(report, keyHint: "--cv-key or --trust"))
            var text = t.render()
            if let report, !report.verdict { text += "\n\n" + ReportText.text(report) }
            let json = JSON.object([
                ("reader", readerJSON(access)), ("cardId", .string(result.card.hex)), ("file", .string(out)),
                ("bytes", .int(face.faceJPEG2000.count)), ("format", .string("image/jp2")),
                ("sha256", .string(SHA256.hash(face.faceJPEG2000).hexString)),
                ("expiry", .string(face.expiry.description)),
                ("integrity", report.map(ReportText.json) ?? .null),
            ])
            return Outcome(json: json, text: text, status: report.map { $0.verdict ? .ok : .verificationFailed } ?? .ok)
        }
    }
}

// MARK: sign

/// `sign --in FILE`: the SHA-256 digest of a file signed with the sign key, checked with the
/// sign certificate.
struct SignCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sign",
        abstract: "Sign a file's SHA-256 digest with the sign key (RSASSA-PKCS1-v1_5) and verify it.",
        discussion: """
            Asks for the sign password, signs DigestInfo(SHA-256(FILE)) on the card, reads the \
            sign certificate in the same transaction and verifies the signature with it. With \
            --trust DIR the sign certificate's chain and CRL are verified too. --out writes the \
            raw 256-byte signature; otherwise it is printed (base64).
            """)

    @OptionGroup var common: CommonOptions
    @OptionGroup var pinOptions: PINOptions

    @Option(name: .customLong("in"), help: ArgumentHelp("The file to sign.", valueName: "file"))
    var input: String

    @Option(name: .long, help: ArgumentHelp("Write the raw signature here.", valueName: "file"))
    var out: String?

    @Option(name: .long, help: ArgumentHelp("Trust directory: also verify the sign certificate.", valueName: "dir"))
    var trust: String?

    func run() async throws {
        let spec = common.reader
        let (input, out, trustPath, pinOptions) = (self.input, self.out, self.trust, self.pinOptions)
        try await Runner.execute(common) { (trace) throws(InspectError) in
            let content = try readFile(input, what: "input file")
            let verifier = try trustPath.map { (p) throws(InspectError) in try TrustDirectory(path: p).verifier() }
            let access = try await CardAccess.open(spec, trace: trace)
            let (pin, allow) = try await Runner.obtainPIN(
                .sign, prompt: "Sign password (署名用電子証明書 暗証番号, 6-16 characters): ", options: pinOptions,
                access: access)
            defer { pin.wipe() }
            // One transaction: the sign password, the sign certificate (readable only after it),
            // whose key names the scheme (RSA PKCS#1 v1.5 SHA-256, or ECDSA P-384 SHA-384: the
            // card is given the raw hash), and the signature.
            let signed = try await access.withCard { card in
                try card.sign(.sign, message: [UInt8](content), pin: pin, allowLastTry: allow).value
            }
            let (signature, cert) = (signed.signature, signed.certificate)
            guard let scheme = signed.scheme else {
                throw InspectError(.cardError, "unsupported_key_algorithm", "the sign key's algorithm is not supported")
            }
            let digest = scheme.digest.hash(content)
            if let out { try writeFile(out, Data(signature)) }
            let report =
                if let verifier {
                    await DocumentSignature.verify(
                        digest: digest, algorithm: scheme.digest, signature: Data(signature),
                        signCertificateDER: Data(cert), verifier: verifier)
                } else {
                    DocumentSignature.verify(
                        digest: digest, algorithm: scheme.digest, signature: Data(signature),
                        signCertificateDER: Data(cert))
                }
            var t = TextTable()
            t.add("Reader", readerText(access))
            t.add("File", "\(input) (\(content.count) bytes)")
            t.add(
                scheme.digest.rawValue.uppercased().replacingOccurrences(of: "SHA", with: "SHA-"),
                [UInt8](digest).hexString.lowercased())
            t.add("Signature", "\(scheme.name), \(signature.count) bytes" + (out.map { ", written to \($0)" } ?? ""))
            let row = CertificateText.row(.sign, der: cert)
            t.add("Certificate", "\(row[1])  serial \(row[3])  valid until \(row[4])")
            var text = t.render()
            if out == nil { text += "\n\n" + Data(signature).base64EncodedString() }
            text += "\n\n" + ReportText.text(report)
            let json = JSON.object([
                ("reader", readerJSON(access)), ("file", .string(input)), ("bytes", .int(content.count)),
                (scheme.digest.rawValue, .string([UInt8](digest).hexString.lowercased())),
                ("algorithm", .string(scheme.name.lowercased())),
                ("signature", .string(Data(signature).base64EncodedString())), ("signatureFile", .string(out)),
                ("certificate", CertificateText.json(.sign, der: cert, includeDER: true)),
                ("report", ReportText.json(report)),
            ])
            return Outcome(json: json, text: text, status: report.verdict ? .ok : .verificationFailed)
        }
    }
}
