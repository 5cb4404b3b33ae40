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

    @Test("the check inside convert gives verify's figures on the written file and changes no byte of it",
          arguments: ["hf-mqa-f16-tied-rope31", "meta-gqa-mp2", "hf-gqa-bf16-sharded"])
    func checkDuringConversion(folder: String) throws {
        let tmp = TempFolder()
        let source = try ModelLoader.load(path: Fixtures.path(folder))
        let tokens = Verifier.defaultTokens(count: ConversionCheck.defaultTokenCount, vocabSize: source.config.vocabSize)
        for quant in ["f16", "q8_0", "q4"] {
            let plain = tmp.path + "/\(quant)-plain.gguf", checked = tmp.path + "/\(quant).gguf"
            _ = try Converter.convert(source, to: plain, options: ConvertOptions(quant: QuantChoice(name: quant)!, threads: 2))
            let two = try Converter.convert(source, to: checked, options: ConvertOptions(quant: QuantChoice(name: quant)!, threads: 2,
                                                                                          checkTokens: tokens.count))
            let one = try Converter.convert(source, to: tmp.path + "/\(quant)-1.gguf",
                                            options: ConvertOptions(quant: QuantChoice(name: quant)!, threads: 1, checkTokens: tokens.count))
            #expect(try Data(contentsOf: URL(fileURLWithPath: plain)) == Data(contentsOf: URL(fileURLWithPath: checked)))
            let after = try Verifier.compare(source: source, converted: ModelLoader.load(path: checked), tokens: tokens, threads: 2).report
            let v = try #require(two.verify)
            #expect(v.nTokens == tokens.count && v.problem == nil)
            #expect(v.klMean == after.klMean && v.klMax == after.klMax && v.top1Agreement == after.top1Agreement
                && v.logitMaxAbs == after.logitMaxAbs, "\(folder) \(quant): \(v) against \(after)")
            let w = try #require(one.verify)
            #expect(w.klMean == v.klMean && w.logitMaxAbs == v.logitMaxAbs, "thread count")
            #expect(v.seconds > 0 && v.seconds < two.seconds)
        }
    }

    @Test("a conversion whose check finds NaN logits says BROKEN, exits 3 and keeps OUT")
    func brokenConversionIsLoud() throws {
        // One weight of 1e5 is fine in BF16 and in the source's float32 arithmetic, but past F16's
        // 65504 it becomes infinity: the converted model's logits go NaN.
        let tmp = TempFolder()
        let folder = tmp.path + "/model"
        try FileManager.default.copyItem(atPath: Fixtures.path("hf-gqa-bf16-sharded"), toPath: folder)
        let shard = folder + "/model-00001-of-00002.safetensors"
        var bytes = try Data(contentsOf: URL(fileURLWithPath: shard))
        let headerLength = Int(bytes.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }.littleEndian)
        let header = try JSONSerialization.jsonObject(with: bytes.subdata(in: 8 ..< 8 + headerLength)) as! [String: Any]
        let entry = try #require(header["model.layers.0.mlp.down_proj.weight"] as? [String: Any])
        #expect(entry["dtype"] as? String == "BF16")
        let start = 8 + headerLength + (entry["data_offsets"] as! [Int])[0]
        bytes[start] = 0xC3; bytes[start + 1] = 0x47  // bf16 0x47C3 = 99840
        try bytes.write(to: URL(fileURLWithPath: shard))

        let out = tmp.path + "/broken.gguf"
        let run = try CLI.run([folder, out, "--quant", "f16", "--json"])
        #expect(run.status == 3, "\(run.err)")
        #expect(run.err.contains("BROKEN") && run.err.contains("NaN"), "\(run.err)")
        #expect(FileManager.default.fileExists(atPath: out), "the broken file is kept for inspection")
        let report = try JSONSerialization.jsonObject(with: Data(run.out.utf8)) as! [String: Any]
        let check = try #require(report["verify"] as? [String: Any])
        #expect((check["problem"] as? String)?.contains("NaN") == true)
        // The same source as Q8_0 (whose blocks hold the value) is fine.
        let q8 = try CLI.run([folder, tmp.path + "/q8.gguf", "--quant", "q8_0", "--quiet"])
        #expect(q8.status == 0, "\(q8.err)")
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
