import Foundation
import JPKIDaemon
import Logging
import TestBench
import Testing

/// systemd integration without systemd: socket activation (LISTEN_FDS) and sd_notify, checked
/// against the real `jpkid` binary started the way systemd starts it.
@Suite("systemd: socket activation and readiness", .serialized)
struct SystemdTests {
    @Test("LISTEN_FDS is honoured only for this pid, and the variables are cleared")
    func listenFDs() throws {
        let mine = ["LISTEN_PID": String(getpid()), "LISTEN_FDS": "1"]
        #expect(try Systemd.takeListenSocket(environment: mine) == 3)
        #expect(try Systemd.takeListenSocket(environment: ["LISTEN_PID": "1", "LISTEN_FDS": "1"]) == nil)
        #expect(try Systemd.takeListenSocket(environment: [:]) == nil)
        #expect(throws: ConfigError.self) {
            try Systemd.takeListenSocket(environment: ["LISTEN_PID": String(getpid()), "LISTEN_FDS": "2"])
        }
        #expect(getenv("LISTEN_FDS") == nil)
    }

    @Test("sd_notify datagrams reach NOTIFY_SOCKET (path and abstract names)")
    func notify() throws {
        let dir = try tempDir()
        let path = dir + "/notify"
        let fd = try datagramSocket(path: path)
        defer { close(fd) }
        #expect(Systemd.notify("READY=1", environment: ["NOTIFY_SOCKET": path]))
        #expect(receive(fd) == "READY=1")
        #expect(!Systemd.notify("READY=1", environment: [:]))
        let abstractName = "jpkid-test-\(getpid())"
        let afd = try datagramSocket(abstract: abstractName)
        defer { close(afd) }
        #expect(Systemd.notify("STATUS=x", environment: ["NOTIFY_SOCKET": "@" + abstractName]))
        #expect(receive(afd) == "STATUS=x")
    }

    @Test(
        "jpkid serves a socket passed as fd 3, says READY=1, and on SIGTERM says STOPPING=1 and exits 0",
        ReaderTier.pcscdTier)
    func activatedBinary() async throws {
        // Blocking waits below: run alone (the bench gate), so no in-process daemon of another
        // suite starves for cooperative threads meanwhile.
        try await TestBench.exclusive { try await Self.runActivatedBinary() }
    }

    static func runActivatedBinary() async throws {
        let dir = try tempDir()
        let sockPath = dir + "/jpkid.sock"
        let listenFD = try listeningSocket(path: sockPath)
        let notifyPath = dir + "/notify"
        let notifyFD = try datagramSocket(path: notifyPath)
        defer { close(notifyFD) }
        let config = dir + "/jpkid.json"
        try Data(
            #"{"roles":{"users":{"\#(getuid())":["status"]}},"auditLog":"\#(dir)/audit.jsonl","logLevel":"warning"}"#
                .utf8
        ).write(to: URL(fileURLWithPath: config))
        let jpkid = try builtBinary("jpkid")
        // As systemd does: the socket as fd 3, LISTEN_PID = the service's own pid (sh execs jpkid).
        let pid = try spawnProgram(
            "/bin/sh",
            [
                "-c", #"LISTEN_PID=$$ LISTEN_FDS=1 NOTIFY_SOCKET="$2" exec "$0" --config "$1""#, jpkid, config,
                notifyPath,
            ],
            stdinPath: "/dev/null", stdoutPath: "/dev/null", stderrPath: "/dev/null", passing: [3: listenFD])
        close(listenFD)
        #expect(receive(notifyFD, seconds: 30)?.contains("READY=1") == true)
        // The socket's mode and path belong to the socket unit; jpkid answers on it.
        let r = try await UnixHTTP(path: sockPath).request("GET", "/v1/health")
        #expect(r.status == 200)
        kill(pid, SIGTERM)
        #expect(receive(notifyFD, seconds: 30) == "STOPPING=1")
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        #expect(status == 0, "exit status \(status)")
        // jpkid does not remove a socket that systemd owns.
        #expect(FileManager.default.fileExists(atPath: sockPath))
    }
}

func tempDir() throws -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sd-\(UUID().uuidString.prefix(8))")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    return dir.path
}

func withAddress<R>(_ path: String, abstract: Bool = false, _ body: (UnsafePointer<sockaddr>, socklen_t) -> R) -> R {
    var addr = sockaddr_un()
    addr.sun_family = sa_family_t(AF_UNIX)
    let bytes = Array(path.utf8)
    let offset = abstract ? 1 : 0
    withUnsafeMutableBytes(of: &addr.sun_path) { raw in
        for (i, b) in bytes.enumerated() { raw[i + offset] = b }
    }
    let length = socklen_t(MemoryLayout<sa_family_t>.size + offset + bytes.count + (abstract ? 0 : 1))
    return withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, length) } }
}

struct SocketFailure: Error { let what: String }

func datagramSocket(path: String = "", abstract: String? = nil) throws -> Int32 {
    let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
    let rc = withAddress(abstract ?? path, abstract: abstract != nil) { bind(fd, $0, $1) }
    guard fd >= 0, rc == 0 else { throw SocketFailure(what: "bind datagram \(errno)") }
    return fd
}

func listeningSocket(path: String) throws -> Int32 {
    let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
    let rc = withAddress(path) { bind(fd, $0, $1) }
    guard fd >= 0, rc == 0, listen(fd, 16) == 0 else { throw SocketFailure(what: "bind stream \(errno)") }
    return fd
}

func receive(_ fd: Int32, seconds: Int = 5) -> String? {
    var tv = timeval(tv_sec: seconds, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    var buf = [UInt8](repeating: 0, count: 4096)
    let n = recv(fd, &buf, buf.count, 0)
    return n > 0 ? String(decoding: buf[0..<n], as: UTF8.self) : nil
}
