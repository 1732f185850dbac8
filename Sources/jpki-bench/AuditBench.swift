import ArgumentParser
import AuditTrail
import Foundation

/// `jpki-bench audit --dir DIR`: the cost of one audited request, i.e. one chained audit line
/// made durable (`write` + `fsync`) before the answer may leave: sequential appends (one
/// request at a time: latency per line), then `--concurrency` appenders at once (group commit:
/// lines per second). Writes to a fresh log in DIR (use the disk jpkid's log lives on).
struct AuditBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit", abstract: "Audit line append cost (write + fsync, group commit).")

    @Option(help: "Directory for the scratch log (removed afterwards).")
    var dir: String

    @Option(help: "Sequential appends.")
    var count = 300

    @Option(help: "Concurrent appenders for the group-commit phase.")
    var concurrency = 16

    @Option(help: "Lines per appender in the group-commit phase.")
    var perAppender = 50

    struct Line: Encodable {
        var time = AuditFormat.now()
        var uid: UInt32 = 1000
        var pid: Int32 = 4242
        var exe = "/usr/bin/reception-app"
        var comm = "reception-app"
        var operation = "pin-status"
        var session = "00112233445566778899aabbccddeeff"
        var reader = "Virtual PCD 00 00"
        var card = String(repeating: "ab", count: 32)
        var outcome = "ok"
    }

    func run() async throws {
        let scratch = dir + "/audit-bench-\(getpid())"
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let signer = try AuditSigner.loadOrCreate(path: scratch + "/key.pem")
        let writer = try AuditWriter(
            path: scratch + "/audit.jsonl", policy: AuditPolicy(maxFileBytes: 0, checkpointEverySeconds: 0),
            signer: signer)
        for _ in 0..<20 { try await writer.append(entry: Line()) }  // warm-up
        let clock = ContinuousClock()
        var lat: [Double] = []
        for _ in 0..<count {
            let t0 = clock.now
            try await writer.append(entry: Line())
            lat.append(micros(clock.now - t0))
        }
        lat.sort()
        let p = { (q: Double) in lat[min(lat.count - 1, Int(Double(lat.count) * q))] }
        let t0 = clock.now
        let n = concurrency
        let per = perAppender
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<n {
                group.addTask { for _ in 0..<per { try await writer.append(entry: Line()) } }
            }
            try await group.waitForAll()
        }
        let seconds = micros(clock.now - t0) / 1e6
        await writer.close()
        emit([
            "sequential_count": count, "p50_us": p(0.5), "p99_us": p(0.99),
            "mean_us": lat.reduce(0, +) / Double(lat.count),
            "concurrency": n, "group_lines": n * per, "group_lines_per_second": Double(n * per) / seconds,
            "line_bytes": (try? JSONEncoder().encode(Line()).count + 90) ?? 0,
        ])
    }
}
