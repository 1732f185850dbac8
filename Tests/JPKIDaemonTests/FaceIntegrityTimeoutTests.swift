import CardSimulator
import Foundation
import JPKIDaemon
import Logging
import TestBench
import Testing

extension DaemonTests {
    @Test("face: the photo unlocked with 照合番号B, integrity verified with the configured visual issuer key")
    func face() async throws {
        let profile = try profileIdentity("00-ordinary")
        let pins = try fixturePINs("00-ordinary")
        let keyB = try #require(pins["visualB"])
        let expected = try Data(contentsOf: try fixtureFile("00-ordinary", "face.jp2"))
        try await withDaemon(trust: true) { http, _, cfg in
            let session = try #require(try await waitForSession(http))
            let r = try await http.request("POST", "/v1/sessions/\(session)/face", body: #"{"pin":"\#(keyB)"}"#)
            #expect(r.status == 200)
            #expect(r.headers["content-type"] == "image/jp2")
            #expect(Data(r.body) == expected)
            #expect(r.headers["x-jpkid-session"] == session)
            #expect(r.headers["x-jpkid-integrity"] == "verified")
            #expect(r.headers["x-jpkid-birth-date"] == "1980-02-17" && r.headers["x-jpkid-sex"] == "male")
            #expect(r.headers["x-jpkid-expiry"] == "2035-02-17")
            // 照合番号A is the My Number: refused while My Number disclosure is off.
            let a = try await http.request(
                "POST", "/v1/sessions/\(session)/face", body: #"{"pin":"\#(pins["visualA"] ?? "")","keyKind":"A"}"#)
            #expect(a.status == 403 && a.errorCode == "my_number_disabled")
            let bad = try await http.request("POST", "/v1/sessions/\(session)/face", body: #"{"pin":"1"}"#)
            #expect(bad.status == 400 && bad.errorCode == "invalid_pin_format")
            let audit = try auditText(cfg.auditLog)
            #expect(audit.contains("\"operation\":\"face\"") && audit.contains("face-integrity"))
            #expect(!audit.contains(keyB) && !audit.contains(profile["myNumber"] ?? "-"))
        }
        // Without the issuer key the photo still comes, but is never called verified.
        try await withDaemon { http, _, _ in
            let session = try #require(try await waitForSession(http))
            let r = try await http.request("POST", "/v1/sessions/\(session)/face", body: #"{"pin":"\#(keyB)"}"#)
            #expect(r.status == 200 && r.headers["x-jpkid-integrity"] == "not_checked")
        }
    }

    @Test("identity: integrity verified through the text AP's CV certificate when the issuer key is configured")
    func identityIntegrity() async throws {
        try await withDaemon(trust: true) { http, _, _ in
            let session = try #require(try await waitForSession(http))
            let r = try await http.request("POST", "/v1/sessions/\(session)/identity", body: #"{"pin":"1234"}"#)
            #expect(r.status == 200 && r.json["integrityVerified"] as? Bool == true)
            let checks = ((r.json["integrity"] as? [String: Any])?["checks"] as? [[String: Any]] ?? [])
            #expect(
                checks.contains {
                    $0["id"] as? String == "textBasicFourDigest" && ($0["outcome"] as? [String: Any])?["passed"] != nil
                })
        }
        try await withDaemon { http, _, _ in
            let session = try #require(try await waitForSession(http))
            let r = try await http.request("POST", "/v1/sessions/\(session)/identity", body: #"{"pin":"1234"}"#)
            #expect(r.status == 200 && r.json["integrityVerified"] as? Bool == false && r.json["integrity"] == nil)
        }
    }

    @Test("a card operation slower than limits.operationTimeoutSeconds answers 504 card_timeout; the reader recovers")
    func operationTimeout() async throws {
        // 60 ms per APDU: pin-status (~6 APDUs) takes ~0.4 s, identity (~19) over 1 s.
        try await withDaemon(faults: "slow:60", operationTimeout: 0.7) { http, _, cfg in
            let session = try #require(try await waitForSession(http))
            let slow = try await http.request("POST", "/v1/sessions/\(session)/identity", body: #"{"pin":"1234"}"#)
            #expect(slow.status == 504 && slow.errorCode == "card_timeout")
            #expect(!String(decoding: slow.body, as: UTF8.self).contains("山田"))
            // The abandoned operation finishes on the reader thread (~1.2 s in all); afterwards the
            // reader serves the session again.
            try await Task.sleep(for: .seconds(2))
            let pins = try await http.request("GET", "/v1/sessions/\(session)/pin-status")
            #expect(pins.status == 200, "\(pins.status) \(String(decoding: pins.body, as: UTF8.self))")
            let audit = try auditText(cfg.auditLog)
            #expect(audit.contains("card_timeout"))
        }
    }
}

func fixturePINs(_ card: String) throws -> [String: String] {
    let data = try Data(contentsOf: try fixtureFile(card, "profile.json"))
    let json = try JSONSerialization.jsonObject(with: data) as? [String: Any]
    let pins = json?["pins"] as? [String: [String: Any]] ?? [:]
    return pins.compactMapValues { $0["value"] as? String }
}
