import Foundation
import JPKI
import SmartCard

/// What the daemon learned about a card when it was inserted — and, for a credential that shows
/// its auth certificate only after the auth PIN (Android), at the first PIN-verified operation
/// (``ReaderSupervisor/bindAuthCertificate(_:der:)``); it binds a session to that card.
public struct CardBinding: Sendable, Equatable, Codable {
    /// SHA-256 of the auth certificate DER (hex); nil when the card has no JPKI AP, or while a
    /// session is bound to its token only (``boundTo`` `token`).
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

    /// The kind of credential: the stable code of ``JPKI/CredentialKind`` (`card`,
    /// `android-phone`, `iphone`, `unknown`).
    public var credential: String
    /// `true` when the auth certificate could not be read at insertion because the credential
    /// shows it only after the auth PIN (Android): the session is then bound to what was readable
    /// (ATR and token info) until the first operation that verifies the PIN (authenticate,
    /// eligibility) binds it to the auth certificate. nil/false: bound to the certificate at
    /// insertion.
    public var certificateAfterPIN: Bool?
    /// What the session is bound to now: `certificate` (the auth certificate's SHA-256 is
    /// ``authCertificateFingerprint``) or `token` (ATR + token info only; no certificate yet).
    public var boundTo: String
    /// The 32 token-info bytes read at insertion (not encoded): a pre-certificate session's card
    /// check before the PIN.
    public var tokenInfo: [UInt8]?

    private enum CodingKeys: String, CodingKey {
        case authCertificateFingerprint, cardType, authPINPresent, modes, credential, certificateAfterPIN, boundTo
    }

    /// Creates an identity.
    public init(
        authCertificateFingerprint: String?, cardType: String, authCertificateDER: [UInt8]? = nil,
        authPINPresent: Bool? = nil, modes: [String]? = nil, credential: String = "card",
        certificateAfterPIN: Bool? = nil, tokenInfo: [UInt8]? = nil
    ) {
        self.authCertificateFingerprint = authCertificateFingerprint
        self.cardType = cardType
        self.authCertificateDER = authCertificateDER
        self.authPINPresent = authPINPresent
        self.modes = modes
        self.credential = credential
        self.certificateAfterPIN = certificateAfterPIN
        self.tokenInfo = tokenInfo
        self.boundTo = authCertificateFingerprint == nil && certificateAfterPIN == true ? "token" : "certificate"
    }

    /// Whether operations identify the card by its token info (a credential whose auth certificate
    /// needs the PIN first): before the binding and after it, since the certificate cannot be
    /// read again without the PIN.
    public var identifiesByToken: Bool { certificateAfterPIN == true }

    /// What every operation's ``JPKI/CardResult/card`` must equal: the auth certificate's
    /// fingerprint, or for a credential identified by its token, the token identity.
    public var expectedCardFingerprint: String? {
        if identifiesByToken { return tokenInfo.map { CardIdentity(tokenInfo: $0).hex } }
        return authCertificateFingerprint
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
