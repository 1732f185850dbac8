import Foundation
import JPKIDaemon
import Logging
import Synchronization
import Testing

@Suite("journald logs: JOURNAL_STREAM detection, one line per event with <N> priority, no timestamp")
struct JournalLogTests {
    @Test("JOURNAL_STREAM naming stderr's device:inode is detected; absent or another file is not")
    func detection() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("journal-\(getpid()).log").path
        let fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0o600)
        try #require(fd >= 0)
        defer {
            close(fd)
            unlink(path)
        }
        var st = stat()
        try #require(fstat(fd, &st) == 0)
        let value = "\(st.st_dev):\(st.st_ino)"
        #expect(JournalLog.isJournalStream(environment: ["JOURNAL_STREAM": value], fd: fd))
        #expect(!JournalLog.isJournalStream(environment: [:], fd: fd))
        #expect(!JournalLog.isJournalStream(environment: ["JOURNAL_STREAM": "\(st.st_dev):\(st.st_ino + 1)"], fd: fd))
        #expect(!JournalLog.isJournalStream(environment: ["JOURNAL_STREAM": "garbage"], fd: fd))
    }

    @Test("a logger writes <N>label: message key=value, one line per event, levels mapped to syslog")
    func lines() {
        let lines = Mutex<[String]>([])
        var handler = JournalLogHandler(label: "jpkid") { line in lines.withLock { $0.append(line) } }
        handler.logLevel = .debug
        let logger = Logger(label: "jpkid") { _ in handler }
        logger.info("reader added", metadata: ["reader": "Virtual PCD 00 00"])
        logger.error("cannot start\nsecond line", metadata: ["error": "boom\nagain"])
        logger.debug("debug")
        logger.critical("critical")
        logger.trace("dropped below the level")
        let got = lines.withLock { $0 }
        #expect(
            got == [
                "<6>jpkid: reader added reader=Virtual PCD 00 00\n",
                "<3>jpkid: cannot start second line error=boom again\n",
                "<7>jpkid: debug\n",
                "<2>jpkid: critical\n",
            ])
        // No timestamp of our own (the journal stamps lines): each line is exactly the above.
        #expect(JournalLog.priority(.warning) == 4 && JournalLog.priority(.notice) == 5)
    }
}

@Suite("peer credentials: supplementary groups from /proc/PID/status")
struct SupplementaryGroupsTests {
    @Test("every group of this process is read, the first one too (the line is 'Groups:\\t…')")
    func ownGroups() throws {
        let count = getgroups(0, nil)
        var groups = [gid_t](repeating: 0, count: Int(max(count, 0)))
        try #require(getgroups(count, &groups) == count)
        let read = PeerCredentials(pid: getpid(), uid: getuid(), gid: getgid()).supplementaryGroups
        #expect(Set(read) == Set(groups.map { UInt32($0) }))
    }
}
