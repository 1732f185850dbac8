import ArgumentParser
import Foundation
import Synchronization

/// Where `jpkid registry …` and `jpkid audit …` write: standard output and standard error
/// (`jpkid: ` before each error line) in the executable, a capture in tests that run the
/// commands in-process (``CommandRunner``).
public struct CommandOutput: Sendable {
    /// Writes one line of output.
    public var out: @Sendable (String) -> Void
    /// Writes one error line (without the `jpkid: ` prefix).
    public var err: @Sendable (String) -> Void

    /// Creates an output.
    public init(out: @escaping @Sendable (String) -> Void, err: @escaping @Sendable (String) -> Void) {
        self.out = out
        self.err = err
    }

    /// The process's standard output and standard error.
    public static let standard = CommandOutput(
        out: { Swift.print($0) },
        err: { FileHandle.standardError.write(Data("jpkid: \($0)\n".utf8)) })

    /// The output of the commands running in this task.
    @TaskLocal public static var current = CommandOutput.standard
}

/// Output kept in memory (tests): what a command printed to standard output and standard error,
/// error lines with the `jpkid: ` prefix as the executable writes them.
public final class CapturedOutput: Sendable {
    private let outText = Mutex("")
    private let errText = Mutex("")

    /// Creates an empty capture.
    public init() {}

    /// The output to run commands with.
    public var output: CommandOutput {
        CommandOutput(
            out: { [self] line in outText.withLock { $0 += line + "\n" } },
            err: { [self] line in errText.withLock { $0 += "jpkid: " + line + "\n" } })
    }

    /// Everything written to standard output.
    public var stdout: String { outText.withLock { $0 } }
    /// Everything written to standard error.
    public var stderr: String { errText.withLock { $0 } }
}

/// One line of output.
func say(_ text: String) { CommandOutput.current.out(text) }

/// One error line.
func fail(_ message: String) { CommandOutput.current.err(message) }

/// Runs a command line of `jpkid registry …` / `jpkid audit …` in this process: what the
/// executable does, with the output given, returning the exit status. Tests use it instead of
/// spawning jpkid.
public enum CommandRunner {
    /// Parses `arguments` (without the command's own name) as `command`, runs it with `output`
    /// and returns its exit status (0, or the command's `ExitCode`, or ArgumentParser's status
    /// for a usage error, whose message goes to `output.err`).
    public static func run<C: ParsableCommand>(
        _ command: C.Type, _ arguments: [String], output: CommandOutput
    ) async -> Int32 {
        await CommandOutput.$current.withValue(output) {
            do {
                var parsed = try command.parseAsRoot(arguments)
                if var async = parsed as? any AsyncParsableCommand {
                    try await async.run()
                } else {
                    try parsed.run()
                }
                return 0
            } catch {
                let status = command.exitCode(for: error).rawValue
                let message = command.fullMessage(for: error)
                if !message.isEmpty { status == 0 ? output.out(message) : output.err(message) }
                return status
            }
        }
    }
}
