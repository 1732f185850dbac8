import CardSimulator
import Foundation
import SmartCard
import Testing

/// Golden APDU exchanges in apdu-fixtures/transcripts/, replayed against a fresh 00-ordinary
/// simulator. Format: `> C-APDU hex` then `< R-APDU hex` (data + SW), `#` comments, blank lines.
enum Transcript {
    struct Exchange {
        var command: [UInt8]
        var response: [UInt8]
        var line: Int
    }

    static func directory() throws -> URL {
        try VirtualMyNumberCard.fixturesCardsDirectory().deletingLastPathComponent()
            .appendingPathComponent("transcripts")
    }

    static func parse(_ text: String) throws -> [Exchange] {
        var out: [Exchange] = []
        var pending: ([UInt8], Int)?
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false)
            .enumerated()
        {
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            guard line.count >= 2, let bytes = [UInt8](hex: String(line.dropFirst(2))) else {
                throw TestFailure("line \(index + 1): not hex")
            }
            if line.hasPrefix("> ") {
                guard pending == nil else {
                    throw TestFailure("line \(index + 1): two commands in a row")
                }
                pending = (bytes, index + 1)
            } else if line.hasPrefix("< ") {
                guard let (command, at) = pending else {
                    throw TestFailure("line \(index + 1): response without command")
                }
                out.append(Exchange(command: command, response: bytes, line: at))
                pending = nil
            } else {
                throw TestFailure("line \(index + 1): must start with '> ' or '< '")
            }
        }
        if pending != nil { throw TestFailure("command without response at the end") }
        return out
    }

    static func load(_ name: String) throws -> [Exchange] {
        let url = try directory().appendingPathComponent(name)
        return try parse(String(decoding: try Data(contentsOf: url), as: UTF8.self))
    }

    static let names = [
        "select-read-auth-cert.txt", "pin-status.txt", "verify-auth-sign.txt", "text-basic4.txt",
        "android-cert-after-pin.txt",
    ]

    /// The fixture a transcript was recorded with (default 00-ordinary).
    static let fixtures = ["android-cert-after-pin.txt": "20-android-phone"]
}

@Suite("Golden transcripts")
struct TranscriptTests {
    @Test(arguments: Transcript.names)
    func replay(_ name: String) throws {
        let exchanges = try Transcript.load(name)
        #expect(exchanges.count >= 3)
        let card = try Sim.card(Transcript.fixtures[name] ?? "00-ordinary")
        card.powerOn()
        for e in exchanges {
            let got = try #require(card.process(e.command))
            #expect(got.hexString == e.response.hexString, "\(name) line \(e.line)")
        }
    }

    @Test func transcriptsAreIndependentlyRight() throws {
        // The auth certificate read equals the fixture file.
        let read = try Transcript.load("select-read-auth-cert.txt")
        let body = read.filter { $0.command.starts(with: [0x00, 0xB0]) }.dropFirst()
        #expect(body.flatMap { $0.response.dropLast(2) } == (try Sim.file("jpki/000A.der")))
        // The signature verifies with OpenSSL against the auth certificate.
        let sign = try Transcript.load("verify-auth-sign.txt")
        let signing = try #require(sign.first { $0.command.starts(with: [0x80, 0x2A]) })
        let lc = Int(signing.command[4])
        let digestInfo = Array(signing.command[5..<5 + lc])
        #expect(
            Sim.verifyPKCS1(
                signature: Array(signing.response.dropLast(2)), signed: digestInfo,
                certificateDER: try Sim.file("jpki/000A.der")))
        // The basic 4 read returns the fixture file after a VERIFY with the demo text PIN.
        let text = try Transcript.load("text-basic4.txt")
        #expect(text.last.map { Array($0.response.dropLast(2)) } == (try Sim.file("text/0002.bin")))
        // The PIN status transcript never spends a try: every answer is 63Cx with the max.
        let status = try Transcript.load("pin-status.txt")
        let verifies = status.filter { $0.command.starts(with: [0x00, 0x20]) }
        #expect(verifies.count == 10)
        #expect(verifies.allSatisfy { $0.command.count == 4 && $0.response[0] == 0x63 })
    }

    @Test func parserRejectsBrokenTranscripts() {
        #expect(throws: TestFailure.self) { try Transcript.parse("< 9000\n") }
        #expect(throws: TestFailure.self) { try Transcript.parse("> 00A4\n> 00A4\n") }
        #expect(throws: TestFailure.self) { try Transcript.parse("> 00A4\n") }
        #expect(throws: TestFailure.self) { try Transcript.parse("> 0G\n< 9000\n") }
        #expect(throws: TestFailure.self) { try Transcript.parse("00A4\n") }
    }
}
