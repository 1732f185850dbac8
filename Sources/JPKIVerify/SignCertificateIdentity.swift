import COpenSSL
import Foundation

/// Identity carried by a JPKI signature certificate in subjectAltName otherNames
/// (OIDs 1.2.392.200149.8.5.5.1–.6). Personal data: never log it. `description` is redacted.
public struct SignCertificateIdentity: Sendable, Codable, Equatable, CustomStringConvertible {
    /// OID arc of the JPKI otherNames.
    public static let oidArc = "1.2.392.200149.8.5.5"
    /// .1 name (UTF-8).
    public let name: String?
    /// .2 name substitute-character flags.
    public let nameFlags: String?
    /// .3 sex (JIS X 0303: "1" male, "2" female, "9" not applicable).
    public let sex: String?
    /// .4 birth date as on the certificate: `EYYYYMMDD` (E = era digit, date Gregorian).
    public let birthDate: String?
    /// .5 address (UTF-8).
    public let address: String?
    /// .6 address substitute-character flags.
    public let addressFlags: String?

    /// Creates a value (tests, simulators).
    public init(
        name: String?, nameFlags: String?, sex: String?, birthDate: String?, address: String?,
        addressFlags: String?
    ) {
        self.name = name
        self.nameFlags = nameFlags
        self.sex = sex
        self.birthDate = birthDate
        self.address = address
        self.addressFlags = addressFlags
    }

    /// Era digit of ``birthDate`` (1 明治 … 5 令和), if well-formed.
    public var birthEra: Int? {
        guard let b = birthDate, b.count == 9, b.allSatisfy(\.isASCII),
            let e = b.first?.wholeNumberValue
        else { return nil }
        return e
    }

    /// Gregorian `YYYYMMDD` part of ``birthDate``, if well-formed (9 ASCII digits).
    public var birthDateGregorian: String? {
        guard let b = birthDate, b.count == 9, b.utf8.allSatisfy({ (0x30...0x39).contains($0) })
        else {
            return nil
        }
        return String(b.dropFirst())
    }

    /// Redacted.
    public var description: String { "SignCertificateIdentity(<redacted>)" }

    static func extract(from x: OpaquePointer) throws(JPKIVerifyError) -> SignCertificateIdentity? {
        var critical: Int32 = 0
        guard let raw = X509_get_ext_d2i(x, NID_subject_alt_name, &critical, nil) else {
            if critical == -2 { throw .malformedCertificate("duplicate subjectAltName") }
            return nil
        }
        let names = OpaquePointer(raw)
        defer { copenssl_general_names_free(names) }
        var fields: [String: String] = [:]
        for i in 0..<copenssl_sk_num(raw) {
            guard let gn = copenssl_sk_value(raw, i)?.assumingMemoryBound(to: GENERAL_NAME.self),
                gn.pointee.type == copenssl_gen_othername(), let on = gn.pointee.d.otherName
            else { continue }
            let oid = oidString(on.pointee.type_id)
            guard oid.hasPrefix(oidArc + "."), let v = on.pointee.value else { continue }
            let t = v.pointee.type
            // Only string types are meaningful here.
            let stringTypes: Set<Int32> = [
                V_ASN1_UTF8STRING, V_ASN1_PRINTABLESTRING, V_ASN1_IA5STRING, V_ASN1_BMPSTRING,
                V_ASN1_UNIVERSALSTRING, V_ASN1_VISIBLESTRING, V_ASN1_T61STRING,
            ]
            guard stringTypes.contains(t) else {
                throw .malformedCertificate("JPKI otherName is not a string")
            }
            guard let s = utf8String(v.pointee.value.asn1_string) else {
                throw .malformedCertificate("JPKI otherName does not decode as text")
            }
            let key = String(oid.dropFirst(oidArc.count + 1))
            guard fields[key] == nil else {
                throw .malformedCertificate("duplicate JPKI otherName")
            }
            fields[key] = s
        }
        if fields.isEmpty { return nil }
        return SignCertificateIdentity(
            name: fields["1"], nameFlags: fields["2"], sex: fields["3"], birthDate: fields["4"],
            address: fields["5"], addressFlags: fields["6"])
    }
}
