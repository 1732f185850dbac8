import COpenSSL
import Foundation
import JPKI

/// RSA PKCS#1 v1.5 signature verification with OpenSSL EVP.
enum RSAVerify {
    /// Verifies `signature` over `message` (hashed here) with EVP_DigestVerify.
    static func verifyMessage(
        _ message: Data, signature: Data, key: PKeyBox, digest: DigestAlgorithm
    )
        -> Bool
    {
        guard let mdctx = EVP_MD_CTX_new() else { return false }
        defer { EVP_MD_CTX_free(mdctx) }
        var pctx: OpaquePointer? = nil
        guard EVP_DigestVerifyInit(mdctx, &pctx, digest.evpMD, nil, key.ptr) == 1, let pctx,
            EVP_PKEY_CTX_set_rsa_padding(pctx, copenssl_rsa_pkcs1_padding()) == 1
        else {
            _ = drainOpenSSLErrors()
            return false
        }
        let rc = signature.withUnsafeBytes { s in
            message.withUnsafeBytes { m in
                EVP_DigestVerify(
                    mdctx, s.bindMemory(to: UInt8.self).baseAddress, s.count,
                    m.bindMemory(to: UInt8.self).baseAddress, m.count)
            }
        }
        _ = drainOpenSSLErrors()
        return rc == 1
    }

    /// Verifies `signature` over an already computed digest (EVP_PKEY_verify with the digest type set).
    static func verifyDigest(
        _ digestValue: Data, signature: Data, key: PKeyBox, digest: DigestAlgorithm
    ) -> Bool {
        guard digestValue.count == digest.digestLength, let md = digest.evpMD else { return false }
        return verifyRawPKCS1(digestValue, signature: signature, key: key, digestType: md)
    }

    /// Public key of a certificate.
    static func key(of certificateDER: Data) throws(JPKIVerifyError) -> PKeyBox {
        let x = try X509Box.parse(der: certificateDER)
        guard let pk = X509_get0_pubkey(x.ptr) else {
            throw .malformedCertificate("public key does not decode")
        }
        EVP_PKEY_up_ref(pk)
        let box = PKeyBox(owning: pk)
        guard EVP_PKEY_get_base_id(pk) == copenssl_evp_pkey_rsa() else {
            throw .malformedKey("not an RSA key")
        }
        return box
    }
}

/// A fresh random challenge for proving that the card holding the auth key is present.
///
/// Usage: `let c = try CardChallenge()`, have the card sign ``digestInfo`` with the auth key
/// (JPKI `80 2A 00 80`), then `c.verify(signature:authCertificateDER:)`. The auth certificate
/// itself must be verified with ``CertificateVerifier`` (use ``verifyPresence(signature:authCertificateDER:verifier:at:)``
/// for both at once).
public struct CardChallenge: Sendable, Equatable {
    /// Challenge length in bytes.
    public static let length = 32
    /// The random challenge bytes.
    public let bytes: Data

    /// Draws 32 bytes from OpenSSL's CSPRNG (RAND_bytes).
    public init() throws(JPKIVerifyError) {
        var b = [UInt8](repeating: 0, count: Self.length)
        guard RAND_bytes(&b, Int32(b.count)) == 1 else {
            throw .openSSL(function: "RAND_bytes", detail: drainOpenSSLErrors())
        }
        bytes = Data(b)
    }

    /// Wraps existing challenge bytes (must be 32 bytes; e.g. to verify a stored exchange).
    public init(bytes: Data) throws(JPKIVerifyError) {
        guard bytes.count == Self.length else {
            throw .invalidArgument("challenge must be \(Self.length) bytes")
        }
        self.bytes = bytes
    }

    /// DigestInfo(SHA-256(challenge)): the 51 bytes the card signs (it adds PKCS#1 v1.5 padding).
    public var digestInfo: Data {
        Data(DigestInfo.sha256(ofChallenge: [UInt8](bytes)))
    }

    /// Verifies the card's RSA PKCS#1 v1.5 SHA-256 signature over the challenge with the auth
    /// certificate's public key. Only the `challengeSignature` check; no chain check.
    public func verify(signature: Data, authCertificateDER: Data) -> VerificationReport {
        let check: VerificationCheck
        do {
            let key = try RSAVerify.key(of: authCertificateDER)
            if RSAVerify.verifyMessage(bytes, signature: signature, key: key, digest: .sha256) {
                check = VerificationCheck(id: "challengeSignature", outcome: .passed)
            } else {
                check = VerificationCheck(
                    id: "challengeSignature",
                    outcome: .failed(
                        code: "bad_signature", message: "challenge signature does not verify"))
            }
        } catch {
            check = VerificationCheck(
                id: "challengeSignature", outcome: .failed(code: error.code, message: error.message)
            )
        }
        return VerificationReport(
            checks: [check], expectedChecks: ["challengeSignature"], evaluatedAt: Date())
    }

    /// Verifies the auth certificate (chain, profile, revocation) and the challenge signature:
    /// one report, verdict true only when both are good.
    public func verifyPresence(
        signature: Data, authCertificateDER: Data, cardCACertificateDER: Data? = nil,
        verifier: CertificateVerifier, at time: Date = Date()
    ) async -> VerificationReport {
        let cert = await verifier.verify(
            certificateDER: authCertificateDER,
            untrustedIntermediates: cardCACertificateDER.map { [$0] } ?? [],
            purpose: .auth, at: time)
        return cert.merged(
            with: verify(signature: signature, authCertificateDER: authCertificateDER))
    }
}

/// Verification of signatures made with the JPKI sign key over a document digest.
public enum DocumentSignature {
    /// Verifies an RSA PKCS#1 v1.5 signature over `digest` (already hashed with `algorithm`)
    /// using the sign certificate's key. Only the `documentSignature` check; verify the
    /// certificate itself with ``CertificateVerifier`` (purpose `.sign`) or use
    /// ``verify(digest:algorithm:signature:signCertificateDER:verifier:at:)``.
    public static func verify(
        digest: Data, algorithm: DigestAlgorithm, signature: Data, signCertificateDER: Data
    ) -> VerificationReport {
        let check: VerificationCheck
        do {
            guard digest.count == algorithm.digestLength else {
                throw JPKIVerifyError.invalidArgument(
                    "digest length does not match \(algorithm.rawValue)")
            }
            let key = try RSAVerify.key(of: signCertificateDER)
            if RSAVerify.verifyDigest(digest, signature: signature, key: key, digest: algorithm) {
                check = VerificationCheck(
                    id: "documentSignature", outcome: .passed, detail: algorithm.rawValue)
            } else {
                check = VerificationCheck(
                    id: "documentSignature",
                    outcome: .failed(
                        code: "bad_signature", message: "document signature does not verify"))
            }
        } catch let error as JPKIVerifyError {
            check = VerificationCheck(
                id: "documentSignature", outcome: .failed(code: error.code, message: error.message))
        } catch {
            check = VerificationCheck(
                id: "documentSignature",
                outcome: .failed(code: "internal", message: "unexpected error"))
        }
        return VerificationReport(
            checks: [check], expectedChecks: ["documentSignature"], evaluatedAt: Date())
    }

    /// Verifies the sign certificate (purpose `.sign`) and the signature: one report.
    public static func verify(
        digest: Data, algorithm: DigestAlgorithm, signature: Data, signCertificateDER: Data,
        signCACertificateDER: Data? = nil, verifier: CertificateVerifier, at time: Date = Date()
    ) async -> VerificationReport {
        let cert = await verifier.verify(
            certificateDER: signCertificateDER,
            untrustedIntermediates: signCACertificateDER.map { [$0] } ?? [],
            purpose: .sign, at: time)
        return cert.merged(
            with: verify(
                digest: digest, algorithm: algorithm, signature: signature,
                signCertificateDER: signCertificateDER))
    }
}
