import Eligibility
import Foundation
import JPKIVerify
import Synchronization
import TestBench
import Testing

/// A gateway stand-in: Python's http.server on 127.0.0.1 (an ephemeral port), answering by serial.
final class FakeGateway: @unchecked Sendable {
    static let script = #"""
        import http.server, json, sys, time
        RECORD = {"insurerNumber": "06139991", "symbol": "試験記号", "number": "1001", "branch": "00",
                  "name": "山田　太郎", "nameKana": "ヤマダ　タロウ", "birthDate": "1980-02-17",
                  "copaymentRatio": 30, "validFrom": "2024-04-01", "validTo": None, "status": "active"}
        class H(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a): pass
            def answer(self, code, body):
                data = body.encode() if isinstance(body, str) else json.dumps(body, ensure_ascii=False).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            def do_POST(self):
                if self.path != "/v1/lookup" or self.headers.get("Content-Type") != "application/json":
                    return self.answer(400, {"error": "bad request"})
                req = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if set(req) != {"issuerKeyID", "issuer", "serial"} or req["issuer"] != "O=jpki-linux fixture,C=JP" or req["issuerKeyID"] != "0A0B0C0D":
                    return self.answer(400, {"error": "bad body"})
                s = req["serial"]
                if s == "1001": return self.answer(200, {"record": RECORD})
                if s == "1011": return self.answer(200, {"record": None})
                if s == "1021": return self.answer(404, {"error": "not found"})
                if s == "1031": return self.answer(500, {"error": "boom"})
                if s == "1041": return self.answer(200, "not json")
                if s == "1071": return self.answer(409, {"error": {"code": "card_relink_required"}})
                if s == "1051": return self.answer(200, {"record": dict(RECORD, copaymentRatio=25)})
                if s == "1061":
                    time.sleep(3)
                    return self.answer(200, {"record": RECORD})
                return self.answer(400, {"error": "unexpected"})
        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        print(srv.server_address[1], flush=True)
        srv.serve_forever()
        """#

    let pid: pid_t
    let port: Int

    init() throws {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw TestFailure("pipe failed") }
        let python = ["/usr/bin/python3", "/usr/local/bin/python3"].first {
            FileManager.default.isExecutableFile(atPath: $0)
        }
        guard let python else {
            close(fds[0])
            close(fds[1])
            throw TestFailure("python3 not found (scripts/install-deps installs it)")
        }
        do {
            pid = try spawnProgram(
                python, ["-c", Self.script], stdinPath: "/dev/null", stdoutFD: fds[1], stdoutPath: nil,
                stderrPath: "/dev/null")
        } catch {
            close(fds[0])
            close(fds[1])
            throw error
        }
        close(fds[1])
        defer { close(fds[0]) }
        var line: [UInt8] = []
        var c: UInt8 = 0
        while read(fds[0], &c, 1) == 1, c != 0x0A { line.append(c) }
        guard let p = Int(String(decoding: line, as: UTF8.self)) else {
            kill(pid, SIGKILL)
            _ = waitForExit(pid)
            throw TestFailure("the fake gateway did not start")
        }
        port = p
    }

    func stop() {
        kill(pid, SIGTERM)
        _ = waitForExit(pid)
    }
}

@Suite("HTTP gateway provider", .serialized)
struct HTTPProviderTests {
    func key(_ serial: String) throws(EligibilityError) -> CardKey {
        try CardKey(issuerKeyID: "0a:0b:0c:0d", serial: serial, issuer: "O=jpki-linux fixture,C=JP")
    }

    @Test func contract() async throws {
        let gateway = try FakeGateway()
        defer { gateway.stop() }
        var config = EligibilityConfiguration()
        config.provider = .http
        config.httpURL = "http://127.0.0.1:\(gateway.port)/v1/lookup"
        let provider = try await config.makeProvider()
        let found = try await provider.record(for: try key("1001"))
        #expect(found == sampleRecord())
        #expect(try await provider.check(try key("1001"), on: date("2026-11-23")).status == .eligible)
        #expect(try await provider.record(for: try key("1011")) == nil)
        #expect(try await provider.record(for: try key("1021")) == nil)
        for serial in ["1031", "1041", "1051"] {
            do {
                _ = try await provider.record(for: try key(serial))
                Issue.record("serial \(serial) should fail")
            } catch {
                #expect(error.code == "registry_error", "serial \(serial)")
            }
        }
        let relink = await #expect(throws: EligibilityError.self) { try await provider.record(for: try key("1071")) }
        #expect(relink?.code == "card_relink_required")
    }

    @Test func slowGatewayIsTimeout() async throws {
        let gateway = try FakeGateway()
        defer { gateway.stop() }
        let provider = try HTTPEligibilityProvider(
            url: "http://127.0.0.1:\(gateway.port)/v1/lookup", timeoutSeconds: 0.5)
        do {
            let late = try await provider.record(for: try key("1061"))
            Issue.record("a gateway answering after 3 s was waited for: \(String(describing: late))")
        } catch {
            #expect(error.code == "registry_timeout")
        }
        // The provider is still usable afterwards.
        #expect(try await provider.record(for: try key("1001")) == sampleRecord())
    }

    @Test func refusedConnectionIsUnavailable() async throws {
        // Bind then close a port so that nothing listens there.
        let gateway = try FakeGateway()
        let port = gateway.port
        gateway.stop()
        let provider = try HTTPEligibilityProvider(url: "http://127.0.0.1:\(port)/v1/lookup", timeoutSeconds: 5)
        do {
            _ = try await provider.record(for: try key("1001"))
            Issue.record("lookup against a closed port succeeded")
        } catch {
            #expect(error.code == "registry_unavailable")
        }
    }

    @Test("the injected requester: what a lookup sends, and each transport failure's stable code")
    func injectedRequester() async throws {
        let sent = Mutex<[HTTPPostRequest]>([])
        let outcomes: [(Result<HTTPAnswer, HTTPRequestFailure>, String)] = [
            (.failure(.timeout("read timeout")), "registry_timeout"),
            (.failure(.unreachable("connection refused")), "registry_unavailable"),
            (.failure(.protocolError("response too large")), "registry_error"),
            (.success(HTTPAnswer(status: 503, body: Data())), "registry_error"),
            (
                .success(HTTPAnswer(status: 409, body: Data(#"{"error":{"code":"card_relink_required"}}"#.utf8))),
                "card_relink_required"
            ),
        ]
        for (outcome, code) in outcomes {
            let provider = try HTTPEligibilityProvider(
                url: "http://gateway.invalid:8080/v1/lookup", timeoutSeconds: 1.5,
                requester: FakeRequester { r throws(HTTPRequestFailure) in
                    sent.withLock { $0.append(r) }
                    return try outcome.get()
                })
            let thrown = await #expect(throws: EligibilityError.self) {
                try await provider.record(for: try key("1001"))
            }
            #expect(thrown?.code == code, "\(outcome)")
        }
        let notLinked = try HTTPEligibilityProvider(
            url: "http://gateway.invalid/v1/lookup",
            requester: FakeRequester { _ in HTTPAnswer(status: 404, body: Data()) })
        #expect(try await notLinked.record(for: try key("1001")) == nil)
        let first = try #require(sent.withLock { $0.first })
        #expect(first.url.absoluteString == "http://gateway.invalid:8080/v1/lookup")
        #expect(first.contentType == "application/json" && first.accept == "application/json")
        #expect(first.connectTimeout == 1.5 && first.readTimeout == 1.5 && first.maxBytes == 64 * 1024)
        let body = try JSONSerialization.jsonObject(with: first.body) as? [String: String]
        #expect(body == ["issuerKeyID": "0A0B0C0D", "serial": "1001", "issuer": "O=jpki-linux fixture,C=JP"])
    }
}

/// An ``HTTPRequester`` answering from a closure (no network).
struct FakeRequester: HTTPRequester {
    let answer: @Sendable (HTTPPostRequest) throws(HTTPRequestFailure) -> HTTPAnswer
    init(_ answer: @escaping @Sendable (HTTPPostRequest) throws(HTTPRequestFailure) -> HTTPAnswer) {
        self.answer = answer
    }
    func post(_ request: HTTPPostRequest) async throws(HTTPRequestFailure) -> HTTPAnswer { try answer(request) }
}
