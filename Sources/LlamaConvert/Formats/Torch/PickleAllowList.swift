/// A torch element type as a checkpoint names it (`float32`, `bfloat16`, …), with the ggml type
/// it maps to when this project can read it (F32, F16, BF16 only).
public struct TorchDType: Sendable, Equatable, CustomStringConvertible {
    /// torch's name without the `torch.` prefix, e.g. `bfloat16`.
    public let name: String
    /// Bytes per element; nil for packed sub-byte types.
    public let elementSize: Int?
    /// The ggml type for the dtypes we convert; nil for the rest (refused per tensor, by name).
    public var ggmlType: GGMLType? {
        switch name {
        case "float32": return .f32
        case "float16": return .f16
        case "bfloat16": return .bf16
        default: return nil
        }
    }

    public var description: String { name }
}

/// The only globals a GLOBAL / STACK_GLOBAL may name. Each one is a pure data constructor that
/// the machine emulates (nothing from the pickle is ever looked up or called); any other name is
/// refused at the opcode that names it. Modelled on torch's `weights_only` unpickler
/// (`torch/_weights_only_unpickler.py`, `_get_allowed_globals`), reduced to what state dicts use.
public enum PickleGlobal: Sendable, Equatable {
    /// `torch._utils._rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks[, metadata])`.
    case rebuildTensorV2
    /// `torch._utils._rebuild_tensor_v3(…, dtype[, metadata])`: new dtypes on an UntypedStorage.
    case rebuildTensorV3
    /// `torch._utils._rebuild_parameter(data, requires_grad, hooks)`: an `nn.Parameter`; we keep `data`.
    case rebuildParameter
    /// `torch._utils._rebuild_parameter_with_state(data, requires_grad, hooks, state)`.
    case rebuildParameterWithState
    /// `torch._tensor._rebuild_from_type_v2(func, new_type, args, state)`: a tensor subclass; we apply `func` to `args`.
    case rebuildFromTypeV2
    /// `torch.Tensor` / `torch.nn.parameter.Parameter`: only as `new_type` of `_rebuild_from_type_v2`.
    case tensorClass(String)
    /// `collections.OrderedDict`: the container of `Module.state_dict()` (and empty backward hooks).
    case orderedDict
    /// `_codecs.encode(str, 'latin1')`: how protocol 2 pickles `bytes`.
    case codecsEncode
    /// A legacy typed storage class (`torch.FloatStorage`, …): persistent-id numel counts elements of `dtype`.
    case typedStorage(TorchDType)
    /// `torch.storage.UntypedStorage`: persistent-id numel counts bytes; the dtype comes from the rebuild call.
    case untypedStorage
    /// A dtype object such as `torch.bfloat16` (argument of `_rebuild_tensor_v3`).
    case dtype(TorchDType)

    /// Resolves `module.name`; nil means "refuse".
    public static func resolve(module: String, name: String) -> PickleGlobal? {
        // torch.load renames the module torch.tensor to torch._tensor (find_class in serialization.py).
        let module = module == "torch.tensor" ? "torch._tensor" : module
        switch (module, name) {
        case ("torch._utils", "_rebuild_tensor_v2"): return .rebuildTensorV2
        case ("torch._utils", "_rebuild_tensor_v3"): return .rebuildTensorV3
        case ("torch._utils", "_rebuild_parameter"): return .rebuildParameter
        case ("torch._utils", "_rebuild_parameter_with_state"): return .rebuildParameterWithState
        case ("torch._tensor", "_rebuild_from_type_v2"): return .rebuildFromTypeV2
        case ("torch", "Tensor"), ("torch.nn.parameter", "Parameter"): return .tensorClass(module + "." + name)
        case ("collections", "OrderedDict"): return .orderedDict
        case ("_codecs", "encode"): return .codecsEncode
        case ("torch.storage", "UntypedStorage"): return .untypedStorage
        case ("torch", _):
            if let dtype = legacyStorages[name] { return .typedStorage(dtype) }
            if let dtype = dtypes[name] { return .dtype(dtype) }
            return nil
        default: return nil
        }
    }

    /// `_dtype_to_storage_type_map` in torch/storage.py, inverted: class name → dtype.
    static let legacyStorages: [String: TorchDType] = [
        "FloatStorage": TorchDType(name: "float32", elementSize: 4),
        "HalfStorage": TorchDType(name: "float16", elementSize: 2),
        "BFloat16Storage": TorchDType(name: "bfloat16", elementSize: 2),
        "DoubleStorage": TorchDType(name: "float64", elementSize: 8),
        "LongStorage": TorchDType(name: "int64", elementSize: 8),
        "IntStorage": TorchDType(name: "int32", elementSize: 4),
        "ShortStorage": TorchDType(name: "int16", elementSize: 2),
        "CharStorage": TorchDType(name: "int8", elementSize: 1),
        "ByteStorage": TorchDType(name: "uint8", elementSize: 1),
        "BoolStorage": TorchDType(name: "bool", elementSize: 1),
        "ComplexFloatStorage": TorchDType(name: "complex64", elementSize: 8),
        "ComplexDoubleStorage": TorchDType(name: "complex128", elementSize: 16),
        "QInt8Storage": TorchDType(name: "qint8", elementSize: 1),
        "QUInt8Storage": TorchDType(name: "quint8", elementSize: 1),
        "QInt32Storage": TorchDType(name: "qint32", elementSize: 4),
        "QUInt4x2Storage": TorchDType(name: "quint4x2", elementSize: 1),
        "QUInt2x4Storage": TorchDType(name: "quint2x4", elementSize: 1),
    ]

    /// dtype objects (`torch.<name>`), canonical names and their aliases.
    static let dtypes: [String: TorchDType] = {
        let table: [(String, Int?, [String])] = [
            ("float32", 4, ["float"]), ("float16", 2, ["half"]), ("bfloat16", 2, []), ("float64", 8, ["double"]),
            ("int64", 8, ["long"]), ("int32", 4, ["int"]), ("int16", 2, ["short"]), ("int8", 1, []),
            ("uint8", 1, []), ("uint16", 2, []), ("uint32", 4, []), ("uint64", 8, []), ("bool", 1, []),
            ("complex32", 4, ["chalf"]), ("complex64", 8, ["cfloat"]), ("complex128", 16, ["cdouble"]),
            ("float8_e4m3fn", 1, []), ("float8_e5m2", 1, []), ("float8_e4m3fnuz", 1, []),
            ("float8_e5m2fnuz", 1, []), ("float8_e8m0fnu", 1, []), ("float4_e2m1fn_x2", 1, []),
        ]
        var map: [String: TorchDType] = [:]
        for (name, size, aliases) in table {
            let dtype = TorchDType(name: name, elementSize: size)
            map[name] = dtype
            for alias in aliases { map[alias] = dtype }
        }
        return map
    }()
}
