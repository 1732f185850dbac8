import Foundation

/// A calendar date as printed on the card (Gregorian year, month, day), without time zone.
public struct CardDate: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// Year (e.g. 1985).
    public var year: Int
    /// Month 1–12.
    public var month: Int
    /// Day 1–31 (checked against the month and leap years).
    public var day: Int

    /// Creates a date; nil when it does not exist.
    public init?(year: Int, month: Int, day: Int) {
        guard (1...9999).contains(year), (1...12).contains(month), day >= 1 else { return nil }
        let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
        let days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]
        guard day <= days else { return nil }
        self.year = year
        self.month = month
        self.day = day
    }

    /// Parses 8 ASCII digits `YYYYMMDD`.
    public init?(yyyymmdd bytes: [UInt8]) {
        guard bytes.count == 8, bytes.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
        let d = bytes.map { Int($0 - 0x30) }
        self.init(
            year: d[0] * 1000 + d[1] * 100 + d[2] * 10 + d[3], month: d[4] * 10 + d[5],
            day: d[6] * 10 + d[7])
    }

    /// `YYYY-MM-DD`.
    public var description: String {
        func pad(_ n: Int, _ w: Int) -> String {
            let s = String(n)
            return String(repeating: "0", count: max(0, w - s.count)) + s
        }
        return "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))"
    }

    /// Chronological order.
    public static func < (a: CardDate, b: CardDate) -> Bool {
        (a.year, a.month, a.day) < (b.year, b.month, b.day)
    }
}

/// Sex as coded on the card (ISO/IEC 5218 digits).
public enum Sex: String, Sendable, Hashable, CaseIterable {
    /// "0": not known.
    case notKnown
    /// "1".
    case male
    /// "2".
    case female
    /// "9": not applicable.
    case notApplicable

    /// Parses the one-digit code; any other value is a typed error.
    public init(code: [UInt8]) throws(JPKIError) {
        switch code {
        case [0x30]: self = .notKnown
        case [0x31]: self = .male
        case [0x32]: self = .female
        case [0x39]: self = .notApplicable
        default: throw .malformedData("sex code is not 0, 1, 2 or 9")
        }
    }

    /// The ISO 5218 digit.
    public var code: String {
        switch self {
        case .notKnown: "0"
        case .male: "1"
        case .female: "2"
        case .notApplicable: "9"
        }
    }
}

/// Unicode NFKC (compatibility composition), e.g. U+3000 → U+0020, full-width → ASCII.
/// Kanji variants such as 髙/﨑 are *not* changed by NFKC; matching them is the caller's job.
public func nfkc(_ s: String) -> String { s.precomposedStringWithCompatibilityMapping }

/// The text AP's basic 4 information (基本4情報), EF 0002. Personal data: the description is
/// redacted.
public struct BasicInfo: Sendable, Hashable, CustomStringConvertible, CustomReflectable {
    /// The name exactly as on the card (U+3000 between family and given name).
    public var name: String
    /// The address exactly as on the card.
    public var address: String
    /// ``name`` NFKC-normalized.
    public var nameNFKC: String
    /// ``address`` NFKC-normalized.
    public var addressNFKC: String
    /// The birth date.
    public var birthDate: CardDate
    /// The sex.
    public var sex: Sex
    /// The whole EF as read (`FF 20 …`), for integrity verification.
    public var raw: [UInt8]
    /// The bytes covered by the integrity record's DF32 digest: the value from DF22 to the end.
    public var digestedContent: [UInt8]

    /// Parses EF 0002 (`FF 20 L { DF21 offsets, DF22 name, DF23 address, DF24 birth, DF25 sex }`),
    /// locating each field through the DF21 offset table and cross-checking it.
    public init(parsing raw: [UInt8]) throws(JPKIError) {
        let fields = try parseOffsetTable(
            raw, outerTag: 0xFF20, tableTag: 0xDF21, first: 0xDF22, count: 4)
        guard let name = String(validating: fields[0].value, as: UTF8.self),
            let address = String(validating: fields[1].value, as: UTF8.self)
        else { throw .malformedData("name or address is not UTF-8") }
        guard let birth = CardDate(yyyymmdd: fields[2].value) else {
            throw .malformedData("birth date is not YYYYMMDD")
        }
        self.name = name
        self.address = address
        self.nameNFKC = nfkc(name)
        self.addressNFKC = nfkc(address)
        self.birthDate = birth
        self.sex = try Sex(code: fields[3].value)
        self.raw = raw
        self.digestedContent = fields.flatMap(\.encoded)
    }

    /// ``digestedContent`` of EF 0002 located through its DF21 offset table alone, without
    /// interpreting the fields: what a verifier hashes, so that a damaged field is a digest
    /// mismatch rather than a parse error.
    public static func digestedContent(ofFile raw: [UInt8]) throws(JPKIError) -> [UInt8] {
        try parseOffsetTable(raw, outerTag: 0xFF20, tableTag: 0xDF21, first: 0xDF22, count: 4)
            .flatMap(\.encoded)
    }

    /// SHA-256 of ``digestedContent`` (compare with ``IntegrityRecord/basicInfoDigest``).
    public var contentDigest: [UInt8] { SHA256.hash(digestedContent) }

    /// Redacted.
    public var description: String { "BasicInfo(redacted)" }
    /// No children (keeps personal data out of `dump`).
    public var customMirror: Mirror { Mirror(self, children: [], displayStyle: .struct) }
}

/// Parses `outer { table, f1, f2, … }`: the table holds big-endian u16 offsets from the start
/// of `raw` to each field TLV; each is parsed there and must equal the field found by parsing
/// the children in order, with tags first, first+1, ….
func parseOffsetTable(
    _ raw: [UInt8], outerTag: UInt32, tableTag: UInt32, first: UInt32, count: Int
) throws(JPKIError) -> [BERTLV] {
    let children = try constructedChildren(
        raw, tag: outerTag, mismatch: "expected tag \(String(outerTag, radix: 16, uppercase: true))")
    guard let table = children.first, table.tag == tableTag, table.value.count % 2 == 0 else {
        throw .malformedData("offset table missing")
    }
    let offsets = stride(from: 0, to: table.value.count, by: 2).map {
        Int(table.value[$0]) << 8 | Int(table.value[$0 + 1])
    }
    guard offsets.count >= count, children.count >= count + 1 else {
        throw .malformedData("offset table has \(offsets.count) entries, \(count) needed")
    }
    var fields: [BERTLV] = []
    for i in 0..<count {
        let expectedTag = first + UInt32(i)
        let sequential = children[i + 1]
        guard sequential.tag == expectedTag else {
            throw .malformedData("field \(i) has an unexpected tag")
        }
        let offset = offsets[i]
        guard offset < raw.count else { throw .malformedData("offset \(i) past the end") }
        let atOffset: BERTLV
        do {
            atOffset = try BERTLV.parsePrefix(Array(raw[offset...]))
        } catch {
            throw .tlv(error)
        }
        guard atOffset == sequential else {
            throw .malformedData("offset table entry \(i) does not point at its field")
        }
        fields.append(sequential)
    }
    return fields
}

/// A My Number (個人番号): 12 digits whose last is a valid check digit. The description is
/// redacted; read ``digits`` explicitly, and only where policy allows it.
public struct MyNumber: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible,
    CustomReflectable
{
    /// The 12 digits.
    public let digits: String
    /// The whole EF 0001 as read (17 bytes incl. filler), for integrity verification; empty
    /// when created from digits.
    public let rawFile: [UInt8]

    /// Validates 12 digits and the check digit.
    public init(digits: String) throws(JPKIError) {
        let bytes = Array(digits.utf8)
        guard MyNumber.isValid(bytes) else { throw .invalidMyNumber }
        self.digits = digits
        self.rawFile = []
    }

    /// Parses EF 0001: `FF 10 0C` + 12 ASCII digits (filler after the TLV is kept in ``rawFile``).
    public init(parsingFile raw: [UInt8]) throws(JPKIError) {
        let tlv: BERTLV
        do {
            tlv = try BERTLV.parsePrefix(raw)
        } catch {
            throw .tlv(error)
        }
        guard tlv.tag == 0xFF10, tlv.value.count == 12, MyNumber.isValid(tlv.value) else {
            throw .invalidMyNumber
        }
        self.digits = String(decoding: tlv.value, as: UTF8.self)
        self.rawFile = raw
    }

    /// The check digit of 11 digits (P1 = the right-most; Q = n+1 for n ≤ 6, n−5 above).
    public static func checkDigit(_ first11: [UInt8]) -> Int? {
        guard first11.count == 11, first11.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else {
            return nil
        }
        var sum = 0
        for n in 1...11 {
            let p = Int(first11[11 - n] - 0x30)
            let q = n <= 6 ? n + 1 : n - 5
            sum += p * q
        }
        let r = sum % 11
        return r <= 1 ? 0 : 11 - r
    }

    static func isValid(_ bytes: [UInt8]) -> Bool {
        guard bytes.count == 12, let c = checkDigit(Array(bytes[0..<11])) else { return false }
        return Int(bytes[11]) - 0x30 == c
    }

    /// Always `MyNumber(redacted)`.
    public var description: String { "MyNumber(redacted)" }
    /// Always `MyNumber(redacted)`.
    public var debugDescription: String { "MyNumber(redacted)" }
    /// No children.
    public var customMirror: Mirror { Mirror(self, children: [], displayStyle: .struct) }
}

/// The text AP integrity record, EF 0003: `FF 30 { DF31 SHA-256(EF 0001), DF32 SHA-256(EF 0002
/// from DF22), DF33 signature }`.
public struct IntegrityRecord: Sendable, Hashable {
    /// The file as read.
    public var raw: [UInt8]
    /// DF31: SHA-256 of the whole EF 0001 (My Number file).
    public var myNumberDigest: [UInt8]
    /// DF32: SHA-256 of EF 0002's value from DF22 to the end.
    public var basicInfoDigest: [UInt8]
    /// DF33: RSA PKCS#1 v1.5 SHA-256 signature over ``signedData``.
    public var signature: [UInt8]
    /// The DF31 TLV followed by the DF32 TLV, exactly as written (what DF33 signs).
    public var signedData: [UInt8]

    /// Parses the record.
    public init(parsing raw: [UInt8]) throws(JPKIError) {
        let children = try constructedChildren(raw, tag: 0xFF30, mismatch: "integrity record tag")
        guard let d1 = children.first(where: { $0.tag == 0xDF31 }),
            let d2 = children.first(where: { $0.tag == 0xDF32 }),
            let sig = children.first(where: { $0.tag == 0xDF33 }),
            d1.value.count == 32, d2.value.count == 32, !sig.value.isEmpty
        else { throw .malformedData("integrity record fields") }
        self.raw = raw
        self.myNumberDigest = d1.value
        self.basicInfoDigest = d2.value
        self.signature = sig.value
        self.signedData = d1.encoded + d2.encoded
    }
}

/// A card-verifiable (CV) certificate of an AP key (text/visual EF 0004):
/// `7F21 { 5F4E body, 5F37 signature }`, body = issuer key ID (16) ‖ subject key ID (16) ‖
/// `90` exponent ‖ `91` modulus.
public struct CVCertificate: Sendable, Hashable {
    /// The file as read.
    public var raw: [UInt8]
    /// The 5F4E value (what the signature covers).
    public var body: [UInt8]
    /// The 5F37 value: PKCS#1 v1.5 SHA-256 signature over ``body`` by the J-LIS CA key.
    public var signature: [UInt8]
    /// The first 16 body bytes.
    public var issuerKeyID: [UInt8]
    /// The next 16 body bytes.
    public var subjectKeyID: [UInt8]
    /// The RSA public exponent (tag 90).
    public var publicExponent: [UInt8]
    /// The RSA modulus (tag 91).
    public var modulus: [UInt8]

    /// Parses the certificate.
    public init(parsing raw: [UInt8]) throws(JPKIError) {
        let children = try constructedChildren(raw, tag: 0x7F21, mismatch: "CV certificate layout")
        guard let body = children.first(where: { $0.tag == 0x5F4E }),
            let sig = children.first(where: { $0.tag == 0x5F37 }), !sig.value.isEmpty
        else { throw .malformedData("CV certificate layout") }
        guard body.value.count > 32 else { throw .malformedData("CV certificate body too short") }
        let key = try RSAPublicKeyParts(parsing: Array(body.value[32...]))
        self.raw = raw
        self.body = body.value
        self.signature = sig.value
        self.issuerKeyID = Array(body.value[0..<16])
        self.subjectKeyID = Array(body.value[16..<32])
        self.publicExponent = key.exponent
        self.modulus = key.modulus
    }
}

/// An RSA public key as `90 <exponent> 91 <modulus>` TLVs (the card's own encoding).
public struct RSAPublicKeyParts: Sendable, Hashable {
    /// The exponent bytes (big-endian).
    public var exponent: [UInt8]
    /// The modulus bytes (big-endian).
    public var modulus: [UInt8]

    /// Parses the two TLVs (in any order, nothing else).
    public init(parsing bytes: [UInt8]) throws(JPKIError) {
        let tlvs: [BERTLV]
        do {
            tlvs = try BERTLV.parseSequence(bytes, allowEmpty: false)
        } catch {
            throw .tlv(error)
        }
        guard let e = tlvs.first(where: { $0.tag == 0x90 }),
            let n = tlvs.first(where: { $0.tag == 0x91 }), !e.value.isEmpty, !n.value.isEmpty
        else { throw .malformedData("RSA key TLVs 90/91") }
        exponent = e.value
        modulus = n.value
    }
}

/// The visual AP card face, EF 0002. Personal data: the description is redacted.
public struct CardFace: Sendable, Hashable, CustomStringConvertible, CustomReflectable {
    /// The birth date (DF22).
    public var birthDate: CardDate
    /// The sex (DF23).
    public var sex: Sex
    /// The card's public key (DF24), parsed.
    public var publicKey: RSAPublicKeyParts
    /// The name image, PNG (DF25).
    public var namePNG: [UInt8]
    /// The address image, PNG (DF26).
    public var addressPNG: [UInt8]
    /// The face photo, JPEG 2000 (DF27).
    public var faceJPEG2000: [UInt8]
    /// The signature (DF28): PKCS#1 v1.5 over DigestInfo(sha256, ``signedDigests``).
    public var signature: [UInt8]
    /// The expiry date (DF29), not covered by the signature.
    public var expiry: CardDate
    /// The security code image, PNG (DF2A), not covered by the signature.
    public var securityCodePNG: [UInt8]
    /// The whole EF as read.
    public var raw: [UInt8]
    /// The fields DF22…DF2A as raw TLVs (tag → TLV), for verification.
    public var fields: [UInt32: BERTLV]

    /// Parses EF 0002 through its DF21 offset table (9 fields, DF22…DF2A).
    public init(parsing raw: [UInt8]) throws(JPKIError) {
        let f = try parseOffsetTable(
            raw, outerTag: 0xFF20, tableTag: 0xDF21, first: 0xDF22, count: 9)
        guard let birth = CardDate(yyyymmdd: f[0].value) else {
            throw .malformedData("card face birth date is not YYYYMMDD")
        }
        guard let expiry = CardDate(yyyymmdd: f[7].value) else {
            throw .malformedData("card face expiry is not YYYYMMDD")
        }
        birthDate = birth
        sex = try Sex(code: f[1].value)
        publicKey = try RSAPublicKeyParts(parsing: f[2].value)
        namePNG = f[3].value
        addressPNG = f[4].value
        faceJPEG2000 = f[5].value
        signature = f[6].value
        self.expiry = expiry
        securityCodePNG = f[8].value
        self.raw = raw
        var map: [UInt32: BERTLV] = [:]
        for t in f { map[t.tag] = t }
        fields = map
    }

    /// H(DF22‖DF23‖DF24) ‖ H(DF25‖DF26) ‖ H(DF27), each over the raw TLVs: the 96 bytes that
    /// DF28 signs inside a SHA-256 DigestInfo.
    public var signedDigests: [UInt8] { Self.signedDigests(fields) }

    private static func signedDigests(_ fields: [UInt32: BERTLV]) -> [UInt8] {
        func tlvs(_ tags: [UInt32]) -> [UInt8] { tags.flatMap { fields[$0]?.encoded ?? [] } }
        return SHA256.hash(tlvs([0xDF22, 0xDF23, 0xDF24])) + SHA256.hash(tlvs([0xDF25, 0xDF26]))
            + SHA256.hash(tlvs([0xDF27]))
    }

    /// ``signedDigests`` and the DF28 signature of EF 0002, located through its DF21 offset table
    /// alone, without interpreting the fields (a verifier's view: a damaged field is then a bad
    /// signature, not a parse error).
    public static func signedPart(ofFile raw: [UInt8]) throws(JPKIError) -> (
        digests: [UInt8], signature: [UInt8]
    ) {
        let f = try parseOffsetTable(raw, outerTag: 0xFF20, tableTag: 0xDF21, first: 0xDF22, count: 9)
        var map: [UInt32: BERTLV] = [:]
        for t in f { map[t.tag] = t }
        return (signedDigests(map), f[6].value)
    }

    /// Redacted.
    public var description: String { "CardFace(redacted)" }
    /// No children.
    public var customMirror: Mirror { Mirror(self, children: [], displayStyle: .struct) }
}

/// 共通AP EF 0001 record 1: `01 1C` + 15-digit card serial + 5-digit municipality code +
/// expiry `YYYYMMDD`.
public struct CommonAPInfo: Sendable, Hashable, CustomStringConvertible {
    /// The 15-digit card serial.
    public var serial: String
    /// The 5-digit municipality code of the issuer.
    public var municipalityCode: String
    /// The card's expiry date.
    public var expiry: CardDate
    /// The record as read.
    public var raw: [UInt8]

    /// Parses the simple-TLV record.
    public init(parsing raw: [UInt8]) throws(JPKIError) {
        guard raw.count >= 30, raw[0] == 0x01, raw[1] == 0x1C else {
            throw .malformedData("common AP record is not 01 1C + 28 bytes")
        }
        let value = Array(raw[2..<30])
        guard value.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
            let expiry = CardDate(yyyymmdd: Array(value[20..<28]))
        else { throw .malformedData("common AP record fields") }
        serial = String(decoding: value[0..<15], as: UTF8.self)
        municipalityCode = String(decoding: value[15..<20], as: UTF8.self)
        self.expiry = expiry
        self.raw = raw
    }

    /// Redacted (the serial identifies the card holder's card).
    public var description: String { "CommonAPInfo(redacted)" }
}

/// Parses `raw` as exactly one constructed TLV with tag `tag` and returns its children; a
/// different tag is `malformedData(mismatch)`, a BER error is `.tlv`.
func constructedChildren(_ raw: [UInt8], tag: UInt32, mismatch: String) throws(JPKIError) -> [BERTLV] {
    let outer: BERTLV
    let children: [BERTLV]
    do {
        outer = try BERTLV.parse(raw)
        children = try outer.children()
    } catch {
        throw .tlv(error)
    }
    guard outer.tag == tag else { throw .malformedData(mismatch) }
    return children
}
