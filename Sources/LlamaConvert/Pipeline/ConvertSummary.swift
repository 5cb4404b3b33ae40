import Foundation

/// The closing summary of a conversion, as text.
public enum ConvertSummary {
    public static func text(_ r: ConvertReport, verbose: Bool) -> String {
        var lines: [String] = []
        lines.append("wrote \(r.output)")
        lines.append(String(format: "  %@ → %@, %d parameters", r.format, r.quant, r.parameters))
        lines.append(String(format: "  %.2f MB → %.2f MB, %.2f bits per weight", Double(r.inputBytes) / 1e6,
                            Double(r.outputBytes) / 1e6, r.bitsPerWeight))
        let checkShare = r.verify.map { String(format: " (%.2f s of it the parity check)", $0.seconds) } ?? ""
        lines.append(String(format: "  %.2f s%@, %.0f MB/s of input, %d threads, %@ kernels", r.seconds, checkShare,
                            r.inputMBPerSecond, r.threads, r.kernels))
        if r.fallbacks.isEmpty {
            lines.append("  fallbacks: none")
        } else {
            lines.append("  fallbacks (rows not a whole number of blocks):")
            for f in r.fallbacks {
                lines.append("    \(f.tensor): row length \(f.rowLength), \(f.wanted) → \(f.used)")
            }
        }
        lines.append("  tokenizer: " + (r.tokenizer?.text ?? "none"))
        for note in r.notes { lines.append("  note: \(note)") }
        if let v = r.verify {
            lines.append(String(format: "  parity check (%d tokens): KL mean %.3g, max %.3g; top-1 agreement %.1f%%; max logit error %.3g",
                                v.nTokens, v.klMean, v.klMax, 100 * v.top1Agreement, v.logitMaxAbs))
            if let problem = v.problem { lines.append("  BROKEN: \(problem)") }
        }
        if verbose, let tensors = r.tensors {
            lines.append("  per-tensor error (relative RMS, SQNR):")
            let width = tensors.map(\.name.count).max() ?? 0
            for t in tensors {
                let pad = String(repeating: " ", count: width - t.name.count)
                let rel = t.relRMSError.map { String(format: "%.2e", $0) } ?? "-"
                let sqnr = t.sqnrDB.map { $0.isFinite ? String(format: "%6.1f dB", $0) : "exact" } ?? "-"
                lines.append("    \(t.name)\(pad)  \(t.type.padding(toLength: 5, withPad: " ", startingAt: 0))  \(rel)  \(sqnr)")
            }
        }
        return lines.joined(separator: "\n")
    }
}
