import Foundation

/// The disclosure report for one person: every audited access to their card(s) and registry
/// record, from the audit log alone.
///
/// Cards are named in the log two ways: daemon lines carry `card`, the SHA-256 fingerprint of
/// the auth certificate (hex); registry and eligibility lines carry `cardKey` objects
/// `{issuerKeyID, serial, issuer}` (registry lines of older logs: `card` objects, `{issuer,
/// serial}` before key ids, and `cardFingerprint`). A line that
/// names both ties them together, and a `registry-link` line ties a card to a `record`; the
/// report follows those ties, so asking by serial also finds accesses logged by fingerprint.
public enum AuditReport {
    /// What to select.
    public struct Query: Sendable {
        /// Auth certificate fingerprints (64 hex digits), lower-case.
        public var fingerprints: Set<String> = []
        /// Card serials (upper-case hex without leading zeros), optionally with their issuer.
        public var serials: Set<String> = []
        /// Issuer DN that `serials` must have (nil: any).
        public var issuer: String?
        /// Registry record id.
        public var record: Int64?
        /// Time range (inclusive).
        public var from: Date?
        public var to: Date?

        /// Creates an empty query.
        public init() {}
    }

    /// One access, with no personal values: time, what, who, where, outcome.
    public struct Access: Codable, Sendable, Equatable {
        public var seq: UInt64
        public var time: String?
        public var operation: String?
        public var outcome: String?
        public var uid: Int64?
        public var pid: Int64?
        /// Executable path (the kernel's word).
        public var exe: String?
        /// Process name the caller gave itself (its own word).
        public var selfReportedName: String?
        public var reader: String?
        public var session: String?
        public var record: Int64?
    }

    /// Reads `files` (oldest first) and selects the accesses that concern the query's person.
    public static func select(files: [String], query: Query) -> [Access] {
        var lines: [AuditFormat.Line] = []
        for f in files {
            guard let data = FileManager.default.contents(atPath: f) else { continue }
            for raw in data.split(separator: 0x0A) {
                if let l = AuditFormat.parse(Data(raw)) { lines.append(l) }
            }
        }
        var fps = query.fingerprints
        var serials = query.serials
        var records: Set<Int64> = query.record.map { [$0] } ?? []
        func mine(_ ids: (fps: Set<String>, serials: Set<String>, record: Int64?)) -> Bool {
            !ids.fps.isDisjoint(with: fps) || !ids.serials.isDisjoint(with: serials)
                || (ids.record.map { records.contains($0) } ?? false)
        }
        // Follow the ties until nothing new is found.
        var changed = true
        while changed {
            changed = false
            for l in lines {
                let ids = identities(l, issuer: query.issuer)
                guard mine(ids) else { continue }
                // Card↔card ties widen the set; a record joins it only through a registry link
                // (not every line of a record).
                if !ids.fps.isSubset(of: fps) {
                    fps.formUnion(ids.fps)
                    changed = true
                }
                if !ids.serials.isSubset(of: serials) {
                    serials.formUnion(ids.serials)
                    changed = true
                }
                if l.operation == "registry-link", let r = ids.record, !records.contains(r) {
                    records.insert(r)
                    changed = true
                }
            }
        }
        var out: [Access] = []
        for l in lines {
            guard mine(identities(l, issuer: query.issuer)) else { continue }
            if let from = query.from, let t = AuditFormat.parseTime(l.time), t < from { continue }
            if let to = query.to, let t = AuditFormat.parseTime(l.time), t > to { continue }
            out.append(
                Access(
                    seq: l.seq, time: l.time, operation: l.operation, outcome: l.fields["outcome"] as? String,
                    uid: l.fields["uid"] as? Int64, pid: l.fields["pid"] as? Int64, exe: l.fields["exe"] as? String,
                    selfReportedName: (l.fields["comm"] ?? l.fields["process"]) as? String,
                    reader: l.fields["reader"] as? String, session: l.fields["session"] as? String,
                    record: l.fields["record"] as? Int64))
        }
        return out
    }

    static func identities(_ l: AuditFormat.Line, issuer: String?) -> (
        fps: Set<String>, serials: Set<String>, record: Int64?
    ) {
        var fps: Set<String> = []
        var serials: Set<String> = []
        for key in ["card", "cardKey"] {
            if let s = l.fields[key] as? String, s.count == 64 { fps.insert(s.lowercased()) }
            if let o = l.fields[key] as? [String: any Sendable], let serial = o["serial"] as? String {
                if issuer == nil || issuer == (o["issuer"] as? String)
                    || (issuer.map { i in i.allSatisfy { $0.isHexDigit || $0 == ":" } } == true
                        && issuer?.uppercased().filter({ $0.isHexDigit }) == (o["issuerKeyID"] as? String))
                {
                    serials.insert(normalize(serial: serial))
                }
            }
        }
        if let s = l.fields["cardFingerprint"] as? String { fps.insert(s.lowercased()) }
        return (fps, serials, l.fields["record"] as? Int64)
    }

    /// Upper-case hex without separators or leading zeros (as registry card keys are stored).
    public static func normalize(serial: String) -> String {
        var s = serial.uppercased().filter { $0.isHexDigit }
        while s.count > 1 && s.hasPrefix("0") { s.removeFirst() }
        return s
    }
}
