import Foundation

#if canImport(FoundationXML)
    import FoundationXML
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// A parsed XML element: name, text and children, built with Foundation's `XMLParser` (libxml2).
/// External entities are never resolved; DOCTYPEs are refused (the terminal's files have none),
/// so entity expansion cannot blow up memory.
public struct XMLElementNode: Sendable, Equatable {
    /// Element name (no namespace handling: the terminal's files use none).
    public var name: String
    /// The element's own character data (concatenated, untrimmed).
    public var text: String
    /// Child elements in document order.
    public var children: [XMLElementNode]

    /// Creates a node.
    public init(name: String, text: String = "", children: [XMLElementNode] = []) {
        self.name = name
        self.text = text
        self.children = children
    }

    /// The first child named `name`.
    public func child(_ name: String) -> XMLElementNode? { children.first { $0.name == name } }

    /// Every child named `name`.
    public func all(_ name: String) -> [XMLElementNode] { children.filter { $0.name == name } }

    /// The element at a path of child names (`["MessageHeader", "ArbitraryFileIdentifier"]`).
    public func at(_ path: [String]) -> XMLElementNode? {
        var node = self
        for p in path {
            guard let next = node.child(p) else { return nil }
            node = next
        }
        return node
    }

    /// The trimmed text of the child `name`, nil when absent or empty.
    public func value(_ name: String) -> String? {
        guard let t = child(name)?.text.trimmingCharacters(in: .whitespacesAndNewlines), !t.isEmpty else { return nil }
        return t
    }

    /// The first descendant (depth first, this node excluded) named `name`.
    public func descendant(_ name: String) -> XMLElementNode? {
        for c in children {
            if c.name == name { return c }
            if let d = c.descendant(name) { return d }
        }
        return nil
    }
}

/// Why an XML document was refused.
public enum XMLTreeError: Error, Sendable, Equatable {
    /// Not well-formed (libxml2's message, no document content).
    case malformed(String)
    /// A DOCTYPE/entity declaration (refused).
    case doctype
    /// Deeper than the limit.
    case tooDeep
    /// More elements than the limit.
    case tooLarge
}

/// Parses and writes the small XML documents of the terminal's file interface.
public enum XMLTree {
    /// Largest nesting accepted.
    public static let maxDepth = 32
    /// Largest element count accepted.
    public static let maxElements = 20_000

    /// Parses `data` into its root. The encoding is the one its XML declaration names: UTF-8, or
    /// Shift_JIS — read as Windows code page 932 (Shift_JIS with the NEC/IBM extensions such as
    /// 髙 and 﨑, which the terminal's Windows side writes), converted to UTF-8 before parsing.
    public static func parse(_ data: Data) throws(XMLTreeError) -> XMLElementNode {
        // No DTDs at all: entity declarations could expand without bound.
        if data.range(of: Data("<!DOCTYPE".utf8)) != nil || data.range(of: Data("<!doctype".utf8)) != nil {
            throw .doctype
        }
        var input = data
        let enc = declaredEncoding(data)?.lowercased() ?? "utf-8"
        if ["shift_jis", "shift-jis", "sjis", "windows-31j", "cp932", "ms932", "x-sjis"].contains(enc) {
            guard let utf8 = transcode(data, from: "CP932", to: "UTF-8") else {
                throw .malformed("not valid Shift_JIS (CP932)")
            }
            input = redeclare(utf8, as: "UTF-8")
        } else if enc != "utf-8" && enc != "utf8" {
            throw .malformed("unsupported encoding")
        }
        // Guards against crashes of Foundation's XMLParser on Linux (found by
        // fuzz/targets/oqs-answer.swift): it traps on element names libxml2 passes through as
        // invalid UTF-8, and dereferences NULL on a processing instruction without data. So:
        // valid UTF-8 only, an XML declaration only in its strict form, no other `<?`.
        guard isValidUTF8(input) else { throw .malformed("not valid UTF-8") }
        try checkProcessingInstructions(input)
        let builder = Builder()
        let parser = XMLParser(data: input)
        parser.shouldResolveExternalEntities = false
        parser.shouldProcessNamespaces = false
        parser.delegate = builder
        let ok = parser.parse()
        if let e = builder.failure { throw e }
        guard ok, let root = builder.root else {
            throw .malformed(parser.parserError.map { "\(($0 as NSError).code)" } ?? "no root element")
        }
        return root
    }

    final class Builder: NSObject, XMLParserDelegate {
        var stack: [XMLElementNode] = []
        var root: XMLElementNode?
        var count = 0
        var failure: XMLTreeError?

        func fail(_ parser: XMLParser, _ e: XMLTreeError) {
            if failure == nil { failure = e }
            parser.abortParsing()
        }

        func parser(
            _ parser: XMLParser, didStartElement elementName: String, namespaceURI: String?,
            qualifiedName qName: String?, attributes attributeDict: [String: String] = [:]
        ) {
            count += 1
            if count > XMLTree.maxElements { return fail(parser, .tooLarge) }
            if stack.count >= XMLTree.maxDepth { return fail(parser, .tooDeep) }
            stack.append(XMLElementNode(name: elementName))
        }

        func parser(
            _ parser: XMLParser, didEndElement elementName: String, namespaceURI: String?, qualifiedName qName: String?
        ) {
            guard let done = stack.popLast() else { return }
            if stack.isEmpty {
                root = done
            } else {
                stack[stack.count - 1].children.append(done)
            }
        }

        func parser(_ parser: XMLParser, foundCharacters string: String) {
            guard !stack.isEmpty else { return }
            stack[stack.count - 1].text += string
        }

        func parser(_ parser: XMLParser, foundCDATA CDATABlock: Data) {
            guard !stack.isEmpty else { return }
            stack[stack.count - 1].text += String(decoding: CDATABlock, as: UTF8.self)
        }

        func parser(
            _ parser: XMLParser, foundInternalEntityDeclarationWithName name: String, value: String?
        ) { fail(parser, .doctype) }

        func parser(
            _ parser: XMLParser, foundExternalEntityDeclarationWithName name: String, publicID: String?,
            systemID: String?
        ) { fail(parser, .doctype) }

        func parser(
            _ parser: XMLParser, foundElementDeclarationWithName elementName: String, model: String
        ) { fail(parser, .doctype) }

        func parser(
            _ parser: XMLParser, resolveExternalEntityName name: String, systemID: String?
        ) -> Data? {
            fail(parser, .doctype)
            return nil
        }
    }

    /// Allows one leading XML declaration `<?xml version="1.0" [encoding=…] [standalone=…]?>`
    /// (after an optional BOM and whitespace) and no other processing instruction.
    static func checkProcessingInstructions(_ data: Data) throws(XMLTreeError) {
        var bytes = [UInt8](data)
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes.removeFirst(3) }
        var start = 0
        if bytes.starts(with: Array("<?xml".utf8)) {
            guard let end = firstIndex(of: Array("?>".utf8), in: bytes, from: 0) else {
                throw .malformed("unterminated XML declaration")
            }
            let decl = String(decoding: bytes[5..<end], as: UTF8.self)
            guard isStrictDeclaration(decl) else { throw .malformed("bad XML declaration") }
            start = end + 2
        }
        if firstIndex(of: Array("<?".utf8), in: bytes, from: start) != nil {
            throw .malformed("processing instructions are not accepted")
        }
    }

    /// ` version="1.0" encoding="X" standalone="no"` (attributes in that order, the last two optional).
    static func isStrictDeclaration(_ d: String) -> Bool {
        var rest = Substring(d)
        func attribute(_ name: String) -> String? {
            let trimmed = rest.drop { $0 == " " || $0 == "\t" || $0 == "\r" || $0 == "\n" }
            guard trimmed.count < rest.count, trimmed.hasPrefix(name + "=") else { return nil }
            let afterEq = trimmed.dropFirst(name.count + 1)
            guard let q = afterEq.first, q == "\"" || q == "'" else { return nil }
            let value = afterEq.dropFirst().prefix { $0 != q }
            guard afterEq.dropFirst().count > value.count,
                value.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) })
            else { return nil }
            rest = afterEq.dropFirst(value.count + 2)
            return String(value)
        }
        guard let v = attribute("version"), v == "1.0" else { return false }
        _ = attribute("encoding")
        if let s = attribute("standalone"), s != "yes" && s != "no" { return false }
        return rest.allSatisfy { $0 == " " || $0 == "\t" || $0 == "\r" || $0 == "\n" }
    }

    static func firstIndex(of needle: [UInt8], in hay: [UInt8], from: Int) -> Int? {
        guard needle.count <= hay.count else { return nil }
        var i = from
        while i + needle.count <= hay.count {
            if hay[i] == needle[0] && Array(hay[i..<i + needle.count]) == needle { return i }
            i += 1
        }
        return nil
    }

    /// True when `data` is well-formed UTF-8.
    static func isValidUTF8(_ data: Data) -> Bool {
        var it = data.makeIterator()
        var decoder = UTF8()
        while true {
            switch decoder.decode(&it) {
            case .scalarValue: continue
            case .emptyInput: return true
            case .error: return false
            }
        }
    }

    /// The `encoding` of the XML declaration, if any (read from the first 200 bytes, ASCII).
    public static func declaredEncoding(_ data: Data) -> String? {
        let head = String(decoding: data.prefix(200).prefix { $0 < 0x80 }, as: UTF8.self)
        guard head.hasPrefix("<?xml"), let end = head.range(of: "?>") else { return nil }
        let decl = head[head.startIndex..<end.lowerBound]
        guard let r = decl.range(of: "encoding") else { return nil }
        let rest = decl[r.upperBound...].drop { $0 == " " || $0 == "=" }
        guard let q = rest.first, q == "\"" || q == "'" else { return nil }
        return String(rest.dropFirst().prefix { $0 != q })
    }

    /// Replaces the declared encoding (the document must already be in that encoding).
    public static func redeclare(_ data: Data, as encoding: String) -> Data {
        guard let old = declaredEncoding(data) else { return data }
        var text = String(decoding: data, as: UTF8.self)
        if let end = text.range(of: "?>"), let r = text.range(of: old, range: text.startIndex..<end.lowerBound) {
            text.replaceSubrange(r, with: encoding)
        }
        return Data(text.utf8)
    }

    /// Converts between encodings with iconv (glibc names: `CP932`, `UTF-8`); nil when the input
    /// is not valid in `from` or has no form in `to`.
    public static func transcode(_ data: Data, from: String, to: String) -> Data? {
        let cd = iconv_open(to, from)
        guard Int(bitPattern: cd) != -1 else { return nil }
        defer { iconv_close(cd) }
        var input = [CChar](repeating: 0, count: data.count)
        data.withUnsafeBytes { raw in
            for (i, b) in raw.enumerated() { input[i] = CChar(bitPattern: b) }
        }
        var output = [CChar](repeating: 0, count: data.count * 4 + 16)
        let outCapacity = output.count
        let produced: Int? = input.withUnsafeMutableBufferPointer { inBuf in
            output.withUnsafeMutableBufferPointer { outBuf in
                var inPtr: UnsafeMutablePointer<CChar>? = inBuf.baseAddress
                var outPtr: UnsafeMutablePointer<CChar>? = outBuf.baseAddress
                var inLeft = inBuf.count
                var outLeft = outCapacity
                let r = iconv(cd, &inPtr, &inLeft, &outPtr, &outLeft)
                guard r != -1, inLeft == 0 else { return nil }
                return outCapacity - outLeft
            }
        }
        guard let n = produced else { return nil }
        return Data(output[0..<n].map { UInt8(bitPattern: $0) })
    }

    /// Escapes text for element content.
    public static func escape(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.count)
        for ch in s.unicodeScalars {
            switch ch {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            default:
                // Control characters other than TAB/LF/CR are not allowed in XML 1.0: dropped.
                if ch.value < 0x20 && ch != "\t" && ch != "\n" && ch != "\r" { continue }
                out.unicodeScalars.append(ch)
            }
        }
        return out
    }

    /// Serialises a node as UTF-8 XML with a declaration (indented, one element per line).
    public static func document(_ root: XMLElementNode) -> Data {
        var s = "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>\n"
        func write(_ n: XMLElementNode, _ indent: String) {
            if n.children.isEmpty {
                s += "\(indent)<\(n.name)>\(escape(n.text))</\(n.name)>\n"
            } else {
                s += "\(indent)<\(n.name)>\n"
                for c in n.children { write(c, indent + "  ") }
                s += "\(indent)</\(n.name)>\n"
            }
        }
        write(root, "")
        return Data(s.utf8)
    }
}
