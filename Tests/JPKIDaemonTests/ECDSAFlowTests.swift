import CardSimulator
import Eligibility
import Foundation
import JPKI
import JPKIDaemon
import JPKIVerify
import Logging
import SmartCard
import TestBench
import Testing

/// The ECDSA P-384 stand-in card (apdu-fixtures/cards/30-ecdsa-p384-standin) through jpkid's
/// authenticate and eligibility flows: in-process over simulated readers, and once through
/// pcscd + vpcd. The trust configuration holds the RSA generations and the EC stand-in one, so
/// an RSA card in the same reader afterwards goes through the same daemon unchanged.
@Suite("ECDSA P-384 stand-in through jpkid", .serialized)
struct ECDSAFlowTests {
    static let card = "30-ecdsa-p384-standin"

    /// RSA generations + the EC stand-in generation; a registry where card 30 (the renewed
    /// card of 00-ordinary's person) and 00-ordinary are linked to records.
    static func config() async throws -> DaemonConfig {
        // config/demo.json's fixture trust holds the EC stand-in generation beside the RSA ones.
        var (cfg, dir) = DaemonTests.config(trust: true)
        cfg.eligibility.provider = .sqlite
        cfg.eligibility.sqlitePath = dir + "/registry.sqlite"
        let store = try await cfg.eligibility.makeStore()
        for (card, number) in [(Self.card, "3030"), ("00-ordinary", "1001")] {
            let id = try await store.upsert(
                try EligibilityFlowTests.record(number: number, name: "山田　太郎", birth: "1980-02-17"))
            try await store.link(try EligibilityFlowTests.key(card), recordID: id, replace: false)
        }
        await store.shutdown()
        return cfg
    }

    /// Checks one authenticate answer: verified, the scheme named, the signature's size.
    static func expectAuthenticated(_ r: UnixHTTP.Response, algorithm: String, signatureBytes: Int) {
        #expect(r.status == 200, "\(r.text)")
        #expect(r.json["verified"] as? Bool == true, "\(r.text)")
        #expect(r.json["algorithm"] as? String == algorithm)
        #expect(Data(base64Encoded: r.json["signature"] as? String ?? "")?.count == signatureBytes)
    }

    @Test("in-process: authenticate and eligibility with the P-384 card, then an RSA card in the same reader")
    func inProcess() async throws {
        typealias H = InProcessDaemonTests
        try await H.withHarness(try await Self.config()) { h in
            func request(_ method: String, _ target: String, _ body: String? = nil) async throws -> UnixHTTP.Response {
                try await H.request(h, method, target, body: body)
            }
            let (session, _) = try await H.insert(Self.card, h)
            let auth = try await request("POST", "/v1/sessions/\(session)/authenticate", #"{"pin":"1234"}"#)
            Self.expectAuthenticated(auth, algorithm: "ECDSA-P384-SHA384", signatureBytes: 96)
            let elig = try await request("POST", "/v1/sessions/\(session)/eligibility", #"{"pin":"1234"}"#)
            #expect(elig.status == 200 && elig.json["status"] as? String == "eligible", "\(elig.text)")
            #expect((elig.json["record"] as? [String: Any])?["number"] as? String == "3030", "\(elig.text)")
            let wrong = try await request("POST", "/v1/sessions/\(session)/authenticate", #"{"pin":"9999"}"#)
            #expect(wrong.status == 401 && wrong.errorCode == "wrong_pin")

            // The RSA card next, same daemon and trust configuration.
            try await H.remove(h)
            let (rsa, _) = try await H.insert("00-ordinary", h)
            let rsaAuth = try await request("POST", "/v1/sessions/\(rsa)/authenticate", #"{"pin":"1234"}"#)
            Self.expectAuthenticated(rsaAuth, algorithm: "RSASSA-PKCS1-v1_5-SHA256", signatureBytes: 256)
            let rsaElig = try await request("POST", "/v1/sessions/\(rsa)/eligibility", #"{"pin":"1234"}"#)
            #expect((rsaElig.json["record"] as? [String: Any])?["number"] as? String == "1001", "\(rsaElig.text)")
        }
    }

    @Test("a card whose certificate names a P-521 key: 422 unsupported_curve before the PIN, no try spent")
    func unsupportedCurve() async throws {
        // A copy of the stand-in whose auth certificate (EF 000A) certifies a P-521 key.
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ecdsa-p521-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.copyItem(
            at: try VirtualMyNumberCard.fixturesCardsDirectory().appendingPathComponent(Self.card), to: dir)
        let key = dir.appendingPathComponent("p521.pem").path
        let cert = dir.appendingPathComponent("jpki/000A.der").path
        for args in [
            ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-521", "-out", key],
            [
                "req", "-x509", "-new", "-key", key, "-subj", "/C=JP/CN=P521TEST", "-days", "30", "-outform", "DER",
                "-out", cert,
            ],
        ] {
            let r = try runProgram("/usr/bin/openssl", args)
            #expect(r.status == 0, "\(r.stderr)")
        }
        typealias H = InProcessDaemonTests
        try await H.withHarness { h in
            let sim = try VirtualMyNumberCard(directory: dir)
            let (session, _) = try await H.insert(card: sim, h)
            // A wrong PIN: had it been sent, the card would have spent a try and answered 401.
            let auth = try await H.request(
                h, "POST", "/v1/sessions/\(session)/authenticate", body: #"{"pin":"9999"}"#)
            #expect(auth.status == 422 && auth.errorCode == "unsupported_curve", "\(auth.text)")
            #expect(sim.triesLeft(.auth) == 3)
        }
    }

    @Test("through pcscd + vpcd: authenticate and eligibility with the P-384 card", ReaderTier.pcscdTier)
    func throughPCSCD() async throws {
        let cfg = try await Self.config()
        try await TestBench.exclusive {
            try await DaemonTests.running(cfg) {
                try await DaemonTests.inserted(try VirtualMyNumberCard.fixture(Self.card)) { _ in
                    let http = UnixHTTP(path: cfg.socket.path)
                    let session = try #require(try await DaemonTests().waitForSession(http))
                    let auth = try await http.request(
                        "POST", "/v1/sessions/\(session)/authenticate", body: #"{"pin":"1234"}"#)
                    Self.expectAuthenticated(auth, algorithm: "ECDSA-P384-SHA384", signatureBytes: 96)
                    let elig = try await http.request(
                        "POST", "/v1/sessions/\(session)/eligibility", body: #"{"pin":"1234"}"#)
                    #expect(elig.status == 200 && elig.json["status"] as? String == "eligible", "\(elig.text)")
                    #expect((elig.json["record"] as? [String: Any])?["number"] as? String == "3030")
                }
            }
        }
    }
}
