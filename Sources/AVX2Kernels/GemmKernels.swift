/// The batched product over one tile of decoded weights (the prompt path): a register-blocked
/// micro-kernel computing 4 rows of x against 3 rows of W at once, twelve 8-wide accumulators, so
/// each weight vector loaded serves four multiply-adds and each x vector three. Every output is
/// summed in the order of `AVX2Kernels` (one accumulator per output, k increasing, a fixed tree),
/// the order of `matVec`, so a token's result does not depend on the batch it came in.
extension AVX2Kernels {
    /// y[b·yStride + r] += Σ_{k < count} w[r·wStride + k] · x[b·xStride + k] for r < rows and
    /// b < batch, the sum taken in the tile order above (`count` ≤ `tileColumns`, a multiple of 8).
    public static func gemmTile(w: UnsafePointer<Float>, wStride: Int, rows: Int,
                                x: UnsafePointer<Float>, xStride: Int, batch: Int, count: Int,
                                y: UnsafeMutablePointer<Float>, yStride: Int) {
        precondition(count % 8 == 0, "AVX2Kernels.gemmTile: \(count) columns")
        var b = 0
        while b < batch {
            let nb = min(4, batch &- b)
            // Missing rows of a partial block repeat the block's first row; their sums are dropped.
            let x0 = x + b &* xStride
            let x1 = nb > 1 ? x0 + xStride : x0, x2 = nb > 2 ? x0 + 2 &* xStride : x0, x3 = nb > 3 ? x0 + 3 &* xStride : x0
            var r = 0
            while r < rows {
                let nr = min(3, rows &- r)
                let w0 = w + r &* wStride
                let w1 = nr > 1 ? w0 + wStride : w0, w2 = nr > 2 ? w0 + 2 &* wStride : w0
                let out = y + (b &* yStride &+ r)
                if nb == 4 && nr == 3 {
                    kernel4x3(w0, w1, w2, x0, x1, x2, x3, count, out, yStride)
                } else {
                    // A partial block: the sums of the missing rows land in a scratch block.
                    withUnsafeTemporaryAllocation(of: Float.self, capacity: 12) { s in
                        let t = s.baseAddress!
                        t.update(repeating: 0, count: 12)
                        kernel4x3(w0, w1, w2, x0, x1, x2, x3, count, t, 3)
                        for i in 0 ..< nb {
                            for j in 0 ..< nr { out[i &* yStride &+ j] += t[3 &* i &+ j] }
                        }
                    }
                }
                r &+= 3
            }
            b &+= 4
        }
    }

    /// Adds the twelve tile sums x_i · w_j to out[i·stride + j] (written one by one: packing them
    /// into a vector and picking its lanes by a variable index went through the stack, and with
    /// the reductions it was 30% of the batched product's time).
    @inline(__always)
    static func kernel4x3(_ w0: UnsafePointer<Float>, _ w1: UnsafePointer<Float>, _ w2: UnsafePointer<Float>,
                          _ x0: UnsafePointer<Float>, _ x1: UnsafePointer<Float>, _ x2: UnsafePointer<Float>, _ x3: UnsafePointer<Float>,
                          _ count: Int, _ out: UnsafeMutablePointer<Float>, _ stride: Int) {
        var a00 = SIMD8<Float>(), a01 = SIMD8<Float>(), a02 = SIMD8<Float>()
        var a10 = SIMD8<Float>(), a11 = SIMD8<Float>(), a12 = SIMD8<Float>()
        var a20 = SIMD8<Float>(), a21 = SIMD8<Float>(), a22 = SIMD8<Float>()
        var a30 = SIMD8<Float>(), a31 = SIMD8<Float>(), a32 = SIMD8<Float>()
        var k = 0
        while k < count {
            let v0 = load8(w0, k), v1 = load8(w1, k), v2 = load8(w2, k)
            let y0 = load8(x0, k)
            a00.addProduct(v0, y0); a01.addProduct(v1, y0); a02.addProduct(v2, y0)
            let y1 = load8(x1, k)
            a10.addProduct(v0, y1); a11.addProduct(v1, y1); a12.addProduct(v2, y1)
            let y2 = load8(x2, k)
            a20.addProduct(v0, y2); a21.addProduct(v1, y2); a22.addProduct(v2, y2)
            let y3 = load8(x3, k)
            a30.addProduct(v0, y3); a31.addProduct(v1, y3); a32.addProduct(v2, y3)
            k &+= 8
        }
        out[0] += reduce(a00); out[1] += reduce(a01); out[2] += reduce(a02)
        let o1 = out + stride, o2 = out + 2 &* stride, o3 = out + 3 &* stride
        o1[0] += reduce(a10); o1[1] += reduce(a11); o1[2] += reduce(a12)
        o2[0] += reduce(a20); o2[1] += reduce(a21); o2[2] += reduce(a22)
        o3[0] += reduce(a30); o3[1] += reduce(a31); o3[2] += reduce(a32)
    }
}
