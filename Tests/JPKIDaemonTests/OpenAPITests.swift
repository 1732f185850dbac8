import Foundation
import JPKIDaemon
import Logging
import TestBench
import Testing

/// docs/openapi.yaml describes exactly the routes the daemon serves.
@Suite("OpenAPI document matches the router")
struct OpenAPITests {
    static func document() throws -> String {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        return try String(contentsOf: root.appendingPathComponent("docs/openapi.yaml"), encoding: .utf8)
    }

    /// (method, path) pairs declared in the document: `  /v1/…:` path keys and their
    /// `    get:`/`    post:` operation keys.
    static func declared(_ yaml: String) -> Set<String> {
        var out = Set<String>()
        var path: String?
        for line in yaml.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("  /") && line.hasSuffix(":") {
                path = String(line.dropFirst(2).dropLast())
            } else if !line.hasPrefix("  ") {
                path = nil
            } else if let p = path, line.hasPrefix("    "), !line.hasPrefix("     "),
                let m = ["get", "post", "put", "delete", "patch"].first(where: { line == "    \($0):" })
            {
                out.insert("\(m.uppercased()) \(p)")
            }
        }
        return out
    }

    @Test("every served route is documented and every documented route is served")
    func sameRoutes() throws {
        let served = Set(DaemonAPI.routes.map { "\($0.method) \($0.path)" })
        let documented = Self.declared(try Self.document())
        #expect(!documented.isEmpty)
        #expect(served.subtracting(documented).isEmpty, "undocumented: \(served.subtracting(documented))")
        #expect(documented.subtracting(served).isEmpty, "documented but not served: \(documented.subtracting(served))")
    }

    @Test("the router answers every listed route (never not_found / method_not_allowed)")
    func routerServesList() async throws {
        try await Self.requestEveryRoute()
    }

    static func requestEveryRoute() async throws {
        var c = DaemonConfig()
        let dir = try tempDir()
        c.socket.path = dir + "/jpkid.sock"
        c.auditLog = dir + "/audit.jsonl"
        c.roles.users = [String(getuid()): Role.allCases]
        // Simulated readers (none): the routes are the point, not pcscd.
        try await DaemonTests.running(c, readers: TestSlot.backend(.simulated)) {
            let http = UnixHTTP(path: c.socket.path)
            for (method, path) in DaemonAPI.routes where path != "/v1/events" {
                let target = path.replacingOccurrences(of: "{session}", with: String(repeating: "0", count: 32))
                // On a thread of its own: a blocking client must not hold the daemon's pool.
                let r = try await http.request(method, target, body: method == "POST" ? #"{"pin":"1234"}"# : nil)
                #expect(r.errorCode != "not_found" && r.errorCode != "method_not_allowed", "\(method) \(path)")
                #expect(r.status != 0)
            }
        }
    }
}
