/// Reader and card events, whatever the backend (PC/SC through pcscd, the in-process simulator).
public enum ReaderEvent: Sendable, Hashable {
    /// A reader appeared (also reported for every reader present when watching starts).
    case readerAdded(String)
    /// A reader disappeared (its card, if any, is gone with it).
    case readerRemoved(String)
    /// A card was inserted (or was present when watching started); `atr` as the backend saw it.
    case cardInserted(reader: String, atr: [UInt8])
    /// The card was removed.
    case cardRemoved(reader: String)
    /// The reader service cannot be reached; `code` is a stable name of the cause.
    case serviceUnavailable(code: String)
    /// The reader service is reachable again (readers and cards are reported anew).
    case serviceRestored
}

/// Presence and ATR of the card behind one connection, read from that connection's own handle.
public struct CardPresence: Sendable, Hashable {
    /// Whether the connection's card is still in the reader (false once it was removed, even
    /// when another card is in the reader now).
    public var isPresent: Bool
    /// The card's answer to reset.
    public var atr: [UInt8]

    /// Creates a presence value.
    public init(isPresent: Bool, atr: [UInt8]) {
        self.isPresent = isPresent
        self.atr = atr
    }
}

/// A connection to the card in one reader: the seam between the daemon's reader supervision and
/// a backend (`PCSCCard` in SmartCardPCSC for pcscd; `SimulatedReaders` in CardSimulator for in-process tests).
public protocol ReaderConnection: AnyObject, Sendable {
    /// Runs `body` inside one exclusive card transaction, on the connection's own thread (never
    /// on the caller's: a card operation blocks).
    func run<T: Sendable>(_ body: @escaping @Sendable (CardChannel) throws -> T) async throws -> T
    /// Presence and ATR from this connection's handle; call only inside ``run(_:)``.
    func presence() throws -> CardPresence
    /// Resets the card: it is powered up afresh and its ATR read again.
    func resetCard() async throws
    /// Releases the connection (the card stays powered for other applications).
    func close() async
}

/// Where readers, cards and connections come from: the seam that lets the daemon run against
/// pcscd (`PCSCReaderBackend`, SmartCardPCSC) or against simulated readers in-process, without pcscd.
public protocol ReaderBackend: AnyObject, Sendable {
    /// The events, in order, from the state when watching started. The stream ends after
    /// ``stop()``.
    var events: AsyncStream<ReaderEvent> { get }
    /// Connects to the card in `reader`.
    func connect(reader: String) async throws -> any ReaderConnection
    /// Stops watching; ends ``events``.
    func stop()
}
