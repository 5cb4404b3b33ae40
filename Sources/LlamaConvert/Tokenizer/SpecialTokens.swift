/// Special token ids, add-BOS/EOS flags and the chat template, resolved the way llama.cpp's
/// `gguf-py/gguf/vocab.py` `SpecialVocab` does:
///
/// 1. tokenizer.json present: `tokenizer_config.json` `<kind>_token` texts (cls stands in for a
///    missing bos, sep for a missing eos); the post-processor decides add_bos/add_eos
///    (RobertaProcessing → both; TemplateProcessing whose single template has more than one entry:
///    a leading special token equal to bos/cls → add_bos, a trailing one → add_eos, and a trailing
///    token other than eos replaces eos).
/// 2. Only if tokenizer_config.json exists: its chat_template (else chat_template.jinja), its
///    boolean `add_<kind>_token` (overriding the post-processor), and each `<kind>_token` text
///    looked up in tokenizer.json's `added_tokens` (first match wins).
/// 3. config.json `<kind>_token_id` integers (or `text_config`'s) fill the kinds still unset;
///    lists (Llama 3.1 Instruct's eos) are ignored.
/// An id is kept only when below `nVocab` (when given); the first value set for a kind wins.
struct SpecialTokens {
    var ids: [String: Int] = [:]
    var add: [String: Bool] = [:]
    var chatTemplate: TokenizerConfig.ChatTemplate?

    static let kinds = TokenizerConfig.kinds

    mutating func set(_ kind: String, _ id: Int?, nVocab: Int?, path: String) throws {
        guard let id else { return }
        guard id >= 0 else { throw TokenizerError.tokenIDOutOfRange(path: path, token: "\(kind) token", id: id, limit: nVocab ?? Int.max) }
        if let nVocab, id >= nVocab { return }
        if ids[kind] == nil { ids[kind] = id }
    }

    static func resolve(tokenizerJSON: HFTokenizerJSON?, config: TokenizerConfig?, chatTemplateFile: String?,
                        modelConfig: (path: String, json: JSONNode)?, nVocab: Int?) throws -> SpecialTokens {
        var result = SpecialTokens()
        var config = config
        if let tj = tokenizerJSON {
            var bos = config?.tokens["bos"], eos = config?.tokens["eos"]
            let cls = config?.tokens["cls"], sep = config?.tokens["sep"]
            if bos == nil || bos == "", let cls, config != nil { config?.tokens["bos"] = cls; bos = cls }
            if eos == nil || eos == "", let sep, config != nil { config?.tokens["eos"] = sep; eos = sep }
            if tj.robertaProcessing {
                result.add["bos"] = true
                result.add["eos"] = true
                result.add["sep"] = true
            }
            for template in tj.templates where template.count > 1 {
                if let first = template.firstSpecial, !first.isEmpty {
                    if config == nil { bos = first }
                    result.add["bos"] = first == bos || first == cls
                }
                if let last = template.lastSpecial, !last.isEmpty {
                    if config == nil {
                        eos = last
                    } else if last != eos {
                        config?.tokens["eos"] = last
                        eos = last
                    }
                    result.add["eos"] = last == eos
                }
            }
        }
        if let config {
            switch config.chatTemplate {
            case let template?: result.chatTemplate = template
            case nil: result.chatTemplate = chatTemplateFile.map { .single($0) }
            }
            for kind in kinds {
                if let flag = config.addSpecial[kind] { result.add[kind] = flag }
                guard let text = config.tokens[kind] else { continue }
                let id = tokenizerJSON?.addedTokens.first(where: { $0.content == text })?.id
                try result.set(kind, id, nVocab: nVocab, path: config.path)
            }
        }
        if let (path, json) = modelConfig {
            for kind in kinds {
                let key = "\(kind)_token_id"
                let value = json[key] ?? json["text_config"]?[key]
                try result.set(kind, value?.int, nVocab: nVocab, path: path)
            }
        }
        return result
    }

    /// llama.cpp's `does_token_look_special`: added tokens it treats as CONTROL even when not
    /// flagged special.
    static func looksSpecial(_ text: String) -> Bool {
        if ["<pad>", "<mask>", "<2mass>", "[@BOS@]"].contains(text) { return true }
        if text.hasPrefix("<|") && text.hasSuffix("|>") { return true }
        if text.hasPrefix("<\u{FF5C}") && text.hasSuffix("\u{FF5C}>") { return true }
        if text.hasPrefix("<unused") && text.hasSuffix(">") { return true }
        return false
    }
}
