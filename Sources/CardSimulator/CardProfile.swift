import Foundation
import SmartCard

/// A card profile directory (`apdu-fixtures/cards/<name>/`) loaded into memory: ATR, PINs,
/// identity values needed at the card level, file contents and test keys.
///
/// Layout (see apdu-fixtures/README.md): `profile.json`; `jpki/000A.der 000B.der 0001.der 0002.der
/// 0006.bin 0008.bin auth-key.test.pem sign-key.test.pem`; `text/000N.bin ap-key.test.pem`;
/// `visual/000N.bin ap-key.test.pem`; `common/record1.bin`. Any `XXXX.bin` / `XXXX.der` file
/// (four hex digits) in an application directory becomes a transparent EF of that application.
public struct CardProfile: Sendable {
    /// One PIN of the profile.
    public struct PIN: Sendable, Decodable {
        /// The correct value (ASCII as sent by clients). Test data only.
        public var value: String
        /// Remaining tries when a simulator is created.
        public var tries: Int
        /// Counter size.
        public var maxTries: Int
    }

    /// The fixture's name (from `profile.json`).
    public var name: String
    /// The ATR.
    public var atr: [UInt8]
    /// PINs by profile key (`auth`, `sign`, `text`, `textA`, `textB`, `visualBirth`, `visualB`,
    /// `visualA`, `common`).
    public var pins: [String: PIN]
    /// A 顔認証マイナンバーカード (face-authentication card, `"faceAuth": true` in `profile.json`):
    /// issued without any PIN the holder chooses (no `auth`, `sign`, `text`, `common` PIN) and
    /// without a signing certificate, sign key or sign CA certificate (no JPKI EF 0001/0002).
    /// The simulator models it on the most likely behaviour, an **assumption** no public source
    /// confirms (apdu-fixtures/README.md, "Card states"): the PIN EFs a holder would set (JPKI 0018
    /// auth, 001B sign; text 0011; juki 001C), the sign certificate EF 0001 and the sign key EF
    /// 001A do not exist — SELECT and READ by SFI answer 6A82, VERIFY by SFI 6A88 — and JPKI EF
    /// 0008 reads `00 8F 00` (sign certificate absent, auth present) whatever the profile's file
    /// says. The auth certificate and the text/visual APs with their 照合番号 keys stay as on any
    /// card; the auth key is not assumed usable without a PIN (COMPUTE SIGNATURE answers 6982).
    public var isFaceAuthCard: Bool
    /// The applications the credential holds (`"applications"` in `profile.json`: `jpki`, `text`,
    /// `visual`, `common`, `juki`); nil = all five, as on a card. A smartphone JPKI (スマホ用電子証明書)
    /// holds the JPKI AP only: SELECT of any other AID answers 6A82.
    public var applications: Set<String>?
    /// The auth certificate (JPKI EF 000A) can be read only after the auth PIN was verified
    /// (`"authCertificateAfterPIN": true`): Android's smartphone JPKI (jpki/myna issue 6). Before
    /// that, READ BINARY of EF 000A answers 6982 (security status not satisfied) — the status word is
    /// an **assumption** (apdu-fixtures/README.md, "Smartphones"); SELECT answers 9000.
    public var authCertificateAfterPIN: Bool
    /// The fixture whose holder this credential belongs to (`"holder"`, e.g. a phone of
    /// `00-ordinary`'s holder); nil for a card.
    public var holder: String?
    /// Identity values of `profile.json` (used for MF-level GET DATA: municipality code, expiry,
    /// serial). Never logged.
    var identity: [String: String]
    /// Silicon-like behaviour asked for by `profile.json` (`"behaviour": "filler,eof6282"`;
    /// absent = none). `jpki-sim --behaviour` overrides it.
    public var behaviour: CardBehaviour
    /// Transparent EF contents per application directory (`jpki`, `text`, `visual`, `common`).
    var files: [String: [UInt16: [UInt8]]]
    /// Records of the 共通AP EF 0001 (record 1 first).
    var commonRecords: [[UInt8]]
    /// Test keys per application directory and role (`auth`, `sign`, `ap`).
    var keys: [String: TestPrivateKey]

    private struct JSONProfile: Decodable {
        var name: String
        var atr: String
        var pins: [String: PIN]
        var identity: [String: String]?
        var behaviour: String?
        var faceAuth: Bool?
        var applications: [String]?
        var authCertificateAfterPIN: Bool?
        var holder: String?
    }

    /// Loads a profile directory.
    public init(directory: URL) throws(CardSimulatorError) {
        let jsonURL = directory.appendingPathComponent("profile.json")
        let json = try Self.read(jsonURL)
        let decoded: JSONProfile
        do {
            decoded = try JSONDecoder().decode(JSONProfile.self, from: Data(json))
        } catch {
            throw .invalidProfile("profile.json does not match the expected shape")
        }
        guard let atr = [UInt8](hex: decoded.atr), atr.count >= 2, atr.count <= 33 else {
            throw .invalidProfile("atr is not 2...33 hex bytes")
        }
        let faceAuth = decoded.faceAuth ?? false
        let known: Set<String> = ["jpki", "text", "visual", "common", "juki"]
        if let apps = decoded.applications {
            guard apps.contains("jpki"), Set(apps).isSubset(of: known) else {
                throw .invalidProfile("applications must name jpki and only jpki, text, visual, common, juki")
            }
        }
        let hasText = decoded.applications.map { $0.contains("text") } ?? true
        for required in ["auth", "sign"] + (hasText ? ["text"] : [])
        where !faceAuth && decoded.pins[required] == nil {
            throw .invalidProfile("pins.\(required) is missing")
        }
        for (key, pin) in decoded.pins {
            guard pin.maxTries >= 1, pin.maxTries <= 15, pin.tries >= 0, pin.tries <= pin.maxTries
            else {
                throw .invalidProfile("pins.\(key): tries must be 0...maxTries and maxTries 1...15")
            }
            guard !pin.value.isEmpty, pin.value.utf8.count <= 255 else {
                throw .invalidProfile("pins.\(key): value must be 1...255 bytes")
            }
        }
        name = decoded.name
        self.atr = atr
        pins = decoded.pins
        isFaceAuthCard = faceAuth
        applications = decoded.applications.map(Set.init)
        authCertificateAfterPIN = decoded.authCertificateAfterPIN ?? false
        holder = decoded.holder
        identity = decoded.identity ?? [:]
        behaviour = try CardBehaviour(parsing: decoded.behaviour ?? "")

        var files: [String: [UInt16: [UInt8]]] = [:]
        for ap in ["jpki", "text", "visual", "common"] {
            files[ap] = try Self.loadEFs(directory.appendingPathComponent(ap))
        }
        if faceAuth { files["jpki"]?[0x0001] = nil }
        let requiredJPKI: [UInt16] =
            faceAuth ? [0x000A, 0x000B, 0x0006, 0x0008] : [0x0001, 0x0002, 0x000A, 0x000B, 0x0006, 0x0008]
        for fid in requiredJPKI where files["jpki"]?[fid] == nil {
            throw .fileUnreadable(
                directory.appendingPathComponent("jpki/\(Self.hex4(fid)).der|bin").path)
        }
        self.files = files

        let record1 = directory.appendingPathComponent("common/record1.bin")
        commonRecords =
            FileManager.default.fileExists(atPath: record1.path) ? [try Self.read(record1)] : []

        var keys: [String: TestPrivateKey] = [:]
        let keyFiles = [
            ("jpki.auth", "jpki/auth-key.test.pem", true),
            ("jpki.sign", "jpki/sign-key.test.pem", !faceAuth),
            ("text.ap", "text/ap-key.test.pem", false),
            ("visual.ap", "visual/ap-key.test.pem", false),
        ]
        for (role, relative, required) in keyFiles {
            let url = directory.appendingPathComponent(relative)
            if !required && !FileManager.default.fileExists(atPath: url.path) { continue }
            var pem = try Self.read(url)
            defer { pem.withUnsafeMutableBufferPointer { $0.update(repeating: 0) } }
            keys[role] = try TestPrivateKey(pem: pem, path: url.path)
        }
        self.keys = keys
    }

    /// The card profile files of one application directory: `XXXX.bin` / `XXXX.der`.
    private static func loadEFs(_ dir: URL) throws(CardSimulatorError) -> [UInt16: [UInt8]] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir.path) else {
            return [:]
        }
        var out: [UInt16: [UInt8]] = [:]
        for name in names.sorted() {
            let parts = name.split(separator: ".")
            guard parts.count == 2, parts[1] == "bin" || parts[1] == "der", parts[0].count == 4,
                let fid = UInt16(parts[0], radix: 16)
            else { continue }
            let bytes = try read(dir.appendingPathComponent(name))
            guard bytes.count <= 0x7FFF else {
                throw .invalidProfile("\(dir.lastPathComponent)/\(name) is larger than 32767 bytes")
            }
            out[fid] = bytes
        }
        return out
    }

    static func read(_ url: URL) throws(CardSimulatorError) -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw .fileUnreadable(url.path)
        }
        return [UInt8](data)
    }

    static func hex4(_ v: UInt16) -> String {
        [UInt8(v >> 8), UInt8(v & 0xFF)].hexString
    }
}
