import CKernelSupport

/// Products with one or two tokens for the grouped formats (`GroupedChunks`: Q4_0): x is
/// multiplied by the quants and each block's sum by its scale once, y = Σ d·(Σq·x − 8·Σx), so a weight costs one
/// multiply-add where the decoded formats spend one to decode it and one to use it (generation of
/// a Q4_0 file about a fifth faster on the 853M benchmark).
///
/// Summation order (for these formats, one or two tokens only): tiles of 256 columns from column
/// 0, one 8-wide accumulator per output and tile; for each block of 32 columns g in increasing
/// order, lane i starts from t = −offset·Σx, where Σx = ((x[g+i] + x[g+8+i]) + x[g+16+i]) +
/// x[g+24+i] (offset 8: a power of two, so the product is exact), computes
/// t = fma(q[g+8j+i], x[g+8j+i], t) for j = 0 … 3, then acc = fma(d, t, acc); the tile's lanes are
/// added as in `AVX2Kernels`, y = 0 + tile₀ + tile₁ + …. (Starting t from the offset term instead
/// of adding d·(−offset)·Σx afterwards saves a multiply-add and a broadcast per row and block.)
/// The batched product keeps the per-weight order of `AVX2Kernels`: there the decoding is already
/// shared by the whole batch, and the same grouping (twelve block sums beside twelve accumulators)
/// made prompts twice as slow. So for these formats a token's result depends on whether it came
/// alone or in a pair (the same bits either way) or in a batch of three or more, within float
/// rounding; it never depends on the thread count. The same grouping for Q4_K (sub-block pairs
/// from one widening) and Q6_K measured no faster, so they keep the per-weight order throughout.
enum GroupedMatVec<D: GroupedChunks> {
    static func run(_ rows: UnsafePointer<UnsafeRawPointer>, _ rowCount: Int, _ cols: Int,
                    _ x: UnsafePointer<Float>, _ xStride: Int, _ batch: Int,
                    _ y: UnsafeMutablePointer<Float>, _ yStride: Int) {
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 16 * 8) { scratch in
            run(rows, rowCount, cols, x, xStride, batch, y, yStride, scratch.baseAddress!)
        }
    }

    static func run(_ rows: UnsafePointer<UnsafeRawPointer>, _ rowCount: Int, _ cols: Int,
                    _ x: UnsafePointer<Float>, _ xStride: Int, _ batch: Int,
                    _ y: UnsafeMutablePointer<Float>, _ yStride: Int, _ buffer: UnsafeMutablePointer<Float>) {
        let ahead = prefetchRows(passRows: batch == 1 ? 8 : 4) &* D.byteOffset(cols)
        var i = 0
        if batch == 1 {
            while i &+ 8 <= rowCount {
                rows8(rows + i, cols, x, y + i, buffer, ahead)
                i &+= 8
            }
            while i &+ 4 <= rowCount {
                rows4(rows + i, cols, x, y + i, buffer, ahead)
                i &+= 4
            }
            while i < rowCount {
                rows1(rows + i, cols, x, y + i, buffer, ahead)
                i &+= 1
            }
        } else {
            while i &+ 4 <= rowCount {
                rows4x2(rows + i, cols, x, x + xStride, y + i, y + yStride + i, buffer, ahead)
                i &+= 4
            }
            while i < rowCount {
                rows1(rows + i, cols, x, y + i, buffer, ahead)
                rows1(rows + i, cols, x + xStride, y + yStride + i, buffer, ahead)
                i &+= 1
            }
        }
    }

    /// One row's multiply-adds for weights k ..< k+32 (the order above), into `acc`.
    @inline(__always)
    static func step(_ acc: inout SIMD8<Float>, _ p: UnsafeRawPointer, _ k: Int, _ s: UnsafePointer<Float>, _ x: Chunk, _ xs: SIMD8<Float>) {
        let q = D.quants(p, k)
        var t = llama_convert_fma(q.w0, x.w0, xs)
        t = llama_convert_fma(q.w1, x.w1, t)
        t = llama_convert_fma(q.w2, x.w2, t)
        t = llama_convert_fma(q.w3, x.w3, t)
        acc = llama_convert_fma(SIMD8(repeating: s[blockInTile(k)]), t, acc)
    }

    /// x[k ..< k+32] and −offset times its lane sums (the start of every row's block sum).
    @inline(__always)
    static func xChunk(_ x: UnsafePointer<Float>, _ k: Int) -> (Chunk, SIMD8<Float>) {
        let c = Chunk(w0: load8(x, k), w1: load8(x, k &+ 8), w2: load8(x, k &+ 16), w3: load8(x, k &+ 24))
        return (c, groupSum(c) * SIMD8(repeating: -D.offset))
    }

    static func rows1(_ rows: UnsafePointer<UnsafeRawPointer>, _ cols: Int, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                      _ buffer: UnsafeMutablePointer<Float>, _ ahead: Int) {
        var s0: Float = 0
        var t = 0
        while t < cols {
            let end = min(cols, t &+ AVX2Kernels.tileColumns), n = end &- t
            D.writeScales(rows[0], t, n, buffer)
            let c0 = UnsafePointer(buffer)
            let q0 = rows[0] + D.byteOffset(t), xt = x + t
            var a0 = SIMD8<Float>()
            var k = 0
            while k < n {
                if ahead > 0 { prefetch(D.self, q0, k, ahead) }
                let (xc, xs) = xChunk(xt, k)
                step(&a0, q0, k, c0, xc, xs)
                k &+= 32
            }
            s0 += reduce(a0)
            t = end
        }
        y[0] = s0
    }

    static func rows4(_ rows: UnsafePointer<UnsafeRawPointer>, _ cols: Int, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                      _ buffer: UnsafeMutablePointer<Float>, _ ahead: Int) {
        var s0: Float = 0, s1: Float = 0, s2: Float = 0, s3: Float = 0
        var t = 0
        while t < cols {
            let end = min(cols, t &+ AVX2Kernels.tileColumns), n = end &- t
            for r in 0 ..< 4 { D.writeScales(rows[r], t, n, buffer + 16 &* r) }
            let c0 = UnsafePointer(buffer + 0), c1 = UnsafePointer(buffer + 16)
            let c2 = UnsafePointer(buffer + 32), c3 = UnsafePointer(buffer + 48)
            let o = D.byteOffset(t), xt = x + t
            let q0 = rows[0] + o, q1 = rows[1] + o, q2 = rows[2] + o, q3 = rows[3] + o
            var a0 = SIMD8<Float>(), a1 = SIMD8<Float>(), a2 = SIMD8<Float>(), a3 = SIMD8<Float>()
            var k = 0
            while k < n {
                if ahead > 0 { prefetch(D.self, q0, k, ahead); prefetch(D.self, q1, k, ahead); prefetch(D.self, q2, k, ahead); prefetch(D.self, q3, k, ahead) }
                let (xc, xs) = xChunk(xt, k)
                step(&a0, q0, k, c0, xc, xs); a0 = llama_convert_settle(a0)
                step(&a1, q1, k, c1, xc, xs); a1 = llama_convert_settle(a1)
                step(&a2, q2, k, c2, xc, xs); a2 = llama_convert_settle(a2)
                step(&a3, q3, k, c3, xc, xs)
                k &+= 32
            }
            s0 += reduce(a0); s1 += reduce(a1); s2 += reduce(a2); s3 += reduce(a3)
            t = end
        }
        y[0] = s0; y[1] = s1; y[2] = s2; y[3] = s3
    }

    static func rows8(_ rows: UnsafePointer<UnsafeRawPointer>, _ cols: Int, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                      _ buffer: UnsafeMutablePointer<Float>, _ ahead: Int) {
        var s0: Float = 0, s1: Float = 0, s2: Float = 0, s3: Float = 0, s4: Float = 0, s5: Float = 0, s6: Float = 0, s7: Float = 0
        var t = 0
        while t < cols {
            let end = min(cols, t &+ AVX2Kernels.tileColumns), n = end &- t
            for r in 0 ..< 8 { D.writeScales(rows[r], t, n, buffer + 16 &* r) }
            let c0 = UnsafePointer(buffer + 0), c1 = UnsafePointer(buffer + 16)
            let c2 = UnsafePointer(buffer + 32), c3 = UnsafePointer(buffer + 48)
            let c4 = UnsafePointer(buffer + 64), c5 = UnsafePointer(buffer + 80)
            let c6 = UnsafePointer(buffer + 96), c7 = UnsafePointer(buffer + 112)
            let o = D.byteOffset(t), xt = x + t
            let q0 = rows[0] + o, q1 = rows[1] + o, q2 = rows[2] + o, q3 = rows[3] + o
            let q4 = rows[4] + o, q5 = rows[5] + o, q6 = rows[6] + o, q7 = rows[7] + o
            var a0 = SIMD8<Float>(), a1 = SIMD8<Float>(), a2 = SIMD8<Float>(), a3 = SIMD8<Float>()
            var a4 = SIMD8<Float>(), a5 = SIMD8<Float>(), a6 = SIMD8<Float>(), a7 = SIMD8<Float>()
            var k = 0
            while k < n {
                if ahead > 0 {
                    prefetch(D.self, q0, k, ahead); prefetch(D.self, q1, k, ahead); prefetch(D.self, q2, k, ahead); prefetch(D.self, q3, k, ahead)
                    prefetch(D.self, q4, k, ahead); prefetch(D.self, q5, k, ahead); prefetch(D.self, q6, k, ahead); prefetch(D.self, q7, k, ahead)
                }
                let (xc, xs) = xChunk(xt, k)
                step(&a0, q0, k, c0, xc, xs); a0 = llama_convert_settle(a0)
                step(&a1, q1, k, c1, xc, xs); a1 = llama_convert_settle(a1)
                step(&a2, q2, k, c2, xc, xs); a2 = llama_convert_settle(a2)
                step(&a3, q3, k, c3, xc, xs); a3 = llama_convert_settle(a3)
                step(&a4, q4, k, c4, xc, xs); a4 = llama_convert_settle(a4)
                step(&a5, q5, k, c5, xc, xs); a5 = llama_convert_settle(a5)
                step(&a6, q6, k, c6, xc, xs); a6 = llama_convert_settle(a6)
                step(&a7, q7, k, c7, xc, xs)
                k &+= 32
            }
            s0 += reduce(a0); s1 += reduce(a1); s2 += reduce(a2); s3 += reduce(a3)
            s4 += reduce(a4); s5 += reduce(a5); s6 += reduce(a6); s7 += reduce(a7)
            t = end
        }
        y[0] = s0; y[1] = s1; y[2] = s2; y[3] = s3; y[4] = s4; y[5] = s5; y[6] = s6; y[7] = s7
    }

    static func rows4x2(_ rows: UnsafePointer<UnsafeRawPointer>, _ cols: Int, _ x: UnsafePointer<Float>, _ xx: UnsafePointer<Float>,
                        _ y: UnsafeMutablePointer<Float>, _ yy: UnsafeMutablePointer<Float>, _ buffer: UnsafeMutablePointer<Float>, _ ahead: Int) {
        var s0: Float = 0, s1: Float = 0, s2: Float = 0, s3: Float = 0
        var u0: Float = 0, u1: Float = 0, u2: Float = 0, u3: Float = 0
        var t = 0
        while t < cols {
            let end = min(cols, t &+ AVX2Kernels.tileColumns), n = end &- t
            for r in 0 ..< 4 { D.writeScales(rows[r], t, n, buffer + 16 &* r) }
            let c0 = UnsafePointer(buffer + 0), c1 = UnsafePointer(buffer + 16)
            let c2 = UnsafePointer(buffer + 32), c3 = UnsafePointer(buffer + 48)
            let o = D.byteOffset(t), xt = x + t, zt = xx + t
            let q0 = rows[0] + o, q1 = rows[1] + o, q2 = rows[2] + o, q3 = rows[3] + o
            var a0 = SIMD8<Float>(), a1 = SIMD8<Float>(), a2 = SIMD8<Float>(), a3 = SIMD8<Float>()
            var b0 = SIMD8<Float>(), b1 = SIMD8<Float>(), b2 = SIMD8<Float>(), b3 = SIMD8<Float>()
            var k = 0
            while k < n {
                if ahead > 0 { prefetch(D.self, q0, k, ahead); prefetch(D.self, q1, k, ahead); prefetch(D.self, q2, k, ahead); prefetch(D.self, q3, k, ahead) }
                let (xc, xs) = xChunk(xt, k), (zc, zs) = xChunk(zt, k)
                step(&a0, q0, k, c0, xc, xs); step(&b0, q0, k, c0, zc, zs); a0 = llama_convert_settle(a0); b0 = llama_convert_settle(b0)
                step(&a1, q1, k, c1, xc, xs); step(&b1, q1, k, c1, zc, zs); a1 = llama_convert_settle(a1); b1 = llama_convert_settle(b1)
                step(&a2, q2, k, c2, xc, xs); step(&b2, q2, k, c2, zc, zs); a2 = llama_convert_settle(a2); b2 = llama_convert_settle(b2)
                step(&a3, q3, k, c3, xc, xs); step(&b3, q3, k, c3, zc, zs)
                k &+= 32
            }
            s0 += reduce(a0); s1 += reduce(a1); s2 += reduce(a2); s3 += reduce(a3)
            u0 += reduce(b0); u1 += reduce(b1); u2 += reduce(b2); u3 += reduce(b3)
            t = end
        }
        y[0] = s0; y[1] = s1; y[2] = s2; y[3] = s3
        yy[0] = u0; yy[1] = u1; yy[2] = u2; yy[3] = u3
    }
}

/// The lane sums of 32 consecutive x, in the order of the grouped kernels.
@inline(__always)
func groupSum(_ c: Chunk) -> SIMD8<Float> { ((c.w0 + c.w1) + c.w2) + c.w3 }
