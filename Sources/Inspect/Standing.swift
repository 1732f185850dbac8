import ArgumentParser
import Foundation
import JPKIVerify

/// `--at TIME`: the verification time (certificate validity, grace period), default now.
public struct TimeOptions: ParsableArguments {
    /// `--at`.
    @Option(
        name: .customLong("at"),
        help: ArgumentHelp(
            "Verification time, ISO 8601 (e.g. 2027-01-15T09:00:00+09:00); default: now.", valueName: "time"))
    public var at: String?

    /// Creates the defaults.
    public init() {}

    /// The time to verify at: `--at` or now.
    public func date() throws -> Date {
        guard let at else { return Date() }
        let f = ISO8601DateFormatter()
        guard let d = f.date(from: at) else {
            throw ValidationError("--at must be an ISO 8601 time such as 2027-01-15T09:00:00+09:00")
        }
        return d
    }
}

/// The auth certificate's standing (``JPKIVerify/CertificateStanding``) as text and JSON.
enum StandingText {
    static func text(_ s: CertificateStanding) -> String {
        let p = ExpiryPolicy.jpki
        return switch s {
        case .valid: "valid"
        case .expiringSoon(let notAfter, _):
            "expiring soon: valid until \(p.day(notAfter)) — renew it (warning from 3 months before)"
        case .expiredInGrace(let notAfter, let ends):
            "expired \(p.day(notAfter)), in the grace period until \(p.day(ends)): qualification data only"
        case .expiredPastGrace(let notAfter, let ended):
            "expired \(p.day(notAfter)), grace period ended \(p.day(ended)): refused"
        case .notYetValid(let notBefore): "not yet valid (from \(p.day(notBefore)))"
        }
    }

    static func json(_ s: CertificateStanding) -> JSON {
        let p = ExpiryPolicy.jpki
        var fields: [(String, JSON)] = [("code", .string(s.code))]
        switch s {
        case .valid: break
        case .expiringSoon(let notAfter, let from):
            fields += [("notAfter", .string(p.day(notAfter))), ("warningFrom", .string(p.day(from)))]
        case .expiredInGrace(let notAfter, let ends):
            fields += [("notAfter", .string(p.day(notAfter))), ("graceEndsOn", .string(p.day(ends)))]
        case .expiredPastGrace(let notAfter, let ended):
            fields += [("notAfter", .string(p.day(notAfter))), ("graceEndedOn", .string(p.day(ended)))]
        case .notYetValid(let notBefore): fields += [("notBefore", .string(p.day(notBefore)))]
        }
        return .object(fields)
    }
}
