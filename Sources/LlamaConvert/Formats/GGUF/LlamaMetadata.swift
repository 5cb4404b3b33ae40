/// `general.file_type`: llama.cpp's `enum llama_ftype` (include/llama.h; gguf-py's `LlamaFileType`).
/// Only the values this project writes are listed; 4–6 and 33–35 are removed upstream.
public enum LlamaFileType: UInt32, CaseIterable, Sendable, Codable {
    case allF32 = 0
    case mostlyF16 = 1
    case mostlyQ4_0 = 2
    case mostlyQ4_1 = 3
    case mostlyQ8_0 = 7
    case mostlyQ5_0 = 8
    case mostlyQ5_1 = 9
    case mostlyQ4_K_S = 14
    case mostlyQ4_K_M = 15
    case mostlyQ5_K_S = 16
    case mostlyQ5_K_M = 17
    case mostlyQ6_K = 18
    case mostlyBF16 = 32
}

/// `general.quantization_version`: ggml's GGML_QNT_VERSION, written by convert and llama-quantize.
public let ggmlQuantizationVersion: UInt32 = 2

/// The metadata llama.cpp's arch `llama` loader reads, with exactly the GGUF types it checks
/// (`GGUFMeta::GKV::get_kv` throws "key X has wrong type" otherwise): UINT32 for every count,
/// FLOAT32 for the RoPE base and the RMS epsilon, STRING for architecture and name.
///
/// `llama.attention.key_length` / `value_length` are added only when the head size differs from
/// embedding_length / head_count, llama.cpp's default for them. Llama 3.1's `llama3` RoPE scaling
/// writes no `llama.rope.scaling.*` key at all: convert_hf_to_gguf's `LlamaModel` writes those keys
/// only for `rope_scaling.type == "linear"`, and carries llama3 scaling as the `rope_freqs.weight`
/// F32 tensor of divisors (`RopeScaling.divisors`), which llama.cpp applies whatever the scaling
/// type says. Tokenizer keys are added by the tokenizer code. `general.alignment` is added by
/// `GGUFLayout`. Counts are clamped to UInt32 (importers have already refused configs beyond it).
public func llamaMetadata(config: ModelConfig, name: String, fileType: UInt32) -> [(String, GGUFValue)] {
    var kv: [(String, GGUFValue)] = [
        (GGUFKeys.General.architecture, .string("llama")),
        (GGUFKeys.General.name, .string(name)),
        (GGUFKeys.Llama.blockCount, .uint32(UInt32(clamping: config.nLayers))),
        (GGUFKeys.Llama.contextLength, .uint32(UInt32(clamping: config.contextLength))),
        (GGUFKeys.Llama.embeddingLength, .uint32(UInt32(clamping: config.dim))),
        (GGUFKeys.Llama.feedForwardLength, .uint32(UInt32(clamping: config.ffnDim))),
        (GGUFKeys.Llama.Attention.headCount, .uint32(UInt32(clamping: config.nHeads))),
        (GGUFKeys.Llama.Attention.headCountKV, .uint32(UInt32(clamping: config.nKVHeads))),
        (GGUFKeys.Llama.Rope.freqBase, .float32(Float(config.ropeTheta))),
        (GGUFKeys.Llama.Attention.layerNormRMSEpsilon, .float32(Float(config.normEps))),
    ]
    if config.nHeads > 0, config.headDim * config.nHeads != config.dim {
        kv.append((GGUFKeys.Llama.Attention.keyLength, .uint32(UInt32(clamping: config.headDim))))
        kv.append((GGUFKeys.Llama.Attention.valueLength, .uint32(UInt32(clamping: config.headDim))))
    }
    kv += [
        (GGUFKeys.General.fileType, .uint32(fileType)),
        (GGUFKeys.Llama.vocabSize, .uint32(UInt32(clamping: config.vocabSize))),
        (GGUFKeys.Llama.Rope.dimensionCount, .uint32(UInt32(clamping: config.headDim))),
        (GGUFKeys.General.quantizationVersion, .uint32(ggmlQuantizationVersion)),
    ]
    return kv
}
