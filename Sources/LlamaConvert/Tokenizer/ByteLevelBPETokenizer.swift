/// Byte-level BPE (GPT-2 style, as Llama 3 uses it) over a GGUF "gpt2" vocabulary:
///
/// 1. Special tokens (CONTROL and USER_DEFINED entries) are found in the text first, the longest
///    at each position, and emitted as they are.
/// 2. The text between them is split by Llama 3's pre-tokenizer regex.
/// 3. Each piece becomes its UTF-8 bytes, one byte-level token each; with `ignoreMerges` (what
///    llama.cpp does for pre "llama-bpe", and Llama 3's tokenizer.json) a piece that is itself a
///    token is emitted whole.
/// 4. Otherwise the adjacent pair with the lowest merge rank is merged, the leftmost on ties,
///    until no pair has a merge.
public struct ByteLevelBPETokenizer: TextTokenizer {
    private let tokens: [String]
    private let idOf: [[UInt8]: Int]
    private let byteToken: [Int]
    /// (left id, right id) → (rank, merged id).
    private let merges: [PairKey: (rank: Int, merged: Int)]
    /// Special token UTF-8 texts by first byte, longest first.
    private let specials: [UInt8: [(bytes: [UInt8], id: Int)]]
    private let bosID: Int?
    public let ignoreMerges: Bool

    private struct PairKey: Hashable {
        let left: Int32, right: Int32
    }

    /// - Parameter ignoreMerges: defaults to true for pre "llama-bpe" (llama.cpp's rule), else false.
    public init(_ vocabulary: GGUFVocabulary, ignoreMerges: Bool? = nil) throws {
        guard vocabulary.tokenTypes.count == vocabulary.tokens.count else {
            throw TokenizerError.unsupported(path: "vocabulary", reason: "\(vocabulary.tokenTypes.count) token types for \(vocabulary.tokens.count) tokens")
        }
        tokens = vocabulary.tokens
        var idOf: [[UInt8]: Int] = [:]
        idOf.reserveCapacity(tokens.count)
        var specials: [UInt8: [(bytes: [UInt8], id: Int)]] = [:]
        for (id, token) in tokens.enumerated() {
            let key = Array(token.utf8)
            if idOf[key] == nil { idOf[key] = id }
            let type = vocabulary.tokenTypes[id]
            if type == GGUFVocabulary.TokenType.control.rawValue || type == GGUFVocabulary.TokenType.userDefined.rawValue,
               let first = key.first {
                specials[first, default: []].append((key, id))
            }
        }
        for (first, list) in specials { specials[first] = list.sorted { $0.bytes.count > $1.bytes.count } }
        self.specials = specials
        self.idOf = idOf
        var byteToken = [Int](repeating: -1, count: 256)
        for b in 0 ..< 256 {
            guard let id = idOf[Array(String(Character(ByteUnicode.scalar[b])).utf8)] else {
                throw TokenizerError.unsupported(path: "vocabulary", reason: "no token for byte \(b) (\(ByteUnicode.scalar[b]))")
            }
            byteToken[b] = id
        }
        self.byteToken = byteToken
        var merges: [PairKey: (rank: Int, merged: Int)] = [:]
        merges.reserveCapacity(vocabulary.merges?.count ?? 0)
        for (rank, merge) in (vocabulary.merges ?? []).enumerated() {
            let u = Array(merge.utf8)
            // llama.cpp splits at the first space after the first byte.
            guard u.count >= 3, let space = u[1...].firstIndex(of: 0x20) else { continue }
            let left = Array(u[..<space]), right = Array(u[(space + 1)...])
            guard let l = idOf[left], let r = idOf[right], let m = idOf[left + right] else { continue }
            let key = PairKey(left: Int32(l), right: Int32(r))
            if merges[key] == nil { merges[key] = (rank, m) }
        }
        self.merges = merges
        bosID = vocabulary.bosID
        self.ignoreMerges = ignoreMerges ?? (vocabulary.pre == TokenizerLoader.llama3PreName)
    }

    public func encode(_ text: String, addBOS: Bool) -> [Int] {
        var ids: [Int] = []
        if addBOS, let bosID { ids.append(bosID) }
        let bytes = Array(text.utf8)
        var segmentStart = 0
        var i = 0
        while i < bytes.count {
            if let candidates = specials[bytes[i]],
               let hit = candidates.first(where: { $0.bytes.count <= bytes.count - i && bytes[i ..< i + $0.bytes.count].elementsEqual($0.bytes) }) {
                encodeOrdinary(bytes[segmentStart ..< i], into: &ids)
                ids.append(hit.id)
                i += hit.bytes.count
                segmentStart = i
            } else {
                i += 1
            }
        }
        encodeOrdinary(bytes[segmentStart ..< bytes.count], into: &ids)
        return ids
    }

    private func encodeOrdinary(_ bytes: ArraySlice<UInt8>, into ids: inout [Int]) {
        if bytes.isEmpty { return }
        // Segments end at special tokens, which are whole UTF-8 sequences, so this is valid UTF-8.
        let scalars = Array(String(decoding: bytes, as: UTF8.self).unicodeScalars)
        for range in Llama3PreTokenizer.split(scalars) {
            var view = String.UnicodeScalarView()
            view.append(contentsOf: scalars[range])
            encodePiece(Array(String(view).utf8), into: &ids)
        }
    }

    private func encodePiece(_ piece: [UInt8], into ids: inout [Int]) {
        if ignoreMerges {
            var text: [UInt8] = []
            text.reserveCapacity(piece.count * 2)
            for b in piece { text.append(contentsOf: ByteUnicode.utf8[Int(b)]) }
            if let id = idOf[text] { ids.append(id); return }
        }
        var symbols = piece.map { byteToken[Int($0)] }
        // pairMerge[k]: the merge of symbols[k] and symbols[k + 1], if any.
        func pairMerge(_ k: Int) -> (rank: Int, merged: Int)? {
            merges[PairKey(left: Int32(symbols[k]), right: Int32(symbols[k + 1]))]
        }
        var pairs = symbols.count > 1 ? (0 ..< symbols.count - 1).map(pairMerge) : []
        while true {
            var best = -1, bestRank = Int.max, bestMerged = -1
            for (k, m) in pairs.enumerated() {
                if let m, m.rank < bestRank { best = k; bestRank = m.rank; bestMerged = m.merged }
            }
            if best < 0 { break }
            symbols[best] = bestMerged
            symbols.remove(at: best + 1)
            pairs.remove(at: best)
            if best < pairs.count { pairs[best] = pairMerge(best) }
            if best > 0 { pairs[best - 1] = pairMerge(best - 1) }
        }
        ids.append(contentsOf: symbols)
    }

    public func decode(_ ids: [Int]) -> String {
        var bytes: [UInt8] = []
        for id in ids where id >= 0 && id < tokens.count {
            // tokenizers' ByteLevel decoder: a token whose characters are all in the byte map
            // gives those bytes; any other token gives its own UTF-8 (special tokens, padding).
            let token = tokens[id]
            if let raw = ByteUnicode.decode(token) { bytes.append(contentsOf: raw) } else { bytes.append(contentsOf: token.utf8) }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
