import Foundation

/// Meta's Llama 3 `tokenizer.model`: tiktoken BPE ranks as text lines `base64(token bytes) SP rank`
/// (meta-llama/llama-models `models/tokenizer_utils.py`, `load_bpe_file`). The special tokens are
/// not in the file: Meta's `tokenizer.py` numbers them right after the last rank.
public struct TiktokenModel {
    public let path: String
    /// Token bytes by rank (= token id).
    public var tokens: [[UInt8]]

    /// Meta's `num_reserved_special_tokens`.
    public static let llama3SpecialCount = 256

    /// The two namings of Llama 3's special tokens.
    public enum SpecialNaming {
        /// meta-llama/llama3 `llama/tokenizer.py` (Llama 3.0): 10 named, then reserved_5....
        case llama3
        /// meta-llama/llama-models `models/llama3/tokenizer.py` (Llama 3.1 and later): 12 named,
        /// then reserved_2....
        case llamaModels
    }

    public static func load(path: String) throws -> TiktokenModel {
        let file = try MappedFile(path: path)
        return try TiktokenModel(path: path, bytes: file.bytes)
    }

    public init(path: String, bytes: UnsafeRawBufferPointer) throws {
        self.path = path
        var tokens: [[UInt8]] = []
        var seen: [[UInt8]: Int] = [:]
        var lineNumber = 0
        var start = 0
        while start < bytes.count {
            var end = start
            while end < bytes.count, bytes[end] != 0x0A { end += 1 }
            lineNumber += 1
            var lineEnd = end
            if lineEnd > start, bytes[lineEnd - 1] == 0x0D { lineEnd -= 1 }
            defer { start = end + 1 }
            if lineEnd == start { continue }  // blank lines are skipped, as load_bpe_file does
            let line = UnsafeRawBufferPointer(rebasing: bytes[start ..< lineEnd])
            guard let space = line.firstIndex(of: 0x20) else {
                throw TokenizerError.tiktokenBadLine(path: path, line: lineNumber, reason: "no space between token and rank")
            }
            let encoded = UnsafeRawBufferPointer(rebasing: line[line.startIndex ..< space])
            let rankBytes = UnsafeRawBufferPointer(rebasing: line[(space + 1)...])
            guard !rankBytes.isEmpty, rankBytes.count <= 18, rankBytes.allSatisfy({ (0x30 ... 0x39).contains($0) }) else {
                throw TokenizerError.tiktokenBadLine(path: path, line: lineNumber, reason: "the rank is not a decimal number")
            }
            let rank = rankBytes.reduce(0) { $0 * 10 + Int($1 - 0x30) }
            guard let token = Data(base64Encoded: Data(encoded)), !token.isEmpty else {
                throw TokenizerError.tiktokenBadLine(path: path, line: lineNumber, reason: "the token is not base64")
            }
            guard rank == tokens.count else {
                throw TokenizerError.tiktokenRankOrder(path: path, line: lineNumber, expected: tokens.count, found: rank)
            }
            let raw = [UInt8](token)
            if seen[raw] != nil {
                throw TokenizerError.tiktokenBadLine(path: path, line: lineNumber, reason: "token \(ByteUnicode.encode(raw).debugDescription) appears twice")
            }
            seen[raw] = rank
            tokens.append(raw)
        }
        guard !tokens.isEmpty else {
            throw TokenizerError.tiktokenBadLine(path: path, line: lineNumber, reason: "the file has no tokens")
        }
        self.tokens = tokens
    }

    /// Cheap sniff: the first line looks like `base64 SP digits`.
    public static func looksLikeTiktoken(_ bytes: UnsafeRawBufferPointer) -> Bool {
        var sawSpace = false, sawDigit = false, sawBase64 = false
        for b in bytes.prefix(512) {
            if b == 0x0A || b == 0x0D { return sawSpace && sawDigit && sawBase64 }
            if !sawSpace {
                if b == 0x20 { sawSpace = true; continue }
                let base64 = (0x41 ... 0x5A).contains(b) || (0x61 ... 0x7A).contains(b) || (0x30 ... 0x39).contains(b) || b == 0x2B || b == 0x2F || b == 0x3D
                guard base64 else { return false }
                sawBase64 = true
            } else {
                guard (0x30 ... 0x39).contains(b) else { return false }
                sawDigit = true
            }
        }
        return sawSpace && sawDigit && sawBase64
    }

    /// Merges rebuilt from ranks as transformers' `TikTokenConverter.extract_vocab_merges_from_model`
    /// does (the route of Meta's files into tokenizer.json, which llama.cpp then reads): for each
    /// token of two or more bytes, in rank order, every split into a left and a right part that are
    /// both tokens, ordered by (rank of left, rank of right). One token can give several merges.
    /// Returned as pairs of ranks.
    public func mergePairs() -> [(left: Int, right: Int)] {
        // Keyed by slices, so looking up a token's halves allocates nothing (ArraySlice hashes and
        // compares its elements, whatever its indices).
        var rankOf: [ArraySlice<UInt8>: Int] = [:]
        rankOf.reserveCapacity(tokens.count)
        for (rank, token) in tokens.enumerated() { rankOf[token[...]] = rank }
        var merges: [(left: Int, right: Int)] = []
        var local: [(left: Int, right: Int)] = []
        for token in tokens where token.count >= 2 {
            local.removeAll(keepingCapacity: true)
            for cut in 1 ..< token.count {
                if let l = rankOf[token[..<cut]], let r = rankOf[token[cut...]] {
                    local.append((l, r))
                }
            }
            local.sort { $0.left != $1.left ? $0.left < $1.left : $0.right < $1.right }
            merges.append(contentsOf: local)
        }
        return merges
    }

    /// The special token names for `count` reserved slots (Meta uses 256; a smaller count keeps
    /// the same pattern, for small test vocabularies).
    public static func specialTokenNames(count: Int, naming: SpecialNaming) -> [String] {
        let named: [String]
        let firstReserved: Int
        switch naming {
        case .llama3:
            named = ["<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>", "<|reserved_special_token_1|>",
                     "<|reserved_special_token_2|>", "<|reserved_special_token_3|>", "<|start_header_id|>",
                     "<|end_header_id|>", "<|reserved_special_token_4|>", "<|eot_id|>"]
            firstReserved = 5
        case .llamaModels:
            named = ["<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>", "<|reserved_special_token_1|>",
                     "<|finetune_right_pad_id|>", "<|step_id|>", "<|start_header_id|>", "<|end_header_id|>",
                     "<|eom_id|>", "<|eot_id|>", "<|python_tag|>", "<|image|>"]
            firstReserved = 2
        }
        if count <= named.count { return Array(named.prefix(max(count, 0))) }
        return named + (0 ..< (count - named.count)).map { "<|reserved_special_token_\(firstReserved + $0)|>" }
    }
}
