/// A SentencePiece `ModelProto` (`tokenizer.model` of Llama 1/2), decoded from the protobuf
/// wire format. Field numbers follow google/sentencepiece `src/sentencepiece_model.proto`;
/// absent fields take that file's defaults.
public struct SentencePieceModel: Equatable {
    /// `SentencePiece.Type`. NORMAL is the default and is omitted from the file.
    public enum PieceType: Int32, Equatable {
        case normal = 1, unknown = 2, control = 3, userDefined = 4, unused = 5, byte = 6
    }

    public struct Piece: Equatable {
        public var piece: String
        public var score: Float
        public var type: PieceType
    }

    /// The `TrainerSpec` fields that shape encoding and the GGUF vocabulary.
    public struct TrainerSpec: Equatable {
        /// 1 UNIGRAM (default), 2 BPE, 3 WORD, 4 CHAR.
        public var modelType: Int32 = 1
        public var vocabSize: Int32 = 8000
        public var splitDigits = false
        public var treatWhitespaceAsSuffix = false
        public var allowWhitespaceOnlyPieces = false
        public var byteFallback = false
        public var unkID: Int32 = 0
        public var bosID: Int32 = 1
        public var eosID: Int32 = 2
        public var padID: Int32 = -1
        public var unkPiece = "<unk>"
        public var bosPiece = "<s>"
        public var eosPiece = "</s>"
        public var padPiece = "<pad>"
    }

    /// The `NormalizerSpec` fields used at encode time.
    public struct NormalizerSpec: Equatable {
        public var name = ""
        public var addDummyPrefix = true
        public var removeExtraWhitespaces = true
        public var escapeWhitespaces = true
    }

    public var pieces: [Piece] = []
    public var trainerSpec = TrainerSpec()
    public var normalizerSpec = NormalizerSpec()

    public static let modelTypeBPE: Int32 = 2

    public init() {}

    /// Reads and decodes `path`.
    public static func load(path: String) throws -> SentencePieceModel {
        let file = try MappedFile(path: path)
        return try SentencePieceModel(file.reader())
    }

    /// Decodes a `ModelProto` from `reader` (its whole extent).
    public init(_ reader: ByteReader) throws {
        var message = ProtobufReader(reader)
        while let key = try message.nextKey() {
            switch key.field {
            case 1:
                try message.expect(key, .lengthDelimited)
                pieces.append(try Self.piece(message.readLengthDelimited(), at: key.offset))
            case 2:
                try message.expect(key, .lengthDelimited)
                trainerSpec = try Self.trainer(message.readLengthDelimited())
            case 3:
                try message.expect(key, .lengthDelimited)
                normalizerSpec = try Self.normalizer(message.readLengthDelimited())
            default:
                try message.skip(key)
            }
        }
        guard !pieces.isEmpty else {
            throw TokenizerError.badField(path: reader.path, offset: reader.baseOffset, what: "the model has no pieces")
        }
    }

    private static func piece(_ bytes: ByteReader, at offset: Int) throws -> Piece {
        var message = ProtobufReader(bytes)
        var text: String?
        var score: Float = 0
        var type = PieceType.normal
        while let key = try message.nextKey() {
            switch key.field {
            case 1:
                try message.expect(key, .lengthDelimited)
                text = try message.readString(what: "piece text")
            case 2:
                try message.expect(key, .fixed32)
                score = try message.readFloat()
            case 3:
                try message.expect(key, .varint)
                let raw = try message.readInt32()
                guard let known = PieceType(rawValue: raw) else {
                    throw TokenizerError.badField(path: bytes.path, offset: key.offset, what: "piece type \(raw) is not 1...6")
                }
                type = known
            default:
                try message.skip(key)
            }
        }
        guard let text, !text.isEmpty else {
            throw TokenizerError.badField(path: bytes.path, offset: offset, what: "a piece has no text")
        }
        return Piece(piece: text, score: score, type: type)
    }

    private static func trainer(_ bytes: ByteReader) throws -> TrainerSpec {
        var message = ProtobufReader(bytes)
        var spec = TrainerSpec()
        while let key = try message.nextKey() {
            switch (key.field, key.wireType) {
            case (3, .varint): spec.modelType = try message.readInt32()
            case (4, .varint): spec.vocabSize = try message.readInt32()
            case (24, .varint): spec.treatWhitespaceAsSuffix = try message.readBool()
            case (25, .varint): spec.splitDigits = try message.readBool()
            case (26, .varint): spec.allowWhitespaceOnlyPieces = try message.readBool()
            case (35, .varint): spec.byteFallback = try message.readBool()
            case (40, .varint): spec.unkID = try message.readInt32()
            case (41, .varint): spec.bosID = try message.readInt32()
            case (42, .varint): spec.eosID = try message.readInt32()
            case (43, .varint): spec.padID = try message.readInt32()
            case (45, .lengthDelimited): spec.unkPiece = try message.readString(what: "unk_piece")
            case (46, .lengthDelimited): spec.bosPiece = try message.readString(what: "bos_piece")
            case (47, .lengthDelimited): spec.eosPiece = try message.readString(what: "eos_piece")
            case (48, .lengthDelimited): spec.padPiece = try message.readString(what: "pad_piece")
            case (3, _), (4, _), (24, _), (25, _), (26, _), (35, _), (40, _), (41, _), (42, _), (43, _),
                 (45, _), (46, _), (47, _), (48, _):
                throw TokenizerError.badWireType(path: bytes.path, offset: key.offset, field: key.field, wireType: key.wireType.rawValue)
            default: try message.skip(key)
            }
        }
        return spec
    }

    private static func normalizer(_ bytes: ByteReader) throws -> NormalizerSpec {
        var message = ProtobufReader(bytes)
        var spec = NormalizerSpec()
        while let key = try message.nextKey() {
            switch (key.field, key.wireType) {
            case (1, .lengthDelimited): spec.name = try message.readString(what: "normalizer name")
            case (3, .varint): spec.addDummyPrefix = try message.readBool()
            case (4, .varint): spec.removeExtraWhitespaces = try message.readBool()
            case (5, .varint): spec.escapeWhitespaces = try message.readBool()
            case (1, _), (3, _), (4, _), (5, _):
                throw TokenizerError.badWireType(path: bytes.path, offset: key.offset, field: key.field, wireType: key.wireType.rawValue)
            default: try message.skip(key)
            }
        }
        return spec
    }
}
