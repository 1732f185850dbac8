import Foundation
import Testing

@testable import JPKIVerify

/// OCSP against `openssl ocsp` started by each test on a free 127.0.0.1 port.
@Suite("OCSP revocation")
struct OCSPTests {
    func verifier(_ url: URL, policy: RevocationPolicy = .hardFail, timeout: Double = 2) throws
        -> CertificateVerifier
    {
        try fixtureVerifier(
            crls: [],
            ocsp: OCSPConfiguration(
                responderURL: url, connectTimeout: timeout, readTimeout: timeout),
            policy: policy)
    }

    @Test(
        "good: 00-ordinary auth certificate, nonce echoed, response signed by the delegated responder"
    )
    func good() throws {
        let responder = try OCSPResponder()
        defer { responder.stop() }
        let r = try verifier(responder.url).verify(
            certificateDER: try Fixtures.cardData("00-ordinary", "jpki/000A.der"), purpose: .auth,
            at: Date())
        #expect(r.verdict, "\(r.checks)")
        #expect(r.check("ocsp")?.revocation == .good)
    }

    @Test("revoked by OCSP: 04-revoked, with reason keyCompromise")
    func revoked() throws {
        let responder = try OCSPResponder()
        defer { responder.stop() }
        let r = try verifier(responder.url, policy: .softFail).verify(
            certificateDER: try Fixtures.cardData("04-revoked", "jpki/000A.der"), purpose: .auth,
            at: Date())
        #expect(!r.verdict)
        #expect(failureCode(r, "ocsp") == "revoked")
        #expect(
            r.check("ocsp")?.revocation
                == .revoked(
                    reason: "keyCompromise", date: Date(timeIntervalSince1970: 1_727_740_800)))  // 2024-10-01
    }

    @Test(
        "cache honours nextUpdate: a second check is answered from the cache after the responder stops"
    )
    func cache() throws {
        let responder = try OCSPResponder(nmin: 5)
        let v = try verifier(responder.url)
        let der = try Fixtures.cardData("00-ordinary", "jpki/000A.der")
        let first = v.verify(certificateDER: der, purpose: .auth, at: Date())
        #expect(first.verdict)
        #expect(first.check("ocsp")?.detail == nil)
        responder.stop()
        let second = v.verify(certificateDER: der, purpose: .auth, at: Date())
        #expect(second.verdict)
        #expect(second.check("ocsp")?.detail == "cached response")
        v.clearOCSPCache()
        let third = v.verify(certificateDER: der, purpose: .auth, at: Date())
        #expect(!third.verdict)
        #expect(failureCode(third, "ocsp") == "revocation_unavailable")
    }

    @Test("responder down (closed port): hardFail → verdict false, softFail → warning")
    func responderDown() throws {
        let port = try freeTCPPort()
        let url = URL(string: "http://127.0.0.1:\(port)/")!
        let der = try Fixtures.cardData("00-ordinary", "jpki/000A.der")
        let hard = try verifier(url).verify(certificateDER: der, purpose: .auth, at: Date())
        #expect(!hard.verdict)
        #expect(failureCode(hard, "ocsp") == "revocation_unavailable")
        guard case .unavailable(let why) = hard.check("ocsp")?.revocation else {
            Issue.record("expected unavailable")
            return
        }
        #expect(why.contains("refused"))
        let soft = try verifier(url, policy: .softFail).verify(
            certificateDER: der, purpose: .auth, at: Date())
        #expect(soft.verdict, "\(soft.checks)")
        #expect(soft.warnings.map(\.id) == ["ocsp"])
    }

    @Test("a responder that never answers times out within the configured read timeout")
    func readTimeout() throws {
        let silent = try SilentListener()
        let url = URL(string: "http://127.0.0.1:\(silent.port)/")!
        let start = Date()
        let r = try verifier(url, timeout: 0.5).verify(
            certificateDER: try Fixtures.cardData("00-ordinary", "jpki/000A.der"), purpose: .auth,
            at: Date())
        let elapsed = Date().timeIntervalSince(start)
        #expect(!r.verdict)
        guard case .unavailable(let why) = r.check("ocsp")?.revocation else {
            Issue.record("expected unavailable")
            return
        }
        #expect(why.contains("timeout"))
        #expect(elapsed < 5)
    }

    @Test("a response signed by a responder not under the configured anchor is not trusted")
    func untrustedResponder() throws {
        let responder = try OCSPResponder()
        defer { responder.stop() }
        // Auth anchors = other root: the chain fails, so OCSP is not even asked…
        let v = try fixtureVerifier(
            crls: [], ocsp: OCSPConfiguration(responderURL: responder.url),
            authAnchors: [Fixtures.pki("extra/other-root.pem")])
        let r = v.verify(
            certificateDER: try Fixtures.cardData("00-ordinary", "jpki/000A.der"), purpose: .auth,
            at: Date())
        #expect(!r.verdict)
        #expect(r.check("ocsp")?.outcome.isPassed == false)
        // …and with both roots configured the responder (under auth-root) is trusted only for
        // auth-root certificates: other-ee's status comes from an issuer the responder does not serve.
        let both = try fixtureVerifier(
            crls: [], ocsp: OCSPConfiguration(responderURL: responder.url),
            authAnchors: [Fixtures.pki("auth-root-2023.pem"), Fixtures.pki("extra/other-root.pem")])
        let other = both.verify(
            certificateDER: try Fixtures.data(Fixtures.pki("extra/other-ee.der")), purpose: .auth,
            at: Date())
        #expect(other.check("chain")?.outcome == .passed)
        #expect(!other.verdict)
        #expect(other.check("ocsp")?.outcome.isPassed == false)
    }

    @Test(
        "unknown: a certificate missing from the responder's index (hardFail fails, softFail warns)"
    )
    func unknown() throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let full = try String(contentsOf: Fixtures.pki("ocsp-index.txt"), encoding: .utf8)
        let reduced =
            full.split(separator: "\n").filter { !$0.contains("\t1001\t") }.joined(separator: "\n")
            + "\n"
        #expect(reduced.count < full.count)
        let index = dir.appendingPathComponent("index.txt")
        try Data(reduced.utf8).write(to: index)
        let responder = try OCSPResponder(indexFile: index)
        defer { responder.stop() }
        let der = try Fixtures.cardData("00-ordinary", "jpki/000A.der")
        let hard = try verifier(responder.url).verify(
            certificateDER: der, purpose: .auth, at: Date())
        #expect(!hard.verdict)
        #expect(hard.check("ocsp")?.revocation == .unknown)
        #expect(failureCode(hard, "ocsp") == "revocation_unknown")
        let soft = try verifier(responder.url, policy: .softFail).verify(
            certificateDER: der, purpose: .auth, at: Date())
        #expect(soft.verdict)
        #expect(soft.warnings.map(\.id) == ["ocsp"])
    }

    @Test("HTTP response parsing rejects bad answers")
    func httpParsing() throws {
        let ok = Data(
            "HTTP/1.0 200 OK\r\nContent-Type: application/ocsp-response\r\nContent-Length: 3\r\n\r\nabcdef"
                .utf8)
        #expect(try HTTPPost.parseResponse(ok, maxBytes: 100) == Data("abc".utf8))
        let bad: [String] = [
            "HTTP/1.0 500 Internal\r\nContent-Length: 0\r\n\r\n",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
            "HTTP/1.0 200 OK\r\nContent-Length: 10\r\n\r\nabc",
            "garbage",
            "HTTP/1.0 200 OK\r\nContent-Length: 1000\r\n\r\n" + String(repeating: "x", count: 1000),
        ]
        for b in bad {
            #expect(throws: JPKIVerifyError.self) {
                try HTTPPost.parseResponse(Data(b.utf8), maxBytes: 100)
            }
        }
        #expect(throws: JPKIVerifyError.unsupportedURL("only http:// is supported")) {
            try HTTPPost.target(URL(string: "https://127.0.0.1/")!)
        }
    }
}
