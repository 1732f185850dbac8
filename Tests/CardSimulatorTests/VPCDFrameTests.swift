import CardSimulator
import Testing

/// The I/O-free vpcd framing (also fuzzed: fuzz/targets/vpcd.swift).
@Suite("vpcd framing")
struct VPCDFrameTests {
    static let stream: [UInt8] =
        [0, 1, 0x01] + [0, 1, 0x04] + [0, 5, 0x00, 0xA4, 0x04, 0x0C, 0x00] + [0, 1, 0x09] + [0, 1, 0x00]
    static let messages: [VPCDMessage] = [
        .powerOn, .getATR, .apdu([0x00, 0xA4, 0x04, 0x0C, 0x00]), .unknownControl(0x09), .powerOff,
    ]

    static func drain(_ d: inout VPCDFrameDecoder) throws -> [VPCDMessage] {
        var out: [VPCDMessage] = []
        while let m = try d.next() { out.append(m) }
        return out
    }

    @Test("any split of the byte stream gives the same messages")
    func splits() throws {
        for size in 1...Self.stream.count {
            var d = VPCDFrameDecoder()
            var got: [VPCDMessage] = []
            var i = 0
            while i < Self.stream.count {
                let n = min(size, Self.stream.count - i)
                d.append(Self.stream[i..<i + n])
                i += n
                got += try Self.drain(&d)
            }
            #expect(got == Self.messages, "chunks of \(size)")
            #expect(d.bufferedByteCount == 0)
        }
    }

    @Test("a zero-length frame is an error; frames longer than 65,535 bytes cannot be built")
    func errors() throws {
        var d = VPCDFrameDecoder()
        d.append([0, 0, 0, 1, 0x04])
        #expect(throws: VPCDFrameError.emptyFrame) { try d.next() }
        #expect(throws: VPCDFrameError.payloadTooLong(65_536)) {
            try VPCDFrameDecoder.frame([UInt8](repeating: 0, count: 65_536))
        }
        #expect(try VPCDFrameDecoder.frame([0x3B, 0x00]) == [0, 2, 0x3B, 0x00])
        // An incomplete frame waits for more bytes.
        var partial = VPCDFrameDecoder()
        partial.append([0, 3, 0xAA])
        #expect(try partial.next() == nil)
        partial.append([0xBB, 0xCC])
        #expect(try partial.next() == .apdu([0xAA, 0xBB, 0xCC]))
    }
}
