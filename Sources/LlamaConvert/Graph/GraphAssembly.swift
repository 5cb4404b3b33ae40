/// Puts importer output into canonical order after checking every shape against the config.
/// All importers end here, so a model reaches the writer and the forward pass only when it is whole.
struct TensorKey: Hashable {
    let role: TensorRole
    let layer: Int?
}

enum GraphAssembly {
    /// The shape each role must have, PyTorch order.
    static func expectedShape(_ role: TensorRole, _ c: ModelConfig) -> [Int] {
        switch role {
        case .tokenEmbedding, .output: return [c.vocabSize, c.dim]
        case .attnNorm, .ffnNorm, .outputNorm: return [c.dim]
        case .attnQ: return [c.qDim, c.dim]
        case .attnK, .attnV: return [c.kvDim, c.dim]
        case .attnOutput: return [c.dim, c.qDim]
        case .ffnGate, .ffnUp: return [c.ffnDim, c.dim]
        case .ffnDown: return [c.dim, c.ffnDim]
        case .ropeFreqs: return [c.headDim / 2]
        }
    }

    /// Orders and checks `found`. `name` spells a key in the source's own naming for errors.
    static func assemble(path: String, config: ModelConfig, found: [TensorKey: any TensorSource],
                         name: (TensorKey) -> String) throws -> [CanonicalTensor] {
        try checkLimits(path: path, config)
        // Every layer needs its nine tensors: a config claiming more layers than the files hold
        // tensors is refused before a key list sized by it is built.
        guard config.nLayers * TensorRole.layerRoles.count <= found.count else {
            throw ConfigError.badValue(path: path, key: "n_layers",
                                       problem: "\(config.nLayers) layers, but the files hold only \(found.count) tensors")
        }
        var keys: [TensorKey] = []
        if config.ropeScaling != nil { keys.append(TensorKey(role: .ropeFreqs, layer: nil)) }
        keys.append(TensorKey(role: .tokenEmbedding, layer: nil))
        for layer in 0 ..< config.nLayers {
            keys += TensorRole.layerRoles.map { TensorKey(role: $0, layer: layer) }
        }
        keys.append(TensorKey(role: .outputNorm, layer: nil))
        if !config.tiedEmbeddings { keys.append(TensorKey(role: .output, layer: nil)) }

        for key in found.keys where key.layer.map({ $0 >= config.nLayers }) ?? false {
            throw ConfigError.unexpectedTensor(path: path, tensor: name(key) + " (layer \(key.layer!) of \(config.nLayers))")
        }
        var tensors: [CanonicalTensor] = []
        for key in keys {
            let source: any TensorSource
            if key.role == .ropeFreqs, found[key] == nil, let scaling = config.ropeScaling {
                source = OwnedTensor(floats: scaling.divisors(headDim: config.headDim, theta: config.ropeTheta),
                                     shape: [config.headDim / 2], origin: "derived from rope scaling")
            } else {
                guard let s = found[key] else { throw ConfigError.missingTensor(path: path, tensor: name(key)) }
                source = s
            }
            let expected = expectedShape(key.role, config)
            guard source.shape == expected else {
                throw ConfigError.shapeMismatch(path: path, tensor: name(key), expected: expected, found: source.shape)
            }
            tensors.append(CanonicalTensor(role: key.role, layer: key.layer, source: source))
        }
        return tensors
    }

    /// Upper bounds far above any real Llama, so that products of dimensions cannot overflow.
    static let maxDimension = 1 << 24
    static let maxLayers = 1 << 12

    static func checkLimits(path: String, _ c: ModelConfig) throws {
        let dims = [("vocab_size", c.vocabSize), ("dim", c.dim), ("n_heads", c.nHeads), ("n_kv_heads", c.nKVHeads),
                    ("head_dim", c.headDim), ("ffn_dim", c.ffnDim)]
        for (key, value) in dims where value < 1 || value > maxDimension {
            throw ConfigError.badValue(path: path, key: key, problem: "\(value) is outside 1...\(maxDimension)")
        }
        guard c.nHeads * c.headDim <= maxDimension else {
            throw ConfigError.badValue(path: path, key: "n_heads", problem: "n_heads × head_dim = \(c.nHeads * c.headDim) is above \(maxDimension)")
        }
        guard c.nLayers >= 1, c.nLayers <= maxLayers else {
            throw ConfigError.badValue(path: path, key: "n_layers", problem: "\(c.nLayers) is outside 1...\(maxLayers)")
        }
    }

    /// Q and K rows reordered from HF rotate-half to Meta interleaved, per head.
    static func interleaved(_ source: any TensorSource, heads: Int, path: String, tensor: String) throws -> any TensorSource {
        guard source.shape.count == 2, RopeLayout.fits(rows: source.shape[0], heads: heads) else {
            throw ConfigError.shapeMismatch(path: path, tensor: tensor + " (rows must split into \(heads) even heads)",
                                            expected: [], found: source.shape)
        }
        return RowPermutedTensor(base: source, rowOrder: RopeLayout.rotateHalfToInterleaved(rows: source.shape[0], heads: heads))
    }
}
