import ArgumentParser
import Foundation
import LlamaConvert

struct ConvertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "convert",
        abstract: "Convert a model to one GGUF file (the default command: `llama-convert IN OUT` is the same).",
        discussion: """
        IN is a Hugging Face folder (config.json + *.safetensors, sharded with model.safetensors.index.json \
        or not), a Meta folder (params.json + consolidated.NN.pth, model-parallel shards merged), a single \
        .safetensors or .pth file, or a GGUF file (F32/F16/BF16 GGUFs can be quantized again).

        --quant takes a ggml type applied to every 2-D weight (f32 f16 bf16 q8_0 q4_0 q4_1 q5_0 q5_1) or a \
        preset (q8 = Q8_0). Norms stay F32. A tensor whose rows are not a whole number of blocks falls back \
        to F16, and the summary lists it.

        The file is written as .OUT.llama-convert-partial beside OUT and renamed into place only when complete: \
        on any error or interrupt no partial OUT is left and an existing OUT is untouched.

        While writing, the reference forward pass runs the source and OUT over \(ConversionCheck.defaultTokenCount) fixed \
        tokens, each chunk of weights as it is written, and the summary gives the KL divergence and top-1 \
        agreement (--no-verify skips it). If OUT looks broken (NaN or infinite logits, or a KL far above what \
        the chosen type gives), the command says so and exits with status 3, keeping OUT so it can be inspected.

        The tokenizer (tokenizer.model, SentencePiece or Meta's Llama 3 tiktoken; or tokenizer.json, byte-level \
        BPE; a GGUF input's own tokenizer keys) is written as tokenizer.* keys. Without one the conversion is \
        refused, since llama.cpp could not load the file; --no-tokenizer writes it anyway.
        """
    )

    @Argument(help: "The model to convert (folder or file).")
    var input: String

    @Argument(help: "The GGUF file to write.")
    var output: String

    @Option(help: ArgumentHelp("Output type or preset.", valueName: "type"))
    var quant: String = "f16"

    @Option(help: "general.name in the output (default: the input's name).")
    var name: String?

    @Flag(help: "Write the file even without a tokenizer (llama.cpp cannot load it then); no tokenizer keys are written.")
    var noTokenizer = false

    @OptionGroup var common: CommonOptions

    @Flag(help: "Skip the parity check of the written file.")
    var noVerify = false

    @Flag(help: "Also measure each tensor's quantization error (relative RMS and SQNR) and list them.")
    var verbose = false

    func validate() throws {
        if QuantChoice(name: quant) == nil {
            throw ValidationError("unknown --quant '\(quant)'; valid: \(QuantChoice.validNames.joined(separator: ", "))")
        }
    }

    func run() throws {
        let graph = try ModelLoader.load(path: input)
        let options = ConvertOptions(quant: QuantChoice(name: quant)!, threads: common.resolvedThreads,
                                     measureError: verbose || common.json, name: name,
                                     tokenizer: noTokenizer ? .skip : .required,
                                     checkTokens: noVerify ? nil : ConversionCheck.defaultTokenCount)
        let line = ProgressLine(enabled: common.showsProgress)
        let report = try Converter.convert(graph, to: output, options: options) { p in
            line.update(p)
        }
        line.finish()
        if common.json {
            try printJSON(report)
        } else {
            print(ConvertSummary.text(report, verbose: verbose))
        }
        if let problem = report.verify?.problem {
            FileHandle.standardError.write(Data("llama-convert: \(output) looks BROKEN: \(problem). The file is kept for inspection.\n".utf8))
            throw ExitCode(3)
        }
    }
}

/// The single progress line on standard error: tensor i/N, bytes, rate, ETA.
final class ProgressLine {
    let enabled: Bool
    private var lastDraw = 0.0

    init(enabled: Bool) { self.enabled = enabled }

    func update(_ p: ConvertProgress) {
        guard enabled, p.seconds - lastDraw >= 0.1 || p.bytesDone == p.bytesTotal else { return }
        lastDraw = p.seconds
        let rate = Double(p.bytesDone) / max(p.seconds, 1e-9)
        let eta = rate > 0 ? Double(p.bytesTotal - p.bytesDone) / rate : 0
        let text = String(format: "\r[%d/%d] %@  %.0f / %.0f MB  %.0f MB/s  ETA %.0fs\u{1b}[K",
                          p.tensorIndex + 1, p.tensorCount, p.tensorName, Double(p.bytesDone) / 1e6,
                          Double(p.bytesTotal) / 1e6, rate / 1e6, eta)
        FileHandle.standardError.write(Data(text.utf8))
    }

    func finish() {
        if enabled { FileHandle.standardError.write(Data("\r\u{1b}[K".utf8)) }
    }
}
