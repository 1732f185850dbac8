/// One message from vpcd (vsmartcard api.txt): a 1-byte control payload or a C-APDU.
public enum VPCDMessage: Sendable, Hashable {
    /// `00`: power off.
    case powerOff
    /// `01`: power on.
    case powerOn
    /// `02`: warm reset.
    case reset
    /// `04`: get ATR (the only control message that is answered).
    case getATR
    /// Any other 1-byte payload (ignored by the bridge).
    case unknownControl(UInt8)
    /// A payload of 2 or more bytes: a command APDU, answered with the R-APDU.
    case apdu([UInt8])

    /// Classifies one frame payload (1...65,535 bytes).
    public init(payload: ArraySlice<UInt8>) throws(VPCDFrameError) {
        guard let first = payload.first else { throw .emptyFrame }
        guard payload.count > 1 else {
            switch first {
            case 0x00: self = .powerOff
            case 0x01: self = .powerOn
            case 0x02: self = .reset
            case 0x04: self = .getATR
            default: self = .unknownControl(first)
            }
            return
        }
        self = .apdu(Array(payload))
    }
}

/// Why vpcd framing failed.
public enum VPCDFrameError: Error, Sendable, Hashable {
    /// A frame with length 0 (vpcd never sends one).
    case emptyFrame
    /// A payload too long for the u16 length prefix.
    case payloadTooLong(Int)
}

/// The vpcd framing, I/O-free: bytes go in as they arrive from the socket (any split), whole
/// messages come out. Each frame is a big-endian u16 length + payload.
public struct VPCDFrameDecoder: Sendable {
    private var buffer: [UInt8] = []
    private var start = 0

    /// An empty decoder.
    public init() {}

    /// Bytes received and not yet returned as messages.
    public var bufferedByteCount: Int { buffer.count - start }

    /// Appends received bytes.
    public mutating func append<S: Sequence<UInt8>>(_ bytes: S) {
        if start > 0 && start >= buffer.count / 2 {
            buffer.removeFirst(start)
            start = 0
        }
        buffer.append(contentsOf: bytes)
    }

    /// The next complete message, or nil when more bytes are needed. A zero-length frame is an
    /// error (the bridge closes the connection).
    public mutating func next() throws(VPCDFrameError) -> VPCDMessage? {
        guard buffer.count - start >= 2 else { return nil }
        let length = Int(buffer[start]) << 8 | Int(buffer[start + 1])
        guard length > 0 else { throw .emptyFrame }
        guard buffer.count - start - 2 >= length else { return nil }
        let payload = buffer[(start + 2)..<(start + 2 + length)]
        start += 2 + length
        return try VPCDMessage(payload: payload)
    }

    /// Frames a payload (an ATR or an R-APDU) for vpcd.
    public static func frame(_ payload: [UInt8]) throws(VPCDFrameError) -> [UInt8] {
        guard payload.count <= 0xFFFF else { throw .payloadTooLong(payload.count) }
        return [UInt8(payload.count >> 8), UInt8(payload.count & 0xFF)] + payload
    }
}
