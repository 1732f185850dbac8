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
}

/// Verification of a JPKI key's signature by the key's scheme: RSA PKCS#1 v1.5 (today's card) or
/// ECDSA P-256/P-384 (the next card). ECDSA signatures are taken as the card answers them,
/// `r ‖ s` (see ``CardSignatureScheme``), and turned into DER for OpenSSL by ``ECDSASignature``.
enum CardKeyVerify {
    /// The certificate's public key and the scheme its key type implies (RSA: SHA-256; P-256:
    /// SHA-256; P-384: SHA-384; `digest` overrides the hash). Other curves and key types are
    /// refused with `unsupported_curve` / `unsupported_key_algorithm`.
    static func key(of certificateDER: Data, digest: DigestAlgorithm? = nil) throws(JPKIVerifyError)
        -> (key: PKeyBox, scheme: CardSignatureScheme)
    {
        let x = try X509Box.parse(der: certificateDER)
        guard let pk = X509_get0_pubkey(x.ptr) else {
            _ = drainOpenSSLErrors()
            throw .malformedCertificate("public key does not decode")
        }
        EVP_PKEY_up_ref(pk)
        let box = PKeyBox(owning: pk)
        return (box, try box.signatureScheme(digest: digest))
    }

    /// Verifies `signature` (the card's form) over `message`, hashed here with the scheme's digest.
    static func verifyMessage(_ message: Data, signature: Data, key: PKeyBox, scheme: CardSignatureScheme) -> Bool {
        switch scheme {
        case .rsaPKCS1v15(let d):
            return RSAVerify.verifyMessage(message, signature: signature, key: key, digest: d)
        case .ecdsa(_, let d):
            // ECDSA signs the digest itself: hash here, verify as a digest.
            return verifyDigest(d.hash(message), signature: signature, key: key, scheme: scheme)
        }
    }

    /// Verifies `signature` (the card's form) over an already computed digest.
    static func verifyDigest(_ digestValue: Data, signature: Data, key: PKeyBox, scheme: CardSignatureScheme) -> Bool {
        switch scheme {
        case .rsaPKCS1v15(let d):
            return RSAVerify.verifyDigest(digestValue, signature: signature, key: key, digest: d)
        case .ecdsa(let curve, let d):
            guard digestValue.count == d.digestLength,
                let der = try? ECDSASignature.der(fromRaw: [UInt8](signature), curve: curve),
                let ctx = EVP_PKEY_CTX_new(key.ptr, nil)
            else { return false }
            defer { EVP_PKEY_CTX_free(ctx) }
            guard EVP_PKEY_verify_init(ctx) == 1, EVP_PKEY_CTX_set_signature_md(ctx, d.evpMD) == 1 else {
                _ = drainOpenSSLErrors()
                return false
            }
            let rc = digestValue.withUnsafeBytes { m in
                EVP_PKEY_verify(ctx, der, der.count, m.bindMemory(to: UInt8.self).baseAddress, m.count)
            }
            _ = drainOpenSSLErrors()
            return rc == 1
        }
    }
}

extension PKeyBox {
    /// The EC curve's OpenSSL group name (`prime256v1`, `secp384r1`, …), nil for other keys.
    var ecGroupName: String? {
        guard EVP_PKEY_get_base_id(ptr) == copenssl_evp_pkey_ec() else { return nil }
        var buf = [CChar](repeating: 0, count: 80)
        var len = 0
        guard EVP_PKEY_get_utf8_string_param(ptr, "group", &buf, buf.count, &len) == 1 else {
            _ = drainOpenSSLErrors()
            return ""
        }
        return String(decoding: buf.prefix(len).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The scheme this key signs with (see ``CardKeyVerify/key(of:digest:)``).
    func signatureScheme(digest: DigestAlgorithm? = nil) throws(JPKIVerifyError) -> CardSignatureScheme {
        switch EVP_PKEY_get_base_id(ptr) {
        case copenssl_evp_pkey_rsa(): return .rsaPKCS1v15(digest ?? .sha256)
        case copenssl_evp_pkey_ec():
            let group = ecGroupName ?? ""
            let curve: ECCurve
            switch group {
            case "prime256v1", "P-256": curve = .p256
            case "secp384r1", "P-384": curve = .p384
            default: throw .unsupportedCurve(group.isEmpty ? "curve not named" : group)
            }
            return .ecdsa(curve, digest ?? curve.defaultDigest)
        default:
            let name = OBJ_nid2sn(EVP_PKEY_get_base_id(ptr)).map { String(cString: $0) } ?? "unknown"
            throw .unsupportedKeyAlgorithm(name)
        }
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

    /// DigestInfo(SHA-256(challenge)): the 51 bytes an RSA card signs (it adds PKCS#1 v1.5
    /// padding). For a key of any supported type use ``cardInput(for:)``.
    public var digestInfo: Data {
        Data(DigestInfo.sha256(ofChallenge: [UInt8](bytes)))
    }

    /// What the card is given to sign this challenge with a key of `scheme`: DigestInfo of the
    /// hash for RSA, the raw hash for ECDSA (SHA-384 for P-384).
    public func cardInput(for scheme: CardSignatureScheme) -> Data {
        Data(scheme.cardInput(message: [UInt8](bytes)))
    }

    /// Verifies the card's signature over the challenge with the auth certificate's public key,
    /// by the key's scheme: RSA PKCS#1 v1.5 SHA-256, or ECDSA (`r ‖ s` as the card answers) with
    /// SHA-384 on P-384 and SHA-256 on P-256. Only the `challengeSignature` check (its detail
    /// names the scheme); no chain check. Keys on other curves fail with `unsupported_curve`.
    public func verify(signature: Data, authCertificateDER: Data) -> VerificationReport {
        let check: VerificationCheck
        do {
            let (key, scheme) = try CardKeyVerify.key(of: authCertificateDER)
            if CardKeyVerify.verifyMessage(bytes, signature: signature, key: key, scheme: scheme) {
                check = VerificationCheck(id: "challengeSignature", outcome: .passed, detail: scheme.name)
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
    /// Verifies a signature over `digest` (already hashed with `algorithm`) using the sign
    /// certificate's key: RSA PKCS#1 v1.5, or ECDSA (`r ‖ s` as the card answers). Only the `documentSignature` check; verify the
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
            let (key, scheme) = try CardKeyVerify.key(of: signCertificateDER, digest: algorithm)
            if CardKeyVerify.verifyDigest(digest, signature: signature, key: key, scheme: scheme) {
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
