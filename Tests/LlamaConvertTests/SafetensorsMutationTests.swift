import Foundation
import Testing
@testable import LlamaConvert

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The fuzz driver: every real safetensors fixture, corrupted many ways (truncated, header length
/// rewritten, header bytes replaced, random flips with a fixed seed). Each variant must either open,
/// with every tensor then readable, or be refused with an error naming the file: never a crash.
@Suite("safetensors mutations never crash")
struct SafetensorsMutationTests {
    static let fixtureFiles = [
        "hf-gqa-bf16-sharded/model-00001-of-00002.safetensors",
        "hf-gqa-bf16-sharded/model-00002-of-00002.safetensors",
        "hf-mqa-f16-tied-rope31/model.safetensors",
        "hf-copy-of-meta-gqa/model.safetensors",
        "bad/safetensors-good-base.safetensors",
    ]

    /// Bytes that change the JSON's structure or type when they replace a header byte.
    static let structuralBytes: [UInt8] = Array("\"{}[],:09-. e\\".utf8) + [0x00, 0x0A, 0x80, 0xC3, 0xFF]

    /// SplitMix64: a fixed-seed generator, so every run tests the same variants.
    struct SplitMix64: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    /// The outcome counts of one fixture, reported in the test log.
    struct Tally { var opened = 0; var refused = 0 }

    @Test("every corrupted variant of each safetensors fixture opens cleanly or names the file", arguments: fixtureFiles)
    func mutations(relative: String) throws {
        let source = Fixtures.path(relative)
        let original = [UInt8](try Data(contentsOf: URL(fileURLWithPath: source)))
        let headerEnd = 8 + (try SafetensorsFile(path: source).headerLength)

        // One working copy, mutated in place and restored after each variant (copying the file per
        // variant would dominate the run). Accepted same-length variants are checked through a
        // temporary copy of the file whose changed bytes are rewritten in place and then restored.
        var work = original
        let folder = TempFolder(inMemory: true)
        defer { folder.remove() }
        let path = try folder.write("variant.safetensors", original)
        let fd = open(path, O_WRONLY)
        try #require(fd >= 0)
        defer { close(fd) }
        var tally = Tally()

        /// Parses the first `length` bytes of `work`; `changed` lists the positions that differ from
        /// `original`.
        func check(length: Int, changed: [Int]) throws {
            let header: SafetensorsHeader
            do {
                header = try work.withUnsafeBytes { try SafetensorsHeader.parse(UnsafeRawBufferPointer(rebasing: $0[0 ..< length]), path: path) }
            } catch let error as SafetensorsError {
                #expect(error.description.hasPrefix(path + ": "), "\(error)")
                tally.refused += 1
                return
            } catch let error as ReadError {
                #expect(error.description.hasPrefix(path + ": "), "\(error)")
                tally.refused += 1
                return
            }
            tally.opened += 1
            if length == original.count {
                for position in changed { pwriteByte(work[position], at: position) }
                defer { for position in changed { pwriteByte(original[position], at: position) } }
                try readAll(path: path, expecting: header, fully: tally.opened <= Self.fullReads)
            } else {
                try readAll(path: try folder.write("other.safetensors", Array(work[0 ..< length])), expecting: header, fully: true)
            }
        }

        func pwriteByte(_ byte: UInt8, at position: Int) {
            var byte = byte
            #expect(pwrite(fd, &byte, 1, off_t(position)) == 1)
        }

        /// Applies `changes`, checks the whole file, restores.
        func mutate(_ changes: [(position: Int, byte: UInt8)]) throws {
            for change in changes { work[change.position] = change.byte }
            try check(length: work.count, changed: changes.map(\.position))
            for change in changes { work[change.position] = original[change.position] }
        }

        // 1. Truncations: every length inside the first 40 bytes and around the header's end, and
        //    60 more spread over the file.
        var lengths = Set(0 ..< min(40, original.count))
        lengths.formUnion(max(0, headerEnd - 4) ... min(original.count, headerEnd + 4))
        lengths.formUnion(stride(from: 0, to: original.count, by: max(1, original.count / 60)))
        lengths.insert(original.count - 1)
        for length in lengths.sorted() where length < original.count {
            try check(length: length, changed: [])
        }

        // 2. The 8-byte header length: bit flips in each byte, and chosen values.
        for position in 0 ..< 8 {
            for mask: UInt8 in [0x01, 0x10, 0x80, 0xFF] {
                try mutate([(position, original[position] ^ mask)])
            }
        }
        let n = UInt64(headerEnd - 8)
        let lengthValues: [UInt64] = [0, 1, 2, n - 1, n + 1, n + 8, UInt64(original.count) - 8, UInt64(original.count) - 7,
                                      100_000_000, 100_000_001, UInt64(Int.max), 1 << 63, (1 << 63) + 8, .max]
        for value in lengthValues {
            let bytes = withUnsafeBytes(of: value.littleEndian, Array.init)
            try mutate((0 ..< 8).map { ($0, bytes[$0]) })
        }

        // 3. Every other header byte replaced by one structural byte (cycling through them; which
        //    half depends on the fixture, and the headers are alike), and every 41st by all of them.
        let parity = Self.fixtureFiles.firstIndex(of: relative) ?? 0
        for position in 8 ..< headerEnd where (position + parity) % 2 == 0 || position % 41 == 0 {
            let choices = position % 41 == 0 ? Self.structuralBytes : [Self.structuralBytes[position / 2 % Self.structuralBytes.count]]
            for replacement in choices where original[position] != replacement {
                try mutate([(position, replacement)])
            }
        }

        // 4. Random flips, fixed seed: 1 to 8 bytes, mostly in the header, some anywhere.
        var random = SplitMix64(state: 0x5AFE_7E45 ^ UInt64(original.count))
        for round in 0 ..< 300 {
            let limit = round % 5 == 0 ? original.count : headerEnd
            var changes: [(position: Int, byte: UInt8)] = []
            for _ in 0 ..< Int.random(in: 1 ... 8, using: &random) {
                let position = Int.random(in: 0 ..< limit, using: &random)
                if !changes.contains(where: { $0.position == position }) {
                    changes.append((position, UInt8.random(in: 0 ... 255, using: &random)))
                }
            }
            try mutate(changes)
        }

        #expect(tally.refused > 0 && tally.opened > 0)
        print("\(relative): \(tally.opened) variants opened, \(tally.refused) refused")
    }

    /// Accepted variants per fixture whose tensors are read in full; later ones read each tensor's
    /// first and last rows, which bound its byte range, so a range outside the file would still trap.
    static let fullReads = 40

    /// Opens `path` and reads every tensor: all rows (or the first and last), and the first row as floats.
    private func readAll(path: String, expecting header: SafetensorsHeader, fully: Bool) throws {
        let file = try SafetensorsFile(path: path)
        #expect(file.tensors.map(\.name) == header.entries.map(\.name))
        for tensor in file.tensors {
            let source = tensor.source
            if fully {
                var scratch = [UInt8](repeating: 0, count: source.byteCount)
                try scratch.withUnsafeMutableBytes { try source.readRows(0 ..< source.rowCount, into: $0) }
                let mapped = try #require(source.contiguousBytes)
                #expect(scratch.withUnsafeBytes { CRC32.checksum($0) } == CRC32.checksum(mapped))
            } else if source.rowCount > 0 {
                var scratch = [UInt8](repeating: 0, count: source.rowBytes)
                try scratch.withUnsafeMutableBytes { try source.readRows(0 ..< 1, into: $0) }
                try scratch.withUnsafeMutableBytes { try source.readRows(source.rowCount - 1 ..< source.rowCount, into: $0) }
            }
            if source.rowCount > 0 {
                var row = [Float](repeating: 0, count: source.rowLength)
                var rowScratch = [UInt8](repeating: 0, count: max(source.rowBytes, 1))
                try row.withUnsafeMutableBufferPointer { out in
                    try rowScratch.withUnsafeMutableBytes { try source.readFloatRows(0 ..< 1, into: out, scratch: $0) }
                }
            }
        }
    }
}
