/// SentencePiece's BPE encoding (google/sentencepiece `src/bpe_model.cc`, `Model::SampleEncode`
/// without sampling) over a GGUF "llama" vocabulary:
///
/// 1. Normalize: optionally drop extra spaces, then spaces → `▁` and, when adding the dummy
///    prefix, one `▁` in front. Empty text gives no tokens.
/// 2. Split into Unicode scalars (user-defined tokens stay whole and are never merged).
/// 3. Repeatedly merge the adjacent pair whose concatenation is a NORMAL/USER_DEFINED/UNUSED
///    token with the highest score, the leftmost pair on ties.
/// 4. Unused tokens are split back into the pieces that formed them; a symbol that is not a
///    token becomes its UTF-8 bytes as `<0xAB>` tokens (byte fallback), or the unknown id.
///
/// Token texts are compared as UTF-8 bytes, as sentencepiece does (Swift's String equality would
/// identify canonically equivalent texts such as precomposed and decomposed "é").
public struct SentencePieceBPETokenizer: TextTokenizer {
    private let tokens: [String]
    private let types: [Int32]
    /// NORMAL, USER_DEFINED and UNUSED tokens: the ones a merge may produce (sentencepiece's `pieces_`).
    private let mergeable: [[UInt8]: Int]
    /// Every other token text (control, unknown, byte): sentencepiece's `reserved_id_map_`.
    private let reserved: [[UInt8]: Int]
    private let scores: [Float]
    private let userDefined: [[UInt8]]
    private let byteIDs: [Int]?
    private let unknownID: Int
    private let bosID: Int?
    public let addDummyPrefix: Bool
    public let removeExtraWhitespaces: Bool

    private static let space: [UInt8] = Array("\u{2581}".utf8)

    /// - Parameters:
    ///   - addDummyPrefix: overrides `tokenizer.ggml.add_space_prefix` (SentencePiece's default: true).
    ///   - removeExtraWhitespaces: the model's normalizer flag (false for Llama).
    public init(_ vocabulary: GGUFVocabulary, addDummyPrefix: Bool? = nil, removeExtraWhitespaces: Bool = false) throws {
        guard vocabulary.tokenTypes.count == vocabulary.tokens.count else {
            throw TokenizerError.unsupported(path: "vocabulary", reason: "\(vocabulary.tokenTypes.count) token types for \(vocabulary.tokens.count) tokens")
        }
        tokens = vocabulary.tokens
        types = vocabulary.tokenTypes
        scores = vocabulary.scores ?? [Float](repeating: 0, count: tokens.count)
        guard scores.count == tokens.count else {
            throw TokenizerError.unsupported(path: "vocabulary", reason: "\(scores.count) scores for \(tokens.count) tokens")
        }
        var mergeable: [[UInt8]: Int] = [:], reserved: [[UInt8]: Int] = [:]
        var userDefined: [[UInt8]] = []
        var bytes = [Int](repeating: -1, count: 256)
        var firstUnknown: Int?
        for (id, token) in tokens.enumerated() {
            let key = Array(token.utf8)
            switch GGUFVocabulary.TokenType(rawValue: types[id]) {
            case .normal?, .unused?:
                mergeable[key] = mergeable[key] ?? id
            case .userDefined?:
                mergeable[key] = mergeable[key] ?? id
                userDefined.append(key)
            case .byte?:
                reserved[key] = reserved[key] ?? id
                if let b = Self.byteValue(token) { bytes[Int(b)] = id }
            case .unknown?:
                reserved[key] = reserved[key] ?? id
                firstUnknown = firstUnknown ?? id
            default:
                reserved[key] = reserved[key] ?? id
            }
        }
        self.mergeable = mergeable
        self.reserved = reserved
        // Longest first, so the prefix match takes the longest user-defined token.
        self.userDefined = userDefined.filter { !$0.isEmpty }.sorted { $0.count > $1.count }
        byteIDs = bytes.allSatisfy { $0 >= 0 } ? bytes : nil
        unknownID = vocabulary.unknownID ?? firstUnknown ?? 0
        bosID = vocabulary.bosID
        self.addDummyPrefix = addDummyPrefix ?? vocabulary.addSpacePrefix ?? true
        self.removeExtraWhitespaces = removeExtraWhitespaces
    }

    /// The byte of a `<0xAB>` token.
    static func byteValue(_ token: String) -> UInt8? {
        let u = Array(token.utf8)
        guard u.count == 6, u[0] == 0x3C, u[1] == 0x30, u[2] == 0x78, u[5] == 0x3E else { return nil }
        func hex(_ c: UInt8) -> UInt8? {
            switch c {
            case 0x30 ... 0x39: return c - 0x30
            case 0x41 ... 0x46: return c - 0x41 + 10
            case 0x61 ... 0x66: return c - 0x61 + 10
            default: return nil
            }
        }
        guard let hi = hex(u[3]), let lo = hex(u[4]) else { return nil }
        return hi << 4 | lo
    }

    /// Step 1, as UTF-8.
    func normalize(_ text: String) -> [UInt8] {
        var input = Array(text.utf8)
        if removeExtraWhitespaces {
            var out: [UInt8] = []
            var pendingSpace = false
            for b in input {
                if b == 0x20 { pendingSpace = !out.isEmpty; continue }
                if pendingSpace { out.append(0x20); pendingSpace = false }
                out.append(b)
            }
            input = out
        }
        if input.isEmpty { return [] }
        var out: [UInt8] = []
        out.reserveCapacity(input.count + 3)
        if addDummyPrefix { out.append(contentsOf: Self.space) }
        for b in input {
            if b == 0x20 { out.append(contentsOf: Self.space) } else { out.append(b) }
        }
        return out
    }

    /// A symbol: a byte range of the normalized text, linked to its neighbours (-1: none).
    private struct Symbol {
        var start: Int
        var length: Int
        var prev: Int
        var next: Int
        var frozen: Bool
    }

    /// A candidate merge of symbols `left` and `right` (sentencepiece's `SymbolPair`).
    private struct Candidate {
        var score: Float
        var left: Int
        var right: Int
        var length: Int
        var id: Int

        /// Higher score first; on equal scores the leftmost pair.
        func before(_ other: Candidate) -> Bool {
            score != other.score ? score > other.score : left < other.left
        }
    }

    /// A binary max-heap of candidates (the agenda).
    private struct Agenda {
        var items: [Candidate] = []

        mutating func push(_ c: Candidate) {
            items.append(c)
            var i = items.count - 1
            while i > 0 {
                let parent = (i - 1) / 2
                guard items[i].before(items[parent]) else { break }
                items.swapAt(i, parent)
                i = parent
            }
        }

        mutating func pop() -> Candidate? {
            guard let top = items.first else { return nil }
            let last = items.removeLast()
            if !items.isEmpty {
                items[0] = last
                var i = 0
                while true {
                    let l = 2 * i + 1, r = l + 1
                    var best = i
                    if l < items.count, items[l].before(items[best]) { best = l }
                    if r < items.count, items[r].before(items[best]) { best = r }
                    if best == i { break }
                    items.swapAt(i, best)
                    i = best
                }
            }
            return top
        }
    }

    /// Length of the UTF-8 sequence starting with `lead` (1 for a stray continuation byte).
    @inline(__always) private static func utf8Length(_ lead: UInt8) -> Int {
        switch lead {
        case 0xF0 ... 0xF7: return 4
        case 0xE0 ... 0xEF: return 3
        case 0xC0 ... 0xDF: return 2
        default: return 1
        }
    }

    public func encode(_ text: String, addBOS: Bool) -> [Int] {
        var ids: [Int] = []
        if addBOS, let bosID { ids.append(bosID) }
        let normalized = normalize(text)
        if normalized.isEmpty { return ids }

        // 2. initial symbols
        var symbols: [Symbol] = []
        var i = 0
        while i < normalized.count {
            let index = symbols.count
            if let match = userDefined.first(where: { ud in
                ud.count <= normalized.count - i && normalized[i ..< i + ud.count].elementsEqual(ud)
            }) {
                symbols.append(Symbol(start: i, length: match.count, prev: index - 1, next: index + 1, frozen: true))
                i += match.count
            } else {
                let length = min(Self.utf8Length(normalized[i]), normalized.count - i)
                symbols.append(Symbol(start: i, length: length, prev: index - 1, next: index + 1, frozen: false))
                i += length
            }
        }
        symbols[symbols.count - 1].next = -1

        // 3. merges by score, through the agenda; stale candidates are skipped when popped
        var agenda = Agenda()
        func consider(_ left: Int, _ right: Int) {
            guard left >= 0, right >= 0, !symbols[left].frozen, !symbols[right].frozen else { return }
            let length = symbols[left].length + symbols[right].length
            let start = symbols[left].start
            guard let id = mergeable[Array(normalized[start ..< start + length])] else { return }
            agenda.push(Candidate(score: scores[id], left: left, right: right, length: length, id: id))
        }
        for k in 1 ..< symbols.count { consider(k - 1, k) }
        var unusedMerges: [[UInt8]: ([UInt8], [UInt8])] = [:]
        while let top = agenda.pop() {
            let left = top.left, right = top.right
            guard symbols[left].length > 0, symbols[right].length > 0, symbols[left].next == right,
                  symbols[left].length + symbols[right].length == top.length else { continue }
            if types[top.id] == GGUFVocabulary.TokenType.unused.rawValue {
                let a = symbols[left], b = symbols[right]
                unusedMerges[Array(normalized[a.start ..< a.start + top.length])] =
                    (Array(normalized[a.start ..< a.start + a.length]), Array(normalized[b.start ..< b.start + b.length]))
            }
            symbols[left].length = top.length
            symbols[left].next = symbols[right].next
            if symbols[right].next >= 0 { symbols[symbols[right].next].prev = left }
            symbols[right].length = 0
            consider(symbols[left].prev, left)
            consider(left, symbols[left].next)
        }

        // 4. output, resegmenting unused tokens
        func emit(_ piece: [UInt8]) {
            if let id = mergeable[piece] {
                if types[id] == GGUFVocabulary.TokenType.unused.rawValue, let (l, r) = unusedMerges[piece] {
                    emit(l); emit(r); return
                }
                ids.append(id)
                return
            }
            if let id = reserved[piece], types[id] != GGUFVocabulary.TokenType.byte.rawValue {
                ids.append(id)
                return
            }
            if let byteIDs {
                for b in piece { ids.append(byteIDs[Int(b)]) }
            } else {
                ids.append(unknownID)
            }
        }
        var k = 0
        while k >= 0 {
            let symbol = symbols[k]
            emit(Array(normalized[symbol.start ..< symbol.start + symbol.length]))
            k = symbol.next
        }
        return ids
    }

    public func decode(_ ids: [Int]) -> String {
        var bytes: [UInt8] = []
        for id in ids {
            guard id >= 0, id < tokens.count else { continue }
            switch GGUFVocabulary.TokenType(rawValue: types[id]) {
            case .control?: continue
            case .byte?:
                if let b = Self.byteValue(tokens[id]) { bytes.append(b) }
            case .unknown?:
                bytes.append(contentsOf: " \u{2047} ".utf8)
            default:
                bytes.append(contentsOf: tokens[id].utf8)
            }
        }
        var text = String(decoding: bytes, as: UTF8.self).replacingOccurrences(of: "\u{2581}", with: " ")
        if addDummyPrefix, text.unicodeScalars.first == " " { text.unicodeScalars.removeFirst() }
        return text
    }
}
