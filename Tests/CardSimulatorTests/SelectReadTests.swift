import CardSimulator
import Foundation
import SmartCard
import Testing

@Suite("SELECT and READ BINARY / READ RECORD")
struct SelectReadTests {
    @Test func fixtureLoaderFindsAllCards() throws {
        let names = VirtualMyNumberCard.fixtureNames()
        #expect(names.contains("00-ordinary"))
        #expect(names == names.sorted())
        let card = try Sim.card()
        #expect(card.atr == [UInt8](hex: "3BDA13FF8131FB468012392F31C173C601C03B"))
        #expect(throws: CardSimulatorError.unknownFixture("no-such-card")) {
            try VirtualMyNumberCard.fixture("no-such-card")
        }
        #expect(throws: CardSimulatorError.unknownFixture("../x")) {
            try VirtualMyNumberCard.fixture("../x")
        }
    }

    @Test func everyFixtureLoads() throws {
        for name in VirtualMyNumberCard.fixtureNames() {
            let card = try VirtualMyNumberCard.fixture(name)
            #expect(Sim.sw(card, "00A4040C0A" + Sim.jpkiAID) == "9000", "\(name)")
        }
    }

    @Test func brokenProfilesGiveTypedErrors() throws {
        let noATR = try Sim.temporaryCard { $0["atr"] = "XYZ" }
        defer { noATR.remove() }
        do {
            _ = try noATR.load()
            Issue.record("loaded a profile with a bad ATR")
        } catch {
            #expect(error.code == "sim_invalid_profile")
        }
        let badTries = try Sim.temporaryCard {
            var pins = $0["pins"] as? [String: Any] ?? [:]
            pins["auth"] = ["value": "1234", "tries": 4, "maxTries": 3]
            $0["pins"] = pins
        }
        defer { badTries.remove() }
        #expect(throws: CardSimulatorError.self) { try badTries.load() }
        let missingDir = URL(fileURLWithPath: "/nonexistent-jpki-profile")
        do {
            _ = try VirtualMyNumberCard(directory: missingDir)
            Issue.record("loaded a missing directory")
        } catch {
            #expect(error.code == "sim_file_unreadable")
            #expect(error.description.contains("profile.json"))
        }
    }

    @Test func selectApplicationsAndUnknownAIDs() throws {
        let card = try Sim.card()
        for aid in [
            Sim.jpkiAID, Sim.textAID, Sim.visualAID, Sim.jukiAID, Sim.commonAID, "A0000001510000",
        ] {
            #expect(Sim.sw(card, "00A4040C" + Sim.lc(aid) + aid) == "9000", "\(aid)")
        }
        // Unknown AIDs (OpenSC probes: PIV, sc-hsm, a prefix of the JPKI AID).
        #expect(Sim.sw(card, "00A4040009A00000030800001000") == "6A82")
        #expect(Sim.sw(card, "00A4040C0BE82B0601040181C31F0201") == "6A82")
        #expect(Sim.sw(card, "00A4040C05D392F00026") == "6A82")
        // P2=00 (FCI requested): 9000 without FCI.
        #expect(Sim.send(card, "00A404000A" + Sim.jpkiAID) == "9000")
        #expect(Sim.sw(card, "00A404100A" + Sim.jpkiAID) == "6A86")
        #expect(Sim.sw(card, "00A4040C00") == "6700" || Sim.sw(card, "00A4040C00") == "6A82")
    }

    @Test func selectEFAndMF() throws {
        let card = try Sim.card()
        // MF level: 00 A4 00 00 → 6A86, 3F00 → 6A82, EF without an AP → 6A82.
        #expect(Sim.sw(card, "00A40000") == "6A86")
        #expect(Sim.sw(card, "00A4000C023F00") == "6A82")
        #expect(Sim.sw(card, "00A40000023F00") == "6A82")
        #expect(Sim.sw(card, "00A4020C02000A") == "6A82")
        #expect(Sim.sw(card, "00A4040C0A" + Sim.jpkiAID) == "9000")
        #expect(Sim.sw(card, "00A40000") == "9000")
        #expect(Sim.sw(card, "00A4000C023F00") == "6A82")
        for fid in ["0001", "0002", "000A", "000B", "0006", "0008", "0017", "0018", "001A", "001B"]
        {
            #expect(Sim.sw(card, "00A4020C02" + fid) == "9000", "\(fid)")
        }
        #expect(Sim.send(card, "00A4020002000A") == "9000")  // P2=00: no FCI
        #expect(Sim.sw(card, "00A4020C02" + "0003") == "6A82")
        #expect(Sim.sw(card, "00A4020C02" + "2F00") == "6A82")
        #expect(Sim.sw(card, "00A4020C03000A00") == "6700")
        #expect(Sim.sw(card, "00A4020402000A") == "6A86")
        #expect(Sim.sw(card, "00A4080C02000A") == "6A86")
        // The ISD returns to the MF level.
        #expect(Sim.sw(card, "00A4040C07A0000001510000") == "9000")
        #expect(Sim.sw(card, "00A40000") == "6A86")
        #expect(Sim.sw(card, "00A4020C02000A") == "6A82")
    }

    @Test func readCertificatesThroughChannel() throws {
        let card = try Sim.card()
        let channel = CardChannel(transport: InProcessTransport(card: card))
        #expect(try channel.send(.selectAID(Sim.jpkiAID)).statusWord.isSuccess)
        for (fid, file) in [
            (0x000A, "jpki/000A.der"), (0x000B, "jpki/000B.der"), (0x0002, "jpki/0002.der"),
        ] {
            #expect(try channel.send(.selectEF(UInt16(fid))).statusWord.isSuccess)
            // OpenSC style: 4-byte header, then 256-byte chunks.
            let head = try channel.send(CommandAPDU(ins: 0xB0, p1: 0, p2: 0, le: 4))
            #expect(head.statusWord.isSuccess)
            #expect(head.data.count == 4 && head.data[0] == 0x30 && head.data[1] == 0x82)
            let size = (Int(head.data[2]) << 8 | Int(head.data[3])) + 4
            let expected = try Sim.file(file)
            #expect(size == expected.count)
            #expect(try Sim.readAll(channel) == expected)
            // Extended Le: everything in one APDU.
            let one = try channel.send(CommandAPDU(ins: 0xB0, p1: 0, p2: 0, le: 65_536))
            #expect(one.statusWord.isSuccess)
            #expect(one.data == expected)
            let exact = try channel.send(CommandAPDU(ins: 0xB0, p1: 0, p2: 0, le: expected.count))
            #expect(exact.data == expected)
        }
    }

    @Test func readBinaryOffsetsEOFAndSFI() throws {
        let card = try Sim.card()
        let cert = try Sim.file("jpki/000A.der")
        #expect(Sim.sw(card, "00B0000004") == "6986")  // no AP, no EF
        #expect(Sim.sw(card, "00A4040C0A" + Sim.jpkiAID) == "9000")
        #expect(Sim.sw(card, "00B0000004") == "6986")  // no EF
        // SFI form: P1 = 80|0A, P2 = 8-bit offset.
        #expect(Sim.send(card, "00B08A0010") == (Array(cert[0..<16]).hexString + "9000"))
        #expect(Sim.send(card, "00B08A2008") == (Array(cert[0x20..<0x28]).hexString + "9000"))
        // SFI made 000A current: 15-bit offsets now work.
        let last = cert.count - 10
        let p1p2 = [UInt8(last >> 8), UInt8(last & 0xFF)].hexString
        // Le beyond the end: the remaining bytes and 9000.
        #expect(Sim.send(card, "00B0" + p1p2 + "00") == (Array(cert[last...]).hexString + "9000"))
        let end = [UInt8(cert.count >> 8), UInt8(cert.count & 0xFF)].hexString
        #expect(Sim.send(card, "00B0" + end + "01") == "6B00")
        #expect(Sim.send(card, "00B07FFF01") == "6B00")
        // Extended Le with offset.
        #expect(Sim.send(card, "00B00100000100") == (Array(cert[256..<512]).hexString + "9000"))
        // Bad SFI encodings / unknown SFI.
        #expect(Sim.sw(card, "00B0C00000") == "6A86")
        #expect(Sim.sw(card, "00B0800000") == "6A86")
        #expect(Sim.sw(card, "00B0830000") == "6A82")
        // Token info and 0008 through SFI.
        #expect(Sim.send(card, "00B0880000") == "8F8F009000")
        let token = try Sim.file("jpki/0006.bin")
        #expect(Sim.send(card, "00B0860020") == Array(token[0..<32]).hexString + "9000")
        #expect(String(decoding: token[0..<15], as: UTF8.self) == "JPKIAPICCTOKEN2")
        // Key and PIN EFs cannot be read.
        #expect(Sim.sw(card, "00A4020C020017") == "9000")
        #expect(Sim.sw(card, "00B0000000") == "6981")
        #expect(Sim.sw(card, "00B0980000") == "6981")
        // No Le → 6700.
        #expect(Sim.sw(card, "00B08A00") == "6700")
    }

    @Test func signCertificateNeedsSignPIN() throws {
        let card = try Sim.card()
        #expect(Sim.sw(card, "00A4040C0A" + Sim.jpkiAID) == "9000")
        #expect(Sim.sw(card, "00A4020C020001") == "9000")
        #expect(Sim.sw(card, "00B0000004") == "6982")
        #expect(Sim.sw(card, "00B0810004") == "6982")
        // The auth PIN does not open it.
        #expect(Sim.sw(card, "00A4020C020018") == "9000")
        #expect(Sim.sw(card, Sim.verifyAPDU("1234")) == "9000")
        #expect(Sim.sw(card, "00B0810004") == "6982")
        #expect(Sim.sw(card, Sim.verifyAPDU("ABC123", p2: "9B")) == "9000")
        let signCert = try Sim.file("jpki/0001.der")
        #expect(Sim.send(card, "00B0810004") == Array(signCert[0..<4]).hexString + "9000")
        // A reset drops the security state.
        card.reset()
        #expect(Sim.sw(card, "00A4040C0A" + Sim.jpkiAID) == "9000")
        #expect(Sim.sw(card, "00B0810004") == "6982")
        // Re-selecting the AP drops it too.
        #expect(Sim.sw(card, Sim.verifyAPDU("ABC123", p2: "9B")) == "9000")
        #expect(Sim.sw(card, "00A4040C0A" + Sim.jpkiAID) == "9000")
        #expect(Sim.sw(card, "00B0810004") == "6982")
        #expect(card.triesLeft(.sign) == 5)
    }

    @Test func textAPAccessRules() throws {
        let card = try Sim.card()
        let myNumber = try Sim.file("text/0001.bin")
        let basic4 = try Sim.file("text/0002.bin")
        #expect(Sim.sw(card, "00A4040C0A" + Sim.textAID) == "9000")
        for fid in ["0001", "0002", "0003"] {
            #expect(Sim.sw(card, "00A4020C02" + fid) == "9000")
            #expect(Sim.sw(card, "00B0000000") == "6982", "\(fid)")
        }
        for fid in ["0004", "0005"] {
            #expect(Sim.sw(card, "00A4020C02" + fid) == "9000")
            #expect(Sim.sw(card, "00B0000000") == "9000", "\(fid)")
        }
        // 照合番号B opens 0002 only.
        #expect(Sim.sw(card, Sim.verifyAPDU("55021720352285", p2: "95")) == "9000")
        #expect(Sim.send(card, "00B0820000") == basic4.hexString + "9000")
        #expect(Sim.sw(card, "00B0810000") == "6982")
        // 照合番号A opens 0001 (browser-extension style read of the 12 digits).
        #expect(Sim.sw(card, Sim.verifyAPDU("123456789018", p2: "94")) == "9000")
        #expect(Sim.send(card, "00B081030C") == Array(myNumber[3..<15]).hexString + "9000")
        // The text PIN opens everything.
        #expect(Sim.sw(card, "00A4040C0A" + Sim.textAID) == "9000")
        #expect(Sim.sw(card, "00B0810000") == "6982")
        #expect(Sim.sw(card, Sim.verifyAPDU("1234", p2: "91")) == "9000")
        #expect(Sim.send(card, "00B0810011") == myNumber.hexString + "9000")
        #expect(Sim.send(card, "00B0820000") == basic4.hexString + "9000")
        #expect(Sim.sw(card, "00B0830000") == "9000")
    }

    @Test func visualAPAccessRules() throws {
        let card = try Sim.card()
        let face = try Sim.file("visual/0002.bin")
        #expect(Sim.sw(card, "00A4040C0A" + Sim.visualAID) == "9000")
        #expect(Sim.sw(card, "00B0820000") == "6982")
        #expect(Sim.sw(card, "00B0850000") == "6982")
        #expect(Sim.sw(card, "00B0810000") == "6982")
        #expect(Sim.sw(card, "00B0830000") == "9000")
        #expect(Sim.sw(card, "00B0840000") == "9000")
        // B opens 0002 but not 0005.
        #expect(Sim.sw(card, Sim.verifyAPDU("55021720352285", p2: "92")) == "9000")
        #expect(Sim.sw(card, "00A4020C020002") == "9000")
        #expect(
            Sim.send(card, "00B0820000" + "0000").map { String($0.dropLast(4)) } == face.hexString)
        #expect(Sim.sw(card, "00B0850000") == "6982")
        // A opens 0005; the birth-date key opens 0001.
        #expect(Sim.sw(card, Sim.verifyAPDU("123456789018", p2: "93")) == "9000")
        #expect(Sim.sw(card, "00B0850000") == "9000")
        #expect(Sim.sw(card, "00B0810000") == "6982")
        #expect(Sim.sw(card, Sim.verifyAPDU("550217", p2: "91")) == "9000")
        #expect(Sim.sw(card, "00B0810000") == "9000")
    }

    @Test func commonAPReadRecord() throws {
        let card = try Sim.card()
        let record = try Sim.file("common/record1.bin")
        #expect(Sim.sw(card, "00A4040C0A" + Sim.commonAID) == "9000")
        #expect(Sim.sw(card, "00B2010400") == "6986")  // no current EF
        #expect(Sim.send(card, "00B2010C00") == record.hexString + "9000")  // SFI 1
        #expect(Sim.send(card, "00B2010400") == record.hexString + "9000")  // now current
        #expect(Sim.sw(card, "00B2020400") == "6A83")
        #expect(Sim.sw(card, "00B2000400") == "6A83")
        #expect(Sim.sw(card, "00B2010405") == "6C" + [UInt8(record.count)].hexString)
        #expect(Sim.sw(card, "00B2010500") == "6A81")
        #expect(Sim.sw(card, "00B2011400") == "6A82")
        #expect(Sim.sw(card, "00B0000000") == "6981")  // READ BINARY on a record EF
        #expect(Sim.sw(card, "00A4040C0A" + Sim.jpkiAID) == "9000")
        #expect(Sim.sw(card, "00B2010C00") == "6981")  // JPKI 0001 is transparent
        #expect(record.count == 30 && record[0] == 0x01 && record[1] == 0x1C)
    }
}
