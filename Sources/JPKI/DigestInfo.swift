/// Hash algorithms whose DigestInfo the card can sign (the card pads, the caller hashes).
public enum DigestAlgorithm: String, Sendable, Hashable, CaseIterable {
    /// SHA-256.
    case sha256
    /// SHA-384.
    case sha384
    /// SHA-512.
    case sha512

    /// The DER prefix of `DigestInfo { AlgorithmIdentifier { oid, NULL }, OCTET STRING }`.
    public var derPrefix: [UInt8] {
        switch self {
        case .sha256:
            [
                0x30, 0x31, 0x30, 0x0D, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                0x01, 0x05, 0x00, 0x04, 0x20,
            ]
        case .sha384:
            [
                0x30, 0x41, 0x30, 0x0D, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                0x02, 0x05, 0x00, 0x04, 0x30,
            ]
        case .sha512:
            [
                0x30, 0x51, 0x30, 0x0D, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                0x03, 0x05, 0x00, 0x04, 0x40,
            ]
        }
    }

    /// The digest length in bytes.
    public var digestLength: Int {
        switch self {
        case .sha256: 32
        case .sha384: 48
        case .sha512: 64
        }
    }
}

/// Builders for the DigestInfo that `80 2A 00 80` signs.
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

    /// DigestInfo(sha256, SHA-256(challenge)) for a raw challenge (e.g. a random nonce that
    /// proves the card is present). The hash is computed here, in pure Swift.
    public static func sha256(ofChallenge challenge: [UInt8]) -> [UInt8] {
        DigestAlgorithm.sha256.derPrefix + SHA256.hash(challenge)
    }
}
