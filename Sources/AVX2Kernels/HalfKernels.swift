/// fp16 conversions with F16C (`vcvtps2ph`, `vcvtph2ps`), eight values per instruction.
///
/// `vcvtps2ph` with round-to-nearest-even gives the same bits as `HalfFloat.fromFloat` for every
/// input, NaNs included (both keep the sign and the top nine payload bits and set the quiet bit),
/// so files written through either path are identical; a test compares them.
public enum HalfKernels {
    /// `count` bf16 values at `source` → fp16 bits at `destination`, for the leading multiple of 8;
    /// returns how many were converted (the caller finishes the tail).
    public static func bf16ToHalf(_ source: UnsafeRawPointer, count: Int, into destination: UnsafeMutableRawPointer) -> Int {
        var i = 0
        while i &+ 8 <= count {
            let bits = source.loadUnaligned(fromByteOffset: 2 &* i, as: SIMD8<UInt16>.self)
            let floats = unsafeBitCast(SIMD8<UInt32>(truncatingIfNeeded: bits) &<< 16, to: SIMD8<Float>.self)
            destination.storeBytes(of: SIMD8<Float16>(floats), toByteOffset: 2 &* i, as: SIMD8<Float16>.self)
            i &+= 8
        }
        return i
    }
}
