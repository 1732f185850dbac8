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

    /// The TCP states (hex, as in /proc/net/tcp: 0A LISTEN, 01 ESTABLISHED, 08 CLOSE_WAIT …) of
    /// every socket whose local port is `port`, from /proc/net/tcp and tcp6. Reading them
    /// connects nothing, so checking never inserts a card.
    static func localTCPStates(port: UInt16) -> [Substring] {
        let hexPort = String(format: ":%04X", port)
        var states: [Substring] = []
        for file in ["/proc/net/tcp", "/proc/net/tcp6"] {
            guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { continue }
            for line in text.split(separator: "\n").dropFirst() {
                let f = line.split(separator: " ")  // f[1] local address, f[3] state
                if f.count > 3, f[1].hasSuffix(hexPort) { states.append(f[3]) }
            }
        }
        return states
    }

    /// Whether vpcd (inside pcscd) listens on `port`.
    public static func vpcdListening(port: UInt16) -> Bool {
        localTCPStates(port: port).contains("0A")
    }

    /// Waits (up to 10 s) for pcscd to have loaded vpcd: right after pcscd starts, its socket
    /// exists before the vpcd driver listens.
    static func waitForVPCD() {
        for _ in 0..<400 {
            if slots.allSatisfy({ vpcdListening(port: $0.port) }) { return }
            usleep(25_000)
        }
    }

    /// Open connections on vpcd's side of `port`: a card connected, one waiting in vpcd's
    /// accept queue, or one the card closed that vpcd has not noticed yet (CLOSE_WAIT).
    /// LISTEN (0A), TIME_WAIT (06) and CLOSE (07) entries do not count.
    public static func vpcdConnections(port: UInt16) -> Int {
        localTCPStates(port: port).count { !["0A", "06", "07"].contains($0) }
    }

    /// Waits up to `timeout` for both slots to have no card connected. vpcd notices a closed
    /// card connection at pcscd's next presence poll (every 400 ms).
    static func slotsFree(timeout: Duration = .seconds(4)) -> Bool {
        let deadline = ContinuousClock.now + timeout
        return slots.allSatisfy { waitForSlotFree($0, timeout: max(.zero, deadline - ContinuousClock.now)) }
    }

    /// Waits up to `timeout` for vpcd to have closed every connection of `slot` (after a card
    /// was removed); false when one is still open.
    public static func waitForSlotFree(_ slot: Slot, timeout: Duration = .seconds(4)) -> Bool {
        let deadline = ContinuousClock.now + timeout
        while vpcdConnections(port: slot.port) > 0 {
            if ContinuousClock.now >= deadline { return false }
            usleep(20_000)
        }
        return true
    }

    /// A test left a card connected to a vpcd slot (or vpcd stopped accepting): restarts pcscd,
    /// which drops every vpcd connection, so one test's leak cannot fail every later test
    /// (vpcd serves one card per slot and queues the next connection behind a leaked one).
    static func resetSlots(_ reason: String) {
        FileHandle.standardError.write(Data("test bench: \(reason); restarting pcscd\n".utf8))
        do {
            if PCSCD.pid() != nil { try PCSCD.stop() }
            try PCSCD.start()
        } catch {
            FileHandle.standardError.write(Data("test bench: pcscd restart failed: \(error)\n".utf8))
        }
    }

    /// For tests that kill a PC/SC client (jpkid) in the middle of a card transaction: pcscd
    /// with vpcd was seen not to report the next card inserted into that slot for more than 10 s
    /// afterwards (the next test then found no card). Restarting pcscd leaves a clean bench. Call
    /// inside ``exclusive(_:)``, after the test's cards are removed.
    public static func afterKilledClient() {
        resetSlots("a PC/SC client was killed mid-transaction")
    }

    /// A test ended with a card still connected to a vpcd slot.
    public struct LeakedCard: Error, CustomStringConvertible {
        public let description: String
    }

    /// Runs `body` holding the bench lock (in-process and cross-process). The vpcd slots are
    /// free when `body` starts; a card still connected 4 s after `body` returns is a test bug:
    /// pcscd is restarted for the next test and this test fails with ``LeakedCard``.
    public static func exclusive<T>(_ body: () async throws -> T) async throws -> T {
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
        // Checked inside the lock: a holder restarting pcscd (after a killed client) removes its
        // socket for a moment, and a test checking outside the lock failed on that.
        try requirePCSCD()
        if !slotsFree() { resetSlots("a vpcd slot is still busy before the test starts") }
        let result: T
        do {
            result = try await body()
        } catch {
            if !slotsFree() { resetSlots("a card was left connected to vpcd by a failed test") }
            throw error
        }
        guard slotsFree() else {
            resetSlots("a card was left connected to vpcd")
            throw LeakedCard(description: "the test left a card connected to a vpcd slot (stop every VPCDBridge)")
        }
        return result
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
