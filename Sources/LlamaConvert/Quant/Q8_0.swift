import AVX2Kernels

/// Q8_0: 32 weights in 34 bytes, x = d · q with a signed byte per weight.
///
/// ```
/// +--------+------------------------+
/// | d: f16 | qs[0..31]: int8        |
/// +--------+------------------------+
/// 0        2                       34
/// ```
/// Mirrors ggml's `quantize_row_q8_0_ref` / `dequantize_row_q8_0` (ggml/src/ggml-quants.c):
/// amax = max |x| (C's `MAX`, so a NaN propagates), d = amax / 127, id = d ≠ 0 ? 1/d : 0,
/// q = roundf(x · id) (halves away from zero), d stored as fp16; the quants use the fp32 d.
public enum Q8_0 {
    public static let type = GGMLType.q8_0
    public static let blockSize = 32
    public static let typeSize = 2 + 32

    public static func quantizeRow(_ x: UnsafePointer<Float>, count: Int, into y: UnsafeMutableRawPointer) {
        precondition(count % blockSize == 0, "Q8_0 row of \(count) is not whole blocks")
        let blocks = count / blockSize
        guard HostCPU.avx2 else { return portableQuantizeRow(x, count: count, into: y) }
        var b = 0
        while b < blocks {
            b += Q8Kernels.quantizeQ8_0(x + b * blockSize, blocks: blocks - b, into: y + b * typeSize)
            if b < blocks {
                quantizeBlock(x + b * blockSize, into: y + b * typeSize)  // non-finite values
                b += 1
            }
        }
    }

    /// `quantizeRow` without the AVX2 kernel: the reference it is tested against.
    static func portableQuantizeRow(_ x: UnsafePointer<Float>, count: Int, into y: UnsafeMutableRawPointer) {
        for b in 0 ..< count / blockSize {
            quantizeBlock(x + b * blockSize, into: y + b * typeSize)
        }
    }

    @inline(__always)
    static func quantizeBlock(_ xb: UnsafePointer<Float>, into yb: UnsafeMutableRawPointer) {
        var amax: Float = 0
        for j in 0 ..< blockSize {
            let a = abs(xb[j])
            amax = amax > a ? amax : a
        }
        let d = amax / 127
        let id: Float = d != 0 ? 1 / d : 0
        yb.storeBytes(of: HalfFloat.fromFloat(d).littleEndian, as: UInt16.self)
        for j in 0 ..< blockSize {
            let v = xb[j] * id
            let byte: UInt8
            if v.magnitude < 128 {
                // In range, roundf is truncation plus a half test on the exact fraction: the
                // same result as libm's call, without a call per weight.
                let t = Int32(v)
                let fraction = v - Float(t)
                byte = UInt8(truncatingIfNeeded: t + (fraction >= 0.5 ? 1 : 0) - (fraction <= -0.5 ? 1 : 0))
            } else {
                // NaN, infinity (a NaN lost by C's MAX, a subnormal scale): C's cast, emulated.
                byte = CCast.truncatedLowByte(v.rounded())
            }
            yb.storeBytes(of: byte, toByteOffset: 2 + j, as: UInt8.self)
        }
    }

    public static func dequantizeRow(_ y: UnsafeRawPointer, count: Int, into x: UnsafeMutablePointer<Float>) {
        precondition(count % blockSize == 0, "Q8_0 row of \(count) is not whole blocks")
        for b in 0 ..< count / blockSize {
            let yb = y + b * typeSize
            let xb = x + b * blockSize
            let d = HalfFloat.toFloat(UInt16(littleEndian: yb.loadUnaligned(as: UInt16.self)))
            for j in 0 ..< blockSize {
                xb[j] = Float(Int8(bitPattern: yb.load(fromByteOffset: 2 + j, as: UInt8.self))) * d
            }
        }
    }
}
