import Foundation

/// Code tables of the terminal's messages (OQSCD…); sources in docs/oqs-bridge.md.
public enum OQSCodes {
    /// OQSCD006 資格有効性 (`MessageBody/QualificationValidity`).
    public static let qualificationValidity: [String: String] = [
        "1": "有効", "2": "無効", "3": "無効（新しい資格あり）", "4": "該当資格なし", "5": "複数該当",
    ]
    /// OQSCD003 処理結果区分 (`MessageHeader/SegmentOfResult`).
    public static let segmentOfResult: [String: String] = ["1": "正常終了", "2": "処理中", "9": "異常終了"]
    /// OQSCD004 処理結果状況 (`MessageBody/ProcessingResultStatus`).
    public static let processingResultStatus: [String: String] = ["1": "正常終了", "2": "エラー"]
    /// OQSCD005 文字コード識別 (`MessageHeader/CharacterCodeIdentifier`).
    public static let characterCode: [String: String] = ["0": "UTF-8", "1": "Shift_JIS"]
    /// OQSCD007 性別 (`Sex1`, `Sex2`).
    public static let sex: [String: String] = ["1": "男", "2": "女", "3": "未設定"]

    /// The eligibility status a 資格有効性 code stands for (nil: not a known code).
    /// 1 → decided on the record's dates (normally `eligible`), 2 → `not_eligible`,
    /// 3 → `new_qualification_exists`, 4 → `not_eligible` (no qualification matches), 5 → `multiple`.
    public static func status(forValidity code: String) -> EligibilityStatus? {
        switch code {
        case "1": .eligible
        case "2": .notEligible
        case "3": .newQualificationExists
        case "4": .notEligible
        case "5": .multiple
        default: nil
        }
    }
}

/// One qualification query (`OQSsiquc01req_*.xml`): by insurer number, 記号, 番号, 枝番 and birth date.
public struct OQSQuery: Sendable, Equatable {
    /// `MessageHeader/ArbitraryFileIdentifier`: our id, echoed by the answer; ties answer to request.
    public var identifier: String
    /// `MessageHeader/MedicalInstitutionCode` (10 digits).
    public var medicalInstitutionCode: String
    /// `MessageHeader/QualificationConfirmationDate` (the day the qualification is checked for).
    public var confirmationDate: CalendarDate
    /// 保険者番号.
    public var insurerNumber: String
    /// 記号.
    public var symbol: String
    /// 番号.
    public var number: String
    /// 枝番.
    public var branch: String
    /// 生年月日.
    public var birthDate: CalendarDate

    /// Creates a query.
    public init(
        identifier: String, medicalInstitutionCode: String, confirmationDate: CalendarDate, insurerNumber: String,
        symbol: String, number: String, branch: String, birthDate: CalendarDate
    ) {
        self.identifier = identifier
        self.medicalInstitutionCode = medicalInstitutionCode
        self.confirmationDate = confirmationDate
        self.insurerNumber = insurerNumber
        self.symbol = symbol
        self.number = number
        self.branch = branch
        self.birthDate = birthDate
    }

    /// The request file's name: `OQSsiquc01req_<identifier>.xml`.
    public var fileName: String { OQSFileNames.queryRequestPrefix + identifier + ".xml" }

    /// The request document (UTF-8).
    public var document: Data {
        XMLTree.document(
            XMLElementNode(
                name: "XmlMsg",
                children: [
                    XMLElementNode(
                        name: "MessageHeader",
                        children: [
                            .init(name: "QualificationConfirmationDate", text: confirmationDate.compact),
                            .init(name: "MedicalInstitutionCode", text: medicalInstitutionCode),
                            .init(name: "ArbitraryFileIdentifier", text: identifier),
                        ]),
                    XMLElementNode(
                        name: "MessageBody",
                        children: [
                            XMLElementNode(
                                name: "QualificationConfirmSearchInfo",
                                children: [
                                    .init(name: "InsurerNumber", text: OQSFileNames.padInsurer(insurerNumber)),
                                    .init(name: "InsuredCardSymbol", text: symbol),
                                    .init(name: "InsuredIdentificationNumber", text: number),
                                    .init(name: "InsuredBranchNumber", text: branch),
                                    .init(name: "Birthdate", text: birthDate.compact),
                                    // We never ask for limit-certificate data (OQSCD001 0 = 未同意).
                                    .init(name: "LimitApplicationCertificateRelatedConsFlg", text: "0"),
                                ])
                        ]),
                ]))
    }

    /// Parses a request document (the fake terminal's side).
    public init(document data: Data) throws(OQSError) {
        let root: XMLElementNode
        do { root = try XMLTree.parse(data) } catch { throw .malformedAnswer("request: \(error)") }
        guard root.name == "XmlMsg", let h = root.child("MessageHeader"),
            let q = root.at(["MessageBody", "QualificationConfirmSearchInfo"])
        else { throw .malformedAnswer("request: not XmlMsg/MessageBody/QualificationConfirmSearchInfo") }
        do {
            self.init(
                identifier: h.value("ArbitraryFileIdentifier") ?? "",
                medicalInstitutionCode: h.value("MedicalInstitutionCode") ?? "",
                confirmationDate: try CalendarDate(h.value("QualificationConfirmationDate") ?? ""),
                insurerNumber: q.value("InsurerNumber") ?? "", symbol: q.value("InsuredCardSymbol") ?? "",
                number: q.value("InsuredIdentificationNumber") ?? "", branch: q.value("InsuredBranchNumber") ?? "",
                birthDate: try CalendarDate(q.value("Birthdate") ?? ""))
        } catch {
            throw .malformedAnswer("request: bad date")
        }
    }
}

/// File names of the shared folder.
public enum OQSFileNames {
    /// Qualification query requests (in `req/`).
    public static let queryRequestPrefix = "OQSsiquc01req_"
    /// Qualification query answers (in `res/`).
    public static let queryAnswerPrefix = "OQSsiquc01res_"
    /// 照会番号 bulk registration requests.
    public static let registrationRequestPrefix = "OQSmuimm01req_"
    /// Prefix of every identifier jpkid issues (so jpkid recognises its own late answers).
    public static let identifierPrefix = "JPKID"
    /// Prefix of jpkid's temporary files (never matched by the terminal's `*req_*.xml` pattern).
    public static let temporaryPrefix = ".jpkid-"

    /// The identifier part of `<prefix><id>.xml`, or nil.
    public static func identifier(of name: String, prefix: String) -> String? {
        guard name.hasPrefix(prefix), name.hasSuffix(".xml") else { return nil }
        let id = name.dropFirst(prefix.count).dropLast(4)
        return id.isEmpty ? nil : String(id)
    }

    /// A new identifier: `JPKID` + 15 upper-case hex digits (20 characters, random).
    public static func newIdentifier() -> String {
        var rng = SystemRandomNumberGenerator()
        let hex = (0..<15).map { _ in String(UInt8.random(in: 0..<16, using: &rng), radix: 16).uppercased() }
        return identifierPrefix + hex.joined()
    }

    /// 6-digit 国保 insurer numbers are right-aligned to 8 characters with spaces.
    public static func padInsurer(_ n: String) -> String {
        n.count >= 8 ? n : String(repeating: " ", count: 8 - n.count) + n
    }
}

extension CalendarDate {
    /// `yyyyMMdd` (the terminal's date form).
    public var compact: String { description.replacingOccurrences(of: "-", with: "") }
}

/// One `ResultOfQualificationConfirmation`: the fields jpkid uses (see docs/oqs-bridge.md).
public struct OQSQualification: Sendable, Equatable, Codable {
    public var insurerNumber: String?
    public var insurerName: String?
    public var symbol: String?
    public var number: String?
    public var branch: String?
    public var name: String?
    public var nameKana: String?
    public var sex: String?
    public var birthDate: CalendarDate?
    public var qualificationDate: CalendarDate?
    public var disqualificationDate: CalendarDate?
    public var cardValidFrom: CalendarDate?
    public var cardValidTo: CalendarDate?
    /// Copayment ratio in percent (`InsuredPartialContributionRatio`), when given and numeric.
    public var copaymentRatio: Int?
    public var reasonOfLoss: String?
    public var personalFamilyClassification: String?
    /// 照会番号 (`ReferenceNumber`), when the terminal attached one (face results).
    public var referenceNumber: String?

    /// Reads the element (missing or empty children are nil; a present but invalid date is an error).
    public init(_ e: XMLElementNode) throws(OQSError) {
        func date(_ n: String) throws(OQSError) -> CalendarDate? {
            guard let v = e.value(n) else { return nil }
            do { return try CalendarDate(v) } catch { throw .malformedAnswer("\(n) is not yyyyMMdd") }
        }
        insurerNumber = e.value("InsurerNumber")
        insurerName = e.value("InsurerName")
        symbol = e.value("InsuredCardSymbol")
        number = e.value("InsuredIdentificationNumber")
        branch = e.value("InsuredBranchNumber")
        name = e.value("Name")
        nameKana = e.value("NameKana")
        sex = e.value("Sex2") ?? e.value("Sex1")
        birthDate = try date("Birthdate")
        qualificationDate = try date("QualificationDate")
        disqualificationDate = try date("DisqualificationDate")
        cardValidFrom = try date("InsuredCardValidDate")
        cardValidTo = try date("InsuredCardExpirationDate")
        if let r = e.value("InsuredPartialContributionRatio") {
            guard let v = Int(r), (0...100).contains(v) else {
                throw .malformedAnswer("InsuredPartialContributionRatio is not a percentage")
            }
            copaymentRatio = v
        }
        reasonOfLoss = e.value("ReasonOfLoss")
        personalFamilyClassification = e.value("PersonalFamilyClassification")
        referenceNumber =
            e.value("ReferenceNumber")
            ?? e.descendant("ReferenceNumber").flatMap {
                let t = $0.text.trimmingCharacters(in: .whitespacesAndNewlines)
                return t.isEmpty ? nil : t
            }
    }
}

/// A parsed answer (`OQSsiquc01res_*.xml`, and the face reader's files in `face/`).
public struct OQSAnswer: Sendable, Equatable {
    /// `MessageHeader/ArbitraryFileIdentifier` (nil in face results).
    public var identifier: String?
    /// `MessageHeader/MedicalInstitutionCode`.
    public var medicalInstitutionCode: String?
    /// `MessageHeader/ProcessExecutionTime` as given (yyyyMMddHHmmss).
    public var processExecutionTime: String?
    /// `MessageHeader/QualificationConfirmationDate`.
    public var confirmationDate: CalendarDate?
    /// `MessageHeader/SegmentOfResult` (OQSCD003).
    public var segmentOfResult: String?
    /// `MessageHeader/ErrorCode` / `ErrorMessage` (a terminal-side error; no patient data).
    public var errorCode: String?
    public var errorMessage: String?
    /// `MessageBody/ProcessingResultStatus` (OQSCD004) and its code.
    public var processingResultStatus: String?
    public var processingResultCode: String?
    /// `MessageBody/QualificationValidity` (OQSCD006).
    public var qualificationValidity: String?
    /// `MessageBody/ResultList/ResultOfQualificationConfirmation`, in order.
    public var results: [OQSQualification]

    /// Parses an answer document; anything but the documented shape is `malformed_answer`.
    public init(document data: Data) throws(OQSError) {
        let root: XMLElementNode
        do { root = try XMLTree.parse(data) } catch { throw .malformedAnswer("\(error)") }
        guard root.name == "XmlMsg" else { throw .malformedAnswer("root is not XmlMsg") }
        guard let h = root.child("MessageHeader") else { throw .malformedAnswer("no MessageHeader") }
        identifier = h.value("ArbitraryFileIdentifier")
        medicalInstitutionCode = h.value("MedicalInstitutionCode")
        processExecutionTime = h.value("ProcessExecutionTime")
        if let d = h.value("QualificationConfirmationDate") {
            do { confirmationDate = try CalendarDate(d) } catch {
                throw .malformedAnswer("QualificationConfirmationDate is not yyyyMMdd")
            }
        }
        segmentOfResult = h.value("SegmentOfResult")
        errorCode = h.value("ErrorCode")
        errorMessage = h.value("ErrorMessage")
        if let s = segmentOfResult, OQSCodes.segmentOfResult[s] == nil {
            throw .malformedAnswer("SegmentOfResult \(s) is not an OQSCD003 code")
        }
        let body = root.child("MessageBody")
        processingResultStatus = body?.value("ProcessingResultStatus")
        processingResultCode = body?.value("ProcessingResultCode")
        qualificationValidity = body?.value("QualificationValidity")
        var results: [OQSQualification] = []
        for r in body?.child("ResultList")?.all("ResultOfQualificationConfirmation") ?? [] {
            results.append(try OQSQualification(r))
        }
        self.results = results
        if segmentOfResult == "1" || segmentOfResult == nil {
            guard body != nil else { throw .malformedAnswer("no MessageBody") }
        }
        if let v = qualificationValidity, OQSCodes.qualificationValidity[v] == nil {
            throw .malformedAnswer("QualificationValidity \(v) is not an OQSCD006 code")
        }
    }

    /// The terminal reported a failure (header `SegmentOfResult` 9 or body `ProcessingResultStatus` 2).
    public var terminalFailure: OQSError? {
        if segmentOfResult == "9" {
            return .terminalError(code: errorCode ?? processingResultCode ?? "unknown")
        }
        if processingResultStatus == "2" {
            return .terminalError(code: processingResultCode ?? errorCode ?? "unknown")
        }
        return nil
    }
}

/// The 照会番号 bulk registration file (`OQSmuimm01req_*.xml`): one
/// `ReferenceNumberRegistrationInfo` per patient (the registry's record id is the 照会番号).
public struct OQSReferenceRegistration: Sendable {
    /// One patient.
    public struct Entry: Sendable {
        public var referenceNumber: String
        public var insurerNumber: String
        public var symbol: String
        public var number: String
        public var branch: String

        /// Creates an entry.
        public init(referenceNumber: String, insurerNumber: String, symbol: String, number: String, branch: String) {
            self.referenceNumber = referenceNumber
            self.insurerNumber = insurerNumber
            self.symbol = symbol
            self.number = number
            self.branch = branch
        }
    }

    public var identifier: String
    public var medicalInstitutionCode: String
    public var entries: [Entry]

    /// Creates a registration.
    public init(identifier: String, medicalInstitutionCode: String, entries: [Entry]) {
        self.identifier = identifier
        self.medicalInstitutionCode = medicalInstitutionCode
        self.entries = entries
    }

    /// `OQSmuimm01req_<identifier>.xml`.
    public var fileName: String { OQSFileNames.registrationRequestPrefix + identifier + ".xml" }

    /// The document (UTF-8).
    public var document: Data {
        XMLTree.document(
            XMLElementNode(
                name: "XmlMsg",
                children: [
                    XMLElementNode(
                        name: "MessageHeader",
                        children: [
                            .init(name: "MedicalInstitutionCode", text: medicalInstitutionCode),
                            .init(name: "ArbitraryFileIdentifier", text: identifier),
                        ]),
                    XMLElementNode(
                        name: "MessageBody",
                        children: entries.map { e in
                            XMLElementNode(
                                name: "ReferenceNumberRegistrationInfo",
                                children: [
                                    .init(name: "ReferenceNumber", text: e.referenceNumber),
                                    .init(name: "InsurerNumber", text: OQSFileNames.padInsurer(e.insurerNumber)),
                                    .init(name: "InsuredCardSymbol", text: e.symbol),
                                    .init(name: "InsuredIdentificationNumber", text: e.number),
                                    .init(name: "InsuredBranchNumber", text: e.branch),
                                ])
                        }),
                ]))
    }
}
