import Foundation

/// How far a converted model's logits are from the source model's, on the same tokens.
///
/// Everything is computed in Double from the float32 logits. Per position t the two next-token
/// distributions are log-softmaxes, log p = z − max z − log Σ exp(z − max z), and
/// KL(source ‖ converted) = Σ_v p_source(v) · (log p_source(v) − log p_converted(v)), the direction
/// llama.cpp's `--kl-divergence` uses (the source is the reference distribution). Perplexity of the
/// token list is exp(mean over t < n−1 of −log p(token[t+1] | tokens ≤ t)).
public struct ParityReport: Codable, Equatable, Sendable {
    /// Mean and max over positions of KL(source ‖ converted), in nats.
    public var klMean: Double
    public var klMax: Double
    /// Fraction of positions whose argmax token is the same in both.
    public var top1Agreement: Double
    /// Largest |source − converted| over every logit.
    public var logitMaxAbs: Double
    /// √(mean (source − converted)²) over every logit.
    public var logitRMS: Double
    /// Mean over positions of the cosine similarity of the two logit rows.
    public var cosine: Double
    /// Perplexity of the tokens under each model; nil with fewer than two tokens.
    public var pplSource: Double?
    public var pplConverted: Double?
    /// Positions compared.
    public var nTokens: Int
    public var klPerPosition: [Double]
    public var top1Match: [Bool]
    public var cosinePerPosition: [Double]
    public var logitMaxAbsPerPosition: [Double]
    /// −log p(token[t+1]) at positions t < n−1.
    public var nllSource: [Double]
    public var nllConverted: [Double]

    enum CodingKeys: String, CodingKey {
        case klMean = "kl_mean", klMax = "kl_max", top1Agreement = "top1_agreement"
        case logitMaxAbs = "logit_max_abs", logitRMS = "logit_rms", cosine
        case pplSource = "ppl_source", pplConverted = "ppl_converted", nTokens = "n_tokens"
        case klPerPosition = "kl_per_position", top1Match = "top1_match", cosinePerPosition = "cosine_per_position"
        case logitMaxAbsPerPosition = "logit_max_abs_per_position"
        case nllSource = "nll_source", nllConverted = "nll_converted"
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(klMean, forKey: .klMean)
        try c.encode(klMax, forKey: .klMax)
        try c.encode(top1Agreement, forKey: .top1Agreement)
        try c.encode(logitMaxAbs, forKey: .logitMaxAbs)
        try c.encode(logitRMS, forKey: .logitRMS)
        try c.encode(cosine, forKey: .cosine)
        // null rather than absent: scripts read a fixed set of keys.
        if let pplSource { try c.encode(pplSource, forKey: .pplSource) } else { try c.encodeNil(forKey: .pplSource) }
        if let pplConverted { try c.encode(pplConverted, forKey: .pplConverted) } else { try c.encodeNil(forKey: .pplConverted) }
        try c.encode(nTokens, forKey: .nTokens)
        try c.encode(klPerPosition, forKey: .klPerPosition)
        try c.encode(top1Match, forKey: .top1Match)
        try c.encode(cosinePerPosition, forKey: .cosinePerPosition)
        try c.encode(logitMaxAbsPerPosition, forKey: .logitMaxAbsPerPosition)
        try c.encode(nllSource, forKey: .nllSource)
        try c.encode(nllConverted, forKey: .nllConverted)
    }

    /// Compares logits row by row. `source` and `converted` hold one row per position, all of the
    /// same length; `tokens` are the tokens the rows were computed for (at least as many as rows
    /// for the perplexity; extra tokens are ignored).
    public static func compare(source: [[Float]], converted: [[Float]], tokens: [Int]) -> ParityReport {
        precondition(source.count == converted.count, "ParityReport: \(source.count) source rows, \(converted.count) converted")
        let n = source.count
        var kl = [Double](), match = [Bool](), cosines = [Double](), maxAbs = [Double]()
        var nllS = [Double](), nllC = [Double]()
        var squaredError = 0.0, values = 0
        for t in 0 ..< n {
            let s = source[t], c = converted[t]
            precondition(s.count == c.count && !s.isEmpty, "ParityReport: row \(t) has \(s.count) and \(c.count) logits")
            let ls = logSoftmax(s), lc = logSoftmax(c)
            var divergence = 0.0, dot = 0.0, normS = 0.0, normC = 0.0, worst = 0.0
            for v in 0 ..< s.count {
                let p = exp(ls[v])
                if p > 0 { divergence += p * (ls[v] - lc[v]) }
                let a = Double(s[v]), b = Double(c[v])
                dot += a * b
                normS += a * a
                normC += b * b
                worst = max(worst, abs(a - b))
                squaredError += (a - b) * (a - b)
            }
            values += s.count
            kl.append(max(divergence, 0)) // rounding can leave −1e-17 for identical rows
            match.append(argmax(s) == argmax(c))
            cosines.append(normS > 0 && normC > 0 ? dot / (normS * normC).squareRoot() : (normS == normC ? 1 : 0))
            maxAbs.append(worst)
            if t + 1 < n, t + 1 < tokens.count, (0 ..< s.count).contains(tokens[t + 1]) {
                nllS.append(-ls[tokens[t + 1]])
                nllC.append(-lc[tokens[t + 1]])
            }
        }
        func mean(_ x: [Double]) -> Double { x.isEmpty ? 0 : x.reduce(0, +) / Double(x.count) }
        return ParityReport(
            klMean: mean(kl), klMax: kl.max() ?? 0,
            top1Agreement: n == 0 ? 1 : Double(match.filter { $0 }.count) / Double(n),
            logitMaxAbs: maxAbs.max() ?? 0, logitRMS: values == 0 ? 0 : (squaredError / Double(values)).squareRoot(),
            cosine: n == 0 ? 1 : mean(cosines),
            pplSource: nllS.isEmpty ? nil : exp(mean(nllS)), pplConverted: nllC.isEmpty ? nil : exp(mean(nllC)),
            nTokens: n, klPerPosition: kl, top1Match: match, cosinePerPosition: cosines,
            logitMaxAbsPerPosition: maxAbs, nllSource: nllS, nllConverted: nllC)
    }

    /// log softmax in Double: z − max − log Σ exp(z − max).
    static func logSoftmax(_ z: [Float]) -> [Double] {
        let top = Double(z.max() ?? 0)
        let logSum = log(z.reduce(0.0) { $0 + exp(Double($1) - top) })
        return z.map { Double($0) - top - logSum }
    }

    /// The first index of the largest value.
    static func argmax(_ z: [Float]) -> Int {
        var best = 0
        for i in z.indices where z[i] > z[best] { best = i }
        return best
    }
}
