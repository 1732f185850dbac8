import CardSimulator
import Foundation
import JPKI
import SmartCard
import Testing

@testable import JPKIVerify

/// ``CardProofService`` with the in-process simulated card: the one card-proof path of jpkid,
/// `jpkid registry link` and `card-inspect verify --with-pin`.
@Suite("Card proof service")
struct CardProofTests {
    func card(_ name: String) throws -> (MyNumberCard, VirtualMyNumberCard, [UInt8]) {
        let sim = try VirtualMyNumberCard(directory: Fixtures.root.appendingPathComponent("cards/\(name)"))
        let der = [UInt8](try Fixtures.cardData(name, "jpki/000A.der"))
        return (MyNumberCard(channel: CardChannel(transport: InProcessTransport(card: sim))), sim, der)
    }

    @Test("PIN → signed challenge → chain, CRL and signature: verified, with the auth certificate")
    func verified() async throws {
        let (card, sim, der) = try card("00-ordinary")
        let service = CardProofService(verifier: try fixtureVerifier())
        let challenge = try CardChallenge()
        let signed = try service.sign(card, challenge: challenge, pin: PIN("1234"))
        let proof = await service.verify(signed, at: Fixtures.midValidity)
        #expect(proof.verified && proof.chainChecked, "\(proof.report.checks)")
        #expect(proof.report.check("challengeSignature")?.outcome == .passed)
        #expect(proof.authCertificate == der && proof.card == CardIdentity(authCertificateDER: der))
        #expect(proof.challenge == challenge && proof.standing() == .valid)
        #expect(sim.triesLeft(.auth) == 3)
        // Without anchors only the signature is checked: never verified.
        let unchecked = await CardProofService(verifier: nil).verify(signed, at: Fixtures.midValidity)
        #expect(unchecked.report.verdict && !unchecked.chainChecked && !unchecked.verified)
        // A signature over another challenge proves nothing.
        let replayed = SignedChallenge(
            challenge: try CardChallenge(), signature: signed.signature, authCertificate: der, card: signed.card)
        #expect(!(await service.verify(replayed, at: Fixtures.midValidity)).verified)
    }

    @Test("a revoked card signs, but is not verified")
    func revoked() async throws {
        let (card, _, _) = try card("04-revoked")
        let service = CardProofService(verifier: try fixtureVerifier())
        let proof = await service.verify(
            try service.sign(card, challenge: try CardChallenge(), pin: PIN("9876")), at: Fixtures.midValidity)
        #expect(proof.report.check("challengeSignature")?.outcome == .passed)
        #expect(!proof.verified)
    }

    @Test("bound certificate: the bound card proves itself; another card is card_changed before the PIN")
    func bound() async throws {
        let (card, sim, der) = try card("00-ordinary")
        let service = CardProofService(verifier: try fixtureVerifier())
        let signed = try service.sign(card, challenge: try CardChallenge(), pin: PIN("1234"), boundCertificate: der)
        #expect(signed.authCertificate == der)
        #expect(await service.verify(signed, at: Fixtures.midValidity).verified)
        let (_, _, otherDER) = try self.card("02-same-name-a")
        #expect(throws: JPKIError.cardChanged) {
            try service.sign(card, challenge: try CardChallenge(), pin: PIN("1234"), boundCertificate: otherDER)
        }
        #expect(sim.triesLeft(.auth) == 3)
    }
}
