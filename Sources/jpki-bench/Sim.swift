import ArgumentParser
import CardSimulator
import Dispatch
import Foundation
import SmartCard
import SmartCardPCSC
import Synchronization

/// `jpki-bench sim`: like `jpki-sim --card NAME [--timing PROFILE]`, plus counters kept on the
/// card side (the only place every tool shares; vpcd control frames — power, reset, GET ATR —
/// are not APDUs and are not counted): SIGUSR1 writes `APDUS COMMAND_BYTES RESPONSE_BYTES
/// MODELLED_US LATE_US` (totals so far; LATE = how late the timed answers woke up) to
/// `--count-file` (written to a temporary name, then renamed).
/// SIGTERM/SIGINT remove the card.
struct CountingSim: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sim", abstract: "A simulated card in vpcd that counts its APDUs.")

    @Option(help: "Fixture card name under apdu-fixtures/cards.") var card = "00-ordinary"
    @Option(help: "vpcd port (35963 = slot 0).") var port: UInt16 = 35963
    @Option(help: "File the counters are written to on SIGUSR1.") var countFile: String
    @Option(help: "Timing profile (none, contact, contactless, …; Sources/CardSimulator/TIMING.md).")
    var timing = "none"

    func run() throws {
        let profile = try timingProfile(timing)
        let counting = TimedCard(try VirtualMyNumberCard.fixture(card), profile: profile)
        let bridge = VPCDBridge(card: counting, port: port)
        var mask = sigset_t()
        sigemptyset(&mask)
        for s in [SIGTERM, SIGINT, SIGUSR1] {
            signal(s, SIG_IGN)
            sigaddset(&mask, s)
        }
        pthread_sigmask(SIG_UNBLOCK, &mask, nil)
        let path = countFile
        var sources: [any DispatchSourceSignal] = []
        for s in [SIGTERM, SIGINT] {
            let source = DispatchSource.makeSignalSource(signal: s, queue: .global())
            source.setEventHandler { bridge.stop() }
            source.resume()
            sources.append(source)
        }
        let usr1 = DispatchSource.makeSignalSource(signal: SIGUSR1, queue: .global())
        usr1.setEventHandler {
            let t = counting.totals
            let line =
                "\(t.apdus) \(t.commandBytes) \(t.responseBytes) \(Int(micros(t.modelled))) \(Int(micros(t.late)))\n"
            let tmp = path + ".tmp"
            if FileManager.default.createFile(atPath: tmp, contents: Data(line.utf8)) {
                rename(tmp, path)
            }
        }
        usr1.resume()
        sources.append(usr1)
        try bridge.start()
        note("card \(card) inserted at port \(port) (counting APDUs, timing \(profile))")
        bridge.waitUntilStopped()
        withExtendedLifetime(sources) {}
    }
}

/// `jpki-bench wait-card`: waits until pcscd reports a card present (or absent) in a reader.
struct WaitCard: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "wait-card", abstract: "Wait for pcscd to see a card (or none) in a reader.")

    @Option(help: "Reader name.") var reader: String
    @Flag(help: "Wait for the slot to be empty instead.") var absent = false
    @Option(help: "Seconds before giving up.") var timeout: Double = 10
    @Option(help: "Also wait until this APDU (hex) answers 90 00: the reader has settled after insertion.")
    var readyAPDU: String?

    func run() async throws {
        let ctx = try await PCSCContext.establish()
        let deadline = ContinuousClock.now + .milliseconds(Int(timeout * 1000))
        while ContinuousClock.now < deadline {
            let present = try await ctx.readerStates().first { $0.name == reader }?.cardPresent ?? false
            if present != absent {
                await ctx.release()
                if let readyAPDU, !absent { try await settle(readyAPDU, until: deadline) }
                return
            }
            try await Task.sleep(for: .milliseconds(10))
        }
        await ctx.release()
        note("timeout waiting for \(absent ? "no card" : "a card") in \(reader)")
        throw ExitCode(1)
    }

    /// Right after insertion pcscd may still answer SCARD_E_NOT_TRANSACTED or a reset: retry one
    /// command until it succeeds, so measurements start on a settled reader.
    func settle(_ hex: String, until deadline: ContinuousClock.Instant) async throws {
        guard let bytes = parseHex(hex), let command = try? CommandAPDU(decoding: bytes) else {
            throw ValidationError("--ready-apdu is not a valid command APDU in hex")
        }
        while ContinuousClock.now < deadline {
            if let card = try? await PCSCCard.connect(reader: reader) {
                let ok = (try? await card.perform { try $0.send(command).statusWord == .success }) ?? false
                await card.disconnect()
                if ok { return }
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        note("\(reader) did not settle")
        throw ExitCode(1)
    }
}

/// `jpki-bench wait-session`: waits until jpkid lists a card session for a reader.
struct WaitSession: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "wait-session", abstract: "Wait for jpkid to show a card session in a reader.")

    @Option(help: "jpkid's socket.") var socket: String
    @Option(help: "Reader name.") var reader: String
    @Option(help: "Seconds before giving up.") var timeout: Double = 10

    func run() async throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let (status, body) = try? await jpkidRequest(socket, "GET", "/v1/readers"), status == 200,
                let json = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any],
                let readers = json["readers"] as? [[String: Any]],
                readers.contains(where: { $0["name"] as? String == reader && $0["session"] is String })
            {
                return
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        note("timeout waiting for a session in \(reader)")
        throw ExitCode(1)
    }
}

/// A `--timing PROFILE` option's value as a profile; a bad one is the option's validation error.
func timingProfile(_ spec: String) throws -> CardTimingProfile {
    do {
        return try CardTimingProfile(parsing: spec)
    } catch {
        throw ValidationError(error.description)
    }
}
