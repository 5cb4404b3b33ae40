/// What the user asked `--quant` for: one ggml type for every 2-D weight, or a named preset.
public enum QuantChoice: Sendable, Equatable, CustomStringConvertible {
    case uniform(GGMLType)
    /// `q8`: Q8_0 everywhere (llama.cpp's Q8_0 mix).
    case q8
    /// `q4`: llama.cpp's Q4_K_M mix.
    case q4
    /// `q5`: llama.cpp's Q5_K_M mix.
    case q5
    /// `q6`: llama.cpp's Q6_K mix.
    case q6

    static let uniformTypes: [GGMLType] = [.f32, .f16, .bf16, .q8_0, .q4_0, .q4_1, .q5_0, .q5_1, .q4_K, .q5_K, .q6_K]
    public static let validNames = uniformTypes.map { $0.name.lowercased() } + ["q8", "q4", "q5", "q6"]

    public init?(name: String) {
        switch name.lowercased() {
        case "q8": self = .q8
        case "q4": self = .q4
        case "q5": self = .q5
        case "q6": self = .q6
        default:
            guard let type = QuantChoice.uniformTypes.first(where: { $0.name.lowercased() == name.lowercased() }) else { return nil }
            self = .uniform(type)
        }
    }

    public var description: String {
        switch self {
        case let .uniform(type): return type.name.lowercased()
        case .q8: return "q8 (Q8_0)"
        case .q4: return "q4 (Q4_K_M)"
        case .q5: return "q5 (Q5_K_M)"
        case .q6: return "q6 (Q6_K)"
        }
    }

    /// The type for 2-D weights that no rule singles out.
    var baseType: GGMLType {
        switch self {
        case let .uniform(type): return type
        case .q8: return .q8_0
        case .q4: return .q4_K
        case .q5: return .q5_K
        case .q6: return .q6_K
        }
    }

    /// `general.file_type`: llama.cpp's `llama_ftype` for the choice.
    public var fileType: LlamaFileType {
        switch self {
        case .q4: return .mostlyQ4_K_M
        case .q5: return .mostlyQ5_K_M
        case .q6: return .mostlyQ6_K
        case .q8: return .mostlyQ8_0
        case let .uniform(type):
            switch type {
            case .f32: return .allF32
            case .f16: return .mostlyF16
            case .bf16: return .mostlyBF16
            case .q8_0: return .mostlyQ8_0
            case .q4_0: return .mostlyQ4_0
            case .q4_1: return .mostlyQ4_1
            case .q5_0: return .mostlyQ5_0
            case .q5_1: return .mostlyQ5_1
            case .q4_K: return .mostlyQ4_K_M
            case .q5_K: return .mostlyQ5_K_M
            default: return .mostlyQ6_K
            }
        }
    }
}

/// The type each tensor is written as, and why when it is not the one asked for.
public struct TensorPlan: Sendable {
    public let tensor: CanonicalTensor
    public let type: GGMLType
    /// The type the rules wanted, when a row that is not a whole number of blocks forced another.
    public let fallbackFrom: GGMLType?
}

/// llama.cpp's type selection (`src/llama-quant.cpp`) for a dense Llama without an imatrix.
public enum QuantPlanner {
    public static func plan(_ graph: WeightGraph, _ choice: QuantChoice) -> [TensorPlan] {
        let layers = graph.config.nLayers
        let hasOutput = graph.tensor(.output) != nil
        let seventyB = isSeventyB(graph.config)
        return graph.tensors.map { tensor in
            // Norms and the RoPE divisors stay F32: llama.cpp quantizes only 2-D weights.
            guard tensor.source.shape.count >= 2 else { return TensorPlan(tensor: tensor, type: .f32, fallbackFrom: nil) }
            let actsAsOutput = tensor.role == .output || (tensor.role == .tokenEmbedding && !hasOutput)
            let wanted = ruleType(choice, role: tensor.role, layer: tensor.layer ?? 0, layers: layers,
                                  actsAsOutput: actsAsOutput, rowLength: tensor.source.rowLength, seventyB: seventyB)
            let length = tensor.source.rowLength
            if length % wanted.blockSize == 0 { return TensorPlan(tensor: tensor, type: wanted, fallbackFrom: nil) }
            return TensorPlan(tensor: tensor, type: fallback(for: wanted, rowLength: length), fallbackFrom: wanted)
        }
    }

    /// The type llama.cpp's mix rules give a tensor before the fallback for short rows.
    static func ruleType(_ choice: QuantChoice, role: TensorRole, layer: Int, layers: Int,
                         actsAsOutput: Bool, rowLength: Int, seventyB: Bool = false) -> GGMLType {
        let base = choice.baseType
        switch choice {
        case .uniform, .q8:
            return base
        case .q4, .q5, .q6:
            if actsAsOutput {
                // The output takes Q6_K, or Q8_0 when its rows do not fit the mix's block.
                return rowLength % base.blockSize == 0 ? .q6_K : .q8_0
            }
            if choice == .q6 { return .q6_K }
            if role == .attnV {
                let type: GGMLType = useMoreBits(layer, layers) ? .q6_K : base
                // A 70B's attn_v is 8× smaller than attn_q (8 query heads per KV head): a few more bits
                // cost almost nothing, so llama.cpp lifts Q3_K and Q4_K to Q5_K there.
                return seventyB && (type == .q3_K || type == .q4_K) ? .q5_K : type
            }
            if role == .ffnDown {
                return useMoreBits(layer, layers) ? .q6_K : base
            }
            return base
        }
    }

    /// llama.cpp's `LLM_TYPE_70B` for arch `llama` (src/models/llama.cpp): 80 layers with grouped-query
    /// attention (80 layers without it is a 65B, which keeps the ordinary rules).
    static func isSeventyB(_ config: ModelConfig) -> Bool {
        config.nLayers == 80 && config.nHeads != config.nKVHeads
    }

    /// llama.cpp's `use_more_bits`: the first and last eighth of the layers and every third between.
    static func useMoreBits(_ i: Int, _ n: Int) -> Bool {
        i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2
    }

    /// llama.cpp's `tensor_type_fallback` for rows that are not a whole number of K blocks, with
    /// F16 as the last resort (and for the 32-weight types, where llama.cpp has none).
    static func fallback(for type: GGMLType, rowLength: Int) -> GGMLType {
        let next: GGMLType
        switch type {
        case .q4_K: next = .q5_0
        case .q5_K: next = .q5_1
        case .q6_K: next = .q8_0
        default: return .f16
        }
        return rowLength % next.blockSize == 0 ? next : .f16
    }
}
