import Foundation
import JPKIVerify
import SmartCard

extension CardKey {
    /// The key of an auth certificate (parsed; verify it first).
    ///
    /// The issuer key id is the certificate's authorityKeyIdentifier keyIdentifier. Without one,
    /// it is the key id of the configured anchor that issued it — the anchors (of `anchors`)
    /// whose subject is the certificate's issuer DN: exactly one must be there, and its
    /// subjectKeyIdentifier (or, without one, the SHA-1 of its key) is used. Several same-DN
    /// anchors and no AKI is ``EligibilityError/invalidKey(_:)``: which generation issued the
    /// card would be a guess. (J-LIS end-entity certificates carry an AKI; this is a fallback.)
    public init(authCertificate info: CertificateInfo, anchors: [CertificateInfo] = []) throws(EligibilityError) {
        let issuer = info.issuer.rfc2253
        if let aki = info.authorityKeyIdentifier, !aki.isEmpty {
            try self.init(issuerKeyID: aki, serial: info.serialNumberHex, issuer: issuer)
            return
        }
        let candidates = anchors.filter { $0.subject.der == info.issuer.der }
        guard candidates.count == 1, let anchor = candidates.first else {
            throw .invalidKey(
                "no authority key identifier, and \(candidates.count) configured anchors have the issuer DN")
        }
        try self.init(
            issuerKeyID: anchor.subjectKeyIdentifier ?? anchor.publicKeySHA1, serial: info.serialNumberHex,
            issuer: issuer)
    }

    /// The key of an auth certificate given as DER (verify it first, e.g. with JPKIVerify's
    /// `CardProofService`): parsed, then as ``init(authCertificate:anchors:)``. `anchors` is
    /// evaluated only for a certificate without an authority key identifier. A certificate that
    /// does not parse is ``EligibilityError/invalidKey(_:)``.
    public init(authCertificateDER der: [UInt8], anchors: @autoclosure () -> [CertificateInfo]) throws(EligibilityError)
    {
        let info: CertificateInfo
        do {
            info = try CertificateInfo(der: Data(der))
        } catch {
            throw .invalidKey("the auth certificate does not parse (\(error.code))")
        }
        try self.init(authCertificate: info, anchors: info.authorityKeyIdentifier == nil ? anchors() : [])
    }

    /// The registry key of a card proof's auth certificate (check ``CardProof/verified`` first).
    public init(proof: CardProof, anchors: @autoclosure () -> [CertificateInfo]) throws(EligibilityError) {
        try self.init(authCertificateDER: proof.authCertificate, anchors: anchors())
    }

    /// The anchors map for ``RegistryStore/resolveLegacyLinks(anchors:)`` and the CSV import:
    /// subject DN (RFC 2253) → key ids (SKI, or SHA-1 of the key) of the given anchors.
    public static func anchorKeyIDs(_ anchors: [CertificateInfo]) -> [String: [String]] {
        var out: [String: [String]] = [:]
        for a in anchors {
            let id = (a.subjectKeyIdentifier ?? a.publicKeySHA1).hexString
            if !(out[a.subject.rfc2253] ?? []).contains(id) { out[a.subject.rfc2253, default: []].append(id) }
        }
        return out
    }
}
