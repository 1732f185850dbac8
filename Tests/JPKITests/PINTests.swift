import JPKI
import SmartCard
import Testing

@Suite("PIN secret and formats")
struct PINTests {
    @Test func descriptionIsRedacted() {
        let pin = PIN("1234")
        #expect(pin.description == "PIN(redacted)")
        #expect(String(reflecting: pin) == "PIN(redacted)")
        #expect("\(pin)" == "PIN(redacted)")
        var dumped = ""
        dump(pin, to: &dumped)
        #expect(!dumped.contains("1234"))
        #expect(!dumped.contains("49"))  // not even the byte values
        #expect(Mirror(reflecting: pin).children.isEmpty)
    }

    @Test func bytesInitZeroesSource() {
        var source: [UInt8] = Array("9876".utf8)
        let pin = PIN(bytes: &source)
        #expect(source.isEmpty)
        #expect(pin.count == 4)
    }

    @Test func wipeMakesThePINUnusable() throws {
        let pin = PIN("1234")
        pin.wipe()
        #expect(pin.isWiped)
        #expect(pin.count == 0)
        let (channel, transport) = scripted([])
        #expect(throws: JPKIError.pinWiped) {
            try JPKICommands.verifyPIN(.auth, pin: pin, allowLastTry: false, on: channel)
        }
        #expect(transport.sent.isEmpty)
    }

    @Test(arguments: [
        (PINKind.auth, "123"), (.auth, "12345"), (.auth, "12a4"), (.auth, "１２３４"),
        (.text, ""), (.common, "abcd"),
        (.sign, "ABCDEF"), (.sign, "123456"), (.sign, "AB12"), (.sign, "ABCDEFGHIJ1234567"),
        (.sign, "ABC-123"), (.sign, "ＡＢＣ１２３"),
        (.textA, "12345678901"), (.visualB, "1234567890123"), (.visualBirth, "5502170"),
    ])
    func badFormatsAreRefusedBeforeAnyAPDU(kind: PINKind, value: String) {
        let (channel, transport) = scripted([])
        do {
            try JPKICommands.verifyPIN(kind, pin: PIN(value), allowLastTry: true, on: channel)
            Issue.record("accepted a bad \(kind) PIN")
        } catch {
            #expect(error.code == "invalid_pin_format")
            #expect(!error.description.contains(value) || value.isEmpty)
        }
        #expect(transport.sent.isEmpty)
        #expect(channel.apduCount == 0)
    }

    @Test func signPasswordIsUppercasedBeforeSending() throws {
        let (channel, transport) = scripted([
            ("00A4020C02001B", ok), ("00200080", "63C5"), ("00200080 06 414243313233", ok),
        ])
        let before = try JPKICommands.verifyPIN(
            .sign, pin: PIN("abc123"), allowLastTry: false, on: channel)
        #expect(before == .triesLeft(5))
        #expect(transport.isComplete)
    }

    @Test func myNumberCheckDigitAndRedaction() throws {
        let n = try MyNumber(digits: "123456789018")
        #expect(n.description == "MyNumber(redacted)")
        #expect(!"\(n)".contains("1234"))
        var dumped = ""
        dump(n, to: &dumped)
        #expect(!dumped.contains("123456789018"))
        #expect(throws: JPKIError.invalidMyNumber) { try MyNumber(digits: "123456789012") }
        #expect(throws: JPKIError.invalidMyNumber) { try MyNumber(digits: "12345678901") }
        #expect(throws: JPKIError.invalidMyNumber) { try MyNumber(digits: "12345678901a") }
        // Check digits computed independently for a few numbers.
        #expect(MyNumber.checkDigit(Array("12345678901".utf8)) == 8)
        #expect(MyNumber.checkDigit(Array("00000000000".utf8)) == 0)
        #expect(MyNumber.checkDigit(Array("00000000001".utf8)) == 9)  // 1*2=2 → 11-2
        let file = h("FF100C313233343536373839303138FFFF")
        let parsed = try MyNumber(parsingFile: file)
        #expect(parsed.digits == "123456789018")
        #expect(parsed.rawFile == file)
    }
}
