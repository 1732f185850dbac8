import Synchronization

/// A PIN or verification key held as bytes in a buffer this object owns and zeroes: after
/// use (``wipe()``) and at the latest in `deinit`. Its description and reflection are redacted,
/// and it is deliberately not `Codable`, not `Equatable` and not `Hashable`.
///
/// A Swift `String` passed to ``init(_:)`` cannot itself be wiped; callers that read the PIN
/// from a terminal should prefer ``init(bytes:)``, which zeroes the caller's array.
public final class PIN: Sendable, CustomStringConvertible, CustomDebugStringConvertible,
    CustomReflectable
{
    private struct Storage: ~Copyable {
        var pointer: UnsafeMutableBufferPointer<UInt8>
        var count: Int
        var wiped: Bool
    }
    private let storage: Mutex<Storage>

    /// Creates a PIN from bytes (ASCII); `bytes` is zeroed and emptied.
    public init(bytes: inout [UInt8]) {
        let p = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: max(bytes.count, 1))
        p.initialize(repeating: 0)
        for i in bytes.indices { p[i] = bytes[i] }
        let n = bytes.count
        for i in bytes.indices { bytes[i] = 0 }
        bytes.removeAll()
        storage = Mutex(Storage(pointer: p, count: n, wiped: false))
    }

    /// Creates a PIN from text (its UTF-8 bytes).
    public convenience init(_ text: String) {
        var bytes = Array(text.utf8)
        self.init(bytes: &bytes)
    }

    deinit {
        storage.withLock { s in
            Self.zero(s.pointer)
            s.pointer.deallocate()
        }
    }

    private static func zero(_ p: UnsafeMutableBufferPointer<UInt8>) {
        // Volatile-style store through a raw pointer the optimiser cannot prove dead.
        let raw = UnsafeMutableRawBufferPointer(p)
        for i in 0..<raw.count { raw.storeBytes(of: 0, toByteOffset: i, as: UInt8.self) }
    }

    /// Zeroes the bytes now. Later use throws ``JPKIError/pinWiped``.
    public func wipe() {
        storage.withLock { s in
            Self.zero(s.pointer)
            s.count = 0
            s.wiped = true
        }
    }

    /// Whether ``wipe()`` was called.
    public var isWiped: Bool { storage.withLock { $0.wiped } }

    /// The number of bytes (0 once wiped). Not secret in itself but avoid logging it.
    public var count: Int { storage.withLock { $0.count } }

    /// Gives `body` a temporary copy of the bytes and zeroes that copy afterwards.
    func withBytes<R, E: Error>(_ body: (inout [UInt8]) throws(E) -> R) throws(E) -> R? {
        var copy: [UInt8] = storage.withLock { s in
            s.wiped ? [] : Array(s.pointer[0..<s.count])
        }
        if isWiped { return nil }
        defer {
            for i in copy.indices { copy[i] = 0 }
        }
        return try body(&copy)
    }

    /// Always `PIN(redacted)`.
    public var description: String { "PIN(redacted)" }
    /// Always `PIN(redacted)`.
    public var debugDescription: String { "PIN(redacted)" }
    /// No children: `dump` and `Mirror` show nothing of the value.
    public var customMirror: Mirror { Mirror(self, children: [], displayStyle: .class) }

    /// Checks the format for `kind` and returns the bytes to send (the sign password
    /// upper-cased). Sends nothing. The caller must zero the returned array.
    func validatedBytes(for kind: PINKind) throws(JPKIError) -> [UInt8] {
        let result: Result<[UInt8], JPKIError>? = withBytes {
            (bytes: inout [UInt8]) -> Result<[UInt8], JPKIError> in
            var out = bytes
            switch kind.format {
            case .digits(let n):
                guard out.count == n else {
                    for i in out.indices { out[i] = 0 }
                    return .failure(.invalidPINFormat(kind, reason: "must be \(n) digits"))
                }
                guard out.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else {
                    for i in out.indices { out[i] = 0 }
                    return .failure(.invalidPINFormat(kind, reason: "must be \(n) digits"))
                }
            case .signPassword:
                for i in out.indices where out[i] >= 0x61 && out[i] <= 0x7A { out[i] -= 0x20 }
                let reason =
                    "must be 6-16 characters A-Z/0-9 with at least one letter and one digit"
                let isDigit = { (b: UInt8) in b >= 0x30 && b <= 0x39 }
                let isLetter = { (b: UInt8) in b >= 0x41 && b <= 0x5A }
                guard (6...16).contains(out.count), out.allSatisfy({ isDigit($0) || isLetter($0) }),
                    out.contains(where: isDigit), out.contains(where: isLetter)
                else {
                    for i in out.indices { out[i] = 0 }
                    return .failure(.invalidPINFormat(kind, reason: reason))
                }
            }
            return .success(out)
        }
        guard let result else { throw .pinWiped }
        return try result.get()
    }
}
