import CardSimulator
import Foundation
import JPKI
import SmartCard
import Testing

/// Wraps a transport and fails the test on any VERIFY (INS 20): the PIN-less card must be
/// refused before one is sent. Every command is recorded.
final class NoVerifyTransport: CardTransport {
    let inner: any CardTransport
    private(set) var sent: [[UInt8]] = []
    init(_ inner: any CardTransport) { self.inner = inner }
    var supportsExtendedLength: Bool { inner.supportsExtendedLength }
    func transmit(_ command: [UInt8]) throws(SmartCardError) -> [UInt8] {
        sent.append(command)
        if command.count >= 2 && command[1] == 0x20 {
            Issue.record("a VERIFY was sent to a card without PIN: \(command.prefix(4).hexString)")
            return [0x6F, 0x00]
        }
        return try inner.transmit(command)
    }
    func beginTransaction() throws(SmartCardError) { try inner.beginTransaction() }
    func endTransaction() throws(SmartCardError) { try inner.endTransaction() }
}

/// 顔認証マイナンバーカード: issued without PINs and without a signing certificate. Detected by
/// the library (its auth PIN EF answers SELECT with 6A82 — the simulator's assumption), PIN
/// operations refused with `pin_not_set` before any VERIFY (before any APDU when known).
@Suite("Face-auth card (no PIN)")
struct FaceAuthCardTests {
    let cert = fakeCertificate(total: 1042)
    let label = Array("JPKIAPICCTOKEN2".utf8) + [UInt8](repeating: 0x20, count: 17)

    @Test func detectedAtInsertion() throws {
        let t = ScriptedTransport(
            steps([
                (h(selectJPKI), h(ok)), (h("00B0860020"), label + h(ok)),
                (h("00B08A0004"), Array(cert[0..<4]) + h(ok)),
                (h("00B08A0400040E"), Array(cert[4...]) + h(ok)),
                (h("00A4020C020018"), h("6A82")), (h("00A4020C020001"), h("6A82")),
            ]))
        let d = try MyNumberCard(channel: CardChannel(transport: t)).detect(probing: [], addressBySFI: true)
        #expect(t.isComplete, "\(t.mismatches)")
        #expect(d.authPINPresent == false)
        #expect(d.signCertificatePresent == false)
        #expect(d.confirmationModes == ["visual"])
        #expect(d.identity == CardIdentity(authCertificateDER: cert))
    }

    /// Known from detection: every PIN operation is refused before any APDU at all.
    @Test func pinOperationsRefusedBeforeAnyAPDU() throws {
        let t = NoVerifyTransport(ScriptedTransport([]))
        let card = MyNumberCard(channel: CardChannel(transport: t), cardHasNoPIN: true)
        let digest = DigestInfo.sha256(ofChallenge: [UInt8](repeating: 7, count: 32))
        #expect(throws: JPKIError.pinNotSet(.auth)) { try card.verifyPIN(.auth, pin: PIN("1234")) }
        #expect(throws: JPKIError.pinNotSet(.sign)) { try card.verifyPIN(.sign, pin: PIN("ABC123")) }
        #expect(throws: JPKIError.pinNotSet(.text)) { try card.verifyPIN(.text, pin: PIN("1234")) }
        #expect(throws: JPKIError.pinNotSet(.auth)) { try card.signWithAuthKey(digestInfo: digest, pin: PIN("1234")) }
        #expect(throws: JPKIError.pinNotSet(.auth)) {
            try card.signWithAuthKeyCheckedByCaller(
                digestInfo: digest, pin: PIN("1234"), expecting: Array(cert.prefix(40)))
        }
        #expect(throws: JPKIError.pinNotSet(.auth)) {
            try card.signWithAuthKeyReadingCertificate(digestInfo: digest, pin: PIN("1234"))
        }
        #expect(throws: JPKIError.pinNotSet(.sign)) { try card.signWithSignKey(digestInfo: digest, pin: PIN("ABC123")) }
        #expect(throws: JPKIError.pinNotSet(.text)) { try card.readBasicInfo(pin: PIN("1234")) }
        #expect(throws: JPKIError.pinNotSet(.text)) { try card.readTextAP(pin: PIN("1234")) }
        #expect(throws: JPKIError.pinNotSet(.sign)) { try card.readCertificate(.sign, signPIN: PIN("ABC123")) }
        #expect(t.sent.isEmpty, "\(t.sent.count) APDUs sent")
        #expect(JPKIError.pinNotSet(.auth).code == "pin_not_set")
    }

    /// Not known beforehand: the SELECT of the PIN EF (6A82) finds it, still before any VERIFY.
    @Test func foundAtThePINEFBeforeAnyVerify() throws {
        let t = NoVerifyTransport(
            ScriptedTransport(authCertSteps(cert) + steps([(h("00A4020C020018"), h("6A82"))])))
        #expect(throws: JPKIError.pinNotSet(.auth)) {
            try MyNumberCard(channel: CardChannel(transport: t)).verifyPIN(.auth, pin: PIN("1234"))
        }
        #expect(t.sent.count == 5)
    }

    /// The simulator's model of the card: the contract fixture `08-face-auth-card`.
    @Test func simulatedFaceAuthCard() throws {
        let dir = try VirtualMyNumberCard.fixturesCardsDirectory().appendingPathComponent("08-face-auth-card")
        let sim = try VirtualMyNumberCard.fixture("08-face-auth-card")
        let t = NoVerifyTransport(InProcessTransport(card: sim))
        let card = MyNumberCard(channel: CardChannel(transport: t))
        let d = try card.detect()
        #expect(d.authPINPresent == false && d.signCertificatePresent == false)
        #expect(d.confirmationModes == ["visual"])
        #expect(d.applications.contains(.visual))
        #expect(
            try card.readCertificate(.auth).value.der
                == [UInt8](try Data(contentsOf: dir.appendingPathComponent("jpki/000A.der"))))
        #expect(throws: JPKIError.pinNotSet(.auth)) { try card.pinStatus(.auth) }
        #expect(throws: JPKIError.pinNotSet(.auth)) { try card.verifyPIN(.auth, pin: PIN("1234")) }
        #expect(throws: JPKIError.pinNotSet(.text)) { try card.readBasicInfo(pin: PIN("1234")) }
        // The raw answers the model gives (apdu-fixtures/README.md).
        let raw = InProcessTransport(card: sim)
        func sw(_ hex: String) throws -> [UInt8] { Array(try raw.transmit(h(hex)).suffix(2)) }
        _ = try sw(selectJPKI)
        #expect(try sw("00A4020C020001") == h("6A82"))
        #expect(try sw("00A4020C02001B") == h("6A82"))
        #expect(try sw("00A4020C020018") == h("6A82"))
        #expect(try sw("00A4020C020008") == h(ok))
        #expect(try raw.transmit(h("00B0000003")) == h("008F00") + h(ok))
        #expect(t.sent.allSatisfy { $0[1] != 0x20 })
    }
}
