import Foundation

/// The security checks of a loopback web server, as pure functions of the request head. Any local
/// process and any web page open in the browser can reach 127.0.0.1, so:
///
/// - `Host` must be exactly the listen address (`127.0.0.1:PORT`): a DNS-rebinding page that
///   resolves its own name to 127.0.0.1 sends its own name → 421.
/// - The start token (printed once on stdout) is exchanged once for an HttpOnly, SameSite=Strict
///   cookie and then forgotten; every other request must carry that cookie → 403.
/// - A state-changing request (anything but GET/HEAD) must carry `Origin` equal to this origin;
///   `Sec-Fetch-Site`, when the browser sends it, must be `same-origin` → 403.
public struct RequestGuard: Sendable {
    /// `127.0.0.1:PORT`: the only accepted `Host`.
    public let authority: String
    /// `http://127.0.0.1:PORT`: the only accepted `Origin`.
    public var origin: String { "http://\(authority)" }
    /// The cookie name.
    public static let cookieName = "jpki_reception"

    private let state: State

    /// Creates the guard for a listen address with a fresh random token and cookie secret.
    public init(authority: String) {
        self.authority = authority
        state = State(token: Self.randomSecret(), cookie: Self.randomSecret())
    }

    /// Creates the guard with given secrets (tests).
    init(authority: String, token: String, cookie: String) {
        self.authority = authority
        state = State(token: token, cookie: cookie)
    }

    /// The start token, to print once. Nil after it was exchanged.
    public var token: String? { state.currentToken() }

    /// What to do with a request.
    public enum Decision: Equatable, Sendable {
        /// Serve it.
        case allow
        /// The token was right: set this `Set-Cookie` value and redirect to `/` (drops the token
        /// from the address bar and the history).
        case exchangeToken(setCookie: String)
        /// Refuse with this status and stable code.
        case refuse(status: Int, code: String)
    }

    /// Decides about a request from its method, target and headers (names lowercased).
    public func check(method: String, target: String, headers: [(String, String)]) -> Decision {
        func header(_ name: String) -> [String] { headers.filter { $0.0 == name }.map(\.1) }
        let hosts = header("host")
        guard hosts.count == 1, hosts[0].lowercased() == authority else {
            return .refuse(status: 421, code: "wrong_host")
        }
        let isSafe = method == "GET" || method == "HEAD"
        if !isSafe {
            let origins = header("origin")
            guard origins.count == 1, origins[0] == origin else {
                return .refuse(status: 403, code: "wrong_origin")
            }
        }
        if let site = header("sec-fetch-site").first, site != "same-origin", site != "none" {
            return .refuse(status: 403, code: "cross_site")
        }
        let hasCookie =
            Self.cookie(Self.cookieName, in: header("cookie")).map {
                Self.constantTimeEqual($0, state.cookie)
            } ?? false
        let (path, query) = Self.split(target)
        if path == "/", let offered = query["token"], isSafe {
            // A browser that already holds the cookie is just sent on; otherwise the token must be
            // the one printed at start, and only its first use counts.
            guard hasCookie || state.exchange(offered) else { return .refuse(status: 403, code: "bad_token") }
            return .exchangeToken(
                setCookie: "\(Self.cookieName)=\(state.cookie); Path=/; HttpOnly; SameSite=Strict")
        }
        guard hasCookie else { return .refuse(status: 403, code: "no_session_cookie") }
        return .allow
    }

    /// The value of cookie `name` in `Cookie` header values.
    static func cookie(_ name: String, in values: [String]) -> String? {
        for value in values {
            for part in value.split(separator: ";") {
                let kv = part.split(separator: "=", maxSplits: 1)
                if kv.count == 2, kv[0].trimmingCharacters(in: .whitespaces) == name {
                    return kv[1].trimmingCharacters(in: .whitespaces)
                }
            }
        }
        return nil
    }

    /// Splits a request target into path and query parameters.
    static func split(_ target: String) -> (String, [String: String]) {
        guard let q = target.firstIndex(of: "?") else { return (target, [:]) }
        var query: [String: String] = [:]
        for pair in target[target.index(after: q)...].split(separator: "&") {
            let kv = pair.split(separator: "=", maxSplits: 1)
            if kv.count == 2 { query[String(kv[0])] = String(kv[1]).removingPercentEncoding }
        }
        return (String(target[..<q]), query)
    }

    static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8)
        let y = Array(b.utf8)
        guard x.count == y.count else { return false }
        var d: UInt8 = 0
        for i in 0..<x.count { d |= x[i] ^ y[i] }
        return d == 0
    }

    /// 256 random bits, URL-safe hex.
    static func randomSecret() -> String {
        var rng = SystemRandomNumberGenerator()
        return (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &rng)) }.joined()
    }

    /// The token, usable once.
    final class State: @unchecked Sendable {
        private let lock = NSLock()
        private var token: String?
        let cookie: String

        init(token: String, cookie: String) {
            self.token = token
            self.cookie = cookie
        }

        func currentToken() -> String? { lock.withLock { token } }

        /// True once for the right token; the token is then forgotten.
        func exchange(_ offered: String) -> Bool {
            lock.withLock {
                guard let t = token, RequestGuard.constantTimeEqual(t, offered) else { return false }
                token = nil
                return true
            }
        }
    }
}
