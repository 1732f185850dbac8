import CardSimulator
import Foundation
import JPKI
import SmartCard
import SmartCardPCSC
import TestBench
import Testing

/// A representative set of operations through the real pcscd: the simulated card is inserted
/// into vpcd slot 0 by an in-process ``VPCDBridge``.
@Suite("Operations through pcscd + vpcd", .serialized)
struct PCSCTests {
    static let slot = TestBench.slots[0]

    static func waitForCard(present: Bool) async throws -> Bool {
        let ctx = try await PCSCContext.establish()
        let result = try await TestBench.waitUntil(timeout: .seconds(10)) {
            let states = try await ctx.readerStates()
            return states.first { $0.name == slot.readerName }?.cardPresent == present
        }
        await ctx.release()
        return result
    }

    /// Inserts `card`, connects, runs `body`, and always disconnects and removes the card.
    static func withCard<T>(
        _ card: VirtualMyNumberCard, _ body: (PCSCCard) async throws -> T
    ) async throws -> T {
        try await TestBench.exclusive {
            let bridge = VPCDBridge(card: card, port: slot.port)
            try bridge.start()
            var pcsc: PCSCCard?
            let result: Result<T, any Error>
            do {
                let present = try await waitForCard(present: true)
                try #require(
                    present, "pcscd does not show the simulated card in \(slot.readerName)")
                let connected = try await PCSCCard.connect(reader: slot.readerName)
                pcsc = connected
                result = .success(try await body(connected))
            } catch {
                result = .failure(error)
            }
            await pcsc?.disconnect()
            bridge.stop()
            bridge.waitUntilStopped()
            let gone = try await waitForCard(present: false)
            #expect(gone, "slot still shows a card after the simulator stopped")
            return try result.get()
        }
    }

    @Test func authCertificatePINStatusAndBasicInfo() async throws {
        let sim = try VirtualMyNumberCard.fixture("00-ordinary")
        let dir = try VirtualMyNumberCard.fixturesCardsDirectory().appendingPathComponent(
            "00-ordinary")
        let expectedCert = [UInt8](
            try Data(contentsOf: dir.appendingPathComponent("jpki/000A.der")))
        let expectedBasic = [UInt8](
            try Data(contentsOf: dir.appendingPathComponent("text/0002.bin")))
        let textPIN = PIN("1234")  // 00-ordinary demo text PIN (test data)

        try await Self.withCard(sim) { pcsc in
            let (cert, certCount) = try await pcsc.perform { ch in
                (try MyNumberCard(channel: ch).readCertificate(.auth), ch.apduCount)
            }
            #expect(cert.value.der == expectedCert)
            #expect(certCount == 4)
            print("APDU count auth cert (pcscd): \(certCount)")

            let (status, statusCount) = try await pcsc.perform { ch in
                (try MyNumberCard(channel: ch).allPINStatus(), ch.apduCount)
            }
            #expect(try status.value[.auth]?.get() == .triesLeft(3))
            #expect(try status.value[.sign]?.get() == .triesLeft(5))
            #expect(try status.value[.text]?.get() == .triesLeft(3))
            #expect(status.card == cert.card)
            #expect(statusCount == 25)
            print("APDU count all PIN status (pcscd): \(statusCount)")

            let (basic, basicCount) = try await pcsc.perform { ch in
                let r = try MyNumberCard(channel: ch).readBasicInfo(pin: textPIN)
                return (r, ch.apduCount)
            }
            #expect(basic.value.raw == expectedBasic)
            #expect(basic.value.sex == .male)
            #expect(basic.card == cert.card)
            #expect(basicCount == 11)
            print("APDU count basic 4 info (pcscd): \(basicCount)")
        }
        // No try was spent by status queries; the verified text PIN reset to its maximum.
        #expect(sim.triesLeft(.auth) == 3)
        #expect(sim.triesLeft(.text) == 3)
    }

    @Test func lastTryGuardThroughPCSCD() async throws {
        let sim = try VirtualMyNumberCard.fixture("05-nearly-blocked")
        try await Self.withCard(sim) { pcsc in
            let refused: JPKIError? = try await pcsc.perform { ch in
                do {
                    _ = try MyNumberCard(channel: ch).verifyPIN(.auth, pin: PIN("0000"))
                    return nil
                } catch {
                    return error as? JPKIError
                }
            }
            #expect(refused == .lastTryRefused(.auth))
            let status = try await pcsc.perform { ch in
                try MyNumberCard(channel: ch).pinStatus(.auth)
            }
            #expect(status.value == .triesLeft(1))
        }
        #expect(sim.triesLeft(.auth) == 1)
    }
}
