/// Q4_K: super-blocks of 256 weights in 144 bytes (4.5 bits per weight), ggml's `block_q4_K`.
///
/// ```
/// +--------+-----------+----------------------+--------------------------------+
/// | d: f16 | dmin: f16 | scales[12]: 8 × (6-bit | qs[128]: 4-bit quants         |
/// |        |           |  scale, 6-bit min)   | qs[32c+l] = q[64c+l]           |
/// |        |           |  (packing below)     |           | q[64c+32+l] << 4   |
/// +--------+-----------+----------------------+--------------------------------+
/// 0        2           4                      16                             144
/// ```
/// Sub-block `s` (weights 32s…32s+31) has scale `ls[s]` and min `lm[s]` (6 bits each):
/// bytes 0–3 = `ls[0…3]` with bits 4–5 of `ls[4…7]` in their top two bits, bytes 4–7 = `lm[0…3]`
/// with bits 4–5 of `lm[4…7]` on top, bytes 8–11 = `ls[4…7] & 15 | (lm[4…7] & 15) << 4`.
/// Weight = `(d·ls[s])·q − (dmin·lm[s])`.
///
/// Upstream: `ggml/src/ggml-common.h` (`block_q4_K`), `ggml/src/ggml-quants.c`
/// (`quantize_row_q4_K_ref`, `dequantize_row_q4_K`, `get_scale_min_k4`); see formats/kquants.md.
public enum Q4_K {
    public static let type: GGMLType = .q4_K
    public static let blockSize = 256
    /// d + dmin + packed scales + quants.
    public static let typeSize = 2 + 2 + 12 + 256 / 2

    /// Quantizes `count` weights (a multiple of 256) into `count / 256 * 144` bytes at `y`,
    /// byte-identical to ggml's `quantize_row_q4_K_ref`. Pure and thread-safe.
    public static func quantizeRow(_ x: UnsafePointer<Float>, count: Int, into y: UnsafeMutableRawPointer) {
        #if DEBUG
        // Unoptimised SIMD code is many times slower than the scalar port; both give the same bytes (tested).
        quantizeRowReference(x, count: count, into: y)
        #else
        KQuantLanes.quantizeRowQ45(x, count: count, into: y, fiveBit: false)
        #endif
    }

    /// The scalar port of `quantize_row_q4_K_ref`, kept as the specification of `quantizeRow`.
    public static func quantizeRowReference(_ x: UnsafePointer<Float>, count: Int,
                                            into y: UnsafeMutableRawPointer) {
        KQuantReference.quantizeRowQ45(x, count: count, into: y, nmax: 15, rmin: -1.0, rdelta: 0.1, nstep: 20,
                                       typeSize: typeSize) { levels, block in
            let qs = block + 16
            for c in 0 ..< 4 {
                for l in 0 ..< 32 {
                    let byte = levels[64 * c + l] | (levels[64 * c + l + 32] << 4)
                    qs.storeBytes(of: byte, toByteOffset: 32 * c + l, as: UInt8.self)
                }
            }
        }
    }

    /// Decodes `count` weights (a multiple of 256) as ggml's `dequantize_row_q4_K`.
    public static func dequantizeRow(_ y: UnsafeRawPointer, count: Int, into x: UnsafeMutablePointer<Float>) {
        var out = x
        for b in 0 ..< count / blockSize {
            let block = y + b * typeSize
            let d = HalfFloat.toFloat(block.loadUnaligned(fromByteOffset: 0, as: UInt16.self))
            let dmin = HalfFloat.toFloat(block.loadUnaligned(fromByteOffset: 2, as: UInt16.self))
            let scales = block + 4
            let qs = block + 16
            for c in 0 ..< 4 {
                let (sc1, m1) = KQuantSearch.scaleMin(2 * c, scales)
                let (sc2, m2) = KQuantSearch.scaleMin(2 * c + 1, scales)
                let d1 = d * Float(sc1), min1 = dmin * Float(m1)
                let d2 = d * Float(sc2), min2 = dmin * Float(m2)
                for l in 0 ..< 32 {
                    out[l] = d1 * Float(qs.load(fromByteOffset: 32 * c + l, as: UInt8.self) & 0xF) - min1
                }
                for l in 0 ..< 32 {
                    out[32 + l] = d2 * Float(qs.load(fromByteOffset: 32 * c + l, as: UInt8.self) >> 4) - min2
                }
                out += 64
            }
        }
    }
}
