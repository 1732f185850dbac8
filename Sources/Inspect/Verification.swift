import Foundation
import JPKI
import JPKIVerify
import SmartCard
import TerminalIO

/// A trust directory (`verify --trust DIR`): every `*.pem` / `*.crt` file at its top level is
/// read; self-issued CA certificates become anchors (for both auth and sign certificates,
/// the certificate policy tells them apart) and `X509 CRL` files become CRLs. Other
/// certificates (e.g. an OCSP signer) are ignored. Nothing read from a card is ever an anchor.
public struct TrustDirectory: Sendable {
    /// The directory.
    public let path: String
    /// Anchor files, sorted.
    public let anchors: [URL]
    /// CRL files, sorted.
    public let crls: [URL]
    /// Text-AP and visual-AP CV issuer keys (`cv/text-cv-issuer.pub.pem`,
    /// `cv/visual-cv-issuer.pub.pem`), when present.
    public let textIssuerKey: URL?
    /// See ``textIssuerKey``.
    public let visualIssuerKey: URL?

    /// Loads the directory; a missing directory or one without anchors is a file error.
    public init(path: String) throws(InspectError) {
        self.path = path
        let fm = FileManager.default
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue,
            let names = try? fm.contentsOfDirectory(atPath: path)
        else {
            throw InspectError(.fileError, "trust_unreadable", "cannot read trust directory \(path)")
        }
        var anchors: [URL] = []
        var crls: [URL] = []
        let base = URL(fileURLWithPath: path)
        for name in names.sorted() where name.hasSuffix(".pem") || name.hasSuffix(".crt") {
            let url = base.appendingPathComponent(name)
            guard let text = try? String(contentsOf: url, encoding: .utf8) else { continue }
            if text.contains("-----BEGIN X509 CRL-----") {
                crls.append(url)
            } else if text.contains("-----BEGIN CERTIFICATE-----"),
                let info = try? CertificateInfo(pem: text), info.isSelfIssued,
                info.basicConstraints?.isCA == true
            {
                anchors.append(url)
            }
        }
        guard !anchors.isEmpty else {
            throw InspectError(.fileError, "no_trust_anchors", "no CA certificate (PEM) found in \(path)")
        }
        self.anchors = anchors
        self.crls = crls
        let text = base.appendingPathComponent("cv/text-cv-issuer.pub.pem")
        let visual = base.appendingPathComponent("cv/visual-cv-issuer.pub.pem")
        textIssuerKey = fm.fileExists(atPath: text.path) ? text : nil
        visualIssuerKey = fm.fileExists(atPath: visual.path) ? visual : nil
    }

    /// A verifier with these anchors and CRLs (hard-fail revocation when CRLs are present).
    public func verifier() throws(InspectError) -> CertificateVerifier {
        do {
            return try CertificateVerifier(
                trust: TrustConfiguration(authAnchors: anchors, signAnchors: anchors),
                revocation: RevocationConfiguration(crlFiles: crls, policy: .hardFail))
        } catch {
            throw InspectError(.fileError, error.code, "trust directory \(path): \(error.message)")
        }
    }
}

/// Certificates: names, summaries and PEM.
public enum CertificateText {
    /// `auth`, `auth-ca`, `sign`, `sign-ca` (file names and JSON `kind`).
    public static func kindCode(_ k: JPKICertificateKind) -> String {
        switch k {
        case .auth: "auth"
        case .authCA: "auth-ca"
        case .sign: "sign"
        case .signCA: "sign-ca"
        }
    }

    /// The Japanese name.
    public static func japanese(_ k: JPKICertificateKind) -> String {
        switch k {
        case .auth: "利用者証明用電子証明書"
        case .authCA: "利用者証明用CA証明書"
        case .sign: "署名用電子証明書"
        case .signCA: "署名用CA証明書"
        }
    }

    /// The order certificates are listed in.
    public static let order: [JPKICertificateKind] = [.auth, .authCA, .sign, .signCA]

    /// PEM (`CERTIFICATE`, 64-character lines).
    public static func pem(_ der: [UInt8]) -> String {
        let b64 = Data(der).base64EncodedString()
        var lines: [String] = ["-----BEGIN CERTIFICATE-----"]
        var i = b64.startIndex
        while i < b64.endIndex {
            let j = b64.index(i, offsetBy: 64, limitedBy: b64.endIndex) ?? b64.endIndex
            lines.append(String(b64[i..<j]))
            i = j
        }
        lines.append("-----END CERTIFICATE-----")
        return lines.joined(separator: "\n") + "\n"
    }

    /// The JSON summary of one certificate (`der` base64 included when asked).
    public static func json(_ kind: JPKICertificateKind, der: [UInt8], includeDER: Bool) -> JSON {
        var pairs: [(String, JSON)] = [
            ("kind", .string(kindCode(kind))), ("file", .string(hex4(kind.fileID))),
            ("length", .int(der.count)),
        ]
        if let info = try? CertificateInfo(der: Data(der)) {
            pairs += [
                ("subject", .string(info.subject.rfc2253)), ("issuer", .string(info.issuer.rfc2253)),
                ("serial", .string(info.serialNumberHex)),
                // The issuer's key (AKI): with `serial`, the registry's card key (CSV `issuerKeyID`).
                ("issuerKeyID", info.authorityKeyIdentifier.map { .string(hex(Array($0)).uppercased()) } ?? .null),
                ("notBefore", .string(iso8601(info.notBefore))), ("notAfter", .string(iso8601(info.notAfter))),
                ("sha256", .string(hex(Array(info.sha256Fingerprint)))),
            ]
        } else {
            pairs += [
                ("subject", .null), ("issuer", .null), ("serial", .null), ("issuerKeyID", .null), ("notBefore", .null),
                ("notAfter", .null), ("sha256", .string(hex(SHA256.hash(der)))),
            ]
        }
        if includeDER { pairs.append(("der", .string(Data(der).base64EncodedString()))) }
        return .object(pairs)
    }

    /// A table row: kind, Japanese name, subject, serial, valid until.
    public static func row(_ kind: JPKICertificateKind, der: [UInt8]) -> [String] {
        guard let info = try? CertificateInfo(der: Data(der)) else {
            return [kindCode(kind), japanese(kind), "(does not parse)", "", ""]
        }
        return [
            kindCode(kind), japanese(kind), info.subject.rfc2253, info.serialNumberHex,
            day(info.notAfter),
        ]
    }
}

/// Verification reports as JSON and text.
public enum ReportText {
    /// `{"verdict":…,"checks":[{"id","outcome","required","code","message","detail","revocation"}]}`.
    public static func json(_ r: VerificationReport) -> JSON {
        .object([
            ("verdict", .bool(r.verdict)),
            ("checks", .array(r.checks.map(check))),
        ])
    }

    static func check(_ c: VerificationCheck) -> JSON {
        let (outcome, code, message) = parts(c.outcome)
        return .object([
            ("id", .string(c.id)), ("outcome", .string(outcome)), ("required", .bool(c.required)),
            ("code", .string(code)), ("message", .string(message)), ("detail", .string(c.detail)),
            ("revocation", .string(c.revocation.map(revocation))),
        ])
    }

    static func parts(_ o: CheckOutcome) -> (String, String?, String?) {
        switch o {
        case .passed: ("passed", nil, nil)
        case .failed(let code, let message): ("failed", code, message)
        case .warning(let code, let message): ("warning", code, message)
        case .notChecked(let reason): ("not-checked", nil, reason)
        }
    }

    /// `good`, `revoked`, `revoked (keyCompromise, 2025-06-01)`, `unknown`, `unavailable: …`.
    public static func revocation(_ r: RevocationStatus) -> String {
        switch r {
        case .good: "good"
        case .revoked(let reason, let date):
            "revoked"
                + ([reason, date.map(day)].compactMap { $0 }.isEmpty
                    ? "" : " (" + [reason, date.map(day)].compactMap { $0 }.joined(separator: ", ") + ")")
        case .unknown: "unknown"
        case .unavailable(let why): "unavailable: \(why)"
        }
    }

    /// A table of the checks and a verdict line.
    public static func text(_ r: VerificationReport) -> String {
        var t = TextTable(headers: ["Check", "Result", "Detail"])
        for c in r.checks {
            let (outcome, code, message) = parts(c.outcome)
            var detail = [c.revocation.map(revocation), message, code.map { "[\($0)]" }].compactMap { $0 }
            if detail.isEmpty, let d = c.detail { detail = [d] }
            t.rows.append([c.id, outcome, detail.joined(separator: " ")])
        }
        let verdict =
            r.verdict
            ? "Verdict: VERIFIED"
            : "Verdict: NOT VERIFIED (" + failedSummary(r) + ")"
        return t.render() + "\n\n" + verdict
    }

    static func failedSummary(_ r: VerificationReport) -> String {
        let bad = r.checks.filter { !$0.outcome.isPassed && ($0.required || $0.outcome.isFailed) }
        return bad.isEmpty ? "incomplete" : bad.map(\.id).joined(separator: ", ") + " not passed"
    }
}

/// Upper-case hex.
func hex(_ bytes: [UInt8]) -> String { bytes.hexString }

/// `000A`.
func hex4(_ v: UInt16) -> String { [UInt8(v >> 8), UInt8(v & 0xFF)].hexString }

/// ISO 8601 in UTC, seconds precision (`2026-11-30T12:00:00Z`), by `gmtime_r`: creating an
/// ISO8601DateFormatter loads ICU's calendar, time-zone and number-format data, ~5 % of
/// `card-inspect verify`'s CPU time (perf, bench/run start-up study).
func iso8601(_ d: Date) -> String {
    var t = time_t(d.timeIntervalSince1970.rounded(.down))
    var parts = tm()
    gmtime_r(&t, &parts)
    func pad(_ v: Int32, _ width: Int) -> String {
        let digits = String(v)
        return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }
    return pad(parts.tm_year + 1900, 4) + "-" + pad(parts.tm_mon + 1, 2) + "-" + pad(parts.tm_mday, 2) + "T"
        + pad(parts.tm_hour, 2) + ":" + pad(parts.tm_min, 2) + ":" + pad(parts.tm_sec, 2) + "Z"
}

/// `YYYY-MM-DD` in UTC.
func day(_ d: Date) -> String { String(iso8601(d).prefix(10)) }
