import Foundation

/// A test failure with a message (setup problems such as a missing binary or server).
public struct TestFailure: Error, CustomStringConvertible {
    public let description: String
    public init(_ d: String) { description = d }
}

/// A finished program: exit status (128+signal when killed) and its output.
public struct ProcessResult: Sendable {
    public var status: Int32
    public var stdout: String
    public var stderr: String
}

/// glibc's `posix_spawn_file_actions_addclosefrom_np` (2.34+; its header declaration is not visible
/// to Swift's Glibc module, so it is looked up by name): closes every descriptor from a number on
/// in the child.
private let closeFromAction: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32)? = {
    guard let symbol = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np") else { return nil }
    return unsafeBitCast(
        symbol, to: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32).self)
}()

/// Starts a program with posix_spawn and a clean signal mask (the test runner blocks SIGTERM, and
/// Foundation's Process misses child exits here). `fds` maps the child's 0/1/2 to files or fds.
public func spawnProgram(
    _ path: String, _ args: [String], stdinPath: String, stdoutFD: Int32? = nil, stdoutPath: String?,
    stderrPath: String,
    passing: [Int32: Int32] = [:]
)
    throws -> pid_t
{
    var attr = posix_spawnattr_t()
    posix_spawnattr_init(&attr)
    defer { posix_spawnattr_destroy(&attr) }
    var empty = sigset_t()
    sigemptyset(&empty)
    var defaults = sigset_t()
    sigemptyset(&defaults)
    for s in [SIGTERM, SIGINT, SIGPIPE, SIGCHLD] { sigaddset(&defaults, s) }
    posix_spawnattr_setsigmask(&attr, &empty)
    posix_spawnattr_setsigdefault(&attr, &defaults)
    posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, stdinPath, O_RDONLY, 0)
    if let stdoutFD {
        posix_spawn_file_actions_adddup2(&actions, stdoutFD, 1)
    } else {
        posix_spawn_file_actions_addopen(&actions, 1, stdoutPath ?? "/dev/null", O_WRONLY | O_TRUNC | O_CREAT, 0o600)
    }
    posix_spawn_file_actions_addopen(&actions, 2, stderrPath, O_WRONLY | O_TRUNC | O_CREAT, 0o600)
    // Extra descriptors for the child (child fd ← our fd), e.g. a listening socket as fd 3.
    for (child, ours) in passing { posix_spawn_file_actions_adddup2(&actions, ours, child) }
    // Nothing else of ours reaches the child: the test process holds in-process daemons' sockets
    // (not all close-on-exec), and a child that outlives a test — a PostgreSQL server, a spawned
    // jpkid — would keep a connection open that the daemon closed (seen: a fairness test's
    // "stream closed" never reached its peer while another test's PostgreSQL server ran).
    if let addCloseFrom = closeFromAction { _ = addCloseFrom(&actions, (passing.keys.max() ?? 2) + 1) }
    let argv: [UnsafeMutablePointer<CChar>?] = ([path] + args).map { strdup($0) } + [nil]
    defer { for a in argv { free(a) } }
    var pid: pid_t = 0
    let rc = posix_spawn(&pid, path, &actions, &attr, argv, environ)
    guard rc == 0 else { throw TestFailure("cannot start \(path): \(String(cString: strerror(rc)))") }
    return pid
}

/// Waits for a child; its exit status, or 128+signal.
public func waitForExit(_ pid: pid_t) -> Int32 {
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 {
        if errno != EINTR { return -1 }
    }
    if status & 0x7F == 0 { return (status >> 8) & 0xFF }
    return 128 + (status & 0x7F)
}

/// Runs a program to completion; output goes through temporary files (no pipe deadlocks).
public func runProgram(_ path: String, _ args: [String], stdin: Data? = nil) throws -> ProcessResult {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("jpki-proc-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    let out = dir.appendingPathComponent("out").path
    let err = dir.appendingPathComponent("err").path
    let inp = dir.appendingPathComponent("in").path
    _ = FileManager.default.createFile(atPath: inp, contents: stdin ?? Data())
    let pid = try spawnProgram(path, args, stdinPath: inp, stdoutPath: out, stderrPath: err)
    let status = waitForExit(pid)
    return ProcessResult(
        status: status,
        stdout: String(decoding: (try? Data(contentsOf: URL(fileURLWithPath: out))) ?? Data(), as: UTF8.self),
        stderr: String(decoding: (try? Data(contentsOf: URL(fileURLWithPath: err))) ?? Data(), as: UTF8.self))
}

/// A built executable next to the test bundle.
public func builtBinary(_ name: String) throws -> String {
    var dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    for _ in 0..<4 {
        let candidate = dir.appendingPathComponent(name)
        if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate.path }
        dir = dir.deletingLastPathComponent()
    }
    throw TestFailure("\(name) binary not found next to the test bundle: run `swift build` first")
}

/// Runs blocking work (socket clients, waits) on a thread of its own, off the cooperative pool:
/// on a 2-core machine the pool has 2 threads, and a blocked one starves in-process daemons.
public func blocking<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { c in
        Thread.detachNewThread {
            c.resume(with: Result { try body() })
        }
    }
}

/// Whether `needle` occurs in `text` as a whole token: not inside a longer run of letters or
/// digits. A PIN "1234" inside a hex hash or session id does not count; `"1234"` as a JSON value
/// does. Non-ASCII needles (names, addresses) count anywhere.
public func containsToken(_ text: String, _ needle: String) -> Bool {
    guard text.contains(needle) else { return false }
    guard needle.unicodeScalars.allSatisfy(\.isASCII) else { return true }
    let chars = Array(text.unicodeScalars)
    let target = Array(needle.unicodeScalars)
    let isWord = { (c: Unicode.Scalar) in c.properties.isAlphabetic || ("0"..."9").contains(c) }
    var i = 0
    while i + target.count <= chars.count {
        if chars[i] == target[0], Array(chars[i..<i + target.count]) == target {
            let before = i > 0 ? chars[i - 1] : " "
            let after = i + target.count < chars.count ? chars[i + target.count] : " "
            if !isWord(before) && !isWord(after) { return true }
        }
        i += 1
    }
    return false
}
