import Dispatch
import Foundation
import Synchronization

/// When the audit file rotates and how often the head is signed.
public struct AuditPolicy: Sendable, Equatable {
    /// Rotate when the current file reaches this size (bytes; 0 = never by size).
    public var maxFileBytes: Int
    /// Rotate when the current file's first line is older than this (seconds; 0 = never by age).
    public var maxFileAgeSeconds: Double
    /// Sign a checkpoint after this many lines (0 = not by count).
    public var checkpointEveryLines: Int
    /// Sign a checkpoint this long after the first unsigned line (seconds; 0 = not by time).
    public var checkpointEverySeconds: Double
    /// Rotated files to keep (0 = keep all). Older ones are deleted at rotation.
    public var keepFiles: Int

    /// Creates a policy (defaults: 64 MiB files, daily rotation, a checkpoint every 1000 lines
    /// or 60 s, every rotated file kept).
    public init(
        maxFileBytes: Int = 64 << 20, maxFileAgeSeconds: Double = 86_400, checkpointEveryLines: Int = 1000,
        checkpointEverySeconds: Double = 60, keepFiles: Int = 0
    ) {
        self.maxFileBytes = maxFileBytes
        self.maxFileAgeSeconds = maxFileAgeSeconds
        self.checkpointEveryLines = checkpointEveryLines
        self.checkpointEverySeconds = checkpointEverySeconds
        self.keepFiles = keepFiles
    }
}

/// The hash-chained, durable audit file writer.
///
/// Every line is a JSON object whose first two keys are `seq` (1, 2, 3… across rotations) and
/// `prev` (SHA-256, hex, of the previous line's bytes without its newline; 64 zeros before the
/// first line ever). Each file starts with an `audit-file-start` line whose `prev` is the hash
/// of the last line of the file before it, so rotation keeps the chain. Checkpoint lines
/// (`operation: checkpoint`) sign `seq`, `prev` and `time` with the daemon's Ed25519 key; the
/// latest one is also kept in `PATH.head`, so a shortened or rewritten tail is detected.
///
/// Durability: ``append(_:)`` returns only after the line was written with `O_APPEND` and
/// `fsync`'d. Lines waiting while a write is in progress are written together by the next
/// write (group commit: the delay is bounded by one `fsync`). A failed write is cut back
/// (`ftruncate`) to the last whole line and throws ``AuditError/unavailable(path:reason:)``; the
/// next append tries again, so the writer recovers by itself when the disk does. All file work
/// runs on one dedicated dispatch queue, never on the caller's thread.
///
/// Several processes (the daemon and `jpkid registry`) may write one log: each write holds an
/// exclusive `flock` on `PATH.lock` and re-reads the head when another process wrote since.
/// A last line without its newline (a crash in the middle of a write) is never repaired: the
/// file is left as it is, set aside as a rotated file, and the next file's first line names it.
public final class AuditWriter: Sendable {
    /// The current file.
    public let path: String
    /// The policy.
    public let policy: AuditPolicy
    private let signer: AuditSigner?
    private let queue = DispatchQueue(label: "jpkid.audit-writer")
    private let pending = Mutex(Pending())
    private let file: FileState
    private let timer: Mutex<TimerBox?> = Mutex(nil)
    private let failure = Mutex<AuditError?>(nil)

    /// The error of the last write when it failed; nil once a write succeeds again.
    public var lastFailure: AuditError? { failure.withLock { $0 } }

    private struct Pending {
        var items: [Item] = []
        var draining = false
        var closed = false
    }

    private struct Item {
        var line: Data?  // nil: checkpoint only
        var done: @Sendable (Result<Void, AuditError>) -> Void
    }

    /// What the writer found when it opened the log (a torn last line, a missing head…), for
    /// the operator's log.
    public var notes: [String] { queue.sync { file.notes } }

    /// Opens the log (creating its directory and file). Nothing is written until the first
    /// ``append(_:)``, except that a torn last line left by a crash is set aside at once.
    public init(path: String, policy: AuditPolicy = AuditPolicy(), signer: AuditSigner?) throws(AuditError) {
        self.path = path
        self.policy = policy
        self.signer = signer
        let dir = (path as NSString).deletingLastPathComponent
        if !dir.isEmpty {
            try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        }
        // Read-only is enough for flock, so a reader of the directory can take the lock.
        let lockFD = open(path + ".lock", O_RDONLY | O_CREAT | O_CLOEXEC, 0o644)
        guard lockFD >= 0 else { throw .unavailable(path: path, reason: "cannot open \(path).lock: \(errnoText())") }
        adoptDirectoryOwner(lockFD, path: path)
        file = FileState(path: path, lockFD: lockFD)
        let f = file
        let result: Result<Void, AuditError> = queue.sync {
            do throws(AuditError) {
                try f.locked { () throws(AuditError) in try f.sync(signer: nil, policy: policy) }
                return .success(())
            } catch { return .failure(error) }
        }
        try result.get()
        if policy.checkpointEverySeconds > 0, signer != nil {
            let t = DispatchSource.makeTimerSource(queue: queue)
            // Checked four times per interval: an unsigned line waits at most ~1.25 intervals.
            let interval = policy.checkpointEverySeconds / 4
            t.schedule(deadline: .now() + interval, repeating: interval, leeway: .milliseconds(100))
            t.setEventHandler { [weak self] in self?.timedCheckpoint() }
            t.resume()
            let box = TimerBox(t)
            timer.withLock { $0 = box }
        }
    }

    deinit {
        timer.withLock { $0?.source.cancel() }
        file.closeFiles()
    }

    /// Appends one JSON object (bytes starting with `{`) as a chained line and returns when it is
    /// on disk. The object must not have `seq` or `prev` keys and must hold no personal values.
    public func append(_ object: Data) async throws(AuditError) {
        let result = await withCheckedContinuation { (c: CheckedContinuation<Result<Void, AuditError>, Never>) in
            enqueue(Item(line: object, done: { c.resume(returning: $0) }))
        }
        try result.get()
    }

    /// Encodes `entry` (sorted keys) and appends it (see ``append(_:)-(Data)``).
    public func append<Entry: Encodable>(entry: Entry) async throws(AuditError) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(entry) else {
            throw .unavailable(path: path, reason: "the entry cannot be encoded")
        }
        try await append(data)
    }

    /// Appends several objects as one group (one `write`, one `fsync`) and blocks the calling
    /// thread until they are on disk. For code that must audit inside a database transaction
    /// before it commits (a transaction's thread, never the cooperative pool).
    public func appendSync(_ objects: [Data]) throws(AuditError) {
        guard !objects.isEmpty else { return }
        let done = DispatchSemaphore(value: 0)
        let state = Mutex<(left: Int, error: AuditError?)>((objects.count, nil))
        let items = objects.map { o in
            Item(
                line: o,
                done: { r in
                    let last = state.withLock { s in
                        if case .failure(let e) = r { s.error = e }
                        s.left -= 1
                        return s.left == 0
                    }
                    if last { done.signal() }
                })
        }
        enqueue(items)
        done.wait()
        if let e = state.withLock({ $0.error }) { throw e }
    }

    /// Writes a signed checkpoint now (when the writer has a key and lines were written since
    /// the last one).
    public func checkpoint() async throws(AuditError) {
        let result = await withCheckedContinuation { (c: CheckedContinuation<Result<Void, AuditError>, Never>) in
            enqueue(Item(line: nil, done: { c.resume(returning: $0) }))
        }
        try result.get()
    }

    /// Signs the head (when needed) and stops the writer; later appends throw ``AuditError/closed``.
    public func close() async {
        try? await checkpoint()
        pending.withLock { $0.closed = true }
        timer.withLock {
            $0?.source.cancel()
            $0 = nil
        }
    }

    private func enqueue(_ item: Item) { enqueue([item]) }

    private func enqueue(_ items: [Item]) {
        // 0: closed, 1: queued behind a running drain, 2: queued and a drain must start.
        let state: Int = pending.withLock { p in
            if p.closed { return 0 }
            p.items.append(contentsOf: items)
            if p.draining { return 1 }
            p.draining = true
            return 2
        }
        if state == 0 { for item in items { item.done(.failure(.closed)) } }
        if state == 2 { queue.async { self.drain() } }
    }

    private func drain() {
        while true {
            let batch: [Item] = pending.withLock { p in
                let b = p.items
                p.items = []
                if b.isEmpty { p.draining = false }
                return b
            }
            if batch.isEmpty { return }
            let lines = batch.compactMap(\.line)
            let forceCheckpoint = batch.contains { $0.line == nil }
            let f = file
            let result: Result<Void, AuditError>
            do throws(AuditError) {
                try f.locked { () throws(AuditError) in
                    try f.write(lines, forceCheckpoint: forceCheckpoint, signer: signer, policy: policy)
                }
                result = .success(())
            } catch {
                result = .failure(error)
            }
            failure.withLock { f in
                if case .failure(let e) = result { f = e } else { f = nil }
            }
            for item in batch { item.done(result) }
        }
    }

    private func timedCheckpoint() {
        let f = file
        guard f.unsignedSince.map({ Date().timeIntervalSince($0) >= policy.checkpointEverySeconds }) ?? false
        else { return }
        try? f.locked { () throws(AuditError) in
            try f.write([], forceCheckpoint: true, signer: signer, policy: policy)
        }
    }
}

/// A dispatch timer (only created, cancelled and dropped under the writer's lock).
final class TimerBox: @unchecked Sendable {
    let source: any DispatchSourceTimer
    init(_ source: any DispatchSourceTimer) { self.source = source }
}

/// The open file and the chain's head. Touched only on the writer's queue.
final class FileState: @unchecked Sendable {
    let path: String
    let lockFD: Int32
    var fd: Int32 = -1
    /// Size of the file as this process last left it.
    var end: off_t = 0
    /// Sequence number and hash of the last line (0 and zeros before the first line ever).
    var headSeq: UInt64 = 0
    var headHash = AuditFormat.zeroHash
    /// First line's seq and time in the current file (nil: the file is empty).
    var firstSeq: UInt64?
    var firstTime: Date?
    /// For the first line of a new file.
    var previousFile: String?
    var tornTail: [String: String]?
    var linesSinceCheckpoint = 0
    var unsignedSince: Date?
    var notes: [String] = []

    init(path: String, lockFD: Int32) {
        self.path = path
        self.lockFD = lockFD
    }

    func closeFiles() {
        if fd >= 0 { Foundation.close(fd) }
        Foundation.close(lockFD)
    }

    func locked<T>(_ body: () throws(AuditError) -> T) throws(AuditError) -> T {
        while flock(lockFD, LOCK_EX) != 0 {
            if errno != EINTR { throw .unavailable(path: path, reason: "cannot lock \(path).lock: \(errnoText())") }
        }
        defer { flock(lockFD, LOCK_UN) }
        return try body()
    }

    /// Makes the open file and head match the file on disk (another process may have written
    /// or rotated it). Sets a torn file aside. Called with the lock held.
    func sync(signer: AuditSigner?, policy: AuditPolicy) throws(AuditError) {
        var st = stat()
        if stat(path, &st) == 0, fd >= 0 {
            var own = stat()
            if fstat(fd, &own) == 0, own.st_ino == st.st_ino, own.st_size == end { return }
        }
        if fd >= 0 {
            Foundation.close(fd)
            fd = -1
        }
        let newFD = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0o640)
        guard newFD >= 0 else { throw .unavailable(path: path, reason: "cannot open: \(errnoText())") }
        fd = newFD
        adoptDirectoryOwner(fd, path: path)
        var own = stat()
        fstat(fd, &own)
        end = own.st_size
        firstSeq = nil
        firstTime = nil
        let scan = AuditFormat.scanEnds(fd: fd, size: end)
        if let first = scan.first {
            firstSeq = first.seq
            firstTime = first.time
        }
        if let last = scan.last {
            headSeq = last.seq
            headHash = last.hash
        } else {
            // Empty (or only a torn line): the head is the last line of the newest rotated file.
            previousFile = AuditFormat.rotatedFiles(of: path).last
            if let prev = previousFile, let tail = AuditFormat.lastLine(ofFile: prev) {
                headSeq = tail.seq
                headHash = tail.hash
            } else {
                headSeq = 0
                headHash = AuditFormat.zeroHash
            }
        }
        if scan.tornBytes == 0 && end > 0 && scan.last == nil {
            // The last line is not an audit line (edited or corrupted): never write after it.
            let name = try rotateAside(firstSeq: firstSeq ?? headSeq + 1)
            notes.append("audit log \(path) ends in a line that is not an audit line: left as is in \(name)")
        }
        if scan.tornBytes > 0 {
            // A crash in the middle of a write: never repair it. Set the file aside and start a
            // new one whose first line says so.
            let name = try rotateAside(firstSeq: firstSeq ?? headSeq + 1)
            let note =
                "audit log \(path) ended in a torn line (\(scan.tornBytes) bytes without a newline, after seq \(headSeq)): left as is in \(name)"
            notes.append(note)
            tornTail = ["file": (name as NSString).lastPathComponent, "bytes": String(scan.tornBytes)]
        }
    }

    /// Renames the current file to `PATH.<first seq>` and opens a new, empty one.
    private func rotateAside(firstSeq: UInt64) throws(AuditError) -> String {
        let name = path + "." + String(format: "%012llu", firstSeq)
        // Never overwrite a rotated file.
        guard !FileManager.default.fileExists(atPath: name) else {
            throw .unavailable(path: path, reason: "cannot rotate: \(name) already exists")
        }
        guard rename(path, name) == 0 else {
            throw .unavailable(path: path, reason: "cannot rotate to \(name): \(errnoText())")
        }
        Foundation.close(fd)
        fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0o640)
        guard fd >= 0 else { throw .unavailable(path: path, reason: "cannot open: \(errnoText())") }
        adoptDirectoryOwner(fd, path: path)
        fsyncDirectory()
        end = 0
        self.firstSeq = nil
        firstTime = nil
        previousFile = name
        return name
    }

    private func fsyncDirectory() {
        let dir = (path as NSString).deletingLastPathComponent
        let d = open(dir.isEmpty ? "." : dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if d >= 0 {
            fsync(d)
            Foundation.close(d)
        }
    }

    /// Chains `lines` (and a checkpoint when due), writes them in one `write` and `fsync`s.
    func write(_ lines: [Data], forceCheckpoint: Bool, signer: AuditSigner?, policy: AuditPolicy) throws(AuditError) {
        try sync(signer: signer, policy: policy)
        try rotateIfDue(signer: signer, policy: policy)
        if lines.isEmpty && (!forceCheckpoint || linesSinceCheckpoint == 0 || signer == nil) { return }
        var seq = headSeq
        var hash = headHash
        var buffer = Data()
        var count = 0
        var first: (UInt64, Date)?
        func add(_ object: Data) {
            seq += 1
            let line = AuditFormat.chain(object, seq: seq, prev: hash)
            hash = Digest.sha256Hex(line)
            buffer.append(line)
            buffer.append(0x0A)
            count += 1
            if firstSeq == nil && first == nil { first = (seq, Date()) }
        }
        if end == 0 {
            var start: [String: String] = ["operation": "audit-file-start", "time": AuditFormat.now()]
            if let p = previousFile { start["previousFile"] = (p as NSString).lastPathComponent }
            if let t = tornTail {
                start["previousFileTornBytes"] = t["bytes"]
                start["note"] = "the previous file ends in a torn line (a crash during a write)"
            }
            add(AuditFormat.object(start))
        }
        for l in lines { add(l) }
        var checkpointLine: Data?
        let due =
            forceCheckpoint
            || (policy.checkpointEveryLines > 0 && linesSinceCheckpoint + count >= policy.checkpointEveryLines)
        if due, let signer {
            let cp = AuditFormat.checkpoint(seq: seq + 1, prev: hash, signer: signer)
            add(cp)
            checkpointLine = AuditFormat.lastLine(in: buffer)
        }
        try append(buffer)
        headSeq = seq
        headHash = hash
        if let first {
            firstSeq = first.0
            firstTime = first.1
        }
        previousFile = nil
        tornTail = nil
        if let checkpointLine {
            linesSinceCheckpoint = 0
            unsignedSince = nil
            writeHead(checkpointLine)
        } else {
            linesSinceCheckpoint += count
            if unsignedSince == nil { unsignedSince = Date() }
        }
    }

    private func rotateIfDue(signer: AuditSigner?, policy: AuditPolicy) throws(AuditError) {
        guard end > 0, let firstSeq else { return }
        let bySize = policy.maxFileBytes > 0 && end >= policy.maxFileBytes
        let byAge =
            policy.maxFileAgeSeconds > 0
            && (firstTime.map { Date().timeIntervalSince($0) >= policy.maxFileAgeSeconds } ?? false)
        guard bySize || byAge else { return }
        // Close the file with a signed checkpoint, then start the next one.
        if let signer, linesSinceCheckpoint > 0 || !lastLineIsCheckpoint() {
            let cp = AuditFormat.checkpoint(seq: headSeq + 1, prev: headHash, signer: signer)
            let line = AuditFormat.chain(cp, seq: headSeq + 1, prev: headHash)
            var buffer = line
            buffer.append(0x0A)
            try append(buffer)
            headSeq += 1
            headHash = Digest.sha256Hex(line)
            linesSinceCheckpoint = 0
            unsignedSince = nil
            writeHead(line)
        }
        _ = try rotateAside(firstSeq: firstSeq)
        if policy.keepFiles > 0 {
            let rotated = AuditFormat.rotatedFiles(of: path)
            for old in rotated.dropLast(policy.keepFiles) { unlink(old) }
        }
    }

    private func lastLineIsCheckpoint() -> Bool {
        AuditFormat.lastLine(ofFile: path)?.operation == "checkpoint"
    }

    /// One `write` (looping over short writes) and `fsync`; on failure the file is cut back to
    /// where it was, so no partial line stays behind a refused request.
    private func append(_ buffer: Data) throws(AuditError) {
        let before = end
        var failure: Int32 = 0
        buffer.withUnsafeBytes { raw in
            var off = 0
            while off < raw.count {
                let n = Foundation.write(fd, raw.baseAddress! + off, raw.count - off)
                if n < 0 {
                    if errno == EINTR { continue }
                    failure = errno
                    return
                }
                off += n
            }
        }
        if failure == 0, fsync(fd) != 0 { failure = errno }
        if failure != 0 {
            _ = ftruncate(fd, before)
            _ = fsync(fd)
            throw .unavailable(path: path, reason: String(cString: strerror(failure)))
        }
        end = before + off_t(buffer.count)
    }

    /// Keeps the latest checkpoint in `PATH.head` (written aside, `fsync`'d, renamed).
    private func writeHead(_ line: Data) {
        let tmp = path + ".head.tmp"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o640)
        guard fd >= 0 else {
            notes.append("cannot write \(path).head: \(errnoText())")
            return
        }
        adoptDirectoryOwner(fd, path: path)
        var data = line
        data.append(0x0A)
        let ok = data.withUnsafeBytes { Foundation.write(fd, $0.baseAddress, $0.count) } == data.count && fsync(fd) == 0
        Foundation.close(fd)
        if ok && rename(tmp, path + ".head") == 0 {
            fsyncDirectory()
        } else {
            unlink(tmp)
            notes.append("cannot write \(path).head: \(errnoText())")
        }
    }
}

/// When root (an administrator's `jpkid registry`) creates a file of the log, it gets the owner
/// of the log's directory (the daemon's user), so the daemon can go on writing it.
func adoptDirectoryOwner(_ fd: Int32, path: String) {
    guard geteuid() == 0 else { return }
    let dir = (path as NSString).deletingLastPathComponent
    var st = stat()
    guard stat(dir.isEmpty ? "." : dir, &st) == 0 else { return }
    var own = stat()
    guard fstat(fd, &own) == 0, own.st_uid != st.st_uid || own.st_gid != st.st_gid else { return }
    _ = fchown(fd, st.st_uid, st.st_gid)
}

func errnoText() -> String { String(cString: strerror(errno)) }
