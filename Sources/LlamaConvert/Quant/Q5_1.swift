/// Q5_1: 32 weights in 24 bytes, x = d · q + m with a 5-bit q.
///
/// ```
/// +--------+--------+-------------------+------------------------------------------+
/// | d: f16 | m: f16 | qh: u32 LE        | qs[j] = q[j] & 15 | (q[j+16] & 15) << 4  |
/// |        |        | bit j = q[j] >> 4 |                                 j < 16   |
/// +--------+--------+-------------------+------------------------------------------+
/// 0        2        4                   8                                         24
/// ```
/// Mirrors ggml's `quantize_row_q5_1_ref` / `dequantize_row_q5_1` (ggml/src/ggml-quants.c):
/// as Q4_1 with d = (max − min) / 31 and q = (uint8_t)((x − min) · id + 0.5), with no clamp.
public enum Q5_1 {
    public static let type = GGMLType.q5_1
    public static let blockSize = 32
    public static let typeSize = 2 + 2 + 4 + 16

    public static func quantizeRow(_ x: UnsafePointer<Float>, count: Int, into y: UnsafeMutableRawPointer) {
        precondition(count % blockSize == 0, "Q5_1 row of \(count) is not whole blocks")
        for b in 0 ..< count / blockSize {
            let xb = x + b * blockSize
            let yb = y + b * typeSize
            var min = Float.greatestFiniteMagnitude
            var max = -Float.greatestFiniteMagnitude
            for j in 0 ..< blockSize {
                let v = xb[j]
                if v < min { min = v }
                if v > max { max = v }
            }
            let d = (max - min) / 31
            let id: Float = d != 0 ? 1 / d : 0
            yb.storeBytes(of: HalfFloat.fromFloat(d).littleEndian, as: UInt16.self)
            yb.storeBytes(of: HalfFloat.fromFloat(min).littleEndian, toByteOffset: 2, as: UInt16.self)
            var qh: UInt32 = 0
            for j in 0 ..< blockSize / 2 {
                let xi0 = CCast.truncatedLowByte((xb[j] - min) * id + 0.5)
                let xi1 = CCast.truncatedLowByte((xb[j + blockSize / 2] - min) * id + 0.5)
                yb.storeBytes(of: (xi0 & 0x0F) | ((xi1 & 0x0F) &<< 4), toByteOffset: 8 + j, as: UInt8.self)
                qh |= UInt32((xi0 & 0x10) >> 4) << UInt32(j)
                qh |= UInt32((xi1 & 0x10) >> 4) << UInt32(j + blockSize / 2)
            }
            yb.storeBytes(of: qh.littleEndian, toByteOffset: 4, as: UInt32.self)
        }
    }

    public static func dequantizeRow(_ y: UnsafeRawPointer, count: Int, into x: UnsafeMutablePointer<Float>) {
        precondition(count % blockSize == 0, "Q5_1 row of \(count) is not whole blocks")
        for b in 0 ..< count / blockSize {
            let yb = y + b * typeSize
            let xb = x + b * blockSize
            let d = HalfFloat.toFloat(UInt16(littleEndian: yb.loadUnaligned(as: UInt16.self)))
            let m = HalfFloat.toFloat(UInt16(littleEndian: yb.loadUnaligned(fromByteOffset: 2, as: UInt16.self)))
            let qh = UInt32(littleEndian: yb.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
            for j in 0 ..< blockSize / 2 {
                let q = yb.load(fromByteOffset: 8 + j, as: UInt8.self)
                let h0 = UInt8((qh >> UInt32(j)) & 1) << 4
                let h1 = UInt8((qh >> UInt32(j + blockSize / 2)) & 1) << 4
                xb[j] = Float((q & 0x0F) | h0) * d + m
                xb[j + blockSize / 2] = Float((q >> 4) | h1) * d + m
            }
        }
    }
}
