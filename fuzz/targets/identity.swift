// The identity parsers of JPKI/Identity.swift. Input: [selector] [file bytes].
//   0 basic 4 info (text EF 0002), 1 card face (visual EF 0002), 2 My Number (text EF 0001),
//   3 integrity record (text EF 0003), 4 CV certificate (EF 0004), 5 共通AP record,
//   6 RSA key TLVs, 7 dates (YYYYMMDD) and sex codes.
import JPKI

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzIdentity(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    var input = FuzzInput(fuzzBytes(data, size))
    let selector = input.byte() % 8
    let file = input.rest()
    switch selector {
    case 0:
        if let b = try? BasicInfo(parsing: file) {
            fuzzCheck(b.raw == file, "raw")
            fuzzCheck(b.contentDigest.count == 32, "digest")
            fuzzCheck(b.description == "BasicInfo(redacted)", "redaction")
            fuzzCheck(CardDate(year: b.birthDate.year, month: b.birthDate.month, day: b.birthDate.day) != nil, "date")
        }
    case 1:
        if let f = try? CardFace(parsing: file) {
            fuzzCheck(f.signedDigests.count == 96, "signed digests")
            fuzzCheck(f.fields.count == 9, "nine fields")
        }
    case 2:
        if let m = try? MyNumber(parsingFile: file) {
            fuzzCheck(m.digits.utf8.count == 12, "12 digits")
            fuzzCheck((try? MyNumber(digits: m.digits)) != nil, "check digit")
            fuzzCheck(!"\(m)".contains(m.digits), "redaction")
        }
    case 3:
        if let r = try? IntegrityRecord(parsing: file) {
            fuzzCheck(r.myNumberDigest.count == 32 && r.basicInfoDigest.count == 32, "digests")
        }
    case 4:
        if let c = try? CVCertificate(parsing: file) {
            fuzzCheck(c.issuerKeyID.count == 16 && c.subjectKeyID.count == 16, "key ids")
        }
    case 5:
        if let c = try? CommonAPInfo(parsing: file) {
            fuzzCheck(c.serial.count == 15 && c.municipalityCode.count == 5, "record fields")
        }
    case 6:
        if let k = try? RSAPublicKeyParts(parsing: file) {
            fuzzCheck(!k.exponent.isEmpty && !k.modulus.isEmpty, "key parts")
        }
    default:
        if let d = CardDate(yyyymmdd: file) {
            fuzzCheck("\(d)".count == 10, "date format")
        }
        _ = try? Sex(code: file)
        _ = MyNumber.checkDigit(file)
    }
    return 0
}
