import SmartCard

/// Options for reading files.
public struct ReadOptions: Sendable, Hashable {
    /// Use one extended-Le READ BINARY for the rest of a file when the channel allows it.
    public var useExtendedLength: Bool
    /// Bytes read first to learn a certificate's size (4 = `30 82 LL LL`, as OpenSC does).
    public var certificateHeaderRead: Int
    /// Creates options.
    public init(useExtendedLength: Bool = true, certificateHeaderRead: Int = 4) {
        self.useExtendedLength = useExtendedLength
        self.certificateHeaderRead = certificateHeaderRead
    }
}

/// The low-level card commands as plain functions over a ``CardChannel``. They send exactly the
/// APDUs documented on each function and nothing else: no implicit SELECT of an application,
/// no implicit transaction. ``MyNumberCard`` composes them into complete operations.
public enum JPKICommands {
    /// Maps a channel error.
    static func send(
        _ channel: CardChannel, _ command: CommandAPDU, sensitivity: Sensitivity = []
    ) throws(JPKIError) -> ResponseAPDU {
        do {
            return try channel.send(command, sensitivity: sensitivity)
        } catch {
            throw .transport(error)
        }
    }

    /// `00 A4 04 0C 0A <AID>`: selects an application. 6A82 → ``JPKIError/applicationNotFound(_:)``.
    public static func selectApplication(_ ap: JPKIApplication, on channel: CardChannel)
        throws(JPKIError)
    {
        let r = try send(channel, CommandAPDU(ins: 0xA4, p1: 0x04, p2: 0x0C, data: ap.aid))
        switch r.statusWord.value {
        case 0x9000: return
        case 0x6A82, 0x6A86, 0x6A87: throw .applicationNotFound(ap)
        default: throw .unexpectedStatus(r.statusWord, operation: "SELECT \(ap)")
        }
    }

    /// `00 A4 02 0C 02 <FID>`: selects an EF of the current application (no FCI).
    public static func selectFile(_ fid: UInt16, on channel: CardChannel) throws(JPKIError) {
        let r = try send(
            channel,
            CommandAPDU(ins: 0xA4, p1: 0x02, p2: 0x0C, data: [UInt8(fid >> 8), UInt8(fid & 0xFF)]))
        switch r.statusWord.value {
        case 0x9000: return
        case 0x6A82: throw .fileNotFound(fid)
        case 0x6982: throw .pinRequired(nil)
        default: throw .unexpectedStatus(r.statusWord, operation: "SELECT EF \(fid.hex4)")
        }
    }

    /// `00 B0 P1 P2 Le`: reads up to `length` bytes at `offset` of the current EF (15-bit
    /// offset; Le above 256 is sent extended). Returns the bytes and whether the card said
    /// end-of-file (6282). 6982 → ``JPKIError/pinRequired(_:)`` with `pin`.
    public static func readBinary(
        offset: Int, length: Int, on channel: CardChannel, sensitivity: Sensitivity = [],
        pin: PINKind? = nil
    ) throws(JPKIError) -> (data: [UInt8], endOfFile: Bool) {
        guard offset >= 0, offset <= 0x7FFF else { throw .fileTooLarge(0, offset) }
        let r = try send(
            channel,
            CommandAPDU(
                ins: 0xB0, p1: UInt8(offset >> 8), p2: UInt8(offset & 0xFF), le: length),
            sensitivity: sensitivity)
        switch r.statusWord.value {
        case 0x9000: return (r.data, false)
        case 0x6282: return (r.data, true)
        case 0x6982: throw .pinRequired(pin)
        case 0x6983, 0x6984:
            if let pin { throw .pinBlocked(pin) }
            throw .unexpectedStatus(r.statusWord, operation: "READ BINARY")
        case 0x6700, 0x6B00: throw .wrongData(r.statusWord)
        case 0x6986: throw .unexpectedStatus(r.statusWord, operation: "READ BINARY (no EF)")
        default: throw .unexpectedStatus(r.statusWord, operation: "READ BINARY")
        }
    }

    /// Reads the rest of the current EF, `count` bytes from `offset`, with the fewest READ
    /// BINARYs: one extended-Le read when `extended` is true (and the remainder is above 256
    /// bytes), else 256-byte short reads. A card that refuses the extended read (6700, or
    /// answers a shorter chunk) makes this fall back to short reads, and sets `extended` to
    /// false so the rest of the operation does not try again.
    public static func readRemainder(
        fileID: UInt16, offset: Int, count: Int, extended: inout Bool, on channel: CardChannel,
        sensitivity: Sensitivity = [], pin: PINKind? = nil
    ) throws(JPKIError) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(count)
        var position = offset
        let end = offset + count
        guard end <= 0x7FFF + 1 else { throw .fileTooLarge(fileID, end) }
        while position < end {
            let left = end - position
            let chunk: Int
            let tryingExtended = extended && left > 256
            if tryingExtended {
                chunk = min(left, 65_535)
            } else {
                chunk = min(left, 256)
            }
            let result: (data: [UInt8], endOfFile: Bool)
            do {
                result = try readBinary(
                    offset: position, length: chunk, on: channel, sensitivity: sensitivity, pin: pin
                )
            } catch .wrongData(let sw) where tryingExtended && sw.value == 0x6700 {
                extended = false
                continue
            } catch .transport(.format(.extendedLengthNotAllowed)) where tryingExtended {
                extended = false
                continue
            }
            if result.data.isEmpty {
                throw .truncatedFile(fileID, expected: end, got: position)
            }
            if result.data.count > chunk {
                throw .malformedData("READ BINARY returned more bytes than requested")
            }
            out += result.data
            position += result.data.count
            if position < end {
                if result.endOfFile { throw .truncatedFile(fileID, expected: end, got: position) }
                if tryingExtended { extended = false }
            }
        }
        return out
    }

    /// Reads the current EF as one BER-TLV: first `headerRead` bytes (enough for the tag and
    /// length), then exactly the rest by ``readRemainder(fileID:offset:count:extended:on:sensitivity:pin:)``.
    /// Returns the TLV bytes (header + value), nothing after them.
    public static func readTLVFile(
        fileID: UInt16, headerRead: Int, extended: inout Bool, on channel: CardChannel,
        sensitivity: Sensitivity = [], pin: PINKind? = nil
    ) throws(JPKIError) -> [UInt8] {
        var bytes = try readBinary(
            offset: 0, length: headerRead, on: channel, sensitivity: sensitivity, pin: pin
        ).data
        var header: BERTLVHeader
        while true {
            let parsed: Result<BERTLVHeader, BERTLVError> = Result { () throws(BERTLVError) in
                try BERTLV.parseHeader(bytes)
            }
            switch parsed {
            case .success(let h):
                header = h
            case .failure(.truncatedTag), .failure(.truncatedLength):
                // Long-form header beyond the first read: fetch up to 4 more bytes.
                guard bytes.count >= headerRead, bytes.count < 8 else {
                    throw .truncatedFile(fileID, expected: headerRead, got: bytes.count)
                }
                let more = try readBinary(
                    offset: bytes.count, length: 4, on: channel, sensitivity: sensitivity,
                    pin: pin
                ).data
                if more.isEmpty {
                    throw .truncatedFile(fileID, expected: bytes.count + 4, got: bytes.count)
                }
                bytes += more
                continue
            case .failure(let e):
                throw .tlv(e)
            }
            break
        }
        let total = header.totalLength
        guard total <= 0x8000 else { throw .fileTooLarge(fileID, total) }
        if bytes.count >= total { return Array(bytes[0..<total]) }
        bytes += try readRemainder(
            fileID: fileID, offset: bytes.count, count: total - bytes.count, extended: &extended,
            on: channel, sensitivity: sensitivity, pin: pin)
        return bytes
    }

    /// The status words with which a card refuses short-file-identifier addressing (or has no
    /// such file): the caller falls back to the SELECT form. Any other status is an error as
    /// usual — a garbled answer is never taken for a refusal.
    static let sfiRefusals: Set<UInt16> = [
        0x6700, 0x6981, 0x6986, 0x6A81, 0x6A82, 0x6A86, 0x6A88, 0x6B00, 0x6D00, 0x6E00,
    ]

    /// `00 B0 80|SFI P2 Le`: reads up to `length` bytes at the 8-bit `offset` of the EF with
    /// short file identifier `sfi` of the current application, without a SELECT (ISO 7816-4;
    /// jpki-facts §3). Returns nil when the card refuses this addressing (``sfiRefusals``), so
    /// the caller can fall back to SELECT + READ; 6982 → ``JPKIError/pinRequired(_:)``; any
    /// other status → ``JPKIError/unexpectedStatus(_:operation:)``.
    public static func readBinaryBySFI(sfi: UInt8, offset: Int, length: Int, on channel: CardChannel)
        throws(JPKIError) -> [UInt8]?
    {
        guard (1...30).contains(sfi), (0...255).contains(offset) else { return nil }
        let r = try send(channel, CommandAPDU(ins: 0xB0, p1: 0x80 | sfi, p2: UInt8(offset), le: length))
        switch r.statusWord.value {
        case 0x9000, 0x6282: return r.data
        case 0x6982: throw .pinRequired(nil)
        case let sw where sfiRefusals.contains(sw): return nil
        default: throw .unexpectedStatus(r.statusWord, operation: "READ BINARY (SFI \(sfi))")
        }
    }

    /// A BER-TLV file read by its exact length through SFI addressing only: the header
    /// (`headerRead` bytes at offset 0), then the rest in one READ at its offset (extended Le
    /// when over 256 bytes) — 2 APDUs and no SELECT. Nil (fall back to ``selectFile(_:on:)`` +
    /// ``readTLVFile(fileID:headerRead:extended:on:sensitivity:pin:)``) when the card refuses
    /// SFI addressing, the header needs more than the first read, the rest needs extended length
    /// the channel lacks, or the card answers short.
    public static func readTLVFileBySFI(
        sfi: UInt8, headerRead: Int, extended: Bool, on channel: CardChannel
    ) throws(JPKIError) -> [UInt8]? {
        guard let head = try readBinaryBySFI(sfi: sfi, offset: 0, length: headerRead, on: channel) else {
            return nil
        }
        guard let header = try? BERTLV.parseHeader(head) else { return nil }
        let total = header.totalLength
        guard total <= 0x8000 else { return nil }
        if head.count >= total { return Array(head[0..<total]) }
        let rest = total - head.count
        guard rest <= 256 || extended else { return nil }
        guard let tail = try readBinaryBySFI(sfi: sfi, offset: head.count, length: rest, on: channel),
            tail.count == rest
        else { return nil }
        return head + tail
    }

    /// `SELECT <PIN EF>` + empty VERIFY `00 20 00 80` (case 1): the retry counter, spending no
    /// try. 63Cx → ``PINStatus/triesLeft(_:)`` (x = 0 → ``PINStatus/blocked``), 6983/6984 →
    /// blocked, 9000 → ``PINStatus/verified`` (some cards, after a successful VERIFY). A PIN EF
    /// that answers SELECT with 6A82 → ``JPKIError/pinNotSet(_:)`` (no VERIFY is sent).
    /// The PIN's application must be selected.
    public static func pinStatus(_ kind: PINKind, on channel: CardChannel) throws(JPKIError)
        -> PINStatus
    {
        do throws(JPKIError) {
            try selectFile(kind.fileID, on: channel)
        } catch .fileNotFound {
            // No PIN EF: a card issued without PINs (顔認証マイナンバーカード). No VERIFY is sent.
            throw .pinNotSet(kind)
        }
        let r = try send(channel, CommandAPDU(ins: 0x20, p1: 0x00, p2: 0x80))
        if let n = r.statusWord.retriesLeft { return n == 0 ? .blocked : .triesLeft(n) }
        switch r.statusWord.value {
        case 0x9000: return .verified
        case 0x6983, 0x6984: return .blocked
        default: throw .unexpectedStatus(r.statusWord, operation: "VERIFY (status) \(kind)")
        }
    }

    /// The empty VERIFY by short file identifier, `00 20 00 80|SFI` (no SELECT): the retry
    /// counter like ``pinStatus(_:on:)`` (9000 → ``PINStatus/verified``, some cards once the PIN
    /// is verified), or nil when the card refuses SFI addressing (``sfiRefusals``; it then gets
    /// the SELECT form). Any other status is an error: the PIN is never sent after an answer that
    /// is not a counter.
    public static func pinStatusBySFI(_ kind: PINKind, on channel: CardChannel) throws(JPKIError)
        -> PINStatus?
    {
        let r = try send(channel, CommandAPDU(ins: 0x20, p1: 0x00, p2: 0x80 | UInt8(kind.fileID & 0x1F)))
        if let n = r.statusWord.retriesLeft { return n == 0 ? .blocked : .triesLeft(n) }
        switch r.statusWord.value {
        case 0x9000: return .verified
        case 0x6983, 0x6984: return .blocked
        case let sw where sfiRefusals.contains(sw): return nil
        default: throw .unexpectedStatus(r.statusWord, operation: "VERIFY (status, SFI) \(kind)")
        }
    }

    /// Sends `00 20 00 P2 Lc <PIN>` (P2 = 80: the key reference selected by a preceding
    /// ``pinStatus(_:on:)``; 80|SFI after ``pinStatusBySFI(_:on:)``). Does no checks of its own
    /// beyond the format: use ``verifyPIN(_:pin:allowLastTry:bySFI:on:)``, which reads the counter
    /// first.
    static func sendVerify(_ kind: PINKind, bytes: [UInt8], p2: UInt8 = 0x80, on channel: CardChannel)
        throws(JPKIError)
    {
        var command = CommandAPDU(ins: 0x20, p1: 0x00, p2: p2, data: bytes)
        defer {
            for i in command.data.indices { command.data[i] = 0 }
        }
        let r = try send(channel, command, sensitivity: .commandData)
        if let n = r.statusWord.retriesLeft { throw .wrongPIN(kind, triesLeft: n) }
        switch r.statusWord.value {
        case 0x9000: return
        case 0x6983, 0x6984: throw .pinBlocked(kind)
        case 0x6700, 0x6A80: throw .wrongData(r.statusWord)
        default: throw .unexpectedStatus(r.statusWord, operation: "VERIFY \(kind)")
        }
    }

    /// Verifies a PIN without ever spending a try by accident:
    /// 1. checks the format (no APDU on failure);
    /// 2. reads the counter (SELECT PIN EF + empty VERIFY);
    /// 3. refuses when blocked, or when exactly one try is left and `allowLastTry` is false
    ///    (nothing sent);
    /// 4. sends the PIN once. Wrong → ``JPKIError/wrongPIN(_:triesLeft:)``.
    ///
    /// When the counter query answers 9000 (``PINStatus/verified``: some cards do once the PIN
    /// was verified in this card session) the PIN is still sent, and nothing is refused: a
    /// verified state means the last VERIFY succeeded, which resets the counter, so no try can be
    /// at risk beyond the one a wrong PIN spends; and the card's leftover state — perhaps from
    /// another client's operation — must never stand in for the PIN this caller gives (a correct
    /// PIN spends nothing; a wrong one is ``JPKIError/wrongPIN(_:triesLeft:)`` as always).
    /// Returns ``PINStatus/verified`` then. Assumption (no public source): JPKI cards reset the
    /// retry counter on a successful VERIFY, as ISO/IEC 7816-4 cards do.
    /// The PIN's application must be selected. Returns the counter read before the VERIFY.
    @discardableResult
    public static func verifyPIN(
        _ kind: PINKind, pin: PIN, allowLastTry: Bool, bySFI: Bool = false, on channel: CardChannel
    ) throws(JPKIError) -> PINStatus {
        var bytes = try pin.validatedBytes(for: kind)
        defer {
            for i in bytes.indices { bytes[i] = 0 }
        }
        // By SFI (2 APDUs) when asked and the card answers the counter query that way; the PIN
        // is only ever sent in the form whose counter query the card answered.
        var p2: UInt8 = 0x80
        let status: PINStatus
        if bySFI, let s = try pinStatusBySFI(kind, on: channel) {
            status = s
            p2 = 0x80 | UInt8(kind.fileID & 0x1F)
        } else {
            status = try pinStatus(kind, on: channel)
        }
        switch status {
        case .blocked: throw .pinBlocked(kind)
        case .verified: break
        case .triesLeft(let n):
            if n <= 1 && !allowLastTry { throw .lastTryRefused(kind) }
        }
        try sendVerify(kind, bytes: bytes, p2: p2, on: channel)
        return status
    }

    /// `SELECT <key EF>` + `80 2A 00 80 Lc <input> 00`: the card signs with the key and the
    /// answer is returned as is. The input is what ``CardSignatureScheme/cardInput(message:)``
    /// makes for the key: a DigestInfo for RSA keys (the card pads PKCS#1 v1.5; 256-byte
    /// signature), the raw digest for ECDSA keys (`r ‖ s`, 96 bytes for P-384 — assumed). The
    /// JPKI AP must be selected and the key's PIN verified.
    /// With `bySFI`, `80 2A 00 80|SFI` is sent first without the SELECT; a card that refuses
    /// that addressing (``sfiRefusals``) gets the SELECT form.
    public static func sign(_ key: JPKIKey, digestInfo: [UInt8], bySFI: Bool = false, on channel: CardChannel)
        throws(JPKIError) -> [UInt8]
    {
        guard (1...245).contains(digestInfo.count) else {
            throw .invalidDigest("DigestInfo must be 1-245 bytes")
        }
        var r: ResponseAPDU?
        if bySFI {
            let bySFIAnswer = try send(
                channel,
                CommandAPDU(
                    cla: 0x80, ins: 0x2A, p1: 0x00, p2: 0x80 | UInt8(key.fileID & 0x1F), data: digestInfo,
                    le: 256))
            r = sfiRefusals.contains(bySFIAnswer.statusWord.value) ? nil : bySFIAnswer
        }
        if r == nil {
            try selectFile(key.fileID, on: channel)
            r = try send(
                channel,
                CommandAPDU(cla: 0x80, ins: 0x2A, p1: 0x00, p2: 0x80, data: digestInfo, le: 256))
        }
        guard let r else { throw .malformedData("no signature answer") }
        switch r.statusWord.value {
        case 0x9000:
            guard !r.data.isEmpty else { throw .malformedData("empty signature") }
            return r.data
        case 0x6982: throw .pinRequired(key.pin)
        case 0x6983, 0x6984: throw .pinBlocked(key.pin)
        case 0x6700, 0x6A80, 0x6985: throw .wrongData(r.statusWord)
        default: throw .unexpectedStatus(r.statusWord, operation: "COMPUTE SIGNATURE")
        }
    }
}

/// The state of one PIN's retry counter.
public enum PINStatus: Sendable, Hashable, CustomStringConvertible {
    /// Not verified; this many tries remain (1 = the next wrong PIN blocks it).
    case triesLeft(Int)
    /// Blocked: only the municipal office can reset it.
    case blocked
    /// The card answered 9000: the PIN is in the verified state (some cards); the counter is
    /// not known.
    case verified

    /// Tries left, when known (0 when blocked).
    public var triesLeft: Int? {
        switch self {
        case .triesLeft(let n): n
        case .blocked: 0
        case .verified: nil
        }
    }

    /// `tries_left(n)`, `blocked` or `verified`.
    public var description: String {
        switch self {
        case .triesLeft(let n): "tries_left(\(n))"
        case .blocked: "blocked"
        case .verified: "verified"
        }
    }
}
