import Testing

@testable import SmartCard
@testable import SmartCardPCSC

@Suite("APDU codec")
struct APDUCodecTests {
    static let roundTrips: [(CommandAPDU, String)] = [
        (CommandAPDU(ins: 0x20, p1: 0, p2: 0x80), "00200080"),
        (CommandAPDU(ins: 0xB0, p1: 0, p2: 0, le: 4), "00B0000004"),
        (CommandAPDU(ins: 0xB0, p1: 0, p2: 0, le: 256), "00B0000000"),
        (CommandAPDU(ins: 0xA4, p1: 2, p2: 0x0C, data: [0x00, 0x0A]), "00A4020C02000A"),
        (CommandAPDU(cla: 0x80, ins: 0x2A, p1: 0, p2: 0x80, data: [1, 2, 3], le: 256), "802A00800301020300"),
        (CommandAPDU(ins: 0xB0, p1: 0x8A, p2: 4, le: 65_536), "00B08A04000000"),
        (CommandAPDU(ins: 0xB0, p1: 0, p2: 4, le: 1000), "00B000040003E8"),
        (CommandAPDU(ins: 0xB0, p1: 0, p2: 0, le: 4, forceExtended: true), "00B00000000004"),
        (CommandAPDU(ins: 0xDA, p1: 0, p2: 0, data: [7], forceExtended: true), "00DA000000000107"),
        (CommandAPDU(ins: 0x2A, p1: 0, p2: 0, data: [7], le: 65_536), "002A00000000010700 00"),
    ]

    @Test("encode and decode round trip", arguments: 0..<roundTrips.count)
    func roundTrip(_ index: Int) throws {
        let (command, hex) = Self.roundTrips[index]
        let expected = try #require([UInt8](hex: hex))
        #expect(try command.encoded() == expected)
        let decoded = try CommandAPDU(decoding: expected)
        #expect(decoded.cla == command.cla && decoded.ins == command.ins)
        #expect(decoded.p1 == command.p1 && decoded.p2 == command.p2)
        #expect(decoded.data == command.data)
        #expect(decoded.le == command.le)
        #expect(try decoded.encoded() == expected)
    }

    @Test("cases are classified")
    func cases() {
        #expect(CommandAPDU(ins: 1, p1: 0, p2: 0).apduCase == .case1)
        #expect(CommandAPDU(ins: 1, p1: 0, p2: 0, le: 1).apduCase == .case2)
        #expect(CommandAPDU(ins: 1, p1: 0, p2: 0, data: [1]).apduCase == .case3)
        #expect(CommandAPDU(ins: 1, p1: 0, p2: 0, data: [1], le: 1).apduCase == .case4)
    }

    @Test("long data switches to extended form")
    func longData() throws {
        let data = [UInt8](repeating: 0xAB, count: 300)
        let bytes = try CommandAPDU(ins: 0xD6, p1: 0, p2: 0, data: data).encoded()
        #expect(Array(bytes[4..<7]) == [0x00, 0x01, 0x2C])
        #expect(bytes.count == 7 + 300)
        let back = try CommandAPDU(decoding: bytes)
        #expect(back.data == data && back.le == nil)
    }

    static let malformed: [(String, APDUFormatError)] = [
        ("", .tooShort(0)),
        ("00A404", .tooShort(3)),
        ("00A4040C05AABB", .inconsistentLength(7)),  // short Lc 5, only 2 bytes
        ("00A4040C01AABBCC", .inconsistentLength(8)),  // short Lc 1, then 2 extra bytes
        ("00B000000000", .inconsistentLength(6)),  // 00 + one byte: neither short nor extended
        ("00DA00000000000102", .zeroExtendedLc),
        ("00DA000000000301", .inconsistentLength(8)),  // extended Lc 3, 1 byte
    ]

    @Test("malformed commands are rejected with typed errors", arguments: 0..<malformed.count)
    func rejectsMalformed(_ index: Int) throws {
        let (hex, error) = Self.malformed[index]
        let bytes = try #require([UInt8](hex: hex))
        #expect(throws: error) { try CommandAPDU(decoding: bytes) }
    }

    @Test("encoding rejects impossible lengths")
    func encodeLimits() {
        #expect(throws: APDUFormatError.invalidLe(0)) {
            try CommandAPDU(ins: 0xB0, p1: 0, p2: 0, le: 0).encoded()
        }
        #expect(throws: APDUFormatError.invalidLe(65_537)) {
            try CommandAPDU(ins: 0xB0, p1: 0, p2: 0, le: 65_537).encoded()
        }
        #expect(throws: APDUFormatError.dataTooLong(65_536)) {
            try CommandAPDU(ins: 0xD6, p1: 0, p2: 0, data: [UInt8](repeating: 0, count: 65_536)).encoded()
        }
    }

    @Test("responses decode and reject fewer than two bytes")
    func responses() throws {
        let r = try ResponseAPDU(decoding: [0x01, 0x02, 0x90, 0x00])
        #expect(r.data == [1, 2] && r.statusWord == .success && r.statusWord.isSuccess)
        #expect(r.encoded == [0x01, 0x02, 0x90, 0x00])
        #expect(throws: APDUFormatError.tooShort(1)) { try ResponseAPDU(decoding: [0x90]) }
        #expect(throws: APDUFormatError.tooShort(0)) { try ResponseAPDU(decoding: []) }
    }

    @Test("decoder never traps on random input")
    func randomInput() {
        var rng = SplitMix64(seed: 0x5EED)
        for _ in 0..<20_000 {
            let n = Int(rng.next() % 12) + (rng.next() % 4 == 0 ? Int(rng.next() % 300) : 0)
            let bytes = (0..<n).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            do {
                let c = try CommandAPDU(decoding: bytes)
                // Whatever decodes must encode back to the same bytes.
                #expect(try c.encoded() == bytes)
            } catch {
                // Typed rejection is the only other outcome.
            }
        }
    }

    @Test("status words carry their meaning")
    func statusWords() {
        #expect(StatusWord(0x6110).bytesAvailable == 16)
        #expect(StatusWord(0x6100).bytesAvailable == 256)
        #expect(StatusWord(0x6C0A).correctLength == 10)
        #expect(StatusWord(0x63C2).retriesLeft == 2)
        #expect(StatusWord(0x63C0).retriesLeft == 0)
        #expect(StatusWord(0x6300).retriesLeft == nil)
        #expect(StatusWord(0x9000).retriesLeft == nil)
        #expect(StatusWord(0x6982).meaning == "security status not satisfied")
        #expect(StatusWord(0x6984).meaning.contains("blocked"))
        #expect(StatusWord(0x6A82).meaning.contains("not found"))
        for sw: UInt16 in [0x9000, 0x6983, 0x6A86, 0x6B00, 0x6D00, 0x6E00] {
            #expect(StatusWord(sw).meaning != "unknown status")
        }
        #expect(StatusWord(0x6A82).description == "6A82")
    }

    @Test("hex parsing")
    func hex() {
        #expect([UInt8](hex: "00 a4:0C") == [0x00, 0xA4, 0x0C])
        #expect([UInt8](hex: "0") == nil)
        #expect([UInt8](hex: "zz") == nil)
        #expect([UInt8](0...3).hexString == "00010203")
    }

    @Test("PC/SC multi-strings split into reader names")
    func multiString() {
        let raw = Array("A\0B C\0\0".utf8CString.dropLast()).map { $0 }
        #expect(parseMultiString(raw) == ["A", "B C"])
        #expect(parseMultiString([0]) == [])
    }

    @Test("PC/SC errors keep their names")
    func pcscErrors() {
        #expect(PCSCError(rc: 0x8010_001D, function: "f").name == "SCARD_E_NO_SERVICE")
        #expect(PCSCError(rc: 0x8010_0069, function: "f").name == "SCARD_W_REMOVED_CARD")
        #expect(PCSCError(rc: 0x8010_002E, function: "f").name == "SCARD_E_NO_READERS_AVAILABLE")
        #expect(PCSCError(rc: 0x8010_0099, function: "f").name == "SCARD_0x80100099")
        let busy = PCSCError(rc: 0x8010_000B, function: "f").serviceError
        #expect(SmartCardError.service(busy).code == "SCARD_E_SHARING_VIOLATION" && busy.isTransient)
        #expect(!PCSCError(rc: PCSCError.eNoService, function: "f").serviceError.isTransient)
    }
}

/// A small deterministic RNG for property tests.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
