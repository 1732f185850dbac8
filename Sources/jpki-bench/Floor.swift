import ArgumentParser
import CardSimulator
import Foundation
import JPKI
import SmartCard

/// `jpki-bench floor`: the modelled time of the shortest APDU sequence that can answer an
/// eligibility request (pin mode) — prove the card and read what the answer needs — on a card
/// with the given timing profile. Computed by sending the sequence to the simulated card on a
/// clock that only moves by the model (nothing waits), so the floor uses exactly the model and
/// the response sizes the timed card has on the bench.
///
/// The sequence (README "Benchmarks", "the floor"):
/// 1. SELECT the JPKI AP (`00 A4 04 0C 0A D392F000260100000001`);
/// 2. READ BINARY of the auth certificate by SFI 0A with extended Le = 0000 — the whole file in
///    one APDU (the answer needs the certificate: chain, revocation, issuer + serial for the
///    registry);
/// 3. empty VERIFY of the auth PIN by SFI 18 (`00 20 00 98`): the retry counter, which the
///    security rules require before a PIN is sent;
/// 4. VERIFY of the auth PIN by SFI 18;
/// 5. COMPUTE DIGITAL SIGNATURE with the auth key by SFI 17 over the DigestInfo of a fresh
///    32-byte challenge (`80 2A 00 97 33 … 00`): possession of the card.
struct Floor: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "floor", abstract: "Modelled time of the shortest APDU sequence for an eligibility answer.")

    @Option(help: "Fixture card name.") var card = "00-ordinary"
    @Option(help: "Timing profile.") var timing = "contact"
    @Option(help: "The card's auth PIN (a fixture's test PIN).") var pin = "1234"

    func run() throws {
        let profile = try timingProfile(timing)
        let clock = ManualCardClock()
        let timed = TimedCard(try VirtualMyNumberCard.fixture(card), profile: profile, clock: clock)
        timed.powerOn()
        let digestInfo = DigestInfo.sha256(ofChallenge: [UInt8](repeating: 0x5A, count: 32))
        let steps: [(String, [UInt8], UInt16)] = [
            ("SELECT JPKI AP", [0x00, 0xA4, 0x04, 0x0C, 0x0A] + VirtualMyNumberCard.jpkiAID, 0x9000),
            ("READ BINARY auth certificate (SFI 0A, extended Le)", [0x00, 0xB0, 0x8A, 0x00, 0x00, 0x00, 0x00], 0x9000),
            ("VERIFY auth PIN, empty (retry counter)", [0x00, 0x20, 0x00, 0x98], 0x63C3),
            ("VERIFY auth PIN", [0x00, 0x20, 0x00, 0x98, UInt8(pin.utf8.count)] + Array(pin.utf8), 0x9000),
            (
                "COMPUTE DIGITAL SIGNATURE (SFI 17)",
                [0x80, 0x2A, 0x00, 0x97, UInt8(digestInfo.count)] + digestInfo + [0x00], 0x9000
            ),
        ]
        var out: [[String: Any]] = []
        for (name, command, expected) in steps {
            let t0 = clock.now()
            guard let r = timed.process(command), r.count >= 2 else { throw BenchError("\(name): no answer") }
            let sw = UInt16(r[r.count - 2]) << 8 | UInt16(r[r.count - 1])
            guard sw == expected || (expected == 0x63C3 && sw & 0xFFF0 == 0x63C0) else {
                throw BenchError(String(format: "%@ answered %04X", name, sw))
            }
            out.append([
                "step": name, "command_bytes": command.count, "response_bytes": r.count,
                "modelled_us": micros(clock.now() - t0),
            ])
        }
        let t = timed.totals
        emit([
            "tool": "floor", "timing": profile.name, "apdus": t.apdus, "bytes": t.commandBytes + t.responseBytes,
            "floor_us": micros(t.modelled), "steps": out,
        ])
    }
}
