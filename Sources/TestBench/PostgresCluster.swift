import Foundation

/// A throw-away PostgreSQL cluster from Debian's packages (`initdb` + `pg_ctl`), listening only
/// on a Unix socket in its own directory under /tmp, started once per test process and stopped
/// at exit. If it cannot start, the PostgreSQL tests fail (never skipped). As root, the server
/// runs as the `postgres` user (initdb refuses root).
public actor PostgresCluster {
    /// The cluster of this test process (started on first use, stopped at exit).
    public static let shared = PostgresCluster()

    private var started: Result<URL, TestFailure>?
    private var databases = 0

    /// A new empty database; returns its URL.
    public func newDatabase() throws -> String {
        let dir = try start()
        databases += 1
        let name = "elig_\(getpid())_\(databases)"
        let r = try Self.asServerUser([
            Self.bin("psql"), "-h", dir.path, "-U", "postgres", "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-c",
            "CREATE DATABASE \(name)",
        ])
        guard r.status == 0 else { throw TestFailure("CREATE DATABASE failed: \(r.stderr)") }
        return "postgres://postgres@/\(name)?host=\(dir.path)"
    }

    private func start() throws -> URL {
        if let started { return try started.get() }
        let result: Result<URL, TestFailure>
        do { result = .success(try Self.boot()) } catch let e as TestFailure { result = .failure(e) } catch {
            result = .failure(TestFailure("\(error)"))
        }
        started = result
        return try result.get()
    }

    nonisolated(unsafe) static var dataDir: String = ""

    static func boot() throws -> URL {
        let root = URL(fileURLWithPath: "/tmp/jpki-elig-pg-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        let data = root.appendingPathComponent("data")
        let sock = root.appendingPathComponent("sock")
        try FileManager.default.createDirectory(at: sock, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: data, withIntermediateDirectories: true)
        if getuid() == 0 {
            guard let pw = getpwnam("postgres") else {
                throw TestFailure("no postgres user: install Debian's postgresql package (scripts/install-deps)")
            }
            for p in [root.path, data.path, sock.path] { chown(p, pw.pointee.pw_uid, pw.pointee.pw_gid) }
        }
        chmod(data.path, 0o700)
        let initdb = try asServerUser([
            bin("initdb"), "-D", data.path, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8",
        ])
        guard initdb.status == 0 else { throw TestFailure("initdb failed: \(initdb.stderr)") }
        dataDir = data.path
        let log = root.appendingPathComponent("server.log").path
        let start = try asServerUser([
            bin("pg_ctl"), "-D", data.path, "-l", log, "-w", "-t", "60", "-o",
            "-k \(sock.path) -c listen_addresses='' -c fsync=off -c max_connections=50", "start",
        ])
        guard start.status == 0 else {
            let serverLog = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            throw TestFailure("pg_ctl start failed: \(start.stderr) \(serverLog)")
        }
        atexit {
            _ = try? PostgresCluster.asServerUser([
                PostgresCluster.binOrEmpty("pg_ctl"), "-D", PostgresCluster.dataDir, "-m", "immediate", "-w", "stop",
            ])
            let root = (PostgresCluster.dataDir as NSString).deletingLastPathComponent
            if root.hasPrefix("/tmp/jpki-elig-pg-") { try? FileManager.default.removeItem(atPath: root) }
        }
        return sock
    }

    /// The newest installed server's binary (Debian: /usr/lib/postgresql/N/bin).
    static func bin(_ name: String) throws -> String {
        let p = binOrEmpty(name)
        guard !p.isEmpty else {
            throw TestFailure(
                "PostgreSQL server binaries not found under /usr/lib/postgresql: run scripts/install-deps")
        }
        return p
    }

    static func binOrEmpty(_ name: String) -> String {
        let base = "/usr/lib/postgresql"
        let versions = ((try? FileManager.default.contentsOfDirectory(atPath: base)) ?? []).compactMap(Int.init)
            .sorted()
        for v in versions.reversed() {
            let p = "\(base)/\(v)/bin/\(name)"
            if FileManager.default.isExecutableFile(atPath: p) { return p }
        }
        return ""
    }

    static func asServerUser(_ argv: [String]) throws -> ProcessResult {
        if getuid() == 0 {
            return try runProgram("/usr/sbin/runuser", ["-u", "postgres", "--"] + argv)
        }
        return try runProgram(argv[0], Array(argv.dropFirst()))
    }
}
