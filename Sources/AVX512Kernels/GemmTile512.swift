import AVX2Kernels

/// `AVX2Kernels.gemmTile` on 512-bit registers, with the same bits: each register holds the
/// 8-lane accumulators of two weight rows side by side, so every lane adds exactly the products
/// its 8-wide counterpart adds, in the same order, and each half is reduced by the same tree
/// (((v0+v4) + (v2+v6)) + ((v1+v5) + (v3+v7))), eight reductions at a time across registers.
/// Twice the multiply-adds per instruction: 4 tokens × 8 rows per block, 16 accumulators.
///
/// Rows and tokens that do not fill a block go to the 8-wide kernel, which gives them the same bits.
public enum AVX512Kernels {
    static let rowsPerBlock = 8
    static let tokensPerBlock = 4

    /// y[b·yStride + r] += Σ_{k < count} w[r·wStride + k] · x[b·xStride + k], as
    /// `AVX2Kernels.gemmTile` (`count` ≤ `AVX2Kernels.tileColumns`, a multiple of 8).
    public static func gemmTile(w: UnsafePointer<Float>, wStride: Int, rows: Int,
                                x: UnsafePointer<Float>, xStride: Int, batch: Int, count: Int,
                                y: UnsafeMutablePointer<Float>, yStride: Int) {
        precondition(count % 8 == 0 && count <= AVX2Kernels.tileColumns, "AVX512Kernels.gemmTile: \(count) columns")
        let fullRows = rows / rowsPerBlock * rowsPerBlock, fullBatch = batch / tokensPerBlock * tokensPerBlock
        if fullRows > 0 && fullBatch > 0 {
            // Row pairs interleaved by 8 columns: pair p holds [w_2p[k..<k+8], w_2p+1[k..<k+8]] for each k,
            // so one load fills a register with both rows' columns.
            withUnsafeTemporaryAllocation(of: Float.self, capacity: fullRows * count) { buffer in
                let pairs = buffer.baseAddress!
                for p in 0 ..< fullRows / 2 {
                    let a = UnsafeRawPointer(w + 2 &* p &* wStride), b = a + 4 &* wStride
                    let dst = UnsafeMutableRawPointer(pairs + p &* 2 &* count)
                    var k = 0
                    while k < count {
                        let lo = a.loadUnaligned(fromByteOffset: 4 &* k, as: SIMD8<Float>.self)
                        let hi = b.loadUnaligned(fromByteOffset: 4 &* k, as: SIMD8<Float>.self)
                        dst.storeBytes(of: SIMD16(lowHalf: lo, highHalf: hi), toByteOffset: 8 &* k, as: SIMD16<Float>.self)
                        k &+= 8
                    }
                }
                // Tokens outside: the interleaved rows (≤ 24 KiB) stay in L1 while each group of
                // four tokens' columns (4 KiB) is read once.
                var t = 0
                while t < fullBatch {
                    var r = 0
                    while r < fullRows {
                        kernel4x8(UnsafePointer(pairs + r &* count), count, x + t &* xStride, xStride, y + (t &* yStride &+ r), yStride)
                        r &+= rowsPerBlock
                    }
                    t &+= tokensPerBlock
                }
            }
        }
        if fullBatch < batch && fullRows > 0 {
            AVX2Kernels.gemmTile(w: w, wStride: wStride, rows: fullRows, x: x + fullBatch &* xStride, xStride: xStride,
                                 batch: batch &- fullBatch, count: count, y: y + fullBatch &* yStride, yStride: yStride)
        }
        if fullRows < rows {
            AVX2Kernels.gemmTile(w: w + fullRows &* wStride, wStride: wStride, rows: rows &- fullRows, x: x, xStride: xStride,
                                 batch: batch, count: count, y: y + fullRows, yStride: yStride)
        }
    }

    /// Four tokens (x rows t … t+3) against four interleaved row pairs; adds each of the 32 sums
    /// to out[token·stride + row].
    @inline(__always)
    static func kernel4x8(_ pairs: UnsafePointer<Float>, _ count: Int, _ x: UnsafePointer<Float>, _ xStride: Int,
                          _ out: UnsafeMutablePointer<Float>, _ stride: Int) {
        let p0 = UnsafeRawPointer(pairs), p1 = p0 + 8 &* count, p2 = p0 + 16 &* count, p3 = p0 + 24 &* count
        var a00 = SIMD16<Float>(), a01 = SIMD16<Float>(), a02 = SIMD16<Float>(), a03 = SIMD16<Float>()
        var a10 = SIMD16<Float>(), a11 = SIMD16<Float>(), a12 = SIMD16<Float>(), a13 = SIMD16<Float>()
        var a20 = SIMD16<Float>(), a21 = SIMD16<Float>(), a22 = SIMD16<Float>(), a23 = SIMD16<Float>()
        var a30 = SIMD16<Float>(), a31 = SIMD16<Float>(), a32 = SIMD16<Float>(), a33 = SIMD16<Float>()
        let x0 = UnsafeRawPointer(x), x1 = x0 + 4 &* xStride, x2 = x1 + 4 &* xStride, x3 = x2 + 4 &* xStride
        var k = 0
        while k < count {
            let w0 = p0.loadUnaligned(fromByteOffset: 8 &* k, as: SIMD16<Float>.self)
            let w1 = p1.loadUnaligned(fromByteOffset: 8 &* k, as: SIMD16<Float>.self)
            let w2 = p2.loadUnaligned(fromByteOffset: 8 &* k, as: SIMD16<Float>.self)
            let w3 = p3.loadUnaligned(fromByteOffset: 8 &* k, as: SIMD16<Float>.self)
            var v = twice(x0, k)
            a00.addProduct(w0, v); a01.addProduct(w1, v); a02.addProduct(w2, v); a03.addProduct(w3, v)
            v = twice(x1, k)
            a10.addProduct(w0, v); a11.addProduct(w1, v); a12.addProduct(w2, v); a13.addProduct(w3, v)
            v = twice(x2, k)
            a20.addProduct(w0, v); a21.addProduct(w1, v); a22.addProduct(w2, v); a23.addProduct(w3, v)
            v = twice(x3, k)
            a30.addProduct(w0, v); a31.addProduct(w1, v); a32.addProduct(w2, v); a33.addProduct(w3, v)
            k &+= 8
        }
        addSums(reduce(a00, a01, a02, a03, a10, a11, a12, a13), out, stride)
        addSums(reduce(a20, a21, a22, a23, a30, a31, a32, a33), out + 2 &* stride, stride)
    }

    /// x[k ..< k+8] in both halves.
    @inline(__always)
    static func twice(_ x: UnsafeRawPointer, _ k: Int) -> SIMD16<Float> {
        let v = x.loadUnaligned(fromByteOffset: 4 &* k, as: SIMD8<Float>.self)
        return SIMD16(lowHalf: v, highHalf: v)
    }

    /// Lanes 0-7: rows 0-7 of the first token, lanes 8-15: of the second, added to out[row] and
    /// out[stride + row].
    @inline(__always)
    static func addSums(_ s: SIMD16<Float>, _ out: UnsafeMutablePointer<Float>, _ stride: Int) {
        let o0 = UnsafeMutableRawPointer(out), o1 = o0 + 4 &* stride
        o0.storeBytes(of: o0.loadUnaligned(as: SIMD8<Float>.self) + s.lowHalf, as: SIMD8<Float>.self)
        o1.storeBytes(of: o1.loadUnaligned(as: SIMD8<Float>.self) + s.highHalf, as: SIMD8<Float>.self)
    }

    /// The sixteen 8-lane sums of a0…a3 (first token's pairs 0-3) and b0…b3 (second token's), each
    /// by `AVX2Kernels`' tree, returned as [first token rows 0-7, second token rows 0-7].
    @inline(__always)
    static func reduce(_ a0: SIMD16<Float>, _ a1: SIMD16<Float>, _ a2: SIMD16<Float>, _ a3: SIMD16<Float>,
                       _ b0: SIMD16<Float>, _ b1: SIMD16<Float>, _ b2: SIMD16<Float>, _ b3: SIMD16<Float>) -> SIMD16<Float> {
        // v4[i] = v[i] + v[i+4] in every half: [a.h0, b.h0, a.h1, b.h1] in groups of four.
        @inline(__always) func fold4(_ a: SIMD16<Float>, _ b: SIMD16<Float>) -> SIMD16<Float> {
            SIMD16(a[0], a[1], a[2], a[3], b[0], b[1], b[2], b[3], a[8], a[9], a[10], a[11], b[8], b[9], b[10], b[11])
                + SIMD16(a[4], a[5], a[6], a[7], b[4], b[5], b[6], b[7], a[12], a[13], a[14], a[15], b[12], b[13], b[14], b[15])
        }
        // v2[j] = v4[j] + v4[j+2] in every group of four, groups of s and t interleaved by two.
        @inline(__always) func fold2(_ s: SIMD16<Float>, _ t: SIMD16<Float>) -> SIMD16<Float> {
            SIMD16(s[0], s[1], t[0], t[1], s[4], s[5], t[4], t[5], s[8], s[9], t[8], t[9], s[12], s[13], t[12], t[13])
                + SIMD16(s[2], s[3], t[2], t[3], s[6], s[7], t[6], t[7], s[10], s[11], t[10], t[11], s[14], s[15], t[14], t[15])
        }
        // v2[0] + v2[1] of every pair.
        @inline(__always) func fold1(_ r: SIMD16<Float>, _ q: SIMD16<Float>) -> SIMD16<Float> {
            SIMD16(r[0], r[2], r[4], r[6], r[8], r[10], r[12], r[14], q[0], q[2], q[4], q[6], q[8], q[10], q[12], q[14])
                + SIMD16(r[1], r[3], r[5], r[7], r[9], r[11], r[13], r[15], q[1], q[3], q[5], q[7], q[9], q[11], q[13], q[15])
        }
        // Lane j of the result holds the sum of (pair, half) j → rows [0, 4, 2, 6, 1, 5, 3, 7] per token.
        let r = fold1(fold2(fold4(a0, a1), fold4(a2, a3)), fold2(fold4(b0, b1), fold4(b2, b3)))
        return SIMD16(r[0], r[4], r[2], r[6], r[1], r[5], r[3], r[7], r[8], r[12], r[10], r[14], r[9], r[13], r[11], r[15])
    }
}
