import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Paths into the committed apdu-fixtures tree.
enum Fixtures {
    static let root: URL = {
        let here = URL(fileURLWithPath: #filePath).resolvingSymlinksInPath()
        return here.deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
            .appendingPathComponent("apdu-fixtures")
    }()
    static var pki: URL { root.appendingPathComponent("pki") }
    static func pki(_ name: String) -> URL { pki.appendingPathComponent(name) }
    static func card(_ card: String, _ path: String) -> URL {
        root.appendingPathComponent("cards").appendingPathComponent(card).appendingPathComponent(
            path)
    }
    static func data(_ url: URL) throws -> Data { try Data(contentsOf: url) }
    static func cardData(_ card: String, _ path: String) throws -> Data {
        try Data(contentsOf: Self.card(card, path))
    }

    /// The fixture reference date (apdu-fixtures/README.md "Reference date"): every root
    /// generation, every CRL and the certificates of cards 00–05, 08 and 09 are valid then; 06
    /// expired less than 3 months before it, 07 more than 3 months before it.
    static let referenceDate = Date(timeIntervalSince1970: 1_748_736_000)  // 2025-06-01T00:00:00Z
    /// A time inside the validity of cards 00–05, 08, 09 (= the reference date).
    static let midValidity = referenceDate

    /// Root generations of the fixture PKI (same DN per purpose, one key each).
    static let generations = ["2015", "2019", "2023"]
    /// Every auth root generation, one file each.
    static var authAnchors: [URL] { generations.map { pki("auth-root-\($0).pem") } }
    /// Every sign root generation, one file each.
    static var signAnchors: [URL] { generations.map { pki("sign-root-\($0).pem") } }
    /// The auth CRL of every generation.
    static var authCRLs: [URL] { generations.map { pki("auth-root-\($0).crl.pem") } }
    /// The sign CRL of every generation.
    static var signCRLs: [URL] { generations.map { pki("sign-root-\($0).crl.pem") } }

    /// Cards with an auth and a sign certificate, valid at the reference date.
    static let cards = [
        "00-ordinary", "01-kanji-variant", "02-same-name-a", "03-same-name-b", "04-revoked",
        "05-nearly-blocked", "09-generation-2015",
    ]
    /// The root generation each card was issued under.
    static let generationOf: [String: String] = [
        "00-ordinary": "2023", "01-kanji-variant": "2023", "02-same-name-a": "2023",
        "03-same-name-b": "2019", "04-revoked": "2023", "05-nearly-blocked": "2023",
        "06-expired-in-grace": "2019", "07-expired-past-grace": "2019",
        "08-face-auth-card": "2023", "09-generation-2015": "2015",
    ]
}

/// Runs the openssl CLI; throws with stderr on a non-zero exit.
struct CommandFailed: Error, CustomStringConvertible {
    let description: String
}

@discardableResult
func openssl(_ args: [String], stdin: Data? = nil) throws -> Data {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
    p.arguments = args
    let out = Pipe()
    let err = Pipe()
    let inp = Pipe()
    p.standardOutput = out
    p.standardError = err
    p.standardInput = inp
    try p.run()
    if let stdin { inp.fileHandleForWriting.write(stdin) }
    try inp.fileHandleForWriting.close()
    let o = out.fileHandleForReading.readDataToEndOfFile()
    let e = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    guard p.terminationStatus == 0 else {
        throw CommandFailed(
            description: "openssl \(args.first ?? "") failed: \(String(decoding: e, as: UTF8.self))"
        )
    }
    return o
}

/// A fresh temporary directory (removed by the caller with `cleanup`).
func makeTempDir() throws -> URL {
    let u = FileManager.default.temporaryDirectory.appendingPathComponent(
        "jpkiverify-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: u, withIntermediateDirectories: true)
    return u
}

/// Flips one bit of a byte.
func tampered(_ d: Data, at index: Int) -> Data {
    var c = d
    let i = c.startIndex + index
    c[i] ^= 0x01
    return c
}

/// Finds the offset of the first occurrence of `pattern` in `data`.
func offset(of pattern: [UInt8], in data: Data) -> Int? {
    let b = [UInt8](data)
    return b.firstRange(of: pattern)?.lowerBound
}

/// A port that was free a moment ago (bind to 0, read it back, close).
func freeTCPPort() throws -> UInt16 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw CommandFailed(description: "socket") }
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = 0
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    let rc = withUnsafePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
        }
    }
    guard rc == 0 else { throw CommandFailed(description: "bind") }
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
    }
    return UInt16(bigEndian: addr.sin_port)
}

/// A listening TCP socket on 127.0.0.1 that never accepts or answers (for read timeouts).
final class SilentListener {
    let fd: Int32
    let port: UInt16
    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.fd = fd
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = 0
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard rc == 0, listen(fd, 8) == 0 else { throw CommandFailed(description: "listen") }
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        port = UInt16(bigEndian: addr.sin_port)
    }
    deinit { close(fd) }
}

/// `openssl ocsp` responder over the fixture index, on 127.0.0.1:<free port>. Call `stop()`.
final class OCSPResponder {
    let process = Process()
    let port: UInt16
    var url: URL { URL(string: "http://127.0.0.1:\(port)/")! }

    init(nmin: Int = 60, indexFile: URL = Fixtures.pki("ocsp-index.txt")) throws {
        var lastError: Error? = nil
        for _ in 0..<5 {
            let candidate = try freeTCPPort()
            do {
                try Self.start(
                    process: process, port: candidate, nmin: nmin, indexFile: indexFile)
                port = candidate
                return
            } catch {
                lastError = error
            }
        }
        throw lastError ?? CommandFailed(description: "no port for responder")
    }

    private static func start(process p: Process, port: UInt16, nmin: Int, indexFile: URL)
        throws
    {
        p.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        p.arguments = [
            "ocsp", "-index", indexFile.path, "-port", String(port),
            "-CA", Fixtures.pki("auth-root-2023.pem").path, "-rsigner",
            Fixtures.pki("ocsp-signer.pem").path,
            "-rkey", Fixtures.pki("ocsp-signer.test-key.pem").path, "-nmin", String(nmin),
        ]
        let err = Pipe()
        p.standardError = err
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        // Wait for the "waiting for OCSP client connections" line (max 10 s).
        let deadline = Date().addingTimeInterval(10)
        var seen = Data()
        let handle = err.fileHandleForReading
        while Date() < deadline {
            let chunk = handle.availableData
            if chunk.isEmpty {
                if !p.isRunning {
                    throw CommandFailed(
                        description: "responder exited: \(String(decoding: seen, as: UTF8.self))")
                }
                usleep(20_000)
                continue
            }
            seen.append(chunk)
            if String(decoding: seen, as: UTF8.self).contains("waiting for OCSP client connections") {
                // Keep draining stderr so the responder never blocks on a full pipe.
                handle.readabilityHandler = { h in _ = h.availableData }
                return
            }
        }
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        throw CommandFailed(description: "responder did not start")
    }

    func stop() {
        // SIGKILL: the child may inherit a blocked SIGTERM from the test runner.
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    deinit { stop() }
}

/// Issues a CRL with `openssl ca -gencrl` in `dir`: `index` is the CA database (one
/// `R<TAB>expiry<TAB>revoked[,reason]<TAB>serial<TAB>unknown<TAB>subject` line per revoked
/// certificate, empty for none), signed by the fixture root `root` (e.g. `auth-root-2023`),
/// valid from `lastUpdate` to `nextUpdate` (`YYYYMMDDHHMMSSZ`), with an AKI when `withAKI`.
func makeCRL(
    in dir: URL, name: String, index: String = "", root: String, lastUpdate: String, nextUpdate: String,
    withAKI: Bool = false
) throws -> URL {
    try Data(index.utf8).write(to: dir.appendingPathComponent("index.txt"))
    try Data("01\n".utf8).write(to: dir.appendingPathComponent("crlnumber"))
    let conf = """
        [ca]
        default_ca = d
        [d]
        database = \(dir.path)/index.txt
        crlnumber = \(dir.path)/crlnumber
        default_md = sha256
        [crlext]
        authorityKeyIdentifier = keyid
        """
    try Data(conf.utf8).write(to: dir.appendingPathComponent("ca.cnf"))
    let crl = dir.appendingPathComponent(name)
    try openssl(
        [
            "ca", "-gencrl", "-config", dir.appendingPathComponent("ca.cnf").path, "-keyfile",
            Fixtures.pki("\(root).test-key.pem").path, "-cert", Fixtures.pki("\(root).pem").path, "-out", crl.path,
            "-crl_lastupdate", lastUpdate, "-crl_nextupdate", nextUpdate,
        ] + (withAKI ? ["-crlexts", "crlext"] : []))
    return crl
}

/// Answers each connection on 127.0.0.1:<free port> with fixed bytes after the request head and
/// its Content-Length body arrived, then closes. Its thread blocks in accept/recv (never the
/// cooperative pool); `stop()` closes the listener.
final class CannedHTTPServer: @unchecked Sendable {
    let listener: SilentListener
    var port: UInt16 { listener.port }
    var url: URL { URL(string: "http://127.0.0.1:\(port)/ocsp")! }

    init(answer: [UInt8]) throws {
        listener = try SilentListener()
        let fd = listener.fd
        Thread.detachNewThread {
            while true {
                let c = accept(fd, nil, nil)
                guard c >= 0 else { return }
                var got: [UInt8] = []
                var buf = [UInt8](repeating: 0, count: 4096)
                while !Self.requestComplete(got) {
                    let n = recv(c, &buf, buf.count, 0)
                    if n <= 0 { break }
                    got += buf[0..<n]
                }
                _ = answer.withUnsafeBytes { send(c, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                close(c)
            }
        }
    }

    static func requestComplete(_ bytes: [UInt8]) -> Bool {
        guard let end = bytes.firstRange(of: [13, 10, 13, 10] as [UInt8]) else { return false }
        let head = String(decoding: bytes[..<end.lowerBound], as: UTF8.self).lowercased()
        let length =
            head.components(separatedBy: "\r\n").first { $0.hasPrefix("content-length:") }
            .flatMap { Int($0.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) } ?? 0
        return bytes.count - end.upperBound >= length
    }

    func stop() { shutdown(listener.fd, Int32(SHUT_RDWR)) }
}
