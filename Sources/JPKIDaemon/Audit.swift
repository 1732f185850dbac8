import AuditTrail
import Eligibility
import Foundation
import Synchronization

/// One audit entry. It records who did what to which session — never a PIN, a My Number or an
/// identity value. The writer adds `seq` and `prev` (the hash chain) in front of these fields.
public struct AuditEntry: Codable, Sendable, Equatable {
    /// ISO 8601 time.
    public var time: String
    /// Peer uid (SO_PEERCRED: the kernel vouches for it).
    public var uid: UInt32?
    /// Peer pid (SO_PEERCRED).
    public var pid: Int32?
    /// The peer's executable (`/proc/PID/exe`, resolved by the kernel); absent when jpkid may not
    /// read it (another user's process without CAP_SYS_PTRACE).
    public var exe: String?
    /// The name the peer process gave itself (`/proc/PID/comm`): self-reported, any process can
    /// change it (`prctl(PR_SET_NAME)`), kept apart from `exe` as such.
    public var comm: String?
    /// Operation (e.g. `authenticate`, `identity`, `my-number`, `refused`).
    public var operation: String
    /// Card session id, when the operation concerns a card.
    public var session: String?
    /// Reader name.
    public var reader: String?
    /// The card: SHA-256 fingerprint of its auth certificate (hex), when known.
    public var card: String?
    /// The card's registry key (issuer + serial of the auth certificate), when it was verified.
    public var cardKey: CardKey?
    /// Outcome code: `ok` or an error code.
    public var outcome: String
    /// For refused requests: method and path (no query, no body).
    public var request: String?
    /// Refusals of this uid not audited since the previous audited one (rate limit).
    public var suppressed: Int?
    /// Registry administration (`jpkid registry`, the same log): the registry's record id.
    public var record: Int64?
    /// Registry administration: one id per command's transaction (see `registry-commit`).
    public var txn: String?
    /// `registry-link`: the linked credential's kind (`card`, `android-phone`, `iphone`, `unknown`).
    public var credentialKind: String?
    /// `registry-unlink`: how many credentials the record has left.
    public var credentialsLeft: Int?
    /// Registry import, listing or export: the rows read, listed or written.
    public var rows: Int?
    /// `registry-import`: records saved, credentials linked, rows rejected, links refused.
    public var recordsSaved: Int?
    /// See ``recordsSaved``.
    public var cardsLinked: Int?
    /// See ``recordsSaved``.
    public var rowsRejected: Int?
    /// See ``recordsSaved``.
    public var linksRefused: Int?

    /// Creates an entry (the one shape of every line, daemon and `jpkid registry`).
    public init(
        time: String = AuditFormat.now(), uid: UInt32? = nil, pid: Int32? = nil, exe: String? = nil,
        comm: String? = nil, operation: String, session: String? = nil, reader: String? = nil, card: String? = nil,
        cardKey: CardKey? = nil, outcome: String, request: String? = nil, suppressed: Int? = nil,
        record: Int64? = nil, txn: String? = nil, credentialKind: String? = nil, credentialsLeft: Int? = nil,
        rows: Int? = nil, recordsSaved: Int? = nil, cardsLinked: Int? = nil, rowsRejected: Int? = nil,
        linksRefused: Int? = nil
    ) {
        self.time = time
        self.uid = uid
        self.pid = pid
        self.exe = exe
        self.comm = comm
        self.operation = operation
        self.session = session
        self.reader = reader
        self.card = card
        self.cardKey = cardKey
        self.outcome = outcome
        self.request = request
        self.suppressed = suppressed
        self.record = record
        self.txn = txn
        self.credentialKind = credentialKind
        self.credentialsLeft = credentialsLeft
        self.rows = rows
        self.recordsSaved = recordsSaved
        self.cardsLinked = cardsLinked
        self.rowsRejected = rowsRejected
        self.linksRefused = linksRefused
    }
}

/// The daemon's audit log: an ``AuditWriter`` (hash chain, signed checkpoints, fsync before the
/// answer, rotation) plus the daemon's entry shape and the rate limit for refused requests.
public final class AuditLog: Sendable {
    /// The writer (shared shape with `jpkid registry`).
    public let writer: AuditWriter
    /// The file path.
    public var path: String { writer.path }
    private let refusalsPerMinute: Int
    private let refusals = Mutex<[UInt32: (windowStart: Date, count: Int, suppressed: Int)]>([:])

    /// Opens the log with the configuration's policy. `createKey`: create the checkpoint key
    /// when absent (the daemon); otherwise a key that cannot be read means no checkpoints from
    /// this process (the daemon's next checkpoint signs its lines).
    public init(config: DaemonConfig, createKey: Bool) throws(ConfigError) {
        let a = config.audit
        let keyPath = a.keyPath(auditLog: config.auditLog)
        let signer: AuditSigner?
        do {
            let dir = (config.auditLog as NSString).deletingLastPathComponent
            if !dir.isEmpty { try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
            if createKey {
                signer = try AuditSigner.loadOrCreate(path: keyPath)
            } else {
                signer = access(keyPath, R_OK) == 0 ? try AuditSigner.load(privateKeyPath: keyPath) : nil
            }
            writer = try AuditWriter(
                path: config.auditLog,
                policy: AuditPolicy(
                    maxFileBytes: a.maxFileBytes, maxFileAgeSeconds: a.maxFileAgeSeconds,
                    checkpointEveryLines: a.checkpointEveryLines, checkpointEverySeconds: a.checkpointEverySeconds,
                    keepFiles: a.keepFiles),
                signer: signer)
        } catch {
            throw .unreadable(path: config.auditLog, reason: "cannot open the audit log: \(error)")
        }
        refusalsPerMinute = a.refusalsPerMinute
    }

    /// Appends an entry and returns once it is on disk. Throws ``AuditError/unavailable(path:reason:)``
    /// when it cannot be written: the caller must then refuse what it was about to disclose.
    public func record(
        _ operation: String, peer: PeerCredentials?, session: String? = nil, reader: String? = nil,
        card: String? = nil, cardKey: CardKey? = nil, outcome: String
    ) async throws(AuditError) {
        try await writer.append(
            entry: AuditEntry(
                time: AuditFormat.now(), uid: peer?.uid, pid: peer?.pid, exe: peer?.executable, comm: peer?.processName,
                operation: operation, session: session, reader: reader, card: card, cardKey: cardKey, outcome: outcome))
    }

    /// Audits a refused or failed request (who tried what, the refusal code), at most
    /// `audit.refusalsPerMinute` per uid; the others are counted into the next one's
    /// `suppressed`. Never throws: a refusal is answered whether or not it could be audited.
    public func recordRefusal(method: String, path: String, peer: PeerCredentials?, code: String) async {
        let uid = peer?.uid ?? UInt32.max
        let now = Date()
        let suppressed: Int? = refusals.withLock { table in
            var e = table[uid] ?? (now, 0, 0)
            if now.timeIntervalSince(e.windowStart) >= 60 {
                e.windowStart = now
                e.count = 0
            }
            guard e.count < refusalsPerMinute else {
                e.suppressed += 1
                table[uid] = e
                return nil
            }
            e.count += 1
            let s = e.suppressed
            e.suppressed = 0
            table[uid] = e
            return s
        }
        guard let suppressed else { return }
        let pathOnly = path.split(separator: "?", maxSplits: 1).first.map(String.init) ?? path
        try? await writer.append(
            entry: AuditEntry(
                time: AuditFormat.now(), uid: peer?.uid, pid: peer?.pid, exe: peer?.executable, comm: peer?.processName,
                operation: "refused", outcome: code, request: "\(method) \(String(pathOnly.prefix(200)))",
                suppressed: suppressed > 0 ? suppressed : nil))
    }

    /// Appends any entry (see ``AuditWriter/append(entry:)``).
    public func append<Entry: Encodable>(_ entry: Entry) async throws(AuditError) {
        try await writer.append(entry: entry)
    }

    /// Signs the head and stops writing.
    public func close() async { await writer.close() }
}

extension PeerCredentials {
    /// The peer's executable as the kernel resolves `/proc/PID/exe` (nil when not readable).
    public var executable: String? {
        var buf = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/\(pid)/exe", &buf, buf.count - 1)
        guard n > 0 else { return nil }
        return String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// Marks, for one request, that its operation wrote its own audit line (so the generic refusal
/// line is not written twice).
final class AuditMark: Sendable {
    let recorded = Atomic<Bool>(false)
    @TaskLocal static var current: AuditMark?
}
