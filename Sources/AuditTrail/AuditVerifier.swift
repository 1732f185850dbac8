import Foundation

/// What is wrong with an audit log: the first bad line and a stable kind.
public struct AuditProblem: Error, Sendable, Equatable, CustomStringConvertible {
    /// Stable kinds (they appear in `jpkid audit verify`'s message).
    public enum Kind: String, Sendable {
        /// A line's bytes changed (its hash no longer matches the next line's `prev`), or it is
        /// not an audit line at all.
        case edited
        /// Sequence numbers jump: lines were removed.
        case removed
        /// Sequence numbers go back: lines were swapped, moved or repeated.
        case reordered
        /// The log ends early: a torn last line, or lines after the signed head are missing.
        case truncated
        /// A checkpoint's signature does not verify, or names another key.
        case badSignature = "bad_signature"
        /// The signed head does not match the log: its tail was rewritten.
        case forged
        /// A file cannot be read.
        case unreadable
    }

    /// Kind.
    public var kind: Kind
    /// The file.
    public var file: String
    /// 1-based line number in the file (0: the file as a whole).
    public var line: Int
    /// The line's sequence number, when known.
    public var seq: UInt64?
    /// What is wrong.
    public var message: String

    public var description: String {
        "\(file):\(line)\(seq.map { " (seq \($0))" } ?? ""): \(kind.rawValue): \(message)"
    }
}

/// The outcome of ``AuditVerifier/verify(files:publicKey:headFile:)``.
public struct AuditVerification: Sendable {
    /// Files read, in order.
    public var files: [String] = []
    /// Lines checked.
    public var lines = 0
    /// First and last sequence numbers.
    public var firstSeq: UInt64?
    public var lastSeq: UInt64?
    /// Checkpoints whose signature verified.
    public var checkpoints = 0
    /// Sequence number of the last signed checkpoint.
    public var lastSignedSeq: UInt64?
    /// Things an operator should know that are not tampering (a torn line a restart set aside,
    /// files removed by retention, lines not yet signed).
    public var notes: [String] = []
    /// The first problem found; nil when the log verifies.
    public var problem: AuditProblem?
}

/// Checks an audit log: hash chain, sequence numbers and checkpoint signatures across rotated
/// files, and the signed head (`PATH.head`).
public enum AuditVerifier {
    /// Verifies `files` (oldest first). Without `publicKey`, checkpoint signatures cannot be
    /// checked and that is a problem (a forger could add their own).
    public static func verify(files: [String], publicKey: AuditPublicKey?, headFile: String?) -> AuditVerification {
        var v = AuditVerification()
        v.files = files
        var expected: UInt64?
        var prevHash: String?
        var prevLoc: (file: String, line: Int)?
        var checkpointLines: [UInt64: Data] = [:]
        var pendingTorn: (file: String, bytes: Int, line: Int)?
        func fail(_ kind: AuditProblem.Kind, _ file: String, _ line: Int, _ seq: UInt64?, _ message: String)
            -> AuditVerification
        {
            v.problem = AuditProblem(kind: kind, file: file, line: line, seq: seq, message: message)
            return v
        }
        for (fileIndex, file) in files.enumerated() {
            guard let data = FileManager.default.contents(atPath: file) else {
                return fail(.unreadable, file, 0, nil, "cannot read: \(errnoText())")
            }
            var lines = data.split(separator: 0x0A, omittingEmptySubsequences: false).map { Data($0) }
            let torn = lines.last.map { !$0.isEmpty } ?? false
            let tornBytes = torn ? lines.last!.count : 0
            lines.removeLast()
            if torn {
                // Checked after the file's complete lines (a torn line is the last thing in it).
            }
            let seqs = lines.map { AuditFormat.parse($0)?.seq }
            for (i, bytes) in lines.enumerated() {
                let n = i + 1
                guard let line = AuditFormat.parse(bytes) else {
                    return fail(
                        .edited, file, n, nil, "not an audit line (no seq/prev, or not JSON): edited or corrupted")
                }
                if bytes.isEmpty {
                    return fail(.edited, file, n, nil, "empty line")
                }
                if let torn = pendingTorn {
                    // The previous file ended in a torn line: this file's first line must say so.
                    let said = line.fields["previousFileTornBytes"] as? String
                    if i != 0 || line.operation != "audit-file-start" || said != String(torn.bytes) {
                        return fail(
                            .truncated, torn.file, torn.line, nil,
                            "the file ends in a torn line (\(torn.bytes) bytes without a newline) that the next file does not acknowledge: truncated or edited"
                        )
                    }
                    v.notes.append(
                        "\(torn.file):\(torn.line): a torn line of \(torn.bytes) bytes (a crash during a write, set aside by the restart that followed)"
                    )
                    pendingTorn = nil
                }
                if let exp = expected {
                    if line.seq != exp {
                        if line.seq < exp {
                            return fail(
                                .reordered, file, n, line.seq,
                                "seq \(line.seq) after seq \(exp - 1): lines were reordered or repeated")
                        }
                        if seqs[(i + 1)...].contains(exp) {
                            return fail(
                                .reordered, file, n, line.seq,
                                "seq \(line.seq) where seq \(exp) was due (it comes later): lines were reordered")
                        }
                        let missing = line.seq - exp == 1 ? "seq \(exp) is" : "seq \(exp)…\(line.seq - 1) are"
                        return fail(.removed, file, n, line.seq, "\(missing) missing: lines were removed")
                    }
                    if line.prev != prevHash {
                        if line.operation == "checkpoint" {
                            return fail(
                                .forged, file, n, line.seq,
                                "this signed checkpoint does not follow the line before it: the lines before were rewritten"
                            )
                        }
                        let at = prevLoc!
                        return fail(
                            .edited, at.file, at.line, line.seq - 1,
                            "the line's hash does not match the prev of the next line: the line was edited")
                    }
                } else {
                    v.firstSeq = line.seq
                    if line.seq != 1 || line.prev != AuditFormat.zeroHash {
                        v.notes.append(
                            "the log starts at seq \(line.seq) (\(file)): earlier files are not here (retention?), the link to them is not checked"
                        )
                    }
                }
                if fileIndex > 0 && i == 0 && line.operation != "audit-file-start" {
                    return fail(.edited, file, n, line.seq, "a rotated file must start with an audit-file-start line")
                }
                if line.operation == "checkpoint" {
                    guard let publicKey else {
                        return fail(.badSignature, file, n, line.seq, "no public key to check the checkpoint with")
                    }
                    let key = line.fields["key"] as? String ?? ""
                    guard key == publicKey.hex else {
                        return fail(
                            .badSignature, file, n, line.seq, "checkpoint signed by another key (\(key.prefix(16))…)")
                    }
                    let msg = checkpointMessage(seq: line.seq, prev: line.prev, time: line.time ?? "")
                    guard publicKey.verify(msg, signature: line.fields["signature"] as? String ?? "") else {
                        return fail(.badSignature, file, n, line.seq, "the checkpoint's signature does not verify")
                    }
                    v.checkpoints += 1
                    v.lastSignedSeq = line.seq
                    checkpointLines[line.seq] = bytes
                }
                expected = line.seq + 1
                prevHash = line.hash
                prevLoc = (file, n)
                v.lastSeq = line.seq
                v.lines += 1
            }
            if torn {
                pendingTorn = (file, tornBytes, lines.count + 1)
            }
        }
        if let torn = pendingTorn {
            return fail(
                .truncated, torn.file, torn.line, nil,
                "the file ends in a torn line (\(torn.bytes) bytes without a newline): truncated, or a crash during a write that jpkid has not yet set aside"
            )
        }
        // The signed head: the last checkpoint jpkid wrote must be in the log, byte for byte.
        if let headFile {
            if let data = FileManager.default.contents(atPath: headFile), let raw = AuditFormat.lastLine(in: data),
                let head = AuditFormat.parse(raw)
            {
                let key = head.fields["key"] as? String ?? ""
                let sig = head.fields["signature"] as? String ?? ""
                guard let publicKey, key == publicKey.hex,
                    publicKey.verify(
                        checkpointMessage(seq: head.seq, prev: head.prev, time: head.time ?? ""), signature: sig)
                else {
                    return fail(.badSignature, headFile, 1, head.seq, "the signed head's signature does not verify")
                }
                if let last = v.lastSeq, head.seq > last {
                    return fail(
                        .truncated, files.last ?? headFile, 0, head.seq,
                        "the signed head is seq \(head.seq) but the log ends at seq \(last): lines were removed from the end"
                    )
                } else if let first = v.firstSeq, head.seq >= first {
                    if checkpointLines[head.seq] != raw {
                        return fail(
                            .forged, files.last ?? headFile, 0, head.seq,
                            "the log's line seq \(head.seq) is not the signed head: the tail was rewritten")
                    }
                } else if v.lastSeq == nil {
                    return fail(
                        .truncated, headFile, 0, head.seq, "the signed head is seq \(head.seq) but the log is empty")
                }
            } else if FileManager.default.fileExists(atPath: headFile) {
                return fail(.edited, headFile, 1, nil, "the head file is not a checkpoint line")
            } else if v.checkpoints > 0 {
                return fail(
                    .truncated, headFile, 0, nil,
                    "the signed head file is missing although the log has checkpoints: its end cannot be checked")
            }
        }
        if let last = v.lastSeq {
            let unsigned = last - (v.lastSignedSeq ?? (v.firstSeq ?? 1) - 1)
            if unsigned > 0 {
                v.notes.append(
                    "\(unsigned) line(s) after the last checkpoint are chained but not yet signed (the next checkpoint signs them)"
                )
            }
        }
        return v
    }
}
