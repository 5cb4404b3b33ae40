import Foundation

/// RMSNorm as transformers' `LlamaRMSNorm` and Meta's `RMSNorm` compute it in float32:
/// out = weight · (x · 1/√(mean(x²) + eps)).
enum RMSNorm {
    /// Normalises `rows` rows of `count` floats from `x` into `out` (which may equal `x`).
    static func apply(_ out: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, weight: [Float],
                      rows: Int, count: Int, eps: Float) {
        weight.withUnsafeBufferPointer { w in
            for r in 0 ..< rows {
                let row = x + r * count, dst = out + r * count
                let meanSquare = Dot.sumOfSquares(row, count: count) / Float(count)
                let scale = 1 / sqrtf(meanSquare + eps)
                for i in 0 ..< count { dst[i] = w[i] * (row[i] * scale) }
            }
        }
    }
}
