import CardSimulator
import Foundation
import JPKI
import SmartCard
import Testing

@testable import JPKIVerify

/// End to end with the in-process simulated card: the JPKI module reads and signs, JPKIVerify
/// verifies. (No pcscd needed.)
@Suite("Simulated card end to end")
struct SimulatorTests {
    /// The fixture card `name` in the in-process simulator, behind the card library.
    func card(_ name: String) throws -> MyNumberCard {
        let sim = try VirtualMyNumberCard(
            directory: Fixtures.root.appendingPathComponent("cards").appendingPathComponent(name))
        return MyNumberCard(channel: CardChannel(transport: InProcessTransport(card: sim)))
    }

    @Test("card presence: the simulated card signs a fresh challenge with its auth key")
    func presence() async throws {
        let c = try card("00-ordinary")
        let certs = try c.readCertificates().value
        let auth = Data(try #require(certs[.auth]))
        let challenge = try CardChallenge()
        let sig = try c.signWithAuthKey(digestInfo: [UInt8](challenge.digestInfo), pin: PIN("1234"))
        let report = await challenge.verifyPresence(
            signature: Data(sig.value), authCertificateDER: auth,
            cardCACertificateDER: certs[.authCA].map { Data($0) }, verifier: try fixtureVerifier(),
            at: Fixtures.midValidity)
        #expect(report.verdict, "\(report.checks)")
        // A signature over an older challenge does not prove presence now.
        let fresh = try CardChallenge()
        #expect(!fresh.verify(signature: Data(sig.value), authCertificateDER: auth).verdict)
        // Signed by another simulated card: fails against this card's certificate.
        let other = try card("02-same-name-a")
        let otherSig = try other.signWithAuthKey(
            digestInfo: [UInt8](challenge.digestInfo), pin: PIN("1111"))
        #expect(
            !challenge.verify(signature: Data(otherSig.value), authCertificateDER: auth).verdict)
    }

    @Test("sign key over a document digest, sign certificate read with the sign password")
    func documentSignature() async throws {
        let c = try card("00-ordinary")
        let certs = try c.readCertificates(signPIN: PIN("ABC123")).value
        let signCert = Data(try #require(certs[.sign]))
        let digest = DigestAlgorithm.sha384.hash(Data("document".utf8))
        let sig = try c.signWithSignKey(
            digestInfo: try DigestInfo.encode(.sha384, digest: [UInt8](digest)),
            pin: PIN("ABC123"))
        let report = await DocumentSignature.verify(
            digest: digest, algorithm: .sha384, signature: Data(sig.value),
            signCertificateDER: signCert, signCACertificateDER: certs[.signCA].map { Data($0) },
            verifier: try fixtureVerifier(), at: Fixtures.midValidity)
        #expect(report.verdict, "\(report.checks)")
        let info = try CertificateInfo(der: signCert)
        #expect(info.signIdentity?.name == "山田\u{3000}太郎")
    }

    @Test("text and visual AP data read through the JPKI module verify")
    func apIntegrity() throws {
        let c = try card("01-kanji-variant")
        let v = try APIntegrityVerifier(
            textIssuerKey: Fixtures.pki("cv/text-cv-issuer.pub.pem"),
            visualIssuerKey: Fixtures.pki("cv/visual-cv-issuer.pub.pem"))
        let text = try c.readTextAP(pin: PIN("5678"), includeMyNumber: true).value
        let r = v.verifyText(text)
        #expect(r.verdict, "\(r.checks)")
        #expect(r.check("textMyNumberDigest")?.outcome == .passed)
        let withoutMyNumber = try c.readTextAP(pin: PIN("5678")).value
        let r2 = v.verifyText(withoutMyNumber)
        #expect(r2.verdict)
        #expect(r2.check("textMyNumberDigest")?.outcome.isPassed == false)
        let face = try c.readCardFace(key: PIN("271270004516")).value
        let r3 = v.verifyVisual(face)
        #expect(r3.verdict, "\(r3.checks)")
    }
}
