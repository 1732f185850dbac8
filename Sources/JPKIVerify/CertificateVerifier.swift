import COpenSSL
import Foundation

/// Owns an `X509_CRL*`.
final class CRLBox: @unchecked Sendable {
    let ptr: OpaquePointer
    init(owning ptr: OpaquePointer) { self.ptr = ptr }
    deinit { X509_CRL_free(ptr) }

    static func load(_ data: Data) throws(JPKIVerifyError) -> [CRLBox] {
        var out: [CRLBox] = []
        data.withUnsafeBytes { raw in
            guard let bio = BIO_new_mem_buf(raw.baseAddress, Int32(raw.count)) else { return }
            defer { BIO_free(bio) }
            if data.first == 0x30 {
                if let c = d2i_X509_CRL_bio(bio, nil) { out.append(CRLBox(owning: c)) }
            } else {
                while let c = PEM_read_bio_X509_CRL(bio, nil, nil, nil) {
                    out.append(CRLBox(owning: c))
                }
            }
        }
        _ = drainOpenSSLErrors()
        guard !out.isEmpty else { throw .malformedCRL("no CRL decodes") }
        return out
    }
}

/// Errors collected by the verify callback.
final class VerifyErrorCollector {
    var errors: [(code: Int32, depth: Int32)] = []
}

private let collectingVerifyCallback: @convention(c) (Int32, OpaquePointer?) -> Int32 = { ok, ctx in
    guard ok == 0, let ctx else { return ok }
    if let raw = copenssl_x509_store_ctx_get_app_data(ctx) {
        let collector = Unmanaged<VerifyErrorCollector>.fromOpaque(raw).takeUnretainedValue()
        collector.errors.append(
            (X509_STORE_CTX_get_error(ctx), X509_STORE_CTX_get_error_depth(ctx)))
    }
    // Continue so that every problem is recorded; the checks derived from the errors decide.
    return 1
}

/// Verifies JPKI end-entity certificates: chain to configured anchors (OpenSSL, X.509 strict),
/// validity at a given time, keyUsage, basicConstraints, certificate policy and revocation.
///
/// Every method returns a ``VerificationReport`` whose verdict is computed from the checks.
/// Configuration problems (unreadable anchors or CRLs) are reported by the initializer.
public final class CertificateVerifier: @unchecked Sendable {
    /// The trust configuration in use.
    public let trust: TrustConfiguration
    /// The revocation configuration in use.
    public let revocation: RevocationConfiguration
    private let anchors: [CertificatePurpose: [X509Box]]
    private let crls: [CRLBox]
    private let trustedResponders: [X509Box]
    /// Sends OCSP requests (nil when no responder is configured).
    private let requester: (any HTTPRequester)?
    let ocspCache = OCSPCache()

    /// Loads anchors, CRLs and trusted responder certificates. Throws when a file is unreadable or
    /// malformed, when a purpose has no anchor, or when OCSP is configured without a `requester`
    /// (`invalid_argument`: the check would otherwise never run).
    /// - Parameter requester: sends the OCSP requests (`HTTPTransport.AsyncHTTPRequester` in
    ///   production, a fake in tests); needed only when `revocation.ocsp` is set.
    public init(
        trust: TrustConfiguration, revocation: RevocationConfiguration, requester: (any HTTPRequester)? = nil
    ) throws(JPKIVerifyError) {
        if revocation.ocsp != nil, requester == nil {
            throw .invalidArgument("OCSP is configured but no HTTP requester was given")
        }
        self.trust = trust
        self.revocation = revocation
        self.requester = requester
        var a: [CertificatePurpose: [X509Box]] = [:]
        for p in CertificatePurpose.allCases {
            let urls = trust.anchors(for: p)
            if urls.isEmpty { continue }
            let certs = try CertificateLoader.certificates(at: urls)
            if certs.isEmpty { throw .noTrustAnchors(purpose: p.rawValue) }
            a[p] = certs
        }
        guard !a.isEmpty else { throw .noTrustAnchors(purpose: "any") }
        anchors = a
        var c: [CRLBox] = []
        for url in revocation.crlFiles { c += try CRLBox.load(readFile(url)) }
        crls = c
        trustedResponders = try CertificateLoader.certificates(
            at: revocation.ocsp?.trustedResponderCertificates ?? [])
    }

    /// Check ids every certificate report must contain (each passed) for this configuration.
    public var expectedCertificateChecks: [String] {
        var ids = ["parse", "chain", "validity", "keyUsage", "basicConstraints", "policy"]
        if revocation.policy == .hardFail {
            if !revocation.crlFiles.isEmpty { ids.append("crl") }
            if revocation.ocsp != nil { ids.append("ocsp") }
            if revocation.crlFiles.isEmpty && revocation.ocsp == nil { ids.append("revocation") }
        }
        return ids
    }

    /// Verifies an end-entity certificate read from a card.
    /// - Parameters:
    ///   - certificateDER: the EE certificate (EF 000A for auth, EF 0001 for sign).
    ///   - untrustedIntermediates: certificates from the card (EF 000B / EF 0002) — used only as
    ///     path-building hints, never as anchors.
    ///   - purpose: which profile to enforce.
    ///   - time: the time to check validity at (X509_VERIFY_PARAM_set_time).
    ///
    /// Async because an OCSP check asks the configured responder (through the injected
    /// ``HTTPRequester``, never blocking the calling thread); everything else is local.
    public func verify(
        certificateDER: Data, untrustedIntermediates: [Data] = [], purpose: CertificatePurpose,
        at time: Date = Date()
    ) async -> VerificationReport {
        var checks: [VerificationCheck] = []
        let expected = expectedCertificateChecks
        func finish() -> VerificationReport {
            // Add explicit notChecked entries for every expected check that did not run.
            for id in expected where !checks.contains(where: { $0.id == id }) {
                checks.append(
                    VerificationCheck(
                        id: id, outcome: .notChecked(reason: "not run: an earlier check failed")))
            }
            return VerificationReport(checks: checks, expectedChecks: expected, evaluatedAt: time)
        }

        let box: X509Box
        let info: CertificateInfo
        do {
            box = try X509Box.parse(der: certificateDER)
            info = try CertificateInfo(box: box, der: certificateDER)
            checks.append(VerificationCheck(id: "parse", outcome: .passed))
        } catch {
            checks.append(
                VerificationCheck(
                    id: "parse", outcome: .failed(code: error.code, message: error.message)))
            return finish()
        }
        var hints: [X509Box] = []
        for d in untrustedIntermediates {
            // A malformed hint is ignored (it is untrusted input anyway) but noted.
            if let h = try? X509Box.parse(der: d) {
                hints.append(h)
            } else {
                checks.append(
                    VerificationCheck(
                        id: "intermediateHint",
                        outcome: .warning(
                            code: "malformed_certificate",
                            message: "card CA certificate does not parse; ignored"),
                        required: false))
            }
        }

        let chainResult = runChainVerification(cert: box, hints: hints, purpose: purpose, at: time)
        checks.append(chainResult.chainCheck)
        checks.append(
            validityCheck(
                info: info, chain: chainResult.chainInfos,
                openSSLTimeErrors: chainResult.timeErrors,
                at: time))
        checks.append(keyUsageCheck(info: info, purpose: purpose))
        checks.append(basicConstraintsCheck(info: info))
        checks.append(policyCheck(info: info, purpose: purpose))

        // Revocation.
        let chainOK = chainResult.chainCheck.outcome.isPassed
        if !crls.isEmpty || !revocation.crlFiles.isEmpty {
            let status: RevocationStatus
            if !chainOK {
                checks.append(
                    VerificationCheck(
                        id: "crl", outcome: .notChecked(reason: "chain not verified"),
                        required: revocation.policy == .hardFail))
            } else {
                status = crlStatus(
                    cert: box, issuer: chainResult.issuer, errors: chainResult.crlErrors)
                checks.append(revocationCheck(id: "crl", status: status, detail: nil))
            }
        }
        if let ocspConfig = revocation.ocsp {
            if !chainOK || chainResult.issuer == nil {
                checks.append(
                    VerificationCheck(
                        id: "ocsp", outcome: .notChecked(reason: "chain not verified"),
                        required: revocation.policy == .hardFail))
            } else if let issuer = chainResult.issuer {
                let (status, detail) = await ocspStatus(
                    cert: box, issuer: issuer, purpose: purpose, config: ocspConfig)
                checks.append(revocationCheck(id: "ocsp", status: status, detail: detail))
            }
        }
        if revocation.crlFiles.isEmpty && revocation.ocsp == nil {
            checks.append(
                revocationCheck(
                    id: "revocation", status: .unavailable("no revocation source configured"),
                    detail: nil))
        }
        return finish()
    }

    /// Verifies and also returns the parsed certificate (nil when it does not parse).
    public func verifyAndParse(
        certificateDER: Data, untrustedIntermediates: [Data] = [], purpose: CertificatePurpose,
        at time: Date = Date()
    ) async -> (report: VerificationReport, certificate: CertificateInfo?) {
        let report = await verify(
            certificateDER: certificateDER, untrustedIntermediates: untrustedIntermediates,
            purpose: purpose, at: time)
        return (report, try? CertificateInfo(der: certificateDER))
    }

    // MARK: - Chain

    struct ChainResult {
        var chainCheck: VerificationCheck
        var chainInfos: [CertificateInfo]
        var timeErrors: [Int32]
        var crlErrors: [Int32]
        var issuer: X509Box?
    }

    static let timeErrorCodes: Set<Int32> = [
        X509_V_ERR_CERT_NOT_YET_VALID, X509_V_ERR_CERT_HAS_EXPIRED,
        X509_V_ERR_ERROR_IN_CERT_NOT_BEFORE_FIELD, X509_V_ERR_ERROR_IN_CERT_NOT_AFTER_FIELD,
    ]
    static let crlErrorCodes: Set<Int32> = [
        X509_V_ERR_UNABLE_TO_GET_CRL, X509_V_ERR_UNABLE_TO_DECRYPT_CRL_SIGNATURE,
        X509_V_ERR_CRL_SIGNATURE_FAILURE, X509_V_ERR_CRL_NOT_YET_VALID, X509_V_ERR_CRL_HAS_EXPIRED,
        X509_V_ERR_ERROR_IN_CRL_LAST_UPDATE_FIELD, X509_V_ERR_ERROR_IN_CRL_NEXT_UPDATE_FIELD,
        X509_V_ERR_CERT_REVOKED, X509_V_ERR_UNABLE_TO_GET_CRL_ISSUER,
        X509_V_ERR_KEYUSAGE_NO_CRL_SIGN,
        X509_V_ERR_UNHANDLED_CRITICAL_CRL_EXTENSION, X509_V_ERR_DIFFERENT_CRL_SCOPE,
        X509_V_ERR_CRL_PATH_VALIDATION_ERROR,
    ]

    private func failedChain(_ code: String, _ message: String) -> ChainResult {
        ChainResult(
            chainCheck: VerificationCheck(
                id: "chain", outcome: .failed(code: code, message: message)),
            chainInfos: [], timeErrors: [], crlErrors: [], issuer: nil)
    }

    private func runChainVerification(
        cert: X509Box, hints: [X509Box], purpose: CertificatePurpose, at time: Date
    ) -> ChainResult {
        guard let anchorList = anchors[purpose], !anchorList.isEmpty else {
            return failedChain(
                "no_trust_anchors", "no trust anchor configured for \(purpose.rawValue)")
        }
        guard let store = X509_STORE_new() else {
            return failedChain("openssl_error", "X509_STORE_new failed")
        }
        defer { X509_STORE_free(store) }
        for a in anchorList { _ = X509_STORE_add_cert(store, a.ptr) }
        let useCRL = !crls.isEmpty
        for c in crls { _ = X509_STORE_add_crl(store, c.ptr) }
        _ = drainOpenSSLErrors()

        guard let untrusted = copenssl_sk_x509_new_null() else {
            return failedChain("openssl_error", "stack allocation failed")
        }
        defer { copenssl_sk_x509_free(untrusted) }  // the boxes own the certificates
        for h in hints { _ = copenssl_sk_x509_push(untrusted, h.ptr) }

        guard let ctx = X509_STORE_CTX_new() else {
            return failedChain("openssl_error", "X509_STORE_CTX_new failed")
        }
        defer { X509_STORE_CTX_free(ctx) }
        guard X509_STORE_CTX_init(ctx, store, cert.ptr, untrusted) == 1 else {
            return failedChain(
                "openssl_error", "X509_STORE_CTX_init failed: \(drainOpenSSLErrors())")
        }
        let param = X509_STORE_CTX_get0_param(ctx)
        var flags = UInt(X509_V_FLAG_X509_STRICT)
        if useCRL { flags |= UInt(X509_V_FLAG_CRL_CHECK) }
        X509_VERIFY_PARAM_set_flags(param, flags)
        X509_VERIFY_PARAM_set_time(param, time_t(time.timeIntervalSince1970.rounded(.down)))

        let collector = VerifyErrorCollector()
        let unmanaged = Unmanaged.passRetained(collector)
        defer { unmanaged.release() }
        _ = copenssl_x509_store_ctx_set_app_data(ctx, unmanaged.toOpaque())
        X509_STORE_CTX_set_verify_cb(ctx, collectingVerifyCallback)

        let rc = X509_verify_cert(ctx)
        let opensslDetail = rc < 0 ? drainOpenSSLErrors() : nil
        _ = drainOpenSSLErrors()

        var chainInfos: [CertificateInfo] = []
        var issuer: X509Box? = nil
        var keyProblem: (error: JPKIVerifyError, depth: Int)? = nil
        if let chain = X509_STORE_CTX_get1_chain(ctx) {
            defer { copenssl_sk_x509_pop_free(chain) }
            for i in 0..<copenssl_sk_x509_num(chain) {
                guard let x = copenssl_sk_x509_value(chain, i) else { continue }
                X509_up_ref(x)
                let b = X509Box(owning: x)
                if let ci = try? CertificateInfo(box: b, der: b.der) { chainInfos.append(ci) }
                if i == 1 { issuer = b }
                // Only RSA and EC P-256/P-384 keys anywhere in the chain (OpenSSL would accept
                // any curve it knows).
                if keyProblem == nil, let pk = X509_get0_pubkey(x) {
                    EVP_PKEY_up_ref(pk)
                    do throws(JPKIVerifyError) {
                        _ = try PKeyBox(owning: pk).signatureScheme()
                    } catch {
                        keyProblem = (error, Int(i))
                    }
                }
            }
        }

        let all = collector.errors
        let timeErrors = all.filter { Self.timeErrorCodes.contains($0.code) }.map(\.code)
        let crlErrors = all.filter { Self.crlErrorCodes.contains($0.code) }.map(\.code)
        let chainErrors = all.filter {
            !Self.timeErrorCodes.contains($0.code) && !Self.crlErrorCodes.contains($0.code)
        }

        let check: VerificationCheck
        if let keyProblem {
            check = VerificationCheck(
                id: "chain",
                outcome: .failed(
                    code: keyProblem.error.code, message: "\(keyProblem.error.message) at depth \(keyProblem.depth)"))
            issuer = nil
        } else if rc == 1 && chainErrors.isEmpty {
            // Belt and braces: the top of the chain must be one of the configured anchors.
            let top = chainInfos.last
            let anchorFingerprints = Set(
                anchorList.compactMap {
                    try? CertificateInfo(box: $0, der: $0.der).sha256Fingerprint
                })
            if let top, anchorFingerprints.contains(top.sha256Fingerprint), chainInfos.count >= 2 {
                check = VerificationCheck(
                    id: "chain", outcome: .passed, detail: "depth \(chainInfos.count - 1)")
            } else {
                check = VerificationCheck(
                    id: "chain",
                    outcome: .failed(
                        code: "untrusted_anchor",
                        message: "chain does not end at a configured anchor"))
                issuer = nil
            }
        } else {
            let first = chainErrors.first
            let code = first.map { Self.chainReasonCode($0.code) } ?? "verify_failed"
            let text =
                first.map {
                    "\(String(cString: X509_verify_cert_error_string(Int($0.code)))) at depth \($0.depth)"
                } ?? (opensslDetail ?? "X509_verify_cert failed")
            check = VerificationCheck(
                id: "chain", outcome: .failed(code: code, message: text),
                detail: all.map { "\($0.code)@\($0.depth)" }.joined(separator: ","))
            issuer = nil
        }
        return ChainResult(
            chainCheck: check, chainInfos: chainInfos, timeErrors: timeErrors, crlErrors: crlErrors,
            issuer: issuer)
    }

    static func chainReasonCode(_ e: Int32) -> String {
        switch e {
        case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY, X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT,
            X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN, X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT,
            X509_V_ERR_CERT_UNTRUSTED, X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
            "untrusted_anchor"
        case X509_V_ERR_CERT_SIGNATURE_FAILURE, X509_V_ERR_UNABLE_TO_DECRYPT_CERT_SIGNATURE:
            "bad_signature"
        case X509_V_ERR_INVALID_CA, X509_V_ERR_PATH_LENGTH_EXCEEDED,
            X509_V_ERR_KEYUSAGE_NO_CERTSIGN:
            "invalid_ca"
        default:
            "verify_error_\(e)"
        }
    }

    // MARK: - Profile checks

    private func validityCheck(
        info: CertificateInfo, chain: [CertificateInfo], openSSLTimeErrors: [Int32], at time: Date
    ) -> VerificationCheck {
        let certs = chain.isEmpty ? [info] : chain
        // Every depth is checked; an expired end entity (depth 0) is reported as such (detail
        // `depth 0`, which a grace period may forgive) only when no CA certificate has a problem.
        var endEntityExpired = false
        for (i, c) in certs.enumerated() {
            if time < c.notBefore {
                return VerificationCheck(
                    id: "validity",
                    outcome: .failed(
                        code: "not_yet_valid", message: "certificate at depth \(i) is not yet valid"
                    ), detail: "depth \(i)")
            }
            if time > c.notAfter {
                if i == 0 {
                    endEntityExpired = true
                    continue
                }
                return VerificationCheck(
                    id: "validity",
                    outcome: .failed(
                        code: "expired", message: "certificate at depth \(i) has expired"), detail: "depth \(i)")
            }
        }
        if endEntityExpired {
            // OpenSSL's time errors then say the same (depth 0 expired); any other one is a problem.
            let other = openSSLTimeErrors.contains { $0 != X509_V_ERR_CERT_HAS_EXPIRED }
            return VerificationCheck(
                id: "validity",
                outcome: .failed(code: "expired", message: "certificate at depth 0 has expired"),
                detail: other ? "depth 0 and chain time errors" : "depth 0")
        }
        if let e = openSSLTimeErrors.first {
            let code =
                e == X509_V_ERR_CERT_NOT_YET_VALID
                ? "not_yet_valid" : e == X509_V_ERR_CERT_HAS_EXPIRED ? "expired" : "bad_time_field"
            return VerificationCheck(
                id: "validity",
                outcome: .failed(
                    code: code, message: String(cString: X509_verify_cert_error_string(Int(e)))))
        }
        return VerificationCheck(id: "validity", outcome: .passed)
    }

    private func keyUsageCheck(info: CertificateInfo, purpose: CertificatePurpose)
        -> VerificationCheck
    {
        guard let ku = info.keyUsage else {
            return VerificationCheck(
                id: "keyUsage",
                outcome: .failed(code: "key_usage_missing", message: "no keyUsage extension"))
        }
        let needed: KeyUsage = purpose == .auth ? .digitalSignature : .nonRepudiation
        guard ku.contains(needed) else {
            return VerificationCheck(
                id: "keyUsage",
                outcome: .failed(
                    code: "wrong_key_usage",
                    message:
                        "keyUsage lacks \(purpose == .auth ? "digitalSignature" : "nonRepudiation")"
                ))
        }
        if ku.contains(.keyCertSign) || ku.contains(.cRLSign) {
            return VerificationCheck(
                id: "keyUsage",
                outcome: .failed(
                    code: "wrong_key_usage",
                    message: "end-entity keyUsage allows certificate/CRL signing"))
        }
        return VerificationCheck(id: "keyUsage", outcome: .passed)
    }

    private func basicConstraintsCheck(info: CertificateInfo) -> VerificationCheck {
        if let bc = info.basicConstraints, bc.isCA {
            return VerificationCheck(
                id: "basicConstraints",
                outcome: .failed(
                    code: "end_entity_is_ca", message: "end-entity certificate has cA=TRUE"))
        }
        return VerificationCheck(
            id: "basicConstraints", outcome: .passed,
            detail: info.basicConstraints == nil ? "absent" : "cA=FALSE")
    }

    private func policyCheck(info: CertificateInfo, purpose: CertificatePurpose)
        -> VerificationCheck
    {
        let wanted = trust.policyOIDs(for: purpose)
        if info.policyOIDs.contains(where: wanted.contains) {
            return VerificationCheck(
                id: "policy", outcome: .passed,
                detail: info.policyOIDs.first(where: wanted.contains))
        }
        return VerificationCheck(
            id: "policy",
            outcome: .failed(
                code: "wrong_policy",
                message: "no acceptable \(purpose.rawValue) certificate policy"),
            detail: info.policyOIDs.joined(separator: ","))
    }

    // MARK: - Revocation

    private func revocationCheck(id: String, status: RevocationStatus, detail: String?)
        -> VerificationCheck
    {
        let hard = revocation.policy == .hardFail
        switch status {
        case .good:
            return VerificationCheck(
                id: id, outcome: .passed, required: hard, detail: detail, revocation: status)
        case .revoked(let reason, _):
            return VerificationCheck(
                id: id,
                outcome: .failed(
                    code: "revoked",
                    message: "certificate is revoked" + (reason.map { " (\($0))" } ?? "")),
                detail: detail, revocation: status)
        case .unknown:
            let outcome: CheckOutcome =
                hard
                ? .failed(
                    code: "revocation_unknown", message: "responder does not know the certificate")
                : .warning(
                    code: "revocation_unknown", message: "responder does not know the certificate")
            return VerificationCheck(
                id: id, outcome: outcome, required: hard, detail: detail, revocation: status)
        case .unavailable(let why):
            let outcome: CheckOutcome =
                hard
                ? .failed(code: "revocation_unavailable", message: why)
                : .warning(code: "revocation_unavailable", message: why)
            return VerificationCheck(
                id: id, outcome: outcome, required: hard, detail: detail, revocation: status)
        }
    }

    private func crlStatus(cert: X509Box, issuer: X509Box?, errors: [Int32]) -> RevocationStatus {
        // An unauthenticated CRL proves nothing either way.
        if errors.contains(X509_V_ERR_CRL_SIGNATURE_FAILURE)
            || errors.contains(X509_V_ERR_UNABLE_TO_DECRYPT_CRL_SIGNATURE)
        {
            return .unavailable("CRL signature invalid")
        }
        // A revoked entry in a correctly signed CRL stands even when the CRL is stale.
        if errors.contains(X509_V_ERR_CERT_REVOKED) {
            return revokedEntry(cert: cert, issuer: issuer) ?? .revoked(reason: nil, date: nil)
        }
        if let e = errors.first {
            switch e {
            case X509_V_ERR_UNABLE_TO_GET_CRL: return .unavailable("no CRL for the issuer")
            case X509_V_ERR_CRL_HAS_EXPIRED: return .unavailable("CRL is stale (nextUpdate passed)")
            case X509_V_ERR_CRL_NOT_YET_VALID: return .unavailable("CRL is not yet valid")
            case X509_V_ERR_CRL_SIGNATURE_FAILURE, X509_V_ERR_UNABLE_TO_DECRYPT_CRL_SIGNATURE:
                return .unavailable("CRL signature invalid")
            default: return .unavailable(String(cString: X509_verify_cert_error_string(Int(e))))
            }
        }
        return .good
    }

    /// The entry for `cert` in the CRL that OpenSSL used: same issuer name **and** signed by the
    /// key of the certificate's issuer in the verified chain. JPKI root generations share one DN,
    /// so the name alone can pick another generation's CRL (whose entry for the same serial is
    /// about another certificate).
    private func revokedEntry(cert: X509Box, issuer: X509Box?) -> RevocationStatus? {
        guard let issuerName = X509_get_issuer_name(cert.ptr),
            let issuerKey = issuer.flatMap({ X509_get0_pubkey($0.ptr) })
        else { return nil }
        for c in crls {
            guard let crlIssuer = X509_CRL_get_issuer(c.ptr),
                X509_NAME_cmp(crlIssuer, issuerName) == 0
            else { continue }
            guard X509_CRL_verify(c.ptr, issuerKey) == 1 else {
                _ = drainOpenSSLErrors()
                continue
            }
            var rev: OpaquePointer? = nil
            guard X509_CRL_get0_by_cert(c.ptr, &rev, cert.ptr) == 1, let rev else { continue }
            let date = dateFrom(asn1Time: X509_REVOKED_get0_revocationDate(rev))
            var reason: String? = nil
            if let r = X509_REVOKED_get_ext_d2i(rev, NID_crl_reason, nil, nil) {
                let e = OpaquePointer(r)
                let code = ASN1_ENUMERATED_get(
                    UnsafePointer(r.assumingMemoryBound(to: ASN1_ENUMERATED.self)))
                ASN1_ENUMERATED_free(r.assumingMemoryBound(to: ASN1_ENUMERATED.self))
                _ = e
                reason = crlReasonName(Int(code))
            }
            return .revoked(reason: reason, date: date)
        }
        return nil
    }

    // MARK: - OCSP

    private func ocspStatus(
        cert: X509Box, issuer: X509Box, purpose: CertificatePurpose, config: OCSPConfiguration
    ) async -> (RevocationStatus, String?) {
        guard let certID = OCSP_cert_to_id(nil, cert.ptr, issuer.ptr) else {
            return (.unavailable("cannot build OCSP cert id"), nil)
        }
        defer { OCSP_CERTID_free(certID) }
        var idDER: UnsafeMutablePointer<UInt8>? = nil
        let idLen = i2d_OCSP_CERTID(certID, &idDER)
        var key = config.responderURL.absoluteString
        if idLen > 0, let idDER {
            key += "|" + Data(bytes: idDER, count: Int(idLen)).hexString
            copenssl_openssl_free(idDER)
        }
        if let cached = ocspCache.lookup(key, now: Date()) {
            return (cached, "cached response")
        }

        guard let req = OCSP_REQUEST_new() else {
            return (.unavailable("OCSP_REQUEST_new failed"), nil)
        }
        defer { OCSP_REQUEST_free(req) }
        guard let idCopy = OCSP_CERTID_dup(certID), OCSP_request_add0_id(req, idCopy) != nil else {
            return (.unavailable("cannot add cert id"), nil)
        }
        guard OCSP_request_add1_nonce(req, nil, -1) == 1 else {
            return (.unavailable("cannot add nonce"), nil)
        }
        var reqDER: UnsafeMutablePointer<UInt8>? = nil
        let reqLen = i2d_OCSP_REQUEST(req, &reqDER)
        guard reqLen > 0, let reqDER else {
            return (.unavailable("cannot encode OCSP request"), nil)
        }
        let body = Data(bytes: reqDER, count: Int(reqLen))
        copenssl_openssl_free(reqDER)

        guard let requester else { return (.unavailable("no HTTP requester"), nil) }
        let responseBody: Data
        do throws(JPKIVerifyError) {
            responseBody = try await Self.ocspExchange(
                requester,
                HTTPPostRequest(
                    url: config.responderURL, contentType: "application/ocsp-request",
                    accept: "application/ocsp-response", body: body, connectTimeout: config.connectTimeout,
                    readTimeout: config.readTimeout, maxBytes: config.maxResponseBytes))
        } catch {
            return (.unavailable("responder unreachable: \(error.message)"), nil)
        }

        let resp: OpaquePointer? = responseBody.withUnsafeBytes { raw in
            var p: UnsafePointer<UInt8>? = raw.bindMemory(to: UInt8.self).baseAddress
            return d2i_OCSP_RESPONSE(nil, &p, raw.count)
        }
        guard let resp else {
            _ = drainOpenSSLErrors()
            return (.unavailable("OCSP response does not decode"), nil)
        }
        defer { OCSP_RESPONSE_free(resp) }
        let rs = OCSP_response_status(resp)
        guard rs == copenssl_ocsp_response_status_successful() else {
            return (.unavailable("responder status \(rs)"), nil)
        }
        guard let bs = OCSP_response_get1_basic(resp) else {
            return (.unavailable("no basic response"), nil)
        }
        defer { OCSP_BASICRESP_free(bs) }

        let nonce = OCSP_check_nonce(req, bs)
        if nonce == 0 { return (.unavailable("nonce mismatch"), nil) }
        if nonce != 1 && config.requireNonce { return (.unavailable("response has no nonce"), nil) }

        // Signature: the responder must chain to this purpose's configured anchors (or be a
        // configured trusted responder).
        guard let store = X509_STORE_new() else {
            return (.unavailable("X509_STORE_new failed"), nil)
        }
        defer { X509_STORE_free(store) }
        for a in anchors[purpose] ?? [] { _ = X509_STORE_add_cert(store, a.ptr) }
        guard let extra = copenssl_sk_x509_new_null() else {
            return (.unavailable("stack allocation failed"), nil)
        }
        defer { copenssl_sk_x509_free(extra) }
        var vflags: UInt = 0
        for r in trustedResponders {
            _ = copenssl_sk_x509_push(extra, r.ptr)
            vflags = copenssl_ocsp_trustother()
        }
        guard OCSP_basic_verify(bs, extra, store, vflags) == 1 else {
            let d = drainOpenSSLErrors()
            return (.unavailable("OCSP response signature not trusted"), d)
        }

        var status: Int32 = -1
        var reason: Int32 = -1
        var revTime: UnsafeMutablePointer<ASN1_GENERALIZEDTIME>? = nil
        var thisUpd: UnsafeMutablePointer<ASN1_GENERALIZEDTIME>? = nil
        var nextUpd: UnsafeMutablePointer<ASN1_GENERALIZEDTIME>? = nil
        guard OCSP_resp_find_status(bs, certID, &status, &reason, &revTime, &thisUpd, &nextUpd) == 1
        else {
            return (.unavailable("no status for this certificate in the response"), nil)
        }
        guard OCSP_check_validity(thisUpd, nextUpd, config.clockSkew, -1) == 1 else {
            _ = drainOpenSSLErrors()
            return (.unavailable("OCSP response outside its validity period"), nil)
        }
        let result: RevocationStatus
        switch status {
        case copenssl_v_cert_status_good(): result = .good
        case copenssl_v_cert_status_revoked():
            result = .revoked(
                reason: reason >= 0 ? crlReasonName(Int(reason)) : nil,
                date: dateFrom(asn1Time: revTime))
        default: result = .unknown
        }
        if let next = dateFrom(asn1Time: nextUpd) {
            ocspCache.store(key, status: result, until: next)
        }
        return (result, nil)
    }

    /// Drops every cached OCSP answer.
    public func clearOCSPCache() { ocspCache.clear() }

    /// POSTs an OCSP request: the body of a 200 answer, or `transport` / `unsupported_url`.
    static func ocspExchange(_ requester: any HTTPRequester, _ request: HTTPPostRequest) async throws(JPKIVerifyError)
        -> Data
    {
        let answer: HTTPAnswer
        do {
            try HTTPPostRequest.validate(request.url)
            answer = try await requester.post(request)
        } catch {
            throw error.verifyError
        }
        guard answer.status == 200 else { throw .transport("HTTP status \(answer.status)") }
        return answer.body
    }
}

/// RFC 5280 CRLReason names.
func crlReasonName(_ code: Int) -> String {
    switch code {
    case 0: "unspecified"
    case 1: "keyCompromise"
    case 2: "cACompromise"
    case 3: "affiliationChanged"
    case 4: "superseded"
    case 5: "cessationOfOperation"
    case 6: "certificateHold"
    case 8: "removeFromCRL"
    case 9: "privilegeWithdrawn"
    case 10: "aACompromise"
    default: "reason\(code)"
    }
}

/// OCSP answers keyed by responder URL + DER CertID, kept until the response's nextUpdate.
final class OCSPCache: @unchecked Sendable {
    private let lock = NSLock()
    private var entries: [String: (status: RevocationStatus, until: Date)] = [:]

    func lookup(_ key: String, now: Date) -> RevocationStatus? {
        lock.lock()
        defer { lock.unlock() }
        guard let e = entries[key] else { return nil }
        if now >= e.until {
            entries[key] = nil
            return nil
        }
        return e.status
    }

    func store(_ key: String, status: RevocationStatus, until: Date) {
        lock.lock()
        defer { lock.unlock() }
        entries[key] = (status, until)
    }

    func clear() {
        lock.lock()
        defer { lock.unlock() }
        entries.removeAll()
    }

    var count: Int {
        lock.lock()
        defer { lock.unlock() }
        return entries.count
    }
}
