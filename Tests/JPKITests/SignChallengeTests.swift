import CardSimulator
import Foundation
import JPKI
import SmartCard
import Testing

/// A transport that records what reaches the card, in order: transaction boundaries and each
/// command's header and length (never its data, so no PIN is kept).
final class RecordingTransport: CardTransport {
    enum Event: Equatable {
        case begin, end
        /// CLA INS P1 P2 and the encoded length.
        case command(header: [UInt8], length: Int)
    }
    let inner: InProcessTransport
    private(set) var events: [Event] = []

    init(_ inner: InProcessTransport) { self.inner = inner }

    var supportsExtendedLength: Bool { inner.supportsExtendedLength }
    func transmit(_ command: [UInt8]) throws(SmartCardError) -> [UInt8] {
        events.append(.command(header: Array(command.prefix(4)), length: command.count))
        return try inner.transmit(command)
    }
    func beginTransaction() throws(SmartCardError) { events.append(.begin) }
    func endTransaction() throws(SmartCardError) { events.append(.end) }

    /// The commands with INS `ins`.
    func commands(ins: UInt8) -> [Event] {
        events.filter { if case .command(let h, _) = $0 { h[1] == ins } else { false } }
    }
    /// VERIFY commands that carry a PIN (an empty VERIFY, 4 bytes, only reads the counter).
    var verifiesWithPIN: Int {
        commands(ins: 0x20).filter { if case .command(_, let n) = $0 { n > 4 } else { false } }.count
    }
    /// Exactly one transaction holds every command.
    var oneTransaction: Bool {
        events.first == .begin && events.last == .end && events.filter { $0 == .begin }.count == 1
            && events.filter { $0 == .end }.count == 1
    }
    func reset() { events = [] }
}

/// ``MyNumberCard/signChallenge(_:pin:allowLastTry:boundCertificate:)`` (and its sign-key
/// counterpart) against the in-process simulator.
@Suite("Challenge signature with the auth certificate, one transaction")
struct SignChallengeTests {
    let sim: VirtualMyNumberCard
    let recorder: RecordingTransport
    let card: MyNumberCard
    let authCertificate: [UInt8]

    init(_ name: String = "00-ordinary") throws {
        sim = try VirtualMyNumberCard.fixture(name)
        recorder = RecordingTransport(InProcessTransport(card: sim))
        card = MyNumberCard(channel: CardChannel(transport: recorder))
        authCertificate = [UInt8](
            try Data(
                contentsOf: try VirtualMyNumberCard.fixturesCardsDirectory()
                    .appendingPathComponent("\(name)/jpki/000A.der")))
    }

    static let challenge = [UInt8](repeating: 0xA5, count: 32)

    @Test("reads the certificate, verifies the PIN and signs in one transaction (9 APDUs)")
    func readsCertificate() throws {
        let r = try card.signChallenge(Self.challenge, pin: PIN("1234"))
        #expect(recorder.oneTransaction)
        #expect(recorder.commands(ins: 0x2A).count == 1 && recorder.verifiesWithPIN == 1)
        #expect(recorder.events.count == 9 + 2)
        #expect(r.value.certificate == authCertificate)
        #expect(r.card == CardIdentity(authCertificateDER: authCertificate))
        // The auth key's signature over DigestInfo(SHA-256(challenge)) (RSA PKCS#1 v1.5 is
        // deterministic: the same as a separate sign operation).
        let separate = try card.signWithAuthKey(
            digestInfo: DigestInfo.sha256(ofChallenge: Self.challenge), pin: PIN("1234"))
        #expect(r.value.signature == separate.value && r.value.signature.count == 256)
        #expect(sim.triesLeft(.auth) == 3)
    }

    @Test("with the bound certificate: key checked before the PIN, 6 APDUs, certificate returned")
    func boundCertificate() throws {
        let r = try card.signChallenge(Self.challenge, pin: PIN("1234"), boundCertificate: authCertificate)
        #expect(recorder.oneTransaction)
        // SELECT AP, SELECT 000A + READ 32 key bytes (beyond offset 255: no SFI read), then
        // empty VERIFY, VERIFY and SIGN by SFI.
        #expect(recorder.events.count == 6 + 2)
        #expect(recorder.verifiesWithPIN == 1 && recorder.commands(ins: 0x2A).count == 1)
        #expect(r.value.certificate == authCertificate && r.card == CardIdentity(authCertificateDER: authCertificate))
        recorder.reset()
        let unbound = try card.signChallenge(Self.challenge, pin: PIN("1234"))
        #expect(r.value.signature == unbound.value.signature)
    }

    @Test("another card's bound certificate: card_changed, no PIN sent, nothing signed")
    func otherCard() throws {
        let other = try SignChallengeTests("02-same-name-a").authCertificate
        #expect(throws: JPKIError.cardChanged) {
            try card.signChallenge(Self.challenge, pin: PIN("1234"), boundCertificate: other)
        }
        #expect(recorder.oneTransaction)
        #expect(recorder.commands(ins: 0x20).isEmpty && recorder.commands(ins: 0x2A).isEmpty)
        #expect(sim.triesLeft(.auth) == 3)
    }

    @Test("a wrong PIN spends one try and signs nothing", arguments: [false, true])
    func wrongPIN(bound: Bool) throws {
        #expect(throws: JPKIError.wrongPIN(.auth, triesLeft: 2)) {
            try card.signChallenge(Self.challenge, pin: PIN("9999"), boundCertificate: bound ? authCertificate : nil)
        }
        #expect(sim.triesLeft(.auth) == 2)
        #expect(recorder.oneTransaction)
        #expect(recorder.verifiesWithPIN == 1 && recorder.commands(ins: 0x2A).isEmpty)
    }

    @Test("a blocked PIN sends no VERIFY with a PIN and signs nothing", arguments: [false, true])
    func blockedPIN(bound: Bool) throws {
        let c = try SignChallengeTests("05-nearly-blocked")
        #expect(throws: JPKIError.wrongPIN(.auth, triesLeft: 0)) {
            try c.card.verifyPIN(.auth, pin: PIN("0000"), allowLastTry: true)
        }
        c.recorder.reset()
        #expect(throws: JPKIError.pinBlocked(.auth)) {
            try c.card.signChallenge(
                Self.challenge, pin: PIN("2468"), allowLastTry: true, boundCertificate: bound ? c.authCertificate : nil)
        }
        #expect(c.recorder.oneTransaction)
        #expect(c.recorder.verifiesWithPIN == 0 && c.recorder.commands(ins: 0x2A).isEmpty)
        #expect(c.sim.triesLeft(.auth) == 0)
    }

    @Test("one try left: refused without allowLastTry, nothing sent that spends it")
    func lastTry() throws {
        let c = try SignChallengeTests("05-nearly-blocked")
        #expect(throws: JPKIError.lastTryRefused(.auth)) {
            try c.card.signChallenge(Self.challenge, pin: PIN("2468"))
        }
        #expect(c.recorder.verifiesWithPIN == 0 && c.sim.triesLeft(.auth) == 1)
        let r = try c.card.signChallenge(Self.challenge, pin: PIN("2468"), allowLastTry: true)
        #expect(r.value.certificate == c.authCertificate && c.sim.triesLeft(.auth) == 3)
    }

    @Test("sign key: signature and sign certificate in one transaction; a wrong password signs nothing")
    func signKey() throws {
        let r = try card.sign(.sign, message: Self.challenge, pin: PIN("ABC123")).value
        #expect(recorder.oneTransaction)
        let signCertificate = [UInt8](
            try Data(
                contentsOf: try VirtualMyNumberCard.fixturesCardsDirectory()
                    .appendingPathComponent("00-ordinary/jpki/0001.der")))
        #expect(r.certificate == signCertificate && r.scheme == .rsaPKCS1v15(.sha256))
        let digestInfo = DigestInfo.sha256(ofChallenge: Self.challenge)
        #expect(r.signature == (try card.signWithSignKey(digestInfo: digestInfo, pin: PIN("ABC123")).value))
        recorder.reset()
        #expect(throws: JPKIError.wrongPIN(.sign, triesLeft: 4)) {
            try card.sign(.sign, message: Self.challenge, pin: PIN("WRONG1"))
        }
        #expect(recorder.commands(ins: 0x2A).isEmpty)
        #expect(sim.triesLeft(.sign) == 4)
    }

}
