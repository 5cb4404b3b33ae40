import Foundation
import Testing
@testable import LlamaConvert

/// The five legacy block formats against gguf-py's vectors (fixtures/quant-vectors, written by
/// Scripts/make_quant_vectors.py, whose inputs A and B were also checked against libggml's hashes).
@Suite("Legacy block quantizers")
struct LegacyQuantTests {
    static let types: [GGMLType] = [.q8_0, .q4_0, .q4_1, .q5_0, .q5_1]
    static let rowLength = 256

    static func vectorFile(_ name: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("quant-vectors/" + name))))
    }

    static func floats(_ bytes: [UInt8]) -> [Float] {
        stride(from: 0, to: bytes.count, by: 4).map { i in
            Float(bitPattern: UInt32(bytes[i]) | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2]) << 16 | UInt32(bytes[i + 3]) << 24)
        }
    }

    static func quantize(_ x: [Float], _ type: GGMLType) throws -> [UInt8] {
        var out = [UInt8](repeating: 0xAA, count: type.rowBytes(x.count)!)
        try x.withUnsafeBufferPointer { src in
            try out.withUnsafeMutableBytes { try RowCodec.quantizeRow(type: type, source: src.baseAddress!, count: x.count, into: $0.baseAddress!) }
        }
        return out
    }

    static func dequantize(_ bytes: [UInt8], _ type: GGMLType, count: Int) throws -> [Float] {
        var out = [Float](repeating: .nan, count: count)
        try bytes.withUnsafeBytes { src in
            try out.withUnsafeMutableBufferPointer { try RowCodec.dequantizeRow(type: type, source: src.baseAddress!, count: count, into: $0.baseAddress!) }
        }
        return out
    }

    /// The largest error a correct block may show against its source: one quantisation step (the
    /// clamped far end of Q4_0/Q5_0 loses up to a whole step), plus fp16 rounding of d (relative
    /// 2^-11 on up to 16 steps) and of m, plus the absolute fp16 granularity near zero: a d below
    /// fp16's normal range keeps only 2^-24 steps, so each of the `levels` quants may be off by
    /// 2^-25 (a d under 2^-25 stores 0 and the block decodes to m).
    static func blockBound(_ x: ArraySlice<Float>, _ type: GGMLType) -> Float {
        let amax = x.map(abs).max() ?? 0
        let lo = x.min() ?? 0, hi = x.max() ?? 0
        let step: Float, levels: Float
        switch type {
        case .q8_0: (step, levels) = (amax / 127, 127)
        case .q4_0: (step, levels) = (amax / 8, 8)
        case .q5_0: (step, levels) = (amax / 16, 16)
        case .q4_1: (step, levels) = ((hi - lo) / 15, 15)
        case .q5_1: (step, levels) = ((hi - lo) / 31, 31)
        default: (step, levels) = (0, 0)
        }
        let m = (type == .q4_1 || type == .q5_1) ? abs(lo) : 0
        let fp16Floor = Float(sign: .plus, exponent: -25, significand: 1)
        return step * 1.01 + amax * 0.002 + m * 0.001 + (levels + 2) * fp16Floor
    }

    @Test("block geometry equals gguf-py's GGML_QUANT_SIZES")
    func geometry() {
        // gguf-py/gguf/constants.py GGML_QUANT_SIZES: Q4_0 (32, 2+16), Q4_1 (32, 2+2+16),
        // Q5_0 (32, 2+4+16), Q5_1 (32, 2+2+4+16), Q8_0 (32, 2+32).
        let table: [GGMLType: (Int, Int)] = [.q4_0: (32, 18), .q4_1: (32, 20), .q5_0: (32, 22), .q5_1: (32, 24), .q8_0: (32, 34)]
        for (type, (block, size)) in table {
            #expect(type.blockSize == block && type.typeSize == size, "\(type.name)")
        }
        #expect((Q8_0.type, Q8_0.blockSize, Q8_0.typeSize) == (.q8_0, 32, 34))
        #expect((Q4_0.type, Q4_0.blockSize, Q4_0.typeSize) == (.q4_0, 32, 18))
        #expect((Q4_1.type, Q4_1.blockSize, Q4_1.typeSize) == (.q4_1, 32, 20))
        #expect((Q5_0.type, Q5_0.blockSize, Q5_0.typeSize) == (.q5_0, 32, 22))
        #expect((Q5_1.type, Q5_1.blockSize, Q5_1.typeSize) == (.q5_1, 32, 24))
    }

    @Test("quantized bytes equal gguf-py's (= ggml's _ref) for every vector row", arguments: types)
    func bytesMatchGGUFPy(type: GGMLType) throws {
        let input = Self.floats(try Self.vectorFile("input.f32"))
        let expected = try Self.vectorFile(type.name.lowercased() + ".bin")
        let rowBytes = type.rowBytes(Self.rowLength)!
        let rows = input.count / Self.rowLength
        #expect(rows == 64 && expected.count == rows * rowBytes)
        var badRows: [Int] = []
        for r in 0 ..< rows {
            let ours = try Self.quantize(Array(input[r * Self.rowLength ..< (r + 1) * Self.rowLength]), type)
            if ours[...] != expected[r * rowBytes ..< (r + 1) * rowBytes] { badRows.append(r) }
        }
        #expect(badRows.isEmpty, "\(type.name): rows \(badRows) differ from gguf-py")
    }

    @Test("dequantizing gguf-py's bytes gives gguf-py's floats bit for bit", arguments: types)
    func dequantizeMatchesGGUFPy(type: GGMLType) throws {
        let bytes = try Self.vectorFile(type.name.lowercased() + ".bin")
        let expected = Self.floats(try Self.vectorFile(type.name.lowercased() + ".dequant.f32"))
        let ours = try Self.dequantize(bytes, type, count: expected.count)
        let mismatches = (0 ..< ours.count).filter { ours[$0].bitPattern != expected[$0].bitPattern }
        #expect(mismatches.isEmpty, "\(type.name): \(mismatches.count) values differ, first at \(mismatches.first ?? -1)")
    }

    @Test("the reference ramp block: Q4_0 d = +0.25 because the extreme is -2.0")
    func rampWorkedExample() throws {
        let ramp = (0 ..< 32).map { Float($0 - 16) / 8 }
        let q4 = try Self.quantize(ramp, .q4_0)
        #expect(q4 == [0x00, 0x34, 0x80, 0x91, 0x91, 0xa2, 0xa2, 0xb3, 0xb3, 0xc4, 0xc4, 0xd5, 0xd5, 0xe6, 0xe6, 0xf7, 0xf7, 0xf8])
        let negated = try Self.quantize(ramp.map { -$0 }, .q4_0)
        #expect(negated[0 ..< 2] == [0x00, 0xb4] && negated[2...] == q4[2...])
        let q8 = try Self.quantize(ramp.map { -$0 }, .q8_0)
        #expect(q8[0 ..< 20] == [0x08, 0x24, 0x7f, 0x77, 0x6f, 0x67, 0x5f, 0x57, 0x4f, 0x47, 0x40, 0x38, 0x30, 0x28, 0x20, 0x18, 0x10, 0x08, 0x00, 0xf8])
    }

    @Test("all-zero rows: Q4_0/Q5_0 store d = -0.0, everything decodes to zero", arguments: types)
    func zeroRow(type: GGMLType) throws {
        let bytes = try Self.quantize([Float](repeating: 0, count: 64), type)
        let block = Array(bytes[0 ..< type.typeSize])
        switch type {
        case .q4_0: #expect(block == [0x00, 0x80] + [UInt8](repeating: 0x88, count: 16))
        case .q5_0: #expect(block == [0x00, 0x80, 0xff, 0xff, 0xff, 0xff] + [UInt8](repeating: 0, count: 16))
        default: #expect(block.allSatisfy { $0 == 0 })
        }
        #expect(try Self.dequantize(bytes, type, count: 64).allSatisfy { $0 == 0 })
    }

    @Test("constant rows decode within fp16 precision of the constant", arguments: types)
    func constantRow(type: GGMLType) throws {
        for c: Float in [0.37, -1.5, 1e-3, 300] {
            let out = try Self.dequantize(try Self.quantize([Float](repeating: c, count: 64), type), type, count: 64)
            #expect(out.allSatisfy { abs($0 - c) <= abs(c) * 0.002 }, "\(type.name) constant \(c): \(out[0])")
        }
    }

    @Test("random, heavy-tailed, huge and tiny rows stay within one step per block and never decode to NaN", arguments: types)
    func roundTripBound(type: GGMLType) throws {
        var rng = SplitMix(seed: 7)
        var rows: [[Float]] = []
        for scale: Float in [0.02, 1, 100, 1e-6, 1e-30] {
            rows.append((0 ..< 512).map { _ in rng.normal() * scale })
            rows.append((0 ..< 512).map { _ in rng.normal() * scale / max(0.02, abs(rng.normal())) }) // heavy tail
        }
        for x in rows {
            let y = try Self.dequantize(try Self.quantize(x, type), type, count: x.count)
            #expect(!y.contains { $0.isNaN || $0.isInfinite }, "\(type.name)")
            for b in 0 ..< x.count / 32 {
                let xs = x[b * 32 ..< (b + 1) * 32], bound = Self.blockBound(xs, type)
                let worst = (b * 32 ..< (b + 1) * 32).map { abs(x[$0] - y[$0]) }.max()!
                #expect(worst <= bound, "\(type.name) block \(b): error \(worst) > bound \(bound)")
            }
        }
    }

    @Test("a block beyond fp16's range stores an infinite scale, as ggml does (llama-quantize's validation rejects it)")
    func fp16ScaleOverflow() throws {
        var x = [Float](repeating: 0.25, count: 32)
        x[7] = 2e6
        // d = 2e6 / -8 and 2e6 / -16 overflow fp16 to -inf (0xFC00); Q8_0's d = 2e6 / 127 = 15748 still fits.
        #expect(try Self.quantize(x, .q4_0)[0 ..< 2] == [0x00, 0xFC])
        #expect(try Self.quantize(x, .q5_0)[0 ..< 2] == [0x00, 0xFC])
        #expect(HalfFloat.toFloat(UInt16(try Self.quantize(x, .q8_0)[0]) | UInt16(try Self.quantize(x, .q8_0)[1]) << 8).isFinite)
    }

    @Test("fp16 → float gives exactly Float16's answer for all 65536 halves, NaNs included")
    func halfToFloatMatchesFloat16() {
        var mismatches: [UInt16] = []
        for h in 0 ... 0xFFFF {
            let bits = UInt16(h)
            if HalfFloat.toFloat(bits).bitPattern != Float(Float16(bitPattern: bits)).bitPattern { mismatches.append(bits) }
        }
        #expect(mismatches.isEmpty, "first mismatches: \(mismatches.prefix(8).map { String($0, radix: 16) })")
    }

    @Test("bf16 → fp16 in one pass gives the bits of bf16 → float → Float16 for all 65536 bf16 values")
    func bf16ToHalfMatchesTwoSteps() {
        let source = (0 ... 0xFFFF).map { UInt16($0) }
        var out = [UInt16](repeating: 0, count: source.count)
        source.withUnsafeBytes { s in out.withUnsafeMutableBytes { d in
            HalfFloat.bf16ToHalf(s.baseAddress!, count: source.count, into: d.baseAddress!)
        } }
        let mismatches = source.indices.filter { out[$0] != Float16(HalfFloat.bf16ToFloat(source[$0])).bitPattern }
        #expect(mismatches.isEmpty, "first mismatches: \(mismatches.prefix(8).map { String($0, radix: 16) })")
        // The same through the portable loop, which the F16C kernel replaces where it can run; an
        // odd count leaves a tail for the scalar code after the kernel.
        var portable = [UInt16](repeating: 0, count: source.count)
        source.withUnsafeBytes { s in portable.withUnsafeMutableBytes { d in
            HalfFloat.portableBF16ToHalf(s.baseAddress!, count: source.count, into: d.baseAddress!)
        } }
        #expect(portable == out)
        var odd = [UInt16](repeating: 0, count: 13)
        source.withUnsafeBytes { s in odd.withUnsafeMutableBytes { d in
            HalfFloat.bf16ToHalf(s.baseAddress! + 2 * 0x7f7b, count: 13, into: d.baseAddress!)
        } }
        #expect(odd == Array(out[0x7f7b ..< 0x7f7b + 13]))
    }

    @Test("float → fp16 rounds exactly as Float16 does: every boundary of the half range and a sweep of 2^20 patterns")
    func floatToHalfMatchesFloat16() {
        var patterns: [UInt32] = []
        // Around each boundary: zero, smallest subnormal, subnormal/normal, ties, largest half,
        // the overflow threshold 65520, infinity, signalling and quiet NaNs; both signs.
        for edge: UInt32 in [0, 0x3300_0000, 0x3380_0000, 0x3880_0000, 0x3870_0000, 0x3f80_0000, 0x3f80_1000,
                             0x3f80_3000, 0x477f_e000, 0x477f_f000, 0x4780_0000, 0x7f80_0000, 0x7f80_0001,
                             0x7fc0_0000, 0x7fff_ffff] {
            for d in -40 ... 40 { patterns.append(edge &+ UInt32(bitPattern: Int32(d))) }
        }
        for i in 0 ..< (1 << 20) { patterns.append(UInt32(truncatingIfNeeded: i &* 4099 &+ i >> 7)) }
        var mismatches: [UInt32] = []
        for u in patterns {
            for bits in [u & 0x7fff_ffff, u | 0x8000_0000] {
                let x = Float(bitPattern: bits)
                if HalfFloat.fromFloat(x) != Float16(x).bitPattern { mismatches.append(bits) }
            }
        }
        #expect(mismatches.isEmpty, "first mismatches: \(mismatches.prefix(8).map { String($0, radix: 16) })")
    }

    @Test("NaN and infinite inputs neither trap nor write outside the row", arguments: types)
    func nonFiniteInputs(type: GGMLType) throws {
        var x = [Float](repeating: 0.5, count: 96)
        x[3] = .nan
        x[40] = .infinity
        x[70] = -.infinity
        x[71] = .nan
        let rowBytes = type.rowBytes(96)!
        var out = [UInt8](repeating: 0xAA, count: rowBytes + 8)
        try x.withUnsafeBufferPointer { src in
            try out.withUnsafeMutableBytes { try RowCodec.quantizeRow(type: type, source: src.baseAddress!, count: 96, into: $0.baseAddress!) }
        }
        #expect(out[rowBytes...].allSatisfy { $0 == 0xAA })
        _ = try Self.dequantize(Array(out[0 ..< rowBytes]), type, count: 96)
    }

    @Test("the C cast: trunc toward zero, low byte, x86's 0 for NaN and out of range")
    func cCasts() {
        var rng = SplitMix(seed: 11)
        var values: [Float] = [0.5, -0.5, 1.5, -1.5, 2.5, -2.5, 126.5, -127.5, 0.49999997, -0.49999997, 0, -0.0, 8388607.5, 16777216, 3e9, -3e9]
        values += (0 ..< 20000).map { _ in rng.normal() * 100 }
        values += (-600 ... 600).map { Float($0) / 4 }
        for v in values {
            let truncated = UInt8(truncatingIfNeeded: Int64(exactly: v.rounded(.towardZero)).map { abs($0) < 1 << 31 ? $0 : 0 } ?? 0)
            #expect(CCast.truncatedLowByte(v) == truncated, "\(v)")
        }
        for v: Float in [.nan, .infinity, -.infinity, 2_147_483_648, -2_147_483_904] {
            #expect(CCast.truncatedLowByte(v) == 0 && CCast.truncatedLowByte(v.rounded()) == 0)
        }
    }

    @Test("a row that is not whole blocks is refused", arguments: types)
    func partialBlock(type: GGMLType) {
        let x = [Float](repeating: 1, count: 40)
        var out = [UInt8](repeating: 0, count: 64)
        #expect(throws: QuantError.self) {
            try x.withUnsafeBufferPointer { src in
                try out.withUnsafeMutableBytes { try RowCodec.quantizeRow(type: type, source: src.baseAddress!, count: 40, into: $0.baseAddress!) }
            }
        }
    }
}

/// A small deterministic generator for test data (SplitMix64, Box-Muller normals).
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func uniform() -> Float { Float(next() >> 40) / Float(1 << 24) }
    mutating func normal() -> Float {
        let u1 = max(uniform(), 1e-7), u2 = uniform()
        return Float((-2 * log(Double(u1))).squareRoot() * cos(2 * Double.pi * Double(u2)))
    }
}

@Suite("Q8_0 AVX2 kernel", .enabled(if: HostCPU.avx2, "this CPU lacks AVX2/FMA/F16C"))
struct Q8_0KernelTests {
    @Test("the AVX2 kernel gives the portable code's bytes: ties, scales from 1e-30 to 1e30, zeros, NaN, infinity, subnormal scales")
    func kernelMatchesPortable() {
        var rng = SplitMix(seed: 7)
        var rows: [[Float]] = []
        var ties: [Float] = [127]
        for k in 0 ..< 31 { let v = Float(k) - 15.5; ties.append(k % 2 == 0 ? v : v.nextUp) }
        rows.append(ties + ties.map { -$0 } + [127] + (0 ..< 31).map { Float($0) * 0.5 - 7.5 }.map { $0.nextDown })
        for scale: Float in [1e-30, 1e-10, 1e-3, 0.02, 1, 1e3, 1e10, 1e30] {
            rows.append((0 ..< 32 * 37).map { _ in rng.normal() * scale })
        }
        rows.append([Float](repeating: 0, count: 64))
        rows.append([Float](repeating: -3, count: 64))
        // Subnormal amax: d = amax / 127 has no finite inverse.
        rows.append((0 ..< 96).map { _ in rng.normal() * (Float.leastNormalMagnitude / 64) })
        var special = (0 ..< 32 * 9).map { _ in rng.normal() }
        for (i, v) in [Float.nan, .infinity, -.infinity, -Float.nan, .greatestFiniteMagnitude].enumerated() {
            special[i * 61 % special.count] = v
        }
        rows.append(special)
        for row in rows {
            var fast = [UInt8](repeating: 0, count: row.count / 32 * 34), slow = fast
            row.withUnsafeBufferPointer { x in
                fast.withUnsafeMutableBytes { Q8_0.quantizeRow(x.baseAddress!, count: row.count, into: $0.baseAddress!) }
                slow.withUnsafeMutableBytes { Q8_0.portableQuantizeRow(x.baseAddress!, count: row.count, into: $0.baseAddress!) }
            }
            #expect(fast == slow, "row starting \(row.prefix(3))")
        }
    }
}

@Suite("Q8_0 rounding without libm")
struct Q8_0RoundingTests {
    /// The block as ggml computes it, with `roundf` per weight.
    static func reference(_ x: [Float]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: x.count / 32 * 34)
        for b in 0 ..< x.count / 32 {
            var amax: Float = 0
            for j in 0 ..< 32 { let a = abs(x[b * 32 + j]); amax = amax > a ? amax : a }
            let d = amax / 127, id: Float = d != 0 ? 1 / d : 0
            let h = HalfFloat.fromFloat(d)
            out[b * 34] = UInt8(h & 0xff); out[b * 34 + 1] = UInt8(h >> 8)
            for j in 0 ..< 32 { out[b * 34 + 2 + j] = CCast.truncatedLowByte((x[b * 32 + j] * id).rounded()) }
        }
        return out
    }

    @Test("ties, near-ties and random rows give roundf's bytes")
    func matchesRoundf() {
        var rows: [[Float]] = []
        // amax 127 makes id 1, so x · id is x itself: exact halves and their neighbours.
        var ties: [Float] = [127]
        for k in 0 ..< 31 { let v = Float(k) - 15.5; ties.append(k % 2 == 0 ? v : v.nextUp) }
        rows.append(ties)
        rows.append(ties.map { -$0 })
        rows.append([127] + (0 ..< 31).map { Float($0) * 0.5 - 7.5 }.map { $0.nextDown })
        var seed: UInt64 = 42
        for _ in 0 ..< 2000 {
            rows.append((0 ..< 32).map { _ in
                seed = seed &* 6364136223846793005 &+ 1442695040888963407
                return Float(Int64(bitPattern: seed) >> 20) * 1e-13
            })
        }
        for row in rows {
            var out = [UInt8](repeating: 0, count: 34)
            row.withUnsafeBufferPointer { x in out.withUnsafeMutableBytes { Q8_0.quantizeRow(x.baseAddress!, count: 32, into: $0.baseAddress!) } }
            #expect(out == Self.reference(row), "\(row.prefix(4))")
        }
    }
}
