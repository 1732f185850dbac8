import Foundation
import SmartCard

/// The lookup key of the registry: the card's **auth certificate** (利用者証明用), identified by
/// its issuer's **key** and its serial number. The My Number is never used.
///
/// J-LIS's root generations (2015, 2019, 2023) share one subject DN and differ only by key, and
/// each generation numbers its certificates on its own: a DN and a serial can name two cards.
/// The issuer's key cannot collide, so the key is (`issuerKeyID`, `serial`):
///
/// - `issuerKeyID`: the issuer's key identifier in hexadecimal (upper case, no separators):
///   the auth certificate's **authorityKeyIdentifier** keyIdentifier. A certificate without one
///   takes the key identifier of the configured anchor that issued it (its subjectKeyIdentifier,
///   or the SHA-1 of its subjectPublicKey bits — RFC 5280 §4.2.1.2 method 1 — when it has none);
///   see `CardKeys` in JPKIDaemon. `openssl x509 -noout -ext authorityKeyIdentifier` prints it
///   with colons (`keyid:0A:1B:…`): they are removed.
/// - `serial`: the serial number in hexadecimal, **normalized**: separators (`:`, spaces) removed,
///   upper case, leading zeros removed (`"0A1B"` → `"A1B"`, zero → `"0"`). So
///   `CertificateInfo.serialNumberHex` and `openssl x509 -serial` (`serial=1001`) give the same key.
/// - `issuer`: the issuer DN (RFC 2253, as `JPKIVerify`'s `CertificateInfo.issuer.rfc2253`), kept
///   as a **label** for people and for registries written before key identifiers (see
///   ``RegistryStore/resolveLegacyLinks(anchors:)``). It is not part of the identity: two keys
///   with the same `issuerKeyID` and `serial` are equal whatever their DN text.
public struct CardKey: Sendable, Hashable, Codable, CustomStringConvertible {
    /// The issuer's key identifier (upper-case hex, no separators).
    public let issuerKeyID: String
    /// Normalized serial number (upper-case hex, no leading zeros).
    public let serial: String
    /// Issuer DN (RFC 2253), a label; nil when unknown.
    public let issuer: String?

    /// Creates a key, normalizing the key identifier and the serial. Throws
    /// ``EligibilityError/invalidKey(_:)`` for a key identifier or serial that is not hexadecimal
    /// or an empty DN label.
    public init(issuerKeyID: String, serial: String, issuer: String? = nil) throws(EligibilityError) {
        self.issuerKeyID = try Self.normalize(keyID: issuerKeyID)
        self.serial = try Self.normalize(serial: serial)
        if let issuer {
            let iss = issuer.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !iss.isEmpty else { throw .invalidKey("empty issuer") }
            guard iss.count <= 1024 else { throw .invalidKey("issuer longer than 1024 characters") }
            self.issuer = iss
        } else {
            self.issuer = nil
        }
    }

    /// Creates a key from the raw key identifier bytes (AKI keyIdentifier, SKI or SHA-1).
    public init(issuerKeyID: Data, serial: String, issuer: String? = nil) throws(EligibilityError) {
        try self.init(
            issuerKeyID: issuerKeyID.hexString, serial: serial, issuer: issuer)
    }

    /// Normalizes a key identifier: `keyid:` prefix, `:` and spaces removed, upper case; 4–64
    /// bytes of hexadecimal (an even number of digits; leading zeros are kept: they are bytes).
    public static func normalize(keyID: String) throws(EligibilityError) -> String {
        var s = keyID.trimmingCharacters(in: .whitespacesAndNewlines)
        if s.lowercased().hasPrefix("keyid:") { s = String(s.dropFirst(6)) }
        s.removeAll { $0 == ":" || $0 == " " }
        guard !s.isEmpty else { throw .invalidKey("empty issuer key id") }
        guard s.unicodeScalars.allSatisfy({ $0.properties.isASCIIHexDigit }) else {
            throw .invalidKey("issuer key id is not hexadecimal")
        }
        guard s.count % 2 == 0, (8...128).contains(s.count) else {
            throw .invalidKey("issuer key id must be 4 to 64 bytes")
        }
        return s.uppercased()
    }

    /// Normalizes a hexadecimal serial number (see the type's documentation).
    public static func normalize(serial: String) throws(EligibilityError) -> String {
        var s = serial.trimmingCharacters(in: .whitespacesAndNewlines)
        if s.lowercased().hasPrefix("serial=") { s = String(s.dropFirst(7)) }
        if s.lowercased().hasPrefix("0x") { s = String(s.dropFirst(2)) }
        s.removeAll { $0 == ":" || $0 == " " }
        guard !s.isEmpty else { throw .invalidKey("empty serial") }
        guard s.count <= 128 else { throw .invalidKey("serial longer than 128 hex digits") }
        guard s.unicodeScalars.allSatisfy({ $0.properties.isASCIIHexDigit }) else {
            throw .invalidKey("serial is not hexadecimal")
        }
        let trimmed = s.uppercased().drop { $0 == "0" }
        return trimmed.isEmpty ? "0" : String(trimmed)
    }

    /// Equal when the issuer key and serial are (the DN is a label).
    public static func == (a: CardKey, b: CardKey) -> Bool {
        a.issuerKeyID == b.issuerKeyID && a.serial == b.serial
    }

    public func hash(into h: inout Hasher) {
        h.combine(issuerKeyID)
        h.combine(serial)
    }

    enum CodingKeys: String, CodingKey { case issuerKeyID, serial, issuer }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        do {
            try self.init(
                issuerKeyID: try c.decode(String.self, forKey: .issuerKeyID),
                serial: try c.decode(String.self, forKey: .serial),
                issuer: try c.decodeIfPresent(String.self, forKey: .issuer))
        } catch let e as EligibilityError {
            throw DecodingError.dataCorrupted(.init(codingPath: c.codingPath, debugDescription: e.description))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(issuerKeyID, forKey: .issuerKeyID)
        try c.encode(serial, forKey: .serial)
        try c.encodeIfPresent(issuer, forKey: .issuer)
    }

    /// `serial@keyid:ISSUERKEYID` (no personal data: the auth certificate carries none).
    public var description: String { "\(serial)@keyid:\(issuerKeyID)" }
}

/// A registry link written before card keys had an issuer key (schema v1): it knows the issuer
/// DN only. It is resolved to a ``CardKey`` when exactly one configured anchor has that DN;
/// while several do (J-LIS root generations share one DN), eligibility for a card with this DN
/// and serial is refused with `card_relink_required` until the card is linked again.
public struct LegacyCardLink: Sendable, Hashable, Codable {
    /// Issuer DN (RFC 2253) as stored.
    public var issuer: String
    /// Normalized serial.
    public var serial: String
    /// The record it points to.
    public var recordID: Int64
    /// How many configured anchors have this DN at the last resolution (0: none, 2+: ambiguous).
    public var matchingAnchors: Int?

    /// Creates a value.
    public init(issuer: String, serial: String, recordID: Int64, matchingAnchors: Int? = nil) {
        self.issuer = issuer
        self.serial = serial
        self.recordID = recordID
        self.matchingAnchors = matchingAnchors
    }
}
