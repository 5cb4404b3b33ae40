import Foundation
import Testing
@testable import LlamaConvert

@Suite("Parity report")
struct ParityTests {
    let rows: [[Float]] = [[2, 1, 0, -1], [0, 0, 3, 1], [1, 1, 1, 1]]

    @Test("identical logits: KL 0, full top-1 agreement, cosine 1, no error, equal perplexities")
    func identical() {
        let r = ParityReport.compare(source: rows, converted: rows, tokens: [0, 2, 1])
        #expect(r.klMean == 0 && r.klMax == 0)
        #expect(r.top1Agreement == 1 && r.logitMaxAbs == 0 && r.logitRMS == 0)
        #expect(abs(r.cosine - 1) < 1e-12)
        #expect(r.pplSource == r.pplConverted && r.nTokens == 3)
    }

    @Test("KL of two-way distributions matches the closed form")
    func twoWayKL() {
        // p = softmax(0, 0) = (½, ½), q = softmax(log 3, 0) = (¾, ¼):
        // KL(p‖q) = ½ log(½/¾) + ½ log(½/¼) = ½ log(4/3).
        let r = ParityReport.compare(source: [[0, 0]], converted: [[Float(log(3.0)), 0]], tokens: [0])
        #expect(abs(r.klMean - 0.5 * log(4.0 / 3.0)) < 1e-7)
        #expect(r.top1Match == [true], "a tie in the source goes to the lowest id, like the converted argmax")
    }

    @Test("KL is the source-to-converted direction, not the reverse")
    func direction() {
        let p: [Float] = [0, 0], q: [Float] = [Float(log(3.0)), 0]
        let forward = ParityReport.compare(source: [p], converted: [q], tokens: [0]).klMean
        let reverse = ParityReport.compare(source: [q], converted: [p], tokens: [0]).klMean
        // KL(q‖p) = ¾ log(3/2) + ¼ log(1/2)
        #expect(abs(reverse - (0.75 * log(1.5) + 0.25 * log(0.5))) < 1e-7 && abs(forward - reverse) > 1e-3)
    }

    @Test("uniform logits over V tokens have perplexity V")
    func uniformPerplexity() {
        let flat = [[Float]](repeating: [Float](repeating: 0.5, count: 7), count: 5)
        let r = ParityReport.compare(source: flat, converted: flat, tokens: [1, 2, 3, 4, 5])
        #expect(abs(r.pplSource! - 7) < 1e-9 && r.nllSource.count == 4)
    }

    @Test("perplexity is exp of the mean NLL of each next token")
    func perplexity() {
        let r = ParityReport.compare(source: rows, converted: rows, tokens: [0, 2, 3])
        let l0 = ParityReport.logSoftmax(rows[0]), l1 = ParityReport.logSoftmax(rows[1])
        #expect(abs(r.pplSource! - exp(-(l0[2] + l1[3]) / 2)) < 1e-12)
    }

    @Test("error statistics: max abs, RMS, top-1 disagreement, cosine")
    func errors() {
        var other = rows
        other[1][2] = -3 // top-1 moves from 2 to 3
        let r = ParityReport.compare(source: rows, converted: other, tokens: [0, 1, 2])
        #expect(r.logitMaxAbs == 6 && abs(r.logitRMS - (36.0 / 12).squareRoot()) < 1e-12)
        #expect(r.top1Match == [true, false, true] && abs(r.top1Agreement - 2.0 / 3) < 1e-12)
        #expect(r.cosinePerPosition[1] < 0 && r.klPerPosition[1] > 1)
    }

    @Test("a single position has no perplexity, encoded as null")
    func jsonKeys() throws {
        let r = ParityReport.compare(source: [rows[0]], converted: [rows[0]], tokens: [1])
        #expect(r.pplSource == nil)
        let json = try JSONSerialization.jsonObject(with: JSONEncoder().encode(r)) as! [String: Any]
        for key in ["kl_mean", "kl_max", "top1_agreement", "logit_max_abs", "logit_rms", "cosine", "ppl_source",
                    "ppl_converted", "n_tokens"] {
            #expect(json[key] != nil, "\(key)")
        }
        #expect(json["ppl_source"] is NSNull)
        #expect(try JSONDecoder().decode(ParityReport.self, from: JSONEncoder().encode(r)) == r)
    }
}
