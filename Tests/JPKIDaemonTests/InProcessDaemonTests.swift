import CardSimulator
import Foundation
import JPKI
import JPKIDaemon
import Logging
import SmartCard
import TestBench
import Testing

/// jpkid in-process against simulated readers (CardSimulator's `SimulatedReaders` behind the
/// daemon's reader seam): no pcscd, no vpcd, no polling — every step waits for the daemon's own
/// event on `/v1/events`. The pcscd + vpcd suites (`DaemonTests`) stay as the integration tier.
@Suite("jpkid in-process, simulated readers (no pcscd)")
struct InProcessDaemonTests {
    static let reader = "Simulated Reader 0"

    /// A daemon over simulated readers, an event stream opened before anything is inserted,
    /// and the readers to insert cards into.
    struct Harness {
        let readers: SimulatedReaders
        let http: UnixHTTP
        let events: SSEReader
        let config: DaemonConfig
    }

    /// `config`: the daemon's configuration (default: ``DaemonTests/config(myNumber:roles:trust:)``
    /// with `trust`); `time`: the daemon's pinned clock; `ocspURL`: an OCSP responder to configure.
    static func withHarness(
        _ config: DaemonConfig? = nil, trust: Bool = false, at time: Date? = nil, ocspURL: String? = nil,
        _ body: (Harness) async throws -> Void
    ) async throws {
        var cfg = config ?? DaemonTests.config(trust: trust).0
        cfg.limits.maxBodyBytes = 4096
        if let ocspURL { cfg.trust.ocspURL = ocspURL }
        let readers = SimulatedReaders(readers: [reader])
        let daemon = try await Daemon.start(
            config: cfg, logger: Logger(label: "in-process"), readers: readers, clock: { time ?? Date() })
        do {
            let http = UnixHTTP(path: cfg.socket.path)
            let events = try await SSEReader(http: http)
            defer { events.close() }
            try await body(Harness(readers: readers, http: http, events: events, config: cfg))
        } catch {
            await daemon.shutdown()
            throw error
        }
        await daemon.shutdown()
    }

    /// Inserts the fixture `card` and returns the new session, from its `card-inserted` event.
    static func insert(_ card: String, _ h: Harness) async throws -> (session: String, event: [String: Any]) {
        try await insert(card: try VirtualMyNumberCard.fixture(card), h)
    }

    /// Inserts `card` and returns the new session, from its `card-inserted` event.
    static func insert(card: any VirtualCard, _ h: Harness) async throws -> (session: String, event: [String: Any]) {
        h.readers.insert(card, into: reader)
        let event = try #require(try await h.events.next("card-inserted"))
        return (try #require(event["session"] as? String, "\(event)"), event)
    }

    /// Removes the card and waits for its `card-removed` event.
    static func remove(_ h: Harness) async throws {
        h.readers.remove(from: reader)
        _ = try #require(try await h.events.next("card-removed"))
    }

    static func request(_ h: Harness, _ method: String, _ target: String, body: String? = nil) async throws
        -> UnixHTTP.Response
    {
        try await h.http.request(method, target, body: body)
    }

    @Test("insert → session facts, certificates, PIN status, authenticate; remove → 409")
    func lifecycle() async throws {
        try await Self.withHarness(trust: true) { h in
            let (session, event) = try await Self.insert("00-ordinary", h)
            let atr = try profileATR("00-ordinary")
            #expect(event["atr"] as? String == atr && event["reader"] as? String == Self.reader)
            let readers = try await Self.request(h, "GET", "/v1/readers")
            let entry = (readers.json["readers"] as? [[String: Any]])?.first
            #expect(entry?["session"] as? String == session && entry?["atr"] as? String == atr)
            #expect(entry?["state"] as? String == "ready" && entry?["cardType"] as? String == "my-number-card")
            let certs = try await Self.request(h, "GET", "/v1/sessions/\(session)/certificates")
            #expect((certs.json["certificates"] as? [Any])?.count == 3, "\(certs.text)")
            let pins = try await Self.request(h, "GET", "/v1/sessions/\(session)/pin-status")
            #expect(((pins.json["pins"] as? [String: Any])?["auth"] as? [String: Any])?["triesLeft"] as? Int == 3)
            let auth = try await Self.request(
                h, "POST", "/v1/sessions/\(session)/authenticate", body: #"{"pin":"1234"}"#)
            #expect(auth.status == 200 && auth.json["verified"] as? Bool == true, "\(auth.text)")
            let wrong = try await Self.request(
                h, "POST", "/v1/sessions/\(session)/authenticate", body: #"{"pin":"9999"}"#)
            #expect(wrong.status == 401 && wrong.json["error"].flatMap { ($0 as? [String: Any])?["details"] } != nil)
            let method = try await Self.request(h, "DELETE", "/v1/sessions/\(session)/certificates")
            #expect(method.status == 405 && method.headers["allow"] == "GET")

            h.readers.remove(from: Self.reader)
            let removed = try #require(try await h.events.next("card-removed"))
            #expect(removed["session"] as? String == session)
            let after = try await Self.request(h, "GET", "/v1/sessions/\(session)/certificates")
            #expect(after.status == 409 && after.errorCode == "card_session_ended")
        }
    }

    @Test("authenticate asks the configured OCSP responder through the daemon's HTTP client (async)")
    func ocspThroughTheDaemon() async throws {
        // A port nobody listens on: the responder refuses at once (hard-fail: not verified).
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                (bind(listener, $0, len), getsockname(listener, $0, &len))
            }
        }
        close(listener)
        let port = UInt16(bigEndian: addr.sin_port)
        #expect(port != 0)
        try await Self.withHarness(trust: true, ocspURL: "http://127.0.0.1:\(port)/") { h in
            let (session, _) = try await Self.insert("00-ordinary", h)
            let auth = try await Self.request(
                h, "POST", "/v1/sessions/\(session)/authenticate", body: #"{"pin":"1234"}"#)
            #expect(auth.status == 200 && auth.json["verified"] as? Bool == false, "\(auth.text)")
            let checks = (auth.json["verification"] as? [String: Any])?["checks"] as? [[String: Any]] ?? []
            let ocsp = try #require(checks.first { $0["id"] as? String == "ocsp" }, "\(auth.text)")
            #expect("\(ocsp)".contains("revocation_unavailable") && "\(ocsp)".contains("connection refused"), "\(ocsp)")
            // Everything else about the card held: only revocation could not be checked.
            #expect(checks.first { $0["id"] as? String == "chain" }.map { "\($0)".contains("passed") } == true)
        }
    }

    @Test("a swap nobody reported: the old session answers 409, the new one every fact of the new card")
    func unnoticedSwap() async throws {
        try await Self.withHarness { h in
            let (old, _) = try await Self.insert("00-ordinary", h)
            h.readers.swapUnnoticed(try VirtualMyNumberCard.fixture("02-same-name-a"), in: Self.reader)
            let stale = try await Self.request(h, "GET", "/v1/sessions/\(old)/certificates")
            #expect(stale.status == 409 && stale.errorCode == "card_session_ended", "\(stale.text)")
            // The supervisor ends the old session and identifies the card (resetting it, since
            // the reader service still holds the old card's ATR).
            let removed = try #require(try await h.events.next("card-removed"))
            #expect(removed["session"] as? String == old)
            let inserted = try #require(try await h.events.next("card-inserted"))
            let new = try #require(inserted["session"] as? String)
            let atr = try profileATR("02-same-name-a")
            #expect(new != old && inserted["atr"] as? String == atr, "\(inserted)")
            let session = try await Self.request(h, "GET", "/v1/sessions/\(new)")
            #expect(session.json["atr"] as? String == atr)
            let fingerprint = SHA256.hash(
                Array(try Data(contentsOf: try fixtureFile("02-same-name-a", "jpki/000A.der"))))
            let identity = session.json["identity"] as? [String: Any]
            #expect(
                (identity?["authCertificateFingerprint"] as? String)?.uppercased() == fingerprint.hexString.uppercased()
            )
            let entry = (try await Self.request(h, "GET", "/v1/readers").json["readers"] as? [[String: Any]])?.first
            #expect(entry?["atr"] as? String == atr && entry?["session"] as? String == new)
        }
    }

    @Test("a PIN is never sent to a card that replaced the session's card unnoticed")
    func unnoticedSwapBeforePIN() async throws {
        try await Self.withHarness(trust: true) { h in
            let (old, _) = try await Self.insert("00-ordinary", h)
            let other = try VirtualMyNumberCard.fixture("02-same-name-a")
            h.readers.swapUnnoticed(other, in: Self.reader)
            let auth = try await Self.request(h, "POST", "/v1/sessions/\(old)/authenticate", body: #"{"pin":"1111"}"#)
            #expect(auth.status == 409 && auth.errorCode == "card_session_ended", "\(auth.text)")
            #expect(other.triesLeft(.auth) == 3, "the other card never saw the old session's PIN")
        }
    }
}

extension InProcessDaemonTests {
    /// The fixture reference date (apdu-fixtures/README.md): every generation's root was valid.
    static let referenceDate = Date(timeIntervalSince1970: 1_748_736_000)  // 2025-06-01T00:00:00Z

    /// Card 09 was issued under the 2015 root, which shares its DN with the 2019 and 2023 roots
    /// and expired on 2025-10-19 (as J-LIS's did): jpkid builds its chain to the 2015 anchor by key
    /// identifier and verifies it at a time the root was valid — and not today.
    @Test("a card of the 2015 generation: verified at the fixture date, not after its root expired")
    func generation2015() async throws {
        let profile =
            try JSONSerialization.jsonObject(
                with: Data(contentsOf: try fixtureFile("09-generation-2015", "profile.json"))) as? [String: Any]
        let pin = try #require(((profile?["pins"] as? [String: Any])?["auth"] as? [String: Any])?["value"] as? String)
        for (time, verified) in [(Self.referenceDate, true), (Date(), false)] {
            try await Self.withHarness(trust: true, at: time) { h in
                let (session, _) = try await Self.insert("09-generation-2015", h)
                let auth = try await Self.request(
                    h, "POST", "/v1/sessions/\(session)/authenticate", body: "{\"pin\":\"\(pin)\"}")
                #expect(auth.status == 200 && auth.json["verified"] as? Bool == verified, "\(time): \(auth.text)")
                // Chain by key identifier to the 2015 anchor either way; today its root (depth 1)
                // has expired.
                let checks = (auth.json["verification"] as? [String: Any])?["checks"] as? [[String: Any]] ?? []
                func outcome(_ id: String) -> [String: Any]? {
                    checks.first { $0["id"] as? String == id }?["outcome"] as? [String: Any]
                }
                #expect(outcome("chain")?["passed"] != nil, "\(checks)")
                let expired = (outcome("validity")?["failed"] as? [String: Any])?["code"] as? String == "expired"
                #expect(expired == !verified, "\(checks)")
            }
        }
    }
}
