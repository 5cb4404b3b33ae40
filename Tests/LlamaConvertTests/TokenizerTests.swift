import Foundation
import Testing
@testable import LlamaConvert

/// `expected.json` written by Scripts/make_tokenizer_fixtures.py from sentencepiece, tokenizers
/// and tiktoken.
private struct Expected: Decodable {
    struct Sample: Decodable {
        let text: String
        let ids: [Int]
        let ids_with_bos: [Int]
        let decoded: String
    }
    let vocab_size: Int
    let bos_id: Int
    let eos_id: Int
    let tokens: [String]
    let scores: [Float]?
    let token_types: [Int32]?
    let merges: [String]?
    let special_tokens: [String: Int]?
    let chat_template: String?
    let samples: [Sample]
    let llama_cpp_special_vocab: SpecialVocab?

    /// What llama.cpp's gguf-py `SpecialVocab` made of the folder.
    struct SpecialVocab: Decodable {
        let ids: [String: Int]
        let add: [String: Bool]
        let merges: [String]
        let chat_template: String?
    }

    static func load(_ folder: String) throws -> Expected {
        let data = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("tokenizers/\(folder)/expected.json")))
        return try JSONDecoder().decode(Expected.self, from: data)
    }
}

private func files(_ folder: String) throws -> [String] {
    let dir = Fixtures.path("tokenizers/" + folder)
    return try FileManager.default.contentsOfDirectory(atPath: dir).sorted().map { dir + "/" + $0 }
}

private func json(_ text: String) throws -> JSONNode {
    try Array(text.utf8).withUnsafeBytes { try TokenizerJSONFile.parse(path: "inline.json", bytes: $0) }
}

/// Token texts compared as bytes (Swift String equality is canonical equivalence).
private func bytes(_ tokens: [String]) -> [[UInt8]] { tokens.map { Array($0.utf8) } }

@Suite("Tokenizer vocabularies and encoders")
struct TokenizerTests {
    // MARK: vocabulary extraction

    @Test("SentencePiece tokenizer.model gives llama.cpp's llama vocabulary: pieces, scores, types, byte tokens")
    func sentencePieceVocabulary() throws {
        let expected = try Expected.load("spm")
        let (vocab, chosen) = try TokenizerLoader.vocabulary(files: files("spm"), embeddingRows: 512)
        #expect(chosen.hasSuffix("spm/tokenizer.model"))
        #expect(vocab.model == "llama")
        #expect(vocab.pre == "default")
        #expect(bytes(vocab.tokens) == bytes(expected.tokens))
        #expect(vocab.scores == expected.scores)
        #expect(vocab.tokenTypes == expected.token_types)
        #expect(vocab.merges == nil)
        #expect(vocab.tokens[3 + 0xAB] == "<0xAB>" && vocab.tokenTypes[3 + 0xAB] == 6)
        // llama.cpp's SpecialVocab finds nothing without JSON files; our ids come from the trainer spec.
        let reference = try #require(expected.llama_cpp_special_vocab)
        #expect(reference.ids.isEmpty && reference.add.isEmpty)
        #expect((vocab.unknownID, vocab.bosID, vocab.eosID, vocab.paddingID) == (0, 1, 2, nil))
        #expect(vocab.addBOS == nil && vocab.chatTemplate == nil)
    }

    @Test("a vocabulary shorter than the embedding is padded with [PAD{id}], unused, score -10000")
    func sentencePiecePadding() throws {
        let (vocab, _) = try TokenizerLoader.vocabulary(files: files("spm"), embeddingRows: 515)
        #expect(vocab.count == 515)
        #expect(Array(vocab.tokens[512...]) == ["[PAD512]", "[PAD513]", "[PAD514]"])
        #expect(Array(vocab.tokenTypes[512...]) == [5, 5, 5])
        #expect(vocab.scores.map { Array($0[512...]) } == [-10000, -10000, -10000])
    }

    @Test("a tokenizer with more entries than embedding rows is refused, naming the file",
          arguments: ["spm", "bpe", "tiktoken"])
    func moreTokensThanRows(folder: String) throws {
        do {
            _ = try TokenizerLoader.vocabulary(files: files(folder), embeddingRows: folder == "tiktoken" ? 400 : 500)
            Issue.record("accepted")
        } catch let error as TokenizerError {
            guard case let .tooManyTokens(path, count, rows) = error else { Issue.record("\(error)"); return }
            #expect(path.contains("tokenizers/\(folder)/tokenizer."))
            #expect(count == (folder == "tiktoken" ? 448 : 512))
            #expect(rows == (folder == "tiktoken" ? 400 : 500))
        }
    }

    @Test("tokenizer.json gives llama.cpp's gpt2 vocabulary: tokens, control specials, merges, ids, template")
    func byteLevelVocabulary() throws {
        let expected = try Expected.load("bpe")
        let (vocab, chosen) = try TokenizerLoader.vocabulary(files: files("bpe"), embeddingRows: 512)
        #expect(chosen.hasSuffix("bpe/tokenizer.json"))
        #expect(vocab.model == "gpt2")
        #expect(vocab.pre == "llama-bpe")
        #expect(bytes(vocab.tokens) == bytes(expected.tokens))
        #expect(vocab.scores == nil)
        #expect(Array(vocab.tokenTypes[..<448]) == [Int32](repeating: 1, count: 448))
        #expect(Array(vocab.tokenTypes[448...]) == [Int32](repeating: 3, count: 64))
        #expect(vocab.merges == expected.merges)
        #expect(vocab.bosID == expected.bos_id && vocab.eosID == expected.eos_id)
        #expect(vocab.unknownID == nil && vocab.paddingID == nil)
        #expect(vocab.addBOS == true && vocab.addEOS == false)
        #expect(vocab.chatTemplate == expected.chat_template)
        let reference = try #require(expected.llama_cpp_special_vocab)
        #expect(vocab.bosID == reference.ids["bos"] && vocab.eosID == reference.ids["eos"])
        #expect(vocab.unknownID == reference.ids["unk"] && vocab.paddingID == reference.ids["pad"])
        #expect(vocab.addBOS == reference.add["bos"] && vocab.addEOS == reference.add["eos"])
        #expect(vocab.merges == reference.merges)
        #expect(vocab.chatTemplate == reference.chat_template)
    }

    @Test("legacy \"a b\" merges and [a, b] pairs give the same merges")
    func bothMergeForms() throws {
        let pairs = try HFTokenizerJSON.load(path: Fixtures.path("tokenizers/bpe/tokenizer.json"))
        let strings = try HFTokenizerJSON.load(path: Fixtures.path("tokenizers/bpe-legacy/tokenizer.json"))
        #expect(!pairs.merges.isEmpty)
        #expect(pairs.merges == strings.merges)
    }

    @Test("a space inside a merge pair is written as U+0120, and #version lines are skipped")
    func mergeSpacesAndVersionLine() throws {
        let vocab = #""vocab": {"a b": 0, "c": 1, "a bc": 2, "x": 3, "y": 4, "xy": 5}"#
        let pairs = try HFTokenizerJSON(path: "t.json", json: json(#"{"model": {"type": "BPE", \#(vocab), "merges": [["a b", "c"]]}}"#))
        #expect(pairs.merges == ["a\u{0120}b c"])
        let legacy = try HFTokenizerJSON(path: "t.json", json: json(##"{"model": {"type": "BPE", \##(vocab), "merges": ["#version: 0.2", "x y"]}}"##))
        #expect(legacy.merges == ["x y"])
    }

    @Test("tiktoken ranks give the vocabulary and merges transformers' converter writes, specials after the ranks")
    func tiktokenVocabulary() throws {
        let expected = try Expected.load("tiktoken")
        let (vocab, chosen) = try TokenizerLoader.vocabulary(files: files("tiktoken"), embeddingRows: 512)
        #expect(chosen.hasSuffix("tiktoken/tokenizer.model"))
        #expect(vocab.model == "gpt2" && vocab.pre == "llama-bpe")
        #expect(bytes(vocab.tokens) == bytes(expected.tokens))
        #expect(vocab.merges == expected.merges)
        #expect((vocab.merges?.count ?? 0) > 448 - 256)
        #expect(Array(vocab.tokenTypes[448...]) == [Int32](repeating: 3, count: 64))
        for (name, id) in expected.special_tokens ?? [:] { #expect(vocab.tokens[id] == name) }
        #expect(vocab.bosID == 448 && vocab.eosID == 449 && vocab.addBOS == true)
    }

    @Test("Meta's 256 Llama 3 special token names: both namings, ids from 128000")
    func llama3SpecialNames() {
        let models = TiktokenModel.specialTokenNames(count: 256, naming: .llamaModels)
        #expect(models.count == 256 && Set(models).count == 256)
        #expect(models[0] == "<|begin_of_text|>" && models[9] == "<|eot_id|>" && models[8] == "<|eom_id|>")
        #expect(models[4] == "<|finetune_right_pad_id|>" && models[11] == "<|image|>")
        #expect(models[12] == "<|reserved_special_token_2|>" && models[255] == "<|reserved_special_token_245|>")
        let v3 = TiktokenModel.specialTokenNames(count: 256, naming: .llama3)
        #expect(v3.count == 256 && Set(v3).count == 256)
        #expect(v3[9] == "<|eot_id|>" && v3[10] == "<|reserved_special_token_5|>" && v3[255] == "<|reserved_special_token_250|>")
    }

    @Test("tiktoken padding beyond the 256 specials uses [PAD{id}]")
    func tiktokenPadding() throws {
        let (vocab, _) = try TokenizerLoader.vocabulary(files: files("tiktoken"), embeddingRows: 448 + 256 + 2)
        #expect(vocab.count == 706)
        #expect(vocab.tokens[448 + 255] == "<|reserved_special_token_245|>")
        #expect(Array(vocab.tokens[704...]) == ["[PAD704]", "[PAD705]"])
        #expect(Array(vocab.tokenTypes[704...]) == [5, 5])
    }

    @Test("SentencePiece tokenizer.model is chosen over tokenizer.json, as llama.cpp's convert does")
    func fileChoice() throws {
        let both = try files("spm") + [Fixtures.path("tokenizers/bpe/tokenizer.json")]
        #expect(try TokenizerLoader.vocabulary(files: both, embeddingRows: 512).chosen.hasSuffix("spm/tokenizer.model"))
        let tiktokenAndJSON = try files("tiktoken") + [Fixtures.path("tokenizers/bpe/tokenizer.json")]
        #expect(try TokenizerLoader.vocabulary(files: tiktokenAndJSON, embeddingRows: 512).chosen.hasSuffix("bpe/tokenizer.json"))
        #expect(throws: TokenizerError.noTokenizer(files: ["a/config.json"])) {
            try TokenizerLoader.vocabulary(files: ["a/config.json"], embeddingRows: 512)
        }
    }

    @Test("tokenizer_config.json and generation_config.json parse: tokens, flags, template, id lists")
    func configFiles() throws {
        let config = try TokenizerConfig.load(path: Fixtures.path("tokenizers/bpe/tokenizer_config.json"))
        #expect(config.tokens["bos"] == "<|begin_of_text|>" && config.tokens["eos"] == "<|eot_id|>")
        #expect(config.addSpecial["bos"] == true && config.addSpecial["eos"] == false)
        #expect(config.addedTokensDecoder.count == 64 && config.addedTokensDecoder[0].id == 448)
        let named = try TokenizerConfig(path: "c.json", json: json(
            #"{"chat_template": [{"name": "default", "template": "A"}, {"name": "tool_use", "template": "B"}]}"#))
        #expect(named.chatTemplate == .named([("default", "A"), ("tool_use", "B")]))
        let generation = try GenerationConfig.load(path: Fixtures.path("tokenizers/bpe/generation_config.json"))
        #expect(generation.bosTokenIDs == [448] && generation.eosTokenIDs == [449, 456, 457])
    }

    @Test("malformed tokenizer files give clear errors naming the file",
          arguments: [
            ("tiktoken-bad-base64.model", "line 301: the token is not base64"),
            ("tiktoken-rank-gap.model", "line 11: rank 12, expected 10"),
            ("tiktoken-missing-rank.model", "line 21: no space between token and rank"),
            ("tokenizer-unknown-merge.json", "model.merges[5] names \"Ġnotatoken\", which is not in model.vocab"),
            ("tokenizer-truncated.json", "offset 15585: invalid JSON: unexpected end"),
            ("tokenizer-id-out-of-range.json", "has id 999999, outside 0..<512"),
          ])
    func malformedFiles(name: String, message: String) throws {
        let path = Fixtures.path("tokenizers/bad/" + name)
        let target = name.hasSuffix(".json") ? "/tmp/llama-convert-tokenizer-test-\(name)/tokenizer.json"
                                              : "/tmp/llama-convert-tokenizer-test-\(name)/tokenizer.model"
        try? FileManager.default.createDirectory(atPath: (target as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try? FileManager.default.removeItem(atPath: target)
        try FileManager.default.copyItem(atPath: path, toPath: target)
        do {
            _ = try TokenizerLoader.vocabulary(files: [target], embeddingRows: 512)
            Issue.record("\(name) loaded")
        } catch {
            let text = "\(error)"
            #expect(text.hasPrefix(target + ": "), "\(text)")
            #expect(text.contains(message), "\(text)")
        }
    }

    // MARK: encoders

    @Test("encoders match the reference libraries' ids exactly, with and without BOS, and decode back",
          arguments: ["spm", "bpe", "bpe-legacy", "tiktoken"])
    func encodersMatchReference(folder: String) throws {
        let expected = try Expected.load(folder == "bpe-legacy" ? "bpe" : folder)
        // bpe-legacy holds only tokenizer.json: the bos id comes from bpe's tokenizer_config.json.
        let extra = folder == "bpe-legacy" ? [Fixtures.path("tokenizers/bpe/tokenizer_config.json")] : []
        let (vocab, _) = try TokenizerLoader.vocabulary(files: files(folder) + extra, embeddingRows: 512)
        let tokenizer = try Tokenizers.make(vocab)
        #expect(!expected.samples.isEmpty)
        for sample in expected.samples {
            #expect(tokenizer.encode(sample.text, addBOS: false) == sample.ids, "\(sample.text.debugDescription)")
            #expect(tokenizer.encode(sample.text, addBOS: true) == sample.ids_with_bos, "\(sample.text.debugDescription)")
            #expect(Array(tokenizer.decode(sample.ids).utf8) == Array(sample.decoded.utf8), "\(sample.text.debugDescription)")
        }
    }

    @Test("the Llama 3 pre-tokenizer splits contractions, digit triples, spaces and newlines as the regex does")
    func llama3PreTokenizer() {
        #expect(Llama3PreTokenizer.split("I've 12345 apples") == ["I", "'ve", " ", "123", "45", " apples"])
        #expect(Llama3PreTokenizer.split("a  b\n\n c") == ["a", " ", " b", "\n\n", " c"])
        #expect(Llama3PreTokenizer.split("end   ") == ["end", "   "])
        #expect(Llama3PreTokenizer.split("x!!\n\ny 'RE") == ["x", "!!\n\n", "y", " '", "RE"])
        #expect(Llama3PreTokenizer.split("") == [])
    }

    @Test("the vocabulary round-trips through GGUF tokenizer keys and encodes the same from the GGUF",
          arguments: ["spm", "bpe", "tiktoken"])
    func ggufRoundTrip(folder: String) throws {
        var (vocab, _) = try TokenizerLoader.vocabulary(files: files(folder), embeddingRows: 512)
        vocab.namedChatTemplates = ["tool_use": "{{ tools }}"]
        let path = NSTemporaryDirectory() + "llama-convert-tokenizer-\(folder)-\(getpid()).gguf"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try writeGGUF(path: path, metadata: vocab.metadata, tensors: [])
        let gguf = try GGUFFile(path: path)
        #expect(gguf.value(GGUFKeys.Tokenizer.tokenType)?.arrayValue?.elementType == .int32)
        #expect(gguf.value(GGUFKeys.Tokenizer.bosTokenID) == vocab.bosID.map { .uint32(UInt32($0)) })
        let back = try GGUFVocabulary(gguf: gguf)
        #expect(back == vocab)
        let expected = try Expected.load(folder)
        let tokenizer = try Tokenizers.make(back)
        for sample in expected.samples.prefix(20) {
            #expect(tokenizer.encode(sample.text, addBOS: true) == sample.ids_with_bos, "\(sample.text.debugDescription)")
        }
    }
}
