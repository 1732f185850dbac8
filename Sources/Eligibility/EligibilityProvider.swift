import Foundation
import JPKI

/// Looks up the insurance record linked to a card. Implemented by the SQLite and PostgreSQL
/// registries and by the HTTP gateway client.
public protocol EligibilityProvider: Sendable {
    /// The record linked to `key`, or nil when the card is not registered.
    func record(for key: CardKey) async throws(EligibilityError) -> InsuranceRecord?
    /// Looks up and decides. The default evaluates ``record(for:)`` on the day; the `oqs` provider
    /// returns the terminal's authoritative answer instead.
    func check(_ key: CardKey, on day: CalendarDate) async throws(EligibilityError) -> EligibilityResult
    /// Releases connections (PostgreSQL pool, …). Lookups after this fail with `registry_unavailable`.
    func shutdown() async
}

extension EligibilityProvider {
    /// Default: nothing to release.
    public func shutdown() async {}

    /// Looks up and decides (see ``EligibilityResult/evaluate(record:on:)``).
    public func check(_ key: CardKey, on day: CalendarDate) async throws(EligibilityError) -> EligibilityResult {
        EligibilityResult.evaluate(record: try await record(for: key), on: day)
    }
}

/// Registry administration (SQLite and PostgreSQL). Every record id is the registry's own.
public protocol RegistryStore: EligibilityProvider {
    /// Inserts a record, or updates the one with the same (insurerNumber, symbol, number, branch);
    /// returns its id.
    func upsert(_ record: InsuranceRecord) async throws(EligibilityError) -> Int64
    /// Links a credential (card, phone, renewed card) to a record, **adding** it to the
    /// record's credentials: the record's other credentials stay linked. An existing link of the
    /// same key to another record is ``EligibilityError/alreadyLinked(recordID:)`` unless
    /// `replace` (then it moves); linking again to the same record keeps the link (and records
    /// `kind` when given). An unknown record id is ``EligibilityError/notFound(_:)``.
    func link(_ key: CardKey, kind: CredentialKind?, recordID: Int64, replace: Bool) async throws(EligibilityError)
    /// Removes one credential's link; returns the record id it pointed to. The record and its
    /// other credentials stay; a record left without credentials stays too (listed, found by
    /// no card until a credential is linked again). No link with this key: `notFound`.
    @discardableResult
    func unlink(_ key: CardKey) async throws(EligibilityError) -> Int64
    /// Every record with its linked cards, by id.
    func list() async throws(EligibilityError) -> [RegistryEntry]
    /// One record by id (nil when absent).
    func entry(id: Int64) async throws(EligibilityError) -> RegistryEntry?
    /// Applies `changes` in one transaction: all of them or none. `beforeCommit` runs inside the
    /// transaction with what they did (this is where their audit lines are written and made
    /// durable); when it throws, nothing is committed and its error is thrown as
    /// ``EligibilityError/unavailable(_:)``. A link refused because the card is linked elsewhere
    /// is an outcome, not an error; an unknown record or a missing link aborts everything.
    func apply(
        _ changes: [RegistryChange], beforeCommit: @escaping @Sendable ([RegistryChangeOutcome]) throws -> Void
    ) async throws(EligibilityError) -> [RegistryChangeOutcome]
    /// Links written before issuer keys (schema v1) that are not resolved yet, by DN and serial.
    func legacyLinks() async throws(EligibilityError) -> [LegacyCardLink]
    /// Gives every legacy link whose DN exactly one configured anchor has that anchor's key id
    /// (`anchors`: DN in RFC 2253 → the key ids of the configured auth anchors with that DN).
    /// A resolved link that would duplicate an existing key link to the same record is dropped;
    /// one to another record stays legacy. Returns the links still unresolved, each with
    /// ``LegacyCardLink/matchingAnchors`` set. Idempotent; jpkid runs it at start and before
    /// every `jpkid registry` command.
    @discardableResult
    func resolveLegacyLinks(anchors: [String: [String]]) async throws(EligibilityError) -> [LegacyCardLink]
}

extension RegistryStore {
    /// Links a credential of unrecorded kind (see ``link(_:kind:recordID:replace:)``).
    public func link(_ key: CardKey, recordID: Int64, replace: Bool) async throws(EligibilityError) {
        try await link(key, kind: nil, recordID: recordID, replace: replace)
    }
}

extension EligibilityProvider {
    /// ``check(_:on:)`` for today (Japan).
    public func check(_ key: CardKey) async throws(EligibilityError) -> EligibilityResult {
        try await check(key, on: .today())
    }
}
