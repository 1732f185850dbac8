import AuditTrail
import Foundation
import TestBench
import Testing

/// A fresh directory under the test root.
func tempDir(_ tag: String) throws -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent(
        "jpki-audit-tests-\(getpid())/\(tag)-\(UUID().uuidString.prefix(8))"
    ).path
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
}

struct Entry: Encodable {
    var time = AuditFormat.now()
    var operation: String
    var outcome = "ok"
    var n: Int
}

/// Writes `count` entries with a checkpoint every `every` lines, then closes (final checkpoint).
func makeLog(_ dir: String, count: Int = 12, every: Int = 4, maxFileBytes: Int = 0) async throws -> (
    path: String, key: AuditPublicKey
) {
    let path = dir + "/audit.jsonl"
    let signer = try AuditSigner.loadOrCreate(path: dir + "/audit-key.pem")
    let writer = try AuditWriter(
        path: path,
        policy: AuditPolicy(
            maxFileBytes: maxFileBytes, maxFileAgeSeconds: 0, checkpointEveryLines: every, checkpointEverySeconds: 0),
        signer: signer)
    for i in 0..<count { try await writer.append(entry: Entry(operation: "identity", n: i)) }
    await writer.close()
    return (path, try AuditPublicKey(path: dir + "/audit-key.pub.pem"))
}

func verify(_ path: String, _ key: AuditPublicKey) -> AuditVerification {
    AuditVerifier.verify(files: AuditFormat.files(ofLog: path), publicKey: key, headFile: path + ".head")
}

func lines(_ path: String) throws -> [String] {
    try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
        .dropLast().map(String.init)
}

func write(_ lines: [String], to path: String) throws {
    try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: path))
}

@Suite("audit chain: writer and verifier")
struct ChainTests {
    @Test func goodChainVerifies() async throws {
        let dir = try tempDir("good")
        let (path, key) = try await makeLog(dir)
        let v = verify(path, key)
        #expect(v.problem == nil, "\(v.problem.map(String.init(describing:)) ?? "")")
        // 1 file-start line + 12 entries + 3 checkpoints every 4 lines (…) + the closing one.
        let all = try lines(path)
        #expect(v.lines == all.count)
        #expect(v.checkpoints >= 3)
        #expect(v.lastSignedSeq == v.lastSeq)
        #expect(all.first?.hasPrefix(#"{"seq":1,"prev":"0000"#) == true)
        // The key is 0600, its public half is readable.
        var st = stat()
        stat(dir + "/audit-key.pem", &st)
        #expect(st.st_mode & 0o777 == 0o600)
    }

    @Test func editedByteIsDetected() async throws {
        let (path, key) = try await makeLog(try tempDir("edit"))
        var l = try lines(path)
        #expect(l[2].contains("identity"))
        l[2] = l[2].replacingOccurrences(of: "identity", with: "identitx")
        try write(l, to: path)
        let p = try #require(verify(path, key).problem)
        #expect(p.kind == .edited)
        #expect(p.line == 3)
        #expect(p.description.contains("edited"))
    }

    @Test func deletedLineIsDetected() async throws {
        let (path, key) = try await makeLog(try tempDir("delete"))
        var l = try lines(path)
        l.remove(at: 3)
        try write(l, to: path)
        let p = try #require(verify(path, key).problem)
        #expect(p.kind == .removed)
        #expect(p.line == 4)
        #expect(p.message.contains("seq 4 is missing"))
    }

    @Test func swappedLinesAreDetected() async throws {
        let (path, key) = try await makeLog(try tempDir("swap"))
        var l = try lines(path)
        l.swapAt(2, 3)
        try write(l, to: path)
        let p = try #require(verify(path, key).problem)
        #expect(p.kind == .reordered)
        #expect(p.line == 3)
    }

    @Test func truncationIsDetected() async throws {
        // Mid-line: a torn last line.
        let (path, key) = try await makeLog(try tempDir("trunc"))
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        try data.prefix(data.count - 10).write(to: URL(fileURLWithPath: path))
        let p = try #require(verify(path, key).problem)
        #expect(p.kind == .truncated)
        #expect(p.message.contains("torn line"))
        // At a line boundary: the signed head names a line that is gone.
        let (path2, key2) = try await makeLog(try tempDir("trunc2"))
        let l = try lines(path2)
        try write(Array(l.dropLast(3)), to: path2)
        let p2 = try #require(verify(path2, key2).problem)
        #expect(p2.kind == .truncated)
        #expect(p2.message.contains("lines were removed from the end"))
    }

    @Test func rechainedForgeryWithoutTheKeyIsDetected() async throws {
        let (path, key) = try await makeLog(try tempDir("forge"))
        let l = try lines(path)
        // Keep the first 6 lines, replace the rest by re-chained lines (right seq and prev)
        // that change the outcomes; checkpoints cannot be re-signed, so they become plain lines.
        var forged = Array(l.prefix(6))
        var prevHash = sha256Hex(Data(forged.last!.utf8))
        for (i, original) in l.dropFirst(6).enumerated() {
            let seq = 7 + i
            _ = original
            let line =
                #"{"seq":\#(seq),"prev":"\#(prevHash)","operation":"identity","outcome":"forbidden","time":"2026-01-01T00:00:00Z"}"#
            forged.append(line)
            prevHash = sha256Hex(Data(line.utf8))
        }
        try write(forged, to: path)
        let p = try #require(verify(path, key).problem)
        #expect(p.kind == .forged)
        #expect(p.message.contains("tail was rewritten"))

        // The same with the forger's own key on the checkpoints: bad signature.
        let (path2, key2) = try await makeLog(try tempDir("forge2"))
        let other = try AuditSigner.loadOrCreate(path: try tempDir("otherkey") + "/k.pem")
        var l2 = try lines(path2)
        let cpIndex = try #require(l2.firstIndex { $0.contains(#""operation":"checkpoint""#) })
        l2[cpIndex] = l2[cpIndex].replacingOccurrences(
            of: #"(?<="key":")[0-9a-f]+"#, with: other.publicKeyHex, options: .regularExpression)
        try write(l2, to: path2)
        let p2 = try #require(verify(path2, key2).problem)
        #expect(p2.kind == .badSignature)
        #expect(p2.message.contains("another key"))
    }

    @Test func rotationKeepsTheChain() async throws {
        let dir = try tempDir("rotate")
        let (path, key) = try await makeLog(dir, count: 40, every: 10, maxFileBytes: 1500)
        let files = AuditFormat.files(ofLog: path)
        #expect(files.count >= 3)
        let v = verify(path, key)
        #expect(v.problem == nil, "\(v.problem.map(String.init(describing:)) ?? "")")
        // Each later file starts by naming the one before it.
        let second = try lines(files[1])
        #expect(second[0].contains("audit-file-start"))
        #expect(second[0].contains((files[0] as NSString).lastPathComponent))
        // A removed middle file breaks the chain.
        try FileManager.default.removeItem(atPath: files[1])
        let p = try #require(verify(path, key).problem)
        #expect(p.kind == .removed)
    }

    @Test func rotationByAgeKeepsTheChain() async throws {
        let dir = try tempDir("age")
        let path = dir + "/audit.jsonl"
        let signer = try AuditSigner.loadOrCreate(path: dir + "/audit-key.pem")
        // Every file is "too old" by the next append: each append rotates.
        let writer = try AuditWriter(
            path: path,
            policy: AuditPolicy(maxFileBytes: 0, maxFileAgeSeconds: 1e-9, checkpointEverySeconds: 0), signer: signer)
        for i in 0..<3 { try await writer.append(entry: Entry(operation: "identity", n: i)) }
        await writer.close()
        #expect(AuditFormat.files(ofLog: path).count >= 3)
        let v = verify(path, try AuditPublicKey(path: dir + "/audit-key.pub.pem"))
        #expect(v.problem == nil, "\(v.problem.map(String.init(describing:)) ?? "")")
        // Each rotated file was closed with a signed checkpoint.
        for f in AuditFormat.rotatedFiles(of: path) {
            #expect(try lines(f).last?.contains(#""operation":"checkpoint""#) == true)
        }
    }

    @Test func idleTailIsSignedByTheTimer() async throws {
        let dir = try tempDir("timer")
        let path = dir + "/audit.jsonl"
        let signer = try AuditSigner.loadOrCreate(path: dir + "/audit-key.pem")
        let writer = try AuditWriter(
            path: path, policy: AuditPolicy(checkpointEveryLines: 0, checkpointEverySeconds: 0.2), signer: signer)
        try await writer.append(entry: Entry(operation: "identity", n: 1))
        #expect(try !String(contentsOfFile: path, encoding: .utf8).contains("checkpoint"))
        let signed = await TestBench.waitUntil(timeout: .seconds(10)) {
            (try? String(contentsOfFile: path, encoding: .utf8))?.contains(#""operation":"checkpoint""#) == true
        }
        #expect(signed, "no checkpoint written for an idle unsigned tail")
        let v = verify(path, try AuditPublicKey(path: dir + "/audit-key.pub.pem"))
        #expect(v.problem == nil && v.lastSignedSeq == v.lastSeq)
        await writer.close()
    }

    @Test func tornLineAfterACrashIsReportedNeverRepaired() async throws {
        let dir = try tempDir("torn")
        let (path, key) = try await makeLog(dir, count: 5)
        // A crash in the middle of a write.
        let h = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        h.seekToEndOfFile()
        h.write(Data(#"{"seq":99,"prev":"ab"#.utf8))
        try h.close()
        let torn = try Data(contentsOf: URL(fileURLWithPath: path))
        #expect(verify(path, key).problem?.kind == .truncated)
        // The next start sets the file aside untouched and says so in the new file.
        let writer = try AuditWriter(
            path: path, signer: try AuditSigner.load(privateKeyPath: dir + "/audit-key.pem"))
        #expect(writer.notes.contains { $0.contains("torn line") })
        try await writer.append(entry: Entry(operation: "identity", n: 100))
        await writer.close()
        let files = AuditFormat.files(ofLog: path)
        #expect(files.count == 2)
        #expect(try Data(contentsOf: URL(fileURLWithPath: files[0])) == torn)
        let v = verify(path, key)
        #expect(v.problem == nil, "\(v.problem.map(String.init(describing:)) ?? "")")
        #expect(v.notes.contains { $0.contains("torn line") })
    }

    @Test func filesRootCreatesBelongToTheDirectoryOwner() async throws {
        // An administrator (root) running `jpkid registry` first must not leave files the daemon's
        // user cannot write.
        try #require(geteuid() == 0, "needs root (as CI and the bench run)")
        let dir = try tempDir("owner")
        #expect(chown(dir, 65534, 65534) == 0)
        let path = dir + "/audit.jsonl"
        let writer = try AuditWriter(path: path, policy: AuditPolicy(checkpointEveryLines: 1), signer: nil)
        try await writer.append(entry: Entry(operation: "x", n: 1))
        await writer.close()
        for f in [path, path + ".lock"] {
            var st = stat()
            #expect(stat(f, &st) == 0)
            #expect(st.st_uid == 65534 && st.st_gid == 65534, "\(f)")
        }
    }

    @Test func aGarbageLastLineIsNeverWrittenAfter() async throws {
        let dir = try tempDir("garbage")
        let (path, key) = try await makeLog(dir, count: 3)
        let h = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        h.seekToEndOfFile()
        h.write(Data("not an audit line\n".utf8))
        try h.close()
        let before = try Data(contentsOf: URL(fileURLWithPath: path))
        let writer = try AuditWriter(path: path, signer: try AuditSigner.load(privateKeyPath: dir + "/audit-key.pem"))
        #expect(writer.notes.contains { $0.contains("not an audit line") })
        try await writer.append(entry: Entry(operation: "identity", n: 9))
        await writer.close()
        let files = AuditFormat.files(ofLog: path)
        #expect(try Data(contentsOf: URL(fileURLWithPath: files[0])) == before, "left as it was")
        let p = try #require(verify(path, key).problem)
        #expect(p.kind == .edited && p.file == files[0])
    }

    @Test func twoWritersShareOneChain() async throws {
        let dir = try tempDir("two")
        let path = dir + "/audit.jsonl"
        let signer = try AuditSigner.loadOrCreate(path: dir + "/audit-key.pem")
        let a = try AuditWriter(path: path, signer: signer)
        let b = try AuditWriter(path: path, signer: nil)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<40 {
                group.addTask { try await (i % 2 == 0 ? a : b).append(entry: Entry(operation: "x", n: i)) }
            }
            try await group.waitForAll()
        }
        await b.close()
        await a.close()
        let v = verify(path, try AuditPublicKey(path: dir + "/audit-key.pub.pem"))
        #expect(v.problem == nil, "\(v.problem.map(String.init(describing:)) ?? "")")
        #expect(try lines(path).filter { $0.contains(#""operation":"x""#) }.count == 40)
    }
}

func sha256Hex(_ d: Data) -> String {
    // The verifier's own hash, through a line it parses.
    AuditFormat.hashOf(d)
}
