import Foundation
import JPKI
import Testing

@testable import JPKIVerify

/// Offset (in the file) of the value of the child `tag` of the file's outer constructed TLV.
func childValueOffset(_ tag: UInt32, in file: Data) throws -> Int {
    let bytes = [UInt8](file)
    let outer = try BERTLV.parseHeader(bytes)
    var off = outer.headerLength
    for child in try BERTLV.parsePrefix(bytes).children() {
        let h = try BERTLV.parseHeader(child.encoded)
        if child.tag == tag { return off + h.headerLength }
        off += child.encoded.count
    }
    throw CommandFailed(description: "tag not found")
}

@Suite("Text and visual AP integrity")
struct APIntegrityTests {
    let verifier: APIntegrityVerifier

    init() throws {
        verifier = try APIntegrityVerifier(
            textIssuerKey: Fixtures.pki("cv/text-cv-issuer.pub.pem"),
            visualIssuerKey: Fixtures.pki("cv/visual-cv-issuer.pub.pem"))
    }

    func text(_ card: String) throws -> (Data, Data, Data, Data) {
        (
            try Fixtures.cardData(card, "text/0001.bin"),
            try Fixtures.cardData(card, "text/0002.bin"),
            try Fixtures.cardData(card, "text/0003.bin"),
            try Fixtures.cardData(card, "text/0004.bin")
        )
    }

    @Test("text AP record verifies for every card", arguments: Fixtures.cards)
    func textGood(card: String) throws {
        let (f1, f2, f3, f4) = try text(card)
        let r = verifier.verifyText(
            myNumberFile: f1, basicFourFile: f2, integrityRecord: f3, cvCertificate: f4)
        #expect(r.verdict, "\(r.checks)")
        for id in [
            "textCVCertificate", "textIntegrity", "textBasicFourDigest", "textMyNumberDigest",
        ] {
            #expect(r.check(id)?.outcome == .passed, "\(id)")
        }
    }

    @Test("CV certificate layout: key IDs, exponent 65537, 2048-bit modulus")
    func cvLayout() throws {
        let cv = try CVCertificate(file: try Fixtures.cardData("00-ordinary", "text/0004.bin"))
        #expect(cv.body.count == 297)
        #expect(Data(cv.issuerKeyID.prefix(7)) == Data("6000033".utf8))
        #expect(cv.publicExponent == [1, 0, 1])
        #expect(cv.modulus.count == 256)
        #expect(cv.signature.count == 256)
        #expect(
            try cv.verify(issuerKeyPEM: Fixtures.data(Fixtures.pki("cv/text-cv-issuer.pub.pem"))))
        #expect(
            try !cv.verify(issuerKeyPEM: Fixtures.data(Fixtures.pki("cv/visual-cv-issuer.pub.pem")))
        )
        #expect(throws: JPKIVerifyError.self) {
            try CVCertificate(file: Data([0x7F, 0x21, 0x00]))
        }
        #expect(throws: JPKIVerifyError.self) {
            try CVCertificate(file: Data([0x30, 0x03, 0x01, 0x01, 0x00]))
        }
    }

    @Test("tampered identity field (EF 0002 byte) fails textBasicFourDigest")
    func tamperedBasicFour() throws {
        let (f1, f2, f3, f4) = try text("00-ordinary")
        let nameAt = try childValueOffset(0xDF22, in: f2)
        let r = verifier.verifyText(
            myNumberFile: f1, basicFourFile: tampered(f2, at: nameAt), integrityRecord: f3,
            cvCertificate: f4)
        #expect(!r.verdict)
        #expect(failureCode(r, "textBasicFourDigest") == "digest_mismatch")
        let addrAt = try childValueOffset(0xDF23, in: f2)
        #expect(
            !verifier.verifyText(
                myNumberFile: f1, basicFourFile: tampered(f2, at: addrAt + 2), integrityRecord: f3,
                cvCertificate: f4
            ).verdict)
        let sexAt = try childValueOffset(0xDF25, in: f2)
        #expect(
            !verifier.verifyText(
                myNumberFile: f1, basicFourFile: tampered(f2, at: sexAt), integrityRecord: f3,
                cvCertificate: f4
            ).verdict)
        // Another card's EF 0002 with this card's integrity record.
        let (_, other2, _, _) = try text("02-same-name-a")
        #expect(
            !verifier.verifyText(
                myNumberFile: f1, basicFourFile: other2, integrityRecord: f3, cvCertificate: f4
            ).verdict)
    }

    @Test(
        "tampered My Number file fails textMyNumberDigest; without EF 0001 the check is notChecked, never passed"
    )
    func myNumber() throws {
        let (f1, f2, f3, f4) = try text("00-ordinary")
        let bad = verifier.verifyText(
            myNumberFile: tampered(f1, at: 5), basicFourFile: f2, integrityRecord: f3,
            cvCertificate: f4)
        #expect(!bad.verdict)
        #expect(failureCode(bad, "textMyNumberDigest") == "digest_mismatch")
        let none = verifier.verifyText(
            myNumberFile: nil, basicFourFile: f2, integrityRecord: f3, cvCertificate: f4)
        guard case .notChecked = none.check("textMyNumberDigest")?.outcome else {
            Issue.record("expected notChecked")
            return
        }
        #expect(none.check("textMyNumberDigest")?.required == false)
        #expect(none.verdict)
    }

    @Test("tampered integrity record signature (DF33) or CV certificate fails")
    func tamperedSignatures() throws {
        let (f1, f2, f3, f4) = try text("00-ordinary")
        let sigAt = try childValueOffset(0xDF33, in: f3)
        let r = verifier.verifyText(
            myNumberFile: f1, basicFourFile: f2, integrityRecord: tampered(f3, at: sigAt + 10),
            cvCertificate: f4)
        #expect(!r.verdict)
        #expect(failureCode(r, "textIntegrity") == "bad_signature")
        // DF32 changed consistently with a changed EF 0002 is still caught by DF33.
        let df32At = try childValueOffset(0xDF32, in: f3)
        let r2 = verifier.verifyText(
            myNumberFile: f1, basicFourFile: f2, integrityRecord: tampered(f3, at: df32At),
            cvCertificate: f4)
        #expect(failureCode(r2, "textIntegrity") == "bad_signature")
        let bodyAt = try childValueOffset(0x5F4E, in: f4)
        let cv = verifier.verifyText(
            myNumberFile: f1, basicFourFile: f2, integrityRecord: f3,
            cvCertificate: tampered(f4, at: bodyAt + 300 - 40))
        #expect(!cv.verdict)
        #expect(failureCode(cv, "textCVCertificate") == "bad_signature")
        // Visual CV certificate used for text: other issuer.
        let visualCV = try Fixtures.cardData("00-ordinary", "visual/0004.bin")
        let wrong = verifier.verifyText(
            myNumberFile: f1, basicFourFile: f2, integrityRecord: f3, cvCertificate: visualCV)
        #expect(failureCode(wrong, "textCVCertificate") == "bad_signature")
        // Another card's (validly certified) AP key does not verify this card's DF33.
        let otherCV = try Fixtures.cardData("02-same-name-a", "text/0004.bin")
        let swapped = verifier.verifyText(
            myNumberFile: f1, basicFourFile: f2, integrityRecord: f3, cvCertificate: otherCV)
        #expect(swapped.check("textCVCertificate")?.outcome == .passed)
        #expect(failureCode(swapped, "textIntegrity") == "bad_signature")
        #expect(!swapped.verdict)
    }

    @Test("malformed records fail with malformed_tlv; missing issuer key fails")
    func malformed() throws {
        let (f1, f2, f3, f4) = try text("00-ordinary")
        let r = verifier.verifyText(
            myNumberFile: f1, basicFourFile: Data([0xFF, 0x20, 0x05, 0x00]), integrityRecord: f3,
            cvCertificate: f4)
        #expect(failureCode(r, "textBasicFourDigest") == "malformed_tlv")
        let r2 = verifier.verifyText(
            myNumberFile: f1, basicFourFile: f2, integrityRecord: f3.prefix(40), cvCertificate: f4)
        #expect(failureCode(r2, "textIntegrity") == "malformed_tlv")
        #expect(!r2.verdict)
        let noKey = try APIntegrityVerifier(textIssuerKey: nil, visualIssuerKey: nil)
        let r3 = noKey.verifyText(
            myNumberFile: f1, basicFourFile: f2, integrityRecord: f3, cvCertificate: f4)
        #expect(failureCode(r3, "textCVCertificate") == "no_issuer_key")
        #expect(!r3.verdict)
    }

    @Test("visual AP card face verifies for every card", arguments: Fixtures.cards)
    func visualGood(card: String) throws {
        let r = verifier.verifyVisual(
            cardFaceFile: try Fixtures.cardData(card, "visual/0002.bin"),
            cvCertificate: try Fixtures.cardData(card, "visual/0004.bin"))
        #expect(r.verdict, "\(r.checks)")
    }

    @Test(
        "tampered face photo (DF27 byte) fails visualIntegrity; DF22 and DF25 too; DF29 is not covered"
    )
    func visualTampered() throws {
        let face = try Fixtures.cardData("00-ordinary", "visual/0002.bin")
        let cv = try Fixtures.cardData("00-ordinary", "visual/0004.bin")
        let photoAt = try childValueOffset(0xDF27, in: face)
        let r = verifier.verifyVisual(
            cardFaceFile: tampered(face, at: photoAt + 50), cvCertificate: cv)
        #expect(!r.verdict)
        #expect(failureCode(r, "visualIntegrity") == "bad_signature")
        for tag: UInt32 in [0xDF22, 0xDF23, 0xDF24, 0xDF25, 0xDF26] {
            let at = try childValueOffset(tag, in: face)
            #expect(
                !verifier.verifyVisual(cardFaceFile: tampered(face, at: at), cvCertificate: cv)
                    .verdict,
                "tag \(tag)")
        }
        // DF29 (expiry) is outside the signature, as on real cards.
        let expiryAt = try childValueOffset(0xDF29, in: face)
        #expect(
            verifier.verifyVisual(cardFaceFile: tampered(face, at: expiryAt), cvCertificate: cv)
                .verdict)
        // Text CV certificate for the visual AP: wrong issuer.
        let wrong = verifier.verifyVisual(
            cardFaceFile: face, cvCertificate: try Fixtures.cardData("00-ordinary", "text/0004.bin")
        )
        #expect(failureCode(wrong, "visualCVCertificate") == "bad_signature")
        #expect(!wrong.verdict)
        // The face of one card against another card's CV certificate.
        let other = verifier.verifyVisual(
            cardFaceFile: face,
            cvCertificate: try Fixtures.cardData("03-same-name-b", "visual/0004.bin"))
        #expect(failureCode(other, "visualIntegrity") == "bad_signature")
    }
}
