import Foundation

/// One health-insurance qualification (資格) as the registry holds it.
///
/// JSON shape (also the HTTP gateway's, see docs/eligibility-http.md):
/// ```json
/// {"insurerNumber":"06139999","symbol":"テスト","number":"1234","branch":"00",
///  "name":"山田　太郎","nameKana":"ヤマダ　タロウ","birthDate":"1980-02-17",
///  "copaymentRatio":30,"validFrom":"2024-04-01","validTo":null,"status":"active"}
/// ```
public struct InsuranceRecord: Codable, Sendable, Equatable, Hashable {
    /// Qualification status as the insurer keeps it.
    public enum Status: String, Codable, Sendable, CaseIterable {
        /// The qualification is held (subject to the validity dates).
        case active
        /// 資格喪失: the qualification was lost (left the insurer, died …). Never eligible.
        case lost
    }

    /// 保険者番号: 8 digits (6 for 国民健康保険).
    public var insurerNumber: String
    /// 記号 (may be empty: some insurers issue none).
    public var symbol: String
    /// 番号.
    public var number: String
    /// 枝番: 2 digits.
    public var branch: String
    /// Insured person's name as registered (UTF-8, U+3000 between family and given name allowed).
    public var name: String
    /// Name in katakana, when known.
    public var nameKana: String?
    /// Birth date.
    public var birthDate: CalendarDate
    /// Copayment ratio in percent of the cost the patient pays: 10, 20 or 30 (1割/2割/3割); 0 for
    /// a full public subsidy. Any value 0…100 is stored; validation accepts exactly those.
    public var copaymentRatio: Int
    /// First day of the qualification.
    public var validFrom: CalendarDate
    /// Last day of the qualification (inclusive); nil = open-ended.
    public var validTo: CalendarDate?
    /// Qualification status.
    public var status: Status

    /// Creates a record (call ``validate()`` before storing external input).
    public init(
        insurerNumber: String, symbol: String, number: String, branch: String, name: String,
        nameKana: String? = nil, birthDate: CalendarDate, copaymentRatio: Int, validFrom: CalendarDate,
        validTo: CalendarDate? = nil, status: Status = .active
    ) {
        self.insurerNumber = insurerNumber
        self.symbol = symbol
        self.number = number
        self.branch = branch
        self.name = name
        self.nameKana = nameKana
        self.birthDate = birthDate
        self.copaymentRatio = copaymentRatio
        self.validFrom = validFrom
        self.validTo = validTo
        self.status = status
    }

    /// Checks the fields; throws ``EligibilityError/invalidRecord(field:reason:)`` naming the field.
    public func validate() throws(EligibilityError) {
        guard insurerNumber.count == 6 || insurerNumber.count == 8,
            insurerNumber.allSatisfy({ $0.isASCII && $0.isNumber })
        else { throw .invalidRecord(field: "insurerNumber", reason: "must be 6 or 8 digits") }
        guard symbol.count <= 40 else { throw .invalidRecord(field: "symbol", reason: "longer than 40 characters") }
        guard !number.isEmpty, number.count <= 40 else {
            throw .invalidRecord(field: "number", reason: "must be 1…40 characters")
        }
        guard branch.count == 2, branch.allSatisfy({ $0.isASCII && $0.isNumber }) else {
            throw .invalidRecord(field: "branch", reason: "must be 2 digits")
        }
        guard !name.trimmingCharacters(in: .whitespaces).isEmpty, name.count <= 100 else {
            throw .invalidRecord(field: "name", reason: "must be 1…100 characters")
        }
        if let k = nameKana, k.count > 100 {
            throw .invalidRecord(field: "nameKana", reason: "longer than 100 characters")
        }
        guard [0, 10, 20, 30].contains(copaymentRatio) else {
            throw .invalidRecord(field: "copaymentRatio", reason: "must be 0, 10, 20 or 30")
        }
        if let to = validTo, to < validFrom {
            throw .invalidRecord(field: "validTo", reason: "before validFrom")
        }
    }
}

/// A registry row: a record with its id and the cards linked to it (administration view).
public struct RegistryEntry: Codable, Sendable, Equatable {
    /// The registry's record id (what `jpkid registry link --record ID` takes).
    public var id: Int64
    /// The record.
    public var record: InsuranceRecord
    /// The keys of the credentials linked to the record (card, phone, renewed card), in the
    /// order of ``credentials``.
    public var cards: [CardKey]
    /// The credentials linked to the record, oldest link first (then by key). Eligibility
    /// through any of them finds this record.
    public var credentials: [Credential]

    /// Creates an entry from its credentials.
    public init(id: Int64, record: InsuranceRecord, credentials: [Credential]) {
        self.id = id
        self.record = record
        self.credentials = credentials
        self.cards = credentials.map(\.key)
    }

    /// Creates an entry from keys only (kinds unknown, link times empty).
    public init(id: Int64, record: InsuranceRecord, cards: [CardKey]) {
        self.init(id: id, record: record, credentials: cards.map { Credential(key: $0, kind: nil, linkedAt: "") })
    }
}
