import Eligibility
import Foundation

/// One thing in the configuration that needs the network (an IP connection).
public struct NetworkNeed: Sendable, Equatable {
    /// The configuration field (`eligibility.postgresURL`, `eligibility.httpURL`, `trust.ocspURL`).
    public var field: String
    /// What it connects to.
    public var endpoint: String

    /// Creates one.
    public init(field: String, endpoint: String) {
        self.field = field
        self.endpoint = endpoint
    }
}

/// What the process's sandbox allows: systemd's `RestrictAddressFamilies=AF_UNIX` makes
/// `socket(AF_INET)` fail, `PrivateNetwork=yes` leaves only a private loopback interface.
public struct SandboxNetwork: Sendable, Equatable {
    /// Whether an AF_INET or AF_INET6 socket can be created.
    public var inetSocketsAllowed: Bool
    /// The network interfaces visible (`lo` only under `PrivateNetwork=yes`).
    public var interfaces: [String]

    /// Creates one (tests give their own).
    public init(inetSocketsAllowed: Bool, interfaces: [String]) {
        self.inetSocketsAllowed = inetSocketsAllowed
        self.interfaces = interfaces
    }

    /// This process's sandbox.
    public static func probe() -> SandboxNetwork {
        var allowed = false
        for family in [AF_INET, AF_INET6] {
            let fd = socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            if fd >= 0 {
                close(fd)
                allowed = true
            }
        }
        // /proc/self/net/dev lists this process's network namespace (/sys/class/net shows the
        // namespace /sys was mounted in, which PrivateNetwork= does not remount).
        let dev = (try? String(contentsOfFile: "/proc/self/net/dev", encoding: .utf8)) ?? ""
        let names = dev.split(separator: "\n").dropFirst(2).compactMap { line -> String? in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            return line[..<colon].trimmingCharacters(in: .whitespaces)
        }
        return SandboxNetwork(inetSocketsAllowed: allowed, interfaces: names.sorted())
    }

    /// Whether an IP connection to another host (or the host's own loopback) can be made.
    public var allowsNetwork: Bool { inetSocketsAllowed && interfaces.contains { $0 != "lo" } }
}

extension DaemonConfig {
    /// What in this configuration needs the network: PostgreSQL over TCP (a `postgresURL` whose
    /// host is not a socket directory), the HTTP gateway, OCSP.
    public func networkNeeds() -> [NetworkNeed] {
        var needs: [NetworkNeed] = []
        let usesPostgres =
            eligibility.provider == .postgres
            || (eligibility.provider == .oqs && eligibility.oqs?.registry == .postgres)
        if usesPostgres, let url = eligibility.postgresURL, let parts = URLComponents(string: url) {
            let socketDirectory = parts.queryItems?.first { $0.name == "host" }?.value?.hasPrefix("/") == true
            let host = parts.host ?? ""
            if !socketDirectory && !host.hasPrefix("/") && !host.isEmpty {
                needs.append(NetworkNeed(field: "eligibility.postgresURL", endpoint: "\(host):\(parts.port ?? 5432)"))
            }
        }
        if eligibility.provider == .http, let url = eligibility.httpURL, let parts = URLComponents(string: url) {
            needs.append(
                NetworkNeed(field: "eligibility.httpURL", endpoint: "\(parts.host ?? url):\(parts.port ?? 80)"))
        }
        if let url = trust.ocspURL, let parts = URLComponents(string: url) {
            needs.append(NetworkNeed(field: "trust.ocspURL", endpoint: "\(parts.host ?? url):\(parts.port ?? 80)"))
        }
        return needs
    }

    /// A problem when the configuration needs the network and `sandbox` does not allow it
    /// (jpkid.service without its network drop-in), with the fix; nil otherwise.
    public func networkProblem(in sandbox: SandboxNetwork) -> ConfigError? {
        let needs = networkNeeds()
        guard !needs.isEmpty, !sandbox.allowsNetwork else { return nil }
        let what = needs.map { "\($0.field) (\($0.endpoint))" }.joined(separator: ", ")
        let why =
            sandbox.inetSocketsAllowed
            ? "only a private loopback interface is visible (PrivateNetwork=yes)"
            : "IP sockets are not allowed (RestrictAddressFamilies=AF_UNIX)"
        return .invalid(
            field: needs[0].field,
            reason:
                "\(what) need\(needs.count == 1 ? "s" : "") the network, but \(why); install the drop-in "
                + "/usr/share/jpki/jpkid.service.d/network.conf into /etc/systemd/system/jpkid.service.d/ "
                + "and allow these hosts there (IPAddressAllow=)")
    }
}
