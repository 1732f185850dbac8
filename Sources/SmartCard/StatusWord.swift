/// An ISO 7816-4 status word (SW1 SW2) with its meaning.
public struct StatusWord: Sendable, Hashable, CustomStringConvertible {
    /// SW1.
    public let sw1: UInt8
    /// SW2.
    public let sw2: UInt8

    /// Creates a status word from its two bytes.
    public init(sw1: UInt8, sw2: UInt8) {
        self.sw1 = sw1
        self.sw2 = sw2
    }

    /// Creates a status word from its 16-bit value, e.g. `0x9000`.
    public init(_ value: UInt16) {
        self.init(sw1: UInt8(value >> 8), sw2: UInt8(value & 0xFF))
    }

    /// The 16-bit value.
    public var value: UInt16 { UInt16(sw1) << 8 | UInt16(sw2) }

    public static let success = StatusWord(0x9000)
    public static let warningEndOfFile = StatusWord(0x6282)
    public static let verificationFailed = StatusWord(0x6300)
    public static let wrongLength = StatusWord(0x6700)
    public static let logicalChannelNotSupported = StatusWord(0x6881)
    public static let secureMessagingNotSupported = StatusWord(0x6882)
    public static let securityStatusNotSatisfied = StatusWord(0x6982)
    public static let authenticationMethodBlocked = StatusWord(0x6983)
    public static let referenceDataNotUsable = StatusWord(0x6984)
    public static let conditionsNotSatisfied = StatusWord(0x6985)
    public static let commandNotAllowedNoEF = StatusWord(0x6986)
    public static let wrongData = StatusWord(0x6A80)
    public static let functionNotSupported = StatusWord(0x6A81)
    public static let fileNotFound = StatusWord(0x6A82)
    public static let recordNotFound = StatusWord(0x6A83)
    public static let incorrectP1P2 = StatusWord(0x6A86)
    public static let referencedDataNotFound = StatusWord(0x6A88)
    public static let wrongP1P2 = StatusWord(0x6B00)
    public static let insNotSupported = StatusWord(0x6D00)
    public static let claNotSupported = StatusWord(0x6E00)
    public static let noPreciseDiagnosis = StatusWord(0x6F00)

    /// 9000.
    public var isSuccess: Bool { value == 0x9000 }
    /// 61xx: this many response bytes wait for GET RESPONSE (00 means 256).
    public var bytesAvailable: Int? { sw1 == 0x61 ? (sw2 == 0 ? 256 : Int(sw2)) : nil }
    /// 6Cxx: re-send the command with this Le (00 means 256).
    public var correctLength: Int? { sw1 == 0x6C ? (sw2 == 0 ? 256 : Int(sw2)) : nil }
    /// 63Cx: verification failed (or a counter query), x tries remain.
    public var retriesLeft: Int? { sw1 == 0x63 && sw2 & 0xF0 == 0xC0 ? Int(sw2 & 0x0F) : nil }

    /// A short English meaning, from ISO 7816-4 and the JPKI card's observed use.
    public var meaning: String {
        if let n = bytesAvailable { return "\(n) response bytes available" }
        if let n = correctLength { return "wrong Le; \(n) bytes available" }
        if let n = retriesLeft { return "verification failed, \(n) tries left" }
        switch value {
        case 0x9000: return "success"
        case 0x6282: return "end of file reached before Le bytes"
        case 0x6300: return "verification failed"
        case 0x6581: return "memory failure"
        case 0x6700: return "wrong length"
        case 0x6881: return "logical channel not supported"
        case 0x6882: return "secure messaging not supported"
        case 0x6982: return "security status not satisfied"
        case 0x6983: return "authentication method blocked"
        case 0x6984: return "reference data not usable (blocked)"
        case 0x6985: return "conditions of use not satisfied"
        case 0x6986: return "command not allowed (no current EF)"
        case 0x6A80: return "incorrect data"
        case 0x6A81: return "function not supported"
        case 0x6A82: return "file or application not found"
        case 0x6A83: return "record not found"
        case 0x6A86: return "incorrect P1-P2"
        case 0x6A88: return "referenced data not found"
        case 0x6B00: return "wrong parameters (offset outside the file)"
        case 0x6D00: return "instruction not supported"
        case 0x6E00: return "class not supported"
        case 0x6F00: return "no precise diagnosis"
        default: return "unknown status"
        }
    }

    public var description: String { String(format4: value) }
}

extension String {
    init(format4 value: UInt16) {
        self = [UInt8(value >> 8), UInt8(value & 0xFF)].hexString
    }
}
