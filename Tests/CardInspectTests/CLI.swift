import Foundation
import Synchronization

/// Runs the built `card-inspect` binary as a child process: posix_spawn with a clean signal
/// mask (the test runner blocks SIGTERM/SIGINT, children would inherit that), a new session
/// (no controlling terminal, so the PIN prompt path is deterministic) and pipes.
enum CLI {
    struct Failure: Error, CustomStringConvertible { let description: String }

    /// The outcome of one run.
    struct Result: Sendable {
        var status: Int32
        var stdout: String
        var stderr: String

        /// The stdout as JSON.
        var json: [String: Any] {
            (try? JSONSerialization.jsonObject(with: Data(stdout.utf8))) as? [String: Any] ?? [:]
        }

        /// stderr lines (empty ones dropped).
        var errorLines: [Substring] { stderr.split(separator: "\n") }
    }

    /// The package root (this file is Tests/CardInspectTests/CLI.swift).
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    /// `apdu-fixtures/pki`.
    static let pki = packageRoot.appendingPathComponent("apdu-fixtures/pki").path

    /// A fixture card file.
    static func fixture(_ card: String, _ file: String) -> URL {
        packageRoot.appendingPathComponent("apdu-fixtures/cards/\(card)/\(file)")
    }

    /// The `card-inspect` binary next to the test bundle (the test target depends on it).
    static func binary() throws -> String {
        var candidates: [String] = []
        if let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            candidates.append(
                URL(fileURLWithPath: exe).deletingLastPathComponent().appendingPathComponent("card-inspect").path)
        }
        if let exe = Bundle.main.executablePath {
            candidates.append(
                URL(fileURLWithPath: exe).deletingLastPathComponent().appendingPathComponent("card-inspect").path)
        }
        candidates.append(packageRoot.appendingPathComponent(".build/debug/card-inspect").path)
        for c in candidates where FileManager.default.isExecutableFile(atPath: c) { return c }
        throw Failure(description: "card-inspect not built; looked at \(candidates)")
    }

    /// A running child.
    final class Child: Sendable {
        let pid: pid_t
        final class Sink: Sendable {
            let bytes = Mutex<[UInt8]>([])
        }
        private let out = Sink()
        private let err = Sink()
        private let done = Mutex<Int>(0)

        /// The write end of the child's stdin, when kept open (-1 otherwise).
        let stdinFD: Int32

        init(pid: pid_t, stdin: Int32 = -1, stdout: Int32, stderr: Int32) {
            self.pid = pid
            self.stdinFD = stdin
            for (fd, buffer) in [(stdout, out), (stderr, err)] {
                let t = Thread { [self] in
                    var chunk = [UInt8](repeating: 0, count: 4096)
                    while true {
                        let n = read(fd, &chunk, chunk.count)
                        if n < 0, errno == EINTR { continue }
                        if n <= 0 { break }
                        buffer.bytes.withLock { $0 += chunk[0..<n] }
                    }
                    close(fd)
                    self.done.withLock { $0 += 1 }
                }
                t.start()
            }
        }

        var stdout: String { String(decoding: out.bytes.withLock { $0 }, as: UTF8.self) }
        var stderr: String { String(decoding: err.bytes.withLock { $0 }, as: UTF8.self) }

        /// Writes to the child's stdin (kept open by ``CLI/start(_:stdin:environment:keepStdinOpen:executable:)``).
        func send(_ text: String) {
            let bytes = Array(text.utf8)
            _ = bytes.withUnsafeBufferPointer { write(stdinFD, $0.baseAddress, $0.count) }
        }

        /// Closes the child's stdin.
        func closeStdin() { if stdinFD >= 0 { close(stdinFD) } }

        /// Waits for the exit (blocking: call off the cooperative pool) and both pipes' EOF.
        func waitSync() -> Int32 {
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
            while done.withLock({ $0 }) < 2 { usleep(1000) }
            if status & 0x7F == 0 { return (status >> 8) & 0xFF }
            return 128 + (status & 0x7F)
        }

        /// Waits for the exit on a separate thread.
        func wait() async -> Int32 {
            await withCheckedContinuation { (c: CheckedContinuation<Int32, Never>) in
                Thread.detachNewThread { c.resume(returning: self.waitSync()) }
            }
        }
    }

    /// glibc's POSIX_SPAWN_SETSID (not imported into Swift).
    static let setsidFlag: Int32 = 0x80

    /// Starts `card-inspect ARGS`; `stdin` is written and closed (nil = empty stdin).
    static func start(
        _ args: [String], stdin: String? = nil, environment: [String: String] = [:], keepStdinOpen: Bool = false,
        executable: String? = nil
    ) throws -> Child {
        let path = try executable ?? binary()
        var inPipe: [Int32] = [0, 0]
        var outPipe: [Int32] = [0, 0]
        var errPipe: [Int32] = [0, 0]
        guard pipe(&inPipe) == 0, pipe(&outPipe) == 0, pipe(&errPipe) == 0 else {
            throw Failure(description: "pipe failed")
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, inPipe[0], 0)
        posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, errPipe[1], 2)
        for fd in inPipe + outPipe + errPipe { posix_spawn_file_actions_addclose(&actions, fd) }

        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        var empty = sigset_t()
        sigemptyset(&empty)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        sigaddset(&defaults, SIGTERM)
        sigaddset(&defaults, SIGINT)
        sigaddset(&defaults, SIGPIPE)
        posix_spawnattr_setsigmask(&attr, &empty)
        posix_spawnattr_setsigdefault(&attr, &defaults)
        posix_spawnattr_setflags(
            &attr, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | setsidFlag))

        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        let argv: [UnsafeMutablePointer<CChar>?] = ([path] + args).map { strdup($0) } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?] = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for p in argv { free(p) }
            for p in envp { free(p) }
        }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, path, &actions, &attr, argv, envp)
        close(inPipe[0])
        close(outPipe[1])
        close(errPipe[1])
        guard rc == 0 else {
            close(inPipe[1])
            close(outPipe[0])
            close(errPipe[0])
            throw Failure(description: "posix_spawn failed: \(rc)")
        }
        if let stdin {
            let bytes = Array(stdin.utf8)
            _ = bytes.withUnsafeBufferPointer { write(inPipe[1], $0.baseAddress, $0.count) }
        }
        if keepStdinOpen { return Child(pid: pid, stdin: inPipe[1], stdout: outPipe[0], stderr: errPipe[0]) }
        close(inPipe[1])
        return Child(pid: pid, stdout: outPipe[0], stderr: errPipe[0])
    }

    /// Starts `card-inspect ARGS` on a pseudo-terminal (util-linux `script`), so the PIN prompt
    /// path (termios, /dev/tty) runs; write the answers with ``Child/send(_:)``.
    static func startOnTerminal(_ args: [String]) throws -> Child {
        let command = ([try binary()] + args).map { "'" + $0 + "'" }.joined(separator: " ")
        return try start(
            ["-qec", command, "/dev/null"], keepStdinOpen: true, executable: "/usr/bin/script")
    }

    /// Runs `card-inspect ARGS` to completion.
    static func run(_ args: [String], stdin: String? = nil, environment: [String: String] = [:]) async throws
        -> Result
    {
        let child = try start(args, stdin: stdin, environment: environment)
        let status = await child.wait()
        return Result(status: status, stdout: child.stdout, stderr: child.stderr)
    }
}
