/// Opens a llama GGUF file as the canonical weight graph (format `.gguf`). GGUF tensors are already
/// in the layout the graph uses (Meta's interleaved Q/K rows), so no view is needed; shapes are
/// converted back to PyTorch order.
///
/// The config comes from the llama keys: head size from `llama.attention.key_length`, else
/// `llama.rope.dimension_count`, else embedding_length / head_count; vocabulary from the embedding's
/// rows (what the tensors need), noting a disagreeing `llama.vocab_size`; tied embeddings when
/// there is no `output.weight`. Llama 3.1 RoPE scaling is recovered only as present or absent from
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

        // Tensors by role; names this table does not know are listed in the notes and skipped.
        var byRole: [String: GGUFTensorInfo] = [:]
        for info in gguf.tensors {
            guard let (role, layer) = TensorNames.parse(info.name, .gguf) else {
                notes.append("ignored tensor '\(info.name)'")
                continue
            }
            if let layer, layer >= nLayers {
                notes.append("ignored tensor '\(info.name)': layer \(layer) ≥ block_count \(nLayers)")
                continue
            }
            byRole[TensorNames.gguf(role, layer: layer)] = info
        }
        func info(_ role: TensorRole, layer: Int? = nil) throws -> GGUFTensorInfo {
            let name = TensorNames.gguf(role, layer: layer)
            guard let info = byRole[name] else { throw GGUFError.missingTensor(path: path, tensor: name) }
            return info
        }

        let embedding = try info(.tokenEmbedding)
        guard embedding.shape.count == 2 else {
            throw GGUFError.wrongShape(path: path, tensor: embedding.name, expected: [-1, dim], found: embedding.shape)
        }
        let vocab = embedding.shape[0]
        if let declared = try integer(GGUFKeys.Llama.vocabSize), declared != vocab {
            notes.append("llama.vocab_size \(declared) differs from token_embd rows \(vocab); using \(vocab)")
        }
        let tied = byRole[TensorNames.gguf(.output)] == nil

        var ropeScaling: RopeScaling?
        var ropeFreqs: GGUFTensorInfo?
        if let freqs = byRole[TensorNames.gguf(.ropeFreqs)] {
            guard freqs.type == .f32, freqs.shape == [headDim / 2] else {
                throw GGUFError.wrongShape(path: path, tensor: freqs.name, expected: [headDim / 2], found: freqs.shape)
            }
            let divisors = try gguf.source(of: freqs).floats()
            let factor = Double(divisors.max() ?? 1)
            let guess = RopeScaling(factor: factor, lowFreqFactor: 1, highFreqFactor: 4, originalContextLength: 8192)
            let predicted = guess.divisors(headDim: headDim, theta: theta)
            if zip(predicted, divisors).contains(where: { abs($0 - $1) > 1e-5 * max(1, abs($1)) }) {
                notes.append("rope_freqs.weight is not llama3 scaling with factor \(factor), 1, 4, 8192; the config carries that approximation, the tensor the exact divisors")
            }
            ropeScaling = guess
            ropeFreqs = freqs
        }

        let config = ModelConfig(vocabSize: vocab, dim: dim, nLayers: nLayers, nHeads: nHeads, nKVHeads: nKVHeads,
                                 headDim: headDim, ffnDim: ffnDim, normEps: eps, ropeTheta: theta, ropeScaling: ropeScaling,
                                 tiedEmbeddings: tied, contextLength: contextLength)

        var tensors: [CanonicalTensor] = []
        func add(_ role: TensorRole, layer: Int? = nil, expected: [Int]) throws {
            let t = try info(role, layer: layer)
            guard t.shape == expected else { throw GGUFError.wrongShape(path: path, tensor: t.name, expected: expected, found: t.shape) }
            tensors.append(CanonicalTensor(role: role, layer: layer, source: gguf.source(of: t)))
        }
        try add(.tokenEmbedding, expected: [vocab, dim])
        for layer in 0 ..< nLayers {
            for role in TensorRole.layerRoles {
                try add(role, layer: layer, expected: expectedShape(role, config))
            }
        }
        try add(.outputNorm, expected: [dim])
        if !tied { try add(.output, expected: [vocab, dim]) }
        if let ropeFreqs { tensors.append(CanonicalTensor(role: .ropeFreqs, layer: nil, source: gguf.source(of: ropeFreqs))) }

        return WeightGraph(format: .gguf, path: path, config: config, tensors: tensors, notes: notes)
    }

    /// PyTorch-order shape of a per-layer tensor.
    static func expectedShape(_ role: TensorRole, _ c: ModelConfig) -> [Int] {
        switch role {
        case .attnNorm, .ffnNorm, .outputNorm: return [c.dim]
        case .attnQ: return [c.qDim, c.dim]
        case .attnK, .attnV: return [c.kvDim, c.dim]
        case .attnOutput: return [c.dim, c.qDim]
        case .ffnGate, .ffnUp: return [c.ffnDim, c.dim]
        case .ffnDown: return [c.dim, c.ffnDim]
        case .tokenEmbedding, .output: return [c.vocabSize, c.dim]
        case .ropeFreqs: return [c.headDim / 2]
        }
    }
}
