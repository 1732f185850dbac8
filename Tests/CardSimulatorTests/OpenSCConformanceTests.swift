import CardSimulator
import Foundation
import SmartCard
import TestBench
import Testing

/// OpenSC (Debian 0.23, its own JPKI driver, no OPENSC_DRIVER forcing) reads the simulated card
/// through the real pcscd + vpcd. Needs pcscd running (TestBench.exclusive fails clearly if not).
@Suite("OpenSC conformance through pcscd + vpcd", .serialized)
struct OpenSCConformanceTests {
    static let slot = TestBench.slots[0]

    struct Output {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// Runs a tool with a hard timeout; the environment is inherited minus OPENSC_DRIVER/CONF.
    static func run(_ tool: String, _ arguments: [String], timeout: Double = 30) throws -> Output {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env["OPENSC_DRIVER"] = nil
        env["OPENSC_CONF"] = nil
        process.environment = env
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let pid = process.processIdentifier
        let killer = DispatchWorkItem { if process.isRunning { kill(pid, SIGKILL) } }
        DispatchQueue.global().asyncAfter(deadline: .now() + timeout, execute: killer)
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        killer.cancel()
        return Output(
            status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
            stderr: String(decoding: stderr, as: UTF8.self))
    }

    static func pkcs15(_ arguments: [String]) throws -> Output {
        try run("/usr/bin/pkcs15-tool", ["--reader", slot.readerName] + arguments)
    }

    /// Whether pcscd reports a card in slot 0 (opensc-tool -l, no APDUs).
    static func cardPresent() throws -> Bool {
        let list = try run("/usr/bin/opensc-tool", ["-l"], timeout: 10)
        return list.stdout.split(separator: "\n").contains {
            $0.contains(slot.readerName) && $0.contains("Yes")
        }
    }

    /// Runs `body` with `card` inserted into slot 0 through an in-process VPCDBridge.
    static func withInserted<T>(_ card: VirtualMyNumberCard, _ body: () throws -> T) async throws
        -> T
    {
        try await TestBench.exclusive {
            let bridge = VPCDBridge(card: card, port: slot.port)
            try bridge.start()
            let result: Result<T, any Error>
            let inserted = try await TestBench.waitUntil(timeout: .seconds(10)) {
                try cardPresent()
            }
            #expect(inserted, "pcscd does not show the simulated card in slot 0")
            result = Result { try body() }
            bridge.stop()
            bridge.waitUntilStopped()
            try await waitForRemoval()
            return try result.get()
        }
    }

    static func waitForRemoval() async throws {
        let gone = try await TestBench.waitUntil(timeout: .seconds(10)) { try !cardPresent() }
        #expect(gone, "slot 0 still shows a card after the simulator stopped")
    }

    @Test func listCertificates() async throws {
        let card = try Sim.card()
        let out = try await Self.withInserted(card) { try Self.pkcs15(["--list-certificates"]) }
        #expect(out.status == 0, "\(out.stderr)")
        for label in [
            "User Authentication Certificate]", "Digital Signature Certificate]",
            "User Authentication Certificate CA]", "Digital Signature Certificate CA]",
        ] {
            #expect(out.stdout.contains("X.509 Certificate [\(label)"), "missing \(label)")
        }
        for path in ["000a", "0001", "000b", "0002"] {
            #expect(out.stdout.contains("Path           : \(path)"), "missing path \(path)")
        }
        #expect(out.stdout.contains("private"))
        // Listing certificates never spends a try.
        #expect(card.triesLeft(.auth) == 3 && card.triesLeft(.sign) == 5)
    }

    /// `--read-certificate 01` prints exactly the fixture auth certificate, also with 61xx
    /// chaining and 6Cxx Le correction injected (OpenSC's own GET RESPONSE / re-send).
    @Test(arguments: ["", "chunk61:64", "wrongle", "chunk61:200,wrongle"])
    func readAuthCertificate(faults: String) async throws {
        let card = try Sim.card(faults: try FaultSpec(parsing: faults))
        let out = try await Self.withInserted(card) {
            try Self.pkcs15(["--read-certificate", "01"])
        }
        #expect(out.status == 0, "\(out.stderr)")
        let pem = out.stdout
        let begin = try #require(pem.range(of: "-----BEGIN CERTIFICATE-----"))
        let end = try #require(pem.range(of: "-----END CERTIFICATE-----"))
        let base64 = pem[begin.upperBound..<end.lowerBound].filter { !$0.isWhitespace }
        let der = try #require(Data(base64Encoded: String(base64)))
        #expect([UInt8](der) == (try Sim.file("jpki/000A.der")))
        if faults.hasPrefix("chunk61") {
            // OpenSC really followed the chain: at least one GET RESPONSE per 200-byte chunk.
            #expect(card.commandsReceived > 1042 / 200 + 3)
        }
    }

    /// OpenSC against the silicon-like card (every ``CardBehaviour`` item at once), inserted by
    /// the jpki-sim executable with `--behaviour silicon`: the certificate read and the PIN
    /// counters are the same as with the convenient card.
    @Test func silicon() async throws {
        let binary = try Self.jpkiSimPath()
        try await TestBench.exclusive {
            let process = Process()
            process.executableURL = binary
            process.arguments = [
                "--card", "00-ordinary", "--vpcd", "127.0.0.1:\(Self.slot.port)", "--behaviour", "silicon",
            ]
            let err = Pipe()
            process.standardError = err
            try process.run()
            defer { if process.isRunning { process.interrupt() } }
            #expect(try await TestBench.waitUntil(timeout: .seconds(10)) { try Self.cardPresent() })
            let read = try Self.pkcs15(["--read-certificate", "01"])
            let pins = try Self.pkcs15(["--list-pins"])
            process.terminate()
            process.waitUntilExit()
            let log = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            #expect(log.contains("behaviour \(CardBehaviour.silicon)"), "\(log)")
            try await Self.waitForRemoval()
            #expect(read.status == 0, "\(read.stderr)")
            let pem = read.stdout
            let begin = try #require(pem.range(of: "-----BEGIN CERTIFICATE-----"))
            let end = try #require(pem.range(of: "-----END CERTIFICATE-----"))
            let base64 = pem[begin.upperBound..<end.lowerBound].filter { !$0.isWhitespace }
            #expect([UInt8](try #require(Data(base64Encoded: String(base64)))) == (try Sim.file("jpki/000A.der")))
            #expect(pins.stdout.contains("Tries left     : 3") && pins.stdout.contains("Tries left     : 5"))
        }
    }

    @Test func listPINs() async throws {
        let card = try Sim.card()
        let out = try await Self.withInserted(card) { try Self.pkcs15(["--list-pins"]) }
        #expect(out.status == 0, "\(out.stderr)")
        let blocks = out.stdout.components(separatedBy: "PIN [").dropFirst()
        let auth = try #require(blocks.first { $0.hasPrefix("User Authentication PIN]") })
        let sign = try #require(blocks.first { $0.hasPrefix("Digital Signature PIN]") })
        #expect(auth.contains("Tries left     : 3"))
        #expect(sign.contains("Tries left     : 5"))
        #expect(card.triesLeft(.auth) == 3 && card.triesLeft(.sign) == 5)
    }

    @Test func listPINsOfNearlyBlockedCard() async throws {
        let temp = try Sim.temporaryCard {
            var pins = $0["pins"] as? [String: Any] ?? [:]
            pins["auth"] = ["value": "1234", "tries": 1, "maxTries": 3]
            pins["sign"] = ["value": "ABC123", "tries": 2, "maxTries": 5]
            $0["pins"] = pins
        }
        defer { temp.remove() }
        let card = try temp.load()
        let out = try await Self.withInserted(card) { try Self.pkcs15(["--list-pins"]) }
        let blocks = out.stdout.components(separatedBy: "PIN [").dropFirst()
        let auth = try #require(blocks.first { $0.hasPrefix("User Authentication PIN]") })
        let sign = try #require(blocks.first { $0.hasPrefix("Digital Signature PIN]") })
        #expect(auth.contains("Tries left     : 1"))
        #expect(sign.contains("Tries left     : 2"))
        #expect(card.triesLeft(.auth) == 1 && card.triesLeft(.sign) == 2)
    }

    /// The jpki-sim executable: inserts the card, OpenSC reads it, SIGTERM removes it, exit 0.
    @Test func jpkiSimExecutable() async throws {
        let binary = try Self.jpkiSimPath()
        try await TestBench.exclusive {
            let process = Process()
            process.executableURL = binary
            process.arguments = ["--card", "00-ordinary", "--vpcd", "127.0.0.1:\(Self.slot.port)"]
            let err = Pipe()
            process.standardError = err
            try process.run()
            defer { if process.isRunning { process.interrupt() } }
            let inserted = try await TestBench.waitUntil(timeout: .seconds(10)) {
                try Self.cardPresent()
            }
            #expect(inserted)
            let out = try Self.pkcs15(["--list-certificates"])
            #expect(out.stdout.contains("X.509 Certificate [User Authentication Certificate]"))
            process.terminate()  // SIGTERM
            process.waitUntilExit()
            #expect(process.terminationReason == .exit)
            #expect(process.terminationStatus == 0)
            let log = String(
                decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            #expect(log.contains("inserted") && log.contains("removed"))
            #expect(!log.contains("1234") && !log.contains("ABC123"))
            try await Self.waitForRemoval()
        }
        // Bad arguments: typed, clear errors, non-zero exit, nothing inserted.
        let badFault = try Self.run(
            binary.path, ["--card", "00-ordinary", "--fault", "bogus"], timeout: 10)
        #expect(badFault.status != 0)
        #expect(badFault.stderr.contains("unknown fault"))
        let badCard = try Self.run(binary.path, ["--card", "no-such-card"], timeout: 10)
        #expect(badCard.status == 2)
        #expect(badCard.stderr.contains("sim_unknown_fixture"))
    }

    /// The jpki-sim binary next to the test bundle (swift build puts both in the same directory).
    static func jpkiSimPath() throws -> URL {
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = dir.appendingPathComponent("jpki-sim")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        throw TestFailure(
            "jpki-sim binary not found next to the test bundle: run `swift build` first")
    }
}

extension OpenSCConformanceTests {
    /// The Android phone fixture through OpenSC (recorded in apdu-fixtures/README.md,
    /// "Smartphones"): detected as JPKI, its auth certificate refused before the auth PIN and
    /// read after `--verify-pin`, spending no try.
    @Test func androidPhone() async throws {
        let phone = try VirtualMyNumberCard.fixture("20-android-phone")
        let (name, before, after) = try await Self.withInserted(phone) {
            (
                try Self.run("/usr/bin/opensc-tool", ["--reader", Self.slot.readerName, "-n"]),
                try Self.pkcs15(["--read-certificate", "01"]),
                try Self.pkcs15(["--read-certificate", "01", "--verify-pin", "--auth-id", "01", "--pin", "4321"])
            )
        }
        #expect(name.status == 0 && name.stdout.contains("jpki"), "\(name.stdout) \(name.stderr)")
        #expect(before.status != 0 && !before.stdout.contains("BEGIN CERTIFICATE"), "\(before.stdout)")
        #expect(after.status == 0 && after.stdout.contains("-----BEGIN CERTIFICATE-----"), "\(after.stderr)")
        #expect(phone.triesLeft(.auth) == 3)
    }
}
