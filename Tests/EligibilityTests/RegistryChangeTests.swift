import Eligibility
import Foundation
import Testing

struct AuditRefused: Error {}

extension ProviderTests {
    /// `apply`: one transaction for all changes; `beforeCommit` sees what they did, and when it
    /// throws (the audit cannot be written) nothing at all is committed.
    @Test(arguments: Backend.allCases)
    func applyIsAllOrNothing(_ backend: Backend) async throws {
        let store = try await backend.makeStore()
        let changes: [RegistryChange] = [
            .upsert(sampleRecord(number: "1")), .link(key, recordID: nil, replace: false),
            .upsert(sampleRecord(number: "2")), .link(otherKey, recordID: nil, replace: false),
        ]
        await #expect(throws: EligibilityError.self) {
            try await store.apply(changes) { _ in throw AuditRefused() }
        }
        #expect(try await store.list().isEmpty, "a refused audit leaves the old state")
        let seen = SeenOutcomes()
        let outcomes = try await store.apply(changes) { seen.set($0) }
        #expect(seen.get() == outcomes)
        guard case .saved(let a) = outcomes[0], case .saved(let b) = outcomes[2] else {
            Issue.record("unexpected outcomes \(outcomes)")
            return
        }
        #expect(outcomes[1] == .linked(key, recordID: a))
        #expect(outcomes[3] == .linked(otherKey, recordID: b))
        // A link refused is an outcome (the rest commits); an unknown link aborts everything.
        let again = try await store.apply([
            .upsert(sampleRecord(number: "3")), .link(key, recordID: nil, replace: false),
        ]) { _ in }
        guard case .saved(let c) = again[0] else { return }
        #expect(again[1] == .linkRefused(key, recordID: c, linkedTo: a))
        await #expect(throws: EligibilityError.self) {
            try await store.apply([.unlink(key), .unlink(try CardKey(issuerKeyID: "0A0B0C0D", serial: "1"))]) { _ in }
        }
        #expect(try await store.record(for: key)?.number == "1", "the first unlink was rolled back")
        #expect(try await store.apply([.unlink(key)]) { _ in } == [.unlinked(key, recordID: a, remaining: 0)])
        #expect(try await store.list().count == 3)
        await store.shutdown()
    }
}

final class SeenOutcomes: @unchecked Sendable {
    private let lock = NSLock()
    private var value: [RegistryChangeOutcome] = []
    func set(_ v: [RegistryChangeOutcome]) { lock.withLock { value = v } }
    func get() -> [RegistryChangeOutcome] { lock.withLock { value } }
}
