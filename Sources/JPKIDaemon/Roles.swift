import Foundation

/// The kernel-verified identity of a socket peer (SO_PEERCRED).
public struct PeerCredentials: Sendable, Hashable, Codable {
    /// Process id.
    public var pid: Int32
    /// User id.
    public var uid: UInt32
    /// Primary group id.
    public var gid: UInt32

    /// Creates credentials.
    public init(pid: Int32, uid: UInt32, gid: UInt32) {
        self.pid = pid
        self.uid = uid
        self.gid = gid
    }

    /// The process name (`/proc/PID/comm`), for the audit log.
    public var processName: String? {
        guard let s = try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8) else { return nil }
        return s.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Supplementary groups of the peer process (from `/proc/PID/status`).
    public var supplementaryGroups: [UInt32] {
        guard let s = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return [] }
        for line in s.split(separator: "\n") where line.hasPrefix("Groups:") {
            // "Groups:\t995 1000 " — a tab before the first id: split on both.
            return line.dropFirst(7).split(whereSeparator: { $0 == " " || $0 == "\t" }).compactMap { UInt32($0) }
        }
        return []
    }
}

/// Maps peers to roles from the configuration. Names are resolved to ids once, at start.
public struct RoleMap: Sendable {
    private let byUID: [UInt32: Set<Role>]
    private let byGID: [UInt32: Set<Role>]

    /// Resolves the configured users and groups. Unknown names are reported, not ignored.
    public init(_ roles: DaemonConfig.Roles) throws(ConfigError) {
        var u: [UInt32: Set<Role>] = [:]
        for (key, value) in roles.users {
            guard let id = UInt32(key) ?? Self.uid(named: key) else {
                throw .invalid(field: "roles.users.\(key)", reason: "no such user")
            }
            u[id, default: []].formUnion(value)
        }
        var g: [UInt32: Set<Role>] = [:]
        for (key, value) in roles.groups {
            guard let id = UInt32(key) ?? Self.gid(named: key) else {
                throw .invalid(field: "roles.groups.\(key)", reason: "no such group")
            }
            g[id, default: []].formUnion(value)
        }
        byUID = u
        byGID = g
    }

    /// The roles of a peer: its uid's plus those of its primary and supplementary groups.
    public func roles(for peer: PeerCredentials) -> Set<Role> {
        var r = byUID[peer.uid] ?? []
        r.formUnion(byGID[peer.gid] ?? [])
        if !byGID.isEmpty {
            for g in peer.supplementaryGroups { r.formUnion(byGID[g] ?? []) }
        }
        return r
    }

    static func uid(named name: String) -> UInt32? {
        guard let pw = getpwnam(name) else { return nil }
        return pw.pointee.pw_uid
    }

    static func gid(named name: String) -> UInt32? {
        guard let gr = getgrnam(name) else { return nil }
        return gr.pointee.gr_gid
    }
}
