/// Every metadata key this project reads or writes, each spelled once (as gguf-py's `Keys` does).
/// Names from ggml-org/llama.cpp `src/llama-arch.cpp` (`LLM_KV_NAMES`) and
/// `gguf-py/gguf/constants.py`; the `llama.` prefix is the architecture name.
public enum GGUFKeys {
    public enum General {
        public static let architecture = "general.architecture"
        public static let name = "general.name"
        public static let fileType = "general.file_type"
        public static let quantizationVersion = "general.quantization_version"
        public static let alignment = "general.alignment"
    }

    public enum Llama {
        public static let contextLength = "llama.context_length"
        public static let embeddingLength = "llama.embedding_length"
        public static let blockCount = "llama.block_count"
        public static let feedForwardLength = "llama.feed_forward_length"
        public static let vocabSize = "llama.vocab_size"

        public enum Attention {
            public static let headCount = "llama.attention.head_count"
            public static let headCountKV = "llama.attention.head_count_kv"
            public static let layerNormRMSEpsilon = "llama.attention.layer_norm_rms_epsilon"
            /// Per-head key and value widths; written only when the head size is not
            /// embedding_length / head_count (llama.cpp's default).
            public static let keyLength = "llama.attention.key_length"
            public static let valueLength = "llama.attention.value_length"
        }

        public enum Rope {
            public static let dimensionCount = "llama.rope.dimension_count"
            public static let freqBase = "llama.rope.freq_base"
            /// Linear/YaRN scaling only; Llama 3.1's `llama3` scaling is the `rope_freqs.weight` tensor.
            public static let scalingType = "llama.rope.scaling.type"
            public static let scalingFactor = "llama.rope.scaling.factor"
            public static let scalingOriginalContextLength = "llama.rope.scaling.original_context_length"
        }
    }

    public enum Tokenizer {
        public static let model = "tokenizer.ggml.model"
        public static let pre = "tokenizer.ggml.pre"
        public static let tokens = "tokenizer.ggml.tokens"
        public static let scores = "tokenizer.ggml.scores"
        public static let tokenType = "tokenizer.ggml.token_type"
        public static let merges = "tokenizer.ggml.merges"
        public static let bosTokenID = "tokenizer.ggml.bos_token_id"
        public static let eosTokenID = "tokenizer.ggml.eos_token_id"
        public static let unknownTokenID = "tokenizer.ggml.unknown_token_id"
        public static let paddingTokenID = "tokenizer.ggml.padding_token_id"
        public static let eotTokenID = "tokenizer.ggml.eot_token_id"
        public static let eomTokenID = "tokenizer.ggml.eom_token_id"
        /// Spelled this way upstream.
        public static let separatorTokenID = "tokenizer.ggml.seperator_token_id"
        public static let addBOSToken = "tokenizer.ggml.add_bos_token"
        public static let addEOSToken = "tokenizer.ggml.add_eos_token"
        public static let addSpacePrefix = "tokenizer.ggml.add_space_prefix"
        public static let chatTemplate = "tokenizer.chat_template"
    }
}
