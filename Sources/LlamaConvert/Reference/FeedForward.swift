import Foundation

/// The SwiGLU feed-forward sublayer: delta = w2 · (silu(w1 · x) ⊙ (w3 · x)).
enum FeedForward {
    static func run(_ w: LayerWeights, batch: Int, shape s: ModelShape, state: RunState, pool: WorkerPool) throws {
        // gate and up (batch, ffn)
        try MatMul.run(w.w1, x: state.xb, xStride: s.dim, batch: batch, y: state.gate, yStride: s.ffnDim, pool: pool)
        try MatMul.run(w.w3, x: state.xb, xStride: s.dim, batch: batch, y: state.up, yStride: s.ffnDim, pool: pool)
        swiGLU(gate: state.gate, up: state.up, count: batch * s.ffnDim)
        // delta (batch, dim) = gate · w2ᵀ
        try MatMul.run(w.w2, x: state.gate, xStride: s.ffnDim, batch: batch, y: state.delta, yStride: s.dim, pool: pool)
    }

    /// gate[i] ← silu(gate[i]) · up[i], silu(x) = x · σ(x) = x / (1 + e^(−x)), in float32.
    static func swiGLU(gate: UnsafeMutablePointer<Float>, up: UnsafePointer<Float>, count: Int) {
        for i in 0 ..< count {
            let g = gate[i]
            gate[i] = g / (1 + expf(-g)) * up[i]
        }
    }
}
