import Foundation

/// What kind of JPKI credential a registry link was made with, by the token label of its JPKI
/// EF 0006 (read when it was linked). The kind is a label for people: the lookup is by
/// ``CardKey`` only, and a person's card and phone are two credentials of one record.
public enum CredentialKind: String, Sendable, Hashable, Codable, CaseIterable {
    /// A card: `JPKIAPICCTOKEN2` (個人番号カード) or `JPKIAPICCTOKEN` (住民基本台帳カード).
    case card
    /// スマホ用電子証明書 on Android: `JPKIAPGPSETOKEN`.
    case androidPhone = "android-phone"
    /// スマホ用電子証明書 on iPhone: `JPKIAPIOSTOKEN`.
    case iPhone = "iphone"
    /// Another token label (a JPKI application this software does not know).
    case unknown

    /// Classifies a JPKI token label (trailing spaces and NULs ignored).
    public init(tokenLabel: String) {
        var label = tokenLabel
        while let last = label.unicodeScalars.last, last == " " || last == "\u{0}" { label.removeLast() }
        switch label {
        case "JPKIAPICCTOKEN2", "JPKIAPICCTOKEN": self = .card
        case "JPKIAPGPSETOKEN": self = .androidPhone
        case "JPKIAPIOSTOKEN": self = .iPhone
        default: self = .unknown
        }
    }
}

/// One credential linked to a registry record: the key its eligibility is looked up by, and
/// what it is. A record links any number of them (card, phone, a renewed card); each key links
/// to at most one record.
public struct Credential: Sendable, Hashable, Codable {
    /// The auth certificate's key (issuer key id + serial).
    public var key: CardKey
    /// The kind, or nil for a link written before kinds were recorded (schema `v3-credential-kind`
    /// keeps such links as they were: their kind is not known).
    public var kind: CredentialKind?
    /// When it was linked (ISO 8601, as stored).
    public var linkedAt: String

    /// Creates a value.
    public init(key: CardKey, kind: CredentialKind?, linkedAt: String) {
        self.key = key
        self.kind = kind
        self.linkedAt = linkedAt
    }

    /// `kind key` for listings, `-` when the kind is not recorded.
    public var description: String { "\(kind?.rawValue ?? "-") \(key)" }
}
