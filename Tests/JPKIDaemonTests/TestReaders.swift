import CardSimulator
import Foundation
import JPKIDaemon
import TestBench
import Testing

/// Where a daemon test's readers and cards come from.
///
/// Most API tests run `simulated`: CardSimulator's `SimulatedReaders` behind the daemon's reader
/// seam, in-process, with no pcscd and no vpcd, every insertion awaited as the daemon's own
/// `card-inserted` event. The `pcscd` tier (the real pcscd + vpcd bench, cards served by
/// `VPCDBridge`) is the integration tier: tests that are about pcscd's behaviour (T=0, the
/// silicon-like options, removal while pcscd is polling, the swap pcscd may miss) stay there.
enum ReaderTier: Sendable {
    case simulated
    case pcscd

    /// The reader both tiers name slot 0 (the bench's first vpcd reader), so assertions on reader
    /// names hold in both.
    static let readerName = TestBench.slots[0].readerName

    /// Set `JPKI_TEST_TIER=simulated` to run only the simulated tier (measuring the daemon's API
    /// tests on a machine without pcscd); the pcscd tier's tests then show as skipped, with this
    /// reason. Unset (as in CI), both tiers run.
    static let pcscdEnabled = ProcessInfo.processInfo.environment["JPKI_TEST_TIER"] != "simulated"

    /// The trait of a pcscd-tier test.
    static let pcscdTier = Testing.ConditionTrait.enabled(
        if: pcscdEnabled, "pcscd + vpcd integration tier (JPKI_TEST_TIER=simulated runs without it)")
}

/// Slot 0 of a daemon test, in either tier: insert a card and get the daemon's new session,
/// remove it, and reach the card object (PIN counters, behaviour) the daemon is talking to.
final class TestSlot: @unchecked Sendable {
    let tier: ReaderTier
    private let http: UnixHTTP
    /// Simulated tier: the readers given to the daemon, and the event stream opened before any
    /// insertion (so no `card-inserted` can be missed).
    let readers: SimulatedReaders?
    private let events: SSEReader?
    /// pcscd tier: the vpcd bridge serving the current card.
    private var bridge: VPCDBridge?
    /// The card currently inserted (the object the simulator answers from).
    private(set) var card: (any VirtualCard)?

    private init(tier: ReaderTier, http: UnixHTTP, readers: SimulatedReaders?, events: SSEReader?) {
        self.tier = tier
        self.http = http
        self.readers = readers
        self.events = events
    }

    /// The simulated readers to start a daemon of this tier with (nil: pcscd): named like the
    /// bench's vpcd readers, as many, so reader lists and counts read the same in both tiers.
    static func backend(_ tier: ReaderTier) -> SimulatedReaders? {
        tier == .simulated ? SimulatedReaders(readers: TestBench.slots.map(\.readerName)) : nil
    }

    /// Opens slot 0 of a running daemon (listening on `http`).
    static func open(_ tier: ReaderTier, http: UnixHTTP, readers: SimulatedReaders?) async throws -> TestSlot {
        let events = tier == .simulated ? try await SSEReader(http: http) : nil
        return TestSlot(tier: tier, http: http, readers: readers, events: events)
    }

    /// Inserts `card` and returns the session the daemon made for it (nil: none, e.g. a card it
    /// cannot use, or none in time). Simulated: the `card-inserted` event; pcscd: polling
    /// `/v1/readers` (pcscd's own polling is what the test waits for there).
    func insert(_ card: any VirtualCard, otherThan previous: String? = nil) async throws -> String? {
        self.card = card
        switch tier {
        case .simulated:
            readers!.insert(card, into: ReaderTier.readerName)
            return try await events!.next("card-inserted")?["session"] as? String
        case .pcscd:
            let bridge = VPCDBridge(card: card, port: TestBench.slots[0].port)
            self.bridge = bridge
            try bridge.start()
            return try await DaemonTests().waitForSession(http, otherThan: previous)
        }
    }

    /// Takes the card out. pcscd: waits until vpcd has let go of it, so the next card inserted is
    /// never queued behind it. Simulated: awaits the daemon's `card-removed` event.
    func remove() async throws {
        switch tier {
        case .simulated:
            guard card != nil else { return }
            readers!.remove(from: ReaderTier.readerName)
            _ = try await events!.next("card-removed")
        case .pcscd:
            guard let bridge else { return }
            bridge.stop()
            bridge.waitUntilStopped()
            _ = TestBench.waitForSlotFree(TestBench.slots[0])
            self.bridge = nil
        }
        card = nil
    }

    /// Releases the slot however the test ended (a card left in vpcd's slot would be served to the
    /// next test).
    func close() {
        if let bridge {
            bridge.stop()
            bridge.waitUntilStopped()
            _ = TestBench.waitForSlotFree(TestBench.slots[0])
        }
        bridge = nil
        events?.close()
    }
}
