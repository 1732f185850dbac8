import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Testing

@testable import Reception

@Suite("RequestGuard: Host, token → cookie, Origin")
struct RequestGuardTests {
    let g = RequestGuard(authority: "127.0.0.1:8080", token: "tok", cookie: "secret")
    let host = ("host", "127.0.0.1:8080")
    let cookie = ("cookie", "a=b; jpki_reception=secret")

    @Test("the token is exchanged once for an HttpOnly SameSite=Strict cookie")
    func tokenOnce() {
        let first = g.check(method: "GET", target: "/?token=tok", headers: [host])
        guard case .exchangeToken(let setCookie) = first else {
            Issue.record("expected the exchange, got \(first)")
            return
        }
        #expect(setCookie.contains("jpki_reception=secret") && setCookie.contains("HttpOnly"))
        #expect(setCookie.contains("SameSite=Strict"))
        #expect(g.token == nil)
        #expect(
            g.check(method: "GET", target: "/?token=tok", headers: [host]) == .refuse(status: 403, code: "bad_token"))
        // The browser that holds the cookie is sent on.
        if case .exchangeToken = g.check(method: "GET", target: "/?token=x", headers: [host, cookie]) {
        } else {
            Issue.record("a browser with the cookie should be redirected")
        }
    }

    @Test("a wrong token is refused and does not use up the right one")
    func wrongToken() {
        let fresh = RequestGuard(authority: "127.0.0.1:8080", token: "tok", cookie: "secret")
        #expect(
            fresh.check(method: "GET", target: "/?token=nope", headers: [host])
                == .refuse(status: 403, code: "bad_token"))
        #expect(fresh.token == "tok")
    }

    @Test("every request needs the cookie")
    func cookieNeeded() {
        #expect(g.check(method: "GET", target: "/", headers: [host]) == .refuse(status: 403, code: "no_session_cookie"))
        #expect(
            g.check(method: "GET", target: "/api/readers", headers: [host, ("cookie", "jpki_reception=secreT")])
                == .refuse(status: 403, code: "no_session_cookie"))
        #expect(g.check(method: "GET", target: "/api/readers", headers: [host, cookie]) == .allow)
    }

    @Test("Host must be the listen address (DNS rebinding → 421)")
    func hostChecked() {
        for h in ["localhost:8080", "evil.example:8080", "127.0.0.1", "127.0.0.1:8081"] {
            #expect(
                g.check(method: "GET", target: "/", headers: [("host", h), cookie])
                    == .refuse(status: 421, code: "wrong_host"))
        }
        #expect(g.check(method: "GET", target: "/", headers: [cookie]) == .refuse(status: 421, code: "wrong_host"))
        #expect(
            g.check(method: "GET", target: "/", headers: [host, host, cookie])
                == .refuse(status: 421, code: "wrong_host"))
    }

    @Test("state-changing requests need this Origin; cross-site fetch metadata is refused")
    func origin() {
        let post = { (extra: [(String, String)]) in
            g.check(method: "POST", target: "/api/sessions/x/eligibility", headers: [host, cookie] + extra)
        }
        #expect(post([]) == .refuse(status: 403, code: "wrong_origin"))
        #expect(post([("origin", "http://evil.example")]) == .refuse(status: 403, code: "wrong_origin"))
        #expect(post([("origin", "http://127.0.0.1:8081")]) == .refuse(status: 403, code: "wrong_origin"))
        #expect(post([("origin", "null")]) == .refuse(status: 403, code: "wrong_origin"))
        #expect(post([("origin", "http://127.0.0.1:8080")]) == .allow)
        #expect(
            post([("origin", "http://127.0.0.1:8080"), ("sec-fetch-site", "same-site")])
                == .refuse(status: 403, code: "cross_site"))
        #expect(
            g.check(method: "GET", target: "/api/readers", headers: [host, cookie, ("sec-fetch-site", "cross-site")])
                == .refuse(status: 403, code: "cross_site"))
    }

    @Test("--listen accepts 127.0.0.1:PORT only")
    func listen() throws {
        #expect(try ReceptionServer.parseListen("127.0.0.1:0") == 0)
        #expect(try ReceptionServer.parseListen("127.0.0.1:8765") == 8765)
        for bad in ["0.0.0.0:80", "localhost:80", "192.168.1.2:80", "127.0.0.1", "127.0.0.1:70000", "[::]:80"] {
            #expect(throws: ReceptionError.notLoopback(bad)) { try ReceptionServer.parseListen(bad) }
        }
    }
}

@Suite("FacePhoto: JPEG 2000 → PNG through OpenJPEG and libpng")
struct FacePhotoTests {
    static func fixture(_ card: String) throws -> [UInt8] {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        return Array(try Data(contentsOf: root.appendingPathComponent("apdu-fixtures/cards/\(card)/face.jp2")))
    }

    @Test("the fixture card photos decode to a PNG of the same size")
    func decodes() throws {
        for card in ["00-ordinary", "02-same-name-a"] {
            let jp2 = try Self.fixture(card)
            let pixels = try FacePhoto.decode(jp2)
            #expect(pixels.width > 0 && pixels.height > 0)
            #expect(pixels.bytes.count == pixels.width * pixels.height * pixels.channels)
            // Not a blank image: a photo has more than one grey level.
            #expect(Set(pixels.bytes).count > 1)
            let png = try FacePhoto.png(fromJPEG2000: jp2)
            #expect(png.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]))
            // IHDR width/height (big-endian at 16 and 20).
            let w = png[16..<20].reduce(0) { $0 << 8 | Int($1) }
            let h = png[20..<24].reduce(0) { $0 << 8 | Int($1) }
            #expect(w == pixels.width && h == pixels.height)
        }
    }

    @Test("garbage and truncated input are refused with a typed error")
    func refuses() throws {
        #expect(throws: FacePhotoError.notJPEG2000) { try FacePhoto.decode([1, 2, 3, 4]) }
        let jp2 = try Self.fixture("00-ordinary")
        #expect(throws: FacePhotoError.self) { try FacePhoto.decode(Array(jp2.prefix(60))) }
    }

    @Test("PNG encoding of known pixels")
    func encodes() throws {
        let png = try FacePhoto.encodePNG(.init(width: 2, height: 1, channels: 3, bytes: [255, 0, 0, 0, 0, 255]))
        #expect(png.starts(with: [0x89, 0x50, 0x4E, 0x47]))
        #expect(throws: FacePhotoError.encodeFailed) {
            try FacePhoto.encodePNG(.init(width: 2, height: 2, channels: 1, bytes: [0]))
        }
    }
}

/// A stand-in for jpkid on a Unix socket that answers every request with the same canned answer.
final class FakeJpkid: Sendable {
    let path: String
    let channel: NIOAsyncChannel<NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>, Never>

    init(headers: [(String, String)] = [], body: String) async throws {
        path = NSTemporaryDirectory() + "fake-jpkid-\(UUID().uuidString.prefix(8)).sock"
        channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true) { ch in
                ch.eventLoop.makeCompletedFuture {
                    try ch.pipeline.syncOperations.configureHTTPServerPipeline()
                    return try NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>(
                        wrappingChannelSynchronously: ch)
                }
            }
        let channel = self.channel
        Task {
            try await channel.executeThenClose { inbound in
                for try await connection in inbound {
                    try? await connection.executeThenClose { requests, out in
                        for try await part in requests {
                            guard case .end = part else { continue }
                            var h = HTTPHeaders()
                            h.add(name: "content-length", value: String(body.utf8.count))
                            h.add(name: "connection", value: "close")
                            for (n, v) in headers { h.add(name: n, value: v) }
                            try await out.write(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: h)))
                            try await out.write(.body(.byteBuffer(ByteBuffer(string: body))))
                            try await out.write(.end(nil))
                            return
                        }
                    }
                }
            }
        }
    }

    func close() async { try? await channel.channel.close() }
}

@Suite("ReceptionAPI: an answer about another session is never passed on")
struct SessionBindingTests {
    static let asked = String(repeating: "A", count: 32)
    static let other = String(repeating: "B", count: 32)

    func api(_ fake: FakeJpkid) -> ReceptionAPI {
        ReceptionAPI(
            jpkid: JpkidClient(socketPath: fake.path), idleSeconds: 60)
    }

    @Test("card summary, eligibility and face answers of another session become 409 card_session_ended")
    func otherSession() async throws {
        let fake = try await FakeJpkid(
            headers: [("x-jpkid-session", Self.other), ("x-jpkid-card", "ff")],
            body:
                #"{"id":"\#(Self.other)","session":"\#(Self.other)","card":"ff","status":"eligible","record":{"name":"佐藤　花子","birthDate":"1975-04-01"}}"#
        )
        let api = api(fake)
        let s = Self.asked
        for (method, path, body) in [
            (HTTPMethod.GET, "/api/sessions/\(s)/card", ""),
            (.POST, "/api/sessions/\(s)/eligibility", #"{"mode":"pin","pin":"1234"}"#),
            (.POST, "/api/sessions/\(s)/face", #"{"key":"55021720352285"}"#),
        ] {
            let a = await api.handle(method: method, path: path, body: Array(body.utf8))
            #expect(a.status == 409, "\(path)")
            #expect(String(decoding: a.body, as: UTF8.self).contains("card_session_ended"), "\(path)")
            #expect(!String(decoding: a.body, as: UTF8.self).contains("佐藤"), "\(path)")
        }
        await fake.close()
    }

    @Test("jpkid not running: 503 jpkid_unavailable; malformed input is refused before jpkid is asked")
    func unavailable() async throws {
        let api = ReceptionAPI(
            jpkid: JpkidClient(socketPath: "/nonexistent/jpkid.sock"),
            idleSeconds: 60)
        let a = await api.handle(method: .GET, path: "/api/readers", body: [])
        #expect(a.status == 503 && String(decoding: a.body, as: UTF8.self).contains("jpkid_unavailable"))
        let s = Self.asked
        let bad = await api.handle(
            method: .POST, path: "/api/sessions/\(s)/eligibility", body: Array(#"{"mode":"pin","pin":"12a4"}"#.utf8))
        #expect(bad.status == 400)
        let noPhoto = await api.handle(
            method: .POST, path: "/api/sessions/\(s)/eligibility",
            body: Array(#"{"mode":"visual","visualConfirmed":true}"#.utf8))
        #expect(noPhoto.status == 409)  // the photo was never shown for this session
        let notHex = await api.handle(method: .GET, path: "/api/sessions/../../v1/readers/card", body: [])
        #expect(notHex.status == 404)
    }
}
