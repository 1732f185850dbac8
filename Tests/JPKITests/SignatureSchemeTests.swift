import Foundation
import JPKI
import SmartCard
import Testing

/// The card library's algorithm-aware signing input and the one ECDSA signature converter.
@Suite("Signature schemes and ECDSA signature forms")
struct SignatureSchemeTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("apdu-fixtures/cards")
    func cert(_ card: String, _ ef: String = "000A") throws -> [UInt8] {
        [UInt8](try Data(contentsOf: Self.fixtures.appendingPathComponent("\(card)/jpki/\(ef).der")))
    }

    @Test("the scheme comes from the certificate's key: RSA → DigestInfo(SHA-256), P-384 → raw SHA-384")
    func schemeFromCertificate() throws {
        let rsa = try CardSignatureScheme(certificateDER: try cert("00-ordinary"))
        #expect(rsa == .rsaPKCS1v15(.sha256))
        #expect(rsa.name == "RSASSA-PKCS1-v1_5-SHA256")
        let message: [UInt8] = Array("challenge".utf8)
        #expect(rsa.cardInput(message: message) == DigestInfo.of(message: message))
        #expect(rsa.cardInput(message: message).count == 51)
        let ec = try CardSignatureScheme(certificateDER: try cert("30-ecdsa-p384-standin"))
        #expect(ec == .ecdsa(.p384, .sha384))
        #expect(ec.name == "ECDSA-P384-SHA384")
        #expect(ec.cardInput(message: message) == DigestAlgorithm.sha384.hash(message))
        #expect(try CardSignatureScheme(certificateDER: try cert("30-ecdsa-p384-standin", "0001")) == ec)
        #expect(throws: JPKIError.self) { try ec.cardInput(digest: [UInt8](repeating: 0, count: 32)) }
        #expect(throws: JPKIError.self) { try CardSignatureScheme(certificateDER: [0x30, 0x03, 0x02, 0x01, 0x00]) }
    }

    @Test("r ‖ s ↔ DER: leading zeros, high bits, round trip")
    func conversions() throws {
        for curve in ECCurve.allCases {
            let n = curve.coordinateLength
            // r with a high bit (gets a 00 prefix), s with leading zeros (shortened).
            let r = [UInt8](repeating: 0xFF, count: n)
            let s = [UInt8](repeating: 0, count: 3) + [UInt8](repeating: 0x11, count: n - 3)
            let der = try ECDSASignature.der(fromRaw: r + s, curve: curve)
            #expect(der[0] == 0x30)
            #expect(der[2] == 0x02 && Int(der[3]) == n + 1 && der[4] == 0x00)
            #expect(try ECDSASignature.raw(fromDER: der, curve: curve) == r + s)
        }
        #expect(throws: JPKIError.self) {
            try ECDSASignature.der(fromRaw: [UInt8](repeating: 1, count: 95), curve: .p384)
        }
    }

    @Test("DER that is not strict is refused")
    func strictDER() {
        let bad: [[UInt8]] = [
            [0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01, 0x00],  // trailing byte
            [0x30, 0x07, 0x02, 0x02, 0x00, 0x01, 0x02, 0x01, 0x01],  // non-minimal integer
            [0x30, 0x06, 0x02, 0x01, 0x81, 0x02, 0x01, 0x01],  // negative
            [0x30, 0x08, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01],  // truncated
            [0x30, 0x03, 0x02, 0x01, 0x01],  // one integer
            [0x30, 0x36, 0x02, 0x31] + [UInt8](repeating: 0x11, count: 0x31) + [0x02, 0x01, 0x01],  // r too long for P-384
        ]
        for b in bad {
            #expect(throws: JPKIError.self) { try ECDSASignature.raw(fromDER: b, curve: .p384) }
        }
    }
}
