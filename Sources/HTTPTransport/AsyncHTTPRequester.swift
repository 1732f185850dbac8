import AsyncHTTPClient
import Foundation
import JPKIVerify
import NIOCore
import NIOHTTP1
import NIOPosix

/// The production ``HTTPRequester``: async-http-client on a SwiftNIO event loop group (the
/// process-wide `MultiThreadedEventLoopGroup.singleton` unless one is given). Plain HTTP/1.1, no
/// redirects followed, no decompression, no connection retries (a refused connection fails at
/// once), the connect timeout and a deadline of `connectTimeout + readTimeout` per request, and the
/// body bounded by `maxBytes` (by `Content-Length` before reading, and while reading).
public struct AsyncHTTPRequester: HTTPRequester {
    /// The group the exchanges run on.
    public let eventLoopGroup: any EventLoopGroup

    /// A requester on the process-wide NIO singleton group.
    public static let shared = AsyncHTTPRequester()

    /// Creates a requester on `eventLoopGroup` (it is not shut down by the requester).
    public init(eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) {
        self.eventLoopGroup = eventLoopGroup
    }

    /// Sends `request` (see ``HTTPRequester/post(_:)``).
    public func post(_ request: HTTPPostRequest) async throws(HTTPRequestFailure) -> HTTPAnswer {
        try HTTPPostRequest.validate(request.url)
        // One client per exchange: its timeouts are the request's own, and nothing outlives it.
        let client = HTTPClient(
            eventLoopGroup: eventLoopGroup, configuration: Self.configuration(for: request))
        let outcome: Result<HTTPAnswer, HTTPRequestFailure>
        do {
            outcome = .success(try await Self.exchange(client, request))
        } catch let failure as HTTPRequestFailure {
            outcome = .failure(failure)
        } catch {
            outcome = .failure(Self.failure(error, host: request.url.host ?? ""))
        }
        try? await client.shutdown()
        return try outcome.get()
    }

    static func configuration(for request: HTTPPostRequest) -> HTTPClient.Configuration {
        var configuration = HTTPClient.Configuration(
            redirectConfiguration: .disallow,
            timeout: .init(
                connect: .milliseconds(Int64(max(1, request.connectTimeout * 1000))),
                read: .milliseconds(Int64(max(1, request.readTimeout * 1000)))),
            decompression: .disabled)
        configuration.httpVersion = .http1Only
        configuration.connectionPool.retryConnectionEstablishment = false
        return configuration
    }

    private static func exchange(_ client: HTTPClient, _ request: HTTPPostRequest) async throws -> HTTPAnswer {
        var r = HTTPClientRequest(url: request.url.absoluteString)
        r.method = .POST
        r.headers.add(name: "Content-Type", value: request.contentType)
        r.headers.add(name: "Accept", value: request.accept)
        r.body = .bytes(ByteBuffer(bytes: request.body))
        let deadline = NIODeadline.now() + .milliseconds(Int64((request.connectTimeout + request.readTimeout) * 1000))
        let response = try await client.execute(r, deadline: deadline)
        if let length = response.headers.first(name: "Content-Length").flatMap(Int.init), length > request.maxBytes {
            throw HTTPRequestFailure.protocolError("response too large")
        }
        var body: ByteBuffer
        do {
            body = try await response.body.collect(upTo: request.maxBytes)
        } catch is NIOTooManyBytesError {
            throw HTTPRequestFailure.protocolError("response too large")
        }
        return HTTPAnswer(
            status: Int(response.status.code), body: Data(body.readBytes(length: body.readableBytes) ?? []))
    }

    /// The typed reason for an async-http-client / NIO error.
    static func failure(_ error: any Error, host: String) -> HTTPRequestFailure {
        if let e = error as? HTTPClientError {
            switch e {
            case .connectTimeout: return .timeout("connect timeout")
            case .readTimeout, .deadlineExceeded, .writeTimeout: return .timeout("read timeout")
            case .remoteConnectionClosed: return .protocolError("truncated HTTP answer")
            case .invalidURL, .emptyHost, .emptyScheme: return .unsupportedURL("\(e)")
            default: return .protocolError("\(e)")
            }
        }
        if let e = error as? NIOConnectionError {
            if e.connectionErrors.isEmpty { return .unreachable("cannot resolve host \(host)") }
            return failure(e.connectionErrors[0].error, host: host)
        }
        if let e = error as? IOError {
            if e.errnoCode == ECONNREFUSED { return .unreachable("connection refused") }
            if e.errnoCode == ETIMEDOUT { return .timeout("connect timeout") }
            return .unreachable("connect error \(e.errnoCode)")
        }
        if let e = error as? ChannelError, case .connectTimeout = e { return .timeout("connect timeout") }
        if error is HTTPParserError { return .protocolError("malformed HTTP answer") }
        if error is NIOTooManyBytesError { return .protocolError("response too large") }
        if error is CancellationError { return .timeout("cancelled") }
        return .unreachable("\(error)")
    }
}
