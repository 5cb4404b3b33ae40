import Foundation
import Testing
@testable import LlamaConvert

@Suite("verify: parity of conversions through the same forward pass")
struct VerifyTests {
    /// (quant, KL mean bound, top-1 bound) on the fixtures' 16 reference tokens.
    static let bounds: [(String, Double, Double)] = [
        ("f32", 1e-6, 1), ("f16", 1e-6, 1), ("q8_0", 1e-3, 0.8), ("q5_1", 0.05, 0.5), ("q4_0", 0.3, 0.25), ("q4_k", 0.3, 0.25),
    ]

    @Test("each conversion of a fixture keeps within its type's KL bound", arguments: ["hf-mqa-f16-tied-rope31", "meta-gqa-mp2"])
    func parityBounds(folder: String) throws {
        let tmp = TempFolder()
        let source = try ModelLoader.load(path: Fixtures.path(folder))
        let tokens = try Fixtures.reference(folder).tokens
        var previousKL = 0.0
        for (quant, klBound, top1Bound) in Self.bounds {
            let out = tmp.path + "/\(quant).gguf"
            _ = try Converter.convert(source, to: out, options: ConvertOptions(quant: QuantChoice(name: quant)!))
            let result = try Verifier.compare(source: source, converted: ModelLoader.load(path: out), tokens: tokens, threads: 2)
            let r = result.report
            #expect(r.klMean < klBound, "\(folder) \(quant): KL \(r.klMean)")
            #expect(r.top1Agreement >= top1Bound, "\(folder) \(quant): top-1 \(r.top1Agreement)")
            #expect(r.nTokens == tokens.count && r.cosine > 0.9)
            if quant == "f32" { #expect(r.logitMaxAbs < 1e-4) }
            // Fewer bits never does better here than the 8-bit type.
            if quant == "q8_0" { previousKL = r.klMean }
            if quant.hasPrefix("q4") { #expect(r.klMean > previousKL) }
        }
    }

    @Test("giving each layer's pages back after use changes no logit, over two batches")
    func releasingWeightsKeepsLogits() throws {
        let graph = try ModelLoader.load(path: Fixtures.path("hf-gqa-bf16-sharded"))
        let tokens = Verifier.defaultTokens(count: 70, vocabSize: graph.config.vocabSize)
        let kept = try Transformer(graph: graph, threads: 2, maxContext: 70).logits(tokens: tokens)
        let released = try Verifier.passOverWeights(graph, threads: 2, context: 70)
        #expect(released.releasesWeightsAfterUse)
        #expect(try released.logits(tokens: tokens) == kept)
    }

    @Test("the default token list is fixed, starts with BOS and stays inside the vocabulary")
    func defaultTokens() {
        let a = Verifier.defaultTokens(count: 64, vocabSize: 512)
        #expect(a == Verifier.defaultTokens(count: 64, vocabSize: 512))
        #expect(a.count == 64 && a[0] == 1 && a.allSatisfy { (0 ..< 512).contains($0) } && Set(a).count > 40)
    }

    @Test("verify --json has the documented keys; --max-kl sets the exit status; --save-logits writes .npy")
    func cli() throws {
        let tmp = TempFolder()
        let fixture = Fixtures.path("hf-mqa-f16-tied-rope31")
        let out = tmp.path + "/q4.gguf"
        let convert = try CLI.run([fixture, out, "--quant", "q4_0", "--quiet", "--json"])
        #expect(convert.status == 0, "\(convert.err)")
        let report = try JSONSerialization.jsonObject(with: Data(convert.out.utf8)) as! [String: Any]
        let check = try #require(report["verify"] as? [String: Any])
        #expect((check["kl_mean"] as! Double) > 0 && check["problem"] == nil)

        let ok = try CLI.run(["verify", fixture, out, "--tokens", "1,17,300,42,511,7", "--json", "--save-logits", tmp.path + "/logits"])
        #expect(ok.status == 0, "\(ok.err)")
        let json = try JSONSerialization.jsonObject(with: Data(ok.out.utf8)) as! [String: Any]
        for key in ["kl_mean", "kl_max", "top1_agreement", "logit_max_abs", "logit_rms", "cosine", "ppl_source", "ppl_converted", "n_tokens"] {
            #expect(json[key] != nil, "\(key)")
        }
        #expect(json["n_tokens"] as? Int == 6)
        let npy = try Data(contentsOf: URL(fileURLWithPath: tmp.path + "/logits/converted_logits.npy"))
        #expect(npy.count == 128 + 6 * 512 * 4 && npy.starts(with: [0x93] + Array("NUMPY".utf8)))

        let gated = try CLI.run(["verify", fixture, out, "--tokens", "1,17,300", "--max-kl", "1e-9"])
        #expect(gated.status == 1 && gated.err.contains("--max-kl"))
        let bad = try CLI.run(["verify", fixture, out, "--tokens", "1,99999"])
        #expect(bad.status != 0 && bad.err.contains("99999"))
    }

    @Test("run prints a deterministic greedy continuation of the prompt")
    func runCommand() throws {
        let first = try CLI.run(["run", Fixtures.path("hf-mqa-f16-tied-rope31"), "--tokens", "1,17,300", "-n", "5", "--json"])
        #expect(first.status == 0, "\(first.err)")
        let json = try JSONSerialization.jsonObject(with: Data(first.out.utf8)) as! [String: Any]
        #expect((json["generated"] as! [Int]).count == 5 && json["prompt"] as! [Int] == [1, 17, 300])
        let again = try CLI.run(["run", Fixtures.path("hf-mqa-f16-tied-rope31"), "--tokens", "1,17,300", "-n", "5", "--json", "--threads", "1"])
        let second = try JSONSerialization.jsonObject(with: Data(again.out.utf8)) as! [String: Any]
        #expect(second["generated"] as! [Int] == json["generated"] as! [Int])
        // The speed figures: the prompt's pass, then the four single-token passes.
        for key in ["prompt_seconds", "prompt_tokens_per_second", "generation_seconds", "generated_tokens_per_second"] {
            #expect((json[key] as? Double).map { $0 > 0 } == true, "\(key)")
        }
        #expect(second["threads"] as? Int == 1 && json["kernels"] is String)
    }

    @Test("long token lists are scored in windows: each window equals a fresh run of its tokens")
    func windows() throws {
        let source = try ModelLoader.load(path: Fixtures.path("hf-mqa-f16-tied-rope31"))
        let tokens = Verifier.defaultTokens(count: 20, vocabSize: 512)
        let windowed = try Verifier.compareInWindows(source: source, converted: source, tokens: tokens, window: 8, threads: 2)
        #expect(windowed.sourceLogits.count == 20 && windowed.report.klMax == 0)
        let third = try Verifier.compare(source: source, converted: source, tokens: Array(tokens[16...]), threads: 2)
        #expect(Array(windowed.sourceLogits[16...]) == third.sourceLogits)
    }

    @Test("verify --prompt and run --prompt tokenize with the model's tokenizer")
    func textPrompts() throws {
        let tmp = TempFolder()
        let fixture = Fixtures.path("hf-mqa-f16-tied-rope31")
        let out = tmp.path + "/q8.gguf"
        #expect(try CLI.run([fixture, out, "--quant", "q8_0", "--quiet", "--no-verify"]).status == 0)
        let text = "Hello world, the llama 🦙 eats 12345 leaves."
        let verify = try CLI.run(["verify", fixture, out, "--prompt", text, "--json"])
        #expect(verify.status == 0, "\(verify.err)")
        let json = try JSONSerialization.jsonObject(with: Data(verify.out.utf8)) as! [String: Any]
        let expected = try Verifier.tokenizer(for: ModelLoader.load(path: fixture)).encode(text, addBOS: true)
        #expect(json["n_tokens"] as? Int == expected.count && (json["kl_mean"] as! Double) < 1e-3)
        let run = try CLI.run(["run", out, "--prompt", "Hello", "-n", "3", "--json"])
        #expect(run.status == 0, "\(run.err)")
        let r = try JSONSerialization.jsonObject(with: Data(run.out.utf8)) as! [String: Any]
        #expect(r["text"] is String && (r["generated"] as! [Int]).count == 3)
        let none = try CLI.run(["verify", Fixtures.path("bad/safetensors-good-base.safetensors"), out, "--prompt", "x"])
        #expect(none.status != 0)
    }
}
