import Foundation
import HTTPTransport
import JPKIVerify
import Logging

/// The `eligibility` section of the daemon configuration (every key optional, unknown keys rejected).
///
/// | key | default | meaning |
/// |---|---|---|
/// | `provider` | `"sqlite"` | `sqlite` (embedded file), `postgres` (shared registry), `http` (external gateway) |
/// | `sqlitePath` | `/var/lib/jpkid/eligibility.sqlite` | SQLite file; created with its schema on first use |
/// | `postgresURL` | none | `postgres://USER[:PASSWORD]@HOST[:PORT]/DB` or `postgres://USER@/DB?host=/socket/dir` |
/// | `httpURL` | none | gateway endpoint, `http://HOST[:PORT]/PATH` (see docs/eligibility-http.md) |
/// | `timeoutSeconds` | 5 | connect/lookup time limit |
/// | `mode` | `"pin"` | `pin`: auth PIN + challenge signature; `visual`: no PIN, staff check the face |
/// | `modes` | `[mode]` | the modes a request may choose (`"mode"` in its body); `mode` is the default |
public struct EligibilityConfiguration: Codable, Sendable, Equatable {
    /// Which registry answers lookups.
    public enum Provider: String, Codable, Sendable, CaseIterable {
        /// Embedded SQLite file (GRDB), one reception PC.
        case sqlite
        /// PostgreSQL server shared by several reception PCs (same schema).
        case postgres
        /// External gateway over plain HTTP (read-only; no registry administration).
        case http
        /// The clinic's qualification-check terminal (オンライン資格確認) through its shared
        /// folder; the local registry (`oqs.registry`) links cards to insurance numbers.
        case oqs
    }

    /// The `eligibility.oqs` section (provider `oqs`; see docs/oqs-bridge.md).
    public struct OQS: Codable, Sendable, Equatable {
        /// The terminal's shared folder (with `req/`, `res/`, `face/`).
        public var folder: String = ""
        /// The clinic's 医療機関コード (10 digits).
        public var medicalInstitutionCode: String = ""
        /// This jpkid's station tag (2 of A–Z/0–9, default `00`); distinct per jpkid on one folder.
        public var station: String = "00"
        /// The local registry: `sqlite` (`eligibility.sqlitePath`) or `postgres` (`eligibility.postgresURL`).
        public var registry: Provider = .sqlite
        /// Seconds a request may wait in `req/` before the terminal counts as not responding (default 10).
        public var pickupTimeoutSeconds: Double = 10
        /// Seconds from request to answer (default 30).
        public var answerTimeoutSeconds: Double = 30
        /// Watch `face/` for the face reader's results (default true).
        public var faceIntake: Bool = true

        /// Creates the defaults.
        public init() {}

        static let keys: Set<String> = [
            "folder", "medicalInstitutionCode", "station", "registry", "pickupTimeoutSeconds", "answerTimeoutSeconds",
            "faceIntake",
        ]

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: AnyKey.self)
            for key in c.allKeys where !Self.keys.contains(key.stringValue) {
                throw DecodingError.dataCorrupted(
                    .init(codingPath: c.codingPath + [key], debugDescription: "unknown key \"\(key.stringValue)\""))
            }
            folder = try c.decodeIfPresent(String.self, forKey: AnyKey("folder")) ?? ""
            medicalInstitutionCode = try c.decodeIfPresent(String.self, forKey: AnyKey("medicalInstitutionCode")) ?? ""
            station = try c.decodeIfPresent(String.self, forKey: AnyKey("station")) ?? "00"
            registry = try c.decodeIfPresent(Provider.self, forKey: AnyKey("registry")) ?? .sqlite
            pickupTimeoutSeconds = try c.decodeIfPresent(Double.self, forKey: AnyKey("pickupTimeoutSeconds")) ?? 10
            answerTimeoutSeconds = try c.decodeIfPresent(Double.self, forKey: AnyKey("answerTimeoutSeconds")) ?? 30
            faceIntake = try c.decodeIfPresent(Bool.self, forKey: AnyKey("faceIntake")) ?? true
        }

        /// The terminal client's configuration.
        public var terminal: OQSTerminal.Configuration {
            OQSTerminal.Configuration(
                folder: folder, medicalInstitutionCode: medicalInstitutionCode, station: station,
                pickupTimeoutSeconds: pickupTimeoutSeconds, answerTimeoutSeconds: answerTimeoutSeconds)
        }

        func problems() -> [EligibilityError] {
            var out: [EligibilityError] = []
            if !folder.hasPrefix("/") {
                out.append(.configuration(field: "eligibility.oqs.folder", reason: "must be an absolute path"))
            }
            if !(medicalInstitutionCode.count == 10 && medicalInstitutionCode.allSatisfy { $0.isASCII && $0.isNumber })
            {
                out.append(.configuration(field: "eligibility.oqs.medicalInstitutionCode", reason: "must be 10 digits"))
            }
            if !(station.count == 2
                && station.unicodeScalars.allSatisfy { ("A"..."Z").contains($0) || ("0"..."9").contains($0) })
            {
                out.append(.configuration(field: "eligibility.oqs.station", reason: "must be 2 of A-Z/0-9"))
            }
            if registry != .sqlite && registry != .postgres {
                out.append(.configuration(field: "eligibility.oqs.registry", reason: "must be sqlite or postgres"))
            }
            if !(pickupTimeoutSeconds > 0 && pickupTimeoutSeconds <= 300) {
                out.append(.configuration(field: "eligibility.oqs.pickupTimeoutSeconds", reason: "must be in (0, 300]"))
            }
            if !(answerTimeoutSeconds > 0 && answerTimeoutSeconds <= 300) {
                out.append(.configuration(field: "eligibility.oqs.answerTimeoutSeconds", reason: "must be in (0, 300]"))
            }
            return out
        }
    }

    /// How the patient proves they hold the card at reception.
    public enum Mode: String, Codable, Sendable, CaseIterable {
        /// The patient enters the 4-digit auth PIN; the card signs a fresh challenge with the auth
        /// key, verified against the (chain- and revocation-checked) auth certificate.
        case pin
        /// No PIN (目視確認): the auth certificate is read and chain/revocation-checked, but no
        /// challenge is signed, so possession is not proven cryptographically. The receptionist
        /// must compare the patient with the card's face photo; the result is marked as visually
        /// confirmed and the audit records it. Use only where staff do that check.
        case visual
    }

    /// Registry kind (default `sqlite`).
    public var provider: Provider = .sqlite
    /// SQLite file path (default `/var/lib/jpkid/eligibility.sqlite`).
    public var sqlitePath: String = "/var/lib/jpkid/eligibility.sqlite"
    /// PostgreSQL URL (needed when `provider == postgres`).
    public var postgresURL: String?
    /// Gateway URL (needed when `provider == http`).
    public var httpURL: String?
    /// Connect/lookup time limit in seconds (default 5).
    public var timeoutSeconds: Double = 5
    /// Identity check at reception when a request names none (default `pin`).
    public var mode: Mode = .pin
    /// The terminal bridge (needed when `provider == oqs`).
    public var oqs: OQS?
    /// The modes a request may choose; nil = only ``mode``.
    public var modes: [Mode]?

    /// The modes a request may choose (``modes``, or just ``mode``).
    public var allowedModes: [Mode] { modes ?? [mode] }

    /// The configured auth anchors' key ids by subject DN (``CardKey/anchorKeyIDs(_:)``), which
    /// resolve registry links written before issuer keys when the store opens. Not part of the
    /// `eligibility` section: the daemon fills it in from `trust.authAnchors`.
    public var anchorKeyIDs: [String: [String]] = [:]

    /// Creates the defaults.
    public init() {}

    /// Writes the `eligibility` section (``anchorKeyIDs`` comes from `trust`: not written).
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: AnyKey.self)
        try c.encode(provider, forKey: AnyKey("provider"))
        try c.encode(sqlitePath, forKey: AnyKey("sqlitePath"))
        try c.encodeIfPresent(postgresURL, forKey: AnyKey("postgresURL"))
        try c.encodeIfPresent(httpURL, forKey: AnyKey("httpURL"))
        try c.encode(timeoutSeconds, forKey: AnyKey("timeoutSeconds"))
        try c.encode(mode, forKey: AnyKey("mode"))
        try c.encodeIfPresent(oqs, forKey: AnyKey("oqs"))
        try c.encodeIfPresent(modes, forKey: AnyKey("modes"))
    }

    static let keys: Set<String> = [
        "provider", "sqlitePath", "postgresURL", "httpURL", "timeoutSeconds", "mode", "modes", "oqs",
    ]

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: AnyKey.self)
        for key in c.allKeys where !Self.keys.contains(key.stringValue) {
            throw DecodingError.dataCorrupted(
                .init(codingPath: c.codingPath + [key], debugDescription: "unknown key \"\(key.stringValue)\""))
        }
        provider = try c.decodeIfPresent(Provider.self, forKey: AnyKey("provider")) ?? .sqlite
        sqlitePath =
            try c.decodeIfPresent(String.self, forKey: AnyKey("sqlitePath")) ?? "/var/lib/jpkid/eligibility.sqlite"
        postgresURL = try c.decodeIfPresent(String.self, forKey: AnyKey("postgresURL"))
        httpURL = try c.decodeIfPresent(String.self, forKey: AnyKey("httpURL"))
        timeoutSeconds = try c.decodeIfPresent(Double.self, forKey: AnyKey("timeoutSeconds")) ?? 5
        mode = try c.decodeIfPresent(Mode.self, forKey: AnyKey("mode")) ?? .pin
        oqs = try c.decodeIfPresent(OQS.self, forKey: AnyKey("oqs"))
        modes = try c.decodeIfPresent([Mode].self, forKey: AnyKey("modes"))
    }

    /// Semantic problems (missing URL for the chosen provider, bad timeout …); empty = valid.
    public func problems() -> [EligibilityError] {
        var out: [EligibilityError] = []
        if !(timeoutSeconds > 0 && timeoutSeconds <= 300) {
            out.append(.configuration(field: "eligibility.timeoutSeconds", reason: "must be in (0, 300]"))
        }
        if let modes, !modes.contains(mode) {
            out.append(.configuration(field: "eligibility.modes", reason: "must contain the default mode"))
        }
        switch registryKind {
        case .sqlite:
            if sqlitePath.isEmpty { out.append(.configuration(field: "eligibility.sqlitePath", reason: "empty")) }
        case .postgres:
            if let u = postgresURL {
                do { _ = try PostgresTarget(url: u) } catch { out.append(error) }
            } else {
                out.append(.configuration(field: "eligibility.postgresURL", reason: "required for provider postgres"))
            }
        case .http:
            if let u = httpURL {
                if URL(string: u)?.scheme?.lowercased() != "http" || URL(string: u)?.host == nil {
                    out.append(.configuration(field: "eligibility.httpURL", reason: "must be http://HOST[:PORT]/PATH"))
                }
            } else {
                out.append(.configuration(field: "eligibility.httpURL", reason: "required for provider http"))
            }
        case .oqs:
            break
        }
        if provider == .oqs {
            if let o = oqs {
                out += o.problems()
            } else {
                out.append(.configuration(field: "eligibility.oqs", reason: "required for provider oqs"))
            }
        }
        return out
    }

    /// Creates the provider for lookups (validates first). For `postgres` the connection pool
    /// starts at once; call ``EligibilityProvider/shutdown()`` when done. `requester` sends the
    /// `http` provider's lookups.
    public func makeProvider(
        logger: Logger = Logger(label: "eligibility"), requester: any HTTPRequester = AsyncHTTPRequester.shared
    ) async throws(EligibilityError) -> any EligibilityProvider {
        if provider == .http {
            if let p = problems().first { throw p }
            return try HTTPEligibilityProvider(url: httpURL ?? "", timeoutSeconds: timeoutSeconds, requester: requester)
        }
        if provider == .oqs, let o = oqs {
            let store = try await makeStore(logger: logger)
            return OQSEligibilityProvider(registry: store, terminal: OQSTerminal(configuration: o.terminal))
        }
        return try await makeStore(logger: logger)
    }

    /// Creates the administrable registry (`sqlite` or `postgres`; `http` is `unsupported`),
    /// creating/migrating the schema.
    public func makeStore(logger: Logger = Logger(label: "eligibility")) async throws(EligibilityError)
        -> any RegistryStore
    {
        if let p = problems().first { throw p }
        let store: any RegistryStore
        switch registryKind {
        case .sqlite:
            store = try SQLiteRegistry(path: sqlitePath, timeoutSeconds: timeoutSeconds)
        case .postgres:
            store = try await PostgresRegistry(
                url: postgresURL ?? "", timeoutSeconds: timeoutSeconds, logger: logger)
        case .http:
            throw .unsupported("the http provider is read-only: administer the registry at the gateway")
        case .oqs:
            throw .configuration(field: "eligibility.oqs.registry", reason: "must be sqlite or postgres")
        }
        if !anchorKeyIDs.isEmpty {
            do { try await store.resolveLegacyLinks(anchors: anchorKeyIDs) } catch {
                await store.shutdown()
                throw error
            }
        }
        return store
    }

    /// The registry that holds the card links: `provider`, or for `oqs` its `oqs.registry`.
    public var registryKind: Provider {
        provider == .oqs ? (oqs?.registry ?? .sqlite) : provider
    }
}

struct AnyKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(_ s: String) { stringValue = s }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}
