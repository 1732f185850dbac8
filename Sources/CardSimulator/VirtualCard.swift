import SmartCard

/// A card that can be driven by ``VPCDBridge`` (through the real pcscd) or used in-process
/// through ``InProcessTransport``.
public protocol VirtualCard: AnyObject {
    /// The ATR sent to vpcd on GET ATR.
    var atr: [UInt8] { get }
    /// Power on (vpcd control 01): the card starts in its reset state.
    func powerOn()
    /// Power off (vpcd control 00).
    func powerOff()
    /// Warm reset (vpcd control 02): security state is lost, PIN counters are kept.
    func reset()
    /// Processes one command APDU and returns the raw response (data + SW1 SW2).
    /// Returns nil when the card "is removed" at this point (fault injection): the bridge then
    /// closes its connection, and the in-process transport throws ``SmartCardError/cardRemoved``.
    func process(_ command: [UInt8]) -> [UInt8]?
}

/// A ``CardTransport`` that calls a ``VirtualCard`` directly, in-process.
public final class InProcessTransport: CardTransport {
    /// The card.
    public let card: any VirtualCard
    /// Whether extended length may be used.
    public var supportsExtendedLength: Bool
    private var removed = false

    /// Creates a transport; the card is powered on.
    public init(card: any VirtualCard, supportsExtendedLength: Bool = true) {
        self.card = card
        self.supportsExtendedLength = supportsExtendedLength
        card.powerOn()
    }

    public func transmit(_ command: [UInt8]) throws(SmartCardError) -> [UInt8] {
        if removed { throw .cardRemoved }
        guard let response = card.process(command) else {
            removed = true
            throw .cardRemoved
        }
        return response
    }
}
