import COpenSSL
import Foundation

/// SHA-256 through OpenSSL.
enum Digest {
    /// SHA-256 of `bytes`, lower-case hex.
    static func sha256Hex<B: ContiguousBytes>(_ bytes: B) -> String {
        var out = [UInt8](repeating: 0, count: 32)
        var len: UInt32 = 0
        bytes.withUnsafeBytes { raw in
            _ = EVP_Digest(raw.baseAddress, raw.count, &out, &len, EVP_sha256(), nil)
        }
        return hex(out)
    }

    static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var s = [UInt8]()
        s.reserveCapacity(bytes.count * 2)
        for b in bytes {
            s.append(digits[Int(b >> 4)])
            s.append(digits[Int(b & 0xF)])
        }
        return String(decoding: s, as: UTF8.self)
    }
}

/// The daemon's audit checkpoint key: Ed25519 through OpenSSL. The private key is a PKCS#8 PEM
/// file created with mode 0600 on first start; the public key is written beside it
/// (`….pub.pem`, 0644) for `jpkid audit verify`.
public final class AuditSigner: @unchecked Sendable {
    // The EVP_PKEY is only read after init (sign/verify on one key are thread-safe in OpenSSL 3).
    private let key: OpaquePointer
    /// The raw 32-byte public key, hex: checkpoints name it.
    public let publicKeyHex: String

    private init(key: OpaquePointer) throws(AuditError) {
        self.key = key
        var raw = [UInt8](repeating: 0, count: 32)
        var n = 32
        guard EVP_PKEY_get_raw_public_key(key, &raw, &n) == 1, n == 32 else {
            EVP_PKEY_free(key)
            throw .key("not an Ed25519 key")
        }
        publicKeyHex = Digest.hex(raw)
    }

    deinit { EVP_PKEY_free(key) }

    /// The public key file that belongs to a private key file.
    public static func publicKeyPath(for keyPath: String) -> String {
        keyPath.hasSuffix(".pem") ? String(keyPath.dropLast(4)) + ".pub.pem" : keyPath + ".pub.pem"
    }

    /// Loads the private key at `path`, creating it (0600, and its public key file) when absent.
    public static func loadOrCreate(path: String) throws(AuditError) -> AuditSigner {
        if FileManager.default.fileExists(atPath: path) { return try load(privateKeyPath: path) }
        guard let ctx = EVP_PKEY_CTX_new_id(NID_ED25519, nil) else { throw .key("cannot create an Ed25519 key") }
        defer { EVP_PKEY_CTX_free(ctx) }
        var pkey: OpaquePointer?
        guard EVP_PKEY_keygen_init(ctx) == 1, EVP_PKEY_keygen(ctx, &pkey) == 1, let pkey else {
            throw .key("cannot create an Ed25519 key")
        }
        let signer = try AuditSigner(key: pkey)
        let pem = try pemOf(pkey, isPrivate: true)
        // O_EXCL: two processes starting at once never overwrite each other's key.
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        if fd < 0 {
            if errno == EEXIST { return try load(privateKeyPath: path) }
            throw .key("cannot create \(path): \(String(cString: strerror(errno)))")
        }
        let ok = pem.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) } == pem.count && fsync(fd) == 0
        close(fd)
        guard ok else {
            unlink(path)
            throw .key("cannot write \(path): \(String(cString: strerror(errno)))")
        }
        let pub = try pemOf(pkey, isPrivate: false)
        _ = FileManager.default.createFile(
            atPath: publicKeyPath(for: path), contents: pub, attributes: [.posixPermissions: 0o644])
        return signer
    }

    /// Loads a private key PEM.
    public static func load(privateKeyPath path: String) throws(AuditError) -> AuditSigner {
        guard let pem = FileManager.default.contents(atPath: path) else {
            throw .key("cannot read \(path): \(String(cString: strerror(errno)))")
        }
        let pkey: OpaquePointer? = pem.withUnsafeBytes { raw in
            guard let bio = BIO_new_mem_buf(raw.baseAddress, Int32(raw.count)) else { return nil }
            defer { BIO_free(bio) }
            return PEM_read_bio_PrivateKey(bio, nil, nil, nil)
        }
        guard let pkey else { throw .key("\(path) is not a PEM private key") }
        return try AuditSigner(key: pkey)
    }

    private static func pemOf(_ key: OpaquePointer, isPrivate: Bool) throws(AuditError) -> Data {
        guard let bio = BIO_new(BIO_s_mem()) else { throw .key("out of memory") }
        defer { BIO_free(bio) }
        let ok = isPrivate ? PEM_write_bio_PrivateKey(bio, key, nil, nil, 0, nil, nil) : PEM_write_bio_PUBKEY(bio, key)
        guard ok == 1 else { throw .key("cannot encode the key") }
        var p: UnsafeMutablePointer<CChar>?
        let n = copenssl_bio_get_mem_data(bio, &p)
        guard let p, n > 0 else { throw .key("cannot encode the key") }
        return Data(bytes: p, count: n)
    }

    /// Signs `message`; the signature is base64.
    public func sign(_ message: [UInt8]) -> String? {
        guard let md = EVP_MD_CTX_new() else { return nil }
        defer { EVP_MD_CTX_free(md) }
        guard EVP_DigestSignInit(md, nil, nil, nil, key) == 1 else { return nil }
        var sig = [UInt8](repeating: 0, count: 64)
        var n = 64
        guard EVP_DigestSign(md, &sig, &n, message, message.count) == 1 else { return nil }
        return Data(sig.prefix(n)).base64EncodedString()
    }
}

/// An Ed25519 public key that checks checkpoint signatures.
public final class AuditPublicKey: @unchecked Sendable {
    private let key: OpaquePointer
    /// The raw public key, hex.
    public let hex: String

    /// Reads a public key PEM (`….pub.pem`), or the public half of a private key PEM.
    public init(path: String) throws(AuditError) {
        guard let pem = FileManager.default.contents(atPath: path) else {
            throw .key("cannot read \(path): \(String(cString: strerror(errno)))")
        }
        let pkey: OpaquePointer? = pem.withUnsafeBytes { raw in
            guard let bio = BIO_new_mem_buf(raw.baseAddress, Int32(raw.count)) else { return nil }
            defer { BIO_free(bio) }
            if let k = PEM_read_bio_PUBKEY(bio, nil, nil, nil) { return k }
            _ = BIO_ctrl(bio, BIO_CTRL_RESET, 0, nil)
            return PEM_read_bio_PrivateKey(bio, nil, nil, nil)
        }
        guard let pkey else { throw .key("\(path) holds no PEM key") }
        var raw = [UInt8](repeating: 0, count: 32)
        var n = 32
        guard EVP_PKEY_get_raw_public_key(pkey, &raw, &n) == 1, n == 32 else {
            EVP_PKEY_free(pkey)
            throw .key("\(path) is not an Ed25519 key")
        }
        key = pkey
        hex = Digest.hex(raw)
    }

    deinit { EVP_PKEY_free(key) }

    /// Whether `signature` (base64) signs `message`.
    public func verify(_ message: [UInt8], signature: String) -> Bool {
        guard let sig = Data(base64Encoded: signature), let md = EVP_MD_CTX_new() else { return false }
        defer { EVP_MD_CTX_free(md) }
        guard EVP_DigestVerifyInit(md, nil, nil, nil, key) == 1 else { return false }
        let s = [UInt8](sig)
        return EVP_DigestVerify(md, s, s.count, message, message.count) == 1
    }
}

/// The bytes a checkpoint signs: its own sequence number, the hash of the line before it (which
/// commits to every earlier line) and its time.
func checkpointMessage(seq: UInt64, prev: String, time: String) -> [UInt8] {
    Array("jpkid-audit-checkpoint-v1\n\(seq)\n\(prev)\n\(time)".utf8)
}
