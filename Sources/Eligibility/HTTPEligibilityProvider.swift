import Foundation
import HTTPTransport
import JPKIVerify

/// Looks records up at an external gateway over plain HTTP (contract: docs/eligibility-http.md).
///
/// `POST <httpURL>` with `{"issuerKeyID":"…","serial":"…","issuer":"…"}` → `200 {"record":{…}}` (linked) or
/// `200 {"record":null}` / `404` (not linked); `409 {"error":{"code":"card_relink_required"}}` is
/// ``EligibilityError/relinkRequired(_:)``. Anything else is `registry_error`; no answer in
/// time is `registry_timeout`; a refused connection is `registry_unavailable`.
public struct HTTPEligibilityProvider: EligibilityProvider {
    /// The endpoint.
    public let url: URL
    /// Time limit per lookup.
    public let timeoutSeconds: Double
    /// Sends the lookups.
    let requester: any HTTPRequester

    /// Creates the client; `url` must be `http://HOST[:PORT]/PATH`. `requester` sends the lookups
    /// (async-http-client by default; tests inject fakes).
    public init(
        url: String, timeoutSeconds: Double = 5, requester: any HTTPRequester = AsyncHTTPRequester.shared
    ) throws(EligibilityError) {
        guard let u = URL(string: url), u.scheme?.lowercased() == "http", u.host != nil else {
            throw .configuration(field: "eligibility.httpURL", reason: "must be http://HOST[:PORT]/PATH")
        }
        self.url = u
        self.timeoutSeconds = timeoutSeconds
        self.requester = requester
    }

    struct Request: Encodable {
        var issuerKeyID: String
        var serial: String
        var issuer: String?
    }

    struct Response: Decodable {
        var record: InsuranceRecord?
    }

    /// Largest gateway answer accepted.
    static let maxAnswerBytes = 64 * 1024

    public func record(for key: CardKey) async throws(EligibilityError) -> InsuranceRecord? {
        let body: Data
        do {
            body = try JSONEncoder().encode(
                Request(issuerKeyID: key.issuerKeyID, serial: key.serial, issuer: key.issuer))
        } catch {
            throw .backend("cannot encode the request")
        }
        let answer: HTTPAnswer
        do {
            answer = try await requester.post(
                HTTPPostRequest(
                    url: url, contentType: "application/json", accept: "application/json", body: body,
                    connectTimeout: timeoutSeconds, readTimeout: timeoutSeconds, maxBytes: Self.maxAnswerBytes))
        } catch {
            switch error {
            case .timeout: throw .timeout
            case .unreachable(let m): throw .unavailable("gateway: \(m)")
            default: throw .backend("gateway: \(error.message)")
            }
        }
        if answer.status == 404 { return nil }
        if answer.status == 409, String(decoding: answer.body, as: UTF8.self).contains("\"card_relink_required\"") {
            throw .relinkRequired("gateway: card \(key)")
        }
        guard answer.status == 200 else { throw .backend("gateway answered HTTP \(answer.status)") }
        let data = answer.body
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
