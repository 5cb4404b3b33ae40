/// One tensor of a GGUF file to be written: its name, stored type and PyTorch-order shape.
public struct GGUFTensorPlan: Sendable, Equatable {
    public var name: String
    public var type: GGMLType
    /// PyTorch order, rows first; the file stores it reversed (ggml's ne[0] = row length first).
    public var shape: [Int]

    public init(name: String, type: GGMLType, shape: [Int]) {
        self.name = name
        self.type = type
        self.shape = shape
    }

    /// ggml order: ne[0] (the contiguous row length) first.
    public var ggmlDims: [Int] { shape.reversed() }
}

/// Everything about a GGUF v3 file that is known before any tensor data exists: the header bytes
/// (magic, version, counts, metadata, tensor infos, zero padding up to the data section) and where
/// each tensor's bytes go. A streaming writer emits `headerBytes`, then tensor i's bytes at
/// `tensorOffsets[i]` followed by `padding(after: i)` zero bytes; the file is then `fileSize` long,
/// laid out as gguf-py's `GGUFWriter` and `llama-quantize` lay it out (ggml/src/gguf.cpp requires
/// each offset to be the running sum of padded sizes).
public struct GGUFLayout: Sendable {
    public static let magic: [UInt8] = Array("GGUF".utf8)
    public static let version: UInt32 = 3
    /// ggml's GGUF_DEFAULT_ALIGNMENT, and what llama.cpp's mmap path asserts (TENSOR_ALIGNMENT).
    public static let defaultAlignment = 32
    /// ggml's GGML_MAX_NAME is 64 including the terminating NUL.
    public static let maxTensorNameBytes = 63
    public static let maxDimensions = 4

    /// The metadata as written: the caller's pairs, then `general.alignment` unless they had it.
    public let metadata: [(String, GGUFValue)]
    public let tensors: [GGUFTensorPlan]
    public let alignment: Int
    public let headerBytes: [UInt8]
    /// File offset of the data section (= headerBytes.count, a multiple of `alignment`).
    public let dataOffset: Int
    /// Absolute file offset of each tensor's first byte.
    public let tensorOffsets: [Int]
    /// Unpadded byte size of each tensor.
    public let tensorByteCounts: [Int]
    public let fileSize: Int

    public init(metadata: [(String, GGUFValue)], tensors: [GGUFTensorPlan], alignment: Int = GGUFLayout.defaultAlignment) throws {
        guard alignment >= 8, alignment & (alignment - 1) == 0, alignment <= Int(UInt32.max) else {
            throw GGUFError.invalidAlignment(alignment)
        }
        var seenKeys = Set<String>()
        var kvs = metadata
        for (key, value) in metadata {
            guard !key.isEmpty else { throw GGUFError.invalidMetadata(key: key, problem: "empty key") }
            guard seenKeys.insert(key).inserted else { throw GGUFError.duplicateKeyInLayout(key: key) }
            if let path = value.firstMistypedElement() {
                throw GGUFError.invalidMetadata(key: key, problem: "element \(path) does not have the array's element type")
            }
            if key == GGUFKeys.General.alignment, value != .uint32(UInt32(alignment)) {
                throw GGUFError.invalidAlignment(alignment)
            }
        }
        if !seenKeys.contains(GGUFKeys.General.alignment) {
            kvs.append((GGUFKeys.General.alignment, .uint32(UInt32(alignment))))
        }

        var names = Set<String>()
        var byteCounts: [Int] = []
        for plan in tensors {
            byteCounts.append(try Self.validate(plan))
            guard names.insert(plan.name).inserted else { throw GGUFError.duplicateTensorInLayout(name: plan.name) }
        }

        var header: [UInt8] = []
        header.append(contentsOf: Self.magic)
        header.appendLE(Self.version)
        header.appendLE(UInt64(tensors.count))
        header.appendLE(UInt64(kvs.count))
        for (key, value) in kvs {
            header.appendGGUFString(key)
            header.appendLE(value.type.rawValue)
            value.encode(into: &header)
        }
        var relative = 0
        var offsets: [Int] = []
        for (plan, bytes) in zip(tensors, byteCounts) {
            header.appendGGUFString(plan.name)
            header.appendLE(UInt32(plan.shape.count))
            for dim in plan.ggmlDims { header.appendLE(UInt64(dim)) }
            header.appendLE(plan.type.rawValue)
            header.appendLE(UInt64(relative))
            offsets.append(relative)
            let (sum, overflow) = relative.addingReportingOverflow(Self.pad(bytes, alignment))
            guard !overflow else { throw GGUFError.invalidTensorPlan(name: plan.name, problem: "file size overflows") }
            relative = sum
        }
        header.append(contentsOf: repeatElement(0, count: Self.pad(header.count, alignment) - header.count))

        self.metadata = kvs
        self.tensors = tensors
        self.alignment = alignment
        headerBytes = header
        dataOffset = header.count
        tensorOffsets = offsets.map { $0 + header.count }
        tensorByteCounts = byteCounts
        fileSize = header.count + relative
    }

    /// Zero bytes to write after tensor `index` (gguf-py pads the last tensor too).
    public func padding(after index: Int) -> Int {
        Self.pad(tensorByteCounts[index], alignment) - tensorByteCounts[index]
    }

    /// `x` rounded up to a multiple of `alignment` (ggml's GGML_PAD).
    public static func pad(_ x: Int, _ alignment: Int) -> Int {
        (x + alignment - 1) / alignment * alignment
    }

    /// The checks ggml's reader applies to a tensor info, made before writing; returns the byte size.
    static func validate(_ plan: GGUFTensorPlan) throws -> Int {
        let name = plan.name
        guard !name.isEmpty, name.utf8.count <= maxTensorNameBytes else {
            throw GGUFError.invalidTensorPlan(name: name, problem: "name must be 1...\(maxTensorNameBytes) bytes")
        }
        guard (1 ... maxDimensions).contains(plan.shape.count) else {
            throw GGUFError.invalidTensorPlan(name: name, problem: "\(plan.shape.count) dimensions (1...4 allowed)")
        }
        guard plan.shape.allSatisfy({ $0 >= 0 }) else {
            throw GGUFError.invalidTensorPlan(name: name, problem: "negative dimension in \(plan.shape)")
        }
        let rowLength = plan.shape.last!
        guard rowLength % plan.type.blockSize == 0 else {
            throw GGUFError.invalidTensorPlan(name: name, problem: "row of \(rowLength) is not a multiple of \(plan.type.name)'s block of \(plan.type.blockSize)")
        }
        var elements = 1
        for dim in plan.shape {
            let (product, overflow) = elements.multipliedReportingOverflow(by: dim)
            guard !overflow else { throw GGUFError.invalidTensorPlan(name: name, problem: "element count of \(plan.shape) overflows") }
            elements = product
        }
        let (bytes, overflow) = (elements / plan.type.blockSize).multipliedReportingOverflow(by: plan.type.typeSize)
        guard !overflow else { throw GGUFError.invalidTensorPlan(name: name, problem: "byte size of \(plan.shape) overflows") }
        return bytes
    }
}
