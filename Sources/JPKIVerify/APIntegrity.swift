import COpenSSL
import Foundation
import JPKI

extension CVCertificate {
    /// Parses EF 0004 contents as read from a file (trailing filler after the 7F21 TLV is ignored)
    /// with JPKI's parser. Parsing proves nothing; see ``verify(issuerKeyPEM:)``.
    public init(file data: Data) throws(JPKIVerifyError) {
        do {
            let tlv = try BERTLV.parsePrefix([UInt8](data))
            try self.init(parsing: tlv.encoded)
        } catch let e as BERTLVError {
            throw .malformedCVCertificate("outer TLV: \(e.code)")
        } catch let e as JPKIError {
            throw .malformedCVCertificate(e.code)
        } catch {
            throw .malformedCVCertificate("\(error)")
        }
    }

    /// PKCS#1 v1.5 SHA-256 signature check of the body with the issuer key.
    func verify(issuerKey: PKeyBox) -> Bool {
        RSAVerify.verifyMessage(Data(body), signature: Data(signature), key: issuerKey, digest: .sha256)
    }

    /// Verifies the certificate signature with an issuer public key (PEM or DER SPKI).
    public func verify(issuerKeyPEM: Data) throws(JPKIVerifyError) -> Bool {
        verify(issuerKey: try PKeyBox.publicKey(pemOrDER: issuerKeyPEM))
    }

    /// The certified key.
    func publicKey() throws(JPKIVerifyError) -> PKeyBox {
        try PKeyBox.rsa(modulus: Data(modulus), exponent: Data(publicExponent))
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
    /// check is reported `notChecked` — never passed — and is not required. The files are parsed
    /// with JPKI's parsers (EF 0002 through its offset table only); a file that does not parse
    /// fails its check as `malformed_tlv`.
    public func verifyText(
        myNumberFile: Data?, basicFourFile: Data, integrityRecord: Data, cvCertificate: Data
    ) -> VerificationReport {
        verifyText(
            cv: Result { () throws(JPKIVerifyError) in try CVCertificate(file: cvCertificate) },
            record: Result { () throws(JPKIError) in try IntegrityRecord(parsing: [UInt8](integrityRecord)) },
            basicInfoContent: Result { () throws(JPKIError) in
                try BasicInfo.digestedContent(ofFile: [UInt8](basicFourFile))
            },
            myNumberFile: myNumberFile.map { [UInt8]($0) })
    }

    /// Verifies text-AP data as read by ``JPKI/MyNumberCard/readTextAP(pin:includeMyNumber:allowLastTry:)``:
    /// JPKI's typed models, nothing parsed again. Same checks as
    /// ``verifyText(myNumberFile:basicFourFile:integrityRecord:cvCertificate:)``.
    public func verifyText(_ data: TextAPData) -> VerificationReport {
        verifyText(
            cv: .success(data.cvCertificate), record: .success(data.integrity),
            basicInfoContent: .success(data.basicInfo.digestedContent), myNumberFile: data.myNumber?.rawFile)
    }

    private func verifyText(
        cv: Result<CVCertificate, JPKIVerifyError>, record: Result<IntegrityRecord, JPKIError>,
        basicInfoContent: Result<[UInt8], JPKIError>, myNumberFile: [UInt8]?
    ) -> VerificationReport {
        var expected = ["textCVCertificate", "textIntegrity", "textBasicFourDigest"]
        if myNumberFile != nil { expected.append("textMyNumberDigest") }
        var checks: [VerificationCheck] = []
        func add(_ id: String, _ outcome: CheckOutcome, required: Bool = true) {
            checks.append(VerificationCheck(id: id, outcome: outcome, required: required))
        }
        let apKey = cvKey(id: "textCVCertificate", cv, issuer: textIssuer, checks: &checks)

        // Integrity record: DF33 over DF31‖DF32 with the certified key.
        switch (record, apKey) {
        case (.failure, _):
            add(
                "textIntegrity",
                .failed(code: "malformed_tlv", message: "EF 0003 is not FF30 { DF31 DF32 DF33 } with 32-byte digests"))
        case (.success(let r), let key?):
            if RSAVerify.verifyMessage(Data(r.signedData), signature: Data(r.signature), key: key, digest: .sha256) {
                add("textIntegrity", .passed)
            } else {
                add("textIntegrity", .failed(code: "bad_signature", message: "DF33 does not verify over DF31‖DF32"))
            }
        case (.success, nil):
            add("textIntegrity", .notChecked(reason: "CV certificate not verified"))
        }

        // DF32 = SHA-256(EF 0002 value from DF22 to the end).
        switch (record, basicInfoContent) {
        case (.failure, _):
            add("textBasicFourDigest", .notChecked(reason: "no DF32 in EF 0003"))
        case (.success, .failure):
            add("textBasicFourDigest", .failed(code: "malformed_tlv", message: "EF 0002 is not FF20 { DF21 DF22 … }"))
        case (.success(let r), .success(let content)):
            if SHA256.hash(content) == r.basicInfoDigest {
                add("textBasicFourDigest", .passed)
            } else {
                add("textBasicFourDigest", .failed(code: "digest_mismatch", message: "EF 0002 does not match DF32"))
            }
        }

        // DF31 = SHA-256(EF 0001 whole).
        switch (myNumberFile, record) {
        case (nil, _):
            add("textMyNumberDigest", .notChecked(reason: "EF 0001 not read"), required: false)
        case (_, .failure):
            add("textMyNumberDigest", .notChecked(reason: "no DF31 in EF 0003"))
        case (let file?, .success(let r)):
            if SHA256.hash(file) == r.myNumberDigest {
                add("textMyNumberDigest", .passed)
            } else {
                add("textMyNumberDigest", .failed(code: "digest_mismatch", message: "EF 0001 does not match DF31"))
            }
        }
        return VerificationReport(checks: checks, expectedChecks: expected, evaluatedAt: Date())
    }

    /// Visual AP: verifies EF 0004 (CV cert) with the visual issuer key, then DF28 over
    /// DigestInfo(sha256) whose OCTET STRING is H(DF22‖DF23‖DF24) ‖ H(DF25‖DF26) ‖ H(DF27)
    /// (raw TLVs hashed; JPKI's ``JPKI/CardFace/signedPart(ofFile:)``). DF29/DF2A are not covered
    /// by the card's signature.
    public func verifyVisual(cardFaceFile: Data, cvCertificate: Data) -> VerificationReport {
        verifyVisual(
            cv: Result { () throws(JPKIVerifyError) in try CVCertificate(file: cvCertificate) },
            signed: Result { () throws(JPKIError) in try CardFace.signedPart(ofFile: [UInt8](cardFaceFile)) })
    }

    /// Verifies a card face as read by ``JPKI/MyNumberCard/readCardFace(key:kind:allowLastTry:)``:
    /// JPKI's typed models, nothing parsed again.
    public func verifyVisual(_ data: CardFaceData) -> VerificationReport {
        verifyVisual(
            cv: .success(data.cvCertificate), signed: .success((data.face.signedDigests, data.face.signature)))
    }

    private func verifyVisual(
        cv: Result<CVCertificate, JPKIVerifyError>, signed: Result<(digests: [UInt8], signature: [UInt8]), JPKIError>
    ) -> VerificationReport {
        var checks: [VerificationCheck] = []
        let apKey = cvKey(id: "visualCVCertificate", cv, issuer: visualIssuer, checks: &checks)
        let outcome: CheckOutcome
        switch (signed, apKey) {
        case (.failure, _):
            outcome = .failed(code: "malformed_tlv", message: "EF 0002 is not FF20 { DF21 … DF28 }")
        case (.success(let part), let key?):
            let verified =
                (try? DigestInfo.encode(.sha256, octets: part.digests)).map {
                    RSAVerify.verifyRawPKCS1(Data($0), signature: Data(part.signature), key: key)
                } ?? false
            outcome =
                verified
                ? .passed : .failed(code: "bad_signature", message: "DF28 does not verify over the card-face hashes")
        case (.success, nil):
            outcome = .notChecked(reason: "CV certificate not verified")
        }
        checks.append(VerificationCheck(id: "visualIntegrity", outcome: outcome))
        return VerificationReport(
            checks: checks, expectedChecks: ["visualCVCertificate", "visualIntegrity"],
            evaluatedAt: Date())
    }

    private func cvKey(
        id: String, _ parsed: Result<CVCertificate, JPKIVerifyError>, issuer: PKeyBox?,
        checks: inout [VerificationCheck]
    ) -> PKeyBox? {
        guard let issuer else {
            checks.append(
                VerificationCheck(
                    id: id, outcome: .failed(code: "no_issuer_key", message: "no CV issuer key configured")))
            return nil
        }
        do {
            let cv = try parsed.get()
            guard cv.verify(issuerKey: issuer) else {
                checks.append(
                    VerificationCheck(
                        id: id,
                        outcome: .failed(code: "bad_signature", message: "CV certificate signature does not verify")))
                return nil
            }
            let key = try cv.publicKey()
            checks.append(VerificationCheck(id: id, outcome: .passed))
            return key
        } catch {
            checks.append(VerificationCheck(id: id, outcome: .failed(code: error.code, message: error.message)))
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
