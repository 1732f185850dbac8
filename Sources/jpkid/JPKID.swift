import ArgumentParser
import Foundation
import JPKIDaemon
import Logging
import RegistryCommands

/// `jpkid [serve] --socket PATH --config FILE`: the My Number card daemon;
/// `jpkid registry …` / `jpkid audit …`: administration (RegistryCommands). This target only
/// parses arguments and wires the daemon.
@main
struct JPKID: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "jpkid",
        abstract: "My Number card (JPKI) daemon: HTTP/1.1 + JSON on a Unix socket.",
        subcommands: [Serve.self, RegistryCommand.self, AuditCommand.self],
        defaultSubcommand: Serve.self)
}

/// `jpkid serve --socket PATH --config FILE [--check-config]` (the default subcommand, so
/// `jpkid --socket PATH --config FILE` works as before).
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the daemon (default subcommand).")

    @Option(help: "Unix socket path (overrides socket.path of the config).")
    var socket: String?

    @Option(help: "JSON configuration file (all fields optional; see README).")
    var config: String?

    @Flag(help: "Validate the configuration and exit (0 = valid).")
    var checkConfig = false

    func run() async throws {
        var cfg: DaemonConfig
        do {
            cfg = try config.map { try DaemonConfig.load(path: $0) } ?? DaemonConfig()
        } catch {
            FileHandle.standardError.write(Data("jpkid: \(error)\n".utf8))
            throw ExitCode(2)
        }
        if let socket { cfg.socket.path = socket }
        // The configuration may need the network that this process's sandbox (jpkid.service
        // without its network drop-in) does not give it: say so now, not per request later.
        let networkProblem = cfg.networkProblem(in: SandboxNetwork.probe())
        if checkConfig {
            let problems = cfg.problems() + (networkProblem.map { [$0] } ?? [])
            for p in problems { FileHandle.standardError.write(Data("jpkid: \(p)\n".utf8)) }
            if !problems.isEmpty { throw ExitCode(2) }
            print("configuration OK")
            return
        }
        let level = Logger.Level(rawValue: cfg.logLevel) ?? .info
        // Under systemd (stderr is the journal): one line per event, syslog priority, no timestamp.
        let journal = JournalLog.isJournalStream()
        LoggingSystem.bootstrap { label in
            if journal {
                var h = JournalLogHandler.standardError(label: label)
                h.logLevel = level
                return h
            }
            var h = StreamLogHandler.standardError(label: label)
            h.logLevel = level
            return h
        }
        let logger = Logger(label: "jpkid")
        if let networkProblem {
            logger.error("configuration needs the network", metadata: ["problem": "\(networkProblem)"])
        }
        let daemon: Daemon
        do {
            let listenFD = try Systemd.takeListenSocket()
            daemon = try await Daemon.start(config: cfg, logger: logger, listenFD: listenFD)
        } catch {
            logger.critical("cannot start", metadata: ["error": "\(error)"])
            throw ExitCode(1)
        }
        try await DaemonService.runUntilSignalled(daemon, logger: logger)
    }
}
