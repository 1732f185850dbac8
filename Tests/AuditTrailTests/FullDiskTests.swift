import AuditTrail
import Foundation
import TestBench
import Testing

@Suite("audit log on a full disk", .serialized)
struct FullDiskTests {
    @Test func fullDiskRefusesAndRecovers() async throws {
        try await withSmallTmpfs { dir in
            let path = dir + "/audit.jsonl"
            let signer = try AuditSigner.loadOrCreate(path: dir + "/audit-key.pem")
            let writer = try AuditWriter(
                path: path, policy: AuditPolicy(maxFileBytes: 0, checkpointEveryLines: 3, checkpointEverySeconds: 0),
                signer: signer)
            for i in 0..<5 { try await writer.append(entry: Entry(operation: "identity", n: i)) }
            let filler = try fillFileSystem(dir)
            // Long entries: the write cannot fit, part of it may have reached the file.
            struct Big: Encodable {
                var operation = "identity"
                var pad = String(repeating: "x", count: 3000)
            }
            var refused = 0
            for _ in 0..<3 {
                do throws(AuditError) {
                    try await writer.append(entry: Big())
                } catch {
                    #expect(error.code == "audit_unavailable")
                    #expect("\(error)".contains("No space left"))
                    refused += 1
                }
            }
            #expect(refused == 3)
            #expect(writer.lastFailure != nil)
            // No partial line was left behind: the log still verifies.
            let key = try AuditPublicKey(path: dir + "/audit-key.pub.pem")
            let before = verify(path, key)
            #expect(before.problem == nil, "\(before.problem.map(String.init(describing:)) ?? "")")
            // Space comes back: the next line goes through without a restart.
            try FileManager.default.removeItem(atPath: filler)
            try await writer.append(entry: Entry(operation: "identity", n: 99))
            #expect(writer.lastFailure == nil)
            await writer.close()
            let after = verify(path, key)
            #expect(after.problem == nil, "\(after.problem.map(String.init(describing:)) ?? "")")
            #expect(try lines(path).filter { $0.contains(#""n":99"#) }.count == 1)
            #expect(try !String(contentsOfFile: path, encoding: .utf8).contains("xxxx"))
        }
    }

    @Test func readOnlyDirectoryRefuses() async throws {
        // A log that cannot be opened at all refuses at once, with the same code.
        #expect(throws: AuditError.self) {
            _ = try AuditWriter(path: "/proc/jpki-no-such-dir/audit.jsonl", signer: nil)
        }
    }
}
