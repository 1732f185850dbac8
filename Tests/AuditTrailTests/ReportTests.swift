import AuditTrail
import Foundation
import Testing

@Suite("audit report: one person's accesses, followed through the log's own ties")
struct ReportTests {
    struct Key: Encodable {
        var issuer = "O=jpki-linux fixture,C=JP"
        var serial: String
    }

    struct Line: Encodable {
        var time: String
        var operation: String
        var outcome = "ok"
        var uid = 1000
        var exe: String? = "/usr/bin/reception"
        var comm: String? = "renamed"
        var card: String?
        var cardKey: Key?
        var record: Int?
    }

    struct RegistryLine: Encodable {
        var time: String
        var operation: String
        var outcome = "ok"
        var card: Key?
        var record: Int?
    }

    let mine = String(repeating: "ab", count: 32)
    let other = String(repeating: "cd", count: 32)

    func log() async throws -> String {
        let dir = try tempDir("report")
        let w = try AuditWriter(path: dir + "/audit.jsonl", signer: nil)
        try await w.append(entry: RegistryLine(time: "2026-04-01T09:00:00Z", operation: "registry-record", record: 7))
        try await w.append(
            entry: RegistryLine(
                time: "2026-04-01T09:00:00Z", operation: "registry-link", card: Key(serial: "1001"), record: 7))
        try await w.append(entry: RegistryLine(time: "2026-04-01T09:00:00Z", operation: "registry-record", record: 8))
        try await w.append(
            entry: Line(
                time: "2026-05-01T10:00:00Z", operation: "eligibility", card: mine, cardKey: Key(serial: "1001")))
        try await w.append(entry: Line(time: "2026-05-02T10:00:00Z", operation: "identity", card: mine))
        try await w.append(entry: Line(time: "2026-05-02T11:00:00Z", operation: "identity", card: other))
        await w.close()
        return dir + "/audit.jsonl"
    }

    @Test func bySerialByRecordByFingerprintAndTime() async throws {
        let path = try await log()
        var q = AuditReport.Query()
        q.serials = [AuditReport.normalize(serial: "0x00:10:01")]
        let bySerial = AuditReport.select(files: [path], query: q)
        #expect(bySerial.map(\.operation) == ["registry-record", "registry-link", "eligibility", "identity"])
        #expect(bySerial.allSatisfy { $0.record == nil || $0.record == 7 })
        let id = try #require(bySerial.last)
        #expect(id.exe == "/usr/bin/reception" && id.selfReportedName == "renamed" && id.uid == 1000)

        var r = AuditReport.Query()
        r.record = 7
        #expect(AuditReport.select(files: [path], query: r).map(\.seq) == bySerial.map(\.seq))

        var f = AuditReport.Query()
        f.fingerprints = [mine.uppercased().lowercased()]
        f.to = try Date.ISO8601FormatStyle().parse("2026-05-01T23:59:59Z")
        #expect(AuditReport.select(files: [path], query: f).map(\.operation).last == "eligibility")
        f.from = try Date.ISO8601FormatStyle().parse("2026-05-02T00:00:00Z")
        f.to = nil
        #expect(AuditReport.select(files: [path], query: f).map(\.operation) == ["identity"])

        var nobody = AuditReport.Query()
        nobody.serials = ["9999"]
        #expect(AuditReport.select(files: [path], query: nobody).isEmpty)
    }

    /// Two cards with one serial and one DN under two root generations: the key id tells their
    /// lines apart (`--issuer KEYID`), the DN does not.
    @Test func issuerKeyIDSeparatesGenerations() async throws {
        struct GenKey: Encodable {
            var issuerKeyID: String
            var serial = "1001"
            var issuer = "O=jpki-linux fixture,C=JP"
        }
        struct GenLine: Encodable {
            var time = "2026-05-01T10:00:00Z"
            var operation = "eligibility"
            var outcome = "ok"
            var cardKey: GenKey
        }
        let dir = try tempDir("report-generations")
        let w = try AuditWriter(path: dir + "/audit.jsonl", signer: nil)
        try await w.append(entry: GenLine(cardKey: GenKey(issuerKeyID: "1B996B31")))
        try await w.append(entry: GenLine(outcome: "not_eligible", cardKey: GenKey(issuerKeyID: "847D3B4D")))
        await w.close()
        var q = AuditReport.Query()
        q.serials = ["1001"]
        q.issuer = "84:7d:3b:4d"
        #expect(AuditReport.select(files: [dir + "/audit.jsonl"], query: q).map(\.outcome) == ["not_eligible"])
        q.issuer = "O=jpki-linux fixture,C=JP"
        #expect(AuditReport.select(files: [dir + "/audit.jsonl"], query: q).count == 2)
    }
}
