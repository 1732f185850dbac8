/// The applications (APs) on a My Number card, selected by DF name (`00 A4 04 0C 0A <AID>`).
public enum JPKIApplication: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// 公的個人認証AP: certificates, keys and the two JPKI PINs.
    case jpki
    /// 券面事項入力補助AP ("text" AP): My Number and basic 4 information as text.
    case text
    /// 券面事項確認AP ("visual" AP): the card face as images.
    case visual
    /// 共通AP (common card AP): serial, municipality code, expiry.
    case common
    /// 住基AP (resident registry AP).
    case juki

    /// The application identifier (DF name).
    public var aid: [UInt8] {
        switch self {
        case .jpki: [0xD3, 0x92, 0xF0, 0x00, 0x26, 0x01, 0x00, 0x00, 0x00, 0x01]
        case .text: [0xD3, 0x92, 0x10, 0x00, 0x31, 0x00, 0x01, 0x01, 0x04, 0x08]
        case .visual: [0xD3, 0x92, 0x10, 0x00, 0x31, 0x00, 0x01, 0x01, 0x04, 0x02]
        case .common: [0xD3, 0x92, 0x10, 0x00, 0x31, 0x00, 0x01, 0x01, 0x01, 0x00]
        case .juki: [0xD3, 0x92, 0x10, 0x00, 0x31, 0x00, 0x01, 0x01, 0x04, 0x01]
        }
    }

    /// The short name (`jpki`, `text`, …).
    public var description: String { rawValue }
}

/// Elementary file identifiers used by this library (all selected with `00 A4 02 0C 02 <FID>`).
public enum JPKIFile {
    /// JPKI AP: signature certificate (READ needs the sign PIN).
    public static let signCertificate: UInt16 = 0x0001
    /// JPKI AP: signature CA certificate.
    public static let signCACertificate: UInt16 = 0x0002
    /// JPKI AP: token information (160 bytes, label in the first 32).
    public static let tokenInfo: UInt16 = 0x0006
    /// JPKI AP: certificate presence flags (`8F 8F 00`).
    public static let certificateFlags: UInt16 = 0x0008
    /// JPKI AP: user authentication certificate (free to read).
    public static let authCertificate: UInt16 = 0x000A
    /// JPKI AP: user authentication CA certificate.
    public static let authCACertificate: UInt16 = 0x000B
    /// JPKI AP: user authentication private key (select, then `80 2A 00 80`).
    public static let authKey: UInt16 = 0x0017
    /// JPKI AP: signature private key (select, then `80 2A 00 80`).
    public static let signKey: UInt16 = 0x001A

    /// Text AP: My Number (`FF 10 0C` + 12 digits + `FF FF`, 17 bytes).
    public static let textMyNumber: UInt16 = 0x0001
    /// Text AP: basic 4 information (`FF 20 …`).
    public static let textBasicInfo: UInt16 = 0x0002
    /// Text AP: integrity record (`FF 30 …`).
    public static let textIntegrity: UInt16 = 0x0003
    /// Text AP: CV certificate of the AP key (`7F 21 …`).
    public static let textCVCertificate: UInt16 = 0x0004

    /// Visual AP: card face (`FF 20 …`).
    public static let visualCardFace: UInt16 = 0x0002
    /// Visual AP: AP information (`FF 30 …`, DF34 municipality code).
    public static let visualAPInfo: UInt16 = 0x0003
    /// Visual AP: CV certificate of the AP key.
    public static let visualCVCertificate: UInt16 = 0x0004
}

/// What characters a PIN of some kind may hold.
public enum PINFormat: Sendable, Hashable {
    /// Exactly `count` ASCII digits.
    case digits(count: Int)
    /// The JPKI signature password: 6–16 characters A–Z / 0–9 with at least one letter and one
    /// digit (lower-case letters are upper-cased before checking and sending).
    case signPassword
}

/// The PINs and other verification keys of the card, each a key reference in one AP.
public enum PINKind: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// JPKI user authentication PIN (EF 0018, 4 digits, 3 tries).
    case auth
    /// JPKI signature password (EF 001B, 6–16 characters, 5 tries).
    case sign
    /// Text AP PIN (EF 0011, 4 digits, 3 tries).
    case text
    /// Text AP 照合番号A = the 12-digit My Number (EF 0014).
    case textA
    /// Text AP 照合番号B = 14 digits: birth date YYMMDD + expiry year + security code (EF 0015).
    case textB
    /// Visual AP birth-date key, era YYMMDD (EF 0011).
    case visualBirth
    /// Visual AP 照合番号B, 14 digits (EF 0012).
    case visualB
    /// Visual AP 照合番号A = the 12-digit My Number (EF 0013).
    case visualA
    /// 共通AP PIN (EF 001C, 4 digits, 3 tries).
    case common
    /// 住基AP PIN (EF 001C, 4 digits, 3 tries; a counter separate from ``common``).
    case juki

    /// The application holding this key.
    public var application: JPKIApplication {
        switch self {
        case .auth, .sign: .jpki
        case .text, .textA, .textB: .text
        case .visualBirth, .visualB, .visualA: .visual
        case .common: .common
        case .juki: .juki
        }
    }

    /// The EF identifier of the key reference (SELECT it, then `00 20 00 80`).
    public var fileID: UInt16 {
        switch self {
        case .auth: 0x0018
        case .sign: 0x001B
        case .text: 0x0011
        case .textA: 0x0014
        case .textB: 0x0015
        case .visualBirth: 0x0011
        case .visualB: 0x0012
        case .visualA: 0x0013
        case .common, .juki: 0x001C
        }
    }

    /// The accepted format.
    public var format: PINFormat {
        switch self {
        case .auth, .text, .common, .juki: .digits(count: 4)
        case .sign: .signPassword
        case .textA, .visualA: .digits(count: 12)
        case .textB, .visualB: .digits(count: 14)
        case .visualBirth: .digits(count: 6)
        }
    }

    /// The counter size on a genuine card (the 照合番号 counters are not confirmed; 10 assumed).
    public var maxTries: Int {
        switch self {
        case .auth, .text, .common, .juki: 3
        case .sign: 5
        case .textA, .textB, .visualBirth, .visualB, .visualA: 10
        }
    }

    /// The short name (`auth`, `sign`, …), as in fixture profiles.
    public var description: String { rawValue }

    /// The PINs whose status ``MyNumberCard/allPINStatus(_:)`` reports by default, grouped by AP.
    public static let standardSet: [PINKind] = [
        .auth, .sign, .text, .textA, .textB, .visualBirth, .visualB, .visualA, .common,
    ]
}

/// Which JPKI key signs.
public enum JPKIKey: String, Sendable, Hashable, CaseIterable {
    /// The user authentication key (EF 0017), unlocked by the auth PIN.
    case auth
    /// The signature key (EF 001A), unlocked by the sign password.
    case sign

    /// The key EF.
    public var fileID: UInt16 { self == .auth ? JPKIFile.authKey : JPKIFile.signKey }
    /// The PIN that unlocks it.
    public var pin: PINKind { self == .auth ? .auth : .sign }
}

/// The four certificates of the JPKI AP.
public enum JPKICertificateKind: String, Sendable, Hashable, CaseIterable {
    /// User authentication certificate (EF 000A, free).
    case auth
    /// User authentication CA certificate (EF 000B, free).
    case authCA
    /// Signature certificate (EF 0001, needs the sign PIN; carries personal data).
    case sign
    /// Signature CA certificate (EF 0002, free).
    case signCA

    /// The certificate EF.
    public var fileID: UInt16 {
        switch self {
        case .auth: JPKIFile.authCertificate
        case .authCA: JPKIFile.authCACertificate
        case .sign: JPKIFile.signCertificate
        case .signCA: JPKIFile.signCACertificate
        }
    }

    /// Whether reading it needs the sign PIN.
    public var needsSignPIN: Bool { self == .sign }
}
