import Foundation

#if canImport(Glibc)
    import Glibc
    private let streamType = Int32(SOCK_STREAM.rawValue)
#elseif canImport(Musl)
    import Musl
    private let streamType = SOCK_STREAM
#elseif canImport(Darwin)
    import Darwin
    private let streamType = SOCK_STREAM
#endif

/// A TCP connection attempt bounded in time, shared by the vpcd bridge (a vpcd whose one-entry
/// accept queue is taken drops the handshake, and a plain connect would wait about two
/// minutes) and the small HTTP client of the verification layer (OCSP, eligibility gateway).
public enum TCPConnect {
    /// Why no connection was made.
    public enum Failure: Error, Sendable, Equatable {
        /// The host name could not be resolved.
        case unresolved
        /// Every address failed; `errno` of the last attempt (`ETIMEDOUT` when the time ran out).
        case failed(errno: Int32)
    }

    /// Connects to `host`:`port` (every address getaddrinfo returns, each within
    /// `timeoutMilliseconds`) and returns a blocking socket. The name lookup itself has no
    /// deadline.
    public static func connect(host: String, port: UInt16, timeoutMilliseconds: Int32) throws(Failure) -> Int32 {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = streamType
        hints.ai_flags = AI_NUMERICSERV
        var result: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &result) == 0, let first = result else {
            throw .unresolved
        }
        defer { freeaddrinfo(result) }
        var lastErrno: Int32 = ECONNREFUSED
        var ai: UnsafeMutablePointer<addrinfo>? = first
        while let a = ai {
            ai = a.pointee.ai_next
            let fd = socket(a.pointee.ai_family, a.pointee.ai_socktype, a.pointee.ai_protocol)
            guard fd >= 0 else {
                lastErrno = errno
                continue
            }
            if let e = attempt(fd, a.pointee.ai_addr, a.pointee.ai_addrlen, timeoutMilliseconds) {
                lastErrno = e
                close(fd)
                continue
            }
            return fd
        }
        throw .failed(errno: lastErrno)
    }

    /// One non-blocking connect waited for with poll; nil on success (the socket is left
    /// blocking), else the errno.
    private static func attempt(
        _ fd: Int32, _ address: UnsafeMutablePointer<sockaddr>!, _ length: socklen_t, _ milliseconds: Int32
    ) -> Int32? {
        let flags = fcntl(fd, F_GETFL, 0)
        _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
        defer { _ = fcntl(fd, F_SETFL, flags) }
        if systemConnect(fd, address, length) == 0 { return nil }
        guard errno == EINPROGRESS else { return errno }
        var pfd = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
        var rc: Int32
        repeat { rc = poll(&pfd, 1, max(1, milliseconds)) } while rc < 0 && errno == EINTR
        guard rc > 0 else { return rc == 0 ? ETIMEDOUT : errno }
        var soError: Int32 = 0
        var len = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_ERROR, &soError, &len) == 0 else { return errno }
        return soError == 0 ? nil : soError
    }
}

/// `connect(2)` under a name that does not clash with ``TCPConnect/connect(host:port:timeoutMilliseconds:)``.
@inline(__always)
private func systemConnect(_ fd: Int32, _ addr: UnsafeMutablePointer<sockaddr>!, _ len: socklen_t) -> Int32 {
    #if canImport(Glibc)
        Glibc.connect(fd, addr, len)
    #elseif canImport(Musl)
        Musl.connect(fd, addr, len)
    #else
        Darwin.connect(fd, addr, len)
    #endif
}
