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

    @Test("06, 07 and 09 at the fixture reference date: in grace, past grace, the 2015 generation valid")
    func fixtures() async throws {
        let reference = "2025-06-01T00:00:00Z"
        try await withCard("06-expired-in-grace") { _ in
            let r = try await CLI.run(["status", "--reader", "0", "--json", "--at", reference])
            #expect(r.status == 0, "\(r.stderr)")
            #expect((r.json["authCertificateStanding"] as? [String: Any])?["code"] as? String == "expired_in_grace")
        }
        try await withCard("07-expired-past-grace") { _ in
            let r = try await CLI.run(["verify", "--reader", "0", "--trust", CLI.pki, "--json", "--at", reference])
            #expect(r.status == 11, "\(r.stderr)")
            #expect((r.json["authCertificateStanding"] as? [String: Any])?["code"] as? String == "expired_past_grace")
        }
        // 09, issued under the 2015 root (same DN as 2019's and 2023's): verified at the reference
        // date through the 2015 anchor, and not today (that root expired on 2025-10-19).
        try await withCard("09-generation-2015") { _ in
            let then = try await CLI.run(["verify", "--reader", "0", "--trust", CLI.pki, "--json", "--at", reference])
            #expect(then.status == 0, "\(then.stdout) \(then.stderr)")
            let standing = (then.json["authCertificateStanding"] as? [String: Any])?["code"] as? String
            #expect(standing == "valid" || standing == "expiring_soon", "\(then.stdout)")
            let now = try await CLI.run(["verify", "--reader", "0", "--trust", CLI.pki, "--json"])
            #expect(now.status != 0, "\(now.stdout)")
        }
    }

    @Test("08-face-auth-card: status says no PIN, modes [visual]; a PIN operation is refused with pin_not_set")
    func faceAuthCard() async throws {
        try await withCard("08-face-auth-card") { card in
            let r = try await CLI.run(["status", "--reader", "0", "--json"])
            #expect(r.status == 0, "\(r.stderr)")
            #expect(r.json["authPINPresent"] as? Bool == false)
            #expect(r.json["signCertificatePresent"] as? Bool == false)
            #expect(r.json["modes"] as? [String] == ["visual"])
            #expect((r.json["certificates"] as? [[String: Any]])?.map { $0["kind"] as? String } == ["auth", "auth-ca"])
            let text = try await CLI.run(["status", "--reader", "0"])
            #expect(text.stdout.contains("顔認証マイナンバーカード"))
            let v = try await CLI.run(
                ["verify", "--reader", "0", "--trust", CLI.pki, "--with-pin", "--pin-stdin"], stdin: "1234\n")
            #expect(v.status != 0)
            #expect(v.stderr.contains("pin_not_set") || v.stdout.contains("pin_not_set"), "\(v.stdout) \(v.stderr)")
        }
    }
}
