import CardSimulator
import Foundation
import JPKI
import SmartCard
import TestBench
import Testing

/// Exact APDU bytes and counts of each operation, against a scripted card.
@Suite("Operations (scripted card)")
struct ScriptedOperationTests {
    let cert = fakeCertificate(total: 1042)

    @Test func authCertificateExtendedIsFourAPDUs() throws {
        let t = ScriptedTransport(authCertSteps(cert))
        let channel = CardChannel(transport: t)
        let r = try MyNumberCard(channel: channel).readCertificate(.auth)
        #expect(r.value.der == cert)
        #expect(r.card == CardIdentity(authCertificateDER: cert))
        #expect(r.card.fingerprint == SHA256.hash(cert))
        #expect(t.isComplete, "\(t.mismatches)")
        #expect(channel.apduCount == 4)
        #expect(t.transactionLog == ["begin", "end"])
        print("APDU count auth cert (scripted, extended): \(channel.apduCount)")
    }

    @Test func authCertificateShortReadsWhenTransportHasNoExtended() throws {
        // 1042 bytes: 4 + 256 + 256 + 256 + 256 + 14.
        var s = steps([
            (h(selectJPKI), h(ok)), (h("00A4020C02000A"), h(ok)),
            (h("00B0000004"), Array(cert[0..<4]) + h(ok)),
        ])
        var offset = 4
        while offset < cert.count {
            let n = min(256, cert.count - offset)
            s += steps([
                (
                    [0x00, 0xB0, UInt8(offset >> 8), UInt8(offset & 0xFF), UInt8(n & 0xFF)],
                    Array(cert[offset..<offset + n]) + h(ok)
                )
            ])
            offset += n
        }
        let t = ScriptedTransport(s, supportsExtendedLength: false)
        let channel = CardChannel(transport: t)
        let r = try MyNumberCard(channel: channel).readCertificate(.auth)
        #expect(r.value.der == cert)
        #expect(t.isComplete, "\(t.mismatches)")
        #expect(channel.apduCount == 2 + 1 + 5)
        print("APDU count auth cert (scripted, short reads): \(channel.apduCount)")
    }

    @Test func extendedRefusedWith6700FallsBackToShortReads() throws {
        let small = fakeCertificate(total: 600)
        let t = ScriptedTransport(
            steps([
                (h(selectJPKI), h(ok)), (h("00A4020C02000A"), h(ok)),
                (h("00B0000004"), Array(small[0..<4]) + h(ok)),
                (h("00B00004000254"), h("6700")),
                (h("00B0000400"), Array(small[4..<260]) + h(ok)),
                (h("00B0010400"), Array(small[260..<516]) + h(ok)),
                (h("00B0020454"), Array(small[516...]) + h(ok)),
            ]))
        let channel = CardChannel(transport: t)
        let r = try MyNumberCard(channel: channel).readCertificate(.auth)
        #expect(r.value.der == small)
        #expect(t.isComplete, "\(t.mismatches)")
        #expect(channel.apduCount == 7)
    }

    @Test func extendedAnswered6C00FallsBackToShortReads() throws {
        // The channel re-sends with Le=00 on 6C00; the rest is then read in short chunks.
        let small = fakeCertificate(total: 600)
        let t = ScriptedTransport(
            steps([
                (h(selectJPKI), h(ok)), (h("00A4020C02000A"), h(ok)),
                (h("00B0000004"), Array(small[0..<4]) + h(ok)),
                (h("00B00004000254"), h("6C00")),
                (h("00B0000400"), Array(small[4..<260]) + h(ok)),
                (h("00B0010400"), Array(small[260..<516]) + h(ok)),
                (h("00B0020454"), Array(small[516...]) + h(ok)),
            ]))
        let channel = CardChannel(transport: t)
        #expect(try MyNumberCard(channel: channel).readCertificate(.auth).value.der == small)
        #expect(t.isComplete, "\(t.mismatches)")
    }

    @Test(arguments: [
        // 30 81 LL: 3-byte header, so the first 4 bytes hold 1 content byte.
        [UInt8]([0x30, 0x81, 0x90]) + [UInt8](repeating: 0xAB, count: 0x90),
        // 30 LL: 2-byte header.
        [UInt8]([0x30, 0x10]) + [UInt8](repeating: 0xCD, count: 0x10),
    ])
    func shortDERHeaders(der: [UInt8]) throws {
        let rest = der.count - 4
        let t = ScriptedTransport(
            steps([
                (h(selectJPKI), h(ok)), (h("00A4020C02000A"), h(ok)),
                (h("00B0000004"), Array(der[0..<4]) + h(ok)),
                (h("00B00004") + [UInt8(rest)], Array(der[4...]) + h(ok)),
            ]))
        let channel = CardChannel(transport: t)
        #expect(try MyNumberCard(channel: channel).readCertificate(.auth).value.der == der)
        #expect(t.isComplete, "\(t.mismatches)")
    }

    @Test func longHeaderNeedsOneMoreRead() throws {
        // 30 83 00 01 00: 5-byte header, the 4-byte first read is one short.
        let der = [0x30, 0x83, 0x00, 0x01, 0x00] + [UInt8](repeating: 0x11, count: 256)
        let t = ScriptedTransport(
            steps([
                (h(selectJPKI), h(ok)), (h("00A4020C02000A"), h(ok)),
                (h("00B0000004"), Array(der[0..<4]) + h(ok)),
                (h("00B0000404"), Array(der[4..<8]) + h(ok)),
                (h("00B00008FD"), Array(der[8...]) + h(ok)),
            ]))
        let channel = CardChannel(transport: t)
        #expect(try MyNumberCard(channel: channel).readCertificate(.auth).value.der == der)
        #expect(t.isComplete, "\(t.mismatches)")
    }

    @Test func signCertificateWithoutPINIsTypedPinRequired() throws {
        let t = ScriptedTransport(
            authCertSteps(cert)
                + steps([(h("00A4020C020001"), h(ok)), (h("00B0000004"), h("6982"))]))
        let channel = CardChannel(transport: t)
        #expect(throws: JPKIError.pinRequired(.sign)) {
            try MyNumberCard(channel: channel).readCertificate(.sign)
        }
        #expect(t.isComplete, "\(t.mismatches)")
    }

    @Test func signCertificateWithPIN() throws {
        let signCert = fakeCertificate(total: 300, seed: 9)
        let t = ScriptedTransport(
            authCertSteps(cert)
                + steps([
                    (h("00A4020C02001B"), h("63C5"))
                ]))
        // 63C5 to SELECT is nonsense: it must be reported as a typed error and no VERIFY sent.
        let channel = CardChannel(transport: t)
        #expect(throws: JPKIError.unexpectedStatus(StatusWord(0x63C5), operation: "SELECT EF 001B")) {
            try MyNumberCard(channel: channel).readCertificate(.sign, signPIN: PIN("ABC123"))
        }
        // 296 remaining bytes > 256, so with extended one READ: 00 B0 00 04 00 01 28.
        let ext = ScriptedTransport(
            authCertSteps(cert)
                + steps([
                    (h("00A4020C02001B"), h(ok)), (h("00200080"), h("63C5")),
                    (h("00200080 06 414243313233"), h(ok)),
                    (h("00A4020C020001"), h(ok)),
                    (h("00B0000004"), Array(signCert[0..<4]) + h(ok)),
                    (h("00B00004000128"), Array(signCert[4...]) + h(ok)),
                ]))
        let c3 = CardChannel(transport: ext)
        let r = try MyNumberCard(channel: c3).readCertificate(.sign, signPIN: PIN("abc123"))
        #expect(r.value.der == signCert)
        #expect(ext.isComplete, "\(ext.mismatches)")
        #expect(c3.apduCount == 4 + 3 + 3)
    }

    @Test func pinStatusOneAPDUPairNoTrySpent() throws {
        let t = ScriptedTransport(
            authCertSteps(cert)
                + steps([
                    (h(selectText), h(ok)), (h("00A4020C020011"), h(ok)),
                    (h("00200080"), h("63C2")),
                ]))
        let channel = CardChannel(transport: t)
        let r = try MyNumberCard(channel: channel).pinStatus(.text)
        #expect(r.value == .triesLeft(2))
        #expect(t.isComplete, "\(t.mismatches)")
        // No VERIFY with data was sent.
        #expect(!t.sent.contains { $0.count > 4 && $0[1] == 0x20 })
    }

    @Test(arguments: [
        ("63C0", PINStatus.blocked), ("6984", .blocked), ("6983", .blocked), ("9000", .verified),
        ("63C3", .triesLeft(3)),
    ])
    func pinStatusWords(sw: String, expected: PINStatus) throws {
        let (channel, t) = scripted([("00A4020C020018", ok), ("00200080", sw)])
        #expect(try JPKICommands.pinStatus(.auth, on: channel) == expected)
        #expect(t.isComplete)
    }

    @Test func allPINStatusGroupsByApplication() throws {
        let t = ScriptedTransport(
            authCertSteps(cert)
                + steps([
                    // Already in the JPKI AP: no second SELECT.
                    (h("00A4020C020018"), h(ok)), (h("00200080"), h("63C3")),
                    (h("00A4020C02001B"), h(ok)), (h("00200080"), h("63C5")),
                    (h(selectText), h(ok)),
                    (h("00A4020C020011"), h(ok)), (h("00200080"), h("63C3")),
                    (h("00A4020C020014"), h(ok)), (h("00200080"), h("63CA")),
                    (h(selectVisual), h("6A82")),
                ]))
        let channel = CardChannel(transport: t)
        let r = try MyNumberCard(channel: channel).allPINStatus([
            .auth, .sign, .text, .textA, .visualA,
        ])
        #expect(t.isComplete, "\(t.mismatches)")
        #expect(try r.value[.auth]?.get() == .triesLeft(3))
        #expect(try r.value[.sign]?.get() == .triesLeft(5))
        #expect(try r.value[.textA]?.get() == .triesLeft(10))
        guard case .failure(.applicationNotFound(.visual)) = r.value[.visualA] else {
            Issue.record("visual AP missing should be reported per PIN")
            return
        }
    }

    @Test func verifyRefusesLastTryWithoutSendingThePIN() throws {
        let t = ScriptedTransport(
            authCertSteps(cert) + steps([(h("00A4020C020018"), h(ok)), (h("00200080"), h("63C1"))]))
        let channel = CardChannel(transport: t)
        #expect(throws: JPKIError.lastTryRefused(.auth)) {
            try MyNumberCard(channel: channel).verifyPIN(.auth, pin: PIN("1234"))
        }
        #expect(t.isComplete, "\(t.mismatches)")
        #expect(!t.sent.contains { $0.count > 4 && $0[1] == 0x20 })
    }

    @Test func verifyAllowedLastTry() throws {
        let t = ScriptedTransport(
            authCertSteps(cert)
                + steps([
                    (h("00A4020C020018"), h(ok)), (h("00200080"), h("63C1")),
                    (h("002000800431323334"), h(ok)),
                ]))
        let channel = CardChannel(transport: t)
        let r = try MyNumberCard(channel: channel).verifyPIN(
            .auth, pin: PIN("1234"), allowLastTry: true)
        #expect(r.value == .triesLeft(1))
        #expect(t.isComplete, "\(t.mismatches)")
    }

    @Test func verifyBlockedSendsNothing() throws {
        for sw in ["63C0", "6984"] {
            let (channel, t) = scripted([("00A4020C020018", ok), ("00200080", sw)])
            #expect(throws: JPKIError.pinBlocked(.auth)) {
                try JPKICommands.verifyPIN(.auth, pin: PIN("1234"), allowLastTry: true, on: channel)
            }
            #expect(t.isComplete)
        }
    }

    /// A card that answers the counter query 9000 has the PIN verified already (some cards do
    /// after a successful VERIFY in the same session): the PIN is not sent, nothing is spent.
    @Test func verifyAlreadyVerifiedStillSendsThePIN() throws {
        // 9000 to the counter query: not refused, and the PIN is checked by the card all the same.
        let (channel, t) = scripted([("00A4020C020018", ok), ("00200080", ok), ("002000800431323334", ok)])
        #expect(try JPKICommands.verifyPIN(.auth, pin: PIN("1234"), allowLastTry: false, on: channel) == .verified)
        #expect(t.isComplete)
        // By SFI: the counter query by SFI answering 9000 means the same.
        let (bySFI, t2) = scripted([("00200098", ok), ("002000980431323334", ok)])
        #expect(
            try JPKICommands.verifyPIN(.auth, pin: PIN("1234"), allowLastTry: false, bySFI: true, on: bySFI)
                == .verified)
        #expect(t2.isComplete)
        // A wrong PIN on a verified card is the card's to refuse.
        let (wrong, t3) = scripted([("00A4020C020018", ok), ("00200080", ok), ("002000800439393939", "63C2")])
        #expect(throws: JPKIError.wrongPIN(.auth, triesLeft: 2)) {
            try JPKICommands.verifyPIN(.auth, pin: PIN("9999"), allowLastTry: false, on: wrong)
        }
        #expect(t3.isComplete)
    }

    @Test func wrongPINReportsRemainingTries() throws {
        let (channel, t) = scripted([
            ("00A4020C020018", ok), ("00200080", "63C3"), ("002000800439393939", "63C2"),
        ])
        let trace = APDUTrace()
        channel.trace = trace
        #expect(throws: JPKIError.wrongPIN(.auth, triesLeft: 2)) {
            try JPKICommands.verifyPIN(.auth, pin: PIN("9999"), allowLastTry: false, on: channel)
        }
        #expect(t.isComplete)
        #expect(trace.recorded.contains("> 0020008004********"))
        #expect(!trace.recorded.joined().contains("39393939"))
    }

    @Test func signWithAuthKeyExactAPDUs() throws {
        let di = DigestInfo.sha256(ofChallenge: Array("challenge".utf8))
        #expect(di.count == 51)
        let signature = [UInt8](repeating: 0x5A, count: 256)
        let t = ScriptedTransport(
            authCertSteps(cert)
                + steps([
                    (h("00A4020C020018"), h(ok)), (h("00200080"), h("63C3")),
                    (h("002000800431323334"), h(ok)),
                    (h("00A4020C020017"), h(ok)),
                    (h("802A008033") + di + [0x00], signature + h(ok)),
                ]))
        let channel = CardChannel(transport: t)
        let r = try MyNumberCard(channel: channel).signWithAuthKey(digestInfo: di, pin: PIN("1234"))
        #expect(r.value == signature)
        #expect(t.isComplete, "\(t.mismatches)")
        #expect(channel.apduCount == 9)
    }

    /// jpkid's possession proof when the session holds the certificate read at insertion: no
    /// certificate read and no EF SELECT — the counter query, VERIFY and SIGN by SFI (4 APDUs;
    /// the caller verifies the signature against its certificate).
    @Test func signWithAuthKeyCheckedByCallerBySFI() throws {
        let di = DigestInfo.sha256(ofChallenge: Array("challenge".utf8))
        let signature = [UInt8](repeating: 0x5A, count: 256)
        let t = ScriptedTransport(
            steps([
                (h("00A4040C0AD392F000260100000001"), h(ok)),
                (h("00200098"), h("63C3")),
                (h("002000980431323334"), h(ok)),
                (h("802A009733") + di + [0x00], signature + h(ok)),
            ]))
        let channel = CardChannel(transport: t)
        let sig = try MyNumberCard(channel: channel).signWithAuthKeyCheckedByCaller(digestInfo: di, pin: PIN("1234"))
        #expect(sig == signature)
        #expect(t.isComplete, "\(t.mismatches)")
        #expect(channel.apduCount == 4)
    }

    /// A card that refuses SFI addressing gets the SELECT forms; the PIN is only sent in the
    /// form whose counter query the card answered.
    @Test func signWithAuthKeyCheckedByCallerFallsBack() throws {
        let di = DigestInfo.sha256(ofChallenge: Array("challenge".utf8))
        let signature = [UInt8](repeating: 0x5A, count: 256)
        let t = ScriptedTransport(
            steps([
                (h("00A4040C0AD392F000260100000001"), h(ok)),
                (h("00200098"), h("6A86")),
                (h("00A4020C020018"), h(ok)), (h("00200080"), h("63C3")),
                (h("002000800431323334"), h(ok)),
                (h("802A009733") + di + [0x00], h("6A86")),
                (h("00A4020C020017"), h(ok)),
                (h("802A008033") + di + [0x00], signature + h(ok)),
            ]))
        let channel = CardChannel(transport: t)
        let sig = try MyNumberCard(channel: channel).signWithAuthKeyCheckedByCaller(digestInfo: di, pin: PIN("1234"))
        #expect(sig == signature)
        #expect(t.isComplete, "\(t.mismatches)")
    }

    /// With the bound certificate given, the card's certificate is checked first: 32 bytes from
    /// the middle of its public key (where `openssl asn1parse` puts the BIT STRING: an
    /// independent parse), by SELECT EF 000A + one READ. The same card goes on to VERIFY and SIGN;
    /// a card with the SAME serial and issuer DN but another key (a card of another root
    /// generation) gets `cardChanged` and never receives the PIN: its script ends before any
    /// VERIFY. The first 40 bytes — what the check compared before — are equal for both.
    @Test func signWithAuthKeyCheckedByCallerChecksTheCardBeforeThePIN() throws {
        let di = DigestInfo.sha256(ofChallenge: Array("challenge".utf8))
        let signature = [UInt8](repeating: 0x5A, count: 256)
        let dir = try VirtualMyNumberCard.fixturesCardsDirectory().appendingPathComponent("00-ordinary")
        let path = dir.appendingPathComponent("jpki/000A.der")
        let bound = [UInt8](try Data(contentsOf: path))
        // "  271:d=3  hl=4 l= 271 prim: BIT STRING" (the first one: the subject public key).
        let parsed = try runProgram("/usr/bin/openssl", ["asn1parse", "-inform", "DER", "-in", path.path])
        let line = try #require(parsed.stdout.split(separator: "\n").first { $0.contains("BIT STRING") })
        let numbers = line.split(whereSeparator: { !$0.isNumber }).compactMap { Int($0) }
        let (start, length) = (numbers[0] + numbers[2], numbers[3])
        let offset = start + (length - 32) / 2
        let window = Array(bound[offset..<(offset + 32)])
        let read = h("00B0") + [UInt8(offset >> 8), UInt8(offset & 0xFF), 0x20]
        let same = ScriptedTransport(
            steps([
                (h("00A4040C0AD392F000260100000001"), h(ok)),
                (h("00A4020C02000A"), h(ok)),
                (read, window + h(ok)),
                (h("00200098"), h("63C3")),
                (h("002000980431323334"), h(ok)),
                (h("802A009733") + di + [0x00], signature + h(ok)),
            ]))
        let channel = CardChannel(transport: same)
        let sig = try MyNumberCard(channel: channel).signWithAuthKeyCheckedByCaller(
            digestInfo: di, pin: PIN("1234"), expecting: bound)
        #expect(sig == signature && same.isComplete, "\(same.mismatches)")
        #expect(channel.apduCount == 6)
        // Another generation's card: same header, serial and DN; its own key.
        var other = bound
        for i in (start + 8)..<(start + length - 8) { other[i] ^= 0x5C }
        #expect(Array(other.prefix(40)) == Array(bound.prefix(40)))
        let changed = ScriptedTransport(
            steps([
                (h("00A4040C0AD392F000260100000001"), h(ok)),
                (h("00A4020C02000A"), h(ok)),
                (read, Array(other[offset..<(offset + 32)]) + h(ok)),
            ]))
        #expect(throws: JPKIError.cardChanged) {
            try MyNumberCard(channel: CardChannel(transport: changed)).signWithAuthKeyCheckedByCaller(
                digestInfo: di, pin: PIN("1234"), expecting: bound)
        }
        #expect(changed.isComplete, "\(changed.mismatches)")
        #expect(!changed.sent.contains { $0.count > 1 && $0[1] == 0x20 }, "no VERIFY reached the other card")
    }

    /// What the key check costs on a real card's clock (`jpki-sim --timing` model): the 40-byte
    /// header read by SFI it replaces vs SELECT EF + a 32-byte read, next to the whole proof
    /// (SELECT AP, counter query, VERIFY, SIGN). The extra must stay a small part of the proof.
    @Test(arguments: [CardTimingProfile.contact, CardTimingProfile.contactless()])
    func keyCheckCostOnTheTimingModel(_ profile: CardTimingProfile) {
        func t(_ c: String, _ r: [UInt8]) -> Duration { profile.exchangeTime(command: h(c), response: r) }
        let header = t("00B08A0028", [UInt8](repeating: 0x30, count: 40) + h(ok))
        let key = t("00A4020C02000A", h(ok)) + t("00B0018A20", [UInt8](repeating: 0x30, count: 32) + h(ok))
        let proof =
            t("00A4040C0AD392F000260100000001", h(ok)) + t("00200098", h("63C3"))
            + t("002000980431323334", h(ok))
            + profile.exchangeTime(
                command: h("802A009733") + [UInt8](repeating: 1, count: 51) + [0],
                response: [UInt8](repeating: 0x5A, count: 256) + h(ok))
        let extra = key - header
        print("key check (\(profile.name)): header \(header), key \(key), extra \(extra), proof \(proof + key)")
        #expect(extra > .zero)
        #expect(extra * 20 < proof, "the key check stays under 5 % of the possession proof")
    }

    /// Bytes that do not parse as a certificate: their first 40 are compared (by SFI).
    @Test func signWithAuthKeyCheckedByCallerUnparsedExpectation() throws {
        let expected = h("3082040E308202F6A00302010202021001300000000000000000000000000000000000000000")
        let changed = ScriptedTransport(
            steps([
                (h("00A4040C0AD392F000260100000001"), h(ok)),
                (h("00B08A0026"), Array(expected.prefix(37)) + [0x01] + h(ok)),
            ]))
        #expect(throws: JPKIError.cardChanged) {
            try MyNumberCard(channel: CardChannel(transport: changed)).signWithAuthKeyCheckedByCaller(
                digestInfo: [1, 2, 3], pin: PIN("1234"), expecting: Array(expected.prefix(38)))
        }
        #expect(changed.isComplete, "\(changed.mismatches)")
    }

    /// The last-try guard holds on the SFI path too: nothing is sent after the counter says 1.
    @Test func signWithAuthKeyCheckedByCallerLastTryGuard() throws {
        let t = ScriptedTransport(
            steps([
                (h("00A4040C0AD392F000260100000001"), h(ok)),
                (h("00200098"), h("63C1")),
            ]))
        #expect(throws: JPKIError.lastTryRefused(.auth)) {
            try MyNumberCard(channel: CardChannel(transport: t)).signWithAuthKeyCheckedByCaller(
                digestInfo: DigestInfo.sha256(ofChallenge: [1]), pin: PIN("1234"))
        }
        #expect(t.isComplete, "\(t.mismatches)")
    }

    /// The possession proof jpkid sends: one certificate read serves as the card check and the
    /// returned certificate (signWithAuthKey + readCertificate sent it twice: 13 APDUs).
    @Test func signWithAuthKeyReadingCertificateReadsTheCertificateOnce() throws {
        let di = DigestInfo.sha256(ofChallenge: Array("challenge".utf8))
        let signature = [UInt8](repeating: 0x5A, count: 256)
        let t = ScriptedTransport(
            authCertSteps(cert)
                + steps([
                    (h("00A4020C020018"), h(ok)), (h("00200080"), h("63C3")),
                    (h("002000800431323334"), h(ok)),
                    (h("00A4020C020017"), h(ok)),
                    (h("802A008033") + di + [0x00], signature + h(ok)),
                ]))
        let channel = CardChannel(transport: t)
        let r = try MyNumberCard(channel: channel).signWithAuthKeyReadingCertificate(
            digestInfo: di, pin: PIN("1234"))
        #expect(r.value.signature == signature)
        #expect(r.value.certificate == cert)
        #expect(r.card == CardIdentity(authCertificateDER: cert))
        #expect(t.isComplete, "\(t.mismatches)")
        #expect(channel.apduCount == 9)
    }

    @Test(arguments: [
        ("6982", JPKIError.pinRequired(.sign)), ("6983", .pinBlocked(.sign)),
        ("6984", .pinBlocked(.sign)),
        ("6700", .wrongData(StatusWord(0x6700))), ("6A80", .wrongData(StatusWord(0x6A80))),
        ("6985", .wrongData(StatusWord(0x6985))),
    ])
    func signStatusWordsAreTyped(sw: String, expected: JPKIError) throws {
        let di = try DigestInfo.encode(.sha512, digest: [UInt8](repeating: 1, count: 64))
        let (channel, t) = scripted([
            ("00A4020C02001A", ok), ("802A008053" + di.hexString + "00", sw),
        ])
        #expect(throws: expected) { try JPKICommands.sign(.sign, digestInfo: di, on: channel) }
        #expect(t.isComplete)
    }

    @Test func digestInfoPrefixes() throws {
        #expect(throws: JPKIError.self) { try DigestInfo.encode(.sha256, digest: [1, 2, 3]) }
        let d256 = try DigestInfo.encode(.sha256, digest: [UInt8](repeating: 0, count: 32))
        #expect(d256.prefix(19) == h("3031300D060960864801650304020105000420")[...])
        let d384 = try DigestInfo.encode(.sha384, digest: [UInt8](repeating: 0, count: 48))
        #expect(d384.prefix(19) == h("3041300D060960864801650304020205000430")[...])
        #expect(d384.count == 67)
        // Each DigestInfo is a valid DER SEQUENCE filling its bytes.
        for alg in DigestAlgorithm.allCases {
            let di = try DigestInfo.encode(
                alg, digest: [UInt8](repeating: 0, count: alg.digestLength))
            #expect(try BERTLV.parse(di).tag == 0x30)
        }
    }

    func basicInfoFile() -> [UInt8] {
        offsetTableFile(fields: [
            BERTLV(tag: 0xDF22, value: Array("髙橋　﨑邊".utf8)),
            BERTLV(tag: 0xDF23, value: Array("東京都　千代田区１".utf8)),
            BERTLV(tag: 0xDF24, value: Array("19991231".utf8)),
            BERTLV(tag: 0xDF25, value: Array("2".utf8)),
        ])
    }

    @Test func basicInfoExactAPDUsAndParse() throws {
        let file = basicInfoFile()
        #expect(file.count < 256)
        let t = ScriptedTransport(
            authCertSteps(cert)
                + steps([
                    (h(selectText), h(ok)),
                    (h("00A4020C020011"), h(ok)), (h("00200080"), h("63C3")),
                    (h("002000800431323334"), h(ok)),
                    (h("00A4020C020002"), h(ok)),
                    (h("00B0000005"), Array(file[0..<5]) + h(ok)),
                    (h("00B00005") + [UInt8(file.count - 5)], Array(file[5...]) + h(ok)),
                ]))
        let channel = CardChannel(transport: t)
        let trace = APDUTrace()
        channel.trace = trace
        let r = try MyNumberCard(channel: channel).readBasicInfo(pin: PIN("1234"))
        #expect(t.isComplete, "\(t.mismatches)")
        #expect(channel.apduCount == 11)
        let info = r.value
        #expect(info.name == "髙橋　﨑邊")
        #expect(info.nameNFKC == "髙橋 﨑邊")
        #expect(info.addressNFKC == "東京都 千代田区1")
        #expect(info.birthDate == CardDate(year: 1999, month: 12, day: 31))
        #expect(info.sex == .female)
        #expect(info.raw == file)
        #expect(info.description == "BasicInfo(redacted)")
        // Identity response data never reaches the trace.
        let joined = trace.recorded.joined(separator: "\n")
        #expect(!joined.contains(Array("19991231".utf8).hexString))
        #expect(joined.contains("bytes redacted"))
    }

    @Test func basicInfoRejectsBadOffsetTable() throws {
        var file = basicInfoFile()
        file[7] &+= 1  // first offset no longer points at DF22
        #expect(throws: JPKIError.self) { try BasicInfo(parsing: file) }
    }

    @Test(arguments: ["0", "1", "2", "9", "3", "x", "12"])
    func sexCodes(code: String) {
        let expected: Sex? = ["0": .notKnown, "1": .male, "2": .female, "9": .notApplicable][code]
        let result = Result { () throws(JPKIError) in try Sex(code: Array(code.utf8)) }
        switch (result, expected) {
        case (.success(let s), .some(let e)): #expect(s == e)
        case (.failure(let e), .none): #expect(e.code == "malformed_data")
        default: Issue.record("sex code \(code): \(result)")
        }
    }

    @Test func cardDates() {
        #expect(CardDate(yyyymmdd: Array("20000229".utf8)) != nil)
        #expect(CardDate(yyyymmdd: Array("19000229".utf8)) == nil)
        #expect(CardDate(yyyymmdd: Array("20231301".utf8)) == nil)
        #expect(CardDate(yyyymmdd: Array("2023011".utf8)) == nil)
        #expect(CardDate(year: 1980, month: 2, day: 17)?.description == "1980-02-17")
    }

    @Test func detectionByAIDAndTokenLabel() throws {
        let label = Array("JPKIAPICCTOKEN2".utf8) + [UInt8](repeating: 0x20, count: 17)
        let t = ScriptedTransport(
            steps([
                (h(selectJPKI), h(ok)), (h("00A4020C020006"), h(ok)),
                (h("00B0000020"), label + h(ok)),
                (h("00A4020C02000A"), h(ok)),
                (h("00B0000004"), Array(cert[0..<4]) + h(ok)),
                (h("00B0000400040E"), Array(cert[4...]) + h(ok)),
                (h("00A4020C020018"), h(ok)),
                (h(selectText), h(ok)), (h(selectVisual), h(ok)),
                (h("00A4040C0AD3921000310001010100"), h("6A82")),
                (h("00A4040C0AD3921000310001010401"), h(ok)),
            ]))
        let channel = CardChannel(transport: t)
        let d = try MyNumberCard(channel: channel).detect()
        #expect(t.isComplete, "\(t.mismatches)")
        #expect(d.cardType == .myNumberCard)
        #expect(d.applications == [.jpki, .text, .visual, .juki])
        #expect(d.identity == CardIdentity(authCertificateDER: cert))
        print("APDU count detect (scripted): \(channel.apduCount)")
    }

    /// jpkid's identification: token info and certificate by SFI, no application probes (4 APDUs).
    @Test func detectionBySFI() throws {
        let label = Array("JPKIAPICCTOKEN2".utf8) + [UInt8](repeating: 0x20, count: 17)
        let t = ScriptedTransport(
            steps([
                (h(selectJPKI), h(ok)), (h("00B0860020"), label + h(ok)),
                (h("00B08A0004"), Array(cert[0..<4]) + h(ok)),
                (h("00B08A0400040E"), Array(cert[4...]) + h(ok)),
                (h("00A4020C020018"), h(ok)),
            ]))
        let channel = CardChannel(transport: t)
        let d = try MyNumberCard(channel: channel).detect(probing: [], addressBySFI: true)
        #expect(t.isComplete, "\(t.mismatches)")
        #expect(d.cardType == .myNumberCard)
        #expect(d.authCertificate == cert)
        #expect(d.identity == CardIdentity(authCertificateDER: cert))
        #expect(d.authPINPresent == true)
        #expect(channel.apduCount == 5)
    }

    /// A card that refuses SFI addressing gets SELECT + READ, with the same result.
    @Test func detectionBySFIFallsBack() throws {
        let label = Array("JPKIAPICCTOKEN2".utf8) + [UInt8](repeating: 0x20, count: 17)
        let t = ScriptedTransport(
            steps([
                (h(selectJPKI), h(ok)), (h("00B0860020"), h("6A86")),
                (h("00A4020C020006"), h(ok)), (h("00B0000020"), label + h(ok)),
                (h("00B08A0004"), h("6B00")),
                (h("00A4020C02000A"), h(ok)),
                (h("00B0000004"), Array(cert[0..<4]) + h(ok)),
                (h("00B0000400040E"), Array(cert[4...]) + h(ok)),
                (h("00A4020C020018"), h(ok)),
            ]))
        let d = try MyNumberCard(channel: CardChannel(transport: t)).detect(probing: [], addressBySFI: true)
        #expect(t.isComplete, "\(t.mismatches)")
        #expect(d.cardType == .myNumberCard)
        #expect(d.authCertificate == cert)
    }

    @Test func detectionWithoutTokenInfo() throws {
        let t = ScriptedTransport(
            steps([
                (h(selectJPKI), h(ok)), (h("00A4020C020006"), h("6A82")),
                (h("00A4020C02000A"), h(ok)),
                (h("00B0000004"), Array(cert[0..<4]) + h(ok)),
                (h("00B0000400040E"), Array(cert[4...]) + h(ok)),
                (h("00A4020C020018"), h(ok)),
                (h(selectText), h("6A82")), (h(selectVisual), h("6A82")),
                (h("00A4040C0AD3921000310001010100"), h("6A82")),
                (h("00A4040C0AD3921000310001010401"), h("6A82")),
            ]))
        let d = try MyNumberCard(channel: CardChannel(transport: t)).detect()
        #expect(t.isComplete, "\(t.mismatches)")
        #expect(d.cardType == .unknown(label: ""))
        #expect(d.applications == [.jpki])
        #expect(d.identity != nil)
    }

    @Test func notAJPKICard() throws {
        let t = ScriptedTransport(
            steps([
                (h(selectJPKI), h("6A82")), (h(selectText), h("6A82")),
                (h(selectVisual), h("6A82")),
                (h("00A4040C0AD3921000310001010100"), h("6A82")),
                (h("00A4040C0AD3921000310001010401"), h("6A82")),
            ]))
        let channel = CardChannel(transport: t)
        let d = try MyNumberCard(channel: channel).detect()
        #expect(d.cardType == .notJPKI && d.applications.isEmpty && d.identity == nil)
        #expect(throws: JPKIError.notJPKICard) {
            try MyNumberCard(
                channel: CardChannel(
                    transport: ScriptedTransport(steps([(h(selectJPKI), h("6A82"))])))
            )
            .readCertificate(.auth)
        }
    }

    @Test(arguments: [
        ("JPKIAPICCTOKEN2", CardType.myNumberCard), ("JPKIAPICCTOKEN", .jukiCard),
        ("JPKIAPGPSETOKEN", .smartphone(label: "JPKIAPGPSETOKEN")),
        ("JPKIAPIOSTOKEN", .smartphone(label: "JPKIAPIOSTOKEN")),
        ("OTHER", .unknown(label: "OTHER")),
    ])
    func tokenLabels(label: String, type: CardType) {
        #expect(CardType(tokenLabel: label) == type)
    }

    @Test func truncatedFileIsTyped() throws {
        let t = ScriptedTransport(
            steps([
                (h(selectJPKI), h(ok)), (h("00A4020C02000A"), h(ok)),
                (h("00B0000004"), Array(cert[0..<4]) + h(ok)),
                (h("00B0000400040E"), Array(cert[4..<100]) + h("6282")),
            ]))
        #expect(throws: JPKIError.truncatedFile(0x000A, expected: 1042, got: 100)) {
            try MyNumberCard(channel: CardChannel(transport: t)).readCertificate(.auth)
        }
    }

    @Test func cardRemovedIsTransportError() throws {
        final class Gone: CardTransport {
            func transmit(_ command: [UInt8]) throws(SmartCardError) -> [UInt8] {
                throw .cardRemoved
            }
        }
        #expect(throws: JPKIError.transport(.cardRemoved)) {
            try MyNumberCard(channel: CardChannel(transport: Gone())).identity()
        }
    }
}
