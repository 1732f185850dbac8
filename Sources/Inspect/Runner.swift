import ArgumentParser
import Foundation
import JPKI
import SmartCard
import TerminalIO

/// Options every subcommand takes.
public struct CommonOptions: ParsableArguments {
    /// `--reader NAME|INDEX`.
    @Option(
        name: .long,
        help: ArgumentHelp(
            "Reader: its index (0, 1, …, as `readers` lists them), its name, or a unique part of it.",
            valueName: "name|index"))
    public var reader: String?

    /// `--json`.
    @Flag(name: .long, help: "Print JSON (stable shapes, see the README) instead of text.")
    public var json = false

    /// `--trace`.
    @Flag(
        name: .long,
        help: "Print the APDU exchange to stderr (PINs and identity data redacted) and the APDU count.")
    public var trace = false

    /// Creates the defaults.
    public init() {}
}

/// Options of the subcommands that send a PIN.
public struct PINOptions: ParsableArguments {
    /// `--pin-stdin`.
    @Flag(
        name: .customLong("pin-stdin"),
        help: "Read the PIN as one line from standard input instead of prompting on the terminal.")
    public var pinStdin = false

    /// `--allow-last-try`.
    @Flag(
        name: .customLong("allow-last-try"),
        help: "Allow the PIN to be sent when only one try is left (a wrong PIN then blocks it).")
    public var allowLastTry = false

    /// Creates the defaults.
    public init() {}
}

/// What a subcommand produced: JSON and text renderings and the exit status.
public struct Outcome: Sendable {
    /// The `--json` output.
    public var json: JSON
    /// The text output.
    public var text: String
    /// The exit status (``ExitStatus/ok`` or ``ExitStatus/verificationFailed``).
    public var status: ExitStatus

    /// Creates an outcome.
    public init(json: JSON, text: String, status: ExitStatus = .ok) {
        self.json = json
        self.text = text
        self.status = status
    }
}

/// Runs one subcommand: sets up the trace, prints the outcome or the one-line error, and
/// ends with the exit status.
public enum Runner {
    /// Writes to stderr.
    public static func err(_ s: String) {
        FileHandle.standardError.write(Data((s + "\n").utf8))
    }

    /// Writes to stdout, unbuffered.
    public static func out(_ s: String) {
        FileHandle.standardOutput.write(Data((s + "\n").utf8))
    }

    /// Runs `body`; throws `ExitCode` for any non-zero status.
    public static func execute(
        _ common: CommonOptions, _ body: (APDUTrace?) async throws(InspectError) -> Outcome
    ) async throws {
        let trace: APDUTrace? =
            common.trace ? APDUTrace(sink: { line in Runner.err(line) }) : nil
        func apduCount() {
            guard let trace else { return }
            let n = trace.recorded.filter { $0.hasPrefix(">") }.count
            err("trace: \(n) APDU\(n == 1 ? "" : "s")")
        }
        let outcome: Outcome
        do {
            outcome = try await body(trace)
        } catch {
            apduCount()
            err("card-inspect: \(error.message) [\(error.code)]")
            if common.json {
                out(
                    JSON.object([
                        (
                            "error",
                            .object([
                                ("code", .string(error.code)), ("message", .string(error.message)),
                                ("exitStatus", .int(Int(error.status.rawValue))),
                            ])
                        )
                    ]).rendered())
            }
            throw ExitCode(error.status.rawValue)
        }
        apduCount()
        if common.json {
            out(outcome.json.rendered())
        } else if !outcome.text.isEmpty {
            out(outcome.text)
        }
        if outcome.status != .ok { throw ExitCode(outcome.status.rawValue) }
    }

    /// Gets a PIN from the chosen source. On the terminal the counter is read first (no try
    /// spent): a blocked PIN is reported without prompting, and with one try left the user
    /// must type `yes` unless `--allow-last-try` was given. Returns the PIN and whether the
    /// last try may be spent. The caller wipes the PIN.
    public static func obtainPIN(
        _ kind: PINKind, prompt: String, options: PINOptions, access: CardAccess
    ) async throws(InspectError) -> (pin: PIN, allowLastTry: Bool) {
        if options.pinStdin {
            return (try await readPIN(.standardInput, prompt: prompt), options.allowLastTry)
        }
        guard PINInput.terminalAvailable else {
            throw InspectError(
                .usage, "no_terminal", "no terminal to prompt for the PIN; pipe it with --pin-stdin")
        }
        var allow = options.allowLastTry
        let status = try await access.withCard { card in try card.pinStatus(kind).value }
        switch status {
        case .blocked:
            throw InspectError.from(JPKIError.pinBlocked(kind))
        case .triesLeft(1) where !allow:
            let ok = await PINInput.confirm(
                "Only 1 try is left for the \(PINLabels.english(kind)) (\(PINLabels.japanese(kind))). "
                    + "A wrong PIN blocks it. Type yes to continue: ")
            guard ok else { throw InspectError.from(JPKIError.lastTryRefused(kind)) }
            allow = true
        default:
            break
        }
        return (try await readPIN(.terminal, prompt: prompt), allow)
    }

    /// One PIN from TerminalIO's prompt, its errors as card-inspect's exit statuses.
    static func readPIN(_ source: PINSource, prompt: String) async throws(InspectError) -> PIN {
        do {
            return try await PINInput.read(source, prompt: prompt)
        } catch {
            throw InspectError(error.kind == .invalidFormat ? .invalidPINFormat : .usage, error.code, error.message)
        }
    }
}

/// Reads a whole file (file error when it cannot).
func readFile(_ path: String, what: String) throws(InspectError) -> Data {
    guard let d = FileManager.default.contents(atPath: path) else {
        throw InspectError(.fileError, "file_unreadable", "cannot read \(what) \(path)")
    }
    return d
}

/// Writes a file with the given permissions (file error when it cannot).
func writeFile(_ path: String, _ data: Data, mode: Int = 0o644) throws(InspectError) {
    let ok = FileManager.default.createFile(
        atPath: path, contents: data, attributes: [.posixPermissions: mode])
    guard ok else {
        throw InspectError(.fileError, "file_unwritable", "cannot write \(path)")
    }
    // createFile keeps the mode of an existing file: set it explicitly.
    try? FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: path)
}
