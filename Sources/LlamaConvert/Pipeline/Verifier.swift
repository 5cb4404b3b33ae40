import Foundation

/// Runs the reference forward pass on two models over the same tokens and compares them: the
/// numerical proof that a conversion computes what its source computed.
public enum Verifier {
    /// Tokens of the default check: BOS, then a fixed pseudo-random walk over the vocabulary
    /// (a linear congruential sequence, so every run and every machine uses the same list).
    public static func defaultTokens(count: Int, vocabSize: Int, bos: Int = 1) -> [Int] {
        precondition(vocabSize > 1 && count > 0)
        var tokens = [min(bos, vocabSize - 1)]
        var state: UInt64 = 0x2545_F491_4F6C_DD1D
        while tokens.count < count {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            tokens.append(Int((state >> 33) % UInt64(vocabSize)))
        }
        return tokens
    }

    public struct Result: Sendable {
        public let report: ParityReport
        public let tokens: [Int]
        public let sourceLogits: [[Float]]
        public let convertedLogits: [[Float]]
    }

    /// Logits of both models for `tokens`, and their comparison.
    public static func compare(source: WeightGraph, converted: WeightGraph, tokens: [Int], threads: Int) throws -> Result {
        guard source.config.vocabSize == converted.config.vocabSize else {
            throw VerifyError.vocabularyMismatch(source: source.path, sourceSize: source.config.vocabSize,
                                                 converted: converted.path, convertedSize: converted.config.vocabSize)
        }
        try checkTokens(tokens, vocabSize: source.config.vocabSize, path: source.path)
        let context = tokens.count
        let a = try passOverWeights(source, threads: threads, context: context).logits(tokens: tokens)
        let b = try passOverWeights(converted, threads: threads, context: context).logits(tokens: tokens)
        return Result(report: ParityReport.compare(source: a, converted: b, tokens: tokens), tokens: tokens,
                      sourceLogits: a, convertedLogits: b)
    }

    /// Tokens `verify` runs when none are given.
    public static let defaultTokenCountForHelp = 64

    /// Throws unless every id is inside the model's vocabulary.
    public static func checkTokenList(_ tokens: [Int], graph: WeightGraph) throws {
        try checkTokens(tokens, vocabSize: graph.config.vocabSize, path: graph.path)
    }

    /// The tokenizer the model carries (its folder's tokenizer files, or a GGUF's tokenizer keys).
    public static func tokenizer(for graph: WeightGraph) throws -> TextTokenizer {
        guard let (vocabulary, _) = try TokenizerSelection.vocabulary(for: graph) else {
            throw VerifyError.noTokenizer(path: graph.path)
        }
        return try Tokenizers.make(vocabulary)
    }

    /// Like `compare`, for token lists longer than a context: the list is scored in consecutive
    /// windows of `window` tokens, each run from an empty cache, and the rows joined in order.
    public static func compareInWindows(source: WeightGraph, converted: WeightGraph, tokens: [Int], window: Int,
                                        threads: Int) throws -> Result {
        guard tokens.count > window else { return try compare(source: source, converted: converted, tokens: tokens, threads: threads) }
        guard source.config.vocabSize == converted.config.vocabSize else {
            throw VerifyError.vocabularyMismatch(source: source.path, sourceSize: source.config.vocabSize,
                                                 converted: converted.path, convertedSize: converted.config.vocabSize)
        }
        try checkTokens(tokens, vocabSize: source.config.vocabSize, path: source.path)
        let a = try passOverWeights(source, threads: threads, context: window)
        let b = try passOverWeights(converted, threads: threads, context: window)
        var rowsA: [[Float]] = [], rowsB: [[Float]] = []
        for start in stride(from: 0, to: tokens.count, by: window) {
            let chunk = Array(tokens[start ..< min(start + window, tokens.count)])
            a.reset(); b.reset()
            rowsA += try a.logits(tokens: chunk)
            rowsB += try b.logits(tokens: chunk)
        }
        return Result(report: ParityReport.compare(source: rowsA, converted: rowsB, tokens: tokens), tokens: tokens,
                      sourceLogits: rowsA, convertedLogits: rowsB)
    }

    /// A forward pass that gives each matrix's mapped pages back once used: two models are read
    /// one after the other, and resident memory stays about one matrix wide (a batch of up to 64
    /// tokens reads every weight once; more batches map pages again from the page cache).
    static func passOverWeights(_ graph: WeightGraph, threads: Int, context: Int) throws -> Transformer {
        try Transformer(graph: graph, threads: threads, maxContext: context, releasingWeightsAfterUse: true)
    }

    static func checkTokens(_ tokens: [Int], vocabSize: Int, path: String) throws {
        guard !tokens.isEmpty else { throw VerifyError.noTokens }
        if let bad = tokens.first(where: { $0 < 0 || $0 >= vocabSize }) {
            throw VerifyError.tokenOutOfRange(path: path, token: bad, vocabSize: vocabSize)
        }
    }

    /// Token ids from "1,2,3" or a file of ids separated by commas or white space.
    public static func parseTokens(_ text: String, origin: String) throws -> [Int] {
        let parts = text.split(whereSeparator: { $0 == "," || $0.isWhitespace })
        return try parts.map { part in
            guard let id = Int(part) else { throw VerifyError.badTokenList(origin: origin, item: String(part)) }
            return id
        }
    }

    /// The KL divergence above which a conversion to `type` is called broken: far above what the
    /// type's rounding gives on real weights.
    public static func brokenKL(for choice: QuantChoice) -> Double {
        switch choice.baseType {
        case .f32, .f16, .bf16: return 0.01
        case .q8_0: return 0.05
        case .q6_K, .q5_K, .q5_0, .q5_1: return 0.25
        default: return 0.5
        }
    }
}

/// Errors of `verify` and of the built-in check.
public enum VerifyError: Error, CustomStringConvertible, Equatable {
    /// The two models do not share a vocabulary, so their distributions cannot be compared.
    case vocabularyMismatch(source: String, sourceSize: Int, converted: String, convertedSize: Int)
    /// A token id outside the vocabulary.
    case tokenOutOfRange(path: String, token: Int, vocabSize: Int)
    /// An item of a token list that is not an integer.
    case badTokenList(origin: String, item: String)
    /// An empty token list.
    case noTokens
    /// Text was given but the model carries no tokenizer.
    case noTokenizer(path: String)
    /// The file the conversion wrote does not read back as the tensors it checked.
    case writtenFileDiffers(path: String, tensor: String, problem: String)

    public var description: String {
        switch self {
        case let .vocabularyMismatch(source, a, converted, b):
            return "\(source) has \(a) tokens, \(converted) has \(b): the models cannot be compared"
        case let .tokenOutOfRange(path, token, vocab): return "\(path): token \(token) is outside the vocabulary of \(vocab)"
        case let .badTokenList(origin, item): return "\(origin): \"\(item)\" is not a token id"
        case .noTokens: return "no tokens to run"
        case let .noTokenizer(path): return "\(path): no tokenizer found, so text cannot be turned into tokens (give --tokens)"
        case let .writtenFileDiffers(path, tensor, problem): return "\(path): tensor \(tensor) reads back \(problem)"
        }
    }
}
