import CardSimulator
import Foundation
import SmartCard
import Testing

@Suite("Fault injection")
struct FaultTests {
    @Test func parsing() throws {
        let spec = try FaultSpec(
            parsing: "chunk61:16, wrongle,slow:5,remove-after:9,garbage:3,truncate:4")
        #expect(spec.chunk61 == 16)
        #expect(spec.wrongLe)
        #expect(spec.slowMilliseconds == 5)
        #expect(spec.removeAfter == 9)
        #expect(spec.garbageAt == 3)
        #expect(spec.truncateAt == 4)
        #expect(try FaultSpec(parsing: spec.description) == spec)
        #expect(try FaultSpec(parsing: "").isEmpty)
        let bad: [(String, String)] = [
            ("chunk61", "needs a number"), ("chunk61:0", "1...256"), ("chunk61:257", "1...256"),
            ("chunk61:x", "whole number"), ("wrongle:3", "no argument"), ("slow:-1", "0...60000"),
            ("remove-after:0", "whole number"), ("garbage", "needs a number"),
            ("bogus:1", "unknown fault"),
            ("slow:1,slow:2", "more than once"), ("slow:1,,wrongle", "empty item"),
        ]
        for (text, reason) in bad {
            do {
                _ = try FaultSpec(parsing: text)
                Issue.record("accepted \(text)")
            } catch {
                #expect(error.code == "sim_invalid_fault")
                #expect(error.description.contains(reason), "\(text): \(error.description)")
            }
        }
    }

    @Test func chunk61RawAndThroughChannel() throws {
        let card = try Sim.card(faults: try FaultSpec(parsing: "chunk61:100"))
        let cert = try Sim.file("jpki/000A.der")
        #expect(Sim.send(card, "00A4040C0A" + Sim.jpkiAID) == "9000")  // no data: no chaining
        #expect(Sim.send(card, "00A4020C02000A") == "9000")
        #expect(Sim.send(card, "00B0000000") == "6164")  // 256 bytes waiting, 100 per chunk
        #expect(Sim.send(card, "00C0000064") == Array(cert[0..<100]).hexString + "6164")
        #expect(Sim.send(card, "00C0000010") == Array(cert[100..<116]).hexString + "6164")
        #expect(Sim.send(card, "00C0000064") == Array(cert[116..<216]).hexString + "6128")
        #expect(Sim.send(card, "00C0000028") == Array(cert[216..<256]).hexString + "9000")
        #expect(Sim.send(card, "00C0000028") == "6985")
        // Another command discards waiting data.
        #expect(Sim.send(card, "00B0000004") == "6104")
        #expect(Sim.send(card, "00A4020C02000B") == "9000")
        #expect(Sim.send(card, "00C0000004") == "6985")
        // Errors are not chained.
        #expect(Sim.send(card, "00B07FFF00") == "6B00")

        // CardChannel follows the chain transparently: whole certificate, signature.
        let card2 = try Sim.card(faults: try FaultSpec(parsing: "chunk61:7"))
        let channel = CardChannel(transport: InProcessTransport(card: card2))
        #expect(try channel.send(.selectAID(Sim.jpkiAID)).statusWord.isSuccess)
        #expect(try channel.send(.selectEF(0x000A)).statusWord.isSuccess)
        let before = channel.apduCount
        #expect(try Sim.readAll(channel) == cert)
        #expect(channel.apduCount - before > cert.count / 7)
        #expect(
            try channel.send(CommandAPDU(ins: 0x20, p1: 0, p2: 0x98, data: Array("1234".utf8)))
                .statusWord
                .isSuccess)
        let info = Sim.digestInfo([7])
        let r = try channel.send(
            CommandAPDU(cla: 0x80, ins: 0x2A, p1: 0, p2: 0x97, data: info, le: 256))
        #expect(r.statusWord.isSuccess)
        #expect(Sim.verifyPKCS1(signature: r.data, signed: info, certificateDER: cert))
    }

    @Test func wrongLeRawAndThroughChannel() throws {
        let card = try Sim.card(faults: try FaultSpec(parsing: "wrongle"))
        let myNumberFree = try Sim.file("jpki/0008.bin")
        #expect(Sim.send(card, "00A4040C0A" + Sim.jpkiAID) == "9000")
        #expect(Sim.send(card, "00B0880000") == "6C03")
        #expect(Sim.send(card, "00B0880003") == myNumberFree.hexString + "9000")
        #expect(Sim.send(card, "00B0880002") == "8F8F9000")  // fewer than available: served
        #expect(Sim.send(card, "00B0880010") == "6C03")
        #expect(Sim.send(card, "00B08800000010") == "6C03")  // extended Le too
        #expect(Sim.send(card, "00B0880300") == "6B00")
        #expect(Sim.send(card, "00A4020C020008") == "9000")  // case 3: untouched

        let card2 = try Sim.card(faults: try FaultSpec(parsing: "wrongle"))
        let channel = CardChannel(transport: InProcessTransport(card: card2))
        #expect(try channel.send(.selectAID(Sim.textAID)).statusWord.isSuccess)
        #expect(
            try channel.send(CommandAPDU(ins: 0x20, p1: 0, p2: 0x91, data: Array("1234".utf8)))
                .statusWord
                .isSuccess)
        let before = channel.apduCount
        let r = try channel.send(CommandAPDU(ins: 0xB0, p1: 0x81, p2: 0, le: 256))
        #expect(r.statusWord.isSuccess)
        #expect(r.data == (try Sim.file("text/0001.bin")))
        #expect(channel.apduCount - before == 2)  // 6C11 then the re-send
        let basic4 = try Sim.file("text/0002.bin")
        let b = try channel.send(CommandAPDU(ins: 0xB0, p1: 0x82, p2: 0, le: 256))
        #expect(b.data == basic4)
    }

    @Test func chunk61AndWrongLeTogether() throws {
        let card = try Sim.card(faults: try FaultSpec(parsing: "wrongle,chunk61:5"))
        let channel = CardChannel(transport: InProcessTransport(card: card))
        #expect(try channel.send(.selectAID(Sim.jpkiAID)).statusWord.isSuccess)
        let r = try channel.send(CommandAPDU(ins: 0xB0, p1: 0x86, p2: 0, le: 256))
        #expect(r.statusWord.isSuccess)
        #expect(r.data == (try Sim.file("jpki/0006.bin")))
    }

    @Test func removeAfter() throws {
        let card = try Sim.card(faults: try FaultSpec(parsing: "remove-after:3"))
        let channel = CardChannel(transport: InProcessTransport(card: card))
        #expect(try channel.send(.selectAID(Sim.jpkiAID)).statusWord.isSuccess)
        #expect(try channel.send(.selectEF(0x000A)).statusWord.isSuccess)
        #expect(throws: SmartCardError.cardRemoved) {
            try channel.send(CommandAPDU(ins: 0xB0, p1: 0, p2: 0, le: 4))
        }
        #expect(card.process([0x00, 0xA4, 0x04, 0x0C]) == nil)
        card.powerOn()
        #expect(card.process([0x00, 0xA4, 0x04, 0x0C]) == nil)
    }

    @Test func garbageAndTruncate() throws {
        let card = try Sim.card(faults: try FaultSpec(parsing: "garbage:2,truncate:4"))
        let select = try #require([UInt8](hex: "00A4040C0A" + Sim.jpkiAID))
        #expect(card.process(select) == [0x90, 0x00])
        let garbage = try #require(card.process(select))
        #expect(garbage.count >= 2 && garbage.count <= 64)
        #expect(garbage[garbage.count - 2] <= 0x5F)  // never a valid SW1
        #expect(card.process(select) == [0x90, 0x00])
        let truncated = try #require(card.process(select))
        #expect(truncated.count == 1)
        #expect(card.process(select) == [0x90, 0x00])
        #expect(card.commandsReceived == 5)

        // Through a channel: the truncated response is a typed format error.
        let card2 = try Sim.card(faults: try FaultSpec(parsing: "truncate:1"))
        let channel = CardChannel(transport: InProcessTransport(card: card2))
        #expect(throws: SmartCardError.format(.tooShort(1))) {
            try channel.send(.selectAID(Sim.jpkiAID))
        }
    }

    @Test func slow() throws {
        let card = try Sim.card(faults: try FaultSpec(parsing: "slow:40"))
        let select = try #require([UInt8](hex: "00A4040C0A" + Sim.jpkiAID))
        let clock = ContinuousClock()
        let elapsed = clock.measure {
            for _ in 0..<3 { _ = card.process(select) }
        }
        #expect(elapsed >= .milliseconds(120))
        card.faults = FaultSpec()
        let fast = clock.measure { _ = card.process(select) }
        #expect(fast < .milliseconds(40))
    }
}
