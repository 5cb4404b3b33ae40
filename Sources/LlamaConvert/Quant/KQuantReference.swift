/// Scalar ports of ggml's K-quant row quantizers (`quantize_row_q4_K_ref`, `quantize_row_q5_K_ref`,
/// `quantize_row_q6_K_ref` in `ggml/src/ggml-quants.c`), one super-block at a time, in the C
/// order. They are the specification the lane-parallel versions in `KQuantLanes.swift` are
/// tested against; `Q4_K`, `Q5_K` and `Q6_K` expose them as `quantizeRowReference`.
enum KQuantReference {
    /// Q4_K and Q5_K share everything but the level range, the search grid and the quant packing:
    /// `packLevels(L, block)` writes the 256 levels (0…nmax) into the block's quant bytes.
    static func quantizeRowQ45(_ xRow: UnsafePointer<Float>, count: Int, into y: UnsafeMutableRawPointer,
                               nmax: Int32, rmin: Float, rdelta: Float, nstep: Int, typeSize: Int,
                               packLevels: (UnsafePointer<UInt8>, UnsafeMutableRawPointer) -> Void) {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 256 + 32 + 16) { bytes in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: 32 + 16) { floats in
                let L = bytes.baseAddress!
                let laux = L + 256
                let ls = laux + 32
                let lm = ls + 8
                let weights = floats.baseAddress!
                let scales = weights + 32
                let mins = scales + 8
                var x = xRow
                for b in 0 ..< count / 256 {
                    let block = y + b * typeSize
                    var maxScale: Float = 0
                    var maxMin: Float = 0
                    for j in 0 ..< 8 {
                        let xs = x + 32 * j
                        var sumX2: Float = 0
                        for l in 0 ..< 32 { sumX2 += xs[l] * xs[l] }
                        let avX = (sumX2 / 32).squareRoot()
                        for l in 0 ..< 32 { weights[l] = avX + abs(xs[l]) }
                        scales[j] = KQuantSearch.makeQKX2Quants(
                            count: 32, nmax: nmax, x: xs, weights: weights, levels: L + 32 * j,
                            theMin: &mins[j], scratch: laux, rmin: rmin, rdelta: rdelta, nstep: nstep)
                        if scales[j] > maxScale { maxScale = scales[j] }
                        if mins[j] > maxMin { maxMin = mins[j] }
                    }
                    let invScale: Float = maxScale > 0 ? 63 / maxScale : 0
                    let invMin: Float = maxMin > 0 ? 63 / maxMin : 0
                    for j in 0 ..< 8 {
                        // C assigns the int to a uint8_t before clamping: negatives wrap to ≥ 192.
                        ls[j] = Swift.min(63, KQuantSearch.wrapToUInt8(KQuantSearch.nearestInt(invScale * scales[j])))
                        lm[j] = Swift.min(63, KQuantSearch.wrapToUInt8(KQuantSearch.nearestInt(invMin * mins[j])))
                    }
                    KQuantSearch.packScaleMin(ls: ls, lm: lm, into: block + 4)
                    let dBits = HalfFloat.fromFloat(maxScale / 63)
                    let dminBits = HalfFloat.fromFloat(maxMin / 63)
                    block.storeBytes(of: dBits.littleEndian, toByteOffset: 0, as: UInt16.self)
                    block.storeBytes(of: dminBits.littleEndian, toByteOffset: 2, as: UInt16.self)

                    // Re-quantize with the stored (fp16-rounded, 6-bit) scales and mins.
                    let dStored = HalfFloat.toFloat(dBits)
                    let dminStored = HalfFloat.toFloat(dminBits)
                    for j in 0 ..< 8 {
                        let (sc, m) = KQuantSearch.scaleMin(j, UnsafeRawPointer(block + 4))
                        let d = dStored * Float(sc)
                        if d == 0 { continue }
                        let dm = dminStored * Float(m)
                        for ii in 0 ..< 32 {
                            let l = KQuantSearch.nearestInt((x[32 * j + ii] + dm) / d)
                            L[32 * j + ii] = UInt8(truncatingIfNeeded: Swift.max(0, Swift.min(nmax, l)))
                        }
                    }
                    packLevels(L, block)
                    x += 256
                }
            }
        }
    }

    /// `quantize_row_q6_K_ref`: 16 sub-blocks of 16 with int8 scales under one fp16 `d`.
    static func quantizeRowQ6(_ xRow: UnsafePointer<Float>, count: Int, into y: UnsafeMutableRawPointer) {
        withUnsafeTemporaryAllocation(of: Int8.self, capacity: 256) { levels in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: 16) { scaleBuffer in
                let L = levels.baseAddress!
                let scales = scaleBuffer.baseAddress!
                var x = xRow
                for b in 0 ..< count / 256 {
                    let block = y + b * Q6_K.typeSize
                    var maxScale: Float = 0
                    var maxAbsScale: Float = 0
                    for ib in 0 ..< 16 {
                        let scale = KQuantSearch.makeQXQuantsRMSE1(count: 16, nmax: 32, x: x + 16 * ib, levels: L + 16 * ib)
                        scales[ib] = scale
                        let absScale = abs(scale)
                        if absScale > maxAbsScale {
                            maxAbsScale = absScale
                            maxScale = scale
                        }
                    }
                    if maxAbsScale < KQuantSearch.groupMaxEps {
                        // memset 0, then d = fp16(0) = 0x0000: all 210 bytes zero.
                        block.initializeMemory(as: UInt8.self, repeating: 0, count: Q6_K.typeSize)
                        x += 256
                        continue
                    }
                    let iscale: Float = -128 / maxScale
                    let dBits = HalfFloat.fromFloat(1 / iscale)
                    block.storeBytes(of: dBits.littleEndian, toByteOffset: 208, as: UInt16.self)
                    for ib in 0 ..< 16 {
                        let q = Swift.min(127, KQuantSearch.nearestInt(iscale * scales[ib]))
                        block.storeBytes(of: Int8(truncatingIfNeeded: q), toByteOffset: 192 + ib, as: Int8.self)
                    }
                    let dStored = HalfFloat.toFloat(dBits)
                    for j in 0 ..< 16 {
                        let d = dStored * Float(block.load(fromByteOffset: 192 + j, as: Int8.self))
                        if d == 0 { continue }
                        for ii in 0 ..< 16 {
                            let l = KQuantSearch.nearestInt(x[16 * j + ii] / d)
                            L[16 * j + ii] = Int8(truncatingIfNeeded: Swift.max(-32, Swift.min(31, l)) &+ 32)
                        }
                    }
                    Q6_K.packLevels(L, into: block)
                    x += 256
                }
            }
        }
    }
}
