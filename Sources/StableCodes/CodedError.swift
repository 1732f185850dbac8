/// An error that carries a stable, machine-readable code.
///
/// Every module's error type conforms (SmartCard, JPKI, JPKIVerify, the simulator, Eligibility,
/// the audit trail, jpkid, card-inspect, the reception page), so a caller several layers up reads
/// one property whatever layer failed: logs, API error bodies, audit outcomes and exit reasons use
/// these codes, which are **contract** (documented in docs/openapi.yaml and the README).
///
/// The module has no dependencies so that every other module can share it.
public protocol CodedError: Error {
    /// The stable code (`snake_case`), never containing personal data or secrets.
    var code: String { get }
}

/// The stable code of `error` if its type has one, else `fallback`.
public func stableCode(of error: any Error, fallback: String) -> String {
    (error as? any CodedError)?.code ?? fallback
}
