import ArgumentParser
import Eligibility
import Foundation

extension RegistryCommand {
    /// `jpkid registry reference-numbers [--output DIR]`: the 照会番号 bulk registration file
    /// (`OQSmuimm01req_*.xml`) for the qualification-check terminal, one entry per active record
    /// (照会番号 = the registry's record id), so the face reader's results carry our patient id.
    struct ReferenceNumbers: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "reference-numbers",
            abstract: "Write the 照会番号 registration file (OQSmuimm01req_*.xml) for the terminal (provider oqs).",
            discussion:
                "Written atomically into --output (default: the terminal folder's req/). See docs/oqs-bridge.md.")

        @OptionGroup var options: RegistryOptions

        @Option(help: "Directory to write into (default: eligibility.oqs.folder + /req).")
        var output: String?

        func run() async throws {
            let cfg = try options.load()
            guard let o = cfg.eligibility.oqs, cfg.eligibility.provider == .oqs else {
                fail("eligibility_config_invalid: eligibility.provider must be oqs with an oqs section")
                throw ExitCode(2)
            }
            let audit = try options.audit(cfg)
            let store = try await options.store(cfg)
            let entries: [RegistryEntry]
            do { entries = try await store.list() } catch {
                await store.shutdown()
                fail("\(error.code): \(error)")
                throw ExitCode(1)
            }
            await store.shutdown()
            let registration = OQSReferenceRegistration(
                identifier: OQSTerminal(configuration: o.terminal).newIdentifier(),
                medicalInstitutionCode: o.medicalInstitutionCode,
                entries: entries.filter { $0.record.status == .active }.map {
                    .init(
                        referenceNumber: String($0.id), insurerNumber: $0.record.insurerNumber,
                        symbol: $0.record.symbol, number: $0.record.number, branch: $0.record.branch)
                })
            let dir = output ?? o.terminal.requestDirectory
            if let e = OQSTerminal.writeAtomically(registration.document, directory: dir, name: registration.fileName) {
                await audit.failed("registry-reference-numbers", outcome: e.code)
                fail("\(e.code): \(e)")
                throw ExitCode(1)
            }
            // The file discloses insurance numbers: it stays only if its audit line is on disk.
            do {
                try await audit.recordOperation("registry-reference-numbers", rows: registration.entries.count)
            } catch {
                unlink(dir + "/" + registration.fileName)
                fail("audit_unavailable: the export was withdrawn because it could not be audited: \(error)")
                throw ExitCode(1)
            }
            say("\(dir)/\(registration.fileName): \(registration.entries.count) patients")
        }
    }
}
