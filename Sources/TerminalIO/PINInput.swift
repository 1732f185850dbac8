import Foundation
import JPKI

/// Why no PIN was read (stable codes). The PIN itself never appears in it.
public struct PINInputError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What went wrong.
    public enum Kind: Sendable, Equatable {
        /// No terminal to prompt on, or nothing entered: the caller's usage error.
        case usage
        /// The line entered is longer than any PIN: nothing was sent to a card.
        case invalidFormat
    }

    /// The kind.
    public var kind: Kind
    /// Stable code: `no_terminal`, `no_pin`, `invalid_pin_format`.
    public var code: String
    /// A message for people.
    public var message: String

    /// Creates a value.
    public init(_ kind: Kind, _ code: String, _ message: String) {
        self.kind = kind
        self.code = code
        self.message = message
    }

    public var description: String { message }
}

/// Where PINs come from. Never argv, never the environment.
public enum PINSource: Sendable {
    /// A no-echo prompt on the controlling terminal (`/dev/tty`, echo off with termios).
    case terminal
    /// One line from standard input (`--pin-stdin`); the newline is not part of the PIN.
    case standardInput
}

/// Reads PINs into wipeable ``PIN`` objects: the one PIN prompt of card-inspect and `jpkid
/// registry link`. Blocking reads run on their own thread, never on Swift's cooperative pool;
/// the terminal's echo is restored also when a signal ends the process at the prompt.
public enum PINInput {
    /// The longest line accepted (a PIN is at most 16 characters; 照合番号 14 digits).
    static let maxLength = 64

    /// Reads one PIN. `prompt` is shown on the terminal only.
    public static func read(_ source: PINSource, prompt: String) async throws(PINInputError) -> PIN {
        let result: Result<PIN, PINInputError> = await offPool {
            switch source {
            case .terminal: readFromTerminal(prompt: prompt)
            case .standardInput:
                // A person typing into --pin-stdin on a terminal must not see the PIN echoed.
                isatty(0) == 1 ? readNoEcho(fd: 0, prompt: prompt) : readLine(fd: 0, what: "standard input")
            }
        }
        return try result.get()
    }

    /// Whether a terminal is available for prompting (`/dev/tty` opens).
    public static var terminalAvailable: Bool {
        let fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC)
        if fd < 0 { return false }
        close(fd)
        return true
    }

    /// Asks on the terminal for `yes` (case-insensitive); anything else is no.
    public static func confirm(_ question: String) async -> Bool {
        await offPool {
            let fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC)
            guard fd >= 0 else { return false }
            defer { close(fd) }
            write(fd, question)
            var line: [UInt8] = []
            var byte: UInt8 = 0
            while line.count < 16, Foundation.read(fd, &byte, 1) == 1, byte != 0x0A {
                line.append(byte)
            }
            let answer = String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespaces)
            return answer.lowercased() == "yes"
        }
    }

    static func write(_ fd: Int32, _ text: String) {
        let bytes = Array(text.utf8)
        _ = bytes.withUnsafeBufferPointer { Foundation.write(fd, $0.baseAddress, $0.count) }
    }

    static func readFromTerminal(prompt: String) -> Result<PIN, PINInputError> {
        let fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC)
        guard fd >= 0 else {
            return .failure(
                PINInputError(
                    .usage, "no_terminal", "no terminal to prompt for the PIN; pipe it with --pin-stdin"))
        }
        defer { close(fd) }
        return readNoEcho(fd: fd, prompt: prompt)
    }

    /// Prompts on `fd` and reads one line with echo off (when `fd` is a terminal).
    static func readNoEcho(fd: Int32, prompt: String) -> Result<PIN, PINInputError> {
        var saved = termios()
        let isTTY = tcgetattr(fd, &saved) == 0
        if isTTY {
            // Ctrl-C at the prompt must not leave the terminal without echo.
            TerminalRestore.arm(fd: fd, saved: saved)
            var quiet = saved
            quiet.c_lflag &= ~tcflag_t(ECHO | ECHOE | ECHOK | ECHONL)
            quiet.c_lflag |= tcflag_t(ICANON)
            tcsetattr(fd, TCSAFLUSH, &quiet)
        }
        write(fd, prompt)
        let result = readLine(fd: fd, what: "the terminal")
        if isTTY {
            tcsetattr(fd, TCSAFLUSH, &saved)
            TerminalRestore.disarm()
            write(fd, "\n")
        }
        return result
    }

    /// Reads bytes up to a newline or EOF into a buffer that is zeroed before it is released.
    static func readLine(fd: Int32, what: String) -> Result<PIN, PINInputError> {
        var buffer = [UInt8](repeating: 0, count: maxLength + 1)
        var count = 0
        var byte: UInt8 = 0
        var sawNewline = false
        defer {
            for i in buffer.indices { buffer[i] = 0 }
            byte = 0
        }
        while true {
            let n = Foundation.read(fd, &byte, 1)
            if n < 0, errno == EINTR { continue }
            if n <= 0 { break }
            if byte == 0x0A {
                sawNewline = true
                break
            }
            if count == buffer.count {
                // Too long: drain the rest of the line so nothing is left for a later read.
                continue
            }
            buffer[count] = byte
            count += 1
        }
        if count > 0, buffer[count - 1] == 0x0D { count -= 1 }
        if count == 0 {
            return .failure(
                PINInputError(
                    .usage, "no_pin", sawNewline ? "an empty PIN was entered" : "no PIN on \(what)"))
        }
        if count > maxLength {
            return .failure(PINInputError(.invalidFormat, "invalid_pin_format", "the PIN entered is too long"))
        }
        var bytes = Array(buffer[0..<count])
        return .success(PIN(bytes: &bytes))
    }
}

/// Runs blocking work on a fresh thread and resumes with its result.
func offPool<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { (c: CheckedContinuation<T, Never>) in
        Thread.detachNewThread { c.resume(returning: body()) }
    }
}

/// Restores the terminal's echo when SIGINT/SIGTERM/SIGHUP arrives during a PIN prompt, then
/// lets the signal end the process as usual. Only async-signal-safe calls run in the handler.
enum TerminalRestore {
    nonisolated(unsafe) static var fd: Int32 = -1
    nonisolated(unsafe) static var saved = termios()

    static func arm(fd: Int32, saved: termios) {
        Self.saved = saved
        Self.fd = fd
        for sig in [SIGINT, SIGTERM, SIGHUP] { signal(sig, restoreHandler) }
    }

    static func disarm() {
        for sig in [SIGINT, SIGTERM, SIGHUP] { signal(sig, SIG_DFL) }
        fd = -1
    }
}

private let restoreHandler: @convention(c) (Int32) -> Void = { sig in
    if TerminalRestore.fd >= 0 { tcsetattr(TerminalRestore.fd, TCSAFLUSH, &TerminalRestore.saved) }
    signal(sig, SIG_DFL)
    raise(sig)
}
