/// Llama 3.1 frequency scaling (`rope_type: llama3`).
public struct RopeScaling: Codable, Equatable, Sendable {
    public var factor: Double
    public var lowFreqFactor: Double
    public var highFreqFactor: Double
    public var originalContextLength: Int

    public init(factor: Double, lowFreqFactor: Double, highFreqFactor: Double, originalContextLength: Int) {
        self.factor = factor
        self.lowFreqFactor = lowFreqFactor
        self.highFreqFactor = highFreqFactor
        self.originalContextLength = originalContextLength
    }

    /// Meta's `apply_scaling` hard-codes these; `params.json` only says `use_scaled_rope`.
    public static let metaLlama31 = RopeScaling(factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalContextLength: 8192)

    enum CodingKeys: String, CodingKey {
        case factor
        case lowFreqFactor = "low_freq_factor"
        case highFreqFactor = "high_freq_factor"
        case originalContextLength = "original_max_position_embeddings"
    }

    /// The per-frequency divisors llama.cpp stores as `rope_freqs.weight`: f'_i = f_i / divisor_i.
    /// Computed in float32 step by step as llama.cpp's converter does it (torch float32 tensors
    /// with Python scalars), so the tensor matches its bytes.
    public func divisors(headDim: Int, theta: Double) -> [Float] {
        let lowWavelength = Double(originalContextLength) / lowFreqFactor
        let highWavelength = Double(originalContextLength) / highFreqFactor
        let context = Float(originalContextLength), low = Float(lowFreqFactor), high = Float(highFreqFactor)
        let factor = Float(self.factor)
        return (0 ..< headDim / 2).map { i in
            let exponent = Float(2 * i) / Float(headDim)
            let freq = 1 / powf(Float(theta), exponent)
            let wavelength = Float(2 * Double.pi) / freq
            if Double(wavelength) < highWavelength { return 1 }
            if Double(wavelength) > lowWavelength { return factor }
            let smooth = (context / wavelength - low) / (high - low)
            return 1 / ((1 - smooth) / factor + smooth)
        }
    }
}

/// The hyperparameters of a Llama model, whatever the source format.
public struct ModelConfig: Codable, Equatable, Sendable {
    public var vocabSize: Int
    public var dim: Int
    public var nLayers: Int
    public var nHeads: Int
    public var nKVHeads: Int
    public var headDim: Int
    public var ffnDim: Int
    public var normEps: Double
    public var ropeTheta: Double
    public var ropeScaling: RopeScaling?
    public var tiedEmbeddings: Bool
    public var contextLength: Int

    public init(vocabSize: Int, dim: Int, nLayers: Int, nHeads: Int, nKVHeads: Int, headDim: Int, ffnDim: Int,
                normEps: Double, ropeTheta: Double, ropeScaling: RopeScaling?, tiedEmbeddings: Bool, contextLength: Int) {
        self.vocabSize = vocabSize
        self.dim = dim
        self.nLayers = nLayers
        self.nHeads = nHeads
        self.nKVHeads = nKVHeads
        self.headDim = headDim
        self.ffnDim = ffnDim
        self.normEps = normEps
        self.ropeTheta = ropeTheta
        self.ropeScaling = ropeScaling
        self.tiedEmbeddings = tiedEmbeddings
        self.contextLength = contextLength
    }

    enum CodingKeys: String, CodingKey {
        case vocabSize = "vocab_size", dim, nLayers = "n_layers", nHeads = "n_heads", nKVHeads = "n_kv_heads"
        case headDim = "head_dim", ffnDim = "ffn_dim", normEps = "norm_eps", ropeTheta = "rope_theta"
        case ropeScaling = "rope_scaling", tiedEmbeddings = "tied_embeddings", contextLength = "context_length"
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(vocabSize, forKey: .vocabSize)
        try c.encode(dim, forKey: .dim)
        try c.encode(nLayers, forKey: .nLayers)
        try c.encode(nHeads, forKey: .nHeads)
        try c.encode(nKVHeads, forKey: .nKVHeads)
        try c.encode(headDim, forKey: .headDim)
        try c.encode(ffnDim, forKey: .ffnDim)
        try c.encode(normEps, forKey: .normEps)
        try c.encode(ropeTheta, forKey: .ropeTheta)
        // Present as null when absent: scripts read a fixed set of keys.
        if let ropeScaling { try c.encode(ropeScaling, forKey: .ropeScaling) } else { try c.encodeNil(forKey: .ropeScaling) }
        try c.encode(tiedEmbeddings, forKey: .tiedEmbeddings)
        try c.encode(contextLength, forKey: .contextLength)
    }

    /// Query rows (`n_heads · head_dim`) and KV rows (`n_kv_heads · head_dim`).
    public var qDim: Int { nHeads * headDim }
    public var kvDim: Int { nKVHeads * headDim }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
