import CardSimulator
import Foundation
import JPKIVerify
import Testing

/// card-inspect shows the card's state (issue 15): the auth certificate's standing at `--at`
/// (pinned relative to the certificate's notAfter, so no test rots), and a card without PIN.
@Suite("card-inspect: card states", .serialized)
struct CardStateTests {
    static let policy = ExpiryPolicy.jpki

    static func iso(_ d: Date) -> String { ISO8601DateFormatter().string(from: d) }

    @Test("status and verify: standing in grace, past grace, expiring soon; modes")
    func standing() async throws {
        let notAfter = try CertificateInfo(der: try Data(contentsOf: CLI.fixture("00-ordinary", "jpki/000A.der")))
            .notAfter
        try await withCard { _ in
            let grace = try await CLI.run(
                ["status", "--reader", "0", "--json", "--at", Self.iso(notAfter.addingTimeInterval(20 * 86400))])
            #expect(grace.status == 0, "\(grace.stderr)")
            let standing = grace.json["authCertificateStanding"] as? [String: Any]
            #expect(standing?["code"] as? String == "expired_in_grace")
            #expect(standing?["graceEndsOn"] as? String == Self.policy.day(Self.policy.graceEnd(notAfter: notAfter)))
            #expect(grace.json["modes"] as? [String] == ["pin", "visual"])
            #expect(grace.json["authPINPresent"] as? Bool == true)

            let soon = try await CLI.run([
                "status", "--reader", "0", "--at", Self.iso(notAfter.addingTimeInterval(-86400)),
            ])
            #expect(soon.status == 0)
            #expect(soon.stdout.contains("expiring soon: valid until \(Self.policy.day(notAfter))"))

            let past = Self.policy.graceEnd(notAfter: notAfter).addingTimeInterval(86400)
            let v = try await CLI.run(["verify", "--reader", "0", "--trust", CLI.pki, "--json", "--at", Self.iso(past)])
            #expect(v.status == 11, "\(v.stderr)")
            #expect((v.json["authCertificateStanding"] as? [String: Any])?["code"] as? String == "expired_past_grace")
            let bad = try await CLI.run(["status", "--reader", "0", "--at", "yesterday"])
            #expect(bad.status != 0)
        }
    }

    @Test("status of a card without PIN (顔認証マイナンバーカード): modes [visual]; pin-status refuses no try")
    func faceAuthCard() async throws {
        let src = CLI.fixture("00-ordinary", "")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ci-face-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.copyItem(at: src, to: dir)
        let profileURL = dir.appendingPathComponent("profile.json")
        var profile = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: profileURL)) as? [String: Any])
        profile["faceAuthCard"] = true
        profile["pins"] = ["visualB": ["value": "55021720352285", "tries": 10, "maxTries": 10]]
        try JSONSerialization.data(withJSONObject: profile).write(to: profileURL)
        try FileManager.default.removeItem(at: dir.appendingPathComponent("jpki/0001.der"))
        try FileManager.default.removeItem(at: dir.appendingPathComponent("jpki/sign-key.test.pem"))
        let card = try VirtualMyNumberCard(directory: dir)
        try await withCard(card, authCertificate: try Data(contentsOf: dir.appendingPathComponent("jpki/000A.der"))) {
            _ in
            let r = try await CLI.run(["status", "--reader", "0", "--json"])
            #expect(r.status == 0, "\(r.stderr)")
            #expect(r.json["authPINPresent"] as? Bool == false)
            #expect(r.json["signCertificatePresent"] as? Bool == false)
            #expect(r.json["modes"] as? [String] == ["visual"])
            let text = try await CLI.run(["status", "--reader", "0"])
            #expect(text.stdout.contains("顔認証マイナンバーカード"))
            let v = try await CLI.run(
                ["verify", "--reader", "0", "--trust", CLI.pki, "--with-pin", "--pin-stdin"], stdin: "1234\n")
            #expect(v.status != 0)
            #expect(v.stderr.contains("pin_not_set") || v.stdout.contains("pin_not_set"), "\(v.stdout) \(v.stderr)")
        }
    }
}
