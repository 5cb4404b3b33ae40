import Foundation

/// Builds the GGUF vocabulary from a model folder's tokenizer files, with the values llama.cpp's
/// `convert_hf_to_gguf.py` writes for the same files.
///
/// Which file: like llama.cpp's `LlamaModel.set_vocab`, a SentencePiece `tokenizer.model` wins
/// over `tokenizer.json` (`_set_vocab_sentencepiece` is tried first; the others only on
/// FileNotFoundError). A `tokenizer.model` that is Llama 3 tiktoken text is used only when there
/// is no `tokenizer.json` (llama.cpp cannot read it at all; its tokenizer.json form is what
/// transformers' converter makes from it, and this loader reproduces that form).
public enum TokenizerLoader {
    /// Meta's Llama 3 base vocabulary size (the tiktoken file's rank count).
    public static let llama3PreName = "llama-bpe"

    /// - Parameters:
    ///   - files: paths of the folder's files; tokenizer.model, tokenizer.json,
    ///     tokenizer_config.json, chat_template.jinja, added_tokens.json, config.json and
    ///     params.json are used when present (matched by file name), anything else is ignored.
    ///   - embeddingRows: rows of `token_embd` (llama.cpp uses config.json `vocab_size`): the
    ///     vocabulary is padded to it, and a tokenizer with more entries is an error.
    /// - Returns: the vocabulary and the path of the tokenizer file it came from.
    public static func vocabulary(files: [String], embeddingRows: Int) throws -> (GGUFVocabulary, chosen: String) {
        let byName = index(files)
        let rows = embeddingRows
        if let model = byName["tokenizer.model"] {
            let file = try MappedFile(path: model)
            let tiktoken = file.count > 0 && file.bytes[0] != 0x0A && TiktokenModel.looksLikeTiktoken(file.bytes)
            if !tiktoken {
                return (try sentencePiece(path: model, byName: byName, rows: rows), model)
            }
            if byName["tokenizer.json"] == nil {
                return (try tiktokenVocabulary(TiktokenModel(path: model, bytes: file.bytes), byName: byName, rows: rows), model)
            }
        }
        if let json = byName["tokenizer.json"] {
            return (try byteLevelBPE(path: json, byName: byName, rows: rows), json)
        }
        throw TokenizerError.noTokenizer(files: files)
    }

    /// File name → path; for a repeated name the shortest path (the folder's own file, not
    /// `original/tokenizer.model`) wins.
    static func index(_ files: [String]) -> [String: String] {
        var byName: [String: String] = [:]
        for path in files {
            let name = (path as NSString).lastPathComponent
            if let existing = byName[name], existing.count <= path.count { continue }
            byName[name] = path
        }
        return byName
    }

    private static func readText(_ path: String?) throws -> String? {
        guard let path else { return nil }
        let file = try MappedFile(path: path)
        var reader = file.reader()
        return try reader.string(reader.remaining, what: "the file")
    }

    private static func modelConfig(_ byName: [String: String]) throws -> (path: String, json: JSONNode)? {
        guard let path = byName["config.json"] else { return nil }
        return (path, try TokenizerJSONFile.load(path: path))
    }

    private static func apply(_ special: SpecialTokens, to vocab: inout GGUFVocabulary) {
        vocab.bosID = special.ids["bos"]
        vocab.eosID = special.ids["eos"]
        vocab.unknownID = special.ids["unk"]
        vocab.paddingID = special.ids["pad"]
        vocab.addBOS = special.add["bos"]
        vocab.addEOS = special.add["eos"]
        switch special.chatTemplate {
        case let .single(text)?: vocab.chatTemplate = text
        case let .named(list)?:
            // gguf_writer.add_chat_template: names keep ASCII letters and digits, the rest become "_".
            for (rawName, template) in list {
                let name = String(rawName.unicodeScalars.map { $0.isASCII && ($0.properties.isAlphabetic || ("0" ... "9").contains($0)) ? Character($0) : "_" })
                if name.isEmpty { continue }
                if name == "default" { vocab.chatTemplate = template } else { vocab.namedChatTemplates[name] = template }
            }
        case nil: break
        }
    }

    private static func checkDistinct(_ vocab: GGUFVocabulary, path: String) throws {
        // Compared as bytes: Swift's String equality is canonical equivalence, llama.cpp's is bytes.
        var seen = Set<[UInt8]>(minimumCapacity: vocab.tokens.count)
        for (id, token) in vocab.tokens.enumerated() where !seen.insert(Array(token.utf8)).inserted {
            throw TokenizerError.duplicateToken(path: path, id: id, token: token)
        }
    }

    // MARK: SentencePiece (`_set_vocab_sentencepiece`)

    static func sentencePiece(path: String, byName: [String: String], rows: Int) throws -> GGUFVocabulary {
        let model = try SentencePieceModel.load(path: path)
        guard model.pieces.count <= rows else {
            throw TokenizerError.tooManyTokens(path: path, count: model.pieces.count, embeddingRows: rows)
        }
        var tokens = (0 ..< rows).map(GGUFVocabulary.paddingToken)
        var scores = [Float](repeating: -10000, count: rows)
        var types = [Int32](repeating: GGUFVocabulary.TokenType.unused.rawValue, count: rows)
        for (id, piece) in model.pieces.enumerated() {
            tokens[id] = piece.piece
            scores[id] = piece.score
            // sentencepiece's IsUnknown / IsControl / IsUnused / IsByte, else NORMAL (USER_DEFINED too).
            switch piece.type {
            case .unknown: types[id] = GGUFVocabulary.TokenType.unknown.rawValue
            case .control: types[id] = GGUFVocabulary.TokenType.control.rawValue
            case .unused: types[id] = GGUFVocabulary.TokenType.unused.rawValue
            case .byte: types[id] = GGUFVocabulary.TokenType.byte.rawValue
            case .normal, .userDefined: types[id] = GGUFVocabulary.TokenType.normal.rawValue
            }
        }
        if let addedPath = byName["added_tokens.json"] {
            let added = try TokenizerJSONFile.load(path: addedPath)
            for member in added.members ?? [] {
                let text = member.key
                guard let id = member.node.int else { throw TokenizerError.wrongType(path: addedPath, key: text, expected: "an integer id") }
                guard id >= 0, id < rows else { throw TokenizerError.tokenIDOutOfRange(path: addedPath, token: text, id: id, limit: rows) }
                tokens[id] = text
                scores[id] = -1000
                types[id] = GGUFVocabulary.TokenType.userDefined.rawValue
            }
        }
        let config = try byName["tokenizer_config.json"].map(TokenizerConfig.load)
        for entry in config?.addedTokensDecoder ?? [] {
            guard entry.id < rows else {
                throw TokenizerError.tokenIDOutOfRange(path: config?.path ?? path, token: entry.content, id: entry.id, limit: rows)
            }
            if entry.special || SpecialTokens.looksSpecial(entry.content) {
                tokens[entry.id] = entry.content
                types[entry.id] = GGUFVocabulary.TokenType.control.rawValue
            } else {
                tokens[entry.id] = entry.content.replacingOccurrences(of: "\u{2581}", with: " ")
                types[entry.id] = GGUFVocabulary.TokenType.userDefined.rawValue
            }
            scores[entry.id] = -1000
        }
        let tokenizerJSON = try byName["tokenizer.json"].map(HFTokenizerJSON.load)
        let special = try SpecialTokens.resolve(tokenizerJSON: tokenizerJSON, config: config,
                                                chatTemplateFile: readText(byName["chat_template.jinja"]),
                                                modelConfig: modelConfig(byName), nVocab: rows)
        var vocab = GGUFVocabulary(model: "llama", pre: "default", tokens: tokens, scores: scores, tokenTypes: types, merges: nil)
        apply(special, to: &vocab)
        // Our addition: a Meta folder has no JSON, and llama.cpp's convert then writes no ids (its
        // runtime defaults, unk 0 / bos 1 / eos 2, are Llama's). Take them from the trainer spec.
        let spec = model.trainerSpec
        func fromSpec(_ id: Int32) -> Int? { id >= 0 && Int(id) < model.pieces.count ? Int(id) : nil }
        vocab.unknownID = vocab.unknownID ?? fromSpec(spec.unkID)
        vocab.bosID = vocab.bosID ?? fromSpec(spec.bosID)
        vocab.eosID = vocab.eosID ?? fromSpec(spec.eosID)
        vocab.paddingID = vocab.paddingID ?? fromSpec(spec.padID)
        vocab.addSpacePrefix = config?.addPrefixSpace
        try checkDistinct(vocab, path: path)
        return vocab
    }

    // MARK: byte-level BPE from tokenizer.json (`_set_vocab_gpt2` / `get_vocab_base`)

    static func byteLevelBPE(path: String, byName: [String: String], rows: Int) throws -> GGUFVocabulary {
        let tj = try HFTokenizerJSON.load(path: path)
        guard tj.modelType == "BPE" else {
            throw TokenizerError.unsupported(path: path, reason: "model.type is \(tj.modelType), not BPE")
        }
        guard !tj.byteFallback else {
            throw TokenizerError.unsupported(path: path, reason: "a SentencePiece-style BPE (byte_fallback): its scores are only in tokenizer.model, which is missing")
        }
        guard tj.preTokenizer == .llama3 else {
            // llama.cpp identifies the pre-tokenizer by hashing token ids of a test text and stops
            // when the hash is unknown; this converter accepts Llama 3's declared pre-tokenizer only.
            throw TokenizerError.unsupported(path: path, reason: "pre_tokenizer is not Llama 3's (Split on its regex + ByteLevel); cannot choose tokenizer.ggml.pre")
        }
        var byID: [Int: String] = [:]
        byID.reserveCapacity(tj.vocab.count + tj.addedTokens.count)
        for (token, id) in tj.vocab {
            if let other = byID[id], other != token { throw TokenizerError.duplicateToken(path: path, id: id, token: token) }
            byID[id] = token
        }
        var added: [Int: HFTokenizerJSON.AddedToken] = [:]
        for token in tj.addedTokens {
            if let other = byID[token.id], other != token.content {
                throw TokenizerError.duplicateToken(path: path, id: token.id, token: token.content)
            }
            byID[token.id] = token.content
            added[token.id] = token
        }
        guard byID.count <= rows else { throw TokenizerError.tooManyTokens(path: path, count: byID.count, embeddingRows: rows) }
        if let (id, token) = byID.first(where: { $0.key < 0 || $0.key >= rows }) {
            throw TokenizerError.tokenIDOutOfRange(path: path, token: token, id: id, limit: rows)
        }
        var tokens: [String] = []
        var types: [Int32] = []
        tokens.reserveCapacity(rows)
        types.reserveCapacity(rows)
        for id in 0 ..< rows {
            guard let token = byID[id] else {
                tokens.append(GGUFVocabulary.paddingToken(id))
                types.append(GGUFVocabulary.TokenType.unused.rawValue)
                continue
            }
            if let entry = added[id] {
                if entry.special || SpecialTokens.looksSpecial(token) {
                    tokens.append(token)
                    types.append(GGUFVocabulary.TokenType.control.rawValue)
                } else {
                    tokens.append(token.replacingOccurrences(of: "\u{2581}", with: " "))
                    types.append(GGUFVocabulary.TokenType.userDefined.rawValue)
                }
            } else {
                tokens.append(token)
                types.append(GGUFVocabulary.TokenType.normal.rawValue)
            }
        }
        let config = try byName["tokenizer_config.json"].map(TokenizerConfig.load)
        let special = try SpecialTokens.resolve(tokenizerJSON: tj, config: config,
                                                chatTemplateFile: readText(byName["chat_template.jinja"]),
                                                modelConfig: modelConfig(byName), nVocab: nil)
        var vocab = GGUFVocabulary(model: "gpt2", pre: llama3PreName, tokens: tokens, scores: nil, tokenTypes: types, merges: tj.merges)
        apply(special, to: &vocab)
        vocab.addSpacePrefix = config?.addPrefixSpace
        try checkDistinct(vocab, path: path)
        return vocab
    }

    // MARK: Meta Llama 3 tiktoken (as transformers' Llama3Converter turns it into tokenizer.json)

    static func tiktokenVocabulary(_ model: TiktokenModel, byName: [String: String], rows: Int) throws -> GGUFVocabulary {
        let ranks = model.tokens.count
        guard ranks <= rows else { throw TokenizerError.tooManyTokens(path: model.path, count: ranks, embeddingRows: rows) }
        // Meta reserves 256 ids after the ranks; a smaller embedding keeps what fits.
        let specialCount = min(TiktokenModel.llama3SpecialCount, rows - ranks)
        let names = TiktokenModel.specialTokenNames(count: specialCount, naming: try naming(byName))
        var tokens = model.tokens.map { ByteUnicode.encode($0) }
        var types = [Int32](repeating: GGUFVocabulary.TokenType.normal.rawValue, count: ranks)
        tokens.append(contentsOf: names)
        types.append(contentsOf: [Int32](repeating: GGUFVocabulary.TokenType.control.rawValue, count: names.count))
        for id in tokens.count ..< rows {
            tokens.append(GGUFVocabulary.paddingToken(id))
            types.append(GGUFVocabulary.TokenType.unused.rawValue)
        }
        let merges = model.mergePairs().map { tokens[$0.left] + " " + tokens[$0.right] }
        var vocab = GGUFVocabulary(model: "gpt2", pre: llama3PreName, tokens: tokens, scores: nil, tokenTypes: types, merges: merges)
        vocab.bosID = names.count > 0 ? ranks : nil
        vocab.eosID = names.count > 1 ? ranks + 1 : nil
        // Meta's generation code always prepends <|begin_of_text|>; HF's converted tokenizer does too.
        vocab.addBOS = names.isEmpty ? nil : true
        vocab.addEOS = false
        try checkDistinct(vocab, path: model.path)
        return vocab
    }

    /// Llama 3.0's params.json has no `use_scaled_rope`; 3.1 and later set it true.
    private static func naming(_ byName: [String: String]) throws -> TiktokenModel.SpecialNaming {
        guard let path = byName["params.json"] else { return .llamaModels }
        let params = try TokenizerJSONFile.load(path: path)
        return (params["use_scaled_rope"]?.bool ?? false) ? .llamaModels : .llama3
    }
}
