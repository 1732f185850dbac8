import CardSimulator
import Foundation
import JPKI
import Testing

/// card-inspect with the simulated phones through pcscd + vpcd (issue 16): `status` names the
/// credential kind; `verify` reads an Android phone's auth certificate only after the PIN.
@Suite("card-inspect: smartphones", .serialized)
struct PhoneInspectTests {
    @Test("20-android-phone: status (no certificate before the PIN), verify needs --with-pin, verify --with-pin")
    func android() async throws {
        try await withCard("20-android-phone") { phone in
            let s = try await CLI.run(["status", "--reader", "0", "--json"])
            #expect(s.status == 0, "\(s.stderr)")
            #expect(s.json["credential"] as? String == "android-phone" && s.json["cardType"] as? String == "smartphone")
            #expect(s.json["authCertificateAfterPIN"] as? Bool == true && s.json["cardId"] is NSNull)
            #expect(
                (s.json["certificates"] as? [[String: Any]])?.map { $0["kind"] as? String } == ["auth-ca", "sign-ca"])
            let apps = s.json["applications"] as? [String: Bool]
            #expect(apps?["jpki"] == true && apps?["text"] == false && apps?["visual"] == false)
            let text = try await CLI.run(["status", "--reader", "0"])
            #expect(
                text.stdout.contains("android-phone") && text.stdout.contains("only after the auth PIN"),
                "\(text.stdout)")

            let pins = try await CLI.run(["pin-status", "--reader", "0", "--json"])
            let states = (pins.json["pins"] as? [[String: Any]] ?? []).map {
                "\($0["pin"] as? String ?? ""):\($0["triesLeft"] as? Int ?? -1):\($0["error"] as? String ?? "")"
            }
            #expect(pins.status == 0 && states.contains("auth:3:") && states.contains("sign:5:"), "\(pins.stdout)")
            #expect(states.contains("text:-1:application_not_found"), "\(states)")
            let plain = try await CLI.run(["verify", "--reader", "0", "--trust", CLI.pki, "--json"])
            #expect(
                plain.status != 0 && (plain.stdout + plain.stderr).contains("certificate_after_pin"), "\(plain.stdout)")
            let v = try await CLI.run(
                ["verify", "--reader", "0", "--trust", CLI.pki, "--with-pin", "--pin-stdin", "--json"], stdin: "4321\n")
            #expect(v.status == 0, "\(v.stdout) \(v.stderr)")
            let der = try Data(contentsOf: CLI.fixture("20-android-phone", "jpki/000A.der"))
            #expect((v.json["certificate"] as? [String: Any])?["serial"] as? String == "1141", "\(v.stdout)")
            #expect(v.json["cardId"] as? String == CardIdentity(authCertificateDER: [UInt8](der)).hex)
            #expect(phone.triesLeft(.auth) == 3)
        }
    }

    @Test("21-iphone: status with its certificate, verify --with-pin")
    func iphone() async throws {
        try await withCard("21-iphone") { _ in
            let s = try await CLI.run(["status", "--reader", "0", "--json"])
            #expect(s.status == 0 && s.json["credential"] as? String == "iphone", "\(s.stderr)")
            #expect((s.json["certificates"] as? [[String: Any]])?.count == 3)
            let v = try await CLI.run(
                ["verify", "--reader", "0", "--trust", CLI.pki, "--with-pin", "--pin-stdin", "--json"], stdin: "8765\n")
            #expect(v.status == 0, "\(v.stdout) \(v.stderr)")
        }
    }
}
