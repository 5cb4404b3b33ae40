import Foundation
import Testing
@testable import LlamaConvert

/// Builds GGUF bytes field by field, for files no correct writer would produce.
struct GGUFBytes {
    var bytes: [UInt8] = []
    mutating func u32(_ v: UInt32) { bytes.appendLE(v) }
    mutating func u64(_ v: UInt64) { bytes.appendLE(v) }
    mutating func str(_ s: String) { bytes.appendGGUFString(s) }
    mutating func raw(_ b: [UInt8]) { bytes += b }
    mutating func header(version: UInt32 = 3, tensors: UInt64, kvs: UInt64) {
        raw(Array("GGUF".utf8)); u32(version); u64(tensors); u64(kvs)
    }
    mutating func tensorInfo(_ name: String, dims: [UInt64], type: UInt32, offset: UInt64) {
        str(name); u32(UInt32(dims.count)); for d in dims { u64(d) }; u32(type); u64(offset)
    }
    mutating func padTo(_ alignment: Int) { raw([UInt8](repeating: 0, count: GGUFLayout.pad(bytes.count, alignment) - bytes.count)) }
}

@Suite("GGUF reader errors")
struct GGUFReaderTests {
    /// Writes `bytes`, opens them, and returns the error (nil when the file reads).
    static func open(_ bytes: [UInt8]) throws -> (path: String, error: GGUFError?) {
        let dir = TempFolder()
        defer { dir.remove() }
        let path = dir.file("case.gguf")
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        do {
            _ = try GGUFFile(path: path)
            return (path, nil)
        } catch let error as GGUFError {
            #expect(error.description.hasPrefix(path + ": "), "\(error)")
            return (path, error)
        }
    }

    static let u32Type = GGUFValueType.uint32.rawValue

    @Test("a file that is not GGUF names offset 0")
    func badMagic() throws {
        let (path, error) = try Self.open(Array("GGML".utf8) + [3, 0, 0, 0])
        #expect(error == .badMagic(path: path, found: 0x4C4D_4747))
        #expect(error?.description.contains("offset 0") == true)
    }

    @Test("version 1 is refused and a byte-swapped version is called big-endian")
    func versions() throws {
        var v1 = GGUFBytes(); v1.header(version: 1, tensors: 0, kvs: 0)
        let (p1, e1) = try Self.open(v1.bytes)
        #expect(e1 == .unsupportedVersion(path: p1, offset: 4, version: 1))
        var swapped = GGUFBytes(); swapped.header(version: 0x0300_0000, tensors: 0, kvs: 0)
        let (_, e2) = try Self.open(swapped.bytes)
        #expect(e2?.description.contains("byte-swapped") == true)
        var v2 = GGUFBytes(); v2.header(version: 2, tensors: 0, kvs: 0)
        #expect(try Self.open(v2.bytes).error == nil)
    }

    @Test("a file cut inside a field is reported as truncated at that field")
    func truncated() throws {
        var b = GGUFBytes(); b.header(tensors: 0, kvs: 1); b.u64(10); b.raw(Array("abcdef".utf8))
        let (path, error) = try Self.open(b.bytes)
        #expect(error == .countTooLarge(path: path, offset: 24, what: "metadata key length", count: 10, limit: 6))
        let (path2, error2) = try Self.open(Array(b.bytes.prefix(12)))
        #expect(error2 == .truncated(path: path2, offset: 8, needed: 8, remaining: 4))
    }

    @Test("huge tensor and KV counts are refused before any allocation")
    func hugeCounts() throws {
        var t = GGUFBytes(); t.header(tensors: 1 << 60, kvs: 0)
        let (p1, e1) = try Self.open(t.bytes)
        #expect(e1 == .countTooLarge(path: p1, offset: 8, what: "tensor count", count: 1 << 60, limit: 0))
        var k = GGUFBytes(); k.header(tensors: 0, kvs: UInt64.max)
        let (p2, e2) = try Self.open(k.bytes)
        #expect(e2 == .countTooLarge(path: p2, offset: 16, what: "metadata count", count: UInt64.max, limit: 0))
    }

    @Test("huge string lengths and array counts are refused at their offset")
    func hugeLengths() throws {
        var s = GGUFBytes(); s.header(tensors: 0, kvs: 1); s.str("k"); s.u32(GGUFValueType.string.rawValue); s.u64(1 << 62)
        let (p1, e1) = try Self.open(s.bytes)
        #expect(e1 == .countTooLarge(path: p1, offset: 24 + 9 + 4, what: "string value length", count: 1 << 62, limit: 0))
        var a = GGUFBytes(); a.header(tensors: 0, kvs: 1); a.str("k"); a.u32(GGUFValueType.array.rawValue)
        a.u32(GGUFValueType.uint64.rawValue); a.u64(3); a.u64(1); a.u64(2)
        let (p2, e2) = try Self.open(a.bytes)
        #expect(e2 == .countTooLarge(path: p2, offset: 24 + 9 + 4 + 4, what: "array element count", count: 3, limit: 2))
    }

    @Test("unknown value types, empty and duplicate keys and invalid UTF-8 are refused")
    func badKeys() throws {
        var u = GGUFBytes(); u.header(tensors: 0, kvs: 1); u.str("k"); u.u32(13); u.u32(0)
        let (p1, e1) = try Self.open(u.bytes)
        #expect(e1 == .unknownValueType(path: p1, offset: 33, raw: 13))
        var e = GGUFBytes(); e.header(tensors: 0, kvs: 1); e.str(""); e.u32(Self.u32Type); e.u32(1)
        let (p2, e2) = try Self.open(e.bytes)
        #expect(e2 == .emptyKey(path: p2, offset: 24))
        var d = GGUFBytes(); d.header(tensors: 0, kvs: 2)
        for _ in 0 ..< 2 { d.str("k"); d.u32(Self.u32Type); d.u32(1) }
        let (p3, e3) = try Self.open(d.bytes)
        #expect(e3 == .duplicateKey(path: p3, offset: 24 + 17, key: "k"))
        var bad = GGUFBytes(); bad.header(tensors: 0, kvs: 1); bad.u64(2); bad.raw([0xC3, 0x28]); bad.u32(Self.u32Type); bad.u32(1)
        let (p4, e4) = try Self.open(bad.bytes)
        #expect(e4 == .invalidUTF8(path: p4, offset: 32, what: "metadata key"))
    }

    @Test("arrays nested past the depth limit are refused")
    func deepArrays() throws {
        var b = GGUFBytes(); b.header(tensors: 0, kvs: 1); b.str("k"); b.u32(GGUFValueType.array.rawValue)
        for _ in 0 ..< 12 { b.u32(GGUFValueType.array.rawValue); b.u64(1) }
        b.raw([UInt8](repeating: 0, count: 64))
        let (_, error) = try Self.open(b.bytes)
        guard case .arrayTooDeep = error else { Issue.record("expected arrayTooDeep, got \(String(describing: error))"); return }
    }

    @Test("general.alignment must be a non-zero power-of-two UINT32", arguments: [
        (GGUFValueType.uint64.rawValue, [UInt8]([32, 0, 0, 0, 0, 0, 0, 0])),
        (GGUFValueType.uint32.rawValue, [UInt8]([0, 0, 0, 0])),
        (GGUFValueType.uint32.rawValue, [UInt8]([48, 0, 0, 0])),
    ])
    func badAlignment(type: UInt32, value: [UInt8]) throws {
        var b = GGUFBytes(); b.header(tensors: 0, kvs: 1); b.str(GGUFKeys.General.alignment); b.u32(type); b.raw(value)
        let (_, error) = try Self.open(b.bytes)
        guard case let .badAlignment(_, offset, _) = error else { Issue.record("got \(String(describing: error))"); return }
        #expect(offset == 24)
    }

    /// A file with one KV-free tensor info list and a data section of `dataBytes` bytes.
    static func tensors(_ infos: [(String, [UInt64], UInt32, UInt64)], dataBytes: Int = 64) -> [UInt8] {
        var b = GGUFBytes(); b.header(tensors: UInt64(infos.count), kvs: 0)
        for (name, dims, type, offset) in infos { b.tensorInfo(name, dims: dims, type: type, offset: offset) }
        b.padTo(32)
        b.raw([UInt8](repeating: 0, count: dataBytes))
        return b.bytes
    }

    @Test("tensor infos: dims, types, block rows, names, alignment, bounds and overlaps are all checked")
    func badTensorInfos() throws {
        let f32 = GGMLType.f32.rawValue, q4 = GGMLType.q4_0.rawValue
        func check(_ infos: [(String, [UInt64], UInt32, UInt64)], dataBytes: Int = 64, _ matches: (GGUFError) -> Bool) throws {
            let (_, error) = try Self.open(Self.tensors(infos, dataBytes: dataBytes))
            #expect(error.map(matches) == true, "\(infos): \(String(describing: error))")
        }
        try check([("a", [1, 1, 1, 1, 1], f32, 0)]) { if case .tooManyDimensions(_, 24 + 9, "a", 5) = $0 { true } else { false } }
        try check([("a", [4], 5, 0)]) { if case .unknownTensorType(_, _, "a", 5) = $0 { true } else { false } }
        try check([("a", [48], q4, 0)]) { if case .rowNotWholeBlocks(_, _, "a", 48, .q4_0) = $0 { true } else { false } }
        try check([("a", [1 << 62, 4], f32, 0)]) { if case .badDimensions = $0 { true } else { false } }
        try check([("a", [UInt64.max], f32, 0)]) { if case .badDimensions = $0 { true } else { false } }
        try check([("a", [4], f32, 4)]) { if case .misalignedTensor(_, 24, "a", 4, 32) = $0 { true } else { false } }
        try check([("a", [4], f32, 1 << 40)]) { if case .tensorOutOfBounds(_, 24, "a", _, 16, _) = $0 { true } else { false } }
        try check([("a", [17], f32, 0)]) { if case .tensorOutOfBounds(_, _, "a", _, 68, _) = $0 { true } else { false } }
        try check([("a", [8], f32, 0), ("b", [8], f32, 0)]) { if case .overlappingTensors(_, "b", "a") = $0 { true } else { false } }
        try check([("a", [4], f32, 0), ("a", [4], f32, 32)]) { if case .duplicateTensor(_, _, "a") = $0 { true } else { false } }
        try check([(String(repeating: "n", count: 64), [4], f32, 0)]) { if case .badTensorName = $0 { true } else { false } }
        try check([("", [4], f32, 0)]) { if case .badTensorName = $0 { true } else { false } }
        // Well-formed: two tensors, gaps allowed as long as ranges stay apart.
        let (_, fine) = try Self.open(Self.tensors([("a", [8], f32, 0), ("b", [4], f32, 32)]))
        #expect(fine == nil)
    }
}
