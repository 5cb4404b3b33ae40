/// What is wrong with a torch checkpoint beyond its zip container and its pickle: the wrong kind
/// of file, missing records, and tensors that do not fit their storages. Every case names the file;
/// tensor cases also name the tensor.
public enum TorchError: Error, CustomStringConvertible, Equatable {
    /// A pre-1.6 `torch.save` stream (pickle magic number, or the older tar layout).
    case legacyFormat(path: String)
    /// Neither a zip archive nor a known torch layout.
    case notATorchFile(path: String, firstBytes: String)
    /// A TorchScript archive (`constants.pkl`), not a state dict.
    case torchScript(path: String)
    /// The entries are not all under one top folder (the archive name).
    case mixedArchiveFolders(path: String, entry: String, archive: String)
    /// A record the checkpoint refers to is absent.
    case missingRecord(path: String, record: String)
    /// `byteorder` says the data is not little-endian.
    case unsupportedByteOrder(path: String, byteOrder: String)
    /// The pickle's top-level object is not a dict of tensors.
    case notAStateDict(path: String, found: String)
    /// A tensor sits under a key that is not a string.
    case nonStringKey(path: String, key: String)
    /// A tensor whose dtype this project cannot convert (only F32, F16, BF16).
    case unsupportedDType(path: String, tensor: String, dtype: String)
    /// A storage record whose size is not `numel × element size`.
    case storageSizeMismatch(path: String, record: String, expected: Int, found: Int)
    /// Two tensors view one storage with different dtypes.
    case storageDTypeConflict(path: String, record: String, first: String, second: String)
    /// Size/stride/offset that are negative, of different ranks, or overflow.
    case badTensorGeometry(path: String, tensor: String, problem: String)
    /// The view reaches past the end of its storage.
    case viewOutOfBounds(path: String, tensor: String, needed: Int, available: Int)

    public var description: String {
        switch self {
        case let .legacyFormat(path):
            return "\(path): legacy (pre-1.6) torch serialization; re-save with torch >= 1.6"
        case let .notATorchFile(path, firstBytes):
            return "\(path): not a PyTorch zip checkpoint (first bytes \(firstBytes); expected PK\\3\\4)"
        case let .torchScript(path):
            return "\(path): a TorchScript archive (has constants.pkl), not a state dict saved with torch.save"
        case let .mixedArchiveFolders(path, entry, archive):
            return "\(path): entry \(entry) is not under the archive folder \(archive)/"
        case let .missingRecord(path, record):
            return "\(path): missing record \(record)"
        case let .unsupportedByteOrder(path, byteOrder):
            return "\(path): byteorder record says \(byteOrder); only little-endian checkpoints are supported"
        case let .notAStateDict(path, found):
            return "\(path): top-level object is \(found), not a dict of tensors"
        case let .nonStringKey(path, key):
            return "\(path): a tensor is stored under a \(key) key, not a string name"
        case let .unsupportedDType(path, tensor, dtype):
            return "\(path): unsupported dtype \(dtype) for tensor \(tensor) in \(path) (F32, F16 and BF16 are supported)"
        case let .storageSizeMismatch(path, record, expected, found):
            return "\(path): record \(record) holds \(found) bytes, its storage needs \(expected)"
        case let .storageDTypeConflict(path, record, first, second):
            return "\(path): storage \(record) is viewed as both \(first) and \(second)"
        case let .badTensorGeometry(path, tensor, problem):
            return "\(path): tensor \(tensor): \(problem)"
        case let .viewOutOfBounds(path, tensor, needed, available):
            return "\(path): tensor \(tensor) reaches element \(needed) of a storage of \(available) elements"
        }
    }
}
