import CardSimulator
import Foundation
import JPKI
import SmartCard
import Testing

/// Smartphone JPKI (issue 16): the credential kind from the token label, an Android phone whose
/// auth certificate is read only after the auth PIN, an iPhone read like a card.
@Suite("Smartphone JPKI: detection and the certificate after the PIN")
struct PhoneTests {
    @Test(
        "token labels → credential kinds (space-padded, as read)",
        arguments: [
            ("JPKIAPICCTOKEN2", CredentialKind.card), ("JPKIAPICCTOKEN", .card), ("JPKIAPGPSETOKEN", .androidPhone),
            ("JPKIAPIOSTOKEN", .iphone), ("JPKIAPXXTOKEN", .unknown), ("", .unknown),
        ])
    func kinds(label: String, kind: CredentialKind) {
        #expect(CredentialKind(tokenLabel: label) == kind)
        #expect(CardType(tokenLabel: label).credentialKind == kind)
    }

    @Test("stable codes")
    func codes() {
        #expect(CredentialKind.allCases.map(\.code) == ["card", "android-phone", "iphone", "unknown"])
        #expect(CardType.notJPKI.credentialKind == .unknown)
    }

    @Test("detect: the card, the Android phone (no certificate before the PIN), the iPhone", arguments: [false, true])
    func detect(bySFI: Bool) throws {
        let card = try SimCard("00-ordinary")
        let c = try card.card.detect(probing: [], addressBySFI: bySFI)
        #expect(c.credentialKind == .card && !c.authCertificateAfterPIN && c.identity != nil)

        let android = try SimCard("20-android-phone")
        let a = try android.card.detect(addressBySFI: bySFI)
        #expect(a.credentialKind == .androidPhone && a.cardType == .smartphone(label: "JPKIAPGPSETOKEN"))
        #expect(a.authCertificateAfterPIN && a.identity == nil && a.authCertificate == nil)
        let token = Array(try android.file("jpki/0006.bin").prefix(32))
        #expect(a.tokenInfo == token)
        #expect(a.applications == [.jpki], "a phone holds the JPKI AP only")
        #expect(a.authPINPresent == true && a.confirmationModes == ["pin", "visual"])

        let iphone = try SimCard("21-iphone")
        let i = try iphone.card.detect(probing: [], addressBySFI: bySFI)
        #expect(i.credentialKind == .iphone && !i.authCertificateAfterPIN)
        let iphoneDER = try iphone.file("jpki/000A.der")
        #expect(i.authCertificate == iphoneDER)
    }

    @Test("Android: 6982 on the auth certificate before the PIN; token identity; PIN then certificate and signature")
    func androidSigning() throws {
        let android = try SimCard("20-android-phone")
        #expect(throws: JPKIError.pinRequired(nil)) { try android.card.readCertificate(.auth) }
        let byToken = MyNumberCard(channel: android.channel, certificateAfterPIN: true)
        let token = Array(try android.file("jpki/0006.bin").prefix(32))
        let status = try byToken.pinStatus(.auth)
        #expect(status.card == CardIdentity(tokenInfo: token) && status.value == .triesLeft(3))
        // Without the flag the certificate's 6982 falls back to the token identity too.
        let plain = try android.card.pinStatus(.auth)
        #expect(plain.card == CardIdentity(tokenInfo: token))
        let cas = try byToken.readCertificates().value
        let authCA = try android.file("jpki/000B.der")
        #expect(cas[.auth] == nil && cas[.authCA] == authCA)

        var result: CardResult<SignedWithCertificate>?
        let apdus = try android.count {
            result = try byToken.signWithAuthKeyCertificateAfterPIN(
                message: Array(repeating: 7, count: 32), pin: try android.pin("auth"), expectingToken: token)
        }
        // SELECT AP, SELECT 0006, READ 32, SELECT 0018, empty VERIFY, VERIFY, SELECT 000A,
        // READ 4, READ rest, SELECT 0017, SIGN.
        #expect(apdus == 11)
        let signed = try #require(result)
        let der = try android.file("jpki/000A.der")
        #expect(signed.value.certificate == der && signed.card == CardIdentity(authCertificateDER: der))
        #expect(signed.value.signature.count == 256)
    }

    @Test("Android: the one-transaction proof reads the certificate after the PIN by itself")
    func androidReadingCertificate() throws {
        let android = try SimCard("20-android-phone")
        let signed = try android.card.signWithAuthKeyReadingCertificate(
            digestInfo: DigestInfo.sha256(ofChallenge: Array(repeating: 3, count: 32)), pin: try android.pin("auth"))
        let der = try android.file("jpki/000A.der")
        #expect(signed.value.certificate == der && signed.card == CardIdentity(authCertificateDER: der))
        #expect(android.sim.triesLeft(.auth) == 3)
    }

    @Test("Android: another token is refused before the PIN is sent")
    func androidTokenMismatch() throws {
        let android = try SimCard("20-android-phone")
        let cardToken = Array("JPKIAPICCTOKEN2".utf8) + [UInt8](repeating: 0x20, count: 17)
        #expect(throws: JPKIError.cardChanged) {
            try android.card.signWithAuthKeyCertificateAfterPIN(
                message: Array(repeating: 1, count: 32), pin: try android.pin("auth"), expectingToken: cardToken)
        }
        #expect(android.sim.triesLeft(.auth) == 3 && !android.sim.isVerified(.auth))
    }
}
