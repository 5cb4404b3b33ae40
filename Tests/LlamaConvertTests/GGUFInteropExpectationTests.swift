import Foundation
import Testing
@testable import LlamaConvert

/// Writes every fixture's conversion with every output type, plus the EXPECT.json that
/// Scripts/check_gguf.py verifies with gguf-py (an independent reader, dequantizer and quantizer).
/// `.ci/run` sets LLAMA_CONVERT_EXPECT_DIR and runs the script on what this writes.
@Suite("GGUF files for the gguf-py cross-check")
struct GGUFInteropExpectationTests {
    static let outputFolder = ProcessInfo.processInfo.environment["LLAMA_CONVERT_EXPECT_DIR"]
    static let choices = ["f32", "f16", "bf16", "q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "q4", "q5", "q6"]

    @Test("every fixture × every output type, with expectations", .enabled(if: outputFolder != nil),
          arguments: ImporterFixtureTests.models)
    func writeExpectations(folder: String) throws {
        let dir = Self.outputFolder!
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let graph = try ModelLoader.load(path: Fixtures.path(folder))
        let sources = Dictionary(uniqueKeysWithValues: graph.tensors.map { ($0.name, $0.source) })
        for name in Self.choices {
            let base = "\(dir)/\(folder)-\(name)"
            _ = try Converter.convert(graph, to: base + ".gguf", options: ConvertOptions(quant: QuantChoice(name: name)!))
            let expectation = try ggufExpectation(gguf: base + ".gguf", sources: sources, sourceDump: base + ".source.f32")
            try expectation.write(to: base + ".expect.json")
        }
    }
}
