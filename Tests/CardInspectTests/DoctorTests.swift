import Foundation
import JPKI
import JPKIVerify
import Testing

@testable import Inspect
@testable import SmartCard
@testable import SmartCardPCSC

/// A stand-in for the machine: every input of the doctor's checks, healthy by default; each test
/// breaks one.
struct FakeDoctorEnvironment: DoctorEnvironment {
    var pcscSocketPath = "/run/pcscd/pcscd.comm"
    var pcscSocket = SocketProbe.connectable
    /// What SCardEstablishContext returns (pcscd built with polkit refuses a context to a user
    /// outside an active session: the client sees SCARD_E_NO_SERVICE after connecting).
    var establish: InspectError? = nil
    var readerList: Result<[ReaderState], InspectError> = .success([
        ReaderState(
            name: "Virtual PCD 00 00", cardPresent: true, atr: [0x3B, 0xDA], exclusive: false, mute: false, rawState: 0),
        ReaderState(name: "Virtual PCD 00 01", cardPresent: false, atr: [], exclusive: false, mute: false, rawState: 0),
    ])
    var probe: Result<CardProbe, InspectError> = .success(
        CardProbe(type: .myNumberCard, tokenLabel: "JPKIAPICCTOKEN2"))
    var jpkid: [String: Result<Int, SocketProbeError>] = ["/v1/health": .success(200), "/v1/readers": .success(200)]
    var files: [String: Data] = [:]
    var now = Date(timeIntervalSince1970: 1_795_000_000)  // 2026-11-18

    static let pem = try! String(
        contentsOf: CLI.packageRoot.appendingPathComponent("apdu-fixtures/pki/auth-root-2023.pem"), encoding: .utf8)

    init() {
        files["/etc/jpkid/jpkid.json"] = Data(#"{"trust":{"authAnchors":["/etc/jpkid/auth-root.pem"]}}"#.utf8)
        files["/etc/jpkid/auth-root.pem"] = Data(Self.pem.utf8)
    }

    func probeSocket(_ path: String) async -> SocketProbe { pcscSocket }
    func establishPCSC() async -> InspectError? { establish }
    func readers() async -> Result<[ReaderState], InspectError> { readerList }
    func probeCard(_ reader: ReaderState, index: Int) async -> Result<CardProbe, InspectError> { probe }
    func jpkidStatus(socket: String, route: String) async -> Result<Int, SocketProbeError> {
        jpkid[route] ?? .failure(.init(errno: ENOENT, message: "no route in the fake"))
    }
    func readFile(_ path: String) -> Data? { files[path] }
}

@Suite("card-inspect doctor: one test per failing check (test doubles of each check's input)")
struct DoctorTests {
    let doctor = Doctor(readerSpec: nil, jpkidSocket: "/run/jpkid/jpkid.sock", configPath: "/etc/jpkid/jpkid.json")

    /// Runs the doctor and checks the first failure, its exit status and that a fix is given.
    func expectFirstFailure(
        _ env: FakeDoctorEnvironment, _ check: DoctorCheck, fixMentions: String,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async -> [DoctorResult] {
        let results = await doctor.run(env)
        let first = results.first { $0.status == .fail }
        #expect(first?.check == check, "\(Doctor.text(results))", sourceLocation: sourceLocation)
        #expect(Doctor.exitStatus(results) == check.exitStatus, sourceLocation: sourceLocation)
        #expect(first?.fix?.contains(fixMentions) == true, "\(first?.fix ?? "no fix")", sourceLocation: sourceLocation)
        #expect(
            results.map(\.check) == DoctorCheck.allCases, "every check reports, in order",
            sourceLocation: sourceLocation)
        return results
    }

    @Test("all healthy: every check ok, exit 0, JSON without a failure")
    func healthy() async throws {
        let results = await doctor.run(FakeDoctorEnvironment())
        #expect(results.allSatisfy { $0.status == .ok }, "\(Doctor.text(results))")
        #expect(Doctor.exitStatus(results) == 0)
        let json = try #require(
            try JSONSerialization.jsonObject(with: Data(Doctor.json(results).rendered().utf8)) as? [String: Any])
        #expect(json["firstFailure"] is NSNull)
        #expect(json["exitStatus"] as? Int == 0)
        #expect(
            (json["checks"] as? [[String: Any]])?.map { $0["check"] as? String } == DoctorCheck.allCases.map(\.rawValue)
        )
        #expect(results.first { $0.check == .credential }?.detail.contains("My Number card") == true)
    }

    @Test("exit statuses are distinct, one per check, in check order")
    func exitStatuses() {
        let codes = DoctorCheck.allCases.map(\.exitStatus)
        #expect(codes == Array(20..<30))
    }

    @Test("pcscd not reachable: fail, the card checks skip, jpkid and anchors still checked")
    func pcscdUnreachable() async {
        var env = FakeDoctorEnvironment()
        env.pcscSocket = .missing
        let results = await expectFirstFailure(env, .pcscd, fixMentions: "pcscd")
        for c in [DoctorCheck.pcscPermission, .readers, .card, .cardSelect, .credential] {
            #expect(results.first { $0.check == c }?.status == .skip)
        }
        #expect(results.first { $0.check == .jpkidSocket }?.status == .ok)
        #expect(results.first { $0.check == .trustAnchors }?.status == .ok)
        env.pcscSocket = .failed(errno: ECONNREFUSED, message: "Connection refused")
        _ = await expectFirstFailure(env, .pcscd, fixMentions: "pcscd")
    }

    @Test("permission denied by polkit: socket connects but no context → the access_pcsc fix")
    func polkitDenied() async {
        var env = FakeDoctorEnvironment()
        env.establish = InspectError(
            .noReader, "no_service", "the PC/SC service is not running (start pcscd) (SCARD_E_NO_SERVICE)")
        let results = await expectFirstFailure(env, .pcscPermission, fixMentions: "access_pcsc")
        #expect(results.first { $0.check == .pcscPermission }?.fix?.contains("50-jpkid-pcscd.rules") == true)
        #expect(results.first { $0.check == .readers }?.status == .skip)
    }

    @Test("no readers")
    func noReaders() async {
        var env = FakeDoctorEnvironment()
        env.readerList = .success([])
        _ = await expectFirstFailure(env, .readers, fixMentions: "reader")
        env.readerList = .failure(InspectError(.noReader, "no_reader", "no smart-card reader is connected"))
        _ = await expectFirstFailure(env, .readers, fixMentions: "reader")
    }

    @Test("--reader naming no reader fails the readers check")
    func unknownReader() async {
        let named = Doctor(readerSpec: "Nonexistent", jpkidSocket: "/s", configPath: "/etc/jpkid/jpkid.json")
        var env = FakeDoctorEnvironment()
        env.jpkid = ["/v1/health": .success(200), "/v1/readers": .success(200)]
        let results = await named.run(env)
        #expect(results.first { $0.status == .fail }?.check == .readers)
    }

    @Test("no card in any reader")
    func noCard() async {
        var env = FakeDoctorEnvironment()
        env.readerList = .success([
            ReaderState(
                name: "Virtual PCD 00 00", cardPresent: false, atr: [], exclusive: false, mute: false, rawState: 0)
        ])
        let results = await expectFirstFailure(env, .card, fixMentions: "insert the card")
        #expect(results.first { $0.check == .cardSelect }?.status == .skip)
    }

    @Test("card not answering SELECT (transmit error or no JPKI application)")
    func cardNotAnswering() async {
        var env = FakeDoctorEnvironment()
        env.probe = .failure(InspectError(.cardError, "card_error", "the card did not answer (SCARD_E_NOT_TRANSACTED)"))
        _ = await expectFirstFailure(env, .cardSelect, fixMentions: "re-insert")
        env.probe = .success(CardProbe(type: .notJPKI, tokenLabel: nil))
        _ = await expectFirstFailure(env, .cardSelect, fixMentions: "My Number card")
    }

    @Test("an unknown JPKI token is not a credential jpkid serves")
    func unknownCredential() async {
        var env = FakeDoctorEnvironment()
        env.probe = .success(CardProbe(type: .unknown(label: "SOMETOKEN"), tokenLabel: "SOMETOKEN"))
        _ = await expectFirstFailure(env, .credential, fixMentions: "jpkid serves")
    }

    @Test("jpkid socket unreachable: not running vs. not in jpkid-clients")
    func jpkidUnreachable() async {
        var env = FakeDoctorEnvironment()
        env.jpkid = [
            "/v1/health": .failure(.init(errno: ENOENT, message: "No such file or directory")),
            "/v1/readers": .failure(.init(errno: ENOENT, message: "No such file or directory")),
        ]
        let results = await expectFirstFailure(env, .jpkidSocket, fixMentions: "systemctl enable --now jpkid.socket")
        #expect(results.first { $0.check == .jpkidRole }?.status == .skip)
        env.jpkid = [
            "/v1/health": .failure(.init(errno: EACCES, message: "Permission denied")),
            "/v1/readers": .failure(.init(errno: EACCES, message: "Permission denied")),
        ]
        _ = await expectFirstFailure(env, .jpkidSocket, fixMentions: "jpkid-clients")
    }

    @Test("jpkid gives the caller no role (403), or no status role")
    func noRole() async {
        var env = FakeDoctorEnvironment()
        env.jpkid = ["/v1/health": .success(403), "/v1/readers": .success(403)]
        let results = await expectFirstFailure(env, .jpkidRole, fixMentions: "roles.groups")
        #expect(results.first { $0.check == .jpkidSocket }?.status == .ok)
        env.jpkid = ["/v1/health": .success(200), "/v1/readers": .success(403)]
        _ = await expectFirstFailure(env, .jpkidRole, fixMentions: "roles.groups")
    }

    @Test("trust anchors: none configured, unreadable, not a certificate, config unreadable")
    func anchors() async {
        var env = FakeDoctorEnvironment()
        env.files["/etc/jpkid/jpkid.json"] = Data(#"{"trust":{"authAnchors":[]}}"#.utf8)
        _ = await expectFirstFailure(env, .trustAnchors, fixMentions: "trust.authAnchors")
        env.files["/etc/jpkid/jpkid.json"] = Data(#"{"trust":{"authAnchors":["/etc/jpkid/missing.pem"]}}"#.utf8)
        _ = await expectFirstFailure(env, .trustAnchors, fixMentions: "trust.authAnchors")
        env.files["/etc/jpkid/jpkid.json"] = Data(#"{"trust":{"authAnchors":["/etc/jpkid/garbage.pem"]}}"#.utf8)
        env.files["/etc/jpkid/garbage.pem"] = Data(
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".utf8)
        let results = await expectFirstFailure(env, .trustAnchors, fixMentions: "trust.authAnchors")
        #expect(results.first { $0.check == .trustAnchors }?.detail.contains("not a certificate") == true)
        env.files["/etc/jpkid/jpkid.json"] = nil
        _ = await expectFirstFailure(env, .trustAnchors, fixMentions: "--config")
    }

    @Test("clock implausible: before 2026, after 2099, or outside an anchor's validity")
    func clock() async throws {
        var env = FakeDoctorEnvironment()
        env.now = Date(timeIntervalSince1970: 0)
        _ = await expectFirstFailure(env, .clock, fixMentions: "timedatectl")
        env.now = Date(timeIntervalSince1970: 4_200_000_000)
        _ = await expectFirstFailure(env, .clock, fixMentions: "timedatectl")
        // Plausible in itself, but past the fixture root's notAfter.
        env.now = try CertificateInfoFixture.authRootNotAfter().addingTimeInterval(86_400)
        try #require(env.now < Doctor.latestPlausible, "the fixture root must expire before 2100 for this case")
        let results = await expectFirstFailure(env, .clock, fixMentions: "expired anchor")
        #expect(results.first { $0.check == .clock }?.detail.contains("outside the validity") == true)
    }

    @Test("text: ok/FAIL/skip lines with the fix under a failure; JSON names the first failure")
    func rendering() async throws {
        var env = FakeDoctorEnvironment()
        env.pcscSocket = .missing
        let results = await doctor.run(env)
        let text = Doctor.text(results)
        #expect(text.contains("FAIL  pcscd"))
        #expect(text.contains("      fix: install and start pcscd"))
        #expect(text.contains("skip  readers"))
        #expect(text.contains("ok    clock"))
        let json = try #require(
            try JSONSerialization.jsonObject(with: Data(Doctor.json(results).rendered().utf8)) as? [String: Any])
        #expect(json["firstFailure"] as? String == "pcscd")
        #expect(json["exitStatus"] as? Int == 20)
    }
}

enum CertificateInfoFixture {
    static func authRootNotAfter() throws -> Date {
        try CertificateInfo(pem: FakeDoctorEnvironment.pem).notAfter
    }
}

/// A Unix-socket server that answers each connection with fixed bytes once the request head
/// arrived, on a thread of its own (blocking accept/recv, never the cooperative pool).
final class CannedUnixServer: @unchecked Sendable {
    let path: String
    let fd: Int32

    init(answer: String) throws {
        path = NSTemporaryDirectory() + "doctor-\(UUID().uuidString.prefix(8)).sock"
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            for (i, b) in path.utf8.enumerated() { raw[i] = b }
        }
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard rc == 0, listen(fd, 4) == 0 else { throw POSIXError(.EADDRINUSE) }
        let (listener, bytes) = (fd, Array(answer.utf8))
        Thread.detachNewThread {
            while true {
                let c = accept(listener, nil, nil)
                guard c >= 0 else { return }
                var got: [UInt8] = []
                var buf = [UInt8](repeating: 0, count: 1024)
                while got.firstRange(of: [13, 10, 13, 10] as [UInt8]) == nil {
                    let n = recv(c, &buf, buf.count, 0)
                    if n <= 0 { break }
                    got += buf[0..<n]
                }
                _ = bytes.withUnsafeBytes { send(c, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                close(c)
            }
        }
    }

    func stop() {
        shutdown(fd, Int32(SHUT_RDWR))
        close(fd)
        unlink(path)
    }
}

@Suite("card-inspect doctor: jpkid's socket asked through async-http-client")
struct DoctorSocketTests {
    @Test("the status of an answer, errno of a missing socket, no answer from a non-HTTP peer")
    func jpkidStatus() async throws {
        let env = SystemDoctorEnvironment(trace: nil)
        let forbidden = try CannedUnixServer(answer: "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
        defer { forbidden.stop() }
        #expect(await env.jpkidStatus(socket: forbidden.path, route: "/v1/health") == .success(403))
        let missing = NSTemporaryDirectory() + "doctor-missing-\(UUID().uuidString.prefix(8)).sock"
        guard case .failure(let e) = await env.jpkidStatus(socket: missing, route: "/v1/health") else {
            Issue.record("a missing socket answered")
            return
        }
        #expect(e.errno == ENOENT)
        let garbage = try CannedUnixServer(answer: "SSH-2.0-not-http\r\n\r\n")
        defer { garbage.stop() }
        #expect(
            await env.jpkidStatus(socket: garbage.path, route: "/v1/health")
                == .failure(.init(errno: 0, message: "no HTTP answer")))
    }
}
