/// What `inspect` shows of a model; `--json` prints it as it is (keys are a stable interface).
public struct InspectReport: Codable, Sendable {
    public struct Tensor: Codable, Sendable {
        public let name: String
        public let dtype: String
        /// PyTorch order, rows first.
        public let shape: [Int]
        public let bytes: Int
        public let source: String
    }

    public struct Totals: Codable, Sendable {
        public let parameters: Int
        public let bytes: Int
        public let bitsPerWeight: Double
        enum CodingKeys: String, CodingKey { case parameters, bytes, bitsPerWeight = "bits_per_weight" }
    }

    public let format: String
    public let path: String
    public let config: ModelConfig
    public let tokenizerFiles: [String]
    /// The tokenizer a conversion would write; nil when there is none (or it does not load: a note says why).
    public let tokenizer: TokenizerSummary?
    public let tensors: [Tensor]
    public let totals: Totals
    public let notes: [String]

    enum CodingKeys: String, CodingKey {
        case format, path, config, tokenizerFiles = "tokenizer_files", tokenizer, tensors, totals, notes
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(format, forKey: .format); try c.encode(path, forKey: .path); try c.encode(config, forKey: .config)
        try c.encode(tokenizerFiles, forKey: .tokenizerFiles); try c.encode(tokenizer, forKey: .tokenizer)
        try c.encode(tensors, forKey: .tensors); try c.encode(totals, forKey: .totals); try c.encode(notes, forKey: .notes)
    }

    public init(graph: WeightGraph) {
        format = graph.format.rawValue
        path = graph.path
        config = graph.config
        tokenizerFiles = graph.tokenizerFiles
        tensors = graph.tensors.map {
            Tensor(name: $0.name, dtype: $0.source.type.name, shape: $0.source.shape, bytes: $0.source.byteCount, source: $0.source.origin)
        }
        let parameters = graph.parameterCount, bytes = graph.byteCount
        totals = Totals(parameters: parameters, bytes: bytes, bitsPerWeight: parameters > 0 ? Double(bytes * 8) / Double(parameters) : 0)
        var notes = graph.notes
        do {
            tokenizer = try TokenizerSelection.vocabulary(for: graph)?.1
        } catch {
            tokenizer = nil
            notes.append("tokenizer does not load: \(error)")
        }
        self.notes = notes
    }

    /// The human-readable form.
    public var text: String {
        var lines: [String] = []
        lines.append("format     \(format)")
        lines.append("path       \(path)")
        let c = config
        lines.append("config     vocab \(c.vocabSize), dim \(c.dim), layers \(c.nLayers), heads \(c.nHeads) (kv \(c.nKVHeads), head dim \(c.headDim)), ffn \(c.ffnDim)")
        var rope = "rope theta \(Self.number(c.ropeTheta))"
        if let s = c.ropeScaling {
            rope += ", llama3 scaling (factor \(Self.number(s.factor)), low \(Self.number(s.lowFreqFactor)), high \(Self.number(s.highFreqFactor)), original context \(s.originalContextLength))"
        }
        lines.append("           norm eps \(c.normEps), \(rope), context \(c.contextLength), tied embeddings \(c.tiedEmbeddings ? "yes" : "no")")
        if let tokenizer {
            lines.append("tokenizer  " + tokenizer.text)
        } else {
            lines.append("tokenizer  none" + (format == SourceFormat.gguf.rawValue ? " (no tokenizer.ggml.model key)" : ""))
        }
        if !tokenizerFiles.isEmpty {
            lines.append("           files: " + tokenizerFiles.map { ($0 as NSString).lastPathComponent }.joined(separator: ", "))
        }
        for note in notes { lines.append("note       \(note)") }
        lines.append("")
        let nameWidth = max(4, tensors.map(\.name.count).max() ?? 0)
        let shapeText = tensors.map { "[" + $0.shape.map(String.init).joined(separator: ", ") + "]" }
        let shapeWidth = max(5, shapeText.map(\.count).max() ?? 0)
        func pad(_ s: String, _ n: Int) -> String { s + String(repeating: " ", count: max(0, n - s.count)) }
        func padLeft(_ s: String, _ n: Int) -> String { String(repeating: " ", count: max(0, n - s.count)) + s }
        lines.append(pad("name", nameWidth) + "  " + pad("type", 5) + "  " + pad("shape", shapeWidth) + "  " + padLeft("bytes", 12) + "  source")
        let sourceRoot = (path as NSString).standardizingPath + "/"
        for (t, shape) in zip(tensors, shapeText) {
            let source = t.source.replacingOccurrences(of: sourceRoot, with: "")
            lines.append(pad(t.name, nameWidth) + "  " + pad(t.dtype, 5) + "  " + pad(shape, shapeWidth) + "  " + padLeft(String(t.bytes), 12) + "  " + source)
        }
        lines.append("")
        if !tensors.isEmpty {
            lines.append("types      " + typeCounts.map { "\($0.type) ×\($0.count)" }.joined(separator: ", "))
        }
        lines.append("total      \(totals.parameters) parameters, \(totals.bytes) bytes (\(Self.megabytes(totals.bytes))), \(String(format: "%.2f", totals.bitsPerWeight)) bits per weight")
        return lines.joined(separator: "\n")
    }

    /// How many tensors each stored type holds, most common first (ties by name).
    public var typeCounts: [(type: String, count: Int)] {
        var counts: [String: Int] = [:]
        for t in tensors { counts[t.dtype, default: 0] += 1 }
        return counts.map { (type: $0.key, count: $0.value) }.sorted { $0.count != $1.count ? $0.count > $1.count : $0.type < $1.type }
    }

    static func number(_ x: Double) -> String {
        x == x.rounded() && abs(x) < 1e15 ? String(Int(x)) : String(x)
    }

    static func megabytes(_ bytes: Int) -> String {
        String(format: "%.2f MB", Double(bytes) / 1e6)
    }
}

import Foundation
