import COpenSSL
import Foundation

/// Hash algorithms: the one digest vocabulary of the card library, the verifier and the tools.
/// The card signs a DigestInfo of one of these (the card pads, the caller hashes); the verifier
/// checks signatures with them. Hashing goes through OpenSSL's EVP, the project's one crypto
/// library (X.509, CRLs and signatures already need it).
public enum DigestAlgorithm: String, Sendable, Hashable, Codable, CaseIterable {
    /// SHA-256.
    case sha256
    /// SHA-384.
    case sha384
    /// SHA-512.
    case sha512

    /// The DER prefix of `DigestInfo { AlgorithmIdentifier { oid, NULL }, OCTET STRING }`
    /// (RFC 8017 §9.2 note 1).
    public var derPrefix: [UInt8] {
        let oidLast: UInt8
        switch self {
        case .sha256: oidLast = 0x01
        case .sha384: oidLast = 0x02
        case .sha512: oidLast = 0x03
        }
        let n = UInt8(digestLength)
        return [
            0x30, 0x11 + n, 0x30, 0x0D, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, oidLast,
            0x05, 0x00, 0x04, n,
        ]
    }

    /// The digest length in bytes.
    public var digestLength: Int {
        switch self {
        case .sha256: 32
        case .sha384: 48
        case .sha512: 64
        }
    }

    /// OpenSSL's message digest for this algorithm (for the verifier's EVP calls).
    package var evpMD: OpaquePointer? {
        switch self {
        case .sha256: EVP_sha256()
        case .sha384: EVP_sha384()
        case .sha512: EVP_sha512()
        }
    }

    /// The digest of `bytes`.
    public func hash(_ bytes: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        let ok = bytes.withUnsafeBytes { EVP_Digest($0.baseAddress, $0.count, &out, &length, evpMD, nil) }
        // EVP_Digest fails only without memory or with a broken OpenSSL; a wrong digest must never
        // pass silently as an empty one.
        precondition(ok == 1 && Int(length) == digestLength, "EVP_Digest(\(rawValue)) failed")
        return Array(out.prefix(Int(length)))
    }

    /// The digest of `data`.
    public func hash(_ data: Data) -> Data { Data(hash([UInt8](data))) }
}

/// SHA-256 shorthand: card fingerprints (SHA-256 of the auth certificate), raw challenges.
public enum SHA256 {
    /// The SHA-256 digest (32 bytes) of `data`.
    public static func hash(_ data: [UInt8]) -> [UInt8] { DigestAlgorithm.sha256.hash(data) }
}

/// The one builder of the DigestInfo that `80 2A 00 80` signs and the verifier expects.
public enum DigestInfo {
    /// `prefix ‖ digest`; the digest length must match the algorithm.
    public static func encode(_ algorithm: DigestAlgorithm, digest: [UInt8]) throws(JPKIError)
        -> [UInt8]
    {
        guard digest.count == algorithm.digestLength else {
            throw .invalidDigest(
                "\(algorithm.rawValue) digest must be \(algorithm.digestLength) bytes, got \(digest.count)"
            )
        }
        return algorithm.derPrefix + digest
    }

    /// `DigestInfo { algorithm, OCTET STRING octets }` for octets that are not one digest: the
    /// card face's DF28 signs three SHA-256 digests (96 bytes) this way. Short form lengths only
    /// (the whole structure under 128 bytes).
    public static func encode(_ algorithm: DigestAlgorithm, octets: [UInt8]) throws(JPKIError) -> [UInt8] {
        // derPrefix = 30 L { AlgorithmIdentifier } 04 L: keep the AlgorithmIdentifier.
        let prefix = algorithm.derPrefix
        let identifier = prefix[2..<(prefix.count - 2)]
        let inner = identifier + [0x04, UInt8(truncatingIfNeeded: octets.count)] + octets
        guard octets.count < 0x80, inner.count < 0x80 else {
            throw .invalidDigest("DigestInfo octets too long for the short form: \(octets.count) bytes")
        }
        return [0x30, UInt8(inner.count)] + inner
    }

    /// DigestInfo(algorithm, hash(message)): the message is hashed here.
    public static func of(message: [UInt8], _ algorithm: DigestAlgorithm = .sha256) -> [UInt8] {
        algorithm.derPrefix + algorithm.hash(message)
    }

    /// DigestInfo(sha256, SHA-256(challenge)) for a raw challenge (e.g. a random nonce that
    /// proves the card is present).
    public static func sha256(ofChallenge challenge: [UInt8]) -> [UInt8] { of(message: challenge) }
}
