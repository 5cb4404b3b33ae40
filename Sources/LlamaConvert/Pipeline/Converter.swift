import Dispatch
import Foundation

/// Options of one conversion.
public struct ConvertOptions: Sendable {
    public var quant: QuantChoice
    public var threads: Int
    /// Per-tensor relative RMS error and SQNR against the source values.
    public var measureError: Bool
    /// `general.name`; defaults to the input's folder name.
    public var name: String?
    /// Floats per chunk of rows: bounds the memory of the pipeline, whatever the model size.
    public var chunkFloats: Int
    /// By default a conversion without a tokenizer is refused (llama.cpp could not load the file).
    public var tokenizer: TokenizerPolicy
    /// Tokens of the parity check run alongside the conversion (`ConversionCheckRun`), whose
    /// verdict lands in `ConvertReport.verify`; nil runs none.
    public var checkTokens: Int?

    public init(quant: QuantChoice, threads: Int = ProcessInfo.processInfo.activeProcessorCount,
                measureError: Bool = false, name: String? = nil, chunkFloats: Int = 1 << 22,
                tokenizer: TokenizerPolicy = .required, checkTokens: Int? = nil) {
        self.quant = quant
        self.threads = max(1, threads)
        self.measureError = measureError
        self.name = name
        self.chunkFloats = chunkFloats
        self.tokenizer = tokenizer
        self.checkTokens = checkTokens
    }
}

/// Where a conversion is, for the progress line.
public struct ConvertProgress: Sendable {
    public let tensorIndex: Int
    public let tensorCount: Int
    public let tensorName: String
    public let bytesDone: Int
    public let bytesTotal: Int
    public let seconds: Double
}

/// What a conversion did; `--json` prints it as it is.
public struct ConvertReport: Codable, Sendable {
    public struct Fallback: Codable, Sendable {
        public let tensor: String
        public let rowLength: Int
        public let wanted: String
        public let used: String
        enum CodingKeys: String, CodingKey { case tensor, rowLength = "row_length", wanted, used }
    }

    public struct TensorReport: Codable, Sendable {
        public let name: String
        public let type: String
        public let shape: [Int]
        public let bytes: Int
        public var relRMSError: Double?
        public var sqnrDB: Double?
        enum CodingKeys: String, CodingKey { case name, type, shape, bytes, relRMSError = "rel_rms_error", sqnrDB = "sqnr_db" }
    }

    public var input: String
    public var output: String
    public var format: String
    public var quant: String
    public var fileType: UInt32
    public var parameters: Int
    public var inputBytes: Int
    public var outputBytes: Int
    public var bitsPerWeight: Double
    /// Wall time of the whole conversion, the parity check (`verify.seconds`) included.
    public var seconds: Double
    public var inputMBPerSecond: Double
    public var threads: Int
    /// Which kernels ran (`HostCPU.kernelName`).
    public var kernels: String
    public var fallbacks: [Fallback]
    public var tensors: [TensorReport]?
    /// The tokenizer written; nil with `TokenizerPolicy.skip` (encoded as null).
    public var tokenizer: TokenizerSummary?
    public var notes: [String]
    /// The parity check run on the written file (absent with `--no-verify`).
    public var verify: ConversionCheck?

    enum CodingKeys: String, CodingKey {
        case input, output, format, quant, fileType = "file_type", parameters, inputBytes = "input_bytes"
        case outputBytes = "output_bytes", bitsPerWeight = "bits_per_weight", seconds
        case inputMBPerSecond = "input_mb_per_s", threads, kernels, fallbacks, tensors, tokenizer, notes, verify
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(input, forKey: .input); try c.encode(output, forKey: .output); try c.encode(format, forKey: .format)
        try c.encode(quant, forKey: .quant); try c.encode(fileType, forKey: .fileType); try c.encode(parameters, forKey: .parameters)
        try c.encode(inputBytes, forKey: .inputBytes); try c.encode(outputBytes, forKey: .outputBytes)
        try c.encode(bitsPerWeight, forKey: .bitsPerWeight); try c.encode(seconds, forKey: .seconds)
        try c.encode(inputMBPerSecond, forKey: .inputMBPerSecond); try c.encode(threads, forKey: .threads)
        try c.encode(kernels, forKey: .kernels)
        try c.encode(fallbacks, forKey: .fallbacks); try c.encodeIfPresent(tensors, forKey: .tensors)
        try c.encode(tokenizer, forKey: .tokenizer); try c.encode(notes, forKey: .notes)
        try c.encodeIfPresent(verify, forKey: .verify)
    }
}

/// The main job: canonical graph in, GGUF out, tensor by tensor in chunks of rows, quantized on
/// all cores, written at final offsets of a temporary file renamed into place when complete.
public enum Converter {
    public static func convert(_ graph: WeightGraph, to output: String, options: ConvertOptions,
                               progress: ((ConvertProgress) -> Void)? = nil) throws -> ConvertReport {
        let start = DispatchTime.now()
        let inputs = Set(graph.tensors.flatMap { $0.source.origin.components(separatedBy: " + ") })
        let resolved = URL(fileURLWithPath: output).resolvingSymlinksInPath().path
        if inputs.contains(where: { URL(fileURLWithPath: $0).resolvingSymlinksInPath().path == resolved }) {
            throw OutputError.outputIsInput(path: output)
        }
        let plans = QuantPlanner.plan(graph, options.quant)
        let name = options.name ?? URL(fileURLWithPath: graph.path).deletingPathExtension().lastPathComponent
        var metadata = llamaMetadata(config: graph.config, name: name, fileType: options.quant.fileType.rawValue)
        var notes = graph.notes
        var tokenizer: TokenizerSummary?
        switch options.tokenizer {
        case .required:
            guard let (vocab, summary) = try TokenizerSelection.vocabulary(for: graph) else {
                throw TokenizerError.noTokenizerForModel(input: TokenizerSelection.inputFolder(graph),
                                                         lookedFor: TokenizerSelection.lookedFor(graph))
            }
            metadata += vocab.metadata
            tokenizer = summary
            if summary.padding > 0 {
                notes.append("tokenizer padded with \(summary.padding) [PADn] entries to the \(summary.vocabSize) embedding rows")
            }
        case .skip:
            notes.append("no tokenizer written (--no-tokenizer): llama.cpp cannot load this file as it is")
        }
        let layout = try GGUFLayout(metadata: metadata,
                                    tensors: plans.map { GGUFTensorPlan(name: $0.tensor.name, type: $0.type, shape: $0.tensor.source.shape) })
        let out = try AtomicOutput(path: output, size: layout.fileSize)
        try layout.headerBytes.withUnsafeBytes { try out.write($0, at: 0) }

        let totalBytes = graph.byteCount
        var doneBytes = 0
        var tensorReports: [ConvertReport.TensorReport] = []
        let workspace = Workspace(plans: plans, chunkFloats: options.chunkFloats, threads: options.threads,
                                  scratchBytesPerSlot: options.checkTokens == nil ? 0 : ConversionCheckRun.scratchBytes(plans: plans))
        defer { workspace.deallocate() }
        let check = try options.checkTokens.map {
            try ConversionCheckRun(graph: graph, plans: plans, output: output, choice: options.quant, tokenCount: $0, pool: workspace.pool)
        }
        for (index, plan) in plans.enumerated() {
            let error = try convertTensor(plan, at: layout.tensorOffsets[index], into: out, workspace: workspace,
                                          options: options, check: check) { rowsDone in
                let bytes = doneBytes + rowsDone * plan.tensor.source.rowBytes
                progress?(ConvertProgress(tensorIndex: index, tensorCount: plans.count, tensorName: plan.tensor.name,
                                          bytesDone: bytes, bytesTotal: totalBytes, seconds: seconds(since: start)))
            }
            doneBytes += plan.tensor.source.byteCount
            var report = ConvertReport.TensorReport(name: plan.tensor.name, type: plan.type.name, shape: plan.tensor.source.shape,
                                                    bytes: plan.type.rowBytes(plan.tensor.source.rowLength)! * plan.tensor.source.rowCount)
            if let error {
                report.relRMSError = error.signal > 0 ? (error.noise / error.signal).squareRoot() : 0
                report.sqnrDB = error.noise > 0 ? 10 * log10(error.signal / error.noise) : .infinity
            }
            tensorReports.append(report)
        }
        try out.finishWriting()
        let verdict = try check?.finish(writtenFile: out.tempPath, plans: plans)
        try out.commit()
        let elapsed = seconds(since: start)
        let parameters = graph.parameterCount
        var report = ConvertReport(
            input: graph.path, output: output, format: graph.format.rawValue, quant: options.quant.description,
            fileType: options.quant.fileType.rawValue, parameters: parameters, inputBytes: totalBytes,
            outputBytes: layout.fileSize, bitsPerWeight: Double(tensorReports.reduce(0) { $0 + $1.bytes } * 8) / Double(max(parameters, 1)),
            seconds: elapsed, inputMBPerSecond: Double(totalBytes) / 1e6 / max(elapsed, 1e-9), threads: options.threads,
            kernels: HostCPU.kernelName,
            fallbacks: plans.compactMap { plan in
                plan.fallbackFrom.map { ConvertReport.Fallback(tensor: plan.tensor.name, rowLength: plan.tensor.source.rowLength,
                                                               wanted: $0.name, used: plan.type.name) }
            },
            tensors: options.measureError ? tensorReports : nil,
            tokenizer: tokenizer,
            notes: notes)
        report.verify = verdict
        return report
    }

    static func seconds(since start: DispatchTime) -> Double {
        Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
    }

    struct ErrorSums { var signal: Double = 0; var noise: Double = 0 }

    /// Buffers sized once for the widest chunk of any tensor, so converting allocates nothing per tensor.
    final class Workspace: @unchecked Sendable {
        let floats: UnsafeMutableBufferPointer<Float>
        let stored: UnsafeMutableRawBufferPointer
        let encoded: UnsafeMutableRawBufferPointer
        /// One row of dequantized values per worker, for error figures.
        let check: UnsafeMutableBufferPointer<Float>
        let rowSums: UnsafeMutableBufferPointer<ErrorSums>
        let maxRowLength: Int
        let chunkFloats: Int
        /// Encodes each chunk's rows in parallel; the check's products run on it too, so the two
        /// never compete for the cores.
        let pool: WorkerPool

        init(plans: [TensorPlan], chunkFloats: Int, threads: Int, scratchBytesPerSlot: Int) {
            let maxRowLength = plans.map(\.tensor.source.rowLength).max() ?? 1
            let chunk = max(chunkFloats, maxRowLength)
            self.maxRowLength = maxRowLength
            self.chunkFloats = chunk
            pool = WorkerPool(threads: threads, scratchBytesPerSlot: scratchBytesPerSlot)
            let maxRows = plans.map { Workspace.rowsPerChunk($0.tensor.source, chunk) }.max() ?? 1
            let maxStored = plans.map { Workspace.rowsPerChunk($0.tensor.source, chunk) * $0.tensor.source.rowBytes }.max() ?? 1
            let maxEncoded = plans.map { Workspace.rowsPerChunk($0.tensor.source, chunk) * ($0.type.rowBytes($0.tensor.source.rowLength) ?? 0) }.max() ?? 1
            floats = .allocate(capacity: chunk)
            stored = .allocate(byteCount: max(maxStored, 1), alignment: 64)
            encoded = .allocate(byteCount: max(maxEncoded, 1), alignment: 64)
            check = .allocate(capacity: maxRowLength * pool.slots)
            rowSums = .allocate(capacity: maxRows)
        }

        static func rowsPerChunk(_ source: any TensorSource, _ chunkFloats: Int) -> Int {
            max(1, min(source.rowCount, chunkFloats / max(source.rowLength, 1)))
        }

        func deallocate() {
            floats.deallocate(); stored.deallocate(); encoded.deallocate(); check.deallocate(); rowSums.deallocate()
        }
    }

    /// Converts one tensor chunk by chunk; returns error sums when asked to measure.
    static func convertTensor(_ plan: TensorPlan, at offset: Int, into out: AtomicOutput, workspace w: Workspace,
                              options: ConvertOptions, check: ConversionCheckRun?, progress: (Int) -> Void) throws -> ErrorSums? {
        let source = plan.tensor.source
        let rowLength = source.rowLength, rowCount = source.rowCount
        let inRowBytes = source.rowBytes
        guard let outRowBytes = plan.type.rowBytes(rowLength) else {
            throw QuantError.rowNotBlockAligned(tensor: plan.tensor.name, rowLength: rowLength, type: plan.type)
        }
        let chunkRows = Workspace.rowsPerChunk(source, w.chunkFloats)
        var total = ErrorSums()
        let measure = options.measureError
        // Same stored type in and out (f16 → f16): bytes are copied as they are.
        let copyThrough = source.type == plan.type && !measure
        // bf16 → f16 without error figures: stored bytes converted straight into the output chunk.
        let bf16ToHalf = source.type == .bf16 && plan.type == .f16 && !measure
        var first = 0
        while first < rowCount {
            let rows = min(chunkRows, rowCount - first)
            if copyThrough {
                try source.readRows(first ..< first + rows, into: UnsafeMutableRawBufferPointer(rebasing: w.encoded[0 ..< rows * outRowBytes]))
            } else {
                let chunkFirst = first
                // Results never depend on the ranges: each row is encoded alone, sums are added in row order.
                try w.pool.forEachRange(rows) { range, slot in
                    let a = range.lowerBound, b = range.upperBound
                    if bf16ToHalf {
                        let stored = UnsafeMutableRawBufferPointer(rebasing: w.stored[a * inRowBytes ..< b * inRowBytes])
                        try source.readRows(chunkFirst + a ..< chunkFirst + b, into: stored)
                        HalfFloat.bf16ToHalf(UnsafeRawPointer(stored.baseAddress!), count: (b - a) * rowLength,
                                             into: w.encoded.baseAddress! + a * outRowBytes)
                        return
                    }
                    let floats = UnsafeMutableBufferPointer(rebasing: w.floats[a * rowLength ..< b * rowLength])
                    try source.readFloatRows(chunkFirst + a ..< chunkFirst + b, into: floats,
                                             scratch: UnsafeMutableRawBufferPointer(rebasing: w.stored[a * inRowBytes ..< b * inRowBytes]))
                    let check = w.check.baseAddress! + slot * w.maxRowLength
                    for r in a ..< b {
                        let x = w.floats.baseAddress! + r * rowLength
                        let y = w.encoded.baseAddress! + r * outRowBytes
                        try RowCodec.quantizeRow(type: plan.type, source: x, count: rowLength, into: y)
                        if measure {
                            try RowCodec.dequantizeRow(type: plan.type, source: y, count: rowLength, into: check)
                            var sums = ErrorSums()
                            for i in 0 ..< rowLength {
                                let s = Double(x[i]), e = Double(check[i]) - s
                                sums.signal += s * s
                                sums.noise += e * e
                            }
                            w.rowSums[r] = sums
                        }
                    }
                }
                if measure {
                    // Summed in row order, so the figures do not depend on the thread count.
                    for r in 0 ..< rows {
                        total.signal += w.rowSums[r].signal
                        total.noise += w.rowSums[r].noise
                    }
                }
            }
            let encoded = UnsafeRawBufferPointer(rebasing: w.encoded[0 ..< rows * outRowBytes])
            try check?.take(plan, rows: first ..< first + rows, encoded: encoded)
            try out.write(encoded, at: offset + first * outRowBytes)
            source.releaseRows(first ..< first + rows)
            first += rows
            progress(first)
        }
        return measure ? total : nil
    }
}
