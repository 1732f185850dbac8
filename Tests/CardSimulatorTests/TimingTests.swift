import CardSimulator
import Foundation
import JPKI
import SmartCard
import Testing

/// The timing model (`jpki-sim --timing`) on an injected clock: no test waits for real time.
/// Expected figures are worked out by hand from the framing rules in TIMING.md.
@Suite("Card timing model")
struct TimingTests {
    static let selectJPKI = "00A4040C0A" + Sim.jpkiAID

    /// A card on `profile` whose clock only moves when slept on.
    func timed(_ profile: CardTimingProfile, faults: FaultSpec = FaultSpec()) throws -> (TimedCard, ManualCardClock) {
        let clock = ManualCardClock()
        return (TimedCard(try Sim.card(faults: faults), profile: profile, clock: clock), clock)
    }

    func send(_ card: TimedCard, _ hex: String) -> [UInt8]? {
        card.process([UInt8](hex: hex)!)
    }

    @Test func parsingProfiles() throws {
        #expect(try CardTimingProfile(parsing: "none").isInstant)
        #expect(try CardTimingProfile(parsing: "contact") == .contact)
        #expect(try CardTimingProfile(parsing: "contactless") == .contactless(kbps: 424))
        #expect(try CardTimingProfile(parsing: "contactless:106").name == "contactless:106")
        #expect(try CardTimingProfile(parsing: "contact:9600") == .contact9600)
        for bad in ["fast", "contact:4800", "contactless:100", "NONE"] {
            #expect(throws: CardSimulatorError.self) { try CardTimingProfile(parsing: bad) }
            do {
                _ = try CardTimingProfile(parsing: bad)
            } catch {
                #expect(error.code == "sim_invalid_timing")
                #expect(error.description.contains("contactless:212"))
            }
        }
    }

    @Test func noneNeverSleeps() throws {
        let (card, clock) = try timed(.none)
        #expect(send(card, Self.selectJPKI) == [0x90, 0x00])
        #expect(clock.deadlines.isEmpty)
        #expect(card.totals.modelled == .zero)
        #expect(card.totals.apdus == 1)
    }

    /// SELECT AP under `contact`: 15 + 2 bytes in one T=1 block each way = 25 characters of
    /// 11 etu + one block guard time (22 etu) = 297 etu at 38,400 bit/s = 7.734375 ms; plus the
    /// reader (1 ms) and the card (1 ms).
    @Test func contactSelect() throws {
        let (card, clock) = try timed(.contact)
        #expect(send(card, Self.selectJPKI) == [0x90, 0x00])
        #expect(clock.deadlines == [.nanoseconds(9_734_375)])
        #expect(card.totals.commandBytes == 15 && card.totals.responseBytes == 2)
    }

    /// The auth certificate (1,034 bytes) in one extended READ BINARY: the 1,036-byte response
    /// needs 5 I-blocks of ≤ 254 bytes, 4 R-blocks from the reader; 7 + 4 command characters,
    /// 1,036 + 5·4 + 4·4 response-side characters = 1,083 × 11 etu + 9 turns × 22 etu = 12,111
    /// etu = 315.390625 ms; card 1 ms + 1,034 × 2 µs; reader 1 ms.
    @Test func contactChainedRead() throws {
        let (card, clock) = try timed(.contact)
        _ = send(card, Self.selectJPKI)
        _ = send(card, "00A4020C02000A")
        let t0 = clock.now()
        let r = try #require(send(card, "00B00000000000"))
        #expect(r.count == 1_036)
        #expect(clock.now() - t0 == .nanoseconds(315_390_625 + 1_000_000 + 1_000_000 + 2_068_000))
    }

    /// Operation costs: VERIFY with a PIN adds 10 ms, the empty VERIFY does not; a successful
    /// RSA-2048 signature adds 120 ms, a refused one (6982) does not.
    @Test func operationCosts() throws {
        let p = CardTimingProfile.contact
        let empty: [UInt8] = [0x00, 0x20, 0x00, 0x98]
        let withPIN: [UInt8] = [0x00, 0x20, 0x00, 0x98, 0x04, 0x31, 0x32, 0x33, 0x34]
        #expect(p.cardTime(command: empty, response: [0x63, 0xC3]) == .milliseconds(1))
        #expect(p.cardTime(command: withPIN, response: [0x90, 0x00]) == .milliseconds(11))
        let sign: [UInt8] = [0x80, 0x2A, 0x00, 0x97, 0x02, 0x01, 0x02, 0x00]
        #expect(p.cardTime(command: sign, response: [0x69, 0x82]) == .milliseconds(1))
        #expect(
            p.cardTime(command: sign, response: [UInt8](repeating: 0, count: 256) + [0x90, 0x00]) == .milliseconds(121))

        // Through the card: VERIFY + SIGN with SFI addressing, as the floor sends them.
        let (card, clock) = try timed(.contact)
        _ = send(card, Self.selectJPKI)
        var before = clock.now()
        #expect(send(card, "0020009804" + "31323334") == [0x90, 0x00])
        // 9 + 2 bytes: (13 + 6) × 11 + 22 = 231 etu = 6.015625 ms.
        #expect(clock.now() - before == .nanoseconds(6_015_625) + .milliseconds(12))
        let digestInfo = DigestInfo.sha256(ofChallenge: [UInt8](repeating: 7, count: 32))
        let apdu = [0x80, 0x2A, 0x00, 0x97, UInt8(digestInfo.count)] + digestInfo + [0x00]
        before = clock.now()
        let sig = try #require(card.process(apdu))
        #expect(sig.count == 258)
        // 57-byte command, 258-byte response: 2 response blocks, 1 R-block.
        // (61 + 258 + 8 + 4) × 11 + 3 × 22 = 3,707 etu = 96.536458 ms.
        #expect(clock.now() - before == .nanoseconds(96_536_458) + .milliseconds(122))
    }

    /// Contactless (Type B, 423,750 bit/s): SELECT = 18 + 5 characters × 10 etu, 2 frames ×
    /// (SOF 12 + EOF 10), TR1 10 for the card's frame, 2 × TR0 8 = 300 etu = 0.707964 ms.
    @Test func contactlessSelect() throws {
        let (card, clock) = try timed(.contactless())
        #expect(send(card, Self.selectJPKI) == [0x90, 0x00])
        #expect(clock.deadlines == [.nanoseconds(707_964) + .milliseconds(2)])
        // "106" = 105,937 bit/s: the same 300 etu take about four times as long on the air.
        let slow = CardTimingProfile.contactless(kbps: 106)
        #expect(slow.linkTime(commandBytes: 15, responseBytes: 2) == .nanoseconds(2_831_871))
    }

    /// The simulator's own work counts towards the modelled time: the deadline is absolute.
    @Test func ownWorkIsPartOfTheDelay() throws {
        let clock = ManualCardClock()
        let slow = SlowCard(inner: try Sim.card(), clock: clock, work: .milliseconds(3))
        let card = TimedCard(slow, profile: .contact, clock: clock)
        #expect(card.process([UInt8](hex: Self.selectJPKI)!) == [0x90, 0x00])
        #expect(clock.now() == .nanoseconds(9_734_375))
        // Work longer than the model: no extra wait.
        let slower = TimedCard(
            SlowCard(inner: try Sim.card(), clock: clock, work: .milliseconds(50)), profile: .contact, clock: clock)
        let t0 = clock.now()
        _ = slower.process([UInt8](hex: Self.selectJPKI)!)
        #expect(clock.now() - t0 == .milliseconds(50))
        // …and the answer counts as released late by the difference (a busy machine's symptom).
        #expect(slower.totals.late == .milliseconds(50) - .nanoseconds(9_734_375))
        #expect(card.totals.late == .zero)
    }

    /// A removal (fault) answers at once, without a modelled delay.
    @Test func removalIsImmediate() throws {
        let (card, clock) = try timed(.contact, faults: try FaultSpec(parsing: "remove-after:1"))
        #expect(send(card, Self.selectJPKI) == nil)
        #expect(clock.deadlines.isEmpty)
        #expect(card.totals.apdus == 0)
    }

    /// The system clock sleeps in the kernel until the deadline has passed.
    @Test func systemClockReachesDeadline() {
        let clock = SystemCardClock()
        let deadline = clock.now() + .milliseconds(1)
        clock.sleep(until: deadline)
        #expect(clock.now() >= deadline)
        clock.sleep(until: .zero)  // a past deadline returns at once
    }
}

/// A card whose processing takes `work` on the manual clock.
final class SlowCard: VirtualCard, @unchecked Sendable {
    let inner: any VirtualCard
    let clock: ManualCardClock
    let work: Duration
    init(inner: any VirtualCard, clock: ManualCardClock, work: Duration) {
        self.inner = inner
        self.clock = clock
        self.work = work
    }
    var atr: [UInt8] { inner.atr }
    func powerOn() { inner.powerOn() }
    func powerOff() { inner.powerOff() }
    func reset() { inner.reset() }
    func process(_ command: [UInt8]) -> [UInt8]? {
        clock.advance(by: work)
        return inner.process(command)
    }
}
