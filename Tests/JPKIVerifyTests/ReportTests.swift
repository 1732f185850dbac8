import Foundation
import Testing

@testable import JPKIVerify

@Suite("VerificationReport verdict")
struct ReportTests {
    @Test(
        "verdict is computed: a missing expected check, a warning on a required check, or any failure makes it false"
    )
    func verdictRules() {
        let t = Date()
        let pass = VerificationCheck(id: "a", outcome: .passed)
        #expect(VerificationReport(checks: [pass], expectedChecks: ["a"], evaluatedAt: t).verdict)
        #expect(
            !VerificationReport(checks: [pass], expectedChecks: ["a", "b"], evaluatedAt: t).verdict)
        #expect(!VerificationReport(checks: [], expectedChecks: [], evaluatedAt: t).verdict)
        #expect(!VerificationReport(checks: [pass], expectedChecks: [], evaluatedAt: t).verdict)
        let warnRequired = VerificationCheck(id: "b", outcome: .warning(code: "x", message: "y"))
        #expect(
            !VerificationReport(
                checks: [pass, warnRequired], expectedChecks: ["a"], evaluatedAt: t
            )
            .verdict)
        let warnOptional = VerificationCheck(
            id: "b", outcome: .warning(code: "x", message: "y"), required: false)
        #expect(
            VerificationReport(checks: [pass, warnOptional], expectedChecks: ["a"], evaluatedAt: t)
                .verdict)
        let failOptional = VerificationCheck(
            id: "c", outcome: .failed(code: "x", message: "y"), required: false)
        #expect(
            !VerificationReport(
                checks: [pass, failOptional], expectedChecks: ["a"], evaluatedAt: t
            )
            .verdict)
        let notChecked = VerificationCheck(id: "a", outcome: .notChecked(reason: "skipped"))
        #expect(
            !VerificationReport(checks: [notChecked], expectedChecks: ["a"], evaluatedAt: t).verdict
        )
        // Duplicate id: both must pass.
        let failA = VerificationCheck(id: "a", outcome: .failed(code: "x", message: "y"))
        #expect(
            !VerificationReport(checks: [pass, failA], expectedChecks: ["a"], evaluatedAt: t)
                .verdict)
    }

    @Test("Codable round trip recomputes the verdict; a forged stored verdict is ignored")
    func codable() async throws {
        let r = try await fixtureVerifier().verify(
            certificateDER: try Fixtures.data(Fixtures.pki("extra/expired-auth.der")),
            purpose: .auth,
            at: Fixtures.midValidity)
        let enc = JSONEncoder()
        enc.dateEncodingStrategy = .iso8601
        var json = try JSONSerialization.jsonObject(with: enc.encode(r)) as! [String: Any]
        #expect(json["verdict"] as? Bool == false)
        json["verdict"] = true
        let dec = JSONDecoder()
        dec.dateDecodingStrategy = .iso8601
        let back = try dec.decode(
            VerificationReport.self, from: JSONSerialization.data(withJSONObject: json))
        #expect(back == r)
        #expect(!back.verdict)
    }

    @Test("reports and errors carry no personal data from the sign certificate")
    func noPII() async throws {
        let card = "01-kanji-variant"
        let info = try CertificateInfo(der: try Fixtures.cardData(card, "jpki/0001.der"))
        let id = try #require(info.signIdentity)
        let v = try fixtureVerifier()
        let der = try Fixtures.cardData(card, "jpki/0001.der")
        var reports = [
            await v.verify(certificateDER: der, purpose: .sign, at: Fixtures.midValidity),
            await v.verify(certificateDER: der, purpose: .auth, at: Fixtures.midValidity),
            await v.verify(
                certificateDER: tampered(der, at: der.count - 3), purpose: .sign,
                at: Date(timeIntervalSince1970: 0)),
        ]
        let ap = try APIntegrityVerifier(
            textIssuerKey: Fixtures.pki("cv/text-cv-issuer.pub.pem"), visualIssuerKey: nil)
        let f2 = try Fixtures.cardData(card, "text/0002.bin")
        reports.append(
            ap.verifyText(
                myNumberFile: try Fixtures.cardData(card, "text/0001.bin"),
                basicFourFile: tampered(f2, at: 20),
                integrityRecord: try Fixtures.cardData(card, "text/0003.bin"),
                cvCertificate: try Fixtures.cardData(card, "text/0004.bin")))
        let text = try reports.map { String(decoding: try JSONEncoder().encode($0), as: UTF8.self) }
            .joined()
        for secret in [id.name!, id.address!, "19921103", "271270004516", "髙橋"] {
            #expect(!text.contains(secret))
        }
    }
}
