import Foundation
import JPKIDaemon
import TestBench
import Testing

@Suite("metrics: route templates keep identifiers and personal data out of labels")
struct MetricsLabelTests {
    @Test("session ids, face-result ids and unknown paths never become label values")
    func templates() {
        #expect(DaemonMetrics.routeTemplate("/v1/readers") == "/v1/readers")
        #expect(
            DaemonMetrics.routeTemplate("/v1/sessions/00112233445566778899AABBCCDDEEFF/pin-status")
                == "/v1/sessions/{session}/pin-status")
        #expect(DaemonMetrics.routeTemplate("/v1/sessions/0011") == "/v1/sessions/{session}")
        #expect(DaemonMetrics.routeTemplate("/v1/oqs/face-results/ABC") == "/v1/oqs/face-results/{id}")
        #expect(DaemonMetrics.routeTemplate("/v1/%E5%B1%B1%E7%94%B0") == "other")
        #expect(DaemonMetrics.routeTemplate("/v1/sessions/X/123456789012") == "other")
        #expect(DaemonMetrics.routeTemplate("/etc/passwd") == "other")
    }

    @Test("operation and outcome labels are codes; free text becomes other")
    func codes() {
        #expect(DaemonMetrics.code("card_session_ended") == "card_session_ended")
        #expect(DaemonMetrics.code("eligibility-visual") == "eligibility-visual")
        #expect(DaemonMetrics.code("佐藤 花子") == "other")
        #expect(DaemonMetrics.code("Eligible") == "other")
        #expect(DaemonMetrics.code(String(repeating: "a", count: 41)) == "other")
        #expect(DaemonMetrics.code("") == "other")
    }
}

extension DaemonTests {
    @Test("GET /v1/metrics: Prometheus text with requests by route and status, readers, sessions; no ids or names")
    func metrics() async throws {
        try await withDaemon { http, _, _ in
            let session = try #require(try await waitForSession(http))
            #expect(try await http.request("GET", "/v1/sessions/\(session)/pin-status").status == 200)
            #expect(try await http.request("GET", "/v1/%E5%B1%B1%E7%94%B0%E5%A4%AA%E9%83%8E").status == 404)  // 山田太郎
            let r = try await http.request("GET", "/v1/metrics")
            #expect(r.status == 200)
            let text = String(decoding: r.body, as: UTF8.self)
            #expect(text.contains(#"jpkid_requests_total{route="/v1/sessions/{session}/pin-status",status="200"} 1"#))
            #expect(text.contains(#"jpkid_requests_total{route="other",status="404"} 1"#))
            #expect(
                text.contains(#"jpkid_request_duration_seconds_count{route="/v1/sessions/{session}/pin-status"} 1"#))
            #expect(text.contains("jpkid_readers 2"))
            #expect(text.contains("jpkid_sessions 1"))
            #expect(text.contains("jpkid_audit_writable 1"))
            #expect(text.contains(#"jpkid_audit_writes_total{result="ok"}"#))
            #expect(text.contains(#"jpkid_card_operations_total{operation="pin-status",outcome="ok"} 1"#))
            // No identifier or personal data in any label value.
            #expect(!text.contains(session))
            #expect(!text.contains("E5") && !text.contains("山田"))
            #expect(!text.contains("Virtual PCD"))
            let labels = text.split(separator: "\n").filter { !$0.hasPrefix("#") }.flatMap { line in
                line.split(separator: "\"").enumerated().filter { $0.offset % 2 == 1 }.map { String($0.element) }
            }
            let allowed = Set(DaemonAPI.routes.map(\.path) + ["other"])
            // Every label value is a route template, a number (status, bucket) or a code.
            for value in labels {
                let fine =
                    allowed.contains(value) || Double(value) != nil || value == "+Inf"
                    || DaemonMetrics.code(value) == value
                #expect(fine, "label value \(value)")
            }
        }
    }
}
