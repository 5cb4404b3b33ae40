/// The values the restricted pickle machine builds. Lists and dicts are reference types because
/// the memo shares them and SETITEM/APPEND mutate them in place, as in Python.
public indirect enum PickleValue: @unchecked Sendable {
    case none
    case bool(Bool)
    case int(Int)
    /// An integer wider than 64 bits (LONG1/LONG4 with more than 8 bytes); kept only as a marker.
    case bigInt(byteCount: Int)
    case float(Double)
    case string(String)
    case bytes([UInt8])
    case tuple([PickleValue])
    case list(PickleList)
    case dict(PickleDict)
    case global(PickleGlobal)
    /// The result of BINPERSID on a `('storage', …)` persistent id.
    case storage(PickleStorage)
    /// The result of `_rebuild_tensor_v2` / `_v3` (possibly wrapped in a Parameter).
    case tensor(PickleTensor)

    /// A short name of the kind, for error messages (never recursive: values may be cyclic).
    public var kind: String {
        switch self {
        case .none: return "None"
        case .bool: return "bool"
        case .int, .bigInt: return "int"
        case .float: return "float"
        case .string: return "str"
        case .bytes: return "bytes"
        case .tuple: return "tuple"
        case .list: return "list"
        case .dict: return "dict"
        case let .global(global): return "global \(global)"
        case .storage: return "storage"
        case .tensor: return "tensor"
        }
    }
}

public final class PickleList {
    public internal(set) var items: [PickleValue] = []
    init() {}
}

/// A dict or OrderedDict in insertion order. A repeated string key replaces the value in place
/// (Python semantics); other keys are kept as pairs.
public final class PickleDict {
    public internal(set) var entries: [(key: PickleValue, value: PickleValue)] = []
    private var stringKeys: [String: Int] = [:]
    init() {}

    func set(_ key: PickleValue, _ value: PickleValue) {
        if case let .string(text) = key {
            if let at = stringKeys[text] { entries[at].value = value; return }
            stringKeys[text] = entries.count
        }
        entries.append((key, value))
    }

    public subscript(key: String) -> PickleValue? { stringKeys[key].map { entries[$0].value } }
}

/// A storage named by a persistent id `('storage', storage_type, key, location, numel)`.
public struct PickleStorage: Sendable, Equatable {
    /// The element type of a legacy typed storage; nil for `UntypedStorage` (numel counts bytes).
    public let dtype: TorchDType?
    /// The record name under `<archive>/data/`.
    public let key: String
    public let location: String
    /// Elements of `dtype`, or bytes when untyped.
    public let numel: Int
}

/// A tensor as `_rebuild_tensor_v2/v3` describes it: a view of a storage. Offsets and strides are
/// in elements. Validation against the archive (record sizes, bounds) happens in TorchCheckpoint,
/// which knows the tensor's name.
public struct PickleTensor: Sendable, Equatable {
    public let storage: PickleStorage
    public let dtype: TorchDType?
    public let storageOffset: Int
    public let size: [Int]
    public let stride: [Int]
    /// Offset of the REDUCE that built it, for messages.
    public let pickleOffset: Int
}
