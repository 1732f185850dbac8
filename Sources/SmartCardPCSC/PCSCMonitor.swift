import CPCSCLite
import Foundation
import SmartCard
import Synchronization

/// A change seen by ``PCSCMonitor``.
public enum PCSCEvent: Sendable, Hashable {
    /// A reader appeared (also reported for every reader present when monitoring starts).
    case readerAdded(String)
    /// A reader disappeared. A card that was in it is reported removed first.
    case readerRemoved(String)
    /// A card was inserted (also reported for cards present when monitoring starts).
    case cardInserted(reader: String, atr: [UInt8])
    /// A card was removed.
    case cardRemoved(reader: String)
    /// pcscd is not reachable; the monitor keeps retrying.
    case serviceUnavailable(PCSCError)
    /// pcscd is reachable again after ``serviceUnavailable(_:)``.
    case serviceRestored
}

/// Watches readers and cards with SCardGetStatusChange on the `\\?PnP?\Notification`
/// pseudo-reader, on a dedicated thread. Survives pcscd restarting: the context is
/// re-established and the state re-read, with removals and insertions reported as they are.
public final class PCSCMonitor: Sendable {
    private struct Shared {
        var cancelled = false
        var context: SCARDCONTEXT = 0
    }

    private let shared = Mutex(Shared())
    /// The events, in order. The stream ends when ``stop()`` is called or the consumer goes away.
    public let events: AsyncStream<PCSCEvent>
    private let continuation: AsyncStream<PCSCEvent>.Continuation
    private let retryInterval: Duration
    private let pollTimeout: UInt32

    /// Starts monitoring.
    /// - Parameters:
    ///   - retryInterval: wait between attempts to reach pcscd when it is down.
    ///   - pollTimeoutMilliseconds: upper bound on one SCardGetStatusChange wait.
    public init(retryInterval: Duration = .milliseconds(250), pollTimeoutMilliseconds: UInt32 = 2000) {
        let (stream, continuation) = AsyncStream<PCSCEvent>.makeStream(bufferingPolicy: .unbounded)
        self.events = stream
        self.continuation = continuation
        self.retryInterval = retryInterval
        self.pollTimeout = pollTimeoutMilliseconds
        continuation.onTermination = { [weak self] _ in self?.stop() }
        let thread = Thread { [self] in self.run() }
        thread.name = "pcsc-monitor"
        thread.start()
    }

    /// Stops monitoring and ends the event stream.
    public func stop() {
        let ctx: SCARDCONTEXT = shared.withLock {
            $0.cancelled = true
            return $0.context
        }
        if ctx != 0 { SCardCancel(ctx) }
    }

    private var isCancelled: Bool { shared.withLock { $0.cancelled } }

    private func run() {
        var known: [String: (present: Bool, atr: [UInt8])] = [:]
        var serviceDown = false
        defer { continuation.finish() }

        outer: while !isCancelled {
            var context: SCARDCONTEXT = 0
            let rc = SCardEstablishContext(DWORD(SCARD_SCOPE_SYSTEM), nil, nil, &context)
            if rc != SCARD_S_SUCCESS {
                if !serviceDown {
                    serviceDown = true
                    removeAll(&known)
                    continuation.yield(
                        .serviceUnavailable(
                            PCSCError(rc: UInt32(truncatingIfNeeded: rc), function: "SCardEstablishContext")))
                }
                sleep(retryInterval)
                continue
            }
            shared.withLock { $0.context = context }
            defer {
                shared.withLock { $0.context = 0 }
                SCardReleaseContext(context)
            }
            if isCancelled { break }
            if serviceDown {
                serviceDown = false
                continuation.yield(.serviceRestored)
            }

            // Inner loop: one reader list; leave it when the list changes or the service is lost.
            while !isCancelled {
                let names: [String]
                do {
                    names = try listReaders(context)
                } catch {
                    if isServiceLoss(error.rc) {
                        serviceDown = true
                        removeAll(&known)
                        continuation.yield(.serviceUnavailable(error))
                        continue outer
                    }
                    sleep(retryInterval)
                    continue
                }
                // Readers gone.
                for name in known.keys.sorted() where !names.contains(name) {
                    if known[name]?.present == true { continuation.yield(.cardRemoved(reader: name)) }
                    known[name] = nil
                    continuation.yield(.readerRemoved(name))
                }
                for name in names where known[name] == nil {
                    known[name] = (false, [])
                    continuation.yield(.readerAdded(name))
                }

                var states = ReaderStateArray(names: names, includePnP: true)
                defer { states.free() }
                // The PnP entry starts from the current reader count so it only fires on change.
                let pnp = states.states.count - 1
                states.states[pnp].dwCurrentState = DWORD(names.count << 16)
                var first = true
                watch: while !isCancelled {
                    let rc = states.wait(context, timeout: first ? 0 : DWORD(pollTimeout))
                    let primed = !first
                    first = false
                    let code = UInt32(truncatingIfNeeded: rc)
                    if code == PCSCError.eTimeout { continue }
                    if code == PCSCError.eCancelled { break outer }
                    if isServiceLoss(code) {
                        serviceDown = true
                        removeAll(&known)
                        continuation.yield(.serviceUnavailable(PCSCError(rc: code, function: "SCardGetStatusChange")))
                        continue outer
                    }
                    if code == PCSCError.eUnknownReader || code == PCSCError.eReaderUnavailable {
                        break watch
                    }
                    if rc != SCARD_S_SUCCESS {
                        sleep(retryInterval)
                        continue
                    }
                    var listChanged = false
                    for i in 0..<states.states.count {
                        let ev = states.states[i].dwEventState
                        if i == pnp {
                            if ev & DWORD(SCARD_STATE_CHANGED) != 0 { listChanged = true }
                            states.states[i].dwCurrentState = ev & ~DWORD(SCARD_STATE_CHANGED)
                            continue
                        }
                        let name = states.names[i]
                        if ev & DWORD(SCARD_STATE_UNKNOWN | SCARD_STATE_UNAVAILABLE) != 0 {
                            listChanged = true
                        }
                        let snapshot = ReaderStateArray.readerState(name: name, states.states[i])
                        let was = known[name] ?? (false, [])
                        if snapshot.cardPresent && (!was.present || was.atr != snapshot.atr) {
                            if was.present { continuation.yield(.cardRemoved(reader: name)) }
                            known[name] = (true, snapshot.atr)
                            continuation.yield(.cardInserted(reader: name, atr: snapshot.atr))
                        } else if !snapshot.cardPresent && was.present {
                            known[name] = (false, [])
                            continuation.yield(.cardRemoved(reader: name))
                        } else if snapshot.cardPresent && was.present && primed,
                            cardEventsBetween(states.states[i].dwCurrentState, ev) >= 2
                        {
                            // Removed and re-inserted between two waits: the reader's card event
                            // counter moved by two or more. Report both so sessions end.
                            continuation.yield(.cardRemoved(reader: name))
                            continuation.yield(.cardInserted(reader: name, atr: snapshot.atr))
                        }
                        states.states[i].dwCurrentState = ev & ~DWORD(SCARD_STATE_CHANGED)
                    }
                    if listChanged { break watch }
                }
            }
        }
    }

    /// pcsc-lite keeps a per-reader card event counter in the upper 16 bits of the state.
    private func cardEventsBetween(_ old: DWORD, _ new: DWORD) -> UInt {
        let a = UInt(old >> 16) & 0xFFFF
        let b = UInt(new >> 16) & 0xFFFF
        return (b &- a) & 0xFFFF
    }

    private func removeAll(_ known: inout [String: (present: Bool, atr: [UInt8])]) {
        for name in known.keys.sorted() {
            if known[name]?.present == true { continuation.yield(.cardRemoved(reader: name)) }
            continuation.yield(.readerRemoved(name))
        }
        known.removeAll()
    }

    private func isServiceLoss(_ code: UInt32) -> Bool {
        code == PCSCError.eNoService || code == PCSCError.eServiceStopped
            || code == PCSCError.eInvalidHandle || code == PCSCError.fCommError
    }

    private func sleep(_ d: Duration) {
        let (s, atto) = d.components
        Thread.sleep(forTimeInterval: Double(s) + Double(atto) / 1e18)
    }
}
