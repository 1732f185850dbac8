import COpenSSL
import Foundation
import JPKI

/// A card-verifiable (CV) certificate from EF 0004 of the text or visual AP:
/// `7F21 { 5F4E body; 5F37 signature }`, body = issuer key ID (16) ‖ subject key ID (16) ‖
/// `90` exponent ‖ `91` modulus. Parsing proves nothing; see ``verify(issuerKeyPEM:)``.
public struct CardVerifiableCertificate: Sendable, Equatable {
    /// The signed body (5F4E value).
    public let body: Data
    /// The issuer's signature (5F37 value).
    public let signature: Data
    /// 16-byte issuer key identifier.
    public let issuerKeyID: Data
    /// 16-byte subject key identifier.
    public let subjectKeyID: Data
    /// Certified RSA public exponent (tag 90).
    public let exponent: Data
    /// Certified RSA modulus (tag 91).
    public let modulus: Data

    /// Parses EF 0004 contents (trailing filler after the 7F21 TLV is ignored).
    public init(_ data: Data) throws(JPKIVerifyError) {
        let outer: BERTLV
        do { outer = try BERTLV.parsePrefix([UInt8](data)) } catch {
            throw .malformedCVCertificate("outer TLV: \(error.code)")
        }
        guard outer.tag == 0x7F21 else { throw .malformedCVCertificate("outer tag is not 7F21") }
        let kids: [BERTLV]
        do { kids = try outer.children() } catch {
            throw .malformedCVCertificate("children: \(error.code)")
        }
        guard let b = kids.first(where: { $0.tag == 0x5F4E }),
            let s = kids.first(where: { $0.tag == 0x5F37 })
        else {
            throw .malformedCVCertificate("missing 5F4E or 5F37")
        }
        guard b.value.count > 32 else { throw .malformedCVCertificate("body too short") }
        let fields: [BERTLV]
        do { fields = try BERTLV.parseSequence(Array(b.value[32...]), allowEmpty: false) } catch {
            throw .malformedCVCertificate("key fields: \(error.code)")
        }
        guard let e = fields.first(where: { $0.tag == 0x90 }),
            let n = fields.first(where: { $0.tag == 0x91 }),
            !e.value.isEmpty, n.value.count >= 128
        else { throw .malformedCVCertificate("missing or short 90/91") }
        guard !s.value.isEmpty else { throw .malformedCVCertificate("empty signature") }
        body = Data(b.value)
        signature = Data(s.value)
        issuerKeyID = Data(b.value[0..<16])
        subjectKeyID = Data(b.value[16..<32])
        exponent = Data(e.value)
        modulus = Data(n.value)
    }

    /// PKCS#1 v1.5 SHA-256 signature check of the body with the issuer key.
    func verify(issuerKey: PKeyBox) -> Bool {
        RSAVerify.verifyMessage(body, signature: signature, key: issuerKey, digest: .sha256)
    }

    /// Verifies the certificate signature with an issuer public key (PEM or DER SPKI).
    public func verify(issuerKeyPEM: Data) throws(JPKIVerifyError) -> Bool {
        verify(issuerKey: try PKeyBox.publicKey(pemOrDER: issuerKeyPEM))
    }

    /// The certified key.
    func publicKey() throws(JPKIVerifyError) -> PKeyBox {
        try PKeyBox.rsa(modulus: modulus, exponent: exponent)
    }
}

/// Checks the integrity records of the text AP (券面事項入力補助AP) and the visual AP
/// (券面事項確認AP) through their CV certificates, whose issuer keys come from configuration.
public final class APIntegrityVerifier: @unchecked Sendable {
    private let textIssuer: PKeyBox?
    private let visualIssuer: PKeyBox?

    /// Loads issuer public keys (PEM `PUBLIC KEY` or DER SPKI files). Either may be nil, in which
    /// case the corresponding verification fails with `no_issuer_key`.
    public init(textIssuerKey: URL?, visualIssuerKey: URL?) throws(JPKIVerifyError) {
        textIssuer = try textIssuerKey.map { (u) throws(JPKIVerifyError) in
            try PKeyBox.publicKey(pemOrDER: readFile(u))
        }
        visualIssuer = try visualIssuerKey.map { (u) throws(JPKIVerifyError) in
            try PKeyBox.publicKey(pemOrDER: readFile(u))
        }
    }

    /// Text AP: verifies EF 0004 (CV cert) with the text issuer key, DF33 over DF31‖DF32 with the
    /// certified key, DF32 = SHA-256(EF 0002 value from DF22 to the end), and DF31 =
    /// SHA-256(EF 0001, all 17 bytes). When `myNumberFile` is nil (EF 0001 not read) the DF31
    /// check is reported `notChecked` — never passed — and is not required.
    public func verifyText(
        myNumberFile: Data?, basicFourFile: Data, integrityRecord: Data, cvCertificate: Data
    ) -> VerificationReport {
        var expected = ["textCVCertificate", "textIntegrity", "textBasicFourDigest"]
        if myNumberFile != nil { expected.append("textMyNumberDigest") }
        var checks: [VerificationCheck] = []
        let apKey = cvKey(
            id: "textCVCertificate", cvCertificate, issuer: textIssuer, checks: &checks)

        // Integrity record.
        var df31: BERTLV? = nil
        var df32: BERTLV? = nil
        var df33: BERTLV? = nil
        do {
            let rec = try BERTLV.parsePrefix([UInt8](integrityRecord))
            guard rec.tag == 0xFF30 else { throw BERTLVError.notConstructed(tag: rec.tag) }
            let kids = try rec.children()
            df31 = kids.first { $0.tag == 0xDF31 }
            df32 = kids.first { $0.tag == 0xDF32 }
            df33 = kids.first { $0.tag == 0xDF33 }
        } catch {
            checks.append(
                VerificationCheck(
                    id: "textIntegrity",
                    outcome: .failed(
                        code: "malformed_tlv", message: "EF 0003 is not FF30 { DF31 DF32 DF33 }")
                ))
        }
        if checks.contains(where: { $0.id == "textIntegrity" }) {
            // Already failed on structure.
        } else if let df31, let df32, let df33, df31.value.count == 32, df32.value.count == 32 {
            if let apKey {
                let signed = Data(df31.encoded + df32.encoded)
                if RSAVerify.verifyMessage(
                    signed, signature: Data(df33.value), key: apKey, digest: .sha256)
                {
                    checks.append(VerificationCheck(id: "textIntegrity", outcome: .passed))
                } else {
                    checks.append(
                        VerificationCheck(
                            id: "textIntegrity",
                            outcome: .failed(
                                code: "bad_signature",
                                message: "DF33 does not verify over DF31‖DF32")))
                }
            } else {
                checks.append(
                    VerificationCheck(
                        id: "textIntegrity",
                        outcome: .notChecked(reason: "CV certificate not verified")))
            }
        } else {
            checks.append(
                VerificationCheck(
                    id: "textIntegrity",
                    outcome: .failed(
                        code: "malformed_tlv", message: "DF31/DF32/DF33 missing or wrong length")
                ))
        }

        // DF32 = SHA-256(EF 0002 value from DF22 to the end).
        if let df32 {
            do {
                let file = try BERTLV.parsePrefix([UInt8](basicFourFile))
                guard file.tag == 0xFF20 else { throw BERTLVError.notConstructed(tag: file.tag) }
                let kids = try file.children()
                guard let i = kids.firstIndex(where: { $0.tag == 0xDF22 }) else {
                    throw BERTLVError.empty
                }
                let covered = kids[i...].flatMap(\.encoded)
                if DigestAlgorithm.sha256.hash(Data(covered)) == Data(df32.value) {
                    checks.append(VerificationCheck(id: "textBasicFourDigest", outcome: .passed))
                } else {
                    checks.append(
                        VerificationCheck(
                            id: "textBasicFourDigest",
                            outcome: .failed(
                                code: "digest_mismatch", message: "EF 0002 does not match DF32")))
                }
            } catch {
                checks.append(
                    VerificationCheck(
                        id: "textBasicFourDigest",
                        outcome: .failed(
                            code: "malformed_tlv", message: "EF 0002 is not FF20 { DF21 DF22 … }"))
                )
            }
        } else {
            checks.append(
                VerificationCheck(
                    id: "textBasicFourDigest", outcome: .notChecked(reason: "no DF32 in EF 0003")))
        }

        // DF31 = SHA-256(EF 0001 whole).
        if let myNumberFile {
            if let df31 {
                if DigestAlgorithm.sha256.hash(myNumberFile) == Data(df31.value) {
                    checks.append(VerificationCheck(id: "textMyNumberDigest", outcome: .passed))
                } else {
                    checks.append(
                        VerificationCheck(
                            id: "textMyNumberDigest",
                            outcome: .failed(
                                code: "digest_mismatch", message: "EF 0001 does not match DF31")))
                }
            } else {
                checks.append(
                    VerificationCheck(
                        id: "textMyNumberDigest", outcome: .notChecked(reason: "no DF31 in EF 0003")
                    ))
            }
        } else {
            checks.append(
                VerificationCheck(
                    id: "textMyNumberDigest", outcome: .notChecked(reason: "EF 0001 not read"),
                    required: false))
        }
        return VerificationReport(checks: checks, expectedChecks: expected, evaluatedAt: Date())
    }

    /// Visual AP: verifies EF 0004 (CV cert) with the visual issuer key, then DF28 over
    /// DigestInfo(sha256) whose OCTET STRING is H(DF22‖DF23‖DF24) ‖ H(DF25‖DF26) ‖ H(DF27)
    /// (raw TLVs hashed). DF29/DF2A are not covered by the card's signature.
    public func verifyVisual(cardFaceFile: Data, cvCertificate: Data) -> VerificationReport {
        var checks: [VerificationCheck] = []
        let apKey = cvKey(
            id: "visualCVCertificate", cvCertificate, issuer: visualIssuer, checks: &checks)
        do {
            let file = try BERTLV.parsePrefix([UInt8](cardFaceFile))
            guard file.tag == 0xFF20 else { throw BERTLVError.notConstructed(tag: file.tag) }
            let kids = try file.children()
            func tlv(_ t: UInt32) throws(BERTLVError) -> [UInt8] {
                guard let k = kids.first(where: { $0.tag == t }) else { throw .empty }
                return k.encoded
            }
            let h1 = DigestAlgorithm.sha256.hash(Data(try tlv(0xDF22) + tlv(0xDF23) + tlv(0xDF24)))
            let h2 = DigestAlgorithm.sha256.hash(Data(try tlv(0xDF25) + tlv(0xDF26)))
            let h3 = DigestAlgorithm.sha256.hash(Data(try tlv(0xDF27)))
            guard let sig = kids.first(where: { $0.tag == 0xDF28 }) else { throw BERTLVError.empty }
            if let apKey {
                // DigestInfo { sha256, OCTET STRING (96 bytes) }.
                let hashes = h1 + h2 + h3
                let algo: [UInt8] = [
                    0x30, 0x0D, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01,
                    0x05, 0x00,
                ]
                let octet: [UInt8] = [0x04, UInt8(hashes.count)] + hashes
                let inner = algo + octet
                let digestInfo = Data([0x30, UInt8(inner.count)] + inner)
                if RSAVerify.verifyRawPKCS1(digestInfo, signature: Data(sig.value), key: apKey) {
                    checks.append(VerificationCheck(id: "visualIntegrity", outcome: .passed))
                } else {
                    checks.append(
                        VerificationCheck(
                            id: "visualIntegrity",
                            outcome: .failed(
                                code: "bad_signature",
                                message: "DF28 does not verify over the card-face hashes")))
                }
            } else {
                checks.append(
                    VerificationCheck(
                        id: "visualIntegrity",
                        outcome: .notChecked(reason: "CV certificate not verified")))
            }
        } catch {
            checks.append(
                VerificationCheck(
                    id: "visualIntegrity",
                    outcome: .failed(
                        code: "malformed_tlv", message: "EF 0002 is not FF20 { DF21 … DF28 }")))
        }
        return VerificationReport(
            checks: checks, expectedChecks: ["visualCVCertificate", "visualIntegrity"],
            evaluatedAt: Date())
    }

    private func cvKey(
        id: String, _ data: Data, issuer: PKeyBox?, checks: inout [VerificationCheck]
    )
        -> PKeyBox?
    {
        guard let issuer else {
            checks.append(
                VerificationCheck(
                    id: id,
                    outcome: .failed(code: "no_issuer_key", message: "no CV issuer key configured"))
            )
            return nil
        }
        do {
            let cv = try CardVerifiableCertificate(data)
            guard cv.verify(issuerKey: issuer) else {
                checks.append(
                    VerificationCheck(
                        id: id,
                        outcome: .failed(
                            code: "bad_signature",
                            message: "CV certificate signature does not verify")))
                return nil
            }
            let key = try cv.publicKey()
            checks.append(VerificationCheck(id: id, outcome: .passed))
            return key
        } catch {
            checks.append(
                VerificationCheck(
                    id: id, outcome: .failed(code: error.code, message: error.message)))
            return nil
        }
    }
}

extension RSAVerify {
    /// Verifies a PKCS#1 v1.5 signature with EVP_PKEY_verify. Without `digestType` the
    /// recovered block must equal `block` exactly; with it, `block` is a digest of that type and
    /// the recovered block must be its DigestInfo.
    static func verifyRawPKCS1(
        _ block: Data, signature: Data, key: PKeyBox, digestType: OpaquePointer? = nil
    ) -> Bool {
        guard let ctx = EVP_PKEY_CTX_new(key.ptr, nil) else { return false }
        defer { EVP_PKEY_CTX_free(ctx) }
        guard EVP_PKEY_verify_init(ctx) == 1,
            EVP_PKEY_CTX_set_rsa_padding(ctx, copenssl_rsa_pkcs1_padding()) == 1,
            digestType.map({ EVP_PKEY_CTX_set_signature_md(ctx, $0) == 1 }) ?? true
        else {
            _ = drainOpenSSLErrors()
            return false
        }
        let rc = signature.withUnsafeBytes { s in
            block.withUnsafeBytes { d in
                EVP_PKEY_verify(
                    ctx, s.bindMemory(to: UInt8.self).baseAddress, s.count,
                    d.bindMemory(to: UInt8.self).baseAddress, d.count)
            }
        }
        _ = drainOpenSSLErrors()
        return rc == 1
    }
}

extension APIntegrityVerifier {
    /// Verifies text-AP data as read by ``JPKI/MyNumberCard/readTextAP(pin:includeMyNumber:allowLastTry:)``
    /// (the raw file bytes it kept). Same checks as
    /// ``verifyText(myNumberFile:basicFourFile:integrityRecord:cvCertificate:)``.
    public func verifyText(_ data: TextAPData) -> VerificationReport {
        verifyText(
            myNumberFile: data.myNumber.map { Data($0.rawFile) },
            basicFourFile: Data(data.basicInfo.raw),
            integrityRecord: Data(data.integrity.raw), cvCertificate: Data(data.cvCertificate.raw))
    }

    /// Verifies a card face as read by ``JPKI/MyNumberCard/readCardFace(key:kind:allowLastTry:)``.
    public func verifyVisual(_ data: CardFaceData) -> VerificationReport {
        verifyVisual(cardFaceFile: Data(data.face.raw), cvCertificate: Data(data.cvCertificate.raw))
    }
}
