/// The K-quant searches of `KQuantReference` run on all sub-blocks of a super-block at once:
/// lane `s` of every vector belongs to sub-block `s` (8 lanes of 32 weights for Q4_K/Q5_K,
/// 16 lanes of 16 weights for Q6_K). Each lane performs exactly the scalar operations of its own
/// sub-block in the same order (element sums run over `i` sequentially inside the lane), so no
/// sum is reassociated and no multiply-add is fused: the result is bit-identical to the scalar
/// reference, which the tests check. Branches of the C code become lane masks; a lane whose
/// condition is false keeps its value, exactly as the C `if` would.
///
/// Pure functions: all scratch lives in stack allocations of the call, so rows may be quantized
/// on any number of threads.
enum KQuantLanes {
    typealias V8 = SIMD8<Float>
    typealias I8 = SIMD8<Int32>
    typealias V16 = SIMD16<Float>
    typealias I16 = SIMD16<Int32>

    // MARK: lane helpers (ggml's nearest_int and fabsf, per lane)

    @inline(__always)
    static func nearest(_ v: V8) -> I8 {
        let bits = unsafeBitCast(v + V8(repeating: 12582912.0), to: I8.self)
        return (bits & 0x007f_ffff) &- 0x0040_0000
    }

    @inline(__always)
    static func nearest(_ v: V16) -> I16 {
        let bits = unsafeBitCast(v + V16(repeating: 12582912.0), to: I16.self)
        return (bits & 0x007f_ffff) &- 0x0040_0000
    }

    @inline(__always)
    static func magnitude(_ v: V8) -> V8 {
        unsafeBitCast(unsafeBitCast(v, to: I8.self) & 0x7fff_ffff, to: V8.self)
    }

    @inline(__always)
    static func magnitude(_ v: V16) -> V16 {
        unsafeBitCast(unsafeBitCast(v, to: I16.self) & 0x7fff_ffff, to: V16.self)
    }

    @inline(__always)
    static func float(_ v: I8) -> V8 { V8(v) }

    @inline(__always)
    static func float(_ v: I16) -> V16 { V16(v) }

    // MARK: Q4_K / Q5_K

    /// `quantize_row_q4_K_ref` (fiveBit false) or `quantize_row_q5_K_ref` (true), 8 lanes.
    static func quantizeRowQ45(_ xRow: UnsafePointer<Float>, count: Int, into y: UnsafeMutableRawPointer,
                               fiveBit: Bool) {
        let nmax: Int32 = fiveBit ? 31 : 15
        let rmin: Float = fiveBit ? -0.5 : -1.0
        let rdelta: Float = 0.1
        let nstep = fiveBit ? 15 : 20
        let typeSize = fiveBit ? Q5_K.typeSize : Q4_K.typeSize
        withUnsafeTemporaryAllocation(of: V8.self, capacity: 64) { floats in
            withUnsafeTemporaryAllocation(of: I8.self, capacity: 64) { ints in
                withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 256) { levelBuffer in
                    let xT = floats.baseAddress!, wT = xT + 32
                    let L = ints.baseAddress!, laux = L + 32
                    let levels = levelBuffer.baseAddress!
                    for b in 0 ..< count / 256 {
                        let x = xRow + 256 * b
                        let block = y + b * typeSize
                        for i in 0 ..< 32 {
                            xT[i] = V8(x[i], x[32 + i], x[64 + i], x[96 + i],
                                       x[128 + i], x[160 + i], x[192 + i], x[224 + i])
                        }
                        var sumX2 = V8()
                        for i in 0 ..< 32 { sumX2 += xT[i] * xT[i] }
                        let avX = (sumX2 / 32).squareRoot()
                        for i in 0 ..< 32 { wT[i] = avX + magnitude(xT[i]) }
                        var theMin = V8()
                        let scales = makeQKX2Quants(nmax: nmax, xT: xT, wT: wT, L: L, laux: laux, theMin: &theMin,
                                                    rmin: rmin, rdelta: rdelta, nstep: nstep)
                        finishBlockQ45(x: xT, scales: scales, mins: theMin, L: L, nmax: nmax, block: block)
                        for s in 0 ..< 8 {
                            for i in 0 ..< 32 { levels[32 * s + i] = UInt8(truncatingIfNeeded: L[i][s]) }
                        }
                        if fiveBit {
                            Q5_K.packLevels(levels, into: block)
                        } else {
                            let qs = block + 16
                            for c in 0 ..< 4 {
                                for l in 0 ..< 32 {
                                    let byte = levels[64 * c + l] | (levels[64 * c + l + 32] << 4)
                                    qs.storeBytes(of: byte, toByteOffset: 32 * c + l, as: UInt8.self)
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// `make_qkx2_quants` (use_mad false) on 8 sub-blocks of 32; `xT[i]`/`wT[i]` hold element `i`
    /// of every sub-block. Returns the scales; `theMin` receives the mins (≥ 0, subtracted).
    @inline(__always)
    static func makeQKX2Quants(nmax: Int32, xT: UnsafePointer<V8>, wT: UnsafePointer<V8>,
                               L: UnsafeMutablePointer<I8>, laux: UnsafeMutablePointer<I8>, theMin: inout V8,
                               rmin: Float, rdelta: Float, nstep: Int) -> V8 {
        let zeroI = I8(), nmaxI = I8(repeating: nmax)
        var min = xT[0]
        var max = xT[0]
        var sumW = wT[0]
        var sumX = sumW * xT[0]
        for i in 1 ..< 32 {
            let xi = xT[i]
            min.replace(with: xi, where: xi .< min)
            max.replace(with: xi, where: xi .> max)
            let w = wT[i]
            sumW += w
            sumX += w * xi
        }
        min.replace(with: 0, where: min .> 0)
        let flat = max .== min          // these lanes return L = 0, scale 0, the_min = -min
        let live = .!flat
        let fmax = Float(nmax)
        var iscale = V8(repeating: fmax) / (max - min)
        var scale = 1 / iscale
        var bestError = V8()
        for i in 0 ..< 32 {
            let l = nearest(iscale * (xT[i] - min)).clamped(lowerBound: zeroI, upperBound: nmaxI)
            L[i] = l
            var diff = scale * float(l) + min - xT[i]
            diff = diff * diff
            bestError += wT[i] * diff
        }
        for step in 0 ... nstep {
            // (max - min) uses the min of the best fit so far, as in ggml.
            iscale = V8(repeating: rmin + rdelta * Float(step) + fmax) / (max - min)
            var sumL = V8(), sumL2 = V8(), sumXL = V8()
            for i in 0 ..< 32 {
                let l = nearest(iscale * (xT[i] - min)).clamped(lowerBound: zeroI, upperBound: nmaxI)
                laux[i] = l
                let w = wT[i]
                let fl = float(l)
                sumL += w * fl
                sumL2 += w * fl * fl
                sumXL += w * fl * xT[i]
            }
            let D = sumW * sumL2 - sumL * sumL
            let solvable = (D .> 0) .& live
            if !any(solvable) { continue }
            var thisScale = (sumW * sumXL - sumX * sumL) / D
            var thisMin = (sumL2 * sumX - sumL * sumXL) / D
            let positiveMin = thisMin .> 0
            thisMin.replace(with: 0, where: positiveMin)
            thisScale.replace(with: sumXL / sumL2, where: positiveMin)
            var curError = V8()
            for i in 0 ..< 32 {
                var diff = thisScale * float(laux[i]) + thisMin - xT[i]
                diff = diff * diff
                curError += wT[i] * diff
            }
            let better = solvable .& (curError .< bestError)
            if !any(better) { continue }
            for i in 0 ..< 32 { L[i].replace(with: laux[i], where: better) }
            bestError.replace(with: curError, where: better)
            scale.replace(with: thisScale, where: better)
            min.replace(with: thisMin, where: better)
        }
        for i in 0 ..< 32 { L[i].replace(with: 0, where: flat) }
        scale.replace(with: 0, where: flat)
        theMin = -min
        return scale
    }

    /// The super-block part of `quantize_row_q4_K_ref`/`q5_K_ref` after the sub-block searches:
    /// 6-bit scales and mins, fp16 d and dmin, re-quantization of `L` with the stored values.
    @inline(__always)
    static func finishBlockQ45(x xT: UnsafePointer<V8>, scales: V8, mins: V8, L: UnsafeMutablePointer<I8>,
                               nmax: Int32, block: UnsafeMutableRawPointer) {
        var maxScale: Float = 0
        var maxMin: Float = 0
        for j in 0 ..< 8 {
            if scales[j] > maxScale { maxScale = scales[j] }
            if mins[j] > maxMin { maxMin = mins[j] }
        }
        let invScale: Float = maxScale > 0 ? 63 / maxScale : 0
        let invMin: Float = maxMin > 0 ? 63 / maxMin : 0
        var ls = SIMD8<UInt8>(), lm = SIMD8<UInt8>()
        for j in 0 ..< 8 {
            ls[j] = Swift.min(63, KQuantSearch.wrapToUInt8(KQuantSearch.nearestInt(invScale * scales[j])))
            lm[j] = Swift.min(63, KQuantSearch.wrapToUInt8(KQuantSearch.nearestInt(invMin * mins[j])))
        }
        withUnsafeBytes(of: ls) { lsBytes in
            withUnsafeBytes(of: lm) { lmBytes in
                KQuantSearch.packScaleMin(ls: lsBytes.baseAddress!.assumingMemoryBound(to: UInt8.self),
                                          lm: lmBytes.baseAddress!.assumingMemoryBound(to: UInt8.self),
                                          into: block + 4)
            }
        }
        let dBits = HalfFloat.fromFloat(maxScale / 63)
        let dminBits = HalfFloat.fromFloat(maxMin / 63)
        block.storeBytes(of: dBits.littleEndian, toByteOffset: 0, as: UInt16.self)
        block.storeBytes(of: dminBits.littleEndian, toByteOffset: 2, as: UInt16.self)
        let dStored = HalfFloat.toFloat(dBits), dminStored = HalfFloat.toFloat(dminBits)
        var d = V8(), dm = V8()
        for j in 0 ..< 8 {
            let (sc, m) = KQuantSearch.scaleMin(j, UnsafeRawPointer(block + 4))
            d[j] = dStored * Float(sc)
            dm[j] = dminStored * Float(m)
        }
        let requantize = d .!= 0
        if !any(requantize) { return }
        let zeroI = I8(), nmaxI = I8(repeating: nmax)
        for i in 0 ..< 32 {
            let l = nearest((xT[i] + dm) / d).clamped(lowerBound: zeroI, upperBound: nmaxI)
            L[i].replace(with: l, where: requantize)
        }
    }

    // MARK: Q6_K

    /// `quantize_row_q6_K_ref`, 16 lanes (one per sub-block of 16).
    static func quantizeRowQ6(_ xRow: UnsafePointer<Float>, count: Int, into y: UnsafeMutableRawPointer) {
        withUnsafeTemporaryAllocation(of: V16.self, capacity: 48) { floats in
            withUnsafeTemporaryAllocation(of: I16.self, capacity: 32) { ints in
                withUnsafeTemporaryAllocation(of: Int8.self, capacity: 256) { levelBuffer in
                    let xT = floats.baseAddress!, wT = xT + 16, wxT = wT + 16
                    let L = ints.baseAddress!, laux = L + 16
                    let levels = levelBuffer.baseAddress!
                    for b in 0 ..< count / 256 {
                        let x = xRow + 256 * b
                        let block = y + b * Q6_K.typeSize
                        for i in 0 ..< 16 {
                            var v = V16()
                            for s in 0 ..< 16 { v[s] = x[16 * s + i] }
                            xT[i] = v
                            wT[i] = v * v
                            wxT[i] = wT[i] * v
                        }
                        let scales = makeQXQuantsRMSE1(xT: xT, wT: wT, wxT: wxT, L: L, laux: laux)
                        var maxScale: Float = 0
                        var maxAbsScale: Float = 0
                        for ib in 0 ..< 16 {
                            let absScale = abs(scales[ib])
                            if absScale > maxAbsScale {
                                maxAbsScale = absScale
                                maxScale = scales[ib]
                            }
                        }
                        if maxAbsScale < KQuantSearch.groupMaxEps {
                            block.initializeMemory(as: UInt8.self, repeating: 0, count: Q6_K.typeSize)
                            continue
                        }
                        let iscale: Float = -128 / maxScale
                        let dBits = HalfFloat.fromFloat(1 / iscale)
                        block.storeBytes(of: dBits.littleEndian, toByteOffset: 208, as: UInt16.self)
                        let dStored = HalfFloat.toFloat(dBits)
                        var d = V16()
                        for ib in 0 ..< 16 {
                            let q = Int8(truncatingIfNeeded: Swift.min(127, KQuantSearch.nearestInt(iscale * scales[ib])))
                            block.storeBytes(of: q, toByteOffset: 192 + ib, as: Int8.self)
                            d[ib] = dStored * Float(q)
                        }
                        let requantize = d .!= 0
                        if any(requantize) {
                            let lo = I16(repeating: -32), hi = I16(repeating: 31), offset = I16(repeating: 32)
                            for i in 0 ..< 16 {
                                let l = nearest(xT[i] / d).clamped(lowerBound: lo, upperBound: hi) &+ offset
                                L[i].replace(with: l, where: requantize)
                            }
                        }
                        for s in 0 ..< 16 {
                            for i in 0 ..< 16 { levels[16 * s + i] = Int8(truncatingIfNeeded: L[i][s]) }
                        }
                        Q6_K.packLevels(levels, into: block)
                    }
                }
            }
        }
    }

    /// `make_qx_quants(16, 32, x, L, rmse_type 1, NULL)` on 16 sub-blocks; `wT[i]` = x², `wxT[i]`
    /// = x²·x (ggml's `w*x[i]`, the same float product every iteration). Returns the scales.
    @inline(__always)
    static func makeQXQuantsRMSE1(xT: UnsafePointer<V16>, wT: UnsafePointer<V16>, wxT: UnsafePointer<V16>,
                                  L: UnsafeMutablePointer<I16>, laux: UnsafeMutablePointer<I16>) -> V16 {
        let nmax: Int32 = 32
        let lo = I16(repeating: -nmax), hi = I16(repeating: nmax - 1), offset = I16(repeating: nmax)
        var max = V16()
        var amax = V16()
        for i in 0 ..< 16 {
            let ax = magnitude(xT[i])
            let larger = ax .> amax
            amax.replace(with: ax, where: larger)
            max.replace(with: xT[i], where: larger)
        }
        let zero = amax .< KQuantSearch.groupMaxEps
        let live = .!zero
        var iscale = V16(repeating: Float(-nmax)) / max
        var sumLX = V16(), sumL2 = V16()
        for i in 0 ..< 16 {
            let l = nearest(iscale * xT[i]).clamped(lowerBound: lo, upperBound: hi)
            L[i] = l &+ offset
            let fl = float(l)
            sumLX += wxT[i] * fl
            sumL2 += wT[i] * fl * fl
        }
        var scale = sumLX / sumL2
        scale.replace(with: 0, where: sumL2 .== 0)
        var best = scale * sumLX
        for step in -9 ... 9 where step != 0 {
            iscale = V16(repeating: -(Float(nmax) + 0.1 * Float(step))) / max
            sumLX = V16()
            sumL2 = V16()
            for i in 0 ..< 16 {
                let l = nearest(iscale * xT[i]).clamped(lowerBound: lo, upperBound: hi)
                laux[i] = l
                let fl = float(l)
                sumLX += wxT[i] * fl
                sumL2 += wT[i] * fl * fl
            }
            let better = (sumL2 .> 0) .& (sumLX * sumLX .> best * sumL2) .& live
            if !any(better) { continue }
            for i in 0 ..< 16 { L[i].replace(with: laux[i] &+ offset, where: better) }
            scale.replace(with: sumLX / sumL2, where: better)
            best.replace(with: scale * sumLX, where: better)
        }
        for i in 0 ..< 16 { L[i].replace(with: 0, where: zero) }
        scale.replace(with: 0, where: zero)
        return scale
    }
}
