import ArgumentParser
import LlamaConvert

@main
struct LlamaConvertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "llama-convert",
        abstract: "Convert Llama checkpoints (Hugging Face safetensors, Meta .pth, GGUF) to quantized GGUF, and prove the result computes what the source computed.",
        version: "0.1.0",
        subcommands: [InspectCommand.self]
    )
}
