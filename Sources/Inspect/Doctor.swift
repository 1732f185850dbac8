import ArgumentParser
import Foundation
import HTTPTransport
import JPKI
import JPKIVerify
import SmartCard
import SmartCardPCSC

/// The checks of `card-inspect doctor`, in the order they run. The exit status of the command is
/// the ``exitStatus`` of the first check that fails (0 when none fails).
public enum DoctorCheck: String, CaseIterable, Sendable {
    /// pcscd's socket accepts connections.
    case pcscd
    /// pcscd lets this user in (polkit's `access_pcsc`, the "NOT authorized" trap).
    case pcscPermission = "pcsc_permission"
    /// At least one reader (or the one `--reader` names).
    case readers
    /// A card in the reader.
    case card
    /// The card answers SELECT of the JPKI application.
    case cardSelect = "card_select"
    /// The kind of credential (My Number card, smartphone JPKI …) is one jpkid serves.
    case credential
    /// jpkid's socket accepts this user's connection.
    case jpkidSocket = "jpkid_socket"
    /// jpkid gives this user a role (status at least).
    case jpkidRole = "jpkid_role"
    /// Trust anchors are configured and parse as certificates.
    case trustAnchors = "trust_anchors"
    /// The system clock is plausible for certificate checks.
    case clock

    /// 20 + the position of the check (20…29), so the status names the first failing check.
    public var exitStatus: Int32 { 20 + Int32(Self.allCases.firstIndex(of: self)!) }

    /// The checks that must pass before this one can run.
    var prerequisite: DoctorCheck? {
        switch self {
        case .pcscd, .jpkidSocket, .trustAnchors, .clock: nil
        case .pcscPermission: .pcscd
        case .readers: .pcscPermission
        case .card: .readers
        case .cardSelect: .card
        case .credential: .cardSelect
        case .jpkidRole: .jpkidSocket
        }
    }
}

/// One check's result.
public struct DoctorResult: Sendable, Equatable {
    /// ok, fail, or skip (a prerequisite failed).
    public enum Status: String, Sendable { case ok, fail, skip }
    /// The check.
    public var check: DoctorCheck
    /// Its status.
    public var status: Status
    /// What was found.
    public var detail: String
    /// How to fix it (failures only).
    public var fix: String?
}

/// How a Unix socket answered a connection attempt.
public enum SocketProbe: Sendable, Equatable {
    /// Connected.
    case connectable
    /// No socket file at the path.
    case missing
    /// The connection was refused or not permitted (errno name and text).
    case failed(errno: Int32, message: String)
}

/// What the doctor looks at. ``SystemDoctorEnvironment`` asks the system; tests give doubles.
public protocol DoctorEnvironment: Sendable {
    /// pcscd's client socket path.
    var pcscSocketPath: String { get }
    /// Connects to a Unix stream socket and closes it again.
    func probeSocket(_ path: String) async -> SocketProbe
    /// SCardEstablishContext (then released).
    func establishPCSC() async -> InspectError?
    /// The readers.
    func readers() async -> Result<[ReaderState], InspectError>
    /// SELECT of the JPKI application and the token label.
    func probeCard(_ reader: ReaderState, index: Int) async -> Result<CardProbe, InspectError>
    /// The HTTP status of `GET route` on jpkid's socket, or the connection failure.
    func jpkidStatus(socket: String, route: String) async -> Result<Int, SocketProbeError>
    /// A file's bytes, nil when it cannot be read.
    func readFile(_ path: String) -> Data?
    /// The system clock.
    var now: Date { get }
}

/// A connection failure on a Unix socket.
public struct SocketProbeError: Error, Sendable, Equatable {
    /// errno (0 when the peer closed without an answer).
    public var errno: Int32
    /// For people.
    public var message: String
    /// Creates one.
    public init(errno: Int32, message: String) {
        self.errno = errno
        self.message = message
    }
}

/// The doctor's logic over an environment: runs every check in order, skipping those whose
/// prerequisite failed. Pure apart from the environment, so each failure is testable.
public struct Doctor: Sendable {
    /// The reader `--reader` names, if any.
    public var readerSpec: String?
    /// jpkid's socket.
    public var jpkidSocket: String
    /// jpkid's configuration (for the trust anchors).
    public var configPath: String
    /// Earliest plausible clock: no certificate check can be right before this (the year this
    /// doctor was written; an assumption, see README "Packages").
    public static let earliestPlausible = Date(timeIntervalSince1970: 1_767_225_600)  // 2026-01-01Z
    /// Latest plausible clock.
    public static let latestPlausible = Date(timeIntervalSince1970: 4_102_444_800)  // 2100-01-01Z

    /// Creates a doctor.
    public init(readerSpec: String?, jpkidSocket: String, configPath: String) {
        self.readerSpec = readerSpec
        self.jpkidSocket = jpkidSocket
        self.configPath = configPath
    }

    /// Runs all checks.
    public func run(_ env: some DoctorEnvironment) async -> [DoctorResult] {
        var results: [DoctorResult] = []
        var chosen: (index: Int, state: ReaderState)?
        var probe: CardProbe?
        var anchors: [(String, CertificateInfo)] = []
        func ok(_ c: DoctorCheck, _ detail: String) { results.append(.init(check: c, status: .ok, detail: detail)) }
        func fail(_ c: DoctorCheck, _ detail: String, fix: String) {
            results.append(.init(check: c, status: .fail, detail: detail, fix: fix))
        }
        for check in DoctorCheck.allCases {
            if let pre = check.prerequisite, results.first(where: { $0.check == pre })?.status != .ok {
                results.append(.init(check: check, status: .skip, detail: "needs \(pre.rawValue)"))
                continue
            }
            switch check {
            case .pcscd:
                let path = env.pcscSocketPath
                switch await env.probeSocket(path) {
                case .connectable: ok(check, "pcscd answers at \(path)")
                case .missing:
                    fail(
                        check, "no pcscd socket at \(path)",
                        fix: "install and start pcscd: apt-get install pcscd && systemctl start pcscd.socket")
                case .failed(_, let message):
                    fail(
                        check, "cannot connect to \(path): \(message)",
                        fix: "start pcscd (systemctl restart pcscd.socket); check the socket's permissions")
                }
            case .pcscPermission:
                if let error = await env.establishPCSC() {
                    // pcscd accepted the connection but no context: pcscd (built with polkit)
                    // turned this user away: "NOT authorized for action: access_pcsc".
                    fail(
                        check, "pcscd refused a context to this user (\(error.message))",
                        fix: "pcscd allows only active desktop sessions by default: run as user jpkid "
                            + "(the polkit rule /usr/share/polkit-1/rules.d/50-jpkid-pcscd.rules), or add "
                            + "a polkit rule for this user; pcscd's log shows \"NOT authorized for action: access_pcsc\""
                    )
                } else {
                    ok(check, "pcscd gives this user a context")
                }
            case .readers:
                switch await env.readers() {
                case .failure(let error):
                    fail(check, error.message, fix: "plug in a PC/SC (CCID) reader; check it with pcsc_scan")
                case .success(let all):
                    do throws(InspectError) {
                        let found = try selectReader(readerSpec, in: all, requireCard: false)
                        chosen = found
                        ok(
                            check,
                            "\(all.count) reader\(all.count == 1 ? "" : "s"): \(all.map(\.name).joined(separator: ", "))"
                        )
                        // Without --reader, the first reader that holds a card.
                        if readerSpec == nil, let withCard = all.firstIndex(where: \.cardPresent) {
                            chosen = (withCard, all[withCard])
                        }
                    } catch {
                        fail(
                            check, error.message,
                            fix: error.status == .noReader
                                ? "plug in a PC/SC (CCID) reader; check it with pcsc_scan"
                                : "name a reader card-inspect readers lists (--reader NAME|INDEX)")
                    }
                }
            case .card:
                guard let chosen, chosen.state.cardPresent else {
                    fail(
                        check, "no card in \(chosen.map { "reader '\($0.state.name)'" } ?? "any reader")",
                        fix: "insert the card (chip first, face up) or place the smartphone on the reader")
                    continue
                }
                ok(check, "a card is in '\(chosen.state.name)' (ATR \(chosen.state.atr.hexString))")
            case .cardSelect:
                guard let chosen else { continue }
                switch await env.probeCard(chosen.state, index: chosen.index) {
                case .failure(let error):
                    fail(
                        check, "the card does not answer SELECT of the JPKI application: \(error.message)",
                        fix: "re-insert the card; clean the contacts; try another reader")
                case .success(let found) where found.type == .notJPKI:
                    fail(
                        check, "the card has no JPKI application (not a My Number card)",
                        fix: "use a My Number card or a smartphone with the JPKI app")
                case .success(let found):
                    probe = found
                    ok(check, "the JPKI application answers")
                }
            case .credential:
                guard let probe else { continue }
                if case .unknown = probe.type {
                    fail(
                        check, probe.type.label,
                        fix: "jpkid serves My Number cards and smartphone JPKI; this token is not one of them")
                } else {
                    ok(check, probe.type.label)
                }
            case .jpkidSocket:
                switch await env.jpkidStatus(socket: jpkidSocket, route: "/v1/health") {
                case .failure(let error):
                    fail(
                        check, "cannot reach jpkid at \(jpkidSocket): \(error.message)",
                        fix: error.errno == EACCES
                            ? "add this user to the group jpkid-clients (usermod -aG jpkid-clients USER), log in again"
                            : "start jpkid: systemctl enable --now jpkid.socket (or pass --socket PATH)")
                case .success(let status) where status == 403:
                    ok(check, "jpkid answers at \(jpkidSocket)")
                case .success(let status) where status == 200:
                    ok(check, "jpkid answers at \(jpkidSocket)")
                case .success(let status):
                    fail(
                        check, "jpkid answered \(status) to /v1/health",
                        fix: "see jpkid's log: journalctl -u jpkid.service")
                }
            case .jpkidRole:
                let health = await env.jpkidStatus(socket: jpkidSocket, route: "/v1/health")
                let readers = await env.jpkidStatus(socket: jpkidSocket, route: "/v1/readers")
                let fix =
                    "give this user's uid or group a role in /etc/jpkid/jpkid.json (roles.users / "
                    + "roles.groups, e.g. the group jpkid-clients with [\"status\"]), then restart jpkid"
                if case .success(200) = readers {
                    ok(check, "this user holds the status role")
                } else if case .success(200) = health {
                    fail(check, "this user has a role but not status (GET /v1/readers is refused)", fix: fix)
                } else {
                    fail(check, "jpkid knows no role for this user (403 unknown_peer)", fix: fix)
                }
            case .trustAnchors:
                let anchorFix =
                    "put J-LIS's JPKI root certificates (PEM) under /etc/jpkid/ and list them in "
                    + "trust.authAnchors and trust.signAnchors of \(configPath)"
                guard let data = env.readFile(configPath) else {
                    fail(
                        check, "cannot read jpkid's configuration \(configPath)",
                        fix: "pass --config FILE, or make the file readable to this user")
                    continue
                }
                guard let root = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
                    fail(check, "\(configPath) is not a JSON object", fix: "check it with jpkid --check-config")
                    continue
                }
                let trust = root["trust"] as? [String: Any] ?? [:]
                let paths = ["authAnchors", "signAnchors"].flatMap { trust[$0] as? [String] ?? [] }
                guard !paths.isEmpty else {
                    fail(check, "no trust anchors configured (trust.authAnchors, trust.signAnchors)", fix: anchorFix)
                    continue
                }
                var problems: [String] = []
                for path in paths {
                    guard let bytes = env.readFile(path) else {
                        problems.append("cannot read \(path)")
                        continue
                    }
                    let text = String(decoding: bytes, as: UTF8.self)
                    let parsed: CertificateInfo? =
                        text.contains("-----BEGIN") ? try? CertificateInfo(pem: text) : try? CertificateInfo(der: bytes)
                    if let parsed {
                        anchors.append((path, parsed))
                    } else {
                        problems.append("\(path) is not a certificate")
                    }
                }
                if problems.isEmpty {
                    ok(check, "\(anchors.count) anchor\(anchors.count == 1 ? "" : "s") parse")
                } else {
                    fail(check, problems.joined(separator: "; "), fix: anchorFix)
                }
            case .clock:
                let now = env.now
                let iso = ISO8601DateFormatter().string(from: now)
                if now < Self.earliestPlausible || now > Self.latestPlausible {
                    fail(
                        check, "the system clock says \(iso)",
                        fix: "set the clock (timedatectl set-ntp true); certificate checks need the right date")
                } else if let (path, anchor) = anchors.first(where: { now < $0.1.notBefore || now > $0.1.notAfter }) {
                    fail(
                        check, "the system clock (\(iso)) is outside the validity of \(path)",
                        fix: "set the clock (timedatectl set-ntp true), or replace the expired anchor")
                } else {
                    ok(check, "the system clock says \(iso)")
                }
            }
        }
        return results
    }

    /// The exit status for results: the first failing check's, or 0.
    public static func exitStatus(_ results: [DoctorResult]) -> Int32 {
        results.first { $0.status == .fail }?.check.exitStatus ?? 0
    }

    /// The `--json` shape: `{"checks":[{check,status,detail,fix}],"firstFailure","exitStatus"}`.
    public static func json(_ results: [DoctorResult]) -> JSON {
        .object([
            (
                "checks",
                .array(
                    results.map {
                        .object([
                            ("check", .string($0.check.rawValue)), ("status", .string($0.status.rawValue)),
                            ("detail", .string($0.detail)), ("fix", .string($0.fix)),
                        ])
                    })
            ),
            ("firstFailure", .string(results.first { $0.status == .fail }?.check.rawValue)),
            ("exitStatus", .int(Int(exitStatus(results)))),
        ])
    }

    /// The text rendering: `ok   check  detail`, and `fix:` under each failure.
    public static func text(_ results: [DoctorResult]) -> String {
        let width = DoctorCheck.allCases.map(\.rawValue.count).max() ?? 0
        return results.map { r in
            let tag = r.status == .fail ? "FAIL" : r.status.rawValue
            var line =
                "\(tag.padding(toLength: 5, withPad: " ", startingAt: 0)) "
                + "\(r.check.rawValue.padding(toLength: width, withPad: " ", startingAt: 0))  \(r.detail)"
            if let fix = r.fix { line += "\n      fix: \(fix)" }
            return line
        }.joined(separator: "\n")
    }

    /// The exit-status table for `--help`.
    public static var exitTable: String {
        DoctorCheck.allCases.map { "  \($0.exitStatus)  \($0.rawValue) failed" }.joined(separator: "\n")
    }
}

/// The doctor's view of this machine.
public struct SystemDoctorEnvironment: DoctorEnvironment {
    /// The `--trace` sink.
    public var trace: APDUTrace?

    /// Creates the environment.
    public init(trace: APDUTrace?) { self.trace = trace }

    /// `PCSCLITE_CSOCK_NAME` (pcsc-lite's override) or Debian's `/run/pcscd/pcscd.comm`.
    public var pcscSocketPath: String {
        ProcessInfo.processInfo.environment["PCSCLITE_CSOCK_NAME"] ?? "/run/pcscd/pcscd.comm"
    }

    public var now: Date { Date() }

    public func probeSocket(_ path: String) async -> SocketProbe {
        if !FileManager.default.fileExists(atPath: path) { return .missing }
        return await onThread {
            switch UnixSocketClient.connect(path) {
            case .success(let fd):
                close(fd)
                return .connectable
            case .failure(let e): return .failed(errno: e.errno, message: e.message)
            }
        }
    }

    public func establishPCSC() async -> InspectError? {
        do {
            let context = try await PCSCContext.establish()
            await context.release()
            return nil
        } catch {
            return InspectError.from(error)
        }
    }

    public func readers() async -> Result<[ReaderState], InspectError> {
        do { return .success(try await listReaders()) } catch { return .failure(error) }
    }

    public func probeCard(_ reader: ReaderState, index: Int) async -> Result<CardProbe, InspectError> {
        let access = CardAccess(reader: reader.name, index: index, atr: reader.atr, trace: trace)
        do { return .success(try await access.run { try CardProbe.probe($0) }) } catch { return .failure(error) }
    }

    /// `GET route` on jpkid's socket through async-http-client, 10 s at most.
    public func jpkidStatus(socket: String, route: String) async -> Result<Int, SocketProbeError> {
        do {
            let answer = try await UnixSocketHTTPClient(socketPath: socket).request(
                "GET", route, timeout: 10, maxBytes: 1 << 20)
            return .success(answer.status)
        } catch {
            if case .connect(let e, let message) = error { return .failure(.init(errno: e, message: message)) }
            return .failure(.init(errno: 0, message: "no HTTP answer"))
        }
    }

    public func readFile(_ path: String) -> Data? { FileManager.default.contents(atPath: path) }
}

/// Runs blocking work on a thread of its own (never on the cooperative pool).
func onThread<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in
        Thread.detachNewThread { continuation.resume(returning: work()) }
    }
}

/// The connect probe of a Unix socket (pcscd's; jpkid's HTTP goes through `UnixSocketHTTPClient`).
enum UnixSocketClient {
    static func connect(_ path: String) -> Result<CInt, SocketProbeError> {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return .failure(lastError()) }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else {
            close(fd)
            return .failure(.init(errno: ENAMETOOLONG, message: "socket path too long"))
        }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            for (i, b) in bytes.enumerated() { raw[i] = b }
        }
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard rc == 0 else {
            let e = lastError()
            close(fd)
            return .failure(e)
        }
        return .success(fd)
    }

    static func lastError() -> SocketProbeError {
        let e = errno
        return .init(errno: e, message: String(cString: strerror(e)))
    }
}

// MARK: doctor

/// `doctor`: what is wrong with this machine's card setup, and how to fix it.
struct DoctorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "doctor",
        abstract: "Check pcscd, its permission, readers, the card, jpkid, trust anchors and the clock.",
        discussion: """
            Each check prints ok, FAIL (with the fix) or skip (a check it needs failed). The exit \
            status names the first failing check (0 = all passed):
            \(Doctor.exitTable)
            """)

    @OptionGroup var common: CommonOptions

    @Option(help: "jpkid's socket.")
    var socket = "/run/jpkid/jpkid.sock"

    @Option(help: "jpkid's configuration (for the trust anchors).")
    var config = "/etc/jpkid/jpkid.json"

    func run() async throws {
        let trace: APDUTrace? = common.trace ? APDUTrace(sink: { Runner.err($0) }) : nil
        let doctor = Doctor(readerSpec: common.reader, jpkidSocket: socket, configPath: config)
        let results = await doctor.run(SystemDoctorEnvironment(trace: trace))
        Runner.out(common.json ? Doctor.json(results).rendered() : Doctor.text(results))
        let status = Doctor.exitStatus(results)
        if status != 0 { throw ExitCode(status) }
    }
}
