import Foundation
import Testing
@testable import LlamaConvert

/// Speed of the forward pass on a randomly initialised model of realistic width (Llama-3.2-1B-like:
/// dim 2048, 16 layers, 32/8 heads, ffn 5632, vocab 32000) stored as F16 in memory. Prints
/// figures and asserts nothing about speed. Skipped unless LLAMA_CONVERT_BENCH=1; run it in a
/// release build: `LLAMA_CONVERT_BENCH=1 swift test -c release --filter ForwardBenchmark`.
@Suite("Forward-pass benchmark", .enabled(if: ProcessInfo.processInfo.environment["LLAMA_CONVERT_BENCH"] == "1"))
struct ForwardBenchmarkTests {
    static var threads: Int { Int(ProcessInfo.processInfo.environment["LLAMA_CONVERT_BENCH_THREADS"] ?? "") ?? 2 }

    /// Random fp16 weights of magnitude 2⁻¹⁰ … 2⁻⁵ with random signs, written as bits directly
    /// (generating 850M floats and rounding them would take longer than the benchmark).
    static func randomHalves(_ count: Int, seed: UInt64) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: 2 * count)
        var state = seed &* 0x9E37_79B9_7F4A_7C15 | 1
        bytes.withUnsafeMutableBytes { out in
            for i in 0 ..< count {
                state ^= state << 13; state ^= state >> 7; state ^= state << 17
                let sign = UInt16(truncatingIfNeeded: state >> 63) << 15
                let exponent = UInt16(truncatingIfNeeded: 5 + (state >> 32) % 5) << 10 // 2^(5−15) … 2^(9−15)
                let mantissa = UInt16(truncatingIfNeeded: state) & 0x3ff
                out.storeBytes(of: sign | exponent | mantissa, toByteOffset: 2 * i, as: UInt16.self)
            }
        }
        return bytes
    }

    static func model() -> WeightGraph {
        let c = ModelConfig(vocabSize: 32000, dim: 2048, nLayers: 16, nHeads: 32, nKVHeads: 8, headDim: 64, ffnDim: 5632,
                            normEps: 1e-5, ropeTheta: 500000, ropeScaling: .metaLlama31, tiedEmbeddings: false, contextLength: 2048)
        var tensors: [CanonicalTensor] = []
        var seed: UInt64 = 1
        func add(_ role: TensorRole, _ layer: Int?, _ shape: [Int]) {
            seed += 1
            let source: any TensorSource
            if shape.count == 1 {
                source = OwnedTensor(floats: [Float](repeating: 1, count: shape[0]), shape: shape)
            } else {
                let bytes = randomHalves(shape.reduce(1, *), seed: seed)
                source = bytes.withUnsafeBytes { OwnedTensor(type: .f16, shape: shape, bytes: $0, origin: "random") }
            }
            tensors.append(CanonicalTensor(role: role, layer: layer, source: source))
        }
        add(.tokenEmbedding, nil, [c.vocabSize, c.dim])
        for l in 0 ..< c.nLayers {
            add(.attnNorm, l, [c.dim]); add(.attnQ, l, [c.qDim, c.dim]); add(.attnK, l, [c.kvDim, c.dim])
            add(.attnV, l, [c.kvDim, c.dim]); add(.attnOutput, l, [c.dim, c.qDim]); add(.ffnNorm, l, [c.dim])
            add(.ffnGate, l, [c.ffnDim, c.dim]); add(.ffnUp, l, [c.ffnDim, c.dim]); add(.ffnDown, l, [c.dim, c.ffnDim])
        }
        add(.outputNorm, nil, [c.dim])
        add(.output, nil, [c.vocabSize, c.dim])
        return WeightGraph(format: .safetensors, path: "benchmark", config: c, tensors: tensors)
    }

    static func seconds(_ body: () throws -> Void) rethrows -> Double {
        let start = DispatchTime.now().uptimeNanoseconds
        try body()
        return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    }

    @Test("prompt and generation throughput on an F16 model of 1B-class width")
    func throughput() throws {
        let g = Self.model()
        // Bytes streamed per generated token: every matrix but the embedding (one row of it).
        let streamed = g.tensors.filter { $0.role != .tokenEmbedding }.reduce(0) { $0 + $1.source.byteCount }
        let t = try Transformer(graph: g, threads: Self.threads)
        let prompt = (0 ..< 64).map { ($0 * 7919) % 32000 }

        _ = try t.logits(tokens: [1]) // touch every page once
        t.reset()
        let promptTime = try Self.seconds { _ = try t.logits(tokens: prompt) }
        let generated = 8
        var next = 0
        let generationTime = try Self.seconds {
            for _ in 0 ..< generated {
                let row = try t.logits(tokens: [next])[0]
                next = row.indices.max { row[$0] < row[$1] } ?? 0
            }
        }

        // The bandwidth ceiling: one SIMD pass reading the same bytes, on the same threads.
        let matrices = g.tensors.filter { $0.role != .tokenEmbedding && $0.source.shape.count == 2 }.compactMap(\.source.contiguousBytes)
        let pool = WorkerPool(threads: Self.threads, scratchBytesPerSlot: 64)
        var sink = UInt64(0)
        let readTime = Self.seconds {
            for m in matrices {
                let words = m.count / 64
                let partial = UnsafeMutablePointer<UInt64>.allocate(capacity: pool.slots)
                partial.initialize(repeating: 0, count: pool.slots)
                let shared = SharedPointer(partial)
                pool.forEachRange(words) { range, slot in
                    var acc = SIMD8<UInt64>()
                    for w in range { acc &+= m.baseAddress!.loadUnaligned(fromByteOffset: 64 * w, as: SIMD8<UInt64>.self) }
                    shared.base[slot] = acc.wrappedSum()
                }
                for i in 0 ..< pool.slots { sink &+= partial[i] }
                partial.deallocate()
            }
        }
        let gb = Double(streamed) / 1e9
        print("""
        forward benchmark (F16, dim 2048, 16 layers, 32/8 heads, ffn 5632, vocab 32000, \(Self.threads) threads)
          weights streamed per pass: \(String(format: "%.3f", gb)) GB
          prompt of 64 tokens: \(String(format: "%.2f", promptTime)) s = \(String(format: "%.1f", 64 / promptTime)) tokens/s, \
        \(String(format: "%.1f", 2 * Double(streamed / 2) * 64 / promptTime / 1e9)) GFLOP/s
          generation of \(generated) tokens: \(String(format: "%.2f", generationTime)) s = \
        \(String(format: "%.2f", Double(generated) / generationTime)) tokens/s, \
        \(String(format: "%.1f", gb * Double(generated) / generationTime)) GB/s of weights
          plain read of the same bytes: \(String(format: "%.2f", readTime)) s = \(String(format: "%.1f", gb / readTime)) GB/s (checksum \(sink & 0xff))
        """)
    }
}
