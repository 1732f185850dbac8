import JPKI
import SmartCard
import Testing

/// Hex → bytes, failing the test on bad hex.
func h(_ s: String) -> [UInt8] {
    guard let b = [UInt8](hex: s) else {
        Issue.record("bad hex in test: \(s)")
        return []
    }
    return b
}

/// A scripted channel from (command hex, response hex) pairs.
func scripted(_ pairs: [(String, String)], extended: Bool = true) -> (
    CardChannel, ScriptedTransport
) {
    let t = ScriptedTransport(
        pairs.map { ScriptedTransport.Step(command: h($0.0), response: h($0.1)) },
        supportsExtendedLength: extended)
    return (CardChannel(transport: t), t)
}

/// Raw steps (bytes already).
func steps(_ pairs: [([UInt8], [UInt8])]) -> [ScriptedTransport.Step] {
    pairs.map { ScriptedTransport.Step(command: $0.0, response: $0.1) }
}

let selectJPKI = "00A4040C0AD392F000260100000001"
let selectText = "00A4040C0AD3921000310001010408"
let selectVisual = "00A4040C0AD3921000310001010402"
let ok = "9000"

/// A fake DER "certificate": `30 82 LL LL` + deterministic content (total `total` bytes).
func fakeCertificate(total: Int, seed: UInt8 = 1) -> [UInt8] {
    let body = total - 4
    var out: [UInt8] = [0x30, 0x82, UInt8(body >> 8), UInt8(body & 0xFF)]
    for i in 0..<body { out.append(UInt8(truncatingIfNeeded: i &* 31 &+ Int(seed))) }
    return out
}

/// The 4 steps that read the auth certificate with extended length (SELECT AP, SELECT 000A,
/// READ 4, READ rest).
func authCertSteps(_ cert: [UInt8]) -> [ScriptedTransport.Step] {
    let rest = cert.count - 4
    return steps([
        (h(selectJPKI), h(ok)),
        (h("00A4020C02000A"), h(ok)),
        (h("00B0000004"), Array(cert[0..<4]) + h(ok)),
        (h("00B00004") + [0x00, UInt8(rest >> 8), UInt8(rest & 0xFF)], Array(cert[4...]) + h(ok)),
    ])
}

/// Builds `outer { DF21 offsets, fields… }` with offsets from the start of the file.
func offsetTableFile(outer: UInt32 = 0xFF20, fields: [BERTLV]) -> [UInt8] {
    let fieldBytes = fields.flatMap(\.encoded)
    let tableLen = 3 + 2 * fields.count  // DF21 + 1-byte length + offsets (short form)
    let valueLen = tableLen + fieldBytes.count
    let headerLen = 2 + BERTLV.encodeLength(valueLen).count
    var offsets: [UInt8] = []
    var pos = headerLen + tableLen
    for f in fields {
        offsets += [UInt8(pos >> 8), UInt8(pos & 0xFF)]
        pos += f.encoded.count
    }
    return BERTLV(tag: outer, value: BERTLV(tag: 0xDF21, value: offsets).encoded + fieldBytes)
        .encoded
}

/// A deterministic RNG (SplitMix64) for property tests.
struct SeededRNG: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
