import CardSimulator
import Foundation
import SmartCard
import Testing

/// The silicon-like options of ``CardBehaviour``: each one on its own, against the same card
/// with the option off (the test fails if the option changes nothing).
@Suite("Card behaviour options (silicon-like)")
struct BehaviourTests {
    static func card(_ spec: String) throws -> VirtualMyNumberCard {
        try VirtualMyNumberCard.fixture("00-ordinary", behaviour: try CardBehaviour(parsing: spec))
    }

    @Test func parsingAndDescription() throws {
        #expect(try CardBehaviour(parsing: "").isEmpty)
        #expect(try CardBehaviour(parsing: "none").isEmpty)
        #expect(try CardBehaviour(parsing: "silicon") == .silicon)
        #expect(CardBehaviour.silicon.description == "filler,eof6282,verified9000,pinformat,fci,t0")
        let two = try CardBehaviour(parsing: " fci , filler ")
        #expect(two == CardBehaviour(filler: true, fci: true) && two.description == "filler,fci")
        #expect(try CardBehaviour(parsing: two.description) == two)
        #expect(CardBehaviour.eachItem.count == 6 && Set(CardBehaviour.eachItem).count == 6)
        for bad in ["filler,filler", "fast", "fci,", "t1"] {
            #expect(throws: CardSimulatorError.self) { try CardBehaviour(parsing: bad) }
            do {
                _ = try CardBehaviour(parsing: bad)
            } catch {
                #expect(error.code == "sim_invalid_behaviour")
            }
        }
    }

    @Test func profileJSONSelectsBehaviourAndTheArgumentOverridesIt() throws {
        let tmp = try Sim.temporaryCard { $0["behaviour"] = "filler,fci" }
        defer { tmp.remove() }
        let fromProfile = try tmp.load()
        #expect(fromProfile.behaviour == CardBehaviour(filler: true, fci: true))
        let overridden = try VirtualMyNumberCard(
            directory: tmp.directory, faults: FaultSpec(), behaviour: CardBehaviour())
        #expect(overridden.behaviour.isEmpty)
        #expect(try Sim.card().behaviour.isEmpty)

        let bad = try Sim.temporaryCard { $0["behaviour"] = "warp" }
        defer { bad.remove() }
        do {
            _ = try bad.load()
            Issue.record("an unknown behaviour loaded")
        } catch {
            #expect(error.code == "sim_invalid_behaviour")
        }
    }

    /// `jpki-sim --behaviour`: documented in --help; an invalid spec is a usage error naming it.
    @Test func jpkiSimFlag() throws {
        let binary = try OpenSCConformanceTests.jpkiSimPath()
        func run(_ arguments: [String]) throws -> (Int32, String) {
            let process = Process()
            process.executableURL = binary
            process.arguments = arguments
            let out = Pipe()
            process.standardOutput = out
            process.standardError = out
            try process.run()
            let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            return (process.terminationStatus, text)
        }
        let help = try run(["--help"])
        #expect(help.0 == 0)
        for item in CardBehaviour.itemNames + ["silicon", "--behaviour"] {
            #expect(help.1.contains(item), "\(item) missing from jpki-sim --help")
        }
        let bad = try run(["--card", "00-ordinary", "--behaviour", "filler,warp"])
        #expect(bad.0 == 64 && bad.1.contains("invalid behaviour \"warp\""))
    }

    // MARK: filler / eof6282

    @Test func fillerGivesEachEFItsPhysicalSize() throws {
        let object = try Sim.file("text/0005.bin")
        #expect(object.count < 256)
        let plain = try Self.card("")
        let silicon = try Self.card("filler")
        for card in [plain, silicon] {
            #expect(Sim.sw(card, "00A4040C0A" + Sim.textAID) == "9000")
            #expect(Sim.sw(card, "00A4020C020005") == "9000")
        }
        // Off: the file ends with the object.
        #expect(Sim.exchange(plain, "00B0000000") == object + [0x90, 0x00])
        #expect(Sim.sw(plain, "00B000" + [UInt8(object.count)].hexString + "01") == "6B00")
        // On: 256 bytes, the object then FF filler; past the EF's end 6B00.
        let full = try #require(Sim.exchange(silicon, "00B0000000"))
        #expect(full.count == 258 && Array(full.prefix(object.count)) == object)
        #expect(full[object.count..<256].allSatisfy { $0 == 0xFF } && full.suffix(2) == [0x90, 0x00])
        #expect(Sim.send(silicon, "00B000" + [UInt8(object.count)].hexString + "01") == "FF9000")
        #expect(Sim.send(silicon, "00B000FF05") == "FF9000")
        #expect(Sim.sw(silicon, "00B0010001") == "6B00")
        #expect(Sim.sw(silicon, "00B0850000") == "9000")  // by SFI: the same physical EF
        #expect(Sim.exchange(silicon, "00B0850000")?.count == 258)
        // EF 0001 of the text AP is 17 bytes either way (its filler is in the object).
        #expect(CardBehaviour.physicalSize(application: "text", fileID: 1, objectLength: 17) == 17)
        // Certificates: 2048 bytes; an object larger than the table is never cut.
        #expect(CardBehaviour.physicalSize(application: "jpki", fileID: 0x000A, objectLength: 1042) == 2048)
        #expect(CardBehaviour.physicalSize(application: "jpki", fileID: 0x000A, objectLength: 2100) == 2304)
        #expect(CardBehaviour.physicalSize(application: "visual", fileID: 0x0042, objectLength: 10) == 256)
        #expect(Sim.sw(silicon, "00A4040C0A" + Sim.jpkiAID) == "9000")
        #expect(Sim.sw(silicon, "00A4020C02000A") == "9000")
        #expect(Sim.send(silicon, "00B007FF01") == "FF9000")
        #expect(Sim.sw(silicon, "00B0080001") == "6B00")
    }

    @Test func eof6282WhenTheReadRunsPastTheEnd() throws {
        let object = try Sim.file("text/0005.bin")
        let plain = try Self.card("")
        let eof = try Self.card("eof6282")
        let both = try Self.card("filler,eof6282")
        for card in [plain, eof, both] {
            #expect(Sim.sw(card, "00A4040C0A" + Sim.textAID) == "9000")
            #expect(Sim.sw(card, "00A4020C020005") == "9000")
        }
        #expect(Sim.exchange(plain, "00B0000000") == object + [0x90, 0x00])
        #expect(Sim.exchange(eof, "00B0000000") == object + [0x62, 0x82])
        // Exactly to the end: 9000; starting at the end: 6B00.
        #expect(Sim.sw(eof, "00B00000" + [UInt8(object.count)].hexString) == "9000")
        #expect(Sim.sw(eof, "00B000" + [UInt8(object.count)].hexString + "01") == "6B00")
        // With filler the end is the physical one: 256 bytes answer 9000, 257 (extended) 6282.
        #expect(Sim.sw(both, "00B0000000") == "9000")
        let r = try #require(Sim.exchange(both, "00B00000000101"))
        #expect(r.count == 258 && r.suffix(2) == [0x62, 0x82])
    }

    // MARK: verified9000

    @Test func emptyVerifyAnswers9000OnceVerified() throws {
        let plain = try Self.card("")
        let card = try Self.card("verified9000")
        for c in [plain, card] {
            #expect(Sim.sw(c, "00A4040C0A" + Sim.jpkiAID) == "9000")
            #expect(Sim.sw(c, "00A4020C020018") == "9000")
            #expect(Sim.sw(c, "00200080") == "63C3")
            #expect(Sim.sw(c, Sim.verifyAPDU("1234")) == "9000")
        }
        #expect(Sim.sw(plain, "00200080") == "63C3")
        #expect(Sim.sw(card, "00200080") == "9000")
        #expect(Sim.sw(card, "00200098") == "9000")  // by SFI too
        // Only the verified PIN: the sign password still reports its counter.
        #expect(Sim.sw(card, "0020009B") == "63C5")
        // A new session (re-selecting the AP, or a reset) ends it.
        #expect(Sim.sw(card, "00A4040C0A" + Sim.jpkiAID) == "9000")
        #expect(Sim.sw(card, "00200098") == "63C3")
        #expect(Sim.sw(card, Sim.verifyAPDU("1234", p2: "98")) == "9000")
        card.reset()
        #expect(Sim.sw(card, "00A4040C0A" + Sim.jpkiAID) == "9000")
        #expect(Sim.sw(card, "00200098") == "63C3")
        // A wrong VERIFY clears the verified state: the counter again.
        #expect(Sim.sw(card, Sim.verifyAPDU("1234", p2: "98")) == "9000")
        #expect(Sim.sw(card, Sim.verifyAPDU("9999", p2: "98")) == "63C2")
        #expect(Sim.sw(card, "00200098") == "63C2")
    }

    // MARK: pinformat

    @Test func pinFormatIsCheckedWithoutSpendingATry() throws {
        let plain = try Self.card("")
        let card = try Self.card("pinformat")
        for c in [plain, card] { #expect(Sim.sw(c, "00A4040C0A" + Sim.jpkiAID) == "9000") }
        // Off: any wrong value spends a try.
        #expect(Sim.sw(plain, Sim.verifyAPDU("123", p2: "98")) == "63C2")
        // On: wrong length 6700, wrong character 6A80, counter untouched.
        let cases: [(String, String, String)] = [
            ("98", "123", "6700"), ("98", "12345", "6700"), ("98", "12a4", "6A80"),
            ("9B", "ABC12", "6700"), ("9B", "ABCDEFGHIJ1234567", "6700"), ("9B", "abc123", "6A80"),
            ("9B", "ABC-12", "6A80"),
        ]
        for (p2, value, sw) in cases {
            #expect(Sim.sw(card, Sim.verifyAPDU(value, p2: p2)) == sw, "\(p2) \(value)")
        }
        #expect(card.triesLeft(.auth) == 3 && card.triesLeft(.sign) == 5)
        // Well-formed but wrong: a try is spent as usual; right: 9000.
        #expect(Sim.sw(card, Sim.verifyAPDU("ABCDEF", p2: "9B")) == "63C4")  // letters only: well-formed
        #expect(Sim.sw(card, Sim.verifyAPDU("ABC123", p2: "9B")) == "9000")
        #expect(Sim.sw(card, Sim.verifyAPDU("1234", p2: "98")) == "9000")
        // The other PIN kinds.
        #expect(Sim.sw(card, "00A4040C0A" + Sim.textAID) == "9000")
        #expect(Sim.sw(card, Sim.verifyAPDU("12345678901", p2: "94")) == "6700")  // 照合番号A: 12
        #expect(Sim.sw(card, Sim.verifyAPDU("5502172035228X", p2: "95")) == "6A80")  // 照合番号B: digits
        #expect(Sim.sw(card, Sim.verifyAPDU("123456789018", p2: "94")) == "9000")
        #expect(Sim.sw(card, "00A4040C0A" + Sim.visualAID) == "9000")
        #expect(Sim.sw(card, Sim.verifyAPDU("5502170", p2: "91")) == "6700")  // birth date: 6
        #expect(card.triesLeft(.textA) == 10 && card.triesLeft(.textB) == 10 && card.triesLeft(.visualBirth) == 10)
        // A blocked PIN stays 6984 whatever the format (text AP 0012).
        #expect(Sim.sw(card, "00A4040C0A" + Sim.textAID) == "9000")
        #expect(Sim.sw(card, Sim.verifyAPDU("1", p2: "92")) == "6984")
    }

    // MARK: fci

    @Test func selectAnswersFCIWhenAsked() throws {
        let plain = try Self.card("")
        let card = try Self.card("fci")
        #expect(Sim.send(plain, "00A404000A" + Sim.jpkiAID) == "9000")
        #expect(Sim.send(card, "00A4040C0A" + Sim.jpkiAID) == "9000")
        #expect(Sim.send(card, "00A404000A" + Sim.jpkiAID) == "6F0C840A" + Sim.jpkiAID + "9000")
        #expect(Sim.send(card, "00A404040A" + Sim.jpkiAID) == "620C840A" + Sim.jpkiAID + "9000")
        // EF: size (80: the certificate's length, from the fixture file), descriptor (82), FID (83).
        let certificate = try Data(
            contentsOf: try VirtualMyNumberCard.fixturesCardsDirectory().appendingPathComponent(
                "00-ordinary/jpki/000A.der"))
        let size = String(format: "%04X", certificate.count)
        #expect(Sim.send(card, "00A4020002000A") == "6F0B" + "8002" + size + "820101" + "8302000A" + "9000")
        #expect(Sim.send(card, "00A4020402000A") == "620B" + "8002" + size + "820101" + "8302000A" + "9000")
        #expect(Sim.send(card, "00A4020C02000A") == "9000")
        #expect(Sim.send(card, "00A40200020018") == "6F07" + "820111" + "83020018" + "9000")
        #expect(Sim.send(plain, "00A40200020018") == "9000")
        // With filler the size is the physical one.
        card.behaviour = try CardBehaviour(parsing: "fci,filler")
        #expect(Sim.send(card, "00A4020002000A") == "6F0B" + "80020800" + "820101" + "8302000A" + "9000")
        // Unknown files stay 6A82.
        #expect(Sim.send(card, "00A40200020099") == "6A82")
    }

    // MARK: t0

    @Test func t0AnswersGetResponseAndWrongLengthFromTheTransport() throws {
        let object = try Sim.file("text/0005.bin")
        let card = try Self.card("t0")
        // Case 3 (no response data): 9000 as before.
        #expect(Sim.send(card, "00A4040C0A" + Sim.textAID) == "9000")
        #expect(Sim.send(card, "00A4020C020005") == "9000")
        // Case 2 with the wrong Le: 6Cxx, then the exact Le is served.
        let exact = [UInt8(object.count)].hexString
        #expect(Sim.send(card, "00B0000000") == "6C" + exact)
        #expect(Sim.exchange(card, "00B00000" + exact) == object + [0x90, 0x00])
        // Case 4 (data and Le): 61xx, then GET RESPONSE.
        #expect(Sim.send(card, "00A4040C0A" + Sim.jpkiAID) == "9000")
        #expect(Sim.sw(card, Sim.verifyAPDU("1234", p2: "98")) == "9000")
        let digest = Sim.digestInfo(Array("t0".utf8))
        let sign = "802A0097" + [UInt8(digest.count)].hexString + digest.hexString + "00"
        #expect(Sim.send(card, sign) == "6100")
        let signature = try #require(Sim.exchange(card, "00C0000000"))
        #expect(signature.count == 258 && signature.suffix(2) == [0x90, 0x00])
        let cert = try Sim.file("jpki/000A.der")
        #expect(
            Sim.verifyPKCS1(signature: Array(signature.prefix(256)), signed: digest, certificateDER: cert))
        // More than 256 bytes (extended Le): through GET RESPONSE as well.
        #expect(Sim.send(card, "00A4020C02000A") == "9000")
        #expect(Sim.send(card, "00B00000000412") == "6100")
        // The library's channel copes with all of it.
        let channel = CardChannel(transport: InProcessTransport(card: try Self.card("t0")))
        _ = try channel.send(.selectAID(Sim.jpkiAID))
        _ = try channel.send(.selectEF(0x000A))
        let whole = try channel.send(CommandAPDU(ins: 0xB0, p1: 0, p2: 0, le: 1042))
        #expect(whole.statusWord.value == 0x9000 && whole.data == cert)
        let head = try channel.send(CommandAPDU(ins: 0xB0, p1: 0, p2: 0, le: 256))
        #expect(head.data == Array(cert.prefix(256)))
        #expect(try Sim.card().behaviour.t0 == false)
    }
}
