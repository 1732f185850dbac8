import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// What the terminal answered, as the daemon reports it (codes only, no personal data).
public struct OQSResultInfo: Codable, Sendable, Equatable {
    /// Our `ArbitraryFileIdentifier` of the query.
    public var identifier: String
    /// `QualificationValidity` (OQSCD006) code and its label.
    public var qualificationValidity: String
    public var qualificationValidityLabel: String?
    /// `ProcessExecutionTime` as the terminal wrote it.
    public var processExecutionTime: String?
    /// Number of `ResultOfQualificationConfirmation` elements.
    public var results: Int

    /// Creates the info.
    public init(
        identifier: String, qualificationValidity: String, qualificationValidityLabel: String?,
        processExecutionTime: String?, results: Int
    ) {
        self.identifier = identifier
        self.qualificationValidity = qualificationValidity
        self.qualificationValidityLabel = qualificationValidityLabel
        self.processExecutionTime = processExecutionTime
        self.results = results
    }
}

/// The client side of the terminal's shared folder: writes query files into `req/` atomically
/// (temporary name, fsync, rename, fsync of the directory), waits for answers in `res/` with
/// inotify on one dedicated thread (never on the cooperative pool, no directory polling), and
/// hands each answer to the query whose `ArbitraryFileIdentifier` it carries.
///
/// Guarantees:
/// - a request is visible under its final name only once it is complete (a crash leaves at most
///   a `.jpkid-*.tmp` file, which the terminal's `*req_*.xml` pattern never matches and which
///   the next start removes);
/// - an answer is attached only to the pending query with its identifier; identifiers are random
///   and never reused, so an answer arriving after its query ended (timeout, crash, restart) is
///   discarded — deleted, never consumed later;
/// - answers of other applications sharing the folder (identifiers without our prefix) are left alone.
public final class OQSTerminal: Sendable {
    /// Folder, identity and time limits.
    public struct Configuration: Sendable, Equatable {
        /// The shared folder (holds `req/`, `res/`, `face/`).
        public var folder: String
        /// The clinic's 医療機関コード (10 digits).
        public var medicalInstitutionCode: String
        /// This jpkid's station tag (2 characters, A–Z/0–9): part of every identifier it issues,
        /// so several jpkid sharing one folder never take each other's answers.
        public var station: String
        /// Seconds the request may stay in `req/` before the terminal counts as not responding.
        public var pickupTimeoutSeconds: Double
        /// Seconds from writing the request to its answer.
        public var answerTimeoutSeconds: Double

        /// Creates a configuration.
        public init(
            folder: String, medicalInstitutionCode: String, station: String = "00", pickupTimeoutSeconds: Double = 10,
            answerTimeoutSeconds: Double = 30
        ) {
            self.folder = folder
            self.medicalInstitutionCode = medicalInstitutionCode
            self.station = station
            self.pickupTimeoutSeconds = pickupTimeoutSeconds
            self.answerTimeoutSeconds = answerTimeoutSeconds
        }

        /// `folder/req`.
        public var requestDirectory: String { folder + "/req" }
        /// `folder/res`.
        public var answerDirectory: String { folder + "/res" }
        /// `folder/face`.
        public var faceDirectory: String { folder + "/face" }
        /// Prefix of the identifiers this station issues.
        public var ownPrefix: String { OQSFileNames.identifierPrefix + station }
    }

    /// Counters (for tests and `/v1/health`-style reporting).
    public struct Counters: Sendable, Equatable {
        /// Answers delivered to their query.
        public var delivered = 0
        /// Our answers that arrived with no pending query (late or stale) and were deleted.
        public var discarded = 0
        /// Requests withdrawn from `req/` (not picked up, timed out, or left by a previous run).
        public var withdrawn = 0
        /// Temporary files of a previous run removed.
        public var temporariesRemoved = 0
    }

    typealias Completion = CheckedContinuation<Result<OQSAnswer, OQSError>, Never>

    private struct Job {
        var query: OQSQuery
        var completion: Completion
    }

    private struct Shared {
        var jobs: [Job] = []
        var started = false
        var stopping = false
        var counters = Counters()
    }

    /// The configuration.
    public let configuration: Configuration
    private let shared = Mutex(Shared())
    private let watch: DirectoryWatch?

    /// Creates the client; nothing is touched until the first query (or ``start()``).
    public init(configuration: Configuration) {
        self.configuration = configuration
        watch = DirectoryWatch()
    }

    /// A new identifier for a query of this station.
    public func newIdentifier() -> String {
        var rng = SystemRandomNumberGenerator()
        let n = 20 - configuration.ownPrefix.count
        let hex = (0..<max(8, n)).map { _ in String(UInt8.random(in: 0..<16, using: &rng), radix: 16).uppercased() }
        return configuration.ownPrefix + hex.joined()
    }

    /// The counters so far.
    public var counters: Counters { shared.withLock { $0.counters } }

    /// Starts the watcher thread now (cleaning what a previous run left); queries start it anyway.
    public func start() {
        startIfNeeded()
        watch?.wake()
    }

    /// Sends a query and waits for its answer (or a typed failure).
    public func query(_ query: OQSQuery) async throws(OQSError) -> OQSAnswer {
        guard watch != nil else { throw .io("inotify is unavailable") }
        let result: Result<OQSAnswer, OQSError> = await withCheckedContinuation { c in
            let accepted = shared.withLock { s -> Bool in
                guard !s.stopping else { return false }
                s.jobs.append(Job(query: query, completion: c))
                return true
            }
            guard accepted else { return c.resume(returning: .failure(.shutDown)) }
            startIfNeeded()
            watch?.wake()
        }
        return try result.get()
    }

    /// Stops the thread; waiting queries fail with `oqs_shut_down`.
    public func shutdown() {
        shared.withLock { $0.stopping = true }
        watch?.wake()
    }

    private func startIfNeeded() {
        let start = shared.withLock { s -> Bool in
            guard !s.started, !s.stopping else { return false }
            s.started = true
            return true
        }
        guard start else { return }
        let thread = Thread { [self] in run() }
        thread.name = "oqs-terminal"
        thread.start()
    }

    // MARK: - The watcher thread (everything below runs on it only)

    private struct Pending {
        var query: OQSQuery
        var completion: Completion
        var pickupDeadline: UInt64
        var deadline: UInt64
        var pickedUp = false
    }

    private static func nowMS() -> UInt64 { DispatchTime.now().uptimeNanoseconds / 1_000_000 }

    private func count(_ update: (inout Counters) -> Void) { shared.withLock { update(&$0.counters) } }

    private func run() {
        guard let watch else { return }
        let cfg = configuration
        var pending: [String: Pending] = [:]

        func finish(_ id: String, _ r: Result<OQSAnswer, OQSError>) {
            guard let p = pending.removeValue(forKey: id) else { return }
            p.completion.resume(returning: r)
        }

        /// Watches `res/` when it is not watched yet; the first time (and after the folder came
        /// back) also clears what an earlier run left.
        func ensureWatch() -> Bool {
            if watch.watched.contains(cfg.answerDirectory) { return true }
            guard Self.isDirectory(cfg.requestDirectory), Self.isDirectory(cfg.answerDirectory),
                watch.watch(cfg.answerDirectory, mask: DirectoryWatch.arrivals)
            else { return false }
            cleanRequests()
            for name in Self.list(cfg.answerDirectory) { handleAnswer(name) }
            return true
        }

        /// Removes our temporary files, and our requests no query waits for (a previous run's).
        func cleanRequests() {
            for name in Self.list(cfg.requestDirectory) {
                if name.hasPrefix(OQSFileNames.temporaryPrefix) {
                    if unlink(cfg.requestDirectory + "/" + name) == 0 { count { $0.temporariesRemoved += 1 } }
                } else if let id = OQSFileNames.identifier(of: name, prefix: OQSFileNames.queryRequestPrefix),
                    id.hasPrefix(cfg.ownPrefix), pending[id] == nil
                {
                    if unlink(cfg.requestDirectory + "/" + name) == 0 { count { $0.withdrawn += 1 } }
                }
            }
        }

        func handleAnswer(_ name: String) {
            guard name.hasPrefix(OQSFileNames.queryAnswerPrefix), name.hasSuffix(".xml") else { return }
            let path = cfg.answerDirectory + "/" + name
            guard let data = Self.readSmallFile(path) else { return }
            let nameID = OQSFileNames.identifier(of: name, prefix: OQSFileNames.queryAnswerPrefix)
            let answer: OQSAnswer
            do {
                answer = try OQSAnswer(document: data)
            } catch {
                // Attributed by its file name only when that is one of ours.
                if let nameID, nameID.hasPrefix(cfg.ownPrefix) {
                    unlink(path)
                    if pending[nameID] != nil { finish(nameID, .failure(error)) } else { count { $0.discarded += 1 } }
                }
                return
            }
            guard let id = answer.identifier, id.hasPrefix(cfg.ownPrefix) else { return }
            // 処理中 (SegmentOfResult 2) is not final: wait for the final answer.
            if answer.segmentOfResult == "2" {
                unlink(path)
                return
            }
            unlink(path)
            guard pending[id] != nil else {
                count { $0.discarded += 1 }
                return
            }
            if let code = answer.medicalInstitutionCode, code != cfg.medicalInstitutionCode {
                finish(id, .failure(.answerMismatch("MedicalInstitutionCode")))
                return
            }
            count { $0.delivered += 1 }
            finish(id, .success(answer))
        }

        func submit(_ job: Job) {
            guard ensureWatch() else {
                return job.completion.resume(
                    returning: .failure(.folderMissing("\(cfg.folder) has no readable req/ and res/")))
            }
            let q = job.query
            let now = Self.nowMS()
            pending[q.identifier] = Pending(
                query: q, completion: job.completion,
                pickupDeadline: now + UInt64(cfg.pickupTimeoutSeconds * 1000),
                deadline: now + UInt64(cfg.answerTimeoutSeconds * 1000))
            if let e = Self.writeAtomically(q.document, directory: cfg.requestDirectory, name: q.fileName) {
                finish(q.identifier, .failure(e))
            }
        }

        func expire() {
            let now = Self.nowMS()
            for (id, p) in pending {
                let requestPath = cfg.requestDirectory + "/" + p.query.fileName
                if now >= p.deadline {
                    if unlink(requestPath) == 0 { count { $0.withdrawn += 1 } }
                    finish(id, .failure(.timeout))
                } else if !p.pickedUp, now >= p.pickupDeadline {
                    if unlink(requestPath) == 0 {
                        count { $0.withdrawn += 1 }
                        finish(id, .failure(.terminalNotResponding))
                    } else {
                        pending[id]?.pickedUp = true
                    }
                }
            }
        }

        func nextTimeout() -> Int32 {
            guard !pending.isEmpty else { return -1 }
            let now = Self.nowMS()
            let next =
                pending.values.map { $0.pickedUp ? $0.deadline : min($0.deadline, $0.pickupDeadline) }.min() ?? now
            return Int32(clamping: next > now ? next - now : 0)
        }

        _ = ensureWatch()
        while true {
            let (jobs, stopping) = shared.withLock { s -> ([Job], Bool) in
                defer { s.jobs = [] }
                return (s.jobs, s.stopping)
            }
            if stopping {
                for j in jobs { j.completion.resume(returning: .failure(.shutDown)) }
                for id in Array(pending.keys) {
                    if let p = pending[id] { unlink(cfg.requestDirectory + "/" + p.query.fileName) }
                    finish(id, .failure(.shutDown))
                }
                return
            }
            for j in jobs { submit(j) }
            let events = watch.wait(timeoutMilliseconds: nextTimeout())
            for e in events where e.directory == cfg.answerDirectory && !e.name.isEmpty {
                if e.mask & DirectoryWatch.arrivals != 0 { handleAnswer(e.name) }
            }
            expire()
        }
    }

    // MARK: - File helpers (blocking; called on the watcher thread or other dedicated threads)

    static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    static func list(_ dir: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).sorted()
    }

    /// Largest answer file read (a qualification answer is a few kB).
    public static let maxFileBytes = 1 << 20

    /// Reads a regular file of at most ``maxFileBytes`` (no symlinks followed); nil when absent.
    public static func readSmallFile(_ path: String) -> Data? {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, st.st_size <= maxFileBytes else { return nil }
        var data = Data()
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while data.count <= maxFileBytes {
            let n = read(fd, &buffer, buffer.count)
            if n < 0, errno == EINTR { continue }
            guard n > 0 else { break }
            data.append(contentsOf: buffer[0..<n])
        }
        return data.count <= maxFileBytes ? data : nil
    }

    /// Writes `data` as `directory/name` atomically: a `.jpkid-…tmp` file created exclusively
    /// (mode 0640), written, fsync'd, renamed over the final name, then the directory fsync'd.
    /// Returns nil on success.
    public static func writeAtomically(_ data: Data, directory: String, name: String) -> OQSError? {
        let tmp = directory + "/" + OQSFileNames.temporaryPrefix + name + ".tmp"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o640)
        guard fd >= 0 else {
            let e = errno
            return e == ENOENT || e == ENOTDIR
                ? .folderMissing("\(directory): \(String(cString: strerror(e)))")
                : .io("\(directory): \(String(cString: strerror(e)))")
        }
        let ok = data.withUnsafeBytes { raw -> Bool in
            var off = 0
            while off < raw.count {
                let n = write(fd, raw.baseAddress! + off, raw.count - off)
                if n < 0, errno == EINTR { continue }
                guard n > 0 else { return false }
                off += n
            }
            return true
        }
        let e = errno
        guard ok, fsync(fd) == 0 else {
            close(fd)
            unlink(tmp)
            return .io("write: \(String(cString: strerror(e)))")
        }
        close(fd)
        guard rename(tmp, directory + "/" + name) == 0 else {
            let e = errno
            unlink(tmp)
            return .io("rename: \(String(cString: strerror(e)))")
        }
        let dfd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dfd >= 0 {
            fsync(dfd)
            close(dfd)
        }
        return nil
    }
}
