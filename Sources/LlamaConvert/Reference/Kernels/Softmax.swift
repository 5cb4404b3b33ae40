import Foundation

/// Softmax in float32, in place: x[i] ← exp(x[i] − max) / Σ exp(x[j] − max), as torch computes it.
enum Softmax {
    static func inPlace(_ x: UnsafeMutablePointer<Float>, count: Int) {
        guard count > 0 else { return }
        var maximum = x[0]
        for i in 1 ..< count where x[i] > maximum { maximum = x[i] }
        var sum: Float = 0
        for i in 0 ..< count {
            let e = expf(x[i] - maximum)
            x[i] = e
            sum += e
        }
        for i in 0 ..< count { x[i] /= sum }
    }
}
