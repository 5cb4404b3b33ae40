import Foundation
import Testing
@testable import LlamaConvert

/// One K-quant format under test, so each test runs over Q4_K, Q5_K and Q6_K.
struct KFormat: CustomStringConvertible, Sendable {
    let type: GGMLType
    let typeSize: Int
    let quantize: @Sendable (UnsafePointer<Float>, Int, UnsafeMutableRawPointer) -> Void
    let quantizeReference: @Sendable (UnsafePointer<Float>, Int, UnsafeMutableRawPointer) -> Void
    let dequantize: @Sendable (UnsafeRawPointer, Int, UnsafeMutablePointer<Float>) -> Void
    /// Largest relative RMS error (‖x − deq(q(x))‖ / ‖x‖) accepted on Gaussian rows. Measured with
    /// ggml on 64 rows of 4096 N(0, 1) values: Q4_K 0.069–0.074, Q5_K 0.035–0.037, Q6_K
    /// 0.017–0.018; the bounds leave ~15% headroom.
    let relativeRMSBound: Double

    var description: String { type.name }

    static let all: [KFormat] = [
        KFormat(type: .q4_K, typeSize: Q4_K.typeSize,
                quantize: { KQuantLanes.quantizeRowQ45($0, count: $1, into: $2, fiveBit: false) },
                quantizeReference: { Q4_K.quantizeRowReference($0, count: $1, into: $2) },
                dequantize: { Q4_K.dequantizeRow($0, count: $1, into: $2) }, relativeRMSBound: 0.085),
        KFormat(type: .q5_K, typeSize: Q5_K.typeSize,
                quantize: { KQuantLanes.quantizeRowQ45($0, count: $1, into: $2, fiveBit: true) },
                quantizeReference: { Q5_K.quantizeRowReference($0, count: $1, into: $2) },
                dequantize: { Q5_K.dequantizeRow($0, count: $1, into: $2) }, relativeRMSBound: 0.043),
        KFormat(type: .q6_K, typeSize: Q6_K.typeSize,
                quantize: { KQuantLanes.quantizeRowQ6($0, count: $1, into: $2) },
                quantizeReference: { Q6_K.quantizeRowReference($0, count: $1, into: $2) },
                dequantize: { Q6_K.dequantizeRow($0, count: $1, into: $2) }, relativeRMSBound: 0.021),
    ]

    func quantized(_ x: [Float], reference: Bool = false) -> [UInt8] {
        var out = [UInt8](repeating: 0xAA, count: x.count / 256 * typeSize)
        x.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBytes { dst in
                (reference ? quantizeReference : quantize)(src.baseAddress!, x.count, dst.baseAddress!)
            }
        }
        return out
    }

    func dequantized(_ blocks: ArraySlice<UInt8>, count: Int) -> [Float] {
        var out = [Float](repeating: .nan, count: count)
        blocks.withUnsafeBytes { src in
            out.withUnsafeMutableBufferPointer { dequantize(src.baseAddress!, count, $0.baseAddress!) }
        }
        return out
    }
}

/// The committed llama.cpp vectors (Scripts/make_kquant_vectors.py → fixtures/kquant-vectors/).
struct KQuantVectors {
    struct Manifest: Decodable {
        struct StoredRow: Decodable { let name: String; let offset: Int; let count: Int }
        struct GeneratedRow: Decodable {
            let name: String; let kind: String; let count: Int; let seed: UInt32?; let scale: Double?
        }
        let stored_rows: [StoredRow]
        let generated_rows: [GeneratedRow]
    }

    static let folder = "kquant-vectors"

    static func manifest() throws -> Manifest {
        let data = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path(folder + "/MANIFEST.json")))
        return try JSONDecoder().decode(Manifest.self, from: data)
    }

    static func bytes(_ name: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: URL(fileURLWithPath: Fixtures.path(folder + "/" + name))))
    }

    static func floats(_ name: String) throws -> [Float] {
        let raw = try bytes(name)
        return (0 ..< raw.count / 4).map { i in
            Float(bitPattern: UInt32(raw[4 * i]) | UInt32(raw[4 * i + 1]) << 8
                | UInt32(raw[4 * i + 2]) << 16 | UInt32(raw[4 * i + 3]) << 24)
        }
    }

    /// Regenerates a formula row exactly as the script does (every operation in float32).
    static func generate(_ row: Manifest.GeneratedRow) -> [Float] {
        switch row.kind {
        case "ramp7919":
            return (0 ..< row.count).map { i in Float((i * 7919) % 2001 - 1000) / 1000 }
        case "lcg4":
            var s = row.seed ?? 1
            let scale = Float(row.scale ?? 1)
            return (0 ..< row.count).map { _ in
                var u: [Float] = []
                for _ in 0 ..< 4 {
                    s = 1_664_525 &* s &+ 1_013_904_223
                    u.append(Float(s >> 8) / 16_777_216)
                }
                let acc = ((u[0] + u[1]) + u[2]) + u[3]
                return (acc - 2) * scale
            }
        default:
            Issue.record("unknown generator \(row.kind)")
            return []
        }
    }
}

/// Deterministic test rows (SplitMix64 → Box–Muller), independent of the committed vectors.
struct TestRows {
    private var state: UInt64
    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func uniform() -> Double { Double(next() >> 11) / Double(1 << 53) }

    mutating func gaussian() -> Double {
        let u1 = max(uniform(), 1e-300), u2 = uniform()
        return (-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2)
    }

    /// A weight-like row: N(0, σ²) with a few large outliers, some exact zeros and, for some
    /// seeds, whole zero or constant sub-blocks.
    mutating func weightRow(count: Int, variant: Int) -> [Float] {
        let sigma = [0.02, 1.0, 1e-5, 300.0][variant % 4]
        var x = (0 ..< count).map { _ in Float(gaussian() * sigma) }
        for _ in 0 ..< count / 128 { x[Int(next() % UInt64(count))] = Float(gaussian() * sigma * 25) }
        if variant % 3 == 1 { for i in 32 ..< 64 { x[i] = 0 } }
        if variant % 5 == 2 { for i in 100 ..< 116 { x[i] = Float(sigma) } }
        if variant % 7 == 3 { for i in 0 ..< count where i % 3 == 0 { x[i] = 0 } }
        return x
    }
}

@Suite("K-quants Q4_K, Q5_K, Q6_K")
struct KQuantTests {
    @Test("block geometry is (256, 144), (256, 176), (256, 210) as in GGML_QUANT_SIZES")
    func geometry() {
        #expect((Q4_K.blockSize, Q4_K.typeSize) == (256, 144))
        #expect((Q5_K.blockSize, Q5_K.typeSize) == (256, 176))
        #expect((Q6_K.blockSize, Q6_K.typeSize) == (256, 210))
        for f in [(Q4_K.type, Q4_K.typeSize), (Q5_K.type, Q5_K.typeSize), (Q6_K.type, Q6_K.typeSize)] {
            #expect(f.0.blockSize == 256 && f.0.typeSize == f.1)
        }
    }

    @Test("nearest_int rounds half to even like ggml's 1.5·2²³ trick")
    func nearestIntTies() {
        let cases: [(Float, Int32)] = [(0.5, 0), (1.5, 2), (2.5, 2), (-0.5, 0), (-1.5, -2), (-2.5, -2),
                                       (0.49999997, 0), (3.7, 4), (-3.7, -4), (-0.0, 0), (4_194_303, 4_194_303)]
        for (v, expected) in cases { #expect(KQuantSearch.nearestInt(v) == expected, "\(v)") }
    }

    @Test("scalar reference reproduces llama.cpp's blocks for the stored rows", arguments: KFormat.all)
    func referenceMatchesStoredRows(format: KFormat) throws {
        try checkStored(format: format, reference: true)
    }

    @Test("quantizeRow reproduces llama.cpp's blocks for the stored rows", arguments: KFormat.all)
    func fastMatchesStoredRows(format: KFormat) throws {
        try checkStored(format: format, reference: false)
    }

    private func checkStored(format: KFormat, reference: Bool) throws {
        let manifest = try KQuantVectors.manifest()
        let inputs = try KQuantVectors.floats("stored-inputs.f32")
        let expected = try KQuantVectors.bytes("stored-\(Self.fileStem(format)).bin")
        var blockOffset = 0
        for row in manifest.stored_rows {
            let x = Array(inputs[row.offset ..< row.offset + row.count])
            let bytes = row.count / 256 * format.typeSize
            let ours = format.quantized(x, reference: reference)
            #expect(ours[...] == expected[blockOffset ..< blockOffset + bytes], "\(format) row \(row.name)")
            blockOffset += bytes
        }
        #expect(blockOffset == expected.count)
    }

    @Test("both quantizers reproduce llama.cpp's blocks for the formula rows (inputs A, B, bulk)",
          arguments: KFormat.all)
    func generatedRows(format: KFormat) throws {
        let manifest = try KQuantVectors.manifest()
        let expected = try KQuantVectors.bytes("generated-\(Self.fileStem(format)).bin")
        var blockOffset = 0
        var identical = 0, total = 0
        for row in manifest.generated_rows {
            let x = KQuantVectors.generate(row)
            let bytes = row.count / 256 * format.typeSize
            let want = expected[blockOffset ..< blockOffset + bytes]
            let ours = format.quantized(x)
            #expect(format.quantized(x, reference: true) == ours, "\(format) \(row.name): fast ≠ reference")
            for b in 0 ..< row.count / 256 {
                let range = b * format.typeSize ..< (b + 1) * format.typeSize
                total += 1
                if ours[range] == want[want.startIndex + range.lowerBound ..< want.startIndex + range.upperBound] {
                    identical += 1
                }
            }
            blockOffset += bytes
        }
        #expect(blockOffset == expected.count)
        #expect(identical == total, "\(format): \(identical)/\(total) blocks identical")
    }

    @Test("dequantizing llama.cpp's blocks gives llama.cpp's floats bit for bit", arguments: KFormat.all)
    func dequantizeMatchesGGML(format: KFormat) throws {
        let blocks = try KQuantVectors.bytes("stored-\(Self.fileStem(format)).bin")
        let expected = try KQuantVectors.floats("stored-\(Self.fileStem(format)).dequant.f32")
        let ours = format.dequantized(blocks[...], count: expected.count)
        #expect(ours.map(\.bitPattern) == expected.map(\.bitPattern))
    }

    @Test("all-zero rows give all-zero blocks", arguments: KFormat.all)
    func zeroRows(format: KFormat) {
        for count in [256, 1024] {
            let x = [Float](repeating: 0, count: count)
            #expect(format.quantized(x).allSatisfy { $0 == 0 })
            #expect(format.quantized(x, reference: true).allSatisfy { $0 == 0 })
            #expect(format.dequantized(format.quantized(x)[...], count: count).allSatisfy { $0 == 0 })
        }
    }

    @Test("round trip of Gaussian rows stays within the relative RMS bound", arguments: KFormat.all)
    func roundTripError(format: KFormat) {
        var rows = TestRows(seed: 42)
        var worst = 0.0
        for _ in 0 ..< 8 {
            let x = (0 ..< 4096).map { _ in Float(rows.gaussian()) }
            let y = format.dequantized(format.quantized(x)[...], count: x.count)
            var err = 0.0, norm = 0.0
            for i in 0 ..< x.count {
                err += Double(x[i] - y[i]) * Double(x[i] - y[i])
                norm += Double(x[i]) * Double(x[i])
            }
            worst = max(worst, (err / norm).squareRoot())
        }
        #expect(worst < format.relativeRMSBound, "\(format): relative RMS \(worst)")
        #expect(worst > format.relativeRMSBound / 4, "\(format): implausibly small error \(worst)")
    }

    /// Sensitivity: re-associating one product in the lanes' Q4_K search (`w*(l*x)` for
    /// `(w*l)*x`) changed 1 of these rows and 2 of the 224 formula-row blocks; the two tests
    /// together are what catch such slips.
    @Test("the lane-parallel quantizer equals the scalar reference bit for bit on many rows",
          arguments: KFormat.all)
    func fastEqualsReference(format: KFormat) {
        var rows = TestRows(seed: 7)
        var mismatches: [Int] = []
        for r in 0 ..< 160 {
            let x = rows.weightRow(count: 512, variant: r)
            if format.quantized(x) != format.quantized(x, reference: true) { mismatches.append(r) }
        }
        #expect(mismatches.isEmpty, "\(format): rows \(mismatches) differ")
    }

    @Test("rows with NaN, infinities, huge and subnormal values quantize without trapping, fast = reference",
          arguments: KFormat.all)
    func nonFiniteRows(format: KFormat) {
        var rows = TestRows(seed: 11)
        let specials: [Float] = [.nan, .infinity, -.infinity, 1e30, -3e38, .leastNonzeroMagnitude, -1e-40]
        for (k, special) in specials.enumerated() {
            var x = rows.weightRow(count: 512, variant: k)
            x[5] = special            // inside the first sub-block of the first super-block
            x[256] = special          // first weight of the second super-block
            let fast = format.quantized(x)
            #expect(fast == format.quantized(x, reference: true), "\(format) with \(special)")
            #expect(fast.count == 2 * format.typeSize)
        }
    }

    @Test("RowCodec dispatches the K-quant types both ways", arguments: KFormat.all)
    func rowCodec(format: KFormat) throws {
        var rows = TestRows(seed: 3)
        let x = rows.weightRow(count: 768, variant: 0)
        var blocks = [UInt8](repeating: 0, count: try #require(format.type.rowBytes(768)))
        try x.withUnsafeBufferPointer { src in
            try blocks.withUnsafeMutableBytes {
                try RowCodec.quantizeRow(type: format.type, source: src.baseAddress!, count: 768, into: $0.baseAddress!)
            }
        }
        #expect(blocks == format.quantized(x))
        var y = [Float](repeating: 0, count: 768)
        try blocks.withUnsafeBytes { src in
            try y.withUnsafeMutableBufferPointer {
                try RowCodec.dequantizeRow(type: format.type, source: src.baseAddress!, count: 768, into: $0.baseAddress!)
            }
        }
        #expect(y == format.dequantized(blocks[...], count: 768))
    }

    /// `q4_K` etc., as the script names the files.
    static func fileStem(_ format: KFormat) -> String {
        format.type.name.lowercased().replacingOccurrences(of: "_k", with: "_K")
    }
}
