/// Q5_0: 32 weights in 22 bytes, x = d · (q − 16) with a 5-bit q.
///
/// ```
/// +--------+-------------------+------------------------------------------+
/// | d: f16 | qh: u32 LE        | qs[j] = q[j] & 15 | (q[j+16] & 15) << 4  |
/// |        | bit j = q[j] >> 4 |                                 j < 16   |
/// +--------+-------------------+------------------------------------------+
/// 0        2                   6                                         22
/// ```
/// Mirrors ggml's `quantize_row_q5_0_ref` / `dequantize_row_q5_0` (ggml/src/ggml-quants.c):
/// as Q4_0 with d = max / −16 and q = MIN(31, (int8_t)(x · id + 16.5)); the fifth bit of element j
/// is bit j of the little-endian `qh`. An all-zero block stores d = 0x8000, qh = 0xFFFFFFFF, qs = 0.
public enum Q5_0 {
    public static let type = GGMLType.q5_0
    public static let blockSize = 32
    public static let typeSize = 2 + 4 + 16

    public static func quantizeRow(_ x: UnsafePointer<Float>, count: Int, into y: UnsafeMutableRawPointer) {
        precondition(count % blockSize == 0, "Q5_0 row of \(count) is not whole blocks")
        for b in 0 ..< count / blockSize {
            let xb = x + b * blockSize
            let yb = y + b * typeSize
            var amax: Float = 0
            var max: Float = 0
            for j in 0 ..< blockSize where amax < abs(xb[j]) {
                amax = abs(xb[j])
                max = xb[j]
            }
            let d = max / -16
            let id: Float = d != 0 ? 1 / d : 0
            yb.storeBytes(of: HalfFloat.fromFloat(d).littleEndian, as: UInt16.self)
            var qh: UInt32 = 0
            for j in 0 ..< blockSize / 2 {
                let xi0 = UInt8(truncatingIfNeeded: Swift.min(31, Int(CCast.int8(xb[j] * id + 16.5))))
                let xi1 = UInt8(truncatingIfNeeded: Swift.min(31, Int(CCast.int8(xb[j + blockSize / 2] * id + 16.5))))
                yb.storeBytes(of: (xi0 & 0x0F) | ((xi1 & 0x0F) &<< 4), toByteOffset: 6 + j, as: UInt8.self)
                qh |= UInt32((xi0 & 0x10) >> 4) << UInt32(j)
                qh |= UInt32((xi1 & 0x10) >> 4) << UInt32(j + blockSize / 2)
            }
            yb.storeBytes(of: qh.littleEndian, toByteOffset: 2, as: UInt32.self)
        }
    }

    public static func dequantizeRow(_ y: UnsafeRawPointer, count: Int, into x: UnsafeMutablePointer<Float>) {
        precondition(count % blockSize == 0, "Q5_0 row of \(count) is not whole blocks")
        for b in 0 ..< count / blockSize {
            let yb = y + b * typeSize
            let xb = x + b * blockSize
            let d = HalfFloat.toFloat(UInt16(littleEndian: yb.loadUnaligned(as: UInt16.self)))
            let qh = UInt32(littleEndian: yb.loadUnaligned(fromByteOffset: 2, as: UInt32.self))
            for j in 0 ..< blockSize / 2 {
                let q = yb.load(fromByteOffset: 6 + j, as: UInt8.self)
                let h0 = Int((qh >> UInt32(j)) & 1) << 4
                let h1 = Int((qh >> UInt32(j + blockSize / 2)) & 1) << 4
                xb[j] = Float((Int(q & 0x0F) | h0) - 16) * d
                xb[j + blockSize / 2] = Float((Int(q >> 4) | h1) - 16) * d
            }
        }
    }
}
