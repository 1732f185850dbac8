import CardSimulator
import Foundation
import SmartCard
import SmartCardPCSC
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
