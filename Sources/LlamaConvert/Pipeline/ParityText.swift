import Foundation

/// The human-readable form of a parity report: one line per position, then the totals.
public enum ParityText {
    public static func text(_ r: ParityReport, tokens: [Int]) -> String {
        var lines = ["  pos  token        KL  top-1     cosine  max |Δlogit|"]
        for i in 0 ..< r.nTokens {
            lines.append(String(format: "%5d  %5d  %9.3g  %5@  %9.6f  %12.4g", i, tokens[i], r.klPerPosition[i],
                                r.top1Match[i] ? "yes" : "NO", r.cosinePerPosition[i], r.logitMaxAbsPerPosition[i]))
        }
        lines.append("")
        lines.append(String(format: "tokens %d; KL mean %.4g, max %.4g; top-1 agreement %.1f%%", r.nTokens, r.klMean, r.klMax, 100 * r.top1Agreement))
        lines.append(String(format: "logits: max abs error %.4g, RMS %.4g, cosine %.6f", r.logitMaxAbs, r.logitRMS, r.cosine))
        func ppl(_ x: Double?) -> String { x.map { String(format: "%.4f", $0) } ?? "-" }
        lines.append("perplexity of the tokens: source \(ppl(r.pplSource)), converted \(ppl(r.pplConverted))")
        return lines.joined(separator: "\n")
    }
}
