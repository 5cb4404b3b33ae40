/// Llama 3's pre-tokenizer, a hand-written scanner for the regex
/// `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
/// with the leftmost-first alternation semantics of tiktoken's and tokenizers' regex engines.
/// It works on Unicode scalars (the regex's characters), not grapheme clusters; `\p{L}` and
/// `\p{N}` are the general categories L* and N*, `\s` the White_Space property.
public enum Llama3PreTokenizer {
    /// The pieces of `text`, as ranges of `scalars` (which must be `text`'s scalars).
    public static func split(_ scalars: [Unicode.Scalar]) -> [Range<Int>] {
        var pieces: [Range<Int>] = []
        var i = 0
        let n = scalars.count
        while i < n {
            let end = match(scalars, at: i)
            pieces.append(i ..< end)
            i = end
        }
        return pieces
    }

    public static func split(_ text: String) -> [String] {
        let scalars = Array(text.unicodeScalars)
        return split(scalars).map { range in
            var view = String.UnicodeScalarView()
            view.append(contentsOf: scalars[range])
            return String(view)
        }
    }

    @inline(__always) static func isLetter(_ s: Unicode.Scalar) -> Bool {
        switch s.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return true
        default: return false
        }
    }

    @inline(__always) static func isNumber(_ s: Unicode.Scalar) -> Bool {
        switch s.properties.generalCategory {
        case .decimalNumber, .letterNumber, .otherNumber: return true
        default: return false
        }
    }

    @inline(__always) static func isSpace(_ s: Unicode.Scalar) -> Bool { s.properties.isWhitespace }

    @inline(__always) static func isNewline(_ s: Unicode.Scalar) -> Bool { s == "\r" || s == "\n" }

    /// Case-insensitive match of one ASCII letter (with Unicode simple case folding: `ſ` folds to `s`).
    @inline(__always) static func matchesFolded(_ s: Unicode.Scalar, _ lower: Unicode.Scalar) -> Bool {
        if s == lower { return true }
        if s.value == lower.value - 32 { return true }
        return lower == "s" && s == "\u{017F}"
    }

    /// The end of the match starting at `i` (always > i).
    static func match(_ s: [Unicode.Scalar], at i: Int) -> Int {
        let n = s.count
        let c = s[i]
        // 1. (?i:'s|'t|'re|'ve|'m|'ll|'d)
        if c == "'", i + 1 < n {
            let a = s[i + 1]
            if matchesFolded(a, "s") || matchesFolded(a, "t") || matchesFolded(a, "m") || matchesFolded(a, "d") { return i + 2 }
            if i + 2 < n {
                let b = s[i + 2]
                if (matchesFolded(a, "r") || matchesFolded(a, "v")) && matchesFolded(b, "e") { return i + 3 }
                if matchesFolded(a, "l") && matchesFolded(b, "l") { return i + 3 }
            }
        }
        // 2. [^\r\n\p{L}\p{N}]?\p{L}+
        if isLetter(c) {
            var j = i + 1
            while j < n, isLetter(s[j]) { j += 1 }
            return j
        }
        if !isNewline(c), !isNumber(c), i + 1 < n, isLetter(s[i + 1]) {
            var j = i + 2
            while j < n, isLetter(s[j]) { j += 1 }
            return j
        }
        // 3. \p{N}{1,3}
        if isNumber(c) {
            var j = i + 1
            while j < n, j < i + 3, isNumber(s[j]) { j += 1 }
            return j
        }
        // 4. ' ?[^\s\p{L}\p{N}]+[\r\n]*'
        func isOther(_ x: Unicode.Scalar) -> Bool { !isSpace(x) && !isLetter(x) && !isNumber(x) }
        var start = i
        if c == " ", i + 1 < n, isOther(s[i + 1]) { start = i + 1 }
        if isOther(s[start]) {
            var j = start + 1
            while j < n, isOther(s[j]) { j += 1 }
            while j < n, isNewline(s[j]) { j += 1 }
            return j
        }
        // Only whitespace is left.
        var runEnd = i
        while runEnd < n, isSpace(s[runEnd]) { runEnd += 1 }
        // 5. \s*[\r\n]+ : up to the last newline of the whitespace run.
        var lastNewline = -1
        for k in i ..< runEnd where isNewline(s[k]) { lastNewline = k }
        if lastNewline >= 0 { return lastNewline + 1 }
        // 6. \s+(?!\S) : the whole run at the end of the text, else all but its last scalar.
        if runEnd == n { return runEnd }
        if runEnd - i >= 2 { return runEnd - 1 }
        // 7. \s+
        return max(runEnd, i + 1)
    }
}
