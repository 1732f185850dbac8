import Foundation
import JPKI
import SmartCard

/// The PINs (key references with a retry counter) of the simulated card.
public enum SimulatedPIN: String, CaseIterable, Sendable, Hashable {
    /// JPKI AP 0018, user authentication PIN.
    case auth
    /// JPKI AP 001B, signature password.
    case sign
    /// Text AP 0011.
    case text
    /// Text AP 0012: blocked on every card examined (always 63C0 / 6984).
    case textBlocked
    /// Text AP 0014, 照合番号A (the My Number).
    case textA
    /// Text AP 0015, 照合番号B.
    case textB
    /// Visual AP 0011, birth-date key.
    case visualBirth
    /// Visual AP 0012, 照合番号B.
    case visualB
    /// Visual AP 0013, 照合番号A.
    case visualA
    /// 共通AP 001C.
    case common
    /// 住基AP 001C (same value as `common` in the profile, separate counter).
    case juki
}

/// A simulated My Number card (JPKI chip) loaded from a card profile directory.
///
/// It implements the applications and files of jpki-facts.md §1–§4 with their status words:
/// SELECT by AID / FID, READ BINARY (15-bit offsets, SFI form, short and extended Le), READ
/// RECORD, VERIFY (empty VERIFY never spends a try), CHANGE REFERENCE DATA, CHANGE KEY,
/// COMPUTE DIGITAL SIGNATURE (`80 2A`, PKCS#1 v1.5 with OpenSSL over the given bytes), GET DATA,
/// GET CHALLENGE, GET RESPONSE, plus ``FaultSpec`` fault injection.
///
/// ``CardBehaviour`` (`behaviour`) turns on silicon-like answers: physical EF sizes with filler,
/// 6282 at the end of a file, 9000 to the empty VERIFY once verified, PIN format checks, FCI,
/// T=0-like 61xx/6Cxx. Without it, the choices below hold.
///
/// Choices where the facts leave room (see also the final section of FAULTS.md):
/// - SELECT with P2=00 or 04 answers 9000 with no FCI, like P2=0C.
/// - READ BINARY with Le larger than what is left of the file answers the remaining bytes with
///   9000 (JICSAP 6.4.1: the card reads to the end of the file within Le); an offset at or past
///   the end answers 6B00.
/// - Selecting any application (or the GlobalPlatform ISD) clears all verified PINs.
/// - Security state (verified PINs, current application and EF) is per power-up: ``reset()``,
///   ``powerOff()`` and ``powerOn()`` clear it. PIN counters and changed PINs live as long as
///   the object.
///
/// Thread safety: every entry point takes an internal lock, so the card may be inspected from
/// another thread while a bridge drives it.
public final class VirtualMyNumberCard: VirtualCard, @unchecked Sendable {
    // MARK: Model

    enum KeyRef { case jpkiAuth, jpkiSign, textAP, visualAP, terminalCA, commonInternal }

    enum Content {
        case transparent([UInt8])
        case records([[UInt8]])
        case pin(SimulatedPIN)
        case key(KeyRef)
    }

    struct EF {
        var content: Content
        /// Any one of these verified opens the EF for reading; empty = free.
        var readAccess: [SimulatedPIN] = []
        /// The EF's size with ``CardBehaviour/filler`` (transparent EFs; 0 otherwise).
        var physicalSize = 0
    }

    enum AppID: Hashable { case jpki, text, visual, juki, common }

    struct Application {
        var id: AppID
        var aid: [UInt8]
        var efs: [UInt16: EF]
    }

    struct PINState {
        var value: [UInt8]
        var tries: Int
        var maxTries: Int
    }

    /// AIDs of jpki-facts §1.
    public static let jpkiAID: [UInt8] = [
        0xD3, 0x92, 0xF0, 0x00, 0x26, 0x01, 0x00, 0x00, 0x00, 0x01,
    ]
    /// 券面事項入力補助AP.
    public static let textAID: [UInt8] = [
        0xD3, 0x92, 0x10, 0x00, 0x31, 0x00, 0x01, 0x01, 0x04, 0x08,
    ]
    /// 券面事項確認AP.
    public static let visualAID: [UInt8] = [
        0xD3, 0x92, 0x10, 0x00, 0x31, 0x00, 0x01, 0x01, 0x04, 0x02,
    ]
    /// 住基AP.
    public static let jukiAID: [UInt8] = [
        0xD3, 0x92, 0x10, 0x00, 0x31, 0x00, 0x01, 0x01, 0x04, 0x01,
    ]
    /// 共通AP.
    public static let commonAID: [UInt8] = [
        0xD3, 0x92, 0x10, 0x00, 0x31, 0x00, 0x01, 0x01, 0x01, 0x00,
    ]
    /// GlobalPlatform Issuer Security Domain (selecting it returns to the MF-level state).
    public static let issuerSecurityDomainAID: [UInt8] = [0xA0, 0x00, 0x00, 0x01, 0x51, 0x00, 0x00]

    // MARK: State

    /// The profile the card was loaded from.
    public let profile: CardProfile
    /// The ATR sent on GET ATR.
    public let atr: [UInt8]

    private let lock = NSLock()
    private var applications: [AppID: Application] = [:]
    private var pins: [SimulatedPIN: PINState] = [:]
    private var faultSpec: FaultSpec
    private var behaviourSpec: CardBehaviour
    private var currentApp: AppID?
    private var currentEF: UInt16?
    private var verified: Set<SimulatedPIN> = []
    private var pending: (data: ArraySlice<UInt8>, sw: [UInt8])?
    private var commandCount = 0
    private var removed = false

    // MARK: Creation

    /// Loads a card profile directory (see ``CardProfile``).
    public convenience init(directory: URL) throws(CardSimulatorError) {
        try self.init(directory: directory, faults: FaultSpec())
    }

    /// Loads a card profile directory with fault injection and, optionally, silicon-like
    /// behaviour (nil = the profile's `behaviour`, see ``CardBehaviour``).
    public init(directory: URL, faults: FaultSpec, behaviour: CardBehaviour? = nil)
        throws(CardSimulatorError)
    {
        profile = try CardProfile(directory: directory)
        atr = profile.atr
        faultSpec = faults
        behaviourSpec = behaviour ?? profile.behaviour
        buildApplications()
        resetSecurityState()
    }

    /// Loads `apdu-fixtures/cards/<name>`. The fixtures directory is `$JPKI_FIXTURES` when set
    /// (either the `apdu-fixtures` directory or its `cards` directory), else found by walking up
    /// from this source file, then from the working directory, to a directory holding
    /// `apdu-fixtures/cards`.
    public static func fixture(
        _ name: String, faults: FaultSpec = FaultSpec(), behaviour: CardBehaviour? = nil
    )
        throws(CardSimulatorError) -> VirtualMyNumberCard
    {
        guard !name.isEmpty, !name.contains("/"), name != ".", name != ".." else {
            throw .unknownFixture(name)
        }
        let dir = try fixturesCardsDirectory().appendingPathComponent(name)
        guard
            FileManager.default.fileExists(atPath: dir.appendingPathComponent("profile.json").path)
        else { throw .unknownFixture(name) }
        return try VirtualMyNumberCard(directory: dir, faults: faults, behaviour: behaviour)
    }

    /// Names of the fixture cards (sorted), or an empty list when none can be found.
    public static func fixtureNames() -> [String] {
        guard let dir = try? fixturesCardsDirectory(),
            let names = try? FileManager.default.contentsOfDirectory(atPath: dir.path)
        else { return [] }
        return names.filter {
            FileManager.default.fileExists(
                atPath: dir.appendingPathComponent($0).appendingPathComponent("profile.json").path)
        }.sorted()
    }

    /// The `apdu-fixtures/cards` directory.
    public static func fixturesCardsDirectory(filePath: String = #filePath)
        throws(CardSimulatorError)
        -> URL
    {
        let fm = FileManager.default
        if let env = ProcessInfo.processInfo.environment["JPKI_FIXTURES"], !env.isEmpty {
            let base = URL(fileURLWithPath: env)
            let cards = base.appendingPathComponent("cards")
            if fm.fileExists(atPath: cards.path) { return cards }
            if fm.fileExists(atPath: base.path) { return base }
            throw .fixturesNotFound("JPKI_FIXTURES points to a missing directory")
        }
        let starts = [
            URL(fileURLWithPath: filePath).deletingLastPathComponent(),
            URL(fileURLWithPath: fm.currentDirectoryPath),
        ]
        for start in starts {
            var dir = start
            while true {
                let cards = dir.appendingPathComponent("apdu-fixtures/cards")
                var isDir: ObjCBool = false
                if fm.fileExists(atPath: cards.path, isDirectory: &isDir), isDir.boolValue {
                    return cards
                }
                let parent = dir.deletingLastPathComponent()
                if parent.path == dir.path { break }
                dir = parent
            }
        }
        throw .fixturesNotFound("set JPKI_FIXTURES or run inside the package")
    }

    private func buildApplications() {
        for key in SimulatedPIN.allCases {
            let profileKey = key == .juki ? "common" : key.rawValue
            if key == .textBlocked {
                // Never matches: 0x00 bytes are not a PIN any client sends.
                pins[key] = PINState(value: [0, 0, 0, 0], tries: 0, maxTries: 3)
            } else if let p = profile.pins[profileKey] {
                pins[key] = PINState(
                    value: Array(p.value.utf8), tries: p.tries, maxTries: p.maxTries)
            } else {
                // Not in the profile: an unmatchable PIN with a full counter.
                pins[key] = PINState(value: [0, 0, 0, 0], tries: 10, maxTries: 10)
            }
        }
        func transparent(_ dir: String, access: [UInt16: [SimulatedPIN]]) -> [UInt16: EF] {
            var out: [UInt16: EF] = [:]
            for (fid, bytes) in profile.files[dir] ?? [:] {
                out[fid] = EF(
                    content: .transparent(bytes), readAccess: access[fid] ?? [],
                    physicalSize: CardBehaviour.physicalSize(
                        application: dir, fileID: fid, objectLength: bytes.count))
            }
            return out
        }
        var jpki = transparent(
            "jpki", access: profile.authCertificateAfterPIN ? [0x0001: [.sign], 0x000A: [.auth]] : [0x0001: [.sign]])
        jpki[0x0016] = EF(content: .key(.terminalCA))
        jpki[0x0017] = EF(content: .key(.jpkiAuth))
        jpki[0x0018] = EF(content: .pin(.auth))
        jpki[0x001A] = EF(content: .key(.jpkiSign))
        jpki[0x001B] = EF(content: .pin(.sign))
        applications[.jpki] = Application(id: .jpki, aid: Self.jpkiAID, efs: jpki)

        var text = transparent(
            "text",
            access: [
                0x0001: [.text, .textA], 0x0002: [.text, .textB], 0x0003: [.text, .textA, .textB],
            ])
        text[0x0011] = EF(content: .pin(.text))
        text[0x0012] = EF(content: .pin(.textBlocked))
        text[0x0013] = EF(content: .key(.textAP))
        text[0x0014] = EF(content: .pin(.textA))
        text[0x0015] = EF(content: .pin(.textB))
        applications[.text] = Application(id: .text, aid: Self.textAID, efs: text)

        var visual = transparent(
            "visual",
            access: [
                0x0001: [.visualBirth], 0x0002: [.visualA, .visualB], 0x0005: [.visualA],
                0x0006: [.visualA, .visualB],
            ])
        visual[0x0011] = EF(content: .pin(.visualBirth))
        visual[0x0012] = EF(content: .pin(.visualB))
        visual[0x0013] = EF(content: .pin(.visualA))
        applications[.visual] = Application(id: .visual, aid: Self.visualAID, efs: visual)

        applications[.juki] = Application(
            id: .juki, aid: Self.jukiAID, efs: [0x001C: EF(content: .pin(.juki))])

        var common: [UInt16: EF] = [
            0x0019: EF(content: .key(.commonInternal)),
            0x001C: EF(content: .pin(.common)),
        ]
        if !profile.commonRecords.isEmpty {
            common[0x0001] = EF(content: .records(profile.commonRecords))
        }
        applications[.common] = Application(id: .common, aid: Self.commonAID, efs: common)

        if let present = profile.applications {
            // A smartphone JPKI: only the listed applications answer SELECT.
            let names: [AppID: String] = [
                .jpki: "jpki", .text: "text", .visual: "visual", .common: "common", .juki: "juki",
            ]
            for (id, name) in names where !present.contains(name) { applications[id] = nil }
        }
        if profile.isFaceAuthCard {
            // 顔認証マイナンバーカード (an assumption, see CardProfile.isFaceAuthCard): no PIN EFs a
            // holder would set, no sign certificate or sign key.
            for fid: UInt16 in [0x0001, 0x0018, 0x001A, 0x001B] { applications[.jpki]?.efs[fid] = nil }
            applications[.text]?.efs[0x0011] = nil
            applications[.juki]?.efs[0x001C] = nil
        }
    }

    // MARK: Inspection and configuration

    /// Remaining tries of a PIN (0 = blocked).
    public func triesLeft(_ pin: SimulatedPIN) -> Int {
        lock.withLock { pins[pin]?.tries ?? 0 }
    }

    /// Whether a PIN is verified in the current power-up session.
    public func isVerified(_ pin: SimulatedPIN) -> Bool {
        lock.withLock { verified.contains(pin) }
    }

    /// Command APDUs received so far (GET RESPONSE included).
    public var commandsReceived: Int { lock.withLock { commandCount } }

    /// The active silicon-like behaviour; may be changed at any time.
    public var behaviour: CardBehaviour {
        get { lock.withLock { behaviourSpec } }
        set { lock.withLock { behaviourSpec = newValue } }
    }

    /// The active fault injection; may be changed at any time.
    public var faults: FaultSpec {
        get { lock.withLock { faultSpec } }
        set { lock.withLock { faultSpec = newValue } }
    }

    // MARK: VirtualCard

    public func powerOn() { lock.withLock { resetSecurityState() } }
    public func powerOff() { lock.withLock { resetSecurityState() } }
    public func reset() { lock.withLock { resetSecurityState() } }

    private func resetSecurityState() {
        currentApp = nil
        currentEF = nil
        verified.removeAll()
        pending = nil
    }

    public func process(_ command: [UInt8]) -> [UInt8]? {
        let (response, delay) = lock.withLock { () -> ([UInt8]?, Int) in
            commandCount += 1
            let n = commandCount
            let spec = faultSpec
            if removed { return (nil, 0) }
            if spec.removeAfter == n {
                removed = true
                pending = nil
                return (nil, 0)
            }
            var response = respond(command, spec: spec)
            if spec.garbageAt == n {
                var rng = SystemRandomNumberGenerator()
                let count = Int.random(in: 2...64, using: &rng)
                response = (0..<count).map { _ in UInt8.random(in: 0...255, using: &rng) }
                response[count - 2] = UInt8.random(in: 0x00...0x5F, using: &rng)
            }
            if spec.truncateAt == n {
                response = [response.first ?? 0x6F]
            }
            return (response, spec.slowMilliseconds)
        }
        if delay > 0 { Thread.sleep(forTimeInterval: Double(delay) / 1000) }
        return response
    }

    // MARK: Response shaping (61xx / 6Cxx)

    private func respond(_ raw: [UInt8], spec: FaultSpec) -> [UInt8] {
        guard let apdu = try? CommandAPDU(decoding: raw) else {
            pending = nil
            return sw(0x6700)
        }
        if apdu.ins == 0xC0, apdu.cla == 0x00, let waiting = pending {
            return getResponse(apdu, waiting: waiting, chunk: spec.chunk61 ?? 256)
        }
        pending = nil
        var command = apdu
        defer {
            // Best effort: do not keep PIN bytes around longer than needed.
            command.data.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
        }
        let (data, status) = execute(command)
        if behaviourSpec.t0, !data.isEmpty {
            // T=0: case 4 (and anything over 256 bytes) through GET RESPONSE; case 2 with the
            // wrong Le gets 6Cxx.
            if !apdu.data.isEmpty || data.count > 256 {
                pending = (data[...], sw(status))
                return [0x61, UInt8(min(data.count, spec.chunk61 ?? 256) & 0xFF)]
            }
            if let le = apdu.le, le != data.count { return [0x6C, UInt8(data.count & 0xFF)] }
        }
        if spec.wrongLe, let le = apdu.le, !data.isEmpty, data.count <= 256, data.count != le {
            return [0x6C, UInt8(data.count & 0xFF)]
        }
        if let n = spec.chunk61, !data.isEmpty {
            pending = (data[...], sw(status))
            return [0x61, UInt8(min(data.count, n) & 0xFF)]
        }
        return data + sw(status)
    }

    private func getResponse(
        _ apdu: CommandAPDU, waiting: (data: ArraySlice<UInt8>, sw: [UInt8]), chunk: Int
    ) -> [UInt8] {
        guard apdu.p1 == 0, apdu.p2 == 0 else { return sw(0x6A86) }
        guard let le = apdu.le, apdu.data.isEmpty else { return sw(0x6700) }
        let n = min(le, chunk, waiting.data.count)
        let part = Array(waiting.data.prefix(n))
        let rest = waiting.data.dropFirst(n)
        if rest.isEmpty {
            pending = nil
            return part + waiting.sw
        }
        pending = (rest, waiting.sw)
        return part + [0x61, UInt8(min(rest.count, chunk) & 0xFF)]
    }

    private func sw(_ value: UInt16) -> [UInt8] { [UInt8(value >> 8), UInt8(value & 0xFF)] }

    // MARK: Command dispatch

    private static let isoINS: Set<UInt8> = [0xA4, 0xB0, 0xB2, 0x20, 0x24, 0xC0, 0xCA, 0x84, 0x88]
    private static let proprietaryINS: Set<UInt8> = [0x2A, 0x32, 0xA2]

    private typealias Answer = (data: [UInt8], sw: UInt16)

    private func execute(_ c: CommandAPDU) -> Answer {
        if let classError = checkClass(c.cla) { return ([], classError) }
        let proprietary = c.cla == 0x80
        if Self.isoINS.contains(c.ins) {
            if proprietary { return ([], 0x6E00) }
        } else if Self.proprietaryINS.contains(c.ins) {
            if !proprietary { return ([], 0x6E00) }
        } else {
            return ([], 0x6D00)
        }
        switch c.ins {
        case 0xA4: return select(c)
        case 0xB0: return readBinary(c)
        case 0xB2: return readRecord(c)
        case 0x20: return verify(c)
        case 0x24: return changeReference(c, changeKey: false)
        case 0x32: return changeReference(c, changeKey: true)
        case 0x2A: return computeSignature(c)
        case 0xCA: return getData(c)
        case 0x84: return getChallenge(c)
        case 0x88: return internalAuthenticate(c)
        case 0xC0: return ([], 0x6985)  // GET RESPONSE with nothing waiting
        case 0xA2: return ([], 0x6A86)  // SET PUBLIC IC KEY: no P1/P2 accepted (as observed)
        default: return ([], 0x6D00)
        }
    }

    /// Nil when the class byte is acceptable (00 or 80).
    private func checkClass(_ cla: UInt8) -> UInt16? {
        if cla == 0x00 || cla == 0x80 { return nil }
        if cla == 0xFF { return 0x6E00 }
        if cla & 0x80 == 0 {
            if cla & 0x40 != 0 { return 0x6881 }  // further logical channels 4...19
            if cla & 0x20 != 0 { return 0x6E00 }  // RFU
            if cla & 0x03 != 0 { return 0x6881 }  // logical channels 1...3
            if cla & 0x0C != 0 { return 0x6882 }  // secure messaging
            if cla & 0x10 != 0 { return 0x6884 }  // command chaining
            return 0x6E00
        }
        if cla & 0xF0 == 0x80 {
            if cla & 0x03 != 0 { return 0x6881 }
            if cla & 0x0C != 0 { return 0x6882 }
        }
        return 0x6E00
    }

    private var app: Application? { currentApp.flatMap { applications[$0] } }

    /// Resolves the EF named by P2 (`80` = current EF, `80|SFI` = short EF identifier).
    private enum Target {
        case ef(UInt16, EF)
        case error(UInt16)
    }

    private func target(p2: UInt8, selectSFI: Bool) -> Target {
        if p2 == 0x80 {
            guard let fid = currentEF, let ef = app?.efs[fid] else { return .error(0x6986) }
            return .ef(fid, ef)
        }
        guard p2 & 0xE0 == 0x80, p2 & 0x1F != 0x1F else { return .error(0x6A86) }
        let fid = UInt16(p2 & 0x1F)
        guard let ef = app?.efs[fid] else { return .error(0x6A88) }
        if selectSFI { currentEF = fid }
        return .ef(fid, ef)
    }

    private func readAllowed(_ ef: EF) -> Bool {
        ef.readAccess.isEmpty || ef.readAccess.contains(where: verified.contains)
    }

    // MARK: SELECT

    private func select(_ c: CommandAPDU) -> Answer {
        switch c.p1 {
        case 0x04:
            guard !c.data.isEmpty, c.data.count <= 16 else { return ([], 0x6700) }
            let target: AppID?
            if c.data == Self.issuerSecurityDomainAID {
                target = nil
            } else if let found = applications.values.first(where: { $0.aid == c.data }) {
                target = found.id
            } else {
                return ([], 0x6A82)
            }
            guard [0x00, 0x04, 0x0C].contains(c.p2) else { return ([], 0x6A86) }
            currentApp = target
            currentEF = nil
            verified.removeAll()
            return (controlInformation(p2: c.p2, [(0x84, c.data)]), 0x9000)
        case 0x02:
            return selectEF(c)
        case 0x00:
            if c.data.isEmpty {
                // Observed: 6A86 at the MF level, 9000 (and no change) with an AP current.
                return ([], currentApp == nil ? 0x6A86 : 0x9000)
            }
            if c.data == [0x3F, 0x00] { return ([], 0x6A82) }
            return selectEF(c)
        default:
            return ([], 0x6A86)
        }
    }

    private func selectEF(_ c: CommandAPDU) -> Answer {
        guard c.data.count == 2 else { return ([], 0x6700) }
        // P2=04 (FCP) only where the card answers control information (`fci`).
        let accepted: [UInt8] = behaviourSpec.fci ? [0x00, 0x04, 0x0C] : [0x00, 0x0C]
        guard accepted.contains(c.p2) else { return ([], 0x6A86) }
        let fid = UInt16(c.data[0]) << 8 | UInt16(c.data[1])
        guard let application = app, let ef = application.efs[fid] else { return ([], 0x6A82) }
        currentEF = fid
        var items: [(UInt8, [UInt8])] = []
        switch ef.content {
        case .transparent(let bytes):
            let size = behaviourSpec.filler ? ef.physicalSize : bytes.count
            items = [(0x80, [UInt8(size >> 8), UInt8(size & 0xFF)]), (0x82, [0x01])]
        case .records: items = [(0x82, [0x02])]
        case .pin, .key: items = [(0x82, [0x11])]
        }
        items.append((0x83, [UInt8(fid >> 8), UInt8(fid & 0xFF)]))
        return (controlInformation(p2: c.p2, items), 0x9000)
    }

    /// With ``CardBehaviour/fci``: the FCI (`6F`, P2=00) or FCP (`62`, P2=04) template of the
    /// selected file; empty otherwise and for P2=0C. Items: `80` size (transparent EFs), `82`
    /// file descriptor (01 transparent, 02 linear fixed, 11 internal EF: assumed), `83` FID,
    /// `84` DF name. The exact templates of real cards are not public (assumed).
    private func controlInformation(p2: UInt8, _ items: [(UInt8, [UInt8])]) -> [UInt8] {
        guard behaviourSpec.fci, p2 == 0x00 || p2 == 0x04 else { return [] }
        var body: [UInt8] = []
        for (tag, value) in items { body += [tag, UInt8(value.count)] + value }
        return [p2 == 0x00 ? 0x6F : 0x62, UInt8(body.count)] + body
    }

    // MARK: READ BINARY / READ RECORD

    private func readBinary(_ c: CommandAPDU) -> Answer {
        guard c.data.isEmpty, let le = c.le else { return ([], 0x6700) }
        let fid: UInt16
        let offset: Int
        if c.p1 & 0x80 != 0 {
            guard c.p1 & 0x60 == 0, c.p1 & 0x1F != 0 else { return ([], 0x6A86) }
            fid = UInt16(c.p1 & 0x1F)
            guard app?.efs[fid] != nil else { return ([], 0x6A82) }
            currentEF = fid
            offset = Int(c.p2)
        } else {
            guard let current = currentEF else { return ([], 0x6986) }
            fid = current
            offset = Int(c.p1) << 8 | Int(c.p2)
        }
        guard let ef = app?.efs[fid] else { return ([], 0x6986) }
        guard case .transparent(let bytes) = ef.content else { return ([], 0x6981) }
        guard readAllowed(ef) else { return ([], 0x6982) }
        let size = behaviourSpec.filler ? max(ef.physicalSize, bytes.count) : bytes.count
        guard offset < size else { return ([], 0x6B00) }
        let n = min(le, size - offset)
        var out: [UInt8] = []
        out.reserveCapacity(n)
        if offset < bytes.count { out += bytes[offset..<min(offset + n, bytes.count)] }
        out += repeatElement(CardBehaviour.fillerByte, count: n - out.count)
        return (out, le > n && behaviourSpec.endOfFile6282 ? 0x6282 : 0x9000)
    }

    private func readRecord(_ c: CommandAPDU) -> Answer {
        guard c.data.isEmpty, let le = c.le else { return ([], 0x6700) }
        switch c.p2 & 0x07 {
        case 0x04: break
        case 0x05, 0x06: return ([], 0x6A81)
        default: return ([], 0x6A86)
        }
        let sfi = c.p2 >> 3
        let fid: UInt16
        if sfi == 0 {
            guard let current = currentEF else { return ([], 0x6986) }
            fid = current
        } else {
            guard sfi != 0x1F, app?.efs[UInt16(sfi)] != nil else { return ([], 0x6A82) }
            fid = UInt16(sfi)
            currentEF = fid
        }
        guard let ef = app?.efs[fid] else { return ([], 0x6986) }
        guard case .records(let records) = ef.content else { return ([], 0x6981) }
        guard readAllowed(ef) else { return ([], 0x6982) }
        guard c.p1 >= 1, Int(c.p1) <= records.count else { return ([], 0x6A83) }
        let record = records[Int(c.p1) - 1]
        if le < record.count { return ([], 0x6C00 | UInt16(record.count & 0xFF)) }
        return (record, 0x9000)
    }

    // MARK: VERIFY / CHANGE

    private func verify(_ c: CommandAPDU) -> Answer {
        guard c.p1 == 0x00 else { return ([], 0x6A86) }
        let ef: EF
        switch target(p2: c.p2, selectSFI: true) {
        case .error(let e): return ([], e)
        case .ef(_, let e): ef = e
        }
        guard case .pin(let id) = ef.content, var state = pins[id] else { return ([], 0x6981) }
        if c.data.isEmpty {
            // Counter query: never spends a try; 63Cx (with `verified9000`: 9000 once verified).
            if behaviourSpec.verifiedAnswers9000, verified.contains(id) { return ([], 0x9000) }
            return ([], 0x63C0 | UInt16(state.tries))
        }
        guard state.tries > 0 else { return ([], 0x6984) }
        if behaviourSpec.checksPINFormat, let refusal = CardBehaviour.pinFormatStatus(c.data, for: id) {
            return ([], refusal)
        }
        if constantTimeEqual(c.data, state.value) {
            state.tries = state.maxTries
            pins[id] = state
            verified.insert(id)
            return ([], 0x9000)
        }
        state.tries -= 1
        pins[id] = state
        verified.remove(id)
        return ([], 0x63C0 | UInt16(state.tries))
    }

    private func changeReference(_ c: CommandAPDU, changeKey: Bool) -> Answer {
        // 00 24 01 80 (JPKI, text AP) / 80 32 00 80 (共通AP, 住基AP).
        guard c.p1 == (changeKey ? 0x00 : 0x01) else { return ([], 0x6A86) }
        guard let appID = currentApp else { return ([], 0x6986) }
        let allowed: [AppID] = changeKey ? [.common, .juki] : [.jpki, .text]
        guard allowed.contains(appID) else { return ([], 0x6A81) }
        guard !c.data.isEmpty else { return ([], 0x6700) }
        let ef: EF
        switch target(p2: c.p2, selectSFI: true) {
        case .error(let e): return ([], e)
        case .ef(_, let e): ef = e
        }
        guard case .pin(let id) = ef.content, var state = pins[id] else { return ([], 0x6981) }
        guard [.auth, .sign, .text, .common, .juki].contains(id) else { return ([], 0x6985) }
        guard state.tries > 0 else { return ([], 0x6984) }
        guard verified.contains(id) else { return ([], 0x6982) }
        guard Self.validNewPIN(c.data, for: id) else { return ([], 0x6A80) }
        state.value.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
        state.value = c.data
        pins[id] = state
        return ([], 0x9000)
    }

    static func validNewPIN(_ pin: [UInt8], for id: SimulatedPIN) -> Bool {
        let digit = { (b: UInt8) in b >= 0x30 && b <= 0x39 }
        let upper = { (b: UInt8) in b >= 0x41 && b <= 0x5A }
        switch id {
        case .sign:
            return (6...16).contains(pin.count) && pin.allSatisfy { digit($0) || upper($0) }
                && pin.contains(where: digit) && pin.contains(where: upper)
        default:
            return pin.count == 4 && pin.allSatisfy(digit)
        }
    }

    private func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var diff = UInt8(a.count == b.count ? 0 : 1)
        for i in 0..<max(a.count, b.count) {
            let x = i < a.count ? a[i] : 0
            let y = i < b.count ? b[i] : 0xFF
            diff |= x ^ y
        }
        return diff == 0
    }

    // MARK: Signatures

    private func computeSignature(_ c: CommandAPDU) -> Answer {
        guard let appID = currentApp else { return ([], 0x6986) }
        let keyRef: KeyRef
        if c.p2 == 0x00 {
            switch appID {
            case .text: keyRef = .textAP
            case .visual: keyRef = .visualAP
            default: return ([], 0x6A86)
            }
        } else {
            switch target(p2: c.p2, selectSFI: false) {
            case .error(let e): return ([], e)
            case .ef(_, let ef):
                guard case .key(let k) = ef.content else { return ([], 0x6981) }
                keyRef = k
            }
        }
        let material: TestPrivateKey?
        switch keyRef {
        case .jpkiAuth:
            guard verified.contains(.auth) else { return ([], 0x6982) }
            material = profile.keys["jpki.auth"]
        case .jpkiSign:
            guard verified.contains(.sign) else { return ([], 0x6982) }
            material = profile.keys["jpki.sign"]
        case .textAP: material = profile.keys["text.ap"]
        case .visualAP: material = profile.keys["visual.ap"]
        case .terminalCA, .commonInternal: return ([], 0x6985)
        }
        guard let key = material else { return ([], 0x6985) }
        guard !c.data.isEmpty else { return ([], 0x6700) }
        let signature: [UInt8]?
        if key.curve != nil {
            // ECDSA stand-in (assumed, see apdu-fixtures/README.md "ECDSA stand-in"): the card
            // is given the raw hash (SHA-256/384/512 length) and answers r ‖ s.
            guard c.p1 == 0x00 else { return ([], 0x6A86) }
            guard [32, 48, 64].contains(c.data.count) else { return ([], 0x6700) }
            guard let s = key.signECDSA(digest: c.data) else { return ([], 0x6F00) }
            return (s, 0x9000)
        }
        switch c.p1 {
        case 0x00:
            guard c.data.count <= key.modulusBytes - 11 else { return ([], 0x6700) }
            signature = key.signPKCS1Raw(c.data)
        case 0x01: signature = key.signPKCS1Raw(SHA256.hash(c.data))
        case 0x02:
            // A SHA-256 digest (32 bytes) to be wrapped in its DigestInfo.
            guard let digestInfo = try? DigestInfo.encode(.sha256, digest: c.data) else { return ([], 0x6700) }
            signature = key.signPKCS1Raw(digestInfo)
        case 0x03: signature = key.signPKCS1Raw(DigestInfo.of(message: c.data))
        case 0x04:
            guard c.data.count == 32 else { return ([], 0x6700) }
            signature = key.signPSS(sha256Hash: c.data)
        case 0x05: signature = key.signPSS(sha256Hash: SHA256.hash(c.data))
        default: return ([], 0x6A86)
        }
        guard let signature else { return ([], 0x6F00) }
        return (signature, 0x9000)
    }

    private func internalAuthenticate(_ c: CommandAPDU) -> Answer {
        guard currentApp != nil else { return ([], 0x6986) }
        switch target(p2: c.p2, selectSFI: false) {
        case .error(let e): return ([], e)
        case .ef(_, let ef):
            guard case .key(let k) = ef.content else { return ([], 0x6981) }
            switch k {
            case .jpkiAuth, .jpkiSign: return ([], 0x6982)
            default: return ([], 0x6985)
            }
        }
    }

    // MARK: GET DATA / GET CHALLENGE

    private func getData(_ c: CommandAPDU) -> Answer {
        guard c.data.isEmpty, let le = c.le else { return ([], 0x6700) }
        let tag = UInt16(c.p1) << 8 | UInt16(c.p2)
        var value: [UInt8]?
        switch tag {
        case 0x5F51: value = Array(atr.dropFirst())
        case 0x0045 where currentApp == nil:
            value = profile.identity["serial"].map { Array($0.utf8) }
        case 0x00F0 where currentApp == nil:
            value = profile.identity["municipalityCode"].map { Array($0.utf8) }
        case 0x00F2 where currentApp == nil:
            value = profile.identity["expiry"].map { Array($0.utf8) }
        default: value = nil
        }
        guard let value, !value.isEmpty else { return ([], 0x6A88) }
        return (Array(value.prefix(le)), 0x9000)
    }

    private func getChallenge(_ c: CommandAPDU) -> Answer {
        guard c.p1 == 0, c.p2 == 0 else { return ([], 0x6A86) }
        guard c.data.isEmpty, let le = c.le else { return ([], 0x6700) }
        guard !c.forceExtended, le <= 256 else { return ([], 0x6985) }  // extended form refused
        var rng = SystemRandomNumberGenerator()
        return ((0..<le).map { _ in UInt8.random(in: 0...255, using: &rng) }, 0x9000)
    }
}
