import Foundation
import JPKI
import SmartCard
import SmartCardPCSC
import Synchronization

/// The readers PC/SC reports, in its order (the order `--reader INDEX` counts in).
public func listReaders() async throws(InspectError) -> [ReaderState] {
    let context: PCSCContext
    do {
        context = try await PCSCContext.establish()
    } catch {
        throw InspectError.from(error)
    }
    do {
        let states = try await context.readerStates()
        await context.release()
        return states
    } catch {
        await context.release()
        throw InspectError.from(error)
    }
}

/// Finds the reader `--reader` names: an index into the PC/SC list (`0`, `1`, …), an exact
/// name, or a case-insensitive part of exactly one name. Without `spec`, the first reader
/// holding a card (when `requireCard`) or the first reader.
public func selectReader(_ spec: String?, in readers: [ReaderState], requireCard: Bool) throws(InspectError)
    -> (index: Int, state: ReaderState)
{
    guard !readers.isEmpty else {
        throw InspectError(.noReader, "no_reader", "no smart-card reader is connected")
    }
    let found: Int
    if let spec {
        if let n = Int(spec), spec.allSatisfy(\.isASCII) {
            guard n >= 0, n < readers.count else {
                throw InspectError(
                    .readerNotFound, "reader_not_found",
                    "reader index \(spec) is out of range (\(readers.count) reader\(readers.count == 1 ? "" : "s"): 0…\(readers.count - 1))"
                )
            }
            found = n
        } else if let exact = readers.firstIndex(where: { $0.name == spec }) {
            found = exact
        } else {
            let matches = readers.indices.filter { readers[$0].name.lowercased().contains(spec.lowercased()) }
            guard matches.count == 1 else {
                let list = readers.map { "'\($0.name)'" }.joined(separator: ", ")
                throw InspectError(
                    .readerNotFound, "reader_not_found",
                    matches.isEmpty
                        ? "no reader named '\(spec)' (readers: \(list))"
                        : "'\(spec)' matches several readers (\(list)); give the full name or the index")
            }
            found = matches[0]
        }
    } else if requireCard {
        guard let first = readers.firstIndex(where: \.cardPresent) else {
            throw InspectError(
                .noCard, "no_card",
                "no card in any reader (\(readers.count) reader\(readers.count == 1 ? "" : "s") checked)")
        }
        found = first
    } else {
        found = 0
    }
    let state = readers[found]
    if requireCard && !state.cardPresent {
        throw InspectError(.noCard, "no_card", "no card in reader '\(state.name)'")
    }
    return (found, state)
}

/// One reader's card, for the commands that talk to it: connects for each ``run(_:)`` and
/// feeds the optional trace.
public struct CardAccess: Sendable {
    /// The reader's name.
    public let reader: String
    /// The reader's index in the PC/SC list.
    public let index: Int
    /// The card's ATR when the reader was listed.
    public let atr: [UInt8]
    /// The redacting APDU trace, when `--trace` was given.
    public let trace: APDUTrace?

    /// Resolves `--reader` and checks a card is present.
    public static func open(_ spec: String?, trace: APDUTrace?) async throws(InspectError) -> CardAccess {
        let readers = try await listReaders()
        let (index, state) = try selectReader(spec, in: readers, requireCard: true)
        return CardAccess(reader: state.name, index: index, atr: state.atr, trace: trace)
    }

    /// Connects (shared), runs `body` on the reader's thread inside one card transaction, and
    /// disconnects. Errors become ``InspectError``.
    ///
    /// Right after insertion a reader may still be settling (SCARD_E_NOT_TRANSACTED, a reset,
    /// a sharing violation): such a failure is retried a few times, but only when it came at
    /// the first APDU or before it, so a PIN is never sent twice.
    public func run<T: Sendable>(_ body: @escaping @Sendable (CardChannel) throws -> T) async throws(InspectError)
        -> T
    {
        var attempt = 0
        while true {
            attempt += 1
            let sent = Mutex(0)
            do throws(InspectError) {
                let card: PCSCCard
                do {
                    card = try await PCSCCard.connect(reader: reader)
                } catch {
                    throw InspectError.from(error, reader: reader)
                }
                do {
                    let value = try await card.perform(trace: trace) { channel in
                        do {
                            return try body(channel)
                        } catch {
                            sent.withLock { $0 = channel.apduCount }
                            throw error
                        }
                    }
                    await card.disconnect()
                    return value
                } catch {
                    await card.disconnect()
                    throw InspectError.from(any: error, reader: reader)
                }
            } catch {
                let transient = ["SCARD_E_NOT_TRANSACTED", "SCARD_W_RESET_CARD", "SCARD_E_SHARING_VIOLATION"]
                    .contains { error.message.contains($0) }
                guard transient, attempt < 8, sent.withLock({ $0 }) <= 1 else { throw error }
                try? await Task.sleep(for: .milliseconds(100 * attempt))
            }
        }
    }

    /// Like ``run(_:)`` with the ``MyNumberCard`` facade.
    public func withCard<T: Sendable>(_ body: @escaping @Sendable (MyNumberCard) throws -> T) async throws(InspectError)
        -> T
    {
        try await run { channel in try body(MyNumberCard(channel: channel)) }
    }
}

/// What a quick probe found: the card type from the JPKI token label.
public struct CardProbe: Sendable, Equatable {
    /// The card type.
    public var type: CardType
    /// The trimmed token label, when the JPKI AP answered.
    public var tokenLabel: String?

    /// Three APDUs: SELECT JPKI AP, SELECT EF 0006, READ BINARY 32 (the token label).
    public static func probe(_ channel: CardChannel) throws -> CardProbe {
        let selected = Result { () throws(JPKIError) in
            try JPKICommands.selectApplication(.jpki, on: channel)
        }
        if case .failure(.applicationNotFound) = selected { return CardProbe(type: .notJPKI, tokenLabel: nil) }
        try selected.get()
        try JPKICommands.selectFile(JPKIFile.tokenInfo, on: channel)
        var bytes = try JPKICommands.readBinary(offset: 0, length: 32, on: channel).data
        while let last = bytes.last, last == 0x20 || last == 0x00 { bytes.removeLast() }
        let label = String(decoding: bytes, as: UTF8.self)
        return CardProbe(type: CardType(tokenLabel: label), tokenLabel: label)
    }
}

extension CardType {
    /// For people, with the Japanese name.
    public var label: String {
        switch self {
        case .myNumberCard: "My Number card (個人番号カード)"
        case .jukiCard: "Juki card (住基カード)"
        case .smartphone(let l): "smartphone JPKI (\(l))"
        case .unknown(let l): "unknown JPKI token (\(l))"
        case .notJPKI: "not a JPKI card"
        }
    }
}

/// The credential kind (``JPKI/CredentialKind``) for people.
enum CredentialText {
    static func text(_ k: CredentialKind) -> String {
        switch k {
        case .card: "card (plastic card)"
        case .androidPhone: "android-phone (スマホ用電子証明書, Android: auth certificate after the auth PIN)"
        case .iphone: "iphone (スマホ用電子証明書, iPhone)"
        case .unknown: "unknown"
        }
    }
}
