import Foundation
import Testing
@testable import LlamaConvert

/// A small random model in Meta layout, as plain float arrays by Meta name.
struct SyntheticMetaModel {
    let params: MetaParams
    var tensors: [(name: String, shape: [Int], values: [Float])] = []

    init(dim: Int = 16, layers: Int = 2, heads: Int = 4, kvHeads: Int = 2, vocab: Int = 12, seed: UInt64 = 7) {
        params = MetaParams(dim: dim, nLayers: layers, nHeads: heads, nKVHeads: kvHeads, vocabSize: vocab, multipleOf: 8,
                            ffnDimMultiplier: nil, normEps: 1e-5, ropeTheta: 10000, useScaledRope: false, unknownKeys: [])
        var rng = seed
        func next() -> Float {
            rng = rng &* 6364136223846793005 &+ 1442695040888963407
            return Float(Int64(bitPattern: rng >> 11) % 2000) / 1000
        }
        let hd = dim / heads, ffn = params.ffnDim
        func add(_ role: TensorRole, _ layer: Int?, _ shape: [Int]) {
            tensors.append((TensorNames.name(role, layer: layer, .meta)!, shape, (0 ..< shape.reduce(1, *)).map { _ in next() }))
        }
        add(.tokenEmbedding, nil, [vocab, dim])
        for l in 0 ..< layers {
            add(.attnNorm, l, [dim]); add(.attnQ, l, [heads * hd, dim]); add(.attnK, l, [kvHeads * hd, dim])
            add(.attnV, l, [kvHeads * hd, dim]); add(.attnOutput, l, [dim, heads * hd]); add(.ffnNorm, l, [dim])
            add(.ffnGate, l, [ffn, dim]); add(.ffnUp, l, [ffn, dim]); add(.ffnDown, l, [dim, ffn])
        }
        add(.outputNorm, nil, [dim])
        add(.output, nil, [vocab, dim])
    }

    func values(_ name: String) -> [Float] { tensors.first { $0.name == name }!.values }

    /// The tensors split for `mp` ranks as fairscale stores them.
    func shards(_ mp: Int, embeddingAxis: Int) -> [(path: String, tensors: [(name: String, source: any TensorSource)])] {
        (0 ..< mp).map { rank in
            let parts: [(name: String, source: any TensorSource)] = tensors.map { t in
                let role = TensorNames.parse(t.name, .meta)!.role
                var axis: Int? = nil
                switch TensorNames.row(role).shardAxis {
                case .rows: axis = 0
                case .columns: axis = 1
                case .replicated: axis = nil
                case .fromShapes: axis = embeddingAxis
                }
                guard let axis else { return (t.name, OwnedTensor(floats: t.values, shape: t.shape)) }
                let rows = t.shape[0], cols = t.shape[1]
                if axis == 0 {
                    let n = rows / mp
                    return (t.name, OwnedTensor(floats: Array(t.values[rank * n * cols ..< (rank + 1) * n * cols]), shape: [n, cols]))
                }
                let n = cols / mp
                var out: [Float] = []
                for r in 0 ..< rows { out += t.values[r * cols + rank * n ..< r * cols + (rank + 1) * n] }
                return (t.name, OwnedTensor(floats: out, shape: [rows, n]))
            }
            return ("consolidated.0\(rank).pth", parts)
        }
    }
}

@Suite("Weight graph: name table, importers, model-parallel merge")
struct WeightGraphTests {
    @Test("every role round-trips through the HF, Meta and GGUF spellings")
    func nameTableRoundTrip() {
        for row in TensorNames.rows {
            for layer in row.role.isPerLayer ? [0, 7, 31] : [nil] {
                for spelling in [TensorNames.Spelling.hf, .meta, .gguf] {
                    guard let name = TensorNames.name(row.role, layer: layer, spelling) else { continue }
                    let parsed = TensorNames.parse(name, spelling)
                    #expect(parsed?.role == row.role && parsed?.layer == layer, "\(name)")
                }
            }
        }
        #expect(TensorNames.parse("model.layers.01.mlp.up_proj.weight", .hf) == nil)
        #expect(TensorNames.parse("model.layers.x.mlp.up_proj.weight", .hf) == nil)
        #expect(TensorNames.isIgnored("rope.freqs", .meta))
    }

    @Test("Meta FFN width follows multiple_of and ffn_dim_multiplier as Meta's code does")
    func metaFFN() {
        func ffn(_ dim: Int, _ mult: Double?, _ multipleOf: Int) -> Int {
            MetaParams(dim: dim, nLayers: 1, nHeads: 1, nKVHeads: 1, vocabSize: nil, multipleOf: multipleOf, ffnDimMultiplier: mult,
                       normEps: 1e-5, ropeTheta: 1e4, useScaledRope: false, unknownKeys: []).ffnDim
        }
        #expect(ffn(4096, nil, 256) == 11008)
        #expect(ffn(5120, nil, 256) == 13824)
        #expect(ffn(8192, 1.3, 4096) == 28672)
        #expect(ffn(4096, 1.3, 1024) == 14336)
        #expect(ffn(16384, 1.2, 4096) == 53248)
        #expect(ffn(2048, 1.5, 256) == 8192)
        #expect(ffn(128, 1.3, 32) == 448)
    }

    @Test("merged shards equal the unsharded tensors, embedding split on rows or on columns", arguments: [0, 1])
    func shardMerge(embeddingAxis: Int) throws {
        let model = SyntheticMetaModel()
        let whole = try MetaImporter.build(path: "m", params: model.params, shards: model.shards(1, embeddingAxis: 0))
        let merged = try MetaImporter.build(path: "m", params: model.params, shards: model.shards(2, embeddingAxis: embeddingAxis))
        #expect(whole.tensors.map(\.name) == merged.tensors.map(\.name))
        for (a, b) in zip(whole.tensors, merged.tensors) {
            #expect(a.source.shape == b.source.shape)
            #expect(try a.source.floats() == b.source.floats(), "\(a.name)")
            #expect(try a.source.floats() == model.values(TensorNames.name(a.role, layer: a.layer, .meta)!))
        }
        // Partial row ranges cross the shard boundary.
        let q = merged.tensor(.attnQ, layer: 1)!.source
        var rows = [Float](repeating: 0, count: 4 * q.rowLength)
        let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 4 * q.rowBytes, alignment: 16)
        defer { scratch.deallocate() }
        try rows.withUnsafeMutableBufferPointer { try q.readFloatRows(6 ..< 10, into: $0, scratch: scratch) }
        #expect(rows == Array(try whole.tensor(.attnQ, layer: 1)!.source.floats()[6 * 16 ..< 10 * 16]))
    }

    @Test("shards whose embedding splits neither axis are refused, naming the tensor")
    func inconsistentEmbedding() throws {
        let model = SyntheticMetaModel()
        var shards = model.shards(2, embeddingAxis: 0)
        let i = shards[1].tensors.firstIndex { $0.name == "tok_embeddings.weight" }!
        shards[1].tensors[i] = ("tok_embeddings.weight", OwnedTensor(floats: [Float](repeating: 0, count: 6 * 8), shape: [6, 8]))
        #expect(throws: ConfigError.self) { try MetaImporter.build(path: "m", params: model.params, shards: shards) }
        do { _ = try MetaImporter.build(path: "m", params: model.params, shards: shards) } catch {
            #expect("\(error)".contains("tok_embeddings.weight"))
        }
    }

    @Test("a shard missing a tensor is named")
    func missingInShard() throws {
        let model = SyntheticMetaModel()
        var shards = model.shards(2, embeddingAxis: 0)
        shards[1].tensors.removeAll { $0.name == "layers.1.attention.wk.weight" }
        do {
            _ = try MetaImporter.build(path: "m", params: model.params, shards: shards)
            Issue.record("expected an error")
        } catch {
            #expect("\(error)" == "consolidated.01.pth: missing tensor layers.1.attention.wk.weight")
        }
    }

    @Test("HF q/k rows (rotate-half) come out in Meta's interleaved order, K with the KV head count")
    func hfPermutationRestoresMetaOrder() throws {
        let model = SyntheticMetaModel(heads: 4, kvHeads: 1)
        let meta = try MetaImporter.build(path: "m", params: model.params, shards: model.shards(1, embeddingAxis: 0))
        let c = meta.config
        // Write the same weights the way transformers' converter does.
        var hfTensors: [(name: String, source: any TensorSource)] = []
        for t in meta.tensors {
            var source = t.source
            if t.role == .attnQ || t.role == .attnK {
                source = RowPermutedTensor(base: source, rowOrder: RopeLayout.interleavedToRotateHalf(
                    rows: source.rowCount, heads: t.role == .attnQ ? c.nHeads : c.nKVHeads))
            }
            hfTensors.append((TensorNames.name(t.role, layer: t.layer, .hf)!, source))
        }
        let hf = HFConfig(config: c, declaredDType: nil, isBareModel: false)
        let graph = try HFImporter.build(path: "h", hf: hf, tensors: hfTensors)
        for (a, b) in zip(meta.tensors, graph.tensors) {
            #expect(a.name == b.name)
            #expect(try a.source.floats() == b.source.floats(), "\(a.name)")
        }
    }

    @Test("config.json: transformers 4.x top-level rope keys and 5.x rope_parameters give the same config")
    func hfConfigVersions() throws {
        let v4 = #"{"model_type":"llama","hidden_size":128,"num_attention_heads":4,"num_key_value_heads":1,"num_hidden_layers":2,"intermediate_size":320,"vocab_size":512,"rms_norm_eps":1e-05,"tie_word_embeddings":true,"max_position_embeddings":512,"torch_dtype":"float16","rope_theta":500000.0,"rope_scaling":{"type":"llama3","factor":8.0,"low_freq_factor":1.0,"high_freq_factor":4.0,"original_max_position_embeddings":8192}}"#
        let v5 = #"{"model_type":"llama","hidden_size":128,"num_attention_heads":4,"num_key_value_heads":1,"num_hidden_layers":2,"intermediate_size":320,"vocab_size":512,"rms_norm_eps":1e-05,"tie_word_embeddings":true,"max_position_embeddings":512,"dtype":"float16","head_dim":32,"rope_parameters":{"rope_type":"llama3","rope_theta":500000.0,"factor":8.0,"low_freq_factor":1.0,"high_freq_factor":4.0,"original_max_position_embeddings":8192}}"#
        let a = try HFConfig.parse(JSONObject(path: "v4", data: Array(v4.utf8)))
        let b = try HFConfig.parse(JSONObject(path: "v5", data: Array(v5.utf8)))
        #expect(a.config == b.config)
        #expect(a.declaredDType == "float16" && b.declaredDType == "float16")
        #expect(a.config.ropeScaling == RopeScaling(factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalContextLength: 8192))
        #expect(a.config.headDim == 32 && a.config.tiedEmbeddings && a.config.ropeTheta == 500000)
    }

    @Test("config.json with an unsupported rope type or a bad value names the file and key")
    func hfConfigErrors() {
        let yarn = #"{"hidden_size":8,"num_attention_heads":2,"num_hidden_layers":1,"intermediate_size":8,"vocab_size":4,"rope_scaling":{"rope_type":"yarn","factor":4}}"#
        #expect(throws: ConfigError.unsupported(path: "c.json", what: "rope type \"yarn\" (only default and llama3)")) {
            try HFConfig.parse(JSONObject(path: "c.json", data: Array(yarn.utf8)))
        }
        let badHeads = #"{"hidden_size":8,"num_attention_heads":2,"num_key_value_heads":3,"num_hidden_layers":1,"intermediate_size":8,"vocab_size":4}"#
        #expect(throws: ConfigError.self) { try HFConfig.parse(JSONObject(path: "c.json", data: Array(badHeads.utf8))) }
        let missing = #"{"hidden_size":8,"num_attention_heads":2,"intermediate_size":8,"vocab_size":4}"#
        #expect(throws: ConfigError.missingKey(path: "c.json", key: "num_hidden_layers")) {
            try HFConfig.parse(JSONObject(path: "c.json", data: Array(missing.utf8)))
        }
        let boolAsInt = #"{"hidden_size":true,"num_attention_heads":2,"num_hidden_layers":1,"intermediate_size":8,"vocab_size":4}"#
        #expect(throws: ConfigError.self) { try HFConfig.parse(JSONObject(path: "c.json", data: Array(boolAsInt.utf8))) }
    }

    @Test("Llama 3.1 divisors match the published test vector")
    func ropeDivisors() {
        let d = RopeScaling.metaLlama31.divisors(headDim: 128, theta: 500000)
        #expect(d[0 ..< 29].allSatisfy { $0 == 1 } && d[35...].allSatisfy { $0 == 8 })
        let expected: [Float] = [1.207484, 1.553415, 2.026313, 2.694530, 3.684253, 5.257327]
        for (x, y) in zip(d[29 ..< 35], expected) { #expect(abs(x - y) < 1e-5) }
    }
}
