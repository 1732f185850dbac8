import CardSimulator
import Foundation
import JPKI
import JPKIDaemon
import Logging
import SmartCard
import Synchronization
import TestBench
import Testing

/// A card operation of the daemon API, with the fixture card's PINs.
enum Operation: String, CaseIterable, Sendable {
    case certificates
    case pinStatus = "pin-status"
    case authenticate, identity

    func request(_ http: UnixHTTP, session: String, card: String) async throws -> UnixHTTP.Response {
        switch self {
        case .certificates: return try await http.request("GET", "/v1/sessions/\(session)/certificates")
        case .pinStatus: return try await http.request("GET", "/v1/sessions/\(session)/pin-status")
        case .authenticate:
            let pin = try Fixtures.pin(card, "auth")
            return try await http.request("POST", "/v1/sessions/\(session)/authenticate", body: #"{"pin":"\#(pin)"}"#)
        case .identity:
            // A phone has no text AP (and no text PIN): 422 application_not_found, no PIN sent.
            let pins = try Fixtures.profile(card)["pins"] as? [String: Any]
            let pin = (pins?["text"] as? [String: Any])?["value"] as? String ?? "1234"
            return try await http.request("POST", "/v1/sessions/\(session)/identity", body: #"{"pin":"\#(pin)"}"#)
        }
    }

    /// For a 200 answer: every card-specific value in it belongs to `card` (the card that was in
    /// the reader when the session was created). Returns what did not match.
    func mismatches(_ r: UnixHTTP.Response, session: String, card: String) throws -> [String] {
        var bad: [String] = []
        let fp = try Fixtures.authFingerprint(card)
        if r.json["session"] as? String != session { bad.append("session") }
        switch self {
        case .certificates:
            if r.json["card"] as? String != fp { bad.append("card") }
            let certs = r.json["certificates"] as? [[String: Any]] ?? []
            if certs.first?["sha256"] as? String != fp { bad.append("auth certificate") }
            let authCA = try Data(contentsOf: try Fixtures.file(card, "jpki/000B.der")).base64EncodedString()
            if certs.count != 3 || certs[1]["der"] as? String != authCA { bad.append("auth CA certificate") }
        case .pinStatus:
            let pins = r.json["pins"] as? [String: Any] ?? [:]
            if pins["auth"] == nil { bad.append("pins") }
        case .authenticate:
            if r.json["card"] as? String != fp { bad.append("card") }
            let der = Data(base64Encoded: r.json["certificate"] as? String ?? "") ?? Data()
            if SHA256.hash(Array(der)).hexString.lowercased() != fp { bad.append("certificate") }
            if (Data(base64Encoded: r.json["signature"] as? String ?? "") ?? Data()).count != 256 {
                bad.append("signature")
            }
        case .identity:
            if r.json["card"] as? String != fp { bad.append("card") }
            let id = try Fixtures.profile(card)["identity"] as? [String: Any] ?? [:]
            let b = id["birthDate"] as? String ?? ""
            let iso = "\(b.prefix(4))-\(b.dropFirst(4).prefix(2))-\(b.suffix(2))"
            if r.json["birthDate"] as? String != iso { bad.append("birthDate") }
            if r.json["name"] as? String != id["name"] as? String { bad.append("name") }
            if r.json["address"] as? String != id["address"] as? String { bad.append("address") }
        }
        return bad
    }
}

/// The fault and soak suite: the daemon in-process, the real pcscd + vpcd, simulated cards.
/// Every test holds the bench lock and has a safety time limit; none asserts on timing.
@Suite("jpkid faults and soak through pcscd + jpki-sim", .serialized)
struct FaultSoakTests {
    /// True when an error answer carries card data it must not carry.
    static func carriesCardData(_ r: UnixHTTP.Response) -> Bool {
        let j = r.json
        return j["certificates"] != nil || j["signature"] != nil || j["name"] != nil || j["pins"] != nil
            || j["birthDate"] != nil || j["certificate"] != nil
    }

    @Test(
        "card yanked at every APDU of every operation: 409 card_session_ended, no data; a new card works",
        .timeLimit(.minutes(20)))
    func yankAtEveryAPDU() async throws {
        try await TestBench.exclusive {
            let h = try await Harness.start()
            var outcomes: [String: Int] = [:]
            var yanks = 0
            do {
                for op in Operation.allCases {
                    // Calibrate: APDUs of identification at insertion (k) and of the operation (m).
                    let counting = CountingCard(try VirtualMyNumberCard.fixture("00-ordinary"))
                    let calibration = try InsertedCard(wrapping: counting, name: "00-ordinary", base: counting.inner)
                    let s0 = try #require(try await h.waitForSession())
                    let k = counting.processed
                    let ok = try await op.request(h.http, session: s0, card: "00-ordinary")
                    #expect(ok.status == 200, "\(op) without faults: \(ok.status) \(ok.text.prefix(200))")
                    let m = counting.processed - k
                    calibration.remove()
                    #expect(try await h.waitForEmpty())
                    #expect(m > 0)
                    print("yank: \(op.rawValue): identification \(k) APDUs, operation \(m) APDUs")

                    for n in (k + 1)...(k + max(m, 1)) {
                        let card = try InsertedCard("00-ordinary", faults: "remove-after:\(n)")
                        let session = try await h.waitForSession()
                        #expect(
                            session != nil, "\(op) remove-after:\(n): no session (identification took other APDUs?)")
                        if let session {
                            let r = try await op.request(h.http, session: session, card: "00-ordinary")
                            yanks += 1
                            outcomes["\(r.status) \(r.errorCode ?? "-")", default: 0] += 1
                            #expect(
                                r.status == 409 && r.errorCode == "card_session_ended",
                                "\(op) remove-after:\(n): \(r.status) \(r.text.prefix(300))")
                            #expect(!Self.carriesCardData(r), "\(op) remove-after:\(n) returned card data")
                            // The session is over for good.
                            let again = try await h.http.request("GET", "/v1/sessions/\(session)/pin-status")
                            #expect(again.status == 409 && again.errorCode == "card_session_ended")
                        }
                        card.remove()
                        #expect(try await h.waitForEmpty())
                    }
                    // A new card afterwards works.
                    let fresh = try InsertedCard("00-ordinary")
                    let s = try #require(try await h.waitForSession())
                    let r = try await op.request(h.http, session: s, card: "00-ordinary")
                    #expect(r.status == 200, "\(op) on a fresh card: \(r.status)")
                    #expect(try op.mismatches(r, session: s, card: "00-ordinary").isEmpty)
                    fresh.remove()
                    #expect(try await h.waitForEmpty())
                }
            } catch {
                try? await h.stop()
                throw error
            }
            print("yank: \(yanks) yanks, outcomes \(outcomes.sorted { $0.key < $1.key })")
            #expect(try await h.http.request("GET", "/v1/health").status == 200)
            try await h.stop()
        }
    }

    @Test(
        "a garbled or truncated response at every APDU of every operation: a typed error, no data; the daemon keeps working",
        .timeLimit(.minutes(20)), arguments: ["garbage", "truncate"])
    func garbledResponseAtEveryAPDU(fault: String) async throws {
        try await TestBench.exclusive {
            let h = try await Harness.start()
            var outcomes: [String: Int] = [:]
            do {
                for op in Operation.allCases {
                    let counting = CountingCard(try VirtualMyNumberCard.fixture("00-ordinary"))
                    let calibration = try InsertedCard(wrapping: counting, name: "00-ordinary", base: counting.inner)
                    let s0 = try #require(try await h.waitForSession())
                    let k = counting.processed
                    #expect(try await op.request(h.http, session: s0, card: "00-ordinary").status == 200)
                    let m = counting.processed - k
                    calibration.remove()
                    #expect(try await h.waitForEmpty())
                    for n in (k + 1)...(k + max(m, 1)) {
                        let card = try InsertedCard("00-ordinary", faults: "\(fault):\(n)")
                        let session = try await h.waitForSession()
                        #expect(session != nil, "\(op) \(fault):\(n): no session")
                        if let session {
                            let r = try await op.request(h.http, session: session, card: "00-ordinary")
                            outcomes["\(r.status) \(r.errorCode ?? "-")", default: 0] += 1
                            // The card is still there but answered nonsense: the session ends (409)
                            // or the operation fails as a card error (502). Never data, never 500.
                            // Exception by design: pin-status reports each PIN it could read and
                            // lists one whose status read failed with an error code (200, this
                            // card's session; every PIN is listed, none silently left out).
                            let pinEntries = (r.json["pins"] as? [String: [String: Any]]) ?? [:]
                            let partialPINStatus =
                                op == .pinStatus && r.status == 200 && r.json["session"] as? String == session
                                && pinEntries.count == 3 && pinEntries.values.contains { $0["error"] is String }
                            #expect(
                                (r.status == 409 && r.errorCode == "card_session_ended")
                                    || (r.status == 502 && r.errorCode == "card_error") || partialPINStatus,
                                "\(op) \(fault):\(n): \(r.status) \(r.text.prefix(300))")
                            #expect(
                                partialPINStatus || !Self.carriesCardData(r), "\(op) \(fault):\(n) returned card data")
                        }
                        card.remove()
                        #expect(try await h.waitForEmpty())
                    }
                    let fresh = try InsertedCard("00-ordinary")
                    let s = try #require(try await h.waitForSession())
                    let r = try await op.request(h.http, session: s, card: "00-ordinary")
                    let bad = try op.mismatches(r, session: s, card: "00-ordinary")
                    #expect(r.status == 200 && bad.isEmpty, "\(op) on a fresh card: \(r.status) \(bad)")
                    fresh.remove()
                    #expect(try await h.waitForEmpty())
                }
            } catch {
                try? await h.stop()
                throw error
            }
            print("\(fault): outcomes \(outcomes.sorted { $0.key < $1.key })")
            try await h.stop()
        }
    }

    @Test(
        "pcscd killed and restarted under the running daemon; vpcd-side removal; sessions end",
        .timeLimit(.minutes(20)))
    func pcscdKilledUnderDaemon() async throws {
        try await TestBench.exclusive {
            defer { PCSCD.ensureRunning() }
            let h = try await Harness.start()
            let card = try InsertedCard("00-ordinary", reconnect: true)
            do {
                let s1 = try #require(try await h.waitForSession())
                let health = try await h.http.request("GET", "/v1/health")
                #expect(health.json["pcsc"] as? String == "up" && health.json["readers"] as? Int == 2)

                try PCSCD.kill9()
                #expect(
                    try await TestBench.waitUntil(timeout: .seconds(15)) {
                        try await h.http.request("GET", "/v1/health").json["pcsc"] as? String == "unavailable"
                    }, "health never said pcsc unavailable")
                // The daemon keeps answering while pcscd is gone; the old session is over.
                let during = try await h.http.request("GET", "/v1/sessions/\(s1)/certificates")
                #expect(
                    during.status == 409 && during.errorCode == "card_session_ended", "\(during.status) \(during.text)")
                #expect(!Self.carriesCardData(during))
                let readersDuring = try await h.http.request("GET", "/v1/readers")
                #expect(readersDuring.status == 200 && (readersDuring.json["readers"] as? [Any])?.isEmpty == true)

                try PCSCD.start()
                #expect(
                    try await TestBench.waitUntil(timeout: .seconds(15)) {
                        let j = try await h.http.request("GET", "/v1/health").json
                        return j["pcsc"] as? String == "up" && j["readers"] as? Int == 2
                    }, "pcsc never came back with both readers")
                // The bridge reconnects to the new vpcd: the card is inserted again → new session.
                let s2 = try #require(try await h.waitForSession(otherThan: s1))
                #expect(s2 != s1)
                let old = try await h.http.request("GET", "/v1/sessions/\(s1)/certificates")
                #expect([404, 409].contains(old.status) && !Self.carriesCardData(old), "\(old.status) \(old.text)")
                let new = try await Operation.certificates.request(h.http, session: s2, card: "00-ordinary")
                #expect(new.status == 200)
                #expect(try Operation.certificates.mismatches(new, session: s2, card: "00-ordinary").isEmpty)

                // vpcd side disconnect: the card goes away, its session ends.
                card.remove()
                #expect(try await h.waitForEmpty())
                let gone = try await h.http.request("GET", "/v1/sessions/\(s2)/pin-status")
                #expect(gone.status == 409 && gone.errorCode == "card_session_ended")
                // And a new card in the new pcscd works.
                let fresh = try InsertedCard("00-ordinary")
                let s3 = try #require(try await h.waitForSession(otherThan: s2))
                #expect(try await Operation.pinStatus.request(h.http, session: s3, card: "00-ordinary").status == 200)
                fresh.remove()
            } catch {
                card.remove()
                try? await h.stop()
                throw error
            }
            try await h.stop()
        }
    }

    @Test("a client killed mid-request does not block the reader; the next request works", .timeLimit(.minutes(20)))
    func clientKilledMidRequest() async throws {
        try await TestBench.exclusive {
            let h = try await Harness.start()
            // 5 ms per APDU, so a closed client's authenticate is still running when it goes.
            let card = try InsertedCard("00-ordinary", faults: "slow:5")
            do {
                let s = try #require(try await h.waitForSession())
                let authBody = #"{"pin":"1234"}"#
                let full = UnixHTTP.requestBytes("POST", "/v1/sessions/\(s)/authenticate", body: authBody)
                // 1. Half a request head, then gone.
                var fd = try h.http.connect()
                h.http.send(fd, Array(full[0..<20]))
                close(fd)
                // 2. Head and half the body, then gone.
                fd = try h.http.connect()
                h.http.send(fd, Array(full[0..<(full.count - 5)]))
                close(fd)
                // 3. Full authenticate and identity requests, closed before the answer.
                for bytes in [
                    full, UnixHTTP.requestBytes("POST", "/v1/sessions/\(s)/identity", body: authBody), full,
                ] {
                    fd = try h.http.connect()
                    h.http.send(fd, bytes)
                    close(fd)
                }
                // 4. A reset connection (SO_LINGER 0) mid-request.
                fd = try h.http.connect()
                h.http.send(fd, full)
                var lin = linger(l_onoff: 1, l_linger: 0)
                setsockopt(fd, SOL_SOCKET, SO_LINGER, &lin, socklen_t(MemoryLayout<linger>.size))
                close(fd)

                // The reader is not blocked: the next requests on the same session work.
                let pins = try await Operation.pinStatus.request(h.http, session: s, card: "00-ordinary")
                #expect(pins.status == 200)
                let auth = ((pins.json["pins"] as? [String: Any])?["auth"] as? [String: Any])?["triesLeft"] as? Int
                #expect(auth == 3, "abandoned requests must not cost PIN tries (correct PIN)")
                for op in Operation.allCases {
                    let r = try await op.request(h.http, session: s, card: "00-ordinary")
                    #expect(r.status == 200, "\(op) after abandoned clients: \(r.status)")
                    #expect(try op.mismatches(r, session: s, card: "00-ordinary").isEmpty)
                }
            } catch {
                card.remove()
                try? await h.stop()
                throw error
            }
            card.remove()
            try await h.stop()
        }
    }

    @Test(
        "1,000 concurrent clients; connections over maxConnections are closed; slow (408), malformed (400), oversized (413) and garbage requests",
        .timeLimit(.minutes(20)))
    func manyClientsAndBadRequests() async throws {
        var limit = rlimit()
        getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
        if limit.rlim_cur < 4096 {
            limit.rlim_cur = min(max(limit.rlim_max, 4096), 65536)
            if limit.rlim_max < limit.rlim_cur { limit.rlim_max = limit.rlim_cur }
            #expect(
                setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0,
                "cannot raise RLIMIT_NOFILE to 4096")
        }
        try await TestBench.exclusive {
            let h = try await Harness.start {
                $0.limits.maxConnections = 1024
                // One uid plays 1,000 clients here: the per-peer limit is not what is tested.
                $0.limits.maxConnectionsPerPeer = 1024
                $0.limits.requestTimeoutSeconds = 2
            }
            let card = try InsertedCard("00-ordinary")
            do {
                let s = try #require(try await h.waitForSession())
                // 1,000 clients connected at once, each sends GET /v1/readers, all are answered.
                let http = h.http
                let statuses = try await blocking { try Self.concurrentRequests(http, count: 1000) }
                let ok = statuses.filter { $0 == 200 }.count
                print("concurrent: \(ok)/1000 answered 200")
                #expect(ok == 1000, "statuses: \(Dictionary(grouping: statuses, by: { $0 }).mapValues(\.count))")

                // Over the limit: 1024 idle connections held, the next one is closed unanswered.
                var idle: [Int32] = []
                for _ in 0..<1024 { idle.append(try http.connect()) }
                // Make sure the daemon has accepted them all before the extra one.
                #expect(
                    try await TestBench.waitUntil(timeout: .seconds(15)) {
                        Self.acceptedConnections(http.path) >= 1024
                    })
                let extra = try http.connect(timeout: 10)
                http.send(extra, UnixHTTP.requestBytes("GET", "/v1/health", body: nil))
                let refused = UnixHTTP.parse(http.readAll(extra))
                close(extra)
                #expect(refused.status == 0, "connection 1025 must be closed without an answer, got \(refused.status)")
                for fd in idle { close(fd) }
                #expect(
                    try await TestBench.waitUntil(timeout: .seconds(15)) {
                        (try? await http.request("GET", "/v1/health").status) == 200
                    }, "the daemon must serve again once connections are released")

                // Slow client: a complete head, the body dripping in → 408 (requestTimeoutSeconds 2).
                let slow = try await blocking { () -> UnixHTTP.Response in
                    let fd = try http.connect()
                    defer { close(fd) }
                    http.send(
                        fd,
                        Array(
                            "POST /v1/sessions/\(s)/authenticate HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\n{"
                                .utf8))
                    for _ in 0..<12 {
                        usleep(500_000)
                        if !http.send(fd, Array(" ".utf8)) { break }
                    }
                    return UnixHTTP.parse(http.readAll(fd))
                }
                #expect(slow.status == 408 && slow.errorCode == "request_timeout", "\(slow.status) \(slow.text)")

                // Malformed JSON, wrong shape, empty body.
                for body in ["{not json", "[1,2,3]", #"{"pin":1234}"#, "", "\u{0}\u{1}\u{2}"] {
                    let r = try await http.request("POST", "/v1/sessions/\(s)/authenticate", body: body)
                    #expect(
                        r.status == 400 && r.errorCode == "bad_request", "body \(body.debugDescription): \(r.status)")
                }
                // Oversized: by Content-Length, and chunked without a length.
                let big = try await http.request(
                    "POST", "/v1/sessions/\(s)/identity", body: String(repeating: "x", count: 5000))
                #expect(big.status == 413 && big.errorCode == "payload_too_large")
                let chunked = try await blocking { () -> UnixHTTP.Response in
                    let fd = try http.connect()
                    defer { close(fd) }
                    var text =
                        "POST /v1/sessions/\(s)/identity HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                    for _ in 0..<5 { text += "400\r\n" + String(repeating: "y", count: 1024) + "\r\n" }
                    text += "0\r\n\r\n"
                    http.send(fd, Array(text.utf8))
                    return UnixHTTP.parse(http.readAll(fd))
                }
                #expect(chunked.status == 413, "chunked oversized: \(chunked.status)")
                // Garbage bytes and broken request lines: an error answer or a close, never a crash.
                var rng = SeededRNG(state: 42)
                for i in 0..<50 {
                    let fd = try http.connect(timeout: 10)
                    let bytes: [UInt8] =
                        i % 2 == 0
                        ? (0..<Int.random(in: 1...600, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
                        : Array("GET /v1/\(String(repeating: "%", count: i)) HTTP/1.1\r\n\r\n".utf8)
                    http.send(fd, bytes)
                    shutdown(fd, Int32(SHUT_WR))
                    let r = UnixHTTP.parse(http.readAll(fd))
                    close(fd)
                    #expect(r.status == 0 || (400..<500).contains(r.status), "garbage \(i): \(r.status)")
                }
                // Query strings the server must not choke on (fuzz regression: "?=" crashed the daemon).
                for target in ["/v1/readers?=", "/v1/readers?&=&", "/v1/readers?a=%ZZ&=x", "/v1/health?=="] {
                    let r = try await http.request("GET", target)
                    #expect(r.status == 200, "\(target): \(r.status)")
                }
                #expect(try await http.request("GET", "/v1/health").status == 200)
                let last = try await Operation.identity.request(http, session: s, card: "00-ordinary")
                #expect(last.status == 200, "identity after the abuse: \(last.status) \(last.text)")
            } catch {
                card.remove()
                try? await h.stop()
                throw error
            }
            card.remove()
            try await h.stop()
        }
    }

    /// Connects `count` clients at once, then sends GET /v1/readers on each, then reads all
    /// answers (poll). Returns the statuses (0 = no answer).
    static func concurrentRequests(_ http: UnixHTTP, count: Int) throws -> [Int] {
        var fds: [Int32] = []
        defer { for fd in fds { close(fd) } }
        for _ in 0..<count { fds.append(try http.connect()) }
        let request = UnixHTTP.requestBytes("GET", "/v1/readers", body: nil)
        for fd in fds { http.send(fd, request) }
        var buffers = [[UInt8]](repeating: [], count: count)
        var open = Set(0..<count)
        var buf = [UInt8](repeating: 0, count: 65536)
        let deadline = Date().addingTimeInterval(60)
        while !open.isEmpty && Date() < deadline {
            var pfds = open.map { pollfd(fd: fds[$0], events: Int16(POLLIN), revents: 0) }
            let idx = Array(open)
            let n = poll(&pfds, nfds_t(pfds.count), 1000)
            if n <= 0 { continue }
            for (j, p) in pfds.enumerated() where p.revents != 0 {
                let i = idx[j]
                let got = recv(fds[i], &buf, buf.count, 0)
                if got > 0 { buffers[i] += buf[0..<got] } else { open.remove(i) }
            }
        }
        return buffers.map { b in
            let r = UnixHTTP.parse(b)
            return r.status == 200 && (r.json["readers"] as? [Any])?.count == 2 ? 200 : r.status
        }
    }

    /// Established connections to the Unix socket at `path`, counted on the server side
    /// (/proc/net/unix lists the listening socket by path, and accepted ones carry the same path).
    static func acceptedConnections(_ path: String) -> Int {
        // Read with a loop: /proc files report size 0, and a single read returns one page only.
        let fd = open("/proc/net/unix", O_RDONLY)
        guard fd >= 0 else { return 0 }
        defer { close(fd) }
        var data: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = read(fd, &buf, buf.count)
            if n <= 0 { break }
            data += buf[0..<n]
        }
        let text = String(decoding: data, as: UTF8.self)
        // Flags 00000000 + state 03 (connected) + path: the server end of an accepted connection.
        return text.split(separator: "\n").filter { $0.hasSuffix(" " + path) && $0.contains(" 03 ") }.count
    }

    @Test(
        "card-swap torture: random swaps across all endpoints never leak another card's data",
        .timeLimit(.minutes(20)))
    func swapTorture() async throws {
        let seconds = Double(ProcessInfo.processInfo.environment["FAULT_SOAK_SWAP_SECONDS"] ?? "") ?? 100
        let seed =
            UInt64(ProcessInfo.processInfo.environment["FAULT_SOAK_SEED"] ?? "")
            ?? UInt64.random(in: 1...UInt64.max)
        print("swap torture: seed \(seed) (FAULT_SOAK_SEED=\(seed) replays it), \(Int(seconds)) s")
        var rng = SeededRNG(state: seed)
        // Two cards with the same name and an Android phone (its session bound to ATR + token
        // until the first PIN-verified operation binds its certificate).
        let cards = ["02-same-name-a", "03-same-name-b", "20-android-phone"]
        #expect(try Fixtures.authFingerprint(cards[0]) != Fixtures.authFingerprint(cards[1]))
        try await TestBench.exclusive {
            let h = try await Harness.start()
            let http = h.http
            var sessionCard: [String: String] = [:]
            var swaps = 0
            var requests = 0
            var outcomes: [String: Int] = [:]
            var wrongData: [String] = []
            var last: String?
            var current: InsertedCard?
            let deadline = Date().addingTimeInterval(seconds)
            do {
                while Date() < deadline {
                    let name = cards[Int.random(in: 0..<cards.count, using: &rng)]
                    current = try InsertedCard(name)
                    guard let s = try await h.waitForSession(otherThan: last) else {
                        Issue.record("no session after inserting \(name) (swap \(swaps))")
                        break
                    }
                    sessionCard[s] = name
                    last = s
                    // 1–4 requests in flight (mostly on the current session, some on older ones),
                    // and the card pulled after a random delay.
                    let n = Int.random(in: 1...4, using: &rng)
                    var plan: [(Operation, String)] = []
                    for _ in 0..<n {
                        let op = Operation.allCases.randomElement(using: &rng)!
                        let target =
                            Int.random(in: 0..<5, using: &rng) == 0
                            ? (sessionCard.keys.sorted().randomElement(using: &rng) ?? s) : s
                        plan.append((op, target))
                    }
                    let delay = UInt32.random(in: 0...250_000, using: &rng)
                    let snapshot = sessionCard
                    let results = try await withThrowingTaskGroup(
                        of: (Operation, String, UnixHTTP.Response).self
                    ) { group in
                        for (op, target) in plan {
                            group.addTask {
                                (op, target, try await op.request(http, session: target, card: snapshot[target]!))
                            }
                        }
                        let bridge = current!
                        group.addTask {
                            try await blocking {
                                usleep(delay)
                                bridge.remove()
                                return (.pinStatus, "", UnixHTTP.Response(status: -1, body: []))
                            }
                        }
                        var out: [(Operation, String, UnixHTTP.Response)] = []
                        for try await r in group where r.2.status != -1 { out.append(r) }
                        return out
                    }
                    swaps += 1
                    for (op, target, r) in results {
                        requests += 1
                        outcomes["\(op.rawValue) \(r.status) \(r.errorCode ?? "")", default: 0] += 1
                        if r.status == 200 {
                            let bad = try op.mismatches(r, session: target, card: snapshot[target]!)
                            if !bad.isEmpty { wrongData.append("\(op) on \(snapshot[target]!): \(bad)") }
                        } else {
                            if Self.carriesCardData(r) { wrongData.append("\(op) error \(r.status) carried data") }
                        }
                    }
                    #expect(try await h.waitForEmpty())
                }
            } catch {
                current?.remove()
                try? await h.stop()
                throw error
            }
            print("swap torture: seed \(seed): \(swaps) swaps, \(requests) requests, outcomes:")
            for (k, v) in outcomes.sorted(by: { $0.key < $1.key }) { print("  \(k): \(v)") }
            #expect(wrongData.isEmpty, "responses with another card's data: \(wrongData.prefix(5))")
            #expect(swaps >= 10, "too few swaps to mean anything: \(swaps)")
            // Only success or the session-ended answer: a wrong PIN (401) would mean the PIN of
            // one card reached the other. The phone adds the two answers it gives by design:
            // certificates before its first PIN operation (428) and identity (no text AP, 422).
            let phoneAnswers = ["certificates 428 certificate_after_pin", "identity 422 application_not_found"]
            let allowed = outcomes.keys.filter {
                !($0.hasSuffix(" 200 ") || $0.hasSuffix(" 409 card_session_ended") || phoneAnswers.contains($0))
            }
            #expect(allowed.isEmpty, "unexpected answers: \(allowed)")
            try await h.stop()
        }
    }

    @Test(
        "connection attacks: one uid's 2,000 idle connections, then 1,100 silent event subscribers; another uid is served throughout",
        .timeLimit(.minutes(5)))
    func connectionAttacks() async throws {
        let greedyUID: UInt32 = 65534
        let h = try await Harness.start {
            $0.socket.mode = "0666"
            $0.roles.users[String(greedyUID)] = [.status]
            $0.limits.eventHeartbeatSeconds = 0.5
            // No card work here: the daemon leaves the bench's readers alone (no bench lock).
            $0.ignoreReaders = TestBench.slots.map(\.readerName)
        }
        chmod(URL(fileURLWithPath: h.config.socket.path).deletingLastPathComponent().path, 0o755)
        let http = h.http
        let perPeer = h.config.limits.maxConnectionsPerPeer
        let streams = h.config.limits.maxEventStreamsPerPeer
        func served(_ label: String) async throws {
            let run = try await WellBehavedRun.run(http, "/v1/readers", count: 300)
            print("attack \(label): well-behaved uid \(run.summary)")
            #expect(run.ok == 300, "\(label): \(run.histogram)")
        }
        do {
            let idle = try GreedyPeer(socket: h.config.socket.path, uid: greedyUID, count: 2000, mode: "idle")
            defer { idle.stop() }
            #expect(try await idle.opened()["opened"] == 2000)
            try await served("2,000 idle connections")
            let r1 = try await idle.report { ($0["503 closed"] ?? 0) == 2000 - perPeer }
            print("attack 2,000 idle connections: \(r1)")
            #expect(r1["503 closed"] == 2000 - perPeer && r1["none open"] == perPeer, "\(r1)")
        }
        do {
            let silent = try GreedyPeer(socket: h.config.socket.path, uid: greedyUID, count: 1100, mode: "events")
            defer { silent.stop() }
            #expect(try await silent.opened()["opened"] == 1100)
            try await served("1,100 silent subscribers")
            let r2 = try await silent.report { ($0["200 closed"] ?? 0) == streams }
            print("attack 1,100 silent subscribers: \(r2)")
            #expect(r2["200 closed"] == streams && r2["429 open"] == perPeer - streams, "\(r2)")
            #expect(r2["503 closed"] == 1100 - perPeer, "\(r2)")
        }
        try await h.stop()
    }

    @Test(
        "fast-swap torture: swaps within milliseconds (no removal reported), every reported field checked",
        .timeLimit(.minutes(10)))
    func fastSwapTorture() async throws {
        let seconds = Double(ProcessInfo.processInfo.environment["FAULT_SOAK_FAST_SWAP_SECONDS"] ?? "") ?? 30
        let seed =
            UInt64(ProcessInfo.processInfo.environment["FAULT_SOAK_SEED"] ?? "")
            ?? UInt64.random(in: 1...UInt64.max)
        print("fast-swap torture: seed \(seed) (FAULT_SOAK_SEED=\(seed) replays it), \(Int(seconds)) s")
        var rng = SeededRNG(state: seed)
        // Three cards with three different ATRs and certificates.
        let cards = ["00-ordinary", "02-same-name-a", "03-same-name-b"]
        var atrOf: [String: String] = [:]
        for c in cards { atrOf[c] = try Fixtures.profile(c)["atr"] as? String ?? "" }
        #expect(Set(atrOf.values).count == cards.count)
        try await TestBench.exclusive {
            let h = try await Harness.start()
            let http = h.http
            let events = try EventRecorder(http)
            var sessionCard: [String: String] = [:]
            var swaps = 0
            var fastSwaps = 0
            var requests = 0
            var fieldsChecked = 0
            var violations: [String] = []
            var last: String?
            var current: InsertedCard?
            func check(_ what: String, _ got: Any?, _ want: String) {
                fieldsChecked += 1
                if got as? String != want { violations.append("\(what): \(got ?? "nil") ≠ \(want)") }
            }
            let deadline = Date().addingTimeInterval(seconds)
            do {
                var name = cards[Int.random(in: 0..<cards.count, using: &rng)]
                current = try InsertedCard(name)
                while Date() < deadline {
                    guard let s = try await h.waitForSession(otherThan: last) else {
                        Issue.record("no session after inserting \(name) (swap \(swaps))")
                        break
                    }
                    sessionCard[s] = name
                    // Every field jpkid reports about the session belongs to the card in the reader.
                    let entry = (try await http.request("GET", "/v1/readers").json["readers"] as? [[String: Any]] ?? [])
                        .first { $0["name"] as? String == TestBench.slots[soakSlot].readerName }
                    if entry?["session"] as? String == s {
                        check("readers atr", entry?["atr"], atrOf[name]!)
                        check("readers cardType", entry?["cardType"], "my-number-card")
                    }
                    let session = try await http.request("GET", "/v1/sessions/\(s)")
                    if session.status == 200 {
                        check("session atr", session.json["atr"], atrOf[name]!)
                        let identity = session.json["identity"] as? [String: Any]
                        check(
                            "session certificate", (identity?["authCertificateFingerprint"] as? String)?.lowercased(),
                            try Fixtures.authFingerprint(name))
                        check("session cardType", identity?["cardType"], "my-number-card")
                    }
                    let op = Operation.allCases.randomElement(using: &rng)!
                    let card = name
                    let r = try await op.request(http, session: s, card: card)
                    requests += 1
                    if r.status == 200 {
                        let bad = try op.mismatches(r, session: s, card: name)
                        if !bad.isEmpty { violations.append("\(op) on \(name): \(bad)") }
                    }
                    // The swap: the next card goes in right after this one comes out (fast), or once
                    // the daemon has seen the reader empty.
                    let next = cards[Int.random(in: 0..<cards.count, using: &rng)]
                    let fast = Bool.random(using: &rng)
                    current?.remove()
                    if !fast { #expect(try await h.waitForEmpty()) }
                    current = try InsertedCard(next)
                    swaps += 1
                    if fast {
                        fastSwaps += 1
                        // A client's next request on the old session meets the other card: 409 (or
                        // the removal was seen: 409 too), never the new card's data.
                        let stale = try await Operation.certificates.request(http, session: s, card: card)
                        requests += 1
                        if stale.status != 409 {
                            violations.append("old session answered \(stale.status) after a fast swap")
                        }
                    }
                    last = s
                    name = next
                }
                current?.remove()
                _ = try await h.waitForEmpty()
            } catch {
                current?.remove()
                events.stop()
                try? await h.stop()
                throw error
            }
            // Every card-inserted event named the ATR of the card its session is bound to.
            let inserted = events.stop().filter { $0["type"] as? String == "card-inserted" && $0["session"] != nil }
            for e in inserted {
                guard let s = e["session"] as? String, let card = sessionCard[s] else { continue }
                check("event atr", e["atr"], atrOf[card]!)
            }
            print(
                "fast-swap torture: seed \(seed): \(swaps) swaps (\(fastSwaps) fast), \(sessionCard.count) sessions, \(requests) requests, \(inserted.count) insert events, \(fieldsChecked) fields checked, \(violations.count) violations"
            )
            #expect(violations.isEmpty, "\(violations.prefix(10))")
            #expect(fastSwaps >= 5, "too few fast swaps to mean anything: \(fastSwaps)")
            try await h.stop()
        }
    }

    @Test("no log or audit line of the suite carries a PIN, My Number or identity value", .timeLimit(.minutes(20)))
    func noPIIInLogs() throws {
        // The scanner itself finds what it must (so this test can fail).
        let values = try Fixtures.sensitiveValues()
        #expect(values.contains("1234") && values.contains("ABC123") && values.contains("123456789018"))
        #expect(!Fixtures.leaks(in: [#"body {"pin":"1234"}"#], of: values).isEmpty)
        #expect(!Fixtures.leaks(in: ["name 山田　太郎"], of: values).isEmpty)
        #expect(Fixtures.leaks(in: ["session a1234b0c1111ff"], of: values).isEmpty)
        // Every line captured by the suite so far (each test also scans its own at its end).
        let audits = suiteAuditFiles.withLock { $0 }
        try expectNoPII(logs: suiteLogs, auditPaths: audits)
        print("PII scan: \(suiteLogs.all.count) log lines, \(audits.count) audit files")
    }
}
