import Foundation
import JPKI
import SmartCard

/// The card half of a ``CardProof``: what the card answered to a challenge, before any
/// certificate check. Made by ``CardProofService/sign(_:challenge:pin:allowLastTry:boundCertificate:)``.
public struct SignedChallenge: Sendable {
    /// The challenge the card signed.
    public let challenge: CardChallenge
    /// The auth key's signature over the challenge, by the key's scheme (RSA: over
    /// DigestInfo(SHA-256(challenge)); ECDSA P-384: over SHA-384(challenge), r ‖ s).
    public let signature: [UInt8]
    /// The auth certificate (DER): read in the signing transaction, or the bound certificate
    /// whose key the card matched and whose key verified the signature.
    public let authCertificate: [UInt8]
    /// The card: SHA-256 of ``authCertificate``.
    public let card: CardIdentity
}

/// A verified possession proof: the card holding the auth key signed a fresh challenge after
/// the auth PIN, and the auth certificate was checked (chain, validity, policy, revocation)
/// when a verifier was configured.
public struct CardProof: Sendable {
    /// The challenge the card signed.
    public let challenge: CardChallenge
    /// The auth key's signature over the challenge, by the key's scheme (RSA: over
    /// DigestInfo(SHA-256(challenge)); ECDSA P-384: over SHA-384(challenge), r ‖ s).
    public let signature: [UInt8]
    /// The auth certificate (DER) the signature was verified with: what a session binds to and
    /// what a registry key (`CardKey`) is taken from.
    public let authCertificate: [UInt8]
    /// The card: SHA-256 of ``authCertificate``.
    public let card: CardIdentity
    /// The checks: `challengeSignature`, and with a verifier the certificate's chain,
    /// validity, profile and revocation checks.
    public let report: VerificationReport
    /// Whether the certificate was checked against configured anchors (a verifier was given).
    public let chainChecked: Bool
    /// The verification time.
    public let time: Date

    /// True only when the certificate was checked against anchors and every check passed.
    /// Without anchors only the signature was checked: never verified.
    public var verified: Bool { chainChecked && report.verdict }

    /// The parsed auth certificate; nil when it does not parse.
    public var certificate: CertificateInfo? { try? CertificateInfo(der: Data(authCertificate)) }

    /// Where the auth certificate stands at the verification time under `policy`.
    public func standing(_ policy: ExpiryPolicy = .jpki) -> CertificateStanding? {
        certificate.map { policy.standing(of: $0, at: time) }
    }
}

/// The one card-proof path: auth PIN → fresh challenge signed by the auth key (one card
/// transaction) → signature + chain + revocation checked with OpenSSL. Used by jpkid
/// (`authenticate`, `eligibility`), `jpkid registry link` and `card-inspect verify --with-pin`.
///
/// Two steps, so that the card is held only for the card work:
/// ```swift
/// let service = CardProofService(verifier: verifier)
/// let challenge = try CardChallenge()
/// let signed = try await card.perform { channel in
///     try service.sign(MyNumberCard(channel: channel), challenge: challenge, pin: pin)
/// }
/// let proof = await service.verify(signed)          // chain + revocation + signature
/// guard proof.verified else { … }
/// ```
public struct CardProofService: Sendable {
    /// Chain/revocation verifier (anchors from configuration); nil = only the signature is
    /// checked and ``CardProof/verified`` stays false.
    public let verifier: CertificateVerifier?

    /// Creates the service.
    public init(verifier: CertificateVerifier?) {
        self.verifier = verifier
    }

    /// The card half, on the card's thread, in one card transaction
    /// (``MyNumberCard/signChallenge(_:pin:allowLastTry:boundCertificate:)``).
    ///
    /// With `boundCertificate` (the auth certificate the caller bound the card to), the card must
    /// carry that certificate's key before the PIN is sent, and its signature must verify with
    /// it: either mismatch is ``JPKIError/cardChanged`` — another card is in the reader.
    public func sign(
        _ card: MyNumberCard, challenge: CardChallenge, pin: PIN, allowLastTry: Bool = false,
        boundCertificate: [UInt8]? = nil
    ) throws(JPKIError) -> SignedChallenge {
        let signed = try card.signChallenge(
            [UInt8](challenge.bytes), pin: pin, allowLastTry: allowLastTry, boundCertificate: boundCertificate)
        if let boundCertificate, !boundCertificate.isEmpty,
            !challenge.verify(signature: Data(signed.value.signature), authCertificateDER: Data(boundCertificate))
                .verdict
        {
            throw .cardChanged
        }
        return SignedChallenge(
            challenge: challenge, signature: signed.value.signature, authCertificate: signed.value.certificate,
            card: signed.card)
    }

    /// The card half for a credential whose auth certificate is readable only after the auth PIN
    /// (an Android phone), in one card transaction
    /// (``MyNumberCard/signWithAuthKeyCertificateAfterPIN(message:pin:allowLastTry:expectingToken:)``):
    /// the token info must be `expectingToken` before the PIN is sent; the certificate read after
    /// the PIN must verify the signature and, with `boundCertificate` (a session already bound to
    /// one), be that certificate. Any mismatch is ``JPKIError/cardChanged``.
    public func signCertificateAfterPIN(
        _ card: MyNumberCard, challenge: CardChallenge, pin: PIN, allowLastTry: Bool = false,
        expectingToken: [UInt8]?, boundCertificate: [UInt8]? = nil
    ) throws(JPKIError) -> SignedChallenge {
        let signed = try card.signWithAuthKeyCertificateAfterPIN(
            message: [UInt8](challenge.bytes), pin: pin, allowLastTry: allowLastTry, expectingToken: expectingToken)
        let der = signed.value.certificate
        guard boundCertificate == nil || boundCertificate == der,
            challenge.verify(signature: Data(signed.value.signature), authCertificateDER: Data(der)).verdict
        else { throw .cardChanged }
        return SignedChallenge(
            challenge: challenge, signature: signed.value.signature, authCertificate: der, card: signed.card)
    }

    /// The check: the signature against the auth certificate's key and, with a verifier, the
    /// certificate against the configured anchors and revocation sources, at `time`.
    public func verify(_ signed: SignedChallenge, at time: Date = Date()) async -> CardProof {
        let signature = Data(signed.signature)
        let certificate = Data(signed.authCertificate)
        let report =
            if let verifier {
                await signed.challenge.verifyPresence(
                    signature: signature, authCertificateDER: certificate, verifier: verifier, at: time)
            } else {
                signed.challenge.verify(signature: signature, authCertificateDER: certificate)
            }
        return CardProof(
            challenge: signed.challenge, signature: signed.signature, authCertificate: signed.authCertificate,
            card: signed.card, report: report, chainChecked: verifier != nil, time: time)
    }
}
