import Eligibility
import Foundation
import JPKIVerify
import StableCodes

/// The daemon's configuration, read from a JSON file. Every field has a documented default, so
/// `{}` is a valid configuration (socket in /run/jpkid, root may do everything, My Number off).
public struct DaemonConfig: Codable, Sendable, Equatable {
    /// The Unix socket.
    public struct Socket: Codable, Sendable, Equatable {
        /// Path of the socket (default `/run/jpkid/jpkid.sock`). `--socket` overrides it.
        public var path: String = "/run/jpkid/jpkid.sock"
        /// Group that owns the socket (default: none, the daemon's own group).
        public var group: String?
        /// Permission bits as an octal string (default `"0660"`).
        public var mode: String = "0660"
        /// Creates the defaults.
        public init() {}
    }

    /// Which peers get which roles. Keys are numeric uids/gids as strings, or user/group names.
    public struct Roles: Codable, Sendable, Equatable {
        /// Roles granted by the peer's uid.
        public var users: [String: [Role]] = ["0": Role.allCases]
        /// Roles granted by the peer's groups (primary and supplementary).
        public var groups: [String: [Role]] = [:]
        /// Creates the defaults.
        public init() {}
    }

    /// My Number disclosure (off by default; also needs the `my-number` role).
    public struct MyNumber: Codable, Sendable, Equatable {
        /// Whether the daemon may read the My Number at all.
        public var enabled: Bool = false
        /// Creates the defaults.
        public init() {}
    }

    /// Trust anchors and revocation for verification.
    public struct Trust: Codable, Sendable, Equatable {
        /// PEM/DER files of JPKI user-authentication roots.
        public var authAnchors: [String] = []
        /// PEM/DER files of JPKI digital-signature roots.
        public var signAnchors: [String] = []
        /// CRL files (PEM or DER).
        public var crls: [String] = []
        /// OCSP responder URL (http only, e.g. a local relay); nil = no OCSP.
        public var ocspURL: String?
        /// What an unreachable revocation source means: `"hard-fail"` (default) or `"soft-fail"`.
        public var revocationUnavailable: String = "hard-fail"
        /// Text-AP CV issuer public key (PEM), for identity integrity checks.
        public var textIssuerKey: String?
        /// Visual-AP CV issuer public key (PEM), for card-face integrity checks.
        public var visualIssuerKey: String?
        /// Creates the defaults.
        public init() {}
    }

    /// Request limits.
    public struct Limits: Codable, Sendable, Equatable {
        /// Largest accepted request body (default 64 KiB).
        public var maxBodyBytes: Int = 65_536
        /// Largest accepted request head (default 16 KiB).
        public var maxHeaderBytes: Int = 16_384
        /// Seconds a client may take to send its whole request (default 10).
        public var requestTimeoutSeconds: Double = 10
        /// Seconds a card operation may take before the client gets 504 (default 30).
        public var operationTimeoutSeconds: Double = 30
        /// Most simultaneous connections of the whole daemon (default 1024): the last guard.
        public var maxConnections: Int = 1024
        /// Most simultaneous connections of one peer uid (default 64). Checked as soon as the
        /// peer's credentials are read; connection 65 of that uid gets 503
        /// `too_many_connections` and is closed, so one greedy client cannot lock others out.
        public var maxConnectionsPerPeer: Int = 64
        /// Most simultaneous `/v1/events` streams of one peer uid (default 8; more get 429
        /// `too_many_event_streams`).
        public var maxEventStreamsPerPeer: Int = 8
        /// Seconds between SSE heartbeats (default 15). A stream whose client has not read what
        /// was sent by two heartbeats in a row is closed.
        public var eventHeartbeatSeconds: Double = 15
        /// Creates the defaults.
        public init() {}
    }

    public var socket = Socket()
    public var roles = Roles()
    public var myNumber = MyNumber()
    public var trust = Trust()
    public var limits = Limits()
    /// Append-only JSON-lines audit log (default `/var/log/jpkid/audit.jsonl`).
    public var auditLog: String = "/var/log/jpkid/audit.jsonl"
    /// The audit trail's key, rotation and checkpoints (see ``Audit``).
    public var audit = Audit()
    /// Log level for the structured log on stderr (default `info`).
    public var logLevel: String = "info"
    /// Readers to ignore (exact names).
    public var ignoreReaders: [String] = []
    /// The eligibility registry (マイナ保険証): provider, paths, mode (default: embedded SQLite,
    /// PIN mode; see ``EligibilityConfiguration``).
    public var eligibility = EligibilityConfiguration()

    /// Creates the defaults.
    public init() {}

    /// Reads and validates a configuration file.
    public static func load(path: String) throws(ConfigError) -> DaemonConfig {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw .unreadable(path: path, reason: error.localizedDescription)
        }
        return try parse(data)
    }

    /// Parses and validates configuration JSON.
    public static func parse(_ data: Data) throws(ConfigError) -> DaemonConfig {
        let config: DaemonConfig
        do {
            config = try JSONDecoder().decode(DaemonConfig.self, from: data)
        } catch let DecodingError.dataCorrupted(ctx) {
            throw .invalid(
                field: ctx.codingPath.map(\.stringValue).joined(separator: "."), reason: ctx.debugDescription)
        } catch let DecodingError.typeMismatch(_, ctx) {
            throw .invalid(
                field: ctx.codingPath.map(\.stringValue).joined(separator: "."), reason: ctx.debugDescription)
        } catch let DecodingError.valueNotFound(_, ctx) {
            throw .invalid(
                field: ctx.codingPath.map(\.stringValue).joined(separator: "."), reason: ctx.debugDescription)
        } catch {
            throw .invalid(field: "", reason: "\(error)")
        }
        let problems = config.problems()
        if let first = problems.first { throw first }
        var resolved = config
        resolved.eligibility.anchorKeyIDs = config.authAnchorKeyIDs
        return resolved
    }

    /// The auth anchors' key ids by DN (unreadable files give none: the verifier reports them).
    public var authAnchorKeyIDs: [String: [String]] {
        CardKey.anchorKeyIDs(authAnchorCertificates)
    }

    /// The configured auth anchors, parsed (empty when unreadable: the verifier reports that).
    public var authAnchorCertificates: [CertificateInfo] {
        (try? CertificateInfo.load(files: trust.authAnchors.map { URL(fileURLWithPath: $0) })) ?? []
    }

    /// Semantic problems (bad mode, unknown revocation policy, missing files …).
    public func problems() -> [ConfigError] {
        var out: [ConfigError] = []
        if socket.path.isEmpty { out.append(.invalid(field: "socket.path", reason: "empty")) }
        if socketMode == nil { out.append(.invalid(field: "socket.mode", reason: "not an octal mode like 0660")) }
        if !["hard-fail", "soft-fail"].contains(trust.revocationUnavailable) {
            out.append(.invalid(field: "trust.revocationUnavailable", reason: "must be hard-fail or soft-fail"))
        }
        if limits.maxBodyBytes < 256 || limits.maxBodyBytes > 16 << 20 {
            out.append(.invalid(field: "limits.maxBodyBytes", reason: "must be 256…16777216"))
        }
        if limits.requestTimeoutSeconds <= 0 || limits.operationTimeoutSeconds <= 0 || limits.eventHeartbeatSeconds <= 0
        {
            out.append(.invalid(field: "limits", reason: "timeouts must be positive"))
        }
        if limits.maxConnections < 1 || limits.maxConnectionsPerPeer < 1 || limits.maxEventStreamsPerPeer < 1 {
            out.append(.invalid(field: "limits", reason: "connection and stream limits must be at least 1"))
        }
        for (field, files) in [
            ("trust.authAnchors", trust.authAnchors), ("trust.signAnchors", trust.signAnchors),
            ("trust.crls", trust.crls),
        ] {
            for f in files where !FileManager.default.isReadableFile(atPath: f) {
                out.append(.invalid(field: field, reason: "cannot read \(f)"))
            }
        }
        for (field, f) in [
            ("trust.textIssuerKey", trust.textIssuerKey), ("trust.visualIssuerKey", trust.visualIssuerKey),
        ] {
            if let f, !FileManager.default.isReadableFile(atPath: f) {
                out.append(.invalid(field: field, reason: "cannot read \(f)"))
            }
        }
        if !["trace", "debug", "info", "notice", "warning", "error", "critical"].contains(logLevel) {
            out.append(.invalid(field: "logLevel", reason: "unknown level"))
        }
        for p in eligibility.problems() {
            if case .configuration(let field, let reason) = p { out.append(.invalid(field: field, reason: reason)) }
        }
        return out
    }

    /// The socket permission bits.
    public var socketMode: mode_t? {
        guard let v = UInt16(socket.mode, radix: 8), v <= 0o777 else { return nil }
        return mode_t(v)
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: DynamicKey.self)
        try c.rejectUnknown([
            "socket", "roles", "myNumber", "trust", "limits", "auditLog", "audit", "logLevel", "ignoreReaders",
            "eligibility",
        ])
        socket = try c.decodeIfPresent(Socket.self, forKey: "socket") ?? Socket()
        roles = try c.decodeIfPresent(Roles.self, forKey: "roles") ?? Roles()
        myNumber = try c.decodeIfPresent(MyNumber.self, forKey: "myNumber") ?? MyNumber()
        trust = try c.decodeIfPresent(Trust.self, forKey: "trust") ?? Trust()
        limits = try c.decodeIfPresent(Limits.self, forKey: "limits") ?? Limits()
        auditLog = try c.decodeIfPresent(String.self, forKey: "auditLog") ?? "/var/log/jpkid/audit.jsonl"
        audit = try c.decodeIfPresent(Audit.self, forKey: "audit") ?? Audit()
        logLevel = try c.decodeIfPresent(String.self, forKey: "logLevel") ?? "info"
        ignoreReaders = try c.decodeIfPresent([String].self, forKey: "ignoreReaders") ?? []
        eligibility =
            try c.decodeIfPresent(EligibilityConfiguration.self, forKey: "eligibility") ?? EligibilityConfiguration()
    }
}

// Nested types decode with defaults for missing keys too.
extension DaemonConfig.Socket {
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: DynamicKey.self)
        try c.rejectUnknown(["path", "group", "mode"])
        path = try c.decodeIfPresent(String.self, forKey: "path") ?? "/run/jpkid/jpkid.sock"
        group = try c.decodeIfPresent(String.self, forKey: "group")
        mode = try c.decodeIfPresent(String.self, forKey: "mode") ?? "0660"
    }
}

extension DaemonConfig.Roles {
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: DynamicKey.self)
        try c.rejectUnknown(["users", "groups"])
        users = try c.decodeIfPresent([String: [Role]].self, forKey: "users") ?? [:]
        groups = try c.decodeIfPresent([String: [Role]].self, forKey: "groups") ?? [:]
    }
}

extension DaemonConfig.MyNumber {
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: DynamicKey.self)
        try c.rejectUnknown(["enabled"])
        enabled = try c.decodeIfPresent(Bool.self, forKey: "enabled") ?? false
    }
}

extension DaemonConfig.Trust {
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: DynamicKey.self)
        try c.rejectUnknown([
            "authAnchors", "signAnchors", "crls", "ocspURL", "revocationUnavailable", "textIssuerKey",
            "visualIssuerKey",
        ])
        authAnchors = try c.decodeIfPresent([String].self, forKey: "authAnchors") ?? []
        signAnchors = try c.decodeIfPresent([String].self, forKey: "signAnchors") ?? []
        crls = try c.decodeIfPresent([String].self, forKey: "crls") ?? []
        ocspURL = try c.decodeIfPresent(String.self, forKey: "ocspURL")
        revocationUnavailable = try c.decodeIfPresent(String.self, forKey: "revocationUnavailable") ?? "hard-fail"
        textIssuerKey = try c.decodeIfPresent(String.self, forKey: "textIssuerKey")
        visualIssuerKey = try c.decodeIfPresent(String.self, forKey: "visualIssuerKey")
    }
}

extension DaemonConfig {
    /// The audit trail (see README "Audit trail"): checkpoint key, rotation, retention, and the
    /// rate of audited refusals.
    public struct Audit: Codable, Sendable, Equatable {
        /// Ed25519 private key that signs checkpoints (PEM, created 0600 on first start; its
        /// public key is written beside it as `….pub.pem`). Default: `audit-key.pem` in the
        /// audit log's directory.
        public var keyFile: String?
        /// Rotate at this size (default 64 MiB; 0 = never by size).
        public var maxFileBytes: Int = 64 << 20
        /// Rotate files older than this (default 1 day; 0 = never by age).
        public var maxFileAgeSeconds: Double = 86_400
        /// Sign a checkpoint every N lines (default 1000).
        public var checkpointEveryLines: Int = 1000
        /// …and at most this long after an unsigned line (default 60 s).
        public var checkpointEverySeconds: Double = 60
        /// Rotated files kept (default 0 = all; the chain is then checked from the oldest kept).
        public var keepFiles: Int = 0
        /// Refused requests audited per peer uid and minute (default 60; the rest are counted in
        /// the next audited refusal's `suppressed`).
        public var refusalsPerMinute: Int = 60
        /// Creates the defaults.
        public init() {}

        /// The key file for an audit log path.
        public func keyPath(auditLog: String) -> String {
            keyFile ?? ((auditLog as NSString).deletingLastPathComponent + "/audit-key.pem")
        }
    }
}

extension DaemonConfig.Audit {
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: DynamicKey.self)
        try c.rejectUnknown([
            "keyFile", "maxFileBytes", "maxFileAgeSeconds", "checkpointEveryLines", "checkpointEverySeconds",
            "keepFiles", "refusalsPerMinute",
        ])
        keyFile = try c.decodeIfPresent(String.self, forKey: "keyFile")
        maxFileBytes = try c.decodeIfPresent(Int.self, forKey: "maxFileBytes") ?? 64 << 20
        maxFileAgeSeconds = try c.decodeIfPresent(Double.self, forKey: "maxFileAgeSeconds") ?? 86_400
        checkpointEveryLines = try c.decodeIfPresent(Int.self, forKey: "checkpointEveryLines") ?? 1000
        checkpointEverySeconds = try c.decodeIfPresent(Double.self, forKey: "checkpointEverySeconds") ?? 60
        keepFiles = try c.decodeIfPresent(Int.self, forKey: "keepFiles") ?? 0
        refusalsPerMinute = try c.decodeIfPresent(Int.self, forKey: "refusalsPerMinute") ?? 60
    }
}

extension DaemonConfig.Limits {
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: DynamicKey.self)
        try c.rejectUnknown([
            "maxBodyBytes", "maxHeaderBytes", "requestTimeoutSeconds", "operationTimeoutSeconds", "maxConnections",
            "maxConnectionsPerPeer", "maxEventStreamsPerPeer", "eventHeartbeatSeconds",
        ])
        maxBodyBytes = try c.decodeIfPresent(Int.self, forKey: "maxBodyBytes") ?? 65_536
        maxHeaderBytes = try c.decodeIfPresent(Int.self, forKey: "maxHeaderBytes") ?? 16_384
        requestTimeoutSeconds = try c.decodeIfPresent(Double.self, forKey: "requestTimeoutSeconds") ?? 10
        operationTimeoutSeconds = try c.decodeIfPresent(Double.self, forKey: "operationTimeoutSeconds") ?? 30
        maxConnections = try c.decodeIfPresent(Int.self, forKey: "maxConnections") ?? 1024
        maxConnectionsPerPeer = try c.decodeIfPresent(Int.self, forKey: "maxConnectionsPerPeer") ?? 64
        maxEventStreamsPerPeer = try c.decodeIfPresent(Int.self, forKey: "maxEventStreamsPerPeer") ?? 8
        eventHeartbeatSeconds = try c.decodeIfPresent(Double.self, forKey: "eventHeartbeatSeconds") ?? 15
    }
}

struct DynamicKey: CodingKey, ExpressibleByStringLiteral {
    var stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
    init(stringLiteral value: String) { stringValue = value }
}

extension KeyedDecodingContainer where Key == DynamicKey {
    /// A typo in a config key is an error, not a silently ignored setting.
    func rejectUnknown(_ known: Set<String>) throws {
        for key in allKeys where !known.contains(key.stringValue) {
            throw DecodingError.dataCorrupted(
                .init(codingPath: codingPath + [key], debugDescription: "unknown key \"\(key.stringValue)\""))
        }
    }
}

/// A configuration problem, with the field it concerns.
public enum ConfigError: Error, CodedError, Sendable, Equatable, CustomStringConvertible {
    /// The file could not be read.
    case unreadable(path: String, reason: String)
    /// A field is invalid.
    case invalid(field: String, reason: String)

    /// A stable code.
    public var code: String {
        switch self {
        case .unreadable: "config_unreadable"
        case .invalid: "config_invalid"
        }
    }

    public var description: String {
        switch self {
        case .unreadable(let path, let reason): "cannot read config \(path): \(reason)"
        case .invalid(let field, let reason): "config field \(field.isEmpty ? "(root)" : field): \(reason)"
        }
    }
}
