import ArgumentParser
import Foundation

/// `jpki-bench`: the measuring half of `bench/run`. Each subcommand does one measurement against
/// the pcscd + vpcd bench (or the daemon) and prints one JSON line; `bench/run` takes the bench
/// lock, starts and stops everything, alternates rounds and builds the table.
@main
struct JPKIBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "jpki-bench",
        abstract: "Benchmark helpers for bench/run (not a user tool).",
        subcommands: [
            TransmitBench.self, CountingSim.self, WaitCard.self, WaitSession.self, VerifyBench.self,
            InsertLatency.self, AuditBench.self, Floor.self,
        ])
}

/// Prints one JSON object on stdout (the line `bench/run` collects).
func emit(_ object: [String: Any]) {
    let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
    FileHandle.standardOutput.write(data + Data("\n".utf8))
}

/// Writes a message to stderr.
func note(_ text: String) {
    FileHandle.standardError.write(Data("jpki-bench: \(text)\n".utf8))
}

/// Microseconds in a Duration.
func micros(_ d: Duration) -> Double {
    Double(d.components.seconds) * 1e6 + Double(d.components.attoseconds) / 1e12
}

/// Parses hex ("00A4…", spaces allowed).
func parseHex(_ s: String) -> [UInt8]? {
    let digits = s.filter { !$0.isWhitespace }
    guard digits.count % 2 == 0 else { return nil }
    var out: [UInt8] = []
    var i = digits.startIndex
    while i < digits.endIndex {
        let j = digits.index(i, offsetBy: 2)
        guard let b = UInt8(digits[i..<j], radix: 16) else { return nil }
        out.append(b)
        i = j
    }
    return out
}
