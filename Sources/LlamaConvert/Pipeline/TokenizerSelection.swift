import Foundation

/// Whether a conversion must write a tokenizer.
public enum TokenizerPolicy: String, Sendable {
    /// Refuse to write a file without `tokenizer.*` keys: llama.cpp cannot load one.
    case required
    /// Write no tokenizer keys, whatever the input has (`--no-tokenizer`).
    case skip
}

/// What `convert` and `inspect` say about the tokenizer; JSON key `tokenizer`.
public struct TokenizerSummary: Codable, Sendable, Equatable {
    /// "sentencepiece", "bpe" (tokenizer.json), "tiktoken" (Meta's Llama 3 text), or for a GGUF
    /// input "gguf-llama" / "gguf-gpt2" (its tokenizer.ggml.model).
    public let kind: String
    /// The file the vocabulary came from (for a GGUF input, the GGUF file).
    public let file: String
    /// Entries written, padding included (= embedding rows for a source folder).
    public let vocabSize: Int
    /// `[PADn]` entries added to reach the embedding rows.
    public let padding: Int
    public let bosID: Int?
    public let eosID: Int?
    public let unknownID: Int?
    public let chatTemplate: Bool

    enum CodingKeys: String, CodingKey {
        case kind, file, vocabSize = "vocab_size", padding, bosID = "bos_id", eosID = "eos_id", unknownID = "unk_id"
        case chatTemplate = "chat_template"
    }

    /// One line for the text summaries.
    public var text: String {
        var parts = ["\(kind) from \((file as NSString).lastPathComponent), \(vocabSize) tokens"]
        if padding > 0 { parts.append("\(padding) of them [PADn] padding to the embedding rows") }
        func id(_ name: String, _ value: Int?) -> String { "\(name) \(value.map(String.init) ?? "-")" }
        parts.append([id("bos", bosID), id("eos", eosID), id("unk", unknownID)].joined(separator: " "))
        parts.append(chatTemplate ? "chat template" : "no chat template")
        return parts.joined(separator: ", ")
    }
}

/// Finds a graph's tokenizer: the tokenizer files found beside the weights, or for a GGUF input
/// the input's own `tokenizer.*` keys (carried over unchanged).
public enum TokenizerSelection {
    /// The files whose presence makes a tokenizer; the others (tokenizer_config.json...) only add to one.
    public static let vocabularyFiles = ["tokenizer.model", "tokenizer.json"]

    /// The vocabulary and its summary, or nil when the input has no tokenizer.
    public static func vocabulary(for graph: WeightGraph) throws -> (GGUFVocabulary, TokenizerSummary)? {
        let rows = graph.tensor(.tokenEmbedding)?.source.rowCount ?? graph.config.vocabSize
        if graph.format == .gguf {
            guard FileManager.default.fileExists(atPath: graph.path) else { return nil }
            let gguf = try GGUFFile(path: graph.path)
            guard gguf.value(GGUFKeys.Tokenizer.model) != nil else { return nil }
            let vocab = try GGUFVocabulary(gguf: gguf)
            guard vocab.count <= rows else {
                throw TokenizerError.tooManyTokens(path: graph.path, count: vocab.count, embeddingRows: rows)
            }
            return (vocab, summary(vocab, kind: "gguf-" + vocab.model, file: graph.path))
        }
        let names = Set(graph.tokenizerFiles.map { ($0 as NSString).lastPathComponent })
        guard vocabularyFiles.contains(where: names.contains) else { return nil }
        let (vocab, chosen) = try TokenizerLoader.vocabulary(files: graph.tokenizerFiles + configFiles(graph), embeddingRows: rows)
        let kind: String
        if chosen.hasSuffix("tokenizer.json") { kind = "bpe" } else { kind = vocab.model == "llama" ? "sentencepiece" : "tiktoken" }
        return (vocab, summary(vocab, kind: kind, file: chosen))
    }

    /// The model folder's config.json / params.json, which name special ids and the Llama 3 naming.
    static func configFiles(_ graph: WeightGraph) -> [String] {
        let folder = isFolder(graph.path) ? graph.path : (graph.path as NSString).deletingLastPathComponent
        return ["config.json", "params.json", "chat_template.jinja"]
            .map { (folder.isEmpty ? "." : folder) + "/" + $0 }
            .filter { FileManager.default.fileExists(atPath: $0) && !graph.tokenizerFiles.contains($0) }
    }

    /// The folder (or file) a missing tokenizer is reported against.
    static func inputFolder(_ graph: WeightGraph) -> String {
        if isFolder(graph.path) || graph.format == .gguf { return graph.path }
        let folder = (graph.path as NSString).deletingLastPathComponent
        return folder.isEmpty ? "." : folder
    }

    static func isFolder(_ path: String) -> Bool {
        var folder: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &folder) && folder.boolValue
    }

    /// The file names looked for, as the error states them.
    static func lookedFor(_ graph: WeightGraph) -> [String] {
        switch graph.format {
        case .gguf: return ["tokenizer.ggml.* keys"]
        case .metaPth: return vocabularyFiles + ["../tokenizer.model"]
        case .safetensors: return vocabularyFiles
        }
    }

    static func summary(_ vocab: GGUFVocabulary, kind: String, file: String) -> TokenizerSummary {
        let unused = GGUFVocabulary.TokenType.unused.rawValue
        var padding = 0
        for (id, (token, type)) in zip(vocab.tokens, vocab.tokenTypes).enumerated()
        where type == unused && token == GGUFVocabulary.paddingToken(id) {
            padding += 1
        }
        return TokenizerSummary(kind: kind, file: file, vocabSize: vocab.count, padding: padding, bosID: vocab.bosID,
                                eosID: vocab.eosID, unknownID: vocab.unknownID,
                                chatTemplate: vocab.chatTemplate != nil || !vocab.namedChatTemplates.isEmpty)
    }
}
