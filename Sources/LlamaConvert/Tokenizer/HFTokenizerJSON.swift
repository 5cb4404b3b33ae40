/// The parts of a Hugging Face `tokenizer.json` (huggingface/tokenizers serialization) that a
/// GGUF vocabulary needs: the BPE model's vocab and merges, the added tokens, and which
/// pre-tokenizer, decoder and post-processor it declares.
public struct HFTokenizerJSON {
    public struct AddedToken: Equatable {
        public var id: Int
        public var content: String
        public var special: Bool
        public var normalized: Bool
    }

    /// The declared pre-tokenizer, as far as the converter cares.
    public enum PreTokenizer: Equatable {
        case none
        /// Sequence [Split(Llama 3 regex, Isolated), ByteLevel(add_prefix_space false, use_regex false)].
        case llama3
        case byteLevel(addPrefixSpace: Bool, useRegex: Bool)
        case other(String)
    }

    /// A `TemplateProcessing` post-processor's single-sequence template, reduced to its ends.
    public struct Template: Equatable {
        public var count: Int
        public var firstSpecial: String?
        public var lastSpecial: String?
    }

    public let path: String
    public var modelType: String
    public var vocab: [String: Int]
    /// In GGUF form: "left right", rank = index. Pairs (tokenizers ≥ 0.20) are joined with one
    /// space after any space inside a part is written as U+0120, as llama.cpp's SpecialVocab does.
    public var merges: [String]
    public var addedTokens: [AddedToken]
    public var byteFallback: Bool
    public var ignoreMerges: Bool
    public var decoderType: String?
    public var preTokenizer: PreTokenizer
    /// TemplateProcessing templates found in the post-processor (alone or inside a Sequence).
    public var templates: [Template]
    /// True when the post-processor is or contains RobertaProcessing.
    public var robertaProcessing: Bool

    /// Llama 3's pre-tokenizer regex (`pat_str` in Meta's tokenizer.py, TikTokenConverter's default).
    public static let llama3Pattern =
        #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#

    public static func load(path: String) throws -> HFTokenizerJSON {
        try HFTokenizerJSON(path: path, json: TokenizerJSONFile.load(path: path))
    }

    init(path: String, json: JSONNode) throws {
        self.path = path
        guard let model = json["model"], model.members != nil else { throw TokenizerError.missingKey(path: path, key: "model") }
        guard let type = model["type"]?.string else { throw TokenizerError.missingKey(path: path, key: "model.type") }
        modelType = type
        byteFallback = model["byte_fallback"]?.bool ?? false
        ignoreMerges = model["ignore_merges"]?.bool ?? false
        guard let vocabMembers = model["vocab"]?.members else {
            throw TokenizerError.missingKey(path: path, key: "model.vocab")
        }
        var vocab: [String: Int] = [:]
        vocab.reserveCapacity(vocabMembers.count)
        for member in vocabMembers {
            guard let id = member.node.int else {
                throw TokenizerError.wrongType(path: path, key: "model.vocab[\(member.key.debugDescription)]", expected: "an integer")
            }
            vocab[member.key] = id
        }
        self.vocab = vocab
        merges = try Self.merges(model["merges"], vocab: vocab, path: path)

        var added: [AddedToken] = []
        if let list = json["added_tokens"], !list.isNull {
            guard let items = list.array else { throw TokenizerError.wrongType(path: path, key: "added_tokens", expected: "a list") }
            for (index, item) in items.enumerated() {
                guard let id = item["id"]?.int, let content = item["content"]?.string else {
                    throw TokenizerError.wrongType(path: path, key: "added_tokens[\(index)]", expected: "an object with id and content")
                }
                added.append(AddedToken(id: id, content: content, special: item["special"]?.bool ?? false,
                                        normalized: item["normalized"]?.bool ?? true))
            }
        }
        addedTokens = added
        decoderType = json["decoder"]?["type"]?.string
        preTokenizer = Self.preTokenizer(json["pre_tokenizer"])
        (templates, robertaProcessing) = Self.postProcessor(json["post_processor"])
    }

    private static func merges(_ value: JSONNode?, vocab: [String: Int], path: String) throws -> [String] {
        guard let value, !value.isNull else { return [] }
        guard let list = value.array else { throw TokenizerError.wrongType(path: path, key: "model.merges", expected: "a list") }
        var out: [String] = []
        out.reserveCapacity(list.count)
        for (index, entry) in list.enumerated() {
            let left: String, right: String
            switch entry.value {
            case let .string(line):
                if line.hasPrefix("#version") { continue }
                let parts = line.split(separator: " ", omittingEmptySubsequences: false)
                guard parts.count == 2 else { throw TokenizerError.badMerge(path: path, index: index, entry: line.debugDescription) }
                left = String(parts[0]); right = String(parts[1])
            case let .array(pair):
                guard pair.count == 2, let a = pair[0].string, let b = pair[1].string else {
                    throw TokenizerError.badMerge(path: path, index: index, entry: "a list of \(pair.count) values")
                }
                left = a; right = b
            default:
                throw TokenizerError.badMerge(path: path, index: index, entry: entry.kindName)
            }
            for token in [left, right, left + right] where vocab[token] == nil {
                throw TokenizerError.unknownMergeToken(path: path, index: index, token: token)
            }
            out.append(gguf(left) + " " + gguf(right))
        }
        return out
    }

    /// A space inside a merge part becomes U+0120 (space + 256), so "a b" stays two parts.
    private static func gguf(_ part: String) -> String {
        part.contains(" ") ? part.replacingOccurrences(of: " ", with: "\u{0120}") : part
    }

    private static func preTokenizer(_ value: JSONNode?) -> PreTokenizer {
        guard let value, let type = value["type"]?.string else { return .none }
        switch type {
        case "ByteLevel":
            return .byteLevel(addPrefixSpace: value["add_prefix_space"]?.bool ?? true, useRegex: value["use_regex"]?.bool ?? true)
        case "Sequence":
            guard let steps = value["pretokenizers"]?.array, steps.count == 2,
                  steps[0]["type"]?.string == "Split",
                  steps[0]["pattern"]?["Regex"]?.string == llama3Pattern,
                  steps[0]["behavior"]?.string == "Isolated",
                  (steps[0]["invert"]?.bool ?? false) == false,
                  steps[1]["type"]?.string == "ByteLevel",
                  (steps[1]["add_prefix_space"]?.bool ?? true) == false,
                  (steps[1]["use_regex"]?.bool ?? true) == false
            else { return .other("Sequence") }
            return .llama3
        default:
            return .other(type)
        }
    }

    private static func postProcessor(_ value: JSONNode?) -> ([Template], Bool) {
        guard let value, value.members != nil else { return ([], false) }
        let processors = value["processors"]?.array ?? [value]
        var templates: [Template] = []
        var roberta = false
        for processor in processors {
            switch processor["type"]?.string {
            case "RobertaProcessing": roberta = true
            case "TemplateProcessing":
                let single = processor["single"]?.array ?? []
                templates.append(Template(count: single.count,
                                          firstSpecial: single.first?["SpecialToken"]?["id"]?.string,
                                          lastSpecial: single.last?["SpecialToken"]?["id"]?.string))
            default: break
            }
        }
        return (templates, roberta)
    }
}

/// `tokenizer_config.json` (transformers): special token texts, add_*_token flags, the chat
/// template, and `added_tokens_decoder`.
public struct TokenizerConfig {
    public struct AddedToken: Equatable {
        public var id: Int
        public var content: String
        public var special: Bool
    }

    public let path: String
    /// Token text per kind ("bos", "eos", "unk", "sep", "pad", "cls", "mask"), from `<kind>_token`
    /// given as a string or as `{content: ...}`.
    public var tokens: [String: String] = [:]
    /// `add_<kind>_token` when it is a boolean.
    public var addSpecial: [String: Bool] = [:]
    /// `chat_template`: one string, or a list of `{name, template}`.
    public var chatTemplate: ChatTemplate?
    public var addedTokensDecoder: [AddedToken] = []
    public var addPrefixSpace: Bool?

    public enum ChatTemplate: Equatable {
        case single(String)
        case named([(name: String, template: String)])

        public static func == (a: ChatTemplate, b: ChatTemplate) -> Bool {
            switch (a, b) {
            case let (.single(x), .single(y)): return x == y
            case let (.named(x), .named(y)): return x.map(\.name) == y.map(\.name) && x.map(\.template) == y.map(\.template)
            default: return false
            }
        }
    }

    public static let kinds = ["bos", "eos", "unk", "sep", "pad", "cls", "mask"]

    public static func load(path: String) throws -> TokenizerConfig {
        try TokenizerConfig(path: path, json: TokenizerJSONFile.load(path: path))
    }

    init(path: String, json: JSONNode) throws {
        self.path = path
        for kind in Self.kinds {
            if let add = json["add_\(kind)_token"]?.bool { addSpecial[kind] = add }
            if let entry = json["\(kind)_token"] {
                if let text = entry.string { tokens[kind] = text } else if let text = entry["content"]?.string { tokens[kind] = text }
            }
        }
        addPrefixSpace = json["add_prefix_space"]?.bool
        switch json["chat_template"]?.value {
        case nil, .null?: chatTemplate = nil
        case let .string(text)?: chatTemplate = .single(text)
        case let .array(items)?:
            var named: [(name: String, template: String)] = []
            for (index, item) in items.enumerated() {
                guard let name = item["name"]?.string, let template = item["template"]?.string else {
                    throw TokenizerError.wrongType(path: path, key: "chat_template[\(index)]", expected: "an object with name and template")
                }
                named.append((name, template))
            }
            chatTemplate = .named(named)
        default:
            // llama.cpp's SpecialVocab warns and ignores a chat_template of another type.
            chatTemplate = nil
        }
        if let decoder = json["added_tokens_decoder"]?.members {
            for member in decoder {
                let key = member.key, entry = member.node
                guard let id = Int(key), id >= 0 else {
                    throw TokenizerError.wrongType(path: path, key: "added_tokens_decoder[\(key.debugDescription)]", expected: "keyed by a token id")
                }
                guard let content = entry["content"]?.string else {
                    throw TokenizerError.missingKey(path: path, key: "added_tokens_decoder[\(key)].content")
                }
                addedTokensDecoder.append(AddedToken(id: id, content: content, special: entry["special"]?.bool ?? false))
            }
            addedTokensDecoder.sort { $0.id < $1.id }
        }
    }
}

/// `generation_config.json`: bos/eos ids (an int or a list). Not read by llama.cpp's convert;
/// kept for callers that want the stop tokens.
public struct GenerationConfig: Equatable {
    public var bosTokenIDs: [Int] = []
    public var eosTokenIDs: [Int] = []

    public static func load(path: String) throws -> GenerationConfig {
        let json = try TokenizerJSONFile.load(path: path)
        var config = GenerationConfig()
        config.bosTokenIDs = try ids(json["bos_token_id"], key: "bos_token_id", path: path)
        config.eosTokenIDs = try ids(json["eos_token_id"], key: "eos_token_id", path: path)
        return config
    }

    private static func ids(_ value: JSONNode?, key: String, path: String) throws -> [Int] {
        if let id = value?.int { return [id] }
        switch value?.value {
        case nil, .null?: return []
        case let .array(items)?:
            return try items.map { item in
                guard let id = item.int else { throw TokenizerError.wrongType(path: path, key: key, expected: "an integer or a list of integers") }
                return id
            }
        default: throw TokenizerError.wrongType(path: path, key: key, expected: "an integer or a list of integers")
        }
    }
}
