import COpenSSL
import CardSimulator
import Foundation
import SmartCard
import Testing

/// Test helpers: fixture cards, raw hex exchanges, OpenSSL checks.
enum Sim {
    static let jpkiAID = "D392F000260100000001"
    static let textAID = "D3921000310001010408"
    static let visualAID = "D3921000310001010402"
    static let jukiAID = "D3921000310001010401"
    static let commonAID = "D3921000310001010100"

    /// The 00-ordinary fixture directory.
    static func fixtureDirectory(_ name: String = "00-ordinary") throws -> URL {
        try VirtualMyNumberCard.fixturesCardsDirectory().appendingPathComponent(name)
    }

    /// A fresh 00-ordinary card.
    static func card(_ name: String = "00-ordinary", faults: FaultSpec = FaultSpec()) throws
        -> VirtualMyNumberCard
    {
        try VirtualMyNumberCard.fixture(name, faults: faults)
    }

    /// A fixture file's bytes.
    static func file(_ relative: String, card: String = "00-ordinary") throws -> [UInt8] {
        let url = try fixtureDirectory(card).appendingPathComponent(relative)
        return [UInt8](try Data(contentsOf: url))
    }

    /// A temporary copy of a fixture card whose profile.json is edited by `edit`.
    /// The directory is removed by the caller through `TemporaryCard.remove()`.
    static func temporaryCard(
        from name: String = "00-ordinary", edit: (inout [String: Any]) -> Void
    ) throws -> TemporaryCard {
        let source = try fixtureDirectory(name)
        let dir = FileManager.default.temporaryDirectory
            .appendingPathComponent("jpki-sim-test-\(UUID().uuidString)")
        try FileManager.default.copyItem(at: source, to: dir)
        let profileURL = dir.appendingPathComponent("profile.json")
        var json =
            try JSONSerialization.jsonObject(with: Data(contentsOf: profileURL)) as? [String: Any]
            ?? [:]
        edit(&json)
        try JSONSerialization.data(withJSONObject: json).write(to: profileURL)
        return TemporaryCard(directory: dir)
    }

    /// Sends raw hex, returns the raw response (data + SW) as hex.
    static func send(_ card: VirtualMyNumberCard, _ hex: String) -> String? {
        guard let bytes = [UInt8](hex: hex) else {
            Issue.record("bad hex in test: \(hex)")
            return nil
        }
        return card.process(bytes)?.hexString
    }

    /// Sends raw hex, returns the raw response bytes.
    static func exchange(_ card: VirtualMyNumberCard, _ hex: String) -> [UInt8]? {
        guard let bytes = [UInt8](hex: hex) else {
            Issue.record("bad hex in test: \(hex)")
            return nil
        }
        return card.process(bytes)
    }

    /// The status word of a raw exchange.
    static func sw(_ card: VirtualMyNumberCard, _ hex: String) -> String? {
        send(card, hex).map { String($0.suffix(4)) }
    }

    static func ascii(_ s: String) -> String { Array(s.utf8).hexString }

    static func lc(_ hex: String) -> String { [UInt8(hex.count / 2)].hexString }

    /// `00 20 00 80|sfi Lc PIN`.
    static func verifyAPDU(_ pin: String, p2: String = "80") -> String {
        let data = ascii(pin)
        return "002000" + p2 + lc(data) + data
    }

    /// SHA-256 DigestInfo of `message`, written out here on purpose: the oracle for the
    /// simulator's signatures must not be the builder (JPKI's `DigestInfo`) the simulator uses.
    static func digestInfo(_ message: [UInt8]) -> [UInt8] {
        var hash = [UInt8](repeating: 0, count: 32)
        _ = hash.withUnsafeMutableBufferPointer { SHA256(message, message.count, $0.baseAddress) }
        let prefix: [UInt8] = [
            0x30, 0x31, 0x30, 0x0D, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
            0x01,
            0x05, 0x00, 0x04, 0x20,
        ]
        return prefix + hash
    }

    /// Verifies a PKCS#1 v1.5 type-1 signature over `signed` (the exact bytes given to the card)
    /// with the public key of a DER certificate, independently of the simulator (OpenSSL).
    static func verifyPKCS1(signature: [UInt8], signed: [UInt8], certificateDER: [UInt8]) -> Bool {
        guard let pkey = publicKey(certificateDER: certificateDER) else { return false }
        defer { EVP_PKEY_free(pkey) }
        return verifyPKCS1(signature: signature, signed: signed, pkey: pkey)
    }

    static func verifyPKCS1(signature: [UInt8], signed: [UInt8], pkey: OpaquePointer) -> Bool {
        guard let ctx = EVP_PKEY_CTX_new(pkey, nil) else { return false }
        defer { EVP_PKEY_CTX_free(ctx) }
        guard EVP_PKEY_verify_init(ctx) == 1,
            EVP_PKEY_CTX_set_rsa_padding(ctx, copenssl_rsa_pkcs1_padding()) == 1
        else { return false }
        let rc = EVP_PKEY_verify(ctx, signature, signature.count, signed, signed.count)
        ERR_clear_error()
        return rc == 1
    }

    static func publicKey(certificateDER: [UInt8]) -> OpaquePointer? {
        certificateDER.withUnsafeBufferPointer { buf -> OpaquePointer? in
            var p: UnsafePointer<UInt8>? = buf.baseAddress
            guard let x509 = d2i_X509(nil, &p, buf.count) else { return nil }
            defer { X509_free(x509) }
            return X509_get_pubkey(x509)
        }
    }

    /// Public key of a PEM private key (for the text/visual AP keys, whose public half is in a
    /// CV certificate rather than an X.509 one).
    static func publicKey(privatePEM: [UInt8]) -> OpaquePointer? {
        privatePEM.withUnsafeBytes { raw -> OpaquePointer? in
            guard let bio = BIO_new_mem_buf(raw.baseAddress, Int32(raw.count)) else { return nil }
            defer { BIO_free(bio) }
            return PEM_read_bio_PrivateKey(bio, nil, nil, nil)
        }
    }

    /// Reads a whole transparent EF through a channel in 256-byte chunks until a short chunk.
    static func readAll(_ channel: CardChannel, extended: Bool = false) throws -> [UInt8] {
        var out: [UInt8] = []
        while true {
            let le = extended ? 65_536 : 256
            let r = try channel.send(
                CommandAPDU(
                    ins: 0xB0, p1: UInt8(out.count >> 8), p2: UInt8(out.count & 0xFF), le: le))
            if r.statusWord.value == 0x6B00 { break }
            guard r.statusWord.isSuccess else { throw TestFailure("READ BINARY \(r.statusWord)") }
            out += r.data
            if r.data.count < (extended ? 65_536 : 256) { break }
        }
        return out
    }
}

/// A temporary card profile directory.
struct TemporaryCard {
    let directory: URL
    func load(faults: FaultSpec = FaultSpec()) throws(CardSimulatorError) -> VirtualMyNumberCard {
        try VirtualMyNumberCard(directory: directory, faults: faults)
    }
    func remove() { try? FileManager.default.removeItem(at: directory) }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

extension CommandAPDU {
    /// SELECT by AID, no FCI.
    static func selectAID(_ hex: String) -> CommandAPDU {
        CommandAPDU(ins: 0xA4, p1: 0x04, p2: 0x0C, data: [UInt8](hex: hex) ?? [])
    }
    /// SELECT EF by FID, no FCI.
    static func selectEF(_ fid: UInt16) -> CommandAPDU {
        CommandAPDU(ins: 0xA4, p1: 0x02, p2: 0x0C, data: [UInt8(fid >> 8), UInt8(fid & 0xFF)])
    }
}
