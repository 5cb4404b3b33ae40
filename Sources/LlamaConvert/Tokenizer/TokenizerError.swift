/// Errors reading tokenizer files (SentencePiece protobuf, tokenizer.json and its companions,
/// tiktoken text) and building a vocabulary from them. Each case names the file.
public enum TokenizerError: Error, CustomStringConvertible, Equatable {
    /// A varint runs past 10 bytes, or its 10th byte sets bits above bit 63.
    case varintTooLong(path: String, offset: Int)
    /// A length-delimited field claims more bytes than its enclosing message holds.
    case lengthPastEnd(path: String, offset: Int, length: UInt64, remaining: Int)
    /// A field uses wire type 6 or 7 (undefined), or a known field has the wrong wire type.
    case badWireType(path: String, offset: Int, field: Int, wireType: Int)
    /// Groups (wire types 3/4) nested deeper than the cap, or an end-group without a start.
    case badGroup(path: String, offset: Int, field: Int)
    /// A message field has a value that breaks the format's rules (an empty piece, an unknown enum value...).
    case badField(path: String, offset: Int, what: String)
    /// A JSON file does not parse, or its top level is not an object.
    case invalidJSON(path: String, reason: String)
    /// A JSON key the format requires is absent.
    case missingKey(path: String, key: String)
    /// A JSON value has the wrong type.
    case wrongType(path: String, key: String, expected: String)
    /// A merge (at `index` in model.merges) names a token that is not in model.vocab.
    case unknownMergeToken(path: String, index: Int, token: String)
    /// A merge entry is neither "a b" nor a pair of strings.
    case badMerge(path: String, index: Int, entry: String)
    /// Two different token texts claim the same id, or one text appears twice.
    case duplicateToken(path: String, id: Int, token: String)
    /// A tiktoken line does not hold `base64 SP rank`.
    case tiktokenBadLine(path: String, line: Int, reason: String)
    /// A tiktoken rank is not the line's position among the non-blank lines.
    case tiktokenRankOrder(path: String, line: Int, expected: Int, found: Int)
    /// A token id is negative or not below the embedding rows.
    case tokenIDOutOfRange(path: String, token: String, id: Int, limit: Int)
    /// The tokenizer defines more entries than the model has embedding rows.
    case tooManyTokens(path: String, count: Int, embeddingRows: Int)
    /// None of the files is a tokenizer.
    case noTokenizer(files: [String])
    /// A model input has no tokenizer, so its GGUF could not be loaded by llama.cpp.
    case noTokenizerForModel(input: String, lookedFor: [String])
    /// A tokenizer that is valid but that this converter does not handle (as llama.cpp's convert would not).
    case unsupported(path: String, reason: String)

    public var description: String {
        switch self {
        case let .varintTooLong(path, offset):
            return "\(path): offset \(offset): varint longer than 10 bytes"
        case let .lengthPastEnd(path, offset, length, remaining):
            return "\(path): offset \(offset): length \(length) runs past the end of its message (\(remaining) bytes remain)"
        case let .badWireType(path, offset, field, wireType):
            return "\(path): offset \(offset): field \(field) has wire type \(wireType), which is invalid here"
        case let .badGroup(path, offset, field):
            return "\(path): offset \(offset): unbalanced or too deeply nested group (field \(field))"
        case let .badField(path, offset, what):
            return "\(path): offset \(offset): \(what)"
        case let .invalidJSON(path, reason):
            return "\(path): invalid JSON: \(reason)"
        case let .missingKey(path, key):
            return "\(path): missing key \(key)"
        case let .wrongType(path, key, expected):
            return "\(path): \(key) is not \(expected)"
        case let .unknownMergeToken(path, index, token):
            return "\(path): model.merges[\(index)] names \(token.debugDescription), which is not in model.vocab"
        case let .badMerge(path, index, entry):
            return "\(path): model.merges[\(index)] is not \"a b\" or [\"a\", \"b\"]: \(entry)"
        case let .duplicateToken(path, id, token):
            return "\(path): token \(token.debugDescription) (id \(id)) clashes with another entry"
        case let .tiktokenBadLine(path, line, reason):
            return "\(path): line \(line): \(reason)"
        case let .tiktokenRankOrder(path, line, expected, found):
            return "\(path): line \(line): rank \(found), expected \(expected) (ranks must run 0, 1, 2, ... in file order)"
        case let .tokenIDOutOfRange(path, token, id, limit):
            return "\(path): token \(token.debugDescription) has id \(id), outside 0..<\(limit)"
        case let .tooManyTokens(path, count, rows):
            return "\(path): the tokenizer has \(count) entries but the embedding has only \(rows) rows"
        case let .noTokenizer(files):
            return "no tokenizer.model or tokenizer.json among: \(files.joined(separator: ", "))"
        case let .noTokenizerForModel(input, lookedFor):
            return "\(input): no tokenizer found (looked for \(lookedFor.joined(separator: ", "))); llama.cpp cannot load a GGUF without one (--no-tokenizer writes it anyway)"
        case let .unsupported(path, reason):
            return "\(path): \(reason)"
        }
    }
}
