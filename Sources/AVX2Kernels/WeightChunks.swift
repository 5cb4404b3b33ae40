/// Decoding stored weights to float32, 32 at a time, for the AVX2 matrix kernels.
///
/// Every decoder gives exactly the floats the portable `dequantizeRow` of its format gives (the
/// products of a small integer and an fp16 scale are exact in float32, so an FMA where the portable
/// code multiplies then adds rounds once either way); a test compares them bit for bit. The fused
/// dot products and the decoded tiles of the batched product share these functions, so a weight
/// has the same value whichever kernel reads it.
///
/// Layouts (ggml's): see the format files in LlamaConvert's Quant/ folder.

/// 32 consecutive weights as four vectors of eight.
@usableFromInline
struct Chunk {
    var w0, w1, w2, w3: SIMD8<Float>
}

/// One stored format. `chunk(base, k)` decodes weights k ..< k+32 of the run starting at `base`
/// (a block boundary); k is a multiple of 32.
@usableFromInline
protocol WeightChunks {
    static func chunk(_ base: UnsafeRawPointer, _ k: Int) -> Chunk
    /// Weights k ..< k+8, k a multiple of 8 (used for the tails of float rows, whose length need
    /// only be a multiple of 8).
    static func eight(_ base: UnsafeRawPointer, _ k: Int) -> SIMD8<Float>
}

extension WeightChunks {
    @inline(__always)
    static func eight(_ base: UnsafeRawPointer, _ k: Int) -> SIMD8<Float> {
        let c = chunk(base, k & ~31)
        switch (k >> 3) & 3 {
        case 0: return c.w0
        case 1: return c.w1
        case 2: return c.w2
        default: return c.w3
        }
    }
}

@inline(__always)
func floats(_ v: SIMD8<UInt8>) -> SIMD8<Float> { SIMD8<Float>(SIMD8<Int32>(truncatingIfNeeded: v)) }

@inline(__always)
func floats(_ v: SIMD8<Int8>) -> SIMD8<Float> { SIMD8<Float>(SIMD8<Int32>(truncatingIfNeeded: v)) }

@inline(__always)
func half(_ base: UnsafeRawPointer, _ offset: Int) -> Float {
    Float(Float16(bitPattern: base.loadUnaligned(fromByteOffset: offset, as: UInt16.self)))
}

@inline(__always)
func low(_ v: SIMD16<UInt8>) -> SIMD16<UInt8> { v & 0x0F }

@inline(__always)
func high(_ v: SIMD16<UInt8>) -> SIMD16<UInt8> { v &>> 4 }

enum F32Chunks: WeightChunks {
    @inline(__always)
    static func chunk(_ base: UnsafeRawPointer, _ k: Int) -> Chunk {
        let p = base + 4 &* k
        return Chunk(w0: p.loadUnaligned(as: SIMD8<Float>.self), w1: p.loadUnaligned(fromByteOffset: 32, as: SIMD8<Float>.self),
                     w2: p.loadUnaligned(fromByteOffset: 64, as: SIMD8<Float>.self), w3: p.loadUnaligned(fromByteOffset: 96, as: SIMD8<Float>.self))
    }

    @inline(__always)
    static func eight(_ base: UnsafeRawPointer, _ k: Int) -> SIMD8<Float> {
        base.loadUnaligned(fromByteOffset: 4 &* k, as: SIMD8<Float>.self)
    }
}

/// fp16: `vcvtph2ps`, exact for every bit pattern.
enum F16Chunks: WeightChunks {
    @inline(__always)
    static func eight(_ base: UnsafeRawPointer, _ k: Int) -> SIMD8<Float> {
        SIMD8<Float>(base.loadUnaligned(fromByteOffset: 2 &* k, as: SIMD8<Float16>.self))
    }

    @inline(__always)
    static func chunk(_ base: UnsafeRawPointer, _ k: Int) -> Chunk {
        Chunk(w0: eight(base, k), w1: eight(base, k &+ 8), w2: eight(base, k &+ 16), w3: eight(base, k &+ 24))
    }
}

/// bf16: the top half of a float32.
enum BF16Chunks: WeightChunks {
    @inline(__always)
    static func eight(_ base: UnsafeRawPointer, _ k: Int) -> SIMD8<Float> {
        let bits = base.loadUnaligned(fromByteOffset: 2 &* k, as: SIMD8<UInt16>.self)
        return unsafeBitCast(SIMD8<UInt32>(truncatingIfNeeded: bits) &<< 16, to: SIMD8<Float>.self)
    }

    @inline(__always)
    static func chunk(_ base: UnsafeRawPointer, _ k: Int) -> Chunk {
        Chunk(w0: eight(base, k), w1: eight(base, k &+ 8), w2: eight(base, k &+ 16), w3: eight(base, k &+ 24))
    }
}

/// Q8_0 (34 bytes per 32): d, then 32 int8; weight = q·d.
enum Q8_0Chunks: WeightChunks {
    @inline(__always)
    static func chunk(_ base: UnsafeRawPointer, _ k: Int) -> Chunk {
        let b = base + 34 &* (k &>> 5)
        let d = SIMD8<Float>(repeating: half(b, 0))
        let q = b.loadUnaligned(fromByteOffset: 2, as: SIMD32<Int8>.self)
        return Chunk(w0: floats(q.lowHalf.lowHalf) * d, w1: floats(q.lowHalf.highHalf) * d,
                     w2: floats(q.highHalf.lowHalf) * d, w3: floats(q.highHalf.highHalf) * d)
    }
}

/// Q4_0 (18 bytes per 32): d, then 16 bytes: weight j in the low nibble of byte j, weight j+16 in
/// its high nibble; weight = (q − 8)·d.
enum Q4_0Chunks: WeightChunks {
    @inline(__always)
    static func chunk(_ base: UnsafeRawPointer, _ k: Int) -> Chunk {
        let b = base + 18 &* (k &>> 5)
        let d = SIMD8<Float>(repeating: half(b, 0))
        let q = b.loadUnaligned(fromByteOffset: 2, as: SIMD16<UInt8>.self)
        let lo = unsafeBitCast(low(q) &- 8, to: SIMD16<Int8>.self), hi = unsafeBitCast(high(q) &- 8, to: SIMD16<Int8>.self)
        return Chunk(w0: floats(lo.lowHalf) * d, w1: floats(lo.highHalf) * d,
                     w2: floats(hi.lowHalf) * d, w3: floats(hi.highHalf) * d)
    }
}

/// Q4_1 (20 bytes per 32): d, m, 16 bytes of nibbles as Q4_0; weight = q·d + m.
enum Q4_1Chunks: WeightChunks {
    @inline(__always)
    static func chunk(_ base: UnsafeRawPointer, _ k: Int) -> Chunk {
        let b = base + 20 &* (k &>> 5)
        let d = SIMD8<Float>(repeating: half(b, 0)), m = SIMD8<Float>(repeating: half(b, 2))
        let q = b.loadUnaligned(fromByteOffset: 4, as: SIMD16<UInt8>.self)
        let lo = low(q), hi = high(q)
        return Chunk(w0: fma(floats(lo.lowHalf), d, m),
                     w1: fma(floats(lo.highHalf), d, m), w2: fma(floats(hi.lowHalf), d, m), w3: fma(floats(hi.highHalf), d, m))
    }
}

@inline(__always)
func fma(_ a: SIMD8<Float>, _ b: SIMD8<Float>, _ c: SIMD8<Float>) -> SIMD8<Float> { c.addingProduct(a, b) }

/// The fifth bits of a Q5_0/Q5_1 block: bit j of `qh` for weight j, as 16 or 0 per lane, lanes
/// j0 ..< j0+8.
@inline(__always)
func fifthBits(_ qh: UInt32, _ j0: UInt32) -> SIMD8<UInt32> {
    let shifts = SIMD8<UInt32>(0, 1, 2, 3, 4, 5, 6, 7) &+ j0
    return ((SIMD8<UInt32>(repeating: qh) &>> shifts) & 1) &<< 4
}

@inline(__always)
func floats(_ v: SIMD8<UInt8>, orBits bits: SIMD8<UInt32>, minus offset: Int32) -> SIMD8<Float> {
    SIMD8<Float>(unsafeBitCast(SIMD8<UInt32>(truncatingIfNeeded: v) | bits, to: SIMD8<Int32>.self) &- offset)
}

/// Q5_0 (22 bytes per 32): d, qh (32 fifth bits), 16 bytes of nibbles; weight = (q − 16)·d.
enum Q5_0Chunks: WeightChunks {
    @inline(__always)
    static func chunk(_ base: UnsafeRawPointer, _ k: Int) -> Chunk {
        let b = base + 22 &* (k &>> 5)
        let d = SIMD8<Float>(repeating: half(b, 0))
        let qh = b.loadUnaligned(fromByteOffset: 2, as: UInt32.self)
        let q = b.loadUnaligned(fromByteOffset: 6, as: SIMD16<UInt8>.self)
        let lo = low(q), hi = high(q)
        return Chunk(w0: floats(lo.lowHalf, orBits: fifthBits(qh, 0), minus: 16) * d,
                     w1: floats(lo.highHalf, orBits: fifthBits(qh, 8), minus: 16) * d,
                     w2: floats(hi.lowHalf, orBits: fifthBits(qh, 16), minus: 16) * d,
                     w3: floats(hi.highHalf, orBits: fifthBits(qh, 24), minus: 16) * d)
    }
}

/// Q5_1 (24 bytes per 32): d, m, qh, 16 bytes of nibbles; weight = q·d + m.
enum Q5_1Chunks: WeightChunks {
    @inline(__always)
    static func chunk(_ base: UnsafeRawPointer, _ k: Int) -> Chunk {
        let b = base + 24 &* (k &>> 5)
        let d = SIMD8<Float>(repeating: half(b, 0)), m = SIMD8<Float>(repeating: half(b, 2))
        let qh = b.loadUnaligned(fromByteOffset: 4, as: UInt32.self)
        let q = b.loadUnaligned(fromByteOffset: 8, as: SIMD16<UInt8>.self)
        let lo = low(q), hi = high(q)
        return Chunk(w0: fma(floats(lo.lowHalf, orBits: fifthBits(qh, 0), minus: 0), d, m),
                     w1: fma(floats(lo.highHalf, orBits: fifthBits(qh, 8), minus: 0), d, m),
                     w2: fma(floats(hi.lowHalf, orBits: fifthBits(qh, 16), minus: 0), d, m),
                     w3: fma(floats(hi.highHalf, orBits: fifthBits(qh, 24), minus: 0), d, m))
    }
}

/// Scale and min of sub-block `j` (0…7) of a Q4_K/Q5_K super-block, 6 bits each, from the 12
/// packed bytes at `q`.
@inline(__always)
func scaleMin(_ j: Int, _ q: UnsafeRawPointer) -> (Float, Float) {
    if j < 4 {
        return (Float(q.load(fromByteOffset: j, as: UInt8.self) & 63), Float(q.load(fromByteOffset: j &+ 4, as: UInt8.self) & 63))
    }
    let hi = q.load(fromByteOffset: j &+ 4, as: UInt8.self)
    let s = (hi & 0xF) | ((q.load(fromByteOffset: j &- 4, as: UInt8.self) >> 6) << 4)
    let m = (hi >> 4) | ((q.load(fromByteOffset: j, as: UInt8.self) >> 6) << 4)
    return (Float(s), Float(m))
}

/// Q4_K (144 bytes per 256): d, dmin, 12 bytes of scales, 128 bytes of nibbles; sub-block s of 32
/// is the low (s even) or high nibbles of bytes 32·(s/2) …; weight = (d·sc)·q − dmin·m.
enum Q4_KChunks: WeightChunks {
    @inline(__always)
    static func chunk(_ base: UnsafeRawPointer, _ k: Int) -> Chunk {
        let b = base + 144 &* (k &>> 8)
        let s = (k &>> 5) & 7
        let (sc, mn) = scaleMin(s, b + 4)
        let d = SIMD8<Float>(repeating: half(b, 0) * sc), m = SIMD8<Float>(repeating: -(half(b, 2) * mn))
        let q = b.loadUnaligned(fromByteOffset: 16 &+ 32 &* (s &>> 1), as: SIMD32<UInt8>.self)
        let n = s & 1 == 0 ? q & 0x0F : q &>> 4
        return Chunk(w0: fma(d, floats(n.lowHalf.lowHalf), m), w1: fma(d, floats(n.lowHalf.highHalf), m),
                     w2: fma(d, floats(n.highHalf.lowHalf), m), w3: fma(d, floats(n.highHalf.highHalf), m))
    }
}

/// Q5_K (176 bytes per 256): as Q4_K with the fifth bit of weight 32s+l in bit s of qh[l]
/// (32 bytes at 16); nibbles at 48.
enum Q5_KChunks: WeightChunks {
    @inline(__always)
    static func chunk(_ base: UnsafeRawPointer, _ k: Int) -> Chunk {
        let b = base + 176 &* (k &>> 8)
        let s = (k &>> 5) & 7
        let (sc, mn) = scaleMin(s, b + 4)
        let d = SIMD8<Float>(repeating: half(b, 0) * sc), m = SIMD8<Float>(repeating: -(half(b, 2) * mn))
        let q = b.loadUnaligned(fromByteOffset: 48 &+ 32 &* (s &>> 1), as: SIMD32<UInt8>.self)
        let qh = b.loadUnaligned(fromByteOffset: 16, as: SIMD32<UInt8>.self)
        let fifth: SIMD32<UInt8> = ((qh &>> SIMD32<UInt8>(repeating: UInt8(truncatingIfNeeded: s))) & 1) &<< 4
        let nibble: SIMD32<UInt8> = s & 1 == 0 ? q & 0x0F : q &>> 4
        let n = nibble | fifth
        return Chunk(w0: fma(d, floats(n.lowHalf.lowHalf), m), w1: fma(d, floats(n.lowHalf.highHalf), m),
                     w2: fma(d, floats(n.highHalf.lowHalf), m), w3: fma(d, floats(n.highHalf.highHalf), m))
    }
}

/// Q6_K (210 bytes per 256): ql[128] low nibbles, qh[64] high bit pairs, 16 int8 scales, d.
/// Sub-block j (0…3) of half h: low (j < 2) or high nibbles of ql[64h + 32·(j&1) …], high bits
/// (qh[32h + l] >> 2j) & 3, scales[8h + 2j] for its first 16 weights and [8h + 2j + 1] for the
/// rest; weight = (d·scale)·(q − 32).
enum Q6_KChunks: WeightChunks {
    @inline(__always)
    static func chunk(_ base: UnsafeRawPointer, _ k: Int) -> Chunk {
        let b = base + 210 &* (k &>> 8)
        let s = (k &>> 5) & 7, h = s &>> 2, j = s & 3
        let d = half(b, 208)
        let sc = b + (192 &+ 8 &* h &+ 2 &* j)
        let d0 = SIMD8<Float>(repeating: d * Float(sc.load(as: Int8.self)))
        let d1 = SIMD8<Float>(repeating: d * Float(sc.load(fromByteOffset: 1, as: Int8.self)))
        let ql = b.loadUnaligned(fromByteOffset: 64 &* h &+ 32 &* (j & 1), as: SIMD32<UInt8>.self)
        let qh = b.loadUnaligned(fromByteOffset: 128 &+ 32 &* h, as: SIMD32<UInt8>.self)
        let nibble: SIMD32<UInt8> = j < 2 ? ql & 0x0F : ql &>> 4
        let shift = SIMD32<UInt8>(repeating: UInt8(truncatingIfNeeded: 2 &* j))
        let top: SIMD32<UInt8> = ((qh &>> shift) & 3) &<< 4
        let u = nibble | top
        let q = unsafeBitCast(u, to: SIMD32<Int8>.self) &- 32
        return Chunk(w0: floats(q.lowHalf.lowHalf) * d0, w1: floats(q.lowHalf.highHalf) * d0,
                     w2: floats(q.highHalf.lowHalf) * d1, w3: floats(q.highHalf.highHalf) * d1)
    }
}
