import CoreMetrics
import Foundation
import Prometheus

/// jpkid's metrics for operators, served by `GET /v1/metrics` (status role) in the Prometheus
/// text format: recorded through swift-metrics into a swift-prometheus registry of this daemon
/// (not the process-global one, so several daemons in one test process stay apart).
///
/// Labels never carry personal data or identifiers: routes are templates (`{session}`, never a
/// session id), statuses are numbers, and nothing names a uid, a card, a reader or a person.
public final class DaemonMetrics: Sendable {
    /// The registry `/v1/metrics` renders.
    public let registry = PrometheusCollectorRegistry()
    private let factory: PrometheusMetricsFactory

    /// Creates an empty set of metrics.
    public init() {
        factory = PrometheusMetricsFactory(registry: registry)
    }

    /// The route template of a request path (from the routes generated from docs/openapi.yaml):
    /// session ids become `{session}`; paths outside the API become `other`, so a client cannot
    /// create label values (or smuggle data into them).
    public static func routeTemplate(_ path: String) -> String {
        (try? DaemonAPI.routeTable())?.template(of: path) ?? "other"
    }

    /// One answered request.
    public func request(path: String, status: Int, seconds: Double?) {
        let route = Self.routeTemplate(path)
        Counter(
            label: "jpkid_requests_total", dimensions: [("route", route), ("status", String(status))],
            factory: factory
        ).increment()
        if let seconds {
            Timer(label: "jpkid_request_duration_seconds", dimensions: [("route", route)], factory: factory)
                .recordSeconds(seconds)
        }
    }

    /// A code as a label value: lower-case letters, digits, `_` and `-`, at most 40 characters;
    /// anything else becomes `other` (labels must never carry free text).
    public static func code(_ value: String) -> String {
        let ok =
            !value.isEmpty && value.count <= 40
            && value.unicodeScalars.allSatisfy {
                ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "_" || $0 == "-"
            }
        return ok ? value : "other"
    }

    /// One card operation that left an audit line (`operation` and `outcome` are codes), and
    /// whether the line was written.
    public func cardOperation(_ operation: String, outcome: String, audited: Bool) {
        Counter(
            label: "jpkid_card_operations_total",
            dimensions: [("operation", Self.code(operation)), ("outcome", Self.code(outcome))], factory: factory
        ).increment()
        Counter(
            label: "jpkid_audit_writes_total", dimensions: [("result", audited ? "ok" : "failed")], factory: factory
        )
        .increment()
    }

    /// One eligibility provider lookup: its duration and outcome (`ok` or the error code).
    public func providerLookup(seconds: Double, outcome: String) {
        Timer(label: "jpkid_provider_duration_seconds", factory: factory).recordSeconds(seconds)
        Counter(label: "jpkid_provider_lookups_total", dimensions: [("outcome", Self.code(outcome))], factory: factory)
            .increment()
    }

    /// Readers, open card sessions and whether the audit log is writable, as of now.
    public func state(readers: Int, sessions: Int, auditWritable: Bool) {
        Gauge(label: "jpkid_readers", factory: factory).record(readers)
        Gauge(label: "jpkid_sessions", factory: factory).record(sessions)
        Gauge(label: "jpkid_audit_writable", factory: factory).record(auditWritable ? 1 : 0)
    }

    /// The Prometheus text exposition.
    public func render() -> [UInt8] { registry.emitToBuffer() }
}
