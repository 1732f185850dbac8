import SmartCard

/// Identifies the card an operation ran against: SHA-256 of its auth certificate DER, read in
/// the same card transaction as the operation. Compare it to bind results to one card.
public struct CardIdentity: Sendable, Hashable, CustomStringConvertible {
    /// SHA-256 of the auth certificate (32 bytes).
    public let fingerprint: [UInt8]

    /// Creates an identity from an auth certificate's DER.
    public init(authCertificateDER: [UInt8]) {
        fingerprint = SHA256.hash(authCertificateDER)
    }

    /// A pre-certificate identity for a credential whose auth certificate is read only after the
    /// auth PIN (Android smartphone JPKI): SHA-256 of `"token:"` followed by the 32-byte token
    /// label of EF 0006. It tells a phone from a card or another kind of phone, never one phone of a
    /// kind from another (nothing on the phone that is readable before the PIN is personal).
    public init(tokenInfo: [UInt8]) {
        fingerprint = SHA256.hash(Array("token:".utf8) + tokenInfo)
    }

    /// The fingerprint as lower-case hex (not personal data: the auth certificate has none).
    public var hex: String { fingerprint.hexString.lowercased() }

    /// `card:<first 16 hex digits>`.
    public var description: String { "card:" + String(hex.prefix(16)) }
}

/// A signature made by a card key and that key's certificate, both from one card transaction.
public struct SignedWithCertificate: Sendable {
    /// The signature as the card answered it: PKCS#1 v1.5 (256 bytes for RSA-2048), or ECDSA
    /// `r ‖ s` (96 bytes for P-384; see ``CardSignatureScheme``).
    public var signature: [UInt8]
    /// The signing key's certificate (DER): the auth certificate, or the sign certificate for
    /// ``MyNumberCard/sign(_:message:pin:allowLastTry:)`` with the sign key.
    public var certificate: [UInt8]
    /// How the key signed, from the certificate's public key; nil when the caller prepared the
    /// card's input itself (the `digestInfo:` forms) and the key type is not one supported.
    public var scheme: CardSignatureScheme? = nil

    /// Pairs a signature with its key's certificate (and the scheme it was made with).
    public init(signature: [UInt8], certificate: [UInt8], scheme: CardSignatureScheme? = nil) {
        self.signature = signature
        self.certificate = certificate
        self.scheme = scheme
    }
}

/// The result of a high-level operation: the value and the card it came from.
public struct CardResult<Value> {
    /// The value.
    public var value: Value
    /// The card, identified by its auth certificate read in the same transaction (an Android
    /// phone before its auth PIN: by its token, ``CardIdentity/init(tokenInfo:)``).
    public var card: CardIdentity

    /// Pairs a value with the card it was read from.
    public init(value: Value, card: CardIdentity) {
        self.value = value
        self.card = card
    }
}

extension CardResult: Sendable where Value: Sendable {}

/// A certificate read from the JPKI AP.
public struct CertificateData: Sendable, Hashable {
    /// Which certificate.
    public var kind: JPKICertificateKind
    /// The DER bytes, exactly as long as the DER header says.
    public var der: [UInt8]

    /// Pairs a certificate's DER with its kind.
    public init(kind: JPKICertificateKind, der: [UInt8]) {
        self.kind = kind
        self.der = der
    }
}

/// What ``MyNumberCard/detect()`` found.
public struct CardDetection: Sendable, Hashable {
    /// The card type from the token label of JPKI EF 0006.
    public var cardType: CardType
    /// The trimmed token label, when the JPKI AP answered.
    public var tokenLabel: String?
    /// The applications that answered SELECT with 9000.
    public var applications: Set<JPKIApplication>
    /// The card identity, when the JPKI AP and its auth certificate are present.
    public var identity: CardIdentity?
    /// The auth certificate (DER) the identity was computed from.
    public var authCertificate: [UInt8]? = nil
    /// Whether the JPKI AP has an auth PIN (EF 0018 answers SELECT with 9000), nil when not
    /// probed (no JPKI AP). `false` is a 顔認証マイナンバーカード (issued without PINs and without
    /// a signing certificate since 2023-12): every PIN operation is refused with
    /// ``JPKIError/pinNotSet(_:)`` and only face or visual confirmation works.
    public var authPINPresent: Bool? = nil
    /// The first 32 bytes of EF 0006 (the space-padded token label) as read, nil without JPKI AP.
    public var tokenInfo: [UInt8]? = nil
    /// The auth certificate exists but is read only after the auth PIN (its READ answered 6982):
    /// an Android smartphone JPKI. ``identity`` and ``authCertificate`` are then nil.
    public var authCertificateAfterPIN: Bool = false
    /// What kind of credential answered (card, Android phone, iPhone, unknown), by token label.
    public var credentialKind: CredentialKind { cardType.credentialKind }
    /// Whether the sign certificate EF (0001) exists; probed only on a card without an auth PIN
    /// (an ordinary card pays no APDU for it), nil when not probed.
    public var signCertificatePresent: Bool? = nil

    /// The ways a person can be confirmed with this card: `["pin", "visual"]` for a card with an
    /// auth PIN, `["visual"]` for a card without (顔認証マイナンバーカード), `[]` without JPKI AP.
    public var confirmationModes: [String] {
        guard applications.contains(.jpki) else { return [] }
        return authPINPresent == false ? ["visual"] : ["pin", "visual"]
    }
}

/// What kind of credential answers as the JPKI AP, by its token label (JPKI EF 0006; never by
/// ATR). The stable JSON codes are the raw values.
public enum CredentialKind: String, Sendable, Hashable, Codable, CaseIterable {
    /// A plastic card: `JPKIAPICCTOKEN2` (個人番号カード) or `JPKIAPICCTOKEN` (住基カード).
    case card
    /// An Android smartphone JPKI (スマホ用電子証明書, secure element): `JPKIAPGPSETOKEN`. Its auth
    /// certificate is read only after the auth PIN (jpki/myna issue 6).
    case androidPhone = "android-phone"
    /// An iPhone smartphone JPKI: `JPKIAPIOSTOKEN`.
    case iphone
    /// Another label, no readable label, or no JPKI AP.
    case unknown

    /// Classifies a token label (trailing spaces and NULs already removed).
    public init(tokenLabel: String) {
        self = CardType(tokenLabel: tokenLabel).credentialKind
    }

    /// The stable code (`card`, `android-phone`, `iphone`, `unknown`).
    public var code: String { rawValue }
}

/// The kind of card, by its JPKI token label (never by ATR).
public enum CardType: Sendable, Hashable {
    /// `JPKIAPICCTOKEN2`: 個人番号カード.
    case myNumberCard
    /// `JPKIAPICCTOKEN`: 住民基本台帳カード.
    case jukiCard
    /// `JPKIAPGPSETOKEN` (Android) / `JPKIAPIOSTOKEN` (iPhone): a smartphone JPKI.
    case smartphone(label: String)
    /// The JPKI AP answered with another label.
    case unknown(label: String)
    /// No JPKI AP.
    case notJPKI

    /// Classifies a token label (trailing spaces and NULs ignored).
    public init(tokenLabel: String) {
        switch tokenLabel {
        case "JPKIAPICCTOKEN2": self = .myNumberCard
        case "JPKIAPICCTOKEN": self = .jukiCard
        case "JPKIAPGPSETOKEN", "JPKIAPIOSTOKEN": self = .smartphone(label: tokenLabel)
        default: self = .unknown(label: tokenLabel)
        }
    }

    /// The credential kind: both card labels are ``CredentialKind/card``; the phone labels are
    /// ``CredentialKind/androidPhone`` and ``CredentialKind/iphone``.
    public var credentialKind: CredentialKind {
        switch self {
        case .myNumberCard, .jukiCard: .card
        case .smartphone(let label): label == "JPKIAPGPSETOKEN" ? .androidPhone : .iphone
        case .unknown, .notJPKI: .unknown
        }
    }

    /// The stable code used in every JSON answer (card-inspect and jpkid): `my-number-card`,
    /// `juki-card`, `smartphone`, `unknown-jpki`, `not-jpki`.
    public var code: String {
        switch self {
        case .myNumberCard: "my-number-card"
        case .jukiCard: "juki-card"
        case .smartphone: "smartphone"
        case .unknown: "unknown-jpki"
        case .notJPKI: "not-jpki"
        }
    }
}

/// Everything the text AP offers after one VERIFY.
public struct TextAPData: Sendable, Hashable {
    /// Basic 4 information.
    public var basicInfo: BasicInfo
    /// The My Number, when asked for.
    public var myNumber: MyNumber?
    /// The integrity record (EF 0003).
    public var integrity: IntegrityRecord
    /// The AP's CV certificate (EF 0004).
    public var cvCertificate: CVCertificate
}

/// The visual AP's card face and CV certificate.
public struct CardFaceData: Sendable, Hashable {
    /// The card face (EF 0002).
    public var face: CardFace
    /// The AP's CV certificate (EF 0004).
    public var cvCertificate: CVCertificate
}

/// The My Number card operations. A value holds a ``CardChannel``; each method is one
/// complete operation that:
/// - checks its inputs (PIN formats) before sending any APDU;
/// - runs inside one `channel.transaction { }`, selecting the applications it needs itself;
/// - reads the auth certificate first (in the same transaction) and returns the result with
///   the card's ``CardIdentity``, so a caller can bind the result to the card;
/// - never spends a PIN try implicitly: the counter is read before a VERIFY, a blocked PIN is
///   never sent, and the last try is only used with `allowLastTry: true`;
/// - marks identity reads `Sensitivity.responseData` so traces never hold personal data.
///
/// For custom sequences (e.g. verify once, sign many times) use ``JPKICommands`` inside your
/// own `channel.transaction`.
public struct MyNumberCard {
    /// The channel.
    public let channel: CardChannel
    /// Read options (extended length, header size).
    public var options: ReadOptions
    /// Set when the caller already knows (from ``detect(probing:addressBySFI:)``'s
    /// ``CardDetection/authPINPresent``) that the card has no PINs: every PIN operation then
    /// throws ``JPKIError/pinNotSet(_:)`` before any APDU is sent. Without it, a PIN-less card
    /// is found at the SELECT of its PIN EF (6A82), still before any VERIFY.
    public var cardHasNoPIN: Bool
    /// Set for a credential whose auth certificate is read only after the auth PIN (from
    /// ``CardDetection/authCertificateAfterPIN``: Android): operations that would identify the card
    /// by its auth certificate before any PIN identify it by its token info instead
    /// (``CardIdentity/init(tokenInfo:)``, one SELECT + one READ of 32 bytes). Operations that
    /// need the auth certificate before a PIN still fail with ``JPKIError/pinRequired(_:)``.
    public var certificateAfterPIN: Bool

    /// Creates the facade.
    public init(
        channel: CardChannel, options: ReadOptions = ReadOptions(), cardHasNoPIN: Bool = false,
        certificateAfterPIN: Bool = false
    ) {
        self.channel = channel
        self.options = options
        self.cardHasNoPIN = cardHasNoPIN
        self.certificateAfterPIN = certificateAfterPIN
    }

    /// Refuses a PIN operation on a card known to have no PINs, before any APDU. Only the PINs a
    /// holder sets (auth, sign, text, juki) are absent; the 照合番号 keys derived from the card
    /// face (text A/B, visual) are not PINs and stay usable.
    func requirePIN(_ kind: PINKind) throws(JPKIError) {
        if cardHasNoPIN, [.auth, .sign, .text, .juki].contains(kind) { throw .pinNotSet(kind) }
    }

    /// Per-operation state inside a transaction.
    final class Operation {
        let channel: CardChannel
        var current: JPKIApplication?
        var extended: Bool
        let options: ReadOptions
        let byToken: Bool
        init(channel: CardChannel, options: ReadOptions, byToken: Bool = false) {
            self.channel = channel
            self.options = options
            self.byToken = byToken
            self.extended = options.useExtendedLength && channel.supportsExtendedLength
        }

        /// The 32 bytes of the token label (SELECT JPKI AP, SELECT 0006, READ 32).
        func tokenInfo() throws(JPKIError) -> [UInt8] {
            try select(.jpki)
            try JPKICommands.selectFile(JPKIFile.tokenInfo, on: channel)
            return try JPKICommands.readBinary(offset: 0, length: 32, on: channel).data
        }

        func select(_ ap: JPKIApplication) throws(JPKIError) {
            if current == ap { return }
            current = nil
            do {
                try JPKICommands.selectApplication(ap, on: channel)
            } catch .applicationNotFound(.jpki) {
                throw .notJPKICard
            }
            current = ap
        }

        func readCertificate(_ kind: JPKICertificateKind) throws(JPKIError) -> [UInt8] {
            try select(.jpki)
            try JPKICommands.selectFile(kind.fileID, on: channel)
            let der = try JPKICommands.readTLVFile(
                fileID: kind.fileID, headerRead: options.certificateHeaderRead, extended: &extended,
                on: channel, sensitivity: kind == .sign ? .responseData : [],
                pin: kind == .sign ? .sign : nil)
            guard der.first == 0x30 else {
                throw .malformedData("certificate is not a DER SEQUENCE")
            }
            return der
        }

        /// The card's identity: SHA-256 of the auth certificate; for a credential that shows it
        /// only after the auth PIN (``certificateAfterPIN``, or its READ answering 6982 — an
        /// Android phone), the token identity (``CardIdentity/init(tokenInfo:)``).
        func identity() throws(JPKIError) -> CardIdentity {
            if byToken { return CardIdentity(tokenInfo: try tokenInfo()) }
            do {
                return CardIdentity(authCertificateDER: try readCertificate(.auth))
            } catch .pinRequired {
                return CardIdentity(tokenInfo: try tokenInfo())
            }
        }

        func readFile(_ fid: UInt16, headerRead: Int, pin: PINKind?) throws(JPKIError) -> [UInt8] {
            try JPKICommands.selectFile(fid, on: channel)
            return try JPKICommands.readTLVFile(
                fileID: fid, headerRead: headerRead, extended: &extended, on: channel,
                sensitivity: .responseData, pin: pin)
        }

        func verify(_ kind: PINKind, _ pin: PIN, allowLastTry: Bool) throws(JPKIError) {
            try select(kind.application)
            try JPKICommands.verifyPIN(kind, pin: pin, allowLastTry: allowLastTry, on: channel)
        }
    }

    /// Runs `body` in one card transaction, mapping every error to ``JPKIError``.
    func run<T>(_ body: (Operation) throws(JPKIError) -> T) throws(JPKIError) -> T {
        let options = self.options
        let byToken = certificateAfterPIN
        do {
            return try channel.transaction { ch in
                try body(Operation(channel: ch, options: options, byToken: byToken))
            }
        } catch let e as JPKIError {
            throw e
        } catch let e as SmartCardError {
            throw .transport(e)
        } catch {
            throw .transport(.transport("transaction failed"))
        }
    }

    /// Checks a PIN's format without sending anything.
    static func precheck(_ pin: PIN, _ kind: PINKind) throws(JPKIError) {
        var bytes = try pin.validatedBytes(for: kind)
        for i in bytes.indices { bytes[i] = 0 }
    }

    static func require(_ kind: PINKind, in allowed: [PINKind]) throws(JPKIError) {
        guard allowed.contains(kind) else {
            throw .invalidPINFormat(kind, reason: "this key cannot open the requested file")
        }
    }

    // MARK: Detection

    /// Detects the card by SELECT of the JPKI AID (never by ATR), classifies it by the token
    /// label (JPKI EF 0006, first 32 bytes) and probes which applications answer.
    ///
    /// APDUs (JPKI card): SELECT JPKI, SELECT 0006, READ 32, SELECT 000A + 2 READs (identity),
    /// then one SELECT per application in `probing` (default: text, visual, common, juki; pass
    /// `[]` when only the JPKI AP matters — each SELECT costs ~10 ms on a contact reader).
    /// With `addressBySFI`, the token info and the auth certificate are first read by short file
    /// identifier (`00 B0 86 00 20`; `00 B0 8A 00 04` + `00 B0 8A 04 <rest>`), saving their two
    /// SELECTs; a card that refuses gets the SELECT + READ sequence instead.
    public func detect(
        probing: [JPKIApplication] = [.text, .visual, .common, .juki], addressBySFI: Bool = false
    ) throws(JPKIError) -> CardDetection {
        try run { (op) throws(JPKIError) -> CardDetection in
            var apps: Set<JPKIApplication> = []
            var label: String?
            var identity: CardIdentity?
            var certificate: [UInt8]?
            var type = CardType.notJPKI
            var authPIN: Bool?
            var signCertificate: Bool?
            var token: [UInt8]?
            var certificateAfterPIN = false
            do throws(JPKIError) {
                try op.select(.jpki)
                apps.insert(.jpki)
            } catch .notJPKICard {}
            if apps.contains(.jpki) {
                var bytes: [UInt8] = []
                var sfiToken: [UInt8]?
                if addressBySFI {
                    do throws(JPKIError) {
                        sfiToken = try JPKICommands.readBinaryBySFI(sfi: 0x06, offset: 0, length: 32, on: op.channel)
                    } catch .transport(let e) {
                        throw .transport(e)
                    } catch {}
                }
                if let sfiToken {
                    bytes = sfiToken
                } else {
                    do throws(JPKIError) {
                        try JPKICommands.selectFile(JPKIFile.tokenInfo, on: op.channel)
                        bytes = try JPKICommands.readBinary(offset: 0, length: 32, on: op.channel).data
                    } catch .transport(let e) {
                        throw .transport(e)
                    } catch {
                        // No readable token info: the type stays unknown with an empty label.
                    }
                }
                token = bytes
                while let last = bytes.last, last == 0x20 || last == 0x00 { bytes.removeLast() }
                let text = String(decoding: bytes, as: UTF8.self)
                label = text
                type = CardType(tokenLabel: text)
                // An Android phone answers the auth certificate's READ with 6982 until the auth PIN
                // is verified (jpki/myna issue 6): no identity then, only the token.
                do throws(JPKIError) {
                    if addressBySFI,
                        let der = try JPKICommands.readTLVFileBySFI(
                            sfi: 0x0A, headerRead: op.options.certificateHeaderRead, extended: op.extended,
                            on: op.channel),
                        der.first == 0x30
                    {
                        identity = CardIdentity(authCertificateDER: der)
                        certificate = der
                    } else {
                        do throws(JPKIError) {
                            let der = try op.readCertificate(.auth)
                            identity = CardIdentity(authCertificateDER: der)
                            certificate = der
                        } catch .fileNotFound {}
                    }
                } catch .pinRequired {
                    certificateAfterPIN = true
                }
                // One SELECT tells a card issued without PINs (顔認証マイナンバーカード): its auth
                // PIN EF does not exist (6A82 — an assumption, apdu-fixtures/README.md). Only then
                // is the sign certificate EF probed too.
                do throws(JPKIError) {
                    try JPKICommands.selectFile(PINKind.auth.fileID, on: op.channel)
                    authPIN = true
                } catch .fileNotFound {
                    authPIN = false
                    do throws(JPKIError) {
                        try JPKICommands.selectFile(JPKIFile.signCertificate, on: op.channel)
                        signCertificate = true
                    } catch .fileNotFound {
                        signCertificate = false
                    }
                }
            }
            for ap in probing where ap != .jpki {
                do throws(JPKIError) {
                    try op.select(ap)
                    apps.insert(ap)
                } catch .applicationNotFound {}
            }
            return CardDetection(
                cardType: type, tokenLabel: label, applications: apps, identity: identity,
                authCertificate: certificate, authPINPresent: authPIN, tokenInfo: token,
                authCertificateAfterPIN: certificateAfterPIN, signCertificatePresent: signCertificate)
        }
    }

    /// The card identity alone (SELECT JPKI, SELECT 000A, READ header, READ rest).
    public func identity() throws(JPKIError) -> CardIdentity {
        try run { (op) throws(JPKIError) in try op.identity() }
    }

    // MARK: Certificates

    /// Reads one certificate by its exact DER length (header first, then one extended read or
    /// 256-byte short reads). The sign certificate needs `signPIN` (verified in the same
    /// transaction with the last-try guard); without it the card's 6982 becomes
    /// ``JPKIError/pinRequired(_:)``.
    ///
    /// APDUs for ``JPKICertificateKind/auth`` with extended length: SELECT AP, SELECT 000A,
    /// READ 4, READ rest = 4.
    public func readCertificate(
        _ kind: JPKICertificateKind, signPIN: PIN? = nil, allowLastTry: Bool = false
    ) throws(JPKIError) -> CardResult<CertificateData> {
        if kind == .sign, let signPIN {
            try Self.precheck(signPIN, .sign)
            try requirePIN(.sign)
        }
        return try run { (op) throws(JPKIError) in
            if op.byToken {
                // ``certificateAfterPIN``: identified by the token (the auth certificate itself
                // still needs the PIN: ``JPKIError/pinRequired(_:)``).
                let identity = try op.identity()
                if kind == .sign, let signPIN { try op.verify(.sign, signPIN, allowLastTry: allowLastTry) }
                return CardResult(value: CertificateData(kind: kind, der: try op.readCertificate(kind)), card: identity)
            }
            let auth = try op.readCertificate(.auth)
            let identity = CardIdentity(authCertificateDER: auth)
            if kind == .auth {
                return CardResult(value: CertificateData(kind: .auth, der: auth), card: identity)
            }
            if kind == .sign, let signPIN {
                try op.verify(.sign, signPIN, allowLastTry: allowLastTry)
            }
            let der = try op.readCertificate(kind)
            return CardResult(value: CertificateData(kind: kind, der: der), card: identity)
        }
    }

    /// Reads the auth, auth CA and sign CA certificates (and the sign certificate when
    /// `signPIN` is given) in one transaction.
    public func readCertificates(signPIN: PIN? = nil, allowLastTry: Bool = false)
        throws(JPKIError) -> CardResult<[JPKICertificateKind: [UInt8]]>
    {
        if let signPIN {
            try Self.precheck(signPIN, .sign)
            try requirePIN(.sign)
        }
        return try run { (op) throws(JPKIError) in
            var out: [JPKICertificateKind: [UInt8]] = [:]
            // A credential whose auth certificate needs the PIN (``certificateAfterPIN``): the CA
            // certificates only, identified by the token.
            let identity: CardIdentity
            if op.byToken {
                identity = try op.identity()
            } else {
                let auth = try op.readCertificate(.auth)
                out[.auth] = auth
                identity = CardIdentity(authCertificateDER: auth)
            }
            out[.authCA] = try op.readCertificate(.authCA)
            // A card without signing certificate (顔認証マイナンバーカード) has no sign CA EF either:
            // it is left out of the result.
            do throws(JPKIError) {
                out[.signCA] = try op.readCertificate(.signCA)
            } catch .fileNotFound {}
            if let signPIN {
                try op.verify(.sign, signPIN, allowLastTry: allowLastTry)
                out[.sign] = try op.readCertificate(.sign)
            }
            return CardResult(value: out, card: identity)
        }
    }

    // MARK: PINs

    /// The retry counter of one PIN, spending no try (SELECT AP, SELECT PIN EF, empty VERIFY).
    public func pinStatus(_ kind: PINKind) throws(JPKIError) -> CardResult<PINStatus> {
        try run { (op) throws(JPKIError) in
            let identity = try op.identity()
            try op.select(kind.application)
            return CardResult(
                value: try JPKICommands.pinStatus(kind, on: op.channel), card: identity)
        }
    }

    /// The retry counters of several PINs in one transaction, grouped by application (one
    /// SELECT per AP, then SELECT + empty VERIFY per PIN). A PIN whose AP or EF is missing gets
    /// its error in the dictionary; transport failures end the operation.
    public func allPINStatus(_ kinds: [PINKind] = PINKind.standardSet) throws(JPKIError)
        -> CardResult<[PINKind: Result<PINStatus, JPKIError>]>
    {
        try run { (op) throws(JPKIError) in
            let identity = try op.identity()
            var out: [PINKind: Result<PINStatus, JPKIError>] = [:]
            var order: [JPKIApplication] = []
            for k in kinds where !order.contains(k.application) { order.append(k.application) }
            for ap in order {
                do throws(JPKIError) {
                    try op.select(ap)
                } catch .applicationNotFound(let a) {
                    for k in kinds where k.application == ap {
                        out[k] = .failure(.applicationNotFound(a))
                    }
                    continue
                }
                for k in kinds where k.application == ap {
                    do throws(JPKIError) {
                        out[k] = .success(try JPKICommands.pinStatus(k, on: op.channel))
                    } catch .transport(let e) {
                        throw .transport(e)
                    } catch {
                        out[k] = .failure(error)
                    }
                }
            }
            return CardResult(value: out, card: identity)
        }
    }

    /// Verifies a PIN: format check before any APDU, counter read first, refusal when blocked
    /// or (unless `allowLastTry`) when one try is left, then one VERIFY. Returns the counter
    /// as it was before the VERIFY. The verified state lasts until the next operation
    /// (each operation re-selects its applications).
    public func verifyPIN(_ kind: PINKind, pin: PIN, allowLastTry: Bool = false)
        throws(JPKIError) -> CardResult<PINStatus>
    {
        try Self.precheck(pin, kind)
        try requirePIN(kind)
        return try run { (op) throws(JPKIError) in
            let identity = try op.identity()
            try op.select(kind.application)
            let before = try JPKICommands.verifyPIN(
                kind, pin: pin, allowLastTry: allowLastTry, on: op.channel)
            return CardResult(value: before, card: identity)
        }
    }

    // MARK: Signatures

    /// Verifies the auth PIN and signs `digestInfo` with the auth key (EF 0017, `80 2A 00 80`).
    public func signWithAuthKey(digestInfo: [UInt8], pin: PIN, allowLastTry: Bool = false)
        throws(JPKIError) -> CardResult<[UInt8]>
    {
        try sign(.auth, digestInfo: digestInfo, pin: pin, allowLastTry: allowLastTry)
    }

    /// Possession proof in one transaction with a single certificate read: reads the auth
    /// certificate (which also identifies the card), verifies the auth PIN and signs
    /// `digestInfo` with the auth key. The same as ``signWithAuthKey(digestInfo:pin:allowLastTry:)``
    /// followed by ``readCertificate(_:signPIN:allowLastTry:)`` for the auth certificate, without
    /// reading the certificate twice (on a contact reader a 1 KB certificate costs ~0.3 s).
    /// APDUs: identity (4) + SELECT PIN EF + empty VERIFY + VERIFY + SELECT key + SIGN = 9. A
    /// credential whose certificate READ answers 6982 (Android) gets the PIN first and the
    /// certificate after it, in the same transaction (11 APDUs).
    public func signWithAuthKeyReadingCertificate(digestInfo: [UInt8], pin: PIN, allowLastTry: Bool = false)
        throws(JPKIError) -> CardResult<SignedWithCertificate>
    {
        guard (1...245).contains(digestInfo.count) else {
            throw .invalidDigest("DigestInfo must be 1-245 bytes")
        }
        return try signReadingCertificate(pin: pin, allowLastTry: allowLastTry) { _ in (digestInfo, nil) }
    }

    /// ``signWithAuthKeyReadingCertificate(digestInfo:pin:allowLastTry:)`` over `message`, with
    /// the card's input made for the key's algorithm (``CardSignatureScheme``, from the auth
    /// certificate read in the same transaction, before the PIN is sent): DigestInfo(SHA-256) for
    /// RSA, the raw SHA-384 digest for ECDSA P-384 (SHA-256 for P-256). A key on another curve is
    /// refused (``JPKIError/unsupportedCurve(_:)``) without sending the PIN — except on a
    /// credential whose certificate comes after the PIN (Android), where it is known only then.
    public func signWithAuthKeyReadingCertificate(message: [UInt8], pin: PIN, allowLastTry: Bool = false)
        throws(JPKIError) -> CardResult<SignedWithCertificate>
    {
        try signReadingCertificate(pin: pin, allowLastTry: allowLastTry) { (certificate) throws(JPKIError) in
            let scheme = try CardSignatureScheme(certificateDER: certificate)
            return (scheme.cardInput(message: message), scheme)
        }
    }

    /// The one implementation of the two above: `input` makes the card's input (and names the
    /// scheme) from the auth certificate — before the PIN is sent, or after it on a credential
    /// whose certificate READ answers 6982 before the PIN (Android).
    private func signReadingCertificate(
        pin: PIN, allowLastTry: Bool,
        input: ([UInt8]) throws(JPKIError) -> (cardInput: [UInt8], scheme: CardSignatureScheme?)
    ) throws(JPKIError) -> CardResult<SignedWithCertificate> {
        try Self.precheck(pin, JPKIKey.auth.pin)
        try requirePIN(JPKIKey.auth.pin)
        return try run { (op) throws(JPKIError) in
            var readable: [UInt8]?
            do throws(JPKIError) {
                readable = try op.readCertificate(.auth)
            } catch .pinRequired {
                readable = nil
            }
            let certificate: [UInt8]
            let prepared: (cardInput: [UInt8], scheme: CardSignatureScheme?)
            if let readable {
                certificate = readable
                prepared = try input(certificate)
                try op.verify(JPKIKey.auth.pin, pin, allowLastTry: allowLastTry)
            } else {
                // An Android phone shows its certificate only after the auth PIN: PIN first.
                try op.verify(JPKIKey.auth.pin, pin, allowLastTry: allowLastTry)
                certificate = try op.readCertificate(.auth)
                prepared = try input(certificate)
            }
            let sig = try JPKICommands.sign(.auth, digestInfo: prepared.cardInput, on: op.channel)
            return CardResult(
                value: SignedWithCertificate(signature: sig, certificate: certificate, scheme: prepared.scheme),
                card: CardIdentity(authCertificateDER: certificate))
        }
    }

    /// ``signWithAuthKeyCheckedByCaller(digestInfo:pin:allowLastTry:expecting:)`` over `message`:
    /// the card's input is made for the algorithm of the key in `boundCertificate` (the
    /// certificate the caller bound the card to, which the card must still carry — checked
    /// before the PIN is sent). Returns the signature as the card answered it and the scheme.
    public func signWithAuthKeyCheckedByCaller(
        message: [UInt8], pin: PIN, allowLastTry: Bool = false, expecting boundCertificate: [UInt8]
    ) throws(JPKIError) -> (signature: [UInt8], scheme: CardSignatureScheme) {
        let scheme = try CardSignatureScheme(certificateDER: boundCertificate)
        let sig = try signWithAuthKeyCheckedByCaller(
            digestInfo: scheme.cardInput(message: message), pin: pin, allowLastTry: allowLastTry,
            expecting: boundCertificate)
        return (sig, scheme)
    }

    /// Possession proof for a credential whose auth certificate is read only after the auth PIN
    /// (Android smartphone JPKI), in one transaction: the token info (32 bytes) must equal
    /// `expectingToken` **before** the PIN is sent (another kind of credential gets
    /// ``JPKIError/cardChanged`` and never sees the PIN), then VERIFY of the auth PIN (counter
    /// first, last-try guard), then the auth certificate (now readable) and the signature with the
    /// auth key. APDUs: SELECT AP + SELECT 0006 + READ 32 + SELECT PIN EF + empty VERIFY + VERIFY +
    /// certificate (SELECT + 2 READs) + SELECT key + SIGN = 11. Works on any credential (a card's
    /// certificate is readable anyway); the caller checks the certificate against what it bound.
    /// The card's input is made for the key's algorithm (``CardSignatureScheme``, from the
    /// certificate read after the PIN): DigestInfo(SHA-256) for RSA, the raw digest for ECDSA.
    public func signWithAuthKeyCertificateAfterPIN(
        message: [UInt8], pin: PIN, allowLastTry: Bool = false, expectingToken: [UInt8]? = nil
    ) throws(JPKIError) -> CardResult<SignedWithCertificate> {
        try Self.precheck(pin, JPKIKey.auth.pin)
        try requirePIN(JPKIKey.auth.pin)
        return try run { (op) throws(JPKIError) in
            let token = try op.tokenInfo()
            if let expectingToken, token != expectingToken { throw .cardChanged }
            try op.verify(JPKIKey.auth.pin, pin, allowLastTry: allowLastTry)
            let certificate = try op.readCertificate(.auth)
            let scheme = try CardSignatureScheme(certificateDER: certificate)
            let sig = try JPKICommands.sign(.auth, digestInfo: scheme.cardInput(message: message), on: op.channel)
            return CardResult(
                value: SignedWithCertificate(signature: sig, certificate: certificate, scheme: scheme),
                card: CardIdentity(authCertificateDER: certificate))
        }
    }

    /// Verifies the auth PIN and signs `digestInfo` with the auth key, **without** reading the
    /// card's identity: the caller must verify the signature against the auth certificate it
    /// bound the card to (jpkid: the certificate read at insertion), which proves the signature
    /// came from that card. APDUs: SELECT AP + empty VERIFY + VERIFY + SIGN, the last three by
    /// SFI (`00 20 00 98`, `80 2A 00 97`) = 4; a card that refuses SFI addressing gets the SELECT
    /// forms (6 APDUs; 9 with the certificate read).
    ///
    /// `expecting` (the auth certificate the caller bound the card to, DER) is compared with the
    /// card's **before** the PIN is sent: another card gets ``JPKIError/cardChanged`` and never
    /// sees the PIN. Compared: 32 bytes from the middle of the certificate's subject public key —
    /// the card's own key, which no other card has, not even a same-serial card issued under
    /// another root generation with the same issuer DN (J-LIS 2015/2019/2023) — read with
    /// SELECT EF 000A + one short READ BINARY at that offset (2 APDUs, 32 bytes; by SFI in one
    /// when the key starts within the first 256 bytes). Only when `expecting` does not parse as
    /// a certificate are its first (up to 40) bytes compared instead (header + serial, by SFI).
    public func signWithAuthKeyCheckedByCaller(
        digestInfo: [UInt8], pin: PIN, allowLastTry: Bool = false, expecting boundCertificate: [UInt8]? = nil
    ) throws(JPKIError) -> [UInt8] {
        try Self.precheck(pin, JPKIKey.auth.pin)
        try requirePIN(JPKIKey.auth.pin)
        guard (1...245).contains(digestInfo.count) else {
            throw .invalidDigest("DigestInfo must be 1-245 bytes")
        }
        return try run { (op) throws(JPKIError) in
            // By SFI (no SELECTs) where the card answers so, else the SELECT forms.
            try op.select(JPKIKey.auth.pin.application)
            if let boundCertificate, !boundCertificate.isEmpty {
                let window =
                    Self.publicKeyWindow(boundCertificate) ?? (offset: 0, length: min(boundCertificate.count, 40))
                let expected = Array(boundCertificate[window.offset..<(window.offset + window.length)])
                let sfi = UInt8(JPKIFile.authCertificate & 0x1F)
                var read: [UInt8]?
                if window.offset <= 255 {
                    read = try JPKICommands.readBinaryBySFI(
                        sfi: sfi, offset: window.offset, length: window.length, on: op.channel)
                }
                if read == nil {
                    try JPKICommands.selectFile(JPKIFile.authCertificate, on: op.channel)
                    read = try JPKICommands.readBinary(offset: window.offset, length: window.length, on: op.channel)
                        .data
                }
                guard read == expected else { throw .cardChanged }
            }
            try JPKICommands.verifyPIN(
                JPKIKey.auth.pin, pin: pin, allowLastTry: allowLastTry, bySFI: true, on: op.channel)
            return try JPKICommands.sign(.auth, digestInfo: digestInfo, bySFI: true, on: op.channel)
        }
    }

    /// The card half of a possession proof, in **one card transaction** (no other client's
    /// APDUs in between): verifies the auth PIN, has the auth key sign `challenge` — the card's
    /// input is made for the key's algorithm (``CardSignatureScheme`` from the auth certificate:
    /// DigestInfo(SHA-256) for RSA, the raw SHA-384 digest for ECDSA P-384) — and returns the
    /// signature with the auth certificate and the scheme. JPKIVerify's `CardProofService`
    /// verifies the result.
    ///
    /// - Without `boundCertificate`: the auth certificate is read first (it identifies the
    ///   card), then VERIFY and SIGN, as ``signWithAuthKeyReadingCertificate(message:pin:allowLastTry:)``
    ///   (9 APDUs).
    /// - With `boundCertificate` (the certificate the caller bound the card to; jpkid: the one
    ///   read at insertion): 32 bytes of its public key are compared with the card's **before**
    ///   the PIN is sent (another card: ``JPKIError/cardChanged``, the PIN never leaves), then
    ///   VERIFY and SIGN by SFI, as ``signWithAuthKeyCheckedByCaller(message:pin:allowLastTry:expecting:)``
    ///   (5–6 APDUs: SELECT AP, 1–2 for the key bytes, empty VERIFY, VERIFY, SIGN). The
    ///   certificate returned is `boundCertificate`, not read again:
    ///   the caller must verify the signature against it — only the card holding that key can
    ///   make it.
    ///
    /// As every PIN operation: the PIN format is checked before any APDU, the counter is read
    /// before the VERIFY, a blocked PIN is never sent, the last try only with `allowLastTry`; a
    /// wrong PIN spends one try and nothing is signed.
    public func signChallenge(
        _ challenge: [UInt8], pin: PIN, allowLastTry: Bool = false, boundCertificate: [UInt8]? = nil
    ) throws(JPKIError) -> CardResult<SignedWithCertificate> {
        guard let bound = boundCertificate, !bound.isEmpty else {
            return try signWithAuthKeyReadingCertificate(message: challenge, pin: pin, allowLastTry: allowLastTry)
        }
        let signed = try signWithAuthKeyCheckedByCaller(
            message: challenge, pin: pin, allowLastTry: allowLastTry, expecting: bound)
        return CardResult(
            value: SignedWithCertificate(signature: signed.signature, certificate: bound, scheme: signed.scheme),
            card: CardIdentity(authCertificateDER: bound))
    }

    /// Where, in a DER certificate, 32 bytes from the middle of the subjectPublicKey BIT STRING
    /// lie (the whole key when shorter); nil when the bytes are not a certificate.
    static func publicKeyWindow(_ der: [UInt8]) -> (offset: Int, length: Int)? {
        guard let bits = SubjectPublicKeyInfo(certificateDER: der)?.keyBits else { return nil }
        let length = min(32, bits.count)
        return (bits.lowerBound + (bits.count - length) / 2, length)
    }

    /// Verifies the sign password and signs `digestInfo` with the sign key (EF 001A).
    public func signWithSignKey(digestInfo: [UInt8], pin: PIN, allowLastTry: Bool = false)
        throws(JPKIError) -> CardResult<[UInt8]>
    {
        try sign(.sign, digestInfo: digestInfo, pin: pin, allowLastTry: allowLastTry)
    }

    /// Verifies the key's PIN and signs `message` with the card's input made for the key's
    /// algorithm (``CardSignatureScheme`` from the key's certificate: the auth certificate, read
    /// before the PIN; the sign certificate, readable only after the sign password, read after
    /// it). Returns the signature, the key's certificate and the scheme.
    public func sign(_ key: JPKIKey, message: [UInt8], pin: PIN, allowLastTry: Bool = false)
        throws(JPKIError) -> CardResult<SignedWithCertificate>
    {
        try Self.precheck(pin, key.pin)
        try requirePIN(key.pin)
        return try run { (op) throws(JPKIError) in
            let auth = try op.readCertificate(.auth)
            let identity = CardIdentity(authCertificateDER: auth)
            var certificate = auth
            if key == .auth {
                _ = try CardSignatureScheme(certificateDER: auth)  // refused before the PIN
            }
            try op.verify(key.pin, pin, allowLastTry: allowLastTry)
            if key == .sign { certificate = try op.readCertificate(.sign) }
            let scheme = try CardSignatureScheme(certificateDER: certificate)
            let sig = try JPKICommands.sign(key, digestInfo: scheme.cardInput(message: message), on: op.channel)
            return CardResult(
                value: SignedWithCertificate(signature: sig, certificate: certificate, scheme: scheme), card: identity)
        }
    }

    /// Verifies the key's PIN and signs; see ``signWithAuthKey(digestInfo:pin:allowLastTry:)``.
    /// APDUs: identity (4) + SELECT PIN EF + empty VERIFY + VERIFY + SELECT key + SIGN = 9.
    public func sign(_ key: JPKIKey, digestInfo: [UInt8], pin: PIN, allowLastTry: Bool = false)
        throws(JPKIError) -> CardResult<[UInt8]>
    {
        try Self.precheck(pin, key.pin)
        try requirePIN(key.pin)
        guard (1...245).contains(digestInfo.count) else {
            throw .invalidDigest("DigestInfo must be 1-245 bytes")
        }
        return try run { (op) throws(JPKIError) in
            let identity = try op.identity()
            try op.verify(key.pin, pin, allowLastTry: allowLastTry)
            let sig = try JPKICommands.sign(key, digestInfo: digestInfo, on: op.channel)
            return CardResult(value: sig, card: identity)
        }
    }

    // MARK: Identity (text AP)

    /// Basic 4 information. `kind` is ``PINKind/text`` (4-digit PIN) or ``PINKind/textB``.
    public func readBasicInfo(pin: PIN, kind: PINKind = .text, allowLastTry: Bool = false)
        throws(JPKIError) -> CardResult<BasicInfo>
    {
        try Self.require(kind, in: [.text, .textB])
        try Self.precheck(pin, kind)
        try requirePIN(kind)
        return try run { (op) throws(JPKIError) in
            let identity = try op.identity()
            try op.verify(kind, pin, allowLastTry: allowLastTry)
            let raw = try op.readFile(JPKIFile.textBasicInfo, headerRead: 5, pin: kind)
            return CardResult(value: try BasicInfo(parsing: raw), card: identity)
        }
    }

    /// The My Number (EF 0001, 17 bytes, one READ). `kind` is ``PINKind/text`` or
    /// ``PINKind/textA``.
    public func readMyNumber(pin: PIN, kind: PINKind = .text, allowLastTry: Bool = false)
        throws(JPKIError) -> CardResult<MyNumber>
    {
        try Self.require(kind, in: [.text, .textA])
        try Self.precheck(pin, kind)
        try requirePIN(kind)
        return try run { (op) throws(JPKIError) in
            let identity = try op.identity()
            try op.verify(kind, pin, allowLastTry: allowLastTry)
            return CardResult(value: try Self.myNumber(op, pin: kind), card: identity)
        }
    }

    static func myNumber(_ op: Operation, pin: PINKind) throws(JPKIError) -> MyNumber {
        try JPKICommands.selectFile(JPKIFile.textMyNumber, on: op.channel)
        let raw = try JPKICommands.readBinary(
            offset: 0, length: 17, on: op.channel, sensitivity: .responseData, pin: pin
        ).data
        return try MyNumber(parsingFile: raw)
    }

    /// Basic 4 information, integrity record, CV certificate and (optionally) the My Number
    /// after a single VERIFY of the text PIN (``PINKind/text``).
    public func readTextAP(pin: PIN, includeMyNumber: Bool = false, allowLastTry: Bool = false)
        throws(JPKIError) -> CardResult<TextAPData>
    {
        try Self.precheck(pin, .text)
        try requirePIN(.text)
        return try run { (op) throws(JPKIError) in
            let identity = try op.identity()
            try op.verify(.text, pin, allowLastTry: allowLastTry)
            let my = includeMyNumber ? try Self.myNumber(op, pin: .text) : nil
            let basic = try BasicInfo(
                parsing: try op.readFile(JPKIFile.textBasicInfo, headerRead: 5, pin: .text))
            let integrity = try IntegrityRecord(
                parsing: try op.readFile(JPKIFile.textIntegrity, headerRead: 5, pin: .text))
            let cv = try CVCertificate(
                parsing: try op.readFile(JPKIFile.textCVCertificate, headerRead: 5, pin: nil))
            return CardResult(
                value: TextAPData(
                    basicInfo: basic, myNumber: my, integrity: integrity, cvCertificate: cv),
                card: identity)
        }
    }

    // MARK: Common AP

    /// The 共通AP record (card serial, municipality code, expiry): SELECT 共通AP, SELECT EF
    /// 0001, READ RECORD `00 B2 01 04 00`. No PIN.
    public func readCommonAPInfo() throws(JPKIError) -> CardResult<CommonAPInfo> {
        try run { (op) throws(JPKIError) in
            let identity = try op.identity()
            try op.select(.common)
            try JPKICommands.selectFile(0x0001, on: op.channel)
            let r = try JPKICommands.send(
                op.channel, CommandAPDU(ins: 0xB2, p1: 0x01, p2: 0x04, le: 256),
                sensitivity: .responseData)
            guard r.statusWord.isSuccess else {
                throw .unexpectedStatus(r.statusWord, operation: "READ RECORD 1")
            }
            return CardResult(value: try CommonAPInfo(parsing: r.data), card: identity)
        }
    }

    // MARK: Identity (visual AP)

    /// The card face. `key` is 照合番号A (the My Number, ``PINKind/visualA``) or 照合番号B
    /// (14 digits, ``PINKind/visualB``), supplied by the caller.
    public func readCardFace(key: PIN, kind: PINKind = .visualA, allowLastTry: Bool = false)
        throws(JPKIError) -> CardResult<CardFaceData>
    {
        try Self.require(kind, in: [.visualA, .visualB])
        try Self.precheck(key, kind)
        try requirePIN(kind)
        return try run { (op) throws(JPKIError) in
            let identity = try op.identity()
            try op.verify(kind, key, allowLastTry: allowLastTry)
            let face = try CardFace(
                parsing: try op.readFile(JPKIFile.visualCardFace, headerRead: 5, pin: kind))
            let cv = try CVCertificate(
                parsing: try op.readFile(JPKIFile.visualCVCertificate, headerRead: 5, pin: nil))
            return CardResult(value: CardFaceData(face: face, cvCertificate: cv), card: identity)
        }
    }
}
