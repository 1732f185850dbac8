import CardSimulator
import Eligibility
import Foundation
import JPKI
import JPKIDaemon
import JPKIVerify
import Logging
import TestBench
import Testing

/// Card states decide the mode (issue 15), through pcscd + jpki-sim with jpkid in-process: an
/// auth certificate expired within the grace period still answers (flagged), after it refused
/// before the PIN; expiring soon warns; a blocked auth PIN and a card without PIN name `visual`.
/// The daemon's clock is pinned relative to the card's notAfter: no test rots with real time.
@Suite("card states decide the mode (pcscd + jpki-sim)", .serialized)
struct CardStateFlowTests {
    static let policy = ExpiryPolicy.jpki

    static func notAfter(_ dir: URL) throws -> Date {
        try CertificateInfo(der: try Data(contentsOf: dir.appendingPathComponent("jpki/000A.der"))).notAfter
    }

    static func cardDirectory(_ name: String) throws -> URL {
        try VirtualMyNumberCard.fixturesCardsDirectory().appendingPathComponent(name)
    }

    /// A copy of `00-ordinary` modelled as a 顔認証マイナンバーカード (`faceAuthCard: true`; its
    /// auth certificate is 00's, so the registry row of 00 answers for it).
    static func faceAuthCopy() throws -> URL {
        let dir = URL(fileURLWithPath: try tempDir()).appendingPathComponent("08-face-auth-model")
        try FileManager.default.copyItem(at: try cardDirectory("00-ordinary"), to: dir)
        let profileURL = dir.appendingPathComponent("profile.json")
        var profile = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: profileURL)) as? [String: Any])
        profile["faceAuthCard"] = true
        profile["pins"] = ["visualB": ["value": "55021720352285", "tries": 10, "maxTries": 10]]
        try JSONSerialization.data(withJSONObject: profile).write(to: profileURL)
        try FileManager.default.removeItem(at: dir.appendingPathComponent("jpki/0001.der"))
        try FileManager.default.removeItem(at: dir.appendingPathComponent("jpki/sign-key.test.pem"))
        return dir
    }

    /// Runs `body` with a daemon at the pinned `now` and `card` in slot 0.
    func withCard(
        _ card: VirtualMyNumberCard, now: Date, modes: [EligibilityConfiguration.Mode] = [.pin, .visual],
        _ body: (UnixHTTP, String) async throws -> Void
    ) async throws {
        var cfg = try await EligibilityFlowTests.seededConfig(.sqlite)
        cfg.eligibility.modes = modes
        try await TestBench.exclusive {
            let http = UnixHTTP(path: cfg.socket.path)
            let daemon = try await Daemon.start(config: cfg, logger: Logger(label: "card-states"), clock: { now })
            do {
                try await DaemonTests.inserted(card) { _ in
                    let session = try #require(try await DaemonTests().waitForSession(http))
                    try await body(http, session)
                }
            } catch {
                await daemon.shutdown()
                throw error
            }
            await daemon.shutdown()
        }
    }

    func post(_ http: UnixHTTP, _ session: String, _ op: String, _ body: String) throws -> (Int, [String: Any], String)
    {
        let r = try http.request("POST", "/v1/sessions/\(session)/\(op)", body: body)
        return (r.status, r.json, String(decoding: r.body, as: UTF8.self))
    }

    @Test("expired within 3 months: qualification data with the grace flag; expiring soon: a warning")
    func graceAndWarning() async throws {
        let dir = try Self.cardDirectory("00-ordinary")
        let notAfter = try Self.notAfter(dir)
        let inGrace = notAfter.addingTimeInterval(20 * 86400)
        try await withCard(try VirtualMyNumberCard(directory: dir), now: inGrace) { http, s in
            for body in [#"{"pin":"1234"}"#, #"{"mode":"visual","visualConfirmed":true}"#] {
                let (status, json, text) = try post(http, s, "eligibility", body)
                #expect(status == 200, "\(text)")
                #expect(json["status"] as? String == "eligible", "\(text)")
                #expect((json["record"] as? [String: Any])?["number"] as? String == "1001")
                #expect(json["certificateStanding"] as? String == "expired_in_grace")
                let grace = try #require(json["grace"] as? [String: Any], "\(text)")
                #expect(grace["code"] as? String == "expired_auth_certificate_grace")
                #expect(grace["endsOn"] as? String == Self.policy.day(Self.policy.graceEnd(notAfter: notAfter)))
                #expect(json["expiryWarning"] == nil)
                #expect((json["verification"] as? [String: Any])?["verdict"] as? Bool == false)
            }
        }
        try await withCard(try VirtualMyNumberCard(directory: dir), now: inGrace) { http, s in
            // authenticate proves possession but never calls an expired certificate verified.
            let (status, json, text) = try post(http, s, "authenticate", #"{"pin":"1234"}"#)
            #expect(status == 200, "\(text)")
            #expect(json["verified"] as? Bool == false)
            #expect(json["certificateStanding"] as? String == "expired_in_grace")
        }
        let soon = notAfter.addingTimeInterval(-30 * 86400)
        try await withCard(try VirtualMyNumberCard(directory: dir), now: soon) { http, s in
            let (status, json, text) = try post(http, s, "eligibility", #"{"pin":"1234"}"#)
            #expect(status == 200 && json["status"] as? String == "eligible", "\(text)")
            #expect(json["certificateStanding"] as? String == "expiring_soon")
            let warning = try #require(json["expiryWarning"] as? [String: Any], "\(text)")
            #expect(warning["code"] as? String == "auth_certificate_expiring")
            #expect(warning["expiresOn"] as? String == Self.policy.day(notAfter))
            #expect(json["grace"] == nil)
        }
    }

    @Test("expired longer than 3 months: auth_certificate_expired before the PIN is sent")
    func pastGrace() async throws {
        let dir = try Self.cardDirectory("00-ordinary")
        let notAfter = try Self.notAfter(dir)
        let past = Self.policy.graceEnd(notAfter: notAfter).addingTimeInterval(86400)
        let sim = try VirtualMyNumberCard(directory: dir)
        try await withCard(sim, now: past) { http, s in
            // A wrong PIN: had it been sent, a try would be gone.
            let (status, json, text) = try post(http, s, "eligibility", #"{"pin":"9999"}"#)
            #expect(status == 422, "\(text)")
            let error = try #require(json["error"] as? [String: Any])
            #expect(error["code"] as? String == "auth_certificate_expired")
            let details = error["details"] as? [String: Any]
            #expect(details?["graceEndedOn"] as? String == Self.policy.day(Self.policy.graceEnd(notAfter: notAfter)))
            #expect(sim.triesLeft(.auth) == 3)
            let (vStatus, vJSON, _) = try post(http, s, "eligibility", #"{"mode":"visual","visualConfirmed":true}"#)
            #expect(vStatus == 422)
            #expect((vJSON["error"] as? [String: Any])?["code"] as? String == "auth_certificate_expired")
        }
    }

    @Test("blocked auth PIN: 423 pin_blocked naming visual; visual mode still answers")
    func blockedPIN() async throws {
        let sim = try VirtualMyNumberCard.fixture("05-nearly-blocked")
        let now = try Self.notAfter(try Self.cardDirectory("05-nearly-blocked")).addingTimeInterval(-365 * 86400)
        try await withCard(sim, now: now) { http, s in
            let (wrong, _, wrongText) = try post(http, s, "eligibility", #"{"pin":"0000","allowLastTry":true}"#)
            #expect(wrong == 401, "\(wrongText)")
            #expect(sim.triesLeft(.auth) == 0)
            let (status, json, text) = try post(http, s, "eligibility", #"{"pin":"2468"}"#)
            #expect(status == 423, "\(text)")
            let error = try #require(json["error"] as? [String: Any])
            #expect(error["code"] as? String == "pin_blocked")
            #expect((error["details"] as? [String: Any])?["alternative"] as? String == "visual")
            let (vStatus, vJSON, vText) = try post(http, s, "eligibility", #"{"mode":"visual","visualConfirmed":true}"#)
            #expect(vStatus == 200, "\(vText)")
            #expect(vJSON["mode"] as? String == "visual")
        }
    }

    @Test("a card without PIN (顔認証マイナンバーカード): modes [visual], pin_not_set before any APDU, visual answers")
    func faceAuthCard() async throws {
        let dir = try Self.faceAuthCopy()
        let now = try Self.notAfter(dir).addingTimeInterval(-365 * 86400)
        try await withCard(try VirtualMyNumberCard(directory: dir), now: now) { http, s in
            let session = try http.request("GET", "/v1/sessions/\(s)").json
            let identity = try #require(session["identity"] as? [String: Any], "\(session)")
            #expect(identity["authPINPresent"] as? Bool == false)
            #expect(identity["modes"] as? [String] == ["visual"])
            let pins = try http.request("GET", "/v1/sessions/\(s)/pin-status").json["pins"] as? [String: Any]
            #expect(
                (pins?["auth"] as? [String: Any])?["error"] as? String == "pin_not_set", "\(String(describing: pins))")
            for op in ["eligibility", "authenticate"] {
                let (status, json, text) = try post(http, s, op, #"{"pin":"1234"}"#)
                #expect(status == 422, "\(op): \(text)")
                let error = try #require(json["error"] as? [String: Any])
                #expect(error["code"] as? String == "pin_not_set")
                #expect((error["details"] as? [String: Any])?["alternative"] as? String == "visual")
            }
            let (vStatus, vJSON, vText) = try post(http, s, "eligibility", #"{"mode":"visual","visualConfirmed":true}"#)
            #expect(vStatus == 200, "\(vText)")
            #expect(vJSON["status"] as? String == "eligible")
            #expect(vJSON["certificateStanding"] as? String == "valid")
        }
    }
}
