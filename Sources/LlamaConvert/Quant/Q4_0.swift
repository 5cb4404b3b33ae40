/// Q4_0: 32 weights in 18 bytes, x = d · (q − 8) with a 4-bit q.
///
/// ```
/// +--------+------------------------------------+
/// | d: f16 | qs[j] = q[j] | q[j+16] << 4, j<16  |
/// +--------+------------------------------------+
/// 0        2                                   18
/// ```
/// The low nibbles hold the first half of the block, the high nibbles the second half.
/// Mirrors ggml's `quantize_row_q4_0_ref` / `dequantize_row_q4_0` (ggml/src/ggml-quants.c):
/// max = the first x of largest |x| (strict `<`, so ties keep the earliest), d = max / −8
/// (opposite sign of the extreme, which therefore maps to q = 0), id = d ≠ 0 ? 1/d : 0,
/// q = MIN(15, (int8_t)(x · id + 8.5)); an all-zero block stores d = −0.0 (`00 80`) and 0x88 bytes.
public enum Q4_0 {
    public static let type = GGMLType.q4_0
    public static let blockSize = 32
    public static let typeSize = 2 + 16

    public static func quantizeRow(_ x: UnsafePointer<Float>, count: Int, into y: UnsafeMutableRawPointer) {
        precondition(count % blockSize == 0, "Q4_0 row of \(count) is not whole blocks")
        for b in 0 ..< count / blockSize {
            let xb = x + b * blockSize
            let yb = y + b * typeSize
            var amax: Float = 0
            var max: Float = 0
            for j in 0 ..< blockSize where amax < abs(xb[j]) {
                amax = abs(xb[j])
                max = xb[j]
            }
            let d = max / -8
            let id: Float = d != 0 ? 1 / d : 0
            yb.storeBytes(of: HalfFloat.fromFloat(d).littleEndian, as: UInt16.self)
            for j in 0 ..< blockSize / 2 {
                let q0 = Swift.min(15, Int(CCast.int8(xb[j] * id + 8.5)))
                let q1 = Swift.min(15, Int(CCast.int8(xb[j + blockSize / 2] * id + 8.5)))
                // C: uint8_t xi = MIN(...); qs[j] = xi0; qs[j] |= xi1 << 4;
                let xi0 = UInt8(truncatingIfNeeded: q0), xi1 = UInt8(truncatingIfNeeded: q1)
                yb.storeBytes(of: xi0 | (xi1 &<< 4), toByteOffset: 2 + j, as: UInt8.self)
            }
        }
    }

    public static func dequantizeRow(_ y: UnsafeRawPointer, count: Int, into x: UnsafeMutablePointer<Float>) {
        precondition(count % blockSize == 0, "Q4_0 row of \(count) is not whole blocks")
        for b in 0 ..< count / blockSize {
            let yb = y + b * typeSize
            let xb = x + b * blockSize
            let d = HalfFloat.toFloat(UInt16(littleEndian: yb.loadUnaligned(as: UInt16.self)))
            for j in 0 ..< blockSize / 2 {
                let q = yb.load(fromByteOffset: 2 + j, as: UInt8.self)
                xb[j] = Float(Int(q & 0x0F) - 8) * d
                xb[j + blockSize / 2] = Float(Int(q >> 4) - 8) * d
            }
        }
    }
}
