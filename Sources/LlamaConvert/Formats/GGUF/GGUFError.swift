/// Errors reading or laying out a GGUF file. Reader cases carry the file and the offset of the
/// field at fault; layout cases (no file yet) name the key or tensor.
public enum GGUFError: Error, CustomStringConvertible, Equatable {
    // MARK: reading

    /// The file does not start with "GGUF".
    case badMagic(path: String, found: UInt32)
    /// Version 1 (32-bit counts), a byte-swapped file, or a version newer than 3.
    case unsupportedVersion(path: String, offset: Int, version: UInt32)
    /// Fewer bytes remain than a field needs.
    case truncated(path: String, offset: Int, needed: Int, remaining: Int)
    /// A string (key, value or tensor name) is not UTF-8.
    case invalidUTF8(path: String, offset: Int, what: String)
    /// A tensor or KV count, a string length or an array count cannot fit in the bytes that remain.
    case countTooLarge(path: String, offset: Int, what: String, count: UInt64, limit: Int)
    /// A value type id outside 0...12.
    case unknownValueType(path: String, offset: Int, raw: UInt32)
    /// Arrays nested deeper than `GGUFFile.maxArrayDepth`.
    case arrayTooDeep(path: String, offset: Int, depth: Int)
    /// A key of length 0.
    case emptyKey(path: String, offset: Int)
    /// A key that appeared before.
    case duplicateKey(path: String, offset: Int, key: String)
    /// `general.alignment` is not a non-zero power-of-two UINT32.
    case badAlignment(path: String, offset: Int, value: String)
    /// A tensor name that is empty or longer than ggml's 63 bytes.
    case badTensorName(path: String, offset: Int, name: String)
    /// A tensor name that appeared before.
    case duplicateTensor(path: String, offset: Int, name: String)
    /// A tensor with more than 4 dimensions.
    case tooManyDimensions(path: String, offset: Int, tensor: String, dimensions: UInt32)
    /// A dimension beyond Int64.max, or an element or byte count that overflows.
    case badDimensions(path: String, offset: Int, tensor: String, dims: [UInt64])
    /// A ggml type id this project does not know.
    case unknownTensorType(path: String, offset: Int, tensor: String, raw: UInt32)
    /// ne[0] is not a multiple of the type's block size.
    case rowNotWholeBlocks(path: String, offset: Int, tensor: String, rowLength: Int, type: GGMLType)
    /// A tensor's data offset is not a multiple of the alignment.
    case misalignedTensor(path: String, offset: Int, tensor: String, dataOffset: UInt64, alignment: Int)
    /// A tensor's bytes run past the end of the file.
    case tensorOutOfBounds(path: String, offset: Int, tensor: String, start: UInt64, byteCount: Int, fileSize: Int)
    /// Two tensors' byte ranges overlap.
    case overlappingTensors(path: String, tensor: String, other: String)

    // MARK: importing a llama model

    /// `general.architecture` is absent or not "llama".
    case notLlama(path: String, architecture: String?)
    /// A required key is absent or has a type that cannot hold its value.
    case badKey(path: String, key: String, problem: String)
    /// A tensor's type or shape is not what the metadata implies (rope_freqs), or a source handed to
    /// `ggufExpectation` does not match its tensor. Graph shapes are checked by GraphAssembly.
    case wrongShape(path: String, tensor: String, expected: [Int], found: [Int])

    // MARK: layout and writing

    /// The same key twice in the metadata handed to the writer.
    case duplicateKeyInLayout(key: String)
    /// The same tensor name twice in the plan.
    case duplicateTensorInLayout(name: String)
    /// An empty key or an array element whose type is not the array's element type.
    case invalidMetadata(key: String, problem: String)
    /// A planned tensor that ggml would refuse: bad name, 0 or more than 4 dims, negative dims,
    /// rows that are not whole blocks, or a byte size that overflows.
    case invalidTensorPlan(name: String, problem: String)
    /// The alignment is not a power of two of at least 8, or `general.alignment` conflicts with it.
    case invalidAlignment(Int)
    /// `writeGGUF` got a byte buffer of the wrong length for its tensor.
    case wrongTensorByteCount(name: String, expected: Int, found: Int)
    /// Creating, writing or renaming the output failed.
    case writeFailed(path: String, reason: String)

    public var description: String {
        switch self {
        case let .badMagic(path, found):
            return "\(path): offset 0: not a GGUF file (magic 0x\(String(found, radix: 16)), expected 0x46554747 \"GGUF\")"
        case let .unsupportedVersion(path, offset, version):
            if version & 0xFFFF == 0 {
                return "\(path): offset \(offset): version 0x\(String(version, radix: 16)) looks byte-swapped (big-endian GGUF is not supported)"
            }
            return "\(path): offset \(offset): unsupported GGUF version \(version) (2 and 3 are read)"
        case let .truncated(path, offset, needed, remaining):
            return "\(path): offset \(offset): truncated: needed \(needed) bytes, only \(remaining) remain"
        case let .invalidUTF8(path, offset, what):
            return "\(path): offset \(offset): \(what) is not valid UTF-8"
        case let .countTooLarge(path, offset, what, count, limit):
            return "\(path): offset \(offset): \(what) \(count) exceeds the limit \(limit) for the bytes that remain"
        case let .unknownValueType(path, offset, raw):
            return "\(path): offset \(offset): unknown metadata value type \(raw)"
        case let .arrayTooDeep(path, offset, depth):
            return "\(path): offset \(offset): arrays nested \(depth) deep (limit \(GGUFFile.maxArrayDepth))"
        case let .emptyKey(path, offset):
            return "\(path): offset \(offset): empty metadata key"
        case let .duplicateKey(path, offset, key):
            return "\(path): offset \(offset): duplicate metadata key '\(key)'"
        case let .badAlignment(path, offset, value):
            return "\(path): offset \(offset): general.alignment \(value) is not a non-zero power-of-two UINT32"
        case let .badTensorName(path, offset, name):
            return "\(path): offset \(offset): tensor name '\(name)' is empty or longer than 63 bytes"
        case let .duplicateTensor(path, offset, name):
            return "\(path): offset \(offset): duplicate tensor '\(name)'"
        case let .tooManyDimensions(path, offset, tensor, dimensions):
            return "\(path): offset \(offset): tensor '\(tensor)' has \(dimensions) dimensions (at most 4)"
        case let .badDimensions(path, offset, tensor, dims):
            return "\(path): offset \(offset): tensor '\(tensor)' dimensions \(dims) overflow"
        case let .unknownTensorType(path, offset, tensor, raw):
            return "\(path): offset \(offset): tensor '\(tensor)' has unknown or unsupported ggml type \(raw)"
        case let .rowNotWholeBlocks(path, offset, tensor, rowLength, type):
            return "\(path): offset \(offset): tensor '\(tensor)' row of \(rowLength) is not a multiple of \(type.name)'s block of \(type.blockSize)"
        case let .misalignedTensor(path, offset, tensor, dataOffset, alignment):
            return "\(path): offset \(offset): tensor '\(tensor)' data offset \(dataOffset) is not a multiple of \(alignment)"
        case let .tensorOutOfBounds(path, offset, tensor, start, byteCount, fileSize):
            return "\(path): offset \(offset): tensor '\(tensor)' data [\(start), +\(byteCount)) runs past the end of the file (\(fileSize) bytes)"
        case let .overlappingTensors(path, tensor, other):
            return "\(path): tensor '\(tensor)' overlaps tensor '\(other)'"
        case let .notLlama(path, architecture):
            return "\(path): general.architecture is \(architecture.map { "'\($0)'" } ?? "absent"), expected 'llama'"
        case let .badKey(path, key, problem):
            return "\(path): key \(key): \(problem)"
        case let .wrongShape(path, tensor, expected, found):
            return "\(path): tensor '\(tensor)' has shape \(found), expected \(expected)"
        case let .duplicateKeyInLayout(key):
            return "GGUF layout: duplicate metadata key '\(key)'"
        case let .duplicateTensorInLayout(name):
            return "GGUF layout: duplicate tensor '\(name)'"
        case let .invalidMetadata(key, problem):
            return "GGUF layout: key '\(key)': \(problem)"
        case let .invalidTensorPlan(name, problem):
            return "GGUF layout: tensor '\(name)': \(problem)"
        case let .invalidAlignment(alignment):
            return "GGUF layout: alignment \(alignment) is not a power of two ≥ 8 (or general.alignment disagrees)"
        case let .wrongTensorByteCount(name, expected, found):
            return "GGUF writer: tensor '\(name)': \(found) bytes given, its plan needs \(expected)"
        case let .writeFailed(path, reason):
            return "\(path): write failed: \(reason)"
        }
    }
}
