/// # JPKI: the My Number card profile
///
/// Card operations of the Japanese My Number card (個人番号カード) as plain functions over a
/// `SmartCard.CardChannel`, so the same code runs against PC/SC (`PCSCCard.perform`), the
/// in-process simulator and recorded transcripts.
///
/// - ``MyNumberCard``: complete operations, each in one card transaction, each returning a
///   ``CardResult`` that carries the ``CardIdentity`` (SHA-256 of the auth certificate read in
///   the same transaction): ``MyNumberCard/detect()``, certificates, PIN status, PIN verify with
///   the last-try guard, signatures, basic 4 information, My Number, card face, 共通AP record.
/// - ``JPKICommands``: the individual commands (SELECT, READ BINARY by exact TLV/DER length,
///   empty-VERIFY counter query, guarded VERIFY, COMPUTE SIGNATURE) for custom sequences.
/// - ``BERTLV``: the BER-TLV parser (pure functions over `[UInt8]`, typed ``BERTLVError``).
/// - ``PIN`` (wipeable, redacted secret), ``MyNumber`` (check digit, redacted), ``SHA256``,
///   ``DigestInfo``.
///
/// PIN safety: a PIN's format is checked before any APDU; its retry counter is read (empty
/// VERIFY, which spends no try) before it is sent; a blocked PIN is never sent; the last try is
/// used only with `allowLastTry: true`; nothing is ever retried automatically.
public enum JPKIModule {
    /// The library version of the card profile.
    public static let version = "0.1.0"
}
