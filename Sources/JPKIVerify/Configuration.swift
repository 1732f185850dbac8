import Foundation

/// Which JPKI certificate is being verified.
public enum CertificatePurpose: String, Sendable, Codable, CaseIterable {
    /// 利用者証明用 (user authentication) certificate, EF 000A.
    case auth
    /// 署名用 (digital signature) certificate, EF 0001.
    case sign
}

/// JPKI certificate-policy OIDs.
public enum JPKIPolicyOID {
    /// User authentication certificate policy.
    public static let auth = "1.2.392.200149.8.5.1.3.30"
    /// Digital signature certificate policy (production).
    public static let sign = "1.2.392.200149.8.5.1.1.20"
    /// Digital signature certificate policy seen on test cards.
    public static let signTestCard = "1.2.392.200149.8.5.1.0.20"
}

/// Where trust comes from. Anchors are **only** read from these files/directories; nothing read
/// from a card is ever an anchor.
public struct TrustConfiguration: Sendable, Equatable {
    /// Anchor files (PEM with one or more certificates, or DER) or directories (`*.pem`,
    /// `*.crt`, `*.cer`, `*.der`) for user authentication certificates.
    public var authAnchors: [URL]
    /// Same, for signature certificates.
    public var signAnchors: [URL]
    /// Acceptable certificatePolicies OIDs for auth end-entity certificates (any one suffices).
    public var authPolicyOIDs: Set<String>
    /// Acceptable certificatePolicies OIDs for sign end-entity certificates (any one suffices).
    public var signPolicyOIDs: Set<String>

    /// Creates a configuration. Policy sets default to the production JPKI OIDs.
    public init(
        authAnchors: [URL], signAnchors: [URL],
        authPolicyOIDs: Set<String> = [JPKIPolicyOID.auth],
        signPolicyOIDs: Set<String> = [JPKIPolicyOID.sign]
    ) {
        self.authAnchors = authAnchors
        self.signAnchors = signAnchors
        self.authPolicyOIDs = authPolicyOIDs
        self.signPolicyOIDs = signPolicyOIDs
    }

    /// Anchors for a purpose.
    public func anchors(for purpose: CertificatePurpose) -> [URL] {
        purpose == .auth ? authAnchors : signAnchors
    }

    /// Acceptable policy OIDs for a purpose.
    public func policyOIDs(for purpose: CertificatePurpose) -> Set<String> {
        purpose == .auth ? authPolicyOIDs : signPolicyOIDs
    }
}

/// What an unavailable revocation answer means.
public enum RevocationPolicy: String, Sendable, Codable {
    /// Unavailable/unknown revocation status fails the verification.
    case hardFail
    /// Unavailable/unknown revocation status is a warning; a revoked certificate still fails.
    case softFail
}

/// OCSP settings.
public struct OCSPConfiguration: Sendable, Equatable {
    /// Responder URL (`http://host:port/path`; plain HTTP only). The certificate's own AIA URL is
    /// never contacted: only this configured one.
    public var responderURL: URL
    /// Extra responder certificates that are trusted directly (OCSP_TRUSTOTHER). Usually empty:
    /// a responder certificate issued by the configured anchor with EKU OCSPSigning is accepted.
    public var trustedResponderCertificates: [URL]
    /// Connect timeout in seconds.
    public var connectTimeout: Double
    /// Read/write timeout in seconds (for the whole exchange after connecting).
    public var readTimeout: Double
    /// Require the response to echo the request nonce (cached answers are exempt).
    public var requireNonce: Bool
    /// Allowed clock skew in seconds for thisUpdate/nextUpdate.
    public var clockSkew: Int
    /// Upper bound for a response body.
    public var maxResponseBytes: Int

    /// Creates an OCSP configuration (2 s timeouts, nonce required).
    public init(
        responderURL: URL, trustedResponderCertificates: [URL] = [], connectTimeout: Double = 2,
        readTimeout: Double = 2, requireNonce: Bool = true, clockSkew: Int = 300,
        maxResponseBytes: Int = 256 * 1024
    ) {
        self.responderURL = responderURL
        self.trustedResponderCertificates = trustedResponderCertificates
        self.connectTimeout = connectTimeout
        self.readTimeout = readTimeout
        self.requireNonce = requireNonce
        self.clockSkew = clockSkew
        self.maxResponseBytes = maxResponseBytes
    }
}

/// Revocation sources and policy.
public struct RevocationConfiguration: Sendable, Equatable {
    /// CRL files (PEM or DER; a PEM file may hold several CRLs). Their signatures and
    /// nextUpdate are checked by OpenSSL; an expired CRL gives `unavailable`.
    public var crlFiles: [URL]
    /// OCSP responder, if any.
    public var ocsp: OCSPConfiguration?
    /// What unavailable means.
    public var policy: RevocationPolicy

    /// Creates a revocation configuration.
    public init(
        crlFiles: [URL] = [], ocsp: OCSPConfiguration? = nil, policy: RevocationPolicy = .hardFail
    ) {
        self.crlFiles = crlFiles
        self.ocsp = ocsp
        self.policy = policy
    }
}
