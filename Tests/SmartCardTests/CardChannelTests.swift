import Testing

@testable import SmartCard

@Suite("Card channel: 61xx/6Cxx, traces, transactions")
struct CardChannelTests {
    func steps(_ pairs: [(String, String)]) -> [ScriptedTransport.Step] {
        pairs.map { ScriptedTransport.Step(command: [UInt8](hex: $0.0)!, response: [UInt8](hex: $0.1)!) }
    }

    @Test("61xx is followed with GET RESPONSE until the data is complete")
    func getResponseChaining() throws {
        let t = ScriptedTransport(
            steps([
                ("00B0000000", "0102" + "6103"),
                ("00C0000003", "030405" + "6100"),
                ("00C0000000", String(repeating: "AA", count: 256) + "9000"),
            ]))
        let ch = CardChannel(transport: t)
        let r = try ch.send(CommandAPDU(ins: 0xB0, p1: 0, p2: 0, le: 256))
        #expect(r.statusWord == .success)
        #expect(r.data.count == 2 + 3 + 256)
        #expect(Array(r.data.prefix(5)) == [1, 2, 3, 4, 5])
        #expect(ch.apduCount == 3)
        #expect(t.isComplete)
    }

    @Test("6Cxx re-sends once with the right Le")
    func wrongLengthResend() throws {
        let t = ScriptedTransport(steps([("00B0000004", "6C02"), ("00B0000002", "30829000")]))
        let ch = CardChannel(transport: t)
        let r = try ch.send(CommandAPDU(ins: 0xB0, p1: 0, p2: 0, le: 4))
        #expect(r.data == [0x30, 0x82] && r.statusWord == .success)
        #expect(t.isComplete && ch.apduCount == 2)
    }

    @Test("6Cxx answered to GET RESPONSE is handled too")
    func wrongLengthInsideChain() throws {
        let t = ScriptedTransport(
            steps([("80CA000000", "6104"), ("00C0000004", "6C03"), ("00C0000003", "0A0B0C9000")]))
        let ch = CardChannel(transport: t)
        let r = try ch.send(CommandAPDU(cla: 0x80, ins: 0xCA, p1: 0, p2: 0, le: 256))
        #expect(r.data == [0x0A, 0x0B, 0x0C])
        #expect(t.isComplete)
    }

    @Test("a card that keeps answering 61xx or 6Cxx hits a typed limit")
    func chainingLimits() {
        var loop: [(String, String)] = [("00B0000000", "6101")]
        for _ in 0..<20 { loop.append(("00C0000001", "006101")) }
        let t = ScriptedTransport(steps(loop))
        let ch = CardChannel(transport: t)
        ch.maxChainingRounds = 10
        #expect(throws: SmartCardError.chainingLimitExceeded) {
            try ch.send(CommandAPDU(ins: 0xB0, p1: 0, p2: 0, le: 256))
        }
        let t2 = ScriptedTransport(steps([("00B0000004", "6C02"), ("00B0000002", "6C05")]))
        #expect(throws: SmartCardError.chainingLimitExceeded) {
            try CardChannel(transport: t2).send(CommandAPDU(ins: 0xB0, p1: 0, p2: 0, le: 4))
        }
    }

    @Test("malformed responses are typed errors")
    func malformedResponse() {
        let t = ScriptedTransport([ScriptedTransport.Step(command: [0, 0xB0, 0, 0, 1], response: [0x90])])
        #expect(throws: SmartCardError.format(.tooShort(1))) {
            try CardChannel(transport: t).send(CommandAPDU(ins: 0xB0, p1: 0, p2: 0, le: 1))
        }
    }

    @Test("extended commands are refused on transports without extended length")
    func extendedRefused() {
        let t = ScriptedTransport([], supportsExtendedLength: false)
        #expect(throws: SmartCardError.format(.extendedLengthNotAllowed)) {
            try CardChannel(transport: t).send(CommandAPDU(ins: 0xB0, p1: 0, p2: 0, le: 1000))
        }
        #expect(t.sent.isEmpty)
    }

    @Test("traces redact VERIFY data and sensitive responses, keep the rest")
    func traceRedaction() throws {
        let t = ScriptedTransport(
            steps([
                ("002000800431323334", "9000"),
                ("00B0000000", "FF20" + "6102"),
                ("00C0000002", "41429000"),
                ("00A4020C02000A", "9000"),
            ]))
        let trace = APDUTrace()
        let ch = CardChannel(transport: t, trace: trace)
        _ = try ch.send(CommandAPDU(ins: 0x20, p1: 0, p2: 0x80, data: Array("1234".utf8)))
        let id = try ch.send(CommandAPDU(ins: 0xB0, p1: 0, p2: 0, le: 256), sensitivity: .responseData)
        #expect(id.data == [0xFF, 0x20, 0x41, 0x42])
        _ = try ch.send(CommandAPDU(ins: 0xA4, p1: 2, p2: 0x0C, data: [0, 0x0A]))
        let text = trace.recorded.joined(separator: "\n")
        #expect(trace.recorded.first == "> 0020008004********")
        #expect(!text.contains("31323334"))
        #expect(!text.contains("FF20") && !text.contains("4142"))
        #expect(text.contains("[2 bytes redacted] 6102"))
        #expect(text.contains("> 00A4020C02000A"))
        #expect(trace.recorded.count == 8)
    }

    @Test("transactions nest and always end")
    func transactions() throws {
        let t = ScriptedTransport([])
        let ch = CardChannel(transport: t)
        struct Boom: Error {}
        try ch.transaction { ch in
            try ch.transaction { _ in }
        }
        #expect(t.transactionLog == ["begin", "end"])
        #expect(throws: Boom.self) { try ch.transaction { _ in throw Boom() } }
        #expect(t.transactionLog == ["begin", "end", "begin", "end"])
    }

    @Test("transcripts parse into scripted steps")
    func transcriptParsing() throws {
        let t = try #require(
            ScriptedTransport(transcript: "# select\n> 00A4040C0AD392F000260100000001\n< 9000\n"))
        _ = try CardChannel(transport: t).send(
            CommandAPDU(ins: 0xA4, p1: 4, p2: 0x0C, data: [UInt8](hex: "D392F000260100000001")!))
        #expect(t.isComplete)
        #expect(ScriptedTransport(transcript: "> 00\n> 01\n") == nil)
        #expect(ScriptedTransport(transcript: "< 9000\n") == nil)
    }
}
