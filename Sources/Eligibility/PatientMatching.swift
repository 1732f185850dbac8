import Foundation
import JPKI

/// A person as one side of a comparison: the eligibility record, the card's basic 4 information,
/// or the clinic's patient record. A birth date is required: names alone never match.
public struct PersonData: Sendable, Equatable {
    /// Name (any width; family and given name separated by a space, U+3000 or nothing).
    public var name: String
    /// Name in kana, when known (katakana or hiragana, any width).
    public var nameKana: String?
    /// Birth date.
    public var birthDate: CalendarDate
    /// Sex (`male`/`female`/…), when known; differing known values are a mismatch.
    public var sex: Sex?

    /// Creates a person.
    public init(name: String, nameKana: String? = nil, birthDate: CalendarDate, sex: Sex? = nil) {
        self.name = name
        self.nameKana = nameKana
        self.birthDate = birthDate
        self.sex = sex
    }

    /// From an eligibility record (no sex: the record does not carry it).
    public init(_ record: InsuranceRecord) {
        self.init(name: record.name, nameKana: record.nameKana, birthDate: record.birthDate)
    }

    /// From the card's basic 4 information (text AP).
    public init(_ info: BasicInfo) throws(EligibilityError) {
        let d = info.birthDate
        self.init(name: info.name, birthDate: try CalendarDate(year: d.year, month: d.month, day: d.day), sex: info.sex)
    }
}

/// The verdict of a comparison.
public enum MatchVerdict: String, Codable, Sendable {
    /// Same birth date and the same name after normalization (width, spaces, kana): the same person.
    case match
    /// Same birth date; names agree only through a kanji variant (髙/高 …) or through the kana
    /// reading: staff confirm before using the record.
    case probable
    /// Different birth date or sex, or names that do not agree: not this patient.
    case mismatch
}

/// Why a verdict was reached (stable raw values; no personal data).
public enum MatchReason: String, Codable, Sendable, CaseIterable {
    /// Birth dates are equal.
    case birthDateEqual = "birth_date_equal"
    /// Birth dates differ (always a mismatch).
    case birthDateDiffers = "birth_date_differs"
    /// Known sexes differ (always a mismatch).
    case sexDiffers = "sex_differs"
    /// Names are identical as written.
    case nameIdentical = "name_identical"
    /// Names are equal after NFKC, full/half width, U+3000/space and katakana/hiragana folding.
    case nameEqualNormalized = "name_equal_normalized"
    /// Names are equal only after mapping kanji variants (異体字) to a common form.
    case nameKanjiVariant = "name_kanji_variant"
    /// Written names differ but the kana readings agree.
    case kanaEqual = "kana_equal"
    /// Kana readings are both known and differ.
    case kanaDiffers = "kana_differs"
    /// Names differ (even after variant folding).
    case nameDiffers = "name_differs"
}

/// The result of ``PatientMatcher/compare(_:_:)``.
public struct MatchResult: Codable, Sendable, Equatable {
    /// The verdict.
    public var verdict: MatchVerdict
    /// The reasons, in evaluation order.
    public var reasons: [MatchReason]
}

/// Compares two people (eligibility record or card vs. the clinic's patient record).
///
/// Rules: differing birth dates or differing known sexes ⇒ `mismatch` (whatever the names).
/// With equal birth dates: names equal after ``normalize(_:)`` ⇒ `match`, unless both kana
/// readings are known and differ (⇒ `probable`); names equal only after ``foldVariants(_:)``
/// ⇒ `probable` (`name_kanji_variant`); names differ but both kana readings are known and equal
/// ⇒ `probable` (`kana_equal`); otherwise ⇒ `mismatch`. A name alone never gives a match.
public enum PatientMatcher {
    /// Compares `a` with `b` (symmetric).
    public static func compare(_ a: PersonData, _ b: PersonData) -> MatchResult {
        var reasons: [MatchReason] = []
        let nameA = normalize(a.name)
        let nameB = normalize(b.name)
        let kanaA = a.nameKana.map(normalize).flatMap { $0.isEmpty ? nil : $0 }
        let kanaB = b.nameKana.map(normalize).flatMap { $0.isEmpty ? nil : $0 }
        let kana: MatchReason? =
            if let kanaA, let kanaB { kanaA == kanaB ? .kanaEqual : .kanaDiffers } else { nil }

        let nameReason: MatchReason =
            if a.name == b.name {
                .nameIdentical
            } else if nameA == nameB {
                .nameEqualNormalized
            } else if foldVariants(nameA) == foldVariants(nameB) {
                .nameKanjiVariant
            } else {
                .nameDiffers
            }

        guard a.birthDate == b.birthDate else {
            reasons.append(.birthDateDiffers)
            reasons.append(nameReason)
            if let kana { reasons.append(kana) }
            return MatchResult(verdict: .mismatch, reasons: reasons)
        }
        reasons.append(.birthDateEqual)
        if let sa = a.sex, let sb = b.sex, sa != sb, sa != .notKnown, sb != .notKnown {
            reasons.append(.sexDiffers)
            reasons.append(nameReason)
            return MatchResult(verdict: .mismatch, reasons: reasons)
        }
        reasons.append(nameReason)
        if let kana { reasons.append(kana) }
        let verdict: MatchVerdict
        switch (nameReason, kana) {
        case (.nameIdentical, .kanaDiffers), (.nameEqualNormalized, .kanaDiffers): verdict = .probable
        case (.nameIdentical, _), (.nameEqualNormalized, _): verdict = .match
        case (.nameKanjiVariant, .kanaDiffers): verdict = .mismatch
        case (.nameKanjiVariant, _): verdict = .probable
        case (_, .kanaEqual): verdict = .probable
        default: verdict = .mismatch
        }
        return MatchResult(verdict: verdict, reasons: reasons)
    }

    /// NFKC (full/half width, compatibility forms), all whitespace removed (U+3000 included),
    /// katakana folded to hiragana, ASCII letters lower-cased.
    public static func normalize(_ s: String) -> String {
        let nfkc = s.precomposedStringWithCompatibilityMapping
        var out = String.UnicodeScalarView()
        for u in nfkc.unicodeScalars {
            if u.properties.isWhitespace || u == "\u{30FB}" || u == "\u{00B7}" { continue }
            // Katakana ァ(30A1)…ヶ(30F6) → hiragana ぁ(3041)…; ヽヾ → ゝゞ.
            if (0x30A1...0x30F6).contains(u.value) || (0x30FD...0x30FE).contains(u.value),
                let h = Unicode.Scalar(u.value - 0x60)
            {
                out.append(h)
            } else if u.isASCII {
                out.append(contentsOf: String(u).lowercased().unicodeScalars)
            } else {
                out.append(u)
            }
        }
        return String(out)
    }

    /// Maps kanji variants (異体字/旧字体) to one representative, after ``normalize(_:)``.
    public static func foldVariants(_ s: String) -> String {
        String(String.UnicodeScalarView(s.unicodeScalars.map { variantMap[$0] ?? $0 }))
    }

    /// Variant → representative. Groups list the representative first.
    static let variantGroups: [String] = [
        "高髙", "崎﨑嵜碕", "辺邊邉", "斎齋齊斉", "浜濱濵", "沢澤", "桜櫻", "広廣", "国國圀",
        "島嶋嶌", "富冨", "徳德", "恵惠", "栄榮", "実實", "蔵藏", "真眞", "寿壽", "万萬", "与與",
        "竜龍", "滝瀧", "浅淺", "関關", "円圓", "条條", "芸藝", "県縣", "戸戶户", "弥彌", "曽曾",
        "黒黑", "槙槇", "桑桒", "静靜", "渕淵渊", "野埜", "園薗", "館舘", "岳嶽", "薮藪", "篭籠",
        "郷鄕", "黄黃", "荘莊", "亜亞", "鴎鷗", "瀬瀨", "祐祐", "隆隆", "吉𠮷", "塚塚", "神神",
        "福福", "礼禮", "豊豐", "峰峯", "鉄鐵", "巌巖", "晋晉", "団團", "来來", "竹竹", "将將",
        "伝傳", "桧檜",
    ]

    static let variantMap: [Unicode.Scalar: Unicode.Scalar] = {
        var m: [Unicode.Scalar: Unicode.Scalar] = [:]
        for g in variantGroups {
            // NFKC first so that compatibility ideographs (祐 U+FA12 …) land on their unified form.
            let scalars = Array(g.precomposedStringWithCompatibilityMapping.unicodeScalars)
            guard let rep = scalars.first else { continue }
            for v in scalars.dropFirst() where v != rep { m[v] = rep }
            for v in g.unicodeScalars where v != rep { m[v] = rep }
        }
        return m
    }()
}
