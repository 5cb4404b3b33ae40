import ArgumentParser
import LlamaConvert

@main
struct LlamaConvertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "llama-convert",
        abstract: "Convert Llama checkpoints (Hugging Face safetensors, Meta .pth, GGUF) to one quantized GGUF file.",
        discussion: """
        Examples:
          llama-convert ./Llama-3.2-1B out.gguf --quant q8      convert (the default command)
          llama-convert inspect out.gguf --json                 what a file holds
        """,
        version: "0.1.0",
        subcommands: [ConvertCommand.self, InspectCommand.self, VerifyCommand.self, RunCommand.self],
        defaultSubcommand: ConvertCommand.self
    )
}
