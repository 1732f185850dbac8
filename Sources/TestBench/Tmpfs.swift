import Foundation

/// Mounts a small tmpfs (default 64 KiB) on a fresh directory for `body` and unmounts it however
/// `body` ends: a file system that fills up on demand. Needs root (CI and the bench run as
/// root); a failed mount throws, so a test that needs it fails rather than skips.
public func withSmallTmpfs<T>(size: String = "64k", _ body: (String) async throws -> T) async throws -> T {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("jpki-tmpfs-\(UUID().uuidString.prefix(8))")
        .path
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    let r = try runProgram("/bin/mount", ["-t", "tmpfs", "-o", "size=\(size),mode=0700", "tmpfs", dir])
    guard r.status == 0 else { throw TestFailure("cannot mount a tmpfs on \(dir) (root needed): \(r.stderr)") }
    func unmount() {
        // A descriptor still open on it (a writer not yet released) makes umount fail: detach it
        // lazily then, so no mount is ever left behind.
        if (try? runProgram("/bin/umount", [dir]))?.status != 0 { _ = try? runProgram("/bin/umount", ["-l", dir]) }
        try? FileManager.default.removeItem(atPath: dir)
    }
    do {
        let v = try await body(dir)
        unmount()
        return v
    } catch {
        unmount()
        throw error
    }
}

/// Fills the file system holding `dir` with a file (`dir/filler`) until not one byte more
/// fits; returns its path (remove it to free the space).
public func fillFileSystem(_ dir: String) throws -> String {
    let path = dir + "/filler"
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
    guard fd >= 0 else { throw TestFailure("cannot create \(path)") }
    defer { close(fd) }
    let chunk = [UInt8](repeating: 0x41, count: 4096)
    while write(fd, chunk, chunk.count) > 0 {}
    while write(fd, chunk, 1) > 0 {}
    return path
}
