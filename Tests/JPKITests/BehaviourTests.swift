import CardSimulator
import Foundation
import JPKI
import SmartCard
import Testing

/// The library against every silicon-like option of the simulated card (``CardBehaviour``),
/// in-process: each option alone, then all of them together.
@Suite("Operations against each card behaviour (in-process simulator)")
struct BehaviourLibraryTests {
    static let specs = CardBehaviour.itemNames + ["silicon"]

    @Test(arguments: specs)
    func operationsPassAgainst(spec: String) throws {
        let behaviour = try CardBehaviour(parsing: spec)
        for extended in [true, false] {
            let c = try SimCard("00-ordinary", extended: extended, behaviour: behaviour)
            // Certificates, the sign one behind its password.
            let certs = try c.card.readCertificates(signPIN: try c.pin("sign")).value
            #expect(certs[.auth] == (try c.file("jpki/000A.der")), "\(spec)")
            #expect(certs[.authCA] == (try c.file("jpki/000B.der")))
            #expect(certs[.signCA] == (try c.file("jpki/0002.der")))
            #expect(certs[.sign] == (try c.file("jpki/0001.der")))
            // Every counter, none spent.
            let pins = try c.card.allPINStatus().value
            #expect(try pins[.auth]?.get() == .triesLeft(3), "\(spec)")
            #expect(try pins[.sign]?.get() == .triesLeft(5))
            #expect(try pins[.visualA]?.get() == .triesLeft(10))
            // Possession proof: verify + sign; the signature checks with the certificate.
            let di = DigestInfo.sha256(ofChallenge: Array("behaviour \(spec)".utf8))
            let signed = try c.card.signWithAuthKeyReadingCertificate(digestInfo: di, pin: try c.pin("auth"))
            #expect(signed.value.certificate == certs[.auth])
            #expect(signed.value.signature.count == 256)
            let byCaller = try c.card.signWithAuthKeyCheckedByCaller(
                digestInfo: di, pin: try c.pin("auth"), expecting: Array(try c.file("jpki/000A.der").prefix(40)))
            #expect(byCaller == signed.value.signature, "\(spec): PKCS#1 v1.5 is deterministic")
            // Text AP with the integrity record, card face, common AP.
            let text = try c.card.readTextAP(pin: try c.pin("text"), includeMyNumber: true).value
            #expect(text.basicInfo.raw == (try c.file("text/0002.bin")))
            #expect(text.myNumber?.rawFile == (try c.file("text/0001.bin")))
            #expect(text.integrity.myNumberDigest == SHA256.hash(try c.file("text/0001.bin")))
            #expect(text.cvCertificate.raw == (try c.file("text/0004.bin")))
            let face = try c.card.readCardFace(key: try c.pin("visualB"), kind: .visualB).value
            #expect(face.face.raw == (try c.file("visual/0002.bin")), "\(spec)")
            #expect(try c.card.readCommonAPInfo().value.raw == (try c.file("common/record1.bin")))
            // Nothing spent on the way.
            for (pin, full) in [(SimulatedPIN.auth, 3), (.sign, 5), (.text, 3), (.visualB, 10)] {
                #expect(c.sim.triesLeft(pin) == full, "\(spec) \(pin)")
            }
            // A wrong PIN still counts down.
            #expect(throws: JPKIError.wrongPIN(.auth, triesLeft: 2)) {
                try c.card.verifyPIN(.auth, pin: PIN("9999"))
            }
        }
    }

    /// `verified9000`: a second VERIFY in the same card session finds the PIN verified (the
    /// empty VERIFY answers 9000). The library does not refuse (it did: `pin_counter_unknown`)
    /// and still sends the PIN: the correct one spends nothing, a wrong one is refused by the card
    /// — the card's leftover state never stands in for the PIN a caller gives.
    @Test func alreadyVerifiedPINIsStillChecked() throws {
        let c = try SimCard("00-ordinary", behaviour: CardBehaviour(verifiedAnswers9000: true))
        let trace = APDUTrace()
        c.channel.trace = trace
        let di = DigestInfo.sha256(ofChallenge: Array("verified".utf8))
        let (first, second, bySFI, signature) = try c.channel.transaction { ch in
            try JPKICommands.selectApplication(.jpki, on: ch)
            let first = try JPKICommands.verifyPIN(.auth, pin: try c.pin("auth"), allowLastTry: false, on: ch)
            let before = ch.apduCount
            let second = try JPKICommands.verifyPIN(.auth, pin: try c.pin("auth"), allowLastTry: false, on: ch)
            #expect(ch.apduCount - before == 3, "SELECT PIN EF + empty VERIFY + VERIFY")
            // By SFI as well (the counter query by SFI answers 9000 too).
            let bySFI = try JPKICommands.verifyPIN(
                .auth, pin: try c.pin("auth"), allowLastTry: false, bySFI: true, on: ch)
            return (first, second, bySFI, try JPKICommands.sign(.auth, digestInfo: di, on: ch))
        }
        #expect(first == .triesLeft(3) && second == .verified && bySFI == .verified)
        #expect(signature.count == 256)
        #expect(c.sim.triesLeft(.auth) == 3, "a correct PIN on a verified card spends nothing")
        #expect(trace.recorded.filter { $0.hasPrefix("> 0020008004") || $0.hasPrefix("> 0020009804") }.count == 3)
        // A wrong PIN while the card is verified: sent, refused by the card, one try spent.
        #expect(throws: JPKIError.wrongPIN(.auth, triesLeft: 2)) {
            try c.channel.transaction { ch in
                try JPKICommands.selectApplication(.jpki, on: ch)
                _ = try JPKICommands.verifyPIN(.auth, pin: try c.pin("auth"), allowLastTry: false, on: ch)
                _ = try JPKICommands.verifyPIN(.auth, pin: PIN("9999"), allowLastTry: false, on: ch)
            }
        }
        // The status query reports the verified state too.
        let status = try c.channel.transaction { ch in
            try JPKICommands.selectApplication(.jpki, on: ch)
            _ = try JPKICommands.verifyPIN(.sign, pin: try c.pin("sign"), allowLastTry: false, on: ch)
            return try JPKICommands.pinStatusBySFI(.sign, on: ch)
        }
        #expect(status == .verified)
    }

    /// `pinformat`: the library never sends a malformed PIN; a raw one gets the card's typed
    /// refusal and spends nothing.
    @Test func cardPINFormatRefusalIsTyped() throws {
        let c = try SimCard("00-ordinary", behaviour: CardBehaviour(checksPINFormat: true))
        #expect(throws: JPKIError.self) { try c.card.verifyPIN(.auth, pin: PIN("123")) }
        #expect(c.sim.triesLeft(.auth) == 3)
        let (short, letter) = try c.channel.transaction { ch in
            try JPKICommands.selectApplication(.jpki, on: ch)
            let short = try ch.send(CommandAPDU(ins: 0x20, p1: 0, p2: 0x98, data: Array("123".utf8)))
            let letter = try ch.send(CommandAPDU(ins: 0x20, p1: 0, p2: 0x98, data: Array("12a4".utf8)))
            return (short.statusWord.value, letter.statusWord.value)
        }
        #expect(short == 0x6700 && letter == 0x6A80)
        #expect(c.sim.triesLeft(.auth) == 3)
        // And the right PIN still works through the library.
        #expect(try c.card.verifyPIN(.auth, pin: try c.pin("auth")).value == .triesLeft(3))
    }
}
