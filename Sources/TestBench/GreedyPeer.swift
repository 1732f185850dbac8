import Foundation

/// `Tests/tools/greedy-peer.py` as another uid, driven through a FIFO on its stdin: a local
/// client that holds as many connections or event streams as it can (fairness tests).
public final class GreedyPeer {
    let pid: pid_t
    let input: Int32
    let output: String

    /// Starts the greedy peer as `uid` with `count` connections in `mode` (`idle` or `events`).
    public init(socket: String, uid: UInt32, count: Int, mode: String) throws {
        // Sources/TestBench/GreedyPeer.swift → Tests/tools/greedy-peer.py
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Tests/tools/greedy-peer.py").path
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("greedy-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let fifo = dir.appendingPathComponent("in").path
        guard mkfifo(fifo, 0o600) == 0 else { throw TestFailure("mkfifo: \(String(cString: strerror(errno)))") }
        output = dir.appendingPathComponent("out").path
        // Our end first, read-write so the open does not wait for a reader (posix_spawn runs the
        // child's file actions while this thread is suspended: a blocking open here would never
        // meet the child's).
        input = open(fifo, O_RDWR | O_CLOEXEC)
        guard input >= 0 else { throw TestFailure("cannot open the greedy peer's stdin") }
        pid = try spawnProgram(
            "/usr/bin/python3", [script, socket, String(uid), String(count), mode], stdinPath: fifo,
            stdoutPath: output, stderrPath: dir.appendingPathComponent("err").path)
    }

    private func lines() -> [String] {
        ((try? String(contentsOfFile: output, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    private static func parse(_ line: String) -> [String: Int] {
        (try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Int]) ?? [:]
    }

    /// Waits for the first line: how many connections were opened.
    public func opened() async throws -> [String: Int] {
        _ = await TestBench.waitUntil(timeout: .seconds(20)) { !self.lines().isEmpty }
        return Self.parse(lines().first ?? "{}")
    }

    /// Asks for reports until `done` holds for one (or 10 s pass); the last report.
    public func report(until done: ([String: Int]) -> Bool) async throws -> [String: Int] {
        var last: [String: Int] = [:]
        _ = await TestBench.waitUntil(timeout: .seconds(10)) {
            let before = self.lines().count
            _ = "report\n".withCString { write(self.input, $0, strlen($0)) }
            _ = await TestBench.waitUntil(timeout: .seconds(5)) { self.lines().count > before }
            last = Self.parse(self.lines().last ?? "{}")
            return done(last)
        }
        return last
    }

    /// Ends the peer (its connections close).
    public func stop() {
        close(input)
        kill(pid, SIGTERM)
        _ = waitForExit(pid)
    }
}

/// What a well-behaved client saw while a ``GreedyPeer`` held its connections: `count`
/// sequential requests (async, through async-http-client), their statuses and latencies.
public struct WellBehavedRun: Sendable {
    /// Every status, in order.
    public let statuses: [Int]
    /// Latencies in milliseconds, sorted.
    public let millis: [Double]

    /// Runs `count` sequential `GET path` requests.
    public static func run(_ http: UnixHTTP, _ path: String, count: Int) async throws -> WellBehavedRun {
        var statuses: [Int] = []
        var millis: [Double] = []
        for _ in 0..<count {
            let start = ContinuousClock.now
            statuses.append(try await http.request("GET", path).status)
            let d = ContinuousClock.now - start
            millis.append(Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15)
        }
        return WellBehavedRun(statuses: statuses, millis: millis.sorted())
    }

    /// Requests answered 200.
    public var ok: Int { statuses.filter { $0 == 200 }.count }
    /// The `p`th percentile latency (ms).
    public func percentile(_ p: Int) -> Double { millis[min(millis.count - 1, millis.count * p / 100)] }
    /// Statuses counted, for failure messages.
    public var histogram: [Int: Int] { Dictionary(grouping: statuses, by: { $0 }).mapValues(\.count) }
    /// One line: `ok/count answered 200, p50 … ms, p99 … ms`.
    public var summary: String {
        "\(ok)/\(statuses.count) answered 200, p50 \(String(format: "%.2f", percentile(50))) ms, p99 \(String(format: "%.2f", percentile(99))) ms"
    }
}
