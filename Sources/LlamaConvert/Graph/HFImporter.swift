/// Builds the canonical graph from Hugging Face tensors and `config.json`.
public enum HFImporter {
    /// `tensors` are named as in the safetensors files.
    public static func build(path: String, hf: HFConfig, tensors: [(name: String, source: any TensorSource)],
                             tokenizerFiles: [String] = []) throws -> WeightGraph {
        var config = hf.config
        var found: [TensorKey: any TensorSource] = [:]
        var names: [TensorKey: String] = [:]
        var notes: [String] = []
        for (rawName, source) in tensors {
            // `LlamaModel` checkpoints drop the `model.` prefix that the name table spells.
            let name = hf.isBareModel && !rawName.hasPrefix("model.") ? "model." + rawName : rawName
            if TensorNames.isIgnored(name, .hf) {
                notes.append("ignored \(rawName) (RoPE buffer, recomputed)")
                continue
            }
            guard let (role, layer) = TensorNames.parse(name, .hf), role != .ropeFreqs else {
                throw ConfigError.unexpectedTensor(path: path, tensor: rawName)
            }
            let key = TensorKey(role: role, layer: layer)
            guard found[key] == nil else {
                throw ConfigError.inconsistentShards(path: path, tensor: rawName, problem: "appears twice")
            }
            found[key] = source
            names[key] = rawName
        }
        // A tied model may still carry lm_head; llama.cpp then reads token_embd for both.
        if config.tiedEmbeddings, found.removeValue(forKey: TensorKey(role: .output, layer: nil)) != nil {
            notes.append("dropped lm_head.weight: tie_word_embeddings is true")
        }
        if !config.tiedEmbeddings, found[TensorKey(role: .output, layer: nil)] == nil,
           found[TensorKey(role: .tokenEmbedding, layer: nil)] != nil {
            notes.append("no lm_head.weight: treating the embedding as tied")
            config.tiedEmbeddings = true
        }
        for layer in 0 ..< config.nLayers {
            for (role, heads) in [(TensorRole.attnQ, config.nHeads), (.attnK, config.nKVHeads)] {
                let key = TensorKey(role: role, layer: layer)
                if let source = found[key] {
                    found[key] = try GraphAssembly.interleaved(source, heads: heads, path: path, tensor: names[key]!)
                }
            }
        }
        let ordered = try GraphAssembly.assemble(path: path, config: config, found: found) {
            names[$0] ?? TensorNames.name($0.role, layer: $0.layer, .hf) ?? TensorNames.gguf($0.role, layer: $0.layer)
        }
        return WeightGraph(format: .safetensors, path: path, config: config, tensors: ordered,
                           tokenizerFiles: tokenizerFiles, notes: notes)
    }
}
