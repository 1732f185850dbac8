import Foundation
import Synchronization

/// An event sent to `/v1/events` subscribers (Server-Sent Events).
public struct DaemonEvent: Codable, Sendable, Equatable {
    /// `reader-added`, `reader-removed`, `card-inserted`, `card-removed`, `card-error`,
    /// `service-unavailable`, `service-restored`.
    public var type: String
    /// Monotonic sequence number (SSE `id:`).
    public var seq: UInt64
    /// ISO 8601 time.
    public var time: String
    /// The reader concerned.
    public var reader: String?
    /// The card session created (insert) or ended (remove).
    public var session: String?
    /// The card's ATR (hex), on insert.
    public var atr: String?
    /// An error code (`card-error`, `service-unavailable`).
    public var error: String?
    /// The id of a face-reader result (`oqs-face-result`; the content is at
    /// `/v1/oqs/face-results/{id}`, never in the event).
    public var result: String?

    /// The SSE wire form.
    public var serverSentEvent: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let json = (try? encoder.encode(self)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
        return "id: \(seq)\nevent: \(type)\ndata: \(json)\n\n"
    }
}

/// Fan-out of daemon events to subscribers. Each subscriber has a bounded buffer (newest kept),
/// so a slow or dead client can never block readers or other clients.
public final class EventBus: Sendable {
    private struct State {
        var seq: UInt64 = 0
        var subscribers: [UInt64: AsyncStream<DaemonEvent>.Continuation] = [:]
        var nextID: UInt64 = 0
    }
    private let state = Mutex(State())
    private let bufferLimit: Int

    /// Creates a bus; each subscriber keeps at most `bufferLimit` undelivered events.
    public init(bufferLimit: Int = 256) {
        self.bufferLimit = bufferLimit
    }

    /// Subscribes; the stream ends when the subscriber cancels or the bus is closed.
    public func subscribe() -> AsyncStream<DaemonEvent> {
        let (stream, continuation) = AsyncStream<DaemonEvent>.makeStream(
            bufferingPolicy: .bufferingNewest(bufferLimit))
        let id: UInt64 = state.withLock {
            $0.nextID += 1
            $0.subscribers[$0.nextID] = continuation
            return $0.nextID
        }
        continuation.onTermination = { [weak self] _ in
            _ = self?.state.withLock { $0.subscribers.removeValue(forKey: id) }
        }
        return stream
    }

    /// Events published so far (monotonic).
    public var sequence: UInt64 { state.withLock { $0.seq } }

    /// Number of current subscribers.
    public var subscriberCount: Int { state.withLock { $0.subscribers.count } }

    /// Publishes an event to every subscriber.
    @discardableResult
    public func publish(
        _ type: String, reader: String? = nil, session: String? = nil, atr: String? = nil, error: String? = nil,
        result: String? = nil
    ) -> DaemonEvent {
        let (event, targets) = state.withLock { s -> (DaemonEvent, [AsyncStream<DaemonEvent>.Continuation]) in
            s.seq += 1
            let e = DaemonEvent(
                type: type, seq: s.seq, time: Date().formatted(.iso8601), reader: reader, session: session,
                atr: atr, error: error, result: result)
            return (e, Array(s.subscribers.values))
        }
        for t in targets { t.yield(event) }
        return event
    }

    /// Ends every subscription.
    public func close() {
        let targets = state.withLock { s in
            defer { s.subscribers.removeAll() }
            return Array(s.subscribers.values)
        }
        for t in targets { t.finish() }
    }
}
