/// C's float → small-integer casts as the x86-64 builds of ggml evaluate them.
///
/// `(int8_t)f` and `(uint8_t)f` compile to `cvttss2si` (truncate toward zero into a 32-bit register)
/// followed by keeping the low byte. For in-range values that is plain truncation; NaN, ±inf and
/// values beyond ±2³¹ give the "integer indefinite" 0x80000000, whose low byte is 0. The legacy
/// quantizers only leave the in-range case when the input block holds NaN or inf, but Swift's
/// `Int8(_:)` would trap there, so every cast goes through this one function.
enum CCast {
    /// The low 8 bits of `(int32_t)truncf(value)`, with x86's result for NaN and out-of-range values.
    @inline(__always)
    static func truncatedLowByte(_ value: Float) -> UInt8 {
        // ±2^31 are exactly representable floats; every float in [-2^31, 2^31) truncates to a valid
        // Int32 (the conversion itself truncates toward zero). NaN fails both comparisons.
        guard value >= -2_147_483_648, value < 2_147_483_648 else { return 0 }
        return UInt8(truncatingIfNeeded: Int32(value))
    }

    /// `(int8_t)f` as a signed value.
    @inline(__always)
    static func int8(_ value: Float) -> Int8 {
        Int8(bitPattern: truncatedLowByte(value))
    }
}
