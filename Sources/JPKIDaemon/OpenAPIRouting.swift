import Foundation
import HTTPTypes
import NIOHTTP1
import OpenAPIRuntime

/// jpkid's routes as docs/openapi.yaml declares them: the generated `registerHandlers`
/// (Generated/Server.swift) registers every operation — method, path template and its generated
/// request decoder and response encoder — on this table, which implements OpenAPIRuntime's
/// `ServerTransport`. The NIO connection handler (``HTTPServer``) stays the transport: it hands
/// each request to ``DaemonAPI``, which matches it here.
final class OpenAPIRouteTable: ServerTransport, @unchecked Sendable {
    typealias Handler =
        @Sendable (HTTPRequest, HTTPBody?, ServerRequestMetadata) async throws -> (HTTPResponse, HTTPBody?)

    /// One registered operation.
    struct Route: Sendable {
        enum Segment: Sendable, Equatable {
            case literal(String)
            case parameter(String)
        }
        var method: HTTPRequest.Method
        /// The path template, e.g. `/v1/sessions/{session}`.
        var template: String
        var segments: [Segment]
        var handler: Handler
    }

    /// The outcome of matching a request.
    enum Match {
        case found(Route, ServerRequestMetadata)
        /// The path exists with other methods (for 405 and its `Allow` header).
        case methodNotAllowed([String])
        case notFound
    }

    // Written only while `registerHandlers` runs (in `init`), read-only afterwards.
    private(set) var routes: [Route] = []

    /// Registers every operation of `handlers` (`APIProtocol`, generated from docs/openapi.yaml).
    init(_ handlers: some APIProtocol, configuration: Configuration, middlewares: [any ServerMiddleware]) throws {
        try handlers.registerHandlers(on: self, configuration: configuration, middlewares: middlewares)
    }

    func register(_ handler: @escaping Handler, method: HTTPRequest.Method, path: String) throws {
        let segments = RequestDecoding.pathSegments(path).map { s -> Route.Segment in
            s.hasPrefix("{") && s.hasSuffix("}") ? .parameter(String(s.dropFirst().dropLast())) : .literal(s)
        }
        routes.append(Route(method: method, template: path, segments: segments, handler: handler))
    }

    /// The template of the route `path` matches, whatever the method; nil when none does.
    func template(of path: String) -> String? {
        let parts = RequestDecoding.pathSegments(path)
        return routes.first { route in
            route.segments.count == parts.count
                && zip(route.segments, parts).allSatisfy { segment, part in
                    if case .literal(let l) = segment { l == part } else { true }
                }
        }?.template
    }

    /// Finds the operation for a method and a path (segments split as the router always did:
    /// on the scalar `/`, empty segments ignored).
    func match(method: String, path: String) -> Match {
        let parts = RequestDecoding.pathSegments(path)
        var allowed: [String] = []
        for route in routes where route.segments.count == parts.count {
            var parameters: [String: Substring] = [:]
            let matches = zip(route.segments, parts).allSatisfy { segment, part in
                switch segment {
                case .literal(let l): return l == part
                case .parameter(let name):
                    parameters[name] = Substring(part)
                    return true
                }
            }
            guard matches else { continue }
            if route.method.rawValue == method {
                return .found(route, ServerRequestMetadata(pathParameters: parameters))
            }
            allowed.append(route.method.rawValue)
        }
        return allowed.isEmpty ? .notFound : .methodNotAllowed(allowed)
    }
}

/// What an operation handler knows about the request it serves besides the generated `Input`:
/// the API, the peer and its roles. Set by ``DaemonAPI`` around each dispatch.
struct RequestContext: Sendable {
    var api: DaemonAPI
    var peer: PeerCredentials
    var granted: Set<Role>

    @TaskLocal static var current: RequestContext?

    /// The context of the running request (the generated server code calls handlers only
    /// from ``DaemonAPI/dispatch(_:peer:granted:)``, which sets it).
    static var now: RequestContext {
        get throws(APIError) {
            guard let current else { throw APIError(500, "internal_error", "no request context") }
            return current
        }
    }
}

/// Refuses a request whose peer lacks the operation's role, before its body is decoded (the
/// generated server code runs middlewares ahead of the request decoder).
struct RoleCheck: ServerMiddleware {
    func intercept(
        _ request: HTTPRequest, body: HTTPBody?, metadata: ServerRequestMetadata, operationID: String,
        next: @Sendable (HTTPRequest, HTTPBody?, ServerRequestMetadata) async throws -> (HTTPResponse, HTTPBody?)
    ) async throws -> (HTTPResponse, HTTPBody?) {
        let context = try RequestContext.now
        if let role = DaemonAPI.requiredRole[operationID], !context.granted.contains(role) {
            throw APIError.forbidden(role)
        }
        return try await next(request, body, metadata)
    }
}

extension DaemonAPI {
    /// The role each operation needs (by the operation ids of docs/openapi.yaml); an operation
    /// absent here (health) is open to every peer with a role.
    static let requiredRole: [String: Role] = [
        Operations.ListReaders.id: .status, Operations.GetMetrics.id: .status, Operations.StreamEvents.id: .status,
        Operations.GetSession.id: .status, Operations.GetCertificates.id: .status,
        Operations.GetPINStatus.id: .status, Operations.Authenticate.id: .authenticate,
        Operations.ReadIdentity.id: .identity, Operations.ReadFace.id: .identity,
        Operations.CheckEligibility.id: .authenticate, Operations.ListFaceResults.id: .identity,
        Operations.GetFaceResult.id: .identity,
    ]

    /// The generated route table (its handlers find the API in ``RequestContext``), or why it
    /// could not be built. Only ``OpenAPIRouteTable/register(_:method:path:)`` could fail it, and it
    /// does not throw; should it ever, `Daemon.start` refuses to start with that error and every
    /// request is a 500 — a typed error, never a crash.
    static let routing: Result<OpenAPIRouteTable, any Error> = Result {
        try OpenAPIRouteTable(
            APIOperations(),
            configuration: Configuration(jsonEncodingOptions: [.sortedKeys, .withoutEscapingSlashes]),
            middlewares: [RoleCheck()])
    }

    /// The route table, or a 500 when it could not be built.
    static func routeTable() throws(APIError) -> OpenAPIRouteTable {
        guard case .success(let table) = routing else {
            throw APIError(500, "internal_error", "the API's generated routes could not be registered")
        }
        return table
    }

    /// Every route the API serves (method, path template), from the generated code: a test
    /// keeps this list and `docs/openapi.yaml` in agreement.
    public static var routes: [(method: String, path: String)] {
        ((try? routeTable())?.routes ?? []).map { ($0.method.rawValue, $0.template) }
    }

    /// Matches the request against the generated routes (404 `not_found`, 405 with `Allow`),
    /// and runs the operation: role check, the generated request decoder, the handler, the
    /// generated response encoder. Request headers are not consulted (a body is JSON whatever
    /// its Content-Type says, as `curl -d` sends form type).
    func dispatch(_ r: APIRequest, peer: PeerCredentials, granted: Set<Role>) async throws -> APIResponse {
        let (route, metadata): (OpenAPIRouteTable.Route, ServerRequestMetadata)
        switch try Self.routeTable().match(method: r.method.rawValue, path: r.path) {
        case .notFound: throw APIError.notFound
        case .methodNotAllowed(let allowed): throw APIError.methodNotAllowed(allowed: allowed)
        case .found(let found, let m): (route, metadata) = (found, m)
        }
        let request = HTTPRequest(method: route.method, scheme: nil, authority: nil, path: r.path)
        let body = r.body.isEmpty ? nil : HTTPBody(r.body)
        let context = RequestContext(api: self, peer: peer, granted: granted)
        let (head, responseBody): (HTTPResponse, HTTPBody?)
        do {
            (head, responseBody) = try await RequestContext.$current.withValue(context) {
                try await route.handler(request, body, metadata)
            }
        } catch let error as ServerError {
            throw Self.unwrap(error, emptyBody: r.body.isEmpty)
        }
        return try await APIResponse(head, body: responseBody)
    }

    /// The error a handler or the role check threw; a request the generated decoder could not
    /// read is 400 `bad_request` with the messages the hand-written decoder gave.
    static func unwrap(_ error: ServerError, emptyBody: Bool) -> any Error {
        let underlying = error.underlyingError
        // Thrown by the role check or the handler (its input was decoded): the API maps it.
        if underlying is APIError || error.operationInput != nil { return underlying }
        return APIError.badRequest(
            emptyBody ? "a JSON body is required" : "the body is not valid JSON of the expected shape")
    }
}

extension APIResponse {
    /// The NIO-side response of a generated operation: a body of known length is collected, an
    /// event stream stays a stream.
    init(_ head: HTTPResponse, body: HTTPBody?) async throws {
        var headers = HTTPHeaders()
        for field in head.headerFields { headers.add(name: field.name.canonicalName, value: field.value) }
        let status = HTTPResponseStatus(statusCode: head.status.code)
        guard let body else {
            self.init(status: status, headers: headers, body: .bytes([]))
            return
        }
        if case .unknown = body.length {
            let text = AsyncStream<String> { continuation in
                let task = Task {
                    do {
                        for try await chunk in body { continuation.yield(String(decoding: chunk, as: UTF8.self)) }
                    } catch {}
                    continuation.finish()
                }
                continuation.onTermination = { _ in task.cancel() }
            }
            self.init(status: status, headers: headers, body: .events(text))
            return
        }
        let bytes = try await [UInt8](collecting: body, upTo: Int.max)
        self.init(status: status, headers: headers, body: .bytes(bytes))
    }

    /// The JSON body as the generated type of the operation's answer. In debug builds (every
    /// test) an answer the document's schema would lose a field of is refused with 500: the
    /// document must declare what the daemon sends.
    func payload<T: Decodable & Encodable>(as type: T.Type = T.self) throws -> T {
        guard case .bytes(let bytes) = body else { throw APIError(500, "internal_error", "not a JSON answer") }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        let value: T
        do {
            value = try decoder.decode(T.self, from: Data(bytes))
        } catch {
            throw APIError(500, "internal_error", "the answer does not match docs/openapi.yaml")
        }
        #if DEBUG
            let encoder = JSONEncoder()
            encoder.dateEncodingStrategy = .iso8601
            let original = try? JSONSerialization.jsonObject(with: Data(bytes))
            let again = (try? encoder.encode(value)).flatMap { try? JSONSerialization.jsonObject(with: $0) }
            let lost = Self.lostKeys(original, again, at: "")
            guard lost.isEmpty else {
                // Key paths only, never values (they may be personal data).
                throw APIError(
                    500, "internal_error",
                    "debug check: docs/openapi.yaml does not declare \(lost.sorted().joined(separator: ", ")) (\(T.self))"
                )
            }
        #endif
        return value
    }

    /// Key paths of `original` that `again` does not hold (or holds with another value).
    static func lostKeys(_ original: Any?, _ again: Any?, at path: String) -> [String] {
        switch (original, again) {
        case (let a as [String: Any], let b as [String: Any]):
            return a.keys.flatMap { k in lostKeys(a[k], b[k], at: path + "/" + k) }
        case (let a as [Any], let b as [Any]):
            guard a.count == b.count else { return [path] }
            return zip(a, b).flatMap { lostKeys($0, $1, at: path + "/*") }
        case (let a?, let b?):
            return (a as? NSObject)?.isEqual(b) == true ? [] : [path]
        default:
            return original == nil ? [] : [path]
        }
    }

    /// The raw body bytes (an image, the metrics text).
    var bytes: [UInt8] {
        if case .bytes(let b) = body { return b }
        return []
    }

    /// The event stream as a body of unknown length (an SSE answer).
    var eventBody: HTTPBody {
        guard case .events(let stream) = body else { return HTTPBody(bytes) }
        return HTTPBody(stream, length: .unknown)
    }
}
