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
        let h = SIMD8<UInt32>(truncatingIfNeeded: bits)
        let magnitude = h & 0x7fff
        let sign = (h & 0x8000) &<< 16
        // Normal numbers: move exponent and mantissa into place and rebias the exponent by 127 - 15.
        var f32 = (magnitude &<< 13) &+ 0x3800_0000
        // Exponent 0 (zero, subnormal) or 31 (infinity, NaN) need their own rule; they are rare in
        // weights, so test once for the whole vector.
        let special = (magnitude .< 0x0400) .| (magnitude .>= 0x7c00)
        if any(special) {
            // mantissa · 2⁻²⁴, exact because the mantissa has 10 bits.
            let subnormal = SIMD8<Float>(SIMD8<Int32>(truncatingIfNeeded: magnitude)) * 0x1p-24
            f32.replace(with: unsafeBitCast(subnormal, to: SIMD8<UInt32>.self), where: magnitude .< 0x0400)
            f32.replace(with: (magnitude &<< 13) | 0x7f80_0000, where: magnitude .>= 0x7c00)
        }
        return unsafeBitCast(f32 | sign, to: SIMD8<Float>.self)
    }

    /// bf16 bits → Float (exact: bf16 is the top half of a float32).
    @inline(__always)
    static func bf16ToFloat8(_ bits: SIMD8<UInt16>) -> SIMD8<Float> {
        unsafeBitCast(SIMD8<UInt32>(truncatingIfNeeded: bits) &<< 16, to: SIMD8<Float>.self)
    }
}
