/// Silicon-like behaviour of the simulated card (`jpki-sim --behaviour SPEC`, or `"behaviour"` in
/// a card's `profile.json`). Every item is off by default: the simulator then answers as it
/// always did (files exactly as long as the fixture objects, empty VERIFY always 63Cx, no PIN
/// format check on VERIFY, no FCI, no 61xx/6Cxx unless a fault asks for it).
///
/// A spec is a comma-separated list; `silicon` turns every item on:
///
/// | item | effect |
/// |---|---|
/// | `filler` | every transparent EF has its physical size (``physicalSize(application:fileID:objectLength:)``): the object is followed by `FF` filler. READ BINARY past the object's end returns filler; an offset at or past the EF's end answers 6B00. |
/// | `eof6282` | a READ BINARY that starts inside the EF but asks for more than is left answers the rest with 6282 (end of file reached before Le bytes) instead of 9000. |
/// | `verified9000` | the empty VERIFY (`00 20 00 80`, PIN status) answers 9000 while that PIN is verified in the current session, instead of 63Cx. |
/// | `pinformat` | VERIFY checks the PIN's format the way the card is assumed to: a wrong length answers 6700, a wrong character 6A80, and neither spends a try (see ``pinFormatStatus(_:for:)``). |
/// | `fci` | SELECT with P2=00 (FCI requested) answers an FCI template `6F`, P2=04 (FCP) an FCP template `62`, with 9000; P2=0C stays without data. |
/// | `t0` | T=0-like transport: a command with data and Le (case 4) is answered `61 xx` and its data comes through GET RESPONSE; a case-2 command whose Le is not the exact length is answered `6C xx`; answers over 256 bytes come through GET RESPONSE. |
public struct CardBehaviour: Sendable, Hashable, CustomStringConvertible {
    /// EFs have their physical size with filler after the object.
    public var filler: Bool
    /// A READ past the end of the EF (starting inside it) answers 6282.
    public var endOfFile6282: Bool
    /// The empty VERIFY answers 9000 for a PIN verified in this session.
    public var verifiedAnswers9000: Bool
    /// VERIFY checks the PIN format (6700 / 6A80, no try spent).
    public var checksPINFormat: Bool
    /// SELECT answers FCI (P2=00) / FCP (P2=04).
    public var fci: Bool
    /// 61xx / 6Cxx as a T=0 transport produces them.
    public var t0: Bool

    /// The names of the items, in spec order.
    public static let itemNames = ["filler", "eof6282", "verified9000", "pinformat", "fci", "t0"]

    /// Nothing on: the convenient simulator.
    public init(
        filler: Bool = false, endOfFile6282: Bool = false, verifiedAnswers9000: Bool = false,
        checksPINFormat: Bool = false, fci: Bool = false, t0: Bool = false
    ) {
        self.filler = filler
        self.endOfFile6282 = endOfFile6282
        self.verifiedAnswers9000 = verifiedAnswers9000
        self.checksPINFormat = checksPINFormat
        self.fci = fci
        self.t0 = t0
    }

    /// Every item on.
    public static let silicon = CardBehaviour(
        filler: true, endOfFile6282: true, verifiedAnswers9000: true, checksPINFormat: true,
        fci: true, t0: true)

    /// Parses a spec such as `filler,eof6282` or `silicon`; the empty string (or `none`) means
    /// nothing on. Unknown or repeated items throw ``CardSimulatorError/invalidBehaviour(item:reason:)``.
    public init(parsing spec: String) throws(CardSimulatorError) {
        self.init()
        let trimmed = spec.trimmedOfBlanks()
        if trimmed.isEmpty || trimmed == "none" { return }
        var seen = Set<String>()
        for raw in trimmed.split(separator: ",", omittingEmptySubsequences: false) {
            let item = String(raw).trimmedOfBlanks()
            guard !item.isEmpty else {
                throw .invalidBehaviour(item: spec, reason: "empty item in the comma-separated list")
            }
            guard seen.insert(item).inserted else {
                throw .invalidBehaviour(item: item, reason: "\(item) is given more than once")
            }
            switch item {
            case "silicon": self = .silicon
            case "filler": filler = true
            case "eof6282": endOfFile6282 = true
            case "verified9000": verifiedAnswers9000 = true
            case "pinformat": checksPINFormat = true
            case "fci": fci = true
            case "t0": t0 = true
            default:
                throw .invalidBehaviour(
                    item: item,
                    reason: "unknown behaviour; valid: silicon, \(Self.itemNames.joined(separator: ", "))")
            }
        }
    }

    /// True when nothing is on.
    public var isEmpty: Bool { self == CardBehaviour() }

    /// The spec in its parseable form (`""` when nothing is on).
    public var description: String {
        let flags = [filler, endOfFile6282, verifiedAnswers9000, checksPINFormat, fci, t0]
        return zip(Self.itemNames, flags).filter(\.1).map(\.0).joined(separator: ",")
    }

    /// Each item alone, for tests that run once per option.
    public static var eachItem: [CardBehaviour] {
        Self.itemNames.map { name in
            // The names are valid by construction.
            (try? CardBehaviour(parsing: name)) ?? CardBehaviour()
        }
    }

    // MARK: Physical sizes

    /// The physical size of a transparent EF holding an object of `objectLength` bytes.
    ///
    /// Sizes, with their source (jpki-facts.md; "assumed" = no public source gives the size):
    ///
    /// | AP | EF | size | source |
    /// |---|---|---|---|
    /// | JPKI | 0001, 0002, 000A, 000B (certificates) | 2048 | assumed (OpenSC and myna read only the DER length, so no client sees the size) |
    /// | JPKI | 0006 token info | 160 | [C] jpki-facts §2 (read whole by MYNA/MC) |
    /// | JPKI | 0008 | 3 | [1] MC |
    /// | text | 0001 My Number | 17 | [C] (`FF 10 0C` + 12 digits + `FF FF`; myna-card `text-0001-physical.bin`) |
    /// | text | 0002 basic 4 information | 1024 | assumed |
    /// | text | 0003 integrity record | 336 | assumed = the fixture object (its hash covers EF 0001 only) |
    /// | text | 0004 CV certificate | 568 | assumed = the object (`7F21 82 02 33`) |
    /// | text | 0005 AP basic info | 256 | issue 15 ("at least 256 bytes"), assumed exactly 256 |
    /// | visual | 0001 age record | 1024 | assumed |
    /// | visual | 0002 card face | 8192 | assumed (the face JPEG 2000 varies in size) |
    /// | visual | 0003 AP info | 512 | assumed |
    /// | visual | 0004 CV certificate | 568 | assumed = the object |
    /// | visual | 0005 My Number image | 2048 | assumed |
    /// | any other | — | the object rounded up to 256 | assumed |
    ///
    /// An object larger than the table's size gets the object's length rounded up to a multiple
    /// of 256 (the table never cuts an object). The filler byte is `FF` (observed in text EF 0001;
    /// assumed elsewhere). Sizes are capped at 32767 (15-bit offsets).
    public static func physicalSize(application: String, fileID: UInt16, objectLength: Int) -> Int {
        let table: [String: [UInt16: Int]] = [
            "jpki": [0x0001: 2048, 0x0002: 2048, 0x000A: 2048, 0x000B: 2048, 0x0006: 160, 0x0008: 3],
            "text": [0x0001: 17, 0x0002: 1024, 0x0003: 336, 0x0004: 568, 0x0005: 256],
            "visual": [0x0001: 1024, 0x0002: 8192, 0x0003: 512, 0x0004: 568, 0x0005: 2048],
        ]
        let rounded = (objectLength + 255) / 256 * 256
        let size: Int
        if let listed = table[application]?[fileID] {
            size = listed >= objectLength ? listed : rounded
        } else {
            size = max(rounded, 1)
        }
        return min(size, 0x7FFF)
    }

    /// The filler byte after the object.
    public static let fillerByte: UInt8 = 0xFF

    // MARK: PIN format

    /// The status a card with `pinformat` answers to VERIFY data that is not a well-formed value
    /// of the PIN, or nil when the format is right (the value is then compared). Assumed answers
    /// (no public source gives them): wrong length → 6700; right length, wrong character → 6A80.
    ///
    /// | PIN | length | characters |
    /// |---|---|---|
    /// | JPKI auth 0018, text 0011/0012, 住基/共通 001C | 4 | 0–9 |
    /// | JPKI sign 001B | 6–16 | A–Z, 0–9 (a letter and a digit are a rule for *setting* it, not checked on VERIFY — assumed) |
    /// | 照合番号A (text 0014, visual 0013) | 12 | 0–9 |
    /// | 照合番号B (text 0015, visual 0012) | 14 | 0–9 |
    /// | birth-date key (visual 0011) | 6 | 0–9 |
    public static func pinFormatStatus(_ pin: [UInt8], for id: SimulatedPIN) -> UInt16? {
        let digit = { (b: UInt8) in b >= 0x30 && b <= 0x39 }
        let upper = { (b: UInt8) in b >= 0x41 && b <= 0x5A }
        let lengths: ClosedRange<Int>
        let allowed: (UInt8) -> Bool
        switch id {
        case .sign:
            lengths = 6...16
            allowed = { digit($0) || upper($0) }
        case .textA, .visualA:
            lengths = 12...12
            allowed = digit
        case .textB, .visualB:
            lengths = 14...14
            allowed = digit
        case .visualBirth:
            lengths = 6...6
            allowed = digit
        case .auth, .text, .textBlocked, .common, .juki:
            lengths = 4...4
            allowed = digit
        }
        guard lengths.contains(pin.count) else { return 0x6700 }
        guard pin.allSatisfy(allowed) else { return 0x6A80 }
        return nil
    }
}

extension String {
    fileprivate func trimmedOfBlanks() -> String {
        let set: Set<Character> = [" ", "\t"]
        var s = Substring(self)
        while let f = s.first, set.contains(f) { s = s.dropFirst() }
        while let l = s.last, set.contains(l) { s = s.dropLast() }
        return String(s)
    }
}
