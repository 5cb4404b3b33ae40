import Foundation
import Testing
@testable import LlamaConvert

/// The executable built beside the test bundle, for tests that need a separate process.
enum CLI {
    static let path: String = {
        let beside = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("llama-convert").path
        if FileManager.default.isExecutableFile(atPath: beside) { return beside }
        var root = URL(fileURLWithPath: #filePath)
        for _ in 0 ..< 3 { root.deleteLastPathComponent() }
        return root.appendingPathComponent(".build/debug/llama-convert").path
    }()

    /// Runs the CLI; returns exit status, standard output and standard error.
    @discardableResult
    static func run(_ arguments: [String], environment: [String: String] = [:]) throws -> (status: Int32, out: String, err: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }
}

/// The largest relative RMS error each output type may show on the fixtures' weights.
enum QuantBound {
    static func relativeRMS(_ type: GGMLType) -> Double {
        switch type {
        case .f32: return 0
        case .f16, .bf16: return 4e-3        // a 10- or 7-bit mantissa rounds at most 2^-8 relative
        case .q8_0: return 0.01
        case .q5_0, .q5_1: return 0.05
        case .q4_0, .q4_1: return 0.12
        case .q6_K: return 0.02
        case .q5_K: return 0.04
        case .q4_K: return 0.08
        default: return 0.5
        }
    }
}

func relativeRMS(_ a: [Float], _ b: [Float]) -> Double {
    var signal = 0.0, noise = 0.0
    for (x, y) in zip(a, b) {
        signal += Double(x) * Double(x)
        noise += (Double(x) - Double(y)) * (Double(x) - Double(y))
    }
    return signal > 0 ? (noise / signal).squareRoot() : noise.squareRoot()
}

@Suite("Convert: every fixture, every type, read back")
struct ConvertTests {
    static let fixtures = ImporterFixtureTests.models
    static let choices = ["f32", "f16", "bf16", "q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "q8"]

    @Test("each fixture converts with every legacy --quant choice; metadata, shapes and values survive", arguments: fixtures)
    func everyChoice(folder: String) throws {
        let tmp = TempFolder()
        let source = try ModelLoader.load(path: Fixtures.path(folder))
        for name in Self.choices {
            let choice = try #require(QuantChoice(name: name))
            let out = tmp.path + "/\(name).gguf"
            let report = try Converter.convert(source, to: out, options: ConvertOptions(quant: choice, threads: 2))
            let gguf = try GGUFFile(path: out)
            #expect(gguf.value(GGUFKeys.General.fileType)?.intValue == Int(choice.fileType.rawValue))
            let back = try GGUFImporter.load(gguf)
            #expect(back.config.dim == source.config.dim && back.config.nLayers == source.config.nLayers
                && back.config.nHeads == source.config.nHeads && back.config.nKVHeads == source.config.nKVHeads
                && back.config.ffnDim == source.config.ffnDim && back.config.vocabSize == source.config.vocabSize
                && back.config.tiedEmbeddings == source.config.tiedEmbeddings && back.config.ropeTheta == source.config.ropeTheta)
            #expect(back.tensors.map(\.name) == source.tensors.map(\.name))
            for (s, b) in zip(source.tensors, back.tensors) {
                #expect(s.source.shape == b.source.shape, "\(s.name)")
                let expectedType: GGMLType = s.source.shape.count == 1 ? .f32 : (s.source.rowLength % choice.baseType.blockSize == 0 ? choice.baseType : .f16)
                #expect(b.source.type == expectedType, "\(name) \(s.name)")
                let error = relativeRMS(try s.source.floats(), try b.source.floats())
                #expect(error <= QuantBound.relativeRMS(b.source.type), "\(name) \(s.name): \(error)")
            }
            #expect(report.fallbacks.count == back.tensors.filter { $0.source.type == .f16 && choice.baseType != .f16 && $0.source.shape.count == 2 }.count)
        }
    }

    @Test("the same input and options give byte-identical files for 1, 2 and 3 threads", arguments: ["q4_0", "q8_0", "f16"])
    func deterministic(quant: String) throws {
        let tmp = TempFolder()
        let source = try ModelLoader.load(path: Fixtures.path("hf-gqa-bf16-sharded"))
        var files: [Data] = []
        for threads in [1, 2, 3] {
            let out = tmp.path + "/t\(threads).gguf"
            // Small chunks, so several chunks and pieces are in flight per tensor.
            _ = try Converter.convert(source, to: out, options: ConvertOptions(quant: QuantChoice(name: quant)!, threads: threads,
                                                                               measureError: true, chunkFloats: 20_000))
            files.append(try Data(contentsOf: URL(fileURLWithPath: out)))
        }
        #expect(files[0] == files[1] && files[1] == files[2])
    }

    @Test("the AVX2 kernels and the portable code write byte-identical files", arguments: ["f16", "q8_0", "q4"])
    func kernelsWriteAlike(quant: String) throws {
        let tmp = TempFolder()
        var files: [Data] = []
        var kernels: [String] = []
        for env in [["LLAMA_CONVERT_KERNELS": "portable"], [:]] {
            let out = tmp.path + "/\(env.isEmpty ? "host" : "portable").gguf"
            let run = try CLI.run([Fixtures.path("hf-gqa-bf16-sharded"), out, "--quant", quant, "--json", "--no-verify"], environment: env)
            #expect(run.status == 0, "\(run.err)")
            let report = try JSONSerialization.jsonObject(with: Data(run.out.utf8)) as? [String: Any]
            kernels.append(report?["kernels"] as? String ?? "?")
            files.append(try Data(contentsOf: URL(fileURLWithPath: out)))
        }
        #expect(kernels == ["portable", HostCPU.kernelName])
        #expect(files[0] == files[1])
    }

    @Test("the HF copy and the Meta original of the same weights convert to identical tensors",
          arguments: [("hf-copy-of-meta-gqa", "meta-gqa-mp2"), ("hf-mqa-f16-tied-rope31", "meta-copy-of-hf-mqa")])
    func layoutsConvertAlike(hf: String, meta: String) throws {
        let tmp = TempFolder()
        for quant in ["q8_0", "f16"] {
            let a = tmp.path + "/hf.gguf", b = tmp.path + "/meta.gguf"
            _ = try Converter.convert(try ModelLoader.load(path: Fixtures.path(hf)), to: a, options: ConvertOptions(quant: QuantChoice(name: quant)!))
            _ = try Converter.convert(try ModelLoader.load(path: Fixtures.path(meta)), to: b, options: ConvertOptions(quant: QuantChoice(name: quant)!))
            let fa = try GGUFFile(path: a), fb = try GGUFFile(path: b)
            for info in fa.tensors {
                let other = try #require(fb.tensor(named: info.name), "\(info.name)")
                #expect(try fa.source(of: info).storedBytes() == fb.source(of: other).storedBytes(), "\(quant) \(info.name)")
            }
        }
    }

    @Test("a GGUF output converts again (F16 → Q8_0) to the same bytes as the direct conversion")
    func reconvertGGUF() throws {
        let tmp = TempFolder()
        let source = try ModelLoader.load(path: Fixtures.path("hf-mqa-f16-tied-rope31"))
        _ = try Converter.convert(source, to: tmp.path + "/f16.gguf", options: ConvertOptions(quant: .uniform(.f16)))
        _ = try Converter.convert(source, to: tmp.path + "/direct.gguf", options: ConvertOptions(quant: .q8))
        let again = try ModelLoader.load(path: tmp.path + "/f16.gguf")
        _ = try Converter.convert(again, to: tmp.path + "/again.gguf", options: ConvertOptions(quant: .q8, name: "hf-mqa-f16-tied-rope31"))
        let a = try GGUFFile(path: tmp.path + "/direct.gguf"), b = try GGUFFile(path: tmp.path + "/again.gguf")
        #expect(a.tensors.map(\.name) == b.tensors.map(\.name))
        for (x, y) in zip(a.tensors, b.tensors) {
            #expect(try a.source(of: x).storedBytes() == b.source(of: y).storedBytes(), "\(x.name)")
        }
    }
}

/// A tensor that fails after some rows: an I/O error in the middle of a conversion.
final class FailingTensor: TensorSource, @unchecked Sendable {
    let base: any TensorSource
    let failAtRow: Int
    init(_ base: any TensorSource, failAtRow: Int) { self.base = base; self.failAtRow = failAtRow }
    var type: GGMLType { base.type }
    var shape: [Int] { base.shape }
    var origin: String { base.origin }
    func readRows(_ rows: Range<Int>, into destination: UnsafeMutableRawBufferPointer) throws {
        if rows.upperBound > failAtRow { throw ReadError.truncated(path: origin, offset: 1234, needed: 8, remaining: 0) }
        try base.readRows(rows, into: destination)
    }
}

@Suite("Convert: failures leave no partial output")
struct ConvertFailureTests {
    @Test("an error mid-conversion leaves no OUT, no temporary file, and an existing OUT untouched")
    func errorMidway() throws {
        let tmp = TempFolder()
        var graph = try ModelLoader.load(path: Fixtures.path("hf-gqa-bf16-sharded"))
        let i = graph.tensors.firstIndex { $0.role == .ffnUp && $0.layer == 2 }!
        let t = graph.tensors[i]
        graph.tensors[i] = CanonicalTensor(role: t.role, layer: t.layer, source: FailingTensor(t.source, failAtRow: 100))
        let out = tmp.path + "/out.gguf"
        #expect(throws: ReadError.self) { try Converter.convert(graph, to: out, options: ConvertOptions(quant: .q8, chunkFloats: 10_000)) }
        #expect(!FileManager.default.fileExists(atPath: out))
        #expect(!FileManager.default.fileExists(atPath: AtomicOutput.temporaryPath(for: out)))
        let previous = Data("previous model".utf8)
        try previous.write(to: URL(fileURLWithPath: out))
        #expect(throws: ReadError.self) { try Converter.convert(graph, to: out, options: ConvertOptions(quant: .q8)) }
        #expect(try Data(contentsOf: URL(fileURLWithPath: out)) == previous)
        #expect(try FileManager.default.contentsOfDirectory(atPath: tmp.path) == ["out.gguf"])
    }

    @Test("the output may not overwrite an input")
    func outputIsInput() throws {
        let tmp = TempFolder()
        let out = tmp.path + "/a.gguf"
        _ = try Converter.convert(try ModelLoader.load(path: Fixtures.path("hf-mqa-f16-tied-rope31")), to: out, options: ConvertOptions(quant: .uniform(.f16)))
        let graph = try ModelLoader.load(path: out)
        #expect(throws: OutputError.outputIsInput(path: out)) { try Converter.convert(graph, to: out, options: ConvertOptions(quant: .q8)) }
    }

    /// A model big enough that a debug build takes a while to quantize it: 32000 × 256 embedding and output.
    static func largeModel(at path: String) throws {
        let c = ModelConfig(vocabSize: 32000, dim: 256, nLayers: 1, nHeads: 4, nKVHeads: 4, headDim: 64, ffnDim: 256,
                            normEps: 1e-5, ropeTheta: 10000, ropeScaling: nil, tiedEmbeddings: false, contextLength: 512)
        var seed: UInt32 = 1
        func values(_ n: Int) -> [Float] {
            (0 ..< n).map { _ in seed = seed &* 1664525 &+ 1013904223; return Float(Int32(bitPattern: seed) >> 8) / Float(1 << 24) }
        }
        var tensors: [CanonicalTensor] = []
        for role in [TensorRole.tokenEmbedding] + TensorRole.layerRoles + [.outputNorm, .output] {
            let layer: Int? = role.isPerLayer ? 0 : nil
            let shape = GraphAssembly.expectedShape(role, c)
            tensors.append(CanonicalTensor(role: role, layer: layer, source: OwnedTensor(floats: values(shape.reduce(1, *)), shape: shape)))
        }
        let graph = WeightGraph(format: .gguf, path: path, config: c, tensors: tensors)
        _ = try Converter.convert(graph, to: path, options: ConvertOptions(quant: .uniform(.f32), tokenizer: .skip))
    }

    /// Starts a slow conversion of `largeModel` in another process and sends `signal` as soon as
    /// the partial file exists: the header is written, the tensors are not.
    static func interruptedConversion(_ signal: Int32, in tmp: TempFolder) throws -> (process: Process, out: String, partial: String, input: String) {
        let input = tmp.path + "/big-f32.gguf", out = tmp.path + "/out.gguf"
        try largeModel(at: input)
        let partial = AtomicOutput.temporaryPath(for: out)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: CLI.path)
        process.arguments = [input, out, "--quant", "q4_1", "--threads", "1", "--quiet", "--no-verify", "--no-tokenizer"]
        try process.run()
        let deadline = Date().addingTimeInterval(30)
        while !FileManager.default.fileExists(atPath: partial) && process.isRunning && Date() < deadline { usleep(500) }
        kill(process.processIdentifier, signal)
        process.waitUntilExit()
        return (process, out, partial, input)
    }

    @Test("a conversion killed with SIGKILL leaves no OUT, only a clearly named partial file that the next run removes")
    func killed() throws {
        let tmp = TempFolder()
        let (process, out, partial, input) = try Self.interruptedConversion(SIGKILL, in: tmp)
        #expect(process.terminationReason == .uncaughtSignal, "the conversion finished before it could be killed")
        #expect(!FileManager.default.fileExists(atPath: out))
        #expect(FileManager.default.fileExists(atPath: partial))
        let rerun = try CLI.run([input, out, "--quant", "q8_0", "--quiet", "--no-verify", "--no-tokenizer"])
        #expect(rerun.status == 0, "\(rerun.err)")
        #expect(FileManager.default.fileExists(atPath: out))
        #expect(!FileManager.default.fileExists(atPath: partial))
    }

    @Test("SIGINT removes the partial file and ends the process by that signal")
    func interrupted() throws {
        let tmp = TempFolder()
        let (process, out, partial, _) = try Self.interruptedConversion(SIGINT, in: tmp)
        #expect(process.terminationReason == .uncaughtSignal && process.terminationStatus == SIGINT)
        #expect(!FileManager.default.fileExists(atPath: out))
        #expect(!FileManager.default.fileExists(atPath: partial))
    }

    @Test("unknown --quant lists the valid choices; a missing input is named")
    func cliErrors() throws {
        let bad = try CLI.run([Fixtures.path("hf-mqa-f16-tied-rope31"), "/tmp/x.gguf", "--quant", "q3_x"])
        #expect(bad.status != 0)
        #expect(bad.err.contains("q3_x") && bad.err.contains("q4_0") && bad.err.contains("q8"))
        let missing = try CLI.run(["/nonexistent/model", "/tmp/x.gguf"])
        #expect(missing.status != 0 && missing.err.contains("/nonexistent/model"))
    }
}
