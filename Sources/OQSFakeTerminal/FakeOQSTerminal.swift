import Eligibility
import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A stand-in for the clinic's qualification-check terminal, for tests only (never part of a
/// product): it watches `req/` of a shared folder (inotify, one dedicated thread), takes each
/// `OQSsiquc01req_*.xml`, and answers into `res/` as `OQSsiquc01res_<id>.xml` in the documented
/// XML shape, following a ``Rule`` chosen by the query's 番号 (InsuredIdentificationNumber):
/// every 資格有効性 code, terminal errors, slow answers, no answer, never picking up, malformed
/// files, Shift_JIS. Rules come from a fixture file (`apdu-fixtures/oqs/terminal.json`) or code.
public final class FakeOQSTerminal: Sendable {
    /// What to do with one query.
    public struct Rule: Codable, Sendable, Equatable {
        /// `answer` (default), `error` (SegmentOfResult 9), `processing-error` (ProcessingResultStatus 2),
        /// `no-answer` (take the request, never answer), `ignore` (never take it), `malformed`
        /// (write a broken file), `wrong-institution`, `wrong-person` (another 番号 in the result).
        public var kind: String
        /// QualificationValidity code (OQSCD006) for `answer`.
        public var validity: String?
        /// Delay before answering.
        public var delayMilliseconds: Int?
        /// Terminal error code for `error` / `processing-error`.
        public var errorCode: String?
        /// `ResultOfQualificationConfirmation` children (element → text); the query's insurer
        /// number, 記号, 番号, 枝番 and birth date are filled in when absent.
        public var result: [String: String]?
        /// Number of results (validity 5 has several; 4 has none). Default: 1 for 1–3, 0 for 4, 2 for 5.
        public var results: Int?
        /// `Shift_JIS` to answer in Shift_JIS (CharacterCodeIdentifier 1).
        public var encoding: String?

        /// Creates a rule.
        public init(
            kind: String = "answer", validity: String? = "1", delayMilliseconds: Int? = nil, errorCode: String? = nil,
            result: [String: String]? = nil, results: Int? = nil, encoding: String? = nil
        ) {
            self.kind = kind
            self.validity = validity
            self.delayMilliseconds = delayMilliseconds
            self.errorCode = errorCode
            self.result = result
            self.results = results
            self.encoding = encoding
        }
    }

    /// The fixture file's shape: `{"rules": {"<番号>": Rule}, "default": Rule}`.
    public struct Fixture: Codable, Sendable {
        public var rules: [String: Rule]
        public var `default`: Rule?
    }

    /// Loads a fixture file.
    public static func fixture(_ path: String) throws -> Fixture {
        try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
    }

    private struct State {
        var rules: [String: Rule]
        var defaultRule: Rule
        var stopping = false
        var received: [OQSQuery] = []
        var answered: [String] = []
        var scheduled: [(at: UInt64, name: String, data: Data)] = []
    }

    /// The shared folder.
    public let folder: String
    private let state: Mutex<State>
    private let watch: DirectoryWatch

    /// Creates `folder/{req,res,face}` and starts answering.
    public init(folder: String, rules: [String: Rule], default defaultRule: Rule = Rule(validity: "4")) throws {
        for d in ["req", "res", "face"] {
            try FileManager.default.createDirectory(
                atPath: folder + "/" + d, withIntermediateDirectories: true, attributes: nil)
        }
        guard let w = DirectoryWatch() else { throw CocoaError(.fileReadUnknown) }
        guard w.watch(folder + "/req", mask: DirectoryWatch.arrivals) else { throw CocoaError(.fileNoSuchFile) }
        self.folder = folder
        watch = w
        state = Mutex(State(rules: rules, defaultRule: defaultRule))
        let thread = Thread { [self] in run() }
        thread.name = "fake-oqs-terminal"
        thread.start()
    }

    /// Replaces the rule for one 番号 (takes effect for the next query).
    public func setRule(_ rule: Rule, forNumber number: String) {
        state.withLock { $0.rules[number] = rule }
    }

    /// Every query taken so far (parsed), in order.
    public var received: [OQSQuery] { state.withLock { $0.received } }
    /// Identifiers answered so far.
    public var answered: [String] { state.withLock { $0.answered } }

    /// Writes a face-reader result into `face/` (atomically) and returns its file name.
    @discardableResult
    public func dropFaceResult(_ fields: [String: String], name: String? = nil) throws -> String {
        let file = name ?? "OQSsiquc01res_face_\(UUID().uuidString.prefix(8)).xml"
        let doc = Self.answerDocument(
            header: [
                ("ProcessExecutionTime", "20261130120000"), ("QualificationConfirmationDate", "20261130"),
                ("MedicalInstitutionCode", "1311111111"), ("ReferenceClassification", "1"), ("SegmentOfResult", "1"),
                ("CharacterCodeIdentifier", "0"),
            ], results: [fields], validity: "1")
        if let e = OQSTerminal.writeAtomically(doc, directory: folder + "/face", name: file) { throw e }
        return file
    }

    /// Stops the thread (files already written stay).
    public func stop() {
        state.withLock { $0.stopping = true }
        watch.wake()
    }

    // MARK: - The terminal thread

    private static func nowMS() -> UInt64 { DispatchTime.now().uptimeNanoseconds / 1_000_000 }

    private func run() {
        func take(_ name: String) {
            guard name.hasPrefix(OQSFileNames.queryRequestPrefix), name.hasSuffix(".xml") else { return }
            let path = folder + "/req/" + name
            guard let data = OQSTerminal.readSmallFile(path), let q = try? OQSQuery(document: data) else { return }
            let rule = state.withLock { s -> Rule in
                s.received.append(q)
                return s.rules[q.number] ?? s.defaultRule
            }
            if rule.kind == "ignore" { return }
            unlink(path)
            if rule.kind == "no-answer" { return }
            let out = Self.answer(for: q, rule: rule)
            let at = Self.nowMS() + UInt64(max(0, rule.delayMilliseconds ?? 0))
            state.withLock {
                $0.scheduled.append((at, OQSFileNames.queryAnswerPrefix + q.identifier + ".xml", out))
                $0.answered.append(q.identifier)
            }
        }

        for name in ((try? FileManager.default.contentsOfDirectory(atPath: folder + "/req")) ?? []).sorted() {
            take(name)
        }
        while true {
            let now = Self.nowMS()
            let (due, next, stopping) = state.withLock { s -> ([(UInt64, String, Data)], UInt64?, Bool) in
                let due = s.scheduled.filter { $0.at <= now }
                s.scheduled.removeAll { $0.at <= now }
                return (due.map { ($0.at, $0.name, $0.data) }, s.scheduled.map(\.at).min(), s.stopping)
            }
            if stopping { return }
            for (_, name, data) in due {
                _ = OQSTerminal.writeAtomically(data, directory: folder + "/res", name: name)
            }
            let timeout: Int32 = next.map { Int32(clamping: $0 > now ? $0 - now : 0) } ?? -1
            for e in watch.wait(timeoutMilliseconds: timeout) where !e.name.isEmpty {
                take(e.name)
            }
        }
    }

    /// The answer document for a query under a rule.
    public static func answer(for q: OQSQuery, rule: Rule) -> Data {
        if rule.kind == "malformed" {
            return Data(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<XmlMsg><MessageHeader><ArbitraryFileIdentifier>\(q.identifier)</Arbitrary"
                    .utf8)
        }
        let sjis = rule.encoding?.lowercased() == "shift_jis"
        var header: [(String, String)] = [
            ("ProcessExecutionTime", "20261130120000"), ("QualificationConfirmationDate", q.confirmationDate.compact),
            ("MedicalInstitutionCode", rule.kind == "wrong-institution" ? "9999999999" : q.medicalInstitutionCode),
            ("ArbitraryFileIdentifier", q.identifier), ("ReferenceClassification", "2"),
            ("SegmentOfResult", rule.kind == "error" ? "9" : "1"), ("CharacterCodeIdentifier", sjis ? "1" : "0"),
        ]
        if rule.kind == "error" {
            header.append(("ErrorCode", rule.errorCode ?? "EOQS0001"))
            header.append(("ErrorMessage", "fake terminal error"))
            return document(header: header, body: nil, sjis: sjis)
        }
        if rule.kind == "processing-error" {
            let body = XMLElementNode(
                name: "MessageBody",
                children: [
                    .init(name: "ProcessingResultStatus", text: "2"),
                    .init(name: "ProcessingResultCode", text: rule.errorCode ?? "EOQS0002"),
                    .init(name: "ProcessingResultMessage", text: "fake processing error"),
                ])
            return document(header: header, body: body, sjis: sjis)
        }
        let validity = rule.validity ?? "1"
        let n = rule.results ?? (validity == "4" ? 0 : validity == "5" ? 2 : 1)
        var fields = rule.result ?? [:]
        let defaults: [(String, String)] = [
            ("InsurerNumber", OQSFileNames.padInsurer(q.insurerNumber)), ("InsuredCardSymbol", q.symbol),
            ("InsuredIdentificationNumber", rule.kind == "wrong-person" ? q.number + "9" : q.number),
            ("InsuredBranchNumber", q.branch), ("Birthdate", q.birthDate.compact),
        ]
        for (k, v) in defaults where fields[k] == nil { fields[k] = v }
        return answerDocument(
            header: header, results: Array(repeating: fields, count: n), validity: validity, sjis: sjis)
    }

    static func answerDocument(
        header: [(String, String)], results: [[String: String]], validity: String, sjis: Bool = false
    )
        -> Data
    {
        let list = XMLElementNode(
            name: "ResultList",
            children: results.map { r in
                XMLElementNode(
                    name: "ResultOfQualificationConfirmation",
                    children: r.keys.sorted().map { XMLElementNode(name: $0, text: r[$0] ?? "") })
            })
        let body = XMLElementNode(
            name: "MessageBody",
            children: [
                list, .init(name: "ProcessingResultStatus", text: "1"),
                .init(name: "QualificationValidity", text: validity),
            ])
        return document(header: header, body: body, sjis: sjis)
    }

    static func document(header: [(String, String)], body: XMLElementNode?, sjis: Bool) -> Data {
        let root = XMLElementNode(
            name: "XmlMsg",
            children: [XMLElementNode(name: "MessageHeader", children: header.map { .init(name: $0.0, text: $0.1) })]
                + (body.map { [$0] } ?? []))
        let utf8 = XMLTree.document(root)
        guard sjis else { return utf8 }
        // Windows' Shift_JIS is code page 932 (with 髙, 﨑 …), declared as Shift_JIS.
        return XMLTree.transcode(XMLTree.redeclare(utf8, as: "Shift_JIS"), from: "UTF-8", to: "CP932")
            ?? Data("transcoding to CP932 failed".utf8)
    }
}
