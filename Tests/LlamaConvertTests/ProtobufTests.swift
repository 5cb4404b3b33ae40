import Testing
@testable import LlamaConvert

@Suite("Protobuf wire format")
struct ProtobufTests {
    /// Runs `body` over a reader of `bytes` named "test.pb".
    func withReader<T>(_ bytes: [UInt8], _ body: (inout ProtobufReader) throws -> T) throws -> T {
        try bytes.withUnsafeBytes { raw in
            var reader = ProtobufReader(ByteReader(path: "test.pb", bytes: raw, baseOffset: 0))
            return try body(&reader)
        }
    }

    @Test("varints decode up to 10 bytes, and int32 -1 is a 10-byte varint")
    func varints() throws {
        #expect(try withReader([0x96, 0x01]) { try $0.readVarint() } == 150)
        let minusOne: [UInt8] = [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]
        #expect(try withReader(minusOne) { try $0.readInt32() } == -1)
        #expect(try withReader(minusOne) { try $0.readVarint() } == UInt64.max)
    }

    @Test("an 11-byte varint is refused with its offset")
    func overlongVarint() throws {
        let bytes: [UInt8] = [0x08] + [UInt8](repeating: 0xFF, count: 10) + [0x01]
        #expect(throws: TokenizerError.varintTooLong(path: "test.pb", offset: 1)) {
            try withReader(bytes) { r -> UInt64 in _ = try r.nextKey(); return try r.readVarint() }
        }
    }

    @Test("a 10th varint byte above 1 overflows 64 bits and is refused")
    func overflowingVarint() throws {
        let bytes: [UInt8] = [UInt8](repeating: 0xFF, count: 9) + [0x02]
        #expect(throws: TokenizerError.varintTooLong(path: "test.pb", offset: 0)) { try withReader(bytes) { try $0.readVarint() } }
    }

    @Test("a varint cut short is a truncation error")
    func truncatedVarint() throws {
        #expect(throws: ReadError.truncated(path: "test.pb", offset: 2, needed: 1, remaining: 0)) {
            try withReader([0x80, 0x80]) { try $0.readVarint() }
        }
    }

    @Test("a length past the end of the message names the offset and the numbers")
    func lengthPastEnd() throws {
        #expect(throws: TokenizerError.lengthPastEnd(path: "test.pb", offset: 1, length: 5, remaining: 2)) {
            try withReader([0x0A, 0x05, 0x41, 0x42]) { r -> Int in _ = try r.nextKey(); return try r.readLengthDelimited().remaining }
        }
    }

    @Test("unknown fields of every wire type are skipped")
    func skipsUnknownFields() throws {
        let bytes: [UInt8] = [
            0x08, 0x96, 0x01,                                      // field 1 varint
            0x11, 1, 2, 3, 4, 5, 6, 7, 8,                          // field 2 fixed64
            0x1A, 0x02, 0x41, 0x42,                                // field 3 length-delimited
            0x23, 0x08, 0x01, 0x24,                                // field 4 group holding field 1 varint
            0x2D, 1, 2, 3, 4,                                      // field 5 fixed32
            0x30, 0x07,                                            // field 6 varint: the one we keep
        ]
        let kept = try withReader(bytes) { r -> UInt64? in
            while let key = try r.nextKey() {
                if key.field == 6 { return try r.readVarint() }
                try r.skip(key)
            }
            return nil
        }
        #expect(kept == 7)
    }

    @Test("wire types 6 and 7 are refused")
    func badWireType() throws {
        #expect(throws: TokenizerError.badWireType(path: "test.pb", offset: 0, field: 1, wireType: 6)) {
            try withReader([0x0E]) { try $0.nextKey() }
        }
    }

    @Test("an unterminated group is refused")
    func unterminatedGroup() throws {
        #expect(throws: TokenizerError.badGroup(path: "test.pb", offset: 0, field: 4)) {
            try withReader([0x23, 0x08, 0x01]) { r in if let key = try r.nextKey() { try r.skip(key) } }
        }
    }

    @Test("the fixture SentencePiece model decodes: pieces, trainer and normalizer specs")
    func decodesFixtureModel() throws {
        let model = try SentencePieceModel.load(path: Fixtures.path("tokenizers/spm/tokenizer.model"))
        #expect(model.pieces.count == 512)
        #expect(model.pieces[0] == .init(piece: "<unk>", score: 0, type: .unknown))
        #expect(model.pieces[1] == .init(piece: "<s>", score: 0, type: .control))
        #expect(model.pieces[2] == .init(piece: "</s>", score: 0, type: .control))
        #expect(model.pieces[3] == .init(piece: "<0x00>", score: 0, type: .byte))
        #expect(model.pieces[258] == .init(piece: "<0xFF>", score: 0, type: .byte))
        #expect(model.pieces[259].type == .normal)
        let spec = model.trainerSpec
        #expect(spec.modelType == SentencePieceModel.modelTypeBPE)
        #expect(spec.vocabSize == 512)
        #expect(spec.byteFallback && spec.splitDigits && spec.allowWhitespaceOnlyPieces)
        #expect((spec.unkID, spec.bosID, spec.eosID, spec.padID) == (0, 1, 2, -1))
        #expect(model.normalizerSpec.name == "identity")
        #expect(model.normalizerSpec.addDummyPrefix)
        #expect(!model.normalizerSpec.removeExtraWhitespaces)
    }

    @Test("malformed SentencePiece files give errors naming the file and offset",
          arguments: [
            ("spm-truncated.model", "offset 1: length 14 runs past the end of its message (7 bytes remain)"),
            ("spm-huge-length.model", "offset 1: length 4611686018427387904 runs past the end"),
            ("spm-overlong-varint.model", "offset 1: varint longer than 10 bytes"),
            ("spm-bad-wiretype.model", "offset 0: field 1 has wire type 3"),
            ("spm-empty-piece.model", "offset 0: a piece has no text"),
          ])
    func malformedModels(name: String, message: String) throws {
        let path = Fixtures.path("tokenizers/bad/" + name)
        do {
            _ = try SentencePieceModel.load(path: path)
            Issue.record("\(name) loaded")
        } catch {
            let text = "\(error)"
            #expect(text.hasPrefix(path + ": "), "\(text)")
            #expect(text.contains(message), "\(text)")
        }
    }

    @Test("every truncation and every single-byte flip of the model fails with an error or parses, never crashes")
    func mutations() throws {
        let file = try MappedFile(path: Fixtures.path("tokenizers/spm/tokenizer.model"))
        let original = [UInt8](file.bytes)
        var failures = 0
        for length in stride(from: 0, to: original.count, by: 17) {
            do { _ = try Array(original[..<length]).withUnsafeBytes { try SentencePieceModel(ByteReader(path: "cut", bytes: $0, baseOffset: 0)) } }
            catch { failures += 1 }
        }
        #expect(failures > 0)
        var generator = SystemRandomNumberGenerator()
        for _ in 0 ..< 400 {
            var bytes = original
            let index = Int.random(in: 0 ..< bytes.count, using: &generator)
            bytes[index] ^= UInt8.random(in: 1 ... 255, using: &generator)
            _ = try? bytes.withUnsafeBytes { try SentencePieceModel(ByteReader(path: "flip", bytes: $0, baseOffset: 0)) }
        }
    }
}
