/// The model's weights as views into the graph (llama2.c's `TransformerWeights`): matrices stay in
/// their stored type and place; only the 1-D norm weights are decoded, once.
struct LayerWeights {
    let attnNorm: [Float]   // (dim)
    let wq: StoredMatrix    // (n_heads·head_dim, dim), rows in Meta's interleaved RoPE order
    let wk: StoredMatrix    // (n_kv_heads·head_dim, dim), likewise
    let wv: StoredMatrix    // (n_kv_heads·head_dim, dim)
    let wo: StoredMatrix    // (dim, n_heads·head_dim)
    let ffnNorm: [Float]    // (dim)
    let w1: StoredMatrix    // (ffn, dim), the gate
    let w2: StoredMatrix    // (dim, ffn), down
    let w3: StoredMatrix    // (ffn, dim), up

    var matrices: [StoredMatrix] { [wq, wk, wv, wo, w1, w2, w3] }
}

struct Weights {
    let tokenEmbedding: StoredMatrix  // (vocab, dim)
    let layers: [LayerWeights]        // (layer)
    let outputNorm: [Float]           // (dim)
    let output: StoredMatrix          // (vocab, dim): the embedding itself when tied

    /// `releasesAfterUse`: every matrix hands its mapped pages back after each product.
    init(graph: WeightGraph, shape s: ModelShape, releasesAfterUse: Bool = false) throws {
        let path = graph.path
        func find(_ role: TensorRole, _ layer: Int?) throws -> CanonicalTensor {
            guard let t = graph.tensor(role, layer: layer) else {
                throw ForwardError.missingTensor(path: path, tensor: TensorNames.gguf(role, layer: layer))
            }
            return t
        }
        func matrix(_ role: TensorRole, _ layer: Int?, _ rows: Int, _ cols: Int) throws -> StoredMatrix {
            try matrix(find(role, layer), rows, cols)
        }
        func matrix(_ t: CanonicalTensor, _ rows: Int, _ cols: Int) throws -> StoredMatrix {
            guard t.source.shape == [rows, cols] else {
                throw ForwardError.shapeMismatch(path: path, tensor: t.name, expected: [rows, cols], found: t.source.shape)
            }
            let m = StoredMatrix(name: t.name, source: t.source, releasesAfterUse: releasesAfterUse)
            try Weights.checkDecodable(m, path: path)
            return m
        }
        func vector(_ role: TensorRole, _ layer: Int?) throws -> [Float] {
            let t = try find(role, layer)
            guard t.source.shape == [s.dim] else {
                throw ForwardError.shapeMismatch(path: path, tensor: t.name, expected: [s.dim], found: t.source.shape)
            }
            do { return try t.source.floats() } catch QuantError.unsupportedType {
                throw ForwardError.unsupportedType(path: path, tensor: t.name, type: t.source.type.name)
            }
        }

        tokenEmbedding = try matrix(.tokenEmbedding, nil, s.vocabSize, s.dim)
        layers = try (0 ..< s.nLayers).map { l in
            LayerWeights(attnNorm: try vector(.attnNorm, l),
                         wq: try matrix(.attnQ, l, s.qDim, s.dim),
                         wk: try matrix(.attnK, l, s.kvDim, s.dim),
                         wv: try matrix(.attnV, l, s.kvDim, s.dim),
                         wo: try matrix(.attnOutput, l, s.dim, s.qDim),
                         ffnNorm: try vector(.ffnNorm, l),
                         w1: try matrix(.ffnGate, l, s.ffnDim, s.dim),
                         w2: try matrix(.ffnDown, l, s.dim, s.ffnDim),
                         w3: try matrix(.ffnUp, l, s.ffnDim, s.dim))
        }
        outputNorm = try vector(.outputNorm, nil)
        guard let output = graph.outputProjection else {
            throw ForwardError.missingTensor(path: path, tensor: TensorNames.gguf(.output))
        }
        self.output = try matrix(output, s.vocabSize, s.dim)
    }

    var matrices: [StoredMatrix] {
        [tokenEmbedding, output] + layers.flatMap(\.matrices)
    }

    /// Decodes the first block of row 0, so an unsupported type fails here, naming the tensor,
    /// rather than in the middle of a product.
    private static func checkDecodable(_ m: StoredMatrix, path: String) throws {
        guard m.rows > 0, m.cols > 0 else { return }
        guard m.type.rowBytes(m.cols) != nil else {
            throw ForwardError.shapeMismatch(path: path, tensor: m.name, expected: [m.rows, m.cols / m.type.blockSize * m.type.blockSize],
                                             found: [m.rows, m.cols])
        }
        let count = m.type.blockSize
        let raw = UnsafeMutableRawPointer.allocate(byteCount: m.rowBytes, alignment: 64)
        let floats = UnsafeMutablePointer<Float>.allocate(capacity: count)
        defer { raw.deallocate(); floats.deallocate() }
        do {
            try m.source.readRows(0 ..< 1, into: UnsafeMutableRawBufferPointer(start: raw, count: m.rowBytes))
            try Decode.run(type: m.type, source: UnsafeRawPointer(raw), count: count, into: floats)
        } catch QuantError.unsupportedType {
            throw ForwardError.unsupportedType(path: path, tensor: m.name, type: m.type.name)
        }
    }
}
