import ArgumentParser
import Foundation
import SmartCard
import SmartCardPCSC

/// `jpki-bench transmit`: the same loop as `bench/raw_transmit.c`, through our stack —
/// `PCSCCard.perform` (one transaction, reader thread) and `CardChannel.send` (encode, transmit,
/// decode, 61xx/6Cxx handling, APDU count) for every APDU.
struct TransmitBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "transmit", abstract: "Per-APDU cost of PCSCCard + CardChannel.")

    @Option(help: "Reader name.") var reader: String
    @Option(help: "Command APDU in hex.") var apdu: String
    @Option(help: "APDUs timed.") var count = 2000
    @Option(help: "APDUs sent before timing.") var warmup = 200

    func run() async throws {
        guard let bytes = parseHex(apdu), let command = try? CommandAPDU(decoding: bytes) else {
            throw ValidationError("--apdu is not a valid command APDU in hex")
        }
        let card = try await PCSCCard.connect(reader: reader)
        let (count, warmup) = (self.count, self.warmup)
        let elapsed: Duration
        let cpu: Double
        do {
            (elapsed, cpu) = try await card.perform { channel in
                for _ in 0..<warmup {
                    guard try channel.send(command).statusWord == .success else { throw BenchError("status word") }
                }
                let clock = ContinuousClock()
                let start = clock.now
                let cpu0 = processCPUMicros()
                for _ in 0..<count {
                    guard try channel.send(command).statusWord == .success else { throw BenchError("status word") }
                }
                return (clock.now - start, processCPUMicros() - cpu0)
            }
        } catch {
            await card.disconnect()
            throw error
        }
        await card.disconnect()
        emit([
            "tool": "swift_transmit", "us_per_apdu": micros(elapsed) / Double(count),
            "cpu_us_per_apdu": cpu / Double(count), "count": count,
        ])
    }
}

/// A failed measurement.
struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

/// User + system CPU time of this process (every thread), in microseconds.
func processCPUMicros() -> Double {
    var ru = rusage()
    getrusage(RUSAGE_SELF.rawValue, &ru)
    return Double(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 + Double(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec)
}
