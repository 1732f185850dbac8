import Eligibility
import Foundation
import JPKI
import TestBench
import Testing

@Suite("Patient matching")
struct MatchingTests {
    /// The card's identity from a fixture profile (what the text AP's basic 4 info holds).
    func cardPerson(_ card: String) throws -> PersonData {
        let url = packageRoot.appendingPathComponent("apdu-fixtures/cards/\(card)/profile.json")
        let json = try JSONSerialization.jsonObject(with: try Data(contentsOf: url)) as? [String: Any]
        let identity = try #require(json?["identity"] as? [String: String])
        let sex: Sex? = identity["sex"] == "1" ? .male : identity["sex"] == "2" ? .female : nil
        return PersonData(
            name: try #require(identity["name"]), birthDate: try CalendarDate(try #require(identity["birthDate"])),
            sex: sex)
    }

    @Test func normalization() {
        #expect(PatientMatcher.normalize("山田　太郎") == "山田太郎")
        #expect(PatientMatcher.normalize("山田 太郎 ") == "山田太郎")
        #expect(PatientMatcher.normalize("ﾔﾏﾀﾞ ﾀﾛｳ") == "やまだたろう")
        #expect(PatientMatcher.normalize("ヤマダ　タロウ") == "やまだたろう")
        #expect(PatientMatcher.normalize("やまだ　たろう") == "やまだたろう")
        #expect(PatientMatcher.normalize("ＹＡＭＡＤＡ Taro") == "yamadataro")
        #expect(PatientMatcher.normalize("ガ") == PatientMatcher.normalize("ｶﾞ"))
    }

    @Test func variantFolding() {
        let pairs = [
            ("髙", "高"), ("﨑", "崎"), ("嵜", "崎"), ("邊", "辺"), ("邉", "辺"), ("齋", "斎"), ("齊", "斎"), ("斉", "斎"),
            ("濱", "浜"), ("澤", "沢"), ("櫻", "桜"), ("廣", "広"), ("國", "国"), ("嶋", "島"), ("冨", "富"),
            ("德", "徳"), ("惠", "恵"), ("榮", "栄"), ("眞", "真"), ("龍", "竜"), ("瀧", "滝"), ("關", "関"),
            ("條", "条"), ("彌", "弥"), ("曾", "曽"), ("黑", "黒"), ("槇", "槙"), ("淵", "渕"), ("舘", "館"),
            ("藪", "薮"), ("鄕", "郷"), ("瀨", "瀬"), ("𠮷", "吉"), ("豐", "豊"), ("峯", "峰"), ("來", "来"),
        ]
        for (variant, standard) in pairs {
            #expect(
                PatientMatcher.foldVariants(PatientMatcher.normalize(variant))
                    == PatientMatcher.foldVariants(PatientMatcher.normalize(standard)), "\(variant)/\(standard)")
        }
        #expect(PatientMatcher.foldVariants("高") != PatientMatcher.foldVariants("髪"))
        #expect(PatientMatcher.foldVariants("佐藤") != PatientMatcher.foldVariants("佐籐"), "籐 is not a variant of 藤")
    }

    @Test func identicalNameAndBirthIsMatch() {
        let a = PersonData(name: "山田　太郎", birthDate: date("1980-02-17"))
        let r = PatientMatcher.compare(a, a)
        #expect(r.verdict == .match)
        #expect(r.reasons == [.birthDateEqual, .nameIdentical])
    }

    @Test func widthAndSpaceDifferencesAreMatch() {
        let card = PersonData(name: "山田　太郎", nameKana: "ヤマダ　タロウ", birthDate: date("1980-02-17"))
        let clinic = PersonData(name: "山田 太郎", nameKana: "ﾔﾏﾀﾞ ﾀﾛｳ", birthDate: date("1980-02-17"))
        let r = PatientMatcher.compare(card, clinic)
        #expect(r.verdict == .match)
        #expect(r.reasons == [.birthDateEqual, .nameEqualNormalized, .kanaEqual])
        let hiragana = PersonData(name: "山田太郎", nameKana: "やまだ たろう", birthDate: date("1980-02-17"))
        #expect(PatientMatcher.compare(card, hiragana).verdict == .match)
    }

    @Test func kanjiVariantFixtureIsProbable() throws {
        let card = try cardPerson("01-kanji-variant")
        #expect(card.name == "髙橋　﨑邊")
        let clinic = PersonData(name: "高橋 崎辺", birthDate: date("1992-11-03"))
        let r = PatientMatcher.compare(card, clinic)
        #expect(r.verdict == .probable)
        #expect(r.reasons == [.birthDateEqual, .nameKanjiVariant])
        // With another birth date it is not the same person, variant or not.
        let other = PersonData(name: "高橋 崎辺", birthDate: date("1992-11-04"))
        #expect(PatientMatcher.compare(card, other).verdict == .mismatch)
    }

    @Test func sameNameDifferentPeopleMismatch() throws {
        let a = try cardPerson("02-same-name-a")
        let b = try cardPerson("03-same-name-b")
        #expect(a.name == b.name)
        let r = PatientMatcher.compare(a, b)
        #expect(r.verdict == .mismatch)
        #expect(r.reasons == [.birthDateDiffers, .nameIdentical])
        // Each card against the clinic's record of the other person.
        let clinicA = PersonData(name: "佐藤 花子", nameKana: "サトウ ハナコ", birthDate: date("1975-04-01"))
        let clinicB = PersonData(name: "佐藤 花子", nameKana: "サトウ ハナコ", birthDate: date("2003-08-20"))
        #expect(PatientMatcher.compare(a, clinicA).verdict == .match)
        #expect(PatientMatcher.compare(b, clinicB).verdict == .match)
        #expect(PatientMatcher.compare(a, clinicB).verdict == .mismatch)
        #expect(PatientMatcher.compare(b, clinicA).verdict == .mismatch)
    }

    @Test func nameAloneNeverMatches() {
        let a = PersonData(name: "山田　太郎", nameKana: "ヤマダ　タロウ", birthDate: date("1980-02-17"))
        let b = PersonData(name: "山田　太郎", nameKana: "ヤマダ　タロウ", birthDate: date("1980-02-18"))
        #expect(PatientMatcher.compare(a, b).verdict == .mismatch)
    }

    @Test func differentNamesMismatch() {
        let a = PersonData(name: "山田　太郎", birthDate: date("1980-02-17"))
        let b = PersonData(name: "山田　次郎", birthDate: date("1980-02-17"))
        let r = PatientMatcher.compare(a, b)
        #expect(r.verdict == .mismatch)
        #expect(r.reasons == [.birthDateEqual, .nameDiffers])
    }

    @Test func kanaRescuesAnUnknownVariantAsProbable() {
        // 吉 vs 𠮷 is in the table; 辻 with one/two dots shares a code point; here the clinic typed
        // a different kanji that the table does not know, but the readings agree.
        let a = PersonData(name: "渡邊　修", nameKana: "ワタナベ　オサム", birthDate: date("1970-05-05"))
        let b = PersonData(name: "渡部　修", nameKana: "ﾜﾀﾅﾍﾞ ｵｻﾑ", birthDate: date("1970-05-05"))
        let r = PatientMatcher.compare(a, b)
        #expect(r.verdict == .probable)
        #expect(r.reasons == [.birthDateEqual, .nameDiffers, .kanaEqual])
    }

    @Test func conflictingKanaDowngrades() {
        let a = PersonData(name: "中田　裕子", nameKana: "ナカタ　ユウコ", birthDate: date("1985-01-01"))
        let b = PersonData(name: "中田　裕子", nameKana: "ナカダ　ヒロコ", birthDate: date("1985-01-01"))
        #expect(PatientMatcher.compare(a, b).verdict == .probable)
        let c = PersonData(name: "髙田　裕子", nameKana: "ナカダ　ヒロコ", birthDate: date("1985-01-01"))
        let d = PersonData(name: "高田　裕子", nameKana: "タカダ　ユウコ", birthDate: date("1985-01-01"))
        #expect(PatientMatcher.compare(c, d).verdict == .mismatch)
    }

    @Test func sexDiffersIsMismatch() {
        let a = PersonData(name: "山田　光", birthDate: date("1990-01-01"), sex: .male)
        let b = PersonData(name: "山田　光", birthDate: date("1990-01-01"), sex: .female)
        let r = PatientMatcher.compare(a, b)
        #expect(r.verdict == .mismatch)
        #expect(r.reasons.contains(.sexDiffers))
        let unknown = PersonData(name: "山田　光", birthDate: date("1990-01-01"))
        #expect(PatientMatcher.compare(a, unknown).verdict == .match)
    }

    @Test func symmetric() throws {
        let people = [
            try cardPerson("00-ordinary"), try cardPerson("01-kanji-variant"), try cardPerson("02-same-name-a"),
            try cardPerson("03-same-name-b"), PersonData(name: "高橋 崎辺", birthDate: date("1992-11-03")),
        ]
        for a in people {
            for b in people {
                #expect(PatientMatcher.compare(a, b).verdict == PatientMatcher.compare(b, a).verdict)
            }
        }
    }

    @Test func recordVsCard() throws {
        // The demo registry spells 01's name 高橋　崎辺: record vs card is probable.
        let record = InsuranceRecord(
            insurerNumber: "27139992", symbol: "大阪試験", number: "2042", branch: "01", name: "高橋　崎辺",
            nameKana: "タカハシ　サキ", birthDate: date("1992-11-03"), copaymentRatio: 30,
            validFrom: date("2023-10-01"))
        #expect(PatientMatcher.compare(PersonData(record), try cardPerson("01-kanji-variant")).verdict == .probable)
    }
}

@Suite("CSV parsing")
struct CSVTests {
    @Test func issuerKeyIDColumn() {
        let text =
            "issuerKeyID,serial,insurerNumber,symbol,number,branch,name,birthDate,copaymentRatio,validFrom\n"
            + "keyid:0A:0B:0C:0D,1001,06139991,,1,00,A,1980-02-17,30,2024-04-01\n"
            + "0A0B0C0E,1001,06139991,,2,00,B,1980-02-17,30,2024-04-01\n"
            + "0A0,1001,06139991,,3,00,C,1980-02-17,30,2024-04-01"
        let (rows, errors, _) = RegistryCSV.parse(text)
        #expect(rows.map(\.key?.issuerKeyID) == ["0A0B0C0D", "0A0B0C0E"])
        #expect(rows[0].key != rows[1].key)
        #expect(errors.map(\.column) == ["issuerKeyID"])
    }

    let header = "issuer,serial,insurerNumber,symbol,number,branch,name,birthDate,copaymentRatio,validFrom"

    @Test func demoFileParses() throws {
        let text = try String(
            contentsOf: packageRoot.appendingPathComponent("apdu-fixtures/registry/demo.csv"), encoding: .utf8)
        let (rows, errors, count) = RegistryCSV.parse(text, anchors: [fixtureAuthIssuer: [fixtureAuthKeyID]])
        #expect(errors == [])
        #expect(count == 10)
        #expect(
            rows.compactMap(\.key?.serial) == ["1001", "1011", "1021", "1031", "1041", "1061", "1071", "1081", "1091"])
        #expect(rows.allSatisfy { $0.key == nil || $0.key?.issuer == fixtureAuthIssuer })
        // Three root generations: the key ids are those of the cards' own certificates.
        #expect(Set(rows.compactMap(\.key?.issuerKeyID)).count == 3)
        #expect(rows.first?.key?.issuerKeyID == fixtureAuthKeyID)
        // The same file in the old format (no issuerKeyID): with one anchor for the DN every row
        // resolves to it; with two generations sharing the DN, keyed rows name the column to add.
        let old = text.split(separator: "\n", omittingEmptySubsequences: false).map { line in
            line.hasPrefix("#") || line.isEmpty ? String(line) : String(line.drop { $0 != "," }.dropFirst())
        }.joined(separator: "\n")
        #expect(RegistryCSV.parse(old, anchors: fixtureAnchors).rows.count == 10)
        let ambiguous = RegistryCSV.parse(old, anchors: [fixtureAuthIssuer: ["0A0B0C0D", "0A0B0C0E"]])
        #expect(ambiguous.rows.count == 1)
        #expect(ambiguous.errors.count == 9)
        #expect(ambiguous.errors.first?.column == "issuerKeyID")
        #expect(ambiguous.errors.first?.reason == "2 configured anchors share this issuer DN: give issuerKeyID")
        #expect(rows[1].record.name == "高橋　崎辺")
        #expect(rows[3].record.status == .lost)
        #expect(rows[5].key == nil)
    }

    @Test func quotingCRLFAndBOM() {
        let text =
            "\u{FEFF}# comment\r\n" + header + "\r\n\r\n"
            + "\"O=A,\"\"B\"\",C=JP\",0a,06139991,\"x,y\",1,00,\"山田\n太郎\",1980-02-17,30,2024-04-01\r\n"
            + "# another comment\r\n"
            + ",,06139991,,2,00,山田　花子,1980-02-17,10,2024-04-01"
        let (rows, errors, count) = RegistryCSV.parse(text, anchors: ["O=A,\"B\",C=JP": ["0A0B0C0D"]])
        #expect(errors == [])
        #expect(count == 2)
        #expect(rows.count == 2)
        #expect(rows[0].key?.issuer == "O=A,\"B\",C=JP")
        #expect(rows[0].key?.serial == "A")
        #expect(rows[0].record.symbol == "x,y")
        #expect(rows[0].record.name == "山田\n太郎")
        #expect(rows[0].line == 4)
        #expect(rows[1].line == 7)
        #expect(rows[1].key == nil)
    }

    @Test func rowErrorsNameLineAndColumn() {
        let text = [
            header,
            ",,06139991,,1,00,A,1980-02-17,30,2024-04-01",  // ok
            ",,0613999,,1,00,A,1980-02-17,30,2024-04-01",  // insurer
            "C=JP,,06139991,,1,00,A,1980-02-17,30,2024-04-01",  // serial missing
            ",,06139991,,1,00,A,1980-02-17,3割,2024-04-01",  // ratio
            ",,06139991,,1,00,A,1980-02-17,30",  // field count
            ",,06139991,,1,00,,1980-02-17,30,2024-04-01",  // name
            ",,06139991,,1,00,A,1980-02-17,30,2024/04/01",  // date
        ].joined(separator: "\n")
        let (rows, errors, count) = RegistryCSV.parse(text)
        #expect(count == 7)
        #expect(rows.count == 1)
        #expect(errors.map(\.line) == [3, 4, 5, 6, 7, 8])
        #expect(errors.map(\.column) == ["insurerNumber", "serial", "copaymentRatio", nil, "name", "validFrom"])
        // Errors never echo the values (names, birth dates).
        #expect(!errors.contains { $0.description.contains("1980") })
    }

    @Test func headerErrors() {
        let (rows, errors, _) = RegistryCSV.parse("issuer,insurerNumber,nmae\n,1,2")
        #expect(rows.isEmpty)
        #expect(errors.contains { $0.column == "nmae" && $0.reason == "unknown column" })
        #expect(errors.contains { $0.column == "name" && $0.reason == "missing column" })
        #expect(errors.contains { $0.reason == "serial goes with issuerKeyID (or issuer)" })
        #expect(RegistryCSV.parse("").errors.first?.reason == "no header line")
        #expect(RegistryCSV.parse(header + "\n\"unterminated").errors.first?.reason == "unterminated quoted field")
    }
}
