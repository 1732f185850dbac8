import Foundation
import HTTPTransport
import Synchronization
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
    func good() async throws {
        let responder = try OCSPResponder()
        defer { responder.stop() }
        let r = try await verifier(responder.url).verify(
            certificateDER: try Fixtures.cardData("00-ordinary", "jpki/000A.der"), purpose: .auth,
            at: Date())
        #expect(r.verdict, "\(r.checks)")
        #expect(r.check("ocsp")?.revocation == .good)
    }

    @Test("revoked by OCSP: 04-revoked, with reason keyCompromise")
    func revoked() async throws {
        let responder = try OCSPResponder()
        defer { responder.stop() }
        let r = try await verifier(responder.url, policy: .softFail).verify(
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
    func cache() async throws {
        let responder = try OCSPResponder(nmin: 5)
        let v = try verifier(responder.url)
        let der = try Fixtures.cardData("00-ordinary", "jpki/000A.der")
        let first = await v.verify(certificateDER: der, purpose: .auth, at: Date())
        #expect(first.verdict)
        #expect(first.check("ocsp")?.detail == nil)
        responder.stop()
        let second = await v.verify(certificateDER: der, purpose: .auth, at: Date())
        #expect(second.verdict)
        #expect(second.check("ocsp")?.detail == "cached response")
        v.clearOCSPCache()
        let third = await v.verify(certificateDER: der, purpose: .auth, at: Date())
        #expect(!third.verdict)
        #expect(failureCode(third, "ocsp") == "revocation_unavailable")
    }

    @Test("responder down (closed port): hardFail → verdict false, softFail → warning")
    func responderDown() async throws {
        let port = try freeTCPPort()
        let url = URL(string: "http://127.0.0.1:\(port)/")!
        let der = try Fixtures.cardData("00-ordinary", "jpki/000A.der")
        let hard = try await verifier(url).verify(certificateDER: der, purpose: .auth, at: Date())
        #expect(!hard.verdict)
        #expect(failureCode(hard, "ocsp") == "revocation_unavailable")
        guard case .unavailable(let why) = hard.check("ocsp")?.revocation else {
            Issue.record("expected unavailable")
            return
        }
        #expect(why.contains("refused"))
        let soft = try await verifier(url, policy: .softFail).verify(
            certificateDER: der, purpose: .auth, at: Date())
        #expect(soft.verdict, "\(soft.checks)")
        #expect(soft.warnings.map(\.id) == ["ocsp"])
    }

    @Test("a responder that never answers times out within the configured read timeout")
    func readTimeout() async throws {
        let silent = try SilentListener()
        let url = URL(string: "http://127.0.0.1:\(silent.port)/")!
        let start = Date()
        let r = try await verifier(url, timeout: 0.5).verify(
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
    func untrustedResponder() async throws {
        let responder = try OCSPResponder()
        defer { responder.stop() }
        // Auth anchors = other root: the chain fails, so OCSP is not even asked…
        let v = try fixtureVerifier(
            crls: [], ocsp: OCSPConfiguration(responderURL: responder.url),
            authAnchors: [Fixtures.pki("extra/other-root.pem")])
        let r = await v.verify(
            certificateDER: try Fixtures.cardData("00-ordinary", "jpki/000A.der"), purpose: .auth,
            at: Date())
        #expect(!r.verdict)
        #expect(r.check("ocsp")?.outcome.isPassed == false)
        // …and with both roots configured the responder (under auth-root) is trusted only for
        // auth-root certificates: other-ee's status comes from an issuer the responder does not serve.
        let both = try fixtureVerifier(
            crls: [], ocsp: OCSPConfiguration(responderURL: responder.url),
            authAnchors: [Fixtures.pki("auth-root-2023.pem"), Fixtures.pki("extra/other-root.pem")])
        let other = await both.verify(
            certificateDER: try Fixtures.data(Fixtures.pki("extra/other-ee.der")), purpose: .auth,
            at: Date())
        #expect(other.check("chain")?.outcome == .passed)
        #expect(!other.verdict)
        #expect(other.check("ocsp")?.outcome.isPassed == false)
    }

    @Test(
        "unknown: a certificate missing from the responder's index (hardFail fails, softFail warns)"
    )
    func unknown() async throws {
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
        let hard = try await verifier(responder.url).verify(
            certificateDER: der, purpose: .auth, at: Date())
        #expect(!hard.verdict)
        #expect(hard.check("ocsp")?.revocation == .unknown)
        #expect(failureCode(hard, "ocsp") == "revocation_unknown")
        let soft = try await verifier(responder.url, policy: .softFail).verify(
            certificateDER: der, purpose: .auth, at: Date())
        #expect(soft.verdict)
        #expect(soft.warnings.map(\.id) == ["ocsp"])
    }

    @Test("HTTP answers: the body of a 200 is taken by Content-Length; bad answers are rejected")
    func httpParsing() async throws {
        let exchange = { (raw: String) async throws(JPKIVerifyError) -> Data in
            let server = try? CannedHTTPServer(answer: Array(raw.utf8))
            guard let server else { throw .transport("no test server") }
            defer { server.stop() }
            return try await CertificateVerifier.ocspExchange(
                AsyncHTTPRequester(),
                HTTPPostRequest(
                    url: server.url, contentType: "application/ocsp-request", accept: "application/ocsp-response",
                    body: Data("req".utf8), connectTimeout: 2, readTimeout: 2, maxBytes: 100))
        }
        let ok = "HTTP/1.0 200 OK\r\nContent-Type: application/ocsp-response\r\nContent-Length: 3\r\n\r\nabcdef"
        #expect(try await exchange(ok) == Data("abc".utf8))
        let bad: [String] = [
            "HTTP/1.0 500 Internal\r\nContent-Length: 0\r\n\r\n",
            "HTTP/1.0 200 OK\r\nContent-Length: 10\r\n\r\nabc",
            "garbage",
            "HTTP/1.0 200 OK\r\nContent-Length: 1000\r\n\r\n" + String(repeating: "x", count: 1000),
            // No Content-Length: the body runs to the connection's end, and is too large.
            "HTTP/1.0 200 OK\r\n\r\n" + String(repeating: "x", count: 1000),
        ]
        for b in bad {
            await #expect(throws: JPKIVerifyError.self, "\(b.prefix(30))") { _ = try await exchange(b) }
        }
        // Chunked bodies are HTTP/1.1 and accepted (async-http-client decodes them).
        let chunked = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
        #expect(try await exchange(chunked) == Data("abc".utf8))
        await #expect(throws: JPKIVerifyError.unsupportedURL("only http:// is supported")) {
            _ = try await CertificateVerifier.ocspExchange(
                FakeRequester { _ in HTTPAnswer(status: 200, body: Data()) },
                HTTPPostRequest(
                    url: URL(string: "https://127.0.0.1/")!, contentType: "", accept: "", body: Data(),
                    connectTimeout: 1, readTimeout: 1, maxBytes: 1))
        }
    }

    @Test("the verifier asks the injected requester: what it sends, and each failure's outcome")
    func injectedRequester() async throws {
        let der = try Fixtures.cardData("00-ordinary", "jpki/000A.der")
        let config = OCSPConfiguration(
            responderURL: URL(string: "http://ocsp.invalid:8080/r")!, connectTimeout: 1.5, readTimeout: 2.5,
            maxResponseBytes: 777)
        let seen = Mutex<[HTTPPostRequest]>([])
        for failure: HTTPRequestFailure in [.timeout("read timeout"), .unreachable("connection refused")] {
            let v = try fixtureVerifier(
                crls: [], ocsp: config,
                requester: FakeRequester { r throws(HTTPRequestFailure) in
                    seen.withLock { $0.append(r) }
                    throw failure
                })
            let r = await v.verify(certificateDER: der, purpose: .auth, at: Date())
            #expect(failureCode(r, "ocsp") == "revocation_unavailable")
            guard case .unavailable(let why) = r.check("ocsp")?.revocation else {
                Issue.record("expected unavailable")
                continue
            }
            #expect(why == "responder unreachable: transport: \(failure.message)")
        }
        let requests = seen.withLock { $0 }
        #expect(requests.count == 2)
        let first = try #require(requests.first)
        #expect(first.url == config.responderURL)
        #expect(first.contentType == "application/ocsp-request")
        #expect(first.accept == "application/ocsp-response")
        #expect(first.connectTimeout == 1.5 && first.readTimeout == 2.5 && first.maxBytes == 777)
        #expect(first.body.first == 0x30)  // a DER OCSPRequest
        // A 404 is not an OCSP answer.
        let notFound = try fixtureVerifier(
            crls: [], ocsp: config, requester: FakeRequester { _ in HTTPAnswer(status: 404, body: Data()) })
        let r = await notFound.verify(certificateDER: der, purpose: .auth, at: Date())
        #expect(r.check("ocsp")?.revocation == .unavailable("responder unreachable: transport: HTTP status 404"))
        // OCSP without a requester is a configuration error, not a check that never runs.
        #expect(throws: JPKIVerifyError.invalidArgument("OCSP is configured but no HTTP requester was given")) {
            try CertificateVerifier(
                trust: TrustConfiguration(authAnchors: Fixtures.authAnchors, signAnchors: Fixtures.signAnchors),
                revocation: RevocationConfiguration(crlFiles: [], ocsp: config, policy: .hardFail))
        }
    }
}

/// An ``HTTPRequester`` answering from a closure.
struct FakeRequester: HTTPRequester {
    let answer: @Sendable (HTTPPostRequest) throws(HTTPRequestFailure) -> HTTPAnswer
    init(_ answer: @escaping @Sendable (HTTPPostRequest) throws(HTTPRequestFailure) -> HTTPAnswer) {
        self.answer = answer
    }
    func post(_ request: HTTPPostRequest) async throws(HTTPRequestFailure) -> HTTPAnswer { try answer(request) }
}
