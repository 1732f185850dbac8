import CPCSCLite
import Foundation
import SmartCard

/// A PC/SC resource-manager context with its own thread, for reader listing and status queries.
/// Card I/O uses ``PCSCCard``, which has a context per reader so readers never wait on each other.
public final class PCSCContext: @unchecked Sendable {
    private let thread: DedicatedThread
    private var context: SCARDCONTEXT = 0

    private init(thread: DedicatedThread) {
        self.thread = thread
    }

    /// SCardEstablishContext (system scope). Fails with `SCARD_E_NO_SERVICE` when pcscd is not running.
    public static func establish() async throws(PCSCError) -> PCSCContext {
        let ctx = PCSCContext(thread: DedicatedThread(name: "pcsc-context"))
        do {
            try await ctx.thread.run { () throws(PCSCError) in
                try check(
                    SCardEstablishContext(DWORD(SCARD_SCOPE_SYSTEM), nil, nil, &ctx.context),
                    "SCardEstablishContext")
            }
        } catch {
            ctx.thread.stop()
            throw error
        }
        return ctx
    }

    /// The names of the connected readers. No readers is an empty list, not an error.
    public func readers() async throws(PCSCError) -> [String] {
        try await thread.run { () throws(PCSCError) in try listReaders(self.context) }
    }

    /// The state of each reader: card present or not, and its ATR.
    public func readerStates() async throws(PCSCError) -> [ReaderState] {
        try await thread.run { () throws(PCSCError) in
            let names = try listReaders(self.context)
            if names.isEmpty { return [] }
            var states = ReaderStateArray(names: names)
            try check(states.wait(self.context, timeout: 0), "SCardGetStatusChange")
            return states.snapshot()
        }
    }

    /// SCardReleaseContext and stops the thread.
    public func release() async {
        await thread.run { () -> Void in
            if self.context != 0 {
                SCardReleaseContext(self.context)
                self.context = 0
            }
        }
        thread.stop()
    }
}

/// The state of one reader.
public struct ReaderState: Sendable, Hashable {
    /// The reader's name.
    public var name: String
    /// Whether a card is in the reader.
    public var cardPresent: Bool
    /// The card's ATR, when present.
    public var atr: [UInt8]
    /// Whether another application holds the card exclusively.
    public var exclusive: Bool
    /// Whether the card is mute (no ATR).
    public var mute: Bool
    /// The raw SCARD_STATE_* bits.
    public var rawState: UInt
}

func listReaders(_ context: SCARDCONTEXT) throws(PCSCError) -> [String] {
    var length: DWORD = 0
    var rc = SCardListReaders(context, nil, nil, &length)
    if UInt32(truncatingIfNeeded: rc) == PCSCError.eNoReadersAvailable { return [] }
    try check(rc, "SCardListReaders")
    var buffer = [CChar](repeating: 0, count: Int(length))
    rc = SCardListReaders(context, nil, &buffer, &length)
    if UInt32(truncatingIfNeeded: rc) == PCSCError.eNoReadersAvailable { return [] }
    try check(rc, "SCardListReaders")
    return parseMultiString(buffer)
}

/// Splits a PC/SC multi-string (names separated by NUL, ended by an empty name).
func parseMultiString(_ buffer: [CChar]) -> [String] {
    var names: [String] = []
    var current: [UInt8] = []
    for c in buffer {
        if c == 0 {
            if current.isEmpty { break }
            names.append(String(decoding: current, as: UTF8.self))
            current.removeAll()
        } else {
            current.append(UInt8(bitPattern: c))
        }
    }
    return names
}

/// An array of SCARD_READERSTATE that owns the C strings it points to.
struct ReaderStateArray {
    private(set) var names: [String]
    private var cNames: [UnsafeMutablePointer<CChar>]
    var states: [SCARD_READERSTATE]

    init(names: [String], includePnP: Bool = false) {
        var all = names
        if includePnP { all.append(String(cString: cpcsc_pnp_notification())) }
        self.names = all
        cNames = all.map { strdup($0)! }
        states = cNames.map { ptr in
            var s = SCARD_READERSTATE()
            s.szReader = UnsafePointer(ptr)
            s.dwCurrentState = DWORD(SCARD_STATE_UNAWARE)
            return s
        }
    }

    mutating func free() {
        for p in cNames { Foundation.free(p) }
        cNames = []
    }

    mutating func wait(_ context: SCARDCONTEXT, timeout: DWORD) -> LONG {
        let count = DWORD(states.count)
        return states.withUnsafeMutableBufferPointer { buf in
            SCardGetStatusChange(context, timeout, buf.baseAddress, count)
        }
    }

    func snapshot() -> [ReaderState] {
        var out: [ReaderState] = []
        for (i, s) in states.enumerated() where !names[i].hasPrefix("\\\\?PnP?") {
            out.append(Self.readerState(name: names[i], s))
        }
        return out
    }

    static func readerState(name: String, _ s: SCARD_READERSTATE) -> ReaderState {
        let ev = UInt(s.dwEventState)
        let present = ev & UInt(SCARD_STATE_PRESENT) != 0
        let atr: [UInt8] = withUnsafeBytes(of: s.rgbAtr) { raw in
            Array(raw.prefix(Int(min(s.cbAtr, DWORD(raw.count)))))
        }
        return ReaderState(
            name: name, cardPresent: present, atr: present ? atr : [],
            exclusive: ev & UInt(SCARD_STATE_EXCLUSIVE) != 0,
            mute: ev & UInt(SCARD_STATE_MUTE) != 0, rawState: ev)
    }
}
