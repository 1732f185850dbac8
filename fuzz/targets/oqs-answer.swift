// The qualification-check terminal's XML (provider oqs): answers, face results and requests, in
// UTF-8 or Shift_JIS (CP932). Input: [selector] [document]. Every refusal is a typed OQSError.
import Eligibility
import Foundation

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOQSAnswer(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    var input = FuzzInput(fuzzBytes(data, size))
    let selector = input.byte()
    let doc = Data(input.rest())
    switch selector % 3 {
    case 0:
        do {
            let a = try OQSAnswer(document: doc)
            if let v = a.qualificationValidity {
                fuzzCheck(OQSCodes.qualificationValidity[v] != nil, "validity is an OQSCD006 code")
            }
            if let s = a.segmentOfResult { fuzzCheck(OQSCodes.segmentOfResult[s] != nil, "OQSCD003 code") }
            for r in a.results { if let c = r.copaymentRatio { fuzzCheck((0...100).contains(c), "ratio") } }
        } catch {
            fuzzCheck(error.code == "oqs_malformed_answer", "typed malformed answer")
        }
    case 1:
        do {
            let q = try OQSQuery(document: doc)
            // What we write, we read back.
            fuzzCheck((try? OQSQuery(document: q.document))?.birthDate == q.birthDate, "request round trip")
        } catch {
            fuzzCheck(error.code == "oqs_malformed_answer", "typed malformed request")
        }
    default:
        if let root = try? XMLTree.parse(doc) {
            let again = try? XMLTree.parse(XMLTree.document(root))
            fuzzCheck(again?.name == root.name, "serialised tree parses with the same root")
        }
    }
    return 0
}
