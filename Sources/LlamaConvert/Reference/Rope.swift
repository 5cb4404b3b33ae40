import Foundation

/// Rotary position embedding in Meta's convention: within each head, the adjacent pair
/// (v[2i], v[2i+1]) is one complex number rotated by the angle position·f_i. The graph's wq and wk
/// rows are already in this order (the importers reorder Hugging Face's rotate-half rows).
///
/// Frequencies follow transformers' float32 arithmetic: f_i = 1 / θ^(2i/d), the exponent a float32
/// quotient, the power rounded to float32. Llama 3.1 scaling divides each by its divisor
/// (`RopeScaling.divisors`, computed in Double): f'_i = f_i / divisor_i. The angle is the float32
/// product position·f'_i, and its cosine and sine are rounded to float32.
struct Rope {
    let headDim: Int
    /// f'_i for i < headDim/2.
    let frequencies: [Float]
    /// cos and sin of position·f'_i, one row of headDim/2 per position < maxContext.
    private let cosTable: [Float]
    private let sinTable: [Float]

    init(headDim: Int, theta: Double, scaling: RopeScaling?, maxContext: Int) {
        self.headDim = headDim
        frequencies = Rope.frequencies(headDim: headDim, theta: theta, scaling: scaling)
        let half = headDim / 2
        var cosTable = [Float](repeating: 0, count: maxContext * half)
        var sinTable = [Float](repeating: 0, count: maxContext * half)
        for p in 0 ..< maxContext {
            for i in 0 ..< half {
                let angle = Double(Float(p) * frequencies[i])
                cosTable[p * half + i] = Float(cos(angle))
                sinTable[p * half + i] = Float(sin(angle))
            }
        }
        self.cosTable = cosTable
        self.sinTable = sinTable
    }

    static func frequencies(headDim: Int, theta: Double, scaling: RopeScaling?) -> [Float] {
        let divisors = scaling?.divisors(headDim: headDim, theta: theta)
        return (0 ..< headDim / 2).map { i in
            let exponent = Float(2 * i) / Float(headDim)
            let f = 1 / Float(pow(theta, Double(exponent)))
            return divisors.map { f / $0[i] } ?? f
        }
    }

    /// Rotates `heads` consecutive heads of `v` for position `position` (< maxContext).
    func apply(_ v: UnsafeMutablePointer<Float>, heads: Int, position: Int) {
        let half = headDim / 2
        cosTable.withUnsafeBufferPointer { cosRow in
            sinTable.withUnsafeBufferPointer { sinRow in
                let base = position * half
                for h in 0 ..< heads {
                    let head = v + h * headDim
                    for i in 0 ..< half {
                        let c = cosRow[base + i], s = sinRow[base + i]
                        let re = head[2 * i], im = head[2 * i + 1]
                        head[2 * i] = re * c - im * s
                        head[2 * i + 1] = re * s + im * c
                    }
                }
            }
        }
    }
}
