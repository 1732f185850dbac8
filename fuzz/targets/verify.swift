// JPKIVerify on card-supplied bytes: the text/visual AP integrity checks (CV certificate,
// integrity record, basic 4 information, card face) with the fixture CV issuer keys, and the
// challenge-signature check against a card-supplied auth certificate.
// Input: [selector] then frames (u16 length + bytes):
//   selector % 3 == 0: text AP — My Number file, basic 4 file, integrity record, CV certificate
//   selector % 3 == 1: visual AP — card face file, CV certificate
//   selector % 3 == 2: challenge — auth certificate DER, signature (RSA or ECDSA r ‖ s by the
//     certificate's key); also the card library's scheme parser on the certificate and the ECDSA
//     DER → r ‖ s → DER round trip on the signature
import Foundation
import JPKI
import JPKIVerify

let apVerifier: APIntegrityVerifier = {
    let pki = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("apdu-fixtures/pki/cv")
    guard
        let v = try? APIntegrityVerifier(
            textIssuerKey: pki.appendingPathComponent("text-cv-issuer.pub.pem"),
            visualIssuerKey: pki.appendingPathComponent("visual-cv-issuer.pub.pem"))
    else { fatalError("CV issuer keys under apdu-fixtures/pki/cv") }
    return v
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzVerify(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    var input = FuzzInput(fuzzBytes(data, size))
    let selector = input.byte()
    let report: VerificationReport
    switch selector % 3 {
    case 0:
        let myNumber = input.frame() ?? []
        let basic = input.frame() ?? []
        let record = input.frame() ?? []
        let cv = input.frame() ?? []
        _ = try? CVCertificate(file: Data(cv))
        report = apVerifier.verifyText(
            myNumberFile: selector & 0x80 != 0 ? nil : Data(myNumber), basicFourFile: Data(basic),
            integrityRecord: Data(record), cvCertificate: Data(cv))
    case 1:
        let face = input.frame() ?? []
        let cv = input.frame() ?? []
        report = apVerifier.verifyVisual(cardFaceFile: Data(face), cvCertificate: Data(cv))
    default:
        let cert = input.frame() ?? []
        let signature = input.frame() ?? []
        guard let challenge = try? CardChallenge(bytes: Data(repeating: 0x5A, count: 32)) else {
            fatalError("challenge")
        }
        report = challenge.verify(signature: Data(signature), authCertificateDER: Data(cert))
        _ = try? CardSignatureScheme(certificateDER: cert)
        for curve in ECCurve.allCases {
            guard let raw = try? ECDSASignature.raw(fromDER: signature, curve: curve) else { continue }
            // What parses as strict DER converts back to the same r ‖ s.
            let again = try? ECDSASignature.raw(fromDER: ECDSASignature.der(fromRaw: raw, curve: curve), curve: curve)
            precondition(again == raw, "ECDSA DER round trip")
        }
    }
    _ = report.verdict
    return 0
}
