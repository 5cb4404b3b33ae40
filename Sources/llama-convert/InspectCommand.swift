import ArgumentParser
import LlamaConvert

struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Show a model's format, config, tokenizer, tensor table and totals.",
        discussion: "Tensor names are the canonical GGUF names; shapes are in PyTorch order (rows first)."
    )

    @Argument(help: "A model folder (HF or Meta), a .safetensors or .pth file, or a GGUF file.")
    var path: String

    @Flag(help: "Print one JSON object with keys format, config, tokenizer, tensors, totals (and path, tokenizer_files, notes).")
    var json = false

    func run() throws {
        let report = InspectReport(graph: try ModelLoader.load(path: path))
        if json { try printJSON(report) } else { print(report.text) }
    }
}
