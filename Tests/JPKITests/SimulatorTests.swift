import CardSimulator
import Foundation
import JPKI
import SmartCard
import Testing

/// A fixture card in-process: the simulator, its channel, its files and profile.
struct SimCard {
    let sim: VirtualMyNumberCard
    let transport: InProcessTransport
    let channel: CardChannel
    let dir: URL
    let identity: [String: String]
    let pins: [String: String]

    init(
        _ name: String, extended: Bool = true, faults: FaultSpec = FaultSpec(),
        behaviour: CardBehaviour? = nil
    ) throws {
        sim = try VirtualMyNumberCard.fixture(name, faults: faults, behaviour: behaviour)
        transport = InProcessTransport(card: sim, supportsExtendedLength: extended)
        channel = CardChannel(transport: transport)
        dir = try VirtualMyNumberCard.fixturesCardsDirectory().appendingPathComponent(name)
        let json = try Data(contentsOf: dir.appendingPathComponent("profile.json"))
        let object = try #require(try JSONSerialization.jsonObject(with: json) as? [String: Any])
        identity = (object["identity"] as? [String: String]) ?? [:]  // a phone has none
        let pinObjects = try #require(object["pins"] as? [String: [String: Any]])
        pins = pinObjects.compactMapValues { $0["value"] as? String }
    }

    var card: MyNumberCard { MyNumberCard(channel: channel) }

    func file(_ path: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: dir.appendingPathComponent(path)))
    }

    func pin(_ key: String) throws -> PIN { PIN(try #require(pins[key])) }

    /// Runs `body` and returns the number of APDUs it sent.
    func count(_ body: () throws -> Void) rethrows -> Int {
        let before = channel.apduCount
        try body()
        return channel.apduCount - before
    }
}

@Suite("Operations (in-process simulator)")
struct SimulatorTests {
    @Test func authCertificateFourAPDUs() throws {
        let c = try SimCard("00-ordinary")
        var result: CardResult<CertificateData>?
        let n = try c.count { result = try c.card.readCertificate(.auth) }
        let der = try c.file("jpki/000A.der")
        #expect(result?.value.der == der)
        #expect(result?.card.fingerprint == SHA256.hash(der))
        #expect(n == 4)
        print("APDU count auth cert: \(n)")
    }

    @Test func authCertificateShortReadsWithoutExtended() throws {
        let c = try SimCard("00-ordinary", extended: false)
        var der: [UInt8] = []
        let n = try c.count { der = try c.card.readCertificate(.auth).value.der }
        #expect(der == (try c.file("jpki/000A.der")))
        // 1042 bytes: SELECT AP, SELECT EF, READ 4, then ceil(1038 / 256) = 5 READs.
        #expect(n == 8)
        print("APDU count auth cert (no extended length): \(n)")
    }

    @Test func allCertificatesWithSignPIN() throws {
        let c = try SimCard("00-ordinary")
        var r: CardResult<[JPKICertificateKind: [UInt8]]>?
        let n = try c.count { r = try c.card.readCertificates(signPIN: try c.pin("sign")) }
        let certs = try #require(r).value
        #expect(certs[.auth] == (try c.file("jpki/000A.der")))
        #expect(certs[.authCA] == (try c.file("jpki/000B.der")))
        #expect(certs[.signCA] == (try c.file("jpki/0002.der")))
        #expect(certs[.sign] == (try c.file("jpki/0001.der")))
        // 4 (auth) + 3 (authCA) + 3 (signCA) + 3 (sign PIN) + 3 (sign cert)
        #expect(n == 16)
        #expect(c.sim.triesLeft(.sign) == 5)
        print("APDU count all 4 certificates (incl. sign PIN): \(n)")
    }

    @Test func eachCertificateSeparately() throws {
        let c = try SimCard("00-ordinary")
        for (kind, path) in [
            (JPKICertificateKind.authCA, "jpki/000B.der"), (.signCA, "jpki/0002.der"),
        ] {
            var der: [UInt8] = []
            let n = try c.count { der = try c.card.readCertificate(kind).value.der }
            #expect(der == (try c.file(path)))
            #expect(n == 7)
            print("APDU count \(kind) cert (with card identity): \(n)")
        }
        var sign: [UInt8] = []
        let n = try c.count {
            sign = try c.card.readCertificate(.sign, signPIN: try c.pin("sign")).value.der
        }
        #expect(sign == (try c.file("jpki/0001.der")))
        #expect(n == 10)
        print("APDU count sign cert (with card identity + sign PIN): \(n)")
    }

    @Test func signCertificateWithoutPINIsPinRequired() throws {
        let c = try SimCard("00-ordinary")
        #expect(throws: JPKIError.pinRequired(.sign)) { try c.card.readCertificate(.sign) }
        #expect(c.sim.triesLeft(.sign) == 5)
    }

    @Test func detection() throws {
        let c = try SimCard("00-ordinary")
        var d: CardDetection?
        let n = try c.count { d = try c.card.detect() }
        let det = try #require(d)
        #expect(det.cardType == .myNumberCard)
        #expect(det.tokenLabel == "JPKIAPICCTOKEN2")
        #expect(det.applications == Set(JPKIApplication.allCases))
        #expect(det.identity?.fingerprint == SHA256.hash(try c.file("jpki/000A.der")))
        #expect(det.authPINPresent == true && det.signCertificatePresent == nil)
        #expect(det.confirmationModes == ["pin", "visual"])
        #expect(n == 11)
        print("APDU count detect: \(n)")
    }

    /// jpkid's identification at insertion probes no other application: 7 APDUs (one SELECT of
    /// the auth PIN EF tells a card without PIN), same binding.
    @Test func detectionWithoutProbes() throws {
        let c = try SimCard("00-ordinary")
        var d: CardDetection?
        let n = try c.count { d = try c.card.detect(probing: []) }
        let det = try #require(d)
        #expect(det.cardType == .myNumberCard)
        #expect(det.applications == [.jpki])
        #expect(det.identity?.fingerprint == SHA256.hash(try c.file("jpki/000A.der")))
        #expect(det.authCertificate == (try c.file("jpki/000A.der")))
        // jpkid's identification on the simulated card: by SFI, 5 APDUs.
        let c2 = try SimCard("00-ordinary")
        var d2: CardDetection?
        let n2 = try c2.count { d2 = try c2.card.detect(probing: [], addressBySFI: true) }
        #expect(d2 == det)
        #expect(n2 == 5)
        #expect(n == 7)
    }

    @Test func pinStatusSpendsNoTry() throws {
        let c = try SimCard("00-ordinary")
        var status: PINStatus?
        let n = try c.count { status = try c.card.pinStatus(.auth).value }
        #expect(status == .triesLeft(3))
        #expect(n == 6)
        print("APDU count pin status (one PIN, with card identity): \(n)")
        for _ in 0..<5 { _ = try c.card.pinStatus(.auth) }
        #expect(c.sim.triesLeft(.auth) == 3)
        #expect(try c.card.pinStatus(.auth).value == .triesLeft(3))
    }

    @Test func allPINStatusMatchesProfile() throws {
        let c = try SimCard("00-ordinary")
        var r: CardResult<[PINKind: Result<PINStatus, JPKIError>]>?
        let n = try c.count { r = try c.card.allPINStatus() }
        let map = try #require(r).value
        let expected: [PINKind: Int] = [
            .auth: 3, .sign: 5, .text: 3, .textA: 10, .textB: 10, .visualBirth: 10, .visualB: 10,
            .visualA: 10, .common: 3,
        ]
        for (kind, tries) in expected {
            #expect(try map[kind]?.get() == .triesLeft(tries), "\(kind)")
        }
        // identity 4 (leaves the JPKI AP selected) + SELECT text/visual/common + 2 per PIN (9 PINs).
        #expect(n == 4 + 3 + 18)
        print("APDU count all PIN status (9 PINs, with card identity): \(n)")
        #expect(
            c.sim.triesLeft(.auth) == 3 && c.sim.triesLeft(.sign) == 5
                && c.sim.triesLeft(.text) == 3)
    }

    @Test func verifyCorrectAndWrongPIN() throws {
        let c = try SimCard("00-ordinary")
        var before: PINStatus?
        let n = try c.count { before = try c.card.verifyPIN(.auth, pin: try c.pin("auth")).value }
        #expect(before == .triesLeft(3))
        #expect(n == 7)
        print("APDU count verify auth PIN: \(n)")
        #expect(throws: JPKIError.wrongPIN(.auth, triesLeft: 2)) {
            try c.card.verifyPIN(.auth, pin: PIN("0000"))
        }
        #expect(c.sim.triesLeft(.auth) == 2)
        // Correct PIN resets the counter.
        _ = try c.card.verifyPIN(.auth, pin: try c.pin("auth"))
        #expect(c.sim.triesLeft(.auth) == 3)
    }

    @Test func badFormatSendsNothingToTheCard() throws {
        let c = try SimCard("00-ordinary")
        let received = c.sim.commandsReceived
        #expect(
            throws: JPKIError.invalidPINFormat(
                .sign,
                reason: "must be 6-16 characters A-Z/0-9 with at least one letter and one digit")
        ) {
            try c.card.signWithSignKey(
                digestInfo: DigestInfo.sha256(ofChallenge: [1]), pin: PIN("ABCDEF"))
        }
        #expect(throws: JPKIError.self) { try c.card.readBasicInfo(pin: PIN("12345")) }
        #expect(throws: JPKIError.self) {
            try c.card.readCardFace(key: PIN("1234"), kind: .visualA)
        }
        #expect(c.sim.commandsReceived == received)
        #expect(c.channel.apduCount == 0)
    }

    @Test(arguments: [PINKind.auth, .sign, .text])
    func lastTryGuardOnNearlyBlockedCard(kind: PINKind) throws {
        let c = try SimCard("05-nearly-blocked")
        let key = kind.rawValue
        let sim: SimulatedPIN = kind == .auth ? .auth : kind == .sign ? .sign : .text
        #expect(try c.card.pinStatus(kind).value == .triesLeft(1))
        // A wrong PIN would block it: the guard refuses before sending it.
        #expect(throws: JPKIError.lastTryRefused(kind)) {
            try c.card.verifyPIN(kind, pin: PIN(kind == .sign ? "WRONG1" : "0000"))
        }
        // Also through the high-level operations that verify internally.
        switch kind {
        case .auth:
            #expect(throws: JPKIError.lastTryRefused(.auth)) {
                try c.card.signWithAuthKey(
                    digestInfo: DigestInfo.sha256(ofChallenge: [1]), pin: try c.pin(key))
            }
        case .sign:
            #expect(throws: JPKIError.lastTryRefused(.sign)) {
                try c.card.readCertificate(.sign, signPIN: try c.pin(key))
            }
        default:
            #expect(throws: JPKIError.lastTryRefused(.text)) {
                try c.card.readBasicInfo(pin: try c.pin(key))
            }
        }
        // A second status query shows the counter unchanged.
        #expect(try c.card.pinStatus(kind).value == .triesLeft(1))
        #expect(c.sim.triesLeft(sim) == 1)
        // Explicitly allowed with the right PIN: succeeds and resets the counter.
        _ = try c.card.verifyPIN(kind, pin: try c.pin(key), allowLastTry: true)
        #expect(try c.card.pinStatus(kind).value == .triesLeft(kind.maxTries))
    }

    @Test func blockedPINIsNeverSent() throws {
        let c = try SimCard("05-nearly-blocked")
        #expect(throws: JPKIError.wrongPIN(.auth, triesLeft: 0)) {
            try c.card.verifyPIN(.auth, pin: PIN("0000"), allowLastTry: true)
        }
        #expect(try c.card.pinStatus(.auth).value == .blocked)
        let trace = APDUTrace()
        c.channel.trace = trace
        #expect(throws: JPKIError.pinBlocked(.auth)) {
            try c.card.verifyPIN(.auth, pin: try c.pin("auth"), allowLastTry: true)
        }
        #expect(!trace.recorded.contains { $0.hasPrefix("> 0020008004") })
    }

    @Test func signWithAuthKeyMatchesGoldenTranscript() throws {
        let c = try SimCard("00-ordinary")
        let di = DigestInfo.sha256(ofChallenge: Array("jpki-sim golden transcript".utf8))
        var sig: [UInt8] = []
        let n = try c.count {
            sig = try c.card.signWithAuthKey(digestInfo: di, pin: try c.pin("auth")).value
        }
        #expect(sig.count == 256)
        #expect(n == 9)
        print("APDU count sign with auth key: \(n)")
        // PKCS#1 v1.5 is deterministic: compare with the golden transcript (independent source).
        let transcript = try String(
            contentsOf: c.dir.deletingLastPathComponent().deletingLastPathComponent()
                .appendingPathComponent("transcripts/verify-auth-sign.txt"), encoding: .utf8)
        let lines = transcript.split(separator: "\n").map(String.init)
        let signLine = try #require(lines.firstIndex { $0.hasPrefix("> 802A0080") })
        #expect(lines[signLine] == "> " + (h("802A008033") + di + [0]).hexString)
        #expect(lines[signLine + 1] == "< " + (sig + [0x90, 0x00]).hexString)
    }

    @Test func signWithSignKey() throws {
        let c = try SimCard("00-ordinary")
        let di = try DigestInfo.encode(.sha384, digest: [UInt8](repeating: 0x42, count: 48))
        var sig: [UInt8] = []
        let n = try c.count {
            sig = try c.card.signWithSignKey(digestInfo: di, pin: PIN("abc123")).value
        }
        #expect(sig.count == 256)
        #expect(n == 9)
        // Without the PIN (own transaction, low-level): typed pinRequired.
        #expect(throws: JPKIError.pinRequired(.sign)) {
            try c.channel.transaction { ch in
                try JPKICommands.selectApplication(.jpki, on: ch)
                return try JPKICommands.sign(.sign, digestInfo: di, on: ch)
            }
        }
    }

    @Test func basicInfo() throws {
        let c = try SimCard("00-ordinary")
        let trace = APDUTrace()
        c.channel.trace = trace
        var r: CardResult<BasicInfo>?
        let n = try c.count { r = try c.card.readBasicInfo(pin: try c.pin("text")) }
        let info = try #require(r).value
        #expect(info.name == c.identity["name"])
        #expect(info.address == c.identity["address"])
        #expect(
            info.nameNFKC == c.identity["name"]?.replacingOccurrences(of: "\u{3000}", with: " "))
        #expect(
            info.birthDate == CardDate(yyyymmdd: Array(c.identity["birthDate", default: ""].utf8)))
        #expect(info.sex.code == c.identity["sex"])
        #expect(info.raw == (try c.file("text/0002.bin")))
        #expect(n == 11)
        print("APDU count basic 4 info: \(n)")
        let joined = trace.recorded.joined(separator: "\n")
        #expect(!joined.contains(Array(c.identity["name", default: "?"].utf8).hexString))
        #expect(!joined.contains(Array("1234".utf8).hexString))
        #expect(r?.card.fingerprint == SHA256.hash(try c.file("jpki/000A.der")))
    }

    @Test func basicInfoWithVerificationNumberB() throws {
        let c = try SimCard("00-ordinary")
        let info = try c.card.readBasicInfo(pin: try c.pin("textB"), kind: .textB).value
        #expect(info.name == c.identity["name"])
    }

    @Test func myNumber() throws {
        let c = try SimCard("00-ordinary")
        let trace = APDUTrace()
        c.channel.trace = trace
        var r: CardResult<MyNumber>?
        let n = try c.count { r = try c.card.readMyNumber(pin: try c.pin("text")) }
        let number = try #require(r).value
        #expect(number.digits == c.identity["myNumber"])
        #expect(number.rawFile == (try c.file("text/0001.bin")))
        #expect("\(number)" == "MyNumber(redacted)")
        let joined = trace.recorded.joined(separator: "\n")
        #expect(!joined.contains(Array(c.identity["myNumber", default: "?"].utf8).hexString))
        #expect(joined.contains("< [17 bytes redacted] 9000"))
        // identity 4 + SELECT AP + SELECT PIN + empty VERIFY + VERIFY + SELECT EF + one READ.
        #expect(n == 10)
        print("APDU count My Number: \(n)")
    }

    @Test func textAPWithIntegrityRecord() throws {
        let c = try SimCard("00-ordinary")
        var r: CardResult<TextAPData>?
        let n = try c.count {
            r = try c.card.readTextAP(pin: try c.pin("text"), includeMyNumber: true)
        }
        let data = try #require(r).value
        let my = try #require(data.myNumber)
        // The fixture's digests (made with openssl/python) match what we read and hash here.
        #expect(data.integrity.myNumberDigest == SHA256.hash(my.rawFile))
        #expect(data.integrity.basicInfoDigest == data.basicInfo.contentDigest)
        #expect(data.integrity.signature.count == 256)
        #expect(data.integrity.raw == (try c.file("text/0003.bin")))
        #expect(data.integrity.signedData.count == 2 * 35)
        let cv = data.cvCertificate
        #expect(cv.raw == (try c.file("text/0004.bin")))
        #expect(cv.body.count == 297)
        #expect(cv.modulus.count == 256)
        #expect(cv.issuerKeyID.count == 16 && cv.subjectKeyID.count == 16)
        #expect(cv.signature.count == 256)
        #expect(n == 4 + 4 + 2 + 3 + 3 + 3)
        print("APDU count text AP (basic info + My Number + integrity + CV cert): \(n)")
    }

    @Test(arguments: [PINKind.visualA, .visualB])
    func cardFace(kind: PINKind) throws {
        let c = try SimCard("00-ordinary")
        var r: CardResult<CardFaceData>?
        let key = try c.pin(kind.rawValue)
        let n = try c.count { r = try c.card.readCardFace(key: key, kind: kind) }
        let face = try #require(r).value.face
        #expect(face.faceJPEG2000 == (try c.file("face.jp2")))
        #expect(
            face.birthDate == CardDate(yyyymmdd: Array(c.identity["birthDate", default: ""].utf8)))
        #expect(face.expiry == CardDate(yyyymmdd: Array(c.identity["expiry", default: ""].utf8)))
        #expect(face.sex.code == c.identity["sex"])
        #expect(face.namePNG.starts(with: [0x89, 0x50, 0x4E, 0x47]))
        #expect(face.addressPNG.starts(with: [0x89, 0x50, 0x4E, 0x47]))
        #expect(face.securityCodePNG.starts(with: [0x89, 0x50, 0x4E, 0x47]))
        #expect(face.signature.count == 256)
        #expect(face.publicKey.modulus.count == 256)
        #expect(face.signedDigests.count == 96)
        #expect(face.raw == (try c.file("visual/0002.bin")))
        #expect(face.description == "CardFace(redacted)")
        #expect(try #require(r).value.cvCertificate.raw == (try c.file("visual/0004.bin")))
        // identity 4 + SELECT AP + 3 (verify) + 3 (face, extended) + 3 (CV cert)
        #expect(n == 14)
        print("APDU count card face (\(kind)): \(n)")
    }

    @Test func kanjiVariantCard() throws {
        let c = try SimCard("01-kanji-variant")
        let info = try c.card.readBasicInfo(pin: try c.pin("text")).value
        #expect(info.name == c.identity["name"])
        #expect(info.name.contains("\u{3000}"))
        #expect(!info.nameNFKC.contains("\u{3000}"))
        #expect(info.addressNFKC == nfkc(c.identity["address", default: ""]))
        // NFKC does not fold kanji variants: 髙 stays 髙.
        if info.name.contains("髙") { #expect(info.nameNFKC.contains("髙")) }
    }

    @Test func sameNameCardsHaveDifferentIdentities() throws {
        let a = try SimCard("02-same-name-a")
        let b = try SimCard("03-same-name-b")
        let ia = try a.card.readBasicInfo(pin: try a.pin("text"))
        let ib = try b.card.readBasicInfo(pin: try b.pin("text"))
        #expect(ia.value.name == ib.value.name)
        #expect(ia.card != ib.card)
    }

    @Test(arguments: ["chunk61:32", "wrongle", "chunk61:200,wrongle"])
    func faultInjectionStillReadsCorrectly(spec: String) throws {
        let c = try SimCard("00-ordinary", faults: try FaultSpec(parsing: spec))
        #expect(try c.card.readCertificate(.auth).value.der == (try c.file("jpki/000A.der")))
        #expect(try c.card.readBasicInfo(pin: try c.pin("text")).value.name == c.identity["name"])
        #expect(try c.card.pinStatus(.sign).value == .triesLeft(5))
    }

    @Test func cardRemovedMidOperationIsTyped() throws {
        let c = try SimCard("00-ordinary", faults: try FaultSpec(parsing: "remove-after:3"))
        #expect(throws: JPKIError.transport(.cardRemoved)) { try c.card.readCertificate(.auth) }
    }
}

@Suite("Common AP (in-process simulator)")
struct CommonAPSimulatorTests {
    @Test func commonAPRecord() throws {
        let c = try SimCard("00-ordinary")
        var r: CardResult<CommonAPInfo>?
        let n = try c.count { r = try c.card.readCommonAPInfo() }
        let info = try #require(r).value
        #expect(info.serial == c.identity["serial"])
        #expect(info.municipalityCode == c.identity["municipalityCode"])
        #expect(info.expiry == CardDate(yyyymmdd: Array(c.identity["expiry", default: ""].utf8)))
        #expect(info.raw == (try c.file("common/record1.bin")))
        #expect(n == 4 + 3)
        print("APDU count common AP record: \(n)")
    }
}
