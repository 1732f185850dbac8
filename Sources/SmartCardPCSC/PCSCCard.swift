import CPCSCLite
import Foundation
import SmartCard

/// How a connection shares the card (SCARD_SHARE_*).
public enum ShareMode: Sendable {
    case shared, exclusive, direct
    var raw: DWORD {
        switch self {
        case .shared: DWORD(SCARD_SHARE_SHARED)
        case .exclusive: DWORD(SCARD_SHARE_EXCLUSIVE)
        case .direct: DWORD(SCARD_SHARE_DIRECT)
        }
    }
}

/// What happens to the card on disconnect or reconnect (SCARD_*_CARD).
public enum Disposition: Sendable {
    case leave, reset, unpower
    var raw: DWORD {
        switch self {
        case .leave: DWORD(SCARD_LEAVE_CARD)
        case .reset: DWORD(SCARD_RESET_CARD)
        case .unpower: DWORD(SCARD_UNPOWER_CARD)
        }
    }
}

/// The transmission protocol of a connection.
public enum CardProtocol: Sendable, Hashable {
    case t0, t1, raw
}

/// A snapshot of SCardStatus.
public struct CardStatus: Sendable, Hashable {
    /// The reader's name.
    public var reader: String
    /// The raw SCARD_* state bits.
    public var state: UInt
    /// The active protocol.
    public var cardProtocol: CardProtocol?
    /// The card's ATR.
    public var atr: [UInt8]
    /// Whether a card is present.
    public var isPresent: Bool { state & UInt(SCARD_PRESENT) != 0 }
}

func check(_ rc: LONG, _ function: String) throws(PCSCError) {
    if rc != SCARD_S_SUCCESS {
        throw PCSCError(rc: UInt32(truncatingIfNeeded: rc), function: function)
    }
}

/// A connection to the card in one reader. It owns its PC/SC context and a dedicated thread:
/// every PC/SC call for this reader runs there, one at a time (one serial worker per reader).
///
/// Use ``perform(_:)`` to run protocol code against the card inside one exclusive transaction;
/// the closure runs synchronously on the reader thread, so no APDU pays an async hop.
public final class PCSCCard: CardTransport, @unchecked Sendable {
    /// The reader this card is in.
    public let reader: String
    /// The active protocol.
    public private(set) var activeProtocol: CardProtocol
    /// Whether extended APDUs may be sent (assumed for T=1 readers; can be turned off).
    public var supportsExtendedLength: Bool

    private let thread: DedicatedThread
    private var context: SCARDCONTEXT = 0
    private var handle: SCARDHANDLE = 0
    private var connected = false
    /// The receive buffer (maximum extended response), reused by every ``transmit(_:)`` on the
    /// reader thread: allocating and zeroing 64 KiB per APDU cost ~4% of an APDU round trip.
    private var receiveBuffer = [UInt8](repeating: 0, count: 65_538)

    private init(reader: String, thread: DedicatedThread) {
        self.reader = reader
        self.thread = thread
        self.activeProtocol = .t1
        self.supportsExtendedLength = true
    }

    /// Connects to the card in `reader` (shared by default, T=0 or T=1).
    public static func connect(
        reader: String, share: ShareMode = .shared, protocols: Set<CardProtocol> = [.t0, .t1]
    ) async throws(PCSCError) -> PCSCCard {
        let card = PCSCCard(reader: reader, thread: DedicatedThread(name: "pcsc:\(reader)"))
        do {
            try await card.thread.run { () throws(PCSCError) in
                try card.syncConnect(share: share, protocols: protocols)
            }
        } catch {
            card.thread.stop()
            throw error
        }
        return card
    }

    private func syncConnect(share: ShareMode, protocols: Set<CardProtocol>) throws(PCSCError) {
        try check(SCardEstablishContext(DWORD(SCARD_SCOPE_SYSTEM), nil, nil, &context), "SCardEstablishContext")
        var mask: DWORD = 0
        if protocols.contains(.t0) { mask |= DWORD(SCARD_PROTOCOL_T0) }
        if protocols.contains(.t1) { mask |= DWORD(SCARD_PROTOCOL_T1) }
        if protocols.contains(.raw) { mask |= DWORD(SCARD_PROTOCOL_RAW) }
        var active: DWORD = 0
        let rc = SCardConnect(context, reader, share.raw, mask, &handle, &active)
        if rc != SCARD_S_SUCCESS {
            SCardReleaseContext(context)
            context = 0
            try check(rc, "SCardConnect")
        }
        connected = true
        activeProtocol = Self.protocolFrom(active)
    }

    private static func protocolFrom(_ active: DWORD) -> CardProtocol {
        if active == DWORD(SCARD_PROTOCOL_T0) { return .t0 }
        if active == DWORD(SCARD_PROTOCOL_RAW) { return .raw }
        return .t1
    }

    /// Runs `body` on the reader thread inside one card transaction
    /// (SCardBeginTransaction … SCardEndTransaction).
    public func perform<T: Sendable>(
        trace: APDUTrace? = nil, _ body: @escaping @Sendable (CardChannel) throws -> T
    ) async throws -> T {
        let result: Result<T, any Error> = await thread.run { () -> Result<T, any Error> in
            Result {
                let channel = CardChannel(transport: self, trace: trace)
                return try channel.transaction(body)
            }
        }
        return try result.get()
    }

    /// Runs `body` on the reader thread without opening a transaction.
    public func onReaderThread<T: Sendable>(_ body: @escaping @Sendable (PCSCCard) throws -> T)
        async throws -> T
    {
        let result: Result<T, any Error> = await thread.run { () -> Result<T, any Error> in
            Result { try body(self) }
        }
        return try result.get()
    }

    // MARK: CardTransport (call on the reader thread only)

    public func transmit(_ command: [UInt8]) throws(SmartCardError) -> [UInt8] {
        guard connected else {
            throw .service(PCSCError(rc: PCSCError.eInvalidHandle, function: "SCardTransmit").serviceError)
        }
        var length = DWORD(receiveBuffer.count)
        let pci = activeProtocol == .t0 ? cpcsc_pci_t0() : cpcsc_pci_t1()
        let handle = self.handle
        let rc = command.withUnsafeBufferPointer { cmd in
            receiveBuffer.withUnsafeMutableBufferPointer { buf in
                SCardTransmit(handle, pci, cmd.baseAddress, DWORD(cmd.count), nil, buf.baseAddress, &length)
            }
        }
        if rc != SCARD_S_SUCCESS {
            let error = PCSCError(rc: UInt32(truncatingIfNeeded: rc), function: "SCardTransmit")
            if error.rc == PCSCError.wRemovedCard || error.rc == PCSCError.wResetCard
                || error.rc == PCSCError.eNoSmartcard
            {
                throw .cardRemoved
            }
            throw .service(error.serviceError)
        }
        // Copy the response out, then wipe what it occupied (responses may hold personal data).
        let count = min(Int(length), receiveBuffer.count)
        return receiveBuffer.withUnsafeMutableBufferPointer { buf in
            let response = Array(buf[0..<count])
            buf.baseAddress!.update(repeating: 0, count: count)
            return response
        }
    }

    public func beginTransaction() throws(SmartCardError) {
        let rc = SCardBeginTransaction(handle)
        if rc != SCARD_S_SUCCESS {
            let error = PCSCError(rc: UInt32(truncatingIfNeeded: rc), function: "SCardBeginTransaction")
            if error.rc == PCSCError.wRemovedCard || error.rc == PCSCError.wResetCard {
                throw .cardRemoved
            }
            throw .service(error.serviceError)
        }
    }

    public func endTransaction() throws(SmartCardError) {
        let rc = SCardEndTransaction(handle, DWORD(SCARD_LEAVE_CARD))
        if rc != SCARD_S_SUCCESS {
            throw .service(PCSCError(rc: UInt32(truncatingIfNeeded: rc), function: "SCardEndTransaction").serviceError)
        }
    }

    /// SCardStatus on the reader thread.
    public func status() async throws(PCSCError) -> CardStatus {
        try await thread.run { () throws(PCSCError) in try self.syncStatus() }
    }

    /// SCardStatus; call on the reader thread (e.g. inside ``perform(_:)``).
    public func syncStatus() throws(PCSCError) -> CardStatus {
        var nameBuffer = [CChar](repeating: 0, count: 512)
        var nameLength = DWORD(nameBuffer.count)
        var state: DWORD = 0
        var proto: DWORD = 0
        var atr = [UInt8](repeating: 0, count: Int(cpcsc_max_atr_size()))
        var atrLength = DWORD(atr.count)
        try check(
            SCardStatus(handle, &nameBuffer, &nameLength, &state, &proto, &atr, &atrLength),
            "SCardStatus")
        let name = nameBuffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        return CardStatus(
            reader: name, state: UInt(state), cardProtocol: Self.protocolFrom(proto),
            atr: Array(atr[0..<Int(atrLength)]))
    }

    /// SCardReconnect, e.g. after SCARD_W_RESET_CARD, or to reset the card.
    public func reconnect(share: ShareMode = .shared, initialization: Disposition = .leave)
        async throws(PCSCError)
    {
        try await thread.run { () throws(PCSCError) in
            var active: DWORD = 0
            try check(
                SCardReconnect(
                    self.handle, share.raw, DWORD(SCARD_PROTOCOL_T0 | SCARD_PROTOCOL_T1),
                    initialization.raw, &active), "SCardReconnect")
            self.activeProtocol = Self.protocolFrom(active)
        }
    }

    /// Disconnects, releases the context and stops the reader thread.
    public func disconnect(_ disposition: Disposition = .leave) async {
        await thread.run { () -> Void in
            if self.connected {
                SCardDisconnect(self.handle, disposition.raw)
                self.connected = false
            }
            if self.context != 0 {
                SCardReleaseContext(self.context)
                self.context = 0
            }
        }
        thread.stop()
    }
}
