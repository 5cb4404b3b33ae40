/// The one table of tensor names. Every importer, the shard merge, the GGUF writer and `inspect`
/// read it; no other file spells a tensor name.
public enum TensorRole: String, CaseIterable, Sendable, Codable {
    case tokenEmbedding
    case attnNorm, attnQ, attnK, attnV, attnOutput
    case ffnNorm, ffnGate, ffnUp, ffnDown
    case outputNorm
    case output
    /// Llama 3.1 frequency divisors, derived from the config (never read from a source).
    case ropeFreqs

    public var isPerLayer: Bool {
        switch self {
        case .tokenEmbedding, .outputNorm, .output, .ropeFreqs: return false
        default: return true
        }
    }

    /// Canonical order of the per-layer roles inside a block (the order we write them).
    public static let layerRoles: [TensorRole] = [.attnNorm, .attnQ, .attnK, .attnV, .attnOutput,
                                                  .ffnNorm, .ffnGate, .ffnUp, .ffnDown]
}

/// How Meta's model-parallel shards split a tensor (fairscale's layer kinds).
public enum ShardAxis: Sendable {
    /// ColumnParallelLinear: rows split, concatenate on dim 0.
    case rows
    /// RowParallelLinear: columns split, concatenate on dim 1.
    case columns
    /// Replicated in every shard (1-D norms): take shard 0.
    case replicated
    /// The embedding: Llama 1/2 split columns, Llama 3 rows; decided from the shard shapes.
    case fromShapes
}

/// Which head count the RoPE row reorder of a tensor uses.
public enum RopeHeads: Sendable {
    case none, query, keyValue
}

public struct TensorNameRow: Sendable {
    public let role: TensorRole
    /// `{i}` stands for the layer number.
    public let hf: String?
    public let meta: String?
    public let gguf: String
    public let shardAxis: ShardAxis
    public let ropeHeads: RopeHeads
}

public enum TensorNames {
    public static let rows: [TensorNameRow] = [
        TensorNameRow(role: .tokenEmbedding, hf: "model.embed_tokens.weight", meta: "tok_embeddings.weight",
                      gguf: "token_embd.weight", shardAxis: .fromShapes, ropeHeads: .none),
        TensorNameRow(role: .attnNorm, hf: "model.layers.{i}.input_layernorm.weight", meta: "layers.{i}.attention_norm.weight",
                      gguf: "blk.{i}.attn_norm.weight", shardAxis: .replicated, ropeHeads: .none),
        TensorNameRow(role: .attnQ, hf: "model.layers.{i}.self_attn.q_proj.weight", meta: "layers.{i}.attention.wq.weight",
                      gguf: "blk.{i}.attn_q.weight", shardAxis: .rows, ropeHeads: .query),
        TensorNameRow(role: .attnK, hf: "model.layers.{i}.self_attn.k_proj.weight", meta: "layers.{i}.attention.wk.weight",
                      gguf: "blk.{i}.attn_k.weight", shardAxis: .rows, ropeHeads: .keyValue),
        TensorNameRow(role: .attnV, hf: "model.layers.{i}.self_attn.v_proj.weight", meta: "layers.{i}.attention.wv.weight",
                      gguf: "blk.{i}.attn_v.weight", shardAxis: .rows, ropeHeads: .none),
        TensorNameRow(role: .attnOutput, hf: "model.layers.{i}.self_attn.o_proj.weight", meta: "layers.{i}.attention.wo.weight",
                      gguf: "blk.{i}.attn_output.weight", shardAxis: .columns, ropeHeads: .none),
        TensorNameRow(role: .ffnNorm, hf: "model.layers.{i}.post_attention_layernorm.weight", meta: "layers.{i}.ffn_norm.weight",
                      gguf: "blk.{i}.ffn_norm.weight", shardAxis: .replicated, ropeHeads: .none),
        TensorNameRow(role: .ffnGate, hf: "model.layers.{i}.mlp.gate_proj.weight", meta: "layers.{i}.feed_forward.w1.weight",
                      gguf: "blk.{i}.ffn_gate.weight", shardAxis: .rows, ropeHeads: .none),
        TensorNameRow(role: .ffnUp, hf: "model.layers.{i}.mlp.up_proj.weight", meta: "layers.{i}.feed_forward.w3.weight",
                      gguf: "blk.{i}.ffn_up.weight", shardAxis: .rows, ropeHeads: .none),
        TensorNameRow(role: .ffnDown, hf: "model.layers.{i}.mlp.down_proj.weight", meta: "layers.{i}.feed_forward.w2.weight",
                      gguf: "blk.{i}.ffn_down.weight", shardAxis: .columns, ropeHeads: .none),
        TensorNameRow(role: .outputNorm, hf: "model.norm.weight", meta: "norm.weight",
                      gguf: "output_norm.weight", shardAxis: .replicated, ropeHeads: .none),
        TensorNameRow(role: .output, hf: "lm_head.weight", meta: "output.weight",
                      gguf: "output.weight", shardAxis: .rows, ropeHeads: .none),
        TensorNameRow(role: .ropeFreqs, hf: nil, meta: nil,
                      gguf: "rope_freqs.weight", shardAxis: .replicated, ropeHeads: .none),
    ]

    /// Source tensors that carry nothing a GGUF needs: RoPE buffers the code recomputes.
    public static let ignoredHF: [String] = ["model.layers.{i}.self_attn.rotary_emb.inv_freq"]
    public static let ignoredMeta: [String] = ["rope.freqs"]

    public static func row(_ role: TensorRole) -> TensorNameRow {
        rows.first { $0.role == role }!
    }

    public enum Spelling: Sendable { case hf, meta, gguf }

    static func template(_ row: TensorNameRow, _ spelling: Spelling) -> String? {
        switch spelling {
        case .hf: return row.hf
        case .meta: return row.meta
        case .gguf: return row.gguf
        }
    }

    /// The name of `role` (in layer `layer` for per-layer roles) in a spelling.
    public static func name(_ role: TensorRole, layer: Int? = nil, _ spelling: Spelling) -> String? {
        guard let template = template(row(role), spelling) else { return nil }
        return fill(template, layer: layer)
    }

    public static func gguf(_ role: TensorRole, layer: Int? = nil) -> String {
        name(role, layer: layer, .gguf)!
    }

    static func fill(_ template: String, layer: Int?) -> String {
        guard let layer else { return template }
        return template.replacingOccurrences(of: "{i}", with: String(layer))
    }

    /// Parses a source name into its role and layer; nil for names this table does not know.
    public static func parse(_ name: String, _ spelling: Spelling) -> (role: TensorRole, layer: Int?)? {
        for row in rows {
            guard let template = template(row, spelling) else { continue }
            if let layer = match(name, template) { return (row.role, layer == -1 ? nil : layer) }
        }
        return nil
    }

    /// Whether a source name is one of the known RoPE buffers to skip.
    public static func isIgnored(_ name: String, _ spelling: Spelling) -> Bool {
        let list = spelling == .hf ? ignoredHF : spelling == .meta ? ignoredMeta : []
        return list.contains { match(name, $0) != nil }
    }

    /// -1 for a match of a template without `{i}`, the layer for one with it, nil otherwise.
    static func match(_ name: String, _ template: String) -> Int? {
        guard let brace = template.range(of: "{i}") else { return name == template ? -1 : nil }
        let prefix = template[..<brace.lowerBound], suffix = template[brace.upperBound...]
        guard name.hasPrefix(prefix), name.hasSuffix(suffix), name.count > prefix.count + suffix.count else { return nil }
        let digits = name.dropFirst(prefix.count).dropLast(suffix.count)
        guard digits.allSatisfy(\.isASCII), digits.allSatisfy(\.isNumber), let layer = Int(digits),
              String(layer) == digits else { return nil }
        return layer
    }
}
