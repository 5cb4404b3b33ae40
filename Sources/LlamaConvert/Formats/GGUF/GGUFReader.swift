/// One tensor info of a GGUF file, validated against the file.
public struct GGUFTensorInfo: Sendable, Equatable {
    public let name: String
    public let type: GGMLType
    /// ggml order: dims[0] = ne[0], the row length.
    public let dims: [Int]
    /// Offset of the data relative to the data section, as stored.
    public let offset: Int
    /// Absolute file offset of the data.
    public let fileOffset: Int
    public let byteCount: Int
    /// File offset where this tensor's info record starts (for messages).
    public let infoOffset: Int

    /// PyTorch order (rows first).
    public var shape: [Int] { dims.reversed() }
    public var elementCount: Int { dims.reduce(1, *) }
}

/// A GGUF file (v3, or v2 which has the same layout), memory-mapped and fully validated on open:
/// every count and length is checked against the bytes that remain before anything is allocated,
/// and every tensor's range lies inside the file without overlapping another. Tensor data is not
/// touched until a consumer reads it through `source(of:)`.
public final class GGUFFile: @unchecked Sendable {
    /// Deepest array nesting accepted (ggml itself accepts none).
    public static let maxArrayDepth = 8
    /// ggml's reader caps strings at 1 GiB.
    public static let maxStringBytes = 1 << 30
    /// Smallest possible KV record: u64 key length, 1 key byte, u32 type, 1 value byte.
    static let minimumKVBytes = 8 + 1 + 4 + 1
    /// Smallest possible tensor info: u64 name length, 1 name byte, u32 n_dims, u32 type, u64 offset.
    static let minimumTensorInfoBytes = 8 + 1 + 4 + 4 + 8

    public let path: String
    public let file: MappedFile
    public let version: UInt32
    public let metadata: [(key: String, value: GGUFValue)]
    public let tensors: [GGUFTensorInfo]
    public let alignment: Int
    public let dataOffset: Int
    /// File offset of each metadata record (parallel to `metadata`).
    public let metadataOffsets: [Int]
    private let keyIndex: [String: Int]
    private let tensorIndex: [String: Int]

    public convenience init(path: String) throws {
        try self.init(file: try MappedFile(path: path))
    }

    public init(file: MappedFile) throws {
        self.file = file
        path = file.path
        do {
            var parser = Parser(reader: file.reader(), path: file.path)
            let header = try parser.parseHeader()
            version = header.version
            metadata = header.metadata
            metadataOffsets = header.metadataOffsets
            keyIndex = header.keyIndex
            alignment = header.alignment
            let infos = try parser.parseTensorInfos(count: header.tensorCount, alignment: header.alignment, fileSize: file.count)
            tensors = infos.tensors
            dataOffset = infos.dataOffset
            tensorIndex = Dictionary(uniqueKeysWithValues: tensors.enumerated().map { ($1.name, $0) })
        } catch let error as ReadError {
            switch error {
            case let .truncated(path, offset, needed, remaining):
                throw GGUFError.truncated(path: path, offset: offset, needed: needed, remaining: remaining)
            case let .outOfBounds(path, offset, count, size):
                throw GGUFError.truncated(path: path, offset: offset, needed: count, remaining: max(0, size - offset))
            case let .invalidUTF8(path, offset, what):
                throw GGUFError.invalidUTF8(path: path, offset: offset, what: what)
            }
        }
    }

    public func value(_ key: String) -> GGUFValue? {
        keyIndex[key].map { metadata[$0].value }
    }

    public func tensor(named name: String) -> GGUFTensorInfo? {
        tensorIndex[name].map { tensors[$0] }
    }

    /// The tensor's bytes in place, as a lazy source in PyTorch shape order.
    public func source(of info: GGUFTensorInfo) -> MappedTensor {
        MappedTensor(file: file, offset: info.fileOffset, type: info.type, shape: info.shape)
    }
}

/// The parsing steps, in file order. Each length is checked against `reader.remaining` (by
/// ByteReader, or here against a named cap) before it is used.
private struct Parser {
    var reader: ByteReader
    let path: String

    struct Header {
        var version: UInt32
        var tensorCount: Int
        var metadata: [(key: String, value: GGUFValue)]
        var metadataOffsets: [Int]
        var keyIndex: [String: Int]
        var alignment: Int
    }

    mutating func parseHeader() throws -> Header {
        let magic = try reader.read(UInt32.self)
        guard magic == 0x4655_4747 else { throw GGUFError.badMagic(path: path, found: magic) }
        let versionOffset = reader.fileOffset
        let version = try reader.read(UInt32.self)
        guard version == 2 || version == 3 else {
            throw GGUFError.unsupportedVersion(path: path, offset: versionOffset, version: version)
        }
        let tensorCount = try count("tensor count", minimumEach: GGUFFile.minimumTensorInfoBytes)
        let kvCount = try count("metadata count", minimumEach: GGUFFile.minimumKVBytes)

        var metadata: [(key: String, value: GGUFValue)] = []
        var offsets: [Int] = []
        var index: [String: Int] = [:]
        for _ in 0 ..< kvCount {
            let recordOffset = reader.fileOffset
            let key = try string(what: "metadata key")
            guard !key.isEmpty else { throw GGUFError.emptyKey(path: path, offset: recordOffset) }
            guard index[key] == nil else { throw GGUFError.duplicateKey(path: path, offset: recordOffset, key: key) }
            let type = try valueType()
            let value = try self.value(type, depth: 0)
            index[key] = metadata.count
            metadata.append((key, value))
            offsets.append(recordOffset)
        }

        var alignment = GGUFLayout.defaultAlignment
        if let i = index[GGUFKeys.General.alignment] {
            guard case let .uint32(a) = metadata[i].value, a != 0, a & (a - 1) == 0 else {
                throw GGUFError.badAlignment(path: path, offset: offsets[i], value: "\(metadata[i].value)")
            }
            alignment = Int(a)
        }
        return Header(version: version, tensorCount: tensorCount, metadata: metadata, metadataOffsets: offsets,
                      keyIndex: index, alignment: alignment)
    }

    mutating func parseTensorInfos(count: Int, alignment: Int, fileSize: Int) throws -> (tensors: [GGUFTensorInfo], dataOffset: Int) {
        struct Raw { var name: String; var type: GGMLType; var dims: [Int]; var offset: UInt64; var byteCount: Int; var infoOffset: Int }
        var raws: [Raw] = []
        var names = Set<String>()
        for _ in 0 ..< count {
            let infoOffset = reader.fileOffset
            let name = try string(what: "tensor name")
            guard !name.isEmpty, name.utf8.count <= GGUFLayout.maxTensorNameBytes else {
                throw GGUFError.badTensorName(path: path, offset: infoOffset, name: String(name.prefix(80)))
            }
            guard names.insert(name).inserted else { throw GGUFError.duplicateTensor(path: path, offset: infoOffset, name: name) }
            let dimsOffset = reader.fileOffset
            let nDims = try reader.read(UInt32.self)
            guard nDims <= UInt32(GGUFLayout.maxDimensions) else {
                throw GGUFError.tooManyDimensions(path: path, offset: dimsOffset, tensor: name, dimensions: nDims)
            }
            var rawDims: [UInt64] = []
            for _ in 0 ..< nDims { rawDims.append(try reader.read(UInt64.self)) }
            let typeOffset = reader.fileOffset
            let rawType = try reader.read(UInt32.self)
            let offset = try reader.read(UInt64.self)
            guard let type = GGMLType(rawValue: rawType) else {
                throw GGUFError.unknownTensorType(path: path, offset: typeOffset, tensor: name, raw: rawType)
            }
            // ggml reads each ne as int64 and refuses negatives; the element count must not overflow.
            var dims: [Int] = []
            var elements = 1
            for d in rawDims {
                guard d <= UInt64(Int64.max) else { throw GGUFError.badDimensions(path: path, offset: dimsOffset, tensor: name, dims: rawDims) }
                let (product, overflow) = elements.multipliedReportingOverflow(by: Int(d))
                guard !overflow else { throw GGUFError.badDimensions(path: path, offset: dimsOffset, tensor: name, dims: rawDims) }
                elements = product
                dims.append(Int(d))
            }
            let rowLength = dims.first ?? 1
            guard rowLength % type.blockSize == 0 else {
                throw GGUFError.rowNotWholeBlocks(path: path, offset: dimsOffset, tensor: name, rowLength: rowLength, type: type)
            }
            let (byteCount, overflow) = (elements / type.blockSize).multipliedReportingOverflow(by: type.typeSize)
            guard !overflow else { throw GGUFError.badDimensions(path: path, offset: dimsOffset, tensor: name, dims: rawDims) }
            raws.append(Raw(name: name, type: type, dims: dims, offset: offset, byteCount: byteCount, infoOffset: infoOffset))
        }

        let dataOffset = GGUFLayout.pad(reader.fileOffset, alignment)
        var tensors: [GGUFTensorInfo] = []
        for raw in raws {
            let offsetField = raw.infoOffset // errors name the info record
            guard raw.offset % UInt64(alignment) == 0 else {
                throw GGUFError.misalignedTensor(path: path, offset: offsetField, tensor: raw.name, dataOffset: raw.offset, alignment: alignment)
            }
            // start = dataOffset + offset and end = start + byteCount, compared by subtraction.
            guard raw.offset <= UInt64(max(0, fileSize - dataOffset)), raw.byteCount <= fileSize - dataOffset - Int(raw.offset) else {
                throw GGUFError.tensorOutOfBounds(path: path, offset: offsetField, tensor: raw.name, start: UInt64(dataOffset) &+ raw.offset,
                                                  byteCount: raw.byteCount, fileSize: fileSize)
            }
            tensors.append(GGUFTensorInfo(name: raw.name, type: raw.type, dims: raw.dims, offset: Int(raw.offset),
                                          fileOffset: dataOffset + Int(raw.offset), byteCount: raw.byteCount, infoOffset: raw.infoOffset))
        }
        let byStart = tensors.sorted { ($0.offset, $0.byteCount) < ($1.offset, $1.byteCount) }
        for (a, b) in zip(byStart, byStart.dropFirst()) where a.offset + a.byteCount > b.offset {
            throw GGUFError.overlappingTensors(path: path, tensor: b.name, other: a.name)
        }
        return (tensors, dataOffset)
    }

    /// A u64 count, refused unless `count × minimumEach` bytes could still follow.
    mutating func count(_ what: String, minimumEach: Int) throws -> Int {
        let offset = reader.fileOffset
        let raw = try reader.read(UInt64.self)
        let limit = reader.remaining / minimumEach
        guard raw <= UInt64(limit) else { throw GGUFError.countTooLarge(path: path, offset: offset, what: what, count: raw, limit: limit) }
        return Int(raw)
    }

    mutating func string(what: String) throws -> String {
        let offset = reader.fileOffset
        let length = try reader.read(UInt64.self)
        let limit = min(reader.remaining, GGUFFile.maxStringBytes)
        guard length <= UInt64(limit) else {
            throw GGUFError.countTooLarge(path: path, offset: offset, what: "\(what) length", count: length, limit: limit)
        }
        return try reader.string(Int(length), what: what)
    }

    mutating func valueType() throws -> GGUFValueType {
        let offset = reader.fileOffset
        let raw = try reader.read(UInt32.self)
        guard let type = GGUFValueType(rawValue: raw) else { throw GGUFError.unknownValueType(path: path, offset: offset, raw: raw) }
        return type
    }

    mutating func value(_ type: GGUFValueType, depth: Int) throws -> GGUFValue {
        switch type {
        case .uint8: return .uint8(try reader.read(UInt8.self))
        case .int8: return .int8(try reader.read(Int8.self))
        case .uint16: return .uint16(try reader.read(UInt16.self))
        case .int16: return .int16(try reader.read(Int16.self))
        case .uint32: return .uint32(try reader.read(UInt32.self))
        case .int32: return .int32(try reader.read(Int32.self))
        case .float32: return .float32(try reader.readFloat32())
        case .bool:
            // ggml stores bool as one byte; any non-zero byte reads as true, as in C.
            return .bool(try reader.read(UInt8.self) != 0)
        case .string: return .string(try string(what: "string value"))
        case .uint64: return .uint64(try reader.read(UInt64.self))
        case .int64: return .int64(try reader.read(Int64.self))
        case .float64: return .float64(try reader.readFloat64())
        case .array:
            let arrayOffset = reader.fileOffset
            let elementType = try valueType()
            if elementType == .array, depth + 1 >= GGUFFile.maxArrayDepth {
                throw GGUFError.arrayTooDeep(path: path, offset: arrayOffset, depth: depth + 2)
            }
            let n = try count("array element count", minimumEach: elementType.minimumSize)
            var elements: [GGUFValue] = []
            elements.reserveCapacity(n)
            for _ in 0 ..< n { elements.append(try value(elementType, depth: depth + 1)) }
            return .array(elementType, elements)
        }
    }
}
