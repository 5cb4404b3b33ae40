import Foundation

/// The Llama reference forward pass over a `WeightGraph`, in float32, following llama2.c's
/// `forward()`. It reads the weights in their stored type straight from the graph's tensors
/// (mapped files, views), so the same code checks a source checkpoint and a converted one.
///
/// Nearly all the time goes to `MatMul` (seven products per layer plus the output projection);
/// attention is small next to it for the short sequences a parity check uses.
///
/// A `Transformer` holds one sequence: `logits(tokens:)` appends to it, `reset()` starts over.
/// It is not safe to use from two threads at once.
public final class Transformer {
    public let shape: ModelShape
    private let path: String
    private let weights: Weights
    private let rope: Rope
    private let state: RunState
    private let pool: WorkerPool

    /// Tokens processed together in one pass over the weights.
    public static let batchCapacity = 64

    /// - Parameters:
    ///   - threads: worker count; 1 runs everything on the calling thread.
    ///   - maxContext: KV cache length; nil takes the model's context, at most
    ///     `ModelShape.defaultMaxContext`.
    ///   - releasingWeightsAfterUse: see `releasesWeightsAfterUse`.
    public init(graph: WeightGraph, threads: Int = ProcessInfo.processInfo.activeProcessorCount,
                maxContext: Int? = nil, releasingWeightsAfterUse: Bool = false) throws {
        path = graph.path
        releasesWeightsAfterUse = releasingWeightsAfterUse
        shape = try ModelShape(config: graph.config, maxContext: maxContext, path: graph.path)
        weights = try Weights(graph: graph, shape: shape, releasesAfterUse: releasingWeightsAfterUse)
        rope = Rope(headDim: shape.headDim, theta: graph.config.ropeTheta, scaling: graph.config.ropeScaling,
                    maxContext: shape.maxContext)
        state = RunState(shape: shape, batchCapacity: min(Transformer.batchCapacity, shape.maxContext),
                         embeddingRowBytes: weights.tokenEmbedding.rowBytes)
        pool = WorkerPool(threads: threads, scratchBytesPerSlot: weights.matrices.map(MatMul.scratchBytes).max() ?? 0)
    }

    /// Positions already processed.
    public var position: Int { state.position }

    /// Whether each matrix hands its mapped pages back after every product (MADV_DONTNEED: the
    /// page cache keeps them, resident memory drops). For one-pass uses, the built-in check above
    /// all, so the peak is about one matrix rather than the whole model; a later pass maps the
    /// pages again from the cache.
    public let releasesWeightsAfterUse: Bool

    /// Forgets the sequence: the next token is at position 0.
    public func reset() { state.position = 0 }

    /// Appends `tokens` to the sequence and returns the logits after each of them (one row of
    /// `vocabSize` per token), processing them in batches of `batchCapacity`.
    public func logits(tokens: [Int]) throws -> [[Float]] {
        var rows: [[Float]] = []
        rows.reserveCapacity(tokens.count)
        try run(tokens) { b in
            rows.append(Array(UnsafeBufferPointer(start: state.logits + b * shape.vocabSize, count: shape.vocabSize)))
        }
        return rows
    }

    /// Wall-clock times of the last `generateGreedy`.
    public struct GenerationTimings: Sendable {
        /// The prompt's pass (which also yields the first generated token).
        public var promptSeconds: Double
        public var promptTokens: Int
        /// The passes for the other generated tokens, one token each.
        public var generationSeconds: Double
        public var generatedTokens: Int
    }

    /// Set by `generateGreedy`.
    public private(set) var lastTimings: GenerationTimings?

    /// Starts a new sequence with `prompt`, then appends `count` tokens, each the argmax of the
    /// logits so far (ties go to the lowest id). Returns the `count` new tokens.
    public func generateGreedy(prompt: [Int], count: Int) throws -> [Int] {
        reset()
        lastTimings = nil
        guard count > 0 else { return [] }
        guard !prompt.isEmpty else {
            throw ForwardError.invalidConfig(path: path, problem: "greedy generation needs a prompt of at least one token")
        }
        try checkRoom(prompt.count + count - 1)
        let start = DispatchTime.now().uptimeNanoseconds
        var next = try lastArgmax(prompt)
        let promptDone = DispatchTime.now().uptimeNanoseconds
        var generated = [next]
        while generated.count < count {
            next = try lastArgmax([next])
            generated.append(next)
        }
        let end = DispatchTime.now().uptimeNanoseconds
        lastTimings = GenerationTimings(promptSeconds: Double(promptDone - start) / 1e9, promptTokens: prompt.count,
                                        generationSeconds: Double(end - promptDone) / 1e9, generatedTokens: count - 1)
        return generated
    }

    private func lastArgmax(_ tokens: [Int]) throws -> Int {
        var best = 0
        try run(tokens, onlyLast: true) { b in
            let row = state.logits + b * shape.vocabSize
            for i in 1 ..< shape.vocabSize where row[i] > row[best] { best = i }
        }
        return best
    }

    private func checkRoom(_ needed: Int) throws {
        guard needed <= shape.maxContext else {
            throw ForwardError.contextFull(path: path, needed: needed, maxContext: shape.maxContext)
        }
    }

    /// Runs `tokens` in batches; after each batch calls `emit(row)` for each row of `state.logits`
    /// computed (one per token, or only the sequence's last with `onlyLast`), in token order.
    private func run(_ tokens: [Int], onlyLast: Bool = false, emit: (Int) -> Void) throws {
        try checkRoom(state.position + tokens.count)
        for (i, token) in tokens.enumerated() where !(0 ..< shape.vocabSize).contains(token) {
            throw ForwardError.tokenOutOfRange(path: path, index: i, token: token, vocabSize: shape.vocabSize)
        }
        var done = 0
        while done < tokens.count {
            let batch = min(state.batchCapacity, tokens.count - done)
            let isLast = done + batch == tokens.count
            let logitRows = onlyLast ? (isLast ? batch - 1 ..< batch : batch ..< batch) : 0 ..< batch
            try forward(tokens[done ..< done + batch], logitRows: logitRows)
            for row in 0 ..< logitRows.count { emit(row) }
            done += batch
        }
    }

    /// One pass over the weights for `tokens` at the next positions. Logits are computed only for
    /// the batch rows `logitRows`, into rows 0 ..< logitRows.count of `state.logits`.
    private func forward(_ tokens: ArraySlice<Int>, logitRows: Range<Int>) throws {
        let s = shape, w = weights, st = state
        let batch = tokens.count, start = st.position

        // x (batch, dim): the tokens' embedding rows
        for (b, token) in tokens.enumerated() {
            try w.tokenEmbedding.decodeRow(token, into: st.x + b * s.dim, scratch: st.embeddingRow)
        }

        for (l, layer) in w.layers.enumerated() {
            // x += wo · attention(rope(wq · norm(x)), rope(wk · norm(x)), wv · norm(x))
            RMSNorm.apply(st.xb, st.x, weight: layer.attnNorm, rows: batch, count: s.dim, eps: s.normEps)
            try Attention.run(layer, layer: l, start: start, batch: batch, shape: s, rope: rope, state: st, pool: pool)
            st.addDelta(rows: batch, dim: s.dim)

            // x += w2 · (silu(w1 · norm(x)) ⊙ w3 · norm(x))
            RMSNorm.apply(st.xb, st.x, weight: layer.ffnNorm, rows: batch, count: s.dim, eps: s.normEps)
            try FeedForward.run(layer, batch: batch, shape: s, state: st, pool: pool)
            st.addDelta(rows: batch, dim: s.dim)
        }
        st.position += batch

        // logits (rows, vocab) = norm(x) · outputᵀ, for the rows asked for
        guard !logitRows.isEmpty else { return }
        let first = st.x + logitRows.lowerBound * s.dim
        RMSNorm.apply(st.xb, first, weight: w.outputNorm, rows: logitRows.count, count: s.dim, eps: s.normEps)
        try MatMul.run(w.output, x: st.xb, xStride: s.dim, batch: logitRows.count, y: st.logits,
                       yStride: s.vocabSize, pool: pool)
    }
}
