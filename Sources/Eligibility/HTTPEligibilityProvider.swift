import Foundation

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// Looks records up at an external gateway over plain HTTP (contract: docs/eligibility-http.md).
///
/// `POST <httpURL>` with `{"issuer":"…","serial":"…"}` → `200 {"record":{…}}` (linked) or
/// `200 {"record":null}` / `404` (not linked). Anything else is `registry_error`; no answer in
/// time is `registry_timeout`; a refused connection is `registry_unavailable`.
public struct HTTPEligibilityProvider: EligibilityProvider {
    /// The endpoint.
    public let url: URL
    /// Time limit per lookup.
    public let timeoutSeconds: Double

    /// Creates the client; `url` must be `http://HOST[:PORT]/PATH`.
    public init(url: String, timeoutSeconds: Double = 5) throws(EligibilityError) {
        guard let u = URL(string: url), u.scheme?.lowercased() == "http", u.host != nil else {
            throw .configuration(field: "eligibility.httpURL", reason: "must be http://HOST[:PORT]/PATH")
        }
        self.url = u
        self.timeoutSeconds = timeoutSeconds
    }

    struct Request: Encodable {
        var issuer: String
        var serial: String
    }

    struct Response: Decodable {
        var record: InsuranceRecord?
    }

    public func record(for key: CardKey) async throws(EligibilityError) -> InsuranceRecord? {
        var request = URLRequest(url: url, timeoutInterval: timeoutSeconds)
        request.httpMethod = "POST"
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        request.setValue("application/json", forHTTPHeaderField: "Accept")
        do {
            request.httpBody = try JSONEncoder().encode(Request(issuer: key.issuer, serial: key.serial))
        } catch {
            throw .backend("cannot encode the request")
        }
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = timeoutSeconds
        configuration.timeoutIntervalForResource = timeoutSeconds
        configuration.requestCachePolicy = .reloadIgnoringLocalCacheData
        let session = URLSession(configuration: configuration)
        defer { session.finishTasksAndInvalidate() }
        let data: Data
        let response: URLResponse
        do {
            (data, response) = try await session.data(for: request)
        } catch let e as URLError {
            switch e.code {
            case .timedOut: throw .timeout
            case .cannotConnectToHost, .cannotFindHost, .networkConnectionLost, .notConnectedToInternet:
                throw .unavailable("gateway: \(e.code.rawValue)")
            default: throw .backend("gateway: URL error \(e.code.rawValue)")
            }
        } catch {
            throw .unavailable("gateway: \(error)")
        }
        guard let http = response as? HTTPURLResponse else { throw .backend("gateway: not an HTTP answer") }
        if http.statusCode == 404 { return nil }
        guard http.statusCode == 200 else { throw .backend("gateway answered HTTP \(http.statusCode)") }
        let decoded: Response
        do {
            decoded = try JSONDecoder().decode(Response.self, from: data)
        } catch {
            throw .backend("gateway answer is not the documented JSON")
        }
        if let r = decoded.record {
            do { try r.validate() } catch { throw .backend("gateway record invalid: \(error)") }
        }
        return decoded.record
    }
}
