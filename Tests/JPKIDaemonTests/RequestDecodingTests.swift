import Foundation
import Testing

@testable import JPKIDaemon

/// The NIO-free request decoding (also exercised by fuzz/targets/daemon-request.swift).
@Suite("request decoding")
struct RequestDecodingTests {
    @Test("query strings with empty keys or values (fuzz regression: \"?=\" crashed the daemon)")
    func emptyQueryParts() {
        // Found by fuzz/run daemon-request: a lone "=" split into no parts and kv[0] trapped.
        let (path, query) = RequestDecoding.splitTarget("/v1/readers?=")
        #expect(path == "/v1/readers")
        #expect(query == ["": ""])
        #expect(RequestDecoding.splitTarget("/v1/readers?=x&a=&b").query == ["": "x", "a": "", "b": ""])
        #expect(RequestDecoding.splitTarget("/v1/health?&&==").query == ["": "="])
        #expect(RequestDecoding.splitTarget("/v1/readers?a=%41%ZZ").query == ["a": "%41%ZZ"])
        #expect(RequestDecoding.splitTarget("/v1/readers?a=%41").query == ["a": "A"])
        #expect(RequestDecoding.splitTarget("/v1/readers").query.isEmpty)
    }

    @Test("delimiters are split as scalars, not grapheme clusters (fuzz regression: U+0601 + \"/\")")
    func prependedMarks() {
        // U+0601 (Grapheme_Cluster_Break=Prepend) forms one Character with the "/" after it:
        // a Character split kept "/" inside a segment. Found by fuzz/run daemon-request.
        #expect(RequestDecoding.pathSegments("/v1\u{0601}/readers") == ["v1\u{0601}", "readers"])
        #expect(RequestDecoding.pathSegments("/v1/sessions/\u{0601}/x").allSatisfy { !$0.contains("/") })
        let (path, query) = RequestDecoding.splitTarget("/v1/readers\u{0601}?a\u{0601}=b\u{0601}&c=d")
        #expect(path == "/v1/readers\u{0601}")
        #expect(query == ["a\u{0601}": "b\u{0601}", "c": "d"])
    }

    @Test("the fuzzer's crash inputs decode without trapping")
    func fuzzRegressionFiles() throws {
        let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("fuzz/regressions/daemon-request")
        let files = try FileManager.default.contentsOfDirectory(at: dir, includingPropertiesForKeys: nil)
        #expect(!files.isEmpty)
        for file in files {
            let bytes = Array(try Data(contentsOf: file))
            let nl = bytes.firstIndex(of: 0x0A) ?? bytes.count
            let target = String(decoding: bytes[..<nl], as: UTF8.self)
            let (path, _) = RequestDecoding.splitTarget(target)
            #expect(target.unicodeScalars.starts(with: path.unicodeScalars))
            #expect(RequestDecoding.pathSegments(path).allSatisfy { !$0.isEmpty && !$0.contains("/") })
        }
    }

    @Test("path segments and PIN bodies")
    func segmentsAndBodies() throws {
        #expect(RequestDecoding.pathSegments("//v1//sessions/abc/") == ["v1", "sessions", "abc"])
        #expect(throws: APIError.badRequest("a JSON body is required")) { try RequestDecoding.pinRequest([]) }
        #expect(throws: APIError.self) { try RequestDecoding.pinRequest(Array("{\"pin\":1}".utf8)) }
        let (req, pin) = try RequestDecoding.pinRequest(Array(#"{"pin":"1234","allowLastTry":true}"#.utf8))
        #expect(req.pin == nil && req.allowLastTry == true)
        #expect(pin?.count == 4)
        pin?.wipe()
        // An explicit null is refused (the document types every field), absent is fine.
        for body in [#"{"pin":"1234","allowLastTry":null}"#, #"{"pin":null}"#, #"{"mode":null}"#] {
            #expect(throws: APIError.self, "\(body)") { try RequestDecoding.pinRequest(Array(body.utf8)) }
        }
        let (noFlag, pin2) = try RequestDecoding.pinRequest(Array(#"{"pin":"1234","unknown":null}"#.utf8))
        #expect(noFlag.allowLastTry == nil && pin2?.count == 4)
        pin2?.wipe()
    }
}
