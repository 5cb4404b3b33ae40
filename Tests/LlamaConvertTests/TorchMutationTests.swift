import Foundation
import Testing
@testable import LlamaConvert

/// Broken variants of every .pth fixture (fixed seed): truncations, flipped bytes in the central
/// directory, local headers and data.pkl, and sizes set huge. Each variant must either read (every
/// tensor's bytes) or throw an error whose description names the file: no crash, no hang, no
/// allocation sized by a lie.
@Suite("Torch checkpoint mutations")
struct TorchMutationTests {
    /// SplitMix64: a fixed, portable sequence.
    struct Random {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        mutating func below(_ n: Int) -> Int { n <= 0 ? 0 : Int(next() % UInt64(n)) }
    }

    static func fixturePaths() -> [String] {
        let root = URL(fileURLWithPath: Fixtures.root).resolvingSymlinksInPath().path
        guard let walker = FileManager.default.enumerator(atPath: root) else { return [] }
        return walker.compactMap { $0 as? String }.filter { $0.hasSuffix(".pth") }.sorted().map(Fixtures.path)
    }

    static func offsets(of signature: UInt32, in bytes: [UInt8]) -> [Int] {
        let needle = withUnsafeBytes(of: signature.littleEndian, Array.init)
        return bytes.withUnsafeBytes { haystack -> [Int] in
            guard let base = haystack.baseAddress else { return [] }
            var found: [Int] = []
            var from = 0
            // memchr finds each 'P'; the other three bytes are compared there.
            while from + 4 <= haystack.count, let hit = memchr(base + from, Int32(needle[0]), haystack.count - from) {
                let at = base.distance(to: UnsafeRawPointer(hit))
                if at + 4 <= haystack.count, memcmp(base + at, needle, 4) == 0 { found.append(at) }
                from = at + 1
            }
            return found
        }
    }

    /// The variants of one file, each with a label for failure messages.
    static func variants(of original: [UInt8], seed: UInt64) -> [(String, [UInt8])] {
        var random = Random(state: seed)
        var out: [(String, [UInt8])] = []
        let n = original.count
        for i in 0 ..< 12 { out.append(("truncate \(n * i / 12)", Array(original[0 ..< n * i / 12]))) }
        for _ in 0 ..< 6 { let cut = random.below(n); out.append(("truncate \(cut)", Array(original[0 ..< cut]))) }
        out.append(("truncate last byte", Array(original.dropLast())))

        func flips(_ label: String, _ region: Range<Int>, count: Int) {
            guard !region.isEmpty else { return }
            for _ in 0 ..< count {
                var copy = original
                let at = region.lowerBound + random.below(region.count)
                copy[at] ^= UInt8(1 << random.below(8)) | 0x01
                out.append(("\(label) flip at \(at)", copy))
            }
        }
        func huge(_ label: String, _ at: Int, width: Int) {
            guard at >= 0, at + width <= n else { return }
            for value: UInt64 in width == 8 ? [UInt64.max, 1 << 40] : [0xFFFF_FFFF, 0x7FFF_FFF0] {
                var copy = original
                for i in 0 ..< width { copy[at + i] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(i))) }
                out.append(("\(label) = \(value) at \(at)", copy))
            }
        }

        let central = offsets(of: 0x0201_4b50, in: original)
        let locals = offsets(of: 0x0403_4b50, in: original)
        if let first = central.first { flips("central directory", first ..< n, count: 16) }
        for header in locals.prefix(6) { flips("local header", header ..< min(header + 30, n), count: 2) }
        for entry in central.prefix(8) {
            huge("compressed size", entry + 20, width: 4)
            huge("uncompressed size", entry + 24, width: 4)
            huge("name length", entry + 28, width: 2)
        }
        for record in offsets(of: 0x0606_4b50, in: original) {
            huge("zip64 entry count", record + 32, width: 8)
            huge("zip64 CD size", record + 40, width: 8)
        }
        for eocd in offsets(of: 0x0605_4b50, in: original) { huge("EOCD CD offset", eocd + 16, width: 4) }
        // data.pkl, located with the reader itself when the original opens.
        if let pickle = pickleRange(original) {
            flips("data.pkl", pickle, count: 40)
            for _ in 0 ..< 6 {
                var copy = original
                let at = pickle.lowerBound + random.below(pickle.count)
                for i in 0 ..< min(4, pickle.upperBound - at) { copy[at + i] = 0xFF }
                out.append(("data.pkl 0xFFFFFFFF at \(at)", copy))
            }
        } else {
            flips("anywhere", 0 ..< n, count: 20)
        }
        return out
    }

    static func pickleRange(_ bytes: [UInt8]) -> Range<Int>? {
        let folder = TempFolder()
        guard let path = try? folder.write("probe.pth", bytes), let archive = try? ZipArchive(path: path),
              let entry = archive.entries.first(where: { $0.name.hasSuffix("/data.pkl") }), entry.isStored, entry.compressedSize > 0
        else { return nil }
        return entry.dataOffset ..< entry.dataOffset + entry.compressedSize
    }

    @Test("every mutated .pth fixture reads or throws an error naming the file")
    func mutations() throws {
        let fixtures = Self.fixturePaths()
        #expect(fixtures.count >= 10, "fixtures found: \(fixtures.count)")
        let folder = TempFolder(inMemory: true)
        var tried = 0, refused = 0
        for (index, fixture) in fixtures.enumerated() {
            let original = [UInt8](try Data(contentsOf: URL(fileURLWithPath: fixture)))
            for (label, bytes) in Self.variants(of: original, seed: 0x5EED_0000 + UInt64(index)) {
                let path = try folder.write("variant.pth", bytes)
                tried += 1
                do {
                    let checkpoint = try TorchCheckpoint(path: path)
                    for (_, source) in checkpoint.tensors { _ = try source.storedBytes() }
                } catch {
                    refused += 1
                    let text = String(describing: error)
                    #expect(text.contains(path), "\(fixture) \(label): \(text)")
                }
            }
        }
        #expect(refused > tried / 2, "\(refused) of \(tried) variants refused")
        print("torch mutations: \(tried) variants of \(fixtures.count) files, \(refused) refused")
    }
}
