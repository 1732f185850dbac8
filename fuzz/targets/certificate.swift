// X.509 through OpenSSL: CertificateInfo(der:) and (pem:), including the JPKI subjectAltName
// otherNames (SignCertificateIdentity). Input: [selector] [bytes]: selector bit 0 = PEM.
import Foundation
import JPKIVerify

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCertificate(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    var input = FuzzInput(fuzzBytes(data, size))
    let selector = input.byte()
    let bytes = input.rest()
    let info: CertificateInfo?
    if selector & 1 == 1 {
        info = try? CertificateInfo(pem: String(decoding: bytes, as: UTF8.self))
    } else {
        info = try? CertificateInfo(der: Data(bytes))
        if let info {
            fuzzCheck(info.sha256Fingerprint.count == 32, "fingerprint")
        }
    }
    if let info {
        _ = info.subject.rfc2253
        _ = info.isSelfIssued
        _ = info.publicKey?.bits
        if let id = info.signIdentity {
            _ = id.birthEra
            _ = id.birthDateGregorian
            fuzzCheck(id.description == "SignCertificateIdentity(<redacted>)", "redaction")
        }
        // The parsed DER round-trips through OpenSSL again.
        fuzzCheck((try? CertificateInfo(der: info.der)) == info, "re-parse of der")
    }
    return 0
}
