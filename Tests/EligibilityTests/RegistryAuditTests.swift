import Eligibility
import Foundation
import JPKIDaemon
import TestBench
import Testing

extension RegistryCommandTests {
    /// A CSV of `n` rows, each with a card to link.
    func bigCSV(_ dir: URL, rows n: Int) throws -> String {
        var text =
            "issuerKeyID,issuer,serial,insurerNumber,symbol,number,branch,name,birthDate,copaymentRatio,validFrom\n"
        for i in 0..<n {
            text +=
                "\(fixtureAuthKeyID),\"\(fixtureAuthIssuer)\",\(String(0x10_0000 + i, radix: 16)),06139991,,\(i),00,試験　\(i),1980-02-17,30,2024-04-01\n"
        }
        let path = dir.appendingPathComponent("big-\(n).csv").path
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    func recordCount(_ s: Setup) async throws -> Int {
        guard FileManager.default.fileExists(atPath: s.sqlite) else { return 0 }
        let store = try SQLiteRegistry(path: s.sqlite)
        defer { Task { await store.shutdown() } }
        return try await store.list().count
    }

    @Test func auditFullRefusesRegistryChangesAndRecovers() async throws {
        try await withSmallTmpfs { tmpfs in
            let s = try setup()
            let cfg = s.dir.appendingPathComponent("tmpfs-audit.json").path
            let json: [String: Any] = [
                "auditLog": tmpfs + "/audit.jsonl", "eligibility": ["sqlitePath": s.sqlite], "trust": fixtureTrust,
            ]
            try JSONSerialization.data(withJSONObject: json).write(to: URL(fileURLWithPath: cfg))
            let demo = packageRoot.appendingPathComponent("apdu-fixtures/registry/demo.csv").path
            #expect(await jpkid(["registry", "import", demo, "--config", cfg]).status == 0)
            let filler = try fillFileSystem(tmpfs)
            // The audit file's last page may still have room: another writer's lines fill it.
            let other = try AuditLog(config: try DaemonConfig.load(path: cfg), createKey: false)
            var filled = 0
            while (try? await other.record("filler", peer: nil, outcome: "ok")) != nil { filled += 1 }
            #expect(filled < 100)
            // Nothing that cannot be audited happens: not the import, not the unlink.
            let imp = await jpkid(["registry", "import", try bigCSV(s.dir, rows: 50), "--replace", "--config", cfg])
            #expect(imp.status == 1)
            #expect(imp.stderr.contains("audit_unavailable") && imp.stderr.contains("nothing was imported"))
            let unlink = [
                "registry", "unlink", "--issuer-key-id", fixtureAuthKeyID, "--serial", "1001", "--config", cfg,
            ]
            let un = await jpkid(unlink)
            #expect(un.status == 1)
            #expect(un.stderr.contains("audit_unavailable"))
            let list = await jpkid(["registry", "list", "--config", cfg])
            #expect(list.status == 1 && list.stderr.contains("audit_unavailable"))
            #expect(!list.stdout.contains("山田"), "nothing shown without its audit line")
            #expect(try await recordCount(s) == 10)
            let store = try SQLiteRegistry(path: s.sqlite)
            #expect(
                try await store.record(
                    for: try CardKey(issuerKeyID: fixtureAuthKeyID, serial: "1001", issuer: fixtureAuthIssuer)) != nil)
            await store.shutdown()
            // Space back: the same commands go through, no partial line was left behind.
            try FileManager.default.removeItem(atPath: filler)
            #expect(await jpkid(unlink).status == 0)
            let lines = try String(contentsOfFile: tmpfs + "/audit.jsonl", encoding: .utf8)
            #expect(lines.hasSuffix("\n"))
            #expect(lines.contains(#""operation":"registry-unlink""#))
        }
    }

    @Test func auditVerifyAndReportCommands() async throws {
        let s = try setup()
        let demo = packageRoot.appendingPathComponent("apdu-fixtures/registry/demo.csv").path
        #expect(await jpkid(["registry", "import", demo, "--config", s.config]).status == 0)
        let unlink = [
            "registry", "unlink", "--issuer-key-id", fixtureAuthKeyID, "--serial", "1001", "--config", s.config,
        ]
        #expect(await jpkid(unlink).status == 0)
        let ok = await jpkid(["audit", "verify", "--config", s.config])
        #expect(ok.status == 0, "\(ok.stderr)")
        #expect(ok.stdout.contains("audit log verified"))
        // Who touched card 1001: its link by the import, its unlink; nobody's name.
        let r = await jpkid(["audit", "report", "--card", "1001", "--json", "--config", s.config])
        #expect(r.status == 0, "\(r.stderr)")
        let accesses = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [[String: Any]])
        let ops = accesses.compactMap { $0["operation"] as? String }
        #expect(ops.contains("registry-link") && ops.contains("registry-unlink"))
        let record = try #require(accesses.first { $0["operation"] as? String == "registry-link" }?["record"] as? Int)
        let byRecord = await jpkid(["audit", "report", "--record", String(record), "--config", s.config])
        #expect(byRecord.status == 0)
        #expect(byRecord.stdout.contains("registry-record") && byRecord.stdout.contains("registry-unlink"))
        for text in [r.stdout, byRecord.stdout] {
            for secret in ["山田", "高橋", "1980-02-17"] { #expect(!text.contains(secret)) }
        }
        #expect(await jpkid(["audit", "report", "--config", s.config]).status == 64)
        // One byte changed: verify names the line and says edited.
        var text = try String(contentsOfFile: s.audit, encoding: .utf8)
        text = text.replacingOccurrences(of: #""operation":"registry-unlink""#, with: #""operation":"registry-unlinx""#)
        try Data(text.utf8).write(to: URL(fileURLWithPath: s.audit))
        let bad = await jpkid(["audit", "verify", "--config", s.config])
        #expect(bad.status == 1)
        #expect(bad.stderr.contains("NOT verified") && bad.stderr.contains("edited"))
    }

    /// kill -9 at two moments: while rows are being inserted, and as soon as the transaction's
    /// audit lines reach the file (just before or just after COMMIT, the narrowest window).
    @Test func killedImportLeavesOldStateOrNewStateWithItsAudit() async throws {
        let rows = 3000
        for moment in ["inserting", "audit lines written"] {
            let s = try setup()
            let csv = try bigCSV(s.dir, rows: rows)
            let dir = s.dir.path
            let pid = try spawnProgram(
                try builtBinary("jpkid"), ["registry", "import", csv, "--config", s.config], stdinPath: "/dev/null",
                stdoutPath: dir + "/out", stderrPath: dir + "/err")
            if moment == "inserting" {
                // The SQLite file exists and the transaction is running (the audit is still empty).
                _ = await TestBench.waitUntil(timeout: .seconds(30)) {
                    FileManager.default.fileExists(atPath: s.sqlite + "-wal")
                }
            } else {
                _ = await TestBench.waitUntil(timeout: .seconds(60)) {
                    ((try? FileManager.default.attributesOfItem(atPath: s.audit)[.size] as? Int) ?? 0) > 0
                }
            }
            kill(pid, SIGKILL)
            let status = waitForExit(pid)
            let count = try await recordCount(s)
            let text = (try? String(contentsOfFile: s.audit, encoding: .utf8)) ?? ""
            let recordLines = text.components(separatedBy: #""operation":"registry-record""#).count - 1
            let linkLines = text.components(separatedBy: #""operation":"registry-link""#).count - 1
            // All or nothing, and never a change without its lines.
            #expect(count == 0 || count == rows, "killed (\(moment), status \(status)): \(count) records")
            if count == rows { #expect(recordLines == rows && linkLines == rows) }
            if moment == "inserting" { #expect(count == 0 && status == 128 + SIGKILL) }
            print("kill -9 \(moment): exit \(status), \(count) records, \(recordLines) audit record lines")
        }
    }
}
