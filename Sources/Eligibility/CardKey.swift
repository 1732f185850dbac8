import Foundation

/// The lookup key of the registry: the card's **auth certificate** (利用者証明用), identified by
/// its issuer and serial number. The My Number is never used.
///
/// - `issuer`: the issuer DN exactly as `JPKIVerify`'s `CertificateInfo.issuer.rfc2253`
///   (RFC 2253 order, UTF-8 kept), e.g. `OU=…,OU=JPKI for user authentication,O=jpki-linux fixture,C=JP`.
///   This is also what `openssl x509 -noout -issuer -nameopt RFC2253` prints after `issuer=`.
///   It is compared byte for byte (no case folding), only trimmed of outer whitespace.
/// - `serial`: the serial number in hexadecimal, **normalized**: separators (`:`, spaces) removed,
///   upper case, leading zeros removed (`"0A1B"` → `"A1B"`, zero → `"0"`). So
///   `CertificateInfo.serialNumberHex` and `openssl x509 -serial` (`serial=1001`) give the same key.
public struct CardKey: Sendable, Hashable, Codable, CustomStringConvertible {
    /// Issuer DN (RFC 2253).
    public let issuer: String
    /// Normalized serial number (upper-case hex, no leading zeros).
    public let serial: String

    /// Creates a key, normalizing the serial. Throws ``EligibilityError/invalidKey(_:)`` for an empty
    /// issuer or a serial that is not (non-negative) hexadecimal.
    public init(issuer: String, serial: String) throws(EligibilityError) {
        let iss = issuer.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !iss.isEmpty else { throw .invalidKey("empty issuer") }
        guard iss.count <= 1024 else { throw .invalidKey("issuer longer than 1024 characters") }
        self.issuer = iss
        self.serial = try Self.normalize(serial: serial)
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

    public init(from decoder: any Decoder) throws {
        enum K: String, CodingKey { case issuer, serial }
        let c = try decoder.container(keyedBy: K.self)
        do {
            try self.init(
                issuer: try c.decode(String.self, forKey: .issuer), serial: try c.decode(String.self, forKey: .serial))
        } catch let e as EligibilityError {
            throw DecodingError.dataCorrupted(.init(codingPath: c.codingPath, debugDescription: e.description))
        }
    }

    /// `serial@issuer` (no personal data: the auth certificate carries none).
    public var description: String { "\(serial)@\(issuer)" }
}
