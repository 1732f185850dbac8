/// A test double: answers each command from a script of expected exchanges, in order, and
/// records what was sent. A command that differs from the script gets `6F00` and is recorded
/// as a mismatch, so tests fail loudly instead of drifting.
public final class ScriptedTransport: CardTransport {
    /// One expected exchange: the command bytes and the raw response to give.
    public struct Step: Sendable, Hashable {
        public var command: [UInt8]
        public var response: [UInt8]
        /// Creates a step.
        public init(command: [UInt8], response: [UInt8]) {
            self.command = command
            self.response = response
        }
    }

    /// The remaining steps.
    public private(set) var steps: [Step]
    /// Every command received.
    public private(set) var sent: [[UInt8]] = []
    /// Commands that did not match the script.
    public private(set) var mismatches: [(expected: [UInt8]?, got: [UInt8])] = []
    /// Whether extended length is allowed.
    public var supportsExtendedLength: Bool
    /// Transaction begin/end calls seen, in order ("begin"/"end").
    public private(set) var transactionLog: [String] = []

    /// Creates a transport from steps.
    public init(_ steps: [Step], supportsExtendedLength: Bool = true) {
        self.steps = steps
        self.supportsExtendedLength = supportsExtendedLength
    }

    /// Creates a transport from transcript text: `> HEX` lines followed by `< HEX` lines.
    public convenience init?(transcript: String, supportsExtendedLength: Bool = true) {
        var steps: [Step] = []
        var pending: [UInt8]?
        for raw in transcript.split(whereSeparator: \.isNewline) {
            let line = raw.trimmingCharacters(in: " \t")
            if line.isEmpty || line.hasPrefix("#") { continue }
            guard let bytes = [UInt8](hex: String(line.dropFirst(1))) else { return nil }
            if line.hasPrefix(">") {
                if pending != nil { return nil }
                pending = bytes
            } else if line.hasPrefix("<") {
                guard let cmd = pending else { return nil }
                steps.append(Step(command: cmd, response: bytes))
                pending = nil
            } else {
                return nil
            }
        }
        if pending != nil { return nil }
        self.init(steps, supportsExtendedLength: supportsExtendedLength)
    }

    /// Whether every step was consumed with no mismatch.
    public var isComplete: Bool { steps.isEmpty && mismatches.isEmpty }

    public func transmit(_ command: [UInt8]) throws(SmartCardError) -> [UInt8] {
        sent.append(command)
        guard !steps.isEmpty else {
            mismatches.append((nil, command))
            return [0x6F, 0x00]
        }
        let step = steps.removeFirst()
        guard step.command == command else {
            mismatches.append((step.command, command))
            return [0x6F, 0x00]
        }
        return step.response
    }

    public func beginTransaction() throws(SmartCardError) { transactionLog.append("begin") }
    public func endTransaction() throws(SmartCardError) { transactionLog.append("end") }
}

extension Substring {
    func trimmingCharacters(in set: String) -> Substring {
        var s = self
        while let f = s.first, set.contains(f) { s = s.dropFirst() }
        while let l = s.last, set.contains(l) { s = s.dropLast() }
        return s
    }
}
