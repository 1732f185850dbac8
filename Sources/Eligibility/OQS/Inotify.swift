import Foundation

#if canImport(Glibc)
    import Glibc

    /// A Linux inotify instance with a wake-up pipe, for a dedicated thread that waits on
    /// `poll(2)` with a deadline: file events arrive without polling the directory.
    public final class DirectoryWatch: @unchecked Sendable {
        /// One event: the watched directory and the file name.
        public struct Event: Sendable, Equatable {
            public var directory: String
            public var name: String
            public var mask: UInt32
        }

        private let fd: Int32
        private let wakeRead: Int32
        private let wakeWrite: Int32
        // Only the owning thread touches `watches` (wake() is the one cross-thread call).
        private var watches: [Int32: String] = [:]

        /// Creates the inotify instance; nil when the kernel refuses (no inotify, fd limit).
        public init?() {
            let fd = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
            guard fd >= 0 else { return nil }
            var p: [Int32] = [0, 0]
            guard pipe(&p) == 0 else {
                close(fd)
                return nil
            }
            for f in p {
                _ = fcntl(f, F_SETFL, fcntl(f, F_GETFL) | O_NONBLOCK)
                _ = fcntl(f, F_SETFD, FD_CLOEXEC)
            }
            self.fd = fd
            wakeRead = p[0]
            wakeWrite = p[1]
        }

        deinit {
            close(fd)
            close(wakeRead)
            close(wakeWrite)
        }

        /// File closed after writing, or moved in (the atomic-rename case).
        public static let arrivals = UInt32(IN_CLOSE_WRITE | IN_MOVED_TO)
        /// The directory itself went away (unmounted share, deleted folder).
        public static let gone = UInt32(IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED | IN_UNMOUNT)

        /// Watches `directory` for `mask` (plus ``gone``). False when it cannot be watched.
        public func watch(_ directory: String, mask: UInt32) -> Bool {
            let wd = inotify_add_watch(fd, directory, mask | Self.gone)
            guard wd >= 0 else { return false }
            watches[wd] = directory
            return true
        }

        /// Directories currently watched.
        public var watched: Set<String> { Set(watches.values) }

        /// Wakes a thread blocked in ``wait(timeoutMilliseconds:)`` (safe from any thread).
        public func wake() {
            var b: UInt8 = 1
            _ = write(wakeWrite, &b, 1)
        }

        /// Blocks until events arrive, a wake-up, or the timeout (-1 = none). Returns the events
        /// (empty on timeout or wake-up); a directory that went away is dropped from the watch list
        /// and reported with its `gone` bits and an empty name.
        public func wait(timeoutMilliseconds: Int32) -> [Event] {
            var fds = [
                pollfd(fd: fd, events: Int16(POLLIN), revents: 0),
                pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0),
            ]
            let n = poll(&fds, 2, timeoutMilliseconds)
            guard n > 0 else { return [] }
            if fds[1].revents != 0 {
                var sink = [UInt8](repeating: 0, count: 64)
                while read(wakeRead, &sink, sink.count) > 0 {}
            }
            guard fds[0].revents != 0 else { return [] }
            var out: [Event] = []
            var buffer = [UInt8](repeating: 0, count: 64 * 1024)
            while true {
                let got = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                guard got > 0 else { break }
                var off = 0
                let header = MemoryLayout<inotify_event>.size
                while off + header <= got {
                    let (wd, mask, len) = buffer.withUnsafeBytes { raw in
                        (
                            raw.loadUnaligned(fromByteOffset: off, as: Int32.self),
                            raw.loadUnaligned(fromByteOffset: off + 4, as: UInt32.self),
                            Int(raw.loadUnaligned(fromByteOffset: off + 12, as: UInt32.self))
                        )
                    }
                    let nameBytes = buffer[(off + header)..<min(got, off + header + len)]
                    let name = String(decoding: nameBytes.prefix { $0 != 0 }, as: UTF8.self)
                    if let dir = watches[wd] {
                        if mask & Self.gone != 0 && name.isEmpty {
                            watches.removeValue(forKey: wd)
                            if mask & UInt32(IN_IGNORED) == 0 { inotify_rm_watch(fd, wd) }
                        }
                        out.append(Event(directory: dir, name: name, mask: mask))
                    }
                    off += header + len
                }
            }
            return out
        }
    }
#endif
