import Foundation
import SmartCard
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Connects a ``VirtualCard`` to vpcd (vsmartcard's virtual reader driver inside pcscd) over
/// TCP, so the card appears in the real PC/SC stack. Connecting inserts the card; ``stop()``
/// closes the socket, which removes it.
///
/// Framing (vsmartcard api.txt, decoded by ``VPCDFrameDecoder``): every message is a big-endian u16 length + payload. A 1-byte
/// payload is a control message — `00` power off, `01` power on, `02` reset, `04` get ATR (the
/// only one answered, with the ATR); anything longer is a C-APDU answered with the R-APDU.
///
/// Latency: the socket sets TCP_NODELAY once and re-arms TCP_QUICKACK before every read;
/// without that, delayed ACKs turn a 0.1 ms round trip into ~48 ms.
public final class VPCDBridge: @unchecked Sendable {
    private struct State {
        var fd: Int32 = -1
        var stopped = false
        var running = false
        var connected = false
    }

    /// The card behind the bridge. It is only touched on the bridge thread while running.
    public let card: any VirtualCard
    /// vpcd's host.
    public let host: String
    /// vpcd's port (35963 = slot 0, 35964 = slot 1).
    public let port: UInt16
    /// Reconnect when vpcd goes away (pcscd restarted), until ``stop()``.
    public let reconnect: Bool

    private let state = Mutex(State())
    private let finished = DispatchSemaphore(value: 0)

    /// Creates a bridge; nothing happens until ``start()``.
    public init(card: any VirtualCard, host: String = "127.0.0.1", port: UInt16 = 35963, reconnect: Bool = false) {
        self.card = card
        self.host = host
        self.port = port
        self.reconnect = reconnect
    }

    /// Whether the socket to vpcd is open (the card is inserted).
    public var isConnected: Bool { state.withLock { $0.connected } }

    /// Connects to vpcd (inserting the card) and serves it on a dedicated thread.
    /// Throws when vpcd cannot be reached.
    public func start() throws(SmartCardError) {
        let fd = try Self.connect(host: host, port: port)
        let ok: Bool = state.withLock {
            if $0.running || $0.stopped { return false }
            $0.fd = fd
            $0.running = true
            $0.connected = true
            return true
        }
        guard ok else {
            close(fd)
            throw .transport("bridge already started or stopped")
        }
        let thread = Thread { [self] in self.serveLoop(fd) }
        thread.name = "vpcd-bridge:\(port)"
        thread.start()
    }

    /// Removes the card: closes the socket and ends the bridge thread. Safe to call twice.
    public func stop() {
        let fd: Int32 = state.withLock {
            $0.stopped = true
            return $0.fd
        }
        if fd >= 0 { shutdown(fd, Int32(SHUT_RDWR)) }
    }

    /// Blocks until the bridge thread has ended (after ``stop()``, a fault removal or vpcd closing).
    public func waitUntilStopped() {
        let running = state.withLock { $0.running }
        if running {
            finished.wait()
            finished.signal()
        }
    }

    private func serveLoop(_ firstFD: Int32) {
        var fd = firstFD
        while true {
            let removedByCard = serve(fd)
            close(fd)
            let again: Bool = state.withLock {
                $0.fd = -1
                $0.connected = false
                return reconnect && !removedByCard && !$0.stopped
            }
            guard again else { break }
            // vpcd went away (pcscd restart): retry until it is back or we are stopped.
            var next: Int32 = -1
            while next < 0 {
                if state.withLock({ $0.stopped }) { break }
                Thread.sleep(forTimeInterval: 0.05)
                next = (try? Self.connect(host: host, port: port)) ?? -1
            }
            if next < 0 { break }
            let keep: Bool = state.withLock {
                if $0.stopped { return false }
                $0.fd = next
                $0.connected = true
                return true
            }
            if !keep {
                close(next)
                break
            }
            fd = next
        }
        state.withLock { $0.running = false }
        finished.signal()
    }

    /// Serves one connection. Returns true when the card asked to be removed (fault).
    private func serve(_ fd: Int32) -> Bool {
        var decoder = VPCDFrameDecoder()
        var chunk = [UInt8](repeating: 0, count: 65_537)
        while true {
            while true {
                let message: VPCDMessage?
                do {
                    message = try decoder.next()
                } catch {
                    return false
                }
                guard let message else { break }
                switch message {
                case .powerOff: card.powerOff()
                case .powerOn: card.powerOn()
                case .reset: card.reset()
                case .getATR:
                    guard writeFrame(fd, card.atr) else { return false }
                case .unknownControl: break
                case .apdu(let command):
                    guard let response = card.process(command) else { return true }
                    guard writeFrame(fd, response) else { return false }
                }
            }
            guard let n = readSome(fd, &chunk) else { return false }
            decoder.append(chunk[0..<n])
        }
    }

    /// Reads what is available (at least one byte); nil on EOF or error.
    private func readSome(_ fd: Int32, _ buffer: inout [UInt8]) -> Int? {
        var quickAck: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_QUICKACK, &quickAck, socklen_t(MemoryLayout<Int32>.size))
        while true {
            let n = buffer.withUnsafeMutableBytes { raw in
                recv(fd, raw.baseAddress!, raw.count, 0)
            }
            if n > 0 { return n }
            if n < 0 && errno == EINTR { continue }
            return nil
        }
    }

    private func writeFrame(_ fd: Int32, _ payload: [UInt8]) -> Bool {
        guard let frame = try? VPCDFrameDecoder.frame(payload) else { return false }
        var sent = 0
        while sent < frame.count {
            let n = frame.withUnsafeBytes { raw in
                send(fd, raw.baseAddress! + sent, frame.count - sent, Int32(MSG_NOSIGNAL))
            }
            if n > 0 {
                sent += n
            } else if n < 0 && errno == EINTR {
                continue
            } else {
                return false
            }
        }
        return true
    }

    private static func connect(host: String, port: UInt16) throws(SmartCardError) -> Int32 {
        let fd: Int32
        do {
            // Bounded: a vpcd whose accept queue is taken would otherwise hold us ~2 minutes.
            fd = try TCPConnect.connect(host: host, port: port, timeoutMilliseconds: 5_000)
        } catch {
            switch error {
            case .unresolved: throw .transport("cannot resolve vpcd host \(host)")
            case .failed(let e):
                throw .transport("cannot connect to vpcd at \(host):\(port): \(String(cString: strerror(e)))")
            }
        }
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        return fd
    }
}
