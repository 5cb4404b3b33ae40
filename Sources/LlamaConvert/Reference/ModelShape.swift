/// The dimensions of the forward pass (llama2.c's `Config`), taken from the model config and
/// checked so that every loop bound below is consistent.
public struct ModelShape: Sendable, Equatable {
    /// Width of the residual stream.
    public let dim: Int
    /// Width of the SwiGLU hidden layer.
    public let ffnDim: Int
    public let nLayers: Int
    public let nHeads: Int
    /// Key/value heads: `nHeads` (MHA), a divisor of it (GQA), or 1 (MQA).
    public let nKVHeads: Int
    public let headDim: Int
    public let vocabSize: Int
    /// Positions the KV cache holds.
    public let maxContext: Int
    /// RMSNorm epsilon in float32, as torch adds it to a float32 tensor.
    public let normEps: Float

    /// Query width `nHeads · headDim`.
    public var qDim: Int { nHeads * headDim }
    /// Key/value width `nKVHeads · headDim`.
    public var kvDim: Int { nKVHeads * headDim }
    /// Query heads per KV head: query head h reads KV head h / kvGroup.
    public var kvGroup: Int { nHeads / nKVHeads }

    /// The KV cache length used when the caller gives none: the model's context, at most this.
    public static let defaultMaxContext = 2048

    public init(config: ModelConfig, maxContext: Int?, path: String) throws {
        func require(_ ok: Bool, _ problem: @autoclosure () -> String) throws {
            if !ok { throw ForwardError.invalidConfig(path: path, problem: problem()) }
        }
        try require(config.dim > 0 && config.ffnDim > 0 && config.nLayers > 0 && config.vocabSize > 0,
                    "dim \(config.dim), ffn \(config.ffnDim), layers \(config.nLayers) and vocab \(config.vocabSize) must be positive")
        try require(config.nHeads > 0 && config.nKVHeads > 0 && config.nHeads % config.nKVHeads == 0,
                    "\(config.nHeads) query heads are not a multiple of \(config.nKVHeads) KV heads")
        try require(config.headDim > 0 && config.headDim % 2 == 0, "head size \(config.headDim) is not even and positive")
        try require(config.normEps > 0 && config.normEps.isFinite, "norm eps \(config.normEps) is not positive")
        try require(config.ropeTheta > 0 && config.ropeTheta.isFinite, "rope theta \(config.ropeTheta) is not positive")
        let context = maxContext ?? min(max(config.contextLength, 1), ModelShape.defaultMaxContext)
        try require(context > 0, "context length \(context) is not positive")
        dim = config.dim
        ffnDim = config.ffnDim
        nLayers = config.nLayers
        nHeads = config.nHeads
        nKVHeads = config.nKVHeads
        headDim = config.headDim
        vocabSize = config.vocabSize
        self.maxContext = context
        normEps = Float(config.normEps)
    }
}
