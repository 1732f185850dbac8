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

    @Test func millionAsInUnevenChunks() {
        var hasher = SHA256()
        var left = 1_000_000
        var step = 1
        while left > 0 {
            let n = min(step, left)
            hasher.update([UInt8](repeating: 0x61, count: n))
            left -= n
            step = step % 997 + 13
        }
        #expect(
            hasher.finalize().hexString.lowercased()
                == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    @Test func boundaryLengthsMatchOneShot() {
        // Incremental and one-shot agree around the 55/56/64-byte padding boundaries.
        for n in [55, 56, 57, 63, 64, 65, 119, 120, 128] {
            let msg = (0..<n).map { UInt8(truncatingIfNeeded: $0 * 7) }
            var hasher = SHA256()
            hasher.update(Array(msg.prefix(n / 2)))
            hasher.update(Array(msg.dropFirst(n / 2)))
            #expect(hasher.finalize() == SHA256.hash(msg))
        }
        // 64 zero bytes (independent value).
        #expect(
            SHA256.hash([UInt8](repeating: 0, count: 64)).hexString.lowercased()
                == "f5a5fd42d16a20302798ef6ed309979b43003d2320d9f0e8ea9831a92759fb4b")
    }
}
