/// Q6_K: super-blocks of 256 weights in 210 bytes (6.5625 bits per weight), ggml's `block_q6_K`.
///
/// ```
/// +-----------------------------+---------------------------+------------------+--------+
/// | ql[128]: low 4 bits         | qh[64]: high 2 bits       | scales[16]: int8 | d: f16 |
/// | half h, l < 32:             | qh[32h+l] = u[e]>>4       | one per 16       |        |
/// | ql[64h+l]    = u[e]|u[e+64]<<4  |  | u[e+32]>>4 << 2    | weights          |        |
/// | ql[64h+32+l] = u[e+32]|u[e+96]<<4 | u[e+64]>>4 << 4   |                  |        |
/// |  (low nibbles, e = 128h+l)  |  | u[e+96]>>4 << 6        |                  |        |
/// +-----------------------------+---------------------------+------------------+--------+
/// 0                           128                         192                208      210
/// ```
/// Stored quant u = q + 32 in 0…63; weight `e` = `(d·scales[e/16])·(u[e] − 32)`.
///
/// Upstream: `ggml/src/ggml-common.h` (`block_q6_K`), `ggml/src/ggml-quants.c`
/// (`quantize_row_q6_K_ref`, `dequantize_row_q6_K`, `make_qx_quants`); see formats/kquants.md.
public enum Q6_K {
    public static let type: GGMLType = .q6_K
    public static let blockSize = 256
    /// low nibbles + high bit pairs + int8 scales + d.
    public static let typeSize = 256 / 2 + 256 / 4 + 256 / 16 + 2

    /// Quantizes `count` weights (a multiple of 256) into `count / 256 * 210` bytes at `y`,
    /// byte-identical to ggml's `quantize_row_q6_K_ref`. Pure and thread-safe.
    public static func quantizeRow(_ x: UnsafePointer<Float>, count: Int, into y: UnsafeMutableRawPointer) {
        #if DEBUG
        // Unoptimised SIMD code is many times slower than the scalar port; both give the same bytes (tested).
        quantizeRowReference(x, count: count, into: y)
        #else
        KQuantLanes.quantizeRowQ6(x, count: count, into: y)
        #endif
    }

    /// The scalar port of `quantize_row_q6_K_ref`, kept as the specification of `quantizeRow`.
    public static func quantizeRowReference(_ x: UnsafePointer<Float>, count: Int,
                                            into y: UnsafeMutableRawPointer) {
        KQuantReference.quantizeRowQ6(x, count: count, into: y)
    }

    /// Writes 256 stored quants u (0…63) into `ql` and `qh` of the block at `block`.
    @inline(__always)
    static func packLevels(_ u: UnsafePointer<Int8>, into block: UnsafeMutableRawPointer) {
        for h in 0 ..< 2 {
            let e = 128 * h
            for l in 0 ..< 32 {
                let u1 = UInt8(bitPattern: u[e + l]), u2 = UInt8(bitPattern: u[e + l + 32])
                let u3 = UInt8(bitPattern: u[e + l + 64]), u4 = UInt8(bitPattern: u[e + l + 96])
                block.storeBytes(of: (u1 & 0xF) | ((u3 & 0xF) << 4), toByteOffset: 64 * h + l, as: UInt8.self)
                block.storeBytes(of: (u2 & 0xF) | ((u4 & 0xF) << 4), toByteOffset: 64 * h + 32 + l, as: UInt8.self)
                let high = (u1 >> 4) | ((u2 >> 4) << 2) | ((u3 >> 4) << 4) | ((u4 >> 4) << 6)
                block.storeBytes(of: high, toByteOffset: 128 + 32 * h + l, as: UInt8.self)
            }
        }
    }

    /// Decodes `count` weights (a multiple of 256) as ggml's `dequantize_row_q6_K`.
    public static func dequantizeRow(_ y: UnsafeRawPointer, count: Int, into x: UnsafeMutablePointer<Float>) {
        var out = x
        for b in 0 ..< count / blockSize {
            let block = y + b * typeSize
            let d = HalfFloat.toFloat(block.loadUnaligned(fromByteOffset: 208, as: UInt16.self))
            for h in 0 ..< 2 {
                let ql = block + 64 * h
                let qh = block + 128 + 32 * h
                let sc = block + 192 + 8 * h
                for l in 0 ..< 32 {
                    let s = l / 16
                    let lo = ql.load(fromByteOffset: l, as: UInt8.self)
                    let lo2 = ql.load(fromByteOffset: l + 32, as: UInt8.self)
                    let hi = qh.load(fromByteOffset: l, as: UInt8.self)
                    let q1 = Int8(bitPattern: (lo & 0xF) | (((hi >> 0) & 3) << 4)) &- 32
                    let q2 = Int8(bitPattern: (lo2 & 0xF) | (((hi >> 2) & 3) << 4)) &- 32
                    let q3 = Int8(bitPattern: (lo >> 4) | (((hi >> 4) & 3) << 4)) &- 32
                    let q4 = Int8(bitPattern: (lo2 >> 4) | (((hi >> 6) & 3) << 4)) &- 32
                    out[l] = d * Float(sc.load(fromByteOffset: s, as: Int8.self)) * Float(q1)
                    out[l + 32] = d * Float(sc.load(fromByteOffset: s + 2, as: Int8.self)) * Float(q2)
                    out[l + 64] = d * Float(sc.load(fromByteOffset: s + 4, as: Int8.self)) * Float(q3)
                    out[l + 96] = d * Float(sc.load(fromByteOffset: s + 6, as: Int8.self)) * Float(q4)
                }
                out += 128
            }
        }
    }
}
