/// The four command cases of ISO 7816-4 (§5.1).
public enum APDUCase: Sendable, Hashable {
    /// No data, no Le.
    case case1
    /// Le only.
    case case2
    /// Data only.
    case case3
    /// Data and Le.
    case case4
}

/// A command APDU. `le` is the number of expected response bytes (nil = none; 256 is short
/// Le `00`, 65,536 is extended Le `0000`).
public struct CommandAPDU: Sendable, Hashable {
    public var cla: UInt8
    public var ins: UInt8
    public var p1: UInt8
    public var p2: UInt8
    public var data: [UInt8]
    public var le: Int?
    /// Encode in extended form even when short form would do.
    public var forceExtended: Bool

    /// Creates a command.
    public init(
        cla: UInt8 = 0x00, ins: UInt8, p1: UInt8, p2: UInt8, data: [UInt8] = [], le: Int? = nil,
        forceExtended: Bool = false
    ) {
        self.cla = cla
        self.ins = ins
        self.p1 = p1
        self.p2 = p2
        self.data = data
        self.le = le
        self.forceExtended = forceExtended
    }

    /// Which ISO case this command is.
    public var apduCase: APDUCase {
        switch (data.isEmpty, le == nil) {
        case (true, true): .case1
        case (true, false): .case2
        case (false, true): .case3
        case (false, false): .case4
        }
    }

    /// True when the encoding uses extended length fields.
    public var isExtended: Bool {
        forceExtended || data.count > 255 || (le ?? 0) > 256
    }

    /// Encodes the command, choosing short form unless extended form is needed or forced.
    public func encoded() throws(APDUFormatError) -> [UInt8] {
        if data.count > 65_535 { throw .dataTooLong(data.count) }
        if let le, le < 1 || le > 65_536 { throw .invalidLe(le) }
        var out: [UInt8] = [cla, ins, p1, p2]
        out.reserveCapacity(4 + 3 + data.count + 2)
        let ext = isExtended
        if !data.isEmpty {
            if ext {
                out += [0x00, UInt8(data.count >> 8), UInt8(data.count & 0xFF)]
            } else {
                out.append(UInt8(data.count))
            }
            out += data
        }
        if let le {
            if ext {
                if data.isEmpty { out.append(0x00) }
                let v = le == 65_536 ? 0 : le
                out += [UInt8(v >> 8), UInt8(v & 0xFF)]
            } else {
                out.append(le == 256 ? 0 : UInt8(le))
            }
        }
        return out
    }

    /// Decodes a command APDU (ISO 7816-3 §12.1.3 rules), rejecting anything that fits no case.
    public init(decoding bytes: [UInt8]) throws(APDUFormatError) {
        guard bytes.count >= 4 else { throw .tooShort(bytes.count) }
        self.init(cla: bytes[0], ins: bytes[1], p1: bytes[2], p2: bytes[3])
        let body = bytes.count - 4
        if body == 0 { return }
        let b0 = Int(bytes[4])
        if body == 1 {
            le = b0 == 0 ? 256 : b0
            return
        }
        if b0 != 0 {
            // Short Lc.
            if body == 1 + b0 {
                data = Array(bytes[5..<5 + b0])
            } else if body == 2 + b0 {
                data = Array(bytes[5..<5 + b0])
                let l = Int(bytes[5 + b0])
                le = l == 0 ? 256 : l
            } else {
                throw .inconsistentLength(bytes.count)
            }
            return
        }
        // Extended forms: first body byte 00.
        forceExtended = true
        guard body >= 3 else { throw .inconsistentLength(bytes.count) }
        let n = Int(bytes[5]) << 8 | Int(bytes[6])
        if body == 3 {
            le = n == 0 ? 65_536 : n
            return
        }
        guard n != 0 else { throw .zeroExtendedLc }
        if body == 3 + n {
            data = Array(bytes[7..<7 + n])
        } else if body == 5 + n {
            data = Array(bytes[7..<7 + n])
            let l = Int(bytes[7 + n]) << 8 | Int(bytes[8 + n])
            le = l == 0 ? 65_536 : l
        } else {
            throw .inconsistentLength(bytes.count)
        }
    }
}

/// A response APDU: data followed by SW1 SW2.
public struct ResponseAPDU: Sendable, Hashable {
    public var data: [UInt8]
    public var statusWord: StatusWord

    /// Creates a response.
    public init(data: [UInt8] = [], statusWord: StatusWord) {
        self.data = data
        self.statusWord = statusWord
    }

    /// Decodes raw response bytes; at least the two status bytes must be present.
    public init(decoding bytes: [UInt8]) throws(APDUFormatError) {
        guard bytes.count >= 2 else { throw .tooShort(bytes.count) }
        data = Array(bytes[..<(bytes.count - 2)])
        statusWord = StatusWord(sw1: bytes[bytes.count - 2], sw2: bytes[bytes.count - 1])
    }

    /// Data followed by the status word.
    public var encoded: [UInt8] { data + [statusWord.sw1, statusWord.sw2] }
}
