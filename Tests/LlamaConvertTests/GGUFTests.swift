import Foundation
import Testing
@testable import LlamaConvert

extension TempFolder {
    /// The path of `name` inside the folder.
    func file(_ name: String) -> String { path + "/" + name }
}

enum GGUFSamples {
    /// One value of every type, arrays of every element type, nested arrays and an empty array.
    static let everyValue: [(String, GGUFValue)] = [
        ("t.u8", .uint8(250)), ("t.i8", .int8(-7)), ("t.u16", .uint16(65000)), ("t.i16", .int16(-30000)),
        ("t.u32", .uint32(4_000_000_000)), ("t.i32", .int32(-2_000_000_000)), ("t.f32", .float32(-0.0)),
        ("t.f32nan", .float32(Float(bitPattern: 0x7FC0_1234))), ("t.bool.true", .bool(true)), ("t.bool.false", .bool(false)),
        ("t.string", .string("héllo ▁wörld")), ("t.empty.string", .string("")),
        ("t.u64", .uint64(UInt64.max)), ("t.i64", .int64(Int64.min)), ("t.f64", .float64(1e300)),
        ("t.arr.u8", .array(.uint8, [.uint8(0), .uint8(255)])), ("t.arr.i8", .array(.int8, [.int8(-128)])),
        ("t.arr.u16", .array(.uint16, [.uint16(1)])), ("t.arr.i16", .array(.int16, [.int16(-1)])),
        ("t.arr.u32", .array(.uint32, [.uint32(7), .uint32(8)])), ("t.arr.i32", .int32s([1, -2, 3])),
        ("t.arr.f32", .float32s([1.5, -2.25, .infinity])), ("t.arr.bool", .array(.bool, [.bool(true), .bool(false)])),
        ("t.arr.string", .strings(["a", "", "▁b", "<0x0A>"])), ("t.arr.u64", .array(.uint64, [.uint64(1 << 40)])),
        ("t.arr.i64", .array(.int64, [.int64(-1 << 40)])), ("t.arr.f64", .array(.float64, [.float64(-1e-300)])),
        ("t.arr.empty", .array(.float32, [])),
        ("t.arr.nested", .array(.array, [.strings(["x", "y"]), .array(.uint8, []), .array(.array, [.int32s([9])])])),
    ]

    static func bytes(_ n: Int, seed: UInt8) -> [UInt8] { (0 ..< n).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ Int(seed)) } }
}

@Suite("GGUF layout, writer and reader")
struct GGUFTests {
    @Test("every value type and array, nested ones included, reads back bit for bit")
    func valueRoundTrip() throws {
        let dir = TempFolder()
        defer { dir.remove() }
        let path = dir.file("values.gguf")
        try writeGGUF(path: path, metadata: GGUFSamples.everyValue, tensors: [])
        let file = try GGUFFile(path: path)
        #expect(file.version == 3)
        #expect(file.metadata.count == GGUFSamples.everyValue.count + 1)
        for ((key, value), read) in zip(GGUFSamples.everyValue, file.metadata) {
            #expect(read.key == key)
            #expect(read.value.isBitwiseEqual(to: value), "\(key): \(read.value) != \(value)")
        }
        #expect(file.metadata.last?.key == GGUFKeys.General.alignment && file.metadata.last?.value == .uint32(32))
        #expect(file.tensors.isEmpty)
        #expect(FileManager.default.fileExists(atPath: path + ".tmp-llama-convert") == false)
    }

    @Test("the header starts with magic, version 3, u64 counts and the first key as the spec shows")
    func headerBytes() throws {
        let layout = try GGUFLayout(metadata: [(GGUFKeys.General.architecture, .string("llama"))],
                                    tensors: [GGUFTensorPlan(name: "a", type: .f32, shape: [3])])
        let expected: [UInt8] = [0x47, 0x47, 0x55, 0x46, 3, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0,
                                 20, 0, 0, 0, 0, 0, 0, 0] + Array("general.architecture".utf8) + [8, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0] + Array("llama".utf8)
        #expect(Array(layout.headerBytes.prefix(expected.count)) == expected)
        #expect(layout.headerBytes.count % 32 == 0 && layout.dataOffset == layout.headerBytes.count)
    }

    @Test("tensor offsets are aligned running sums, dims are written innermost first, and data lands where the reader looks",
          arguments: [32, 64, 4096])
    func tensorPlacement(alignment: Int) throws {
        let embd = TensorNames.gguf(.tokenEmbedding)
        let plans = [GGUFTensorPlan(name: embd, type: .q8_0, shape: [5, 64]),
                     GGUFTensorPlan(name: TensorNames.gguf(.attnNorm, layer: 0), type: .f32, shape: [7]),
                     GGUFTensorPlan(name: TensorNames.gguf(.attnQ, layer: 0), type: .q4_0, shape: [3, 96]),
                     GGUFTensorPlan(name: "three.d", type: .f16, shape: [2, 3, 5]),
                     GGUFTensorPlan(name: "four.d", type: .bf16, shape: [1, 2, 3, 4]),
                     GGUFTensorPlan(name: "empty", type: .f32, shape: [0, 4])]
        let layout = try GGUFLayout(metadata: [(GGUFKeys.General.architecture, .string("test"))], tensors: plans, alignment: alignment)
        let tensors = plans.enumerated().map { (i, p) in (plan: p, bytes: GGUFSamples.bytes(layout.tensorByteCounts[i], seed: UInt8(i))) }
        #expect(layout.tensorByteCounts == [5 * 2 * 34, 28, 3 * 3 * 18, 60, 48, 0])
        var expectedRelative = 0
        for i in plans.indices {
            #expect(layout.tensorOffsets[i] % alignment == 0)
            #expect(layout.tensorOffsets[i] - layout.dataOffset == expectedRelative)
            expectedRelative += GGUFLayout.pad(layout.tensorByteCounts[i], alignment)
        }
        #expect(layout.fileSize == layout.dataOffset + expectedRelative)

        let dir = TempFolder()
        defer { dir.remove() }
        let path = dir.file("t.gguf")
        try writeGGUF(path: path, metadata: [(GGUFKeys.General.architecture, .string("test"))], tensors: tensors, alignment: alignment)
        let raw = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        #expect(raw.count == layout.fileSize)
        #expect(Array(raw[0 ..< layout.dataOffset]) == layout.headerBytes)
        let file = try GGUFFile(path: path)
        #expect(file.alignment == alignment && file.dataOffset == layout.dataOffset)
        for (i, info) in file.tensors.enumerated() {
            #expect(info.name == plans[i].name && info.type == plans[i].type)
            #expect(info.shape == plans[i].shape && info.dims == plans[i].shape.reversed())
            #expect(info.fileOffset == layout.tensorOffsets[i])
            #expect(try file.source(of: info).storedBytes() == tensors[i].bytes)
            let padEnd = info.fileOffset + GGUFLayout.pad(info.byteCount, alignment)
            #expect(raw[(info.fileOffset + info.byteCount) ..< padEnd].allSatisfy { $0 == 0 })
        }
        // ne[0] first: token_embd [5, 64] is stored as n_dims 2, 64, 5.
        let n = embd.utf8.count
        let nameEnd = layout.headerBytes.indices.first { i in
            i + n <= layout.headerBytes.count && Array(layout.headerBytes[i ..< i + n]) == Array(embd.utf8)
        }.map { $0 + n }
        let dims = try #require(nameEnd).self
        #expect(Array(layout.headerBytes[dims ..< dims + 20]) == [2, 0, 0, 0, 64, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0])
    }

    @Test("duplicate keys and duplicate tensor names are refused")
    func duplicatesRefused() {
        #expect(throws: GGUFError.duplicateKeyInLayout(key: "a")) {
            try GGUFLayout(metadata: [("a", .uint8(1)), ("a", .uint8(2))], tensors: [])
        }
        let t = GGUFTensorPlan(name: "x", type: .f32, shape: [4])
        #expect(throws: GGUFError.duplicateTensorInLayout(name: "x")) { try GGUFLayout(metadata: [], tensors: [t, t]) }
    }

    @Test("plans ggml would refuse are refused before writing")
    func invalidPlansRefused() {
        let bad: [GGUFTensorPlan] = [
            GGUFTensorPlan(name: "", type: .f32, shape: [1]),
            GGUFTensorPlan(name: String(repeating: "n", count: 64), type: .f32, shape: [1]),
            GGUFTensorPlan(name: "rows", type: .q4_0, shape: [2, 48]),
            GGUFTensorPlan(name: "dims5", type: .f32, shape: [1, 1, 1, 1, 1]),
            GGUFTensorPlan(name: "dims0", type: .f32, shape: []),
            GGUFTensorPlan(name: "negative", type: .f32, shape: [-1, 4]),
            GGUFTensorPlan(name: "overflow", type: .f32, shape: [Int.max / 2, 4]),
        ]
        for plan in bad {
            #expect(throws: GGUFError.self, "\(plan)") { try GGUFLayout(metadata: [], tensors: [plan]) }
        }
        #expect(throws: GGUFError.self) { try GGUFLayout(metadata: [("", .uint8(0))], tensors: []) }
        #expect(throws: GGUFError.self) { try GGUFLayout(metadata: [("k", .array(.uint32, [.int32(1)]))], tensors: []) }
        #expect(throws: GGUFError.invalidAlignment(48)) { try GGUFLayout(metadata: [], tensors: [], alignment: 48) }
        #expect(throws: GGUFError.invalidAlignment(32)) {
            try GGUFLayout(metadata: [(GGUFKeys.General.alignment, .uint64(32))], tensors: [])
        }
        #expect(throws: GGUFError.wrongTensorByteCount(name: "x", expected: 16, found: 3)) {
            try writeGGUF(path: "/nonexistent/never-written.gguf", metadata: [],
                          tensors: [(GGUFTensorPlan(name: "x", type: .f32, shape: [4]), [1, 2, 3])])
        }
    }

    @Test("an explicit general.alignment equal to the layout's is kept once")
    func explicitAlignmentKept() throws {
        let layout = try GGUFLayout(metadata: [(GGUFKeys.General.alignment, .uint32(64))], tensors: [], alignment: 64)
        #expect(layout.metadata.count == 1)
    }
}
