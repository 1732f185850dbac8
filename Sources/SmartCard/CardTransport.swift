/// Something that carries raw APDUs to a card and back: a PC/SC connection, the in-process
/// simulator, a recorded transcript. Calls are synchronous: a transport is driven by one thread
/// at a time (the reader's worker thread for PC/SC), so protocol code stays plain functions.
public protocol CardTransport: AnyObject {
    /// Sends one encoded command APDU and returns the raw response (data + SW1 SW2).
    /// No 61xx/6Cxx processing happens here; ``CardChannel`` does that.
    func transmit(_ command: [UInt8]) throws(SmartCardError) -> [UInt8]

    /// Whether extended Lc/Le may be sent through this transport.
    var supportsExtendedLength: Bool { get }

    /// Starts exclusive access (PC/SC SCardBeginTransaction). Default: nothing.
    func beginTransaction() throws(SmartCardError)
    /// Ends exclusive access. Default: nothing.
    func endTransaction() throws(SmartCardError)
}

extension CardTransport {
    public var supportsExtendedLength: Bool { true }
    public func beginTransaction() throws(SmartCardError) {}
    public func endTransaction() throws(SmartCardError) {}
}

/// What part of an exchange must not appear in a trace.
public struct Sensitivity: OptionSet, Sendable, Hashable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    /// The command data (PINs, personal data written to the card).
    public static let commandData = Sensitivity(rawValue: 1)
    /// The response data (identity fields, My Number, card face).
    public static let responseData = Sensitivity(rawValue: 2)
}

/// A channel over a transport: encodes commands, follows 61xx with GET RESPONSE and re-sends
/// on 6Cxx, counts APDUs and feeds an optional redacting ``APDUTrace``.
public final class CardChannel {
    /// The underlying transport.
    public let transport: any CardTransport
    /// Where exchanges are recorded, redacted. Nil = no tracing.
    public var trace: APDUTrace?
    /// Number of APDUs sent to the transport (GET RESPONSE and re-sends included).
    public private(set) var apduCount = 0
    /// Upper bound on GET RESPONSE rounds for one command.
    public var maxChainingRounds = 256

    private var transactionDepth = 0

    /// Creates a channel over a transport.
    public init(transport: any CardTransport, trace: APDUTrace? = nil) {
        self.transport = transport
        self.trace = trace
    }

    /// Whether extended length may be used on this channel.
    public var supportsExtendedLength: Bool { transport.supportsExtendedLength }

    /// Sends a command and returns the complete response.
    ///
    /// - 61xx: GET RESPONSE `00 C0 00 00 xx` is sent until the card stops answering 61xx; the
    ///   data is concatenated and the final status word returned.
    /// - 6Cxx: the command is re-sent once with Le = xx.
    /// VERIFY and CHANGE REFERENCE DATA command data is always redacted in traces.
    public func send(_ command: CommandAPDU, sensitivity: Sensitivity = [])
        throws(SmartCardError) -> ResponseAPDU
    {
        var sens = sensitivity
        if command.ins == 0x20 || command.ins == 0x24 || command.ins == 0x2C {
            sens.insert(.commandData)
        }
        if command.isExtended && !transport.supportsExtendedLength {
            throw .format(.extendedLengthNotAllowed)
        }
        var response = try exchange(command, sensitivity: sens)
        guard response.statusWord.bytesAvailable != nil else { return response }
        var data = response.data
        var rounds = 0
        while let n = response.statusWord.bytesAvailable {
            rounds += 1
            if rounds > maxChainingRounds || data.count > 1 << 20 {
                throw .chainingLimitExceeded
            }
            let getResponse = CommandAPDU(cla: command.cla & 0x03, ins: 0xC0, p1: 0, p2: 0, le: n)
            response = try exchange(getResponse, sensitivity: sens.intersection(.responseData))
            data += response.data
        }
        return ResponseAPDU(data: data, statusWord: response.statusWord)
    }

    /// One command with at most one 6Cxx re-send.
    private func exchange(_ command: CommandAPDU, sensitivity: Sensitivity)
        throws(SmartCardError) -> ResponseAPDU
    {
        let first = try roundTrip(command, sensitivity: sensitivity)
        guard let correct = first.statusWord.correctLength else { return first }
        var again = command
        again.le = correct
        let second = try roundTrip(again, sensitivity: sensitivity)
        if second.statusWord.correctLength != nil { throw .chainingLimitExceeded }
        return second
    }

    private func roundTrip(_ command: CommandAPDU, sensitivity: Sensitivity)
        throws(SmartCardError) -> ResponseAPDU
    {
        var bytes: [UInt8]
        do {
            bytes = try command.encoded()
        } catch {
            throw .format(error)
        }
        // A command whose data is secret (VERIFY's PIN) leaves no copy in its encoded form either.
        defer {
            if sensitivity.contains(.commandData) { for i in bytes.indices { bytes[i] = 0 } }
        }
        trace?.recordCommand(command, encoded: bytes, sensitivity: sensitivity)
        apduCount += 1
        let raw = try transport.transmit(bytes)
        let response: ResponseAPDU
        do {
            response = try ResponseAPDU(decoding: raw)
        } catch {
            trace?.recordMalformedResponse(raw.count)
            throw .format(error)
        }
        trace?.recordResponse(response, sensitivity: sensitivity)
        return response
    }

    /// Runs `body` inside one exclusive card transaction. Nested calls join the outer one.
    public func transaction<T>(_ body: (CardChannel) throws -> T) throws -> T {
        if transactionDepth == 0 {
            try transport.beginTransaction()
        }
        transactionDepth += 1
        defer {
            transactionDepth -= 1
            if transactionDepth == 0 {
                try? transport.endTransaction()
            }
        }
        return try body(self)
    }
}
