import COpenSSL
import CardSimulator
import Foundation
import SmartCard
import Testing

@Suite("COMPUTE DIGITAL SIGNATURE")
struct SignatureTests {
    static func signAPDU(_ data: [UInt8], p1: String = "00", p2: String = "80") -> String {
        "802A" + p1 + p2 + [UInt8(data.count)].hexString + data.hexString + "00"
    }

    @Test func authKeySignatureVerifiesAgainstCertificate() throws {
        let card = try Sim.card()
        let channel = CardChannel(transport: InProcessTransport(card: card))
        let cert = try Sim.file("jpki/000A.der")
        let digestInfo = Sim.digestInfo(Array("challenge-\(UUID())".utf8))
        #expect(try channel.send(.selectAID(Sim.jpkiAID)).statusWord.isSuccess)
        #expect(try channel.send(.selectEF(0x0017)).statusWord.isSuccess)
        let sign = CommandAPDU(cla: 0x80, ins: 0x2A, p1: 0x00, p2: 0x80, data: digestInfo, le: 256)
        #expect(try channel.send(sign).statusWord.value == 0x6982)
        #expect(try channel.send(.selectEF(0x0018)).statusWord.isSuccess)
        #expect(
            try channel.send(CommandAPDU(ins: 0x20, p1: 0, p2: 0x80, data: Array("1234".utf8)))
                .statusWord
                .isSuccess)
        // Still 0018 selected: P2=80 names a PIN EF, not a key.
        #expect(try channel.send(sign).statusWord.value == 0x6981)
        #expect(try channel.send(.selectEF(0x0017)).statusWord.isSuccess)
        let r = try channel.send(sign)
        #expect(r.statusWord.isSuccess)
        #expect(r.data.count == 256)
        #expect(Sim.verifyPKCS1(signature: r.data, signed: digestInfo, certificateDER: cert))
        // The sign certificate's key did not make it.
        #expect(
            !Sim.verifyPKCS1(
                signature: r.data, signed: digestInfo, certificateDER: try Sim.file("jpki/0001.der")
            ))
        // SFI form (P2=97) gives the same deterministic signature.
        let sfi = CommandAPDU(cla: 0x80, ins: 0x2A, p1: 0x00, p2: 0x97, data: digestInfo, le: 256)
        #expect(try channel.send(sfi).data == r.data)
        // The auth PIN does not open the sign key.
        let signKey = CommandAPDU(
            cla: 0x80, ins: 0x2A, p1: 0x00, p2: 0x9A, data: digestInfo, le: 256)
        #expect(try channel.send(signKey).statusWord.value == 0x6982)
    }

    @Test func signKeySignatureAndOtherDigests() throws {
        let card = try Sim.card()
        let cert = try Sim.file("jpki/0001.der")
        #expect(Sim.sw(card, "00A4040C0A" + Sim.jpkiAID) == "9000")
        #expect(Sim.sw(card, Sim.verifyAPDU("ABC123", p2: "9B")) == "9000")
        #expect(Sim.sw(card, "00A4020C02001A") == "9000")
        // SHA-1 DigestInfo (35 bytes), arbitrary 245 bytes: the card pads exactly what it gets.
        let sha1Info =
            [UInt8](hex: "3021300906052B0E03021A05000414")! + [UInt8](repeating: 0xAB, count: 20)
        for data in [
            sha1Info, Sim.digestInfo([1, 2, 3]), [UInt8](repeating: 0x5A, count: 245), [0x01],
        ] {
            let response = try #require(Sim.exchange(card, Self.signAPDU(data)))
            #expect(response.suffix(2) == [0x90, 0x00])
            #expect(
                Sim.verifyPKCS1(
                    signature: Array(response.dropLast(2)), signed: data, certificateDER: cert))
        }
        // Lengths: empty → 6700, 246 → 6700.
        #expect(Sim.sw(card, "802A0080" + "00") == "6700")
        #expect(Sim.sw(card, "802A0080") == "6700")
        let tooLong = [UInt8](repeating: 1, count: 246)
        #expect(Sim.sw(card, Self.signAPDU(tooLong)) == "6700")
        #expect(Sim.sw(card, Self.signAPDU([1], p1: "09")) == "6A86")
        // P1=02: the card wraps a 32-byte SHA-256 in a DigestInfo; P1=03: it hashes too.
        let message = Array("message".utf8)
        let info = Sim.digestInfo(message)
        let hash = Array(info.suffix(32))
        let p2sig = try #require(Sim.exchange(card, Self.signAPDU(hash, p1: "02")))
        #expect(
            Sim.verifyPKCS1(signature: Array(p2sig.dropLast(2)), signed: info, certificateDER: cert)
        )
        let p3sig = try #require(Sim.exchange(card, Self.signAPDU(message, p1: "03")))
        #expect(p3sig == p2sig)
        #expect(Sim.sw(card, Self.signAPDU([1, 2], p1: "02")) == "6700")
        // Non-key targets.
        #expect(Sim.sw(card, Self.signAPDU(info, p2: "8A")) == "6981")
        #expect(Sim.sw(card, Self.signAPDU(info, p2: "9F")) == "6A86")
        #expect(Sim.sw(card, Self.signAPDU(info, p2: "00")) == "6A86")
        #expect(Sim.sw(card, Self.signAPDU(info, p2: "96")) == "6985")  // terminal CA key reference
        // CLA 00 is not this command's class.
        #expect(Sim.sw(card, "002A0080" + Sim.lc(info.hexString) + info.hexString + "00") == "6E00")
    }

    @Test func textAndVisualAPsSignWithoutPIN() throws {
        let card = try Sim.card()
        for (aid, keyFile) in [
            (Sim.textAID, "text/ap-key.test.pem"), (Sim.visualAID, "visual/ap-key.test.pem"),
        ] {
            #expect(Sim.sw(card, "00A4040C0A" + aid) == "9000")
            let info = Sim.digestInfo(Array("presence".utf8))
            let raw = try #require(Sim.exchange(card, Self.signAPDU(info, p2: "00")))
            #expect(raw.suffix(2) == [0x90, 0x00])
            let pkey = try #require(Sim.publicKey(privatePEM: try Sim.file(keyFile)))
            defer { EVP_PKEY_free(pkey) }
            #expect(Sim.verifyPKCS1(signature: Array(raw.dropLast(2)), signed: info, pkey: pkey))
        }
        // The JPKI AP has no PIN-less key.
        #expect(Sim.sw(card, "00A4040C0A" + Sim.jpkiAID) == "9000")
        #expect(Sim.sw(card, Self.signAPDU([1], p2: "00")) == "6A86")
        // Nothing selected at all.
        card.reset()
        #expect(Sim.sw(card, Self.signAPDU([1], p2: "00")) == "6986")
    }

    @Test func resetDropsSigningRight() throws {
        let card = try Sim.card()
        let info = Sim.digestInfo([9])
        #expect(Sim.sw(card, "00A4040C0A" + Sim.jpkiAID) == "9000")
        #expect(Sim.sw(card, Sim.verifyAPDU("1234", p2: "98")) == "9000")
        #expect(Sim.sw(card, Self.signAPDU(info, p2: "97")) == "9000")
        card.powerOff()
        card.powerOn()
        #expect(Sim.sw(card, "00A4040C0A" + Sim.jpkiAID) == "9000")
        #expect(Sim.sw(card, Self.signAPDU(info, p2: "97")) == "6982")
    }
}

@Suite("Class, instruction, malformed APDUs, probes")
struct CommandSetTests {
    @Test func classBytes() throws {
        let card = try Sim.card()
        #expect(Sim.sw(card, "01A4040C0A" + Sim.jpkiAID) == "6881")
        #expect(Sim.sw(card, "03B0000004") == "6881")
        #expect(Sim.sw(card, "40B0000004") == "6881")
        #expect(Sim.sw(card, "81A4040C0A" + Sim.jpkiAID) == "6881")
        #expect(Sim.sw(card, "0CB0000004") == "6882")
        #expect(Sim.sw(card, "08B0000004") == "6882")
        #expect(Sim.sw(card, "10B0000004") == "6884")
        #expect(Sim.sw(card, "A0A4040C0A" + Sim.jpkiAID) == "6E00")
        #expect(Sim.sw(card, "FFA4040C0A" + Sim.jpkiAID) == "6E00")
        #expect(Sim.sw(card, "80A4040C0A" + Sim.jpkiAID) == "6E00")
        #expect(Sim.sw(card, "80CA9F7F00") == "6E00")  // GlobalPlatform CPLC probe
        // Nothing above changed the state: still at MF level.
        #expect(Sim.sw(card, "00A40000") == "6A86")
    }

    @Test func unknownInstructionsAndProbes() throws {
        let card = try Sim.card()
        for ins in [
            "00", "0E", "44", "46", "47", "82", "86", "87", "B1", "C2", "D6", "E0", "F0", "FE",
        ] {
            #expect(Sim.sw(card, "00" + ins + "000000") == "6D00", "INS \(ins)")
        }
        #expect(Sim.sw(card, "80FC0000") == "6D00")
        #expect(Sim.sw(card, "80A20000") == "6A86")
        // setcos probe: GET DATA DF30 never 9000, at MF level or in an AP.
        #expect(Sim.sw(card, "00CADF3005") == "6A88")
        #expect(Sim.sw(card, "00CA010000") == "6A88")
        #expect(Sim.sw(card, "00A4040C0A" + Sim.jpkiAID) == "9000")
        #expect(Sim.sw(card, "00CADF3005") == "6A88")
        #expect(Sim.sw(card, "00CA00F000") == "6A88")
        // GET DATA 5F51: the contact ATR without TS, in any state.
        #expect(Sim.send(card, "00CA5F5100") == "DA13FF8131FB468012392F31C173C601C03B9000")
        card.reset()
        #expect(Sim.send(card, "00CA00F000") == Sim.ascii("13101") + "9000")
        #expect(Sim.send(card, "00CA00F200") == Sim.ascii("20350217") + "9000")
        // GET RESPONSE with nothing waiting.
        #expect(Sim.sw(card, "00C0000010") == "6985")
        // GET CHALLENGE.
        let challenge = try #require(Sim.send(card, "0084000010"))
        #expect(challenge.count == 36 && challenge.hasSuffix("9000"))
        #expect(Sim.send(card, "0084000010") != challenge)
        #expect(Sim.sw(card, "0084010010") == "6A86")
        #expect(Sim.sw(card, "00840000000100") == "6985")
        // INTERNAL AUTHENTICATE: JPKI keys refuse with 6982, 券面 keys with 6985.
        #expect(Sim.sw(card, "00A4040C0A" + Sim.jpkiAID) == "9000")
        #expect(Sim.sw(card, "0088009704AABBCCDD00") == "6982")
        #expect(Sim.sw(card, "00A4040C0A" + Sim.textAID) == "9000")
        #expect(Sim.sw(card, "0088009304AABBCCDD00") == "6985")
    }

    @Test func malformedAPDUs() throws {
        let card = try Sim.card()
        #expect(Sim.send(card, "") == "6700")
        #expect(Sim.send(card, "00") == "6700")
        #expect(Sim.send(card, "00A404") == "6700")
        #expect(Sim.send(card, "00A4040C0AD392F0") == "6700")  // Lc longer than the data
        #expect(Sim.send(card, "00A4040C02D392F0002601") == "6700")  // trailing bytes
        #expect(Sim.send(card, "00B000000000") == "6700")  // extended Le missing a byte
        #expect(Sim.send(card, "00A4040C000000") == "6700")  // no AID (extended Le only)
        // The card still works afterwards.
        #expect(Sim.sw(card, "00A4040C0A" + Sim.jpkiAID) == "9000")
        // 100 random APDUs never crash and always answer 2+ bytes.
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<300 {
            let n = Int.random(in: 0...300, using: &rng)
            let bytes = (0..<n).map { _ in UInt8.random(in: 0...255, using: &rng) }
            let r = try #require(card.process(bytes))
            #expect(r.count >= 2)
        }
    }
}
