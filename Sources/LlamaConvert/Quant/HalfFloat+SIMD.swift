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
