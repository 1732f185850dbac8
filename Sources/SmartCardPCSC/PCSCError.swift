import SmartCard

/// A failed PC/SC call: the return code and its pcsc-lite name (e.g. `SCARD_E_NO_SERVICE`).
public struct PCSCError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The 32-bit return code.
    public let rc: UInt32
    /// The PC/SC function that failed.
    public let function: String

    /// Creates an error from a return code.
    public init(rc: UInt32, function: String) {
        self.rc = rc
        self.function = function
    }

    /// The symbolic name, stable across releases; `SCARD_0x…` for codes pcsc-lite does not name.
    public var name: String { pcscErrorNames[rc] ?? "SCARD_0x" + String(rc, radix: 16, uppercase: true) }

    public var description: String { "\(function): \(name) (0x\(String(rc, radix: 16, uppercase: true)))" }

    /// The backend-neutral form the layers above the core see.
    public var serviceError: ReaderServiceError {
        ReaderServiceError(name: name, status: rc, function: function, isTransient: Self.transient.contains(rc))
    }

    /// Answers that mean "the reader is still settling, try again shortly".
    static let transient: Set<UInt32> = [eNotTransacted, wResetCard, eSharingViolation]

    /// `SCARD_F_INTERNAL_ERROR`.
    public static let fInternalError: UInt32 = 0x8010_0001
    /// `SCARD_E_CANCELLED`.
    public static let eCancelled: UInt32 = 0x8010_0002
    /// `SCARD_E_INVALID_HANDLE`.
    public static let eInvalidHandle: UInt32 = 0x8010_0003
    /// `SCARD_E_INVALID_PARAMETER`.
    public static let eInvalidParameter: UInt32 = 0x8010_0004
    /// `SCARD_E_INVALID_TARGET`.
    public static let eInvalidTarget: UInt32 = 0x8010_0005
    /// `SCARD_E_NO_MEMORY`.
    public static let eNoMemory: UInt32 = 0x8010_0006
    /// `SCARD_F_WAITED_TOO_LONG`.
    public static let fWaitedTooLong: UInt32 = 0x8010_0007
    /// `SCARD_E_INSUFFICIENT_BUFFER`.
    public static let eInsufficientBuffer: UInt32 = 0x8010_0008
    /// `SCARD_E_UNKNOWN_READER`.
    public static let eUnknownReader: UInt32 = 0x8010_0009
    /// `SCARD_E_TIMEOUT`.
    public static let eTimeout: UInt32 = 0x8010_000A
    /// `SCARD_E_SHARING_VIOLATION`.
    public static let eSharingViolation: UInt32 = 0x8010_000B
    /// `SCARD_E_NO_SMARTCARD`.
    public static let eNoSmartcard: UInt32 = 0x8010_000C
    /// `SCARD_E_UNKNOWN_CARD`.
    public static let eUnknownCard: UInt32 = 0x8010_000D
    /// `SCARD_E_CANT_DISPOSE`.
    public static let eCantDispose: UInt32 = 0x8010_000E
    /// `SCARD_E_PROTO_MISMATCH`.
    public static let eProtoMismatch: UInt32 = 0x8010_000F
    /// `SCARD_E_NOT_READY`.
    public static let eNotReady: UInt32 = 0x8010_0010
    /// `SCARD_E_INVALID_VALUE`.
    public static let eInvalidValue: UInt32 = 0x8010_0011
    /// `SCARD_E_SYSTEM_CANCELLED`.
    public static let eSystemCancelled: UInt32 = 0x8010_0012
    /// `SCARD_F_COMM_ERROR`.
    public static let fCommError: UInt32 = 0x8010_0013
    /// `SCARD_F_UNKNOWN_ERROR`.
    public static let fUnknownError: UInt32 = 0x8010_0014
    /// `SCARD_E_INVALID_ATR`.
    public static let eInvalidAtr: UInt32 = 0x8010_0015
    /// `SCARD_E_NOT_TRANSACTED`.
    public static let eNotTransacted: UInt32 = 0x8010_0016
    /// `SCARD_E_READER_UNAVAILABLE`.
    public static let eReaderUnavailable: UInt32 = 0x8010_0017
    /// `SCARD_P_SHUTDOWN`.
    public static let pShutdown: UInt32 = 0x8010_0018
    /// `SCARD_E_PCI_TOO_SMALL`.
    public static let ePciTooSmall: UInt32 = 0x8010_0019
    /// `SCARD_E_READER_UNSUPPORTED`.
    public static let eReaderUnsupported: UInt32 = 0x8010_001A
    /// `SCARD_E_DUPLICATE_READER`.
    public static let eDuplicateReader: UInt32 = 0x8010_001B
    /// `SCARD_E_CARD_UNSUPPORTED`.
    public static let eCardUnsupported: UInt32 = 0x8010_001C
    /// `SCARD_E_NO_SERVICE`.
    public static let eNoService: UInt32 = 0x8010_001D
    /// `SCARD_E_SERVICE_STOPPED`.
    public static let eServiceStopped: UInt32 = 0x8010_001E
    /// `SCARD_E_UNEXPECTED`.
    public static let eUnexpected: UInt32 = 0x8010_001F
    /// `SCARD_E_ICC_INSTALLATION`.
    public static let eIccInstallation: UInt32 = 0x8010_0020
    /// `SCARD_E_ICC_CREATEORDER`.
    public static let eIccCreateorder: UInt32 = 0x8010_0021
    /// `SCARD_E_DIR_NOT_FOUND`.
    public static let eDirNotFound: UInt32 = 0x8010_0023
    /// `SCARD_E_FILE_NOT_FOUND`.
    public static let eFileNotFound: UInt32 = 0x8010_0024
    /// `SCARD_E_NO_DIR`.
    public static let eNoDir: UInt32 = 0x8010_0025
    /// `SCARD_E_NO_FILE`.
    public static let eNoFile: UInt32 = 0x8010_0026
    /// `SCARD_E_NO_ACCESS`.
    public static let eNoAccess: UInt32 = 0x8010_0027
    /// `SCARD_E_WRITE_TOO_MANY`.
    public static let eWriteTooMany: UInt32 = 0x8010_0028
    /// `SCARD_E_BAD_SEEK`.
    public static let eBadSeek: UInt32 = 0x8010_0029
    /// `SCARD_E_INVALID_CHV`.
    public static let eInvalidChv: UInt32 = 0x8010_002A
    /// `SCARD_E_UNKNOWN_RES_MNG`.
    public static let eUnknownResMng: UInt32 = 0x8010_002B
    /// `SCARD_E_NO_SUCH_CERTIFICATE`.
    public static let eNoSuchCertificate: UInt32 = 0x8010_002C
    /// `SCARD_E_CERTIFICATE_UNAVAILABLE`.
    public static let eCertificateUnavailable: UInt32 = 0x8010_002D
    /// `SCARD_E_NO_READERS_AVAILABLE`.
    public static let eNoReadersAvailable: UInt32 = 0x8010_002E
    /// `SCARD_E_COMM_DATA_LOST`.
    public static let eCommDataLost: UInt32 = 0x8010_002F
    /// `SCARD_E_NO_KEY_CONTAINER`.
    public static let eNoKeyContainer: UInt32 = 0x8010_0030
    /// `SCARD_E_SERVER_TOO_BUSY`.
    public static let eServerTooBusy: UInt32 = 0x8010_0031
    /// `SCARD_W_UNSUPPORTED_CARD`.
    public static let wUnsupportedCard: UInt32 = 0x8010_0065
    /// `SCARD_W_UNRESPONSIVE_CARD`.
    public static let wUnresponsiveCard: UInt32 = 0x8010_0066
    /// `SCARD_W_UNPOWERED_CARD`.
    public static let wUnpoweredCard: UInt32 = 0x8010_0067
    /// `SCARD_W_RESET_CARD`.
    public static let wResetCard: UInt32 = 0x8010_0068
    /// `SCARD_W_REMOVED_CARD`.
    public static let wRemovedCard: UInt32 = 0x8010_0069
    /// `SCARD_W_SECURITY_VIOLATION`.
    public static let wSecurityViolation: UInt32 = 0x8010_006A
    /// `SCARD_W_WRONG_CHV`.
    public static let wWrongChv: UInt32 = 0x8010_006B
    /// `SCARD_W_CHV_BLOCKED`.
    public static let wChvBlocked: UInt32 = 0x8010_006C
    /// `SCARD_W_EOF`.
    public static let wEof: UInt32 = 0x8010_006D
    /// `SCARD_W_CANCELLED_BY_USER`.
    public static let wCancelledByUser: UInt32 = 0x8010_006E
    /// `SCARD_W_CARD_NOT_AUTHENTICATED`.
    public static let wCardNotAuthenticated: UInt32 = 0x8010_006F
}

let pcscErrorNames: [UInt32: String] = [
    0x8010_0001: "SCARD_F_INTERNAL_ERROR",
    0x8010_0002: "SCARD_E_CANCELLED",
    0x8010_0003: "SCARD_E_INVALID_HANDLE",
    0x8010_0004: "SCARD_E_INVALID_PARAMETER",
    0x8010_0005: "SCARD_E_INVALID_TARGET",
    0x8010_0006: "SCARD_E_NO_MEMORY",
    0x8010_0007: "SCARD_F_WAITED_TOO_LONG",
    0x8010_0008: "SCARD_E_INSUFFICIENT_BUFFER",
    0x8010_0009: "SCARD_E_UNKNOWN_READER",
    0x8010_000A: "SCARD_E_TIMEOUT",
    0x8010_000B: "SCARD_E_SHARING_VIOLATION",
    0x8010_000C: "SCARD_E_NO_SMARTCARD",
    0x8010_000D: "SCARD_E_UNKNOWN_CARD",
    0x8010_000E: "SCARD_E_CANT_DISPOSE",
    0x8010_000F: "SCARD_E_PROTO_MISMATCH",
    0x8010_0010: "SCARD_E_NOT_READY",
    0x8010_0011: "SCARD_E_INVALID_VALUE",
    0x8010_0012: "SCARD_E_SYSTEM_CANCELLED",
    0x8010_0013: "SCARD_F_COMM_ERROR",
    0x8010_0014: "SCARD_F_UNKNOWN_ERROR",
    0x8010_0015: "SCARD_E_INVALID_ATR",
    0x8010_0016: "SCARD_E_NOT_TRANSACTED",
    0x8010_0017: "SCARD_E_READER_UNAVAILABLE",
    0x8010_0018: "SCARD_P_SHUTDOWN",
    0x8010_0019: "SCARD_E_PCI_TOO_SMALL",
    0x8010_001A: "SCARD_E_READER_UNSUPPORTED",
    0x8010_001B: "SCARD_E_DUPLICATE_READER",
    0x8010_001C: "SCARD_E_CARD_UNSUPPORTED",
    0x8010_001D: "SCARD_E_NO_SERVICE",
    0x8010_001E: "SCARD_E_SERVICE_STOPPED",
    0x8010_001F: "SCARD_E_UNEXPECTED",
    0x8010_0020: "SCARD_E_ICC_INSTALLATION",
    0x8010_0021: "SCARD_E_ICC_CREATEORDER",
    0x8010_0023: "SCARD_E_DIR_NOT_FOUND",
    0x8010_0024: "SCARD_E_FILE_NOT_FOUND",
    0x8010_0025: "SCARD_E_NO_DIR",
    0x8010_0026: "SCARD_E_NO_FILE",
    0x8010_0027: "SCARD_E_NO_ACCESS",
    0x8010_0028: "SCARD_E_WRITE_TOO_MANY",
    0x8010_0029: "SCARD_E_BAD_SEEK",
    0x8010_002A: "SCARD_E_INVALID_CHV",
    0x8010_002B: "SCARD_E_UNKNOWN_RES_MNG",
    0x8010_002C: "SCARD_E_NO_SUCH_CERTIFICATE",
    0x8010_002D: "SCARD_E_CERTIFICATE_UNAVAILABLE",
    0x8010_002E: "SCARD_E_NO_READERS_AVAILABLE",
    0x8010_002F: "SCARD_E_COMM_DATA_LOST",
    0x8010_0030: "SCARD_E_NO_KEY_CONTAINER",
    0x8010_0031: "SCARD_E_SERVER_TOO_BUSY",
    0x8010_0065: "SCARD_W_UNSUPPORTED_CARD",
    0x8010_0066: "SCARD_W_UNRESPONSIVE_CARD",
    0x8010_0067: "SCARD_W_UNPOWERED_CARD",
    0x8010_0068: "SCARD_W_RESET_CARD",
    0x8010_0069: "SCARD_W_REMOVED_CARD",
    0x8010_006A: "SCARD_W_SECURITY_VIOLATION",
    0x8010_006B: "SCARD_W_WRONG_CHV",
    0x8010_006C: "SCARD_W_CHV_BLOCKED",
    0x8010_006D: "SCARD_W_EOF",
    0x8010_006E: "SCARD_W_CANCELLED_BY_USER",
    0x8010_006F: "SCARD_W_CARD_NOT_AUTHENTICATED",
]
