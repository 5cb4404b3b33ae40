/// The K-quant searches of `KQuantReference` run on four sub-blocks at once: lane `s` of every
/// vector belongs to one sub-block (Q4_K/Q5_K: two groups of four 32-weight sub-blocks per
/// super-block; Q6_K: four groups of four 16-weight sub-blocks). Each lane performs exactly the
/// scalar operations of its own sub-block in the same order (element sums run over `i`
/// sequentially inside the lane), so no sum is reassociated and no multiply-add is fused: the
/// result is bit-identical to the scalar reference, which the tests check. Branches of the C code
/// become lane masks; a lane whose condition is false keeps its value, as the C `if` would.
///
/// Why four lanes: `SIMD4<Float>` is one SSE register; there the stdlib's compares,
/// `replacing(with:where:)`, `any` and integer `pointwiseMin`/`pointwiseMax` compile to a few
/// vector instructions. With `SIMD8`/`SIMD16` on baseline x86-64 the same calls became per-lane
/// loops and out-of-line calls, and so did bit-casting a `SIMDMask` to integers even for
/// `SIMD4` (checked in the generated assembly), so neither is used.
///
/// Pure functions: all scratch lives in stack allocations of the call, so rows may be quantized
/// on any number of threads.
enum KQuantLanes {
    typealias V4 = SIMD4<Float>
    typealias I4 = SIMD4<Int32>
    typealias Mask = SIMDMask<I4>

    // MARK: lane helpers

    /// ggml's `nearest_int` per lane (the same bits as `KQuantSearch.nearestInt`).
    @inline(__always)
    static func nearest(_ v: V4) -> I4 {
        let bits = unsafeBitCast(v + V4(repeating: 12582912.0), to: I4.self)
        return (bits & 0x007f_ffff) &- 0x0040_0000
    }

    /// `fabsf` per lane (clears the sign bit, so −0 becomes +0 as in C).
    @inline(__always)
    static func magnitude(_ v: V4) -> V4 {
        unsafeBitCast(unsafeBitCast(v, to: I4.self) & 0x7fff_ffff, to: V4.self)
    }

    /// Int32 → Float for |v| < 2²², exactly: the bits of 1.5·2²³ + v, minus 1.5·2²³ (every caller
    /// passes a clamped level in −32…63); the generic SIMD conversion initialiser was an
    /// out-of-line call when measured.
    @inline(__always)
    static func float(_ v: I4) -> V4 {
        unsafeBitCast(v &+ 0x4B40_0000, to: V4.self) - V4(repeating: 12582912.0)
    }

    /// `m ? a : b` per lane (compiles to and/andnot/or on one register).
    @inline(__always)
    static func select(_ m: Mask, _ a: I4, _ b: I4) -> I4 { b.replacing(with: a, where: m) }

    @inline(__always)
    static func select(_ m: Mask, _ a: V4, _ b: V4) -> V4 { b.replacing(with: a, where: m) }

    @inline(__always)
    static func anyLane(_ m: Mask) -> Bool { any(m) }

    /// `MAX(lo, MIN(hi, v))` per lane.
    @inline(__always)
    static func clamp(_ v: I4, _ lo: I4, _ hi: I4) -> I4 { pointwiseMax(lo, pointwiseMin(hi, v)) }

    // MARK: Q4_K / Q5_K

    /// `quantize_row_q4_K_ref` (fiveBit false) or `quantize_row_q5_K_ref` (true).
    static func quantizeRowQ45(_ xRow: UnsafePointer<Float>, count: Int, into y: UnsafeMutableRawPointer,
                               fiveBit: Bool) {
        let nmax: Int32 = fiveBit ? 31 : 15
        let rmin: Float = fiveBit ? -0.5 : -1.0
        let nstep = fiveBit ? 15 : 20
        let typeSize = fiveBit ? Q5_K.typeSize : Q4_K.typeSize
        // Per super-block: xT/wT/L/laux hold group g (sub-blocks 4g…4g+3) at [32g ..< 32g+32].
        withUnsafeTemporaryAllocation(of: V4.self, capacity: 128) { floats in
            withUnsafeTemporaryAllocation(of: I4.self, capacity: 128) { ints in
                withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 256) { levelBuffer in
                    let xT = floats.baseAddress!, wT = xT + 64
                    let L = ints.baseAddress!, laux = L + 64
                    let levels = levelBuffer.baseAddress!
                    for b in 0 ..< count / 256 {
                        let x = xRow + 256 * b
                        let block = y + b * typeSize
                        var scales = (V4(), V4()), mins = (V4(), V4())
                        for g in 0 ..< 2 {
                            let xg = xT + 32 * g, wg = wT + 32 * g
                            let base = x + 128 * g
                            for i in 0 ..< 32 {
                                xg[i] = V4(base[i], base[32 + i], base[64 + i], base[96 + i])
                            }
                            var sumX2 = V4()
                            for i in 0 ..< 32 { sumX2 += xg[i] * xg[i] }
                            let avX = (sumX2 / 32).squareRoot()
                            for i in 0 ..< 32 { wg[i] = avX + magnitude(xg[i]) }
                            var theMin = V4()
                            let scale = makeQKX2Quants(nmax: nmax, xT: xg, wT: wg, L: L + 32 * g, laux: laux,
                                                       theMin: &theMin, rmin: rmin, rdelta: 0.1, nstep: nstep)
                            if g == 0 { scales.0 = scale; mins.0 = theMin } else { scales.1 = scale; mins.1 = theMin }
                        }
                        finishBlockQ45(xT: xT, scales: scales, mins: mins, L: L, nmax: nmax, block: block)
                        for g in 0 ..< 2 {
                            for lane in 0 ..< 4 {
                                let s = 4 * g + lane
                                for i in 0 ..< 32 {
                                    levels[32 * s + i] = UInt8(truncatingIfNeeded: L[32 * g + i][lane])
                                }
                            }
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

    /// `make_qkx2_quants` (use_mad false) on four sub-blocks of 32; `xT[i]`/`wT[i]` hold element
    /// `i` of each. Writes `L[0..<32]`, returns the scales; `theMin` receives the mins (≥ 0).
    @inline(__always)
    static func makeQKX2Quants(nmax: Int32, xT: UnsafePointer<V4>, wT: UnsafePointer<V4>,
                               L: UnsafeMutablePointer<I4>, laux: UnsafeMutablePointer<I4>, theMin: inout V4,
                               rmin: Float, rdelta: Float, nstep: Int) -> V4 {
        let zeroI = I4(), nmaxI = I4(repeating: nmax)
        var min = xT[0]
        var max = xT[0]
        var sumW = wT[0]
        var sumX = sumW * xT[0]
        for i in 1 ..< 32 {
            let xi = xT[i]
            min = select(xi .< min, xi, min)
            max = select(xi .> max, xi, max)
            let w = wT[i]
            sumW += w
            sumX += w * xi
        }
        min = select(min .> 0, .zero, min)
        let flat = max .== min          // these lanes return L = 0, scale 0, the_min = -min
        let live = .!flat
        let fmax = Float(nmax)
        var range = max - min
        var iscale = V4(repeating: fmax) / range
        var scale = 1 / iscale
        var bestError = V4()
        for i in 0 ..< 32 {
            let l = clamp(nearest(iscale * (xT[i] - min)), zeroI, nmaxI)
            L[i] = l
            var diff = scale * float(l) + min - xT[i]
            diff = diff * diff
            bestError += wT[i] * diff
        }
        for step in 0 ... nstep {
            // (max - min) uses the min of the best fit so far, as in ggml.
            iscale = V4(repeating: rmin + rdelta * Float(step) + fmax) / range
            var sumL = V4(), sumL2 = V4(), sumXL = V4()
            for i in 0 ..< 32 {
                let l = clamp(nearest(iscale * (xT[i] - min)), zeroI, nmaxI)
                laux[i] = l
                let w = wT[i]
                let fl = float(l)
                sumL += w * fl
                sumL2 += w * fl * fl
                sumXL += w * fl * xT[i]
            }
            let D = sumW * sumL2 - sumL * sumL
            let solvable = (D .> 0) .& live
            if !anyLane(solvable) { continue }
            var thisScale = (sumW * sumXL - sumX * sumL) / D
            var thisMin = (sumL2 * sumX - sumL * sumXL) / D
            let positiveMin = thisMin .> 0
            thisMin = select(positiveMin, .zero, thisMin)
            thisScale = select(positiveMin, sumXL / sumL2, thisScale)
            var curError = V4()
            for i in 0 ..< 32 {
                var diff = thisScale * float(laux[i]) + thisMin - xT[i]
                diff = diff * diff
                curError += wT[i] * diff
            }
            let better = solvable .& (curError .< bestError)
            if !anyLane(better) { continue }
            for i in 0 ..< 32 { L[i] = select(better, laux[i], L[i]) }
            bestError = select(better, curError, bestError)
            scale = select(better, thisScale, scale)
            min = select(better, thisMin, min)
            range = max - min
        }
        for i in 0 ..< 32 { L[i] = select(flat, .zero, L[i]) }
        theMin = -min
        return select(flat, .zero, scale)
    }

    /// The super-block part of `quantize_row_q4_K_ref`/`q5_K_ref` after the sub-block searches:
    /// 6-bit scales and mins, fp16 d and dmin, re-quantization of `L` with the stored values.
    @inline(__always)
    static func finishBlockQ45(xT: UnsafePointer<V4>, scales: (V4, V4), mins: (V4, V4),
                               L: UnsafeMutablePointer<I4>, nmax: Int32, block: UnsafeMutableRawPointer) {
        let scale8 = SIMD8(lowHalf: scales.0, highHalf: scales.1)
        let min8 = SIMD8(lowHalf: mins.0, highHalf: mins.1)
        var maxScale: Float = 0
        var maxMin: Float = 0
        for j in 0 ..< 8 {
            if scale8[j] > maxScale { maxScale = scale8[j] }
            if min8[j] > maxMin { maxMin = min8[j] }
        }
        let invScale: Float = maxScale > 0 ? 63 / maxScale : 0
        let invMin: Float = maxMin > 0 ? 63 / maxMin : 0
        var ls = SIMD8<UInt8>(), lm = SIMD8<UInt8>()
        for j in 0 ..< 8 {
            ls[j] = Swift.min(63, KQuantSearch.wrapToUInt8(KQuantSearch.nearestInt(invScale * scale8[j])))
            lm[j] = Swift.min(63, KQuantSearch.wrapToUInt8(KQuantSearch.nearestInt(invMin * min8[j])))
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
        let zeroI = I4(), nmaxI = I4(repeating: nmax)
        for g in 0 ..< 2 {
            var d = V4(), dm = V4()
            for lane in 0 ..< 4 {
                let (sc, m) = KQuantSearch.scaleMin(4 * g + lane, UnsafeRawPointer(block + 4))
                d[lane] = dStored * Float(sc)
                dm[lane] = dminStored * Float(m)
            }
            let requantize = d .!= 0
            if !anyLane(requantize) { continue }
            for i in 0 ..< 32 {
                let l = clamp(nearest((xT[32 * g + i] + dm) / d), zeroI, nmaxI)
                L[32 * g + i] = select(requantize, l, L[32 * g + i])
            }
        }
    }

    // MARK: Q6_K

    /// `quantize_row_q6_K_ref`: four groups of four 16-weight sub-blocks.
    static func quantizeRowQ6(_ xRow: UnsafePointer<Float>, count: Int, into y: UnsafeMutableRawPointer) {
        // Per super-block: group g (sub-blocks 4g…4g+3) at [16g ..< 16g+16] of each array.
        withUnsafeTemporaryAllocation(of: V4.self, capacity: 192) { floats in
            withUnsafeTemporaryAllocation(of: I4.self, capacity: 80) { ints in
                withUnsafeTemporaryAllocation(of: Int8.self, capacity: 256) { levelBuffer in
                    let xT = floats.baseAddress!, wT = xT + 64, wxT = wT + 64
                    let L = ints.baseAddress!, laux = L + 64
                    let levels = levelBuffer.baseAddress!
                    for b in 0 ..< count / 256 {
                        let x = xRow + 256 * b
                        let block = y + b * Q6_K.typeSize
                        var scales = SIMD16<Float>()
                        for g in 0 ..< 4 {
                            let base = x + 64 * g
                            for i in 0 ..< 16 {
                                let v = V4(base[i], base[16 + i], base[32 + i], base[48 + i])
                                xT[16 * g + i] = v
                                wT[16 * g + i] = v * v
                                wxT[16 * g + i] = (v * v) * v
                            }
                            let s = makeQXQuantsRMSE1(xT: xT + 16 * g, wT: wT + 16 * g, wxT: wxT + 16 * g,
                                                      L: L + 16 * g, laux: laux)
                            for lane in 0 ..< 4 { scales[4 * g + lane] = s[lane] }
                        }
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
                        let lo = I4(repeating: -32), hi = I4(repeating: 31), offset = I4(repeating: 32)
                        for g in 0 ..< 4 {
                            var d = V4()
                            for lane in 0 ..< 4 {
                                let ib = 4 * g + lane
                                let q = Int8(truncatingIfNeeded: Swift.min(127, KQuantSearch.nearestInt(iscale * scales[ib])))
                                block.storeBytes(of: q, toByteOffset: 192 + ib, as: Int8.self)
                                d[lane] = dStored * Float(q)
                            }
                            let requantize = d .!= 0
                            if !anyLane(requantize) { continue }
                            for i in 0 ..< 16 {
                                let l = clamp(nearest(xT[16 * g + i] / d), lo, hi) &+ offset
                                L[16 * g + i] = select(requantize, l, L[16 * g + i])
                            }
                        }
                        for g in 0 ..< 4 {
                            for lane in 0 ..< 4 {
                                let s = 4 * g + lane
                                for i in 0 ..< 16 { levels[16 * s + i] = Int8(truncatingIfNeeded: L[16 * g + i][lane]) }
                            }
                        }
                        Q6_K.packLevels(levels, into: block)
                    }
                }
            }
        }
    }

    /// `make_qx_quants(16, 32, x, L, rmse_type 1, NULL)` on four sub-blocks; `wT[i]` = x²,
    /// `wxT[i]` = x²·x (ggml's `w*x[i]`, the same float product in every pass). Returns the scales.
    @inline(__always)
    static func makeQXQuantsRMSE1(xT: UnsafePointer<V4>, wT: UnsafePointer<V4>, wxT: UnsafePointer<V4>,
                                  L: UnsafeMutablePointer<I4>, laux: UnsafeMutablePointer<I4>) -> V4 {
        let nmax: Int32 = 32
        let lo = I4(repeating: -nmax), hi = I4(repeating: nmax - 1), offset = I4(repeating: nmax)
        var max = V4()
        var amax = V4()
        for i in 0 ..< 16 {
            let ax = magnitude(xT[i])
            let larger = ax .> amax
            amax = select(larger, ax, amax)
            max = select(larger, xT[i], max)
        }
        let zero = amax .< KQuantSearch.groupMaxEps
        let live = .!zero
        var iscale = V4(repeating: Float(-nmax)) / max
        var sumLX = V4(), sumL2 = V4()
        for i in 0 ..< 16 {
            let l = clamp(nearest(iscale * xT[i]), lo, hi)
            L[i] = l &+ offset
            let fl = float(l)
            sumLX += wxT[i] * fl
            sumL2 += wT[i] * fl * fl
        }
        var scale = select(sumL2 .== 0, .zero, sumLX / sumL2)
        var best = scale * sumLX
        for step in -9 ... 9 where step != 0 {
            iscale = V4(repeating: -(Float(nmax) + 0.1 * Float(step))) / max
            sumLX = V4()
            sumL2 = V4()
            for i in 0 ..< 16 {
                let l = clamp(nearest(iscale * xT[i]), lo, hi)
                laux[i] = l
                let fl = float(l)
                sumLX += wxT[i] * fl
                sumL2 += wT[i] * fl * fl
            }
            let better = (sumL2 .> 0) .& (sumLX * sumLX .> best * sumL2) .& live
            if !anyLane(better) { continue }
            for i in 0 ..< 16 { L[i] = select(better, laux[i] &+ offset, L[i]) }
            scale = select(better, sumLX / sumL2, scale)
            best = select(better, scale * sumLX, best)
        }
        for i in 0 ..< 16 { L[i] = select(zero, .zero, L[i]) }
        return select(zero, .zero, scale)
    }
}
