import Foundation

/// Stops, kills and starts the system pcscd, for restart tests. Use only inside
/// `TestBench.exclusive`, and leave a pcscd running.
public enum PCSCD {
    /// A pcscd that could not be found, stopped or started.
    public struct Failure: Error, CustomStringConvertible { public let description: String }

    /// The running pcscd's pid (from its pid file), if any.
    public static func pid() -> pid_t? {
        guard let text = try? String(contentsOfFile: "/run/pcscd/pcscd.pid", encoding: .utf8),
            let pid = pid_t(text.trimmingCharacters(in: CharacterSet(charactersIn: "\0 \n\t")))
        else { return nil }
        return kill(pid, 0) == 0 ? pid : nil
    }

    /// SIGKILL (no clean shutdown: the daemon sees the service vanish), then removes the stale
    /// socket so the next pcscd starts cleanly.
    public static func kill9() throws {
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

    /// SIGTERM, and SIGKILL when pcscd is still shutting down after 3 s (it can wait on its
    /// driver threads); a stale socket file is removed so the next pcscd starts cleanly.
    public static func stop() throws {
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

    /// Starts pcscd (clean signal mask, /dev/null stdio, so it outlives the test; whoever started
    /// the bench stops it by the pid in its pid file) and waits (up to 10 s) for its socket and both vpcd ports.
    public static func start() throws {
        do {
            _ = try spawnProgram(
                "/usr/sbin/pcscd", ["--foreground"], stdinPath: "/dev/null", stdoutPath: "/dev/null",
                stderrPath: "/dev/null")
        } catch {
            throw Failure(description: "cannot start pcscd: \(error)")
        }
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
    public static func ensureRunning() {
        if pid() == nil { try? start() }
    }
}
