// APDU codec and CardChannel's 61xx GET RESPONSE / 6Cxx re-send handling over a transport
// whose responses come from the input.
//
// Input: [selector] [frames: u16 length + response bytes]…
//   selector bit 0..1: command case, bit 2: extended allowed; the frames are the card's answers.
// Also: CommandAPDU(decoding:) and ResponseAPDU(decoding:) on the whole input, with round-trip oracles.
import SmartCard

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzAPDU(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = fuzzBytes(data, size)

    if let r = try? ResponseAPDU(decoding: bytes) {
        fuzzCheck(r.encoded == bytes, "ResponseAPDU round trip")
    }
    if let c = try? CommandAPDU(decoding: bytes) {
        let again = try? c.encoded()
        fuzzCheck(again == bytes, "CommandAPDU decode/encode round trip")
    }

    var input = FuzzInput(bytes)
    let selector = input.byte()
    let le = Int(input.byte())
    let command: CommandAPDU
    switch selector & 3 {
    case 0: command = CommandAPDU(ins: 0xB0, p1: 0, p2: 0, le: le == 0 ? 256 : le)
    case 1: command = CommandAPDU(ins: 0xB0, p1: 0, p2: 0, le: 65_536, forceExtended: true)
    case 2: command = CommandAPDU(ins: 0x20, p1: 0, p2: 0x80, data: [0x31, 0x32, 0x33, 0x34])
    default: command = CommandAPDU(ins: 0x2A, p1: 0, p2: 0x80, data: [UInt8](repeating: 7, count: 51), le: 256)
    }
    let transport = FramedResponseTransport(input, extended: selector & 4 != 0)
    let channel = CardChannel(transport: transport, trace: APDUTrace())
    channel.maxChainingRounds = 64
    do {
        let response = try channel.send(command)
        fuzzCheck(response.statusWord.bytesAvailable == nil, "61xx returned to the caller")
        fuzzCheck(channel.apduCount == transport.commands.count, "APDU count")
        fuzzCheck(channel.apduCount <= 2 * (channel.maxChainingRounds + 1) + 2, "bounded chaining")
    } catch {
        // Typed SmartCardError: fine.
        _ = error.code
    }
    for c in transport.commands {
        fuzzCheck((try? CommandAPDU(decoding: c)) != nil, "the channel sent an undecodable APDU")
    }
    return 0
}
