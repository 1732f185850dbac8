import Eligibility
import Foundation
import HTTPTransport
import JPKI
import JPKIVerify
import Logging

/// The eligibility registry as the daemon uses it: opened on first use (so a daemon that never
/// answers eligibility never touches the registry), shared by all requests, closed at shutdown.
public actor EligibilityService {
    let configuration: EligibilityConfiguration
    let logger: Logger
    /// Sends the HTTP gateway's lookups.
    let requester: any HTTPRequester
    /// The provider being opened or open; shared by concurrent first requests (one PostgreSQL
    /// pool, one SQLite migration). Cleared when opening failed, so a later request retries.
    private var opening: Task<any EligibilityProvider, any Error>?

    /// Creates the service; nothing is opened yet.
    public init(
        configuration: EligibilityConfiguration, logger: Logger,
        requester: any HTTPRequester = AsyncHTTPRequester.shared
    ) {
        self.configuration = configuration
        self.logger = logger
        self.requester = requester
    }

    /// Looks a card up, opening the provider (SQLite file with migrations, PostgreSQL pool, HTTP
    /// gateway) on first use.
    func record(for key: CardKey) async throws(EligibilityError) -> InsuranceRecord? {
        try await provider().record(for: key)
    }

    /// Looks a card up and decides (the `oqs` provider answers with the terminal's status).
    func check(_ key: CardKey, on day: CalendarDate) async throws(EligibilityError) -> EligibilityResult {
        try await provider().check(key, on: day)
    }

    /// The open provider, opening it when needed (the face intake needs the terminal's folder).
    func openProvider() async throws(EligibilityError) -> any EligibilityProvider {
        try await provider()
    }

    private func provider() async throws(EligibilityError) -> any EligibilityProvider {
        let task: Task<any EligibilityProvider, any Error>
        if let opening {
            task = opening
        } else {
            let configuration = self.configuration
            let (logger, requester) = (self.logger, self.requester)
            task = Task { try await configuration.makeProvider(logger: logger, requester: requester) }
            opening = task
        }
        do {
            return try await task.value
        } catch {
            if opening == task { opening = nil }
            throw error as? EligibilityError ?? .unavailable("\(type(of: error))")
        }
    }

    /// Closes the provider.
    public func shutdown() async {
        if let p = try? await opening?.value { await p.shutdown() }
        opening = nil
    }
}

extension DaemonAPI {
    /// `POST /v1/sessions/{s}/eligibility`: proves the card (PIN + fresh challenge signed by the
    /// auth key, or — in `visual` mode — staff confirmation), verifies the auth certificate (chain,
    /// revocation) and the signature with OpenSSL, then asks the registry by the certificate's
    /// issuer key + serial. Only the auth certificate is used; the My Number is never read. The answer
    /// is bound to the session and its card; a card swapped at any point gives 409.
    func eligibility(_ id: String, _ r: RequestDecoding.PINRequest, peer: PeerCredentials) async throws -> APIResponse {
        guard let eligibility else { throw APIError(503, "eligibility_disabled", "no eligibility registry") }
        guard let verifier else {
            throw APIError(
                503, "trust_not_configured", "eligibility needs trust.authAnchors: a card is never taken on its word")
        }
        let (req, pin) = decode(r)
        defer { pin?.wipe() }
        // The request may choose among the configured modes; the answer and the audit say which.
        let mode: EligibilityConfiguration.Mode
        if let name = req.mode {
            guard let m = EligibilityConfiguration.Mode(rawValue: name) else {
                throw APIError.badRequest("mode must be \"pin\" or \"visual\"")
            }
            guard config.eligibility.allowedModes.contains(m) else {
                await recordFailure("eligibility", peer: peer, session: id, outcome: "mode_not_allowed")
                throw APIError(
                    403, "mode_not_allowed", "eligibility mode \(name) is not allowed by eligibility.modes")
            }
            mode = m
        } else {
            mode = config.eligibility.mode
        }
        let allow = req.allowLastTry ?? false
        let now = clock()
        let policy = ExpiryPolicy.jpki

        // The card's state decides the mode, before anything is sent to the card: a card whose
        // auth certificate expired more than the grace period ago is refused (no PIN spent), a
        // card without PIN (顔認証マイナンバーカード) gets 422 pin_not_set in pin mode.
        if let bound = try? await supervisor.session(id) {
            if let der = bound.identity.authCertificateDER, let info = try? CertificateInfo(der: Data(der)),
                case .expiredPastGrace(let notAfter, let ended) = policy.standing(of: info, at: now)
            {
                await recordFailure(
                    "eligibility", peer: peer, session: id, reader: bound.reader, outcome: "auth_certificate_expired")
                throw Self.pastGrace(notAfter: notAfter, ended: ended, policy: policy)
            }
            if mode == .pin, bound.identity.authPINPresent == false {
                await recordFailure(
                    "eligibility", peer: peer, session: id, reader: bound.reader, outcome: "pin_not_set")
                throw Self.map(JPKIError.pinNotSet(.auth))
            }
        }

        let report: VerificationReport
        let certificateDER: [UInt8]
        let session: CardSession
        switch mode {
        case .pin:
            guard let pin else { throw APIError.badRequest("pin is required (mode pin)") }
            let (proof, s) = try await proveCard(
                "eligibility-card", session: id, peer: peer, challenge: try Self.freshChallenge(), pin: pin,
                allowLastTry: allow, at: now)
            report = proof.report
            certificateDER = proof.authCertificate
            session = s
        case .visual:
            guard pin == nil else { throw APIError.badRequest("mode visual: send no PIN") }
            guard req.visualConfirmed == true else {
                throw APIError.badRequest(
                    "visual mode: set visualConfirmed after comparing the patient with the card face")
            }
            let (cert, s) = try await cardOperation("eligibility-card", session: id, peer: peer) { card in
                let c = try card.readCertificate(.auth)
                return CardResult(value: c.value.der, card: c.card)
            }
            report = await verifier.verify(certificateDER: Data(cert), purpose: .auth, at: now)
            certificateDER = cert
            session = s
        }

        let day = CalendarDate.today(now: now)
        let result: EligibilityResult
        var cardKey: CardKey?
        // The certificate's standing: a warning when it ends within 3 months; after expiry, a
        // verification whose only failure is that expiry is accepted during the grace period
        // (qualification data still answered, flagged), and refused after it.
        let standing = (try? CertificateInfo(der: Data(certificateDER))).map { policy.standing(of: $0, at: now) }
        var grace: GracePeriod?
        var expiryWarning: ExpiryWarning?
        var accepted = report.verdict
        switch standing {
        case .expiringSoon(let notAfter, let from)?:
            expiryWarning = ExpiryWarning(
                code: "auth_certificate_expiring", notAfter: notAfter.formatted(.iso8601),
                expiresOn: policy.day(notAfter), warningFrom: policy.day(from))
        case .expiredInGrace(let notAfter, let ends)? where report.verdictForgivingEndEntityExpiry:
            accepted = true
            grace = GracePeriod(
                code: "expired_auth_certificate_grace", notAfter: notAfter.formatted(.iso8601),
                endsOn: policy.day(ends), endsAt: ends.formatted(.iso8601))
        case .expiredPastGrace(let notAfter, let ended)? where report.verdictForgivingEndEntityExpiry:
            await recordFailure(
                "eligibility", peer: peer, session: id, reader: session.reader, outcome: "auth_certificate_expired")
            throw Self.pastGrace(notAfter: notAfter, ended: ended, policy: policy)
        default: break
        }
        // The credential used (card, phone, renewed card) is named in the audit by its key, also
        // when the answer is verification_failed (then: the key the presented certificate claims).
        // By the issuer's key (J-LIS root generations share one DN); the anchors are read only
        // for a certificate without an authority key identifier.
        cardKey = try? CardKey(authCertificateDER: certificateDER, anchors: config.authAnchorCertificates)
        if accepted {
            guard let key = cardKey else {
                throw APIError(502, "card_error", "the auth certificate cannot be parsed")
            }
            let started = ContinuousClock.now
            func elapsed() -> Double {
                let d = ContinuousClock.now - started
                return Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
            }
            do {
                result = try await eligibility.check(key, on: day)
                metrics.providerLookup(seconds: elapsed(), outcome: "ok")
            } catch {
                metrics.providerLookup(seconds: elapsed(), outcome: error.code)
                await recordFailure(
                    "eligibility", peer: peer, session: id, reader: session.reader, cardKey: key, outcome: error.code)
                throw Self.map(error)
            }
        } else {
            result = .verificationFailed(on: day)
        }
        // The registry answered while the card may have been swapped: answer only if the session
        // (and so its card) is still the one in the reader.
        guard (try? await supervisor.session(id)) != nil else {
            await recordFailure(
                "eligibility", peer: peer, session: id, reader: session.reader, cardKey: cardKey,
                outcome: "card_session_ended")
            throw APIError.sessionEnded
        }
        // Visual confirmation is audited as such: possession was not proven by the card.
        try await recordDisclosure(
            mode == .visual ? "eligibility-visual" : "eligibility", peer: peer, session: id, reader: session.reader,
            card: session.identity.authCertificateFingerprint, cardKey: cardKey, outcome: result.status.rawValue)
        struct Body: Encodable {
            var session: String
            var card: String?
            var mode: String
            var status: String
            var checkedOn: String
            var record: InsuranceRecord?
            var terminal: OQSResultInfo?
            var certificateStanding: String?
            var grace: GracePeriod?
            var expiryWarning: ExpiryWarning?
            var verification: VerificationReport
        }
        return .json(
            Body(
                session: session.id, card: session.identity.authCertificateFingerprint, mode: mode.rawValue,
                status: result.status.rawValue, checkedOn: result.checkedOn.description, record: result.record,
                terminal: result.terminal, certificateStanding: standing?.code, grace: grace,
                expiryWarning: expiryWarning, verification: report))
    }

    /// The grace period an answer was given in: the auth certificate expired less than 3
    /// calendar months ago (``JPKIVerify/ExpiryPolicy``); the qualification data is answered.
    struct GracePeriod: Encodable {
        /// Stable flag: `expired_auth_certificate_grace`.
        var code: String
        /// The certificate's notAfter (ISO 8601).
        var notAfter: String
        /// The last day of the grace period (`yyyy-MM-dd`, Japan).
        var endsOn: String
        /// The end of the grace period (ISO 8601).
        var endsAt: String
    }

    /// The auth certificate ends within 3 calendar months: the holder should renew it.
    struct ExpiryWarning: Encodable {
        /// Stable code: `auth_certificate_expiring`.
        var code: String
        /// The certificate's notAfter (ISO 8601).
        var notAfter: String
        /// Its day (`yyyy-MM-dd`, Japan).
        var expiresOn: String
        /// The day the warning period began (`yyyy-MM-dd`, Japan).
        var warningFrom: String
    }

    /// 422 `auth_certificate_expired`: the grace period after expiry is over.
    static func pastGrace(notAfter: Date, ended: Date, policy: ExpiryPolicy) -> APIError {
        APIError(
            422, "auth_certificate_expired",
            "the auth certificate expired more than 3 months ago: renew it at the municipal office",
            details: ["notAfter": notAfter.formatted(.iso8601), "graceEndedOn": policy.day(ended)])
    }

    static func map(_ e: EligibilityError) -> APIError {
        switch e {
        case .terminal(let t):
            switch t {
            case .timeout, .terminalNotResponding:
                APIError(504, e.code, "the qualification-check terminal did not answer in time")
            case .folderMissing, .io, .shutDown:
                APIError(503, e.code, "the qualification-check terminal's folder is unavailable")
            case .malformedAnswer, .terminalError, .answerMismatch:
                APIError(502, e.code, "the qualification-check terminal answered unexpectedly")
            }
        case .timeout: APIError(504, e.code, "the eligibility registry did not answer in time")
        case .unavailable: APIError(503, e.code, "the eligibility registry is unavailable")
        case .relinkRequired:
            APIError(
                409, e.code,
                "the registry links this card by issuer name only, which several root generations share: link the card again"
            )
        default: APIError(502, e.code, "the eligibility registry answered unexpectedly")
        }
    }
}
