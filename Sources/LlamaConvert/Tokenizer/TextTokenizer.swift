/// Text ↔ token ids.
public protocol TextTokenizer {
    /// The ids of `text`, with the BOS id first when `addBOS` is set.
    func encode(_ text: String, addBOS: Bool) -> [Int]
    /// The text of `ids`; special tokens decode to their text (SentencePiece control tokens to
    /// nothing), invalid UTF-8 to U+FFFD.
    func decode(_ ids: [Int]) -> String
}

/// A tokenizer for a GGUF vocabulary: SentencePiece BPE for model "llama", byte-level BPE for "gpt2".
public enum Tokenizers {
    public static func make(_ vocabulary: GGUFVocabulary) throws -> TextTokenizer {
        switch vocabulary.model {
        case "llama": return try SentencePieceBPETokenizer(vocabulary)
        case "gpt2": return try ByteLevelBPETokenizer(vocabulary)
        default: throw TokenizerError.unsupported(path: "vocabulary", reason: "tokenizer model \(vocabulary.model.debugDescription)")
        }
    }
}
