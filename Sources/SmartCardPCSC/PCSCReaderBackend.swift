import SmartCard

/// The PC/SC backend of the daemon's reader seam: events from ``PCSCMonitor``, connections are
/// ``PCSCCard``s (shared mode, T=0 or T=1).
public final class PCSCReaderBackend: ReaderBackend {
    private let monitor: PCSCMonitor
    public let events: AsyncStream<ReaderEvent>

    /// Starts watching pcscd's readers.
    public init(monitor: PCSCMonitor = PCSCMonitor()) {
        self.monitor = monitor
        let source = monitor.events
        events = AsyncStream { continuation in
            let task = Task {
                for await event in source { continuation.yield(Self.readerEvent(event)) }
                continuation.finish()
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }

    static func readerEvent(_ event: PCSCEvent) -> ReaderEvent {
        switch event {
        case .readerAdded(let name): .readerAdded(name)
        case .readerRemoved(let name): .readerRemoved(name)
        case .cardInserted(let reader, let atr): .cardInserted(reader: reader, atr: atr)
        case .cardRemoved(let reader): .cardRemoved(reader: reader)
        case .serviceUnavailable(let error): .serviceUnavailable(code: error.name)
        case .serviceRestored: .serviceRestored
        }
    }

    /// Connects; a PC/SC failure comes as ``SmartCardError/service(_:)`` (backend-neutral).
    public func connect(reader: String) async throws -> any ReaderConnection {
        do {
            return try await PCSCCard.connect(reader: reader)
        } catch {
            throw SmartCardError.service(error.serviceError)
        }
    }

    public func stop() { monitor.stop() }
}

extension PCSCCard: ReaderConnection {
    public func run<T: Sendable>(_ body: @escaping @Sendable (CardChannel) throws -> T) async throws -> T {
        try await perform(body)
    }

    /// SCardStatus on this handle: pcsc-lite invalidates a handle whose card was removed.
    public func presence() throws -> CardPresence {
        do {
            let status = try syncStatus()
            return CardPresence(isPresent: status.isPresent, atr: status.atr)
        } catch {
            throw SmartCardError.service(error.serviceError)
        }
    }

    /// SCardReconnect with SCARD_RESET_CARD.
    public func resetCard() async throws {
        do {
            try await reconnect(initialization: .reset)
        } catch {
            throw SmartCardError.service(error.serviceError)
        }
    }

    public func close() async { await disconnect() }
}
