/// Hex helpers used by traces, transcripts and tests.
extension Sequence where Element == UInt8 {
    /// Upper-case hex without separators, e.g. `00A4040C`.
    public var hexString: String {
        var out = ""
        for byte in self {
            out.append(hexDigits[Int(byte >> 4)])
            out.append(hexDigits[Int(byte & 0x0F)])
        }
        return out
    }
}

private let hexDigits: [Character] = Array("0123456789ABCDEF")

extension Array where Element == UInt8 {
    /// Parses hex text; spaces, colons and line breaks are ignored. Returns nil on any other
    /// character or an odd number of digits.
    public init?(hex: String) {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(hex.utf8.count / 2)
        var high: UInt8?
        for c in hex.utf8 {
            let nibble: UInt8
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): nibble = c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): nibble = c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): nibble = c - UInt8(ascii: "A") + 10
            case UInt8(ascii: " "), UInt8(ascii: ":"), UInt8(ascii: "\n"), UInt8(ascii: "\t"),
                UInt8(ascii: "\r"):
                continue
            default: return nil
            }
            if let h = high {
                bytes.append(h << 4 | nibble)
                high = nil
            } else {
                high = nibble
            }
        }
        if high != nil { return nil }
        self = bytes
    }
}
