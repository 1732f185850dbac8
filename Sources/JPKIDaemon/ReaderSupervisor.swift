import Foundation
import JPKI
import Logging
import SmartCard
import StableCodes

/// Owns the readers: follows the reader backend's events (pcscd through `PCSCReaderBackend`,
/// or simulated readers in tests), keeps one connection (and so one serial worker thread) per
/// card, creates a card session on each insertion and ends it on removal.
///
/// Card operations go through ``withSession(_:_:)``: they run on the reader's thread inside
/// one transaction, and before anything is returned the card is re-checked (presence on the
/// session's own handle — SCardStatus, which pcsc-lite invalidates on removal — and the same ATR)
/// and the session must still be the reader's current one. A swap at any point gives
/// ``APIError/sessionEnded``.
public actor ReaderSupervisor {
    /// Card state of one reader.
    public enum CardState: String, Codable, Sendable {
        case empty, identifying, ready, unsupported, error
    }

    /// A reader as shown by `/v1/readers`.
    public struct ReaderInfo: Codable, Sendable, Equatable {
        public var name: String
        public var state: CardState
        public var atr: String?
        public var cardType: String?
        /// The credential kind (`card`, `android-phone`, `iphone`, `unknown`) of the session's card.
        public var credential: String?
        public var session: String?
        public var error: String?
    }

    private struct Reader {
        var name: String
        var generation: UInt64 = 0
        var state: CardState = .empty
        var atr: [UInt8] = []
        var session: CardSession?
        var card: (any ReaderConnection)?
        var error: String?
    }

    private var readers: [String: Reader] = [:] {
        // Every change is published at once, so `/v1/readers` never lags the supervisor.
        didSet { board.publish(Self.infos(readers)) }
    }
    /// The readers as last published, readable from any thread without entering the actor.
    public nonisolated let board = ReadersBoard()
    private var ended: [String: Date] = [:]
    private var serviceUp = true
    private let bus: EventBus
    private let identify: CardIdentifier
    private let logger: Logger
    private let ignored: Set<String>
    private let backend: any ReaderBackend
    /// Wall-clock time of sessions' insertion and end (tests pin it).
    private let now: @Sendable () -> Date
    /// The clock the supervisor waits on between retries (tests may pass one that does not wait).
    private let clock: any Clock<Duration>

    /// Creates a supervisor over `backend`'s readers. `now` stamps sessions (inserted, ended);
    /// `clock` paces the retries of a card still settling and the re-identification after a failed
    /// handle.
    public init(
        bus: EventBus, backend: any ReaderBackend, ignoredReaders: [String] = [], logger: Logger,
        now: @escaping @Sendable () -> Date = { Date() }, clock: any Clock<Duration> = ContinuousClock(),
        identify: @escaping CardIdentifier
    ) {
        self.bus = bus
        self.backend = backend
        self.now = now
        self.clock = clock
        self.identify = identify
        self.logger = logger
        self.ignored = Set(ignoredReaders)
    }

    /// Follows the backend's events until its stream ends.
    public func run() async {
        for await event in backend.events {
            handle(event)
        }
        await shutdown()
    }

    /// Whether pcscd is reachable.
    public var isServiceUp: Bool { serviceUp }

    /// Every reader with its card state and current session.
    public func snapshot() -> [ReaderInfo] { Self.infos(readers) }

    private static func infos(_ readers: [String: Reader]) -> [ReaderInfo] {
        readers.values.sorted { $0.name < $1.name }.map { r in
            ReaderInfo(
                name: r.name, state: r.state, atr: r.atr.isEmpty ? nil : r.atr.hexString,
                cardType: r.session?.identity.cardType, credential: r.session?.identity.credential,
                session: r.session?.id, error: r.error)
        }
    }

    /// The active session with this id.
    public func session(_ id: String) throws(APIError) -> CardSession {
        if let s = readers.values.lazy.compactMap(\.session).first(where: { $0.id == id }) { return s }
        throw ended[id] != nil ? .sessionEnded : .sessionNotFound
    }

    /// Binds a session that was bound at insertion to its token only (a credential whose auth
    /// certificate needs the PIN first) to the auth certificate read by the first PIN-verified
    /// operation. A session already bound to a certificate must see the same one: another ends the
    /// session (409). Call it only with a certificate proven by the card in this session (the
    /// operation's signature verified against it).
    @discardableResult
    public func bindAuthCertificate(_ id: String, der: [UInt8]) throws(APIError) -> CardSession {
        guard let (reader, r) = readers.first(where: { $0.value.session?.id == id }), var session = r.session else {
            throw ended[id] != nil ? .sessionEnded : .sessionNotFound
        }
        let fingerprint = CardIdentity(authCertificateDER: der).hex
        if let bound = session.identity.authCertificateFingerprint {
            guard bound == fingerprint else {
                endIfCurrent(reader: reader, generation: r.generation)
                throw .sessionEnded
            }
            return session
        }
        session.identity.authCertificateDER = der
        session.identity.authCertificateFingerprint = fingerprint
        session.identity.boundTo = "certificate"
        readers[reader]!.session = session
        logger.info("session bound to the auth certificate", metadata: ["reader": "\(reader)", "session": "\(id)"])
        return session
    }

    func handle(_ event: ReaderEvent) {
        switch event {
        case .readerAdded(let name):
            guard !ignored.contains(name) else { return }
            readers[name] = Reader(name: name)
            logger.info("reader added", metadata: ["reader": "\(name)"])
            bus.publish("reader-added", reader: name)
        case .readerRemoved(let name):
            guard readers[name] != nil else { return }
            let endedID = endSession(name)
            readers[name] = nil
            logger.info("reader removed", metadata: ["reader": "\(name)"])
            bus.publish("reader-removed", reader: name, session: endedID)
        case .cardInserted(let name, let atr):
            guard readers[name] != nil else { return }
            let endedID = endSession(name)
            if let endedID { bus.publish("card-removed", reader: name, session: endedID) }
            readers[name]!.generation &+= 1
            readers[name]!.state = .identifying
            readers[name]!.atr = atr
            readers[name]!.error = nil
            let generation = readers[name]!.generation
            Task { await self.identifyCard(reader: name, generation: generation) }
        case .cardRemoved(let name):
            guard readers[name] != nil else { return }
            readers[name]!.generation &+= 1
            let endedID = endSession(name)
            readers[name]!.state = .empty
            readers[name]!.atr = []
            readers[name]!.error = nil
            logger.info("card removed", metadata: ["reader": "\(name)"])
            bus.publish("card-removed", reader: name, session: endedID)
        case .serviceUnavailable(let code):
            if serviceUp {
                logger.warning("pcscd unavailable", metadata: ["error": "\(code)"])
                bus.publish("service-unavailable", error: code)
            }
            serviceUp = false
        case .serviceRestored:
            serviceUp = true
            logger.info("pcscd reachable again")
            bus.publish("service-restored")
        }
    }

    /// Ends the reader's session (if any) and disconnects its card; returns the ended id.
    @discardableResult
    private func endSession(_ reader: String) -> String? {
        guard var r = readers[reader] else { return nil }
        let id = r.session?.id
        if let id {
            ended[id] = now()
            pruneEnded()
        }
        if let card = r.card {
            Task { await card.close() }
        }
        r.session = nil
        r.card = nil
        readers[reader] = r
        return id
    }

    private func pruneEnded() {
        guard ended.count > 10_000 else { return }
        for (k, _) in ended.sorted(by: { $0.value < $1.value }).prefix(5_000) { ended[k] = nil }
    }

    /// Connects and reads the card's binding, and the ATR from the same handle in the same
    /// transaction: every fact a session reports comes from the card it is bound to, never from
    /// an earlier card or an earlier event.
    ///
    /// `previous` is the certificate fingerprint of the card whose session just ended without
    /// pcscd reporting a removal. When the card read now is another one, pcscd never saw the swap
    /// and the ATR it holds is the old card's: the card is reset (pcscd powers it up and reads
    /// its ATR afresh) and read again. The same card, or a card that is gone, is never reset.
    /// Transient PC/SC failures right after insertion (the reader still settling:
    /// SCARD_E_NOT_TRANSACTED, a reset) are retried a few times.
    private func connectAndIdentify(reader: String, generation: UInt64, previous: String?) async throws -> (
        any ReaderConnection, CardBinding, [UInt8]
    ) {
        let identify = self.identify
        @Sendable func read(_ card: any ReaderConnection) async throws -> (CardBinding, [UInt8]) {
            try await card.run { channel in
                let identity = try identify(channel)
                let status = try card.presence()
                guard status.isPresent else { throw SmartCardError.cardRemoved }
                return (identity, status.atr)
            }
        }
        var attempt = 0
        while true {
            attempt += 1
            let card = try await backend.connect(reader: reader)
            do {
                var (identity, atr) = try await read(card)
                if let previous, identity.authCertificateFingerprint != previous {
                    logger.info("card swapped without a removal event: resetting it", metadata: ["reader": "\(reader)"])
                    try await card.resetCard()
                    (identity, atr) = try await read(card)
                }
                return (card, identity, atr)
            } catch {
                await card.close()
                guard Self.isTransient(error), attempt < 5, readers[reader]?.generation == generation else {
                    throw error
                }
                try? await clock.sleep(for: .milliseconds(100 * attempt))
            }
        }
    }

    /// Whether `error` is a reader-service answer meaning "the reader is still settling"
    /// (the backend says which are), however it was wrapped on its way up.
    static func isTransient(_ error: any Error) -> Bool {
        switch error {
        case SmartCardError.service(let e): e.isTransient
        case JPKIError.transport(.service(let e)): e.isTransient
        default: false
        }
    }

    private func identifyCard(reader: String, generation: UInt64, previous: String? = nil) async {
        do {
            let (card, identity, atr) = try await connectAndIdentify(
                reader: reader, generation: generation, previous: previous)
            guard readers[reader]?.generation == generation else {
                await card.close()
                return
            }
            let session = CardSession(
                id: CardSession.newID(), reader: reader, atr: atr.hexString, identity: identity,
                insertedAt: now().formatted(.iso8601))
            readers[reader]!.card = card
            readers[reader]!.session = session
            readers[reader]!.atr = atr
            readers[reader]!.state = .ready
            logger.info("card inserted", metadata: ["reader": "\(reader)", "session": "\(session.id)"])
            bus.publish("card-inserted", reader: reader, session: session.id, atr: session.atr)
        } catch {
            guard readers[reader]?.generation == generation else { return }
            let code = Self.code(of: error)
            let unsupported = code == "not_a_jpki_card"
            readers[reader]!.state = unsupported ? .unsupported : .error
            readers[reader]!.error = code
            logger.notice("card not usable", metadata: ["reader": "\(reader)", "error": "\(code)"])
            let atr = readers[reader]!.atr
            bus.publish("card-inserted", reader: reader, atr: atr.isEmpty ? nil : atr.hexString, error: code)
        }
    }

    static func code(of error: any Error) -> String { stableCode(of: error, fallback: "card_error") }

    /// Runs a card operation against the session's card (see the type's documentation).
    public func withSession<T: Sendable>(
        _ id: String, _ body: @escaping @Sendable (CardChannel, CardSession) throws -> T
    ) async throws -> T {
        guard let (reader, r) = readers.first(where: { $0.value.session?.id == id }), let card = r.card,
            let session = r.session
        else {
            throw ended[id] != nil ? APIError.sessionEnded : APIError.sessionNotFound
        }
        let generation = r.generation
        let atr = r.atr
        let result: T
        do {
            result = try await card.run { channel in
                let value: T
                do {
                    value = try body(channel, session)
                } catch {
                    // A failure while the card was being pulled can look like anything (an
                    // empty response, a transport error): if the handle says the card is gone,
                    // that is what the client is told.
                    guard let status = try? card.presence(), status.isPresent, status.atr == atr else {
                        throw SmartCardError.cardRemoved
                    }
                    throw error
                }
                // Re-check the card before anything leaves the reader thread.
                let status = try card.presence()
                guard status.isPresent, status.atr == atr else { throw SmartCardError.cardRemoved }
                return value
            }
        } catch is SmartCardError {
            // Any transport-level failure (removed, reset, an empty or garbled response while
            // the card was being pulled) means the card can no longer be proven to be the
            // session's: the session ends; a card still present is identified afresh.
            endIfCurrent(reader: reader, generation: generation)
            throw APIError.sessionEnded
        } catch JPKIError.transport {
            endIfCurrent(reader: reader, generation: generation)
            throw APIError.sessionEnded
        } catch let e as APIError where e == .sessionEnded {
            // The operation found another card in the reader (its certificate is not the
            // session's): a swap pcscd did not report. The session ends; the card is identified.
            endIfCurrent(reader: reader, generation: generation)
            throw e
        }
        guard readers[reader]?.generation == generation, readers[reader]?.session?.id == id else {
            throw APIError.sessionEnded
        }
        return result
    }

    /// The card's handle failed: the session is over even if the monitor has not said so yet
    /// (a reset by another application, pcscd gone). A still-present card is identified again.
    private func endIfCurrent(reader: String, generation: UInt64) {
        guard let r = readers[reader], r.generation == generation, let ended = r.session else { return }
        let endedID = endSession(reader)
        readers[reader]!.generation &+= 1
        bus.publish("card-removed", reader: reader, session: endedID)
        let next = readers[reader]!.generation
        readers[reader]!.state = .identifying
        // Whatever is in the reader now is unknown until it is read: not the old card's ATR.
        readers[reader]!.atr = []
        let clock = self.clock
        Task {
            try? await clock.sleep(for: .milliseconds(50))
            await self.identifyCard(
                reader: reader, generation: next, previous: ended.identity.authCertificateFingerprint ?? "")
        }
    }

    /// Disconnects every card.
    public func shutdown() async {
        for name in readers.keys {
            // An identification still running finds a newer generation and lets its card go.
            readers[name]!.generation &+= 1
            endSession(name)
        }
        bus.close()
    }
}
