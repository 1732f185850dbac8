// BER-TLV: header, single TLV, prefix, sequence, children (recursively), with oracles:
// a parsed TLV re-encodes to exactly the bytes it came from when its length was minimal.
import JPKI

func walk(_ tlv: BERTLV, depth: Int) {
    fuzzCheck(tlv.encoded.count >= tlv.value.count + 2, "encoding shorter than value + header")
    fuzzCheck(Array(tlv.encoded.suffix(tlv.value.count)) == tlv.value, "value is not the encoding's tail")
    let rebuilt = BERTLV(tag: tlv.tag, value: tlv.value)
    fuzzCheck(rebuilt.isConstructed == tlv.isConstructed, "constructed bit")
    if rebuilt.encoded.count == tlv.encoded.count {
        fuzzCheck(rebuilt.encoded == tlv.encoded, "minimal re-encoding differs")
    }
    guard depth < 64, tlv.isConstructed, let children = try? tlv.children() else { return }
    fuzzCheck(children.reduce(0) { $0 + $1.encoded.count } == tlv.value.count, "children do not fill the value")
    for c in children { walk(c, depth: depth + 1) }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzBERTLV(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = fuzzBytes(data, size)
    if let h = try? BERTLV.parseHeader(bytes) {
        fuzzCheck(h.headerLength >= 2 && h.headerLength <= 7, "header length")
        fuzzCheck(h.headerLength <= bytes.count, "header longer than input")
    }
    if let t = try? BERTLV.parse(bytes) {
        fuzzCheck(t.encoded == bytes, "single TLV is not the whole input")
        walk(t, depth: 0)
    }
    if let t = try? BERTLV.parsePrefix(bytes) {
        fuzzCheck(Array(bytes.prefix(t.encoded.count)) == t.encoded, "prefix")
        walk(t, depth: 0)
    }
    if let seq = try? BERTLV.parseSequence(bytes) {
        fuzzCheck(seq.flatMap(\.encoded) == bytes, "sequence does not fill the input")
        for t in seq { walk(t, depth: 0) }
    }
    return 0
}
