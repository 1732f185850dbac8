import Foundation

/// Where an auth certificate stands in its validity period, and so what its card may still do
/// at a reception desk (jpki-facts §6: a card whose auth certificate expired still serves as an
/// insurance card for qualification data for 3 months after expiry; readers warn from 3 months
/// before expiry).
public enum CertificateStanding: Sendable, Equatable {
    /// Valid, and more than the warning period away from its end.
    case valid
    /// Valid, but it ends within the warning period: the holder should renew it.
    case expiringSoon(notAfter: Date, warningFrom: Date)
    /// Expired, within the grace period: qualification data may still be answered.
    case expiredInGrace(notAfter: Date, graceEnds: Date)
    /// Expired, the grace period is over: refused.
    case expiredPastGrace(notAfter: Date, graceEnded: Date)
    /// Not yet valid (notBefore in the future).
    case notYetValid(notBefore: Date)

    /// Stable code: `valid`, `expiring_soon`, `expired_in_grace`, `expired_past_grace`,
    /// `not_yet_valid`.
    public var code: String {
        switch self {
        case .valid: "valid"
        case .expiringSoon: "expiring_soon"
        case .expiredInGrace: "expired_in_grace"
        case .expiredPastGrace: "expired_past_grace"
        case .notYetValid: "not_yet_valid"
        }
    }
}

/// The calendar rules for ``CertificateStanding``.
///
/// "3 months" is computed in **calendar months in Japan's time zone** (Asia/Tokyo), with
/// Foundation's Gregorian calendar: the grace period ends at `notAfter` + 3 months (same day of
/// the month and time of day; a day the month does not have clamps to its last day, e.g.
/// 11-30 → 02-28), and the warning period starts at `notAfter` − 3 months by the same rule.
/// Boundaries: a certificate is expired strictly after `notAfter` (as the validity check says);
/// the grace period includes its end instant; the warning period includes its start instant.
/// The time is always passed in (``standing(notBefore:notAfter:at:)``), so callers inject their
/// clock and tests never depend on the real date.
public struct ExpiryPolicy: Sendable, Equatable {
    /// Calendar months after expiry during which qualification data is still answered.
    public var graceMonths: Int
    /// Calendar months before expiry from which a warning is given.
    public var warningMonths: Int
    /// The zone the calendar months are counted in.
    public var timeZone: TimeZone

    /// The JPKI rule: 3 months of grace, a warning from 3 months before, in Japan's zone.
    public static let jpki = ExpiryPolicy()

    /// Creates a policy (defaults: the JPKI rule).
    public init(graceMonths: Int = 3, warningMonths: Int = 3, timeZone: TimeZone = ExpiryPolicy.japan) {
        self.graceMonths = graceMonths
        self.warningMonths = warningMonths
        self.timeZone = timeZone
    }

    /// Asia/Tokyo from tzdata, or its fixed UTC+9 (Japan has no daylight saving).
    public static let japan: TimeZone =
        TimeZone(identifier: "Asia/Tokyo") ?? TimeZone(secondsFromGMT: 9 * 3600) ?? TimeZone.current

    var calendar: Calendar {
        var c = Calendar(identifier: .gregorian)
        c.timeZone = timeZone
        return c
    }

    /// `notAfter` + ``graceMonths`` calendar months.
    public func graceEnd(notAfter: Date) -> Date {
        calendar.date(byAdding: .month, value: graceMonths, to: notAfter) ?? notAfter
    }

    /// `notAfter` − ``warningMonths`` calendar months.
    public func warningStart(notAfter: Date) -> Date {
        calendar.date(byAdding: .month, value: -warningMonths, to: notAfter) ?? notAfter
    }

    /// The standing of a certificate with this validity period at `time`.
    public func standing(notBefore: Date? = nil, notAfter: Date, at time: Date) -> CertificateStanding {
        if let notBefore, time < notBefore { return .notYetValid(notBefore: notBefore) }
        if time > notAfter {
            let end = graceEnd(notAfter: notAfter)
            return time <= end
                ? .expiredInGrace(notAfter: notAfter, graceEnds: end)
                : .expiredPastGrace(notAfter: notAfter, graceEnded: end)
        }
        let from = warningStart(notAfter: notAfter)
        return time >= from ? .expiringSoon(notAfter: notAfter, warningFrom: from) : .valid
    }

    /// The standing of a parsed certificate at `time`.
    public func standing(of certificate: CertificateInfo, at time: Date) -> CertificateStanding {
        standing(notBefore: certificate.notBefore, notAfter: certificate.notAfter, at: time)
    }

    /// The calendar day of `date` in this policy's zone, `yyyy-MM-dd`.
    public func day(_ date: Date) -> String {
        let c = calendar.dateComponents([.year, .month, .day], from: date)
        func pad(_ v: Int?, _ n: Int) -> String {
            let s = String(v ?? 0)
            return String(repeating: "0", count: max(0, n - s.count)) + s
        }
        return "\(pad(c.year, 4))-\(pad(c.month, 2))-\(pad(c.day, 2))"
    }
}

extension VerificationReport {
    /// The verdict when the end entity's own expiry is forgiven: true when every check passes
    /// except `validity`, which failed **only** because the certificate at depth 0 has expired
    /// (code `expired`, detail `depth 0`; every CA certificate of the chain is in its validity
    /// period). Used for the grace period after an auth certificate's expiry
    /// (``CertificateStanding/expiredInGrace(notAfter:graceEnds:)``); never for possession alone.
    public var verdictForgivingEndEntityExpiry: Bool {
        if verdict { return true }
        guard !expectedChecks.isEmpty, !checks.isEmpty else { return false }
        func forgiven(_ c: VerificationCheck) -> Bool {
            guard c.id == "validity", case .failed(let code, _) = c.outcome else { return false }
            return code == "expired" && c.detail == "depth 0"
        }
        for id in expectedChecks {
            let matching = checks.filter { $0.id == id }
            guard !matching.isEmpty, matching.allSatisfy({ $0.outcome.isPassed || forgiven($0) }) else {
                return false
            }
        }
        for c in checks {
            if forgiven(c) { continue }
            if c.outcome.isFailed { return false }
            if c.required && !c.outcome.isPassed { return false }
        }
        return true
    }
}
