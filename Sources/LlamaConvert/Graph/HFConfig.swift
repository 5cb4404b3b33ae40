/// Reads a Hugging Face `config.json` of model_type `llama` (transformers 4.x and 5.x keys).
public struct HFConfig: Sendable {
    public var config: ModelConfig
    /// `dtype` (5.x, 4.56+) or `torch_dtype` (older): the storage dtype the file claims.
    public var declaredDType: String?
    /// `LlamaModel` checkpoints have no `model.` prefix and no `lm_head`.
    public var isBareModel: Bool

    public static func read(path: String) throws -> HFConfig {
        try parse(JSONObject.read(path))
    }

    static func parse(_ json: JSONObject) throws -> HFConfig {
        let path = json.path
        if let type = try json.string("model_type"), type != "llama" {
            throw ConfigError.unsupported(path: path, what: "model_type \"\(type)\" (only \"llama\")")
        }
        if let act = try json.string("hidden_act"), act != "silu" {
            throw ConfigError.unsupported(path: path, what: "hidden_act \"\(act)\" (Llama uses silu)")
        }
        for key in ["attention_bias", "mlp_bias"] where try json.bool(key) == true {
            throw ConfigError.unsupported(path: path, what: "\(key) true (bias tensors)")
        }
        let architectures = json.values["architectures"] as? [String] ?? []
        let dim = try json.requiredInt("hidden_size")
        let heads = try json.requiredInt("num_attention_heads")
        let kvHeads = try json.int("num_key_value_heads") ?? heads
        guard kvHeads >= 1, heads % kvHeads == 0 else {
            throw ConfigError.badValue(path: path, key: "num_key_value_heads",
                                       problem: "\(kvHeads) does not divide num_attention_heads \(heads)")
        }
        let headDim = try json.int("head_dim") ?? dim / heads
        guard headDim >= 2, headDim % 2 == 0 else {
            throw ConfigError.badValue(path: path, key: "head_dim", problem: "\(headDim) must be a positive even number")
        }

        // transformers 5 keeps theta and scaling in `rope_parameters`; 4.x has them at top level.
        let ropeParameters = try json.object("rope_parameters")
        let ropeScaling = try json.object("rope_scaling")
        let theta = try ropeParameters?.double("rope_theta") ?? json.double("rope_theta") ?? 10000
        let scaling = try parseScaling(ropeParameters ?? ropeScaling, path: path)

        let config = ModelConfig(
            vocabSize: try json.requiredInt("vocab_size"),
            dim: dim,
            nLayers: try json.requiredInt("num_hidden_layers"),
            nHeads: heads,
            nKVHeads: kvHeads,
            headDim: headDim,
            ffnDim: try json.requiredInt("intermediate_size"),
            normEps: try json.double("rms_norm_eps") ?? 1e-6,
            ropeTheta: theta,
            ropeScaling: scaling,
            tiedEmbeddings: try json.bool("tie_word_embeddings") ?? false,
            contextLength: try json.int("max_position_embeddings") ?? 2048)
        return HFConfig(config: config,
                        declaredDType: try json.string("dtype") ?? json.string("torch_dtype"),
                        isBareModel: architectures == ["LlamaModel"])
    }

    static func parseScaling(_ object: JSONObject?, path: String) throws -> RopeScaling? {
        guard let object else { return nil }
        let type = try object.string("rope_type") ?? object.string("type") ?? "default"
        switch type {
        case "default":
            return nil
        case "llama3":
            func required(_ key: String) throws -> Double {
                guard let value = try object.double(key) else { throw ConfigError.missingKey(path: path, key: "rope_scaling.\(key)") }
                return value
            }
            let scaling = RopeScaling(factor: try required("factor"),
                                      lowFreqFactor: try required("low_freq_factor"),
                                      highFreqFactor: try required("high_freq_factor"),
                                      originalContextLength: Int(try required("original_max_position_embeddings")))
            guard scaling.factor > 0, scaling.highFreqFactor > scaling.lowFreqFactor, scaling.lowFreqFactor > 0,
                  scaling.originalContextLength > 0 else {
                throw ConfigError.badValue(path: path, key: "rope_scaling", problem: "llama3 factors out of range")
            }
            return scaling
        default:
            throw ConfigError.unsupported(path: path, what: "rope type \"\(type)\" (only default and llama3)")
        }
    }
}

/// Reads Meta's `params.json`.
public struct MetaParams: Sendable {
    public var dim: Int
    public var nLayers: Int
    public var nHeads: Int
    public var nKVHeads: Int
    /// nil for `-1` (Llama 1/2): the embedding's rows decide.
    public var vocabSize: Int?
    public var multipleOf: Int
    public var ffnDimMultiplier: Double?
    public var normEps: Double
    public var ropeTheta: Double
    public var useScaledRope: Bool
    /// Keys this reader does not know (reported, not fatal, as llama-models does).
    public var unknownKeys: [String]

    static let knownKeys: Set<String> = ["dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size", "multiple_of",
                                         "ffn_dim_multiplier", "norm_eps", "rope_theta", "use_scaled_rope", "max_seq_len",
                                         "max_batch_size", "rope_scaling_factor", "use_scaled_rope", "vision_chunk_size",
                                         "vision_max_num_chunks", "vision_num_cross_attention_layers"]

    public static func read(path: String) throws -> MetaParams {
        var json = try JSONObject.read(path)
        // Some releases wrap the parameters as {"model": {...}}.
        if json.values["dim"] == nil, let inner = try json.object("model") { json = inner }
        let path = json.path
        let dim = try json.requiredInt("dim")
        let heads = try json.requiredInt("n_heads")
        let kvHeads = try json.int("n_kv_heads") ?? heads
        guard kvHeads >= 1, heads % kvHeads == 0 else {
            throw ConfigError.badValue(path: path, key: "n_kv_heads", problem: "\(kvHeads) does not divide n_heads \(heads)")
        }
        guard dim % heads == 0, (dim / heads) % 2 == 0 else {
            throw ConfigError.badValue(path: path, key: "n_heads", problem: "dim \(dim) is not a whole number of even-sized heads")
        }
        let multipleOf = try json.int("multiple_of") ?? 256
        guard multipleOf >= 1, multipleOf <= 1 << 20 else {
            throw ConfigError.badValue(path: path, key: "multiple_of", problem: "\(multipleOf) is out of range")
        }
        let multiplier = try json.double("ffn_dim_multiplier")
        if let multiplier, !(multiplier > 0 && multiplier <= 64) {
            throw ConfigError.badValue(path: path, key: "ffn_dim_multiplier", problem: "\(multiplier) is out of range")
        }
        guard dim <= 1 << 24 else { throw ConfigError.badValue(path: path, key: "dim", problem: "\(dim) is out of range") }
        let vocab = try json.int("vocab_size")
        if let vocab, vocab != -1, vocab < 1 {
            throw ConfigError.badValue(path: path, key: "vocab_size", problem: "\(vocab) is out of range")
        }
        return MetaParams(
            dim: dim,
            nLayers: try json.requiredInt("n_layers"),
            nHeads: heads,
            nKVHeads: kvHeads,
            vocabSize: vocab == -1 ? nil : vocab,
            multipleOf: multipleOf,
            ffnDimMultiplier: multiplier,
            normEps: try json.double("norm_eps") ?? 1e-5,
            ropeTheta: try json.double("rope_theta") ?? 10000,
            useScaledRope: try json.bool("use_scaled_rope") ?? false,
            unknownKeys: json.values.keys.filter { !knownKeys.contains($0) }.sorted())
    }

    /// FFN width as Meta's `FeedForward` computes it from `4 · dim`.
    public var ffnDim: Int {
        var hidden = Int(Double(2 * 4 * dim) / 3)
        if let ffnDimMultiplier { hidden = Int(ffnDimMultiplier * Double(hidden)) }
        return multipleOf * ((hidden + multipleOf - 1) / multipleOf)
    }

    /// Meta's files do not record a training context; llama.cpp's legacy converter guesses from the
    /// generation's hallmarks, and so do we.
    public var contextLength: Int {
        if useScaledRope { return 131072 }
        if ropeTheta == 500000 { return 8192 }
        if normEps == 1e-5 { return 4096 }
        return 2048
    }
}
