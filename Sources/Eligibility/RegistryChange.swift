import JPKI

/// One change to the registry, applied with others in one transaction by
/// ``RegistryStore/apply(_:beforeCommit:)``.
public enum RegistryChange: Sendable, Equatable {
    /// Insert a record, or update the one with the same (insurerNumber, symbol, number, branch).
    case upsert(InsuranceRecord)
    /// Link a credential to `recordID`, or (nil) to the record of the latest `.upsert` before
    /// it, adding it to the record's credentials; `kind` when known (see
    /// ``RegistryStore/link(_:kind:recordID:replace:)``).
    case link(CardKey, recordID: Int64?, replace: Bool, kind: CredentialKind? = nil)
    /// Remove one credential's link (the record and its other credentials stay).
    case unlink(CardKey)
}

/// What one ``RegistryChange`` did.
public enum RegistryChangeOutcome: Sendable, Equatable {
    /// The record was saved under this id.
    case saved(recordID: Int64)
    /// The card is linked to the record (or already was).
    case linked(CardKey, recordID: Int64)
    /// The card is linked to another record and `replace` was not given: nothing changed.
    case linkRefused(CardKey, recordID: Int64, linkedTo: Int64)
    /// The credential's link to the record was removed; `remaining`: how many credentials the
    /// record still has (0: the record stays, but no card or phone finds it until one is linked).
    case unlinked(CardKey, recordID: Int64, remaining: Int)
}

extension RegistryChange {
    /// Checks what can be checked before the transaction.
    func validate() throws(EligibilityError) {
        if case .upsert(let r) = self { try r.validate() }
    }
}
