/// Eight-wide fp16 and bf16 decoding for the matrix kernels. Separate from `HalfFloat.swift` only so
/// the scalar reference and this fast path can be read side by side; a test checks all 65 536 fp16
/// bit patterns against `HalfFloat.toFloat`.
///
/// The baseline x86-64 ISA has no F16C, so `Float(Float16)` is a library call per element there;
/// this decodes with integer SIMD instead.
extension HalfFloat {
    /// fp16 bits → Float, exact for every value (subnormals, infinities and NaN payloads included).
    @inline(__always)
    static func toFloat8(_ bits: SIMD8<UInt16>) -> SIMD8<Float> {
        // Signed lanes, shifts and masks only: Swift scalarises SIMD comparisons (`.<`) into a
        // per-lane loop, and SSE2 has no unsigned compare anyway. The generic conversions
        // (`SIMD8<Int32>(truncatingIfNeeded:)`, `SIMD8<Float>(_:)`) are avoided too: inside a
        // large kernel they stay out-of-line calls.
        let h = widen(bits)
        let magnitude = h & 0x7fff
        // Exponent and mantissa moved into float32 position read as a float32 of exponent bias
        // 127; multiplying by 2^(127−15) rebiases it exactly. This covers normals, zero and the
        // subnormals (a float32 subnormal times 2¹¹² is exact and normal).
        let shifted = magnitude &<< 13
        let scaled = unsafeBitCast(unsafeBitCast(shifted, to: SIMD8<Float>.self) * 0x1p112, to: SIMD8<Int32>.self)
        // Infinity and NaN (exponent 31) keep their mantissa, the NaN payload, under an
        // all-ones exponent. `huge` is all ones in those lanes.
        let huge = (0x7bff &- magnitude) &>> 31
        let f32 = (scaled & ~huge) | ((shifted | 0x7f80_0000) & huge)
        return unsafeBitCast(f32 | ((h & 0x8000) &<< 16), to: SIMD8<Float>.self)
    }

    /// fp16 bits → Float for finite values (normals, zeros, subnormals), exact, in about half the
    /// operations of `toFloat8`. Infinities and NaNs come out finite and wrong: use it only on
    /// data that `allFinite` has checked.
    @inline(__always)
    static func finiteToFloat8(_ bits: SIMD8<UInt16>) -> SIMD8<Float> {
        let h = widen(bits)
        let scaled = unsafeBitCast((h & 0x7fff) &<< 13, to: SIMD8<Float>.self) * 0x1p112
        return unsafeBitCast(unsafeBitCast(scaled, to: SIMD8<Int32>.self) | ((h & 0x8000) &<< 16), to: SIMD8<Float>.self)
    }

    /// Whether none of `count` fp16 values at `source` is an infinity or a NaN (exponent 31).
    static func allFinite(_ source: UnsafeRawPointer, count: Int) -> Bool {
        // (bits & 0x7c00) + 0x0400 reaches 0x8000 exactly when the exponent is all ones.
        var seen = SIMD8<UInt16>()
        var i = 0
        while i &+ 8 <= count {
            seen |= (source.loadUnaligned(fromByteOffset: 2 &* i, as: SIMD8<UInt16>.self) & 0x7c00) &+ 0x0400
            i &+= 8
        }
        let lanes = unsafeBitCast(seen, to: SIMD2<UInt64>.self)
        var flagged = (lanes[0] | lanes[1]) & 0x8000_8000_8000_8000 != 0
        while i < count {
            flagged = flagged || source.loadUnaligned(fromByteOffset: 2 &* i, as: UInt16.self) & 0x7c00 == 0x7c00
            i &+= 1
        }
        return !flagged
    }

    /// Zero-extends eight UInt16 lanes to Int32, lane by lane so the optimiser sees unpacks.
    @inline(__always)
    static func widen(_ v: SIMD8<UInt16>) -> SIMD8<Int32> {
        SIMD8<Int32>(Int32(v[0]), Int32(v[1]), Int32(v[2]), Int32(v[3]), Int32(v[4]), Int32(v[5]), Int32(v[6]), Int32(v[7]))
    }

    /// bf16 bits → Float (exact: bf16 is the top half of a float32).
    @inline(__always)
    static func bf16ToFloat8(_ bits: SIMD8<UInt16>) -> SIMD8<Float> {
        unsafeBitCast(widen(bits) &<< 16, to: SIMD8<Float>.self)
    }
}
