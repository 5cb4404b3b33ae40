import Foundation
import Testing
@testable import LlamaConvert

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Hand-built safetensors files, one per rule (as upstream's tests in `tensor.rs` do).
enum SafetensorsBytes {
    static let path = "hand.safetensors"

    /// `length` defaults to the header's byte count.
    static func file(_ header: String, data: [UInt8] = [], length: UInt64? = nil) -> [UInt8] {
        file(headerBytes: Array(header.utf8), data: data, length: length)
    }

    static func file(headerBytes: [UInt8], data: [UInt8] = [], length: UInt64? = nil) -> [UInt8] {
        withUnsafeBytes(of: (length ?? UInt64(headerBytes.count)).littleEndian, Array.init) + headerBytes + data
    }

    static func parse(_ bytes: [UInt8], path: String = path) throws -> SafetensorsHeader {
        try bytes.withUnsafeBytes { try SafetensorsHeader.parse($0, path: path) }
    }

    static func floatBytes(_ values: [Float]) -> [UInt8] { values.withUnsafeBytes(Array.init) }
}

@Suite("safetensors header validation, one rule each")
struct SafetensorsHeaderRuleTests {
    typealias B = SafetensorsBytes
    let p = SafetensorsBytes.path

    private func expectRefused(_ bytes: [UInt8], _ expected: SafetensorsError, sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            _ = try B.parse(bytes)
            Issue.record("accepted, expected \(expected)", sourceLocation: sourceLocation)
        } catch let error as SafetensorsError {
            #expect(error == expected, sourceLocation: sourceLocation)
            #expect(error.description.hasPrefix(p + ": "), sourceLocation: sourceLocation)
            #expect(!error.description.contains("\n"), sourceLocation: sourceLocation)
        } catch {
            Issue.record("threw \(error), expected \(expected)", sourceLocation: sourceLocation)
        }
    }

    @Test("a file shorter than 8 bytes is fileTooSmall at offset 0")
    func tooSmall() {
        expectRefused([], .fileTooSmall(path: p, size: 0))
        expectRefused([1, 0, 0, 0, 0, 0, 0], .fileTooSmall(path: p, size: 7))
        #expect(SafetensorsError.fileTooSmall(path: p, size: 7).description == "\(p): offset 0: file is 7 bytes, shorter than the 8-byte header length")
    }

    @Test("a header length over 100,000,000 is headerTooLarge; exactly the cap passes that check")
    func tooLarge() {
        expectRefused(B.file("{}", length: 100_000_001), .headerTooLarge(path: p, length: 100_000_001, cap: 100_000_000))
        expectRefused(B.file("{}", length: .max), .headerTooLarge(path: p, length: .max, cap: 100_000_000))
        expectRefused(B.file("{}", length: 100_000_000), .headerPastEnd(path: p, length: 100_000_000, fileSize: 10))
    }

    @Test("a header length past the end of the file is headerPastEnd")
    func pastEnd() {
        expectRefused(B.file("{}", length: 3), .headerPastEnd(path: p, length: 3, fileSize: 10))
    }

    @Test("a header that is not UTF-8 names the first bad byte")
    func notUTF8() {
        expectRefused(B.file(headerBytes: Array("{\"a".utf8) + [0xFF] + Array("\":{}}".utf8)), .headerNotUTF8(path: p, offset: 11))
        // Overlong "/" and a UTF-16 surrogate encoded in UTF-8 are not UTF-8 either.
        expectRefused(B.file(headerBytes: [0x20, 0xC0, 0xAF]), .headerNotUTF8(path: p, offset: 9))
        expectRefused(B.file(headerBytes: [0xED, 0xA0, 0x80]), .headerNotUTF8(path: p, offset: 8))
    }

    @Test("malformed JSON is invalidJSON with the offset of the problem")
    func malformed() {
        expectRefused(B.file("{\"a\":"), .invalidJSON(path: p, offset: 13, problem: "unexpected end of JSON, expected a value"))
        expectRefused(B.file("{} x"), .invalidJSON(path: p, offset: 11, problem: "trailing 'x' after the JSON value"))
        // NUL padding is refused (upstream: "trailing characters"); space padding is fine.
        expectRefused(B.file(headerBytes: Array("{}".utf8) + [0, 0]), .invalidJSON(path: p, offset: 10, problem: "trailing byte 0x0 after the JSON value"))
        expectRefused(B.file("{\"a\":01}"), .invalidJSON(path: p, offset: 13, problem: "malformed number"))
        expectRefused(B.file("{\"a\":\"\\ud800\"}"), .invalidJSON(path: p, offset: 14, problem: "unpaired surrogate escape"))
        expectRefused(B.file("{\"a\":[1,]}"), .invalidJSON(path: p, offset: 16, problem: "unexpected ']', expected a value"))
        let deep = String(repeating: "[", count: 200) + String(repeating: "]", count: 200)
        expectRefused(B.file("{\"a\":" + deep + "}"), .invalidJSON(path: p, offset: 13 + 127, problem: "nesting deeper than 128 levels"))
    }

    @Test("a document with more values than the cap is refused before its tree grows")
    func valueCap() throws {
        let text = Array("{\"a\":[1,2,3,4]}".utf8)
        try text.withUnsafeBytes { bytes in
            _ = try StrictJSONParser.parse(path: p, bytes: bytes, baseOffset: 8, maxValues: 6)
            #expect(throws: SafetensorsError.invalidJSON(path: p, offset: 8 + 12, problem: "more than 5 values")) {
                _ = try StrictJSONParser.parse(path: p, bytes: bytes, baseOffset: 8, maxValues: 5)
            }
        }
        #expect(StrictJSONParser.maxValues == 10_000_000)
    }

    @Test("every duplicate key is refused, even two identical tensor entries")
    func duplicates() {
        let entry = #"{"dtype":"F32","shape":[1],"data_offsets":[0,4]}"#
        expectRefused(B.file("{\"t\":\(entry),\"t\":\(entry)}", data: [0, 0, 0, 0]), .duplicateKey(path: p, offset: 8 + 6 + entry.utf8.count, key: "t"))
        expectRefused(B.file(#"{"__metadata__":{},"__metadata__":{}}"#), .duplicateKey(path: p, offset: 27, key: "__metadata__"))
        expectRefused(B.file(#"{"t":{"dtype":"F32","dtype":"F32","shape":[],"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0]),
                      .duplicateKey(path: p, offset: 28, key: "dtype"))
    }

    @Test("a header that is not a JSON object is headerNotObject")
    func notObject() {
        expectRefused(B.file("  []"), .headerNotObject(path: p, offset: 10, found: "an array"))
    }

    @Test("__metadata__ must map strings to strings")
    func metadataTypes() {
        expectRefused(B.file(#"{"__metadata__":{"x":1}}"#), .invalidMetadata(path: p, offset: 29, problem: "value of \"x\" is a number, expected a string"))
        expectRefused(B.file(#"{"__metadata__":["pt"]}"#), .invalidMetadata(path: p, offset: 24, problem: "is an array, expected an object of strings"))
    }

    @Test("each tensor entry needs dtype, shape and data_offsets of the right types")
    func entryFields() {
        expectRefused(B.file(#"{"t":7}"#), .entryNotObject(path: p, tensor: "t", found: "a number"))
        expectRefused(B.file(#"{"t":{"dtype":"F32","data_offsets":[0,0]}}"#), .missingField(path: p, tensor: "t", field: "shape"))
        expectRefused(B.file(#"{"t":{"shape":[],"data_offsets":[0,0]}}"#), .missingField(path: p, tensor: "t", field: "dtype"))
        expectRefused(B.file(#"{"t":{"dtype":"F32","shape":[]}}"#), .missingField(path: p, tensor: "t", field: "data_offsets"))
        expectRefused(B.file(#"{"t":{"dtype":32,"shape":[],"data_offsets":[0,4]}}"#),
                      .invalidField(path: p, tensor: "t", field: "dtype", problem: "is a number, expected a string"))
        expectRefused(B.file(#"{"t":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#),
                      .invalidField(path: p, tensor: "t", field: "shape", problem: "holds a number that is not a non-negative integer"))
        expectRefused(B.file(#"{"t":{"dtype":"F32","shape":[1.0],"data_offsets":[0,4]}}"#),
                      .invalidField(path: p, tensor: "t", field: "shape", problem: "holds a number that is not a non-negative integer"))
        expectRefused(B.file(#"{"t":{"dtype":"F32","shape":"2","data_offsets":[0,4]}}"#),
                      .invalidField(path: p, tensor: "t", field: "shape", problem: "is a string, expected an array"))
        expectRefused(B.file(#"{"t":{"dtype":"F32","shape":[99999999999999999999],"data_offsets":[0,4]}}"#),
                      .invalidField(path: p, tensor: "t", field: "shape", problem: "holds an integer too large for this machine"))
        expectRefused(B.file(#"{"t":{"dtype":"F32","shape":[1],"data_offsets":[4]}}"#),
                      .invalidField(path: p, tensor: "t", field: "data_offsets", problem: "has 1 values, expected [begin, end]"))
    }

    @Test("dtype names are exact: 'f32' is unknownDtype")
    func unknownDtype() {
        expectRefused(B.file(#"{"t":{"dtype":"f32","shape":[1],"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0]),
                      .unknownDtype(path: p, tensor: "t", dtype: "f32"))
    }

    @Test("data_offsets with begin > end is reversedOffsets")
    func reversed() {
        expectRefused(B.file(#"{"t":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}}"#), .reversedOffsets(path: p, tensor: "t", begin: 8, end: 4))
    }

    @Test("a shape whose size overflows is sizeOverflow, zero-sized or not")
    func overflow() {
        expectRefused(B.file(#"{"t":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,0]}}"#),
                      .sizeOverflow(path: p, tensor: "t", shape: [4_611_686_018_427_387_904, 4]))
        // 2^62 F32 elements: the count fits, the byte count does not.
        expectRefused(B.file(#"{"t":{"dtype":"F32","shape":[4611686018427387904],"data_offsets":[0,0]}}"#),
                      .sizeOverflow(path: p, tensor: "t", shape: [4_611_686_018_427_387_904]))
        expectRefused(B.file(#"{"t":{"dtype":"F32","shape":[0,4611686018427387904,4],"data_offsets":[0,0]}}"#),
                      .sizeOverflow(path: p, tensor: "t", shape: [0, 4_611_686_018_427_387_904, 4]))
    }

    @Test("three F4 values do not fill whole bytes: misalignedSize")
    func misaligned() {
        expectRefused(B.file(#"{"t":{"dtype":"F4","shape":[3],"data_offsets":[0,2]}}"#, data: [0, 0]),
                      .misalignedSize(path: p, tensor: "t", dtype: "F4", elements: 3))
    }

    @Test("data_offsets spanning the wrong byte count is byteCountMismatch")
    func byteCount() {
        expectRefused(B.file(#"{"t":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0]),
                      .byteCountMismatch(path: p, tensor: "t", expected: 8, found: 4))
    }

    @Test("gaps, overlaps and a first tensor not at 0 are offsetMismatch")
    func offsets() {
        let a = #""a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}"#
        expectRefused(B.file("{\(a),\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}", data: .init(repeating: 0, count: 12)),
                      .offsetMismatch(path: p, tensor: "b", expected: 4, found: 8))
        expectRefused(B.file("{\(a),\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[2,6]}}", data: .init(repeating: 0, count: 6)),
                      .offsetMismatch(path: p, tensor: "b", expected: 4, found: 2))
        expectRefused(B.file(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, data: .init(repeating: 0, count: 8)),
                      .offsetMismatch(path: p, tensor: "a", expected: 0, found: 4))
        #expect(SafetensorsError.offsetMismatch(path: p, tensor: "b", expected: 4, found: 2).description
            == "\(p): tensor \"b\": data starts at 2, expected 4 (overlap of 2 bytes)")
    }

    @Test("trailing bytes and data past the end are dataSizeMismatch")
    func dataSize() {
        let header = #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#
        let dataStart = 8 + header.utf8.count
        expectRefused(B.file(header, data: .init(repeating: 0, count: 5)),
                      .dataSizeMismatch(path: p, offset: dataStart + 4, dataBytes: 4, fileDataBytes: 5))
        expectRefused(B.file(header, data: [0, 0]), .dataSizeMismatch(path: p, offset: dataStart + 2, dataBytes: 4, fileDataBytes: 2))
        expectRefused(B.file("{}", data: [0]), .dataSizeMismatch(path: p, offset: 10, dataBytes: 0, fileDataBytes: 1))
    }

    @Test("a well-formed I64 tensor is unsupportedDtype, naming tensor and file")
    func unsupported() {
        let bytes = B.file(#"{"ids":{"dtype":"I64","shape":[2],"data_offsets":[0,16]}}"#, data: .init(repeating: 0, count: 16))
        expectRefused(bytes, .unsupportedDtype(path: p, tensor: "ids", dtype: "I64"))
        #expect(SafetensorsError.unsupportedDtype(path: p, tensor: "ids", dtype: "I64").description
            == "\(p): tensor \"ids\": unsupported dtype I64 (llama-convert reads F32, F16 and BF16)")
        for dtype in SafetensorsDType.allCases where dtype.ggmlType == nil && dtype.bits % 8 == 0 {
            let size = dtype.bits / 8
            expectRefused(B.file("{\"x\":{\"dtype\":\"\(dtype.rawValue)\",\"shape\":[1],\"data_offsets\":[0,\(size)]}}",
                                 data: .init(repeating: 0, count: size)),
                          .unsupportedDtype(path: p, tensor: "x", dtype: dtype.rawValue))
        }
    }

    @Test("names with control characters stay on one line in descriptions")
    func oneLine() {
        expectRefused(B.file(#"{"a\nb":7}"#), .entryNotObject(path: p, tensor: "a\nb", found: "a number"))
        #expect(SafetensorsError.entryNotObject(path: p, tensor: "a\nb", found: "a number").description.contains(#""a\u{a}b""#))
    }
}

@Suite("safetensors files that are valid")
struct SafetensorsValidFileTests {
    typealias B = SafetensorsBytes

    @Test("{} with no data, and a header of only __metadata__, are empty files")
    func empty() throws {
        #expect(try B.parse(B.file("{}")).entries.isEmpty)
        let onlyMetadata = try B.parse(B.file(#"{"__metadata__":{"format":"pt"}}"#))
        #expect(onlyMetadata.entries.isEmpty)
        #expect(onlyMetadata.metadata == ["format": "pt"])
        #expect(try B.parse(B.file(#"{"__metadata__":null}"#)).metadata.isEmpty)  // upstream: Option, null = absent
    }

    @Test("whitespace padding before and after the object is accepted")
    func whitespace() throws {
        #expect(try B.parse(B.file(" \t\r\n{}  ")).headerLength == 8)
    }

    @Test("keys in any order are sorted by data offset; unknown entry fields are ignored")
    func sorting() throws {
        let header = #"{"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8],"extra":[1,{"x":null}]},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#
        let parsed = try B.parse(B.file(header, data: .init(repeating: 0, count: 8)))
        #expect(parsed.entries.map(\.name) == ["a", "b"])
    }

    @Test("scalars, zero-sized, 1-D, 2-D and 3-D tensors read back from an unaligned data section")
    func shapesAndValues() throws {
        let scalar: [Float] = [3.5]
        let vector: [Float] = [1, -2, 0.25]
        let matrix: [Float] = [1, 2, 3, 4, 5, 6]
        let cube: [Float] = (0 ..< 8).map { Float($0) / 2 }
        let bf16: [UInt16] = [0x3F80, 0xC000]  // 1, -2
        let f16: [UInt16] = [0x3C00, 0x3800]  // 1, 0.5
        var data = B.floatBytes(scalar) + B.floatBytes(vector) + B.floatBytes(matrix) + B.floatBytes(cube)
        data += bf16.withUnsafeBytes(Array.init) + f16.withUnsafeBytes(Array.init)
        // 12 + 12 + 24 + 32 = 80; bf16 at 80..84, f16 at 84..88, empty at 88.
        let header = """
        {"__metadata__":{"format":"pt","note":"caf\\u00e9"},\
        "s":{"dtype":"F32","shape":[],"data_offsets":[0,4]},\
        "v":{"dtype":"F32","shape":[3],"data_offsets":[4,16]},\
        "m":{"dtype":"F32","shape":[2,3],"data_offsets":[16,40]},\
        "c":{"dtype":"F32","shape":[2,2,2],"data_offsets":[40,72]},\
        "h":{"dtype":"BF16","shape":[2],"data_offsets":[72,76]},\
        "g":{"dtype":"F16","shape":[2,1],"data_offsets":[76,80]},\
        "z":{"dtype":"BF16","shape":[0,4096],"data_offsets":[80,80]}}
        """
        let folder = TempFolder()
        defer { folder.remove() }
        // One odd padding byte so the data section is not aligned even to 2.
        let padded = (8 + header.utf8.count) % 2 == 0 ? header + " " : header
        let path = try folder.write("a.safetensors", B.file(padded, data: data))
        let file = try SafetensorsFile(path: path)
        #expect((8 + file.headerLength) % 2 == 1)
        #expect(file.metadata == ["format": "pt", "note": "café"])
        #expect(file.names == ["s", "v", "m", "c", "h", "g", "z"])
        #expect(try file.tensor(named: "s")?.floats() == scalar)
        #expect(file.tensor(named: "s")?.rowCount == 1)
        #expect(try file.tensor(named: "v")?.floats() == vector)
        let m = try #require(file.tensor(named: "m"))
        #expect(m.shape == [2, 3] && m.rowCount == 2 && m.rowLength == 3 && m.type == .f32)
        #expect(try m.floats() == matrix)
        let c = try #require(file.tensor(named: "c"))
        #expect(c.rowCount == 2 && c.rowLength == 4)
        #expect(try c.floats() == cube)
        #expect(try file.tensor(named: "h")?.floats() == [1, -2])
        #expect(file.tensor(named: "h")?.type == .bf16)
        #expect(try file.tensor(named: "g")?.floats() == [1, 0.5])
        #expect(file.tensor(named: "g")?.type == .f16)
        let z = try #require(file.tensor(named: "z"))
        #expect(z.byteCount == 0 && z.rowCount == 0)
        #expect(try z.floats().isEmpty)
        #expect(file.tensor(named: "missing") == nil)
        // The mapped bytes are the stored bytes.
        #expect(try m.storedBytes() == B.floatBytes(matrix))
        #expect(m.offset == 8 + file.headerLength + 16)
    }

    @Test("opening maps the file and reads only the header: data pages stay out of memory")
    func lazyOpen() throws {
        let folder = TempFolder()
        defer { folder.remove() }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let dataBytes = 64 << 20
        let rows = dataBytes / 4 / 1024
        var header = "{\"big\":{\"dtype\":\"F32\",\"shape\":[\(rows),1024],\"data_offsets\":[0,\(dataBytes)]}}"
        header += String(repeating: " ", count: page - 8 - header.utf8.count)  // data starts on a page
        let path = try folder.write("big.safetensors", B.file(header))
        // Extend to full size without writing: the data section is a hole, in no page cache.
        #expect(truncate(path, off_t(page + dataBytes)) == 0)

        let file = try SafetensorsFile(path: path)
        let tensor = try #require(file.tensor(named: "big"))
        #expect(tensor.byteCount == dataBytes)

        func residentPages(_ range: Range<Int>) -> Int {
            var vector = [UInt8](repeating: 0, count: range.count / page)
            let start = UnsafeMutableRawPointer(mutating: file.file.bytes.baseAddress!) + range.lowerBound
            #expect(mincore(start, range.count, &vector) == 0)
            return vector.reduce(0) { $0 + Int($1 & 1) }
        }
        // Skip the first 8 MB after the header: the kernel's read-around may fetch those with it.
        let far = page + (8 << 20) ..< page + dataBytes
        #expect(residentPages(far) == 0)
        // Control: touching the far end does page it in, so the measurement above can fail.
        var scratch = [UInt8](repeating: 0, count: 4096)
        try scratch.withUnsafeMutableBytes { try tensor.readRows(rows - 1 ..< rows, into: $0) }
        #expect(residentPages(far) > 0)
    }
}

/// Compares what the reader maps with a fixture's `reference.json` table.
enum SafetensorsReference {
    /// The table's `sum` is exact (`math.fsum` over float64). Ours adds the same float values in
    /// float64 in order, which errs by at most n·2⁻⁵³·Σ|x|; 1e-9·Σ|x| leaves ample room for that
    /// and still catches a single wrong element.
    static let relativeSumTolerance = 1e-9

    static func check(_ tensor: MappedTensor, against record: Fixtures.TensorRecord, name: String,
                      sourceLocation: SourceLocation = #_sourceLocation) throws {
        #expect(tensor.type.name.lowercased() == record.dtype.lowercased(), "\(name) dtype", sourceLocation: sourceLocation)
        #expect(tensor.shape == record.shape, "\(name) shape", sourceLocation: sourceLocation)
        let bytes = try #require(tensor.contiguousBytes, sourceLocation: sourceLocation)
        #expect(CRC32.checksum(bytes) == record.crc32, "\(name) crc32", sourceLocation: sourceLocation)
        let values = try tensor.floats()
        let sum = values.reduce(0.0) { $0 + Double($1) }
        let magnitude = values.reduce(0.0) { $0 + abs(Double($1)) }
        #expect(abs(sum - record.sum) <= relativeSumTolerance * max(1, magnitude), "\(name) sum \(sum) vs \(record.sum)",
                sourceLocation: sourceLocation)
        #expect(values.prefix(record.first.count).map(Double.init) == record.first, "\(name) first values", sourceLocation: sourceLocation)
    }
}

@Suite("safetensors fixtures")
struct SafetensorsFixtureTests {
    @Test("every tensor of each HF fixture matches reference.json", arguments: [
        "hf-gqa-bf16-sharded", "hf-mqa-f16-tied-rope31", "hf-copy-of-meta-gqa",
    ])
    func matchesReference(folder: String) throws {
        let checkpoint = try SafetensorsCheckpoint.open(folder: Fixtures.path(folder))
        let reference = try Fixtures.reference(folder)
        #expect(Set(checkpoint.tensors.map(\.name)) == Set(reference.tensors.keys))
        #expect(checkpoint.tensors.count == reference.tensors.count)
        for (name, record) in reference.tensors.sorted(by: { $0.key < $1.key }) {
            let tensor = try #require(checkpoint.tensor(named: name), "\(name) missing")
            try SafetensorsReference.check(tensor, against: record, name: name)
        }
        for file in checkpoint.files {
            #expect(file.metadata["format"] == "pt")
            let offsets = file.tensors.map(\.source.offset)
            #expect(offsets == offsets.sorted())
        }
    }

    @Test("the sharded fixture opens through its index, shards in index order")
    func sharded() throws {
        let folder = Fixtures.path("hf-gqa-bf16-sharded")
        let checkpoint = try SafetensorsCheckpoint.open(folder: folder)
        #expect(checkpoint.indexPath == folder + "/" + ShardIndex.fileName)
        #expect(checkpoint.files.map(\.path) == [folder + "/model-00001-of-00002.safetensors", folder + "/model-00002-of-00002.safetensors"])
        #expect(checkpoint.tensors.map(\.name) == checkpoint.files.flatMap { $0.tensors.map(\.name) })
        #expect(checkpoint.tensors.allSatisfy { $0.source.type == .bf16 })
    }

    @Test("the good base of the broken files reads as its table says")
    func goodBase() throws {
        struct Table: Decodable { let tensors: [String: Fixtures.TensorRecord] }
        let table = try JSONDecoder().decode(Table.self, from: Data(contentsOf: URL(fileURLWithPath: Fixtures.path("bad/safetensors-good-base.json"))))
        let file = try SafetensorsFile(path: Fixtures.path("bad/safetensors-good-base.safetensors"))
        #expect(Set(file.names) == Set(table.tensors.keys))
        for (name, record) in table.tensors {
            try SafetensorsReference.check(try #require(file.tensor(named: name)), against: record, name: name)
        }
    }

    /// Opens a broken fixture, expecting a `SafetensorsError` whose description starts with its path.
    private func refusal(_ name: String) throws -> SafetensorsError {
        let path = Fixtures.path("bad/" + name)
        do {
            _ = try SafetensorsFile(path: path)
        } catch let error as SafetensorsError {
            #expect(error.description.hasPrefix(path + ": "), "\(error)")
            return error
        }
        throw FixtureAccepted(name: name)
    }

    struct FixtureAccepted: Error { let name: String }

    @Test("each broken safetensors fixture gives its own error")
    func brokenFixtures() throws {
        let p = { (name: String) in Fixtures.path("bad/" + name) }
        var error = try refusal("safetensors-bad-json.safetensors")
        if case .invalidJSON = error {} else { Issue.record("bad-json: \(error)") }

        #expect(try refusal("safetensors-bogus-dtype-name.safetensors")
            == .unknownDtype(path: p("safetensors-bogus-dtype-name.safetensors"), tensor: "model.layers.0.mlp.up_proj.weight", dtype: "I4"))

        error = try refusal("safetensors-duplicate-name.safetensors")
        if case let .duplicateKey(_, _, key) = error { #expect(key == "lm_head.weight") } else { Issue.record("duplicate: \(error)") }

        error = try refusal("safetensors-gap.safetensors")
        if case let .offsetMismatch(_, tensor, expected, found) = error {
            #expect(tensor == "model.norm.weight" && found == expected + 8)
        } else { Issue.record("gap: \(error)") }

        error = try refusal("safetensors-overlap.safetensors")
        if case let .offsetMismatch(_, tensor, expected, found) = error {
            #expect(tensor == "model.norm.weight" && found == expected - 16)
        } else { Issue.record("overlap: \(error)") }

        #expect(try refusal("safetensors-header-past-eof.safetensors")
            == .headerPastEnd(path: p("safetensors-header-past-eof.safetensors"), length: 28016, fileSize: 28000))
        #expect(try refusal("safetensors-huge-header-len.safetensors")
            == .headerTooLarge(path: p("safetensors-huge-header-len.safetensors"), length: 9_223_372_036_854_775_816, cap: 100_000_000))

        error = try refusal("safetensors-shape-mismatch.safetensors")
        if case let .byteCountMismatch(_, tensor, expected, found) = error {
            #expect(tensor == "model.norm.weight" && expected == 66 && found == 64)
        } else { Issue.record("shape-mismatch: \(error)") }

        error = try refusal("safetensors-truncated.safetensors")
        if case let .dataSizeMismatch(_, _, dataBytes, fileDataBytes) = error {
            #expect(dataBytes > fileDataBytes)
        } else { Issue.record("truncated: \(error)") }

        #expect(try refusal("safetensors-unknown-dtype.safetensors")
            == .unsupportedDtype(path: p("safetensors-unknown-dtype.safetensors"), tensor: "model.layers.0.mlp.up_proj.weight", dtype: "F8_E4M3"))
    }
}

@Suite("safetensors checkpoints and shard indexes")
struct SafetensorsCheckpointTests {
    static let shardedFolder = Fixtures.path("hf-gqa-bf16-sharded")
    static let shard1 = "model-00001-of-00002.safetensors"
    static let shard2 = "model-00002-of-00002.safetensors"

    /// The fixture's weight_map, tensor → shard.
    private func weightMap() throws -> [String: String] {
        let data = try Data(contentsOf: URL(fileURLWithPath: Self.shardedFolder + "/" + ShardIndex.fileName))
        let root = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        return try #require(root["weight_map"] as? [String: String])
    }

    /// A temporary folder with `shards` symlinked (link name → fixture shard) and an index of `map`.
    private func folder(shards: [String: String], map: [String: String]?) throws -> TempFolder {
        let folder = TempFolder()
        for (link, target) in shards {
            try FileManager.default.createSymbolicLink(atPath: folder.path + "/" + link, withDestinationPath: Self.shardedFolder + "/" + target)
        }
        if let map {
            let index: [String: Any] = ["metadata": ["total_size": 1], "weight_map": map]
            try JSONSerialization.data(withJSONObject: index, options: [.sortedKeys]).write(to: URL(fileURLWithPath: folder.path + "/" + ShardIndex.fileName))
        }
        return folder
    }

    private func refusal(_ folder: TempFolder) throws -> Error {
        do {
            _ = try SafetensorsCheckpoint.open(folder: folder.path)
        } catch {
            return error
        }
        throw SafetensorsFixtureTests.FixtureAccepted(name: folder.path)
    }

    private var both: [String: String] { [Self.shard1: Self.shard1, Self.shard2: Self.shard2] }

    @Test("a rebuilt index over linked shards opens like the fixture")
    func rebuilt() throws {
        let temp = try folder(shards: both, map: try weightMap())
        defer { temp.remove() }
        let checkpoint = try SafetensorsCheckpoint.open(folder: temp.path)
        #expect(checkpoint.tensors.count == (try weightMap()).count)
    }

    @Test("a shard the index names but the folder lacks is shardMissing, naming the index")
    func missingShard() throws {
        let map = try weightMap()
        let temp = try folder(shards: [Self.shard1: Self.shard1], map: map)
        defer { temp.remove() }
        let index = temp.path + "/" + ShardIndex.fileName
        let error = try refusal(temp)
        #expect(error as? SafetensorsError == .shardMissing(path: index, shard: Self.shard2, tensors: map.values.filter { $0 == Self.shard2 }.count))
        #expect("\(error)".hasPrefix(index + ": "))
    }

    @Test("a tensor mapped to a shard that does not hold it is tensorMissingFromShard")
    func tensorMissing() throws {
        var map = try weightMap()
        let moved = try #require(map.first { $0.value == Self.shard1 }?.key)
        map[moved] = Self.shard2
        let temp = try folder(shards: both, map: map)
        defer { temp.remove() }
        #expect(try refusal(temp) as? SafetensorsError
            == .tensorMissingFromShard(path: temp.path + "/" + ShardIndex.fileName, tensor: moved, shard: Self.shard2))

        // A name that no shard holds at all, likewise.
        var extra = try weightMap()
        extra["model.layers.9.mlp.up_proj.weight"] = Self.shard1
        let temp2 = try folder(shards: both, map: extra)
        defer { temp2.remove() }
        #expect(try refusal(temp2) as? SafetensorsError
            == .tensorMissingFromShard(path: temp2.path + "/" + ShardIndex.fileName, tensor: "model.layers.9.mlp.up_proj.weight", shard: Self.shard1))
    }

    @Test("a tensor held by two shard files is tensorInTwoShards")
    func twoShards() throws {
        var map = try weightMap()
        // "copy.safetensors" is shard 1 again; the index sends one of shard 1's tensors there.
        let first = try SafetensorsFile(path: Self.shardedFolder + "/" + Self.shard1).tensors[0].name
        map[first] = "copy.safetensors"
        var shards = both
        shards["copy.safetensors"] = Self.shard1
        let temp = try folder(shards: shards, map: map)
        defer { temp.remove() }
        #expect(try refusal(temp) as? SafetensorsError
            == .tensorInTwoShards(path: temp.path + "/" + ShardIndex.fileName, tensor: first, first: "copy.safetensors", second: Self.shard1))
    }

    @Test("a shard tensor the index does not list is tensorNotInIndex")
    func notListed() throws {
        var map = try weightMap()
        let dropped = try #require(map.keys.sorted().last)
        let shard = try #require(map[dropped])
        map[dropped] = nil
        let temp = try folder(shards: both, map: map)
        defer { temp.remove() }
        #expect(try refusal(temp) as? SafetensorsError
            == .tensorNotInIndex(path: temp.path + "/" + ShardIndex.fileName, tensor: dropped, shard: shard))
    }

    @Test("index JSON problems name the index file")
    func indexJSON() throws {
        let temp = try folder(shards: both, map: nil)
        defer { temp.remove() }
        let index = temp.path + "/" + ShardIndex.fileName
        func refused(_ text: String) throws -> SafetensorsError {
            try Data(text.utf8).write(to: URL(fileURLWithPath: index))
            let error = try #require(try refusal(temp) as? SafetensorsError)
            #expect(error.description.hasPrefix(index + ": "), "\(error)")
            return error
        }
        #expect(try refused(#"{"weight_map":{"a":"\#(Self.shard1)","a":"\#(Self.shard2)"}}"#) == .duplicateKey(path: index, offset: 54, key: "a"))
        #expect(try refused(#"{"weight_map":{"a":"../\#(Self.shard1)"}}"#)
            == .invalidIndex(path: index, offset: 19, problem: "weight_map names \"../\(Self.shard1)\", not a file name beside the index"))
        #expect(try refused(#"{"metadata":{}}"#) == .invalidIndex(path: index, offset: 0, problem: "index has no weight_map"))
        #expect(try refused(#"{"weight_map":{"a":1}}"#)
            == .invalidIndex(path: index, offset: 19, problem: "weight_map value for \"a\" is a number, expected a file name"))
        #expect(try refused(#"{"weight_map":{}}"#) == .invalidIndex(path: index, offset: 14, problem: "weight_map lists no tensors"))
        if case .invalidJSON = try refused(#"{"weight_map":"#) {} else { Issue.record("truncated index accepted as JSON") }
    }

    @Test("without an index: one .safetensors file opens, two are ambiguousFolder, none is FileError.missing")
    func folderWithoutIndex() throws {
        let temp = try folder(shards: [Self.shard1: Self.shard1], map: nil)
        defer { temp.remove() }
        let single = try SafetensorsCheckpoint.open(folder: temp.path)
        #expect(single.indexPath == nil && single.files.count == 1)
        #expect(single.tensors.map(\.name) == (try SafetensorsFile(path: Self.shardedFolder + "/" + Self.shard1)).names)

        try FileManager.default.createSymbolicLink(atPath: temp.path + "/" + Self.shard2, withDestinationPath: Self.shardedFolder + "/" + Self.shard2)
        #expect(try refusal(temp) as? SafetensorsError == .ambiguousFolder(path: temp.path, files: [Self.shard1, Self.shard2]))

        let empty = TempFolder()
        defer { empty.remove() }
        #expect(try refusal(empty) as? FileError == .missing(path: empty.path, what: "a .safetensors file or \(ShardIndex.fileName)"))
    }

    @Test("init(file:) opens one file and has no index")
    func singleFile() throws {
        let path = Fixtures.path("hf-mqa-f16-tied-rope31/model.safetensors")
        let checkpoint = try SafetensorsCheckpoint(file: path)
        #expect(checkpoint.indexPath == nil && checkpoint.files.map(\.path) == [path])
        #expect(checkpoint.tensor(named: "model.embed_tokens.weight") != nil)
    }
}
