// vpcd framing (CardSimulator.VPCDFrameDecoder) fed in input-chosen splits, and every decoded
// C-APDU processed by the simulated card (its command decoder is a parser too).
// Input: [split seed] [stream bytes]…
import CardSimulator
import SmartCard

nonisolated(unsafe) var card: VirtualMyNumberCard? = nil

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzVPCD(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    if card == nil { card = try? VirtualMyNumberCard.fixture("00-ordinary") }
    var input = FuzzInput(fuzzBytes(data, size))
    var split = Int(input.byte()) | 1
    let stream = input.rest()
    // Decoding in one piece and in chunks must give the same messages.
    var whole = VPCDFrameDecoder()
    whole.append(stream)
    var expected: [VPCDMessage] = []
    var wholeError = false
    while true {
        do {
            guard let m = try whole.next() else { break }
            expected.append(m)
        } catch {
            wholeError = true
            break
        }
    }
    var chunked = VPCDFrameDecoder()
    var got: [VPCDMessage] = []
    var chunkedError = false
    var i = 0
    outer: while i < stream.count {
        let n = min(split, stream.count - i)
        chunked.append(stream[i..<i + n])
        i += n
        split = (split * 7 + 3) % 300 + 1
        while true {
            do {
                guard let m = try chunked.next() else { break }
                got.append(m)
            } catch {
                chunkedError = true
                break outer
            }
        }
    }
    fuzzCheck(got == expected, "chunked decoding differs")
    fuzzCheck(wholeError == chunkedError, "error differs")
    // At most 32 APDUs to the card per input.
    for m in expected.prefix(32) {
        guard case .apdu(let command) = m, let card else { continue }
        if let r = card.process(command) {
            fuzzCheck(r.count >= 2, "card answered fewer than 2 bytes")
            fuzzCheck((try? VPCDFrameDecoder.frame(r)) != nil, "response too long to frame")
        }
    }
    return 0
}
