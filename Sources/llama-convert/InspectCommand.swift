import ArgumentParser
import LlamaConvert

struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Show a model's format, config, tokenizer files and tensor table."
    )

    @Argument(help: "A model folder (HF or Meta), a .safetensors/.pth file, or a GGUF file.")
    var path: String

    @Flag(help: "Print one JSON object instead of tables.")
    var json = false

    func run() throws {
        throw ValidationError("inspect is not wired yet")
    }
}
