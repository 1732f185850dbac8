import Foundation
import StableCodes

/// Errors thrown by JPKIVerify. Every case has a stable string ``code``; messages never contain
/// personal data read from a card or certificate (no names, addresses, birth dates, My Numbers).
public enum JPKIVerifyError: Error, CodedError, Sendable, Equatable, CustomStringConvertible {
    /// DER or PEM input is not a well-formed X.509 certificate.
    case malformedCertificate(String)
    /// A CRL file could not be parsed.
    case malformedCRL(String)
    /// A public or private key could not be parsed.
    case malformedKey(String)
    /// A TLV structure (AP records, CV certificates) is malformed.
    case malformedTLV(String)
    /// A CV certificate has an unexpected layout.
    case malformedCVCertificate(String)
    /// A configured file or directory could not be read.
    case fileUnreadable(path: String)
    /// No trust anchor was configured (or loadable) for the given purpose.
    case noTrustAnchors(purpose: String)
    /// An argument is out of range (e.g. wrong challenge length).
    case invalidArgument(String)
    /// An OpenSSL call failed unexpectedly (function name and OpenSSL's error string).
    case openSSL(function: String, detail: String)
    /// The OCSP transport failed (connect, timeout, HTTP status, size limit).
    case transport(String)
    /// A URL is not supported (only `http://host[:port]/path`).
    case unsupportedURL(String)
    /// An EC key is on a curve other than P-256 and P-384.
    case unsupportedCurve(String)
    /// A key is neither RSA nor EC.
    case unsupportedKeyAlgorithm(String)

    /// Stable machine-readable code.
    public var code: String {
        switch self {
        case .malformedCertificate: "malformed_certificate"
        case .malformedCRL: "malformed_crl"
        case .malformedKey: "malformed_key"
        case .malformedTLV: "malformed_tlv"
        case .malformedCVCertificate: "malformed_cv_certificate"
        case .fileUnreadable: "file_unreadable"
        case .noTrustAnchors: "no_trust_anchors"
        case .invalidArgument: "invalid_argument"
        case .openSSL: "openssl_error"
        case .transport: "transport_error"
        case .unsupportedURL: "unsupported_url"
        case .unsupportedCurve: "unsupported_curve"
        case .unsupportedKeyAlgorithm: "unsupported_key_algorithm"
        }
    }

    /// Human-readable message (no personal data).
    public var message: String {
        switch self {
        case .malformedCertificate(let m): "malformed certificate: \(m)"
        case .malformedCRL(let m): "malformed CRL: \(m)"
        case .malformedKey(let m): "malformed key: \(m)"
        case .malformedTLV(let m): "malformed TLV: \(m)"
        case .malformedCVCertificate(let m): "malformed CV certificate: \(m)"
        case .fileUnreadable(let path): "cannot read \(path)"
        case .noTrustAnchors(let purpose): "no trust anchors configured for \(purpose)"
        case .invalidArgument(let m): "invalid argument: \(m)"
        case .openSSL(let f, let d): "\(f) failed: \(d)"
        case .transport(let m): "transport: \(m)"
        case .unsupportedURL(let m): "unsupported URL: \(m)"
        case .unsupportedCurve(let m): "unsupported elliptic curve: \(m) (P-256 and P-384 are supported)"
        case .unsupportedKeyAlgorithm(let m): "unsupported key algorithm: \(m) (RSA and ECDSA are supported)"
        }
    }

    /// `code: message`.
    public var description: String { "\(code): \(message)" }
}
