import Foundation

/// The short parity check `convert` runs on what it writes, and its verdict.
public struct ConversionCheck: Codable, Sendable {
    public let nTokens: Int
    public let klMean: Double
    public let klMax: Double
    public let top1Agreement: Double
    public let logitMaxAbs: Double
    /// The KL above which the file is called broken for its type.
    public let brokenAbove: Double
    /// Why the converted file is considered broken, or nil when it is fine.
    public let problem: String?
    /// Time spent in the check's own work (both forward passes and the read-back), inside the
    /// conversion's `seconds`.
    public let seconds: Double

    enum CodingKeys: String, CodingKey {
        case nTokens = "n_tokens", klMean = "kl_mean", klMax = "kl_max", top1Agreement = "top1_agreement"
        case logitMaxAbs = "logit_max_abs", brokenAbove = "broken_above", problem, seconds
    }

    public static let defaultTokenCount = 32

    /// The verdict on a comparison: broken when a logit is not finite or the mean KL is far above
    /// what `choice` should give.
    init(report r: ParityReport, convertedLogits: [[Float]], choice: QuantChoice, seconds: Double) {
        let threshold = Verifier.brokenKL(for: choice)
        var problem: String? = nil
        if convertedLogits.contains(where: { $0.contains { !$0.isFinite } }) {
            problem = "the converted model's logits contain NaN or infinity"
        } else if !(r.klMean <= threshold) {
            problem = String(format: "mean KL divergence %.3g is far above what %@ should give (%.3g)", r.klMean, choice.description, threshold)
        }
        nTokens = r.nTokens
        klMean = r.klMean
        klMax = r.klMax
        top1Agreement = r.top1Agreement
        logitMaxAbs = r.logitMaxAbs
        brokenAbove = threshold
        self.problem = problem
        self.seconds = seconds
    }
}

/// The check run alongside a conversion: the reference forward pass of the source and of the
/// output over the same fixed tokens, each fed every chunk of rows the moment the converter has
/// encoded it (`IncrementalForward`), source rows and encoded rows side by side while both are in
/// cache, so the check reads no weight a second time. Before the file is renamed into place, its
/// tensor table is read back through the GGUF reader and must match what the check ran; with tied
/// embeddings the output projection (the embedding, which went by first) is read back from the
/// written file itself.
///
/// Its logits equal those of `Verifier.compare` on the finished file for the same tokens.
final class ConversionCheckRun {
    let tokens: [Int]
    private let graph: WeightGraph
    private let output: String
    private let choice: QuantChoice
    private let source: IncrementalForward
    private let converted: IncrementalForward
    private var nanoseconds: UInt64 = 0

    /// `pool`: its slots hold at least `scratchBytes(plans:)`.
    init(graph: WeightGraph, plans: [TensorPlan], output: String, choice: QuantChoice, tokenCount: Int, pool: WorkerPool) throws {
        self.graph = graph
        self.output = output
        self.choice = choice
        let count = max(1, min(tokenCount, graph.config.contextLength, Transformer.batchCapacity))
        tokens = Verifier.defaultTokens(count: count, vocabSize: graph.config.vocabSize)
        source = try IncrementalForward(config: graph.config, path: graph.path, tokens: tokens, pool: pool)
        converted = try IncrementalForward(config: graph.config, path: output, tokens: tokens, pool: pool)
    }

    /// Scratch per worker slot for every product the check runs over `plans`' tensors.
    static func scratchBytes(plans: [TensorPlan]) -> Int {
        var scratch = 0
        for plan in plans where plan.tensor.source.shape.count == 2 {
            let s = plan.tensor.source
            scratch = max(scratch,
                          MatMul.scratchBytes(type: s.type, cols: s.rowLength, rowsInMemory: StoredMatrix.rowStarts(of: s) != nil),
                          MatMul.scratchBytes(type: plan.type, cols: s.rowLength, rowsInMemory: true))
        }
        return scratch
    }

    var seconds: Double { Double(nanoseconds) / 1e9 }

    /// Rows `rows` of `plan`'s tensor: the source's, and `encoded` (what goes to the file).
    func take(_ plan: TensorPlan, rows: Range<Int>, encoded: UnsafeRawBufferPointer) throws {
        let t = plan.tensor
        guard IncrementalForward.consumes(t.role) else { return }
        try timed {
            if t.source.shape.count == 1 {
                var values = [Float](repeating: 0, count: t.source.rowLength)
                try values.withUnsafeMutableBufferPointer { v in
                    try RowCodec.dequantizeRow(type: plan.type, source: encoded.baseAddress!, count: v.count, into: v.baseAddress!)
                }
                try source.take(t.role, layer: t.layer, vector: try t.source.floats(), name: t.name)
                try converted.take(t.role, layer: t.layer, vector: values, name: t.name)
                return
            }
            let ours = BorrowedTensor(type: plan.type, shape: [rows.count, t.source.rowLength], bytes: encoded, origin: output)
            try source.take(t.role, layer: t.layer, rows: rows,
                            part: StoredMatrix(name: t.name, source: RowSliceTensor(base: t.source, rows: rows)))
            try converted.take(t.role, layer: t.layer, rows: rows, part: StoredMatrix(name: t.name, source: ours))
        }
    }

    /// With every tensor written (`writtenFile` complete, not yet renamed): reads its tensor
    /// table back, finishes a tied output projection from it, and compares the two passes.
    func finish(writtenFile: String, plans: [TensorPlan]) throws -> ConversionCheck {
        try timed {
            let written = try GGUFImporter.load(path: writtenFile)
            for plan in plans {
                let t = plan.tensor
                guard let back = written.tensor(t.role, layer: t.layer) else {
                    throw VerifyError.writtenFileDiffers(path: output, tensor: t.name, problem: "missing")
                }
                guard back.source.type == plan.type, back.source.shape == t.source.shape else {
                    throw VerifyError.writtenFileDiffers(path: output, tensor: t.name,
                                                         problem: "as \(back.source.type.name) \(back.source.shape), written as \(plan.type.name) \(t.source.shape)")
                }
            }
            if !plans.contains(where: { $0.tensor.role == .output }) {
                guard let a = graph.outputProjection, let b = written.outputProjection else {
                    throw ForwardError.missingTensor(path: output, tensor: TensorNames.gguf(.output))
                }
                let all = 0 ..< a.source.rowCount
                try source.take(.output, layer: nil, rows: all, part: StoredMatrix(name: a.name, source: a.source))
                try converted.take(.output, layer: nil, rows: all, part: StoredMatrix(name: b.name, source: b.source, releasesAfterUse: true))
            }
        }
        let (report, logits) = try timed {
            let a = try source.logits(), b = try converted.logits()
            return (ParityReport.compare(source: a, converted: b, tokens: tokens), b)
        }
        return ConversionCheck(report: report, convertedLogits: logits, choice: choice, seconds: seconds)
    }

    private func timed<T>(_ body: () throws -> T) rethrows -> T {
        let start = DispatchTime.now().uptimeNanoseconds
        defer { nanoseconds += DispatchTime.now().uptimeNanoseconds - start }
        return try body()
    }
}
