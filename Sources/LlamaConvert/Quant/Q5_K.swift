/// Q5_K: super-blocks of 256 weights in 176 bytes (5.5 bits per weight), ggml's `block_q5_K`.
///
/// ```
/// +--------+-----------+------------+---------------------+-------------------------------+
/// | d: f16 | dmin: f16 | scales[12] | qh[32]: 5th bits    | qs[128]: low 4 bits           |
/// |        |           | (as Q4_K)  | qh[l] bit s = bit 4 | qs[32c+l] = q[64c+l] & 15     |
/// |        |           |            | of q[32s+l]         |   | (q[64c+32+l] & 15) << 4   |
/// +--------+-----------+------------+---------------------+-------------------------------+
/// 0        2           4            16                    48                            176
/// ```
/// Scales and mins are packed exactly as in `Q4_K`. Weight = `(d·ls[s])·q − (dmin·lm[s])`,
/// q in 0…31.
///
/// Upstream: `ggml/src/ggml-common.h` (`block_q5_K`), `ggml/src/ggml-quants.c`
/// (`quantize_row_q5_K_ref`, `dequantize_row_q5_K`); see formats/kquants.md.
public enum Q5_K {
    public static let type: GGMLType = .q5_K
    public static let blockSize = 256
    /// d + dmin + packed scales + high bits + low nibbles.
    public static let typeSize = 2 + 2 + 12 + 256 / 8 + 256 / 2

    /// Quantizes `count` weights (a multiple of 256) into `count / 256 * 176` bytes at `y`,
    /// byte-identical to ggml's `quantize_row_q5_K_ref`. Pure and thread-safe.
    public static func quantizeRow(_ x: UnsafePointer<Float>, count: Int, into y: UnsafeMutableRawPointer) {
        #if DEBUG
        // Unoptimised SIMD code is many times slower than the scalar port; both give the same bytes (tested).
        quantizeRowReference(x, count: count, into: y)
        #else
        KQuantLanes.quantizeRowQ45(x, count: count, into: y, fiveBit: true)
        #endif
    }

    /// The scalar port of `quantize_row_q5_K_ref`, kept as the specification of `quantizeRow`.
    public static func quantizeRowReference(_ x: UnsafePointer<Float>, count: Int,
                                            into y: UnsafeMutableRawPointer) {
        KQuantReference.quantizeRowQ45(x, count: count, into: y, nmax: 31, rmin: -0.5, rdelta: 0.1, nstep: 15,
                                       typeSize: typeSize) { levels, block in
            packLevels(levels, into: block)
        }
    }

    /// Writes 256 levels (0…31) into `qh` and `qs` of the block at `block`.
    @inline(__always)
    static func packLevels(_ levels: UnsafePointer<UInt8>, into block: UnsafeMutableRawPointer) {
        let qh = block + 16
        let qs = block + 48
        qh.initializeMemory(as: UInt8.self, repeating: 0, count: 32)
        for c in 0 ..< 4 {
            let bitLow = UInt8(1) << (2 * c), bitHigh = UInt8(2) << (2 * c)
            for j in 0 ..< 32 {
                var l1 = levels[64 * c + j]
                var l2 = levels[64 * c + j + 32]
                var h = qh.load(fromByteOffset: j, as: UInt8.self)
                if l1 > 15 { l1 -= 16; h |= bitLow }
                if l2 > 15 { l2 -= 16; h |= bitHigh }
                qh.storeBytes(of: h, toByteOffset: j, as: UInt8.self)
                qs.storeBytes(of: l1 | (l2 << 4), toByteOffset: 32 * c + j, as: UInt8.self)
            }
        }
    }

    /// Decodes `count` weights (a multiple of 256) as ggml's `dequantize_row_q5_K`.
    public static func dequantizeRow(_ y: UnsafeRawPointer, count: Int, into x: UnsafeMutablePointer<Float>) {
        var out = x
        for b in 0 ..< count / blockSize {
            let block = y + b * typeSize
            let d = HalfFloat.toFloat(block.loadUnaligned(fromByteOffset: 0, as: UInt16.self))
            let dmin = HalfFloat.toFloat(block.loadUnaligned(fromByteOffset: 2, as: UInt16.self))
            let scales = block + 4
            let qh = block + 16
            let qs = block + 48
            for c in 0 ..< 4 {
                let (sc1, m1) = KQuantSearch.scaleMin(2 * c, scales)
                let (sc2, m2) = KQuantSearch.scaleMin(2 * c + 1, scales)
                let d1 = d * Float(sc1), min1 = dmin * Float(m1)
                let d2 = d * Float(sc2), min2 = dmin * Float(m2)
                let bitLow = UInt8(1) << (2 * c), bitHigh = UInt8(2) << (2 * c)
                for l in 0 ..< 32 {
                    let q = qs.load(fromByteOffset: 32 * c + l, as: UInt8.self)
                    let h = qh.load(fromByteOffset: l, as: UInt8.self)
                    out[l] = d1 * Float((q & 0xF) + (h & bitLow != 0 ? 16 : 0)) - min1
                }
                for l in 0 ..< 32 {
                    let q = qs.load(fromByteOffset: 32 * c + l, as: UInt8.self)
                    let h = qh.load(fromByteOffset: l, as: UInt8.self)
                    out[32 + l] = d2 * Float((q >> 4) + (h & bitHigh != 0 ? 16 : 0)) - min2
                }
                out += 64
            }
        }
    }
}
