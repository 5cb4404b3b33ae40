/// A small, strict JSON parser for safetensors headers and shard indexes.
///
/// Why not `JSONSerialization`: it silently keeps one of two duplicate keys, gives no byte offsets,
/// and reads numbers as doubles (so `4.0` and `4` look alike). This parser follows RFC 8259 exactly,
/// refuses duplicate keys in every object, keeps number lexemes as written, records the file offset
/// of every value and caps nesting so hostile input cannot exhaust the stack.
///
/// The input must already be valid UTF-8 (`UTF8Check.firstInvalidOffset` runs first), so string
/// contents are copied without re-validation; escapes are decoded here.
struct JSONNode {
    /// File offset of the value's first byte.
    let offset: Int
    let value: JSONValue

    /// A short name of the value's kind, for error messages ("an array", "a string").
    var kindName: String {
        switch value {
        case .object: return "an object"
        case .array: return "an array"
        case .string: return "a string"
        case .number: return "a number"
        case .bool: return "a boolean"
        case .null: return "null"
        }
    }
}

enum JSONValue {
    /// Members in file order (duplicates are refused while parsing).
    case object([JSONMember])
    case array([JSONNode])
    case string(String)
    /// The number exactly as written, e.g. `-1.5e3`.
    case number(String)
    case bool(Bool)
    case null
}

struct JSONMember {
    let key: String
    let keyOffset: Int
    let node: JSONNode
}

extension JSONNode {
    /// The value as a non-negative integer, when it is written as one (`12`, not `12.0`, `1e1` or `-0`).
    /// Returns `.tooLarge` when the digits do not fit in `Int`.
    var nonNegativeInteger: NonNegativeInteger {
        guard case let .number(lexeme) = value, !lexeme.isEmpty else { return .notAnInteger }
        var n = 0
        var overflow = false
        for byte in lexeme.utf8 {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return .notAnInteger }
            let (times10, o1) = n.multipliedReportingOverflow(by: 10)
            let (sum, o2) = times10.addingReportingOverflow(Int(byte - UInt8(ascii: "0")))
            overflow = overflow || o1 || o2
            n = sum
        }
        return overflow ? .tooLarge : .value(n)
    }

    enum NonNegativeInteger: Equatable {
        case value(Int)
        case notAnInteger
        case tooLarge
    }
}

/// The parser. `bytes` is the JSON text; `baseOffset` is its file offset, so errors name file offsets.
///
/// It scans with its own index rather than one `ByteReader` call per byte: a JSON scanner touches
/// every byte, and the throwing per-byte path cost ~0.8 ms per 2 KB header in debug builds. Every
/// access still goes through `peekByte()`, which checks the index against `bytes.count` first.
struct StrictJSONParser {
    /// serde_json's default recursion limit; safetensors headers nest three deep.
    static let maxNestingDepth = 128
    /// Values per document. A header under the 100 MB cap could otherwise hold ~50M values and build a
    /// tree of gigabytes; real headers hold about 10 values per tensor (a 100,000-tensor model: 1M).
    static let maxValues = 10_000_000

    private let path: String
    private let bytes: UnsafeRawBufferPointer
    private let baseOffset: Int
    private let valueLimit: Int
    private var position = 0
    private var depth = 0
    private var values = 0

    init(path: String, bytes: UnsafeRawBufferPointer, baseOffset: Int, maxValues: Int = Self.maxValues) {
        self.path = path
        self.bytes = bytes
        self.baseOffset = baseOffset
        valueLimit = maxValues
    }

    /// Parses one value, optionally surrounded by JSON whitespace, and nothing else.
    static func parse(path: String, bytes: UnsafeRawBufferPointer, baseOffset: Int,
                      maxValues: Int = Self.maxValues) throws -> JSONNode {
        var parser = StrictJSONParser(path: path, bytes: bytes, baseOffset: baseOffset, maxValues: maxValues)
        parser.skipWhitespace()
        let node = try parser.parseValue()
        parser.skipWhitespace()
        if let byte = parser.peekByte() {
            throw parser.error("trailing \(describe(byte)) after the JSON value")
        }
        return node
    }

    // MARK: - Bytes

    /// File offset of the next byte.
    private var fileOffset: Int { baseOffset + position }

    @inline(__always)
    private func peekByte() -> UInt8? {
        position < bytes.count ? bytes[position] : nil
    }

    /// Moves past a byte `peekByte()` returned.
    @inline(__always)
    private mutating func advance() { position += 1 }

    private mutating func nextByte(_ expecting: String) throws -> UInt8 {
        guard let byte = peekByte() else { throw error("unexpected end of JSON, expected \(expecting)") }
        advance()
        return byte
    }

    private mutating func expect(_ literal: StaticString, what: String) throws {
        let start = fileOffset
        for expected in UnsafeRawBufferPointer(start: literal.utf8Start, count: literal.utf8CodeUnitCount) {
            guard peekByte() == expected else {
                throw SafetensorsError.invalidJSON(path: path, offset: start, problem: "invalid literal, expected \(what)")
            }
            advance()
        }
    }

    private mutating func skipWhitespace() {
        var i = position
        while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x09 || bytes[i] == 0x0A || bytes[i] == 0x0D { i += 1 }
        position = i
    }

    private func error(_ problem: String) -> SafetensorsError {
        .invalidJSON(path: path, offset: fileOffset, problem: problem)
    }

    private static func describe(_ byte: UInt8) -> String {
        if byte >= 0x21 && byte < 0x7F { return "'\(Character(Unicode.Scalar(byte)))'" }
        return "byte 0x" + String(byte, radix: 16, uppercase: true)
    }

    // MARK: - Values

    private mutating func parseValue() throws -> JSONNode {
        let offset = fileOffset
        guard let byte = peekByte() else { throw error("unexpected end of JSON, expected a value") }
        values += 1
        guard values <= valueLimit else { throw error("more than \(valueLimit) values") }
        switch byte {
        case UInt8(ascii: "{"): return JSONNode(offset: offset, value: try parseObject())
        case UInt8(ascii: "["): return JSONNode(offset: offset, value: try parseArray())
        case UInt8(ascii: "\""): return JSONNode(offset: offset, value: .string(try parseString()))
        case UInt8(ascii: "t"):
            try expect("true", what: "true")
            return JSONNode(offset: offset, value: .bool(true))
        case UInt8(ascii: "f"):
            try expect("false", what: "false")
            return JSONNode(offset: offset, value: .bool(false))
        case UInt8(ascii: "n"):
            try expect("null", what: "null")
            return JSONNode(offset: offset, value: .null)
        case UInt8(ascii: "-"), UInt8(ascii: "0") ... UInt8(ascii: "9"):
            return JSONNode(offset: offset, value: .number(try parseNumber()))
        default:
            throw error("unexpected \(Self.describe(byte)), expected a value")
        }
    }

    private mutating func enterContainer() throws {
        guard depth < Self.maxNestingDepth else {
            throw error("nesting deeper than \(Self.maxNestingDepth) levels")
        }
        depth += 1
    }

    private mutating func parseObject() throws -> JSONValue {
        try enterContainer()
        defer { depth -= 1 }
        advance()  // '{'
        var members: [JSONMember] = []
        var seen: Set<String> = []
        skipWhitespace()
        if peekByte() == UInt8(ascii: "}") {
            advance()
            return .object(members)
        }
        while true {
            skipWhitespace()
            let keyOffset = fileOffset
            guard peekByte() == UInt8(ascii: "\"") else { throw error("expected a string key") }
            let key = try parseString()
            guard seen.insert(key).inserted else {
                throw SafetensorsError.duplicateKey(path: path, offset: keyOffset, key: key)
            }
            skipWhitespace()
            guard try nextByte("':'") == UInt8(ascii: ":") else {
                throw SafetensorsError.invalidJSON(path: path, offset: fileOffset - 1, problem: "expected ':' after a key")
            }
            skipWhitespace()
            members.append(JSONMember(key: key, keyOffset: keyOffset, node: try parseValue()))
            skipWhitespace()
            let separator = try nextByte("',' or '}'")
            if separator == UInt8(ascii: "}") { return .object(members) }
            guard separator == UInt8(ascii: ",") else {
                throw SafetensorsError.invalidJSON(path: path, offset: fileOffset - 1,
                                                   problem: "unexpected \(Self.describe(separator)), expected ',' or '}'")
            }
        }
    }

    private mutating func parseArray() throws -> JSONValue {
        try enterContainer()
        defer { depth -= 1 }
        advance()  // '['
        var elements: [JSONNode] = []
        skipWhitespace()
        if peekByte() == UInt8(ascii: "]") {
            advance()
            return .array(elements)
        }
        while true {
            skipWhitespace()
            elements.append(try parseValue())
            skipWhitespace()
            let separator = try nextByte("',' or ']'")
            if separator == UInt8(ascii: "]") { return .array(elements) }
            guard separator == UInt8(ascii: ",") else {
                throw SafetensorsError.invalidJSON(path: path, offset: fileOffset - 1,
                                                   problem: "unexpected \(Self.describe(separator)), expected ',' or ']'")
            }
        }
    }

    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`, returned as written.
    private mutating func parseNumber() throws -> String {
        let start = position
        let end = bytes.count
        var i = position
        func malformed() -> SafetensorsError { .invalidJSON(path: path, offset: baseOffset + start, problem: "malformed number") }
        func isDigit(_ i: Int) -> Bool { i < end && bytes[i] >= 0x30 && bytes[i] <= 0x39 }
        func byte(_ i: Int) -> UInt8 { i < end ? bytes[i] : 0 }

        if byte(i) == UInt8(ascii: "-") { i += 1 }
        guard isDigit(i) else { throw malformed() }
        if byte(i) == UInt8(ascii: "0") {
            i += 1
            if isDigit(i) { throw malformed() }  // leading zero
        } else {
            while isDigit(i) { i += 1 }
        }
        if byte(i) == UInt8(ascii: ".") {
            i += 1
            guard isDigit(i) else { throw malformed() }
            while isDigit(i) { i += 1 }
        }
        if byte(i) == UInt8(ascii: "e") || byte(i) == UInt8(ascii: "E") {
            i += 1
            if byte(i) == UInt8(ascii: "+") || byte(i) == UInt8(ascii: "-") { i += 1 }
            guard isDigit(i) else { throw malformed() }
            while isDigit(i) { i += 1 }
        }
        position = i
        return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start ..< i]), as: UTF8.self)
    }

    /// A string starting at the opening quote; decodes escapes, refuses raw control characters and
    /// unpaired surrogate escapes (as serde_json does).
    private mutating func parseString() throws -> String {
        advance()  // '"'
        var utf8: [UInt8] = []
        while true {
            // Copy a run of plain bytes in one go.
            let runStart = position
            var i = position
            while i < bytes.count, bytes[i] != 0x22, bytes[i] != 0x5C, bytes[i] >= 0x20 { i += 1 }  // '"', '\\', controls
            position = i
            utf8.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[runStart ..< position]))
            let byte = try nextByte("the end of a string")
            switch byte {
            case UInt8(ascii: "\""):
                return String(decoding: utf8, as: UTF8.self)
            case UInt8(ascii: "\\"):
                try parseEscape(into: &utf8)
            default:
                throw SafetensorsError.invalidJSON(path: path, offset: fileOffset - 1,
                                                   problem: "control character \(Self.describe(byte)) inside a string")
            }
        }
    }

    private mutating func parseEscape(into utf8: inout [UInt8]) throws {
        let escapeOffset = fileOffset - 1
        let byte = try nextByte("an escape character")
        switch byte {
        case UInt8(ascii: "\""): utf8.append(0x22)
        case UInt8(ascii: "\\"): utf8.append(0x5C)
        case UInt8(ascii: "/"): utf8.append(0x2F)
        case UInt8(ascii: "b"): utf8.append(0x08)
        case UInt8(ascii: "f"): utf8.append(0x0C)
        case UInt8(ascii: "n"): utf8.append(0x0A)
        case UInt8(ascii: "r"): utf8.append(0x0D)
        case UInt8(ascii: "t"): utf8.append(0x09)
        case UInt8(ascii: "u"):
            var scalar = try parseHex4()
            if (0xD800 ..< 0xDC00).contains(scalar) {
                guard try nextByte("a low surrogate") == UInt8(ascii: "\\"), try nextByte("a low surrogate") == UInt8(ascii: "u") else {
                    throw SafetensorsError.invalidJSON(path: path, offset: escapeOffset, problem: "unpaired surrogate escape")
                }
                let low = try parseHex4()
                guard (0xDC00 ..< 0xE000).contains(low) else {
                    throw SafetensorsError.invalidJSON(path: path, offset: escapeOffset, problem: "unpaired surrogate escape")
                }
                scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
            } else if (0xDC00 ..< 0xE000).contains(scalar) {
                throw SafetensorsError.invalidJSON(path: path, offset: escapeOffset, problem: "unpaired surrogate escape")
            }
            guard let unicode = Unicode.Scalar(scalar) else {
                throw SafetensorsError.invalidJSON(path: path, offset: escapeOffset, problem: "invalid unicode escape")
            }
            utf8.append(contentsOf: UTF8.encode(unicode).map { Array($0) } ?? [])
        default:
            throw SafetensorsError.invalidJSON(path: path, offset: escapeOffset, problem: "invalid escape \\\(Self.describe(byte))")
        }
    }

    private mutating func parseHex4() throws -> UInt32 {
        var value: UInt32 = 0
        for _ in 0 ..< 4 {
            let byte = try nextByte("four hex digits")
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0") ... UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a") ... UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A") ... UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default:
                throw SafetensorsError.invalidJSON(path: path, offset: fileOffset - 1, problem: "invalid hex digit in \\u escape")
            }
            value = value << 4 | UInt32(digit)
        }
        return value
    }
}

/// UTF-8 validation that reports where the first bad byte is (the standard library only says yes or no).
enum UTF8Check {
    /// Index of the first byte that starts an invalid sequence (overlong forms, surrogates and values
    /// past U+10FFFF included), or nil when all of `bytes` is valid UTF-8.
    static func firstInvalidOffset(_ bytes: UnsafeRawBufferPointer) -> Int? {
        var i = 0
        let n = bytes.count
        while i < n {
            // ASCII fast path, eight bytes at a time (headers are almost all ASCII).
            while n - i >= 8, bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self) & 0x8080_8080_8080_8080 == 0 { i += 8 }
            guard i < n else { break }
            let b0 = bytes[i]
            if b0 < 0x80 { i += 1; continue }
            let length: Int
            var low: UInt8 = 0x80, high: UInt8 = 0xBF  // allowed range of the second byte
            switch b0 {
            case 0xC2 ... 0xDF: length = 2
            case 0xE0: length = 3; low = 0xA0
            case 0xE1 ... 0xEC, 0xEE ... 0xEF: length = 3
            case 0xED: length = 3; high = 0x9F
            case 0xF0: length = 4; low = 0x90
            case 0xF1 ... 0xF3: length = 4
            case 0xF4: length = 4; high = 0x8F
            default: return i
            }
            guard length <= n - i else { return i }
            guard bytes[i + 1] >= low, bytes[i + 1] <= high else { return i }
            for k in 2 ..< length where bytes[i + k] & 0xC0 != 0x80 { return i }
            i += length
        }
        return nil
    }
}
