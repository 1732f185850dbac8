import Dispatch
import Foundation
import SmartCard

/// Simulated readers in-process: the ``ReaderBackend`` that lets jpkid (and anything else built
/// on the reader seam) run against ``VirtualCard``s without pcscd, vpcd or sockets. Tests insert,
/// remove and swap cards and get the same events and handle semantics as through pcscd:
///
/// - ``insert(_:into:)`` / ``remove(from:)`` report `cardInserted` / `cardRemoved`; a connection
///   made before a removal answers "not present" and its commands fail with
///   ``SmartCardError/cardRemoved`` (pcsc-lite invalidates such a handle);
/// - ``swapUnnoticed(_:in:)`` replaces the card with no event at all, the way pcscd misses a swap
///   between two presence polls: old connections keep working and now talk to the *new* card,
///   and report the *old* ATR (pcscd's cached one) until ``ReaderConnection/resetCard()``.
///
/// Card operations run on a queue of the connection's own, serialised per reader, never on the
/// caller's (cooperative) thread.
public final class SimulatedReaders: ReaderBackend, @unchecked Sendable {
    private struct Slot {
        var card: (any VirtualCard)?
        /// Changes whenever a removal or insertion is reported: connections of an older
        /// generation are invalid.
        var generation: UInt64 = 0
        /// The ATR the "reader service" holds for the card (stale after an unnoticed swap).
        var atr: [UInt8] = []
    }

    /// The slots, guarded by `stateLock` (they hold non-Sendable card objects).
    private var slots: [String: Slot] = [:]
    private let stateLock = NSLock()
    /// Serialises card access (the card objects are not thread-safe).
    fileprivate let cardLock = NSLock()
    public let events: AsyncStream<ReaderEvent>
    private let continuation: AsyncStream<ReaderEvent>.Continuation

    /// Creates readers with these names (reported at once, empty).
    public init(readers: [String]) {
        (events, continuation) = AsyncStream<ReaderEvent>.makeStream(bufferingPolicy: .unbounded)
        withState { slots in
            for name in readers { slots[name] = Slot() }
        }
        for name in readers { continuation.yield(.readerAdded(name)) }
    }

    private func withState<T>(_ body: (inout [String: Slot]) throws -> T) rethrows -> T {
        stateLock.lock()
        defer { stateLock.unlock() }
        return try body(&slots)
    }

    /// Inserts (and powers on) `card` into `reader`, reporting it.
    public func insert(_ card: any VirtualCard, into reader: String) {
        cardLock.withLock { card.powerOn() }
        let atr = card.atr
        withState {
            $0[reader, default: Slot()].card = card
            $0[reader]!.generation &+= 1
            $0[reader]!.atr = atr
        }
        continuation.yield(.cardInserted(reader: reader, atr: atr))
    }

    /// Removes the card from `reader`, reporting it.
    public func remove(from reader: String) {
        withState {
            $0[reader]?.card = nil
            $0[reader]?.generation &+= 1
            $0[reader]?.atr = []
        }
        continuation.yield(.cardRemoved(reader: reader))
    }

    /// Replaces the card in `reader` with `card` and reports nothing (see the type's
    /// documentation): the swap pcscd does not see.
    public func swapUnnoticed(_ card: any VirtualCard, in reader: String) {
        cardLock.withLock { card.powerOn() }
        withState { $0[reader, default: Slot()].card = card }
    }

    public func connect(reader: String) async throws -> any ReaderConnection {
        let generation: UInt64? = withState { slots in
            guard let slot = slots[reader], slot.card != nil else { return nil }
            return slot.generation
        }
        guard let generation else { throw SmartCardError.cardRemoved }
        return Connection(readers: self, reader: reader, generation: generation)
    }

    public func stop() { continuation.finish() }

    /// The card a connection of `generation` reaches, or nil when it was removed since.
    fileprivate func card(_ reader: String, generation: UInt64) -> (any VirtualCard)? {
        withState { slots in
            guard let slot = slots[reader], slot.generation == generation else { return nil }
            return slot.card
        }
    }

    fileprivate func presence(_ reader: String, generation: UInt64) -> CardPresence {
        withState { slots in
            guard let slot = slots[reader], slot.generation == generation, slot.card != nil else {
                return CardPresence(isPresent: false, atr: [])
            }
            return CardPresence(isPresent: true, atr: slot.atr)
        }
    }

    /// A reset powers the card up afresh: the service now holds the current card's ATR.
    fileprivate func reset(_ reader: String, generation: UInt64) throws(SmartCardError) {
        guard let card = card(reader, generation: generation) else { throw .cardRemoved }
        cardLock.withLock { card.reset() }
        withState { $0[reader]?.atr = card.atr }
    }

    /// One connection: a transport to whatever card the reader holds while the connection's
    /// generation is current.
    private final class Connection: ReaderConnection, CardTransport, @unchecked Sendable {
        let readers: SimulatedReaders
        let reader: String
        let generation: UInt64
        let queue: DispatchQueue
        var closed = false

        init(readers: SimulatedReaders, reader: String, generation: UInt64) {
            self.readers = readers
            self.reader = reader
            self.generation = generation
            self.queue = DispatchQueue(label: "simulated-reader:\(reader)")
        }

        func transmit(_ command: [UInt8]) throws(SmartCardError) -> [UInt8] {
            guard !closed, let card = readers.card(reader, generation: generation),
                let response = card.process(command)
            else { throw .cardRemoved }
            return response
        }

        func run<T: Sendable>(_ body: @escaping @Sendable (CardChannel) throws -> T) async throws -> T {
            let result: Result<T, any Error> = await withCheckedContinuation { continuation in
                queue.async {
                    continuation.resume(
                        returning: Result {
                            try self.readers.cardLock.withLock {
                                try CardChannel(transport: self).transaction(body)
                            }
                        })
                }
            }
            return try result.get()
        }

        func presence() throws -> CardPresence { readers.presence(reader, generation: generation) }

        func resetCard() async throws {
            let readers = self.readers
            let (reader, generation) = (self.reader, self.generation)
            let result: Result<Void, SmartCardError> = await withCheckedContinuation { continuation in
                queue.async {
                    continuation.resume(
                        returning: Result { () throws(SmartCardError) in
                            try readers.reset(reader, generation: generation)
                        })
                }
            }
            try result.get()
        }

        func close() async {
            await withCheckedContinuation { continuation in
                queue.async {
                    self.closed = true
                    continuation.resume()
                }
            }
        }
    }
}
