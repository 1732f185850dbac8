import Eligibility
import Foundation
import JPKIVerify
import TestBench
import Testing

/// The package root (tests run from it with `swift test`; found from this file otherwise).
let packageRoot: URL = {
    var dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    for _ in 0..<4 {
        if FileManager.default.fileExists(atPath: dir.appendingPathComponent("Package.swift").path) { return dir }
        dir = dir.deletingLastPathComponent()
    }
    return URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
}()

/// One directory per test process for everything the tests write; removed at exit.
let testRoot: URL = {
    let root = FileManager.default.temporaryDirectory.appendingPathComponent("jpki-elig-tests-\(getpid())")
    try? FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
    atexit {
        try? FileManager.default.removeItem(
            at: FileManager.default.temporaryDirectory.appendingPathComponent("jpki-elig-tests-\(getpid())"))
    }
    return root
}()

func temporaryDirectory(_ tag: String) throws -> URL {
    let dir = testRoot.appendingPathComponent("\(tag)-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    return dir
}

/// The issuer DN of every fixture card's auth certificate (test PKI).
let fixtureAuthIssuer =
    "OU=jpki-linux test data (not J-LIS),OU=JPKI for user authentication,O=jpki-linux fixture,C=JP"

/// The issuer key id of the fixture cards' auth certificates (card 00's AKI).
let fixtureAuthKeyID: String = {
    let der = try! Data(
        contentsOf: packageRoot.appendingPathComponent("apdu-fixtures/cards/00-ordinary/jpki/000A.der"))
    return try! CardKey(authCertificate: try! CertificateInfo(der: der)).issuerKeyID
}()

/// An anchors map with one key for the fixture DN (as a registry with one root generation has),
/// for old-format (DN only) CSVs.
var fixtureAnchors: [String: [String]] { [fixtureAuthIssuer: [fixtureAuthKeyID]] }

/// A config `trust` section with the fixture auth roots (three generations, one DN).
var fixtureTrust: [String: Any] {
    [
        "authAnchors": ["2015", "2019", "2023"].map {
            packageRoot.appendingPathComponent("apdu-fixtures/pki/auth-root-\($0).pem").path
        }
    ]
}

func date(_ s: String) -> CalendarDate { try! CalendarDate(s) }

func sampleRecord(
    number: String = "1001", name: String = "山田　太郎", birth: String = "1980-02-17", validTo: String? = nil,
    status: InsuranceRecord.Status = .active
) -> InsuranceRecord {
    InsuranceRecord(
        insurerNumber: "06139991", symbol: "試験記号", number: number, branch: "00", name: name,
        nameKana: "ヤマダ　タロウ", birthDate: date(birth), copaymentRatio: 30, validFrom: date("2024-04-01"),
        validTo: validTo.map(date), status: status)
}
