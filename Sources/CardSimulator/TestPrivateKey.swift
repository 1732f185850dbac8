import COpenSSL
import JPKI

/// A private test key of a simulated card (RSA, or EC P-256/P-384 for the ECDSA stand-in
/// profile), loaded from PEM, used through OpenSSL.
final class TestPrivateKey: @unchecked Sendable {
    // The EVP_PKEY is only read after init (signing does not mutate it); OpenSSL allows
    // concurrent use of one EVP_PKEY with separate contexts.
    private let pkey: OpaquePointer

    /// Loads a PEM private key (PKCS#1 or PKCS#8, unencrypted).
    init(pem: [UInt8], path: String) throws(CardSimulatorError) {
        let loaded: OpaquePointer? = pem.withUnsafeBytes { raw -> OpaquePointer? in
            guard let bio = BIO_new_mem_buf(raw.baseAddress, Int32(raw.count)) else { return nil }
            defer { BIO_free(bio) }
            return PEM_read_bio_PrivateKey(bio, nil, nil, nil)
        }
        guard let key = loaded else {
            ERR_clear_error()
            throw .invalidKey(path)
        }
        switch EVP_PKEY_get_base_id(key) {
        case copenssl_evp_pkey_rsa(): curve = nil
        case copenssl_evp_pkey_ec():
            var buf = [CChar](repeating: 0, count: 80)
            var len = 0
            _ = EVP_PKEY_get_utf8_string_param(key, "group", &buf, buf.count, &len)
            switch String(decoding: buf.prefix(len).map { UInt8(bitPattern: $0) }, as: UTF8.self) {
            case "prime256v1": curve = .p256
            case "secp384r1": curve = .p384
            default:
                ERR_clear_error()
                EVP_PKEY_free(key)
                throw .invalidKey(path)
            }
        default:
            EVP_PKEY_free(key)
            throw .invalidKey(path)
        }
        pkey = key
    }

    /// The curve of an EC key; nil for RSA.
    let curve: ECCurve?

    /// ECDSA over `digest` as given (the card is given the hash), answered as the card's
    /// `r ‖ s` (2 × the coordinate length; converted from OpenSSL's DER by
    /// ``ECDSASignature/raw(fromDER:curve:)``). Nil for an RSA key or when OpenSSL refuses.
    func signECDSA(digest: [UInt8]) -> [UInt8]? {
        guard let curve, let der = evpSign(digest, configure: { _ in true }) else { return nil }
        return try? ECDSASignature.raw(fromDER: der, curve: curve)
    }

    deinit { EVP_PKEY_free(pkey) }

    /// The modulus size in bytes (256 for RSA-2048).
    var modulusBytes: Int { Int(EVP_PKEY_get_size(pkey)) }

    /// PKCS#1 v1.5 type-1 padding over `data` exactly as given (no hashing, no DigestInfo
    /// added), then the private-key operation. Nil when OpenSSL refuses (e.g. data too long).
    func signPKCS1Raw(_ data: [UInt8]) -> [UInt8]? {
        sign(data, padding: copenssl_rsa_pkcs1_padding(), pssDigest: false)
    }

    /// RSASSA-PSS with SHA-256 and MGF1-SHA-256, salt length = digest length, over a 32-byte hash.
    func signPSS(sha256Hash: [UInt8]) -> [UInt8]? {
        // RSA_PKCS1_PSS_PADDING is the macro value 6 in OpenSSL 3.
        sign(sha256Hash, padding: 6, pssDigest: true)
    }

    private func sign(_ data: [UInt8], padding: Int32, pssDigest: Bool) -> [UInt8]? {
        guard curve == nil else { return nil }
        return evpSign(data) { ctx in
            guard EVP_PKEY_CTX_set_rsa_padding(ctx, padding) == 1 else { return false }
            // RSA_PSS_SALTLEN_DIGEST = -1.
            return !pssDigest
                || (EVP_PKEY_CTX_set_signature_md(ctx, EVP_sha256()) == 1
                    && EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, -1) == 1)
        }
    }

    /// The private-key operation over `data` as given (EVP_PKEY_sign), after `configure` set the
    /// context up (RSA padding; nothing for ECDSA, which answers DER). Nil when OpenSSL refuses.
    private func evpSign(_ data: [UInt8], configure: (OpaquePointer) -> Bool) -> [UInt8]? {
        guard let ctx = EVP_PKEY_CTX_new(pkey, nil) else { return nil }
        defer { EVP_PKEY_CTX_free(ctx) }
        guard EVP_PKEY_sign_init(ctx) == 1, configure(ctx) else {
            ERR_clear_error()
            return nil
        }
        var length = 0
        guard EVP_PKEY_sign(ctx, nil, &length, data, data.count) == 1 else {
            ERR_clear_error()
            return nil
        }
        var out = [UInt8](repeating: 0, count: length)
        let rc = out.withUnsafeMutableBufferPointer { buf in
            EVP_PKEY_sign(ctx, buf.baseAddress, &length, data, data.count)
        }
        guard rc == 1 else {
            ERR_clear_error()
            return nil
        }
        return Array(out[..<length])
    }
}
