import AVX2Kernels
import AVX512Kernels
import Foundation
import Testing
@testable import LlamaConvert

/// The AVX2 kernels against the portable ones: decoding gives the same floats bit for bit, the
/// products agree within float rounding (they sum in a different order), and the AVX2 products are
/// themselves deterministic: the same bits for any thread count and any batch a token comes in.
/// Skipped on processors without AVX2 + FMA + F16C (or with LLAMA_CONVERT_KERNELS=portable).
@Suite("AVX2 kernels", .enabled(if: HostCPU.avx2))
struct AVX2KernelTests {
    static let allTypes: [GGMLType] = [.f32, .f16, .bf16, .q8_0, .q4_0, .q4_1, .q5_0, .q5_1, .q4_K, .q5_K, .q6_K]

    /// A random matrix stored as `type` (quantized by our own quantizers).
    func matrix(_ type: GGMLType, rows: Int, cols: Int, seed: UInt64) -> StoredMatrix {
        var rng = SyntheticModel.Random(seed: seed)
        return StoredMatrix(name: "w", source: SyntheticModel.tensor(rng.values(rows * cols, -1 ... 1), shape: [rows, cols],
                                                                   type: type, name: "w"))
    }

    func product(_ m: StoredMatrix, _ x: [Float], batch: Int, threads: Int, portable: Bool = false) throws -> [Float] {
        let pool = WorkerPool(threads: threads, scratchBytesPerSlot: MatMul.scratchBytes(for: m))
        var y = [Float](repeating: .nan, count: batch * m.rows)
        try x.withUnsafeBufferPointer { xp in
            try y.withUnsafeMutableBufferPointer { yp in
                if portable {
                    try MatMul.runPortable(m, x: xp.baseAddress!, xStride: m.cols, batch: batch, y: yp.baseAddress!, yStride: m.rows, pool: pool)
                } else {
                    try MatMul.run(m, x: xp.baseAddress!, xStride: m.cols, batch: batch, y: yp.baseAddress!, yStride: m.rows, pool: pool)
                }
            }
        }
        return y
    }

    /// Σ|w·x| per output, the scale of the rounding error of any summation order.
    func magnitudes(_ m: StoredMatrix, _ x: [Float], batch: Int) throws -> [Double] {
        let w = try m.source.floats()
        var out = [Double](repeating: 0, count: batch * m.rows)
        for b in 0 ..< batch {
            for r in 0 ..< m.rows {
                var s = 0.0
                for c in 0 ..< m.cols { s += abs(Double(w[r * m.cols + c]) * Double(x[b * m.cols + c])) }
                out[b * m.rows + r] = s
            }
        }
        return out
    }

    /// Two float sums of the same n products agree within ~√n·ε·Σ|terms| in practice; 1e-5·Σ|terms|
    /// bounds it for the row lengths here (≤ 1024 terms) while still catching a wrong weight
    /// (one weight off by a quantization step moves the sum by ~1e-2 of a term).
    static let orderTolerance = 1e-5

    @Test("decoding gives the portable decoder's floats bit for bit (Q4_0: up to the sign of zero), for every stored type", arguments: allTypes)
    func decodeMatchesPortable(type: GGMLType) throws {
        let kind = try #require(MatMulAVX2.kind(of: type))
        let count = 512
        var rng = SyntheticModel.Random(seed: 7)
        // Quantized values, plus raw random bytes (every bit pattern of nibbles, high bits and scales).
        let quantized = SyntheticModel.tensor(rng.values(count, -2 ... 2), shape: [count], type: type, name: "w")
        var raw = [UInt8](repeating: 0, count: type.rowBytes(count)!)
        for i in raw.indices { raw[i] = UInt8(truncatingIfNeeded: Int(rng.uniform(0 ... 255.99))) }
        if type == .f32 { for i in stride(from: 3, to: raw.count, by: 4) { raw[i] &= 0x3f } } // finite floats
        let rawTensor = raw.withUnsafeBytes { OwnedTensor(type: type, shape: [count], bytes: $0, origin: "random") }
        for tensor in [quantized, rawTensor] {
            let bytes = try #require(tensor.contiguousBytes)
            var portable = [Float](repeating: 0, count: count), fast = [Float](repeating: 1, count: count)
            try RowCodec.dequantizeRow(type: type, source: bytes.baseAddress!, count: count, into: &portable)
            AVX2Kernels.decode(kind, source: bytes.baseAddress!, count: count, into: &fast)
            // Q4_0's fast decoder gives +0 where (q − 8)·d is −0 (q = 8, d < 0): equal values.
            let zeroSignMayDiffer = type == .q4_0
            let mismatches = (0 ..< count).filter { i in
                if portable[i].isNaN { return !fast[i].isNaN }
                if zeroSignMayDiffer && portable[i] == 0 { return fast[i] != 0 }
                return portable[i].bitPattern != fast[i].bitPattern
            }
            #expect(mismatches.isEmpty, "\(type.name): first mismatch at \(mismatches.first ?? -1)")
        }
    }

    @Test("one and two tokens: the fused dot agrees with the portable product within rounding",
          arguments: allTypes, [(1, 1), (7, 2), (8, 1), (9, 2), (25, 1), (50, 2)])
    func fusedMatchesPortable(type: GGMLType, shape: (rows: Int, batch: Int)) throws {
        let cols = type.blockSize == 256 ? 768 : (type.blockSize == 32 ? 288 : 264)
        let m = matrix(type, rows: shape.rows, cols: cols, seed: UInt64(shape.rows))
        var rng = SyntheticModel.Random(seed: 3)
        let x = rng.values(shape.batch * cols, -1 ... 1)
        let fast = try product(m, x, batch: shape.batch, threads: 2)
        let portable = try product(m, x, batch: shape.batch, threads: 2, portable: true)
        let scale = try magnitudes(m, x, batch: shape.batch)
        for i in fast.indices {
            #expect(abs(Double(fast[i]) - Double(portable[i])) <= Self.orderTolerance * scale[i], "\(type.name) element \(i)")
        }
    }

    @Test("batches: the decoded-tile product agrees with the portable product within rounding",
          arguments: allTypes, [3, 5, 64])
    func batchedMatchesPortable(type: GGMLType, batch: Int) throws {
        let cols = type.blockSize == 256 ? 512 : 320
        let m = matrix(type, rows: 29, cols: cols, seed: UInt64(batch))
        var rng = SyntheticModel.Random(seed: 11)
        let x = rng.values(batch * cols, -1 ... 1)
        let fast = try product(m, x, batch: batch, threads: 2)
        let portable = try product(m, x, batch: batch, threads: 2, portable: true)
        let scale = try magnitudes(m, x, batch: batch)
        for i in fast.indices {
            #expect(abs(Double(fast[i]) - Double(portable[i])) <= Self.orderTolerance * scale[i], "\(type.name) element \(i)")
        }
    }

    @Test("the same bits for threads 1, 2 and 3 and whatever batch a token comes in", arguments: allTypes)
    func deterministic(type: GGMLType) throws {
        let cols = 1024, rows = 53, batch = 37
        let m = matrix(type, rows: rows, cols: cols, seed: 21)
        var rng = SyntheticModel.Random(seed: 5)
        let x = rng.values(batch * cols, -1 ... 1)
        let reference = try product(m, x, batch: batch, threads: 1)
        for threads in [2, 3] { #expect(try product(m, x, batch: batch, threads: threads) == reference, "\(type.name) threads \(threads)") }
        // Alone (fused kernel, 8 rows per pass), as a pair (4 rows per pass), in a batch of 3 (tile kernel).
        // The grouped one-token kernels (Q4_0) sum in their own order: alone and in a pair they give
        // the same bits as each other, and the batch's within rounding.
        let grouped = try #require(MatMulAVX2.kind(of: type)).groupedMatVec
        let scale = try magnitudes(m, x, batch: batch)
        func matchesBatch(_ y: [Float], from b: Int, _ label: String) {
            let expected = Array(reference[b * rows ..< b * rows + y.count])
            if grouped {
                for i in y.indices {
                    #expect(abs(Double(y[i]) - Double(expected[i])) <= Self.orderTolerance * scale[b * rows + i], "\(type.name) \(label) \(i)")
                }
            } else {
                #expect(y == expected, "\(type.name) \(label)")
            }
        }
        var alone20: [Float] = []
        for b in [0, 20, 36] {
            let alone = try product(m, Array(x[b * cols ..< (b + 1) * cols]), batch: 1, threads: 3)
            matchesBatch(alone, from: b, "token \(b) alone")
            if b == 20 { alone20 = alone }
        }
        let pair = try product(m, Array(x[20 * cols ..< 22 * cols]), batch: 2, threads: 2)
        matchesBatch(pair, from: 20, "tokens 20-21 as a pair")
        #expect(Array(pair[0 ..< rows]) == alone20, "\(type.name) token 20 alone and in a pair")
        let three = try product(m, Array(x[34 * cols ..< 37 * cols]), batch: 3, threads: 1)
        #expect(three == Array(reference[34 * rows ..< 37 * rows]), "\(type.name) tokens 34-36 as a batch of 3")
    }

    @Test("the AVX-512 tile product gives the AVX2 tile product's bits, full blocks and remainders alike",
          .enabled(if: HostCPU.avx512), arguments: [(24, 64, 256), (24, 32, 256), (6, 8, 8), (23, 13, 96), (5, 7, 256), (13, 3, 40), (1, 1, 8)])
    func avx512Tile(rows: Int, batch: Int, count: Int) {
        var rng = SyntheticModel.Random(seed: UInt64(rows * 1000 + batch * 10 + count))
        let wStride = 264, xStride = count + 16, yStride = rows + 3
        let w = rng.values(rows * wStride, -1 ... 1), x = rng.values(batch * xStride, -1 ... 1)
        let start = rng.values(batch * yStride, -4 ... 4)
        var a = start, b = start
        w.withUnsafeBufferPointer { wp in
            x.withUnsafeBufferPointer { xp in
                a.withUnsafeMutableBufferPointer { yp in
                    AVX2Kernels.gemmTile(w: wp.baseAddress!, wStride: wStride, rows: rows, x: xp.baseAddress!, xStride: xStride,
                                         batch: batch, count: count, y: yp.baseAddress!, yStride: yStride)
                }
                b.withUnsafeMutableBufferPointer { yp in
                    AVX512Kernels.gemmTile(w: wp.baseAddress!, wStride: wStride, rows: rows, x: xp.baseAddress!, xStride: xStride,
                                           batch: batch, count: count, y: yp.baseAddress!, yStride: yStride)
                }
            }
        }
        #expect(a == b)
        #expect(a != start, "the product added something")
    }

    @Test("gemmTile and matVec called directly sum each output in the same order")
    func directCalls() {
        var rng = SyntheticModel.Random(seed: 8)
        let cols = 512, rows = 10, batch = 6
        let w = rng.values(rows * cols, -1 ... 1), x = rng.values(batch * cols, -1 ... 1)
        var tiled = [Float](repeating: 0, count: batch * rows)
        w.withUnsafeBufferPointer { wp in
            x.withUnsafeBufferPointer { xp in
                tiled.withUnsafeMutableBufferPointer { yp in
                    for t in stride(from: 0, to: cols, by: AVX2Kernels.tileColumns) {
                        AVX2Kernels.gemmTile(w: wp.baseAddress! + t, wStride: cols, rows: rows, x: xp.baseAddress! + t, xStride: cols,
                                             batch: batch, count: AVX2Kernels.tileColumns, y: yp.baseAddress!, yStride: rows)
                    }
                }
            }
        }
        var fused = [Float](repeating: 0, count: batch * rows)
        w.withUnsafeBytes { wp in
            let pointers = (0 ..< rows).map { UnsafeRawPointer(wp.baseAddress! + 4 * $0 * cols) }
            pointers.withUnsafeBufferPointer { pp in
                x.withUnsafeBufferPointer { xp in
                    fused.withUnsafeMutableBufferPointer { yp in
                        for b in stride(from: 0, to: batch, by: 2) {
                            AVX2Kernels.matVec(.f32, rows: pp.baseAddress!, rowCount: rows, cols: cols, x: xp.baseAddress! + b * cols,
                                               xStride: cols, batch: 2, y: yp.baseAddress! + b * rows, yStride: rows)
                        }
                    }
                }
            }
        }
        #expect(tiled == fused)
        // And the value: the Double dot within rounding.
        for b in 0 ..< batch {
            for r in 0 ..< rows {
                var s = 0.0, m = 0.0
                for c in 0 ..< cols { s += Double(w[r * cols + c]) * Double(x[b * cols + c]); m += abs(Double(w[r * cols + c]) * Double(x[b * cols + c])) }
                #expect(abs(Double(tiled[b * rows + r]) - s) <= Self.orderTolerance * m)
            }
        }
    }

    @Test("rows that are not a multiple of 8 columns take the portable path")
    func oddColumnsArePortable() {
        #expect(MatMulAVX2.kind(for: matrix(.f32, rows: 2, cols: 300, seed: 1)) == nil)
        #expect(MatMulAVX2.kind(for: matrix(.f16, rows: 2, cols: 264, seed: 1)) == .f16)
    }
}
