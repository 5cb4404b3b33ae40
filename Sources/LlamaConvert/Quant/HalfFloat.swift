import AVX2Kernels

/// IEEE half and bfloat16 conversions, kept in one place because `Float16` is not available on
/// every platform and because ggml's rounding rules must be matched bit for bit. Written with
/// integer selects (no `Float16`), identical to the `Float16` conversions on every input.
public enum HalfFloat {
    /// fp16 bits → Float (exact), bit for bit what `Float(Float16(bitPattern:))` gives (signalling
    /// NaNs come out quiet), checked over all 65536 inputs. Selects instead of branches and no call
    /// into the runtime's `__extendhfsf2`, so loops over rows vectorize.
    @inline(__always)
    public static func toFloat(_ bits: UInt16) -> Float {
        let sign = UInt32(bits & 0x8000) << 16
        let shifted = UInt32(bits & 0x7fff) << 13
        let exponent = shifted & 0x0f80_0000
        // Normal: rebias 15 → 127. Inf/NaN: exponent to 255, NaN payload kept and made quiet.
        let normal = shifted &+ 0x3800_0000
        let special = (shifted &+ 0x7000_0000) | ((shifted & 0x007f_ffff) != 0 ? 0x0040_0000 : 0)
        // Subnormal: m · 2^-24, exactly, as (2^-14 + m · 2^-24) − 2^-14.
        let subnormal = (Float(bitPattern: shifted &+ 0x3880_0000) - Float(bitPattern: 0x3880_0000)).bitPattern
        var result = exponent == 0x0f80_0000 ? special : normal
        result = exponent == 0 ? subnormal : result
        return Float(bitPattern: result | sign)
    }

    /// Float → fp16 bits, round to nearest even (as ggml's F16C path and numpy's astype do): bit for
    /// bit what `Float16(value).bitPattern` gives, checked over all 2^32 inputs (NaN payloads keep
    /// their top 9 bits and are made quiet). Selects instead of branches and no call into the
    /// runtime's `__truncsfhf2`, so loops over rows vectorize.
    @inline(__always)
    public static func fromFloat(_ value: Float) -> UInt16 {
        let u = value.bitPattern
        let sign = UInt16(truncatingIfNeeded: (u >> 16) & 0x8000)
        let a = u & 0x7fff_ffff
        // Normal half: rebias 127 → 15 and round the 13 dropped bits to nearest even (a carry
        // into the exponent is the right answer).
        let normal = (a &- 0x3800_0000 &+ 0x0fff &+ ((a >> 13) & 1)) >> 13
        // Below 2^-14: the float adder rounds |x| + 0.5 to a multiple of 2^-24 (nearest even).
        let subnormal = (Float(bitPattern: a) + 0.5).bitPattern &- 0x3f00_0000
        let nan = 0x7e00 | ((a >> 13) & 0x01ff)
        var h = a < 0x3880_0000 ? subnormal : normal
        h = a >= 0x477f_f000 ? 0x7c00 : h  // 65520 and up round to infinity
        h = a > 0x7f80_0000 ? nan : h
        return sign | UInt16(truncatingIfNeeded: h)
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

    /// `count` bf16 values at `source` → fp16 bits at `destination`, the same bits as going through
    /// `bf16ToFloat` then `fromFloat`, in one pass with no float buffer (the bf16 → f16 conversion).
    public static func bf16ToHalf(_ source: UnsafeRawPointer, count: Int, into destination: UnsafeMutableRawPointer) {
        let start = HostCPU.avx2 ? HalfKernels.bf16ToHalf(source, count: count, into: destination) : 0
        portableBF16ToHalf(source + 2 * start, count: count - start, into: destination + 2 * start)
    }

    /// `bf16ToHalf` without F16C: the reference the fast path is tested against.
    static func portableBF16ToHalf(_ source: UnsafeRawPointer, count: Int, into destination: UnsafeMutableRawPointer) {
        for i in 0 ..< count {
            let bits = source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)
            destination.storeBytes(of: fromFloat(bf16ToFloat(bits)), toByteOffset: 2 * i, as: UInt16.self)
        }
    }
}
