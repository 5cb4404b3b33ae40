/// Where a model came from.
public enum SourceFormat: String, Codable, Sendable {
    case safetensors
    case metaPth = "meta-pth"
    case gguf
}

/// One tensor of the canonical graph: its role, layer and GGUF name, and a lazy source already in
/// the layout llama.cpp's arch `llama` expects (Meta's interleaved Q/K rows).
public struct CanonicalTensor: Sendable {
    public let role: TensorRole
    public let layer: Int?
    public let source: any TensorSource

    public init(role: TensorRole, layer: Int?, source: any TensorSource) {
        self.role = role
        self.layer = layer
        self.source = source
    }

    public var name: String { TensorNames.gguf(role, layer: layer) }
}

/// A Llama model described once, whatever the source: the config and the tensors by role.
public struct WeightGraph: Sendable {
    public var format: SourceFormat
    /// The file or folder that was opened.
    public var path: String
    public var config: ModelConfig
    /// In canonical order: embedding, each block's tensors in `TensorRole.layerRoles` order, final
    /// norm, output.
    public var tensors: [CanonicalTensor]
    /// Tokenizer files found beside the weights (full paths).
    public var tokenizerFiles: [String]
    /// Notes the importer wants the user to see (ignored tensors, warnings).
    public var notes: [String]

    public init(format: SourceFormat, path: String, config: ModelConfig, tensors: [CanonicalTensor],
                tokenizerFiles: [String] = [], notes: [String] = []) {
        self.format = format
        self.path = path
        self.config = config
        self.tensors = tensors
        self.tokenizerFiles = tokenizerFiles
        self.notes = notes
    }

    public func tensor(_ role: TensorRole, layer: Int? = nil) -> CanonicalTensor? {
        tensors.first { $0.role == role && $0.layer == layer }
    }

    /// The output projection: `output` or, with tied embeddings, the token embedding.
    public var outputProjection: CanonicalTensor? {
        tensor(.output) ?? tensor(.tokenEmbedding)
    }

    public var parameterCount: Int { tensors.reduce(0) { $0 + $1.source.elementCount } }
    public var byteCount: Int { tensors.reduce(0) { $0 + $1.source.byteCount } }
}
