import Foundation
import Synchronization

/// Shared access to the pcscd + vpcd test bench for integration tests and benchmarks.
///
/// vpcd offers two slots (TCP 35963 → "Virtual PCD 00 00", 35964 → "Virtual PCD 00 01").
/// Every test that uses the bench holds the bench lock for its whole run: an in-process async
/// lock (Swift Testing runs tests in parallel) plus an flock on ``lockPath`` (other processes,
/// e.g. `bench/run`). Tests always stop the simulators they start.
public enum TestBench {
    /// The pcscd client socket (Debian's compile-time path).
    public static let pcscdSocket = "/run/pcscd/pcscd.comm"
    /// The cross-process lock file.
    public static let lockPath = "/tmp/jpki-testbench.lock"

    /// One vpcd slot.
    public struct Slot: Sendable, Hashable {
        /// The vpcd TCP port.
        public let port: UInt16
        /// The reader name pcscd gives it.
        public let readerName: String
    }

    /// The two slots of Debian's vpcd configuration.
    public static let slots = [
        Slot(port: 35963, readerName: "Virtual PCD 00 00"),
        Slot(port: 35964, readerName: "Virtual PCD 00 01"),
    ]

    /// Why the bench cannot be used.
    public struct Unavailable: Error, CustomStringConvertible {
        public let description: String
    }

    /// Throws a clear error when pcscd is not running (start it with `scripts/bench-up`
    /// or run the tests through `scripts/test`).
    public static func requirePCSCD() throws {
        guard FileManager.default.fileExists(atPath: pcscdSocket) else {
            throw Unavailable(
                description:
                    "pcscd is not running (\(pcscdSocket) missing): run the tests with scripts/test, which starts it")
        }
    }

    private static let gate = AsyncGate()

    /// Whether vpcd (inside pcscd) listens on `port` (read from /proc/net/tcp and tcp6, so
    /// nothing connects and no card is inserted by checking).
    public static func vpcdListening(port: UInt16) -> Bool {
        let hexPort = String(format: ":%04X", port)
        for file in ["/proc/net/tcp", "/proc/net/tcp6"] {
            guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { continue }
            for line in text.split(separator: "\n").dropFirst() {
                let f = line.split(separator: " ")
                if f.count > 3, f[1].hasSuffix(hexPort), f[3] == "0A" { return true }
            }
        }
        return false
    }

    /// Waits (up to 10 s) for pcscd to have loaded vpcd: right after pcscd starts, its socket
    /// exists before the vpcd driver listens.
    static func waitForVPCD() {
        for _ in 0..<400 {
            if slots.allSatisfy({ vpcdListening(port: $0.port) }) { return }
            usleep(25_000)
        }
    }

    /// Runs `body` holding the bench lock (in-process and cross-process).
    public static func exclusive<T>(_ body: () async throws -> T) async throws -> T {
        try requirePCSCD()
        await gate.acquire()
        let fd = open(lockPath, O_CREAT | O_RDWR | O_CLOEXEC, 0o666)
        if fd >= 0 {
            // Blocking flock on a background thread, so the cooperative pool is not held.
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                Thread.detachNewThread {
                    _ = flock(fd, LOCK_EX)
                    c.resume()
                }
            }
        }
        // Inside the lock: a previous holder may have restarted pcscd.
        waitForVPCD()
        defer {
            if fd >= 0 {
                _ = flock(fd, LOCK_UN)
                close(fd)
            }
            gate.release()
        }
        return try await body()
    }

    /// Polls `condition` every 10 ms until it holds or `timeout` passes.
    public static func waitUntil(
        timeout: Duration = .seconds(10), _ condition: () async throws -> Bool
    ) async rethrows -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try await condition() { return true }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return try await condition()
    }
}

/// A FIFO async mutex.
final class AsyncGate: Sendable {
    private struct State {
        var locked = false
        var waiters: [CheckedContinuation<Void, Never>] = []
    }
    private let state = Mutex(State())

    func acquire() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let resumeNow: Bool = state.withLock {
                if !$0.locked {
                    $0.locked = true
                    return true
                }
                $0.waiters.append(c)
                return false
            }
            if resumeNow { c.resume() }
        }
    }

    func release() {
        let next: CheckedContinuation<Void, Never>? = state.withLock {
            if $0.waiters.isEmpty {
                $0.locked = false
                return nil
            }
            return $0.waiters.removeFirst()
        }
        next?.resume()
    }
}
