import CardSimulator
import Eligibility
import Foundation
import JPKI
import JPKIDaemon
import JPKIVerify
import Logging
import TestBench
import Testing

/// Card states decide the mode (issue 15), through pcscd + jpki-sim with jpkid in-process, on the
/// contract fixtures: `06-expired-in-grace` answers with the grace flag, `07-expired-past-grace`
/// is refused before the PIN, a card near its expiry warns, a blocked auth PIN and
/// `08-face-auth-card` (no PIN) name `visual`. The daemon's clock is pinned (the fixture reference
/// date 2025-06-01, or relative to a certificate's notAfter): no test rots with real time.
@Suite("card states decide the mode (pcscd + jpki-sim)", .serialized)
struct CardStateFlowTests {
    static let policy = ExpiryPolicy.jpki
    /// The fixture reference date (apdu-fixtures/README.md): 06 in its grace, 07 past it.
    static let referenceDate = Date(timeIntervalSince1970: 1_748_736_000)  // 2025-06-01T00:00:00Z

    static func notAfter(_ card: String) throws -> Date {
        try CertificateInfo(der: try Data(contentsOf: try fixtureFile(card, "jpki/000A.der"))).notAfter
    }

    /// Runs `body` with a daemon at the pinned `now` and fixture `card` in slot 0; the registry has
    /// the rows of EligibilityFlowTests plus 06 (7007), 07 (8008) and 08 (9009).
    func withCard(
        _ card: String, now: Date, _ body: (UnixHTTP, String, VirtualMyNumberCard) async throws -> Void
    ) async throws {
        var cfg = try await EligibilityFlowTests.seededConfig(.sqlite)
        cfg.eligibility.modes = [.pin, .visual]
        let store = try await cfg.eligibility.makeStore()
        for (c, number, name, birth) in [
            ("06-expired-in-grace", "7007", "伊藤　恵子", "1990-04-20"),
            ("07-expired-past-grace", "8008", "渡辺　健", "1985-12-05"),
            ("08-face-auth-card", "9009", "中村　ミツ", "1948-03-03"),
        ] {
            let id = try await store.upsert(try EligibilityFlowTests.record(number: number, name: name, birth: birth))
            try await store.link(try EligibilityFlowTests.key(c), recordID: id, replace: false)
        }
        await store.shutdown()
        let sim = try VirtualMyNumberCard.fixture(card)
        let http = UnixHTTP(path: cfg.socket.path)
        let readers = TestSlot.backend(.simulated)
        do {
            let daemon = try await Daemon.start(
                config: cfg, logger: Logger(label: "card-states"), readers: readers, clock: { now })
            do {
                let slot = try await TestSlot.open(.simulated, http: http, readers: readers)
                defer { slot.close() }
                let session = try #require(try await slot.insert(sim))
                try await body(http, session, sim)
            } catch {
                await daemon.shutdown()
                throw error
            }
            await daemon.shutdown()
        }
    }

    func post(_ http: UnixHTTP, _ session: String, _ op: String, _ body: String) async throws -> (
        Int, [String: Any], String
    ) {
        let r = try await http.request("POST", "/v1/sessions/\(session)/\(op)", body: body)
        return (r.status, r.json, String(decoding: r.body, as: UTF8.self))
    }

    static func errorCode(_ json: [String: Any]) -> String? { (json["error"] as? [String: Any])?["code"] as? String }
    static func details(_ json: [String: Any]) -> [String: Any]? {
        (json["error"] as? [String: Any])?["details"] as? [String: Any]
    }

    @Test("06-expired-in-grace: qualification data with the grace flag (pin and visual); authenticate not verified")
    func grace() async throws {
        let notAfter = try Self.notAfter("06-expired-in-grace")
        try await withCard("06-expired-in-grace", now: Self.referenceDate) { http, s, _ in
            for body in [
                #"{"pin":"\#(try fixtureAuthPIN("06-expired-in-grace"))"}"#,
                #"{"mode":"visual","visualConfirmed":true}"#,
            ] {
                let (status, json, text) = try await post(http, s, "eligibility", body)
                #expect(status == 200, "\(text)")
                #expect(json["status"] as? String == "eligible", "\(text)")
                #expect((json["record"] as? [String: Any])?["number"] as? String == "7007")
                #expect(json["certificateStanding"] as? String == "expired_in_grace")
                let grace = try #require(json["grace"] as? [String: Any], "\(text)")
                #expect(grace["code"] as? String == "expired_auth_certificate_grace")
                #expect(grace["endsOn"] as? String == Self.policy.day(Self.policy.graceEnd(notAfter: notAfter)))
                #expect(json["expiryWarning"] == nil)
                #expect((json["verification"] as? [String: Any])?["verdict"] as? Bool == false)
            }
            let (status, json, text) = try await post(
                http, s, "authenticate", #"{"pin":"\#(try fixtureAuthPIN("06-expired-in-grace"))"}"#)
            #expect(status == 200, "\(text)")
            #expect(json["verified"] as? Bool == false)
            #expect(json["certificateStanding"] as? String == "expired_in_grace")
        }
    }

    @Test("a certificate ending within 3 months: eligible with expiryWarning")
    func warning() async throws {
        let notAfter = try Self.notAfter("00-ordinary")
        try await withCard("00-ordinary", now: notAfter.addingTimeInterval(-30 * 86400)) { http, s, _ in
            let (status, json, text) = try await post(http, s, "eligibility", #"{"pin":"1234"}"#)
            #expect(status == 200 && json["status"] as? String == "eligible", "\(text)")
            #expect(json["certificateStanding"] as? String == "expiring_soon")
            let warning = try #require(json["expiryWarning"] as? [String: Any], "\(text)")
            #expect(warning["code"] as? String == "auth_certificate_expiring")
            #expect(warning["expiresOn"] as? String == Self.policy.day(notAfter))
            #expect(json["grace"] == nil)
        }
    }

    @Test("07-expired-past-grace: auth_certificate_expired before the PIN is sent, in every mode")
    func pastGrace() async throws {
        let notAfter = try Self.notAfter("07-expired-past-grace")
        try await withCard("07-expired-past-grace", now: Self.referenceDate) { http, s, sim in
            let before = sim.triesLeft(.auth)
            // A wrong PIN: had it been sent, a try would be gone.
            let (status, json, text) = try await post(http, s, "eligibility", #"{"pin":"0000"}"#)
            #expect(status == 422, "\(text)")
            #expect(Self.errorCode(json) == "auth_certificate_expired")
            #expect(
                Self.details(json)?["graceEndedOn"] as? String
                    == Self.policy.day(Self.policy.graceEnd(notAfter: notAfter)))
            #expect(sim.triesLeft(.auth) == before)
            let (vStatus, vJSON, _) = try await post(
                http, s, "eligibility", #"{"mode":"visual","visualConfirmed":true}"#)
            #expect(vStatus == 422)
            #expect(Self.errorCode(vJSON) == "auth_certificate_expired")
        }
    }

    @Test("blocked auth PIN: 423 pin_blocked naming visual; visual mode still answers")
    func blockedPIN() async throws {
        try await withCard("05-nearly-blocked", now: Self.referenceDate) { http, s, sim in
            let (wrong, _, wrongText) = try await post(http, s, "eligibility", #"{"pin":"0000","allowLastTry":true}"#)
            #expect(wrong == 401, "\(wrongText)")
            #expect(sim.triesLeft(.auth) == 0)
            let (status, json, text) = try await post(http, s, "eligibility", #"{"pin":"2468"}"#)
            #expect(status == 423, "\(text)")
            #expect(Self.errorCode(json) == "pin_blocked")
            #expect(Self.details(json)?["alternative"] as? String == "visual")
            let (vStatus, vJSON, vText) = try await post(
                http, s, "eligibility", #"{"mode":"visual","visualConfirmed":true}"#)
            #expect(vStatus == 200, "\(vText)")
            #expect(vJSON["mode"] as? String == "visual")
        }
    }

    @Test("08-face-auth-card: modes [visual], pin_not_set before any APDU, visual answers")
    func faceAuthCard() async throws {
        try await withCard("08-face-auth-card", now: Self.referenceDate) { http, s, _ in
            let session = try await http.request("GET", "/v1/sessions/\(s)").json
            let identity = try #require(session["identity"] as? [String: Any], "\(session)")
            #expect(identity["authPINPresent"] as? Bool == false)
            #expect(identity["modes"] as? [String] == ["visual"])
            let pins = try await http.request("GET", "/v1/sessions/\(s)/pin-status").json["pins"] as? [String: Any]
            #expect(
                (pins?["auth"] as? [String: Any])?["error"] as? String == "pin_not_set", "\(String(describing: pins))")
            let certs = try await http.request("GET", "/v1/sessions/\(s)/certificates")
            #expect(certs.status == 200)
            #expect(
                (certs.json["certificates"] as? [[String: Any]])?.map { $0["kind"] as? String } == ["auth", "authCA"])
            for op in ["eligibility", "authenticate"] {
                let (status, json, text) = try await post(http, s, op, #"{"pin":"1234"}"#)
                #expect(status == 422, "\(op): \(text)")
                #expect(Self.errorCode(json) == "pin_not_set")
                #expect(Self.details(json)?["alternative"] as? String == "visual")
            }
            let (vStatus, vJSON, vText) = try await post(
                http, s, "eligibility", #"{"mode":"visual","visualConfirmed":true}"#)
            #expect(vStatus == 200, "\(vText)")
            #expect(vJSON["status"] as? String == "eligible")
            #expect((vJSON["record"] as? [String: Any])?["number"] as? String == "9009")
            #expect(vJSON["certificateStanding"] as? String == "valid")
        }
    }
}

/// The auth PIN of a fixture card (test data, from its profile.json).
func fixtureAuthPIN(_ card: String) throws -> String {
    let json = try Data(contentsOf: try fixtureFile(card, "profile.json"))
    let object = try #require(try JSONSerialization.jsonObject(with: json) as? [String: Any])
    return try #require(((object["pins"] as? [String: Any])?["auth"] as? [String: Any])?["value"] as? String)
}
