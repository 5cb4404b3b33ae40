import Foundation
import Testing
@testable import LlamaConvert

@Suite("Importers on the real fixtures")
struct ImporterFixtureTests {
    static let models = ["hf-gqa-bf16-sharded", "hf-mqa-f16-tied-rope31", "hf-copy-of-meta-gqa",
                         "meta-gqa-mp2", "meta-mha-l2-mp2", "meta-copy-of-hf-mqa"]

    @Test("HF and Meta copies of the same weights give identical canonical tensors (GQA and MQA)",
          arguments: [("hf-copy-of-meta-gqa", "meta-gqa-mp2"), ("hf-mqa-f16-tied-rope31", "meta-copy-of-hf-mqa")])
    func permutationAcrossLayouts(hf: String, meta: String) throws {
        let a = try ModelLoader.load(path: Fixtures.path(hf))
        let b = try ModelLoader.load(path: Fixtures.path(meta))
        #expect(a.format == .safetensors && b.format == .metaPth)
        for t in a.tensors {
            // The Meta copy of a tied model carries output.weight; everything else is shared.
            guard let u = b.tensor(t.role, layer: t.layer) else { Issue.record("\(t.name) missing in \(meta)"); continue }
            #expect(t.source.shape == u.source.shape, "\(t.name)")
            #expect(try t.source.storedBytes() == u.source.storedBytes(), "\(t.name)")
        }
    }

    @Test("merged Meta tensors equal the unsharded ones torch wrote", arguments: ["meta-gqa-mp2", "meta-mha-l2-mp2"])
    func modelParallelMerge(folder: String) throws {
        let graph = try ModelLoader.load(path: Fixtures.path(folder))
        let reference = try Fixtures.reference(folder)
        var checked = 0
        for t in graph.tensors where t.role != .ropeFreqs {
            let name = TensorNames.name(t.role, layer: t.layer, .meta)!
            let record = try #require(reference.tensors[name], "\(name)")
            #expect(t.source.shape == record.shape, "\(name)")
            #expect(CRC32.checksum(try t.source.storedBytes()) == record.crc32, "\(name)")
            checked += 1
        }
        #expect(checked == reference.tensors.count - (reference.tensors["rope.freqs"] == nil ? 0 : 1))
    }

    @Test("HF tensors are read as written, q/k reordered to Meta's rows", arguments: ["hf-gqa-bf16-sharded", "hf-mqa-f16-tied-rope31"])
    func hfValues(folder: String) throws {
        let graph = try ModelLoader.load(path: Fixtures.path(folder))
        let reference = try Fixtures.reference(folder)
        for t in graph.tensors where t.role != .ropeFreqs {
            let name = TensorNames.name(t.role, layer: t.layer, .hf)!
            let record = try #require(reference.tensors[name], "\(name)")
            let values = try t.source.floats()
            // Sums do not depend on row order, so they hold for the reordered q/k too.
            #expect(abs(values.reduce(0.0) { $0 + Double($1) } - record.sum) < 1e-3, "\(name)")
            if t.role != .attnQ && t.role != .attnK {
                #expect(CRC32.checksum(try t.source.storedBytes()) == record.crc32, "\(name)")
            }
        }
    }

    @Test("configs come out as the fixture script set them")
    func configs() throws {
        let gqa = try ModelLoader.load(path: Fixtures.path("hf-gqa-bf16-sharded")).config
        #expect(gqa == ModelConfig(vocabSize: 512, dim: 256, nLayers: 4, nHeads: 8, nKVHeads: 2, headDim: 32, ffnDim: 512,
                                   normEps: 1e-5, ropeTheta: 10000, ropeScaling: nil, tiedEmbeddings: false, contextLength: 256))
        let mqa = try ModelLoader.load(path: Fixtures.path("hf-mqa-f16-tied-rope31")).config
        #expect(mqa == ModelConfig(vocabSize: 512, dim: 128, nLayers: 2, nHeads: 4, nKVHeads: 1, headDim: 32, ffnDim: 320,
                                   normEps: 1e-5, ropeTheta: 500000, ropeScaling: .metaLlama31, tiedEmbeddings: true, contextLength: 512))
        let meta = try ModelLoader.load(path: Fixtures.path("meta-gqa-mp2")).config
        #expect(meta.ffnDim == 448 && meta.nKVHeads == 4 && meta.vocabSize == 512 && meta.ropeTheta == 500000)
        let l2 = try ModelLoader.load(path: Fixtures.path("meta-mha-l2-mp2"))
        #expect(l2.config.vocabSize == 512 && l2.config.nKVHeads == 4 && l2.config.ffnDim == 384 && l2.config.normEps == 1e-6)
        #expect(l2.notes.contains { $0.contains("vocab_size -1") })
    }

    @Test("a tied model has no output tensor; the Llama 3.1 model gets rope_freqs as llama.cpp computes it")
    func tiedAndRopeFreqs() throws {
        let graph = try ModelLoader.load(path: Fixtures.path("hf-mqa-f16-tied-rope31"))
        #expect(graph.tensor(.output) == nil)
        let freqs = try #require(graph.tensor(.ropeFreqs))
        let data = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("hf-mqa-f16-tied-rope31/reference.json")))
        let json = try JSONSerialization.jsonObject(with: data) as! [String: Any]
        let expected = (json["gguf_rope_freqs"] as! [NSNumber]).map(\.floatValue)
        #expect(try freqs.source.floats() == expected)
    }

    @Test("inspect --json follows the schema on every fixture", arguments: models)
    func inspectJSON(folder: String) throws {
        let report = InspectReport(graph: try ModelLoader.load(path: Fixtures.path(folder)))
        let json = try JSONSerialization.jsonObject(with: JSONEncoder().encode(report)) as! [String: Any]
        for key in ["format", "config", "tensors", "totals"] { #expect(json[key] != nil, "\(key)") }
        let config = json["config"] as! [String: Any]
        #expect(Set(config.keys) == ["vocab_size", "dim", "n_layers", "n_heads", "n_kv_heads", "head_dim", "ffn_dim",
                                     "norm_eps", "rope_theta", "rope_scaling", "tied_embeddings", "context_length"])
        let tensors = json["tensors"] as! [[String: Any]]
        #expect(tensors.allSatisfy { $0["name"] is String && $0["dtype"] is String && $0["shape"] is [Any] })
        #expect(tensors.first { ($0["name"] as! String) == "token_embd.weight" } != nil)
    }

    @Test("folders that hold no model, and shards out of sequence, are named in the error")
    func unrecognisedFolders() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lc-empty-\(getpid())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(throws: ConfigError.self) { try ModelLoader.load(path: dir) }
        try FileManager.default.copyItem(atPath: Fixtures.path("meta-gqa-mp2/params.json"), toPath: dir + "/params.json")
        try FileManager.default.copyItem(atPath: Fixtures.path("meta-gqa-mp2/consolidated.01.pth"), toPath: dir + "/consolidated.01.pth")
        do {
            _ = try ModelLoader.load(path: dir)
            Issue.record("expected an error")
        } catch {
            #expect("\(error)".contains(dir) && "\(error)".contains("consolidated.01.pth"))
        }
    }
}
