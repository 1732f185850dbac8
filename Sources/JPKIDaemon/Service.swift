import Logging
import ServiceLifecycle

/// The running daemon as a swift-service-lifecycle `Service`: tells systemd it is ready, waits
/// for graceful shutdown (SIGTERM/SIGINT through the `ServiceGroup`), then tells systemd it is
/// stopping and shuts the daemon down (no new requests, cards disconnected, socket removed).
public struct DaemonService: Service {
    let daemon: Daemon
    let logger: Logger

    /// Wraps a started daemon.
    public init(daemon: Daemon, logger: Logger) {
        self.daemon = daemon
        self.logger = logger
    }

    public func run() async throws {
        Systemd.notify("READY=1\nSTATUS=serving")
        // Returns when the group starts a graceful shutdown (or throws when cancelled).
        try? await gracefulShutdown()
        logger.info("shutting down")
        Systemd.notify("STOPPING=1")
        await daemon.shutdown()
    }

    /// Runs the daemon until SIGTERM or SIGINT.
    public static func runUntilSignalled(_ daemon: Daemon, logger: Logger) async throws {
        let group = ServiceGroup(
            configuration: .init(
                services: [.init(service: DaemonService(daemon: daemon, logger: logger))],
                gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}
