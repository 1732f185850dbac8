import CardSimulator
import Foundation
import SmartCard
import TestBench
import Testing

/// Restarts pcscd under a running monitor. Holds the bench lock, so no other bench test runs
/// meanwhile; leaves a pcscd running afterwards (scripts/test stops it at the end).
@Suite("PC/SC monitor survives pcscd restarting", .serialized)
struct PCSCDRestartTests {
    @Test("serviceUnavailable, then serviceRestored with readers and cards re-reported")
    func restart() async throws {
        try await TestBench.exclusive {
            let monitor = PCSCMonitor(retryInterval: .milliseconds(100))
            defer { monitor.stop() }
            var it = monitor.events.makeAsyncIterator()
            _ = await next(&it) { $0 == .readerAdded("Virtual PCD 00 01") }

            try PCSCD.stop()
            let lost = await next(&it) { if case .serviceUnavailable = $0 { true } else { false } }
            #expect(lost != nil)

            try PCSCD.start()
            let restored = await next(&it) { $0 == .serviceRestored }
            #expect(restored == .serviceRestored)
            let readerBack = await next(&it) { $0 == .readerAdded("Virtual PCD 00 00") }
            #expect(readerBack != nil)

            // The new pcscd works end to end: a card inserted now is seen.
            let bridge = VPCDBridge(card: EchoCard(), port: TestBench.slots[0].port)
            // vpcd inside the new pcscd may need a moment to listen.
            var started = false
            for _ in 0..<100 where !started {
                do {
                    try bridge.start()
                    started = true
                } catch {
                    try await Task.sleep(for: .milliseconds(50))
                }
            }
            #expect(started)
            let inserted = await next(&it) {
                if case .cardInserted("Virtual PCD 00 00", _) = $0 { true } else { false }
            }
            #expect(inserted != nil)
            bridge.stop()
            bridge.waitUntilStopped()
            _ = await next(&it) { $0 == .cardRemoved(reader: "Virtual PCD 00 00") }
        }
    }
}

/// Starts and stops the system pcscd for restart tests.
enum PCSCD {
    struct Failure: Error, CustomStringConvertible { let description: String }

    static func pid() -> pid_t? {
        guard let text = try? String(contentsOfFile: "/run/pcscd/pcscd.pid", encoding: .utf8),
            let pid = pid_t(text.trimmingCharacters(in: CharacterSet(charactersIn: "\0 \n\t")))
        else { return nil }
        return kill(pid, 0) == 0 ? pid : nil
    }

    /// SIGTERM, and SIGKILL when pcscd is still shutting down after 3 s (it can wait on its
    /// driver threads); a stale socket file is removed so the next pcscd starts cleanly.
    static func stop() throws {
        guard let pid = pid() else { throw Failure(description: "no running pcscd found") }
        kill(pid, SIGTERM)
        for i in 0..<200 {
            if kill(pid, 0) != 0 {
                unlink(TestBench.pcscdSocket)
                return
            }
            if i == 120 { kill(pid, SIGKILL) }
            var status: Int32 = 0
            waitpid(pid, &status, WNOHANG)
            usleep(25_000)
        }
        throw Failure(description: "pcscd did not stop")
    }

    /// Starts pcscd with a clean signal mask: the test runner blocks SIGTERM, and a child would
    /// inherit that and ignore the `pkill` that scripts/test uses to stop it.
    static func start() throws {
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        var empty = sigset_t()
        sigemptyset(&empty)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        sigaddset(&defaults, SIGTERM)
        sigaddset(&defaults, SIGINT)
        posix_spawnattr_setsigmask(&attr, &empty)
        posix_spawnattr_setsigdefault(&attr, &defaults)
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        // Its output must not hold the test runner's pipes open.
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        for fd: Int32 in [0, 1, 2] {
            posix_spawn_file_actions_addopen(&actions, fd, "/dev/null", fd == 0 ? O_RDONLY : O_WRONLY, 0)
        }
        var pid: pid_t = 0
        let args: [UnsafeMutablePointer<CChar>?] = [strdup("/usr/sbin/pcscd"), strdup("--foreground"), nil]
        defer { for a in args { free(a) } }
        let rc = posix_spawn(&pid, "/usr/sbin/pcscd", &actions, &attr, args, environ)
        guard rc == 0 else { throw Failure(description: "cannot start pcscd: \(rc)") }
        for _ in 0..<400 {
            if FileManager.default.fileExists(atPath: TestBench.pcscdSocket),
                TestBench.slots.allSatisfy({ TestBench.vpcdListening(port: $0.port) })
            {
                return
            }
            usleep(25_000)
        }
        throw Failure(description: "pcscd did not come up")
    }
}
