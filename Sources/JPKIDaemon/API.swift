import AuditTrail
import Eligibility
import Foundation
import HTTPTransport
import JPKI
import JPKIVerify
import Logging
import NIOHTTP1
import SmartCard
import Synchronization

/// The `/v1` API. Every request is checked against the peer's roles; every card operation names
/// a session and is bound to that session's card (see ``ReaderSupervisor``); card operations and
/// their outcomes are audited without PINs, My Numbers or identity values.
public struct DaemonAPI: APIResponder {
    let supervisor: ReaderSupervisor
    let bus: EventBus
    let roles: RoleMap
    let audit: AuditLog
    let config: DaemonConfig
    let logger: Logger
    /// Chain/revocation verifier from `trust`; nil when no auth anchor is configured.
    let verifier: CertificateVerifier?
    /// Text/visual AP integrity verifier from `trust.textIssuerKey`/`visualIssuerKey`; nil when
    /// neither key is configured (identity and face then say `integrityVerified: false`).
    let integrity: APIntegrityVerifier?
    /// The eligibility registry (nil: eligibility answers 503 `eligibility_disabled`).
    let eligibility: EligibilityService?
    /// Open event streams per peer uid.
    let streams: PerPeerCounter
    /// Face-reader results of provider `oqs` (nil: the intake is off).
    let faceStore: OQSFaceResults?
    /// The verification time of eligibility answers (certificate validity, grace period, the
    /// checked day); `Date()` except in tests, which pin it so that no test rots with real time.
    let clock: @Sendable () -> Date
    /// Operator metrics (`GET /v1/metrics`).
    public let metrics = DaemonMetrics()

    /// Creates the API.
    public init(
        supervisor: ReaderSupervisor, bus: EventBus, roles: RoleMap, audit: AuditLog, config: DaemonConfig,
        logger: Logger, verifier: CertificateVerifier?, integrity: APIntegrityVerifier? = nil,
        eligibility: EligibilityService? = nil, faceStore: OQSFaceResults? = nil,
        clock: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.clock = clock
        self.eligibility = eligibility
        self.faceStore = faceStore
        self.supervisor = supervisor
        self.bus = bus
        self.roles = roles
        self.audit = audit
        self.config = config
        self.logger = logger
        self.verifier = verifier
        self.integrity = integrity
        self.streams = PerPeerCounter(limit: config.limits.maxEventStreamsPerPeer)
    }

    /// Builds the AP integrity verifier from the CV issuer keys of the configuration.
    public static func makeIntegrityVerifier(_ t: DaemonConfig.Trust) throws -> APIntegrityVerifier? {
        guard t.textIssuerKey != nil || t.visualIssuerKey != nil else { return nil }
        return try APIntegrityVerifier(
            textIssuerKey: t.textIssuerKey.map { URL(fileURLWithPath: $0) },
            visualIssuerKey: t.visualIssuerKey.map { URL(fileURLWithPath: $0) })
    }

    /// Builds the verifier from the configuration (anchors from files only, never from a card);
    /// OCSP requests go through `requester`.
    public static func makeVerifier(
        _ t: DaemonConfig.Trust, requester: any HTTPRequester = AsyncHTTPRequester.shared
    ) throws -> CertificateVerifier? {
        guard !t.authAnchors.isEmpty else { return nil }
        let trust = TrustConfiguration(
            authAnchors: t.authAnchors.map { URL(fileURLWithPath: $0) },
            signAnchors: t.signAnchors.map { URL(fileURLWithPath: $0) })
        let ocsp = t.ocspURL.flatMap(URL.init(string:)).map { OCSPConfiguration(responderURL: $0) }
        let revocation = RevocationConfiguration(
            crlFiles: t.crls.map { URL(fileURLWithPath: $0) }, ocsp: ocsp,
            policy: t.revocationUnavailable == "soft-fail" ? .softFail : .hardFail)
        return try CertificateVerifier(
            trust: trust, revocation: revocation, requester: ocsp == nil ? nil : requester)
    }

    /// `GET /v1/readers` for a peer with the status role, answered on the connection's event
    /// loop from the supervisor's published board: the most frequent request of a reception app
    /// costs no task, no thread hop and no actor call. Everything else (including every error)
    /// takes the normal route.
    public func respondOnEventLoop(to r: APIRequest) -> APIResponse? {
        guard r.method == .GET, r.path == "/v1/readers", let peer = r.peer, roles.roles(for: peer).contains(.status)
        else { return nil }
        let response = supervisor.board.response()
        metrics.request(path: r.path, status: Int(response.status.code), seconds: nil)
        return response
    }

    public func respond(to request: APIRequest) async -> APIResponse {
        let start = ContinuousClock.now
        let response = await respondUnmeasured(to: request)
        let elapsed = ContinuousClock.now - start
        metrics.request(
            path: request.path, status: Int(response.status.code),
            seconds: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
        return response
    }

    func respondUnmeasured(to request: APIRequest) async -> APIResponse {
        let mark = AuditMark()
        let e: APIError
        do {
            return try await AuditMark.$current.withValue(mark) { try await route(request) }
        } catch let error as APIError {
            e = error
        } catch let error as JPKIError {
            e = Self.map(error)
        } catch let error as AuditError {
            logger.error("audit log unavailable", metadata: ["error": "\(error)"])
            e = .auditUnavailable
        } catch {
            logger.error("unexpected error", metadata: ["type": "\(type(of: error))"])
            e = APIError(500, "internal_error", "internal error")
        }
        // Refused and failed requests are audited too (rate-limited per uid), unless the
        // operation already wrote its own line with the outcome.
        if !mark.recorded.load(ordering: .relaxed) {
            await audit.recordRefusal(
                method: request.method.rawValue, path: request.path, peer: request.peer, code: e.code)
        }
        return .error(e)
    }

    /// Checks, before a card is touched, that the audit log can be written: when the last write
    /// failed, a probe line must go through first (this is how jpkid recovers by itself when the
    /// disk does). Throws 503 `audit_unavailable` otherwise.
    func requireAudit() async throws {
        guard audit.writer.lastFailure != nil else { return }
        do {
            try await audit.record("audit-probe", peer: nil, outcome: "recovered")
        } catch {
            throw APIError.auditUnavailable
        }
    }

    /// Writes an audit line that records a disclosure; the answer may leave only after it is on
    /// disk, so a line that cannot be written turns the answer into 503 `audit_unavailable`.
    func recordDisclosure(
        _ operation: String, peer: PeerCredentials, session: String?, reader: String? = nil, card: String? = nil,
        cardKey: CardKey? = nil, outcome: String
    ) async throws {
        AuditMark.current?.recorded.store(true, ordering: .relaxed)
        do {
            try await audit.record(
                operation, peer: peer, session: session, reader: reader, card: card, cardKey: cardKey, outcome: outcome)
            metrics.cardOperation(operation, outcome: outcome, audited: true)
        } catch {
            metrics.cardOperation(operation, outcome: outcome, audited: false)
            logger.error("audit log unavailable: disclosure refused", metadata: ["error": "\(error)"])
            throw APIError.auditUnavailable
        }
    }

    /// Audits a failed or refused operation (best effort: the refusal is answered anyway).
    func recordFailure(
        _ operation: String, peer: PeerCredentials, session: String, reader: String? = nil, card: String? = nil,
        cardKey: CardKey? = nil, outcome: String
    ) async {
        AuditMark.current?.recorded.store(true, ordering: .relaxed)
        let written =
            (try? await audit.record(
                operation, peer: peer, session: session, reader: reader, card: card, cardKey: cardKey,
                outcome: outcome)) != nil
        metrics.cardOperation(operation, outcome: outcome, audited: written)
    }

    func route(_ r: APIRequest) async throws -> APIResponse {
        guard let peer = r.peer else { throw APIError(403, "unknown_peer", "peer credentials unavailable") }
        let granted = roles.roles(for: peer)
        guard !granted.isEmpty else { throw APIError(403, "unknown_peer", "this user has no role") }
        // The route, the role and the request body come from docs/openapi.yaml (OpenAPIRouting.swift,
        // Generated/); the operations are in APIOperations.swift.
        return try await dispatch(r, peer: peer, granted: granted)
    }

    /// `GET /v1/health`.
    func health() async -> APIResponse {
        struct Health: Encodable {
            var status: String
            var pcsc: String
            var readers: Int
        }
        let up = await supervisor.isServiceUp
        let n = await supervisor.snapshot().count
        return .json(Health(status: "ok", pcsc: up ? "up" : "unavailable", readers: n))
    }

    /// `GET /v1/metrics` (Prometheus text format).
    func metricsText() async -> APIResponse {
        let readers = await supervisor.snapshot()
        metrics.state(
            readers: readers.count, sessions: readers.filter { $0.session != nil }.count,
            auditWritable: audit.writer.lastFailure == nil)
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "text/plain; version=0.0.4; charset=utf-8")
        return APIResponse(status: .ok, headers: headers, body: .bytes(metrics.render()))
    }

    /// `GET /v1/events`: at most `limits.maxEventStreamsPerPeer` streams per peer uid (429
    /// `too_many_event_streams` beyond); the slot is freed when the stream ends.
    func events(peer: PeerCredentials) throws(APIError) -> APIResponse {
        guard streams.tryAcquire(uid: peer.uid) else { throw .tooManyEventStreams }
        let streams = self.streams
        let stream = bus.subscribe()
        let text = AsyncStream<String> { continuation in
            continuation.yield("retry: 1000\n\n")
            let task = Task {
                for await e in stream { continuation.yield(e.serverSentEvent) }
                continuation.finish()
            }
            continuation.onTermination = { _ in
                task.cancel()
                streams.release(uid: peer.uid)
            }
        }
        var h = HTTPHeaders()
        h.add(name: "content-type", value: "text/event-stream")
        return APIResponse(status: .ok, headers: h, body: .events(text))
    }

    /// Runs a card operation on a session, audits it and checks that the card the operation
    /// read is the session's card.
    func cardOperation<T: Sendable>(
        _ name: String, session id: String, peer: PeerCredentials,
        bindCertificate: (@Sendable (T) -> [UInt8]?)? = nil,
        _ body: @escaping @Sendable (MyNumberCard) throws -> CardResult<T>
    ) async throws -> (T, CardSession) {
        try await requireAudit()
        var result: (T, CardSession)
        do {
            let supervisor = self.supervisor
            result = try await withDeadline(seconds: config.limits.operationTimeoutSeconds) {
                try await supervisor.withSession(id) { channel, session in
                    // A card bound without PIN (顔認証マイナンバーカード): the library refuses every
                    // PIN operation before any APDU.
                    // A credential whose auth certificate needs the PIN first (Android) is identified
                    // by its token info wherever a card would be by its certificate.
                    let result: CardResult<T>
                    do {
                        result = try body(
                            MyNumberCard(
                                channel: channel, cardHasNoPIN: session.identity.authPINPresent == false,
                                certificateAfterPIN: session.identity.identifiesByToken))
                    } catch JPKIError.pinRequired(let kind) where session.identity.identifiesByToken && kind != .sign {
                        throw APIError.certificateAfterPIN
                    } catch JPKIError.pinRequired(nil) where !session.identity.identifiesByToken {
                        // The session's card showed its auth certificate without a PIN: a credential
                        // that does not (an Android phone swapped in unnoticed) is another one.
                        throw APIError.sessionEnded
                    }
                    guard result.card.hex == session.identity.expectedCardFingerprint else {
                        throw APIError.sessionEnded
                    }
                    return (result.value, session)
                }
            }
            // The hook for a session bound before its certificate (Android): the operation proved
            // the certificate (its signature verified against it); the session is bound to it
            // before the audit line names the card and before the answer leaves.
            if let bindCertificate, let der = bindCertificate(result.0) {
                result.1 = try await supervisor.bindAuthCertificate(id, der: der)
            }
        } catch {
            let code = (error as? APIError)?.code ?? (error as? JPKIError).map { Self.map($0).code } ?? "error"
            // The card the attempt was made on, when its session still exists (a wrong PIN
            // belongs in that card's disclosure report too).
            let session = try? await supervisor.session(id)
            await recordFailure(
                name, peer: peer, session: id, reader: session?.reader,
                card: session?.identity.authCertificateFingerprint, outcome: code)
            throw error
        }
        let session = result.1
        try await recordDisclosure(
            name, peer: peer, session: id, reader: session.reader, card: session.identity.authCertificateFingerprint,
            outcome: "ok")
        return result
    }

    func certificates(_ id: String, peer: PeerCredentials) async throws -> APIResponse {
        // A credential whose auth certificate needs the PIN (Android): nothing to answer before a
        // PIN-verified operation bound the session to it; after that the bound certificate (proven
        // by the card's signature in this session) is answered with the CA certificates read now.
        if let bound = try? await supervisor.session(id), bound.identity.identifiesByToken {
            guard let der = bound.identity.authCertificateDER else {
                await recordFailure(
                    "certificates", peer: peer, session: id, reader: bound.reader,
                    outcome: APIError.certificateAfterPIN.code)
                throw APIError.certificateAfterPIN
            }
            return try await boundCertificates(id, peer: peer, authCertificate: der)
        }
        let (certs, session) = try await cardOperation("certificates", session: id, peer: peer) { card in
            try card.channel.transaction { _ in
                let auth = try card.readCertificate(.auth)
                let authCA = try card.readCertificate(.authCA)
                // A card without signing certificate (顔認証マイナンバーカード) has no sign CA EF.
                let signCA: CardResult<CertificateData>?
                do {
                    signCA = try card.readCertificate(.signCA)
                } catch JPKIError.fileNotFound {
                    signCA = nil
                }
                guard authCA.card == auth.card, signCA.map({ $0.card == auth.card }) ?? true else {
                    throw APIError.sessionEnded
                }
                return CardResult(
                    value: [auth.value, authCA.value] + (signCA.map { [$0.value] } ?? []), card: auth.card)
            }
        }
        struct Cert: Encodable {
            var kind: String
            var der: String
            var sha256: String
        }
        struct Body: Encodable {
            var session: String
            var card: String?
            var certificates: [Cert]
        }
        return .json(
            Body(
                session: session.id, card: session.identity.authCertificateFingerprint,
                certificates: certs.map {
                    Cert(
                        kind: $0.kind.rawValue, der: Data($0.der).base64EncodedString(),
                        sha256: SHA256.hash($0.der).hexString.lowercased())
                }))
    }

    /// `certificates` for a session identified by its token: the bound auth certificate, and the CA
    /// certificates read from the card (its token checked in the same transaction).
    func boundCertificates(_ id: String, peer: PeerCredentials, authCertificate: [UInt8]) async throws -> APIResponse {
        let (cas, session) = try await cardOperation("certificates", session: id, peer: peer) { card in
            try card.channel.transaction { _ in
                let identity = try card.identity()
                let authCA = try card.readCertificate(.authCA)
                let signCA = try card.readCertificate(.signCA)
                guard authCA.card == identity, signCA.card == identity else { throw APIError.sessionEnded }
                return CardResult(value: [authCA.value, signCA.value], card: identity)
            }
        }
        return .json(
            CertificatesBody(
                session: session.id, card: session.identity.authCertificateFingerprint,
                certificates: ([CertificateData(kind: .auth, der: authCertificate)] + cas).map(
                    CertificatesBody.Cert.init)))
    }

    /// The `certificates` answer.
    struct CertificatesBody: Encodable {
        struct Cert: Encodable {
            var kind: String
            var der: String
            var sha256: String
            init(_ c: CertificateData) {
                kind = c.kind.rawValue
                der = Data(c.der).base64EncodedString()
                sha256 = SHA256.hash(c.der).hexString.lowercased()
            }
        }
        var session: String
        var card: String?
        var certificates: [Cert]
    }

    func pinStatus(_ id: String, peer: PeerCredentials) async throws -> APIResponse {
        let (statuses, session) = try await cardOperation("pin-status", session: id, peer: peer) { card in
            try card.allPINStatus([.auth, .sign, .text])
        }
        struct Entry: Encodable {
            var triesLeft: Int?
            var blocked: Bool?
            var verified: Bool?
            /// Why the status could not be read (the PIN is listed, never silently left out).
            var error: String?
        }
        struct Body: Encodable {
            var session: String
            var pins: [String: Entry]
        }
        var pins: [String: Entry] = [:]
        for (kind, result) in statuses {
            switch result {
            case .success(let status):
                pins["\(kind)"] = Entry(
                    triesLeft: status.triesLeft, blocked: status == .blocked, verified: status == .verified)
            case .failure(let e):
                pins["\(kind)"] = Entry(error: Self.map(e).code)
            }
        }
        return .json(Body(session: session.id, pins: pins))
    }

    /// Decodes the body and turns the PIN into a wipeable ``PIN`` at once.
    func decode(_ r: RequestDecoding.PINRequest) -> (RequestDecoding.PINRequest, PIN?) {
        RequestDecoding.takePIN(r)
    }

    func authenticate(_ id: String, _ r: RequestDecoding.PINRequest, peer: PeerCredentials) async throws -> APIResponse
    {
        let (req, pinOrNil) = decode(r)
        guard let pin = pinOrNil else { throw APIError.badRequest("pin is required") }
        defer { pin.wipe() }
        let challenge: CardChallenge
        if let c = req.challenge {
            guard let d = Data(base64Encoded: c), d.count == CardChallenge.length,
                let given = try? CardChallenge(bytes: d)
            else {
                throw APIError.badRequest("challenge must be base64 of 32 bytes")
            }
            challenge = given
        } else {
            challenge = try Self.freshChallenge()
        }
        // The card proof: the challenge signature against the auth certificate's key, and the
        // certificate against the configured anchors/revocation (reported as not checked when no
        // anchors are configured — the verdict is then false).
        let (proof, session) = try await proveCard(
            "authenticate", session: id, peer: peer, challenge: challenge, pin: pin,
            allowLastTry: req.allowLastTry ?? false, at: clock())
        try await recordDisclosure(
            "authenticate-verify", peer: peer, session: id, card: session.identity.authCertificateFingerprint,
            outcome: proof.verified ? "verified" : "not_verified")
        struct Body: Encodable {
            var session: String
            var card: String?
            var challenge: String
            var algorithm: String
            var signature: String
            var certificate: String
            var verified: Bool
            var chainChecked: Bool
            var certificateStanding: String?
            var verification: VerificationReport
        }
        // Where the certificate stands (an expired one in its grace period still proves
        // possession, but `verified` stays false: only eligibility forgives the expiry).
        return .json(
            Body(
                session: session.id, card: session.identity.authCertificateFingerprint,
                challenge: proof.challenge.bytes.base64EncodedString(),
                algorithm: (try? CardSignatureScheme(certificateDER: proof.authCertificate))?.name
                    ?? "RSASSA-PKCS1-v1_5-SHA256",
                signature: Data(proof.signature).base64EncodedString(),
                certificate: Data(proof.authCertificate).base64EncodedString(), verified: proof.verified,
                chainChecked: proof.chainChecked, certificateStanding: proof.standing()?.code,
                verification: proof.report))
    }

    /// 32 random bytes from OpenSSL's CSPRNG.
    static func freshChallenge() throws -> CardChallenge {
        do { return try CardChallenge() } catch { throw APIError(500, "internal_error", "no random challenge") }
    }

    /// The card proof (``CardProofService``) on a session's card: the auth PIN unlocks a signature
    /// over `challenge` with the auth key in one card transaction, by the key's scheme
    /// (``CardSignatureScheme``: RSA PKCS#1 v1.5 SHA-256; ECDSA P-384 SHA-384), then
    /// the signature and (with `trust.authAnchors`) the certificate are verified at `time`.
    ///
    /// The certificate read at insertion is the session's: before the PIN goes out the card must
    /// carry its public key (32 bytes of it, SELECT + one short read — another card in the reader,
    /// even one with the same serial under another root generation, never sees the PIN), and the
    /// signature must verify against it (only the session's card holds that key). Both checks
    /// run on the reader thread inside the operation, so a mismatch ends the session there (409
    /// `card_session_ended`, and the card is identified afresh). This saves reading the
    /// certificate again (~0.33 s on a contact reader, bench/run's floor). Without a certificate
    /// bound at insertion, it is read in the same transaction (and identifies the card).
    func proveCard(
        _ operation: String, session id: String, peer: PeerCredentials, challenge: CardChallenge, pin: PIN,
        allowLastTry: Bool, at time: Date
    ) async throws -> (proof: CardProof, session: CardSession) {
        let service = CardProofService(verifier: verifier)
        let current = try? await supervisor.session(id)
        if let current, current.identity.identifiesByToken {
            // A credential whose auth certificate is readable only after the PIN (an Android
            // phone): the session is bound to its token until this proof binds it to the
            // certificate; once bound, the certificate read after the PIN must be that one.
            let token = current.identity.tokenInfo
            let bound = current.identity.authCertificateDER
            // cardOperation binds the session to the certificate read (its `bindCertificate` hook),
            // so the operation's audit line names the card.
            let (signed, session) = try await cardOperation(
                operation, session: id, peer: peer, bindCertificate: { $0.authCertificate }
            ) { card in
                do {
                    let signed = try service.signCertificateAfterPIN(
                        card, challenge: challenge, pin: pin, allowLastTry: allowLastTry, expectingToken: token,
                        boundCertificate: bound)
                    // The operation is identified by the token, as every operation of this session.
                    return CardResult(value: signed, card: CardIdentity(tokenInfo: token ?? []))
                } catch JPKIError.cardChanged {
                    throw APIError.sessionEnded
                }
            }
            return (await service.verify(signed, at: time), session)
        }
        let bound = current?.identity.authCertificateDER
        let (signed, session) = try await cardOperation(operation, session: id, peer: peer) { card in
            do {
                let signed = try service.sign(
                    card, challenge: challenge, pin: pin, allowLastTry: allowLastTry, boundCertificate: bound)
                return CardResult(value: signed, card: signed.card)
            } catch JPKIError.cardChanged {
                throw APIError.sessionEnded
            }
        }
        return (await service.verify(signed, at: time), session)
    }

    func identity(_ id: String, _ r: RequestDecoding.PINRequest, peer: PeerCredentials, granted: Set<Role>) async throws
        -> APIResponse
    {
        let (req, pinOrNil) = decode(r)
        guard let pin = pinOrNil else { throw APIError.badRequest("pin is required") }
        defer { pin.wipe() }
        let wantsMyNumber = req.myNumber ?? false
        if wantsMyNumber {
            guard config.myNumber.enabled else {
                await recordFailure("my-number", peer: peer, session: id, outcome: "my_number_disabled")
                throw APIError(403, "my_number_disabled", "My Number disclosure is disabled in the configuration")
            }
            guard granted.contains(.myNumber) else {
                await recordFailure("my-number", peer: peer, session: id, outcome: "forbidden")
                throw APIError.forbidden(.myNumber)
            }
        }
        let allow = req.allowLastTry ?? false
        let basicInfo: BasicInfo
        let myNumber: String?
        let report: VerificationReport?
        let session: CardSession
        switch req.keyKind ?? "text" {
        case "text":
            let (text, s) = try await cardOperation(
                wantsMyNumber ? "identity+my-number" : "identity", session: id, peer: peer
            ) { card in
                try card.readTextAP(pin: pin, includeMyNumber: wantsMyNumber, allowLastTry: allow)
            }
            // Integrity of what was read: CV certificate (configured issuer key) → integrity record →
            // digests of the files. Not configured = not verified, never assumed.
            (basicInfo, myNumber, report, session) = (
                text.basicInfo, text.myNumber?.digits, integrity?.verifyText(text), s
            )
        case "B":
            // 照合番号B (14 digits printed on the card face) opens the basic 4 information too: the
            // reception's visual check reads the name as text with the key it already has. The
            // integrity record is not read this way: reported as not checked.
            guard !wantsMyNumber else { throw APIError.badRequest("keyKind B reads no My Number") }
            let (info, s) = try await cardOperation("identity-b", session: id, peer: peer) { card in
                try card.readBasicInfo(pin: pin, kind: .textB, allowLastTry: allow)
            }
            (basicInfo, myNumber, report, session) = (info, nil, nil, s)
        default:
            throw APIError.badRequest("keyKind must be \"B\" or absent")
        }
        let integrityVerified = report?.verdict ?? false
        try await recordDisclosure(
            "identity-integrity", peer: peer, session: id, card: session.identity.authCertificateFingerprint,
            outcome: report == nil ? "not_checked" : (integrityVerified ? "verified" : "failed"))
        struct Body: Encodable {
            var session: String
            var card: String?
            var name: String
            var nameNFKC: String
            var address: String
            var addressNFKC: String
            var birthDate: String
            var sex: String
            var myNumber: String?
            var integrityVerified: Bool
            var integrity: VerificationReport?
        }
        let b = basicInfo
        return .json(
            Body(
                session: session.id, card: session.identity.authCertificateFingerprint, name: b.name,
                nameNFKC: b.nameNFKC, address: b.address, addressNFKC: b.addressNFKC,
                birthDate: "\(b.birthDate)", sex: b.sex.rawValue, myNumber: myNumber,
                integrityVerified: integrityVerified, integrity: report))
    }

    /// The card face photo (券面事項確認AP, JPEG 2000), unlocked with 照合番号B (default) or A (the
    /// My Number: needs `myNumber.enabled` and the `my-number` role). Answers the image bytes;
    /// session, card fingerprint, the integrity outcome and the face's birth date, sex and expiry
    /// travel in `X-JPKID-*` headers.
    func face(_ id: String, _ r: RequestDecoding.PINRequest, peer: PeerCredentials, granted: Set<Role>) async throws
        -> APIResponse
    {
        let (req, pinOrNil) = decode(r)
        guard let key = pinOrNil else { throw APIError.badRequest("pin (照合番号) is required") }
        defer { key.wipe() }
        let kind: PINKind
        switch req.keyKind ?? "B" {
        case "B": kind = .visualB
        case "A":
            guard config.myNumber.enabled, granted.contains(.myNumber) else {
                await recordFailure("face", peer: peer, session: id, outcome: "forbidden")
                throw APIError(
                    403, "my_number_disabled",
                    "照合番号A is the My Number: it needs myNumber.enabled and the my-number role")
            }
            kind = .visualA
        default: throw APIError.badRequest("keyKind must be \"A\" or \"B\"")
        }
        let allow = req.allowLastTry ?? false
        let (data, session) = try await cardOperation("face", session: id, peer: peer) { card in
            try card.readCardFace(key: key, kind: kind, allowLastTry: allow)
        }
        let report = integrity?.verifyVisual(data)
        let outcome = report == nil ? "not_checked" : (report!.verdict ? "verified" : "failed")
        try await recordDisclosure(
            "face-integrity", peer: peer, session: id, card: session.identity.authCertificateFingerprint,
            outcome: outcome)
        var response = APIResponse.bytes(data.face.faceJPEG2000, contentType: "image/jp2")
        response.headers.add(name: "x-jpkid-session", value: session.id)
        response.headers.add(name: "x-jpkid-card", value: session.identity.authCertificateFingerprint ?? "")
        response.headers.add(name: "x-jpkid-integrity", value: outcome)
        // As printed on the card face (DF22, DF23, DF29): what staff compare the patient with.
        response.headers.add(name: "x-jpkid-birth-date", value: "\(data.face.birthDate)")
        response.headers.add(name: "x-jpkid-sex", value: data.face.sex.rawValue)
        response.headers.add(name: "x-jpkid-expiry", value: "\(data.face.expiry)")
        return response
    }

    static func map(_ e: JPKIError) -> APIError {
        switch e {
        case .wrongPIN(_, let n):
            APIError(401, "wrong_pin", "wrong PIN", details: ["triesLeft": String(n)])
        case .pinBlocked(.auth):
            // The card still confirms the person by the face: staff compare it (mode visual).
            APIError(
                423, "pin_blocked",
                "the auth PIN is blocked; it is reset at the municipal office — use visual confirmation",
                details: ["alternative": "visual"])
        case .pinBlocked: APIError(423, "pin_blocked", "the PIN is blocked; it is reset at the municipal office")
        case .pinNotSet:
            APIError(
                422, "pin_not_set", "the card was issued without PINs (顔認証マイナンバーカード): use visual confirmation",
                details: ["alternative": "visual"])
        case .lastTryRefused:
            APIError(428, "last_try_refused", "one try is left; resend with allowLastTry to use it")
        case .invalidPINFormat(_, let reason): APIError(400, "invalid_pin_format", reason)
        case .pinRequired: APIError(401, "pin_required", "this operation needs a PIN")
        case .pinCounterUnknown: APIError(409, "pin_counter_unknown", "the card did not report its PIN counter")
        case .notJPKICard: APIError(422, "not_a_jpki_card", "the card has no JPKI application")
        case .unsupportedCurve, .unsupportedKeyAlgorithm:
            // Found from the certificate before any PIN is sent.
            APIError(422, e.code, e.description)
        case .applicationNotFound:
            APIError(
                422, "application_not_found",
                "the credential has no such application (a smartphone JPKI holds the JPKI AP only)")
        default: APIError(502, "card_error", "the card answered unexpectedly (\(e.code))")
        }
    }
}

/// Runs `operation` but answers ``APIError/timeout`` (504) when it takes longer than `seconds`.
/// A card operation cannot be interrupted on its reader thread: it finishes in the background
/// (later operations on that reader queue behind it); only the client stops waiting.
func withDeadline<T: Sendable>(
    seconds: Double, _ operation: @escaping @Sendable () async throws -> T
) async throws -> T {
    let gate = ContinuationGate<T>()
    return try await withCheckedThrowingContinuation { (c: CheckedContinuation<T, any Error>) in
        gate.set(c)
        let timer = Task {
            try await Task.sleep(for: .milliseconds(Int64(seconds * 1000)))
            gate.take()?.resume(throwing: APIError.timeout)
        }
        Task {
            let result: Result<T, any Error>
            do { result = .success(try await operation()) } catch { result = .failure(error) }
            gate.take()?.resume(with: result)
            timer.cancel()
        }
    }
}

/// Counts something held per peer uid (event streams) against a limit.
final class PerPeerCounter: Sendable {
    private let counts = Mutex<[UInt32: Int]>([:])
    let limit: Int
    init(limit: Int) { self.limit = limit }
    func tryAcquire(uid: UInt32) -> Bool {
        counts.withLock {
            guard $0[uid, default: 0] < limit else { return false }
            $0[uid, default: 0] += 1
            return true
        }
    }
    func release(uid: UInt32) {
        counts.withLock {
            let n = $0[uid, default: 1] - 1
            $0[uid] = n > 0 ? n : nil
        }
    }
    /// Held by `uid` now.
    func count(uid: UInt32) -> Int { counts.withLock { $0[uid, default: 0] } }
}

/// Hands a continuation to whichever side (result or timer) comes first, exactly once.
final class ContinuationGate<T: Sendable>: Sendable {
    private let slot = Mutex<CheckedContinuation<T, any Error>?>(nil)
    func set(_ c: CheckedContinuation<T, any Error>) { slot.withLock { $0 = c } }
    func take() -> CheckedContinuation<T, any Error>? { slot.withLock { $0.take() } }
}

/// The current reader list and its encoded `/v1/readers` answer. The supervisor publishes on
/// every change; readers (any thread) get the answer encoded once per change, on first use.
public final class ReadersBoard: Sendable {
    private struct State {
        var readers: [ReaderSupervisor.ReaderInfo] = []
        var version: UInt64 = 0
        var response: APIResponse?
    }
    private let state = Mutex(State())

    /// Replaces the list; the cached answer is dropped when it changed.
    func publish(_ readers: [ReaderSupervisor.ReaderInfo]) {
        state.withLock { s in
            guard s.readers != readers else { return }
            s.readers = readers
            s.version &+= 1
            s.response = nil
        }
    }

    /// The `/v1/readers` answer for the current list.
    func response() -> APIResponse {
        let (readers, version, cached) = state.withLock { ($0.readers, $0.version, $0.response) }
        if let cached { return cached }
        struct Readers: Encodable { var readers: [ReaderSupervisor.ReaderInfo] }
        let response = APIResponse.json(Readers(readers: readers))
        state.withLock { if $0.version == version { $0.response = response } }
        return response
    }
}
