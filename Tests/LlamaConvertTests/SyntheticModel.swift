import Foundation
@testable import LlamaConvert

/// Tiny random Llama models built in memory, and a straightforward double-precision forward pass
/// to check the reference implementation against.
enum SyntheticModel {
    /// A deterministic generator (64-bit LCG, top bits), so every run builds the same weights.
    struct Random {
        var state: UInt64
        init(seed: UInt64) { state = seed &* 6364136223846793005 &+ 1442695040888963407 }
        mutating func uniform(_ range: ClosedRange<Float>) -> Float {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            let unit = Float(state >> 40) / Float(1 << 24)
            return range.lowerBound + (range.upperBound - range.lowerBound) * unit
        }
        mutating func values(_ count: Int, _ range: ClosedRange<Float>) -> [Float] {
            (0 ..< count).map { _ in uniform(range) }
        }
    }

    static func config(dim: Int = 32, layers: Int = 2, heads: Int = 4, kvHeads: Int = 2, ffn: Int = 48,
                       vocab: Int = 40, theta: Double = 10000, scaling: RopeScaling? = nil,
                       tied: Bool = false, context: Int = 64) -> ModelConfig {
        ModelConfig(vocabSize: vocab, dim: dim, nLayers: layers, nHeads: heads, nKVHeads: kvHeads, headDim: dim / heads,
                    ffnDim: ffn, normEps: 1e-5, ropeTheta: theta, ropeScaling: scaling, tiedEmbeddings: tied,
                    contextLength: context)
    }

    /// Llama 3.1-style scaling whose three bands all occur for head size 8 and θ = 100.
    static let scaling = RopeScaling(factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalContextLength: 64)

    /// A tensor of `values` stored as `type`.
    static func tensor(_ values: [Float], shape: [Int], type: GGMLType, name: String) -> OwnedTensor {
        let rowLength = shape.count <= 1 ? (shape.first ?? 1) : shape.dropFirst().reduce(1, *)
        let rows = values.count / rowLength
        let rowBytes = type.rowBytes(rowLength)!
        var bytes = [UInt8](repeating: 0, count: rows * rowBytes)
        bytes.withUnsafeMutableBytes { out in
            values.withUnsafeBufferPointer { v in
                for r in 0 ..< rows {
                    try! RowCodec.quantizeRow(type: type, source: v.baseAddress! + r * rowLength, count: rowLength,
                                              into: out.baseAddress! + r * rowBytes)
                }
            }
        }
        return bytes.withUnsafeBytes { OwnedTensor(type: type, shape: shape, bytes: $0, origin: name) }
    }

    /// A graph of random weights, matrices stored as `type` (norms stay F32).
    static func graph(_ c: ModelConfig, type: GGMLType = .f32, seed: UInt64 = 1) -> WeightGraph {
        var rng = Random(seed: seed)
        var tensors: [CanonicalTensor] = []
        func add(_ role: TensorRole, _ layer: Int?, _ shape: [Int], _ range: ClosedRange<Float>, _ t: GGMLType) {
            let values = rng.values(shape.reduce(1, *), range)
            tensors.append(CanonicalTensor(role: role, layer: layer,
                                           source: tensor(values, shape: shape, type: t, name: TensorNames.gguf(role, layer: layer))))
        }
        let a = 1 / Float(c.dim).squareRoot(), f = 1 / Float(c.ffnDim).squareRoot()
        add(.tokenEmbedding, nil, [c.vocabSize, c.dim], -1 ... 1, type)
        for l in 0 ..< c.nLayers {
            add(.attnNorm, l, [c.dim], 0.8 ... 1.2, .f32)
            add(.attnQ, l, [c.qDim, c.dim], -2 * a ... 2 * a, type)
            add(.attnK, l, [c.kvDim, c.dim], -2 * a ... 2 * a, type)
            add(.attnV, l, [c.kvDim, c.dim], -a ... a, type)
            add(.attnOutput, l, [c.dim, c.qDim], -a ... a, type)
            add(.ffnNorm, l, [c.dim], 0.8 ... 1.2, .f32)
            add(.ffnGate, l, [c.ffnDim, c.dim], -2 * a ... 2 * a, type)
            add(.ffnUp, l, [c.ffnDim, c.dim], -2 * a ... 2 * a, type)
            add(.ffnDown, l, [c.dim, c.ffnDim], -f ... f, type)
        }
        add(.outputNorm, nil, [c.dim], 0.8 ... 1.2, .f32)
        if !c.tiedEmbeddings { add(.output, nil, [c.vocabSize, c.dim], -2 * a ... 2 * a, type) }
        return WeightGraph(format: .safetensors, path: "synthetic", config: c, tensors: tensors)
    }

    /// The same graph with every tensor replaced by `transform(tensor)`.
    static func mapped(_ g: WeightGraph, _ transform: (CanonicalTensor) -> any TensorSource) -> WeightGraph {
        var out = g
        out.tensors = g.tensors.map { CanonicalTensor(role: $0.role, layer: $0.layer, source: transform($0)) }
        return out
    }
}

/// llama2.c's forward pass written as plainly as possible, in Double, over the graph's decoded
/// weights: no batching, no caching tricks, nothing shared with the code under test.
struct NaiveLlama {
    let c: ModelConfig
    let w: [String: [Double]]

    init(_ g: WeightGraph) throws {
        c = g.config
        var w: [String: [Double]] = [:]
        for t in g.tensors { w[t.name] = try t.source.floats().map(Double.init) }
        if w["output.weight"] == nil { w["output.weight"] = w["token_embd.weight"] }
        self.w = w
    }

    func matvec(_ m: [Double], _ x: [Double], rows: Int) -> [Double] {
        let cols = x.count
        return (0 ..< rows).map { r in (0 ..< cols).reduce(0.0) { $0 + m[r * cols + $1] * x[$1] } }
    }

    func rmsnorm(_ x: [Double], _ weight: [Double]) -> [Double] {
        let ms = x.reduce(0) { $0 + $1 * $1 } / Double(x.count)
        return x.indices.map { weight[$0] * x[$0] / (ms + c.normEps).squareRoot() }
    }

    func frequencies() -> [Double] {
        let d = c.headDim
        let divisors = c.ropeScaling?.divisors(headDim: d, theta: c.ropeTheta).map(Double.init)
        return (0 ..< d / 2).map { i in 1 / pow(c.ropeTheta, Double(2 * i) / Double(d)) / (divisors?[i] ?? 1) }
    }

    func rope(_ v: inout [Double], position: Int) {
        let f = frequencies(), d = c.headDim
        for h in 0 ..< v.count / d {
            for i in 0 ..< d / 2 {
                let angle = Double(position) * f[i]
                let re = v[h * d + 2 * i], im = v[h * d + 2 * i + 1]
                v[h * d + 2 * i] = re * cos(angle) - im * sin(angle)
                v[h * d + 2 * i + 1] = re * sin(angle) + im * cos(angle)
            }
        }
    }

    /// Logits after each token of `tokens`, starting at position 0.
    func logits(_ tokens: [Int]) -> [[Double]] {
        let d = c.headDim
        var keys = [[[Double]]](repeating: [], count: c.nLayers), values = keys
        var out: [[Double]] = []
        for (pos, token) in tokens.enumerated() {
            var x = Array(w["token_embd.weight"]![token * c.dim ..< (token + 1) * c.dim])
            for l in 0 ..< c.nLayers {
                let xb = rmsnorm(x, w["blk.\(l).attn_norm.weight"]!)
                var q = matvec(w["blk.\(l).attn_q.weight"]!, xb, rows: c.qDim)
                var k = matvec(w["blk.\(l).attn_k.weight"]!, xb, rows: c.kvDim)
                let v = matvec(w["blk.\(l).attn_v.weight"]!, xb, rows: c.kvDim)
                rope(&q, position: pos)
                rope(&k, position: pos)
                keys[l].append(k)
                values[l].append(v)
                var attended = [Double](repeating: 0, count: c.qDim)
                for h in 0 ..< c.nHeads {
                    let kvh = h / (c.nHeads / c.nKVHeads)
                    var scores = (0 ... pos).map { t in
                        (0 ..< d).reduce(0.0) { $0 + q[h * d + $1] * keys[l][t][kvh * d + $1] } / Double(d).squareRoot()
                    }
                    let top = scores.max()!
                    scores = scores.map { exp($0 - top) }
                    let sum = scores.reduce(0, +)
                    for t in 0 ... pos {
                        for i in 0 ..< d { attended[h * d + i] += scores[t] / sum * values[l][t][kvh * d + i] }
                    }
                }
                let o = matvec(w["blk.\(l).attn_output.weight"]!, attended, rows: c.dim)
                for i in 0 ..< c.dim { x[i] += o[i] }
                let xf = rmsnorm(x, w["blk.\(l).ffn_norm.weight"]!)
                let gate = matvec(w["blk.\(l).ffn_gate.weight"]!, xf, rows: c.ffnDim)
                let up = matvec(w["blk.\(l).ffn_up.weight"]!, xf, rows: c.ffnDim)
                let hidden = (0 ..< c.ffnDim).map { gate[$0] / (1 + exp(-gate[$0])) * up[$0] }
                let down = matvec(w["blk.\(l).ffn_down.weight"]!, hidden, rows: c.dim)
                for i in 0 ..< c.dim { x[i] += down[i] }
            }
            out.append(matvec(w["output.weight"]!, rmsnorm(x, w["output_norm.weight"]!), rows: c.vocabSize))
        }
        return out
    }
}
