import Foundation
import Testing

@testable import JPKIVerify

/// The auth certificate's standing (3 calendar months of warning before expiry and of grace
/// after it, Japan's zone) and the verification that forgives only the end entity's expiry.
/// Every time is pinned (relative to a certificate's notAfter or written out): no test rots.
@Suite("Certificate standing: warning, grace period, refusal")
struct StandingTests {
    let policy = ExpiryPolicy.jpki

    /// A time written in Japan's zone.
    func jst(_ text: String) throws -> Date {
        try #require(ISO8601DateFormatter().date(from: text + "+09:00"))
    }

    @Test func calendarMonthsInJapan() throws {
        let notAfter = try jst("2026-11-30T23:59:59")
        // Grace: + 3 calendar months, the missing 30 February clamps to the month's last day.
        #expect(policy.graceEnd(notAfter: notAfter) == (try jst("2027-02-28T23:59:59")))
        #expect(policy.day(policy.graceEnd(notAfter: notAfter)) == "2027-02-28")
        // Warning: − 3 calendar months.
        #expect(policy.warningStart(notAfter: notAfter) == (try jst("2026-08-30T23:59:59")))
        // A certificate ending 2028-02-29 (leap day): grace to 2028-05-29, warning from 2027-11-29.
        let leap = try jst("2028-02-29T12:00:00")
        #expect(policy.day(policy.graceEnd(notAfter: leap)) == "2028-05-29")
        #expect(policy.day(policy.warningStart(notAfter: leap)) == "2027-11-29")
    }

    @Test func boundaries() throws {
        let notBefore = try jst("2021-12-01T00:00:00")
        let notAfter = try jst("2026-11-30T23:59:59")
        let graceEnd = try jst("2027-02-28T23:59:59")
        let warnFrom = try jst("2026-08-30T23:59:59")
        func s(_ t: Date) -> CertificateStanding { policy.standing(notBefore: notBefore, notAfter: notAfter, at: t) }
        #expect(s(try jst("2021-11-30T23:59:59")) == .notYetValid(notBefore: notBefore))
        #expect(s(try jst("2024-01-01T00:00:00")) == .valid)
        #expect(s(warnFrom.addingTimeInterval(-1)) == .valid)
        #expect(s(warnFrom) == .expiringSoon(notAfter: notAfter, warningFrom: warnFrom))
        #expect(s(notAfter) == .expiringSoon(notAfter: notAfter, warningFrom: warnFrom))
        #expect(s(notAfter.addingTimeInterval(1)) == .expiredInGrace(notAfter: notAfter, graceEnds: graceEnd))
        #expect(s(graceEnd) == .expiredInGrace(notAfter: notAfter, graceEnds: graceEnd))
        #expect(s(graceEnd.addingTimeInterval(1)) == .expiredPastGrace(notAfter: notAfter, graceEnded: graceEnd))
        #expect(
            [s(warnFrom).code, s(notAfter.addingTimeInterval(1)).code, s(graceEnd.addingTimeInterval(1)).code]
                == ["expiring_soon", "expired_in_grace", "expired_past_grace"])
    }

    /// A fixture card's auth certificate verified after its notAfter: only `validity` fails,
    /// with `expired` at depth 0, which the grace verdict forgives; the plain verdict stays false.
    @Test func expiredEndEntityIsForgivenOnlyForItsOwnExpiry() async throws {
        let v = try fixtureVerifier()
        let der = try Fixtures.cardData("00-ordinary", "jpki/000A.der")
        let info = try CertificateInfo(der: der)
        let inGrace = info.notAfter.addingTimeInterval(20 * 86400)
        let report = await v.verify(
            certificateDER: der, untrustedIntermediates: [try Fixtures.cardData("00-ordinary", "jpki/000B.der")],
            purpose: .auth, at: inGrace)
        #expect(!report.verdict)
        #expect(failureCode(report, "validity") == "expired")
        #expect(report.check("validity")?.detail == "depth 0")
        #expect(report.verdictForgivingEndEntityExpiry, "\(report.checks)")
        if case .expiredInGrace = policy.standing(of: info, at: inGrace) {
        } else {
            Issue.record("20 days after notAfter must be in the grace period")
        }
        // A revoked card is not forgiven by the grace period.
        let revokedDER = try Fixtures.cardData("04-revoked", "jpki/000A.der")
        let revoked = await v.verify(
            certificateDER: revokedDER, purpose: .auth,
            at: (try CertificateInfo(der: revokedDER)).notAfter.addingTimeInterval(20 * 86400))
        #expect(!revoked.verdictForgivingEndEntityExpiry)
        // An untrusted chain is not forgiven either (no anchor for it).
        let otherAnchor = try fixtureVerifier(authAnchors: Fixtures.signAnchors)
        #expect(
            await !otherAnchor.verify(certificateDER: der, purpose: .auth, at: inGrace).verdictForgivingEndEntityExpiry)
        // Within validity nothing changes: both verdicts agree.
        let valid = await v.verify(certificateDER: der, purpose: .auth, at: Fixtures.midValidity)
        #expect(valid.verdict && valid.verdictForgivingEndEntityExpiry)
    }

    /// The contract fixtures at the fixture reference date (2025-06-01): 06 is in its grace
    /// period (only its own expiry fails), 07 is past it; 08 (face-auth) and 09 are valid.
    @Test(
        "fixture standings at the reference date",
        arguments: [
            ("06-expired-in-grace", "expired_in_grace", true), ("07-expired-past-grace", "expired_past_grace", true),
            ("08-face-auth-card", "valid", true), ("09-generation-2015", "valid", true),
        ])
    func fixtureStandings(card: String, code: String, forgiven: Bool) async throws {
        let der = try Fixtures.cardData(card, "jpki/000A.der")
        let info = try CertificateInfo(der: der)
        #expect(policy.standing(of: info, at: Fixtures.referenceDate).code == code)
        let report = try await fixtureVerifier().verify(certificateDER: der, purpose: .auth, at: Fixtures.referenceDate)
        #expect(report.verdictForgivingEndEntityExpiry == forgiven, "\(report.checks)")
        #expect(report.verdict == (code == "valid" || code == "expiring_soon"))
    }

    /// An expired CA certificate is never forgiven, even when the end entity expired too.
    @Test func expiredAnchorIsNotForgiven() async throws {
        let v = try fixtureVerifier(crls: [], policy: .softFail)
        let der = try Fixtures.cardData("00-ordinary", "jpki/000A.der")
        let root = try CertificateInfo(der: try Fixtures.data(Fixtures.pki("auth-root-2023.der")))
        let report = await v.verify(certificateDER: der, purpose: .auth, at: root.notAfter.addingTimeInterval(86400))
        #expect(failureCode(report, "validity") == "expired")
        #expect(report.check("validity")?.detail != "depth 0")
        #expect(!report.verdictForgivingEndEntityExpiry)
    }
}
