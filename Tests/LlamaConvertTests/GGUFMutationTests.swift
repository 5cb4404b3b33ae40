import Foundation
import Testing
@testable import LlamaConvert

/// Every damaged variant of a good GGUF file either reads (and its tensors can be read and decoded)
/// or throws a GGUFError naming the file; none may crash or allocate by an unchecked count.
@Suite("GGUF mutations")
struct GGUFMutationTests {
    enum Outcome { case read, refused }

    static func sample() throws -> (bytes: [UInt8], headerBytes: Int) {
        let base = try LlamaSample(config: LlamaSample.gqaConfig())
        let metadata = base.metadata + [
            (GGUFKeys.Tokenizer.model, .string("llama")),
            (GGUFKeys.Tokenizer.tokens, .strings(["<unk>", "<s>", "</s>", "▁a", "<0x0A>"])),
            (GGUFKeys.Tokenizer.scores, .float32s([0, 0, 0, -1.5, -2])),
            (GGUFKeys.Tokenizer.tokenType, .int32s([2, 3, 3, 1, 6])),
            (GGUFKeys.Tokenizer.addBOSToken, .bool(true)),
            ("test.nested", .array(.array, [.array(.uint16, [.uint16(1)]), .strings(["q"])])),
        ]
        let dir = TempFolder()
        defer { dir.remove() }
        try base.write(to: dir.file("good.gguf"), metadata: metadata)
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: dir.file("good.gguf"))))
        let layout = try GGUFLayout(metadata: metadata, tensors: base.tensors.map(\.plan))
        return (bytes, layout.dataOffset)
    }

    /// Opens one variant; a readable file must also let every tensor be copied and decoded.
    static func probe(_ bytes: [UInt8], at path: String) throws -> Outcome {
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        do {
            let file = try GGUFFile(path: path)
            // Copying every tensor touches every byte range the reader accepted; decoding the first
            // and last exercises the row codecs on whatever types the damage produced.
            for info in file.tensors { _ = try file.source(of: info).storedBytes() }
            for info in [file.tensors.first, file.tensors.last].compactMap({ $0 }) where info.byteCount <= 1 << 16 {
                _ = try file.source(of: info).floats()
            }
            _ = try? GGUFImporter.load(file)
            return .read
        } catch let error as GGUFError {
            #expect(error.description.hasPrefix(path + ": "), "\(error)")
            return .refused
        }
    }

    @Test("every truncation of the header and a stride through the data is refused with the file named")
    func truncations() throws {
        let (good, header) = try Self.sample()
        let dir = TempFolder(inMemory: true)
        defer { dir.remove() }
        let lengths = Array(0 ..< header) + Array(stride(from: header, to: good.count, by: 97)) + [good.count - 1]
        for (i, n) in lengths.enumerated() {
            let outcome = try Self.probe(Array(good.prefix(n)), at: dir.file("t\(i).gguf"))
            #expect(outcome == .refused, "prefix of \(n) bytes read as a whole file")
        }
        #expect(try Self.probe(good, at: dir.file("whole.gguf")) == .read)
    }

    @Test("flipping any header byte reads or is refused, never crashes")
    func byteFlips() throws {
        let (good, header) = try Self.sample()
        let dir = TempFolder(inMemory: true)
        defer { dir.remove() }
        var refused = 0
        for position in 0 ..< header {
            for mask: UInt8 in [0xFF, 0x01] {
                var bytes = good
                bytes[position] ^= mask
                if try Self.probe(bytes, at: dir.file("f\(position)-\(mask).gguf")) == .refused { refused += 1 }
            }
        }
        #expect(refused > header / 2, "only \(refused) of \(2 * header) flips were refused")
    }

    @Test("huge counts and lengths written over any header position are refused or read, never allocated")
    func hugeValues() throws {
        let (good, header) = try Self.sample()
        let dir = TempFolder(inMemory: true)
        defer { dir.remove() }
        for position in 0 ..< header - 8 {
            for value: UInt64 in [UInt64.max, 0x0000_0001_0000_0000, 0x7FFF_FFFF] {
                var bytes = good
                withUnsafeBytes(of: value.littleEndian) { for (k, b) in $0.enumerated() { bytes[position + k] = b } }
                _ = try Self.probe(bytes, at: dir.file("h\(position).gguf"))
            }
        }
    }
}
