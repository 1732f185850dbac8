import Foundation
import Testing

@testable import JPKIVerify

/// Root generations that share one DN (J-LIS 2015/2019/2023 shape): chains and CRLs are chosen by
/// key, never by name (apdu-fixtures/README.md "Test PKI").
@Suite("Root generations with one DN")
struct GenerationTests {
    /// A time inside a card's certificate validity: the reference date, or 30 days before the end
    /// for the expired cards 06/07 (still after every CRL's lastUpdate, 2024-11-01).
    static func validTime(_ card: String) throws -> Date {
        let info = try CertificateInfo(der: try Fixtures.cardData(card, "jpki/000A.der"))
        return info.notAfter < Fixtures.referenceDate
            ? info.notAfter.addingTimeInterval(-30 * 86_400) : Fixtures.referenceDate
    }

    @Test(
        "a card of each generation verifies with every generation configured, and only with its own",
        arguments: [
            "00-ordinary", "03-same-name-b", "06-expired-in-grace", "07-expired-past-grace",
            "09-generation-2015",
        ])
    func eachGenerationVerifies(card: String) async throws {
        let gen = try #require(Fixtures.generationOf[card])
        let at = try Self.validTime(card)
        let auth = try Fixtures.cardData(card, "jpki/000A.der")
        let sign = try Fixtures.cardData(card, "jpki/0001.der")
        let all = try fixtureVerifier()
        for (der, purpose) in [(auth, CertificatePurpose.auth), (sign, .sign)] {
            let r = await all.verify(certificateDER: der, purpose: purpose, at: at)
            #expect(r.verdict, "\(card) \(purpose): \(r.checks)")
            #expect(r.check("crl")?.revocation == .good)
        }
        // The card's CA certificate (000B) is its own generation's root: a hint, never an anchor.
        #expect(try Fixtures.cardData(card, "jpki/000B.der") == Fixtures.data(Fixtures.pki("auth-root-\(gen).der")))
        // Its own generation alone suffices…
        let own = try fixtureVerifier(
            crls: [Fixtures.pki("auth-root-\(gen).crl.pem")], authAnchors: [Fixtures.pki("auth-root-\(gen).pem")])
        #expect(await own.verify(certificateDER: auth, purpose: .auth, at: at).verdict)
        // …and the other generations, with the very same DN, do not: the anchor is chosen by key.
        let others = Fixtures.generations.filter { $0 != gen }
        let wrong = try fixtureVerifier(
            crls: others.map { Fixtures.pki("auth-root-\($0).crl.pem") },
            authAnchors: others.map { Fixtures.pki("auth-root-\($0).pem") })
        let r = await wrong.verify(certificateDER: auth, purpose: .auth, at: at)
        #expect(!r.verdict)
        #expect(r.check("chain")?.outcome.isPassed == false)
        // Even when the card offers its own root as a hint.
        let hinted = await wrong.verify(
            certificateDER: auth, untrustedIntermediates: [try Fixtures.cardData(card, "jpki/000B.der")],
            purpose: .auth, at: at)
        #expect(failureCode(hinted, "chain") == "untrusted_anchor")
    }

    @Test("a certificate claiming generation 2019 (AKI, shared DN) but signed by the 2015 key fails")
    func forgedGeneration() async throws {
        let der = try Fixtures.data(Fixtures.pki("extra/forged-generation-auth.der"))
        let info = try CertificateInfo(der: der)
        let root2019 = try CertificateInfo(der: try Fixtures.data(Fixtures.pki("auth-root-2019.der")))
        let root2015 = try CertificateInfo(der: try Fixtures.data(Fixtures.pki("auth-root-2015.der")))
        #expect(info.issuer.der == root2019.subject.der && info.issuer.der == root2015.subject.der)
        let r = try await fixtureVerifier().verify(certificateDER: der, purpose: .auth, at: Fixtures.referenceDate)
        #expect(!r.verdict)
        #expect(failureCode(r, "chain") == "bad_signature", "\(r.checks)")
        // With only the key that really signed it configured, it still fails: its AKI names another key.
        let only2015 = try fixtureVerifier(
            crls: [Fixtures.pki("auth-root-2015.crl.pem")], authAnchors: [Fixtures.pki("auth-root-2015.pem")])
        #expect(await !only2015.verify(certificateDER: der, purpose: .auth, at: Fixtures.referenceDate).verdict)
    }

    @Test("the CRL is chosen by issuer key: same serial, other generation, other answer")
    func crlOfTheRightGeneration() async throws {
        // 2015's CRL first: a name-only choice would take it for every certificate.
        let crls = Fixtures.generations.map { Fixtures.pki("auth-root-\($0).crl.pem") }
        let v = try fixtureVerifier(crls: crls)
        let at = Fixtures.referenceDate
        // Serial 1001: good under 2023 (00-ordinary) and 2019, revoked under 2015.
        let ordinary = await v.verify(
            certificateDER: try Fixtures.cardData("00-ordinary", "jpki/000A.der"), purpose: .auth, at: at)
        #expect(ordinary.verdict, "\(ordinary.checks)")
        #expect(ordinary.check("crl")?.revocation == .good)
        let good2019 = await v.verify(
            certificateDER: try Fixtures.data(Fixtures.pki("extra/same-serial-2019-auth.der")), purpose: .auth, at: at)
        #expect(good2019.verdict, "\(good2019.checks)")
        let revoked2015 = await v.verify(
            certificateDER: try Fixtures.data(Fixtures.pki("extra/revoked-2015-auth.der")), purpose: .auth, at: at)
        #expect(failureCode(revoked2015, "crl") == "revoked")
        // Serial 1041: revoked under 2023 (04-revoked), good under 2015.
        let sameSerial = await v.verify(
            certificateDER: try Fixtures.data(Fixtures.pki("extra/same-serial-2015-auth.der")), purpose: .auth, at: at)
        #expect(sameSerial.verdict, "\(sameSerial.checks)")
        #expect(sameSerial.check("crl")?.revocation == .good)
        #expect(
            await failureCode(
                v.verify(certificateDER: try Fixtures.cardData("04-revoked", "jpki/000A.der"), purpose: .auth, at: at),
                "crl") == "revoked")
        // The 2015 CRL alone does not speak for a 2023 certificate at all (it lists serial 1001).
        let only2015 = try fixtureVerifier(crls: [Fixtures.pki("auth-root-2015.crl.pem")])
        let r = await only2015.verify(
            certificateDER: try Fixtures.cardData("00-ordinary", "jpki/000A.der"), purpose: .auth, at: at)
        guard case .unavailable = r.check("crl")?.revocation else {
            Issue.record("expected unavailable, got \(String(describing: r.check("crl")))")
            return
        }
    }

    @Test("the revocation entry (reason, date) comes from the issuer's own CRL, not a same-name one")
    func revokedEntryFromTheRightCRL() async throws {
        // A 2015-generation CRL that also lists serial 1041 (reason superseded, 2024-11-15),
        // loaded before the 2023 CRL that revokes 04-revoked (keyCompromise, 2024-10-01).
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let subject = "/C=JP/CN=SAMESERIAL2015AUTH0000A"
        let crl = try makeCRL(
            in: dir, name: "other-2015.crl.pem",
            index: "R\t300101000000Z\t241115000000Z,superseded\t1041\tunknown\t\(subject)\n", root: "auth-root-2015",
            lastUpdate: "20241201000000Z", nextUpdate: "20361231000000Z", withAKI: true)
        let v = try fixtureVerifier(crls: [crl, Fixtures.pki("auth-root-2023.crl.pem")])
        let r = await v.verify(
            certificateDER: try Fixtures.cardData("04-revoked", "jpki/000A.der"), purpose: .auth,
            at: Fixtures.referenceDate)
        #expect(
            r.check("crl")?.revocation
                == .revoked(reason: "keyCompromise", date: Date(timeIntervalSince1970: 1_727_740_800)))
        // And the 2015 certificate with that serial is revoked by that CRL, with its own entry.
        let s = await v.verify(
            certificateDER: try Fixtures.data(Fixtures.pki("extra/same-serial-2015-auth.der")), purpose: .auth,
            at: Fixtures.referenceDate)
        #expect(
            s.check("crl")?.revocation
                == .revoked(reason: "superseded", date: Date(timeIntervalSince1970: 1_731_628_800)))
    }
}
