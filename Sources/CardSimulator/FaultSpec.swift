/// Fault injection for the simulated card (`jpki-sim --fault SPEC`).
///
/// A spec is a comma-separated list of items (no spaces needed; surrounding spaces are ignored):
///
/// | item | effect |
/// |---|---|
/// | `chunk61:N` | every response that carries data is sent T=0 style: the first answer is `61 xx` with no data, and the data follows in GET RESPONSE (`00 C0 00 00 xx`) chunks of at most N bytes (1...256); each chunk but the last ends in `61 xx` (xx = bytes still waiting, capped at N; `00` = 256), the last one carries the real status word. Any other command discards the waiting data. |
/// | `wrongle` | a case-2/4 command whose Le differs from the exact number of data bytes the card would return (1...256 bytes) is answered `6C xx` (xx = that number, `00` = 256) with no data; the re-sent command with Le = xx is served normally. |
/// | `slow:MS` | sleep MS milliseconds (0...60000) before every answer. |
/// | `remove-after:N` | the N-th command APDU (1-based, GET RESPONSE included) is not answered: the card is removed (``VirtualCard/process(_:)`` returns nil, the vpcd bridge closes its socket) and every later command gets nil too. |
/// | `garbage:N` | the N-th response is replaced by 2...64 random bytes whose SW1 is in `00...5F` (never a valid ISO status byte). |
/// | `truncate:N` | the N-th response is cut to its first byte (a 1-byte response). |
///
/// Example: `--fault chunk61:32,slow:5`. Counting starts when the simulator object is created
/// and is not reset by power-off or reset. Invalid specs throw
/// ``CardSimulatorError/invalidFault(item:reason:)`` naming the item and the reason.
public struct FaultSpec: Sendable, Hashable, CustomStringConvertible {
    /// Chunk size for 61xx response chaining, nil = off.
    public var chunk61: Int?
    /// Answer 6Cxx whenever Le is not the exact response length.
    public var wrongLe: Bool
    /// Delay before every answer, in milliseconds.
    public var slowMilliseconds: Int
    /// 1-based index of the APDU at which the card is removed.
    public var removeAfter: Int?
    /// 1-based index of the APDU whose response is random garbage.
    public var garbageAt: Int?
    /// 1-based index of the APDU whose response is truncated to one byte.
    public var truncateAt: Int?

    /// No faults.
    public init(
        chunk61: Int? = nil, wrongLe: Bool = false, slowMilliseconds: Int = 0,
        removeAfter: Int? = nil, garbageAt: Int? = nil, truncateAt: Int? = nil
    ) {
        self.chunk61 = chunk61
        self.wrongLe = wrongLe
        self.slowMilliseconds = slowMilliseconds
        self.removeAfter = removeAfter
        self.garbageAt = garbageAt
        self.truncateAt = truncateAt
    }

    /// Parses a spec such as `chunk61:16,wrongle,slow:5`. The empty string means no faults.
    public init(parsing spec: String) throws(CardSimulatorError) {
        self.init()
        let trimmed = spec.trimmingSpaces
        if trimmed.isEmpty { return }
        var seen = Set<String>()
        for raw in trimmed.split(separator: ",", omittingEmptySubsequences: false) {
            let item = String(raw).trimmingSpaces
            guard !item.isEmpty else {
                throw .invalidFault(item: spec, reason: "empty item in the comma-separated list")
            }
            let parts = item.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
            let name = String(parts[0])
            let argument = parts.count == 2 ? String(parts[1]) : nil
            guard seen.insert(name).inserted else {
                throw .invalidFault(item: item, reason: "\(name) is given more than once")
            }
            func number(_ range: ClosedRange<Int>) throws(CardSimulatorError) -> Int {
                guard let argument else {
                    throw .invalidFault(
                        item: item,
                        reason: "\(name) needs a number, e.g. \(name):\(range.lowerBound)")
                }
                guard let n = Int(argument), range.contains(n) else {
                    throw .invalidFault(
                        item: item,
                        reason:
                            "\(name) takes a whole number in \(range.lowerBound)...\(range.upperBound)"
                    )
                }
                return n
            }
            switch name {
            case "chunk61": chunk61 = try number(1...256)
            case "wrongle":
                guard argument == nil else {
                    throw .invalidFault(item: item, reason: "wrongle takes no argument")
                }
                wrongLe = true
            case "slow": slowMilliseconds = try number(0...60_000)
            case "remove-after": removeAfter = try number(1...Int(Int32.max))
            case "garbage": garbageAt = try number(1...Int(Int32.max))
            case "truncate": truncateAt = try number(1...Int(Int32.max))
            default:
                throw .invalidFault(
                    item: item,
                    reason:
                        "unknown fault; valid: chunk61:N, wrongle, slow:MS, remove-after:N, garbage:N, truncate:N"
                )
            }
        }
    }

    /// True when no fault is configured.
    public var isEmpty: Bool { self == FaultSpec() }

    /// The spec in its parseable form (`""` when empty).
    public var description: String {
        var items: [String] = []
        if let n = chunk61 { items.append("chunk61:\(n)") }
        if wrongLe { items.append("wrongle") }
        if slowMilliseconds > 0 { items.append("slow:\(slowMilliseconds)") }
        if let n = removeAfter { items.append("remove-after:\(n)") }
        if let n = garbageAt { items.append("garbage:\(n)") }
        if let n = truncateAt { items.append("truncate:\(n)") }
        return items.joined(separator: ",")
    }
}

extension String {
    fileprivate var trimmingSpaces: String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" { s = s.dropLast() }
        return String(s)
    }
}
