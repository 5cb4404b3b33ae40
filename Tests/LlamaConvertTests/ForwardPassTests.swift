import Foundation
import Testing
@testable import LlamaConvert

/// Largest |a − b| / max(1, |b|) over two logit tables.
func worstError(_ a: [[Float]], _ b: [[Double]]) -> Double {
    var worst = 0.0
    for (ra, rb) in zip(a, b) {
        for (x, y) in zip(ra, rb) { worst = max(worst, abs(Double(x) - y) / max(1, abs(y))) }
    }
    return worst
}

/// float32 against a double-precision reference over a few layers of width 32: rounding leaves
/// ~1e-6; 1e-4 is the parity budget the fixtures are held to.
let naiveTolerance = 1e-4

@Suite("Reference forward pass")
struct ForwardPassTests {
    let tokens = [3, 17, 0, 39, 8, 8, 21, 5, 30, 11]

    @Test("matches a naive double-precision Llama", arguments: [
        ("MHA", 4, 4, false, false),
        ("GQA", 4, 2, false, false),
        ("MQA", 4, 1, false, false),
        ("GQA with Llama 3.1 rope scaling", 4, 2, true, false),
        ("MQA, scaled rope, tied embeddings", 4, 1, true, true),
    ])
    func matchesNaive(name: String, heads: Int, kvHeads: Int, scaled: Bool, tied: Bool) throws {
        let c = SyntheticModel.config(heads: heads, kvHeads: kvHeads, theta: scaled ? 100 : 10000,
                                      scaling: scaled ? SyntheticModel.scaling : nil, tied: tied)
        let g = SyntheticModel.graph(c)
        let expected = try NaiveLlama(g).logits(tokens)
        let got = try Transformer(graph: g, threads: 2).logits(tokens: tokens)
        #expect(got.count == tokens.count && got.allSatisfy { $0.count == c.vocabSize })
        #expect(worstError(got, expected) < naiveTolerance, "\(name)")
    }

    @Test("weights stored as F16 and BF16 give the naive result on their decoded values", arguments: [GGMLType.f16, .bf16])
    func halfTypes(type: GGMLType) throws {
        let g = SyntheticModel.graph(SyntheticModel.config(), type: type)
        let expected = try NaiveLlama(g).logits(tokens)
        #expect(worstError(try Transformer(graph: g).logits(tokens: tokens), expected) < naiveTolerance)
    }

    @Test("a head size of 64 and three layers still match (longer dot products, several tiles)")
    func widerHeads() throws {
        let c = SyntheticModel.config(dim: 256, layers: 3, heads: 4, kvHeads: 2, ffn: 640, vocab: 300)
        let g = SyntheticModel.graph(c, type: .f16, seed: 7)
        let expected = try NaiveLlama(g).logits(Array(tokens.prefix(5)))
        #expect(worstError(try Transformer(graph: g).logits(tokens: Array(tokens.prefix(5))), expected) < naiveTolerance)
    }

    @Test("a prompt as one batch, in pieces, or token by token gives identical bits")
    func batchingIsInvisible() throws {
        let g = SyntheticModel.graph(SyntheticModel.config(heads: 4, kvHeads: 1))
        let whole = try Transformer(graph: g).logits(tokens: tokens)
        let t = try Transformer(graph: g)
        var pieces = try t.logits(tokens: Array(tokens[0 ..< 4]))
        pieces += try t.logits(tokens: Array(tokens[4 ..< 7]))
        for token in tokens[7...] { pieces += try t.logits(tokens: [token]) }
        #expect(pieces == whole)
        #expect(t.position == tokens.count)
    }

    @Test("prompts longer than one batch are processed in chunks with the same bits")
    func longPrompt() throws {
        let g = SyntheticModel.graph(SyntheticModel.config(layers: 1, context: 200))
        let long = (0 ..< 150).map { ($0 * 7 + 3) % 40 }
        let t = try Transformer(graph: g, maxContext: 200)
        let batched = try t.logits(tokens: long)
        t.reset()
        var single: [[Float]] = []
        for token in long { single += try t.logits(tokens: [token]) }
        #expect(batched == single)
    }

    @Test("any thread count gives identical logits", arguments: [1, 2, 3, 7])
    func threadCountIsInvisible(threads: Int) throws {
        let g = SyntheticModel.graph(SyntheticModel.config(dim: 64, heads: 4, kvHeads: 2, ffn: 160, vocab: 500), type: .f16)
        let reference = try Transformer(graph: g, threads: 1).logits(tokens: tokens)
        #expect(try Transformer(graph: g, threads: threads).logits(tokens: tokens) == reference)
    }

    @Test("row-permuted and shard-concatenated views give the same bits as plain tensors")
    func viewsAreInvisible() throws {
        let g = SyntheticModel.graph(SyntheticModel.config(), type: .bf16)
        let reference = try Transformer(graph: g).logits(tokens: tokens)
        // Split every matrix into two shards (by rows, or by columns for wo and w2, as Meta's
        // model-parallel files are) and read it back through a reversing permutation of a reversal.
        let viewed = SyntheticModel.mapped(g) { t in
            let s = t.source
            guard s.shape.count == 2 else { return s }
            let values = try! s.floats(), rows = s.shape[0], cols = s.shape[1]
            let parts: [any TensorSource]
            let axis = (t.role == .attnOutput || t.role == .ffnDown) ? 1 : 0
            if axis == 0 {
                let top = rows / 2
                let reversed = (0 ..< rows).reversed().flatMap { values[$0 * cols ..< ($0 + 1) * cols] }
                let shard = { (range: Range<Int>) -> any TensorSource in
                    SyntheticModel.tensor(Array(reversed[range.lowerBound * cols ..< range.upperBound * cols]),
                                          shape: [range.count, cols], type: s.type, name: t.name)
                }
                let joined = ConcatenatedTensor(parts: [shard(0 ..< top), shard(top ..< rows)], axis: 0)
                return RowPermutedTensor(base: joined, rowOrder: Array((0 ..< rows).reversed()))
            } else {
                let half = cols / 2
                parts = [0 ..< half, half ..< cols].map { range in
                    SyntheticModel.tensor((0 ..< rows).flatMap { values[$0 * cols + range.lowerBound ..< $0 * cols + range.upperBound] },
                                          shape: [rows, range.count], type: s.type, name: t.name)
                }
                return ConcatenatedTensor(parts: parts, axis: 1)
            }
        }
        let w = try Weights(graph: viewed, shape: ModelShape(config: viewed.config, maxContext: nil, path: "x"))
        #expect(w.layers[0].wq.rowStarts != nil, "a permuted row concatenation is still addressed in place")
        #expect(w.layers[0].wo.rowStarts == nil, "a column concatenation is read row by row")
        #expect(try Transformer(graph: viewed).logits(tokens: tokens) == reference)
        #expect(try Self.incrementalLogits(viewed, tokens: tokens, rowsPerPart: 7) == reference, "slices of views, read or in place")
    }

    /// Feeds `g`'s tensors to an `IncrementalForward` in graph order, each matrix in parts of
    /// `rowsPerPart` rows, as the converter does; returns its logits.
    static func incrementalLogits(_ g: WeightGraph, tokens: [Int], rowsPerPart: Int, threads: Int = 2) throws -> [[Float]] {
        let pool = WorkerPool(threads: threads, scratchBytesPerSlot: 1 << 20)
        let pass = try IncrementalForward(config: g.config, path: g.path, tokens: tokens, pool: pool)
        for t in g.tensors where IncrementalForward.consumes(t.role) {
            if t.source.shape.count == 1 {
                try pass.take(t.role, layer: t.layer, vector: try t.source.floats(), name: t.name)
                continue
            }
            for first in stride(from: 0, to: t.source.rowCount, by: rowsPerPart) {
                let rows = first ..< min(first + rowsPerPart, t.source.rowCount)
                try pass.take(t.role, layer: t.layer, rows: rows,
                              part: StoredMatrix(name: t.name, source: RowSliceTensor(base: t.source, rows: rows)))
            }
        }
        if g.tensor(.output) == nil, let e = g.tensor(.tokenEmbedding) {
            try pass.take(.output, layer: nil, rows: 0 ..< e.source.rowCount, part: StoredMatrix(name: e.name, source: e.source))
        }
        return try pass.logits()
    }

    @Test("fed tensor by tensor in ranges of rows, the incremental pass gives Transformer's bits",
          arguments: [(GGMLType.f32, false), (.f16, true), (.q8_0, false), (.q4_0, true)])
    func incrementalPass(type: GGMLType, tied: Bool) throws {
        let g = SyntheticModel.graph(SyntheticModel.config(dim: 64, heads: 4, kvHeads: 2, ffn: 160, vocab: 500, tied: tied), type: type)
        let reference = try Transformer(graph: g, threads: 1).logits(tokens: tokens)
        for rowsPerPart in [7, 64, 10_000] {
            #expect(try Self.incrementalLogits(g, tokens: tokens, rowsPerPart: rowsPerPart) == reference, "\(type) parts of \(rowsPerPart)")
        }
        #expect(try Self.incrementalLogits(g, tokens: tokens, rowsPerPart: 5, threads: 1) == reference)
    }

    @Test("a tensor fed out of the computation's order is refused, naming it")
    func incrementalOrder() throws {
        let g = SyntheticModel.graph(SyntheticModel.config())
        let pool = WorkerPool(threads: 1, scratchBytesPerSlot: 1 << 20)
        func matrix(_ role: TensorRole, _ layer: Int?) -> StoredMatrix {
            let t = g.tensor(role, layer: layer)!
            return StoredMatrix(name: t.name, source: t.source)
        }
        let pass = try IncrementalForward(config: g.config, path: "model", tokens: [1, 2], pool: pool)
        let q = matrix(.attnQ, 0)
        expectError("blk.0.attn_q.weight", "after nothing") { try pass.take(.attnQ, layer: 0, rows: 0 ..< q.rows, part: q) }
        let e = matrix(.tokenEmbedding, nil)
        try pass.take(.tokenEmbedding, layer: nil, rows: 0 ..< e.rows, part: e)
        let norm = try g.tensor(.attnNorm, layer: 0)!.source.floats()
        try pass.take(.attnNorm, layer: 0, vector: norm, name: "blk.0.attn_norm.weight")
        let k = matrix(.attnK, 0)
        expectError("blk.0.attn_k.weight", "after blk.0.attn_norm.weight") { try pass.take(.attnK, layer: 0, rows: 0 ..< k.rows, part: k) }
        let firstRows = StoredMatrix(name: q.name, source: RowSliceTensor(base: q.source, rows: 0 ..< 3))
        try pass.take(.attnQ, layer: 0, rows: 0 ..< 3, part: firstRows)
        expectError("blk.0.attn_q.weight", "ends after 3 rows") { try pass.take(.attnK, layer: 0, rows: 0 ..< k.rows, part: k) }
        expectError("model", "output.weight") { _ = try pass.logits() }
    }

    private func expectError(_ parts: String..., sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void) {
        do {
            try body()
            Issue.record("no error", sourceLocation: sourceLocation)
        } catch {
            let text = "\(error)"
            for part in parts { #expect(text.contains(part), "\(text)", sourceLocation: sourceLocation) }
        }
    }

    @Test("greedy generation continues with the argmax of the naive model")
    func greedy() throws {
        let g = SyntheticModel.graph(SyntheticModel.config(heads: 4, kvHeads: 2))
        let naive = try NaiveLlama(g)
        var sequence = [5, 9]
        var expected: [Int] = []
        for _ in 0 ..< 6 {
            let row = naive.logits(sequence).last!
            let next = row.indices.max { row[$0] < row[$1] }!
            expected.append(next)
            sequence.append(next)
        }
        let t = try Transformer(graph: g)
        #expect(try t.generateGreedy(prompt: [5, 9], count: 6) == expected)
        #expect(t.position == 7, "the last generated token is not fed back")
        #expect(try t.generateGreedy(prompt: [5, 9], count: 6) == expected, "generation starts a new sequence")
    }

    @Test("RoPE frequencies follow transformers' float32 inverse frequencies and the Llama 3.1 divisors")
    func ropeFrequencies() {
        // HF: inv_freq = 1 / θ^(arange(0, d, 2) / d) in float32; these are its values for d = 8, θ = 10⁴.
        #expect(Rope.frequencies(headDim: 8, theta: 10000, scaling: nil) == [1, 0.1, 0.01, 0.001].map { Float($0) })
        let divisors = RopeScaling.metaLlama31.divisors(headDim: 128, theta: 500000)
        let scaled = Rope.frequencies(headDim: 128, theta: 500000, scaling: .metaLlama31)
        let plain = Rope.frequencies(headDim: 128, theta: 500000, scaling: nil)
        #expect(scaled[0] == plain[0] && scaled[63] == plain[63] / 8)
        #expect(abs(scaled[30] - plain[30] / divisors[30]) == 0 && divisors[30] > 1.5 && divisors[30] < 1.6)
    }

    @Test("RoPE rotates adjacent pairs by position times frequency")
    func ropeRotatesPairs() {
        let rope = Rope(headDim: 4, theta: 10000, scaling: nil, maxContext: 4)
        var v: [Float] = [1, 0, 0, 1]
        v.withUnsafeMutableBufferPointer { rope.apply($0.baseAddress!, heads: 1, position: 3) }
        let a0 = 3.0, a1 = 3.0 * 0.01
        #expect(abs(Double(v[0]) - cos(a0)) < 1e-6 && abs(Double(v[1]) - sin(a0)) < 1e-6)
        #expect(abs(Double(v[2]) + sin(a1)) < 1e-6 && abs(Double(v[3]) - cos(a1)) < 1e-6)
    }

    @Test("a missing tensor is named")
    func missingTensor() {
        var g = SyntheticModel.graph(SyntheticModel.config())
        g.tensors.removeAll { $0.role == .ffnUp && $0.layer == 1 }
        #expect(throws: ForwardError.missingTensor(path: "synthetic", tensor: "blk.1.ffn_up.weight")) {
            try Transformer(graph: g)
        }
    }

    @Test("a tensor whose shape disagrees with the config is named with both shapes")
    func shapeMismatch() {
        var c = SyntheticModel.config()
        let g0 = SyntheticModel.graph(c)
        c.ffnDim = 40
        var g = g0
        g.config = c
        #expect(throws: ForwardError.shapeMismatch(path: "synthetic", tensor: "blk.0.ffn_gate.weight", expected: [40, 32], found: [48, 32])) {
            try Transformer(graph: g)
        }
        let error = ForwardError.shapeMismatch(path: "synthetic", tensor: "blk.0.ffn_gate.weight", expected: [40, 32], found: [48, 32])
        #expect(error.description == "synthetic: tensor blk.0.ffn_gate.weight: shape [48, 32], expected [40, 32] from the config")
    }

    @Test("head counts that do not divide are refused")
    func badHeads() {
        var g = SyntheticModel.graph(SyntheticModel.config())
        g.config.nKVHeads = 3
        #expect(throws: ForwardError.self) { try Transformer(graph: g) }
    }

    @Test("a matrix in a type the kernels cannot decode fails at load, naming it")
    func unsupportedType() throws {
        var g = SyntheticModel.graph(SyntheticModel.config())
        let blocks = 32 * 32 / 32
        let bytes = [UInt8](repeating: 0, count: blocks * GGMLType.q8_1.typeSize)
        let odd = bytes.withUnsafeBytes { OwnedTensor(type: .q8_1, shape: [32, 32], bytes: $0, origin: "odd") }
        let i = g.tensors.firstIndex { $0.role == .attnQ && $0.layer == 0 }!
        g.tensors[i] = CanonicalTensor(role: .attnQ, layer: 0, source: odd)
        #expect(throws: ForwardError.unsupportedType(path: "synthetic", tensor: "blk.0.attn_q.weight", type: "Q8_1")) {
            try Transformer(graph: g)
        }
    }

    @Test("a token outside the vocabulary is refused before anything runs")
    func tokenOutOfRange() throws {
        let t = try Transformer(graph: SyntheticModel.graph(SyntheticModel.config()))
        #expect(throws: ForwardError.tokenOutOfRange(path: "synthetic", index: 1, token: 40, vocabSize: 40)) {
            try t.logits(tokens: [1, 40])
        }
        #expect(throws: ForwardError.self) { try t.logits(tokens: [-1]) }
        #expect(t.position == 0)
    }

    @Test("a sequence past the KV cache is refused")
    func contextFull() throws {
        let t = try Transformer(graph: SyntheticModel.graph(SyntheticModel.config()), maxContext: 8)
        _ = try t.logits(tokens: [1, 2, 3, 4, 5])
        #expect(throws: ForwardError.contextFull(path: "synthetic", needed: 9, maxContext: 8)) {
            try t.logits(tokens: [1, 2, 3, 4])
        }
        #expect(throws: ForwardError.contextFull(path: "synthetic", needed: 9, maxContext: 8)) {
            try t.generateGreedy(prompt: [1, 2, 3], count: 7)
        }
    }
}

/// The acceptance test: over the source checkpoints, the forward pass reproduces the logits
/// transformers computed (`reference.json`) for the fixture's tokens.
@Suite("Forward pass on the fixtures")
struct ForwardPassFixtureTests {
    /// float32 throughout on both sides; differences come from summation order and libm (~1e-6).
    static let logitTolerance: Float = 1e-4

    @Test("source weights reproduce transformers' logits within 1e-4", arguments: [
        "hf-gqa-bf16-sharded", "hf-mqa-f16-tied-rope31", "meta-gqa-mp2", "meta-mha-l2-mp2",
        "meta-copy-of-hf-mqa", "hf-copy-of-meta-gqa",
    ])
    func reproducesReference(folder: String) throws {
        let reference = try Fixtures.reference(folder)
        let graph = try ModelLoader.load(path: Fixtures.path(folder))
        let logits = try Transformer(graph: graph, threads: 2).logits(tokens: reference.tokens)
        #expect(logits.count == reference.logits.count)
        var worst: Float = 0
        for (row, expected) in zip(logits, reference.logits) {
            #expect(row.count == expected.count)
            for (a, b) in zip(row, expected) { worst = max(worst, abs(a - b)) }
        }
        #expect(worst <= Self.logitTolerance, "\(folder): max |Δlogit| = \(worst)")
        let report = ParityReport.compare(source: reference.logits, converted: logits, tokens: reference.tokens)
        #expect(report.top1Agreement == 1 && report.klMax < 1e-8)
    }
}

extension ForwardPassTests {
    @Test("weights in ggml block formats are consumed in place and match the naive result on their decoded values",
          arguments: [GGMLType.q8_0, .q4_0, .q4_1, .q5_0, .q5_1])
    func blockTypes(type: GGMLType) throws {
        let g = SyntheticModel.graph(SyntheticModel.config(dim: 64, heads: 4, kvHeads: 2, ffn: 96, vocab: 50), type: type)
        let expected = try NaiveLlama(g).logits(tokens)
        #expect(worstError(try Transformer(graph: g).logits(tokens: tokens), expected) < naiveTolerance)
    }
}

extension ForwardPassTests {
    @Test("K-quant weights (rows of 256) are consumed in place and match the naive result on their decoded values",
          arguments: [GGMLType.q4_K, .q5_K, .q6_K])
    func kQuantTypes(type: GGMLType) throws {
        let c = SyntheticModel.config(dim: 256, layers: 1, heads: 4, kvHeads: 1, ffn: 512, vocab: 50)
        let g = SyntheticModel.graph(c, type: type)
        let few = Array(tokens.prefix(4))
        #expect(worstError(try Transformer(graph: g).logits(tokens: few), try NaiveLlama(g).logits(few)) < naiveTolerance)
    }
}
