import Foundation

/// One HTTP POST to a configured endpoint (OCSP responder, eligibility gateway): plain `http://`
/// only, no redirects, bounded in time and size.
public struct HTTPPostRequest: Sendable, Equatable {
    /// `http://HOST[:PORT]/PATH[?QUERY]`.
    public var url: URL
    /// The request's `Content-Type`.
    public var contentType: String
    /// The request's `Accept`.
    public var accept: String
    /// The request body.
    public var body: Data
    /// Seconds allowed to establish the connection.
    public var connectTimeout: Double
    /// Seconds allowed for the exchange after connecting.
    public var readTimeout: Double
    /// Largest response body accepted.
    public var maxBytes: Int

    /// Creates a request.
    public init(
        url: URL, contentType: String, accept: String, body: Data, connectTimeout: Double, readTimeout: Double,
        maxBytes: Int
    ) {
        self.url = url
        self.contentType = contentType
        self.accept = accept
        self.body = body
        self.connectTimeout = connectTimeout
        self.readTimeout = readTimeout
        self.maxBytes = maxBytes
    }

    /// Checks that `url` is `http://HOST[:PORT]/…` (the only form supported).
    public static func validate(_ url: URL) throws(HTTPRequestFailure) {
        guard url.scheme?.lowercased() == "http" else {
            throw .unsupportedURL("only http:// is supported")
        }
        guard let host = url.host, !host.isEmpty else { throw .unsupportedURL("no host") }
        if let port = url.port, !(1...65535).contains(port) { throw .unsupportedURL("bad port") }
    }
}

/// A complete answer, whatever its status.
public struct HTTPAnswer: Sendable, Equatable {
    /// The HTTP status code.
    public let status: Int
    /// The body (at most the request's `maxBytes`).
    public let body: Data

    /// Creates an answer.
    public init(status: Int, body: Data) {
        self.status = status
        self.body = body
    }
}

/// Why an exchange failed.
public enum HTTPRequestFailure: Error, Sendable, Equatable {
    /// Not an `http://HOST[:PORT]/PATH` URL.
    case unsupportedURL(String)
    /// The host could not be resolved or refused the connection.
    case unreachable(String)
    /// The connect or read deadline passed.
    case timeout(String)
    /// The answer is not acceptable HTTP (malformed, too large, truncated).
    case protocolError(String)

    /// A one-line description.
    public var message: String {
        switch self {
        case .unsupportedURL(let m), .unreachable(let m), .timeout(let m), .protocolError(let m): m
        }
    }

    /// The verifier's view (`unsupported_url` or `transport`).
    var verifyError: JPKIVerifyError {
        if case .unsupportedURL(let m) = self { return .unsupportedURL(m) }
        return .transport(message)
    }
}

/// Sends HTTP POSTs for OCSP and the eligibility gateway. The production implementation is
/// `HTTPTransport.AsyncHTTPRequester` (async-http-client on SwiftNIO); tests inject fakes or point
/// it at a local server. Implementations never block the calling task's thread.
public protocol HTTPRequester: Sendable {
    /// Sends `request` and returns the answer, whatever its status; fails with a typed reason
    /// within `connectTimeout + readTimeout` seconds.
    func post(_ request: HTTPPostRequest) async throws(HTTPRequestFailure) -> HTTPAnswer
}
