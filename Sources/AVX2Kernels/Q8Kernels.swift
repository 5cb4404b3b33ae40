/// Q8_0 quantization eight lanes at a time, the same bytes as the scalar port of ggml's
/// `quantize_row_q8_0_ref` (a test compares them on every committed vector).
///
/// Equal results follow from three facts: for non-negative floats the integer order of the bit
/// patterns is the float order, so an integer max gives C's `MAX` chain exactly when no value is
/// NaN; `roundf` of |v| < 2²² is round-to-nearest-even corrected at ties that went toward zero;
/// and F16C's `vcvtps2ph` rounds d to fp16 as `HalfFloat.fromFloat` does. Blocks holding an
/// infinity or NaN, or whose scale has no finite inverse, are left to the scalar code.
public enum Q8Kernels {
    /// Quantizes `blocks` blocks of 32 floats from `x` into 34-byte Q8_0 blocks at `y`. Returns the
    /// index of the first block it could not take (== `blocks` when it did them all); the caller
    /// quantizes that block with the scalar code and calls again from the next one.
    public static func quantizeQ8_0(_ x: UnsafePointer<Float>, blocks: Int, into y: UnsafeMutableRawPointer) -> Int {
        let rx = UnsafeRawPointer(x)
        for b in 0 ..< blocks {
            let base = 128 &* b
            let v0 = rx.loadUnaligned(fromByteOffset: base, as: SIMD8<Float>.self)
            let v1 = rx.loadUnaligned(fromByteOffset: base &+ 32, as: SIMD8<Float>.self)
            let v2 = rx.loadUnaligned(fromByteOffset: base &+ 64, as: SIMD8<Float>.self)
            let v3 = rx.loadUnaligned(fromByteOffset: base &+ 96, as: SIMD8<Float>.self)
            let m01 = pointwiseMax(magnitudeBits(v0), magnitudeBits(v1))
            let m23 = pointwiseMax(magnitudeBits(v2), magnitudeBits(v3))
            let maxBits = pointwiseMax(m01, m23).max()
            if maxBits >= 0x7f80_0000 { return b }  // an infinity or NaN
            let d = Float(bitPattern: UInt32(maxBits)) / 127
            let id: Float = d != 0 ? 1 / d : 0
            if !id.isFinite { return b }
            let yb = y + 34 &* b
            yb.storeBytes(of: Float16(d).bitPattern.littleEndian, as: UInt16.self)
            yb.storeBytes(of: quantize(v0 * id), toByteOffset: 2, as: SIMD8<Int8>.self)
            yb.storeBytes(of: quantize(v1 * id), toByteOffset: 10, as: SIMD8<Int8>.self)
            yb.storeBytes(of: quantize(v2 * id), toByteOffset: 18, as: SIMD8<Int8>.self)
            yb.storeBytes(of: quantize(v3 * id), toByteOffset: 26, as: SIMD8<Int8>.self)
        }
        return blocks
    }

    /// |v| as bits, read as signed integers (all non-negative: the sign bit is cleared).
    @inline(__always)
    static func magnitudeBits(_ v: SIMD8<Float>) -> SIMD8<Int32> {
        unsafeBitCast(v, to: SIMD8<Int32>.self) & 0x7fff_ffff
    }

    /// roundf (halves away from zero) of lanes with |v| < 128, narrowed to bytes. Written with
    /// float adds and integer masks only: Swift's generic SIMD conversions and comparisons stay
    /// out-of-line calls even here.
    @inline(__always)
    static func quantize(_ v: SIMD8<Float>) -> SIMD8<Int8> {
        // Adding 1.5·2²³ rounds to an integer (nearest, ties to even) held in the low mantissa bits.
        let shifted = v + 12_582_912
        let nearest = unsafeBitCast(shifted, to: SIMD8<Int32>.self) &- 0x4b40_0000
        let fraction = v - (shifted - 12_582_912)  // exact, in [−½, ½]
        // roundf differs only at a tie that went toward zero: the fraction is exactly ½ with v's sign.
        let vBits = unsafeBitCast(v, to: SIMD8<Int32>.self)
        let sign = vBits &>> 31  // −1 for negative v, else 0
        let miss = unsafeBitCast(fraction, to: SIMD8<Int32>.self) ^ (0x3f00_0000 | (vBits & Int32.min))
        let tie = ~((miss | (0 &- miss)) &>> 31)  // all ones where miss == 0
        let q = nearest &+ (tie & (sign | 1))
        return SIMD8<Int8>(Int8(truncatingIfNeeded: q[0]), Int8(truncatingIfNeeded: q[1]), Int8(truncatingIfNeeded: q[2]),
                           Int8(truncatingIfNeeded: q[3]), Int8(truncatingIfNeeded: q[4]), Int8(truncatingIfNeeded: q[5]),
                           Int8(truncatingIfNeeded: q[6]), Int8(truncatingIfNeeded: q[7]))
    }
}
