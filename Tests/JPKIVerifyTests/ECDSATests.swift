import CardSimulator
import Foundation
import JPKI
import SmartCard
import Testing

@testable import JPKIVerify

/// The ECDSA stand-in (apdu-fixtures/README.md "ECDSA stand-in"): fixture 30-ecdsa-p384-standin
/// under the ecdsa-p384-standin roots, plus P-256 / P-521 / secp256k1 hierarchies made here.
@Suite("ECDSA verification and signing")
struct ECDSATests {
    static let card = "30-ecdsa-p384-standin"
    static let gen = "ecdsa-p384-standin"

    func ecVerifier(crls: Bool = true) throws -> CertificateVerifier {
        try fixtureVerifier(
            crls: crls
                ? [Fixtures.pki("auth-root-\(Self.gen).crl.pem"), Fixtures.pki("sign-root-\(Self.gen).crl.der")] : [],
            authAnchors: [Fixtures.pki("auth-root-\(Self.gen).pem")],
            signAnchors: [Fixtures.pki("sign-root-\(Self.gen).pem")])
    }

    /// Signs `message` with a PEM key through the openssl CLI (DER signature out).
    func opensslSign(key: URL, digest: String, _ message: Data) throws -> Data {
        try openssl(["dgst", "-\(digest)", "-sign", key.path], stdin: message)
    }

    @Test("the P-384 card's auth and sign certificates verify: EC root, ECDSA-SHA384 chain, EC-signed CRL")
    func chains() async throws {
        let v = try ecVerifier()
        let auth = await v.verify(
            certificateDER: try Fixtures.cardData(Self.card, "jpki/000A.der"),
            untrustedIntermediates: [try Fixtures.cardData(Self.card, "jpki/000B.der")], purpose: .auth,
            at: Fixtures.referenceDate)
        #expect(auth.verdict, "\(auth.checks)")
        #expect(auth.check("crl")?.outcome.isPassed == true)
        let sign = await v.verify(
            certificateDER: try Fixtures.cardData(Self.card, "jpki/0001.der"), purpose: .sign,
            at: Fixtures.referenceDate)
        #expect(sign.verdict, "\(sign.checks)")
        // 10-year certificates: still valid in 2034, expired in 2036.
        let late = await v.verify(
            certificateDER: try Fixtures.cardData(Self.card, "jpki/000A.der"), purpose: .auth,
            at: Date(timeIntervalSince1970: 2_050_000_000))  // 2034-12
        #expect(late.verdict, "\(late.checks)")
        #expect(
            failureCode(
                await v.verify(
                    certificateDER: try Fixtures.cardData(Self.card, "jpki/000A.der"), purpose: .auth,
                    at: Date(timeIntervalSince1970: 2_090_000_000)), "validity") == "expired")
    }

    @Test("an EC certificate in the EC root's CRL is revoked; the RSA roots do not anchor the EC card")
    func revokedAndForeign() async throws {
        let revoked = try await ecVerifier().verify(
            certificateDER: try Fixtures.data(Fixtures.pki("extra/revoked-\(Self.gen)-auth.der")), purpose: .auth,
            at: Fixtures.referenceDate)
        #expect(failureCode(revoked, "crl") == "revoked")
        let rsaOnly = try await fixtureVerifier().verify(
            certificateDER: try Fixtures.cardData(Self.card, "jpki/000A.der"), purpose: .auth,
            at: Fixtures.referenceDate)
        #expect(failureCode(rsaOnly, "chain") != nil)
        #expect(!rsaOnly.verdict)
        // And the other way round: an RSA card does not chain to the EC root of the same DN.
        let rsaCard = try await ecVerifier().verify(
            certificateDER: try Fixtures.cardData("00-ordinary", "jpki/000A.der"), purpose: .auth,
            at: Fixtures.referenceDate)
        #expect(failureCode(rsaCard, "chain") != nil)
    }

    @Test("challenge: ECDSA P-384 over SHA-384 in the card's r ‖ s form verifies; DER, SHA-256 or a flipped bit do not")
    func challengeP384() async throws {
        let cert = try Fixtures.cardData(Self.card, "jpki/000A.der")
        let key = Fixtures.card(Self.card, "jpki/auth-key.test.pem")
        let c = try CardChallenge()
        let der = try opensslSign(key: key, digest: "sha384", c.bytes)
        let raw = Data(try ECDSASignature.raw(fromDER: [UInt8](der), curve: .p384))
        #expect(raw.count == 96)
        let good = c.verify(signature: raw, authCertificateDER: cert)
        #expect(good.verdict)
        #expect(good.check("challengeSignature")?.detail == "ECDSA-P384-SHA384")
        #expect(!c.verify(signature: der, authCertificateDER: cert).verdict)  // one format: r ‖ s
        #expect(!c.verify(signature: tampered(raw, at: 10), authCertificateDER: cert).verdict)
        let sha256 = Data(
            try ECDSASignature.raw(
                fromDER: [UInt8](try opensslSign(key: key, digest: "sha256", c.bytes)), curve: .p384))
        #expect(!c.verify(signature: sha256, authCertificateDER: cert).verdict)
        // Against the chain too.
        let presence = await c.verifyPresence(
            signature: raw, authCertificateDER: cert, verifier: try ecVerifier(), at: Fixtures.referenceDate)
        #expect(presence.verdict, "\(presence.checks)")
        // The card's input for this key: the raw SHA-384 digest (48 bytes), not a DigestInfo.
        let scheme = try CardSignatureScheme(certificateDER: [UInt8](cert))
        #expect(scheme == .ecdsa(.p384, .sha384))
        #expect(c.cardInput(for: scheme) == Data(DigestAlgorithm.sha384.hash([UInt8](c.bytes))))
    }

    @Test("document signature with the P-384 sign key over a SHA-384 digest")
    func documentP384() async throws {
        let cert = try Fixtures.cardData(Self.card, "jpki/0001.der")
        let doc = Data("document".utf8)
        let der = try opensslSign(key: Fixtures.card(Self.card, "jpki/sign-key.test.pem"), digest: "sha384", doc)
        let raw = Data(try ECDSASignature.raw(fromDER: [UInt8](der), curve: .p384))
        let digest = DigestAlgorithm.sha384.hash(doc)
        let r = await DocumentSignature.verify(
            digest: digest, algorithm: .sha384, signature: raw, signCertificateDER: cert, verifier: try ecVerifier(),
            at: Fixtures.referenceDate)
        #expect(r.verdict, "\(r.checks)")
        #expect(
            !DocumentSignature.verify(
                digest: tampered(digest, at: 0), algorithm: .sha384, signature: raw, signCertificateDER: cert
            ).verdict)
    }

    /// A root + auth end-entity hierarchy on `curve` made here (openssl CLI), with a CRL signed
    /// by the root that revokes serial 0x77 (not the EE).
    func hierarchy(curve: String, in dir: URL) throws -> (root: URL, ee: Data, eeKey: URL, crl: URL) {
        let p = { (n: String) in dir.appendingPathComponent(n) }
        for k in ["root", "ee"] {
            try openssl([
                "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:\(curve)",
                "-pkeyopt", "ec_param_enc:named_curve", "-out", p("\(k).key").path,
            ])
        }
        let ext = """
            [req]
            distinguished_name = dn
            [dn]
            [root]
            basicConstraints = critical, CA:TRUE
            keyUsage = critical, keyCertSign, cRLSign
            subjectKeyIdentifier = hash
            [ee]
            keyUsage = critical, digitalSignature
            certificatePolicies = 1.2.392.200149.8.5.1.3.30
            subjectKeyIdentifier = hash
            authorityKeyIdentifier = keyid
            [ca]
            default_ca = d
            [d]
            database = \(dir.path)/index.txt
            crlnumber = \(dir.path)/crlnumber
            default_md = sha256
            [crlext]
            authorityKeyIdentifier = keyid
            """
        try Data(ext.utf8).write(to: p("x.cnf"))
        try openssl([
            "req", "-x509", "-new", "-key", p("root.key").path, "-subj", "/C=JP/O=test/CN=EC root \(curve)",
            "-days", "3650", "-config", p("x.cnf").path, "-extensions", "root", "-out", p("root.pem").path,
            "-set_serial", "1",
        ])
        try openssl([
            "req", "-new", "-key", p("ee.key").path, "-subj", "/C=JP/CN=ECEE", "-config", p("x.cnf").path,
            "-out", p("ee.csr").path,
        ])
        try openssl([
            "x509", "-req", "-in", p("ee.csr").path, "-CA", p("root.pem").path, "-CAkey", p("root.key").path,
            "-set_serial", "2", "-days", "365", "-extfile", p("x.cnf").path, "-extensions", "ee",
            "-outform", "DER", "-out", p("ee.der").path,
        ])
        try Data("R\t351231000000Z\t240101000000Z\t77\tunknown\t/CN=other\n".utf8).write(to: p("index.txt"))
        try Data("01\n".utf8).write(to: p("crlnumber"))
        try openssl([
            "ca", "-gencrl", "-config", p("x.cnf").path, "-keyfile", p("root.key").path, "-cert",
            p("root.pem").path, "-crldays", "30", "-crlexts", "crlext", "-out", p("root.crl").path,
        ])
        return (p("root.pem"), try Data(contentsOf: p("ee.der")), p("ee.key"), p("root.crl"))
    }

    @Test("P-256: chain with an EC CRL, challenge signed over SHA-256")
    func p256() async throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let h = try hierarchy(curve: "P-256", in: dir)
        let v = try fixtureVerifier(crls: [h.crl], authAnchors: [h.root])
        let r = await v.verify(certificateDER: h.ee, purpose: .auth)
        #expect(r.verdict, "\(r.checks)")
        let c = try CardChallenge()
        let raw = Data(
            try ECDSASignature.raw(
                fromDER: [UInt8](try opensslSign(key: h.eeKey, digest: "sha256", c.bytes)), curve: .p256))
        #expect(raw.count == 64)
        let s = c.verify(signature: raw, authCertificateDER: h.ee)
        #expect(s.verdict)
        #expect(s.check("challengeSignature")?.detail == "ECDSA-P256-SHA256")
    }

    @Test("other curves are refused with a stable code (chain and signature)", arguments: ["P-521", "secp256k1"])
    func otherCurves(curve: String) async throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let h = try hierarchy(curve: curve, in: dir)
        let v = try fixtureVerifier(crls: [h.crl], authAnchors: [h.root])
        let r = await v.verify(certificateDER: h.ee, purpose: .auth)
        #expect(failureCode(r, "chain") == "unsupported_curve")
        #expect(!r.verdict)
        let c = try CardChallenge()
        let s = c.verify(signature: Data(repeating: 1, count: 132), authCertificateDER: h.ee)
        #expect(failureCode(s, "challengeSignature") == "unsupported_curve")
        #expect(throws: JPKIError.self) { try CardSignatureScheme(certificateDER: [UInt8](h.ee)) }
        do {
            _ = try CardSignatureScheme(certificateDER: [UInt8](h.ee))
        } catch {
            #expect(error.code == "unsupported_curve")
        }
    }

    // MARK: The simulated card and the card library's signing path

    func simCard(_ name: String) throws -> MyNumberCard { try SimulatorTests().card(name) }

    @Test("the simulated P-384 card signs a challenge (message-level primitive): r ‖ s of 96 bytes that verifies")
    func simulatorP384() async throws {
        let c = try CardChallenge()
        let signed = try simCard(Self.card).signWithAuthKeyReadingCertificate(
            message: [UInt8](c.bytes), pin: PIN("1234"))
        #expect(signed.value.scheme == .ecdsa(.p384, .sha384))
        #expect(signed.value.signature.count == 96)
        let report = await c.verifyPresence(
            signature: Data(signed.value.signature), authCertificateDER: Data(signed.value.certificate),
            verifier: try ecVerifier(), at: Fixtures.referenceDate)
        #expect(report.verdict, "\(report.checks)")
        // The caller-checked form (jpkid's path) with the bound certificate.
        let bound = [UInt8](try Fixtures.cardData(Self.card, "jpki/000A.der"))
        let c2 = try CardChallenge()
        let (sig, scheme) = try simCard(Self.card).signWithAuthKeyCheckedByCaller(
            message: [UInt8](c2.bytes), pin: PIN("1234"), expecting: bound)
        #expect(scheme.name == "ECDSA-P384-SHA384")
        #expect(c2.verify(signature: Data(sig), authCertificateDER: Data(bound)).verdict)
        // Sign key: the certificate is read after the sign password.
        let doc: [UInt8] = Array("document".utf8)
        let s = try simCard(Self.card).sign(.sign, message: doc, pin: PIN("ABC123"))
        let r = await DocumentSignature.verify(
            digest: DigestAlgorithm.sha384.hash(Data(doc)), algorithm: .sha384, signature: Data(s.value.signature),
            signCertificateDER: Data(s.value.certificate))
        #expect(r.verdict, "\(r.checks)")
    }

    @Test("the same primitives keep RSA as it was: DigestInfo(SHA-256), PKCS#1 v1.5")
    func simulatorRSA() async throws {
        let c = try CardChallenge()
        let signed = try simCard("00-ordinary").signWithAuthKeyReadingCertificate(
            message: [UInt8](c.bytes), pin: PIN("1234"))
        #expect(signed.value.scheme == .rsaPKCS1v15(.sha256))
        #expect(signed.value.signature.count == 256)
        #expect(
            c.verify(signature: Data(signed.value.signature), authCertificateDER: Data(signed.value.certificate))
                .verdict)
        #expect(c.cardInput(for: .rsaPKCS1v15(.sha256)) == c.digestInfo)
    }

    @Test("the P-384 card refuses a DigestInfo (51 bytes) with 6700 and signs only raw digests")
    func simulatorRefusesDigestInfo() async throws {
        let c = try CardChallenge()
        let card = try simCard(Self.card)
        #expect(throws: JPKIError.wrongData(StatusWord(0x6700))) {
            _ = try card.signWithAuthKey(digestInfo: [UInt8](c.digestInfo), pin: PIN("1234"))
        }
    }
}
