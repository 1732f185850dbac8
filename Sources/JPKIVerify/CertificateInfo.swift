import COpenSSL
import Foundation

/// One attribute of a distinguished name, in certificate order (UTF-8 preserved).
public struct NameAttribute: Sendable, Codable, Equatable, Hashable {
    /// Dotted OID of the attribute type (e.g. `2.5.4.3`).
    public let oid: String
    /// Short name when OpenSSL knows one (e.g. `CN`, `OU`), else the OID.
    public let shortName: String
    /// The value as UTF-8 text.
    public let value: String
}

/// A distinguished name: RFC 2253 string (UTF-8 kept, not escaped) and the attribute list.
public struct DistinguishedName: Sendable, Codable, Equatable, Hashable {
    /// RFC 2253 form, most significant RDN last reversed as RFC 2253 requires (e.g. `CN=x,O=y,C=JP`).
    public let rfc2253: String
    /// Attributes in certificate (encoding) order, i.e. `C` first for JPKI names.
    public let attributes: [NameAttribute]
    /// DER encoding of the name.
    public let der: Data

    /// Values of every attribute with this short name (e.g. `"OU"`), in order.
    public func values(_ shortName: String) -> [String] {
        attributes.filter { $0.shortName == shortName }.map(\.value)
    }
}

/// X.509 keyUsage bits (RFC 5280 §4.2.1.3).
public struct KeyUsage: OptionSet, Sendable, Codable, Hashable {
    /// Raw bit set (bit 0 = digitalSignature).
    public let rawValue: UInt16
    /// Creates a set from raw bits.
    public init(rawValue: UInt16) { self.rawValue = rawValue }
    /// digitalSignature (0).
    public static let digitalSignature = KeyUsage(rawValue: 1 << 0)
    /// nonRepudiation / contentCommitment (1).
    public static let nonRepudiation = KeyUsage(rawValue: 1 << 1)
    /// keyEncipherment (2).
    public static let keyEncipherment = KeyUsage(rawValue: 1 << 2)
    /// dataEncipherment (3).
    public static let dataEncipherment = KeyUsage(rawValue: 1 << 3)
    /// keyAgreement (4).
    public static let keyAgreement = KeyUsage(rawValue: 1 << 4)
    /// keyCertSign (5).
    public static let keyCertSign = KeyUsage(rawValue: 1 << 5)
    /// cRLSign (6).
    public static let cRLSign = KeyUsage(rawValue: 1 << 6)
    /// encipherOnly (7).
    public static let encipherOnly = KeyUsage(rawValue: 1 << 7)
    /// decipherOnly (8).
    public static let decipherOnly = KeyUsage(rawValue: 1 << 8)

    /// Converts OpenSSL's `KU_*` flag word.
    init(openSSLFlags f: UInt32) {
        var k: KeyUsage = []
        let map: [(UInt32, KeyUsage)] = [
            (0x0080, .digitalSignature), (0x0040, .nonRepudiation), (0x0020, .keyEncipherment),
            (0x0010, .dataEncipherment), (0x0008, .keyAgreement), (0x0004, .keyCertSign),
            (0x0002, .cRLSign), (0x0001, .encipherOnly), (0x8000, .decipherOnly),
        ]
        for (bit, ku) in map where f & bit != 0 { k.insert(ku) }
        self = k
    }
}

/// basicConstraints extension.
public struct BasicConstraints: Sendable, Codable, Equatable, Hashable {
    /// cA flag.
    public let isCA: Bool
    /// pathLenConstraint, when present.
    public let pathLength: Int?
    /// Whether the extension is marked critical.
    public let critical: Bool
}

/// An RSA public key.
public struct RSAPublicKeyInfo: Sendable, Codable, Equatable, Hashable {
    /// Big-endian modulus without leading zero bytes.
    public let modulus: Data
    /// Big-endian public exponent.
    public let exponent: Data
    /// Key size in bits.
    public var bits: Int {
        guard let first = modulus.first else { return 0 }
        return modulus.count * 8 - first.leadingZeroBitCount
    }
}

/// Parsed view of an X.509 certificate. Parsing proves nothing about authenticity: use
/// ``CertificateVerifier`` before trusting any of these values.
public struct CertificateInfo: Sendable, Codable, Equatable {
    /// The DER encoding this value was parsed from.
    public let der: Data
    /// Subject name.
    public let subject: DistinguishedName
    /// Issuer name.
    public let issuer: DistinguishedName
    /// Serial number, upper-case hex without separators (e.g. `"0A1B"`).
    public let serialNumberHex: String
    /// notBefore.
    public let notBefore: Date
    /// notAfter.
    public let notAfter: Date
    /// keyUsage bits; nil when the extension is absent.
    public let keyUsage: KeyUsage?
    /// extendedKeyUsage OIDs (dotted); empty when absent.
    public let extendedKeyUsage: [String]
    /// basicConstraints; nil when absent.
    public let basicConstraints: BasicConstraints?
    /// certificatePolicies policy OIDs (dotted), in order.
    public let policyOIDs: [String]
    /// CRL distribution points: URIs as-is, directory names as `dirName:<RFC 2253>`.
    public let crlDistributionPoints: [String]
    /// OCSP responder URLs from authorityInfoAccess.
    public let ocspURLs: [String]
    /// SHA-256 over the DER encoding.
    public let sha256Fingerprint: Data
    /// RSA public key; nil for non-RSA keys.
    public let publicKey: RSAPublicKeyInfo?
    /// JPKI sign-certificate identity (subjectAltName otherNames), nil when none are present.
    public let signIdentity: SignCertificateIdentity?
    /// authorityKeyIdentifier keyIdentifier (the issuer's key), nil when absent.
    public let authorityKeyIdentifier: Data?
    /// subjectKeyIdentifier (this certificate's key), nil when absent.
    public let subjectKeyIdentifier: Data?
    /// SHA-1 over the subjectPublicKey BIT STRING contents (RFC 5280 §4.2.1.2 method 1): the
    /// key identifier computed from the key itself, whatever the certificate says.
    public let publicKeySHA1: Data
    /// Whether subject == issuer (self-issued).
    public var isSelfIssued: Bool { subject.der == issuer.der }

    /// Parses one DER certificate (trailing bytes and malformed extensions are rejected).
    public init(der: Data) throws(JPKIVerifyError) {
        let box = try X509Box.parse(der: der)
        try self.init(box: box, der: der)
    }

    /// Every certificate of PEM/DER files or directories (as trust anchors are configured).
    public static func load(files: [URL]) throws(JPKIVerifyError) -> [CertificateInfo] {
        var out: [CertificateInfo] = []
        for box in try CertificateLoader.certificates(at: files) {
            out.append(try CertificateInfo(box: box, der: box.der))
        }
        return out
    }

    /// Parses the first certificate of a PEM text.
    public init(pem: String) throws(JPKIVerifyError) {
        let list = try CertificateLoader.certificates(fromPEMOrDER: Data(pem.utf8))
        guard let first = list.first else { throw .malformedCertificate("no certificate in PEM") }
        try self.init(box: first, der: first.der)
    }

    init(box: X509Box, der: Data) throws(JPKIVerifyError) {
        let x = box.ptr
        self.der = der
        guard let subj = X509_get_subject_name(x), let iss = X509_get_issuer_name(x) else {
            throw .malformedCertificate("missing names")
        }
        subject = try Self.name(subj)
        issuer = try Self.name(iss)
        guard let serial = X509_get0_serialNumber(x), let bn = ASN1_INTEGER_to_BN(serial, nil)
        else {
            throw .malformedCertificate("bad serial number")
        }
        defer { BN_free(bn) }
        let hex = bignumBytes(bn).map { String(format: "%02X", $0) }.joined()
        serialNumberHex = hex.isEmpty ? "00" : hex
        guard let nb = dateFrom(asn1Time: X509_get0_notBefore(x)),
            let na = dateFrom(asn1Time: X509_get0_notAfter(x))
        else {
            throw .malformedCertificate("bad validity dates")
        }
        notBefore = nb
        notAfter = na

        let flags = X509_get_extension_flags(x)
        keyUsage =
            flags & UInt32(EXFLAG_KUSAGE) != 0 ? KeyUsage(openSSLFlags: X509_get_key_usage(x)) : nil

        var ekus: [String] = []
        if let eku = X509_get_ext_d2i(x, NID_ext_key_usage, nil, nil) {
            defer { EXTENDED_KEY_USAGE_free(OpaquePointer(eku)) }
            for i in 0..<copenssl_sk_num(eku) {
                ekus.append(oidString(OpaquePointer(copenssl_sk_value(eku, i))))
            }
        }
        extendedKeyUsage = ekus

        var critical: Int32 = 0
        if let bcRaw = X509_get_ext_d2i(x, NID_basic_constraints, &critical, nil) {
            let bc = bcRaw.assumingMemoryBound(to: BASIC_CONSTRAINTS.self)
            defer { BASIC_CONSTRAINTS_free(bc) }
            var pathLen: Int? = nil
            if let pl = bc.pointee.pathlen { pathLen = Int(ASN1_INTEGER_get(pl)) }
            basicConstraints = BasicConstraints(
                isCA: bc.pointee.ca != 0, pathLength: pathLen, critical: critical == 1)
        } else {
            basicConstraints = nil
        }

        var policies: [String] = []
        if let cp = X509_get_ext_d2i(x, NID_certificate_policies, nil, nil) {
            defer { CERTIFICATEPOLICIES_free(OpaquePointer(cp)) }
            for i in 0..<copenssl_sk_num(cp) {
                guard let pi = copenssl_sk_value(cp, i)?.assumingMemoryBound(to: POLICYINFO.self)
                else {
                    continue
                }
                policies.append(oidString(pi.pointee.policyid))
            }
        }
        policyOIDs = policies

        var dps: [String] = []
        if let cdp = X509_get_ext_d2i(x, NID_crl_distribution_points, nil, nil) {
            defer { CRL_DIST_POINTS_free(OpaquePointer(cdp)) }
            for i in 0..<copenssl_sk_num(cdp) {
                guard let dp = copenssl_sk_value(cdp, i)?.assumingMemoryBound(to: DIST_POINT.self),
                    let dpn = dp.pointee.distpoint, dpn.pointee.type == 0,
                    let names = dpn.pointee.name.fullname
                else { continue }
                for j in 0..<copenssl_sk_num(UnsafeRawPointer(names)) {
                    guard
                        let gn = copenssl_sk_value(UnsafeRawPointer(names), j)?.assumingMemoryBound(
                            to: GENERAL_NAME.self)
                    else { continue }
                    if gn.pointee.type == copenssl_gen_uri(),
                        let s = utf8String(gn.pointee.d.uniformResourceIdentifier)
                    {
                        dps.append(s)
                    } else if gn.pointee.type == copenssl_gen_dirname(),
                        let dn = gn.pointee.d.directoryName,
                        let n = try? Self.name(dn)
                    {
                        dps.append("dirName:" + n.rfc2253)
                    }
                }
            }
        }
        crlDistributionPoints = dps

        var ocsp: [String] = []
        if let list = X509_get1_ocsp(x) {
            defer { copenssl_x509_email_free(list) }
            for i in 0..<copenssl_sk_num(UnsafeRawPointer(list)) {
                if let p = copenssl_sk_value(UnsafeRawPointer(list), i) {
                    ocsp.append(String(cString: p.assumingMemoryBound(to: CChar.self)))
                }
            }
        }
        ocspURLs = ocsp

        var md = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var mdLen: UInt32 = 0
        guard X509_digest(x, EVP_sha256(), &md, &mdLen) == 1 else {
            throw .openSSL(function: "X509_digest", detail: drainOpenSSLErrors())
        }
        sha256Fingerprint = Data(md.prefix(Int(mdLen)))

        if let pk = X509_get0_pubkey(x) {
            EVP_PKEY_up_ref(pk)
            let keyBox = PKeyBox(owning: pk)
            publicKey = keyBox.rsaComponents.map {
                RSAPublicKeyInfo(modulus: $0.modulus, exponent: $0.exponent)
            }
        } else {
            _ = drainOpenSSLErrors()
            throw .malformedCertificate("public key does not decode")
        }

        signIdentity = try SignCertificateIdentity.extract(from: x)

        func octets(_ o: UnsafePointer<ASN1_OCTET_STRING>?) -> Data? {
            guard let o, let p = ASN1_STRING_get0_data(o) else { return nil }
            return Data(bytes: p, count: Int(ASN1_STRING_length(o)))
        }
        authorityKeyIdentifier = octets(X509_get0_authority_key_id(x))
        subjectKeyIdentifier = octets(X509_get0_subject_key_id(x))
        var kd = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var kdLen: UInt32 = 0
        guard X509_pubkey_digest(x, EVP_sha1(), &kd, &kdLen) == 1 else {
            throw .openSSL(function: "X509_pubkey_digest", detail: drainOpenSSLErrors())
        }
        publicKeySHA1 = Data(kd.prefix(Int(kdLen)))
    }

    static func name(_ n: OpaquePointer) throws(JPKIVerifyError) -> DistinguishedName {
        guard let bio = BIO_new(BIO_s_mem()) else {
            throw .openSSL(function: "BIO_new", detail: drainOpenSSLErrors())
        }
        defer { BIO_free(bio) }
        guard X509_NAME_print_ex(bio, n, 0, copenssl_xn_flag_rfc2253_utf8()) >= 0 else {
            throw .malformedCertificate("name does not print")
        }
        var p: UnsafeMutablePointer<CChar>? = nil
        let len = copenssl_bio_get_mem_data(bio, &p)
        var text = ""
        if len > 0, let p {
            text = String(decoding: UnsafeRawBufferPointer(start: p, count: len), as: UTF8.self)
        }
        var attrs: [NameAttribute] = []
        for i in 0..<X509_NAME_entry_count(n) {
            guard let e = X509_NAME_get_entry(n, i), let obj = X509_NAME_ENTRY_get_object(e) else {
                continue
            }
            let oid = oidString(obj)
            let nid = OBJ_obj2nid(obj)
            let sn = nid != NID_undef ? OBJ_nid2sn(nid).map { String(cString: $0) } ?? oid : oid
            guard let value = utf8String(X509_NAME_ENTRY_get_data(e)) else {
                throw .malformedCertificate("name attribute is not a decodable string")
            }
            attrs.append(NameAttribute(oid: oid, shortName: sn, value: value))
        }
        var derOut: UnsafeMutablePointer<UInt8>? = nil
        let dl = i2d_X509_NAME(n, &derOut)
        var der = Data()
        if dl > 0, let derOut {
            der = Data(bytes: derOut, count: Int(dl))
            copenssl_openssl_free(derOut)
        }
        return DistinguishedName(rfc2253: text, attributes: attrs, der: der)
    }
}

/// Loads certificates from PEM (one or many) or DER data/files.
enum CertificateLoader {
    static func certificates(fromPEMOrDER data: Data) throws(JPKIVerifyError) -> [X509Box] {
        let trimmed = data.drop { $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }
        if trimmed.first == 0x30 { return [try X509Box.parse(der: Data(trimmed))] }
        var out: [X509Box] = []
        let ok: Bool = data.withUnsafeBytes { raw in
            guard let bio = BIO_new_mem_buf(raw.baseAddress, Int32(raw.count)) else { return false }
            defer { BIO_free(bio) }
            while let x = PEM_read_bio_X509(bio, nil, nil, nil) {
                out.append(X509Box(owning: x))
            }
            return true
        }
        _ = drainOpenSSLErrors()  // the final "no start line" is expected
        guard ok, !out.isEmpty else { throw .malformedCertificate("no PEM certificate found") }
        // The same extension check as the DER path (found by fuzz/run certificate: a PEM
        // certificate with an undecodable extension was accepted where its DER was refused).
        for box in out where X509_get_extension_flags(box.ptr) & UInt32(EXFLAG_INVALID) != 0 {
            _ = drainOpenSSLErrors()
            throw .malformedCertificate("invalid or duplicate extensions")
        }
        return out
    }

    /// Certificates from files and directories (`*.pem`, `*.crt`, `*.cer`, `*.der` inside directories).
    static func certificates(at urls: [URL]) throws(JPKIVerifyError) -> [X509Box] {
        var out: [X509Box] = []
        for url in expand(urls) {
            out += try certificates(fromPEMOrDER: readFile(url))
        }
        return out
    }

    static func expand(_ urls: [URL], extensions: Set<String> = ["pem", "crt", "cer", "der"])
        -> [URL]
    {
        var files: [URL] = []
        for url in urls {
            var isDir: ObjCBool = false
            if FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir),
                isDir.boolValue
            {
                let names = (try? FileManager.default.contentsOfDirectory(atPath: url.path)) ?? []
                for n in names.sorted()
                where extensions.contains((n as NSString).pathExtension.lowercased()) {
                    files.append(url.appendingPathComponent(n))
                }
            } else {
                files.append(url)
            }
        }
        return files
    }
}
