import CardSimulator
import Foundation
import SmartCard
import Testing

@Suite("VERIFY, counters, blocking, CHANGE REFERENCE DATA")
struct PINTests {
    /// (AP, PIN EF, SFI P2, value, max tries, which PIN)
    static let allPINs: [(String, String, String, String, Int, SimulatedPIN)] = [
        (Sim.jpkiAID, "0018", "98", "1234", 3, .auth),
        (Sim.jpkiAID, "001B", "9B", "ABC123", 5, .sign),
        (Sim.textAID, "0011", "91", "1234", 3, .text),
        (Sim.textAID, "0014", "94", "123456789018", 10, .textA),
        (Sim.textAID, "0015", "95", "55021720352285", 10, .textB),
        (Sim.visualAID, "0011", "91", "550217", 10, .visualBirth),
        (Sim.visualAID, "0012", "92", "55021720352285", 10, .visualB),
        (Sim.visualAID, "0013", "93", "123456789018", 10, .visualA),
        (Sim.commonAID, "001C", "9C", "1234", 3, .common),
        (Sim.jukiAID, "001C", "9C", "1234", 3, .juki),
    ]

    @Test func emptyVerifyReportsTriesWithoutSpending() throws {
        let card = try Sim.card()
        for (aid, fid, p2, _, max, pin) in Self.allPINs {
            #expect(Sim.sw(card, "00A4040C0A" + aid) == "9000")
            #expect(Sim.sw(card, "00A4020C02" + fid) == "9000")
            let expected = "63C" + String(max, radix: 16, uppercase: true)
            for _ in 0..<4 {
                #expect(Sim.sw(card, "00200080") == expected, "\(pin)")
                #expect(Sim.sw(card, "002000" + p2) == expected, "\(pin) SFI")
            }
            #expect(card.triesLeft(pin) == max)
        }
        // Text AP 0012 is blocked.
        #expect(Sim.sw(card, "00A4040C0A" + Sim.textAID) == "9000")
        #expect(Sim.sw(card, "00200092") == "63C0")
        #expect(Sim.sw(card, Sim.verifyAPDU("1234", p2: "92")) == "6984")
        // Empty VERIFY stays 63Cx after a successful VERIFY.
        #expect(Sim.sw(card, Sim.verifyAPDU("1234", p2: "91")) == "9000")
        #expect(Sim.sw(card, "00200091") == "63C3")
    }

    @Test func wrongPINCountsDownBlocksAndThen6984() throws {
        for (aid, fid, p2, value, max, pin) in Self.allPINs {
            let card = try Sim.card()
            #expect(Sim.sw(card, "00A4040C0A" + aid) == "9000")
            #expect(Sim.sw(card, "00A4020C02" + fid) == "9000")
            // One wrong, then right: the counter is back at max.
            let wrong = value == "9999" ? "9998" : "9999"
            #expect(
                Sim.sw(card, Sim.verifyAPDU(wrong)) == "63C"
                    + String(max - 1, radix: 16, uppercase: true))
            #expect(card.triesLeft(pin) == max - 1)
            #expect(Sim.sw(card, Sim.verifyAPDU(value)) == "9000")
            #expect(card.triesLeft(pin) == max)
            #expect(card.isVerified(pin))
            // Exhaust it through the SFI form.
            for left in stride(from: max - 1, through: 0, by: -1) {
                #expect(
                    Sim.sw(card, Sim.verifyAPDU(wrong, p2: p2)) == "63C"
                        + String(left, radix: 16, uppercase: true),
                    "\(pin)")
            }
            #expect(!card.isVerified(pin))
            #expect(card.triesLeft(pin) == 0)
            #expect(Sim.sw(card, Sim.verifyAPDU(value, p2: p2)) == "6984")
            #expect(Sim.sw(card, Sim.verifyAPDU(wrong)) == "6984")
            #expect(Sim.sw(card, "00200080") == "63C0")
            #expect(Sim.sw(card, "002000" + p2) == "63C0")
            // Counters survive reset and power cycles (same card object = same process).
            card.reset()
            card.powerOff()
            card.powerOn()
            #expect(Sim.sw(card, "00A4040C0A" + aid) == "9000")
            #expect(Sim.sw(card, "002000" + p2) == "63C0")
            #expect(card.triesLeft(pin) == 0)
        }
    }

    @Test func profileTriesAreHonoured() throws {
        let temp = try Sim.temporaryCard {
            var pins = $0["pins"] as? [String: Any] ?? [:]
            pins["auth"] = ["value": "1234", "tries": 1, "maxTries": 3]
            pins["sign"] = ["value": "ABC123", "tries": 0, "maxTries": 5]
            $0["pins"] = pins
        }
        defer { temp.remove() }
        let card = try temp.load()
        #expect(Sim.sw(card, "00A4040C0A" + Sim.jpkiAID) == "9000")
        #expect(Sim.sw(card, "00200098") == "63C1")
        #expect(Sim.sw(card, "0020009B") == "63C0")
        #expect(Sim.sw(card, Sim.verifyAPDU("ABC123", p2: "9B")) == "6984")
        #expect(Sim.sw(card, Sim.verifyAPDU("1234", p2: "98")) == "9000")
        #expect(Sim.sw(card, "00200098") == "63C3")
    }

    @Test func verifyErrors() throws {
        let card = try Sim.card()
        #expect(Sim.sw(card, "00200080") == "6986")  // nothing selected
        #expect(Sim.sw(card, "00A4040C0A" + Sim.jpkiAID) == "9000")
        #expect(Sim.sw(card, "00200080") == "6986")
        #expect(Sim.sw(card, "00A4020C02000A") == "9000")
        #expect(Sim.sw(card, "00200080") == "6981")  // a certificate is not a PIN
        #expect(Sim.sw(card, Sim.verifyAPDU("1234")) == "6981")
        #expect(Sim.sw(card, "00200091") == "6A88")  // no 0011 in the JPKI AP
        #expect(Sim.sw(card, "00200001") == "6A86")
        #expect(Sim.sw(card, "00200180") == "6A86")
        #expect(Sim.sw(card, "002000FF") == "6A86")
        #expect(card.triesLeft(.auth) == 3)
    }

    @Test func changeReferenceData() throws {
        let card = try Sim.card()
        #expect(Sim.sw(card, "00A4040C0A" + Sim.jpkiAID) == "9000")
        #expect(Sim.sw(card, "00A4020C020018") == "9000")
        #expect(Sim.sw(card, "0024018004" + Sim.ascii("4321")) == "6982")  // not verified
        #expect(Sim.sw(card, Sim.verifyAPDU("1234")) == "9000")
        #expect(Sim.sw(card, "0024018003" + Sim.ascii("432")) == "6A80")
        #expect(Sim.sw(card, "0024018004" + Sim.ascii("43A1")) == "6A80")
        #expect(Sim.sw(card, "0024008004" + Sim.ascii("4321")) == "6A86")
        #expect(Sim.sw(card, "0024018004" + Sim.ascii("4321")) == "9000")
        #expect(Sim.sw(card, Sim.verifyAPDU("1234")) == "63C2")
        #expect(Sim.sw(card, Sim.verifyAPDU("4321")) == "9000")
        // Sign password rules: 6-16 of A-Z 0-9, at least one of each.
        #expect(Sim.sw(card, Sim.verifyAPDU("ABC123", p2: "9B")) == "9000")
        #expect(Sim.sw(card, "0024019B06" + Sim.ascii("ABCDEF")) == "6A80")
        #expect(Sim.sw(card, "0024019B06" + Sim.ascii("abc123")) == "6A80")
        #expect(Sim.sw(card, "0024019B07" + Sim.ascii("XYZ7890")) == "9000")
        card.reset()
        #expect(Sim.sw(card, "00A4040C0A" + Sim.jpkiAID) == "9000")
        #expect(Sim.sw(card, Sim.verifyAPDU("XYZ7890", p2: "9B")) == "9000")
        // 共通AP uses CHANGE KEY 80 32 00 80, not 00 24.
        #expect(Sim.sw(card, "00A4040C0A" + Sim.commonAID) == "9000")
        #expect(Sim.sw(card, Sim.verifyAPDU("1234", p2: "9C")) == "9000")
        #expect(Sim.sw(card, "0024019C04" + Sim.ascii("5555")) == "6A81")
        #expect(Sim.sw(card, "8032008004" + Sim.ascii("5555")) == "9000")
        #expect(Sim.sw(card, Sim.verifyAPDU("5555", p2: "9C")) == "9000")
        // The 住基AP counter and value are separate.
        #expect(Sim.sw(card, "00A4040C0A" + Sim.jukiAID) == "9000")
        #expect(Sim.sw(card, Sim.verifyAPDU("1234", p2: "9C")) == "9000")
    }
}
