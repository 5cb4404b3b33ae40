/// IEEE half and bfloat16 conversions, kept in one place because `Float16` is not available on
/// every platform and because ggml's rounding rules must be matched bit for bit.
public enum HalfFloat {
    /// fp16 bits → Float (exact).
    @inline(__always)
    public static func toFloat(_ bits: UInt16) -> Float {
        Float(Float16(bitPattern: bits))
    }

    /// Float → fp16 bits, round to nearest even (as ggml's F16C path and numpy's astype do).
    @inline(__always)
    public static func fromFloat(_ value: Float) -> UInt16 {
        Float16(value).bitPattern
    }

    /// bf16 bits → Float (exact: bf16 is the top half of a float32).
    @inline(__always)
    public static func bf16ToFloat(_ bits: UInt16) -> Float {
        Float(bitPattern: UInt32(bits) << 16)
    }

    /// Float → bf16 bits as ggml's `ggml_compute_fp32_to_bf16`: NaN forced quiet, otherwise round to
    /// nearest even on the dropped 16 bits.
    @inline(__always)
    public static func bf16FromFloat(_ value: Float) -> UInt16 {
        let u = value.bitPattern
        if (u & 0x7fff_ffff) > 0x7f80_0000 { return UInt16(truncatingIfNeeded: (u >> 16) | 64) }
        return UInt16(truncatingIfNeeded: (u &+ (0x7fff &+ ((u >> 16) & 1))) >> 16)
    }
}
