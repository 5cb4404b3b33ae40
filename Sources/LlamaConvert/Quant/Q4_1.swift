/// Q4_1: 32 weights in 20 bytes, x = d · q + m with a 4-bit q.
///
/// ```
/// +--------+--------+------------------------------------+
/// | d: f16 | m: f16 | qs[j] = q[j] | q[j+16] << 4, j<16  |
/// +--------+--------+------------------------------------+
/// 0        2        4                                   20
/// ```
/// Mirrors ggml's `quantize_row_q4_1_ref` / `dequantize_row_q4_1` (ggml/src/ggml-quants.c):
/// min and max by strict compares starting from ±FLT_MAX (a NaN never wins), d = (max − min) / 15,
/// id = d ≠ 0 ? 1/d : 0, q = MIN(15, (int8_t)((x − min) · id + 0.5)); d and min stored as fp16,
/// the quants computed with the fp32 values.
public enum Q4_1 {
    public static let type = GGMLType.q4_1
    public static let blockSize = 32
    public static let typeSize = 2 + 2 + 16

    public static func quantizeRow(_ x: UnsafePointer<Float>, count: Int, into y: UnsafeMutableRawPointer) {
        precondition(count % blockSize == 0, "Q4_1 row of \(count) is not whole blocks")
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
            let d = (max - min) / 15
            let id: Float = d != 0 ? 1 / d : 0
            yb.storeBytes(of: HalfFloat.fromFloat(d).littleEndian, as: UInt16.self)
            yb.storeBytes(of: HalfFloat.fromFloat(min).littleEndian, toByteOffset: 2, as: UInt16.self)
            for j in 0 ..< blockSize / 2 {
                let q0 = Swift.min(15, Int(CCast.int8((xb[j] - min) * id + 0.5)))
                let q1 = Swift.min(15, Int(CCast.int8((xb[j + blockSize / 2] - min) * id + 0.5)))
                let xi0 = UInt8(truncatingIfNeeded: q0), xi1 = UInt8(truncatingIfNeeded: q1)
                yb.storeBytes(of: xi0 | (xi1 &<< 4), toByteOffset: 4 + j, as: UInt8.self)
            }
        }
    }

    public static func dequantizeRow(_ y: UnsafeRawPointer, count: Int, into x: UnsafeMutablePointer<Float>) {
        precondition(count % blockSize == 0, "Q4_1 row of \(count) is not whole blocks")
        for b in 0 ..< count / blockSize {
            let yb = y + b * typeSize
            let xb = x + b * blockSize
            let d = HalfFloat.toFloat(UInt16(littleEndian: yb.loadUnaligned(as: UInt16.self)))
            let m = HalfFloat.toFloat(UInt16(littleEndian: yb.loadUnaligned(fromByteOffset: 2, as: UInt16.self)))
            for j in 0 ..< blockSize / 2 {
                let q = yb.load(fromByteOffset: 4 + j, as: UInt8.self)
                xb[j] = Float(q & 0x0F) * d + m
                xb[j + blockSize / 2] = Float(q >> 4) * d + m
            }
        }
    }
}
