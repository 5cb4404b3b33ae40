import Foundation
import Testing
@testable import LlamaConvert

/// Writes every fixture's conversion for Scripts/check_llamacpp.py, with our own forward pass's
/// logits for the fixture's reference tokens on each converted file, so the script compares
/// llama.cpp's logits with ours on the same bytes. Runs only when LLAMA_CONVERT_LLAMACPP_DIR is set.
@Suite("GGUF files and our logits for the llama.cpp cross-check")
struct LlamaCppInteropTests {
    static let outputFolder = ProcessInfo.processInfo.environment["LLAMA_CONVERT_LLAMACPP_DIR"]
    static let choices = ["f32", "f16", "q8_0", "q4_0", "q4"]

    private struct Reference: Decodable { let tokens: [Int] }
    private struct Ours: Encodable { let tokens: [Int]; let logits: [[Float]] }

    @Test("every fixture × f32/f16/q8_0/q4_0/q4 with our forward pass's logits", .enabled(if: outputFolder != nil),
          arguments: ImporterFixtureTests.models)
    func writeFilesAndLogits(folder: String) throws {
        let dir = Self.outputFolder!
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let graph = try ModelLoader.load(path: Fixtures.path(folder))
        let reference = try JSONDecoder().decode(Reference.self, from: Data(contentsOf: URL(fileURLWithPath: Fixtures.path(folder + "/reference.json"))))
        for name in Self.choices {
            let path = "\(dir)/\(folder).\(name).gguf"
            _ = try Converter.convert(graph, to: path, options: ConvertOptions(quant: QuantChoice(name: name)!))
            let model = try Transformer(graph: ModelLoader.load(path: path), threads: 2, maxContext: 64)
            let logits = try model.logits(tokens: reference.tokens)
            try JSONEncoder().encode(Ours(tokens: reference.tokens, logits: logits)).write(to: URL(fileURLWithPath: path + ".ours.json"))
        }
    }
}
