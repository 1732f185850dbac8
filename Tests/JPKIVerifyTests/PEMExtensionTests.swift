import Foundation
import Testing

@testable import JPKIVerify

/// Fuzz regression (fuzz/run certificate): PEM and DER input must be held to the same rules.
@Suite("PEM certificates get the DER path's checks")
struct PEMExtensionTests {
    static func regressionInputs() throws -> [URL] {
        let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("fuzz/regressions/certificate")
        return try FileManager.default.contentsOfDirectory(at: dir, includingPropertiesForKeys: nil)
    }

    @Test("a PEM certificate with an undecodable extension is rejected, as its DER is")
    func invalidExtensionInPEM() throws {
        let files = try Self.regressionInputs()
        #expect(!files.isEmpty)
        for file in files {
            // The fuzz input is a selector byte (1 = PEM) followed by the PEM text.
            let pem = String(decoding: try Data(contentsOf: file).dropFirst(), as: UTF8.self)
            #expect(throws: JPKIVerifyError.self) { try CertificateInfo(pem: pem) }
            #expect(throws: JPKIVerifyError.self) { try CertificateLoader.certificates(fromPEMOrDER: Data(pem.utf8)) }
        }
    }

    @Test("valid PEM anchors still load")
    func validPEM() throws {
        let pem = try String(contentsOf: Fixtures.pki("auth-root-2023.pem"), encoding: .utf8)
        let info = try CertificateInfo(pem: pem)
        #expect(try CertificateInfo(der: info.der) == info)
    }
}
