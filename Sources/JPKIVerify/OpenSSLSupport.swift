import COpenSSL
import Foundation

/// Drains OpenSSL's thread-local error queue into one short string (no certificate content).
func drainOpenSSLErrors() -> String {
    var parts: [String] = []
    while true {
        let e = ERR_get_error()
        if e == 0 { break }
        var buf = [CChar](repeating: 0, count: 256)
        ERR_error_string_n(e, &buf, buf.count)
        if parts.count < 4 {
            parts.append(
                String(
                    decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
    }
    return parts.isEmpty ? "no OpenSSL error" : parts.joined(separator: "; ")
}

/// Owns an `X509*`.
final class X509Box: @unchecked Sendable {
    let ptr: OpaquePointer
    init(owning ptr: OpaquePointer) { self.ptr = ptr }
    deinit { X509_free(ptr) }

    /// Parses exactly one DER certificate; trailing bytes are rejected.
    static func parse(der: Data) throws(JPKIVerifyError) -> X509Box {
        guard !der.isEmpty else { throw .malformedCertificate("empty input") }
        guard der.count < Int(Int32.max) else { throw .malformedCertificate("too large") }
        let result: (OpaquePointer?, Int) = der.withUnsafeBytes { raw in
            guard let base = raw.bindMemory(to: UInt8.self).baseAddress else { return (nil, 0) }
            var p: UnsafePointer<UInt8>? = base
            let x = d2i_X509(nil, &p, raw.count)
            let consumed = p.map { $0 - base } ?? 0
            return (x, consumed)
        }
        guard let x = result.0 else {
            _ = drainOpenSSLErrors()
            throw .malformedCertificate("DER does not decode as X.509")
        }
        let box = X509Box(owning: x)
        guard result.1 == der.count else {
            throw .malformedCertificate("trailing bytes after certificate")
        }
        // Force extension caching; reject certificates whose extensions do not decode.
        let flags = X509_get_extension_flags(x)
        if flags & UInt32(EXFLAG_INVALID) != 0 {
            _ = drainOpenSSLErrors()
            throw .malformedCertificate("invalid or duplicate extensions")
        }
        return box
    }

    /// DER encoding.
    var der: Data {
        var out: UnsafeMutablePointer<UInt8>? = nil
        let n = i2d_X509(ptr, &out)
        guard n > 0, let out else { return Data() }
        defer { copenssl_openssl_free(out) }
        return Data(bytes: out, count: Int(n))
    }
}

/// Owns an `EVP_PKEY*`.
final class PKeyBox: @unchecked Sendable {
    let ptr: OpaquePointer
    init(owning ptr: OpaquePointer) { self.ptr = ptr }
    deinit { EVP_PKEY_free(ptr) }

    /// Builds an RSA public key from big-endian modulus and exponent.
    static func rsa(modulus: Data, exponent: Data) throws(JPKIVerifyError) -> PKeyBox {
        guard !modulus.isEmpty, !exponent.isEmpty, modulus.count <= 1024, exponent.count <= 16
        else {
            throw .malformedKey("RSA component sizes out of range")
        }
        guard let bld = OSSL_PARAM_BLD_new() else {
            throw .openSSL(function: "OSSL_PARAM_BLD_new", detail: drainOpenSSLErrors())
        }
        defer { OSSL_PARAM_BLD_free(bld) }
        let n = modulus.withUnsafeBytes {
            BN_bin2bn($0.bindMemory(to: UInt8.self).baseAddress, Int32($0.count), nil)
        }
        let e = exponent.withUnsafeBytes {
            BN_bin2bn($0.bindMemory(to: UInt8.self).baseAddress, Int32($0.count), nil)
        }
        defer {
            BN_free(n)
            BN_free(e)
        }
        guard let n, let e else {
            throw .openSSL(function: "BN_bin2bn", detail: drainOpenSSLErrors())
        }
        // The builder keeps the key pointers until OSSL_PARAM_BLD_to_param: use static strings.
        let keyN: StaticString = "n"
        let keyE: StaticString = "e"
        let pN = UnsafeRawPointer(keyN.utf8Start).assumingMemoryBound(to: CChar.self)
        let pE = UnsafeRawPointer(keyE.utf8Start).assumingMemoryBound(to: CChar.self)
        guard OSSL_PARAM_BLD_push_BN(bld, pN, n) == 1, OSSL_PARAM_BLD_push_BN(bld, pE, e) == 1,
            let params = OSSL_PARAM_BLD_to_param(bld)
        else { throw .openSSL(function: "OSSL_PARAM_BLD", detail: drainOpenSSLErrors()) }
        defer { OSSL_PARAM_free(params) }
        guard let ctx = EVP_PKEY_CTX_new_from_name(nil, "RSA", nil) else {
            throw .openSSL(function: "EVP_PKEY_CTX_new_from_name", detail: drainOpenSSLErrors())
        }
        defer { EVP_PKEY_CTX_free(ctx) }
        var pkey: OpaquePointer? = nil
        guard EVP_PKEY_fromdata_init(ctx) == 1,
            EVP_PKEY_fromdata(ctx, &pkey, copenssl_evp_pkey_public_key(), params) == 1, let pkey
        else { throw .malformedKey("RSA key rejected: \(drainOpenSSLErrors())") }
        return PKeyBox(owning: pkey)
    }

    /// Loads a public key (PEM `PUBLIC KEY`/`RSA PUBLIC KEY`, or DER SubjectPublicKeyInfo).
    static func publicKey(pemOrDER data: Data) throws(JPKIVerifyError) -> PKeyBox {
        let key: OpaquePointer? = data.withUnsafeBytes { raw in
            guard let bio = BIO_new_mem_buf(raw.baseAddress, Int32(raw.count)) else { return nil }
            defer { BIO_free(bio) }
            if data.starts(with: Array("-----BEGIN".utf8)) {
                return PEM_read_bio_PUBKEY(bio, nil, nil, nil)
            }
            return d2i_PUBKEY_bio(bio, nil)
        }
        guard let key else {
            throw .malformedKey("public key does not decode: \(drainOpenSSLErrors())")
        }
        return PKeyBox(owning: key)
    }

    /// RSA modulus and public exponent, if this is an RSA key.
    var rsaComponents: (modulus: Data, exponent: Data)? {
        guard EVP_PKEY_get_base_id(ptr) == copenssl_evp_pkey_rsa() else { return nil }
        var n: OpaquePointer? = nil
        var e: OpaquePointer? = nil
        defer {
            BN_free(n)
            BN_free(e)
        }
        guard EVP_PKEY_get_bn_param(ptr, "n", &n) == 1, EVP_PKEY_get_bn_param(ptr, "e", &e) == 1,
            let n,
            let e
        else {
            _ = drainOpenSSLErrors()
            return nil
        }
        return (bignumBytes(n), bignumBytes(e))
    }
}

/// Big-endian bytes of a BIGNUM.
func bignumBytes(_ bn: OpaquePointer) -> Data {
    let len = (BN_num_bits(bn) + 7) / 8
    var out = [UInt8](repeating: 0, count: Int(max(len, 0)))
    if len > 0 { _ = BN_bn2bin(bn, &out) }
    return Data(out)
}

/// Converts an ASN1_TIME to a Date (nil when malformed).
func dateFrom(asn1Time t: UnsafePointer<ASN1_TIME>?) -> Date? {
    guard let t else { return nil }
    var tmv = tm()
    guard ASN1_TIME_to_tm(t, &tmv) == 1 else { return nil }
    let secs = timegm(&tmv)
    return Date(timeIntervalSince1970: TimeInterval(secs))
}

/// UTF-8 text of an ASN1_STRING (any string type), nil when not convertible.
func utf8String(_ s: UnsafePointer<ASN1_STRING>?) -> String? {
    guard let s else { return nil }
    var out: UnsafeMutablePointer<UInt8>? = nil
    let n = ASN1_STRING_to_UTF8(&out, s)
    guard n >= 0, let out else {
        _ = drainOpenSSLErrors()
        return nil
    }
    defer { copenssl_openssl_free(out) }
    return String(validating: UnsafeBufferPointer(start: out, count: Int(n)), as: UTF8.self)
}

/// Dotted OID text of an ASN1_OBJECT.
func oidString(_ obj: OpaquePointer?) -> String {
    guard let obj else { return "" }
    var buf = [CChar](repeating: 0, count: 128)
    let n = OBJ_obj2txt(&buf, Int32(buf.count), obj, 1)
    guard n > 0 else { return "" }
    return String(
        decoding: buf.prefix(Int(min(n, 127))).map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// Reads a whole file (typed error with the path only).
func readFile(_ url: URL) throws(JPKIVerifyError) -> Data {
    do { return try Data(contentsOf: url) } catch { throw .fileUnreadable(path: url.path) }
}

extension Data {
    /// Lower-case hex.
    var hexString: String { map { String(format: "%02x", $0) }.joined() }
}
