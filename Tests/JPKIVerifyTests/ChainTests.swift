import Foundation
import HTTPTransport
import Testing

@testable import JPKIVerify

/// Verifier over the fixture roots and CRLs (every generation unless told otherwise).
func fixtureVerifier(
    crls: [URL] = Fixtures.authCRLs + Fixtures.signCRLs,
    ocsp: OCSPConfiguration? = nil, policy: RevocationPolicy = .hardFail,
    authAnchors: [URL] = Fixtures.authAnchors,
    signAnchors: [URL] = Fixtures.signAnchors, requester: (any HTTPRequester)? = nil
) throws -> CertificateVerifier {
    try CertificateVerifier(
        trust: TrustConfiguration(authAnchors: authAnchors, signAnchors: signAnchors),
        revocation: RevocationConfiguration(crlFiles: crls, ocsp: ocsp, policy: policy),
        requester: requester ?? (ocsp == nil ? nil : AsyncHTTPRequester()))
}

func failureCode(_ report: VerificationReport, _ id: String) -> String? {
    if case .failed(let code, _) = report.check(id)?.outcome { return code }
    return nil
}

@Suite("Chain, profile and CRL checks")
struct ChainTests {
    @Test(
        "good path: every card's auth and sign certificate verifies (except revoked auth)",
        arguments: Fixtures.cards)
    func goodPath(card: String) async throws {
        let v = try fixtureVerifier()
        let auth = await v.verify(
            certificateDER: try Fixtures.cardData(card, "jpki/000A.der"),
            untrustedIntermediates: [try Fixtures.cardData(card, "jpki/000B.der")], purpose: .auth,
            at: Fixtures.midValidity)
        let sign = await v.verify(
            certificateDER: try Fixtures.cardData(card, "jpki/0001.der"),
            untrustedIntermediates: [try Fixtures.cardData(card, "jpki/0002.der")], purpose: .sign,
            at: Fixtures.midValidity)
        #expect(sign.verdict, "\(sign.checks)")
        if card == "04-revoked" {
            #expect(!auth.verdict)
            #expect(failureCode(auth, "crl") == "revoked")
        } else {
            #expect(auth.verdict, "\(auth.checks)")
            for id in [
                "parse", "chain", "validity", "keyUsage", "basicConstraints", "policy", "crl",
            ] {
                #expect(auth.check(id)?.outcome == .passed, "\(id)")
            }
            #expect(auth.check("crl")?.revocation == .good)
        }
    }

    @Test("good path also without the card's CA hint (anchor from configuration only)")
    func noHint() async throws {
        let r = try await fixtureVerifier().verify(
            certificateDER: try Fixtures.cardData("00-ordinary", "jpki/000A.der"), purpose: .auth,
            at: Fixtures.midValidity)
        #expect(r.verdict)
    }

    @Test("expired certificate fails validity")
    func expired() async throws {
        let r = try await fixtureVerifier().verify(
            certificateDER: try Fixtures.data(Fixtures.pki("extra/expired-auth.der")),
            purpose: .auth,
            at: Fixtures.midValidity)
        #expect(!r.verdict)
        #expect(failureCode(r, "validity") == "expired")
        #expect(r.check("chain")?.outcome == .passed)
    }

    @Test("not-yet-valid certificate fails validity")
    func notYetValid() async throws {
        let r = try await fixtureVerifier().verify(
            certificateDER: try Fixtures.data(Fixtures.pki("extra/not-yet-valid-auth.der")),
            purpose: .auth, at: Fixtures.midValidity)
        #expect(!r.verdict)
        #expect(failureCode(r, "validity") == "not_yet_valid")
    }

    @Test(
        "the verification time is honoured: the ordinary card is expired in 2036 and not yet valid in 2024"
    )
    func timeParameter() async throws {
        let v = try fixtureVerifier(crls: [])
        let der = try Fixtures.cardData("00-ordinary", "jpki/000A.der")
        let late = await v.verify(
            certificateDER: der, purpose: .auth, at: Date(timeIntervalSince1970: 2_100_000_000))
        #expect(failureCode(late, "validity") == "expired")
        let early = await v.verify(
            certificateDER: der, purpose: .auth, at: Date(timeIntervalSince1970: 1_700_000_000))
        #expect(failureCode(early, "validity") == "not_yet_valid")
    }

    @Test("wrong purpose: the sign certificate presented as auth fails chain and policy")
    func wrongPurpose() async throws {
        let r = try await fixtureVerifier().verify(
            certificateDER: try Fixtures.cardData("00-ordinary", "jpki/0001.der"),
            untrustedIntermediates: [try Fixtures.cardData("00-ordinary", "jpki/0002.der")],
            purpose: .auth, at: Fixtures.midValidity)
        #expect(!r.verdict)
        #expect(failureCode(r, "policy") == "wrong_policy")
        #expect(failureCode(r, "chain") == "untrusted_anchor")
    }

    @Test("auth certificate presented as sign fails keyUsage (no nonRepudiation) and policy")
    func authAsSign() async throws {
        let r = try await fixtureVerifier().verify(
            certificateDER: try Fixtures.cardData("00-ordinary", "jpki/000A.der"), purpose: .sign,
            at: Fixtures.midValidity)
        #expect(!r.verdict)
        #expect(failureCode(r, "keyUsage") == "wrong_key_usage")
        #expect(failureCode(r, "policy") == "wrong_policy")
    }

    @Test("wrong keyUsage and wrong policy certificates fail their checks")
    func wrongKeyUsageAndPolicy() async throws {
        let v = try fixtureVerifier()
        let ku = await v.verify(
            certificateDER: try Fixtures.data(Fixtures.pki("extra/wrong-keyusage-auth.der")),
            purpose: .auth, at: Fixtures.midValidity)
        #expect(!ku.verdict)
        #expect(failureCode(ku, "keyUsage") == "wrong_key_usage")
        let pol = await v.verify(
            certificateDER: try Fixtures.data(Fixtures.pki("extra/wrong-policy-auth.der")),
            purpose: .auth, at: Fixtures.midValidity)
        #expect(!pol.verdict)
        #expect(failureCode(pol, "policy") == "wrong_policy")
        #expect(pol.check("chain")?.outcome == .passed)
    }

    @Test(
        "the expected policy is configurable (test-card sign policy accepted only when configured)")
    func configurablePolicy() async throws {
        let trust = TrustConfiguration(
            authAnchors: [Fixtures.pki("auth-root-2023.pem")],
            signAnchors: [Fixtures.pki("sign-root-2023.pem")],
            authPolicyOIDs: ["1.2.392.200149.8.5.1.99.99"])
        let v = try CertificateVerifier(
            trust: trust,
            revocation: RevocationConfiguration(crlFiles: [Fixtures.pki("auth-root-2023.crl.pem")]))
        let pol = await v.verify(
            certificateDER: try Fixtures.data(Fixtures.pki("extra/wrong-policy-auth.der")),
            purpose: .auth, at: Fixtures.midValidity)
        #expect(pol.verdict, "\(pol.checks)")
        let normal = await v.verify(
            certificateDER: try Fixtures.cardData("00-ordinary", "jpki/000A.der"), purpose: .auth,
            at: Fixtures.midValidity)
        #expect(failureCode(normal, "policy") == "wrong_policy")
    }

    @Test("wrong root: an EE from an untrusted root fails, even when the card offers that root")
    func wrongRoot() async throws {
        let v = try fixtureVerifier(crls: [])
        let ee = try Fixtures.data(Fixtures.pki("extra/other-ee.der"))
        let otherRoot = try Fixtures.data(Fixtures.pki("extra/other-root.der"))
        let withHint = await v.verify(
            certificateDER: ee, untrustedIntermediates: [otherRoot], purpose: .auth,
            at: Fixtures.midValidity)
        #expect(!withHint.verdict)
        #expect(failureCode(withHint, "chain") == "untrusted_anchor")
        let without = await v.verify(certificateDER: ee, purpose: .auth, at: Fixtures.midValidity)
        #expect(failureCode(without, "chain") == "untrusted_anchor")
        // The same EE verifies when its root is configured: the failure above is about trust.
        let trusting = try fixtureVerifier(
            crls: [], authAnchors: [Fixtures.pki("extra/other-root.pem")])
        let r = await trusting.verify(certificateDER: ee, purpose: .auth, at: Fixtures.midValidity)
        #expect(r.check("chain")?.outcome == .passed)
    }

    @Test("anchors loaded from a directory work; the card's auth CA is never an anchor")
    func anchorDirectory() async throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.copyItem(
            at: Fixtures.pki("auth-root-2023.pem"), to: dir.appendingPathComponent("a.pem"))
        let v = try CertificateVerifier(
            trust: TrustConfiguration(authAnchors: [dir], signAnchors: []),
            revocation: RevocationConfiguration(crlFiles: [Fixtures.pki("auth-root-2023.crl.der")]))
        let ok = await v.verify(
            certificateDER: try Fixtures.cardData("00-ordinary", "jpki/000A.der"), purpose: .auth,
            at: Fixtures.midValidity)
        #expect(ok.verdict)
        // No sign anchors configured: the sign certificate cannot pass even with the card's sign CA.
        let sign = await v.verify(
            certificateDER: try Fixtures.cardData("00-ordinary", "jpki/0001.der"),
            untrustedIntermediates: [try Fixtures.cardData("00-ordinary", "jpki/0002.der")],
            purpose: .sign, at: Fixtures.midValidity)
        #expect(failureCode(sign, "chain") == "no_trust_anchors")
        #expect(!sign.verdict)
    }

    @Test("tampered certificate: a flipped byte in the signature or the TBS fails")
    func tampered() async throws {
        let v = try fixtureVerifier()
        let der = try Fixtures.cardData("00-ordinary", "jpki/000A.der")
        let sig = await v.verify(
            certificateDER: JPKIVerifyTests.tampered(der, at: der.count - 10), purpose: .auth,
            at: Fixtures.midValidity)
        #expect(!sig.verdict)
        #expect(failureCode(sig, "chain") == "bad_signature")
        // Inside the subject CN (ASCII), so the DER stays well-formed.
        let cnOffset = try #require(offset(of: Array("BE4825E9AGCIEG13220000A".utf8), in: der))
        let tbs = await v.verify(
            certificateDER: JPKIVerifyTests.tampered(der, at: cnOffset + 3), purpose: .auth,
            at: Fixtures.midValidity)
        #expect(tbs.check("parse")?.outcome == .passed)
        #expect(!tbs.verdict)
        #expect(failureCode(tbs, "chain") == "bad_signature")
        let broken = await v.verify(
            certificateDER: der.prefix(100), purpose: .auth, at: Fixtures.midValidity)
        #expect(failureCode(broken, "parse") == "malformed_certificate")
        #expect(!broken.verdict)
        #expect(broken.check("chain")?.outcome.isPassed == false)
    }

    @Test("revoked by CRL: 04-revoked auth certificate, with reason and date")
    func revokedByCRL() async throws {
        let r = try await fixtureVerifier().verify(
            certificateDER: try Fixtures.cardData("04-revoked", "jpki/000A.der"), purpose: .auth,
            at: Fixtures.midValidity)
        #expect(!r.verdict)
        #expect(failureCode(r, "crl") == "revoked")
        #expect(
            r.check("crl")?.revocation
                == .revoked(
                    reason: "keyCompromise", date: Date(timeIntervalSince1970: 1_727_740_800)))  // 2024-10-01
        // Soft-fail does not excuse a revoked certificate.
        let soft = try await fixtureVerifier(policy: .softFail).verify(
            certificateDER: try Fixtures.cardData("04-revoked", "jpki/000A.der"), purpose: .auth,
            at: Fixtures.midValidity)
        #expect(!soft.verdict)
    }

    @Test("stale CRL (nextUpdate passed) gives unavailable: hardFail fails, softFail warns")
    func staleCRL() async throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let crl = try makeCRL(
            in: dir, name: "stale.crl.pem", root: "auth-root-2023", lastUpdate: "20250101000000Z",
            nextUpdate: "20250301000000Z")
        let der = try Fixtures.cardData("00-ordinary", "jpki/000A.der")
        let hard = try await fixtureVerifier(crls: [crl]).verify(
            certificateDER: der, purpose: .auth, at: Fixtures.midValidity)
        #expect(!hard.verdict)
        #expect(failureCode(hard, "crl") == "revocation_unavailable")
        guard case .unavailable = hard.check("crl")?.revocation else {
            Issue.record("expected unavailable, got \(String(describing: hard.check("crl")))")
            return
        }
        let soft = try await fixtureVerifier(crls: [crl], policy: .softFail).verify(
            certificateDER: der, purpose: .auth, at: Fixtures.midValidity)
        #expect(soft.verdict, "\(soft.checks)")
        #expect(soft.warnings.map(\.id) == ["crl"])
    }

    @Test("a CRL with a broken signature does not count as good, even for a revoked certificate")
    func forgedCRL() async throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let good = try Fixtures.data(Fixtures.pki("auth-root-2023.crl.der"))
        let crl = dir.appendingPathComponent("forged.crl.der")
        try JPKIVerifyTests.tampered(good, at: good.count - 5).write(to: crl)
        for card in ["00-ordinary", "04-revoked"] {
            let r = try await fixtureVerifier(crls: [crl]).verify(
                certificateDER: try Fixtures.cardData(card, "jpki/000A.der"), purpose: .auth,
                at: Fixtures.midValidity)
            #expect(!r.verdict)
            #expect(failureCode(r, "crl") == "revocation_unavailable")
        }
    }

    @Test("no revocation source: hardFail fails, softFail warns")
    func noRevocationSource() async throws {
        let der = try Fixtures.cardData("00-ordinary", "jpki/000A.der")
        let hard = try await fixtureVerifier(crls: []).verify(
            certificateDER: der, purpose: .auth, at: Fixtures.midValidity)
        #expect(!hard.verdict)
        #expect(failureCode(hard, "revocation") == "revocation_unavailable")
        let soft = try await fixtureVerifier(crls: [], policy: .softFail).verify(
            certificateDER: der, purpose: .auth, at: Fixtures.midValidity)
        #expect(soft.verdict)
        #expect(soft.warnings.map(\.id) == ["revocation"])
    }

    @Test("configuration errors are typed")
    func configurationErrors() throws {
        #expect(throws: JPKIVerifyError.fileUnreadable(path: "/nonexistent/anchor.pem")) {
            try CertificateVerifier(
                trust: TrustConfiguration(
                    authAnchors: [URL(fileURLWithPath: "/nonexistent/anchor.pem")], signAnchors: []),
                revocation: RevocationConfiguration())
        }
        #expect(throws: JPKIVerifyError.noTrustAnchors(purpose: "any")) {
            try CertificateVerifier(
                trust: TrustConfiguration(authAnchors: [], signAnchors: []),
                revocation: RevocationConfiguration())
        }
        do {
            _ = try CertificateVerifier(
                trust: TrustConfiguration(
                    authAnchors: [Fixtures.pki("auth-root-2023.pem")], signAnchors: []),
                revocation: RevocationConfiguration(crlFiles: [Fixtures.pki("auth-root-2023.pem")]))
            Issue.record("a certificate is not a CRL")
        } catch {
            #expect(error.code == "malformed_crl")
        }
    }
}
