import Foundation
import Testing

@testable import JPKIVerify

@Suite("CertificateInfo parsing")
struct CertificateInfoTests {
    @Test("auth certificate of 00-ordinary: names, serial, dates, extensions")
    func authCertificate() throws {
        let der = try Fixtures.cardData("00-ordinary", "jpki/000A.der")
        let info = try CertificateInfo(der: der)
        #expect(info.serialNumberHex == "1001")
        #expect(info.subject.rfc2253 == "CN=BE4825E9AGCIEG13220000A,C=JP")
        #expect(info.subject.attributes.map(\.shortName) == ["C", "CN"])
        #expect(info.subject.values("CN") == ["BE4825E9AGCIEG13220000A"])
        #expect(
            info.issuer.values("OU") == [
                "JPKI for user authentication",
                "jpki-linux test data (not J-LIS)",
            ])
        #expect(info.issuer.values("O") == ["jpki-linux fixture"])
        #expect(info.notBefore == Date(timeIntervalSince1970: 1_741_568_400))  // 2025-03-10T01:00:00Z (issue)
        #expect(info.notAfter == Date(timeIntervalSince1970: 1_897_570_799))  // 2030-02-17T14:59:59Z (5th birthday)
        #expect(info.keyUsage == [.digitalSignature])
        #expect(info.policyOIDs == [JPKIPolicyOID.auth])
        #expect(info.crlDistributionPoints == ["http://127.0.0.1:18889/auth-root-2023.crl"])
        #expect(info.ocspURLs == ["http://127.0.0.1:18888/"])
        #expect(info.basicConstraints?.isCA != true)
        #expect(info.signIdentity == nil)
        #expect(!info.isSelfIssued)
        #expect(info.der == der)
    }

    @Test("fingerprint and RSA key agree with the openssl CLI")
    func fingerprintAndKey() throws {
        let path = Fixtures.card("00-ordinary", "jpki/000A.der").path
        let info = try CertificateInfo(der: try Fixtures.data(URL(fileURLWithPath: path)))
        let fp = String(
            decoding: try openssl([
                "x509", "-inform", "der", "-in", path, "-noout", "-fingerprint", "-sha256",
            ]), as: UTF8.self)
        let expectedFP = fp.split(separator: "=").last!.trimmingCharacters(
            in: .whitespacesAndNewlines
        )
        .replacingOccurrences(of: ":", with: "").lowercased()
        #expect(info.sha256Fingerprint.hexString == expectedFP)
        let mod = String(
            decoding: try openssl(["x509", "-inform", "der", "-in", path, "-noout", "-modulus"]),
            as: UTF8.self)
        let expectedMod = mod.split(separator: "=").last!.trimmingCharacters(
            in: .whitespacesAndNewlines
        ).lowercased()
        #expect(info.publicKey?.modulus.hexString == expectedMod)
        #expect(info.publicKey?.exponent == Data([0x01, 0x00, 0x01]))
        #expect(info.publicKey?.bits == 2048)
    }

    @Test("root certificate: CA basicConstraints, keyCertSign, self-issued")
    func root() throws {
        let info = try CertificateInfo(der: try Fixtures.data(Fixtures.pki("auth-root-2023.der")))
        #expect(
            info.basicConstraints == BasicConstraints(isCA: true, pathLength: nil, critical: true))
        #expect(info.keyUsage == [.keyCertSign, .cRLSign])
        #expect(info.isSelfIssued)
        let pem = try String(contentsOf: Fixtures.pki("auth-root-2023.pem"), encoding: .utf8)
        #expect(try CertificateInfo(pem: pem) == info)
    }

    @Test(
        "sign certificate identity (kanji variants, U+3000) is decoded exactly",
        arguments: Fixtures.cards)
    func signIdentity(card: String) throws {
        let info = try CertificateInfo(der: try Fixtures.cardData(card, "jpki/0001.der"))
        let profile =
            try JSONSerialization.jsonObject(with: Fixtures.cardData(card, "profile.json"))
            as! [String: Any]
        let identity = profile["identity"] as! [String: Any]
        let id = try #require(info.signIdentity)
        #expect(id.name == identity["name"] as? String)
        #expect(id.address == identity["address"] as? String)
        #expect(id.sex == identity["sex"] as? String)
        #expect(id.birthDateGregorian == identity["birthDate"] as? String)
        #expect(id.birthDate?.count == 9)
        #expect(id.nameFlags?.count == id.name?.count)
        #expect(id.addressFlags?.count == id.address?.count)
        #expect(info.keyUsage == [.digitalSignature, .nonRepudiation])
        #expect(info.policyOIDs == [JPKIPolicyOID.sign])
        #expect(!id.description.contains(id.name ?? "x"))
    }

    @Test("kanji-variant card: name flags and Heisei era digit")
    func kanjiVariant() throws {
        let info = try CertificateInfo(
            der: try Fixtures.cardData("01-kanji-variant", "jpki/0001.der"))
        let id = try #require(info.signIdentity)
        #expect(id.name == "髙橋\u{3000}﨑邊")
        #expect(id.nameFlags == "10011")
        #expect(id.birthDate == "419921103")
        #expect(id.birthEra == 4)
        #expect(info.subject.values("L") == ["Osaka-fu", "Osaka-shi Kita-ku"])
    }

    @Test("malformed DER is rejected with a typed error")
    func malformed() throws {
        let der = try Fixtures.cardData("00-ordinary", "jpki/000A.der")
        let cases: [Data] = [
            Data(), Data([0x30]), Data([0x30, 0x82, 0xFF, 0xFF, 0x00]), der.prefix(der.count - 1),
            der + Data([0x00]), Data(repeating: 0xFF, count: 64), Data("not a cert".utf8),
        ]
        for c in cases {
            #expect(throws: JPKIVerifyError.self) { try CertificateInfo(der: c) }
            do {
                _ = try CertificateInfo(der: c)
            } catch {
                #expect(error.code == "malformed_certificate")
            }
        }
        #expect(throws: JPKIVerifyError.self) {
            try CertificateInfo(
                pem: "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
        }
    }
}
