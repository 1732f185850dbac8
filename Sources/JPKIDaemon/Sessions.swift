import Foundation
import SmartCard

/// What the daemon learned about a card when it was inserted; it binds a session to that card.
public struct CardBinding: Sendable, Equatable, Codable {
    /// SHA-256 of the auth certificate DER (hex), or nil when the card has no JPKI AP.
    public var authCertificateFingerprint: String?
    /// Card type: the stable code of ``JPKI/CardType/code`` (`my-number-card`, `juki-card`,
    /// `smartphone`, `unknown-jpki`).
    public var cardType: String
    /// The auth certificate read at insertion (its SHA-256 is the fingerprint); not encoded. A
    /// possession proof (signature over a fresh challenge) that verifies against it proves the
    /// operation ran on this card without reading the certificate again.
    public var authCertificateDER: [UInt8]?
    /// Whether the card has an auth PIN (``JPKI/CardDetection/authPINPresent``); `false` is a
    /// 顔認証マイナンバーカード: PIN operations are refused (422 `pin_not_set`) before any APDU.
    public var authPINPresent: Bool?
    /// The eligibility modes this card allows: `["pin", "visual"]`, or `["visual"]` for a card
    /// without PIN (``JPKI/CardDetection/confirmationModes``); the configuration may allow fewer.
    public var modes: [String]?

    private enum CodingKeys: String, CodingKey {
        case authCertificateFingerprint, cardType, authPINPresent, modes
    }

    /// Creates an identity.
    public init(
        authCertificateFingerprint: String?, cardType: String, authCertificateDER: [UInt8]? = nil,
        authPINPresent: Bool? = nil, modes: [String]? = nil
    ) {
        self.authCertificateFingerprint = authCertificateFingerprint
        self.cardType = cardType
        self.authCertificateDER = authCertificateDER
        self.authPINPresent = authPINPresent
        self.modes = modes
    }
}

/// Reads a card's identity at insertion, on the reader thread, inside one transaction.
public typealias CardIdentifier = @Sendable (CardChannel) throws -> CardBinding

/// A card session: one insertion of one card in one reader. Its id is unguessable (128 random
/// bits) and never reused; every card operation names it.
public struct CardSession: Sendable, Equatable, Codable {
    /// The session id.
    public var id: String
    /// The reader.
    public var reader: String
    /// The card's ATR (hex).
    public var atr: String
    /// What was read at insertion.
    public var identity: CardBinding
    /// When the card was inserted (ISO 8601).
    public var insertedAt: String

    /// A new random session id (hex of 16 bytes from the system CSPRNG).
    public static func newID() -> String {
        var rng = SystemRandomNumberGenerator()
        return (0..<16).map { _ in UInt8.random(in: 0...255, using: &rng) }.hexString
    }
}
