import Foundation
import TestBench

/// Kills and starts the system pcscd (only inside `TestBench.exclusive`, which every test here
/// holds). Same spawning rules as PCSCIntegrationTests' restart test: a clean signal mask and
/// /dev/null stdio, so the new pcscd outlives the test and can be stopped by scripts/test.
enum PCSCD {
    struct Failure: Error, CustomStringConvertible { let description: String }

    static func pid() -> pid_t? {
        guard let text = try? String(contentsOfFile: "/run/pcscd/pcscd.pid", encoding: .utf8),
            let pid = pid_t(text.trimmingCharacters(in: CharacterSet(charactersIn: "\0 \n\t")))
        else { return nil }
        return kill(pid, 0) == 0 ? pid : nil
    }

    /// SIGKILL (no clean shutdown: the daemon sees the service vanish), then removes the stale
    /// socket so the next pcscd starts cleanly.
    static func kill9() throws {
        guard let pid = pid() else { throw Failure(description: "no running pcscd found") }
        kill(pid, SIGKILL)
        for _ in 0..<400 {
            var status: Int32 = 0
            waitpid(pid, &status, WNOHANG)
            if kill(pid, 0) != 0 {
                unlink(TestBench.pcscdSocket)
                unlink("/run/pcscd/pcscd.pid")
                return
            }
            usleep(25_000)
        }
        throw Failure(description: "pcscd did not die")
    }

    /// Starts pcscd and waits (up to 10 s) for its socket and both vpcd ports.
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

    /// Makes sure a pcscd with vpcd runs (after a test that killed it, even on failure).
    static func ensureRunning() {
        if pid() == nil { try? start() }
    }
}
