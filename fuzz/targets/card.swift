// MyNumberCard operations (JPKI library: detect, certificates, PIN status, text AP, card face,
// 共通AP, signing) against the simulated card 00-ordinary (one instance, reset per input) whose responses the input corrupts,
// or (mode bit) against responses taken wholly from the input.
// Input: [op] then 4-byte mutations [APDU index, kind, position, value]…
import CardSimulator
import JPKI
import SmartCard

final class MutatingTransport: CardTransport {
    let inner: InProcessTransport
    var mutations: [UInt8: [(UInt8, UInt8, UInt8)]] = [:]
    var index: UInt8 = 0
    init(card: VirtualMyNumberCard, mutations: [UInt8]) {
        inner = InProcessTransport(card: card)
        var i = 0
        while i + 4 <= mutations.count {
            self.mutations[mutations[i], default: []].append((mutations[i + 1], mutations[i + 2], mutations[i + 3]))
            i += 4
        }
    }
    func transmit(_ command: [UInt8]) throws(SmartCardError) -> [UInt8] {
        var r = try inner.transmit(command)
        defer { index &+= 1 }
        for (kind, pos, value) in mutations[index] ?? [] {
            let p = Int(pos)
            switch kind % 6 {
            case 0: if !r.isEmpty { r[p % r.count] = value }
            case 1: r = Array(r.prefix(p % (r.count + 1)))
            case 2:
                if r.count >= 2 {
                    r[r.count - 2] = value
                    r[r.count - 1] = pos
                }
            case 3: r.insert(contentsOf: [UInt8](repeating: value, count: p % 9), at: max(0, r.count - 2))
            case 4: r = [0x61, value]
            default: r = Array(r.dropLast(2)) + [0x6C, value]
            }
        }
        return r
    }
}

/// One simulated card for the whole run: only its correct PINs are ever sent (no counter
/// changes), and each input starts with a warm reset (security state cleared).
nonisolated(unsafe) let sharedCard: VirtualMyNumberCard = {
    guard let card = try? VirtualMyNumberCard.fixture("00-ordinary") else { fatalError("fixture 00-ordinary") }
    return card
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCard(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    var input = FuzzInput(fuzzBytes(data, size))
    let op = input.byte()
    let transport: any CardTransport
    if op & 0x80 != 0 {
        transport = FramedResponseTransport(input, extended: op & 0x40 != 0)
    } else {
        sharedCard.reset()
        transport = MutatingTransport(card: sharedCard, mutations: input.rest())
    }
    let channel = CardChannel(transport: transport)
    channel.maxChainingRounds = 64
    let card = MyNumberCard(channel: channel)
    let pin = PIN("1234")
    defer { pin.wipe() }
    switch op & 0x0F {
    case 0: _ = try? card.detect()
    case 1:
        if let c = try? card.readCertificate(.auth) {
            if let h = try? BERTLV.parseHeader(c.value.der) {
                fuzzCheck(h.totalLength == c.value.der.count, "certificate length differs from its header")
            }
        }
    case 2: _ = try? card.readCertificates()
    case 3: _ = try? card.allPINStatus()
    case 4: _ = try? card.readTextAP(pin: pin, includeMyNumber: true)
    case 5: _ = try? card.readBasicInfo(pin: pin)
    case 6: _ = try? card.readCommonAPInfo()
    case 7:
        let digestInfo = DigestInfo.sha256(ofChallenge: [UInt8](repeating: 1, count: 32))
        _ = try? card.signWithAuthKey(digestInfo: digestInfo, pin: pin)
    case 8: _ = try? card.identity()
    case 9: _ = try? card.pinStatus(.text)
    default:
        let key = PIN("123456789018")
        _ = try? card.readCardFace(key: key)
        key.wipe()
    }
    return 0
}
