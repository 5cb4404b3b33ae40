/// GGUF `tokenizer.*` keys ↔ `GGUFVocabulary`, with the value types llama.cpp reads
/// (`src/llama-vocab.cpp`): token_type exactly INT32, ids UINT32, flags BOOL.
extension GGUFVocabulary {
    /// The keys to write, in the order llama.cpp's convert writes them (model, pre, tokens,
    /// scores, types, then SpecialVocab's merges, ids, flags and chat templates).
    public var metadata: [(String, GGUFValue)] {
        typealias K = GGUFKeys.Tokenizer
        var kv: [(String, GGUFValue)] = [(K.model, .string(model))]
        if let pre { kv.append((K.pre, .string(pre))) }
        kv.append((K.tokens, .strings(tokens)))
        if let scores { kv.append((K.scores, .float32s(scores))) }
        kv.append((K.tokenType, .int32s(tokenTypes)))
        if let merges { kv.append((K.merges, .strings(merges))) }
        for (key, id) in [(K.bosTokenID, bosID), (K.eosTokenID, eosID), (K.unknownTokenID, unknownID), (K.paddingTokenID, paddingID)] {
            if let id, let value = UInt32(exactly: id) { kv.append((key, .uint32(value))) }
        }
        if let addBOS { kv.append((K.addBOSToken, .bool(addBOS))) }
        if let addEOS { kv.append((K.addEOSToken, .bool(addEOS))) }
        if let addSpacePrefix { kv.append((K.addSpacePrefix, .bool(addSpacePrefix))) }
        let names = namedChatTemplates.keys.sorted()
        for name in names { kv.append((K.chatTemplate + "." + name, .string(namedChatTemplates[name] ?? ""))) }
        if !names.isEmpty { kv.append((Self.chatTemplatesKey, .strings(names))) }
        if let chatTemplate { kv.append((K.chatTemplate, .string(chatTemplate))) }
        return kv
    }

    /// `tokenizer.chat_templates`: the names of the extra templates.
    public static let chatTemplatesKey = "tokenizer.chat_templates"

    /// The vocabulary stored in a GGUF file's tokenizer keys, so the encoders run from a GGUF too.
    public init(gguf: GGUFFile) throws {
        typealias K = GGUFKeys.Tokenizer
        func strings(_ key: String) throws -> [String]? {
            guard let value = gguf.value(key) else { return nil }
            guard let (type, elements) = value.arrayValue, type == .string else { throw Self.wrongType(gguf, key, "an array of strings") }
            return elements.map { $0.stringValue ?? "" }
        }
        func string(_ key: String) throws -> String? {
            guard let value = gguf.value(key) else { return nil }
            guard let s = value.stringValue else { throw Self.wrongType(gguf, key, "a string") }
            return s
        }
        func id(_ key: String) throws -> Int? {
            guard let value = gguf.value(key) else { return nil }
            guard let id = value.intValue else { throw Self.wrongType(gguf, key, "an integer") }
            return id
        }
        func flag(_ key: String) throws -> Bool? {
            guard let value = gguf.value(key) else { return nil }
            guard case let .bool(b) = value else { throw Self.wrongType(gguf, key, "a boolean") }
            return b
        }
        guard let model = try string(K.model) else { throw TokenizerError.missingKey(path: gguf.path, key: K.model) }
        guard let tokens = try strings(K.tokens) else { throw TokenizerError.missingKey(path: gguf.path, key: K.tokens) }
        var scores: [Float]?
        if let value = gguf.value(K.scores) {
            guard let (type, elements) = value.arrayValue, type == .float32 || type == .int32, elements.count == tokens.count else {
                throw Self.wrongType(gguf, K.scores, "an array of \(tokens.count) FLOAT32")
            }
            scores = elements.map { e in e.doubleValue.map(Float.init) ?? Float(e.intValue ?? 0) }
        }
        var types = [Int32](repeating: TokenType.normal.rawValue, count: tokens.count)
        if let value = gguf.value(K.tokenType) {
            guard let (type, elements) = value.arrayValue, type == .int32, elements.count == tokens.count else {
                throw Self.wrongType(gguf, K.tokenType, "an array of \(tokens.count) INT32")
            }
            types = elements.map { if case let .int32(t) = $0 { return t }; return 0 }
        }
        self.init(model: model, pre: try string(K.pre), tokens: tokens, scores: scores, tokenTypes: types,
                  merges: try strings(K.merges), bosID: try id(K.bosTokenID), eosID: try id(K.eosTokenID),
                  unknownID: try id(K.unknownTokenID), paddingID: try id(K.paddingTokenID),
                  addBOS: try flag(K.addBOSToken), addEOS: try flag(K.addEOSToken), chatTemplate: try string(K.chatTemplate))
        addSpacePrefix = try flag(K.addSpacePrefix)
        for name in try strings(Self.chatTemplatesKey) ?? [] {
            if let template = try string(K.chatTemplate + "." + name) { namedChatTemplates[name] = template }
        }
    }

    private static func wrongType(_ gguf: GGUFFile, _ key: String, _ expected: String) -> TokenizerError {
        .wrongType(path: gguf.path, key: key, expected: expected)
    }
}
