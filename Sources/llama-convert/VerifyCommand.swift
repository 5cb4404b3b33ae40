import ArgumentParser
import Foundation
import LlamaConvert

struct VerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Run the reference forward pass on two models and report their numerical parity.",
        discussion: """
        Both models run the same tokens (default: \(Verifier.defaultTokenCountForHelp) fixed tokens starting with BOS). The report gives, \
        per position and overall, the KL divergence of CONVERTED's next-token distribution from SOURCE's, top-1 \
        agreement, max abs and RMS logit error, cosine similarity, and each model's perplexity of the token list. \
        Either side may be any input llama-convert reads.
        """
    )

    @Argument(help: "The reference model (usually the original checkpoint).")
    var source: String

    @Argument(help: "The model to check (usually the converted GGUF).")
    var converted: String

    @Option(help: ArgumentHelp("Token ids, comma separated.", valueName: "ids"))
    var tokens: String?

    @Option(help: ArgumentHelp("A file of token ids (commas or white space).", valueName: "file"))
    var tokensFile: String?

    @Option(help: ArgumentHelp("A text to score, tokenized with SOURCE's tokenizer (BOS first).", valueName: "text"))
    var prompt: String?

    @Option(help: ArgumentHelp("A text file to score; longer than the context, it is scored in windows of the context.", valueName: "file"))
    var text: String?

    @Option(help: ArgumentHelp("Exit with status 1 when the mean KL divergence exceeds this.", valueName: "x"))
    var maxKL: Double?

    @Option(help: ArgumentHelp("Write DIR/source_logits.npy and DIR/converted_logits.npy (float32, [n_tokens, vocab]).", valueName: "dir"))
    var saveLogits: String?

    @OptionGroup var common: CommonOptions

    func validate() throws {
        if [tokens != nil, tokensFile != nil, prompt != nil, text != nil].filter({ $0 }).count > 1 {
            throw ValidationError("give one of --tokens, --tokens-file, --prompt, --text")
        }
        if let maxKL, !(maxKL >= 0) { throw ValidationError("--max-kl must be a non-negative number") }
    }

    func run() throws {
        let a = try ModelLoader.load(path: source)
        let b = try ModelLoader.load(path: converted)
        var ids = Verifier.defaultTokens(count: min(Verifier.defaultTokenCountForHelp, a.config.contextLength), vocabSize: a.config.vocabSize)
        if let tokens { ids = try Verifier.parseTokens(tokens, origin: "--tokens") }
        if let tokensFile {
            ids = try Verifier.parseTokens(String(decoding: try Data(contentsOf: URL(fileURLWithPath: tokensFile)), as: UTF8.self), origin: tokensFile)
        }
        var window = ids.count
        if prompt != nil || text != nil {
            let words = try prompt ?? String(decoding: try Data(contentsOf: URL(fileURLWithPath: text!)), as: UTF8.self)
            ids = try Verifier.tokenizer(for: a).encode(words, addBOS: true)
            window = min(ids.count, a.config.contextLength, 2048)
        }
        let result = try Verifier.compareInWindows(source: a, converted: b, tokens: ids, window: max(window, 1),
                                                   threads: common.resolvedThreads)
        if let saveLogits {
            try FileManager.default.createDirectory(atPath: saveLogits, withIntermediateDirectories: true)
            try NPY.write(path: saveLogits + "/source_logits.npy", rows: result.sourceLogits)
            try NPY.write(path: saveLogits + "/converted_logits.npy", rows: result.convertedLogits)
        }
        if common.json { try printJSON(result.report) } else {
            print(ParityText.text(result.report, tokens: ids))
            if window < ids.count { print("scored in windows of \(window) tokens (the model's context)") }
        }
        if let maxKL, !(result.report.klMean <= maxKL) {
            FileHandle.standardError.write(Data("llama-convert: mean KL \(result.report.klMean) exceeds --max-kl \(maxKL)\n".utf8))
            throw ExitCode(1)
        }
    }
}

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Greedy continuation with the reference forward pass: does the file still talk?",
        discussion: "Prints the prompt's token ids and the ids of the N tokens the model picks greedily after them."
    )

    @Argument(help: "Any model llama-convert reads (a converted GGUF, or a source checkpoint).")
    var model: String

    @Option(help: ArgumentHelp("Prompt token ids, comma separated.", valueName: "ids"))
    var tokens: String?

    @Option(help: ArgumentHelp("Prompt text, tokenized with the model's tokenizer (BOS first); the continuation is printed as text too.", valueName: "text"))
    var prompt: String?

    @Option(name: .customShort("n"), help: "Tokens to generate.")
    var count: Int = 16

    @OptionGroup var common: CommonOptions

    func validate() throws {
        if count < 1 { throw ValidationError("-n must be at least 1") }
        if (tokens == nil) == (prompt == nil) { throw ValidationError("give --tokens or --prompt") }
    }

    struct Output: Encodable {
        let prompt: [Int]; let generated: [Int]; let text: String?
        /// Wall-clock figures: the prompt's pass (prompt tokens per second), then one pass per
        /// further generated token (generated tokens per second, the first one excluded).
        let promptSeconds: Double?; let promptTokensPerSecond: Double?
        let generationSeconds: Double?; let generatedTokensPerSecond: Double?
        let threads: Int; let kernels: String

        enum CodingKeys: String, CodingKey {
            case prompt, generated, text, threads, kernels
            case promptSeconds = "prompt_seconds", promptTokensPerSecond = "prompt_tokens_per_second"
            case generationSeconds = "generation_seconds", generatedTokensPerSecond = "generated_tokens_per_second"
        }
    }

    func run() throws {
        let graph = try ModelLoader.load(path: model)
        var tokenizer: TextTokenizer? = nil
        let prompt: [Int]
        if let text = self.prompt {
            tokenizer = try Verifier.tokenizer(for: graph)
            prompt = tokenizer!.encode(text, addBOS: true)
        } else {
            prompt = try Verifier.parseTokens(tokens!, origin: "--tokens")
        }
        try Verifier.checkTokenList(prompt, graph: graph)
        let transformer = try Transformer(graph: graph, threads: common.resolvedThreads, maxContext: prompt.count + count)
        let generated = try transformer.generateGreedy(prompt: prompt, count: count)
        let continuation = tokenizer?.decode(generated)
        let t = transformer.lastTimings
        let promptRate = t.map { Double($0.promptTokens) / max($0.promptSeconds, 1e-9) }
        let generationRate = t.flatMap { $0.generatedTokens > 0 ? Double($0.generatedTokens) / max($0.generationSeconds, 1e-9) : nil }
        if common.json {
            try printJSON(Output(prompt: prompt, generated: generated, text: continuation,
                                 promptSeconds: t?.promptSeconds, promptTokensPerSecond: promptRate,
                                 generationSeconds: t?.generationSeconds, generatedTokensPerSecond: generationRate,
                                 threads: common.resolvedThreads, kernels: HostCPU.kernelName))
        } else {
            print("prompt     " + prompt.map(String.init).joined(separator: " "))
            print("generated  " + generated.map(String.init).joined(separator: " "))
            if let continuation, let text = self.prompt { print("text       \(text)\(continuation)") }
            if let promptRate {
                var line = String(format: "speed      prompt %.1f tokens/s", promptRate)
                if let generationRate { line += String(format: ", generation %.2f tokens/s", generationRate) }
                print(line + " (\(common.resolvedThreads) threads, \(HostCPU.kernelName) kernels)")
            }
        }
    }
}
