import Foundation
import Testing
@testable import LlamaConvert

/// fixtures/llamacpp-quant/types.json: what llama.cpp's own `llama_model_quantize` wrote
/// (Scripts/make_llamacpp_quant_fixtures.py).
struct LlamaCppQuantReference: Decodable {
    struct Tensor: Decodable {
        let type: String
        let shape: [Int]
        let bytes: Int
        let crc32: UInt32
    }

    struct Output: Decodable {
        let fileType: Int
        let tensors: [String: Tensor]
        /// The committed file, when the output is small enough to commit.
        let file: String?
        enum CodingKeys: String, CodingKey { case fileType = "file_type", tensors, file }
    }

    struct Synthetic: Decodable {
        let layers: Int
        let dim: Int
        let ffn: Int
        let vocab: Int
        let nHead: Int
        let nKVHead: Int
        let q4KM: [String: String]
        let q5KM: [String: String]
        enum CodingKeys: String, CodingKey {
            case layers, dim, ffn, vocab, nHead = "n_head", nKVHead = "n_kv_head", q4KM = "Q4_K_M", q5KM = "Q5_K_M"
        }
    }

    let models: [String: [String: Output]]
    let legacy: [String: [String: [String: String]]]
    let synthetic: [String: Synthetic]

    static func load() throws -> LlamaCppQuantReference {
        let data = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("llamacpp-quant/types.json")))
        return try JSONDecoder().decode(LlamaCppQuantReference.self, from: data)
    }
}

/// A tensor known by its shape only: the planner reads shapes, never values.
final class ShapeOnlyTensor: TensorSource, @unchecked Sendable {
    let type: GGMLType = .f16
    let shape: [Int]
    var origin: String { "shape only" }
    init(_ shape: [Int]) { self.shape = shape }
    func readRows(_ rows: Range<Int>, into destination: UnsafeMutableRawBufferPointer) throws {
        throw ReadError.truncated(path: origin, offset: 0, needed: destination.count, remaining: 0)
    }
}

@Suite("Presets: q4/q5/q6 are llama.cpp's Q4_K_M/Q5_K_M/Q6_K, block for block")
struct PresetTests {
    static let presets: [(choice: QuantChoice, ftype: String)] = [(.q4, "Q4_K_M"), (.q5, "Q5_K_M"), (.q6, "Q6_K")]
    /// Every model fixture: llama.cpp quantized each one (Scripts/make_llamacpp_quant_fixtures.py).
    static let cases: [(String, String)] = ImporterFixtureTests.models.flatMap { model in
        presets.map { (model, $0.ftype) }
    }

    static func choice(_ ftype: String) -> QuantChoice {
        presets.first { $0.ftype == ftype }!.choice
    }

    @Test("each preset writes llama.cpp's type, general.file_type and bytes for every tensor, reports llama.cpp's fallbacks, and stays within each type's error bound",
          arguments: cases)
    func sameAsLlamaCpp(model: String, ftype: String) throws {
        let reference = try #require(try LlamaCppQuantReference.load().models[model]?[ftype])
        let tmp = TempFolder()
        let out = tmp.path + "/out.gguf"
        let graph = try ModelLoader.load(path: Fixtures.path(model))
        let report = try Converter.convert(graph, to: out, options: ConvertOptions(quant: Self.choice(ftype), threads: 2))
        let ours = try GGUFFile(path: out)
        #expect(ours.value(GGUFKeys.General.fileType)?.intValue == reference.fileType)
        #expect(Set(ours.tensors.map(\.name)) == Set(reference.tensors.keys))
        var typeAgreement = 0, byteAgreement = 0
        for info in ours.tensors {
            let expected = try #require(reference.tensors[info.name], "\(info.name)")
            let bytes = try ours.source(of: info).storedBytes()
            #expect(info.type.name == expected.type, "\(info.name)")
            #expect(info.shape == expected.shape, "\(info.name)")
            #expect(bytes.count == expected.bytes && CRC32.checksum(bytes) == expected.crc32, "\(info.name): bytes differ from llama.cpp's")
            if info.type.name == expected.type { typeAgreement += 1 }
            if bytes.count == expected.bytes && CRC32.checksum(bytes) == expected.crc32 { byteAgreement += 1 }
        }
        #expect(typeAgreement == reference.tensors.count && byteAgreement == reference.tensors.count)
        // Where llama.cpp's file is committed, compare byte for byte rather than by checksum.
        if let file = reference.file {
            let theirs = try GGUFFile(path: Fixtures.path("llamacpp-quant/" + file))
            #expect(theirs.value(GGUFKeys.General.fileType)?.intValue == reference.fileType)
            for info in theirs.tensors {
                let mine = try #require(ours.tensor(named: info.name), "\(info.name)")
                #expect(mine.type == info.type, "\(info.name)")
                #expect(try ours.source(of: mine).storedBytes() == theirs.source(of: info).storedBytes(), "\(info.name)")
            }
        }
        try Self.checkFallbacks(report, reference, graph: graph, model: model)
        try Self.checkError(graph, ours, label: "\(model) \(ftype)")
    }

    /// Dequantized values against the source's, per tensor, within the stored type's bound.
    static func checkError(_ source: WeightGraph, _ gguf: GGUFFile, label: String) throws {
        for tensor in source.tensors where tensor.source.shape.count == 2 {
            let info = try #require(gguf.tensor(named: tensor.name))
            let error = relativeRMS(try tensor.source.floats(), try gguf.source(of: info).floats())
            #expect(error <= QuantBound.relativeRMS(info.type), "\(label) \(tensor.name) \(info.type.name): \(error)")
            #expect(error > 0, "\(label) \(tensor.name): a lossy type reproduced its input exactly")
        }
    }

    /// llama.cpp's `tensor_type_fallback`, backwards: the K type a block-32 type stands in for.
    static func wantedBeforeFallback(_ used: String) -> String? {
        ["Q5_0": "Q4_K", "Q5_1": "Q5_K", "Q8_0": "Q6_K"][used]
    }

    /// The ConvertReport lists exactly the tensors llama.cpp fell back on, with both types.
    static func checkFallbacks(_ report: ConvertReport, _ reference: LlamaCppQuantReference.Output, graph: WeightGraph, model: String) throws {
        // A 2-D block tensor that llama.cpp stored as a block-32 type fell back (the mixes give
        // those tensors only K types); the output (or a tied token_embd) takes Q8_0 by the output
        // rule instead, while an untied token_embd falls back like any block tensor.
        var expected: [String: (wanted: String, used: String)] = [:]
        let untiedEmbedding = reference.tensors["output.weight"] != nil
        for (name, t) in reference.tensors
        where (name.hasPrefix("blk.") || (untiedEmbedding && name == "token_embd.weight")) && t.shape.count == 2 {
            if let wanted = Self.wantedBeforeFallback(t.type) { expected[name] = (wanted, t.type) }
        }
        #expect(report.fallbacks.count == expected.count)
        for f in report.fallbacks {
            let e = try #require(expected[f.tensor], "\(f.tensor) reported but llama.cpp kept \(reference.tensors[f.tensor]?.type ?? "?")")
            #expect(f.wanted == e.wanted && f.used == e.used, "\(f.tensor): \(f.wanted) → \(f.used)")
            #expect(f.rowLength == graph.tensors.first { $0.name == f.tensor }?.source.rowLength)
        }
        // llama.cpp warned "14 of 21 tensor(s) required fallback" on the 128-wide model, none on the 256-wide one.
        if model == "hf-mqa-f16-tied-rope31" || model == "hf-gqa-bf16-sharded" {
            #expect(report.fallbacks.count == (model == "hf-mqa-f16-tied-rope31" ? 14 : 0))
        }
    }

    @Test("the check_gguf.py expectation of a preset output covers K blocks: dequantized values and source floats",
          arguments: ["hf-gqa-bf16-sharded", "hf-mqa-f16-tied-rope31"])
    func expectation(model: String) throws {
        let tmp = TempFolder()
        let graph = try ModelLoader.load(path: Fixtures.path(model))
        let sources = Dictionary(uniqueKeysWithValues: graph.tensors.map { ($0.name, $0.source) })
        // For `python3 Scripts/check_gguf.py M.qN.gguf --expect M.qN.expect.json`, all three presets are
        // written and kept where the environment says; otherwise q4 alone is checked here.
        let keep = ProcessInfo.processInfo.environment["LLAMA_CONVERT_KEEP_PRESET"]
        for (choice, _) in keep == nil ? Array(Self.presets.prefix(1)) : Self.presets {
            let stem = "\(model).\(choice.baseType == .q4_K ? "q4" : choice.baseType == .q5_K ? "q5" : "q6")"
            let out = tmp.path + "/\(stem).gguf"
            _ = try Converter.convert(graph, to: out, options: ConvertOptions(quant: choice, threads: 2))
            let expectation = try ggufExpectation(gguf: out, sources: sources, sourceDump: tmp.path + "/\(stem).source.f32")
            let file = try GGUFFile(path: out)
            if choice == .q4 {
                #expect(Set(expectation.tensors.map(\.type)).isSuperset(of: model == "hf-gqa-bf16-sharded" ? ["Q4_K", "Q6_K"] : ["Q5_0", "Q8_0"]))
            }
            for (e, info) in zip(expectation.tensors, file.tensors) {
                let ours = try file.source(of: info).floats()
                #expect(e.dequant.crc32 == ours.withUnsafeBytes { CRC32.checksum($0) }, "\(info.name)")
                #expect(e.source?.count == ours.count, "\(info.name)")
            }
            if let keep {
                try expectation.write(to: tmp.path + "/\(stem).expect.json")
                try? FileManager.default.createDirectory(atPath: keep, withIntermediateDirectories: true)
                for name in ["\(stem).gguf", "\(stem).expect.json", "\(stem).source.f32"] {
                    try? FileManager.default.removeItem(atPath: keep + "/" + name)
                    try FileManager.default.copyItem(atPath: tmp.path + "/" + name, toPath: keep + "/" + name)
                }
            }
        }
    }

    /// The fixtures the llama.cpp comparison does not cover (it checks the error of the other two).
    static let otherFixtures = ImporterFixtureTests.models.filter { !["hf-gqa-bf16-sharded", "hf-mqa-f16-tied-rope31"].contains($0) }

    @Test("every preset stays within its type's relative RMS bound on the other fixtures", arguments: otherFixtures)
    func roundTripError(folder: String) throws {
        let tmp = TempFolder()
        let source = try ModelLoader.load(path: Fixtures.path(folder))
        for (choice, ftype) in Self.presets {
            let out = tmp.path + "/\(ftype).gguf"
            _ = try Converter.convert(source, to: out, options: ConvertOptions(quant: choice, threads: 2))
            try Self.checkError(source, try GGUFFile(path: out), label: "\(folder) \(ftype)")
        }
    }

    /// The canonical graph of a synthetic model, shapes only.
    static func syntheticGraph(_ s: LlamaCppQuantReference.Synthetic) -> WeightGraph {
        let c = ModelConfig(vocabSize: s.vocab, dim: s.dim, nLayers: s.layers, nHeads: s.nHead, nKVHeads: s.nKVHead,
                            headDim: s.dim / s.nHead, ffnDim: s.ffn, normEps: 1e-5, ropeTheta: 10000, ropeScaling: nil,
                            tiedEmbeddings: false, contextLength: 256)
        var tensors = [CanonicalTensor(role: .tokenEmbedding, layer: nil, source: ShapeOnlyTensor(GraphAssembly.expectedShape(.tokenEmbedding, c)))]
        for layer in 0 ..< c.nLayers {
            for role in TensorRole.layerRoles {
                tensors.append(CanonicalTensor(role: role, layer: layer, source: ShapeOnlyTensor(GraphAssembly.expectedShape(role, c))))
            }
        }
        for role in [TensorRole.outputNorm, .output] {
            tensors.append(CanonicalTensor(role: role, layer: nil, source: ShapeOnlyTensor(GraphAssembly.expectedShape(role, c))))
        }
        return WeightGraph(format: .gguf, path: "synthetic", config: c, tensors: tensors)
    }

    @Test("80 layers with GQA (llama.cpp's 70B) lift attn_v from Q4_K to Q5_K; 80 without GQA do not; as llama.cpp plans them",
          arguments: ["llama80-gqa", "llama80-mha"])
    func seventyB(model: String) throws {
        let s = try #require(try LlamaCppQuantReference.load().synthetic[model])
        let graph = Self.syntheticGraph(s)
        for (choice, theirs) in [(QuantChoice.q4, s.q4KM), (.q5, s.q5KM)] {
            let plans = QuantPlanner.plan(graph, choice)
            #expect(Set(plans.map(\.tensor.name)) == Set(theirs.keys))
            for plan in plans {
                #expect(plan.type.name == theirs[plan.tensor.name], "\(choice) \(plan.tensor.name)")
                #expect(plan.fallbackFrom == nil)
            }
            let attnV = plans.filter { $0.tensor.role == .attnV }.map(\.type)
            let lifted = attnV.filter { $0 == .q5_K }.count
            if choice == .q4 {
                // use_more_bits keeps 40 of 80 at Q6_K; the other 40 are Q4_K, or Q5_K on a 70B.
                #expect(attnV.filter { $0 == .q6_K }.count == 40)
                #expect(lifted == (s.nHead != s.nKVHead ? 40 : 0))
            }
        }
    }

    @Test("the 70B rule needs exactly 80 layers and fewer KV heads than query heads")
    func seventyBCondition() {
        func config(layers: Int, heads: Int, kv: Int) -> ModelConfig {
            ModelConfig(vocabSize: 256, dim: 256, nLayers: layers, nHeads: heads, nKVHeads: kv, headDim: 256 / heads, ffnDim: 256,
                        normEps: 1e-5, ropeTheta: 10000, ropeScaling: nil, tiedEmbeddings: false, contextLength: 256)
        }
        #expect(QuantPlanner.isSeventyB(config(layers: 80, heads: 64, kv: 8)))
        #expect(!QuantPlanner.isSeventyB(config(layers: 80, heads: 64, kv: 64)))
        #expect(!QuantPlanner.isSeventyB(config(layers: 32, heads: 32, kv: 8)))
        #expect(!QuantPlanner.isSeventyB(config(layers: 81, heads: 64, kv: 8)))
        // On a row that is not whole K blocks the lifted Q5_K falls back like any other, to Q5_1.
        let wanted = QuantPlanner.ruleType(.q4, role: .attnV, layer: 40, layers: 80, actsAsOutput: false, rowLength: 128, seventyB: true)
        #expect(wanted == .q5_K && QuantPlanner.fallback(for: wanted, rowLength: 128) == .q5_1)
        #expect(QuantPlanner.ruleType(.q4, role: .ffnDown, layer: 40, layers: 80, actsAsOutput: false, rowLength: 256, seventyB: true) == .q4_K)
        #expect(QuantPlanner.ruleType(.q6, role: .attnV, layer: 40, layers: 80, actsAsOutput: false, rowLength: 256, seventyB: true) == .q6_K)
        #expect(QuantPlanner.ruleType(.uniform(.q4_K), role: .attnV, layer: 40, layers: 80, actsAsOutput: false, rowLength: 256, seventyB: true) == .q4_K)
    }

    @Test("uniform q4_0/q4_1/q5_0/q5_1/q8_0 match llama.cpp's legacy mixes except the output projection, which llama.cpp lifts to Q6_K (Q8_0 on short rows)",
          arguments: ["hf-gqa-bf16-sharded", "hf-mqa-f16-tied-rope31"])
    func legacyMixes(model: String) throws {
        let legacy = try #require(try LlamaCppQuantReference.load().legacy[model])
        let graph = try ModelLoader.load(path: Fixtures.path(model))
        let outputName = graph.outputProjection!.name
        for (name, theirs) in legacy {
            let type = try #require(QuantChoice(name: name.lowercased()))
            var differing: [String: (ours: String, theirs: String)] = [:]
            for plan in QuantPlanner.plan(graph, type) where plan.type.name != theirs[plan.tensor.name] {
                differing[plan.tensor.name] = (plan.type.name, theirs[plan.tensor.name] ?? "absent")
            }
            if name == "Q8_0" {
                #expect(differing.isEmpty, "\(name): \(differing)")
            } else {
                // Our uniform choice is documented as one type for every 2-D weight.
                #expect(Array(differing.keys) == [outputName], "\(name): \(differing)")
                let rowLength = graph.outputProjection!.source.rowLength
                #expect(differing[outputName]?.theirs == (rowLength % 256 == 0 ? "Q6_K" : "Q8_0"))
                #expect(differing[outputName]?.ours == name)
            }
        }
    }
}

@Suite("Inspect: per-type counts and bits per weight of quantized GGUFs")
struct InspectTypesTests {
    @Test("inspect of llama.cpp's Q4_K_M/Q5_K_M/Q6_K files counts tensors per type and gives their bits per weight",
          arguments: PresetTests.cases.filter { $0.0 == "hf-gqa-bf16-sharded" && $0.1 == "Q4_K_M" || $0.0 == "hf-mqa-f16-tied-rope31" })
    func typeLine(model: String, ftype: String) throws {
        let reference = try #require(try LlamaCppQuantReference.load().models[model]?[ftype])
        let file = try #require(reference.file)
        let report = InspectReport(graph: try ModelLoader.load(path: Fixtures.path("llamacpp-quant/" + file)))
        var counts: [String: Int] = [:]
        for t in reference.tensors.values { counts[t.type, default: 0] += 1 }
        #expect(Dictionary(uniqueKeysWithValues: report.typeCounts.map { ($0.type, $0.count) }) == counts)
        #expect(report.typeCounts.map(\.count) == report.typeCounts.map(\.count).sorted(by: >))
        let line = "types      " + report.typeCounts.map { "\($0.type) ×\($0.count)" }.joined(separator: ", ")
        #expect(report.text.components(separatedBy: "\n").contains(line))
        // Bits per weight from llama.cpp's own byte counts: K blocks are 144/176/210 bytes per 256.
        let bytes = reference.tensors.values.reduce(0) { $0 + $1.bytes }
        let parameters = reference.tensors.values.reduce(0) { $0 + $1.shape.reduce(1, *) }
        #expect(report.totals.bytes == bytes && report.totals.parameters == parameters)
        #expect(abs(report.totals.bitsPerWeight - Double(bytes * 8) / Double(parameters)) < 1e-12)
        #expect(report.text.contains(String(format: "%.2f bits per weight", Double(bytes * 8) / Double(parameters))))
    }

    @Test("the hf-gqa Q4_K_M line reads Q4_K ×25, F32 ×9, Q6_K ×5 at 4.88 bits per weight")
    func knownLine() throws {
        let report = InspectReport(graph: try ModelLoader.load(path: Fixtures.path("llamacpp-quant/hf-gqa-bf16-sharded.Q4_K_M.gguf")))
        #expect(report.text.contains("types      Q4_K ×25, F32 ×9, Q6_K ×5"))
        #expect(report.text.contains("4.88 bits per weight"))
    }
}
