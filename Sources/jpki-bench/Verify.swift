import ArgumentParser
import Foundation
import JPKI
import JPKIVerify
import SmartCard
import SmartCardPCSC

/// `jpki-bench verify`: what `card-inspect verify` does, through the library directly — connect,
/// read the auth certificate by its exact DER length (one transaction), verify it with OpenSSL
/// against the trust directory's auth anchor and CRL. Wall time is measured by `bench/run`
/// around the whole process (like pkcs15-tool's); the in-process split is reported too.
struct VerifyBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify", abstract: "Read + verify the auth certificate through the library.")

    /// Root generations of the fixture PKI (same DN, one key each).
    static let generations = ["2015", "2019", "2023"]

    @Option(help: "Reader name.") var reader: String
    @Option(help: "Trust directory (auth-root-<generation>.pem and .crl.pem of 2015, 2019, 2023).") var trust: String

    func run() async throws {
        let clock = ContinuousClock()
        let t0 = clock.now
        let dir = URL(fileURLWithPath: trust)
        let verifier = try CertificateVerifier(
            trust: TrustConfiguration(
                authAnchors: Self.generations.map { dir.appendingPathComponent("auth-root-\($0).pem") }, signAnchors: []
            ),
            revocation: RevocationConfiguration(
                crlFiles: Self.generations.map { dir.appendingPathComponent("auth-root-\($0).crl.pem") }, ocsp: nil,
                policy: .hardFail))
        let t1 = clock.now
        let card = try await PCSCCard.connect(reader: reader)
        let (der, apdus): ([UInt8], Int)
        do {
            (der, apdus) = try await card.perform { channel in
                let cert = try MyNumberCard(channel: channel).readCertificate(.auth)
                return (cert.value.der, channel.apduCount)
            }
        } catch {
            await card.disconnect()
            throw error
        }
        await card.disconnect()
        let t2 = clock.now
        let report = await verifier.verify(certificateDER: Data(der), purpose: .auth)
        let t3 = clock.now
        emit([
            "tool": "lib_verify", "apdus": apdus, "verdict": report.verdict, "certificate_bytes": der.count,
            "load_trust_us": micros(t1 - t0), "card_us": micros(t2 - t1), "verify_us": micros(t3 - t2),
        ])
        if !report.verdict { throw ExitCode(3) }
    }
}
