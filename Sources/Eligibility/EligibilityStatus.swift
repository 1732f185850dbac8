import Foundation

/// The outcome of an eligibility check. Raw values are stable (they appear in the API and audit).
public enum EligibilityStatus: String, Codable, Sendable, CaseIterable {
    /// The card is linked to an active record valid on the day.
    case eligible
    /// The record exists but the qualification is lost (資格喪失) or not yet valid.
    case notEligible = "not_eligible"
    /// The record's `validTo` is before the day.
    case expired
    /// No record is linked to this card (no 保険証利用登録).
    case unknownCard = "unknown_card"
    /// The card failed verification (chain, revocation, challenge signature): decided by the
    /// caller before any lookup; the registry is then not asked.
    case verificationFailed = "verification_failed"
    /// Provider `oqs`: the terminal found several qualifications (資格有効性 5 複数該当); the staff
    /// must choose at the terminal. No record is returned.
    case multiple
    /// Provider `oqs`: the qualification asked about is no longer valid, but a newer one exists
    /// (資格有効性 3 無効（新しい資格あり）): ask the patient for the new insurance data.
    case newQualificationExists = "new_qualification_exists"

    /// Decides the status of a looked-up record on a day (pure; no verification involved).
    ///
    /// Rules, in order: no record → `unknown_card`; `status == lost` → `not_eligible`;
    /// `day < validFrom` → `not_eligible`; `validTo != nil && day > validTo` → `expired`
    /// (`validTo` is inclusive); otherwise `eligible`.
    public static func decide(record: InsuranceRecord?, on day: CalendarDate) -> EligibilityStatus {
        guard let record else { return .unknownCard }
        if record.status == .lost { return .notEligible }
        if day < record.validFrom { return .notEligible }
        if let to = record.validTo, day > to { return .expired }
        return .eligible
    }
}

/// The answer of an eligibility check, as the daemon returns it.
///
/// JSON: `{"status":"eligible","checkedOn":"2026-11-23","record":{…InsuranceRecord…}}`;
/// `record` is absent for `unknown_card` and `verification_failed`.
public struct EligibilityResult: Codable, Sendable, Equatable {
    /// The status.
    public var status: EligibilityStatus
    /// The day the status was decided for (Japan calendar day).
    public var checkedOn: CalendarDate
    /// The record (absent for `unknown_card` and `verification_failed`).
    public var record: InsuranceRecord?
    /// Provider `oqs`: what the terminal answered (its codes, no personal data).
    public var terminal: OQSResultInfo?

    /// Creates a result.
    public init(
        status: EligibilityStatus, checkedOn: CalendarDate, record: InsuranceRecord?, terminal: OQSResultInfo? = nil
    ) {
        self.status = status
        self.checkedOn = checkedOn
        self.record = record
        self.terminal = terminal
    }

    /// Decides from a looked-up record (see ``EligibilityStatus/decide(record:on:)``).
    public static func evaluate(record: InsuranceRecord?, on day: CalendarDate = .today()) -> EligibilityResult {
        EligibilityResult(status: .decide(record: record, on: day), checkedOn: day, record: record)
    }

    /// The result for a card that failed verification (no lookup is made, no record returned).
    public static func verificationFailed(on day: CalendarDate = .today()) -> EligibilityResult {
        EligibilityResult(status: .verificationFailed, checkedOn: day, record: nil)
    }
}
