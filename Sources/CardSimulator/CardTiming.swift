import Foundation
import SmartCard

#if canImport(Glibc)
    import Glibc
#endif

/// A real card's clock for the simulated card (`jpki-sim --timing PROFILE`): how long one
/// command/response exchange takes through a reader, from the first byte of the command to the
/// last byte of the response. Every figure and its source is in `TIMING.md` next to this file;
/// what no public source gives is marked there as an assumption.
///
/// The time of one exchange is
/// `readerPerAPDU + link(command bytes, response bytes) + card processing`, where
/// - the link time is the ISO framing arithmetic of the interface (``Link``): T=1 blocks of
///   ISO/IEC 7816-3 for `contact`, ISO/IEC 14443-3/-4 Type B frames for `contactless`, both
///   with block chaining and its acknowledgements when an APDU is longer than one block;
/// - the card processing is ``commandProcessing`` for every APDU plus an operation cost:
///   ``pinVerify`` for a VERIFY that carries a PIN, ``rsa2048Sign`` for a successful
///   COMPUTE DIGITAL SIGNATURE, ``readPerByte`` per byte returned by READ BINARY/RECORD.
///
/// ``none`` costs nothing (the simulator's own speed, for tests).
public struct CardTimingProfile: Sendable, Hashable, CustomStringConvertible {
    /// The reader ↔ card interface.
    public enum Link: Sendable, Hashable {
        /// No transfer time.
        case instant
        /// ISO/IEC 7816-3 T=1 at `bitsPerSecond`; `ifsc`/`ifsd` = the information field sizes of
        /// the card and the reader; `characterETU` = etu per character (11 with TC1 = FF);
        /// `blockGuardETU` = the block guard time between blocks of opposite direction.
        case t1(bitsPerSecond: Int, ifsc: Int, ifsd: Int, characterETU: Int, blockGuardETU: Int)
        /// ISO/IEC 14443 Type B at `bitsPerSecond` (106/212/424/848 kbit/s), ISO/IEC 14443-4
        /// blocks (PCB + INF + CRC_B) of at most `fsc` (card) / `fsd` (reader) bytes.
        case typeB(bitsPerSecond: Int, fsc: Int, fsd: Int)
    }

    /// The name given on the command line (`none`, `contact`, `contactless`, …).
    public var name: String
    /// The interface.
    public var link: Link
    /// The reader's own cost per APDU (USB CCID transfer to and from the reader).
    public var readerPerAPDU: Duration
    /// Card processing of any APDU (decode, dispatch, status word).
    public var commandProcessing: Duration
    /// Extra card time of a VERIFY that carries a PIN (compare + retry counter write).
    public var pinVerify: Duration
    /// Extra card time of a successful RSA-2048 COMPUTE DIGITAL SIGNATURE.
    public var rsa2048Sign: Duration
    /// Extra card time per byte returned by READ BINARY / READ RECORD (non-volatile memory).
    public var readPerByte: Duration

    /// Creates a profile.
    public init(
        name: String, link: Link, readerPerAPDU: Duration, commandProcessing: Duration,
        pinVerify: Duration, rsa2048Sign: Duration, readPerByte: Duration
    ) {
        self.name = name
        self.link = link
        self.readerPerAPDU = readerPerAPDU
        self.commandProcessing = commandProcessing
        self.pinVerify = pinVerify
        self.rsa2048Sign = rsa2048Sign
        self.readPerByte = readPerByte
    }

    /// No delay at all: today's simulator speed.
    public static let none = CardTimingProfile(
        name: "none", link: .instant, readerPerAPDU: .zero, commandProcessing: .zero,
        pinVerify: .zero, rsa2048Sign: .zero, readPerByte: .zero)

    /// Card operation costs shared by both interfaces (TIMING.md "Card").
    private static func card(_ name: String, _ link: Link) -> CardTimingProfile {
        CardTimingProfile(
            name: name, link: link, readerPerAPDU: .milliseconds(1), commandProcessing: .milliseconds(1),
            pinVerify: .milliseconds(10), rsa2048Sign: .milliseconds(120), readPerByte: .microseconds(2))
    }

    /// A contact reader, T=1 at 38,400 bit/s: 9600 baud × D = 4 from TA1 = 13 (F = 372, D = 4)
    /// of the My Number ATR `3B DA 13 FF 81 31 FB 46 …`; IFSC 254 (TA3 = FE); 11 etu per
    /// character (TC1 = FF); block guard time 22 etu.
    public static let contact = card(
        "contact",
        .t1(bitsPerSecond: 38_400, ifsc: 254, ifsd: 254, characterETU: 11, blockGuardETU: 22))

    /// A contact reader with a card whose ATR has no TA1 (`3B C5 FF 81 31 FB 45 …`): the default
    /// F = 372, D = 1, i.e. 9600 bit/s; otherwise like ``contact``.
    public static let contact9600 = card(
        "contact:9600",
        .t1(bitsPerSecond: 9_600, ifsc: 254, ifsd: 254, characterETU: 11, blockGuardETU: 22))

    /// A contactless reader, ISO 14443 Type B at `kbps` (106, 212, 424 or 848 kbit/s); frame
    /// size 256 both ways (ATQB protocol info `B3 81 A1` of the My Number contactless ATRs:
    /// 212/424 kbit/s both directions, FSCI 8). The bit rate is fc / (128 / D) with
    /// fc = 13.56 MHz: "106" is 105,937 bit/s.
    public static func contactless(kbps: Int = 424) -> CardTimingProfile {
        card(
            kbps == 424 ? "contactless" : "contactless:\(kbps)",
            .typeB(bitsPerSecond: 13_560_000 * max(1, kbps / 106) / 128, fsc: 256, fsd: 256))
    }

    /// The profile names `--timing` accepts.
    public static let names = [
        "none", "contact", "contact:9600", "contactless", "contactless:106", "contactless:212", "contactless:424",
    ]

    /// Parses `none`, `contact` (38,400 bit/s), `contact:9600`, `contactless` (424 kbit/s) or
    /// `contactless:106|212|424`.
    public init(parsing text: String) throws(CardSimulatorError) {
        switch text {
        case "none", "": self = .none
        case "contact": self = .contact
        case "contact:9600": self = .contact9600
        case "contactless": self = .contactless()
        case "contactless:106": self = .contactless(kbps: 106)
        case "contactless:212": self = .contactless(kbps: 212)
        case "contactless:424": self = .contactless(kbps: 424)
        default:
            throw .invalidTiming(
                text, reason: "valid: \(Self.names.joined(separator: ", "))")
        }
    }

    public var description: String { name }

    /// True for ``none``-like profiles that never delay.
    public var isInstant: Bool {
        link == .instant && readerPerAPDU == .zero && commandProcessing == .zero && pinVerify == .zero
            && rsa2048Sign == .zero && readPerByte == .zero
    }

    // MARK: The model

    /// Time of one exchange: reader + link + card.
    public func exchangeTime(command: [UInt8], response: [UInt8]) -> Duration {
        if isInstant { return .zero }
        return readerPerAPDU + linkTime(commandBytes: command.count, responseBytes: response.count)
            + cardTime(command: command, response: response)
    }

    /// The card's processing time for this command and its response.
    public func cardTime(command: [UInt8], response: [UInt8]) -> Duration {
        var t = commandProcessing
        guard command.count >= 4, response.count >= 2 else { return t }
        let ins = command[1]
        let sw = UInt16(response[response.count - 2]) << 8 | UInt16(response[response.count - 1])
        switch ins {
        case 0x20 where command.count > 5:
            // VERIFY with data (case 3): the PIN is compared and the counter written.
            t += pinVerify
        case 0x2A where sw == 0x9000 && response.count > 2:
            t += rsa2048Sign
        case 0xB0, 0xB2:
            t += readPerByte * (response.count - 2)
        default:
            break
        }
        return t
    }

    /// Transfer time of a command of `commandBytes` and a response of `responseBytes` (whole
    /// APDUs, status word included) over ``link``.
    public func linkTime(commandBytes: Int, responseBytes: Int) -> Duration {
        switch link {
        case .instant:
            return .zero
        case .t1(let bps, let ifsc, let ifsd, let charETU, let bgt):
            // Command: I-blocks of at most IFSC information bytes (reader → card); each but the
            // last is acknowledged by an R-block (card → reader). Response: I-blocks of at most
            // IFSD bytes, each but the last acknowledged by the reader. Every block = NAD PCB
            // LEN + information + LRC (4 bytes of framing). Each change of direction costs the
            // block guard time.
            let cBlocks = Self.blocks(commandBytes, ifsc)
            let rBlocks = Self.blocks(responseBytes, ifsd)
            let characters =
                commandBytes + 4 * cBlocks + 4 * (cBlocks - 1) + responseBytes + 4 * rBlocks + 4 * (rBlocks - 1)
            let turns = 2 * (cBlocks - 1) + 1 + 2 * (rBlocks - 1)
            return Self.etus(characters * charETU + turns * bgt, bitsPerSecond: bps)
        case .typeB(let bps, let fsc, let fsd):
            // ISO 14443-4 blocks: PCB + INF + CRC_B (3 bytes of framing, no CID/NAD), at most FSC
            // (reader → card) or FSD (card → reader) bytes per frame; chained blocks are each
            // acknowledged by an R(ACK) block (3 bytes). ISO 14443-3 Type B character = 10 etu
            // (start, 8 data bits, stop; EGT 0); frame = SOF (12 etu) + characters + EOF (10 etu);
            // a card frame is preceded by TR1 (10 etu); each turn-around costs TR0 (8 etu).
            let cBlocks = Self.blocks(commandBytes, fsc - 3)
            let rBlocks = Self.blocks(responseBytes, fsd - 3)
            let readerFrames = cBlocks + (rBlocks - 1)  // command blocks + ACKs for the response
            let cardFrames = rBlocks + (cBlocks - 1)  // response blocks + ACKs for the command
            let characters =
                commandBytes + 3 * cBlocks + 3 * (cBlocks - 1) + responseBytes + 3 * rBlocks + 3 * (rBlocks - 1)
            let frames = readerFrames + cardFrames
            let turns = frames  // every frame answers the previous one
            let etu = characters * 10 + frames * (12 + 10) + cardFrames * 10 + turns * 8
            return Self.etus(etu, bitsPerSecond: bps)
        }
    }

    static func blocks(_ bytes: Int, _ size: Int) -> Int {
        max(1, (bytes + size - 1) / size)
    }

    static func etus(_ n: Int, bitsPerSecond: Int) -> Duration {
        // n etu at bitsPerSecond, in nanoseconds (rounded down).
        .nanoseconds(Int64(n) * 1_000_000_000 / Int64(bitsPerSecond))
    }
}

/// The clock a timed card waits on: monotonic time and a sleep until a deadline. Injected so
/// the model is tested without real time (``ManualCardClock``).
public protocol CardClock: Sendable {
    /// Monotonic time since an arbitrary origin.
    func now() -> Duration
    /// Blocks the calling thread until `now() >= deadline` (no busy loop).
    func sleep(until deadline: Duration)
}

/// `CLOCK_MONOTONIC` and `clock_nanosleep(TIMER_ABSTIME)`: the thread sleeps in the kernel.
public struct SystemCardClock: CardClock {
    /// Creates the clock.
    public init() {}

    public func now() -> Duration {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return .seconds(Int64(ts.tv_sec)) + .nanoseconds(Int64(ts.tv_nsec))
    }

    public func sleep(until deadline: Duration) {
        let (s, atto) = deadline.components
        guard s >= 0 else { return }
        var ts = timespec(tv_sec: Int(s), tv_nsec: Int(atto / 1_000_000_000))
        while clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nil) == EINTR {}
    }
}

/// A clock that only moves when slept on: `sleep(until:)` jumps to the deadline. For tests and
/// for computing modelled times (the floor) without waiting.
public final class ManualCardClock: CardClock, @unchecked Sendable {
    private let lock = NSLock()
    private var current: Duration
    private var sleeps: [Duration] = []

    /// Starts at `start`.
    public init(start: Duration = .zero) { current = start }

    public func now() -> Duration { lock.withLock { current } }

    public func sleep(until deadline: Duration) {
        lock.withLock {
            sleeps.append(deadline)
            if deadline > current { current = deadline }
        }
    }

    /// Moves time forward (e.g. to stand for the simulator's own work).
    public func advance(by d: Duration) { lock.withLock { current += d } }

    /// Every deadline slept on, in order.
    public var deadlines: [Duration] { lock.withLock { sleeps } }
}

/// A ``VirtualCard`` answered on a real card's clock: each response is returned no earlier than
/// the modelled exchange time (``CardTimingProfile/exchangeTime(command:response:)``) after the
/// command arrived. The simulator's own work counts towards that time; a removal (nil) is
/// immediate. Control frames (power, reset, ATR) are not delayed.
public final class TimedCard: VirtualCard, @unchecked Sendable {
    /// The card that answers.
    public let inner: any VirtualCard
    /// The timing model.
    public let profile: CardTimingProfile
    /// The clock waited on.
    public let clock: any CardClock

    /// What the card has answered so far.
    public struct Totals: Sendable, Equatable {
        /// Command APDUs answered.
        public var apdus = 0
        /// Command bytes received (whole APDUs).
        public var commandBytes = 0
        /// Response bytes sent (data + status word).
        public var responseBytes = 0
        /// Sum of the modelled exchange times.
        public var modelled: Duration = .zero
        /// How late the answers were released beyond their deadlines, summed (the sleeping thread
        /// woke up late: a busy machine). Zero on a ``ManualCardClock``.
        public var late: Duration = .zero
    }

    private let lock = NSLock()
    private var totalsValue = Totals()

    /// Wraps `inner` with `profile` on `clock`.
    public init(_ inner: any VirtualCard, profile: CardTimingProfile, clock: any CardClock = SystemCardClock()) {
        self.inner = inner
        self.profile = profile
        self.clock = clock
    }

    /// Totals since creation.
    public var totals: Totals { lock.withLock { totalsValue } }

    public var atr: [UInt8] { inner.atr }
    public func powerOn() { inner.powerOn() }
    public func powerOff() { inner.powerOff() }
    public func reset() { inner.reset() }

    public func process(_ command: [UInt8]) -> [UInt8]? {
        let start = profile.isInstant ? .zero : clock.now()
        guard let response = inner.process(command) else { return nil }
        let cost = profile.exchangeTime(command: command, response: response)
        lock.withLock {
            totalsValue.apdus += 1
            totalsValue.commandBytes += command.count
            totalsValue.responseBytes += response.count
            totalsValue.modelled += cost
        }
        if cost > .zero {
            let deadline = start + cost
            clock.sleep(until: deadline)
            let late = clock.now() - deadline
            if late > .zero { lock.withLock { totalsValue.late += late } }
        }
        return response
    }
}
