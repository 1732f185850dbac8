import CardSimulator
import Foundation
import JPKI
import JPKIDaemon
import Logging
import SmartCard
import Synchronization
import TestBench
import Testing

// MARK: - Log capture

/// Collects every line the daemon logs (message + metadata), for the PII scan.
final class LogCollector: Sendable {
    private let lines = Mutex<[String]>([])

    func append(_ line: String) { lines.withLock { $0.append(line) } }
    var all: [String] { lines.withLock { $0 } }

    /// A logger at trace level writing into this collector.
    func logger(_ label: String) -> Logger {
        var l = Logger(label: label) { label in CollectingLogHandler(label: label, sink: self) }
        l.logLevel = .trace
        return l
    }
}

struct CollectingLogHandler: LogHandler {
    let label: String
    let sink: LogCollector
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var all = metadata
        if let extra = event.metadata { all.merge(extra) { $1 } }
        let meta = all.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        sink.append("\(event.level) \(label): \(event.message) \(meta) [\(event.source)]")
    }
}

// MARK: - Fixtures and PII

enum Fixtures {
    static func file(_ card: String, _ path: String) throws -> URL {
        try VirtualMyNumberCard.fixturesCardsDirectory().appendingPathComponent(card).appendingPathComponent(path)
    }

    static func profile(_ card: String) throws -> [String: Any] {
        let data = try Data(contentsOf: try file(card, "profile.json"))
        return (try JSONSerialization.jsonObject(with: data) as? [String: Any]) ?? [:]
    }

    /// The PIN value of `kind` ("auth", "text", …) of a fixture card.
    static func pin(_ card: String, _ kind: String) throws -> String {
        let pins = try profile(card)["pins"] as? [String: Any]
        return try #require((pins?[kind] as? [String: Any])?["value"] as? String)
    }

    /// SHA-256 (lower-case hex) of the card's auth certificate: the session binding.
    static func authFingerprint(_ card: String) throws -> String {
        let der = try Data(contentsOf: try file(card, "jpki/000A.der"))
        return SHA256.hash(Array(der)).hexString.lowercased()
    }

    /// Every secret or personal value of every fixture card: PINs, My Numbers, names,
    /// addresses, birth dates (as on the card and as YYYY-MM-DD), serials, security codes.
    static func sensitiveValues() throws -> Set<String> {
        var out: Set<String> = []
        for name in VirtualMyNumberCard.fixtureNames() {
            let p = try profile(name)
            for (_, v) in p["pins"] as? [String: Any] ?? [:] {
                if let s = (v as? [String: Any])?["value"] as? String { out.insert(s) }
            }
            let id = p["identity"] as? [String: Any] ?? [:]
            for key in ["myNumber", "name", "address", "birthDate", "serial", "securityCode"] {
                if let s = id[key] as? String { out.insert(s) }
            }
            if let name = id["name"] as? String {
                // Each half of the name (family / given) on its own.
                for part in name.split(separator: "\u{3000}") where part.count >= 2 { out.insert(String(part)) }
            }
            if let b = id["birthDate"] as? String, b.count == 8 {
                out.insert("\(b.prefix(4))-\(b.dropFirst(4).prefix(2))-\(b.suffix(2))")
            }
        }
        return out
    }

    /// The lines of `lines` that contain one of `values` as a whole token (not inside a longer
    /// run of letters/digits, so a PIN "1111" inside a hex session id does not count).
    static func leaks(in lines: [String], of values: Set<String>) -> [(line: String, value: String)] {
        var found: [(String, String)] = []
        for line in lines {
            for v in values where containsToken(line, v) { found.append((line, v)) }
        }
        return found
    }
}

/// Every log line and audit line of the whole suite, scanned by ``FaultSoakTests/noPIIInLogs()``
/// and at the end of each test.
let suiteLogs = LogCollector()
let suiteAuditFiles = Mutex<[String]>([])

/// Fails the test for every log or audit line that carries a PIN, My Number or identity value.
func expectNoPII(logs: LogCollector, auditPaths: [String], sourceLocation: SourceLocation = #_sourceLocation) throws {
    let values = try Fixtures.sensitiveValues()
    var lines = logs.all
    for p in auditPaths {
        if let text = try? String(contentsOfFile: p, encoding: .utf8) {
            lines += text.split(separator: "\n").map(String.init)
        }
    }
    let leaks = Fixtures.leaks(in: lines, of: values)
    #expect(
        leaks.isEmpty,
        "PII in \(leaks.count) log/audit line(s), e.g. \(leaks.first.map { "value of length \($0.value.count) in: \($0.line.prefix(200))" } ?? "")",
        sourceLocation: sourceLocation)
    #expect(!lines.isEmpty || auditPaths.isEmpty, "no log lines captured", sourceLocation: sourceLocation)
}

// MARK: - Daemon harness

/// The vpcd slot the suite inserts its cards into: 0 ("Virtual PCD 00 00") unless
/// `FAULT_SOAK_SLOT=1` (useful when slot 0 of a shared bench is occupied).
let soakSlot = Int(ProcessInfo.processInfo.environment["FAULT_SOAK_SLOT"] ?? "") == 1 ? 1 : 0

/// A daemon started in-process on a temporary socket, logging into ``suiteLogs`` and a
/// per-daemon collector.
struct Harness {
    let daemon: Daemon
    let config: DaemonConfig
    let http: UnixHTTP
    let logs: LogCollector
    let started = Date()

    static func config(_ adjust: (inout DaemonConfig) -> Void = { _ in }) -> DaemonConfig {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent(
            "jpkid-soak-\(UUID().uuidString.prefix(8))")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        var c = DaemonConfig()
        c.socket.path = dir.appendingPathComponent("jpkid.sock").path
        c.auditLog = dir.appendingPathComponent("audit.jsonl").path
        c.roles.users = [String(getuid()): Role.allCases]
        c.myNumber.enabled = true
        c.limits.maxBodyBytes = 4096
        c.logLevel = "trace"
        adjust(&c)
        return c
    }

    static func start(_ adjust: (inout DaemonConfig) -> Void = { _ in }) async throws -> Harness {
        let cfg = config(adjust)
        let logs = LogCollector()
        let tee = Logger(label: "jpkid") { label in
            MultiplexLogHandler([
                CollectingLogHandler(label: label, sink: logs), CollectingLogHandler(label: label, sink: suiteLogs),
            ])
        }
        var logger = tee
        logger.logLevel = .trace
        let daemon = try await Daemon.start(config: cfg, logger: logger)
        suiteAuditFiles.withLock { $0.append(cfg.auditLog) }
        return Harness(daemon: daemon, config: cfg, http: UnixHTTP(path: cfg.socket.path), logs: logs)
    }

    /// Shuts the daemon down and scans its logs and audit for PII.
    func stop(sourceLocation: SourceLocation = #_sourceLocation) async throws {
        await daemon.shutdown()
        let seconds = String(format: "%.1f", Date().timeIntervalSince(started))
        print("harness: daemon ran \(seconds) s (bench lock held), \(logs.all.count) log lines")
        try expectNoPII(logs: logs, auditPaths: [config.auditLog], sourceLocation: sourceLocation)
    }

    /// The current session of `reader` (nil while there is none).
    func currentSession(reader: String = TestBench.slots[soakSlot].readerName) async throws -> String? {
        let r = try await http.request("GET", "/v1/readers")
        let readers = r.json["readers"] as? [[String: Any]] ?? []
        return readers.first { $0["name"] as? String == reader }?["session"] as? String
    }

    /// Waits (safety bound 15 s) for a session on `reader` other than `old`.
    func waitForSession(otherThan old: String? = nil, reader: String = TestBench.slots[soakSlot].readerName)
        async throws
        -> String?
    {
        var found: String?
        _ = try await TestBench.waitUntil(timeout: .seconds(15)) {
            found = try await currentSession(reader: reader)
            return found != nil && found != old
        }
        return found == old ? nil : found
    }

    /// Waits (safety bound 15 s) until `reader` has no card.
    func waitForEmpty(reader: String = TestBench.slots[soakSlot].readerName) async throws -> Bool {
        try await TestBench.waitUntil(timeout: .seconds(15)) {
            let r = try await http.request("GET", "/v1/readers")
            let readers = r.json["readers"] as? [[String: Any]] ?? []
            return readers.first { $0["name"] as? String == reader }?["state"] as? String == "empty"
        }
    }
}

/// A card inserted into a vpcd slot; `remove()` pulls it (idempotent).
final class InsertedCard: @unchecked Sendable {
    let name: String
    let bridge: VPCDBridge
    let card: VirtualMyNumberCard

    init(_ name: String, faults: String = "", slot: Int = soakSlot, reconnect: Bool = false) throws {
        self.name = name
        card = try VirtualMyNumberCard.fixture(name, faults: try FaultSpec(parsing: faults))
        bridge = VPCDBridge(card: card, port: TestBench.slots[slot].port, reconnect: reconnect)
        try bridge.start()
    }

    init(wrapping card: any VirtualCard, name: String, base: VirtualMyNumberCard, slot: Int = soakSlot) throws {
        self.name = name
        self.card = base
        bridge = VPCDBridge(card: card, port: TestBench.slots[slot].port)
        try bridge.start()
    }

    func remove() {
        bridge.stop()
        bridge.waitUntilStopped()
    }
}

/// Counts the APDUs a card processes (calibration of `remove-after:N`).
final class CountingCard: VirtualCard, @unchecked Sendable {
    let inner: VirtualMyNumberCard
    private let count = Mutex(0)
    init(_ inner: VirtualMyNumberCard) { self.inner = inner }
    var atr: [UInt8] { inner.atr }
    var processed: Int { count.withLock { $0 } }
    func powerOn() { inner.powerOn() }
    func powerOff() { inner.powerOff() }
    func reset() { inner.reset() }
    func process(_ command: [UInt8]) -> [UInt8]? {
        count.withLock { $0 += 1 }
        return inner.process(command)
    }
}

/// A small seeded generator (SplitMix64) so torture runs can be replayed from the printed seed.
struct SeededRNG: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Collects `/v1/events` on a thread of its own until ``stop()``; the events' data objects.
final class EventRecorder: Sendable {
    private let fd: Int32
    private let received = Received()
    private let done = DispatchSemaphore(value: 0)

    private final class Received: Sendable {
        let text = Mutex("")
    }

    init(_ http: UnixHTTP) throws {
        fd = try http.connect(timeout: 600)
        http.send(fd, Array("GET /v1/events HTTP/1.1\r\nHost: localhost\r\n\r\n".utf8))
        let fd = self.fd
        Thread.detachNewThread { [received, done] in
            var buf = [UInt8](repeating: 0, count: 16384)
            while true {
                let n = recv(fd, &buf, buf.count, 0)
                if n <= 0 { break }
                received.text.withLock { $0 += String(decoding: buf[0..<n], as: UTF8.self) }
            }
            done.signal()
        }
    }

    /// Ends the stream and returns every event received.
    @discardableResult
    func stop() -> [[String: Any]] {
        shutdown(fd, Int32(SHUT_RDWR))
        done.wait()
        close(fd)
        return received.text.withLock { $0 }.components(separatedBy: "\n").compactMap { line in
            guard line.hasPrefix("data: ") else { return nil }
            return try? JSONSerialization.jsonObject(with: Data(line.dropFirst(6).utf8)) as? [String: Any]
        }
    }
}
