import Foundation
import Testing
@testable import LlamaConvert

/// A small llama model written as GGUF by our own writer, with the source floats kept.
struct LlamaSample {
    static let types: [GGMLType] = [.q8_0, .q4_0, .q4_1, .q5_0, .q5_1, .f16, .bf16, .f32]

    let config: ModelConfig
    let metadata: [(String, GGUFValue)]
    let sources: [String: OwnedTensor]
    let tensors: [(plan: GGUFTensorPlan, bytes: [UInt8])]

    static func gqaConfig(tied: Bool = false, headDim: Int = 16, scaling: RopeScaling? = .metaLlama31) -> ModelConfig {
        ModelConfig(vocabSize: 40, dim: 64, nLayers: 2, nHeads: 4, nKVHeads: 2, headDim: headDim, ffnDim: 96, normEps: 1e-5,
                    ropeTheta: 500_000, ropeScaling: scaling, tiedEmbeddings: tied, contextLength: 256)
    }

    init(config: ModelConfig, seed: UInt64 = 1) throws {
        self.config = config
        metadata = llamaMetadata(config: config, name: "sample", fileType: LlamaFileType.mostlyQ8_0.rawValue)
        var rng = SplitMix(seed: seed)
        var roles: [(TensorRole, Int?)] = config.ropeScaling == nil ? [] : [(.ropeFreqs, nil)]
        roles.append((.tokenEmbedding, nil))
        for layer in 0 ..< config.nLayers { roles += TensorRole.layerRoles.map { ($0, layer) } }
        roles.append((.outputNorm, nil))
        if !config.tiedEmbeddings { roles.append((.output, nil)) }
        var sources: [String: OwnedTensor] = [:]
        var tensors: [(plan: GGUFTensorPlan, bytes: [UInt8])] = []
        for (i, (role, layer)) in roles.enumerated() {
            let name = TensorNames.gguf(role, layer: layer)
            if role == .ropeFreqs, let scaling = config.ropeScaling {
                // convert_hf_to_gguf emits rope_freqs first (generate_extra_tensors).
                let divisors = scaling.divisors(headDim: config.headDim, theta: config.ropeTheta)
                sources[name] = OwnedTensor(floats: divisors, shape: [divisors.count])
                tensors.append((GGUFTensorPlan(name: name, type: .f32, shape: [divisors.count]), try Self.encode(divisors, type: .f32, rowLength: divisors.count)))
                continue
            }
            let shape = GraphAssembly.expectedShape(role, config)
            let count = shape.reduce(1, *)
            let floats = shape.count == 1 ? (0 ..< count).map { _ in 1 + rng.normal() * 0.1 } : (0 ..< count).map { _ in rng.normal() * 0.02 }
            let type = shape.count == 1 ? GGMLType.f32 : Self.types[i % Self.types.count]
            sources[name] = OwnedTensor(floats: floats, shape: shape)
            tensors.append((GGUFTensorPlan(name: name, type: type, shape: shape), try Self.encode(floats, type: type, rowLength: shape.last!)))
        }
        self.sources = sources
        self.tensors = tensors
    }

    static func encode(_ floats: [Float], type: GGMLType, rowLength: Int) throws -> [UInt8] {
        let rowBytes = type.rowBytes(rowLength)!
        var out = [UInt8](repeating: 0, count: floats.count / rowLength * rowBytes)
        try floats.withUnsafeBufferPointer { src in
            try out.withUnsafeMutableBytes { dst in
                for r in 0 ..< floats.count / rowLength {
                    try RowCodec.quantizeRow(type: type, source: src.baseAddress! + r * rowLength, count: rowLength,
                                             into: dst.baseAddress! + r * rowBytes)
                }
            }
        }
        return out
    }

    func write(to path: String, metadata override: [(String, GGUFValue)]? = nil, dropping: Set<String> = []) throws {
        try writeGGUF(path: path, metadata: override ?? metadata, tensors: tensors.filter { !dropping.contains($0.plan.name) })
    }
}

@Suite("GGUF llama metadata and import")
struct GGUFImporterTests {
    @Test("llama metadata uses exactly the GGUF types llama.cpp checks")
    func metadataTypes() {
        let kv = llamaMetadata(config: LlamaSample.gqaConfig(), name: "m", fileType: LlamaFileType.mostlyQ4_0.rawValue)
        let types = Dictionary(uniqueKeysWithValues: kv.map { ($0.0, $0.1.type) })
        let expected: [String: GGUFValueType] = [
            GGUFKeys.General.architecture: .string, GGUFKeys.General.name: .string, GGUFKeys.General.fileType: .uint32,
            GGUFKeys.General.quantizationVersion: .uint32, GGUFKeys.Llama.contextLength: .uint32,
            GGUFKeys.Llama.embeddingLength: .uint32, GGUFKeys.Llama.blockCount: .uint32, GGUFKeys.Llama.feedForwardLength: .uint32,
            GGUFKeys.Llama.Attention.headCount: .uint32, GGUFKeys.Llama.Attention.headCountKV: .uint32,
            GGUFKeys.Llama.Rope.dimensionCount: .uint32, GGUFKeys.Llama.Rope.freqBase: .float32,
            GGUFKeys.Llama.Attention.layerNormRMSEpsilon: .float32, GGUFKeys.Llama.vocabSize: .uint32,
        ]
        #expect(types == expected)
        let values = Dictionary(uniqueKeysWithValues: kv)
        #expect(values[GGUFKeys.General.fileType] == .uint32(2))
        #expect(values[GGUFKeys.General.quantizationVersion] == .uint32(2))
        #expect(values[GGUFKeys.Llama.Rope.dimensionCount] == .uint32(16))
        #expect(values[GGUFKeys.Llama.Rope.freqBase] == .float32(500_000))
        #expect(!kv.contains { $0.0.hasPrefix("llama.rope.scaling") }, "llama3 scaling is the rope_freqs tensor, never keys")
    }

    @Test("llama_ftype values match include/llama.h")
    func fileTypes() {
        let expected: [LlamaFileType: UInt32] = [.allF32: 0, .mostlyF16: 1, .mostlyQ4_0: 2, .mostlyQ4_1: 3, .mostlyQ8_0: 7,
                                                 .mostlyQ5_0: 8, .mostlyQ5_1: 9, .mostlyQ4_K_S: 14, .mostlyQ4_K_M: 15,
                                                 .mostlyQ5_K_S: 16, .mostlyQ5_K_M: 17, .mostlyQ6_K: 18, .mostlyBF16: 32]
        for (type, value) in expected { #expect(type.rawValue == value) }
    }

    @Test("a head size other than dim / heads writes key_length and value_length")
    func explicitHeadSize() {
        let kv = Dictionary(uniqueKeysWithValues: llamaMetadata(config: LlamaSample.gqaConfig(headDim: 32), name: "m", fileType: 7))
        #expect(kv[GGUFKeys.Llama.Attention.keyLength] == .uint32(32) && kv[GGUFKeys.Llama.Attention.valueLength] == .uint32(32))
        #expect(Dictionary(uniqueKeysWithValues: llamaMetadata(config: LlamaSample.gqaConfig(), name: "m", fileType: 7))[GGUFKeys.Llama.Attention.keyLength] == nil)
    }

    @Test("a written GGUF imports back to the same config, roles, PyTorch shapes and bytes",
          arguments: [(false, 16, true), (true, 16, false), (false, 32, true)])
    func roundTrip(tied: Bool, headDim: Int, scaled: Bool) throws {
        let config = LlamaSample.gqaConfig(tied: tied, headDim: headDim, scaling: scaled ? .metaLlama31 : nil)
        let sample = try LlamaSample(config: config)
        let dir = TempFolder()
        defer { dir.remove() }
        let path = dir.file("m.gguf")
        try sample.write(to: path)
        let graph = try GGUFImporter.load(path: path)
        #expect(graph.format == .gguf && graph.config == config, "\(graph.config)")
        #expect(graph.notes.isEmpty, "\(graph.notes)")
        #expect(graph.tensors.map(\.name) == sample.tensors.map(\.plan.name), "canonical order, rope_freqs first")
        for t in graph.tensors {
            let written = try #require(sample.tensors.first { $0.plan.name == t.name })
            #expect(t.source.shape == written.plan.shape && t.source.type == written.plan.type)
            #expect(try t.source.storedBytes() == written.bytes, "\(t.name)")
        }
        #expect(graph.tensor(.output) == nil || !tied)
        #expect((graph.tensor(.ropeFreqs) != nil) == scaled)
    }

    @Test("import refuses other architectures, missing tensors and wrong shapes")
    func importErrors() throws {
        let sample = try LlamaSample(config: LlamaSample.gqaConfig())
        let dir = TempFolder()
        defer { dir.remove() }
        let a = dir.file("a.gguf")
        try sample.write(to: a, metadata: sample.metadata.map { $0.0 == GGUFKeys.General.architecture ? ($0.0, .string("gpt2")) : $0 })
        #expect(throws: GGUFError.notLlama(path: a, architecture: "gpt2")) { try GGUFImporter.load(path: a) }
        let b = dir.file("b.gguf")
        let up1 = TensorNames.gguf(.ffnUp, layer: 1)
        try sample.write(to: b, dropping: [up1])
        #expect(throws: ConfigError.missingTensor(path: b, tensor: up1)) { try GGUFImporter.load(path: b) }
        let c = dir.file("c.gguf")
        try sample.write(to: c, metadata: sample.metadata.map { $0.0 == GGUFKeys.Llama.feedForwardLength ? ($0.0, .uint32(128)) : $0 })
        #expect(throws: ConfigError.shapeMismatch(path: c, tensor: TensorNames.gguf(.ffnGate, layer: 0), expected: [128, 64], found: [96, 64])) {
            try GGUFImporter.load(path: c)
        }
        let d = dir.file("d.gguf")
        try sample.write(to: d, metadata: sample.metadata.filter { $0.0 != GGUFKeys.Llama.Attention.layerNormRMSEpsilon })
        #expect(throws: GGUFError.badKey(path: d, key: GGUFKeys.Llama.Attention.layerNormRMSEpsilon, problem: "missing")) {
            try GGUFImporter.load(path: d)
        }
        let e = dir.file("e.gguf")
        var extra = sample.tensors
        let bias = TensorNames.gguf(.attnQ, layer: 0).replacingOccurrences(of: ".weight", with: ".bias")
        extra.append((GGUFTensorPlan(name: bias, type: .f32, shape: [64]), [UInt8](repeating: 0, count: 256)))
        try writeGGUF(path: e, metadata: sample.metadata, tensors: extra)
        #expect(throws: ConfigError.unexpectedTensor(path: e, tensor: bias)) { try GGUFImporter.load(path: e) }
    }

    @Test("the expectation records our dequantized values and the source floats for check_gguf.py")
    func expectation() throws {
        let sample = try LlamaSample(config: LlamaSample.gqaConfig())
        let dir = TempFolder()
        defer { dir.remove() }
        let path = dir.file("m.gguf")
        try sample.write(to: path)
        let expectation = try ggufExpectation(gguf: path, metadata: sample.metadata, sources: sample.sources, sourceDump: dir.file("m.source.f32"))
        try expectation.write(to: dir.file("m.expect.json"))
        #expect(expectation.metadata.map(\.key) == sample.metadata.map(\.0) + [GGUFKeys.General.alignment])
        #expect(expectation.tensors.map(\.name) == sample.tensors.map(\.plan.name))
        let file = try GGUFFile(path: path)
        for (e, info) in zip(expectation.tensors, file.tensors) {
            let ours = try file.source(of: info).floats()
            #expect(e.dequant.crc32 == ours.withUnsafeBytes { CRC32.checksum($0) })
            #expect(e.dequant.first == Array(ours.prefix(8)))
            #expect(e.source?.count == ours.count)
        }
        let dump = try Data(contentsOf: URL(fileURLWithPath: dir.file("m.source.f32")))
        #expect(dump.count == 4 * sample.sources.values.reduce(0) { $0 + $1.elementCount })
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir.file("m.expect.json")))) as? [String: Any]
        #expect(json?["format"] as? String == "llama-convert/gguf-expect/1")
        // For cross-checking with gguf-py: keep the files where the environment says.
        if let keep = ProcessInfo.processInfo.environment["LLAMA_CONVERT_KEEP_SAMPLE"] {
            try? FileManager.default.createDirectory(atPath: keep, withIntermediateDirectories: true)
            for name in ["m.gguf", "m.expect.json", "m.source.f32"] {
                try? FileManager.default.removeItem(atPath: keep + "/" + name)
                try FileManager.default.copyItem(atPath: dir.file(name), toPath: keep + "/" + name)
            }
        }
    }
}

extension GGUFImporterTests {
    @Test("a huge block_count is refused from the tensor count before anything is sized by it")
    func hugeBlockCount() throws {
        let sample = try LlamaSample(config: LlamaSample.gqaConfig())
        let dir = TempFolder()
        defer { dir.remove() }
        let path = dir.file("m.gguf")
        try sample.write(to: path, metadata: sample.metadata.map { $0.0 == GGUFKeys.Llama.blockCount ? ($0.0, .uint32(0xFF00_0002)) : $0 })
        #expect(throws: GGUFError.self) { try GGUFImporter.load(path: path) }
    }
}
