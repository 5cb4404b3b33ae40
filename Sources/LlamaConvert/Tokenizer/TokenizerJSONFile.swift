/// Tokenizer JSON files (tokenizer.json, tokenizer_config.json, generation_config.json,
/// config.json, added_tokens.json, params.json) read with the project's strict JSON parser
/// (`Formats/Safetensors/StrictJSON.swift`): UTF-8 checked first, duplicate keys refused, errors
/// with file offsets, integers kept apart from booleans and from `1.0`.
enum TokenizerJSONFile {
    /// Reads `path`; the top level must be an object.
    static func load(path: String) throws -> JSONNode {
        let file = try MappedFile(path: path)
        return try parse(path: path, bytes: file.bytes)
    }

    static func parse(path: String, bytes: UnsafeRawBufferPointer) throws -> JSONNode {
        if let bad = UTF8Check.firstInvalidOffset(bytes) {
            throw ReadError.invalidUTF8(path: path, offset: bad, what: "JSON text")
        }
        let node = try StrictJSONParser.parse(path: path, bytes: bytes, baseOffset: 0)
        guard case .object = node.value else {
            throw TokenizerError.invalidJSON(path: path, reason: "the top level is \(node.kindName), not an object")
        }
        return node
    }
}

extension JSONNode {
    /// The member `key` of an object (nil for other values or a missing key).
    subscript(key: String) -> JSONNode? {
        guard case let .object(members) = value else { return nil }
        return members.first(where: { $0.key == key })?.node
    }

    var members: [JSONMember]? { if case let .object(m) = value { return m }; return nil }
    var array: [JSONNode]? { if case let .array(a) = value { return a }; return nil }
    var string: String? { if case let .string(s) = value { return s }; return nil }
    var bool: Bool? { if case let .bool(b) = value { return b }; return nil }
    var isNull: Bool { if case .null = value { return true }; return false }

    /// The value when written as an integer (`12`, `-1`; not `12.0` or `1e1`).
    var int: Int? {
        guard case let .number(lexeme) = value else { return nil }
        let digits = lexeme.hasPrefix("-") ? lexeme.dropFirst() : Substring(lexeme)
        guard !digits.isEmpty, digits.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
        return Int(lexeme)
    }
}
