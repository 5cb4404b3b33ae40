/// A tokenizer as the GGUF `tokenizer.ggml.*` keys describe it, independent of the source files.
/// The GGUF writer maps it to keys; the tokenizers in this folder are built from it, so the same
/// code tokenizes from a source folder or from a GGUF file.
public struct GGUFVocabulary: Equatable {
    /// llama.cpp token types (`enum llama_token_type`, gguf-py `TokenType`).
    public enum TokenType: Int32 {
        case normal = 1, unknown = 2, control = 3, userDefined = 4, unused = 5, byte = 6
    }

    /// `tokenizer.ggml.model`: "llama" (SentencePiece) or "gpt2" (byte-level BPE).
    public var model: String
    /// `tokenizer.ggml.pre`: "default" for SentencePiece, "llama-bpe" for Llama 3.
    public var pre: String?
    public var tokens: [String]
    /// SentencePiece scores; nil for byte-level BPE (llama.cpp writes none).
    public var scores: [Float]?
    public var tokenTypes: [Int32]
    /// "left right", rank = index; nil for SentencePiece.
    public var merges: [String]?
    public var bosID: Int?
    public var eosID: Int?
    public var unknownID: Int?
    public var paddingID: Int?
    public var addBOS: Bool?
    public var addEOS: Bool?
    /// `tokenizer.chat_template` (the default template).
    public var chatTemplate: String?
    /// Further named templates (`tokenizer.chat_template.<name>`), in file order.
    public var namedChatTemplates: [String: String] = [:]
    /// `tokenizer.ggml.add_space_prefix`, when the files state it (tokenizer_config `add_prefix_space`).
    public var addSpacePrefix: Bool?

    public init(model: String, pre: String?, tokens: [String], scores: [Float]?, tokenTypes: [Int32], merges: [String]?,
                bosID: Int? = nil, eosID: Int? = nil, unknownID: Int? = nil, paddingID: Int? = nil,
                addBOS: Bool? = nil, addEOS: Bool? = nil, chatTemplate: String? = nil) {
        self.model = model
        self.pre = pre
        self.tokens = tokens
        self.scores = scores
        self.tokenTypes = tokenTypes
        self.merges = merges
        self.bosID = bosID
        self.eosID = eosID
        self.unknownID = unknownID
        self.paddingID = paddingID
        self.addBOS = addBOS
        self.addEOS = addEOS
        self.chatTemplate = chatTemplate
    }

    public var count: Int { tokens.count }

    /// The text of a padding entry for id `i`, as llama.cpp's convert writes it.
    public static func paddingToken(_ id: Int) -> String { "[PAD\(id)]" }
}
