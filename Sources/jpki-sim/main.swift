import ArgumentParser
import CardSimulator
import Dispatch
import Foundation

/// `jpki-sim --card DIR [--vpcd HOST:PORT] [--fault SPEC] [--timing PROFILE] [--behaviour SPEC]`: a simulated My
/// Number card inserted into vpcd (vsmartcard's virtual reader in pcscd). SIGTERM/SIGINT remove the card and exit 0.
struct JPKISim: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "jpki-sim",
        abstract: "Insert a simulated My Number card into vpcd (pcscd's virtual reader).",
        discussion: """
            DIR is a card profile directory or the name of a fixture under apdu-fixtures/cards \
            (found through $JPKI_FIXTURES or by walking up to the package root). \
            Port 35963 is slot "Virtual PCD 00 00", 35964 is "Virtual PCD 00 01". \
            Fault SPEC items (comma-separated): chunk61:N, wrongle, slow:MS, remove-after:N, \
            garbage:N, truncate:N (see Sources/CardSimulator/FAULTS.md). \
            Timing PROFILE: none (default, no delay), contact (T=1 reader, 38.4 kbit/s; contact:9600), contactless \
            (ISO 14443 Type B, 424 kbit/s; contactless:106|212|424) — every answer is delayed as \
            a real card and reader would (see Sources/CardSimulator/TIMING.md). \
            Behaviour SPEC (comma-separated; default: the profile's "behaviour", else none): \
            filler (EFs have their physical size, FF filler after the object; past the EF's end \
            6B00), eof6282 (a READ running past the end answers 6282), verified9000 (the empty \
            VERIFY answers 9000 once the PIN is verified), pinformat (VERIFY checks length and \
            characters: 6700 / 6A80, no try spent), fci (SELECT P2=00/04 answers FCI/FCP), t0 \
            (61xx / 6Cxx as a T=0 transport gives them); silicon = all of them; none = off \
            (see Sources/CardSimulator/FAULTS.md).
            """)

    @Option(name: .long, help: "Card profile directory or fixture name (e.g. 00-ordinary).")
    var card: String

    @Option(name: .long, help: "vpcd address HOST:PORT (default 127.0.0.1:35963).")
    var vpcd: String = "127.0.0.1:35963"

    @Option(name: .long, help: "Fault injection spec, e.g. chunk61:16,slow:5.")
    var fault: String = ""

    @Option(name: .long, help: "Card + reader timing: none, contact[:9600], contactless[:106|212|424].")
    var timing: String = "none"

    @Option(
        name: .long,
        help: "Silicon-like behaviour: silicon, none, or filler,eof6282,verified9000,pinformat,fci,t0.")
    var behaviour: String?

    func run() throws {
        let faults: FaultSpec
        let profile: CardTimingProfile
        let behaviourSpec: CardBehaviour?
        do {
            faults = try FaultSpec(parsing: fault)
            profile = try CardTimingProfile(parsing: timing)
            behaviourSpec = try behaviour.map { spec throws(CardSimulatorError) in try CardBehaviour(parsing: spec) }
        } catch {
            throw ValidationError(error.description)
        }
        guard let colon = vpcd.lastIndex(of: ":"),
            let port = UInt16(vpcd[vpcd.index(after: colon)...]),
            colon != vpcd.startIndex
        else {
            throw ValidationError("--vpcd must be HOST:PORT, e.g. 127.0.0.1:35963")
        }
        var host = String(vpcd[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }

        let simulated: VirtualMyNumberCard
        do {
            var isDir: ObjCBool = false
            if card.contains("/")
                || FileManager.default.fileExists(atPath: card, isDirectory: &isDir)
            {
                simulated = try VirtualMyNumberCard(
                    directory: URL(fileURLWithPath: card), faults: faults, behaviour: behaviourSpec)
            } else {
                simulated = try VirtualMyNumberCard.fixture(card, faults: faults, behaviour: behaviourSpec)
            }
        } catch {
            FileHandle.standardError.write(
                Data("jpki-sim: \(error.description) [\(error.code)]\n".utf8))
            throw ExitCode(2)
        }

        let card: any VirtualCard = profile.isInstant ? simulated : TimedCard(simulated, profile: profile)
        let bridge = VPCDBridge(card: card, host: host, port: port)
        signal(SIGTERM, SIG_IGN)
        signal(SIGINT, SIG_IGN)
        // A parent may have left SIGTERM/SIGINT blocked (test runners do): the contract is that
        // they remove the card, so unblock them for this process.
        var unblock = sigset_t()
        sigemptyset(&unblock)
        sigaddset(&unblock, SIGTERM)
        sigaddset(&unblock, SIGINT)
        pthread_sigmask(SIG_UNBLOCK, &unblock, nil)
        var sources: [DispatchSourceSignal] = []
        for sig in [SIGTERM, SIGINT] {
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { bridge.stop() }
            source.resume()
            sources.append(source)
        }
        do {
            try bridge.start()
        } catch {
            FileHandle.standardError.write(
                Data("jpki-sim: \(error.description) [\(error.code)]\n".utf8))
            throw ExitCode(1)
        }
        // Only the profile name and the address: no PINs, no identity data.
        let faultNote =
            (faults.isEmpty ? "" : " with faults \(faults)") + (profile.isInstant ? "" : ", timing \(profile)")
            + (simulated.behaviour.isEmpty ? "" : ", behaviour \(simulated.behaviour)")
        FileHandle.standardError.write(
            Data(
                "jpki-sim: card \(simulated.profile.name) inserted at \(host):\(port)\(faultNote)\n"
                    .utf8))
        bridge.waitUntilStopped()
        FileHandle.standardError.write(Data("jpki-sim: card removed\n".utf8))
        withExtendedLifetime(sources) {}
    }
}

JPKISim.main()
