/// `Transformer`'s forward pass for one batch of tokens from position 0, run as its weights
/// arrive rather than from a whole graph: a conversion hands it each tensor in the order it writes
/// them (`TensorRole.layerRoles` within a layer: norm, q, k, v, o, norm, gate, up, down) and each
/// matrix in consecutive ranges of rows, and every range is multiplied at once, while its rows are
/// in cache. That order is the order of the computation, so no tensor is ever kept: a matrix's
/// input is ready before its first rows come, and its output is complete after its last.
///
/// Each step is the one `Transformer` runs (the same norms, products, rotation and attention on
/// the same buffers), and a product over a range of rows gives those rows the bits a whole-matrix
/// product gives them (`MatMul`'s determinism), so the logits are exactly `Transformer`'s.
final class IncrementalForward {
    let shape: ModelShape
    let tokens: [Int]
    private let config: ModelConfig
    private let path: String
    private let rope: Rope
    private let state: RunState
    private let pool: WorkerPool
    /// The tensor being fed and the rows of it done so far; the next tensor must be the next in order.
    private var current: (role: TensorRole, layer: Int?)?
    private var rowsDone = 0
    private var finished = false

    /// - Parameters:
    ///   - path: names the model in errors.
    ///   - pool: shared with other passes run alongside (the check runs two), never used concurrently.
    init(config: ModelConfig, path: String, tokens: [Int], pool: WorkerPool) throws {
        precondition(!tokens.isEmpty && tokens.count <= Transformer.batchCapacity)
        self.path = path
        self.config = config
        self.tokens = tokens
        self.pool = pool
        shape = try ModelShape(config: config, maxContext: tokens.count, path: path)
        for (i, token) in tokens.enumerated() where !(0 ..< shape.vocabSize).contains(token) {
            throw ForwardError.tokenOutOfRange(path: path, index: i, token: token, vocabSize: shape.vocabSize)
        }
        rope = Rope(headDim: shape.headDim, theta: config.ropeTheta, scaling: config.ropeScaling, maxContext: tokens.count)
        // The embedding row scratch fits a row of any stored type (F32 is the widest).
        state = RunState(shape: shape, batchCapacity: tokens.count, embeddingRowBytes: GGMLType.f32.rowBytes(shape.dim) ?? 0)
    }

    /// Whether `role` is one the pass consumes (the RoPE frequency table is not: `Rope` derives it).
    static func consumes(_ role: TensorRole) -> Bool { role != .ropeFreqs }

    /// The shape the pass expects of `role`, PyTorch order: the one the graph was checked against.
    func expectedShape(_ role: TensorRole) -> [Int] { GraphAssembly.expectedShape(role, config) }

    /// Rows `rows` of matrix `role` of layer `layer`, as `part` (a matrix of exactly those rows).
    /// Ranges of one matrix come in order, without gaps, starting at 0.
    func take(_ role: TensorRole, layer: Int?, rows: Range<Int>, part: StoredMatrix) throws {
        let expected = expectedShape(role)
        guard expected.count == 2, part.cols == expected[1], part.rows == rows.count, rows.upperBound <= expected[0] else {
            throw ForwardError.shapeMismatch(path: path, tensor: part.name, expected: expected, found: [rows.upperBound, part.cols])
        }
        try advance(to: role, layer: layer, rows: rows, name: part.name)
        let s = shape, st = state, batch = tokens.count, r0 = rows.lowerBound
        let l = layer ?? 0
        switch role {
        case .tokenEmbedding:
            for (b, token) in tokens.enumerated() where rows.contains(token) {
                try part.decodeRow(token - r0, into: st.x + b * s.dim, scratch: st.embeddingRow)
            }
        case .attnQ:
            try MatMul.run(part, x: st.xb, xStride: s.dim, batch: batch, y: st.q + r0, yStride: s.qDim, pool: pool)
        case .attnK:
            try MatMul.run(part, x: st.xb, xStride: s.dim, batch: batch,
                           y: Attention.keys(st, layer: l, start: 0, shape: s) + r0, yStride: s.kvDim, pool: pool)
        case .attnV:
            try MatMul.run(part, x: st.xb, xStride: s.dim, batch: batch,
                           y: Attention.values(st, layer: l, start: 0, shape: s) + r0, yStride: s.kvDim, pool: pool)
            if rowsDone == expected[0] {
                Attention.rotateAndAttend(layer: l, start: 0, batch: batch, shape: s, rope: rope, state: st, pool: pool)
            }
        case .attnOutput:
            try MatMul.run(part, x: st.attended, xStride: s.qDim, batch: batch, y: st.delta + r0, yStride: s.dim, pool: pool)
            if rowsDone == expected[0] { st.addDelta(rows: batch, dim: s.dim) }
        case .ffnGate:
            try MatMul.run(part, x: st.xb, xStride: s.dim, batch: batch, y: st.gate + r0, yStride: s.ffnDim, pool: pool)
        case .ffnUp:
            try MatMul.run(part, x: st.xb, xStride: s.dim, batch: batch, y: st.up + r0, yStride: s.ffnDim, pool: pool)
            if rowsDone == expected[0] { FeedForward.swiGLU(gate: st.gate, up: st.up, count: batch * s.ffnDim) }
        case .ffnDown:
            try MatMul.run(part, x: st.gate, xStride: s.ffnDim, batch: batch, y: st.delta + r0, yStride: s.dim, pool: pool)
            if rowsDone == expected[0] { st.addDelta(rows: batch, dim: s.dim) }
        case .output:
            try MatMul.run(part, x: st.xb, xStride: s.dim, batch: batch, y: st.logits + r0, yStride: s.vocabSize, pool: pool)
            if rowsDone == expected[0] { finished = true }
        case .attnNorm, .ffnNorm, .outputNorm, .ropeFreqs:
            preconditionFailure("IncrementalForward: \(role) is a vector")
        }
    }

    /// A norm's weight (`attnNorm`, `ffnNorm`, `outputNorm`): normalises the residual stream for
    /// the sublayer (or the output projection) that follows.
    func take(_ role: TensorRole, layer: Int?, vector: [Float], name: String) throws {
        guard [.attnNorm, .ffnNorm, .outputNorm].contains(role), vector.count == shape.dim else {
            throw ForwardError.shapeMismatch(path: path, tensor: name, expected: expectedShape(role), found: [vector.count])
        }
        try advance(to: role, layer: layer, rows: 0 ..< 1, name: name)
        RMSNorm.apply(state.xb, state.x, weight: vector, rows: tokens.count, count: shape.dim, eps: shape.normEps)
    }

    /// The logits after each token (one row of `vocabSize` per token), once the output projection
    /// has been fed whole.
    func logits() throws -> [[Float]] {
        guard finished else {
            throw ForwardError.missingTensor(path: path, tensor: TensorNames.gguf(.output))
        }
        return (0 ..< tokens.count).map { b in
            Array(UnsafeBufferPointer(start: state.logits + b * shape.vocabSize, count: shape.vocabSize))
        }
    }

    /// Moves the cursor to `rows` of (`role`, `layer`), refusing anything out of order: a tensor
    /// before the one it depends on would compute garbage without a word.
    private func advance(to role: TensorRole, layer: Int?, rows: Range<Int>, name: String) throws {
        if let current, current.role == role, current.layer == layer, rowsDone < total(role) {
            guard rows.lowerBound == rowsDone else { throw outOfOrder(name, "rows \(rows) after \(rowsDone) rows") }
        } else {
            if let current, rowsDone < total(current.role) {
                throw outOfOrder(TensorNames.gguf(current.role, layer: current.layer), "ends after \(rowsDone) rows")
            }
            guard rows.lowerBound == 0, isNext(role, layer) else {
                throw outOfOrder(name, "comes after \(current.map { TensorNames.gguf($0.role, layer: $0.layer) } ?? "nothing")")
            }
            current = (role, layer)
            rowsDone = 0
        }
        rowsDone = rows.upperBound
    }

    /// Rows of `role` as the cursor counts them: a vector is one.
    private func total(_ role: TensorRole) -> Int {
        let expected = expectedShape(role)
        return expected.count == 1 ? 1 : expected[0]
    }

    /// Whether (`role`, `layer`) may follow the completed tensor `current`.
    private func isNext(_ role: TensorRole, _ layer: Int?) -> Bool {
        let roles = TensorRole.layerRoles
        guard let current else { return role == .tokenEmbedding && layer == nil }
        switch (current.role, current.layer) {
        case (.tokenEmbedding, nil):
            return layer == 0 && role == roles[0]
        case let (last, l?) where last == roles.last!:
            return l + 1 < shape.nLayers ? (layer == l + 1 && role == roles[0]) : (role == .outputNorm && layer == nil)
        case let (r, l?):
            guard let i = roles.firstIndex(of: r), i + 1 < roles.count else { return false }
            return layer == l && role == roles[i + 1]
        case (.outputNorm, nil):
            return role == .output && layer == nil
        default:
            return false
        }
    }

    private func outOfOrder(_ name: String, _ problem: String) -> ForwardError {
        .invalidConfig(path: path, problem: "tensor \(name) \(problem): the check needs the tensors in the order of the computation")
    }
}
