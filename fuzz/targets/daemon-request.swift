// jpkid's request decoding: request target → path + query, path segments, and the JSON body
// of authenticate/identity. Input: [target line] "\n" [body].
@testable import JPKIDaemon

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzDaemonRequest(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = fuzzBytes(data, size)
    let nl = bytes.firstIndex(of: 0x0A) ?? bytes.count
    let target = String(decoding: bytes[..<nl], as: UTF8.self)
    let body = nl < bytes.count ? Array(bytes[(nl + 1)...]) : []
    let (path, _) = RequestDecoding.splitTarget(target)
    fuzzCheck(target.unicodeScalars.starts(with: path.unicodeScalars), "path is a prefix of the target")
    let segments = RequestDecoding.pathSegments(path)
    fuzzCheck(segments.allSatisfy { !$0.isEmpty && !$0.contains("/") }, "segments")
    do {
        let (req, pin) = try RequestDecoding.pinRequest(body)
        fuzzCheck(req.pin == nil, "the PIN string is dropped from the decoded request")
        pin?.wipe()
    } catch {
        fuzzCheck(error.status == 400 && error.code == "bad_request", "typed bad_request")
    }
    return 0
}
