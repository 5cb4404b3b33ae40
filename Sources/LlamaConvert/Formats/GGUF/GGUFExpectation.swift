import Foundation

/// What `Scripts/check_gguf.py OUT.gguf --expect EXPECT.json` verifies with gguf-py, independently of
/// our reader: the metadata (keys in order, GGUF types, values; arrays by element type, count and
/// CRC-32 of their encoding), the tensor infos (name, type, PyTorch shape, data offset), and per
/// tensor our own dequantized values (CRC-32 of their float32 little-endian bytes, sum, first 8),
/// which gguf-py's `dequantize` must reproduce exactly. When a tensor's source floats are dumped
/// beside it (`source`), the script also checks the dequantized values against them within the
/// type's error bound and, for F32/F16/BF16/Q8_0/Q4_0/Q4_1/Q5_0/Q5_1, that `gguf.quants.quantize`
/// of those floats gives our bytes exactly. The JSON layout is documented in formats/gguf.md.
public struct GGUFExpectation: Encodable, Sendable {
    public var format = "llama-convert/gguf-expect/1"
    /// The GGUF file the expectation was made from (informational).
    public var file: String
    public var alignment: Int
    public var metadata: [Metadatum]
    public var tensors: [Tensor]

    public struct Metadatum: Encodable, Sendable {
        public var key: String
        /// gguf-py's `GGUFValueType` name: UINT32, FLOAT32, STRING, ARRAY...
        public var type: String
        /// Scalars only: a JSON number, bool or string; non-finite floats as "inf", "-inf", "nan".
        public var value: Scalar?
        /// Arrays only.
        public var elementType: String?
        public var count: Int?
        /// Arrays only: CRC-32 of the value's encoding after its type (element type, count, elements).
        public var crc32: UInt32?

        enum CodingKeys: String, CodingKey {
            case key, type, value, elementType = "element_type", count, crc32
        }
    }

    public enum Scalar: Encodable, Sendable {
        case int(Int64), uint(UInt64), float(Double), bool(Bool), string(String)

        public func encode(to encoder: any Encoder) throws {
            var c = encoder.singleValueContainer()
            switch self {
            case let .int(v): try c.encode(v)
            case let .uint(v): try c.encode(v)
            case let .bool(v): try c.encode(v)
            case let .string(v): try c.encode(v)
            case let .float(v):
                if v.isNaN { try c.encode("nan") } else if v.isInfinite { try c.encode(v > 0 ? "inf" : "-inf") } else { try c.encode(v) }
            }
        }
    }

    public struct Tensor: Encodable, Sendable {
        public var name: String
        /// ggml type name (F32, Q8_0, ...).
        public var type: String
        /// PyTorch order; gguf-py's `ReaderTensor.shape` is the reverse.
        public var shape: [Int]
        /// Data offset relative to the data section.
        public var offset: Int
        public var byteCount: Int
        public var dequant: Summary
        public var source: Source?

        enum CodingKeys: String, CodingKey {
            case name, type, shape, offset, byteCount = "byte_count", dequant, source
        }
    }

    public struct Summary: Encodable, Sendable {
        /// CRC-32 (zlib) of the float32 little-endian bytes.
        public var crc32: UInt32
        /// Sum in index order, in Double.
        public var sum: Double
        public var first: [Float]
        public var count: Int

        public func encode(to encoder: any Encoder) throws {
            enum K: String, CodingKey { case crc32, sum, first, count }
            var c = encoder.container(keyedBy: K.self)
            try c.encode(crc32, forKey: .crc32)
            try c.encode(Scalar.float(sum), forKey: .sum)
            try c.encode(first.map { Scalar.float(Double($0)) }, forKey: .first)
            try c.encode(count, forKey: .count)
        }
    }

    /// Where the source floats of a tensor are: `count` float32 LE values at byte `offset` of `file`
    /// (relative to the EXPECT file's folder unless absolute).
    public struct Source: Encodable, Sendable {
        public var file: String
        public var offset: Int
        public var count: Int
    }

    /// Encodes the expectation as pretty JSON at `path` (written to a temp file, then renamed).
    public func write(to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let data = try encoder.encode(self)
        let temp = path + ".tmp-llama-convert"
        do {
            try data.write(to: URL(fileURLWithPath: temp))
            if FileManager.default.fileExists(atPath: path) { try FileManager.default.removeItem(atPath: path) }
            try FileManager.default.moveItem(atPath: temp, toPath: path)
        } catch {
            try? FileManager.default.removeItem(atPath: temp)
            throw GGUFError.writeFailed(path: path, reason: "\(error)")
        }
    }
}

/// Builds the expectation for a written GGUF file.
/// - metadata: the metadata the writer was given (nil: take the file's own); `general.alignment`
///   is appended when absent, as `GGUFLayout` does.
/// - sources: tensor name → the floats that were quantized (e.g. the canonical graph's tensor).
///   Their float32 values are written to `sourceDump` (required when `sources` is not empty) and
///   referenced by file name relative to the EXPECT file, which is assumed to sit beside it.
public func ggufExpectation(gguf path: String, metadata: [(String, GGUFValue)]? = nil,
                            sources: [String: any TensorSource] = [:], sourceDump: String? = nil) throws -> GGUFExpectation {
    let file = try GGUFFile(path: path)
    var kvs = metadata ?? file.metadata.map { ($0.key, $0.value) }
    if !kvs.contains(where: { $0.0 == GGUFKeys.General.alignment }) {
        kvs.append((GGUFKeys.General.alignment, .uint32(UInt32(file.alignment))))
    }
    let expectedMetadata = kvs.map { key, value -> GGUFExpectation.Metadatum in
        var m = GGUFExpectation.Metadatum(key: key, type: value.type.name)
        switch value {
        case let .array(elementType, elements):
            var body: [UInt8] = []
            value.encode(into: &body)
            m.elementType = elementType.name
            m.count = elements.count
            m.crc32 = CRC32.checksum(body)
        case let .bool(b): m.value = .bool(b)
        case let .string(s): m.value = .string(s)
        case let .float32(f): m.value = .float(Double(f))
        case let .float64(f): m.value = .float(f)
        case let .uint64(u): m.value = .uint(u)
        default: m.value = .int(Int64(value.intValue ?? 0))
        }
        return m
    }

    var dump: FileHandle?
    var dumpOffset = 0
    if !sources.isEmpty {
        guard let sourceDump else { throw GGUFError.writeFailed(path: path, reason: "sources given without a sourceDump path") }
        guard FileManager.default.createFile(atPath: sourceDump, contents: nil), let handle = FileHandle(forWritingAtPath: sourceDump) else {
            throw GGUFError.writeFailed(path: sourceDump, reason: "cannot create")
        }
        dump = handle
    }
    defer { try? dump?.close() }

    var tensors: [GGUFExpectation.Tensor] = []
    for info in file.tensors {
        let summary = try summarize(file.source(of: info))
        var entry = GGUFExpectation.Tensor(name: info.name, type: info.type.name, shape: info.shape, offset: info.offset,
                                           byteCount: info.byteCount, dequant: summary, source: nil)
        if let source = sources[info.name], let dump, let sourceDump {
            guard source.elementCount == info.elementCount else {
                throw GGUFError.wrongShape(path: path, tensor: info.name, expected: source.shape, found: info.shape)
            }
            try forEachFloatChunk(source) { chunk in
                try dump.write(contentsOf: Data(buffer: chunk))
            }
            entry.source = GGUFExpectation.Source(file: (sourceDump as NSString).lastPathComponent, offset: dumpOffset, count: info.elementCount)
            dumpOffset += 4 * info.elementCount
        }
        tensors.append(entry)
    }
    return GGUFExpectation(file: path, alignment: file.alignment, metadata: expectedMetadata, tensors: tensors)
}

/// CRC-32, index-order sum and first values of a tensor's float32 values, decoded chunk by chunk.
func summarize(_ source: any TensorSource) throws -> GGUFExpectation.Summary {
    var crc: UInt32 = 0
    var sum = 0.0
    var first: [Float] = []
    try forEachFloatChunk(source) { chunk in
        crc = CRC32.checksum(UnsafeRawBufferPointer(chunk), continuing: crc)
        for v in chunk {
            sum += Double(v)
            if first.count < 8 { first.append(v) }
        }
    }
    return GGUFExpectation.Summary(crc32: crc, sum: sum, first: first, count: source.elementCount)
}

/// Calls `body` with consecutive float32 chunks (whole rows) of the tensor, in order.
func forEachFloatChunk(_ source: any TensorSource, _ body: (UnsafeBufferPointer<Float>) throws -> Void) throws {
    let rowsPerChunk = max(1, (1 << 20) / max(1, source.rowLength))
    let floats = UnsafeMutableBufferPointer<Float>.allocate(capacity: max(1, rowsPerChunk * source.rowLength))
    let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: max(1, rowsPerChunk * source.rowBytes), alignment: 64)
    defer { floats.deallocate(); scratch.deallocate() }
    var row = 0
    while row < source.rowCount {
        let n = min(rowsPerChunk, source.rowCount - row)
        try source.readFloatRows(row ..< row + n, into: floats, scratch: scratch)
        try body(UnsafeBufferPointer(rebasing: floats[0 ..< n * source.rowLength]))
        row += n
    }
}
