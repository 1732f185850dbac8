import Foundation

/// The `oqs` provider: eligibility from オンライン資格確認等システム through the clinic's
/// qualification-check terminal (its shared folder). The local registry (SQLite or PostgreSQL)
/// links the card to the patient's insurance numbers and birth date; the terminal's answer is the
/// authoritative record and status.
public final class OQSEligibilityProvider: EligibilityProvider {
    /// The local registry (card → the patient's insurance numbers and birth date).
    public let registry: any RegistryStore
    /// The terminal bridge.
    public let terminal: OQSTerminal

    /// Creates the provider over an open registry and a terminal client.
    public init(registry: any RegistryStore, terminal: OQSTerminal) {
        self.registry = registry
        self.terminal = terminal
    }

    /// The terminal's record (see ``check(_:on:)``).
    public func record(for key: CardKey) async throws(EligibilityError) -> InsuranceRecord? {
        try await check(key, on: .today()).record
    }

    /// Looks the card up locally (no link: `unknown_card`, the terminal is not asked), queries the
    /// terminal with the linked numbers and birth date, and decides from its answer
    /// (``OQSDecision/decide(answer:query:local:on:)``).
    public func check(_ key: CardKey, on day: CalendarDate) async throws(EligibilityError) -> EligibilityResult {
        guard let local = try await registry.record(for: key) else {
            return EligibilityResult(status: .unknownCard, checkedOn: day, record: nil)
        }
        let cfg = terminal.configuration
        let query = OQSQuery(
            identifier: terminal.newIdentifier(), medicalInstitutionCode: cfg.medicalInstitutionCode,
            confirmationDate: day, insurerNumber: local.insurerNumber, symbol: local.symbol, number: local.number,
            branch: local.branch, birthDate: local.birthDate)
        do {
            let answer = try await terminal.query(query)
            return try OQSDecision.decide(answer: answer, query: query, local: local, on: day)
        } catch {
            throw .terminal(error)
        }
    }

    public func shutdown() async {
        terminal.shutdown()
        await registry.shutdown()
    }
}

/// From a terminal answer to our result (pure).
public enum OQSDecision {
    /// Decides:
    /// - terminal error (`SegmentOfResult` 9 / `ProcessingResultStatus` 2) → `oqs_terminal_error`;
    /// - no `QualificationValidity` → `oqs_malformed_answer`;
    /// - 1 有効 → `eligible` with the terminal's record (exactly one result, and it must be the
    ///   qualification asked: insurer number, 番号 and birth date equal, else `oqs_answer_mismatch`);
    /// - 2 無効 → `not_eligible` (record marked `lost`); 3 → `new_qualification_exists` (record of
    ///   the qualification asked, marked `lost`); 4 該当資格なし → `not_eligible`, no record;
    ///   5 複数該当 → `multiple`, no record.
    /// Fields the answer lacks are taken from the local record the query was built from.
    public static func decide(answer: OQSAnswer, query: OQSQuery, local: InsuranceRecord, on day: CalendarDate)
        throws(OQSError) -> EligibilityResult
    {
        if let f = answer.terminalFailure { throw f }
        guard answer.identifier == query.identifier else { throw .answerMismatch("ArbitraryFileIdentifier") }
        guard let v = answer.qualificationValidity else { throw .malformedAnswer("no QualificationValidity") }
        guard let status = OQSCodes.status(forValidity: v) else {
            throw .malformedAnswer("QualificationValidity \(v) is not an OQSCD006 code")
        }
        let info = OQSResultInfo(
            identifier: query.identifier, qualificationValidity: v,
            qualificationValidityLabel: OQSCodes.qualificationValidity[v],
            processExecutionTime: answer.processExecutionTime, results: answer.results.count)
        switch v {
        case "4", "5":
            return EligibilityResult(status: status, checkedOn: day, record: nil, terminal: info)
        default:
            break
        }
        guard answer.results.count <= 1 else {
            throw .malformedAnswer("QualificationValidity \(v) with \(answer.results.count) results")
        }
        guard let r = answer.results.first else {
            if v == "1" { throw .malformedAnswer("QualificationValidity 1 without a result") }
            return EligibilityResult(status: status, checkedOn: day, record: nil, terminal: info)
        }
        func trim(_ s: String) -> String { s.trimmingCharacters(in: .whitespaces) }
        if let n = r.insurerNumber, trim(n) != trim(query.insurerNumber) {
            throw .answerMismatch("InsurerNumber")
        }
        if let n = r.number, trim(n) != trim(query.number) { throw .answerMismatch("InsuredIdentificationNumber") }
        if let b = r.birthDate, b != query.birthDate { throw .answerMismatch("Birthdate") }
        let record = InsuranceRecord(
            insurerNumber: r.insurerNumber.map(trim) ?? local.insurerNumber, symbol: r.symbol ?? local.symbol,
            number: r.number.map(trim) ?? local.number, branch: r.branch ?? local.branch, name: r.name ?? local.name,
            nameKana: r.nameKana ?? local.nameKana, birthDate: r.birthDate ?? local.birthDate,
            copaymentRatio: r.copaymentRatio ?? local.copaymentRatio,
            validFrom: r.cardValidFrom ?? r.qualificationDate ?? local.validFrom,
            validTo: r.cardValidTo ?? r.disqualificationDate, status: v == "1" ? .active : .lost)
        return EligibilityResult(status: status, checkedOn: day, record: record, terminal: info)
    }
}
