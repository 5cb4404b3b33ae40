/// The scale searches shared by the K-quant formats, mirroring ggml's helpers in
/// `ggml/src/ggml-quants.c` (`nearest_int`, `make_qkx2_quants`, `make_qx_quants`) operation for
/// operation: float32 arithmetic in the C order, every `a*b*c` as `(a*b)*c`, every sum sequential
/// in index order, no fused multiply-add. The searches compare accumulated errors, so any other
/// order changes a few blocks in ten thousand (see formats/kquants.md).
///
/// These are the scalar references. `KQuantLanes.swift` holds the same searches run on several
/// independent sub-blocks at once, one per SIMD lane.
enum KQuantSearch {
    /// ggml's `nearest_int`: adds 1.5·2²³ in float32 and reads the low mantissa bits back.
    /// For |v| ≤ 4194303 this is round-half-to-even; beyond that (or for NaN) it returns the same
    /// wrapped value as the C code instead of trapping.
    @inline(__always)
    static func nearestInt(_ value: Float) -> Int32 {
        let shifted = value + 12582912.0
        return Int32(bitPattern: shifted.bitPattern & 0x007f_ffff) &- 0x0040_0000
    }

    /// C's conversion of an `int` to `uint8_t` (keeps the low 8 bits).
    @inline(__always)
    static func wrapToUInt8(_ value: Int32) -> UInt8 { UInt8(truncatingIfNeeded: value) }

    /// `make_qkx2_quants` with `use_mad = false`: a 6-parameter search for `x ≈ scale·L − theMin`
    /// with `L` in `0...nmax`, weighted by `weights`. Writes `L` (n values), `theMin` (≥ 0, to be
    /// subtracted), returns the scale. `laux` is scratch of `n` bytes.
    static func makeQKX2Quants(count n: Int, nmax: Int32,
                               x: UnsafePointer<Float>, weights: UnsafePointer<Float>,
                               levels L: UnsafeMutablePointer<UInt8>, theMin: inout Float,
                               scratch laux: UnsafeMutablePointer<UInt8>,
                               rmin: Float, rdelta: Float, nstep: Int) -> Float {
        var min = x[0]
        var max = x[0]
        var sumW = weights[0]
        var sumX = sumW * x[0]
        for i in 1 ..< n {
            if x[i] < min { min = x[i] }
            if x[i] > max { max = x[i] }
            let w = weights[i]
            sumW += w
            sumX += w * x[i]
        }
        if min > 0 { min = 0 }
        if max == min {
            for i in 0 ..< n { L[i] = 0 }
            theMin = -min
            return 0
        }
        let fmax = Float(nmax)
        var iscale = fmax / (max - min)
        var scale = 1 / iscale
        var bestError: Float = 0
        for i in 0 ..< n {
            let l = nearestInt(iscale * (x[i] - min))
            L[i] = UInt8(truncatingIfNeeded: Swift.max(0, Swift.min(nmax, l)))
            var diff = scale * Float(L[i]) + min - x[i]
            diff = diff * diff
            bestError += weights[i] * diff
        }
        // nstep < 1 returns here in ggml; every caller of this port passes nstep ≥ 1.
        for step in 0 ... nstep {
            iscale = (rmin + rdelta * Float(step) + fmax) / (max - min)
            var sumL: Float = 0, sumL2: Float = 0, sumXL: Float = 0
            for i in 0 ..< n {
                var l = nearestInt(iscale * (x[i] - min))
                l = Swift.max(0, Swift.min(nmax, l))
                laux[i] = UInt8(truncatingIfNeeded: l)
                let w = weights[i]
                let fl = Float(l)
                sumL += w * fl
                sumL2 += w * fl * fl
                sumXL += w * fl * x[i]
            }
            let D = sumW * sumL2 - sumL * sumL
            if D > 0 {
                var thisScale = (sumW * sumXL - sumX * sumL) / D
                var thisMin = (sumL2 * sumX - sumL * sumXL) / D
                if thisMin > 0 {
                    thisMin = 0
                    thisScale = sumXL / sumL2
                }
                var curError: Float = 0
                for i in 0 ..< n {
                    var diff = thisScale * Float(laux[i]) + thisMin - x[i]
                    diff = diff * diff
                    curError += weights[i] * diff
                }
                if curError < bestError {
                    for i in 0 ..< n { L[i] = laux[i] }
                    bestError = curError
                    scale = thisScale
                    min = thisMin
                }
            }
        }
        theMin = -min
        return scale
    }

    /// ggml's `GROUP_MAX_EPS`: a group whose largest magnitude is below this is all zero.
    static let groupMaxEps: Float = 1e-15

    /// `make_qx_quants` with `rmse_type = 1` and no importance weights (weights `x²`): a symmetric
    /// search for `x ≈ scale·(L − nmax)` with `L` in `0...2·nmax−1`. Writes `L`, returns the scale
    /// (its sign opposite to the largest-magnitude value's). An all-zero group gets raw `L = 0`.
    static func makeQXQuantsRMSE1(count n: Int, nmax: Int32, x: UnsafePointer<Float>,
                                  levels L: UnsafeMutablePointer<Int8>) -> Float {
        var max: Float = 0
        var amax: Float = 0
        for i in 0 ..< n {
            let ax = abs(x[i])
            if ax > amax { amax = ax; max = x[i] }
        }
        if amax < groupMaxEps {
            for i in 0 ..< n { L[i] = 0 }
            return 0
        }
        let fmax = Float(nmax)
        var iscale = Float(-nmax) / max
        var sumLX: Float = 0
        var sumL2: Float = 0
        for i in 0 ..< n {
            var l = nearestInt(iscale * x[i])
            l = Swift.max(-nmax, Swift.min(nmax - 1, l))
            L[i] = Int8(truncatingIfNeeded: l &+ nmax)
            let w = x[i] * x[i]
            let fl = Float(l)
            sumLX += w * x[i] * fl
            sumL2 += w * fl * fl
        }
        var scale: Float = sumL2 != 0 ? sumLX / sumL2 : 0
        var best = scale * sumLX
        for step in -9 ... 9 where step != 0 {
            iscale = -(fmax + 0.1 * Float(step)) / max
            sumLX = 0
            sumL2 = 0
            for i in 0 ..< n {
                var l = nearestInt(iscale * x[i])
                l = Swift.max(-nmax, Swift.min(nmax - 1, l))
                let w = x[i] * x[i]
                let fl = Float(l)
                sumLX += w * x[i] * fl
                sumL2 += w * fl * fl
            }
            if sumL2 > 0 && sumLX * sumLX > best * sumL2 {
                for i in 0 ..< n {
                    let l = nearestInt(iscale * x[i])
                    L[i] = Int8(truncatingIfNeeded: nmax &+ Swift.max(-nmax, Swift.min(nmax - 1, l)))
                }
                scale = sumLX / sumL2
                best = scale * sumLX
            }
        }
        return scale
    }

    /// `get_scale_min_k4`: the 6-bit scale and min of sub-block `j` (0…7) from the 12 packed bytes.
    @inline(__always)
    static func scaleMin(_ j: Int, _ q: UnsafeRawPointer) -> (scale: UInt8, min: UInt8) {
        if j < 4 {
            return (q.load(fromByteOffset: j, as: UInt8.self) & 63,
                    q.load(fromByteOffset: j + 4, as: UInt8.self) & 63)
        }
        let hi = q.load(fromByteOffset: j + 4, as: UInt8.self)
        let s = (hi & 0xF) | ((q.load(fromByteOffset: j - 4, as: UInt8.self) >> 6) << 4)
        let m = (hi >> 4) | ((q.load(fromByteOffset: j, as: UInt8.self) >> 6) << 4)
        return (s, m)
    }

    /// Packs the 6-bit scales and mins of the 8 sub-blocks into 12 bytes as ggml does
    /// (bytes 0–7 first assigned for j < 4, then OR-ed with the top bits of j ≥ 4).
    @inline(__always)
    static func packScaleMin(ls: UnsafePointer<UInt8>, lm: UnsafePointer<UInt8>,
                             into q: UnsafeMutableRawPointer) {
        for j in 0 ..< 4 {
            q.storeBytes(of: ls[j], toByteOffset: j, as: UInt8.self)
            q.storeBytes(of: lm[j], toByteOffset: j + 4, as: UInt8.self)
        }
        for j in 4 ..< 8 {
            q.storeBytes(of: (ls[j] & 0xF) | ((lm[j] & 0xF) << 4), toByteOffset: j + 4, as: UInt8.self)
            let a = q.load(fromByteOffset: j - 4, as: UInt8.self) | ((ls[j] >> 4) << 6)
            q.storeBytes(of: a, toByteOffset: j - 4, as: UInt8.self)
            let b = q.load(fromByteOffset: j, as: UInt8.self) | ((lm[j] >> 4) << 6)
            q.storeBytes(of: b, toByteOffset: j, as: UInt8.self)
        }
    }
}
