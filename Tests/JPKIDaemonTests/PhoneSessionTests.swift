import CardSimulator
import Eligibility
import Foundation
import JPKI
import JPKIDaemon
import JPKIVerify
import Logging
import NIOPosix
import SmartCard
import TestBench
import Testing

@testable import Reception

/// Smartphone JPKI in jpkid (issue 16), in-process over simulated readers: detection
/// (`credential`), sessions bound before the certificate (Android: token + ATR until the first
/// PIN-verified operation binds the auth certificate), 428 `certificate_after_pin`, authenticate and
/// eligibility with both phones, and swaps between phones and cards at every stage.
@Suite("jpkid in-process: smartphones (20-android-phone, 21-iphone)")
struct PhoneSessionTests {
    typealias H = InProcessDaemonTests

    /// A daemon over simulated readers on the fixture PKI, with an SQLite registry in which the
    /// phones and card 00 (one holder) each have a linked record (numbers 2020, 2121, 1001).
    static func withHarness(_ body: (H.Harness) async throws -> Void) async throws {
        try await H.withHarness(try await seededConfig(), body)
    }

    /// The configuration: fixture PKI, SQLite registry seeded as described at ``withHarness(_:)``.
    static func seededConfig() async throws -> DaemonConfig {
        var (cfg, dir) = DaemonTests.config(trust: true)
        cfg.limits.maxBodyBytes = 4096
        cfg.eligibility.provider = .sqlite
        cfg.eligibility.sqlitePath = dir + "/registry.sqlite"
        cfg.eligibility.modes = [.pin, .visual]
        let store = try await cfg.eligibility.makeStore()
        for (credential, number) in [("00-ordinary", "1001"), ("20-android-phone", "2020"), ("21-iphone", "2121")] {
            let id = try await store.upsert(
                try EligibilityFlowTests.record(number: number, name: "山田　太郎", birth: "1980-02-17"))
            let info = try CertificateInfo(der: try Data(contentsOf: try fixtureFile(credential, "jpki/000A.der")))
            try await store.link(try CardKey(authCertificate: info), recordID: id, replace: false)
        }
        await store.shutdown()
        return cfg
    }

    static func der(_ credential: String) throws -> [UInt8] {
        Array(try Data(contentsOf: try fixtureFile(credential, "jpki/000A.der")))
    }

    static func identity(_ h: H.Harness, _ session: String) async throws -> [String: Any] {
        let r = try await H.request(h, "GET", "/v1/sessions/\(session)")
        return try #require(r.json["identity"] as? [String: Any], "\(r.text)")
    }

    @Test(
        "Android: bound to the token before the PIN; pin-status works, certificates 428; authenticate binds the certificate"
    )
    func android() async throws {
        try await Self.withHarness { h in
            let (session, event) = try await H.insert("20-android-phone", h)
            let atr = try profileATR("20-android-phone")
            #expect(event["atr"] as? String == atr)
            let entry = (try await H.request(h, "GET", "/v1/readers").json["readers"] as? [[String: Any]])?.first
            #expect(entry?["credential"] as? String == "android-phone" && entry?["cardType"] as? String == "smartphone")
            var identity = try await Self.identity(h, session)
            #expect(identity["boundTo"] as? String == "token" && identity["certificateAfterPIN"] as? Bool == true)
            #expect(
                identity["authCertificateFingerprint"] == nil && identity["credential"] as? String == "android-phone")

            let pins = try await H.request(h, "GET", "/v1/sessions/\(session)/pin-status")
            let entries = pins.json["pins"] as? [String: [String: Any]]
            #expect(pins.status == 200 && entries?["auth"]?["triesLeft"] as? Int == 3, "\(pins.text)")
            #expect(entries?["sign"]?["triesLeft"] as? Int == 5)
            #expect(entries?["text"]?["error"] as? String == "application_not_found", "a phone has no text AP")
            let early = try await H.request(h, "GET", "/v1/sessions/\(session)/certificates")
            #expect(early.status == 428 && early.errorCode == "certificate_after_pin", "\(early.text)")
            // Visual confirmation needs the certificate too: nothing to check it against yet.
            let visual = try await H.request(
                h, "POST", "/v1/sessions/\(session)/eligibility", body: #"{"mode":"visual","visualConfirmed":true}"#)
            #expect(visual.status == 428 && visual.errorCode == "certificate_after_pin", "\(visual.text)")

            let auth = try await H.request(h, "POST", "/v1/sessions/\(session)/authenticate", body: #"{"pin":"4321"}"#)
            #expect(auth.status == 200 && auth.json["verified"] as? Bool == true, "\(auth.text)")
            let phoneDER = try Self.der("20-android-phone")
            #expect(auth.json["certificate"] as? String == Data(phoneDER).base64EncodedString())
            let fingerprint = SHA256.hash(phoneDER).hexString.lowercased()
            #expect(auth.json["card"] as? String == fingerprint)
            // The operation's audit line names the certificate it bound (never nothing).
            let audited = DaemonTests.auditLines(h.config.auditLog).filter {
                $0["operation"] as? String == "authenticate" && $0["outcome"] as? String == "ok"
            }
            #expect(audited.count == 1 && audited.first?["card"] as? String == fingerprint, "\(audited)")
            identity = try await Self.identity(h, session)
            #expect(identity["boundTo"] as? String == "certificate")
            #expect(identity["authCertificateFingerprint"] as? String == fingerprint)

            let certs = try await H.request(h, "GET", "/v1/sessions/\(session)/certificates")
            let list = certs.json["certificates"] as? [[String: Any]] ?? []
            #expect(
                certs.status == 200 && list.map { $0["kind"] as? String } == ["auth", "authCA", "signCA"],
                "\(certs.text)")
            #expect(list.first?["sha256"] as? String == fingerprint)
            // The same phone, a second PIN operation: checked against the bound certificate.
            let eligibility = try await H.request(
                h, "POST", "/v1/sessions/\(session)/eligibility", body: #"{"pin":"4321"}"#)
            #expect(
                eligibility.status == 200 && eligibility.json["status"] as? String == "eligible", "\(eligibility.text)")
            #expect((eligibility.json["record"] as? [String: Any])?["number"] as? String == "2020")
            #expect(eligibility.json["card"] as? String == fingerprint)
        }
    }

    @Test("Android: eligibility is the first PIN operation and binds the session")
    func androidEligibilityFirst() async throws {
        try await Self.withHarness { h in
            let (session, _) = try await H.insert("20-android-phone", h)
            let wrong = try await H.request(h, "POST", "/v1/sessions/\(session)/eligibility", body: #"{"pin":"1111"}"#)
            #expect(wrong.status == 401 && wrong.errorCode == "wrong_pin", "\(wrong.text)")
            #expect(try await Self.identity(h, session)["boundTo"] as? String == "token", "a wrong PIN binds nothing")
            let r = try await H.request(h, "POST", "/v1/sessions/\(session)/eligibility", body: #"{"pin":"4321"}"#)
            #expect(r.status == 200 && r.json["status"] as? String == "eligible", "\(r.text)")
            #expect((r.json["record"] as? [String: Any])?["number"] as? String == "2020")
            #expect(try await Self.identity(h, session)["boundTo"] as? String == "certificate")
        }
    }

    @Test("the reception page's card summary of an Android phone: no certificate before the PIN, then its own")
    func receptionSummary() async throws {
        try await Self.withHarness { h in
            let (session, _) = try await H.insert("20-android-phone", h)
            let api = ReceptionAPI(
                jpkid: JpkidClient(socketPath: h.config.socket.path),
                idleSeconds: 60)
            func summary() async throws -> (Int, [String: Any]) {
                let a = await api.handle(method: .GET, path: "/api/sessions/\(session)/card", body: [])
                return (a.status, try JSONSerialization.jsonObject(with: Data(a.body)) as? [String: Any] ?? [:])
            }
            let (status, before) = try await summary()
            #expect(status == 200 && before["credential"] as? String == "android-phone", "\(before)")
            #expect(before["certificate"] == nil && (before["pin"] as? [String: Any])?["triesLeft"] as? Int == 3)
            let auth = try await H.request(h, "POST", "/v1/sessions/\(session)/authenticate", body: #"{"pin":"4321"}"#)
            #expect(auth.status == 200, "\(auth.text)")
            let (_, after) = try await summary()
            #expect((after["certificate"] as? [String: Any])?["notAfter"] as? String == "2030-02-17", "\(after)")
        }
    }

    @Test("iPhone: certificate readable at insertion (bound like a card); authenticate and eligibility")
    func iphone() async throws {
        try await Self.withHarness { h in
            let (session, _) = try await H.insert("21-iphone", h)
            let entry = (try await H.request(h, "GET", "/v1/readers").json["readers"] as? [[String: Any]])?.first
            #expect(entry?["credential"] as? String == "iphone")
            let identity = try await Self.identity(h, session)
            let fingerprint = SHA256.hash(try Self.der("21-iphone")).hexString.lowercased()
            #expect(
                identity["boundTo"] as? String == "certificate" && identity["certificateAfterPIN"] as? Bool == false)
            #expect(identity["authCertificateFingerprint"] as? String == fingerprint)
            let certs = try await H.request(h, "GET", "/v1/sessions/\(session)/certificates")
            #expect(certs.status == 200 && (certs.json["certificates"] as? [Any])?.count == 3)
            let auth = try await H.request(h, "POST", "/v1/sessions/\(session)/authenticate", body: #"{"pin":"8765"}"#)
            #expect(auth.status == 200 && auth.json["verified"] as? Bool == true, "\(auth.text)")
            let r = try await H.request(h, "POST", "/v1/sessions/\(session)/eligibility", body: #"{"pin":"8765"}"#)
            #expect(
                r.status == 200 && (r.json["record"] as? [String: Any])?["number"] as? String == "2121", "\(r.text)")
            let visual = try await H.request(
                h, "POST", "/v1/sessions/\(session)/eligibility", body: #"{"mode":"visual","visualConfirmed":true}"#)
            #expect(visual.status == 200 && visual.json["status"] as? String == "eligible", "\(visual.text)")
        }
    }

    @Test("a phone replaced by a card and back: each old session 409, each new one its own credential")
    func phoneCardPhone() async throws {
        try await Self.withHarness { h in
            let (phone, _) = try await H.insert("20-android-phone", h)
            h.readers.remove(from: H.reader)
            _ = try #require(try await h.events.next("card-removed"))
            let (card, _) = try await H.insert("00-ordinary", h)
            let stale = try await H.request(h, "GET", "/v1/sessions/\(phone)/pin-status")
            #expect(stale.status == 409 && stale.errorCode == "card_session_ended")
            #expect(try await Self.identity(h, card)["credential"] as? String == "card")
            h.readers.remove(from: H.reader)
            _ = try #require(try await h.events.next("card-removed"))
            let (again, _) = try await H.insert("20-android-phone", h)
            #expect(again != phone)
            let staleCard = try await H.request(
                h, "POST", "/v1/sessions/\(card)/authenticate", body: #"{"pin":"1234"}"#)
            #expect(staleCard.status == 409 && staleCard.errorCode == "card_session_ended")
            let auth = try await H.request(h, "POST", "/v1/sessions/\(again)/authenticate", body: #"{"pin":"4321"}"#)
            #expect(auth.status == 200, "\(auth.text)")
        }
    }

    @Test("unnoticed swaps: Android → card before the PIN, card → Android, Android (bound) → iPhone: 409, no PIN sent")
    func unnoticedSwaps() async throws {
        try await Self.withHarness { h in
            // Android (bound to its token) → card: the token differs before the PIN goes out.
            let (phone, _) = try await H.insert("20-android-phone", h)
            let card = try VirtualMyNumberCard.fixture("00-ordinary")
            h.readers.swapUnnoticed(card, in: H.reader)
            let pins = try await H.request(h, "GET", "/v1/sessions/\(phone)/pin-status")
            #expect(pins.status == 409 && pins.errorCode == "card_session_ended", "\(pins.text)")
            _ = try #require(try await h.events.next("card-removed"))
            let (cardSession, _) = try await H.insert("00-ordinary", h)

            // Card → Android: the card's certificate (bound at insertion) cannot even be read.
            let android = try VirtualMyNumberCard.fixture("20-android-phone")
            h.readers.swapUnnoticed(android, in: H.reader)
            let auth = try await H.request(
                h, "POST", "/v1/sessions/\(cardSession)/authenticate", body: #"{"pin":"4321"}"#)
            #expect(auth.status == 409 && auth.errorCode == "card_session_ended", "\(auth.text)")
            #expect(android.triesLeft(.auth) == 3 && !android.isVerified(.auth), "the phone never saw the PIN")
            _ = try #require(try await h.events.next("card-removed"))

            // Android bound to its certificate → iPhone: another token, found before the PIN.
            let (bound, _) = try await H.insert("20-android-phone", h)
            let first = try await H.request(h, "POST", "/v1/sessions/\(bound)/authenticate", body: #"{"pin":"4321"}"#)
            #expect(first.status == 200, "\(first.text)")
            let iphone = try VirtualMyNumberCard.fixture("21-iphone")
            h.readers.swapUnnoticed(iphone, in: H.reader)
            let second = try await H.request(h, "POST", "/v1/sessions/\(bound)/eligibility", body: #"{"pin":"4321"}"#)
            #expect(second.status == 409 && second.errorCode == "card_session_ended", "\(second.text)")
            #expect(iphone.triesLeft(.auth) == 3, "the iPhone never saw the Android's PIN")
            let certs = try await H.request(h, "GET", "/v1/sessions/\(bound)/certificates")
            #expect(certs.status == 409)
        }
    }
}

/// The phones through the real PC/SC stack (pcscd + vpcd + jpki-sim's bridge), jpkid on pcscd.
@Suite("jpkid through pcscd + jpki-sim: smartphones", .serialized)
struct PhoneBenchTests {
    @Test("each phone: detected, authenticate and eligibility through pcscd + vpcd", ReaderTier.pcscdTier)
    func phones() async throws {
        let cfg = try await PhoneSessionTests.seededConfig()
        try await EligibilityFlowTests().withDaemon(cfg, tier: .pcscd) { http, insert in
            let phones = [
                ("20-android-phone", "4321", "2020", "android-phone", "token"),
                ("21-iphone", "8765", "2121", "iphone", "certificate"),
            ]
            for (phone, pin, number, credential, boundTo) in phones {
                let (slot, session) = try await insert(phone, nil)
                let s = try await http.request("GET", "/v1/sessions/\(session)")
                let identity = s.json["identity"] as? [String: Any]
                #expect(identity?["credential"] as? String == credential && identity?["boundTo"] as? String == boundTo)
                let auth = try await http.request(
                    "POST", "/v1/sessions/\(session)/authenticate", body: "{\"pin\":\"\(pin)\"}")
                #expect(auth.status == 200 && auth.json["verified"] as? Bool == true, "\(phone): \(auth.text)")
                let e = try await http.request(
                    "POST", "/v1/sessions/\(session)/eligibility", body: "{\"pin\":\"\(pin)\"}")
                #expect(
                    e.status == 200 && (e.json["record"] as? [String: Any])?["number"] as? String == number, "\(e.text)"
                )
                try await slot.remove()
            }
        }
    }
}
