import CKernelSupport

/// Decoding stored weights to float32, 32 at a time, for the AVX2 matrix kernels.
///
/// Every decoder gives exactly the floats the portable `dequantizeRow` of its format gives (the
/// products of a small integer and an fp16 scale are exact in float32, so an FMA where the portable
/// code multiplies then adds rounds once either way); a test compares them bit for bit (Q4_0: up to
/// the sign of zero, see its decoder). The fused
/// dot products and the decoded tiles of the batched product share these functions, so a weight
/// has the same value whichever kernel reads it.
///
/// Layouts (ggml's): see the format files in LlamaConvert's Quant/ folder.

/// 32 consecutive weights as four vectors of eight.
@usableFromInline
struct Chunk {
    var w0, w1, w2, w3: SIMD8<Float>
}

/// One stored format. Per tile of ≤ 256 weights starting at weight t (a multiple of 256) of the run
/// at `base` (a block boundary), `scales(base, t, n)` decodes the blocks' scales once, then
/// `chunk(base, k, scales)` decodes weights k ..< k+32 (k a multiple of 32 inside the tile).
@usableFromInline
protocol WeightChunks {
    associatedtype Scales
    static func scales(_ base: UnsafeRawPointer, _ t: Int, _ n: Int) -> Scales
    /// `scales(base, t, n)` stored as floats at `out` (≤ 16), which `chunk` then reads: a vector
    /// lane picked by a variable index would be spilled and reloaded at every chunk, a store
    /// forwarding stall inside the loop.
    static func writeScales(_ base: UnsafeRawPointer, _ t: Int, _ n: Int, _ out: UnsafeMutablePointer<Float>)
    static func chunk(_ base: UnsafeRawPointer, _ k: Int, _ scales: UnsafePointer<Float>) -> Chunk
    /// Weight rows the one-token kernel reads per pass over x (8, 4 or 2): as many as the
    /// registers hold with their decoding.
    static var rowsPerPass: Int { get }
    /// Where weight k (a multiple of 32) lies in the run, in bytes (for prefetching).
    static func byteOffset(_ k: Int) -> Int
    /// Weights k ..< k+8, k a multiple of 8 (used for the tails of float rows, whose length need
    /// only be a multiple of 8).
    static func eight(_ base: UnsafeRawPointer, _ k: Int, _ scales: UnsafePointer<Float>) -> SIMD8<Float>
    /// Weights k ..< k+64 (k a multiple of 64 inside the tile) as two chunks, for formats whose
    /// two neighbouring chunks share their bytes (Q4_K/Q5_K: the low and high nibbles of one run).
    static func chunkPair(_ base: UnsafeRawPointer, _ k: Int, _ scales: UnsafePointer<Float>) -> (Chunk, Chunk)

    // The one-token kernels' multiply-adds for one row and 32 (or 64) weights. By default the
    // decoded weights times x, one FMA each in the order of `AVX2Kernels`; Q4_0, Q4_K and Q6_K
    // override them with their own orders (see their extensions).

    /// A chunk of x as every row of a pass reads it, and what it adds to each row's sum besides
    /// (x itself and nothing by default).
    static func prepare(_ x: Chunk) -> (Chunk, SIMD8<Float>)
    /// acc += weights k ..< k+32 · x (x and e from `prepare`).
    static func accumulate(_ acc: inout SIMD8<Float>, _ base: UnsafeRawPointer, _ k: Int, _ scales: UnsafePointer<Float>,
                           _ x: Chunk, _ e: SIMD8<Float>)
    /// The same for two tokens x and z, the weights decoded once.
    static func accumulate2(_ a: inout SIMD8<Float>, _ b: inout SIMD8<Float>, _ base: UnsafeRawPointer, _ k: Int,
                            _ scales: UnsafePointer<Float>, _ x: Chunk, _ e: SIMD8<Float>, _ z: Chunk, _ f: SIMD8<Float>)
    /// acc += weights k ..< k+64 · (x, z), decoded as a `chunkPair`.
    static func accumulatePair(_ acc: inout SIMD8<Float>, _ base: UnsafeRawPointer, _ k: Int, _ scales: UnsafePointer<Float>,
                               _ x: Chunk, _ e: SIMD8<Float>, _ z: Chunk, _ f: SIMD8<Float>)
    /// Columns per sum of x that `tileOffset` reads (16 or 32), or 0 when it is not needed.
    static var columnsPerSum: Int { get }
    /// What a whole tile adds to a row's accumulator besides its chunks' `accumulate`, from its
    /// scales and the sums of x over its columns (`columnSums`); nothing by default.
    static func tileOffset(_ acc: inout SIMD8<Float>, _ scales: UnsafePointer<Float>, _ sums: UnsafePointer<Float>)
}

extension WeightChunks {
    static var rowsPerPass: Int { 4 }

    @inline(__always)
    static func prepare(_ x: Chunk) -> (Chunk, SIMD8<Float>) { (x, SIMD8()) }

    static var columnsPerSum: Int { 0 }

    @inline(__always)
    static func tileOffset(_: inout SIMD8<Float>, _: UnsafePointer<Float>, _: UnsafePointer<Float>) {}

    @inline(__always)
    static func accumulate(_ acc: inout SIMD8<Float>, _ base: UnsafeRawPointer, _ k: Int, _ scales: UnsafePointer<Float>,
                           _ x: Chunk, _: SIMD8<Float>) {
        mac(&acc, chunk(base, k, scales), x.w0, x.w1, x.w2, x.w3)
    }

    @inline(__always)
    static func accumulate2(_ a: inout SIMD8<Float>, _ b: inout SIMD8<Float>, _ base: UnsafeRawPointer, _ k: Int,
                            _ scales: UnsafePointer<Float>, _ x: Chunk, _: SIMD8<Float>, _ z: Chunk, _: SIMD8<Float>) {
        let w = chunk(base, k, scales)
        mac(&a, w, x.w0, x.w1, x.w2, x.w3)
        mac(&b, w, z.w0, z.w1, z.w2, z.w3)
    }

    @inline(__always)
    static func accumulatePair(_ acc: inout SIMD8<Float>, _ base: UnsafeRawPointer, _ k: Int, _ scales: UnsafePointer<Float>,
                               _ x: Chunk, _: SIMD8<Float>, _ z: Chunk, _: SIMD8<Float>) {
        let (u, v) = chunkPair(base, k, scales)
        mac(&acc, u, x.w0, x.w1, x.w2, x.w3)
        mac(&acc, v, z.w0, z.w1, z.w2, z.w3)
    }

    @inline(__always)
    static func chunkPair(_ base: UnsafeRawPointer, _ k: Int, _ scales: UnsafePointer<Float>) -> (Chunk, Chunk) {
        (chunk(base, k, scales), chunk(base, k &+ 32, scales))
    }

    @inline(__always)
    static func eight(_ base: UnsafeRawPointer, _ k: Int, _ scales: UnsafePointer<Float>) -> SIMD8<Float> {
        let c = chunk(base, k & ~31, scales)
        switch (k >> 3) & 3 {
        case 0: return c.w0
        case 1: return c.w1
        case 2: return c.w2
        default: return c.w3
        }
    }
}

/// The float formats have no scales.
@usableFromInline
struct NoScales {}

/// Per-block (or per-sub-block) scales of one tile, lane i for block i: `d` multiplies the
/// quants, `m` is added (the formats with an offset).
@usableFromInline
struct BlockScales {
    var d: SIMD8<Float>
    var m: SIMD8<Float>
}

@inline(__always)
func store(_: NoScales, _: UnsafeMutablePointer<Float>) {}

@inline(__always)
func store(_ s: BlockScales, _ out: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(out).storeBytes(of: s.d, as: SIMD8<Float>.self)
    UnsafeMutableRawPointer(out).storeBytes(of: s.m, toByteOffset: 32, as: SIMD8<Float>.self)
}

@inline(__always)
func store(_ s: SixBitScales, _ out: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(out).storeBytes(of: s.ds, as: SIMD16<Float>.self)
}

/// The fp16 fields at `base + offset + i·stride` for the tile's `n` blocks (≤ 8), converted at
/// once with `vcvtph2ps`; lanes past `n` are 0.
@inline(__always)
func halves(_ base: UnsafeRawPointer, stride: Int, offset: Int, _ n: Int) -> SIMD8<Float> {
    var bits = SIMD8<UInt16>()
    if n == 8 {
        for i in 0 ..< 8 { bits[i] = base.loadUnaligned(fromByteOffset: i &* stride &+ offset, as: UInt16.self) }
    } else {
        for i in 0 ..< n { bits[i] = base.loadUnaligned(fromByteOffset: i &* stride &+ offset, as: UInt16.self) }
    }
    return SIMD8<Float>(unsafeBitCast(bits, to: SIMD8<Float16>.self))
}

/// Lane i of `v` in all eight lanes.
@inline(__always)
func splat(_ v: SIMD8<Float>, _ i: Int) -> SIMD8<Float> { SIMD8<Float>(repeating: v[i]) }

/// The index, inside its tile, of the 32-weight block holding weight k.
@inline(__always)
func blockInTile(_ k: Int) -> Int { (k &>> 5) & 7 }

@inline(__always)
func floats(_ v: SIMD8<UInt8>) -> SIMD8<Float> { llama_convert_float_i32(unsafeBitCast(llama_convert_zext_u8(v), to: SIMD8<Int32>.self)) }

@inline(__always)
func floats(_ v: SIMD8<Int8>) -> SIMD8<Float> { llama_convert_float_i32(llama_convert_sext_i8(v)) }

@inline(__always)
func low(_ v: SIMD16<UInt8>) -> SIMD16<UInt8> { v & 0x0F }

@inline(__always)
func high(_ v: SIMD16<UInt8>) -> SIMD16<UInt8> { v &>> 4 }

enum F32Chunks: WeightChunks {
    @inline(__always) static func writeScales(_ base: UnsafeRawPointer, _ t: Int, _ n: Int, _ out: UnsafeMutablePointer<Float>) {
        store(scales(base, t, n), out)
    }
    @inline(__always) static func byteOffset(_ k: Int) -> Int { 4 &* k }
    static var rowsPerPass: Int { 8 }

    @inline(__always)
    static func scales(_: UnsafeRawPointer, _: Int, _: Int) -> NoScales { NoScales() }

    @inline(__always)
    static func chunk(_ base: UnsafeRawPointer, _ k: Int, _: UnsafePointer<Float>) -> Chunk {
        let p = base + 4 &* k
        return Chunk(w0: p.loadUnaligned(as: SIMD8<Float>.self), w1: p.loadUnaligned(fromByteOffset: 32, as: SIMD8<Float>.self),
                     w2: p.loadUnaligned(fromByteOffset: 64, as: SIMD8<Float>.self), w3: p.loadUnaligned(fromByteOffset: 96, as: SIMD8<Float>.self))
    }

    @inline(__always)
    static func eight(_ base: UnsafeRawPointer, _ k: Int, _: UnsafePointer<Float>? = nil) -> SIMD8<Float> {
        base.loadUnaligned(fromByteOffset: 4 &* k, as: SIMD8<Float>.self)
    }
}

/// fp16: `vcvtph2ps`, exact for every bit pattern.
enum F16Chunks: WeightChunks {
    @inline(__always) static func writeScales(_ base: UnsafeRawPointer, _ t: Int, _ n: Int, _ out: UnsafeMutablePointer<Float>) {
        store(scales(base, t, n), out)
    }
    @inline(__always) static func byteOffset(_ k: Int) -> Int { 2 &* k }
    static var rowsPerPass: Int { 8 }

    @inline(__always)
    static func scales(_: UnsafeRawPointer, _: Int, _: Int) -> NoScales { NoScales() }

    @inline(__always)
    static func eight(_ base: UnsafeRawPointer, _ k: Int, _: UnsafePointer<Float>? = nil) -> SIMD8<Float> {
        SIMD8<Float>(base.loadUnaligned(fromByteOffset: 2 &* k, as: SIMD8<Float16>.self))
    }

    @inline(__always)
    static func chunk(_ base: UnsafeRawPointer, _ k: Int, _: UnsafePointer<Float>) -> Chunk {
        Chunk(w0: eight(base, k), w1: eight(base, k &+ 8), w2: eight(base, k &+ 16), w3: eight(base, k &+ 24))
    }
}

/// bf16: the top half of a float32.
enum BF16Chunks: WeightChunks {
    @inline(__always) static func writeScales(_ base: UnsafeRawPointer, _ t: Int, _ n: Int, _ out: UnsafeMutablePointer<Float>) {
        store(scales(base, t, n), out)
    }
    @inline(__always) static func byteOffset(_ k: Int) -> Int { 2 &* k }
    static var rowsPerPass: Int { 8 }

    @inline(__always)
    static func scales(_: UnsafeRawPointer, _: Int, _: Int) -> NoScales { NoScales() }

    @inline(__always)
    static func eight(_ base: UnsafeRawPointer, _ k: Int, _: UnsafePointer<Float>? = nil) -> SIMD8<Float> {
        let bits = base.loadUnaligned(fromByteOffset: 2 &* k, as: SIMD8<UInt16>.self)
        return unsafeBitCast(SIMD8<UInt32>(truncatingIfNeeded: bits) &<< 16, to: SIMD8<Float>.self)
    }

    @inline(__always)
    static func chunk(_ base: UnsafeRawPointer, _ k: Int, _: UnsafePointer<Float>) -> Chunk {
        Chunk(w0: eight(base, k), w1: eight(base, k &+ 8), w2: eight(base, k &+ 16), w3: eight(base, k &+ 24))
    }
}

/// The per-block d (and m at `mOffset`) of the tile's blocks of a 32-weight format.
@inline(__always)
func blockScales(_ base: UnsafeRawPointer, _ t: Int, _ n: Int, typeSize: Int, mOffset: Int?) -> BlockScales {
    let first = base + typeSize &* (t &>> 5), blocks = min(8, n &>> 5)
    let d = halves(first, stride: typeSize, offset: 0, blocks)
    let m = mOffset.map { halves(first, stride: typeSize, offset: $0, blocks) } ?? SIMD8<Float>()
    return BlockScales(d: d, m: m)
}

/// Q8_0 (34 bytes per 32): d, then 32 int8; weight = q·d.
enum Q8_0Chunks: WeightChunks {
    static var rowsPerPass: Int { 8 }
    @inline(__always) static func writeScales(_ base: UnsafeRawPointer, _ t: Int, _ n: Int, _ out: UnsafeMutablePointer<Float>) {
        store(scales(base, t, n), out)
    }
    @inline(__always) static func byteOffset(_ k: Int) -> Int { (k &>> 5) &* 34 }
    @inline(__always)
    static func scales(_ base: UnsafeRawPointer, _ t: Int, _ n: Int) -> BlockScales {
        blockScales(base, t, n, typeSize: 34, mOffset: nil)
    }

    @inline(__always)
    static func chunk(_ base: UnsafeRawPointer, _ k: Int, _ s: UnsafePointer<Float>) -> Chunk {
        let b = base + 34 &* (k &>> 5)
        let d = SIMD8<Float>(repeating: s[blockInTile(k)])
        return Chunk(w0: signed(b, 2) * d, w1: signed(b, 10) * d, w2: signed(b, 18) * d, w3: signed(b, 26) * d)
    }
}

/// Q4_0 (18 bytes per 32): d, then 16 bytes: weight j in the low nibble of byte j, weight j+16 in
/// its high nibble; weight = (q − 8)·d.
enum Q4_0Chunks: WeightChunks {
    static var rowsPerPass: Int { 8 }
    @inline(__always) static func writeScales(_ base: UnsafeRawPointer, _ t: Int, _ n: Int, _ out: UnsafeMutablePointer<Float>) {
        store(scales(base, t, n), out)
    }
    @inline(__always) static func byteOffset(_ k: Int) -> Int { (k &>> 5) &* 18 }
    @inline(__always)
    static func scales(_ base: UnsafeRawPointer, _ t: Int, _ n: Int) -> BlockScales {
        blockScales(base, t, n, typeSize: 18, mOffset: nil)
    }

    @inline(__always)
    static func chunk(_ base: UnsafeRawPointer, _ k: Int, _ s: UnsafePointer<Float>) -> Chunk {
        // Bytes widened to 32-bit lanes straight from memory; each widened byte gives a low nibble
        // (weights 0…15) and a high one (16…31). The weight is fma(q, d, −8d): (q − 8)·d is exact,
        // so this is the portable value, except that q = 8 with d < 0 gives +0 where the portable
        // (q − 8)·d gives −0 (equal values; the integer subtraction that would keep the sign made
        // generation 20% slower).
        let d = SIMD8<Float>(repeating: s[blockInTile(k)])
        let m = d * SIMD8(repeating: -8)
        let q = quants(base, k)
        return Chunk(w0: fma(q.w0, d, m), w1: fma(q.w1, d, m), w2: fma(q.w2, d, m), w3: fma(q.w3, d, m))
    }
}

/// Q4_0's one-token products multiply x by the quants themselves and scale each block's sum once,
/// y = Σ d·(Σq·x − 8·Σx): one multiply-add per weight where decoding first costs two, generation of
/// a Q4_0 file about a fifth faster on the 853M benchmark. And they skip the shift that isolates
/// the high nibbles: byte j of a block holds b = lo + 16·hi (weights j and j+16), so with
/// hi = (b − lo)/16, lo·x[j] + hi·x[j+16] = lo·(x[j] − x[j+16]/16) + b·(x[j+16]/16); the x side
/// is rewritten once per pass (`prepare`) and each row converts lo and b as they are.
///
/// Their summation order (one or two tokens, Q4_0 only): tiles of 256 columns from column 0, one
/// 8-wide accumulator per output and tile; for each block of 32 columns g in increasing order, lane
/// i, with u = x[g+16+i]/16, v = x[g+24+i]/16 (exact), a = x[g+i] − u, c = x[g+8+i] − v (rounded),
/// starts from t = −8·Σx, where Σx = ((x[g+i] + x[g+8+i]) + x[g+16+i]) + x[g+24+i] (times a power
/// of two, exact), computes t = fma(lo[g+i], a, t), fma(lo[g+8+i], c, t), fma(b[g+i], u, t),
/// fma(b[g+8+i], v, t) (lo[j] the low nibble of byte j of the block, b[j] the whole byte), then
/// acc = fma(d, t, acc); the tile's lanes are added as in `AVX2Kernels`, y = 0 + tile₀ + tile₁ + ….
/// The batched product keeps the per-weight order: there the decoding is already shared by the
/// whole batch, and the same grouping (twelve block sums beside twelve accumulators) made prompts
/// twice as slow. So a Q4_0 token's result depends on whether it came alone or in a pair (the same
/// bits either way) or in a batch of three or more, within float rounding; it never depends on the
/// thread count.
extension Q4_0Chunks {
    /// Weights k ..< k+32 as their quants q (0 … 15).
    @inline(__always)
    static func quants(_ base: UnsafeRawPointer, _ k: Int) -> Chunk {
        let b = base + 18 &* (k &>> 5)
        let v0 = widen(b, 2), v1 = widen(b, 10)
        let fifteen = SIMD8<UInt32>(repeating: 15), four = SIMD8<UInt32>(repeating: 4)
        return Chunk(w0: floats(v0 & fifteen), w1: floats(v1 & fifteen), w2: floats(v0 &>> four), w3: floats(v1 &>> four))
    }

    /// (x[0..<8] − x[16..<24]/16, x[8..<16] − x[24..<32]/16, x[16..<24]/16, x[24..<32]/16) and
    /// −8·Σx, the start of every row's block sum.
    @inline(__always)
    static func prepare(_ x: Chunk) -> (Chunk, SIMD8<Float>) {
        let sixteenth = SIMD8<Float>(repeating: 1.0 / 16), u = x.w2 * sixteenth, v = x.w3 * sixteenth
        let e = (((x.w0 + x.w1) + x.w2) + x.w3) * SIMD8(repeating: -8)
        return (Chunk(w0: x.w0 - u, w1: x.w1 - v, w2: u, w3: v), e)
    }

    /// The block of weight k as its low nibbles and whole bytes, floats: (lo of bytes 0..<8,
    /// lo of bytes 8..<16, bytes 0..<8, bytes 8..<16), the factors of `prepare`'s four x vectors.
    @inline(__always)
    static func nibblesAndBytes(_ base: UnsafeRawPointer, _ k: Int) -> Chunk {
        let b = base + 18 &* (k &>> 5)
        let v0 = llama_convert_widen_u8_opaque(b + 2), v1 = llama_convert_widen_u8_opaque(b + 10)
        let fifteen = SIMD8<UInt32>(repeating: 15)
        return Chunk(w0: floats(v0 & fifteen), w1: floats(v1 & fifteen), w2: floats(v0), w3: floats(v1))
    }

    /// Σq·x − 8·Σx of one block, x and e from `prepare`.
    @inline(__always)
    static func blockSum(_ q: Chunk, _ x: Chunk, _ e: SIMD8<Float>) -> SIMD8<Float> {
        var t = llama_convert_fma(q.w0, x.w0, e)
        t = llama_convert_fma(q.w1, x.w1, t)
        t = llama_convert_fma(q.w2, x.w2, t)
        return llama_convert_fma(q.w3, x.w3, t)
    }

    @inline(__always)
    static func accumulate(_ acc: inout SIMD8<Float>, _ base: UnsafeRawPointer, _ k: Int, _ scales: UnsafePointer<Float>,
                           _ x: Chunk, _ e: SIMD8<Float>) {
        acc = llama_convert_fma(SIMD8(repeating: scales[blockInTile(k)]), blockSum(nibblesAndBytes(base, k), x, e), acc)
    }

    @inline(__always)
    static func accumulate2(_ a: inout SIMD8<Float>, _ b: inout SIMD8<Float>, _ base: UnsafeRawPointer, _ k: Int,
                            _ scales: UnsafePointer<Float>, _ x: Chunk, _ e: SIMD8<Float>, _ z: Chunk, _ f: SIMD8<Float>) {
        let q = nibblesAndBytes(base, k), d = SIMD8<Float>(repeating: scales[blockInTile(k)])
        a = llama_convert_fma(d, blockSum(q, x, e), a)
        b = llama_convert_fma(d, blockSum(q, z, f), b)
    }

    @inline(__always)
    static func accumulatePair(_ acc: inout SIMD8<Float>, _ base: UnsafeRawPointer, _ k: Int, _ scales: UnsafePointer<Float>,
                               _ x: Chunk, _ e: SIMD8<Float>, _ z: Chunk, _ f: SIMD8<Float>) {
        accumulate(&acc, base, k, scales, x, e)
        accumulate(&acc, base, k &+ 32, scales, z, f)
    }
}

/// Q4_1 (20 bytes per 32): d, m, 16 bytes of nibbles as Q4_0; weight = q·d + m.
enum Q4_1Chunks: WeightChunks {
    @inline(__always) static func writeScales(_ base: UnsafeRawPointer, _ t: Int, _ n: Int, _ out: UnsafeMutablePointer<Float>) {
        store(scales(base, t, n), out)
    }
    @inline(__always) static func byteOffset(_ k: Int) -> Int { (k &>> 5) &* 20 }
    @inline(__always)
    static func scales(_ base: UnsafeRawPointer, _ t: Int, _ n: Int) -> BlockScales {
        blockScales(base, t, n, typeSize: 20, mOffset: 2)
    }

    @inline(__always)
    static func chunk(_ base: UnsafeRawPointer, _ k: Int, _ s: UnsafePointer<Float>) -> Chunk {
        let b = base + 20 &* (k &>> 5)
        let d = SIMD8<Float>(repeating: s[blockInTile(k)]), m = SIMD8<Float>(repeating: s[8 &+ blockInTile(k)])
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
    llama_convert_float_i32(unsafeBitCast(llama_convert_zext_u8(v) | bits, to: SIMD8<Int32>.self) &- offset)
}

/// Q5_0 (22 bytes per 32): d, qh (32 fifth bits), 16 bytes of nibbles; weight = (q − 16)·d.
enum Q5_0Chunks: WeightChunks {
    @inline(__always) static func writeScales(_ base: UnsafeRawPointer, _ t: Int, _ n: Int, _ out: UnsafeMutablePointer<Float>) {
        store(scales(base, t, n), out)
    }
    @inline(__always) static func byteOffset(_ k: Int) -> Int { (k &>> 5) &* 22 }
    @inline(__always)
    static func scales(_ base: UnsafeRawPointer, _ t: Int, _ n: Int) -> BlockScales {
        blockScales(base, t, n, typeSize: 22, mOffset: nil)
    }

    @inline(__always)
    static func chunk(_ base: UnsafeRawPointer, _ k: Int, _ s: UnsafePointer<Float>) -> Chunk {
        let b = base + 22 &* (k &>> 5)
        let d = SIMD8<Float>(repeating: s[blockInTile(k)])
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
    @inline(__always) static func writeScales(_ base: UnsafeRawPointer, _ t: Int, _ n: Int, _ out: UnsafeMutablePointer<Float>) {
        store(scales(base, t, n), out)
    }
    @inline(__always) static func byteOffset(_ k: Int) -> Int { (k &>> 5) &* 24 }
    @inline(__always)
    static func scales(_ base: UnsafeRawPointer, _ t: Int, _ n: Int) -> BlockScales {
        blockScales(base, t, n, typeSize: 24, mOffset: 2)
    }

    @inline(__always)
    static func chunk(_ base: UnsafeRawPointer, _ k: Int, _ s: UnsafePointer<Float>) -> Chunk {
        let b = base + 24 &* (k &>> 5)
        let d = SIMD8<Float>(repeating: s[blockInTile(k)]), m = SIMD8<Float>(repeating: s[8 &+ blockInTile(k)])
        let qh = b.loadUnaligned(fromByteOffset: 4, as: UInt32.self)
        let q = b.loadUnaligned(fromByteOffset: 8, as: SIMD16<UInt8>.self)
        let lo = low(q), hi = high(q)
        return Chunk(w0: fma(floats(lo.lowHalf, orBits: fifthBits(qh, 0), minus: 0), d, m),
                     w1: fma(floats(lo.highHalf, orBits: fifthBits(qh, 8), minus: 0), d, m),
                     w2: fma(floats(hi.lowHalf, orBits: fifthBits(qh, 16), minus: 0), d, m),
                     w3: fma(floats(hi.highHalf, orBits: fifthBits(qh, 24), minus: 0), d, m))
    }
}

/// The eight sub-block scales and mins of a Q4_K/Q5_K super-block at `b` as d·sc and −dmin·m
/// (6 bits each, packed in the 12 bytes at b + 4 as ggml's `get_scale_min_k4`).
@inline(__always)
func superBlockScales(_ b: UnsafeRawPointer) -> BlockScales {
    let q = b + 4
    var sc = SIMD8<Float>(), mn = SIMD8<Float>()
    for j in 0 ..< 4 {
        sc[j] = Float(q.load(fromByteOffset: j, as: UInt8.self) & 63)
        mn[j] = Float(q.load(fromByteOffset: j &+ 4, as: UInt8.self) & 63)
    }
    for j in 4 ..< 8 {
        let hi = q.load(fromByteOffset: j &+ 4, as: UInt8.self)
        sc[j] = Float((hi & 0xF) | ((q.load(fromByteOffset: j &- 4, as: UInt8.self) >> 6) << 4))
        mn[j] = Float((hi >> 4) | ((q.load(fromByteOffset: j, as: UInt8.self) >> 6) << 4))
    }
    let dd = halves(b, stride: 2, offset: 0, 2) // lanes 0, 1: d, dmin
    return BlockScales(d: splat(dd, 0) * sc, m: -(splat(dd, 1) * mn))
}

/// Q4_K (144 bytes per 256): d, dmin, 12 bytes of scales, 128 bytes of nibbles; sub-block s of 32
/// is the low (s even) or high nibbles of bytes 32·(s/2) …; weight = (d·sc)·q − dmin·m.
enum Q4_KChunks: WeightChunks {
    @inline(__always) static func writeScales(_ base: UnsafeRawPointer, _ t: Int, _ n: Int, _ out: UnsafeMutablePointer<Float>) {
        store(scales(base, t, n), out)
    }
    @inline(__always) static func byteOffset(_ k: Int) -> Int { (k &* 144) &>> 8 }
    static var rowsPerPass: Int { 2 }

    @inline(__always)
    static func scales(_ base: UnsafeRawPointer, _ t: Int, _: Int) -> BlockScales {
        superBlockScales(base + 144 &* (t &>> 8))
    }

    /// The 32 bytes whose low (sub-block s even) or high nibbles hold sub-block s = k/32 mod 8.
    @inline(__always)
    static func nibbleRun(_ base: UnsafeRawPointer, _ k: Int) -> UnsafeRawPointer {
        base + (144 &* (k &>> 8) &+ 16 &+ 32 &* (blockInTile(k) &>> 1))
    }

    @inline(__always)
    static func chunk(_ base: UnsafeRawPointer, _ k: Int, _ scales: UnsafePointer<Float>) -> Chunk {
        let s = blockInTile(k)
        let d = SIMD8<Float>(repeating: scales[s]), m = SIMD8<Float>(repeating: scales[8 &+ s])
        let q = nibbleRun(base, k)
        let shift = UInt32(truncatingIfNeeded: 4 &* (s & 1))
        @inline(__always) func w(_ g: Int) -> SIMD8<Float> { fma(d, floats(nibbles(q, 8 &* g, shift)), m) }
        return Chunk(w0: w(0), w1: w(1), w2: w(2), w3: w(3))
    }

    /// Sub-blocks s and s+1 (s even) from one widening of their 32 bytes.
    @inline(__always)
    static func chunkPair(_ base: UnsafeRawPointer, _ k: Int, _ scales: UnsafePointer<Float>) -> (Chunk, Chunk) {
        let s = blockInTile(k), q = nibbleRun(base, k)
        let d0 = SIMD8<Float>(repeating: scales[s]), m0 = SIMD8<Float>(repeating: scales[8 &+ s])
        let d1 = SIMD8<Float>(repeating: scales[s &+ 1]), m1 = SIMD8<Float>(repeating: scales[9 &+ s])
        let fifteen = SIMD8<UInt32>(repeating: 15), four = SIMD8<UInt32>(repeating: 4)
        let v0 = widen(q, 0), v1 = widen(q, 8), v2 = widen(q, 16), v3 = widen(q, 24)
        return (Chunk(w0: fma(d0, floats(v0 & fifteen), m0), w1: fma(d0, floats(v1 & fifteen), m0),
                      w2: fma(d0, floats(v2 & fifteen), m0), w3: fma(d0, floats(v3 & fifteen), m0)),
                Chunk(w0: fma(d1, floats(v0 &>> four), m1), w1: fma(d1, floats(v1 &>> four), m1),
                      w2: fma(d1, floats(v2 &>> four), m1), w3: fma(d1, floats(v3 &>> four), m1)))
    }
}

/// Q4_K's one-token products multiply x by the nibbles themselves and scale each sub-block's sum
/// once, y = Σ_s (d·sc_s)·(Σq·x) + Σ_s (−dmin·m_s)·(Σx over s): the second sum once per tile, from
/// the sums of x over each 32 columns (`columnSums`, computed once per product), so a weight costs
/// its decoding to an integer and one FMA, where decoding to a float first costs two.
///
/// Their summation order (one or two tokens): tiles of 256 columns (one super-block) from column
/// 0, one 8-wide accumulator per output and tile; for each sub-block s in increasing order, lane i
/// computes t = q[32s+i]·x[32s+i], then t = fma(q[32s+8j+i], x[32s+8j+i], t) for j = 1 … 3, then
/// acc = fma(d·sc_s, t, acc); after the tile, lane i: acc = fma(−dmin·m_i, S_i, acc), with S_i the
/// sum of x over sub-block i (`columnSums`); the tile's lanes are added as in `AVX2Kernels`,
/// y = 0 + tile₀ + tile₁ + …. The batched product keeps the per-weight order, so as for Q4_0 a
/// token's result depends on whether it came alone or in a pair (the same bits) or in a batch of
/// three or more, within float rounding; never on the thread count.
extension Q4_KChunks {
    static var columnsPerSum: Int { 32 }

    /// Σ q·x over the four vectors of a sub-block.
    @inline(__always)
    static func subBlockSum(_ q0: SIMD8<UInt32>, _ q1: SIMD8<UInt32>, _ q2: SIMD8<UInt32>, _ q3: SIMD8<UInt32>, _ x: Chunk) -> SIMD8<Float> {
        var t = floats(q0) * x.w0
        t = llama_convert_fma(floats(q1), x.w1, t)
        t = llama_convert_fma(floats(q2), x.w2, t)
        return llama_convert_fma(floats(q3), x.w3, t)
    }

    /// The nibbles of sub-block k/32 (as in `chunk`).
    @inline(__always)
    static func quants(_ base: UnsafeRawPointer, _ k: Int) -> (SIMD8<UInt32>, SIMD8<UInt32>, SIMD8<UInt32>, SIMD8<UInt32>) {
        let q = nibbleRun(base, k), shift = UInt32(truncatingIfNeeded: 4 &* (blockInTile(k) & 1))
        return (nibbles(q, 0, shift), nibbles(q, 8, shift), nibbles(q, 16, shift), nibbles(q, 24, shift))
    }

    @inline(__always)
    static func accumulate(_ acc: inout SIMD8<Float>, _ base: UnsafeRawPointer, _ k: Int, _ scales: UnsafePointer<Float>,
                           _ x: Chunk, _: SIMD8<Float>) {
        let (q0, q1, q2, q3) = quants(base, k)
        acc = llama_convert_fma(SIMD8(repeating: scales[blockInTile(k)]), subBlockSum(q0, q1, q2, q3, x), acc)
    }

    @inline(__always)
    static func accumulate2(_ a: inout SIMD8<Float>, _ b: inout SIMD8<Float>, _ base: UnsafeRawPointer, _ k: Int,
                            _ scales: UnsafePointer<Float>, _ x: Chunk, _: SIMD8<Float>, _ z: Chunk, _: SIMD8<Float>) {
        let (q0, q1, q2, q3) = quants(base, k), d = SIMD8<Float>(repeating: scales[blockInTile(k)])
        a = llama_convert_fma(d, subBlockSum(q0, q1, q2, q3, x), a)
        b = llama_convert_fma(d, subBlockSum(q0, q1, q2, q3, z), b)
    }

    /// Sub-blocks s and s+1 (s even) from one widening of their 32 bytes; the same operations as
    /// `accumulate` of each in turn.
    @inline(__always)
    static func accumulatePair(_ acc: inout SIMD8<Float>, _ base: UnsafeRawPointer, _ k: Int, _ scales: UnsafePointer<Float>,
                               _ x: Chunk, _: SIMD8<Float>, _ z: Chunk, _: SIMD8<Float>) {
        let s = blockInTile(k), q = nibbleRun(base, k)
        let fifteen = SIMD8<UInt32>(repeating: 15), four = SIMD8<UInt32>(repeating: 4)
        let v0 = widen(q, 0), v1 = widen(q, 8), v2 = widen(q, 16), v3 = widen(q, 24)
        acc = llama_convert_fma(SIMD8(repeating: scales[s]), subBlockSum(v0 & fifteen, v1 & fifteen, v2 & fifteen, v3 & fifteen, x), acc)
        acc = llama_convert_fma(SIMD8(repeating: scales[s &+ 1]), subBlockSum(v0 &>> four, v1 &>> four, v2 &>> four, v3 &>> four, z), acc)
    }

    @inline(__always)
    static func tileOffset(_ acc: inout SIMD8<Float>, _ scales: UnsafePointer<Float>, _ sums: UnsafePointer<Float>) {
        acc = llama_convert_fma(load8(scales, 8), load8(sums, 0), acc)
    }
}

/// Q5_K (176 bytes per 256): as Q4_K with the fifth bit of weight 32s+l in bit s of qh[l]
/// (32 bytes at 16); nibbles at 48.
enum Q5_KChunks: WeightChunks {
    @inline(__always) static func writeScales(_ base: UnsafeRawPointer, _ t: Int, _ n: Int, _ out: UnsafeMutablePointer<Float>) {
        store(scales(base, t, n), out)
    }
    @inline(__always) static func byteOffset(_ k: Int) -> Int { (k &* 176) &>> 8 }
    static var rowsPerPass: Int { 2 }

    @inline(__always)
    static func scales(_ base: UnsafeRawPointer, _ t: Int, _: Int) -> BlockScales {
        superBlockScales(base + 176 &* (t &>> 8))
    }

    @inline(__always)
    static func chunk(_ base: UnsafeRawPointer, _ k: Int, _ scales: UnsafePointer<Float>) -> Chunk {
        let b = base + 176 &* (k &>> 8)
        let s = blockInTile(k)
        let d = SIMD8<Float>(repeating: scales[s]), m = SIMD8<Float>(repeating: scales[8 &+ s])
        let q = b + (48 &+ 32 &* (s &>> 1)), qh = b + 16
        let shift = UInt32(truncatingIfNeeded: 4 &* (s & 1)), bit = UInt32(truncatingIfNeeded: s)
        @inline(__always) func w(_ g: Int) -> SIMD8<Float> {
            let fifth = ((widen(qh, 8 &* g) &>> SIMD8(repeating: bit)) & SIMD8(repeating: 1)) &<< SIMD8(repeating: 4)
            return fma(d, floats(nibbles(q, 8 &* g, shift) | fifth), m)
        }
        return Chunk(w0: w(0), w1: w(1), w2: w(2), w3: w(3))
    }
}

/// The 16 scales of a Q6_K super-block times its d: lanes 2s and 2s+1 for sub-block s.
@usableFromInline
struct SixBitScales {
    var ds: SIMD16<Float>
}

/// Q6_K (210 bytes per 256): ql[128] low nibbles, qh[64] high bit pairs, 16 int8 scales, d.
/// Sub-block s = 4h + j (j 0…3) of half h: low (j < 2) or high nibbles of ql[64h + 32·(j&1) …],
/// high bits (qh[32h + l] >> 2j) & 3, scales[2s] for its first 16 weights and [2s + 1] for the
/// rest; weight = (d·scale)·(q − 32).
enum Q6_KChunks: WeightChunks {
    @inline(__always) static func writeScales(_ base: UnsafeRawPointer, _ t: Int, _ n: Int, _ out: UnsafeMutablePointer<Float>) {
        store(scales(base, t, n), out)
    }
    @inline(__always) static func byteOffset(_ k: Int) -> Int { (k &* 210) &>> 8 }
    static var rowsPerPass: Int { 2 }

    @inline(__always)
    static func scales(_ base: UnsafeRawPointer, _ t: Int, _: Int) -> SixBitScales {
        let b = base + 210 &* (t &>> 8)
        let sc = SIMD16<Float>(lowHalf: signed(b, 192), highHalf: signed(b, 200))
        let d = halves(b, stride: 0, offset: 208, 1)
        return SixBitScales(ds: SIMD16(repeating: d[0]) * sc)
    }

    @inline(__always)
    static func chunk(_ base: UnsafeRawPointer, _ k: Int, _ scales: UnsafePointer<Float>) -> Chunk {
        // u − 32 in float is exact (|u − 32| ≤ 32), so this is the portable (d·scale)·(q − 32).
        let s = blockInTile(k), u = quants(base, k), minus32 = SIMD8<Float>(repeating: -32)
        let d0 = SIMD8<Float>(repeating: scales[2 &* s]), d1 = SIMD8<Float>(repeating: scales[2 &* s &+ 1])
        return Chunk(w0: (u.w0 + minus32) * d0, w1: (u.w1 + minus32) * d0, w2: (u.w2 + minus32) * d1, w3: (u.w3 + minus32) * d1)
    }
}

/// Q6_K's one-token products multiply x by the unsigned 6-bit quants u = q + 32 and scale each
/// 16 weights' sum once, y = Σ_g (d·sc_g)·(Σu·x) + Σ_g (d·sc_g)·(−32·Σx over g): the second sum
/// once per tile from the sums of x over each 16 columns (`columnSums`).
///
/// Their summation order (one or two tokens): tiles of 256 columns (one super-block) from column
/// 0, one 8-wide accumulator per output and tile; for each group g of 16 columns in increasing
/// order, lane i computes t = u[16g+i]·x[16g+i], t = fma(u[16g+8+i], x[16g+8+i], t), then
/// acc = fma(d·sc_g, t, acc); after the tile, lane i: acc = fma(−32·d·sc_i, S_i, acc), then
/// acc = fma(−32·d·sc_{8+i}, S_{8+i}, acc), with S_g the sum of x over group g; the tile's lanes
/// are added as in `AVX2Kernels`, y = 0 + tile₀ + tile₁ + …. The batched product keeps the
/// per-weight order (see Q4_0).
extension Q6_KChunks {
    static var columnsPerSum: Int { 16 }

    /// The unsigned quants u = q + 32 of weights k ..< k+32, as floats.
    @inline(__always)
    static func quants(_ base: UnsafeRawPointer, _ k: Int) -> Chunk {
        let b = base + 210 &* (k &>> 8)
        let s = blockInTile(k), h = s &>> 2, j = s & 3
        let ql = b + (64 &* h &+ 32 &* (j & 1)), qh = b + (128 &+ 32 &* h)
        let shift = UInt32(truncatingIfNeeded: 4 &* (j &>> 1)), highShift = UInt32(truncatingIfNeeded: 2 &* j)
        @inline(__always) func u(_ g: Int) -> SIMD8<Float> {
            let top = ((widen(qh, 8 &* g) &>> SIMD8(repeating: highShift)) & SIMD8(repeating: 3)) &<< SIMD8(repeating: 4)
            return floats(nibbles(ql, 8 &* g, shift) | top)
        }
        return Chunk(w0: u(0), w1: u(1), w2: u(2), w3: u(3))
    }

    @inline(__always)
    static func accumulate(_ acc: inout SIMD8<Float>, _ base: UnsafeRawPointer, _ k: Int, _ scales: UnsafePointer<Float>,
                           _ x: Chunk, _: SIMD8<Float>) {
        let s = blockInTile(k), q = quants(base, k)
        acc = llama_convert_fma(SIMD8(repeating: scales[2 &* s]), llama_convert_fma(q.w1, x.w1, q.w0 * x.w0), acc)
        acc = llama_convert_fma(SIMD8(repeating: scales[2 &* s &+ 1]), llama_convert_fma(q.w3, x.w3, q.w2 * x.w2), acc)
    }

    @inline(__always)
    static func accumulate2(_ a: inout SIMD8<Float>, _ b: inout SIMD8<Float>, _ base: UnsafeRawPointer, _ k: Int,
                            _ scales: UnsafePointer<Float>, _ x: Chunk, _: SIMD8<Float>, _ z: Chunk, _: SIMD8<Float>) {
        let s = blockInTile(k), q = quants(base, k)
        let d0 = SIMD8<Float>(repeating: scales[2 &* s]), d1 = SIMD8<Float>(repeating: scales[2 &* s &+ 1])
        a = llama_convert_fma(d0, llama_convert_fma(q.w1, x.w1, q.w0 * x.w0), a)
        a = llama_convert_fma(d1, llama_convert_fma(q.w3, x.w3, q.w2 * x.w2), a)
        b = llama_convert_fma(d0, llama_convert_fma(q.w1, z.w1, q.w0 * z.w0), b)
        b = llama_convert_fma(d1, llama_convert_fma(q.w3, z.w3, q.w2 * z.w2), b)
    }

    @inline(__always)
    static func accumulatePair(_ acc: inout SIMD8<Float>, _ base: UnsafeRawPointer, _ k: Int, _ scales: UnsafePointer<Float>,
                               _ x: Chunk, _ e: SIMD8<Float>, _ z: Chunk, _ f: SIMD8<Float>) {
        accumulate(&acc, base, k, scales, x, e)
        accumulate(&acc, base, k &+ 32, scales, z, f)
    }

    @inline(__always)
    static func tileOffset(_ acc: inout SIMD8<Float>, _ scales: UnsafePointer<Float>, _ sums: UnsafePointer<Float>) {
        let minus32 = SIMD8<Float>(repeating: -32)
        acc = llama_convert_fma(load8(scales, 0) * minus32, load8(sums, 0), acc)
        acc = llama_convert_fma(load8(scales, 8) * minus32, load8(sums, 8), acc)
    }
}

/// Eight bytes at `p + offset` zero-extended to 32-bit lanes (`vpmovzxbd`).
@inline(__always)
func widen(_ p: UnsafeRawPointer, _ offset: Int) -> SIMD8<UInt32> {
    llama_convert_widen_u8(p + offset)
}

/// Eight int8 at `p + offset` as floats (`vpmovsxbd`, `vcvtdq2ps`).
@inline(__always)
func signed(_ p: UnsafeRawPointer, _ offset: Int) -> SIMD8<Float> {
    llama_convert_float_i32(llama_convert_widen_i8(p + offset))
}

/// The low (`shift` 0) or high (`shift` 4) nibbles of eight bytes at `p + offset`, in 32-bit lanes.
@inline(__always)
func nibbles(_ p: UnsafeRawPointer, _ offset: Int, _ shift: UInt32) -> SIMD8<UInt32> {
    (widen(p, offset) &>> SIMD8(repeating: shift)) & SIMD8(repeating: 15)
}

@inline(__always)
func floats(_ v: SIMD8<UInt32>) -> SIMD8<Float> { llama_convert_float_i32(unsafeBitCast(v, to: SIMD8<Int32>.self)) }
