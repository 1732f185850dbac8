import Foundation
import HTTPTypes
import OpenAPIRuntime
import Testing

@testable import JPKIDaemon

/// The route table the generated code fills (docs/openapi.yaml → Generated/Server.swift) and the
/// bridge between the generated server code and the NIO handler — no daemon, no socket.
@Suite("OpenAPI routing (generated route table)")
struct OpenAPIRoutingTests {
    @Test("templates match with their parameters; other methods get 405 with the allowed ones; the rest 404")
    func matching() throws {
        let table = try DaemonAPI.routeTable()
        guard case .found(let route, let metadata) = table.match(method: "POST", path: "/v1/sessions/ABC/authenticate")
        else {
            Issue.record("authenticate not found")
            return
        }
        #expect(route.template == "/v1/sessions/{session}/authenticate")
        #expect(metadata.pathParameters == ["session": "ABC"])
        guard case .methodNotAllowed(let allowed) = table.match(method: "GET", path: "/v1/sessions/ABC/authenticate")
        else {
            Issue.record("GET on authenticate is not 405")
            return
        }
        #expect(allowed == ["POST"])
        guard case .found(let readers, _) = table.match(method: "GET", path: "//v1//readers/") else {
            Issue.record("empty segments are ignored, as the hand-written router did")
            return
        }
        #expect(readers.template == "/v1/readers")
        guard case .found(let face, let m) = table.match(method: "GET", path: "/v1/oqs/face-results/x1") else {
            Issue.record("face result not found")
            return
        }
        #expect(face.template == "/v1/oqs/face-results/{id}" && m.pathParameters == ["id": "x1"])
        for path in ["/v1", "/v2/readers", "/v1/sessions/A/unknown", "/v1/readers/x", "/"] {
            guard case .notFound = table.match(method: "GET", path: path) else {
                Issue.record("\(path) is not 404")
                continue
            }
        }
        // Every operation but health names the role it needs.
        #expect(DaemonAPI.routes.count == DaemonAPI.requiredRole.count + 1)
    }

    @Test("the debug check names the key paths an answer would lose, never values")
    func lostKeys() throws {
        let original = try JSONSerialization.jsonObject(with: Data(#"{"a":1,"b":{"c":[{"d":"x","e":2}]}}"#.utf8))
        let same = try JSONSerialization.jsonObject(with: Data(#"{"b":{"c":[{"e":2,"d":"x"}]},"a":1}"#.utf8))
        let lost = try JSONSerialization.jsonObject(with: Data(#"{"a":1,"b":{"c":[{"d":"y"}]}}"#.utf8))
        #expect(APIResponse.lostKeys(original, same, at: "").isEmpty)
        #expect(APIResponse.lostKeys(original, lost, at: "").sorted() == ["/b/c/*/d", "/b/c/*/e"])
    }

    @Test(
        "an event stream answer stays a stream, and a client that goes away ends the source", .timeLimit(.minutes(1)))
    func eventStreamBridge() async throws {
        let (ended, endedContinuation) = AsyncStream<Void>.makeStream()
        let source = AsyncStream<String> { c in
            c.yield("retry: 1000\n\n")
            c.onTermination = { _ in
                endedContinuation.yield()
                endedContinuation.finish()
            }
        }
        var head = HTTPResponse(status: .ok)
        head.headerFields[.contentType] = "text/event-stream"
        let response = try await APIResponse(head, body: HTTPBody(source, length: .unknown))
        #expect(response.headers.first(name: "content-type") == "text/event-stream")
        guard case .events(let stream) = response.body else {
            Issue.record("not a stream")
            return
        }
        let (first, firstContinuation) = AsyncStream<String>.makeStream()
        let reader = Task {
            for await text in stream { firstContinuation.yield(text) }
        }
        var it = first.makeAsyncIterator()
        #expect(await it.next() == "retry: 1000\n\n")
        reader.cancel()
        // The source's termination (the per-peer stream slot is freed there) follows the cancel.
        var endedIterator = ended.makeAsyncIterator()
        #expect(await endedIterator.next() != nil)
    }

    @Test("a known-length body is collected")
    func bytesBody() async throws {
        let response = try await APIResponse(HTTPResponse(status: .ok), body: HTTPBody([1, 2, 3]))
        #expect(response.bytes == [1, 2, 3])
        let empty = try await APIResponse(HTTPResponse(status: .noContent), body: nil)
        #expect(empty.status.code == 204 && empty.bytes.isEmpty)
    }
}
