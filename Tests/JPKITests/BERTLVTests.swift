import JPKI
import Testing

@Suite("BER-TLV parser")
struct BERTLVTests {
    @Test func parsesNestedStructure() throws {
        let bytes = h("FF2009DF2102000EDF220131")
        let tlv = try BERTLV.parse(bytes)
        #expect(tlv.tag == 0xFF20)
        #expect(tlv.isConstructed)
        let kids = try tlv.children()
        #expect(kids.map(\.tag) == [0xDF21, 0xDF22])
        #expect(kids[1].value == [0x31])
        #expect(kids[1].encoded == h("DF220131"))
        #expect(tlv.encoded == bytes)
    }

    @Test func lengthForms() throws {
        #expect(try BERTLV.parse(h("0401AA")).value == [0xAA])
        #expect(try BERTLV.parse(h("0481 01 AA")).value == [0xAA])
        #expect(try BERTLV.parse(h("048200 01 AA")).value == [0xAA])
        #expect(try BERTLV.parse(h("04830000 01 AA")).value == [0xAA])
        let header = try BERTLV.parseHeader(h("3082040E"))
        #expect(header.tag == 0x30 && header.headerLength == 4 && header.valueLength == 0x40E)
        #expect(try BERTLV.parseHeader(h("3081 80")).totalLength == 3 + 128)
        #expect(try BERTLV.parseHeader(h("3005")).totalLength == 7)
    }

    @Test func threeByteTagAccepted() throws {
        let t = try BERTLV.parse(h("5F810101AA"))
        #expect(t.tag == 0x5F8101)
        #expect(t.value == [0xAA])
        #expect(try BERTLV.parse(h("DF2101AA")).tag == 0xDF21)
    }

    @Test(arguments: [
        ("", "empty"),
        ("04", "truncated_length"),
        ("1F", "truncated_tag"),
        ("1F81", "truncated_tag"),
        ("1F818101", "tag_too_long"),
        ("5F81818101AA", "tag_too_long"),
        ("0480", "indefinite_length"),
        ("3080AABB0000", "indefinite_length"),
        ("0484000000010A", "length_of_length_too_large"),
        ("04FF", "length_of_length_too_large"),
        ("0482", "truncated_length"),
        ("048201", "truncated_length"),
        ("0405AABB", "length_past_end"),
        ("0483FFFFFF00", "length_past_end"),
        ("0401AA00", "trailing_data"),
        ("0401AAFFFF", "trailing_data"),
    ])
    func rejectsMalformed(hex: String, code: String) {
        do {
            _ = try BERTLV.parse(h(hex))
            Issue.record("accepted malformed input \(hex)")
        } catch {
            #expect(error.code == code, "\(hex)")
        }
    }

    @Test func primitiveHasNoChildren() throws {
        let t = try BERTLV.parse(h("0401AA"))
        #expect(throws: BERTLVError.notConstructed(tag: 0x04)) { try t.children() }
    }

    @Test func sequenceAndEmpty() throws {
        #expect(try BERTLV.parseSequence([]).isEmpty)
        #expect(throws: BERTLVError.empty) { try BERTLV.parseSequence([], allowEmpty: false) }
        #expect(try BERTLV.parseSequence(h("0100 0201AA")).count == 2)
        #expect(throws: BERTLVError.lengthPastEnd(offset: 2, length: 2, available: 1)) {
            try BERTLV.parseSequence(h("0100 0202AA"))
        }
    }

    @Test func encodeRoundTrip() throws {
        for n in [0, 1, 127, 128, 255, 256, 65_535, 65_536] {
            let t = BERTLV(tag: 0xDF27, value: [UInt8](repeating: 7, count: n))
            let back = try BERTLV.parse(t.encoded)
            #expect(back == t)
        }
    }

    /// Property: thousands of random and mutated inputs never crash and only produce
    /// `BERTLVError` (typed throws makes any other error impossible to compile; the test
    /// checks that valid inputs round-trip and that parses stay within the input).
    @Test func randomAndMutatedInputs() throws {
        var rng = SeededRNG(state: 0x4A50_4B49)
        let seeds: [[UInt8]] = [
            h("FF206BDF2108000E0020005F006ADF2203414243DF230141DF240831393830303231 37DF250131"),
            h("7F21820010 5F4E 08 0102030405060708 5F37 02 AABB"),
            h("3082000A 300302010A 0403AABBCC"),
            BERTLV(
                tag: 0xFF30,
                value: BERTLV(tag: 0xDF31, value: [UInt8](repeating: 1, count: 32)).encoded
            )
            .encoded,
        ]
        var accepted = 0
        var rejected = 0
        var codes = Set<String>()
        for round in 0..<20_000 {
            var input: [UInt8]
            if round % 2 == 0 {
                let n = Int.random(in: 0...24, using: &rng)
                input = (0..<n).map { _ in UInt8.random(in: 0...255, using: &rng) }
            } else {
                input = seeds[Int.random(in: 0..<seeds.count, using: &rng)]
                for _ in 0..<Int.random(in: 1...4, using: &rng) {
                    switch Int.random(in: 0..<4, using: &rng) {
                    case 0 where !input.isEmpty:
                        input[Int.random(in: 0..<input.count, using: &rng)] = UInt8.random(
                            in: 0...255, using: &rng)
                    case 1 where !input.isEmpty:
                        input.removeLast(Int.random(in: 1...input.count, using: &rng))
                    case 2:
                        input.insert(
                            UInt8.random(in: 0...255, using: &rng),
                            at: Int.random(in: 0...input.count, using: &rng))
                    default:
                        input += [0x80, 0x84, 0xFF].shuffled(using: &rng).prefix(2)
                    }
                }
            }
            do {
                let tlv = try BERTLV.parse(input)
                accepted += 1
                #expect(tlv.encoded == input)
                #expect(tlv.value.count <= input.count)
                if tlv.isConstructed { _ = try? tlv.children() }
            } catch {
                rejected += 1
                codes.insert(error.code)
            }
            do {
                let seq = try BERTLV.parseSequence(input)
                #expect(seq.reduce(0) { $0 + $1.encoded.count } == input.count)
            } catch {
                codes.insert(error.code)
            }
            _ = try? BERTLV.parseHeader(input)
        }
        #expect(accepted > 0 && rejected > 0)
        #expect(
            codes.isSuperset(of: ["empty", "length_past_end", "trailing_data", "indefinite_length"])
        )
        print(
            "BER-TLV property test: \(accepted) accepted, \(rejected) rejected, codes \(codes.sorted())"
        )
    }
}
