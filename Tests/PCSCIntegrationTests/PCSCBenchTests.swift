import CardSimulator
import Foundation
import SmartCard
import SmartCardPCSC
import TestBench
import Testing

/// Integration tests against the real pcscd with vpcd and a test-side card.
@Suite("PC/SC through pcscd + vpcd", .serialized)
struct PCSCBenchTests {
    let slot = TestBench.slots[0]

    /// Waits until pcscd reports the slot's card present (or absent).
    func waitForCard(present: Bool, in reader: String) async throws -> Bool {
        let ctx = try await PCSCContext.establish()
        defer { Task { await ctx.release() } }
        return try await TestBench.waitUntil {
            let states = try await ctx.readerStates()
            return states.first { $0.name == reader }?.cardPresent == present
        }
    }

    @Test("readers are listed; empty slots are a normal state")
    func listReaders() async throws {
        try await TestBench.exclusive {
            let ctx = try await PCSCContext.establish()
            let readers = try await ctx.readers()
            #expect(readers.contains("Virtual PCD 00 00"))
            #expect(readers.contains("Virtual PCD 00 01"))
            let states = try await ctx.readerStates()
            #expect(states.count == readers.count)
            await ctx.release()
        }
    }

    @Test("transmit round trip, GET RESPONSE chaining and 6Cxx re-send through pcscd")
    func transmit() async throws {
        try await TestBench.exclusive {
            let card = EchoCard()
            let bridge = VPCDBridge(card: card, port: slot.port)
            try bridge.start()
            defer {
                bridge.stop()
                bridge.waitUntilStopped()
            }
            #expect(try await waitForCard(present: true, in: slot.readerName))
            let pcsc = try await PCSCCard.connect(reader: slot.readerName)
            let status = try await pcsc.status()
            #expect(status.atr == card.atr)
            #expect(status.isPresent)
            let (echo, chained, resent, count) = try await pcsc.perform { ch in
                let e = try ch.send(CommandAPDU(ins: 0xEE, p1: 0, p2: 0, data: [1, 2, 3], le: 256))
                let c = try ch.send(CommandAPDU(ins: 0xE1, p1: 0, p2: 0, le: 256))
                let r = try ch.send(CommandAPDU(ins: 0xE2, p1: 0, p2: 0, le: 4))
                return (e, c, r, ch.apduCount)
            }
            #expect(echo.data == [1, 2, 3] && echo.statusWord == .success)
            #expect(chained.data == (0..<600).map { UInt8($0 & 0xFF) })
            #expect(chained.statusWord == .success)
            #expect(resent.data == [UInt8](repeating: 0x5A, count: 10))
            #expect(count == 1 + 3 + 2)
            await pcsc.disconnect()
        }
    }

    @Test("a card removed under a connection gives cardRemoved, not garbage")
    func removal() async throws {
        try await TestBench.exclusive {
            let bridge = VPCDBridge(card: EchoCard(), port: slot.port)
            try bridge.start()
            #expect(try await waitForCard(present: true, in: slot.readerName))
            let pcsc = try await PCSCCard.connect(reader: slot.readerName)
            bridge.stop()
            bridge.waitUntilStopped()
            #expect(try await waitForCard(present: false, in: slot.readerName))
            await #expect(throws: SmartCardError.cardRemoved) {
                try await pcsc.onReaderThread { card in
                    try card.transmit([0x00, 0xEE, 0x00, 0x00, 0x01, 0x01])
                }
            }
            await pcsc.disconnect()
        }
    }

    @Test("the monitor reports readers, card insertion and removal")
    func monitor() async throws {
        try await TestBench.exclusive {
            let monitor = PCSCMonitor()
            defer { monitor.stop() }
            var iterator = monitor.events.makeAsyncIterator()
            // Initial snapshot: both readers, slot empty.
            var seen: [PCSCEvent] = []
            while seen.filter({ if case .readerAdded = $0 { true } else { false } }).count < 2 {
                guard let e = await iterator.next() else { break }
                seen.append(e)
            }
            #expect(seen.contains(.readerAdded("Virtual PCD 00 00")))
            #expect(seen.contains(.readerAdded("Virtual PCD 00 01")))

            let card = EchoCard()
            let bridge = VPCDBridge(card: card, port: slot.port)
            try bridge.start()
            let inserted = await next(&iterator) {
                if case .cardInserted(slot.readerName, _) = $0 { true } else { false }
            }
            #expect(inserted == .cardInserted(reader: slot.readerName, atr: card.atr))
            bridge.stop()
            bridge.waitUntilStopped()
            let removed = await next(&iterator) {
                if case .cardRemoved(slot.readerName) = $0 { true } else { false }
            }
            #expect(removed == .cardRemoved(reader: slot.readerName))
        }
    }

    @Test("per-APDU latency through pcscd is printed (measured, not asserted)")
    func latency() async throws {
        try await TestBench.exclusive {
            let card = EchoCard()
            let bridge = VPCDBridge(card: card, port: slot.port)
            try bridge.start()
            defer {
                bridge.stop()
                bridge.waitUntilStopped()
            }
            #expect(try await waitForCard(present: true, in: slot.readerName))
            let pcsc = try await PCSCCard.connect(reader: slot.readerName)
            let n = 500
            let (elapsed, ok) = try await pcsc.perform { ch in
                let clock = ContinuousClock()
                var ok = 0
                let d = try clock.measure {
                    for i in 0..<n {
                        let r = try ch.send(CommandAPDU(ins: 0xEE, p1: 0, p2: 0, data: [UInt8(i & 0xFF)]))
                        if r.data == [UInt8(i & 0xFF)] && r.statusWord == .success { ok += 1 }
                    }
                }
                return (d, ok)
            }
            #expect(ok == n)
            let perAPDU =
                Double(elapsed.components.attoseconds) / 1e12 / Double(n)
                + Double(elapsed.components.seconds) * 1e6 / Double(n)
            print(
                "bench: transmit round trip through pcscd+vpcd: \(String(format: "%.1f", perAPDU)) µs per APDU (\(n) APDUs)"
            )
            await pcsc.disconnect()
        }
    }
}

/// Pulls events until one matches (or the stream ends).
func next(
    _ iterator: inout AsyncStream<PCSCEvent>.Iterator,
    where match: (PCSCEvent) -> Bool
) async -> PCSCEvent? {
    while let e = await iterator.next() {
        if match(e) { return e }
    }
    return nil
}
