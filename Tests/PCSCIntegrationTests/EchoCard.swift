import CardSimulator
import Foundation
import SmartCard
import Synchronization

/// A minimal test-side card for the PC/SC bench:
/// - `00 EE 00 00 Lc data [Le]` echoes the data + 9000;
/// - `00 E1 00 00 00` answers 600 bytes in 61xx chunks of 200 (served by GET RESPONSE);
/// - `00 E2 00 00 Le` answers 6C0A unless Le = 10, then 10 bytes + 9000;
/// - anything else 6D00.
final class EchoCard: VirtualCard, @unchecked Sendable {
    let atr: [UInt8] = [0x3B, 0xE0, 0x00, 0xFF, 0x81, 0x31, 0xFE, 0x45, 0x14]
    private let counter = Mutex(0)
    private var pending: [UInt8] = []

    var commandsSeen: Int { counter.withLock { $0 } }

    func powerOn() { pending = [] }
    func powerOff() { pending = [] }
    func reset() { pending = [] }

    func process(_ command: [UInt8]) -> [UInt8]? {
        counter.withLock { $0 += 1 }
        guard let apdu = try? CommandAPDU(decoding: command) else { return [0x67, 0x00] }
        switch apdu.ins {
        case 0xEE:
            return apdu.data + [0x90, 0x00]
        case 0xE1:
            let all = (0..<600).map { UInt8($0 & 0xFF) }
            pending = Array(all[200...])
            return Array(all[..<200]) + [0x61, 0xC8]
        case 0xC0:
            let n = min(apdu.le ?? 256, pending.count)
            let chunk = Array(pending[..<n])
            pending.removeFirst(n)
            return chunk + (pending.isEmpty ? [0x90, 0x00] : [0x61, UInt8(min(pending.count, 256) & 0xFF)])
        case 0xE2:
            if apdu.le != 10 { return [0x6C, 0x0A] }
            return [UInt8](repeating: 0x5A, count: 10) + [0x90, 0x00]
        default:
            return [0x6D, 0x00]
        }
    }
}
