import Foundation

/// A calendar day (no time, no zone), written `yyyy-MM-dd` in JSON, CSV and SQL.
/// Eligibility dates are Japanese calendar days: ``today(in:)`` defaults to Asia/Tokyo.
public struct CalendarDate: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    /// Gregorian year (1…9999).
    public let year: Int
    /// Month 1…12.
    public let month: Int
    /// Day 1…31 (validated against the month).
    public let day: Int

    /// Creates a date; throws ``EligibilityError/invalidRecord(field:reason:)`` for an impossible day.
    public init(year: Int, month: Int, day: Int) throws(EligibilityError) {
        guard (1...9999).contains(year), (1...12).contains(month), (1...Self.days(year, month)).contains(day) else {
            throw .invalidRecord(field: "date", reason: "not a calendar day")
        }
        self.year = year
        self.month = month
        self.day = day
    }

    /// Parses `yyyy-MM-dd` or `yyyyMMdd` (the card's basic-4-info form).
    public init(_ text: String) throws(EligibilityError) {
        let t = text.trimmingCharacters(in: .whitespaces)
        let digits: String
        if t.count == 10, Array(t)[4] == "-", Array(t)[7] == "-" {
            digits = t.replacingOccurrences(of: "-", with: "")
        } else {
            digits = t
        }
        guard digits.count == 8, digits.allSatisfy({ $0.isASCII && $0.isNumber }),
            let y = Int(digits.prefix(4)), let m = Int(digits.dropFirst(4).prefix(2)), let d = Int(digits.suffix(2))
        else { throw .invalidRecord(field: "date", reason: "expected yyyy-MM-dd") }
        try self.init(year: y, month: m, day: d)
    }

    /// Japan's zone: Asia/Tokyo from tzdata, or its fixed UTC+9 (Japan has no daylight saving).
    public static let japan: TimeZone =
        TimeZone(identifier: "Asia/Tokyo") ?? TimeZone(secondsFromGMT: 9 * 3600) ?? TimeZone.current

    /// Today in the given zone (default Asia/Tokyo).
    public static func today(in zone: TimeZone = japan, now: Date = Date()) -> CalendarDate {
        var cal = Calendar(identifier: .gregorian)
        cal.timeZone = zone
        let c = cal.dateComponents([.year, .month, .day], from: now)
        // The Gregorian components of a real Date are a calendar day: no validation needed.
        return CalendarDate(components: c.year ?? 1970, c.month ?? 1, c.day ?? 1)
    }

    /// A day from components already known to be valid (from `Calendar`).
    private init(components year: Int, _ month: Int, _ day: Int) {
        self.year = year
        self.month = month
        self.day = day
    }

    static func days(_ y: Int, _ m: Int) -> Int {
        switch m {
        case 2: (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// `yyyy-MM-dd`.
    public var description: String {
        func pad(_ v: Int, _ n: Int) -> String {
            String(repeating: "0", count: max(0, n - String(v).count)) + String(v)
        }
        return "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))"
    }

    public static func < (a: CalendarDate, b: CalendarDate) -> Bool {
        (a.year, a.month, a.day) < (b.year, b.month, b.day)
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        let s = try c.decode(String.self)
        do { try self.init(s) } catch {
            throw DecodingError.dataCorrupted(.init(codingPath: c.codingPath, debugDescription: "expected yyyy-MM-dd"))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}
