import Foundation

/// The two systemd protocols jpkid speaks without linking libsystemd: socket activation
/// (`LISTEN_PID`/`LISTEN_FDS`, sd_listen_fds(3)) and readiness notification (`NOTIFY_SOCKET`,
/// sd_notify(3)). Both are no-ops when jpkid runs without systemd.
public enum Systemd {
    /// The first descriptor systemd passes (`SD_LISTEN_FDS_START`).
    static let listenFDsStart: CInt = 3

    /// The listening socket passed by systemd socket activation, or nil when none was passed to
    /// this process. Reads and clears `LISTEN_PID`, `LISTEN_FDS` and `LISTEN_FDNAMES` (so child
    /// processes do not inherit them) and marks the descriptor close-on-exec.
    /// - Throws: ``ConfigError`` when systemd passed more than one socket (jpkid serves one).
    public static func takeListenSocket(environment: [String: String] = ProcessInfo.processInfo.environment)
        throws(ConfigError) -> CInt?
    {
        defer {
            unsetenv("LISTEN_PID")
            unsetenv("LISTEN_FDS")
            unsetenv("LISTEN_FDNAMES")
        }
        guard let pidText = environment["LISTEN_PID"], let pid = pid_t(pidText), pid == getpid(),
            let countText = environment["LISTEN_FDS"], let count = Int(countText), count > 0
        else { return nil }
        guard count == 1 else {
            throw .invalid(field: "LISTEN_FDS", reason: "systemd passed \(count) sockets; jpkid.socket defines one")
        }
        let fd = listenFDsStart
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        return fd
    }

    /// Sends a state string (`READY=1`, `STOPPING=1`, `STATUS=…`) to the service manager when
    /// `NOTIFY_SOCKET` is set (path or `@abstract` name). Returns whether a message was sent.
    @discardableResult
    public static func notify(_ state: String, environment: [String: String] = ProcessInfo.processInfo.environment)
        -> Bool
    {
        guard var path = environment["NOTIFY_SOCKET"], !path.isEmpty else { return false }
        let abstract = path.hasPrefix("@")
        if abstract { path.removeFirst() }
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        let offset = abstract ? 1 : 0
        guard bytes.count + offset < MemoryLayout.size(ofValue: addr.sun_path) else { return false }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            for (i, b) in bytes.enumerated() { raw[i + offset] = b }
        }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + offset + bytes.count + (abstract ? 0 : 1))
        let message = Array(state.utf8)
        let sent = withUnsafePointer(to: &addr) { a in
            a.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                message.withUnsafeBytes { sendto(fd, $0.baseAddress, $0.count, 0, sa, length) }
            }
        }
        return sent == message.count
    }
}
