import Eligibility
import Foundation
import JPKI
import JPKIVerify
import NIOHTTP1

/// An answer of the page's API.
struct APIAnswer: Sendable {
    var status: Int
    var type: String = "application/json"
    var body: [UInt8]

    static func json(_ status: Int, _ object: Any) -> APIAnswer {
        APIAnswer(status: status, body: Array((try? JSONSerialization.data(withJSONObject: object)) ?? Data()))
    }

    static func error(_ status: Int, _ code: String, _ message: String) -> APIAnswer {
        APIAnswer(status: status, body: ReceptionServer.errorJSON(code, message))
    }
}

/// The page's API (`/api/…`): each route asks jpkid and answers only what belongs to the
/// session the page names; anything from another session is dropped. Face photos and the card's
/// identity read for the visual check live here, per session, until the session ends, 「次の方」
/// clears it, or the idle time passes.
actor ReceptionAPI {
    let jpkid: JpkidClient
    let idleSeconds: Int

    /// What was read from one card session: the visual check's photo, the card's identity (照合番号B)
    /// and the registry record of the last eligibility answer, all bound to the card fingerprint.
    struct Visual {
        var photo: [UInt8]?
        var photoID: String?
        var person: PersonData?
        var registry: [String: Any]?
        var card: String
        var created: Date
    }

    private var visual: [String: Visual] = [:]

    init(jpkid: JpkidClient, idleSeconds: Int) {
        self.jpkid = jpkid
        self.idleSeconds = idleSeconds
    }

    /// Forgets the visual data of sessions that ended (jpkid's `card-removed` events).
    func observeEvents(_ text: String) {
        guard text.contains("card-removed") || text.contains("reader-removed") else { return }
        for line in text.split(separator: "\n") where line.hasPrefix("data:") {
            let json = Data(line.dropFirst(5).utf8)
            if let obj = try? JSONSerialization.jsonObject(with: json) as? [String: Any],
                let s = obj["session"] as? String
            {
                visual[s] = nil
            }
        }
    }

    private func expire() {
        let limit = Date().addingTimeInterval(-Double(idleSeconds))
        visual = visual.filter { $0.value.created > limit }
    }

    static func isSessionID(_ s: Substring) -> Bool {
        s.count == 32 && s.allSatisfy { $0.isASCII && $0.isHexDigit }
    }

    func handle(method: HTTPMethod, path: String, body: [UInt8]) async -> APIAnswer {
        expire()
        let parts = path.split(separator: "/")
        do {
            switch (method, parts.count) {
            case (.GET, 2) where parts == ["api", "readers"]:
                let r = try await jpkid.request(.GET, "/v1/readers")
                return APIAnswer(status: r.status, body: r.body)
            case (.GET, 2) where parts == ["api", "config"]:
                return .json(200, ["idleSeconds": idleSeconds])
            case (.GET, 3) where parts[0] == "api" && parts[1] == "photos":
                return await photo(String(parts[2]))
            case (_, 4) where parts[0] == "api" && parts[1] == "sessions" && Self.isSessionID(parts[2]):
                let s = String(parts[2])
                switch (method, parts[3]) {
                case (.GET, "card"): return try await card(s)
                case (.POST, "face"): return try await face(s, body: body)
                case (.POST, "identity"): return try await identity(s, body: body)
                case (.POST, "eligibility"): return try await eligibility(s, body: body)
                case (.POST, "end"):
                    visual[s] = nil
                    return .json(200, ["session": s, "cleared": true])
                default: return .error(404, "not_found", "no such route")
                }
            default:
                return .error(404, "not_found", "no such route")
            }
        } catch {
            return .error(503, "jpkid_unavailable", "jpkid is not running or its socket cannot be reached")
        }
    }

    /// jpkid's error answer passed on (its codes are stable), or a session mismatch as 409.
    static func passError(_ r: JpkidClient.Response) -> APIAnswer {
        APIAnswer(status: r.status, body: r.body)
    }

    static let sessionEnded = APIAnswer.error(409, "card_session_ended", "the card was removed or replaced")

    /// Card type, auth certificate expiry and PIN tries left (no try spent), for one session.
    func card(_ s: String) async throws -> APIAnswer {
        let session = try await jpkid.request(.GET, "/v1/sessions/\(s)")
        guard session.status == 200 else { return Self.passError(session) }
        let certs = try await jpkid.request(.GET, "/v1/sessions/\(s)/certificates")
        // An Android phone shows its certificate only after the PIN (428 certificate_after_pin):
        // the summary then has no certificate, and the session must not claim one either.
        let certificateAfterPIN =
            certs.status == 428
            && (certs.json["error"] as? [String: Any])?["code"] as? String == "certificate_after_pin"
        guard certs.status == 200 || certificateAfterPIN else { return Self.passError(certs) }
        let pins = try await jpkid.request(.GET, "/v1/sessions/\(s)/pin-status")
        guard pins.status == 200 else { return Self.passError(pins) }
        let sj = session.json
        let identity = sj["identity"] as? [String: Any] ?? [:]
        let sameCard =
            certificateAfterPIN
            ? identity["authCertificateFingerprint"] == nil
            : certs.json["session"] as? String == s
                && certs.json["card"] as? String == identity["authCertificateFingerprint"] as? String
        guard sj["id"] as? String == s, pins.json["session"] as? String == s, sameCard else { return Self.sessionEnded }
        var out: [String: Any] = [
            "session": s, "reader": sj["reader"] ?? "", "cardType": identity["cardType"] ?? "",
            "credential": identity["credential"] ?? "card",
        ]
        // The modes the card allows (["visual"] for a card without PIN, 顔認証マイナンバーカード).
        if let modes = identity["modes"] as? [String] { out["modes"] = modes }
        if let list = certs.json["certificates"] as? [[String: Any]],
            let auth = list.first(where: { $0["kind"] as? String == "auth" }),
            let b64 = auth["der"] as? String, let der = Data(base64Encoded: b64),
            let info = try? CertificateInfo(der: der)
        {
            // The same rule as jpkid's eligibility answers (JPKIVerify.ExpiryPolicy: 3 calendar
            // months, Japan time).
            let standing = ExpiryPolicy.jpki.standing(of: info, at: Date())
            out["certificate"] = [
                "notAfter": Self.day(info.notAfter), "expired": info.notAfter < Date(),
                "expiresWithin3Months": standing.code == "expiring_soon", "standing": standing.code,
            ]
        }
        if let auth = (pins.json["pins"] as? [String: Any])?["auth"] as? [String: Any] {
            out["pin"] = [
                "triesLeft": auth["triesLeft"] ?? NSNull(), "blocked": auth["blocked"] ?? false,
            ]
        }
        return .json(200, out)
    }

    static func day(_ d: Date) -> String {
        let f = DateFormatter()
        f.calendar = Calendar(identifier: .gregorian)
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "Asia/Tokyo")
        f.dateFormat = "yyyy-MM-dd"
        return f.string(from: d)
    }

    /// The body the page sends, as a dictionary (never logged).
    static func decode(_ body: [UInt8]) -> [String: Any]? {
        (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any]
    }

    static func encode(_ obj: [String: Any]) -> [UInt8] {
        Array((try? JSONSerialization.data(withJSONObject: obj)) ?? Data())
    }

    /// The visual check: the card-face photo (JPEG 2000 → PNG) with its integrity verdict, and the
    /// name, birth date and sex as on the card, unlocked with 照合番号B typed by the receptionist.
    func face(_ s: String, body: [UInt8]) async throws -> APIAnswer {
        guard let key = Self.keyB(body) else {
            return .error(400, "invalid_pin_format", "照合番号B is 14 digits; it was not sent")
        }
        var keyBody = Self.encode(["pin": key])
        defer { for i in keyBody.indices { keyBody[i] = 0 } }
        let r = try await jpkid.request(.POST, "/v1/sessions/\(s)/face", body: keyBody)
        guard r.status == 200 else { return Self.passError(r) }
        guard r.headers["x-jpkid-session"] == s, let card = r.headers["x-jpkid-card"] else { return Self.sessionEnded }
        let png: [UInt8]
        do {
            png = try FacePhoto.png(fromJPEG2000: r.body)
        } catch {
            return .error(502, error.code, "the card's photo could not be decoded")
        }
        let id = try await readIdentity(s, key: key)
        var out: [String: Any] = [
            "session": s, "integrity": r.headers["x-jpkid-integrity"] ?? "not_checked",
            "birthDate": r.headers["x-jpkid-birth-date"] ?? "", "sex": r.headers["x-jpkid-sex"] ?? "",
            "expiry": r.headers["x-jpkid-expiry"] ?? "",
        ]
        var person: PersonData?
        switch id {
        case .read(let p, let c):
            guard c == card else { return Self.sessionEnded }
            person = p
            out["name"] = p.name
        case .failed(let answer):
            if answer.status == 409 { return Self.sessionEnded }
            out["nameError"] = (answer.json["error"] as? [String: Any])?["code"] ?? "error"
        }
        let photoID = RequestGuard.randomSecret()
        visual[s] = Visual(photo: png, photoID: photoID, person: person, card: card, created: Date())
        out["photo"] = "/api/photos/\(photoID)"
        return .json(200, out)
    }

    /// 照合番号B from a page body: exactly 14 ASCII digits.
    static func keyB(_ body: [UInt8]) -> String? {
        guard let req = decode(body), let key = req["key"] as? String, key.count == 14,
            key.allSatisfy({ $0.isASCII && $0.isNumber })
        else { return nil }
        return key
    }

    enum IdentityRead {
        case read(PersonData, card: String)
        case failed(JpkidClient.Response)
    }

    /// The card's basic 4 information through jpkid with 照合番号B (keyKind B).
    func readIdentity(_ s: String, key: String) async throws -> IdentityRead {
        var body = Self.encode(["pin": key, "keyKind": "B"])
        defer { for i in body.indices { body[i] = 0 } }
        let id = try await jpkid.request(.POST, "/v1/sessions/\(s)/identity", body: body)
        guard id.status == 200 else { return .failed(id) }
        guard id.json["session"] as? String == s, let card = id.json["card"] as? String,
            let birth = (id.json["birthDate"] as? String).flatMap({ try? CalendarDate($0) })
        else { return .failed(JpkidClient.Response(status: 409, headers: [:], body: [])) }
        let person = PersonData(
            name: id.json["name"] as? String ?? "", birthDate: birth,
            sex: (id.json["sex"] as? String).flatMap { Sex(rawValue: $0) })
        return .read(person, card: card)
    }

    /// After an answer in PIN mode: reads the card's name and birth date with 照合番号B and
    /// compares them with the registry record of that answer (same card, same session).
    func identity(_ s: String, body: [UInt8]) async throws -> APIAnswer {
        guard let key = Self.keyB(body) else {
            return .error(400, "invalid_pin_format", "照合番号B is 14 digits; it was not sent")
        }
        guard let state = visual[s], state.registry != nil else {
            return .error(409, "no_answer_yet", "ask for eligibility first")
        }
        switch try await readIdentity(s, key: key) {
        case .failed(let answer):
            return answer.body.isEmpty ? Self.sessionEnded : Self.passError(answer)
        case .read(let person, let card):
            guard card == state.card, visual[s]?.card == card else { return Self.sessionEnded }
            visual[s]?.person = person
            return .json(200, ["session": s, "patientMatch": match(session: s, card: card, record: state.registry)])
        }
    }

    /// The photo of a visual check, only while its card session is still the card in the reader.
    func photo(_ id: String) async -> APIAnswer {
        guard let entry = visual.first(where: { $0.value.photoID == id }) else {
            return .error(404, "not_found", "no such photo")
        }
        let (s, v) = (entry.key, entry.value)
        guard let photo = v.photo, let r = try? await jpkid.request(.GET, "/v1/sessions/\(s)"), r.status == 200
        else {
            visual[s] = nil
            return Self.sessionEnded
        }
        return APIAnswer(status: 200, type: "image/png", body: photo)
    }

    /// The eligibility check in the mode the page chose, with the registry record compared to the
    /// card's identity where the visual check read it (PatientMatcher: a name alone never matches).
    func eligibility(_ s: String, body: [UInt8]) async throws -> APIAnswer {
        guard let req = Self.decode(body), let mode = req["mode"] as? String, mode == "pin" || mode == "visual" else {
            return .error(400, "bad_request", "mode must be pin or visual")
        }
        var forward: [String: Any] = ["mode": mode]
        if mode == "pin" {
            guard let pin = req["pin"] as? String, pin.count == 4, pin.allSatisfy({ $0.isASCII && $0.isNumber }) else {
                return .error(400, "invalid_pin_format", "the PIN is 4 digits; it was not sent")
            }
            forward["pin"] = pin
            if req["allowLastTry"] as? Bool == true { forward["allowLastTry"] = true }
        } else {
            guard req["visualConfirmed"] as? Bool == true else {
                return .error(400, "bad_request", "confirm the visual check first")
            }
            guard visual[s]?.photo != nil else {
                return .error(409, "visual_check_missing", "show the card's photo before confirming")
            }
            forward["visualConfirmed"] = true
        }
        var jb = Self.encode(forward)
        defer { for i in jb.indices { jb[i] = 0 } }
        let r = try await jpkid.request(.POST, "/v1/sessions/\(s)/eligibility", body: jb)
        guard r.status == 200 else { return Self.passError(r) }
        var answer = r.json
        guard answer["session"] as? String == s else { return Self.sessionEnded }
        let card = answer["card"] as? String ?? ""
        // Kept for a later identity check (PIN mode) of the same card.
        if visual[s]?.card == card {
            visual[s]?.registry = answer["record"] as? [String: Any]
        } else {
            visual[s] = Visual(registry: answer["record"] as? [String: Any], card: card, created: Date())
        }
        answer["patientMatch"] = match(session: s, card: card, record: answer["record"])
        return .json(200, answer)
    }

    /// The patient-match verdict of the registry record against the card's identity.
    func match(session s: String, card: String?, record: Any?) -> [String: Any] {
        guard let rec = record as? [String: Any], let name = rec["name"] as? String,
            let birth = (rec["birthDate"] as? String).flatMap({ try? CalendarDate($0) })
        else { return ["verdict": "not_compared", "reasons": ["no_record"]] }
        guard let v = visual[s], v.card == card, let person = v.person else {
            return ["verdict": "not_compared", "reasons": ["card_identity_not_read"]]
        }
        let registry = PersonData(name: name, nameKana: rec["nameKana"] as? String, birthDate: birth)
        let result = PatientMatcher.compare(registry, person)
        return [
            "verdict": result.verdict.rawValue, "reasons": result.reasons.map(\.rawValue),
            "card": ["name": person.name, "birthDate": "\(person.birthDate)", "sex": person.sex?.rawValue ?? ""],
        ]
    }
}
