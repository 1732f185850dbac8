import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// One result of the terminal's face reader (a file in `face/`), joined to a clinic patient when
/// it carries a 照会番号 the registry knows. Holds personal data: never log it.
public struct OQSFaceResult: Codable, Sendable, Equatable {
    /// The clinic patient a result was joined to (by 照会番号 = registry record id).
    public struct Patient: Codable, Sendable, Equatable {
        /// The registry's record id.
        public var recordID: Int64
        /// The registry's record (as stored locally).
        public var record: InsuranceRecord
    }

    /// Our id of the result (random; what the event and the endpoint name).
    public var id: String
    /// The file name in `face/`.
    public var file: String
    /// When jpkid read it (ISO 8601).
    public var receivedAt: String
    /// `QualificationValidity` (OQSCD006) and what it means for us.
    public var qualificationValidity: String?
    public var status: EligibilityStatus?
    /// `ProcessExecutionTime`.
    public var processExecutionTime: String?
    /// The qualifications the reader's check returned.
    public var results: [OQSQualification]
    /// The 照会番号 found in the result.
    public var referenceNumber: String?
    /// The joined patient (nil: no 照会番号, not registered, or refused — see `join`).
    public var patient: Patient?
    /// `joined`, `no_reference_number`, `not_registered`, or `numbers_differ` (the 照会番号's record
    /// has other insurance numbers or another birth date than the result: not joined).
    public var join: String

    /// Builds a result from a parsed answer (not joined yet).
    public init(id: String, file: String, receivedAt: String, answer: OQSAnswer) {
        self.id = id
        self.file = file
        self.receivedAt = receivedAt
        qualificationValidity = answer.qualificationValidity
        status = answer.qualificationValidity.flatMap(OQSCodes.status(forValidity:))
        processExecutionTime = answer.processExecutionTime
        results = answer.results
        referenceNumber = answer.results.lazy.compactMap(\.referenceNumber).first
        patient = nil
        join = referenceNumber == nil ? "no_reference_number" : "not_registered"
    }

    /// Joins to the registry record whose id is the 照会番号, when its insurer number, 番号 and
    /// birth date agree with the result's (a wrong-person link is worse than none).
    public mutating func join(using registry: any RegistryStore) async {
        guard let ref = referenceNumber, let id = Int64(ref.trimmingCharacters(in: .whitespaces)) else { return }
        guard let entry = try? await registry.entry(id: id) else {
            join = "not_registered"
            return
        }
        let trim = { (s: String?) in s?.trimmingCharacters(in: .whitespaces) }
        let agrees = results.contains { r in
            trim(r.insurerNumber) == entry.record.insurerNumber && trim(r.number) == entry.record.number
                && (r.birthDate == nil || r.birthDate == entry.record.birthDate)
        }
        guard agrees else {
            join = "numbers_differ"
            return
        }
        patient = Patient(recordID: id, record: entry.record)
        join = "joined"
    }
}

/// Watches the terminal's `face/` directory (inotify, one dedicated thread) and hands every new
/// result file to a handler, parsed. Files are read, never changed or removed: other applications
/// of the clinic may read them too. Files present at start are not taken (they are older results).
public final class OQSFaceIntake: Sendable {
    /// A file that arrived: parsed, or why not.
    public typealias Handler = @Sendable (_ file: String, _ answer: Result<OQSAnswer, OQSError>) -> Void

    /// The directory watched.
    public let directory: String
    private let handler: Handler
    private let watch: DirectoryWatch?
    private let stopping = Mutex(false)

    /// Creates the intake; ``start()`` begins watching.
    public init(directory: String, handler: @escaping Handler) {
        self.directory = directory
        self.handler = handler
        watch = DirectoryWatch()
    }

    /// Starts the thread. While the directory is missing it retries every 5 s (the only
    /// periodic check: a missing share has no events to wait for).
    public func start() {
        guard let watch else { return }
        // Watch before returning: a file written after start() is never missed.
        _ = watch.watch(directory, mask: DirectoryWatch.arrivals)
        let t = Thread { [self] in run() }
        t.name = "oqs-face-intake"
        t.start()
    }

    /// Stops the thread.
    public func stop() {
        stopping.withLock { $0 = true }
        watch?.wake()
    }

    private func run() {
        guard let watch else { return }
        while !stopping.withLock({ $0 }) {
            if !watch.watched.contains(directory) {
                _ = watch.watch(directory, mask: DirectoryWatch.arrivals)
            }
            let watching = watch.watched.contains(directory)
            for e in watch.wait(timeoutMilliseconds: watching ? -1 : 5000)
            where e.directory == directory && !e.name.isEmpty && e.mask & DirectoryWatch.arrivals != 0 {
                guard e.name.hasSuffix(".xml"), !e.name.hasPrefix(".") else { continue }
                guard let data = OQSTerminal.readSmallFile(directory + "/" + e.name) else { continue }
                handler(e.name, Result { () throws(OQSError) in try OQSAnswer(document: data) })
            }
        }
    }
}
