import Eligibility
import Foundation
import Logging
import Synchronization

/// Face-reader results taken from the terminal's `face/` folder (provider `oqs`), kept in memory
/// only: the newest ``limit`` results of the last ``maxAgeSeconds``. They hold personal data:
/// served only to the `identity` role, every read audited, never logged.
public final class OQSFaceResults: Sendable {
    /// Results kept at most.
    public let limit: Int
    /// Age after which a result is dropped.
    public let maxAgeSeconds: Double
    private let items = Mutex<[(at: ContinuousClock.Instant, result: OQSFaceResult)]>([])

    /// Creates an empty store.
    public init(limit: Int = 100, maxAgeSeconds: Double = 8 * 3600) {
        self.limit = limit
        self.maxAgeSeconds = maxAgeSeconds
    }

    /// Adds a result (newest last), dropping the oldest beyond the limits.
    public func add(_ r: OQSFaceResult) {
        items.withLock { list in
            list.append((ContinuousClock.now, r))
            prune(&list)
        }
    }

    private func prune(_ list: inout [(at: ContinuousClock.Instant, result: OQSFaceResult)]) {
        let oldest = ContinuousClock.now - .milliseconds(Int64(maxAgeSeconds * 1000))
        list.removeAll { $0.at < oldest }
        if list.count > limit { list.removeFirst(list.count - limit) }
    }

    /// Every result kept, newest first.
    public func all() -> [OQSFaceResult] {
        items.withLock { list in
            prune(&list)
            return list.reversed().map(\.result)
        }
    }

    /// One result by id.
    public func result(_ id: String) -> OQSFaceResult? { all().first { $0.id == id } }
}

/// Starts the terminal bridge of provider `oqs` (cleaning a previous run's leftovers) and its
/// face intake: each file in `face/` is parsed, joined to a clinic
/// patient by 照会番号, kept in ``OQSFaceResults``, announced as an `oqs-face-result` event (its id
/// only) and audited (`oqs-face-intake`, outcome = the join result or the error code).
func startFaceIntake(
    config: EligibilityConfiguration, eligibility: EligibilityService, store: OQSFaceResults, bus: EventBus,
    audit: AuditLog, logger: Logger
) -> OQSFaceIntake? {
    guard config.provider == .oqs, let o = config.oqs else { return nil }
    // Open the bridge now: its thread clears what a previous (killed) run left in the folder.
    Task {
        if let p = try? await eligibility.openProvider() as? OQSEligibilityProvider { p.terminal.start() }
    }
    guard o.faceIntake else { return nil }
    let intake = OQSFaceIntake(directory: o.folder + "/face") { file, parsed in
        Task {
            switch parsed {
            case .failure(let e):
                try? await audit.record("oqs-face-intake", peer: nil, outcome: e.code)
                bus.publish("oqs-face-error", error: e.code)
                logger.warning("face-reader result refused", metadata: ["code": "\(e.code)"])
            case .success(let answer):
                var rng = SystemRandomNumberGenerator()
                let id = (0..<16).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &rng)) }.joined()
                var result = OQSFaceResult(
                    id: id, file: file, receivedAt: Date().formatted(.iso8601), answer: answer)
                if let p = try? await eligibility.openProvider() as? OQSEligibilityProvider {
                    await result.join(using: p.registry)
                }
                store.add(result)
                try? await audit.record("oqs-face-intake", peer: nil, session: nil, outcome: result.join)
                bus.publish("oqs-face-result", result: id)
            }
        }
    }
    intake.start()
    return intake
}

extension DaemonAPI {
    /// `GET /v1/oqs/face-results` (summaries, newest first) and `GET /v1/oqs/face-results/{id}`.
    func faceResults(_ id: String?, peer: PeerCredentials) async throws -> APIResponse {
        // The answer holds personal data: it leaves only once its audit line is on disk.
        guard let store = faceStore else {
            throw APIError(503, "face_intake_disabled", "no face-reader intake (eligibility.provider oqs)")
        }
        guard let id else {
            struct Summary: Encodable {
                var id: String
                var receivedAt: String
                var status: EligibilityStatus?
                var join: String
                var recordID: Int64?
            }
            let list = store.all().map {
                Summary(
                    id: $0.id, receivedAt: $0.receivedAt, status: $0.status, join: $0.join,
                    recordID: $0.patient?.recordID)
            }
            try await recordDisclosure("oqs-face-results", peer: peer, session: nil, outcome: "ok")
            struct Body: Encodable { var results: [Summary] }
            return .json(Body(results: list))
        }
        guard let r = store.result(id) else {
            try await recordDisclosure("oqs-face-result", peer: peer, session: nil, outcome: "not_found")
            throw APIError(404, "face_result_not_found", "no such face-reader result")
        }
        try await recordDisclosure("oqs-face-result", peer: peer, session: nil, outcome: "ok")
        return .json(r)
    }
}
