import CKernelSupport
import Glibc

/// How far ahead the one-token kernels prefetch, in rows: a pass over rows r ..< r+n prefetches the
/// same columns of the rows `prefetchRows(n)` on, the ones a later pass reads (a matrix's rows lie
/// one after the other; where they do not, a prefetch of the wrong line costs a little bandwidth
/// and never faults). Against 256 bytes ahead within the row being read, which left the first
/// lines of every pass to the hardware, this made generation on the 853M benchmark faster by a
/// third for Q4_0 (eight rows ahead, one pass) and a quarter for the q4 mix (K-quant passes are
/// two rows; four ahead beat two and eight). `LLAMA_CONVERT_PREFETCH=N` sets N rows for tuning
/// (0 turns prefetching off).
func prefetchRows(passRows: Int) -> Int { prefetchRowsOverride ?? max(passRows, 4) }

let prefetchRowsOverride: Int? = getenv("LLAMA_CONVERT_PREFETCH").map { Int(atoi($0)) }

/// Starts loading the weights `ahead` bytes past those of chunk k of `row`.
@inline(__always)
func prefetch<D: WeightChunks>(_: D.Type, _ row: UnsafeRawPointer, _ k: Int, _ ahead: Int) {
    llama_convert_prefetch(row + (D.byteOffset(k) &+ ahead))
}

/// The matrix kernels of the forward pass for AVX2 + FMA + F16C: y = x·Wᵀ with W in its stored
/// format and x, y in float32.
///
/// Summation order (the same in every kernel here, so a result never depends on the batch size,
/// the kernel chosen or the thread count): a row is cut into tiles of `tileColumns` columns
/// starting at column 0; within a tile, lane i (0…7) of one 8-wide accumulator sums
/// w[k]·x[k] for k ≡ i (mod 8) in increasing k, one FMA each; the eight lanes are then added as a
/// fixed tree ((0+4)+(2+6)) + ((1+5)+(3+7)); y = 0, plus each tile's sum in column order.
public enum AVX2Kernels {
    /// Columns per tile (a multiple of every block size: 32 and 256).
    public static let tileColumns = 256

    /// The stored formats these kernels decode.
    public enum Kind: Sendable {
        case f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1, q4_K, q5_K, q6_K

        /// Whether products with one or two tokens scale once per block (the `accumulate` of Q4_0,
        /// Q4_K and Q6_K): their sums then differ from the batched product's within float
        /// rounding, not bit for bit.
        public var groupedMatVec: Bool { self == .q4_0 || self == .q4_K || self == .q6_K }

        /// Weights per block (1 for the float formats).
        public var blockSize: Int {
            switch self {
            case .f32, .f16, .bf16: return 1
            case .q8_0, .q4_0, .q4_1, .q5_0, .q5_1: return 32
            case .q4_K, .q5_K, .q6_K: return 256
            }
        }
    }

    /// y[b·yStride + i] = Σ_c W_i[c]·x[b·xStride + c] for i < rowCount, b < batch (1 or 2), where
    /// row i of W starts at `rows[i]`. `cols` must be a multiple of 8 and of the block size.
    /// Decodes the weights inside the dot product, several rows per pass over x.
    public static func matVec(_ kind: Kind, rows: UnsafePointer<UnsafeRawPointer>, rowCount: Int, cols: Int,
                              x: UnsafePointer<Float>, xStride: Int, batch: Int,
                              y: UnsafeMutablePointer<Float>, yStride: Int) {
        precondition(batch == 1 || batch == 2, "AVX2Kernels.matVec: batch \(batch) is not 1 or 2")
        precondition(cols % 8 == 0 && cols % kind.blockSize == 0, "AVX2Kernels.matVec: \(cols) columns")
        switch kind {
        case .f32: MatVec<F32Chunks>.run(rows, rowCount, cols, x, xStride, batch, y, yStride)
        case .f16: MatVec<F16Chunks>.run(rows, rowCount, cols, x, xStride, batch, y, yStride)
        case .bf16: MatVec<BF16Chunks>.run(rows, rowCount, cols, x, xStride, batch, y, yStride)
        case .q8_0: MatVec<Q8_0Chunks>.run(rows, rowCount, cols, x, xStride, batch, y, yStride)
        case .q4_0: MatVec<Q4_0Chunks>.run(rows, rowCount, cols, x, xStride, batch, y, yStride)
        case .q4_1: MatVec<Q4_1Chunks>.run(rows, rowCount, cols, x, xStride, batch, y, yStride)
        case .q5_0: MatVec<Q5_0Chunks>.run(rows, rowCount, cols, x, xStride, batch, y, yStride)
        case .q5_1: MatVec<Q5_1Chunks>.run(rows, rowCount, cols, x, xStride, batch, y, yStride)
        case .q4_K: MatVec<Q4_KChunks>.run(rows, rowCount, cols, x, xStride, batch, y, yStride)
        case .q5_K: MatVec<Q5_KChunks>.run(rows, rowCount, cols, x, xStride, batch, y, yStride)
        case .q6_K: MatVec<Q6_KChunks>.run(rows, rowCount, cols, x, xStride, batch, y, yStride)
        }
    }

    /// Starts loading the `bytes` bytes at `start` into the cache, a line at a time: the batched
    /// product asks for the next tile of a block's rows while it multiplies the current one.
    public static func prefetch(_ start: UnsafeRawPointer, bytes: Int) {
        var o = 0
        while o < bytes {
            llama_convert_prefetch(start + o)
            o &+= 64
        }
    }

    /// Decodes `count` weights (a multiple of 8 and of the block size) of `kind` starting at
    /// `source` (a block boundary) into `destination`: the same floats as the portable decoder.
    public static func decode(_ kind: Kind, source: UnsafeRawPointer, count: Int, into destination: UnsafeMutablePointer<Float>) {
        precondition(count % 8 == 0 && count % kind.blockSize == 0, "AVX2Kernels.decode: \(count) weights")
        switch kind {
        case .f32: destination.update(from: source.assumingMemoryBound(to: Float.self), count: count)
        case .f16: Decoder<F16Chunks>.run(source, count, destination)
        case .bf16: Decoder<BF16Chunks>.run(source, count, destination)
        case .q8_0: Decoder<Q8_0Chunks>.run(source, count, destination)
        case .q4_0: Decoder<Q4_0Chunks>.run(source, count, destination)
        case .q4_1: Decoder<Q4_1Chunks>.run(source, count, destination)
        case .q5_0: Decoder<Q5_0Chunks>.run(source, count, destination)
        case .q5_1: Decoder<Q5_1Chunks>.run(source, count, destination)
        case .q4_K: Decoder<Q4_KChunks>.run(source, count, destination)
        case .q5_K: Decoder<Q5_KChunks>.run(source, count, destination)
        case .q6_K: Decoder<Q6_KChunks>.run(source, count, destination)
        }
    }
}

/// The lanes of an accumulator summed as a fixed tree.
@inline(__always)
func reduce(_ v: SIMD8<Float>) -> Float {
    let v4 = v.lowHalf + v.highHalf
    let v2 = v4.lowHalf + v4.highHalf
    return v2[0] + v2[1]
}

@inline(__always)
func load8(_ p: UnsafePointer<Float>, _ k: Int) -> SIMD8<Float> {
    UnsafeRawPointer(p).loadUnaligned(fromByteOffset: 4 &* k, as: SIMD8<Float>.self)
}

@inline(__always)
func mac(_ acc: inout SIMD8<Float>, _ c: Chunk, _ x0: SIMD8<Float>, _ x1: SIMD8<Float>, _ x2: SIMD8<Float>, _ x3: SIMD8<Float>) {
    acc.addProduct(c.w0, x0)
    acc.addProduct(c.w1, x1)
    acc.addProduct(c.w2, x2)
    acc.addProduct(c.w3, x3)
}

/// x[k ..< k+32].
@inline(__always)
func xChunk(_ x: UnsafePointer<Float>, _ k: Int) -> Chunk {
    Chunk(w0: load8(x, k), w1: load8(x, k &+ 8), w2: load8(x, k &+ 16), w3: load8(x, k &+ 24))
}

enum Decoder<D: WeightChunks> {
    @inline(__always)
    static func run(_ source: UnsafeRawPointer, _ count: Int, _ out: UnsafeMutablePointer<Float>) {
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 16) { buffer in
            run(source, count, out, buffer.baseAddress!)
        }
    }

    @inline(__always)
    static func run(_ source: UnsafeRawPointer, _ count: Int, _ out: UnsafeMutablePointer<Float>, _ buffer: UnsafeMutablePointer<Float>) {
        let o = UnsafeMutableRawPointer(out)
        var t = 0
        while t < count {
            let end = min(count, t &+ AVX2Kernels.tileColumns)
            D.writeScales(source, t, end &- t, buffer)
            let scales = UnsafePointer(buffer)
            var k = t
            if D.rowsPerPass == 2 && end &- t == AVX2Kernels.tileColumns {
                // A K-quant super-block: its chunks at constant offsets (folded sub-block indices,
                // shifts and scale offsets) and in the pairs that share their bytes, as in `rows2`.
                let b = source + D.byteOffset(t), ot = o + 4 &* t
                @inline(__always) func store(_ c: Chunk, _ j: Int) {
                    ot.storeBytes(of: c.w0, toByteOffset: 128 &* j, as: SIMD8<Float>.self)
                    ot.storeBytes(of: c.w1, toByteOffset: 128 &* j &+ 32, as: SIMD8<Float>.self)
                    ot.storeBytes(of: c.w2, toByteOffset: 128 &* j &+ 64, as: SIMD8<Float>.self)
                    ot.storeBytes(of: c.w3, toByteOffset: 128 &* j &+ 96, as: SIMD8<Float>.self)
                }
                @inline(__always) func pair(_ j: Int) {
                    let (u, v) = D.chunkPair(b, 32 &* j, scales)
                    store(u, j); store(v, j &+ 1)
                }
                pair(0); pair(2); pair(4); pair(6)
                k = end
            }
            while k &+ 32 <= end {
                let c = D.chunk(source, k, scales)
                o.storeBytes(of: c.w0, toByteOffset: 4 &* k, as: SIMD8<Float>.self)
                o.storeBytes(of: c.w1, toByteOffset: 4 &* k &+ 32, as: SIMD8<Float>.self)
                o.storeBytes(of: c.w2, toByteOffset: 4 &* k &+ 64, as: SIMD8<Float>.self)
                o.storeBytes(of: c.w3, toByteOffset: 4 &* k &+ 96, as: SIMD8<Float>.self)
                k &+= 32
            }
            while k < end {
                o.storeBytes(of: D.eight(source, k, scales), toByteOffset: 4 &* k, as: SIMD8<Float>.self)
                k &+= 8
            }
            t = end
        }
    }
}

/// Products with one or two rows of x: eight weight rows per pass with one x for the float
/// formats (four for the block formats, whose decoding needs the registers), four with two, so
/// each x vector loaded serves several multiply-adds and independent accumulators hide the FMA
/// latency.
enum MatVec<D: WeightChunks> {
    static func run(_ rows: UnsafePointer<UnsafeRawPointer>, _ rowCount: Int, _ cols: Int,
                    _ x: UnsafePointer<Float>, _ xStride: Int, _ batch: Int,
                    _ y: UnsafeMutablePointer<Float>, _ yStride: Int) {
        // Scales of a pass's rows, then the sums of x (and of the second token) for `tileOffset`.
        let perToken = D.columnsPerSum > 0 ? cols / D.columnsPerSum : 0
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 16 * 8 + 2 * perToken) { scratch in
            let buffer = scratch.baseAddress!, sums = buffer + 16 * 8
            if perToken > 0 {
                columnSums(x, cols, sums)
                if batch == 2 { columnSums(x + xStride, cols, sums + perToken) }
            }
            run(rows, rowCount, cols, x, xStride, batch, y, yStride, buffer, UnsafePointer(sums), UnsafePointer(sums + perToken))
        }
    }

    /// sums[g] = Σ x[c] over the g-th `D.columnsPerSum` columns: lanewise ((x₀ + x₁) + x₂) + x₃ of
    /// its vectors of eight (x₀ + x₁ for 16 columns), then `reduce`.
    static func columnSums(_ x: UnsafePointer<Float>, _ cols: Int, _ sums: UnsafeMutablePointer<Float>) {
        var g = 0, c = 0
        while c < cols {
            if D.columnsPerSum == 16 {
                sums[g] = reduce(load8(x, c) + load8(x, c &+ 8))
            } else {
                sums[g] = reduce(((load8(x, c) + load8(x, c &+ 8)) + load8(x, c &+ 16)) + load8(x, c &+ 24))
            }
            g &+= 1
            c &+= D.columnsPerSum
        }
    }

    /// `buffer`: 16 floats of tile scales per row of a pass; `sums`, `sums2`: the column sums of
    /// the first and second token.
    static func run(_ rows: UnsafePointer<UnsafeRawPointer>, _ rowCount: Int, _ cols: Int,
                    _ x: UnsafePointer<Float>, _ xStride: Int, _ batch: Int,
                    _ y: UnsafeMutablePointer<Float>, _ yStride: Int, _ buffer: UnsafeMutablePointer<Float>,
                    _ sums: UnsafePointer<Float>, _ sums2: UnsafePointer<Float>) {
        // Each row is prefetched where a later pass will read (see `prefetchRows`).
        let passRows = batch == 1 ? D.rowsPerPass : 4
        let ahead = prefetchRows(passRows: passRows) &* D.byteOffset(cols)
        var i = 0
        if batch == 1 {
            if D.rowsPerPass == 8 {
                while i &+ 8 <= rowCount {
                    rows8(rows + i, cols, x, y + i, buffer, sums, ahead)
                    i &+= 8
                }
            }
            if D.rowsPerPass >= 4 {
                while i &+ 4 <= rowCount {
                    rows4(rows + i, cols, x, y + i, buffer, sums, ahead)
                    i &+= 4
                }
            }
            while i &+ 2 <= rowCount {
                rows2(rows + i, cols, x, y + i, buffer, sums, ahead)
                i &+= 2
            }
            while i < rowCount {
                y[i] = rows1(rows[i], cols, x, buffer, sums, ahead)
                i &+= 1
            }
        } else {
            while i &+ 4 <= rowCount {
                rows4x2(rows + i, cols, x, x + xStride, y + i, y + yStride + i, buffer, sums, sums2, ahead)
                i &+= 4
            }
            while i < rowCount {
                y[i] = rows1(rows[i], cols, x, buffer, sums, ahead)
                y[yStride &+ i] = rows1(rows[i], cols, x + xStride, buffer, sums2, ahead)
                i &+= 1
            }
        }
    }

    static func rows1(_ p: UnsafeRawPointer, _ cols: Int, _ x: UnsafePointer<Float>, _ buffer: UnsafeMutablePointer<Float>,
                      _ sums: UnsafePointer<Float>, _ ahead: Int) -> Float {
        var s: Float = 0
        var t = 0
        while t < cols {
            let end = min(cols, t &+ AVX2Kernels.tileColumns)
            D.writeScales(p, t, end &- t, buffer)
            let c = UnsafePointer(buffer)
            var a = SIMD8<Float>()
            var k = t
            while k &+ 32 <= end {
                if ahead > 0 { prefetch(D.self, p, k, ahead) }
                let (xc, e) = D.prepare(xChunk(x, k))
                D.accumulate(&a, p, k, c, xc, e)
                k &+= 32
            }
            while k < end {
                a.addProduct(D.eight(p, k, c), load8(x, k))
                k &+= 8
            }
            if D.columnsPerSum > 0 {
                let st = sums + t / D.columnsPerSum
                D.tileOffset(&a, c, st)
            }
            s += reduce(a)
            t = end
        }
        return s
    }

    static func rows8(_ rows: UnsafePointer<UnsafeRawPointer>, _ cols: Int, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                      _ buffer: UnsafeMutablePointer<Float>, _ sums: UnsafePointer<Float>, _ ahead: Int) {
        let p0 = rows[0], p1 = rows[1], p2 = rows[2], p3 = rows[3], p4 = rows[4], p5 = rows[5], p6 = rows[6], p7 = rows[7]
        var s0: Float = 0, s1: Float = 0, s2: Float = 0, s3: Float = 0, s4: Float = 0, s5: Float = 0, s6: Float = 0, s7: Float = 0
        var t = 0
        while t < cols {
            let end = min(cols, t &+ AVX2Kernels.tileColumns)
            let n = end &- t
            D.writeScales(p0, t, n, buffer + 0)
            D.writeScales(p1, t, n, buffer + 16)
            D.writeScales(p2, t, n, buffer + 32)
            D.writeScales(p3, t, n, buffer + 48)
            D.writeScales(p4, t, n, buffer + 64)
            D.writeScales(p5, t, n, buffer + 80)
            D.writeScales(p6, t, n, buffer + 96)
            D.writeScales(p7, t, n, buffer + 112)
            let c0 = UnsafePointer(buffer + 0)
            let c1 = UnsafePointer(buffer + 16)
            let c2 = UnsafePointer(buffer + 32)
            let c3 = UnsafePointer(buffer + 48)
            let c4 = UnsafePointer(buffer + 64)
            let c5 = UnsafePointer(buffer + 80)
            let c6 = UnsafePointer(buffer + 96)
            let c7 = UnsafePointer(buffer + 112)
            var a0 = SIMD8<Float>(), a1 = SIMD8<Float>(), a2 = SIMD8<Float>(), a3 = SIMD8<Float>()
            var a4 = SIMD8<Float>(), a5 = SIMD8<Float>(), a6 = SIMD8<Float>(), a7 = SIMD8<Float>()
            var k = t
            while k &+ 32 <= end {
                if ahead > 0 { prefetch(D.self, p0, k, ahead); prefetch(D.self, p1, k, ahead); prefetch(D.self, p2, k, ahead); prefetch(D.self, p3, k, ahead); prefetch(D.self, p4, k, ahead); prefetch(D.self, p5, k, ahead); prefetch(D.self, p6, k, ahead); prefetch(D.self, p7, k, ahead) }
                let (xc, e) = D.prepare(xChunk(x, k))
                D.accumulate(&a0, p0, k, c0, xc, e); a0 = llama_convert_settle(a0)
                D.accumulate(&a1, p1, k, c1, xc, e); a1 = llama_convert_settle(a1)
                D.accumulate(&a2, p2, k, c2, xc, e); a2 = llama_convert_settle(a2)
                D.accumulate(&a3, p3, k, c3, xc, e); a3 = llama_convert_settle(a3)
                D.accumulate(&a4, p4, k, c4, xc, e); a4 = llama_convert_settle(a4)
                D.accumulate(&a5, p5, k, c5, xc, e); a5 = llama_convert_settle(a5)
                D.accumulate(&a6, p6, k, c6, xc, e); a6 = llama_convert_settle(a6)
                D.accumulate(&a7, p7, k, c7, xc, e)
                k &+= 32
            }
            while k < end {
                let xv = load8(x, k)
                a0.addProduct(D.eight(p0, k, c0), xv); a1.addProduct(D.eight(p1, k, c1), xv)
                a2.addProduct(D.eight(p2, k, c2), xv); a3.addProduct(D.eight(p3, k, c3), xv)
                a4.addProduct(D.eight(p4, k, c4), xv); a5.addProduct(D.eight(p5, k, c5), xv)
                a6.addProduct(D.eight(p6, k, c6), xv); a7.addProduct(D.eight(p7, k, c7), xv)
                k &+= 8
            }
            if D.columnsPerSum > 0 {
                let st = sums + t / D.columnsPerSum
                D.tileOffset(&a0, c0, st); D.tileOffset(&a1, c1, st); D.tileOffset(&a2, c2, st); D.tileOffset(&a3, c3, st)
                D.tileOffset(&a4, c4, st); D.tileOffset(&a5, c5, st); D.tileOffset(&a6, c6, st); D.tileOffset(&a7, c7, st)
            }
            s0 += reduce(a0); s1 += reduce(a1); s2 += reduce(a2); s3 += reduce(a3)
            s4 += reduce(a4); s5 += reduce(a5); s6 += reduce(a6); s7 += reduce(a7)
            t = end
        }
        y[0] = s0; y[1] = s1; y[2] = s2; y[3] = s3; y[4] = s4; y[5] = s5; y[6] = s6; y[7] = s7
    }

    static func rows4(_ rows: UnsafePointer<UnsafeRawPointer>, _ cols: Int, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                      _ buffer: UnsafeMutablePointer<Float>, _ sums: UnsafePointer<Float>, _ ahead: Int) {
        let p0 = rows[0], p1 = rows[1], p2 = rows[2], p3 = rows[3]
        var s0: Float = 0, s1: Float = 0, s2: Float = 0, s3: Float = 0
        var t = 0
        while t < cols {
            let end = min(cols, t &+ AVX2Kernels.tileColumns)
            let n = end &- t
            D.writeScales(p0, t, n, buffer + 0)
            D.writeScales(p1, t, n, buffer + 16)
            D.writeScales(p2, t, n, buffer + 32)
            D.writeScales(p3, t, n, buffer + 48)
            let c0 = UnsafePointer(buffer + 0)
            let c1 = UnsafePointer(buffer + 16)
            let c2 = UnsafePointer(buffer + 32)
            let c3 = UnsafePointer(buffer + 48)
            var a0 = SIMD8<Float>(), a1 = SIMD8<Float>(), a2 = SIMD8<Float>(), a3 = SIMD8<Float>()
            var k = t
            while k &+ 32 <= end {
                if ahead > 0 { prefetch(D.self, p0, k, ahead); prefetch(D.self, p1, k, ahead); prefetch(D.self, p2, k, ahead); prefetch(D.self, p3, k, ahead) }
                let (xc, e) = D.prepare(xChunk(x, k))
                D.accumulate(&a0, p0, k, c0, xc, e)
                D.accumulate(&a1, p1, k, c1, xc, e)
                D.accumulate(&a2, p2, k, c2, xc, e)
                D.accumulate(&a3, p3, k, c3, xc, e)
                k &+= 32
            }
            while k < end {
                let xv = load8(x, k)
                a0.addProduct(D.eight(p0, k, c0), xv); a1.addProduct(D.eight(p1, k, c1), xv)
                a2.addProduct(D.eight(p2, k, c2), xv); a3.addProduct(D.eight(p3, k, c3), xv)
                k &+= 8
            }
            if D.columnsPerSum > 0 {
                let st = sums + t / D.columnsPerSum
                D.tileOffset(&a0, c0, st); D.tileOffset(&a1, c1, st); D.tileOffset(&a2, c2, st); D.tileOffset(&a3, c3, st)
            }
            s0 += reduce(a0); s1 += reduce(a1); s2 += reduce(a2); s3 += reduce(a3)
            t = end
        }
        y[0] = s0; y[1] = s1; y[2] = s2; y[3] = s3
    }

    static func rows2(_ rows: UnsafePointer<UnsafeRawPointer>, _ cols: Int, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                      _ buffer: UnsafeMutablePointer<Float>, _ sums: UnsafePointer<Float>, _ ahead: Int) {
        let p0 = rows[0], p1 = rows[1]
        var s0: Float = 0, s1: Float = 0
        var t = 0
        while t < cols {
            let end = min(cols, t &+ AVX2Kernels.tileColumns)
            let n = end &- t
            D.writeScales(p0, t, n, buffer + 0)
            D.writeScales(p1, t, n, buffer + 16)
            let c0 = UnsafePointer(buffer + 0)
            let c1 = UnsafePointer(buffer + 16)
            var a0 = SIMD8<Float>(), a1 = SIMD8<Float>()
            var k = t
            if n == AVX2Kernels.tileColumns {
                // A whole tile (one K-quant super-block): eight chunks at constant offsets from
                // its start, so the decoders fold their sub-block index, shifts and scale offsets
                // (17% faster for Q4_K/Q6_K; the same unrolling slowed the 4- and 8-row kernels).
                let q0 = p0 + D.byteOffset(t), q1 = p1 + D.byteOffset(t), xt = x + t
                @inline(__always) func step(_ j: Int) {
                    let o = 64 &* j
                    if ahead > 0 { prefetch(D.self, q0, o, ahead); prefetch(D.self, q1, o, ahead) }
                    let (xc, e) = D.prepare(xChunk(xt, o)), (zc, f) = D.prepare(xChunk(xt, o &+ 32))
                    D.accumulatePair(&a0, q0, o, c0, xc, e, zc, f)
                    a0 = llama_convert_settle(a0)
                    D.accumulatePair(&a1, q1, o, c1, xc, e, zc, f)
                }
                step(0); step(1); step(2); step(3)
                k = end
            }
            while k &+ 32 <= end {
                if ahead > 0 { prefetch(D.self, p0, k, ahead); prefetch(D.self, p1, k, ahead) }
                let (xc, e) = D.prepare(xChunk(x, k))
                D.accumulate(&a0, p0, k, c0, xc, e)
                D.accumulate(&a1, p1, k, c1, xc, e)
                k &+= 32
            }
            while k < end {
                let xv = load8(x, k)
                a0.addProduct(D.eight(p0, k, c0), xv); a1.addProduct(D.eight(p1, k, c1), xv)
                k &+= 8
            }
            if D.columnsPerSum > 0 {
                let st = sums + t / D.columnsPerSum
                D.tileOffset(&a0, c0, st); D.tileOffset(&a1, c1, st)
            }
            s0 += reduce(a0); s1 += reduce(a1)
            t = end
        }
        y[0] = s0; y[1] = s1
    }

    static func rows4x2(_ rows: UnsafePointer<UnsafeRawPointer>, _ cols: Int, _ x: UnsafePointer<Float>, _ xx: UnsafePointer<Float>,
                        _ y: UnsafeMutablePointer<Float>, _ yy: UnsafeMutablePointer<Float>, _ buffer: UnsafeMutablePointer<Float>,
                        _ sums: UnsafePointer<Float>, _ sums2: UnsafePointer<Float>, _ ahead: Int) {
        let p0 = rows[0], p1 = rows[1], p2 = rows[2], p3 = rows[3]
        var s0: Float = 0, s1: Float = 0, s2: Float = 0, s3: Float = 0
        var u0: Float = 0, u1: Float = 0, u2: Float = 0, u3: Float = 0
        var t = 0
        while t < cols {
            let end = min(cols, t &+ AVX2Kernels.tileColumns)
            let n = end &- t
            D.writeScales(p0, t, n, buffer + 0)
            D.writeScales(p1, t, n, buffer + 16)
            D.writeScales(p2, t, n, buffer + 32)
            D.writeScales(p3, t, n, buffer + 48)
            let c0 = UnsafePointer(buffer + 0)
            let c1 = UnsafePointer(buffer + 16)
            let c2 = UnsafePointer(buffer + 32)
            let c3 = UnsafePointer(buffer + 48)
            var a0 = SIMD8<Float>(), a1 = SIMD8<Float>(), a2 = SIMD8<Float>(), a3 = SIMD8<Float>()
            var b0 = SIMD8<Float>(), b1 = SIMD8<Float>(), b2 = SIMD8<Float>(), b3 = SIMD8<Float>()
            var k = t
            while k &+ 32 <= end {
                if ahead > 0 { prefetch(D.self, p0, k, ahead); prefetch(D.self, p1, k, ahead); prefetch(D.self, p2, k, ahead); prefetch(D.self, p3, k, ahead) }
                let (xc, e) = D.prepare(xChunk(x, k)), (zc, f) = D.prepare(xChunk(xx, k))
                D.accumulate2(&a0, &b0, p0, k, c0, xc, e, zc, f)
                D.accumulate2(&a1, &b1, p1, k, c1, xc, e, zc, f)
                D.accumulate2(&a2, &b2, p2, k, c2, xc, e, zc, f)
                D.accumulate2(&a3, &b3, p3, k, c3, xc, e, zc, f)
                k &+= 32
            }
            while k < end {
                let xv = load8(x, k), zv = load8(xx, k)
                let w0 = D.eight(p0, k, c0), w1 = D.eight(p1, k, c1), w2 = D.eight(p2, k, c2), w3 = D.eight(p3, k, c3)
                a0.addProduct(w0, xv); b0.addProduct(w0, zv); a1.addProduct(w1, xv); b1.addProduct(w1, zv)
                a2.addProduct(w2, xv); b2.addProduct(w2, zv); a3.addProduct(w3, xv); b3.addProduct(w3, zv)
                k &+= 8
            }
            if D.columnsPerSum > 0 {
                let st = sums + t / D.columnsPerSum, st2 = sums2 + t / D.columnsPerSum
                D.tileOffset(&a0, c0, st); D.tileOffset(&a1, c1, st); D.tileOffset(&a2, c2, st); D.tileOffset(&a3, c3, st)
                D.tileOffset(&b0, c0, st2); D.tileOffset(&b1, c1, st2); D.tileOffset(&b2, c2, st2); D.tileOffset(&b3, c3, st2)
            }
            s0 += reduce(a0); s1 += reduce(a1); s2 += reduce(a2); s3 += reduce(a3)
            u0 += reduce(b0); u1 += reduce(b1); u2 += reduce(b2); u3 += reduce(b3)
            t = end
        }
        y[0] = s0; y[1] = s1; y[2] = s2; y[3] = s3
        yy[0] = u0; yy[1] = u1; yy[2] = u2; yy[3] = u3
    }
}
