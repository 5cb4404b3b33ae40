/// Opens a llama GGUF file as the canonical weight graph (format `.gguf`). GGUF tensors are already
/// in the layout the graph uses (Meta's interleaved Q/K rows), so no view is needed; shapes are
/// converted back to PyTorch order.
///
/// The config comes from the llama keys: head size from `llama.attention.key_length`, else
/// `llama.rope.dimension_count`, else embedding_length / head_count; vocabulary from the embedding's
/// rows (what the tensors need), noting a disagreeing `llama.vocab_size`; tied embeddings when
/// there is no `output.weight`. Tensors go through `GraphAssembly` like every importer's (canonical
/// order, shapes checked against the config; unknown names refused). Llama 3.1 RoPE scaling is recovered only as present or absent from
/// `rope_freqs.weight`: the divisors do not determine (factor, low, high, original context) in
/// general, so the config gets the factor (the largest divisor) with Meta's 1 / 4 / 8192, and the
/// exact divisors stay in the graph as the `.ropeFreqs` tensor. A note says when they differ from
/// what those parameters would give.
public enum GGUFImporter {
    public static func load(path: String) throws -> WeightGraph {
        try load(GGUFFile(path: path))
    }

    public static func load(_ gguf: GGUFFile) throws -> WeightGraph {
        let path = gguf.path
        let architecture = gguf.value(GGUFKeys.General.architecture)?.stringValue
        guard architecture == "llama" else { throw GGUFError.notLlama(path: path, architecture: architecture) }
        var notes: [String] = []

        func integer(_ key: String) throws -> Int? {
            guard let value = gguf.value(key) else { return nil }
            guard let n = value.intValue, n >= 0, n <= Int(UInt32.max) else {
                throw GGUFError.badKey(path: path, key: key, problem: "expected an unsigned 32-bit integer, found \(value.type.name) \(value)")
            }
            if value.type != .uint32 { notes.append("\(key) is \(value.type.name); llama.cpp requires UINT32") }
            return n
        }
        func required(_ key: String) throws -> Int {
            guard let n = try integer(key) else { throw GGUFError.badKey(path: path, key: key, problem: "missing") }
            guard n > 0 else { throw GGUFError.badKey(path: path, key: key, problem: "must be positive") }
            return n
        }
        func real(_ key: String) throws -> Double? {
            guard let value = gguf.value(key) else { return nil }
            guard let x = value.doubleValue, x.isFinite else {
                throw GGUFError.badKey(path: path, key: key, problem: "expected FLOAT32, found \(value.type.name) \(value)")
            }
            // A FLOAT32 1e-5 widens to 9.99999974e-06; take the shortest decimal that rounds to the
            // same float32, which is what the config file said.
            if case let .float32(f) = value, let shortest = Double("\(f)") { return shortest }
            return x
        }

        let dim = try required(GGUFKeys.Llama.embeddingLength)
        let nLayers = try required(GGUFKeys.Llama.blockCount)
        // Every block has its nine tensors in this file, so the count bounds block_count before
        // anything is sized by it (the assembly lists the keys of every layer).
        guard nLayers <= gguf.tensors.count / TensorRole.layerRoles.count else {
            throw GGUFError.badKey(path: path, key: GGUFKeys.Llama.blockCount,
                                   problem: "\(nLayers) blocks need \(TensorRole.layerRoles.count) tensors each, the file has \(gguf.tensors.count) tensors")
        }
        let nHeads = try required(GGUFKeys.Llama.Attention.headCount)
        let nKVHeads = try integer(GGUFKeys.Llama.Attention.headCountKV) ?? nHeads
        guard nKVHeads > 0, nHeads % nKVHeads == 0 else {
            throw GGUFError.badKey(path: path, key: GGUFKeys.Llama.Attention.headCountKV, problem: "\(nKVHeads) does not divide head_count \(nHeads)")
        }
        let headDim = try integer(GGUFKeys.Llama.Attention.keyLength) ?? integer(GGUFKeys.Llama.Rope.dimensionCount) ?? dim / nHeads
        guard headDim > 0, headDim % 2 == 0 else {
            throw GGUFError.badKey(path: path, key: GGUFKeys.Llama.Rope.dimensionCount, problem: "head size \(headDim) must be positive and even")
        }
        let ffnDim = try required(GGUFKeys.Llama.feedForwardLength)
        guard let eps = try real(GGUFKeys.Llama.Attention.layerNormRMSEpsilon) else {
            throw GGUFError.badKey(path: path, key: GGUFKeys.Llama.Attention.layerNormRMSEpsilon, problem: "missing")
        }
        let theta = try real(GGUFKeys.Llama.Rope.freqBase) ?? 10000
        let contextLength = try required(GGUFKeys.Llama.contextLength)

        // Tensors by role. A name the table does not know is refused, as llama.cpp refuses a file
        // with tensors its llama graph does not create ("wrong number of tensors").
        var found: [TensorKey: any TensorSource] = [:]
        var infos: [TensorKey: GGUFTensorInfo] = [:]
        for info in gguf.tensors {
            guard let (role, layer) = TensorNames.parse(info.name, .gguf) else {
                throw ConfigError.unexpectedTensor(path: path, tensor: info.name)
            }
            let key = TensorKey(role: role, layer: layer)
            found[key] = gguf.source(of: info)
            infos[key] = info
        }

        guard let embedding = found[TensorKey(role: .tokenEmbedding, layer: nil)] else {
            throw ConfigError.missingTensor(path: path, tensor: TensorNames.gguf(.tokenEmbedding))
        }
        guard embedding.shape.count == 2 else {
            throw ConfigError.shapeMismatch(path: path, tensor: TensorNames.gguf(.tokenEmbedding), expected: [-1, dim], found: embedding.shape)
        }
        let vocab = embedding.shape[0]
        if let declared = try integer(GGUFKeys.Llama.vocabSize), declared != vocab {
            notes.append("llama.vocab_size \(declared) differs from token_embd rows \(vocab); using \(vocab)")
        }
        let tied = found[TensorKey(role: .output, layer: nil)] == nil

        var ropeScaling: RopeScaling?
        if let freqs = infos[TensorKey(role: .ropeFreqs, layer: nil)] {
            guard freqs.type == .f32, freqs.shape == [headDim / 2] else {
                throw GGUFError.wrongShape(path: path, tensor: freqs.name + " (\(freqs.type.name); F32 required)",
                                           expected: [headDim / 2], found: freqs.shape)
            }
            let divisors = try gguf.source(of: freqs).floats()
            let factor = Double(divisors.max() ?? 1)
            let guess = RopeScaling(factor: factor, lowFreqFactor: 1, highFreqFactor: 4, originalContextLength: 8192)
            let predicted = guess.divisors(headDim: headDim, theta: theta)
            if zip(predicted, divisors).contains(where: { abs($0 - $1) > 1e-5 * max(1, abs($1)) }) {
                notes.append("\(freqs.name) is not llama3 scaling with factor \(factor), 1, 4, 8192; the config carries that approximation, the tensor the exact divisors")
            }
            ropeScaling = guess
        }

        let config = ModelConfig(vocabSize: vocab, dim: dim, nLayers: nLayers, nHeads: nHeads, nKVHeads: nKVHeads,
                                 headDim: headDim, ffnDim: ffnDim, normEps: eps, ropeTheta: theta, ropeScaling: ropeScaling,
                                 tiedEmbeddings: tied, contextLength: contextLength)
        // Shapes are checked against the config there; rope_freqs from the file is kept as is.
        let tensors = try GraphAssembly.assemble(path: path, config: config, found: found) {
            TensorNames.gguf($0.role, layer: $0.layer)
        }
        return WeightGraph(format: .gguf, path: path, config: config, tensors: tensors, notes: notes)
    }
}
