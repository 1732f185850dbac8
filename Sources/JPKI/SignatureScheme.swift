/// Elliptic curves a JPKI key may use (the next card: ECDSA P-384; P-256 accepted too).
public enum ECCurve: String, Sendable, Hashable, Codable, CaseIterable {
    /// NIST P-256 (prime256v1, 1.2.840.10045.3.1.7).
    case p256 = "P-256"
    /// NIST P-384 (secp384r1, 1.3.132.0.34).
    case p384 = "P-384"

    /// Bytes of one coordinate / of r and of s (32 for P-256, 48 for P-384).
    public var coordinateLength: Int {
        switch self {
        case .p256: 32
        case .p384: 48
        }
    }

    /// The digest paired with the curve (SHA-256 for P-256, SHA-384 for P-384).
    public var defaultDigest: DigestAlgorithm {
        switch self {
        case .p256: .sha256
        case .p384: .sha384
        }
    }

    /// DER of the namedCurve OID (without tag and length).
    var oid: [UInt8] {
        switch self {
        case .p256: [0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07]
        case .p384: [0x2B, 0x81, 0x04, 0x00, 0x22]
        }
    }
}

/// How a JPKI key signs, decided by the public key of the key's certificate (the card itself is
/// not asked: today's card has no command that names the key's algorithm, and the next card's
/// command set is not public — **assumption**, see apdu-fixtures/README.md "ECDSA stand-in").
///
/// - RSA (today's card, RSA-2048): the card is given `DigestInfo(hash)` and pads PKCS#1 v1.5
///   itself; it answers the modulus-sized signature.
/// - ECDSA (the next card, P-384/SHA-384): the card is given the raw digest and answers
///   `r ‖ s`, each left-padded to the curve's coordinate length (2×48 bytes for P-384) —
///   **assumption** (the usual ISO 7816-8 / PIV form; no public source for the next card).
///   ``ECDSASignature`` converts that to the DER `Ecdsa-Sig-Value` OpenSSL verifies.
public enum CardSignatureScheme: Sendable, Hashable, CustomStringConvertible {
    /// RSASSA-PKCS1-v1_5 with this digest.
    case rsaPKCS1v15(DigestAlgorithm)
    /// ECDSA on this curve with this digest.
    case ecdsa(ECCurve, DigestAlgorithm)

    /// The scheme of the key certified by `certificateDER` with the key type's usual digest
    /// (RSA: SHA-256 as today's card; P-256: SHA-256; P-384: SHA-384), or `digest` when given.
    /// Throws ``JPKIError/unsupportedCurve(_:)`` for an EC key on another curve and
    /// ``JPKIError/unsupportedKeyAlgorithm(_:)`` for any other key type.
    public init(certificateDER: [UInt8], digest: DigestAlgorithm? = nil) throws(JPKIError) {
        guard let spki = SubjectPublicKeyInfo(certificateDER: certificateDER) else {
            throw .malformedData("certificate does not decode (no subjectPublicKeyInfo)")
        }
        self = try spki.scheme(digest: digest)
    }

    /// The digest the card's input is made with.
    public var digest: DigestAlgorithm {
        switch self {
        case .rsaPKCS1v15(let d), .ecdsa(_, let d): d
        }
    }

    /// The curve, for ECDSA.
    public var curve: ECCurve? {
        if case .ecdsa(let c, _) = self { return c }
        return nil
    }

    /// A stable name, e.g. `RSASSA-PKCS1-v1_5-SHA256` or `ECDSA-P384-SHA384`.
    public var name: String {
        let d = digest.rawValue.uppercased()
        switch self {
        case .rsaPKCS1v15: return "RSASSA-PKCS1-v1_5-" + d
        case .ecdsa(let c, _): return "ECDSA-" + c.rawValue.replacingOccurrences(of: "-", with: "") + "-" + d
        }
    }

    /// ``name``.
    public var description: String { name }

    /// What the card's COMPUTE SIGNATURE (`80 2A 00 80`) is given for `message`: DigestInfo of
    /// its hash for RSA, the raw hash for ECDSA.
    public func cardInput(message: [UInt8]) -> [UInt8] {
        switch self {
        case .rsaPKCS1v15(let d): DigestInfo.of(message: message, d)
        case .ecdsa(_, let d): d.hash(message)
        }
    }

    /// What the card is given for an already computed `digest` (its length must match).
    public func cardInput(digest value: [UInt8]) throws(JPKIError) -> [UInt8] {
        switch self {
        case .rsaPKCS1v15(let d): return try DigestInfo.encode(d, digest: value)
        case .ecdsa(_, let d):
            guard value.count == d.digestLength else {
                throw .invalidDigest("\(d.rawValue) digest must be \(d.digestLength) bytes, got \(value.count)")
            }
            return value
        }
    }
}

/// The subjectPublicKeyInfo of a DER certificate, found with ``BERTLV`` (no crypto library).
struct SubjectPublicKeyInfo {
    /// The AlgorithmIdentifier's OID content bytes.
    var algorithmOID: [UInt8]
    /// The parameters' OID content bytes (EC: namedCurve), when the parameters are an OID.
    var parameterOID: [UInt8]?
    /// Where the subjectPublicKey BIT STRING's contents lie in the certificate.
    var keyBits: Range<Int>

    static let rsaEncryption: [UInt8] = [0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x01]
    static let ecPublicKey: [UInt8] = [0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x02, 0x01]

    init?(certificateDER der: [UInt8]) {
        /// (tag, content start, content end) of the TLV at `i`, which must lie within `end`.
        func tlv(_ i: Int, _ end: Int) -> (tag: UInt32, start: Int, end: Int)? {
            guard i < end, let h = try? BERTLV.parseHeader(der, at: i), i + h.totalLength <= end else { return nil }
            return (h.tag, i + h.headerLength, i + h.totalLength)
        }
        guard let cert = tlv(0, der.count), cert.tag == 0x30, let tbs = tlv(cert.start, cert.end), tbs.tag == 0x30
        else { return nil }
        var i = tbs.start
        guard let first = tlv(i, tbs.end) else { return nil }
        if first.tag == 0xA0 { i = first.end }  // [0] version
        // serial, signature, issuer, validity, subject
        for _ in 0..<5 {
            guard let e = tlv(i, tbs.end) else { return nil }
            i = e.end
        }
        guard let spki = tlv(i, tbs.end), spki.tag == 0x30, let alg = tlv(spki.start, spki.end), alg.tag == 0x30,
            let oid = tlv(alg.start, alg.end), oid.tag == 0x06,
            let bits = tlv(alg.end, spki.end), bits.tag == 0x03, bits.end > bits.start
        else { return nil }
        algorithmOID = Array(der[oid.start..<oid.end])
        if let p = tlv(oid.end, alg.end), p.tag == 0x06 {
            parameterOID = Array(der[p.start..<p.end])
        } else {
            parameterOID = nil
        }
        keyBits = bits.start..<bits.end
    }

    func scheme(digest: DigestAlgorithm?) throws(JPKIError) -> CardSignatureScheme {
        if algorithmOID == Self.rsaEncryption { return .rsaPKCS1v15(digest ?? .sha256) }
        guard algorithmOID == Self.ecPublicKey else {
            throw .unsupportedKeyAlgorithm("key algorithm OID \(Self.dotted(algorithmOID))")
        }
        guard let p = parameterOID, let curve = ECCurve.allCases.first(where: { $0.oid == p }) else {
            throw .unsupportedCurve(parameterOID.map { "curve OID \(Self.dotted($0))" } ?? "curve not named")
        }
        return .ecdsa(curve, digest ?? curve.defaultDigest)
    }

    /// Dotted text of OID content bytes (for error messages; OIDs carry no personal data).
    static func dotted(_ b: [UInt8]) -> String {
        guard let f = b.first else { return "" }
        var parts = [String(Int(f) / 40), String(Int(f) % 40)]
        var v = 0
        for x in b.dropFirst() {
            v = v << 7 | Int(x & 0x7F)
            if x & 0x80 == 0 {
                parts.append(String(v))
                v = 0
            }
        }
        return parts.joined(separator: ".")
    }
}

/// ECDSA signature formats: the card's `r ‖ s` (fixed length) and DER `Ecdsa-Sig-Value`
/// (`SEQUENCE { INTEGER r, INTEGER s }`, what X.509, CMS and OpenSSL use). The one place where
/// the two are converted (the verifier turns the card's form into DER; the simulated card turns
/// OpenSSL's DER into the card's form).
public enum ECDSASignature {
    /// DER `Ecdsa-Sig-Value` of a card's `r ‖ s` (exactly 2 × the curve's coordinate length).
    public static func der(fromRaw raw: [UInt8], curve: ECCurve) throws(JPKIError) -> [UInt8] {
        let n = curve.coordinateLength
        guard raw.count == 2 * n else {
            throw .malformedData("ECDSA \(curve.rawValue) signature must be \(2 * n) bytes (r ‖ s), got \(raw.count)")
        }
        func integer(_ v: ArraySlice<UInt8>) -> [UInt8] {
            var b = Array(v.drop { $0 == 0 })
            if b.isEmpty { b = [0] }
            if b[0] & 0x80 != 0 { b.insert(0, at: 0) }
            return [0x02] + length(b.count) + b
        }
        let body = integer(raw[0..<n]) + integer(raw[n...])
        return [0x30] + length(body.count) + body
    }

    /// A card's `r ‖ s` from DER `Ecdsa-Sig-Value` (strict DER: minimal lengths and integers,
    /// positive, each at most the coordinate length, nothing after the sequence).
    public static func raw(fromDER der: [UInt8], curve: ECCurve) throws(JPKIError) -> [UInt8] {
        let n = curve.coordinateLength
        func header(_ i: Int, _ end: Int, tag: UInt8) throws(JPKIError) -> (start: Int, end: Int) {
            guard i + 2 <= end, der[i] == tag else { throw .malformedData("ECDSA DER: expected tag \(tag)") }
            var len = Int(der[i + 1])
            var start = i + 2
            if len == 0x81 {
                guard start < end, der[start] >= 0x80 else { throw .malformedData("ECDSA DER: bad length") }
                len = Int(der[start])
                start += 1
            } else if len > 0x80 {
                throw .malformedData("ECDSA DER: bad length")
            }
            guard start + len <= end else { throw .malformedData("ECDSA DER: truncated") }
            return (start, start + len)
        }
        let seq = try header(0, der.count, tag: 0x30)
        guard seq.end == der.count else { throw .malformedData("ECDSA DER: trailing bytes") }
        var out: [UInt8] = []
        var i = seq.start
        for _ in 0..<2 {
            let int = try header(i, seq.end, tag: 0x02)
            var v = Array(der[int.start..<int.end])
            guard !v.isEmpty, v[0] & 0x80 == 0 else { throw .malformedData("ECDSA DER: integer not positive") }
            if v.count > 1 && v[0] == 0 {
                guard v[1] & 0x80 != 0 else { throw .malformedData("ECDSA DER: integer not minimal") }
                v.removeFirst()
            }
            guard v.count <= n else { throw .malformedData("ECDSA DER: integer longer than the curve") }
            out += [UInt8](repeating: 0, count: n - v.count) + v
            i = int.end
        }
        guard i == seq.end else { throw .malformedData("ECDSA DER: trailing bytes in the sequence") }
        return out
    }

    private static func length(_ n: Int) -> [UInt8] { n < 0x80 ? [UInt8(n)] : [0x81, UInt8(n)] }
}
