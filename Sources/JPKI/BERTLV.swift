import StableCodes

/// Why bytes are not valid BER-TLV. Every parser entry point throws only this.
public enum BERTLVError: Error, CodedError, Sendable, Hashable, CustomStringConvertible {
    /// No bytes where a TLV is expected.
    case empty
    /// The input ends inside a tag.
    case truncatedTag(offset: Int)
    /// A tag longer than 3 bytes (tag number overflow).
    case tagTooLong(offset: Int)
    /// The input ends inside a length field.
    case truncatedLength(offset: Int)
    /// Length byte 0x80 (indefinite length), not allowed here.
    case indefiniteLength(offset: Int)
    /// A length-of-length above 3 (0x84…0xFF).
    case lengthOfLengthTooLarge(offset: Int, count: Int)
    /// The value would run past the end of the input.
    case lengthPastEnd(offset: Int, length: Int, available: Int)
    /// Bytes remain after the single TLV that was expected.
    case trailingData(offset: Int, count: Int)
    /// A primitive TLV was asked for its children.
    case notConstructed(tag: UInt32)

    /// A stable code.
    public var code: String {
        switch self {
        case .empty: "empty"
        case .truncatedTag: "truncated_tag"
        case .tagTooLong: "tag_too_long"
        case .truncatedLength: "truncated_length"
        case .indefiniteLength: "indefinite_length"
        case .lengthOfLengthTooLarge: "length_of_length_too_large"
        case .lengthPastEnd: "length_past_end"
        case .trailingData: "trailing_data"
        case .notConstructed: "not_constructed"
        }
    }

    /// A short description (offsets only, never content).
    public var description: String {
        switch self {
        case .empty: "empty input"
        case .truncatedTag(let o): "input ends inside the tag at offset \(o)"
        case .tagTooLong(let o): "tag at offset \(o) is longer than 3 bytes"
        case .truncatedLength(let o): "input ends inside the length at offset \(o)"
        case .indefiniteLength(let o): "indefinite length at offset \(o)"
        case .lengthOfLengthTooLarge(let o, let n): "length at offset \(o) has \(n) length bytes"
        case .lengthPastEnd(let o, let l, let a):
            "value at offset \(o) declares \(l) bytes, \(a) available"
        case .trailingData(let o, let n): "\(n) trailing bytes at offset \(o)"
        case .notConstructed(let t): "tag \(String(t, radix: 16, uppercase: true)) is primitive"
        }
    }
}

/// The tag and length of a TLV, parsed from a prefix of its encoding.
public struct BERTLVHeader: Sendable, Hashable {
    /// The tag, its bytes big-endian in one integer (e.g. `0xFF20`, `0x30`, `0x7F21`).
    public var tag: UInt32
    /// Whether bit 6 of the first tag byte marks the TLV as constructed.
    public var isConstructed: Bool
    /// The number of tag + length bytes.
    public var headerLength: Int
    /// The value length.
    public var valueLength: Int
    /// Header plus value.
    public var totalLength: Int { headerLength + valueLength }
}

/// One BER-TLV (ISO 7816-4 §5.2 / X.690 definite form): tag up to 3 bytes, length up to
/// `83 LL LL LL`. All parsing is done by pure functions over `[UInt8]` that reject every
/// malformed input with a typed ``BERTLVError``.
public struct BERTLV: Sendable, Hashable {
    /// The tag, its bytes big-endian in one integer.
    public var tag: UInt32
    /// Whether the TLV is constructed (its value is a sequence of TLVs).
    public var isConstructed: Bool
    /// The value bytes.
    public var value: [UInt8]
    /// The complete encoding as it appeared in the input (tag, length and value).
    public var encoded: [UInt8]

    /// Creates a TLV from its parts (the encoding is built with minimal length).
    public init(tag: UInt32, value: [UInt8]) {
        var tagBytes: [UInt8] = []
        var t = tag
        repeat {
            tagBytes.insert(UInt8(t & 0xFF), at: 0)
            t >>= 8
        } while t != 0
        self.tag = tag
        self.isConstructed = tagBytes[0] & 0x20 != 0
        self.value = value
        self.encoded = tagBytes + BERTLV.encodeLength(value.count) + value
    }

    private init(tag: UInt32, isConstructed: Bool, value: [UInt8], encoded: [UInt8]) {
        self.tag = tag
        self.isConstructed = isConstructed
        self.value = value
        self.encoded = encoded
    }

    /// The minimal BER length encoding of `n`.
    public static func encodeLength(_ n: Int) -> [UInt8] {
        if n < 0x80 { return [UInt8(n)] }
        if n <= 0xFF { return [0x81, UInt8(n)] }
        if n <= 0xFFFF { return [0x82, UInt8(n >> 8), UInt8(n & 0xFF)] }
        return [0x83, UInt8((n >> 16) & 0xFF), UInt8((n >> 8) & 0xFF), UInt8(n & 0xFF)]
    }

    /// Parses the tag and length at the start of `bytes` without requiring the value to be
    /// present (used to learn a file's size from its first bytes).
    /// Throws ``BERTLVError/truncatedTag(offset:)`` / ``BERTLVError/truncatedLength(offset:)``
    /// when `bytes` is too short to hold the header.
    public static func parseHeader(_ bytes: [UInt8]) throws(BERTLVError) -> BERTLVHeader {
        try parseHeader(bytes, at: 0)
    }

    static func parseHeader(_ bytes: [UInt8], at start: Int) throws(BERTLVError) -> BERTLVHeader {
        var i = start
        guard i < bytes.count else {
            throw start == 0 ? .empty : .truncatedTag(offset: start)
        }
        let first = bytes[i]
        var tag = UInt32(first)
        i += 1
        if first & 0x1F == 0x1F {
            // Subsequent tag bytes: bit 8 set = more follow. At most 2 more (3 in all).
            var count = 1
            while true {
                guard i < bytes.count else { throw .truncatedTag(offset: start) }
                let b = bytes[i]
                i += 1
                count += 1
                tag = tag << 8 | UInt32(b)
                if b & 0x80 == 0 { break }
                if count == 3 { throw .tagTooLong(offset: start) }
            }
        }
        guard i < bytes.count else { throw .truncatedLength(offset: i) }
        let l0 = bytes[i]
        let lengthOffset = i
        i += 1
        var length = 0
        if l0 < 0x80 {
            length = Int(l0)
        } else if l0 == 0x80 {
            throw .indefiniteLength(offset: lengthOffset)
        } else {
            let n = Int(l0 & 0x7F)
            guard n <= 3 else { throw .lengthOfLengthTooLarge(offset: lengthOffset, count: n) }
            guard i + n <= bytes.count else { throw .truncatedLength(offset: lengthOffset) }
            for _ in 0..<n {
                length = length << 8 | Int(bytes[i])
                i += 1
            }
        }
        return BERTLVHeader(
            tag: tag, isConstructed: first & 0x20 != 0, headerLength: i - start,
            valueLength: length)
    }

    /// Parses one TLV starting at `offset`; returns it and the offset after it.
    static func parse(_ bytes: [UInt8], at offset: Int) throws(BERTLVError) -> (BERTLV, Int) {
        let h = try parseHeader(bytes, at: offset)
        let valueStart = offset + h.headerLength
        let available = bytes.count - valueStart
        guard h.valueLength <= available else {
            throw .lengthPastEnd(offset: offset, length: h.valueLength, available: available)
        }
        let end = valueStart + h.valueLength
        let tlv = BERTLV(
            tag: h.tag, isConstructed: h.isConstructed, value: Array(bytes[valueStart..<end]),
            encoded: Array(bytes[offset..<end]))
        return (tlv, end)
    }

    /// Parses exactly one TLV: empty input and trailing bytes are errors.
    public static func parse(_ bytes: [UInt8]) throws(BERTLVError) -> BERTLV {
        let (tlv, end) = try parse(bytes, at: 0)
        if end != bytes.count { throw .trailingData(offset: end, count: bytes.count - end) }
        return tlv
    }

    /// Parses one TLV at the start of `bytes` and ignores what follows (a file with filler).
    public static func parsePrefix(_ bytes: [UInt8]) throws(BERTLVError) -> BERTLV {
        try parse(bytes, at: 0).0
    }

    /// Parses a concatenation of TLVs filling `bytes` exactly. Empty input gives an empty list
    /// unless `allowEmpty` is false.
    public static func parseSequence(_ bytes: [UInt8], allowEmpty: Bool = true)
        throws(BERTLVError) -> [BERTLV]
    {
        if bytes.isEmpty {
            if allowEmpty { return [] }
            throw .empty
        }
        var out: [BERTLV] = []
        var i = 0
        while i < bytes.count {
            let (tlv, next) = try parse(bytes, at: i)
            out.append(tlv)
            i = next
        }
        return out
    }

    /// The TLVs inside a constructed TLV's value.
    public func children() throws(BERTLVError) -> [BERTLV] {
        guard isConstructed else { throw .notConstructed(tag: tag) }
        return try BERTLV.parseSequence(value)
    }

    /// The first child with `tag`, if any (constructed TLVs only).
    public func child(_ tag: UInt32) throws(BERTLVError) -> BERTLV? {
        try children().first { $0.tag == tag }
    }
}
