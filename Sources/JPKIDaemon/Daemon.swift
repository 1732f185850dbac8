import Eligibility
import Foundation
import HTTPTransport
import JPKI
import JPKIVerify
import Logging
import NIOCore
import NIOPosix
import SmartCard
import SmartCardPCSC

/// The running daemon: reader backend (pcscd) → reader supervisor → HTTP API on the Unix socket.
public final class Daemon: Sendable {
    /// The effective configuration.
    public let config: DaemonConfig
    let server: HTTPServer
    let backend: any ReaderBackend
    let supervisor: ReaderSupervisor
    let runTask: Task<Void, Never>
    /// ``MemoryTrimmer`` (cancelled at shutdown).
    let trimTask: Task<Void, Never>
    let eligibility: EligibilityService
    let faceIntake: OQSFaceIntake?
    /// The audit log (closed with a signed checkpoint at shutdown).
    public let audit: AuditLog

    /// Reads a card's binding at insertion: JPKI detection by SELECT, token info, and the SHA-256
    /// of the auth certificate. The other applications are not probed: the binding does not use
    /// them, and on a real reader each probe costs a SELECT (~10 ms contact, bench/run); the
    /// token info and the certificate are read by SFI where the card allows it (2 SELECTs less).
    public static let identifyCard: CardIdentifier = { channel in
        let d = try MyNumberCard(channel: channel).detect(probing: [], addressBySFI: true)
        guard d.applications.contains(.jpki) else { throw JPKIError.notJPKICard }
        return CardBinding(
            authCertificateFingerprint: d.identity?.hex, cardType: d.cardType.code,
            authCertificateDER: d.authCertificate, authPINPresent: d.authPINPresent, modes: d.confirmationModes,
            credential: d.credentialKind.code, certificateAfterPIN: d.authCertificateAfterPIN, tokenInfo: d.tokenInfo)
    }

    /// Starts everything; throws on a bad configuration or a socket that cannot be bound.
    /// `listenFD` is a socket passed by systemd socket activation (see ``Systemd``); without it
    /// the daemon creates `config.socket.path` itself. `readers` is where readers and cards come
    /// from: pcscd by default; tests pass simulated readers (CardSimulator's `SimulatedReaders`).
    /// `clock` is the verification time of eligibility answers and the sessions' time stamps
    /// (tests pin it).
    public static func start(
        config: DaemonConfig, logger: Logger, listenFD: CInt? = nil, readers: (any ReaderBackend)? = nil,
        clock: @escaping @Sendable () -> Date = { Date() }
    ) async throws -> Daemon {
        // A client that goes away mid-response must never kill the process.
        signal(SIGPIPE, SIG_IGN)
        // The generated routes (docs/openapi.yaml): a table that cannot be built stops the start.
        _ = try DaemonAPI.routing.get()
        let roles = try RoleMap(config.roles)
        let audit = try AuditLog(config: config, createKey: true)
        for note in audit.writer.notes { logger.error("audit log", metadata: ["note": "\(note)"]) }
        let bus = EventBus()
        let backend = readers ?? PCSCReaderBackend()
        let supervisor = ReaderSupervisor(
            bus: bus, backend: backend, ignoredReaders: config.ignoreReaders, logger: logger, now: clock,
            identify: identifyCard)
        // One NIO group for the server and the daemon's HTTP clients (OCSP, eligibility gateway).
        let group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, System.coreCount))
        let requester = AsyncHTTPRequester(eventLoopGroup: group)
        let verifier: CertificateVerifier?
        do {
            verifier = try DaemonAPI.makeVerifier(config.trust, requester: requester)
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
        let eligibility = EligibilityService(configuration: config.eligibility, logger: logger, requester: requester)
        let faceStore: OQSFaceResults? = config.eligibility.provider == .oqs ? OQSFaceResults() : nil
        let api = DaemonAPI(
            supervisor: supervisor, bus: bus, roles: roles, audit: audit, config: config, logger: logger,
            verifier: verifier, integrity: try DaemonAPI.makeIntegrityVerifier(config.trust),
            eligibility: eligibility, faceStore: faceStore, clock: clock)
        guard let mode = config.socketMode else {
            throw ConfigError.invalid(field: "socket.mode", reason: "not an octal mode")
        }
        let server = try await HTTPServer.start(
            path: config.socket.path, mode: mode, group: config.socket.group, limits: config.limits,
            responder: api, logger: logger, listenFD: listenFD, eventLoopGroup: group,
            admit: { peer in !roles.roles(for: peer).isEmpty },
            refused: { method, path, peer, code in
                // Refusals by the HTTP layer (no role, too many connections, 400/408/413/431) are
                // audited like the API's, rate-limited per uid by the audit log.
                Task { await audit.recordRefusal(method: method, path: path, peer: peer, code: code) }
            })
        let task = Task { await supervisor.run() }
        let trimTask = Task { await MemoryTrimmer.run(server: server, bus: bus) }
        let faceIntake = faceStore.flatMap { store in
            startFaceIntake(
                config: config.eligibility, eligibility: eligibility, store: store, bus: bus, audit: audit,
                logger: logger)
        }
        logger.info(
            "jpkid listening",
            metadata: ["socket": "\(config.socket.path)", "activation": "\(listenFD == nil ? "own" : "systemd")"])
        return Daemon(
            config: config, server: server, backend: backend, supervisor: supervisor, runTask: task,
            trimTask: trimTask, eligibility: eligibility, faceIntake: faceIntake, audit: audit)
    }

    private init(
        config: DaemonConfig, server: HTTPServer, backend: any ReaderBackend, supervisor: ReaderSupervisor,
        runTask: Task<Void, Never>, trimTask: Task<Void, Never>, eligibility: EligibilityService,
        faceIntake: OQSFaceIntake?, audit: AuditLog
    ) {
        self.trimTask = trimTask
        self.audit = audit
        self.eligibility = eligibility
        self.faceIntake = faceIntake
        self.config = config
        self.server = server
        self.backend = backend
        self.supervisor = supervisor
        self.runTask = runTask
    }

    /// Stops accepting, disconnects cards and removes the socket.
    public func shutdown() async {
        await server.shutdown()
        backend.stop()
        trimTask.cancel()
        await runTask.value
        await supervisor.shutdown()
        faceIntake?.stop()
        await eligibility.shutdown()
        // A signed checkpoint closes the log, so the last lines are signed too.
        await audit.close()
    }
}

/// Gives memory back after busy periods. glibc's allocator keeps what a burst of connections,
/// card sessions and event streams freed in its per-thread arenas, so jpkid's RSS stayed at
/// its high-water mark after load (38 → 62 MiB after a swap torture). Every few seconds it
/// looks at the daemon's activity (connections accepted, requests begun, card events); after a
/// busy period, the first look that finds an interval without any activity calls
/// `malloc_trim(0)`, which returns the free pages to the kernel (a few milliseconds of CPU, never
/// on a request's path). Open connections do not hold it back: a reception page keeps its
/// event stream open all day, and idle keep-alive connections cost nothing to trim under.
enum MemoryTrimmer {
    static func run(server: HTTPServer, bus: EventBus, interval: Duration = .seconds(5)) async {
        var seen: (UInt64, UInt64, UInt64) = (0, 0, 0)
        var pending = false
        while !Task.isCancelled {
            try? await Task.sleep(for: interval)
            let activity = server.activity
            let now = (activity.accepted, activity.requests, bus.sequence)
            if now != seen {
                // Busy: trim once this activity has stopped for a whole interval.
                seen = now
                pending = true
            } else if pending {
                _ = trim?(0)
                pending = false
            }
        }
    }

    /// glibc's `malloc_trim` (declared in <malloc.h>, which Swift's Glibc module does not
    /// import), looked up once; nil on a C library without it.
    static let trim: (@convention(c) (Int) -> Int32)? = {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "malloc_trim") else { return nil }
        return unsafeBitCast(symbol, to: (@convention(c) (Int) -> Int32).self)
    }()
}
