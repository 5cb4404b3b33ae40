/// Everything that can be wrong with a safetensors file, a shard index or a checkpoint folder.
///
/// The cases follow the order of the checks in `SafetensorsHeader.parse` (which mirrors
/// `SafeTensors::read_metadata` and `Metadata::validate` in huggingface/safetensors `tensor.rs`),
/// then the index and folder checks of `SafetensorsCheckpoint`. Each `description` is one line,
/// `FILE: offset N: problem` or `FILE: tensor T: problem`.
public enum SafetensorsError: Error, CustomStringConvertible, Equatable {
    // MARK: File framing (upstream `HeaderTooSmall`, `HeaderTooLarge`, `InvalidHeaderLength`)

    /// The file is shorter than the 8-byte header length.
    case fileTooSmall(path: String, size: Int)
    /// The header length exceeds `SafetensorsHeader.maxHeaderBytes` (100,000,000, as upstream).
    case headerTooLarge(path: String, length: UInt64, cap: Int)
    /// `8 + header length` is past the end of the file.
    case headerPastEnd(path: String, length: Int, fileSize: Int)

    // MARK: Header text (upstream `InvalidHeader`, `InvalidHeaderDeserialization`)

    /// The header bytes are not UTF-8; `offset` is the first bad byte.
    case headerNotUTF8(path: String, offset: Int)
    /// The header (or a shard index) is not well-formed JSON.
    case invalidJSON(path: String, offset: Int, problem: String)
    /// An object has the same key twice (upstream keeps the last; we refuse, see formats/safetensors.md).
    case duplicateKey(path: String, offset: Int, key: String)
    /// The header's JSON value is not an object.
    case headerNotObject(path: String, offset: Int, found: String)
    /// `__metadata__` is not an object of strings.
    case invalidMetadata(path: String, offset: Int, problem: String)

    // MARK: Tensor entries

    /// A tensor's value is not an object.
    case entryNotObject(path: String, tensor: String, found: String)
    /// A tensor entry lacks `dtype`, `shape` or `data_offsets`.
    case missingField(path: String, tensor: String, field: String)
    /// A field has the wrong type: dtype not a string, shape not non-negative integers,
    /// data_offsets not two non-negative integers.
    case invalidField(path: String, tensor: String, field: String, problem: String)
    /// The dtype string is not one safetensors defines (names are case-sensitive).
    case unknownDtype(path: String, tensor: String, dtype: String)
    /// `data_offsets` has begin > end.
    case reversedOffsets(path: String, tensor: String, begin: Int, end: Int)
    /// The element count or byte count overflows (upstream `ValidationOverflow`).
    case sizeOverflow(path: String, tensor: String, shape: [Int])
    /// A sub-byte dtype whose elements do not fill whole bytes (upstream `MisalignedSlice`).
    case misalignedSize(path: String, tensor: String, dtype: String, elements: Int)
    /// `end - begin` differs from elements × element size (upstream `TensorInvalidInfo`).
    case byteCountMismatch(path: String, tensor: String, expected: Int, found: Int)

    // MARK: Layout of the data section (upstream `InvalidOffset`, `MetadataIncompleteBuffer`)

    /// In offset order, a tensor does not start where the previous one ended (0 for the first):
    /// a gap when `found > expected`, an overlap when `found < expected`.
    case offsetMismatch(path: String, tensor: String, expected: Int, found: Int)
    /// The tensors do not end exactly at the end of the file: trailing bytes, or data past the end.
    /// `offset` is the file offset where the data section ends according to the header.
    case dataSizeMismatch(path: String, offset: Int, dataBytes: Int, fileDataBytes: Int)

    // MARK: Types llama-convert reads

    /// A valid safetensors dtype that llama-convert does not convert (only F32, F16, BF16).
    case unsupportedDtype(path: String, tensor: String, dtype: String)

    // MARK: Shard index (`model.safetensors.index.json`) and folders

    /// The index JSON is well-formed but not `{"weight_map": {name: shard file}, ...}`.
    case invalidIndex(path: String, offset: Int, problem: String)
    /// A shard file the index names does not exist.
    case shardMissing(path: String, shard: String, tensors: Int)
    /// The index maps a tensor to a shard that does not contain it.
    case tensorMissingFromShard(path: String, tensor: String, shard: String)
    /// Two shard files both contain a tensor.
    case tensorInTwoShards(path: String, tensor: String, first: String, second: String)
    /// A shard contains a tensor the index does not list.
    case tensorNotInIndex(path: String, tensor: String, shard: String)
    /// A folder holds several .safetensors files but no index to say how they fit together.
    case ambiguousFolder(path: String, files: [String])

    public var description: String {
        switch self {
        case let .fileTooSmall(path, size):
            return "\(path): offset 0: file is \(size) bytes, shorter than the 8-byte header length"
        case let .headerTooLarge(path, length, cap):
            return "\(path): offset 0: header length \(length) exceeds the cap of \(cap) bytes"
        case let .headerPastEnd(path, length, fileSize):
            return "\(path): offset 0: header length \(length) runs past the end of the file (\(fileSize) bytes)"
        case let .headerNotUTF8(path, offset):
            return "\(path): offset \(offset): header is not valid UTF-8"
        case let .invalidJSON(path, offset, problem):
            return "\(path): offset \(offset): invalid JSON: \(problem)"
        case let .duplicateKey(path, offset, key):
            return "\(path): offset \(offset): duplicate key \(Self.quoted(key))"
        case let .headerNotObject(path, offset, found):
            return "\(path): offset \(offset): header is \(found), expected a JSON object"
        case let .invalidMetadata(path, offset, problem):
            return "\(path): offset \(offset): __metadata__ \(problem)"
        case let .entryNotObject(path, tensor, found):
            return "\(path): tensor \(Self.quoted(tensor)): entry is \(found), expected an object"
        case let .missingField(path, tensor, field):
            return "\(path): tensor \(Self.quoted(tensor)): missing field \(field)"
        case let .invalidField(path, tensor, field, problem):
            return "\(path): tensor \(Self.quoted(tensor)): \(field) \(problem)"
        case let .unknownDtype(path, tensor, dtype):
            return "\(path): tensor \(Self.quoted(tensor)): unknown dtype \(Self.quoted(dtype))"
        case let .reversedOffsets(path, tensor, begin, end):
            return "\(path): tensor \(Self.quoted(tensor)): data_offsets [\(begin), \(end)] end before they begin"
        case let .sizeOverflow(path, tensor, shape):
            return "\(path): tensor \(Self.quoted(tensor)): size of shape \(shape) overflows"
        case let .misalignedSize(path, tensor, dtype, elements):
            return "\(path): tensor \(Self.quoted(tensor)): \(elements) elements of \(dtype) do not fill whole bytes"
        case let .byteCountMismatch(path, tensor, expected, found):
            return "\(path): tensor \(Self.quoted(tensor)): data_offsets span \(found) bytes, dtype and shape need \(expected)"
        case let .offsetMismatch(path, tensor, expected, found):
            let kind = found > expected ? "gap of \(found - expected) bytes" : "overlap of \(expected - found) bytes"
            return "\(path): tensor \(Self.quoted(tensor)): data starts at \(found), expected \(expected) (\(kind))"
        case let .dataSizeMismatch(path, offset, dataBytes, fileDataBytes):
            if dataBytes < fileDataBytes {
                return "\(path): offset \(offset): \(fileDataBytes - dataBytes) trailing bytes after the last tensor"
            }
            return "\(path): offset \(offset): tensors need \(dataBytes) data bytes, the file has \(fileDataBytes)"
        case let .unsupportedDtype(path, tensor, dtype):
            return "\(path): tensor \(Self.quoted(tensor)): unsupported dtype \(dtype) (llama-convert reads F32, F16 and BF16)"
        case let .invalidIndex(path, offset, problem):
            return "\(path): offset \(offset): \(problem)"
        case let .shardMissing(path, shard, tensors):
            return "\(path): shard \(Self.quoted(shard)): does not exist (the index names it for \(tensors) tensors)"
        case let .tensorMissingFromShard(path, tensor, shard):
            return "\(path): tensor \(Self.quoted(tensor)): not found in shard \(Self.quoted(shard)) that the index names"
        case let .tensorInTwoShards(path, tensor, first, second):
            return "\(path): tensor \(Self.quoted(tensor)): found in two shards, \(Self.quoted(first)) and \(Self.quoted(second))"
        case let .tensorNotInIndex(path, tensor, shard):
            return "\(path): tensor \(Self.quoted(tensor)): in shard \(Self.quoted(shard)) but not listed in the index"
        case let .ambiguousFolder(path, files):
            return "\(path): \(files.count) .safetensors files and no \(ShardIndex.fileName): \(files.joined(separator: ", "))"
        }
    }
}

extension SafetensorsError {
    /// A name from a file, quoted and with control characters escaped so a description stays one line.
    static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F || (0x80 ..< 0xA0).contains(scalar.value)
                || scalar.value == 0x2028 || scalar.value == 0x2029:
                out += "\\u{" + String(scalar.value, radix: 16) + "}"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
