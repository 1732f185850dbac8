import Foundation
import HTTPTransport

/// One request to jpkid's socket through async-http-client (`HTTPTransport.UnixSocketHTTPClient`,
/// one connection per request): (status, body).
func jpkidRequest(_ socket: String, _ method: String, _ path: String, body: String? = nil) async throws -> (
    Int, [UInt8]
) {
    do {
        let r = try await UnixSocketHTTPClient(socketPath: socket).request(
            method, path, body: body.map { Array($0.utf8) }, timeout: 60)
        return (r.status, r.body)
    } catch {
        throw BenchError("\(method) \(path): \(error.message)")
    }
}

/// Runs blocking work (the simulated card's bridge) on a thread of its own, never on the
/// cooperative pool.
func onThread<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { c in
        Thread.detachNewThread { c.resume(with: Result { try work() }) }
    }
}

/// The daemon's Server-Sent Events, one event at a time, streamed by async-http-client.
final class EventStream {
    /// One event: its type and its `data:` line.
    struct Event: Sendable {
        let type: String
        let data: String
    }

    private var iterator: AsyncThrowingStream<Event, any Error>.AsyncIterator
    private let task: Task<Void, Never>

    /// Subscribes to `/v1/events`; returns once jpkid answered 200 with a chunked stream, so that
    /// no event after this point is missed.
    init(socket: String) async throws {
        let (events, continuation) = AsyncThrowingStream<Event, any Error>.makeStream()
        let (subscribed, head) = AsyncThrowingStream<Void, any Error>.makeStream()
        task = Task {
            var text = ""
            do {
                try await UnixSocketHTTPClient(socketPath: socket).stream(
                    "GET", "/v1/events",
                    onHead: { status, headers in
                        guard status == 200 else { throw BenchError("GET /v1/events answered \(status)") }
                        guard
                            headers.contains(where: {
                                $0.name.lowercased() == "transfer-encoding" && $0.value.lowercased() == "chunked"
                            })
                        else { throw BenchError("event stream is not chunked") }
                        head.yield()
                        head.finish()
                    },
                    onChunk: { bytes in
                        text += String(decoding: bytes, as: UTF8.self)
                        while let range = text.range(of: "\n\n") {
                            let block = text[..<range.lowerBound]
                            text.removeSubrange(..<range.upperBound)
                            if block.hasPrefix("retry:") { continue }
                            var type = "message"
                            var data = ""
                            for line in block.split(separator: "\n") {
                                if line.hasPrefix("event: ") { type = String(line.dropFirst(7)) }
                                if line.hasPrefix("data: ") { data = String(line.dropFirst(6)) }
                            }
                            continuation.yield(Event(type: type, data: data))
                        }
                        return true
                    })
                continuation.finish(throwing: BenchError("event stream ended"))
            } catch {
                head.finish(throwing: error)
                continuation.finish(throwing: error)
            }
        }
        var first = subscribed.makeAsyncIterator()
        guard try await first.next() != nil else { throw BenchError("event stream ended") }
        iterator = events.makeAsyncIterator()
    }

    deinit { task.cancel() }

    /// The next event: its type and its JSON data.
    func next() async throws -> (type: String, data: [String: Any]) {
        guard let e = try await iterator.next() else { throw BenchError("event stream ended") }
        let data = (try? JSONSerialization.jsonObject(with: Data(e.data.utf8))) as? [String: Any] ?? [:]
        return (e.type, data)
    }
}
