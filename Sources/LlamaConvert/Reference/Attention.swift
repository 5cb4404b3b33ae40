import Foundation

/// The attention sublayer: causal grouped-query attention over the KV cache.
///
/// Query head h reads KV head h / (n_heads / n_kv_heads): every head its own (MHA), groups of
/// query heads sharing one (GQA), or all sharing a single one (MQA). Scores are q·k scaled by
/// 1/√head_dim, and the softmax runs in float32, as transformers does.
enum Attention {
    /// delta = wo · attention(x_normed) for `batch` tokens at positions start ..< start + batch.
    /// Writes the batch's keys and values into layer `layer` of the cache.
    static func run(_ w: LayerWeights, layer: Int, start: Int, batch: Int, shape s: ModelShape,
                    rope: Rope, state: RunState, pool: WorkerPool) throws {
        // q (batch, q_dim), k and v (batch, kv_dim), written straight into the cache.
        try MatMul.run(w.wq, x: state.xb, xStride: s.dim, batch: batch, y: state.q, yStride: s.qDim, pool: pool)
        try MatMul.run(w.wk, x: state.xb, xStride: s.dim, batch: batch, y: keys(state, layer: layer, start: start, shape: s),
                       yStride: s.kvDim, pool: pool)
        try MatMul.run(w.wv, x: state.xb, xStride: s.dim, batch: batch, y: values(state, layer: layer, start: start, shape: s),
                       yStride: s.kvDim, pool: pool)
        rotateAndAttend(layer: layer, start: start, batch: batch, shape: s, rope: rope, state: state, pool: pool)
        // delta (batch, dim) = attended · woᵀ
        try MatMul.run(w.wo, x: state.attended, xStride: s.qDim, batch: batch, y: state.delta, yStride: s.dim, pool: pool)
    }

    /// Layer `layer`'s cache rows for positions start ..., (batch, kv_dim): where wk's product goes.
    static func keys(_ state: RunState, layer: Int, start: Int, shape s: ModelShape) -> UnsafeMutablePointer<Float> {
        state.keyCache + (layer * s.maxContext + start) * s.kvDim
    }

    /// Likewise for wv's product.
    static func values(_ state: RunState, layer: Int, start: Int, shape s: ModelShape) -> UnsafeMutablePointer<Float> {
        state.valueCache + (layer * s.maxContext + start) * s.kvDim
    }

    /// With q, k and v of the batch in place: rotates q and k to their positions, then attends.
    static func rotateAndAttend(layer: Int, start: Int, batch: Int, shape s: ModelShape, rope: Rope,
                                state: RunState, pool: WorkerPool) {
        let keys = keys(state, layer: layer, start: start, shape: s)
        for b in 0 ..< batch {
            rope.apply(state.q + b * s.qDim, heads: s.nHeads, position: start + b)
            rope.apply(keys + b * s.kvDim, heads: s.nKVHeads, position: start + b)
        }
        // attended (batch, q_dim): one (token, head) pair per work item.
        attend(state: state, layer: layer, start: start, batch: batch, shape: s, pool: pool)
    }

    /// attended[b, h] = Σ_{t ≤ start+b} softmax_t(q[b,h]·k[t, h/group] · scale) · v[t, h/group].
    static func attend(state: RunState, layer: Int, start: Int, batch: Int, shape s: ModelShape, pool: WorkerPool) {
        let hd = s.headDim, kvDim = s.kvDim, group = s.kvGroup, maxContext = s.maxContext
        let scale = Float(1 / Double(hd).squareRoot())
        let keys = UnsafePointer(state.keyCache + layer * maxContext * kvDim)     // (max_context, kv_dim)
        let values = UnsafePointer(state.valueCache + layer * maxContext * kvDim) // (max_context, kv_dim)
        let q = UnsafePointer(state.q)
        // Item i = (token b, head h) writes scores[b, h, :] and attended[b, h·hd ..< (h+1)·hd] only.
        let scores = SharedPointer(state.scores), out = SharedPointer(state.attended)
        let items = batch * s.nHeads
        pool.forEachRange(items, grain: max(1, 4096 / ((start + batch) * hd))) { range, _ in
            for item in range {
                let b = item / s.nHeads, h = item % s.nHeads
                let visible = start + b + 1 // causal: positions 0 ... start + b
                let query = q + b * s.qDim + h * hd
                let kvOffset = (h / group) * hd
                let att = scores.base + item * maxContext
                for t in 0 ..< visible {
                    att[t] = Dot.f32(query, keys + t * kvDim + kvOffset, count: hd) * scale
                }
                Softmax.inPlace(att, count: visible)
                let dst = out.base + b * s.qDim + h * hd
                dst.update(repeating: 0, count: hd)
                for t in 0 ..< visible {
                    Dot.addScaled(dst, att[t], values + t * kvDim + kvOffset, count: hd)
                }
            }
        }
    }
}
