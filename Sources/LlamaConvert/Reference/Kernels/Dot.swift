/// Dot products and small vector helpers over float32, written so the compiler keeps them in SIMD
/// registers: a scalar `s += a[i] * b[i]` stays scalar under strict IEEE ordering, so these
/// accumulate in two `SIMD16<Float>` and reduce once at the end.
///
/// The summation order depends only on `count`, never on threads or on the caller, so every
/// result is reproducible bit for bit.
enum Dot {
    /// Σ a[i]·b[i] for i < count.
    @inline(__always)
    static func f32(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count: Int) -> Float {
        let ra = UnsafeRawPointer(a), rb = UnsafeRawPointer(b)
        var acc0 = SIMD16<Float>(), acc1 = SIMD16<Float>()
        var i = 0
        while i &+ 32 <= count {
            acc0 += ra.loadUnaligned(fromByteOffset: 4 &* i, as: SIMD16<Float>.self)
                * rb.loadUnaligned(fromByteOffset: 4 &* i, as: SIMD16<Float>.self)
            acc1 += ra.loadUnaligned(fromByteOffset: 4 &* (i &+ 16), as: SIMD16<Float>.self)
                * rb.loadUnaligned(fromByteOffset: 4 &* (i &+ 16), as: SIMD16<Float>.self)
            i &+= 32
        }
        while i &+ 8 <= count {
            let p = ra.loadUnaligned(fromByteOffset: 4 &* i, as: SIMD8<Float>.self)
                * rb.loadUnaligned(fromByteOffset: 4 &* i, as: SIMD8<Float>.self)
            acc0 += SIMD16(lowHalf: p, highHalf: SIMD8())
            i &+= 8
        }
        var sum = reduce(acc0 + acc1)
        while i < count {
            sum += ra.loadUnaligned(fromByteOffset: 4 &* i, as: Float.self) * rb.loadUnaligned(fromByteOffset: 4 &* i, as: Float.self)
            i &+= 1
        }
        return sum
    }

    /// Σ w[i]·x[i] with w stored as 16-bit halves (fp16 or bf16 per `convert`), decoded on the fly.
    /// The same operations in the same order as decoding w and calling `f32`, so the two give
    /// identical bits (tested); `count` must be a multiple of 8.
    @inline(__always)
    static func halves(_ w: UnsafeRawPointer, _ x: UnsafePointer<Float>, count: Int,
                       _ convert: (SIMD8<UInt16>) -> SIMD8<Float>) -> Float {
        let rx = UnsafeRawPointer(x)
        var acc0 = SIMD16<Float>(), acc1 = SIMD16<Float>()
        var i = 0
        while i &+ 32 <= count {
            let w0 = convert(w.loadUnaligned(fromByteOffset: 2 &* i, as: SIMD8<UInt16>.self))
            let w1 = convert(w.loadUnaligned(fromByteOffset: 2 &* (i &+ 8), as: SIMD8<UInt16>.self))
            let w2 = convert(w.loadUnaligned(fromByteOffset: 2 &* (i &+ 16), as: SIMD8<UInt16>.self))
            let w3 = convert(w.loadUnaligned(fromByteOffset: 2 &* (i &+ 24), as: SIMD8<UInt16>.self))
            acc0 += SIMD16(lowHalf: w0, highHalf: w1) * rx.loadUnaligned(fromByteOffset: 4 &* i, as: SIMD16<Float>.self)
            acc1 += SIMD16(lowHalf: w2, highHalf: w3) * rx.loadUnaligned(fromByteOffset: 4 &* (i &+ 16), as: SIMD16<Float>.self)
            i &+= 32
        }
        while i &+ 8 <= count {
            let p = convert(w.loadUnaligned(fromByteOffset: 2 &* i, as: SIMD8<UInt16>.self))
                * rx.loadUnaligned(fromByteOffset: 4 &* i, as: SIMD8<Float>.self)
            acc0 += SIMD16(lowHalf: p, highHalf: SIMD8())
            i &+= 8
        }
        return reduce(acc0 + acc1)
    }

    /// The lanes summed as a fixed tree (halves added pairwise): four vector adds, where
    /// `SIMD.sum()` adds the sixteen lanes one after another, a chain of dependent additions.
    @inline(__always)
    static func reduce(_ v: SIMD16<Float>) -> Float {
        let v8 = v.lowHalf + v.highHalf
        let v4 = v8.lowHalf + v8.highHalf
        let v2 = v4.lowHalf + v4.highHalf
        return v2[0] + v2[1]
    }

    /// y[i] += a · x[i] for i < count.
    @inline(__always)
    static func addScaled(_ y: UnsafeMutablePointer<Float>, _ a: Float, _ x: UnsafePointer<Float>, count: Int) {
        let ry = UnsafeMutableRawPointer(y), rx = UnsafeRawPointer(x)
        var i = 0
        while i &+ 16 <= count {
            let v = ry.loadUnaligned(fromByteOffset: 4 &* i, as: SIMD16<Float>.self)
                + a * rx.loadUnaligned(fromByteOffset: 4 &* i, as: SIMD16<Float>.self)
            ry.storeBytes(of: v, toByteOffset: 4 &* i, as: SIMD16<Float>.self)
            i &+= 16
        }
        while i < count {
            y[i] += a * x[i]
            i &+= 1
        }
    }

    /// Σ x[i]² for i < count.
    @inline(__always)
    static func sumOfSquares(_ x: UnsafePointer<Float>, count: Int) -> Float {
        f32(x, x, count: count)
    }
}
