/// Every activation buffer and the KV cache, allocated once (llama2.c's `RunState`), so a forward
/// pass allocates nothing. Activations hold one row per token of the batch being processed.
final class RunState {
    /// Tokens processed together: a longer prompt goes through in chunks of this many.
    let batchCapacity: Int

    let x: UnsafeMutablePointer<Float>       // (batch, dim) the residual stream
    let xb: UnsafeMutablePointer<Float>      // (batch, dim) normalised input of a sublayer
    let delta: UnsafeMutablePointer<Float>   // (batch, dim) a sublayer's output, added to x
    let q: UnsafeMutablePointer<Float>       // (batch, n_heads·head_dim) queries
    let attended: UnsafeMutablePointer<Float> // (batch, n_heads·head_dim) attention output, before wo
    let scores: UnsafeMutablePointer<Float>  // (batch, n_heads, max_context) attention weights
    let gate: UnsafeMutablePointer<Float>    // (batch, ffn) w1·x, then silu(w1·x)·(w3·x)
    let up: UnsafeMutablePointer<Float>      // (batch, ffn) w3·x
    let logits: UnsafeMutablePointer<Float>  // (batch, vocab)
    let keyCache: UnsafeMutablePointer<Float>   // (layer, max_context, n_kv_heads·head_dim)
    let valueCache: UnsafeMutablePointer<Float> // (layer, max_context, n_kv_heads·head_dim)
    /// One stored row of the embedding, when it has to be read through `readRows`.
    let embeddingRow: UnsafeMutableRawPointer

    /// Positions already in the KV cache.
    var position = 0

    private var allocations: [(UnsafeMutablePointer<Float>, Int)] = []

    init(shape s: ModelShape, batchCapacity: Int, embeddingRowBytes: Int) {
        self.batchCapacity = batchCapacity
        let b = batchCapacity
        func buffer(_ count: Int) -> UnsafeMutablePointer<Float> {
            let p = UnsafeMutablePointer<Float>.allocate(capacity: max(count, 1))
            p.initialize(repeating: 0, count: max(count, 1))
            return p
        }
        x = buffer(b * s.dim)
        xb = buffer(b * s.dim)
        delta = buffer(b * s.dim)
        q = buffer(b * s.qDim)
        attended = buffer(b * s.qDim)
        scores = buffer(b * s.nHeads * s.maxContext)
        gate = buffer(b * s.ffnDim)
        up = buffer(b * s.ffnDim)
        logits = buffer(b * s.vocabSize)
        keyCache = buffer(s.nLayers * s.maxContext * s.kvDim)
        valueCache = buffer(s.nLayers * s.maxContext * s.kvDim)
        embeddingRow = UnsafeMutableRawPointer.allocate(byteCount: max(embeddingRowBytes, 1), alignment: 64)
    }

    /// x += delta over the first `rows` rows: a sublayer's output joins the residual stream.
    func addDelta(rows: Int, dim: Int) {
        for i in 0 ..< rows * dim { x[i] += delta[i] }
    }

    deinit {
        for p in [x, xb, delta, q, attended, scores, gate, up, logits, keyCache, valueCache] { p.deallocate() }
        embeddingRow.deallocate()
    }
}
