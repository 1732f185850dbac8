import Foundation
import Testing

@testable import Inspect

/// The hand-written UTC timestamp (card-inspect's JSON `notBefore`/`notAfter`, `watch` times)
/// must print exactly what ISO8601DateFormatter with `.withInternetDateTime` printed before.
@Suite("card-inspect timestamps")
struct DateTextTests {
    @Test(arguments: [0, 1_700_000_000.9, -1, -631_152_000, 951_782_400, 253_402_300_799])
    func sameAsISO8601DateFormatter(seconds: Double) {
        let d = Date(timeIntervalSince1970: seconds)
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        f.timeZone = TimeZone(identifier: "UTC")
        #expect(iso8601(d) == f.string(from: d))
        #expect(day(d) == String(f.string(from: d).prefix(10)))
    }
}
