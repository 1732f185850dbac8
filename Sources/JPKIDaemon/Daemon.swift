import Eligibility
import Foundation
import JPKI
import Logging
import SmartCard

/// The running daemon: PC/SC monitor → reader supervisor → HTTP API on the Unix socket.
public final class Daemon: Sendable {
    /// The effective configuration.
    public let config: DaemonConfig
    let server: HTTPServer
    let monitor: PCSCMonitor
    let supervisor: ReaderSupervisor
    let runTask: Task<Void, Never>
    let eligibility: EligibilityService

    /// Reads a card's binding at insertion: JPKI detection by SELECT, token info, and the SHA-256
    /// of the auth certificate. The other applications are not probed: the binding does not use
    /// them, and on a real reader each probe costs a SELECT (~10 ms contact, bench/run); the
    /// token info and the certificate are read by SFI where the card allows it (2 SELECTs less).
    public static let identifyCard: CardIdentifier = { channel in
        let d = try MyNumberCard(channel: channel).detect(probing: [], addressBySFI: true)
        guard d.applications.contains(.jpki) else { throw JPKIError.notJPKICard }
        return CardBinding(
            authCertificateFingerprint: d.identity?.hex, cardType: "\(d.cardType)",
            authCertificateDER: d.authCertificate)
    }

    /// Starts everything; throws on a bad configuration or a socket that cannot be bound.
    /// `listenFD` is a socket passed by systemd socket activation (see ``Systemd``); without it
    /// the daemon creates `config.socket.path` itself.
    public static func start(config: DaemonConfig, logger: Logger, listenFD: CInt? = nil) async throws -> Daemon {
        // A client that goes away mid-response must never kill the process.
        signal(SIGPIPE, SIG_IGN)
        let roles = try RoleMap(config.roles)
        let audit = try AuditLog(path: config.auditLog)
        let bus = EventBus()
        let supervisor = ReaderSupervisor(
            bus: bus, ignoredReaders: config.ignoreReaders, logger: logger, identify: identifyCard)
        let verifier = try DaemonAPI.makeVerifier(config.trust)
        let eligibility = EligibilityService(configuration: config.eligibility, logger: logger)
        let api = DaemonAPI(
            supervisor: supervisor, bus: bus, roles: roles, audit: audit, config: config, logger: logger,
            verifier: verifier, integrity: try DaemonAPI.makeIntegrityVerifier(config.trust),
            eligibility: eligibility)
        guard let mode = config.socketMode else {
            throw ConfigError.invalid(field: "socket.mode", reason: "not an octal mode")
        }
        let server = try await HTTPServer.start(
            path: config.socket.path, mode: mode, group: config.socket.group, limits: config.limits,
            responder: api, logger: logger, listenFD: listenFD)
        let monitor = PCSCMonitor()
        let task = Task { await supervisor.run(monitor.events) }
        logger.info(
            "jpkid listening",
            metadata: ["socket": "\(config.socket.path)", "activation": "\(listenFD == nil ? "own" : "systemd")"])
        return Daemon(
            config: config, server: server, monitor: monitor, supervisor: supervisor, runTask: task,
            eligibility: eligibility)
    }

    private init(
        config: DaemonConfig, server: HTTPServer, monitor: PCSCMonitor, supervisor: ReaderSupervisor,
        runTask: Task<Void, Never>, eligibility: EligibilityService
    ) {
        self.eligibility = eligibility
        self.config = config
        self.server = server
        self.monitor = monitor
        self.supervisor = supervisor
        self.runTask = runTask
    }

    /// Stops accepting, disconnects cards and removes the socket.
    public func shutdown() async {
        await server.shutdown()
        monitor.stop()
        await runTask.value
        await supervisor.shutdown()
        await eligibility.shutdown()
    }
}
