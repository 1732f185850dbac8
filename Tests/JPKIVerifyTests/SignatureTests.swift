import Foundation
import JPKI
import Testing

@testable import JPKIVerify

@Suite("Card challenge and document signatures")
struct SignatureTests {
    /// Signs `message` with SHA-256 PKCS#1 v1.5 using a fixture key (what the card does with the DigestInfo).
    func sign(_ message: Data, key: URL) throws -> Data {
        try openssl(["dgst", "-sha256", "-sign", key.path], stdin: message)
    }

    @Test("challenges are 32 fresh random bytes and DigestInfo wraps SHA-256")
    func challenge() throws {
        let a = try CardChallenge()
        let b = try CardChallenge()
        #expect(a.bytes.count == 32)
        #expect(a != b)
        #expect(a.digestInfo.count == 51)
        #expect(a.digestInfo.suffix(32) == DigestAlgorithm.sha256.hash(a.bytes))
        #expect(throws: JPKIVerifyError.self) { try CardChallenge(bytes: Data(count: 31)) }
    }

    @Test("the card's auth-key signature over the challenge verifies; presence report is complete")
    func goodChallenge() async throws {
        let c = try CardChallenge()
        let sig = try sign(c.bytes, key: Fixtures.card("00-ordinary", "jpki/auth-key.test.pem"))
        let cert = try Fixtures.cardData("00-ordinary", "jpki/000A.der")
        let r = c.verify(signature: sig, authCertificateDER: cert)
        #expect(r.verdict)
        let presence = await c.verifyPresence(
            signature: sig, authCertificateDER: cert,
            cardCACertificateDER: try Fixtures.cardData("00-ordinary", "jpki/000B.der"),
            verifier: try fixtureVerifier(), at: Fixtures.midValidity)
        #expect(presence.verdict, "\(presence.checks)")
        #expect(presence.check("challengeSignature")?.outcome == .passed)
        #expect(presence.check("chain")?.outcome == .passed)
    }

    @Test("bad challenge signature: flipped byte, other challenge, other key, empty")
    func badChallenge() async throws {
        let c = try CardChallenge()
        let cert = try Fixtures.cardData("00-ordinary", "jpki/000A.der")
        let sig = try sign(c.bytes, key: Fixtures.card("00-ordinary", "jpki/auth-key.test.pem"))
        let flipped = c.verify(signature: tampered(sig, at: 100), authCertificateDER: cert)
        #expect(!flipped.verdict)
        #expect(failureCode(flipped, "challengeSignature") == "bad_signature")
        let other = try CardChallenge()
        #expect(!other.verify(signature: sig, authCertificateDER: cert).verdict)
        let wrongKey = try sign(
            c.bytes, key: Fixtures.card("00-ordinary", "jpki/sign-key.test.pem"))
        #expect(!c.verify(signature: wrongKey, authCertificateDER: cert).verdict)
        let otherCard = try sign(
            c.bytes, key: Fixtures.card("02-same-name-a", "jpki/auth-key.test.pem"))
        #expect(!c.verify(signature: otherCard, authCertificateDER: cert).verdict)
        #expect(!c.verify(signature: Data(), authCertificateDER: cert).verdict)
        // Good signature but revoked certificate: presence fails.
        let revokedSig = try sign(
            c.bytes, key: Fixtures.card("04-revoked", "jpki/auth-key.test.pem"))
        let presence = await c.verifyPresence(
            signature: revokedSig,
            authCertificateDER: try Fixtures.cardData("04-revoked", "jpki/000A.der"),
            verifier: try fixtureVerifier(), at: Fixtures.midValidity)
        #expect(presence.check("challengeSignature")?.outcome == .passed)
        #expect(!presence.verdict)
    }

    @Test(
        "document signatures with the sign key over SHA-256/384/512 digests",
        arguments: DigestAlgorithm.allCases)
    func documentSignature(algorithm: DigestAlgorithm) async throws {
        let document = Data("診療情報 test document \(algorithm.rawValue)".utf8)
        let digest = algorithm.hash(document)
        let digestFile = try makeTempDir()
        defer { try? FileManager.default.removeItem(at: digestFile) }
        let sig = try openssl(
            [
                "pkeyutl", "-sign", "-inkey",
                Fixtures.card("00-ordinary", "jpki/sign-key.test.pem").path,
                "-pkeyopt", "digest:\(algorithm.rawValue)",
            ],
            stdin: digest)
        let cert = try Fixtures.cardData("00-ordinary", "jpki/0001.der")
        #expect(
            DocumentSignature.verify(
                digest: digest, algorithm: algorithm, signature: sig, signCertificateDER: cert
            ).verdict)
        let full = await DocumentSignature.verify(
            digest: digest, algorithm: algorithm, signature: sig, signCertificateDER: cert,
            verifier: try fixtureVerifier(),
            at: Fixtures.midValidity)
        #expect(full.verdict, "\(full.checks)")
        // Failing cases: other digest, tampered signature, auth certificate's key.
        let otherDigest = algorithm.hash(document + Data([0]))
        #expect(
            !DocumentSignature.verify(
                digest: otherDigest, algorithm: algorithm, signature: sig, signCertificateDER: cert
            ).verdict)
        #expect(
            !DocumentSignature.verify(
                digest: digest, algorithm: algorithm, signature: tampered(sig, at: 5),
                signCertificateDER: cert
            ).verdict)
        let authCert = try Fixtures.cardData("00-ordinary", "jpki/000A.der")
        #expect(
            !DocumentSignature.verify(
                digest: digest, algorithm: algorithm, signature: sig, signCertificateDER: authCert
            ).verdict)
        let wrongLength = DocumentSignature.verify(
            digest: digest.prefix(20), algorithm: algorithm, signature: sig,
            signCertificateDER: cert)
        #expect(failureCode(wrongLength, "documentSignature") == "invalid_argument")
    }
}
