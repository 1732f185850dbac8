import Foundation
import JPKI

/// The daemon's pure request decoding: the request target (path and query), the path segments
/// and the JSON body of `authenticate`/`identity`. No I/O and no NIO, so the fuzz target
/// `fuzz/targets/daemon-request.swift` can exercise exactly what the server runs.
enum RequestDecoding {
    /// The JSON body of `authenticate`, `identity`, `face` and `eligibility`: the type the
    /// generated request decoders use for them (docs/openapi-generator-config.yaml,
    /// `typeOverrides`).
    struct PINRequest: Codable, Hashable, Sendable {
        var pin: String?
        var allowLastTry: Bool?
        var challenge: String?
        var myNumber: Bool?
        /// Face only: which 照合番号 the `pin` field holds, `"B"` (default, 14 digits) or `"A"`.
        var keyKind: String?
        /// Eligibility in visual mode: staff compared the patient with the card face.
        var visualConfirmed: Bool?
        /// Eligibility: `"pin"` or `"visual"`, one of `eligibility.modes` (default `eligibility.mode`).
        var mode: String?

        enum CodingKeys: String, CodingKey {
            case pin, allowLastTry, challenge, myNumber, keyKind, visualConfirmed, mode
        }

        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            // An explicit null is refused, not read as "absent": docs/openapi.yaml types every
            // field, and a client that sends `"allowLastTry": null` has a bug worth a 400.
            for key in c.allKeys where try c.decodeNil(forKey: key) {
                throw DecodingError.valueNotFound(
                    Any.self, .init(codingPath: [key], debugDescription: "\(key.stringValue) is null"))
            }
            pin = try c.decodeIfPresent(String.self, forKey: .pin)
            allowLastTry = try c.decodeIfPresent(Bool.self, forKey: .allowLastTry)
            challenge = try c.decodeIfPresent(String.self, forKey: .challenge)
            myNumber = try c.decodeIfPresent(Bool.self, forKey: .myNumber)
            keyKind = try c.decodeIfPresent(String.self, forKey: .keyKind)
            visualConfirmed = try c.decodeIfPresent(Bool.self, forKey: .visualConfirmed)
            mode = try c.decodeIfPresent(String.self, forKey: .mode)
        }
    }

    /// Splits a request target into the path and the query parameters (percent-decoded).
    /// Splitting is on the ASCII delimiters `?`, `&`, `=` as Unicode scalars, never on
    /// grapheme clusters (a prepended mark such as U+0601 must not hide a delimiter).
    static func splitTarget(_ uri: String) -> (path: String, query: [String: String]) {
        let scalars = uri.unicodeScalars
        guard let q = scalars.firstIndex(of: "?") else { return (uri, [:]) }
        var query: [String: String] = [:]
        for pair in scalars[scalars.index(after: q)...].split(separator: "&") {
            // Split at the first "=" keeping empty sides: "=" alone is key "" and value "".
            let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map {
                String(String.UnicodeScalarView($0))
            }
            let key = kv[0].removingPercentEncoding ?? kv[0]
            let value = kv.count > 1 ? (kv[1].removingPercentEncoding ?? kv[1]) : ""
            query[key] = value
        }
        return (String(String.UnicodeScalarView(scalars[..<q])), query)
    }

    /// The non-empty `/`-separated segments of a path (split on the scalar `/`, not on
    /// grapheme clusters).
    static func pathSegments(_ path: String) -> [String] {
        path.unicodeScalars.split(separator: "/", omittingEmptySubsequences: true).map {
            String(String.UnicodeScalarView($0))
        }
    }

    /// Decodes the body and turns the PIN into a wipeable ``PIN`` at once (the decoded request
    /// keeps no copy). An empty body or JSON of another shape is `bad_request`.
    ///
    /// Limitation: on its way here the PIN passed through NIO's buffers, the request's body
    /// array and the decoder's transient string. Those are released right after decoding but
    /// not zeroed (the body array is shared with the request value, so zeroing a copy of it
    /// here would only zero the copy); only the ``PIN`` the card operation uses is wiped.
    static func pinRequest(_ body: [UInt8]) throws(APIError) -> (PINRequest, PIN?) {
        guard !body.isEmpty else { throw APIError.badRequest("a JSON body is required") }
        let req: PINRequest
        do {
            req = try JSONDecoder().decode(PINRequest.self, from: Data(body))
        } catch {
            throw APIError.badRequest("the body is not valid JSON of the expected shape")
        }
        return takePIN(req)
    }

    /// Turns the decoded PIN into a wipeable ``PIN`` at once; the request returned keeps no copy.
    static func takePIN(_ request: PINRequest) -> (PINRequest, PIN?) {
        var req = request
        let pin = req.pin.map { PIN($0) }
        req.pin = nil
        return (req, pin)
    }
}
