import Foundation

/// The outcome of one check.
public enum CheckOutcome: Sendable, Codable, Equatable {
    /// The check ran and passed.
    case passed
    /// The check ran and failed: stable reason `code` and a message without personal data.
    case failed(code: String, message: String)
    /// The check could not give a definite answer and policy says to continue (e.g. soft-fail
    /// revocation). Never counts as passed for a required check.
    case warning(code: String, message: String)
    /// The check was not run (input missing, or an earlier failure made it meaningless).
    case notChecked(reason: String)

    /// True only for ``passed``.
    public var isPassed: Bool { if case .passed = self { true } else { false } }
    /// True only for ``failed(code:message:)``.
    public var isFailed: Bool { if case .failed = self { true } else { false } }
}

/// Revocation status of a certificate from one source.
public enum RevocationStatus: Sendable, Codable, Equatable {
    /// Not revoked according to a verified, current source.
    case good
    /// Revoked (CRLReason name, e.g. `keyCompromise`, when given; revocation date when given).
    case revoked(reason: String?, date: Date?)
    /// The responder does not know the certificate.
    case unknown
    /// No usable answer (no source, stale CRL, responder down, bad signature…): why.
    case unavailable(String)
}

/// One check of a report.
public struct VerificationCheck: Sendable, Codable, Equatable {
    /// Stable identifier: `parse`, `chain`, `validity`, `keyUsage`, `basicConstraints`, `policy`,
    /// `crl`, `ocsp`, `revocation`, `challengeSignature`, `documentSignature`, `textCVCertificate`,
    /// `textMyNumberDigest`, `textBasicFourDigest`, `textIntegrity`, `visualCVCertificate`,
    /// `visualIntegrity`.
    public let id: String
    /// What happened.
    public let outcome: CheckOutcome
    /// Whether the verdict needs this check to pass.
    public let required: Bool
    /// Extra non-personal detail (e.g. OpenSSL verify error text).
    public let detail: String?
    /// Revocation status, for `crl` / `ocsp` checks.
    public let revocation: RevocationStatus?

    init(
        id: String, outcome: CheckOutcome, required: Bool = true, detail: String? = nil,
        revocation: RevocationStatus? = nil
    ) {
        self.id = id
        self.outcome = outcome
        self.required = required
        self.detail = detail
        self.revocation = revocation
    }
}

/// The result of a verification: a list of checks and a verdict **computed** from them.
///
/// The verdict is true only when every check in ``expectedChecks`` is present and passed, every
/// other required check passed, and no check failed. Values are only created by this module's
/// verifiers, which always list the checks their operation needs, so a path that skips a check
/// yields `verdict == false`.
public struct VerificationReport: Sendable, Codable, Equatable {
    /// The checks that ran (or were explicitly not run), in order.
    public let checks: [VerificationCheck]
    /// The check ids that this kind of verification must contain, each passed.
    public let expectedChecks: [String]
    /// The time the verification was evaluated at.
    public let evaluatedAt: Date

    init(checks: [VerificationCheck], expectedChecks: [String], evaluatedAt: Date) {
        self.checks = checks
        self.expectedChecks = expectedChecks
        self.evaluatedAt = evaluatedAt
    }

    /// True only when every expected and every required check ran and passed and none failed.
    public var verdict: Bool {
        guard !expectedChecks.isEmpty, !checks.isEmpty else { return false }
        for id in expectedChecks {
            let matching = checks.filter { $0.id == id }
            guard !matching.isEmpty, matching.allSatisfy({ $0.outcome.isPassed }) else {
                return false
            }
        }
        for c in checks {
            if c.outcome.isFailed { return false }
            if c.required && !c.outcome.isPassed { return false }
        }
        return true
    }

    /// Warnings (non-required checks that ended as warnings).
    public var warnings: [VerificationCheck] {
        checks.filter { if case .warning = $0.outcome { true } else { false } }
    }

    /// Failed checks.
    public var failures: [VerificationCheck] { checks.filter { $0.outcome.isFailed } }

    /// The check with this id (first one).
    public func check(_ id: String) -> VerificationCheck? { checks.first { $0.id == id } }

    /// Combines reports (e.g. certificate + challenge): checks and expectations are concatenated.
    public func merged(with other: VerificationReport) -> VerificationReport {
        VerificationReport(
            checks: checks + other.checks, expectedChecks: expectedChecks + other.expectedChecks,
            evaluatedAt: evaluatedAt)
    }

    private enum CodingKeys: String, CodingKey { case checks, expectedChecks, evaluatedAt, verdict }

    /// Decodes; a stored `verdict` is ignored (it is always recomputed).
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        checks = try c.decode([VerificationCheck].self, forKey: .checks)
        expectedChecks = try c.decode([String].self, forKey: .expectedChecks)
        evaluatedAt = try c.decode(Date.self, forKey: .evaluatedAt)
    }

    /// Encodes, including the computed `verdict` for consumers.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(checks, forKey: .checks)
        try c.encode(expectedChecks, forKey: .expectedChecks)
        try c.encode(evaluatedAt, forKey: .evaluatedAt)
        try c.encode(verdict, forKey: .verdict)
    }
}
