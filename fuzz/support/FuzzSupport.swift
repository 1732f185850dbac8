// Shared by every fuzz target (compiled into each binary; see fuzz/run).
import SmartCard

/// Reads an input front to back, like LLVM's FuzzedDataProvider; running out gives zeros/empty.
struct FuzzInput {
    private let bytes: [UInt8]
    private var offset = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var isEmpty: Bool { offset >= bytes.count }
    var remainingCount: Int { bytes.count - offset }

    mutating func byte() -> UInt8 {
        guard offset < bytes.count else { return 0 }
        defer { offset += 1 }
        return bytes[offset]
    }

    mutating func take(_ n: Int) -> [UInt8] {
        let n = max(0, min(n, bytes.count - offset))
        defer { offset += n }
        return Array(bytes[offset..<offset + n])
    }

    mutating func rest() -> [UInt8] { take(remainingCount) }

    /// A frame `u16 big-endian length + bytes` (shorter when the input ends).
    mutating func frame() -> [UInt8]? {
        guard !isEmpty else { return nil }
        let n = Int(byte()) << 8 | Int(byte())
        return take(n)
    }
}

/// The bytes behind libFuzzer's pointer.
func fuzzBytes(_ data: UnsafePointer<UInt8>?, _ size: Int) -> [UInt8] {
    guard let data, size > 0 else { return [] }
    return Array(UnsafeBufferPointer(start: data, count: size))
}

/// A transport that ignores the commands and answers with the next frame of the input; when
/// the input is used up it throws, like a card that is gone.
final class FramedResponseTransport: CardTransport {
    var input: FuzzInput
    var commands: [[UInt8]] = []
    let supportsExtendedLength: Bool

    init(_ input: FuzzInput, extended: Bool) {
        self.input = input
        self.supportsExtendedLength = extended
    }

    func transmit(_ command: [UInt8]) throws(SmartCardError) -> [UInt8] {
        commands.append(command)
        guard let r = input.frame() else { throw .cardRemoved }
        return r
    }
}

/// Stops the process with a message libFuzzer reports as a crash (an oracle failed).
func fuzzCheck(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError("fuzz oracle: \(message())") }
}
