import Foundation
import Testing
@testable import LlamaConvert

/// The sample texts and reference ids of fixtures/tokenizers/KIND/expected.json.
private struct Samples: Decodable {
    struct Sample: Decodable {
        let text: String
        let ids: [Int]
        let ids_with_bos: [Int]
    }
    let samples: [Sample]

    static func load(_ kind: String) throws -> [Sample] {
        let data = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("tokenizers/\(kind)/expected.json")))
        return try JSONDecoder().decode(Samples.self, from: data).samples
    }
}

/// A one-layer model with `rows` embedding rows in `folder`, with the given tokenizer files.
private func tinyGraph(rows: Int, folder: String, tokenizerFiles: [String]) -> WeightGraph {
    let c = ModelConfig(vocabSize: rows, dim: 64, nLayers: 1, nHeads: 2, nKVHeads: 2, headDim: 32, ffnDim: 64,
                        normEps: 1e-5, ropeTheta: 10000, ropeScaling: nil, tiedEmbeddings: false, contextLength: 64)
    var tensors: [CanonicalTensor] = []
    for role in [TensorRole.tokenEmbedding] + TensorRole.layerRoles + [.outputNorm, .output] {
        let shape = GraphAssembly.expectedShape(role, c)
        let floats = (0 ..< shape.reduce(1, *)).map { Float($0 % 7) / 7 }
        tensors.append(CanonicalTensor(role: role, layer: role.isPerLayer ? 0 : nil, source: OwnedTensor(floats: floats, shape: shape)))
    }
    return WeightGraph(format: .safetensors, path: folder, config: c, tensors: tensors, tokenizerFiles: tokenizerFiles)
}

/// An HF folder with weights and config but no tokenizer file.
private func folderWithoutTokenizer(_ tmp: TempFolder) throws -> String {
    let dir = tmp.path + "/bare-model"
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    for name in ["config.json", "model.safetensors"] {
        try FileManager.default.copyItem(atPath: Fixtures.path("hf-mqa-f16-tied-rope31/" + name), toPath: dir + "/" + name)
    }
    return dir
}

@Suite("Convert: tokenizer written, carried over, or refused")
struct ConvertTokenizerTests {
    static let kinds: [(String, String)] = [
        ("hf-gqa-bf16-sharded", "sentencepiece"), ("meta-mha-l2-mp2", "sentencepiece"), ("meta-gqa-mp2", "sentencepiece"),
        ("hf-mqa-f16-tied-rope31", "bpe"), ("hf-copy-of-meta-gqa", "bpe"), ("meta-copy-of-hf-mqa", "tiktoken"),
    ]

    static func sampleKind(_ kind: String) -> String { kind == "sentencepiece" ? "spm" : kind }

    @Test("each model fixture's GGUF holds its tokenizer, which encodes the reference samples exactly", arguments: kinds)
    func fixtureTokenizer(folder: String, kind: String) throws {
        let tmp = TempFolder()
        let out = tmp.path + "/out.gguf"
        let report = try Converter.convert(try ModelLoader.load(path: Fixtures.path(folder)), to: out, options: ConvertOptions(quant: .q8))
        let summary = try #require(report.tokenizer)
        #expect(summary.kind == kind)
        #expect(summary.vocabSize == 512 && summary.padding == 0)
        #expect(ConvertSummary.text(report, verbose: false).contains("tokenizer: \(kind) from tokenizer."))
        let gguf = try GGUFFile(path: out)
        #expect(gguf.value(GGUFKeys.Tokenizer.model)?.stringValue == (kind == "sentencepiece" ? "llama" : "gpt2"))
        let tokenizer = try Tokenizers.make(GGUFVocabulary(gguf: gguf))
        let samples = try Samples.load(Self.sampleKind(kind))
        #expect(!samples.isEmpty)
        for sample in samples {
            #expect(tokenizer.encode(sample.text, addBOS: true) == sample.ids_with_bos, "\(sample.text.debugDescription)")
        }
    }

    @Test("a GGUF input's tokenizer keys are carried over unchanged")
    func ggufCarriesTokenizer() throws {
        let tmp = TempFolder()
        for (folder, _) in [Self.kinds[0], Self.kinds[3]] {
            _ = try Converter.convert(try ModelLoader.load(path: Fixtures.path(folder)), to: tmp.path + "/a.gguf", options: ConvertOptions(quant: .uniform(.f16)))
            let report = try Converter.convert(try ModelLoader.load(path: tmp.path + "/a.gguf"), to: tmp.path + "/b.gguf", options: ConvertOptions(quant: .q8))
            #expect(report.tokenizer?.file == tmp.path + "/a.gguf")
            let a = try GGUFVocabulary(gguf: GGUFFile(path: tmp.path + "/a.gguf"))
            let b = try GGUFVocabulary(gguf: GGUFFile(path: tmp.path + "/b.gguf"))
            #expect(a == b, "\(folder)")
            #expect(report.tokenizer?.kind == "gguf-" + a.model)
        }
    }

    @Test("without a tokenizer the conversion is refused, naming the folder and the files looked for; skip writes no keys and says so")
    func missingTokenizer() throws {
        let tmp = TempFolder()
        let dir = try folderWithoutTokenizer(tmp)
        let graph = try ModelLoader.load(path: dir)
        let out = tmp.path + "/out.gguf"
        do {
            _ = try Converter.convert(graph, to: out, options: ConvertOptions(quant: .q8))
            Issue.record("expected an error")
        } catch {
            let text = "\(error)"
            #expect(text.contains(dir) && text.contains("tokenizer.model") && text.contains("tokenizer.json"), "\(text)")
        }
        #expect(!FileManager.default.fileExists(atPath: out))
        let report = try Converter.convert(graph, to: out, options: ConvertOptions(quant: .q8, tokenizer: .skip))
        #expect(report.tokenizer == nil)
        #expect(report.notes.contains { $0.contains("no tokenizer written") })
        #expect(try GGUFFile(path: out).value(GGUFKeys.Tokenizer.model) == nil)
        let json = try JSONSerialization.jsonObject(with: JSONEncoder().encode(report)) as? [String: Any]
        #expect(json?["tokenizer"] is NSNull)
        // A GGUF without tokenizer keys is refused again unless skipped.
        #expect(throws: TokenizerError.self) { try Converter.convert(try ModelLoader.load(path: out), to: tmp.path + "/again.gguf", options: ConvertOptions(quant: .q8)) }
    }

    @Test("the CLI refuses a folder without tokenizer; --no-tokenizer writes it and the summary says so")
    func cliNoTokenizer() throws {
        let tmp = TempFolder()
        let dir = try folderWithoutTokenizer(tmp)
        let refused = try CLI.run([dir, tmp.path + "/x.gguf", "--quiet"])
        #expect(refused.status != 0 && refused.err.contains(dir) && refused.err.contains("--no-tokenizer"), "\(refused.err)")
        let written = try CLI.run([dir, tmp.path + "/x.gguf", "--quiet", "--no-tokenizer"])
        #expect(written.status == 0, "\(written.err)")
        #expect(written.out.contains("tokenizer: none") && written.out.contains("no tokenizer written"), "\(written.out)")
    }

    @Test("a tokenizer smaller than the embedding is padded with [PADn] and noted; a larger one is refused")
    func paddingAndTooMany() throws {
        let tmp = TempFolder()
        let spm = tmp.path + "/tokenizer.model"
        try FileManager.default.copyItem(atPath: Fixtures.path("tokenizers/spm/tokenizer.model"), toPath: spm)
        let report = try Converter.convert(tinyGraph(rows: 520, folder: tmp.path, tokenizerFiles: [spm]), to: tmp.path + "/p.gguf",
                                           options: ConvertOptions(quant: .uniform(.f16)))
        #expect(report.tokenizer?.vocabSize == 520 && report.tokenizer?.padding == 8)
        #expect(report.notes.contains { $0.contains("8 [PADn]") })
        let vocab = try GGUFVocabulary(gguf: GGUFFile(path: tmp.path + "/p.gguf"))
        #expect(vocab.tokens[519] == "[PAD519]" && vocab.tokenTypes[519] == GGUFVocabulary.TokenType.unused.rawValue)
        #expect(throws: TokenizerError.tooManyTokens(path: spm, count: 512, embeddingRows: 256)) {
            try Converter.convert(tinyGraph(rows: 256, folder: tmp.path, tokenizerFiles: [spm]), to: tmp.path + "/t.gguf",
                                  options: ConvertOptions(quant: .uniform(.f16)))
        }
        #expect(!FileManager.default.fileExists(atPath: tmp.path + "/t.gguf"))
    }
}

@Suite("Inspect: the tokenizer of every input kind")
struct InspectTokenizerTests {
    @Test("inspect names the tokenizer kind, vocab size, special ids and chat template, for folders and for GGUF",
          arguments: ConvertTokenizerTests.kinds)
    func inspectTokenizer(folder: String, kind: String) throws {
        let report = InspectReport(graph: try ModelLoader.load(path: Fixtures.path(folder)))
        let t = try #require(report.tokenizer)
        #expect(t.kind == kind && t.vocabSize == 512)
        switch kind {
        case "sentencepiece": #expect(t.bosID == 1 && t.eosID == 2 && t.unknownID == 0 && !t.chatTemplate)
        case "bpe": #expect(t.bosID == 448 && t.eosID == 457 && t.chatTemplate)
        default: #expect(t.bosID == 448 && t.eosID == 449 && !t.chatTemplate)
        }
        #expect(report.text.contains("tokenizer  \(kind) from tokenizer."))
        let json = try JSONSerialization.jsonObject(with: JSONEncoder().encode(report)) as? [String: Any]
        let object = try #require(json?["tokenizer"] as? [String: Any])
        #expect(Set(object.keys) == ["kind", "file", "vocab_size", "padding", "bos_id", "eos_id", "unk_id", "chat_template"]
            || Set(object.keys) == ["kind", "file", "vocab_size", "padding", "bos_id", "eos_id", "chat_template"])

        let tmp = TempFolder()
        _ = try Converter.convert(try ModelLoader.load(path: Fixtures.path(folder)), to: tmp.path + "/m.gguf", options: ConvertOptions(quant: .q8))
        let fromGGUF = try #require(InspectReport(graph: try ModelLoader.load(path: tmp.path + "/m.gguf")).tokenizer)
        #expect(fromGGUF.kind == (kind == "sentencepiece" ? "gguf-llama" : "gguf-gpt2"))
        #expect(fromGGUF.vocabSize == t.vocabSize && fromGGUF.bosID == t.bosID && fromGGUF.eosID == t.eosID
            && fromGGUF.unknownID == t.unknownID && fromGGUF.chatTemplate == t.chatTemplate)
    }

    @Test("inspect of a folder without tokenizer shows none, and JSON tokenizer null")
    func inspectNone() throws {
        let tmp = TempFolder()
        let report = InspectReport(graph: try ModelLoader.load(path: try folderWithoutTokenizer(tmp)))
        #expect(report.tokenizer == nil && report.text.contains("tokenizer  none"))
        let json = try JSONSerialization.jsonObject(with: JSONEncoder().encode(report)) as? [String: Any]
        #expect(json?["tokenizer"] is NSNull)
    }
}
