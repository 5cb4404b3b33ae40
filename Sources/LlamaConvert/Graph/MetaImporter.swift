/// Builds the canonical graph from Meta's `consolidated.NN.pth` shards and `params.json`.
/// Meta's Q/K rows are already in the interleaved order GGUF arch `llama` expects.
public enum MetaImporter {
    /// `shards` in rank order (file-name order, as Meta's loader sorts them).
    public static func build(path: String, params: MetaParams,
                             shards: [(path: String, tensors: [(name: String, source: any TensorSource)])],
                             tokenizerFiles: [String] = []) throws -> WeightGraph {
        guard !shards.isEmpty else { throw ConfigError.unrecognisedInput(path: path, problem: "no consolidated.NN.pth shards") }
        var notes: [String] = params.unknownKeys.isEmpty ? [] : ["params.json: ignored unknown keys \(params.unknownKeys.joined(separator: ", "))"]
        var merged: [ShardMerge.Shard] = []
        for shard in shards {
            var byName: [String: any TensorSource] = [:]
            for (name, source) in shard.tensors {
                if TensorNames.isIgnored(name, .meta) { continue }
                guard TensorNames.parse(name, .meta) != nil else {
                    throw ConfigError.unexpectedTensor(path: shard.path, tensor: name)
                }
                guard byName[name] == nil else {
                    throw ConfigError.inconsistentShards(path: shard.path, tensor: name, problem: "appears twice")
                }
                byName[name] = source
            }
            merged.append(ShardMerge.Shard(path: shard.path, tensors: byName))
        }
        // Every shard must hold the same names: a rank without a tensor is a broken download.
        let names = Set(merged[0].tensors.keys)
        for shard in merged.dropFirst() {
            if let extra = Set(shard.tensors.keys).subtracting(names).sorted().first {
                throw ConfigError.inconsistentShards(path: shard.path, tensor: extra, problem: "not in \(merged[0].path)")
            }
            if let missing = names.subtracting(shard.tensors.keys).sorted().first {
                throw ConfigError.missingTensor(path: shard.path, tensor: missing)
            }
        }

        var found: [TensorKey: any TensorSource] = [:]
        for name in names.sorted() {
            let (role, layer) = TensorNames.parse(name, .meta)!
            let (source, note) = try ShardMerge.merge(name: name, axis: TensorNames.row(role).shardAxis,
                                                      shards: merged, dim: params.dim, folder: path)
            if let note { notes.append(note) }
            found[TensorKey(role: role, layer: layer)] = source
        }
        if shards.count > 1 { notes.append("merged \(shards.count) model-parallel shards") }

        guard let embedding = found[TensorKey(role: .tokenEmbedding, layer: nil)] else {
            throw ConfigError.missingTensor(path: path, tensor: TensorNames.name(.tokenEmbedding, .meta)!)
        }
        let vocab = params.vocabSize ?? embedding.shape[0]
        if params.vocabSize == nil { notes.append("vocab_size -1 in params.json: \(vocab) from the embedding") }
        // llama.cpp's legacy loader takes n_ff from w1; a params.json that disagrees is reported.
        var ffn = params.ffnDim
        if let gate = found[TensorKey(role: .ffnGate, layer: 0)], gate.shape.count == 2, gate.shape[0] != ffn {
            notes.append("FFN width \(gate.shape[0]) from layers.0.feed_forward.w1 (params.json gives \(ffn))")
            ffn = gate.shape[0]
        }
        var scaling: RopeScaling? = nil
        if params.useScaledRope {
            scaling = .metaLlama31
            notes.append("use_scaled_rope: Meta's fixed Llama 3.1 scaling (factor 8, low 1, high 4, original context 8192)")
        }
        let config = ModelConfig(vocabSize: vocab, dim: params.dim, nLayers: params.nLayers, nHeads: params.nHeads,
                                 nKVHeads: params.nKVHeads, headDim: params.dim / params.nHeads, ffnDim: ffn,
                                 normEps: params.normEps, ropeTheta: params.ropeTheta, ropeScaling: scaling,
                                 tiedEmbeddings: false, contextLength: params.contextLength)
        let ordered = try GraphAssembly.assemble(path: path, config: config, found: found) {
            TensorNames.name($0.role, layer: $0.layer, .meta) ?? TensorNames.gguf($0.role, layer: $0.layer)
        }
        return WeightGraph(format: .metaPth, path: path, config: config, tensors: ordered,
                           tokenizerFiles: tokenizerFiles, notes: notes)
    }
}
