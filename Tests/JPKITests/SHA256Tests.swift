import JPKI
import SmartCard
import Testing

@Suite("SHA-256")
struct SHA256Tests {
    @Test(arguments: [
        ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        ("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        (
            "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
        ),
        (
            "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
            "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"
        ),
    ])
    func knownVectors(message: String, digest: String) {
        #expect(SHA256.hash(Array(message.utf8)).hexString.lowercased() == digest)
    }

    @Test func millionAs() {
        #expect(
            SHA256.hash([UInt8](repeating: 0x61, count: 1_000_000)).hexString.lowercased()
                == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
        // 64 zero bytes (independent value).
        #expect(
            SHA256.hash([UInt8](repeating: 0, count: 64)).hexString.lowercased()
                == "f5a5fd42d16a20302798ef6ed309979b43003d2320d9f0e8ea9831a92759fb4b")
    }

    /// FIPS 180-4 "abc" vectors: every algorithm of the vocabulary hashes through the same path,
    /// and its DigestInfo is the DER RFC 8017 §9.2 note 1 lists.
    @Test(arguments: [
        (
            DigestAlgorithm.sha256, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            "3031300d060960864801650304020105000420"
        ),
        (
            DigestAlgorithm.sha384,
            "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7",
            "3041300d060960864801650304020205000430"
        ),
        (
            DigestAlgorithm.sha512,
            "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
            "3051300d060960864801650304020305000440"
        ),
    ])
    func vocabulary(algorithm: DigestAlgorithm, abc: String, prefix: String) throws {
        let digest = algorithm.hash(Array("abc".utf8))
        #expect(digest.hexString.lowercased() == abc && digest.count == algorithm.digestLength)
        #expect(algorithm.derPrefix.hexString.lowercased() == prefix)
        #expect(try DigestInfo.encode(algorithm, digest: digest) == algorithm.derPrefix + digest)
        #expect(DigestInfo.of(message: Array("abc".utf8), algorithm) == algorithm.derPrefix + digest)
        #expect(throws: JPKIError.self) { try DigestInfo.encode(algorithm, digest: Array(digest.dropLast())) }
    }
}
