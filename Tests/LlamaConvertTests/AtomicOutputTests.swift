import Foundation
import Testing
@testable import LlamaConvert

@Suite("Atomic output and its direct writer")
struct AtomicOutputTests {
    /// Writes `pieces` (offset, length) of a known pattern, gaps between them, and checks the file.
    static func roundTrip(in folder: TempFolder, size: Int, pieces: [(Int, Int)],
                          direct useDirect: Bool = true) throws -> (direct: Bool, bytes: [UInt8]) {
        let path = folder.path + "/out.bin"
        let pattern = (0 ..< size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 11) }
        let out = try AtomicOutput(path: path, size: size, direct: useDirect)
        let direct = out.writesDirectly
        for (offset, count) in pieces {
            try pattern[offset ..< offset + count].withUnsafeBytes { try out.write($0, at: offset) }
        }
        try out.commit()
        var expected = [UInt8](repeating: 0, count: size)
        for (offset, count) in pieces { expected[offset ..< offset + count] = pattern[offset ..< offset + count] }
        let written = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        #expect(written.count == size)
        #expect(written == expected)
        #expect(!FileManager.default.fileExists(atPath: AtomicOutput.temporaryPath(for: path)))
        return (direct, written)
    }

    /// Pieces of odd sizes with gaps, crossing the writer's buffers several times, ending off any
    /// alignment: the shape of a GGUF (header, padding, tensors).
    static let pieces: [(Int, Int)] = {
        var list: [(Int, Int)] = [(0, 1000)]
        var offset = 1024
        for k in 0 ..< 40 {
            let count = 7 + k * 997_001 % 3_000_017
            list.append((offset, count))
            offset = (offset + count + 31) / 32 * 32
        }
        return list
    }()

    static var size: Int { pieces.last.map { $0.0 + $0.1 } ?? 0 }

    @Test("writes in file order with zero-filled gaps come out exact through O_DIRECT on a disk file system")
    func directWritesAreExact() throws {
        let folder = TempFolder()
        let (direct, _) = try Self.roundTrip(in: folder, size: Self.size, pieces: Self.pieces)
        // The temporary folder here is a disk file system that takes O_DIRECT; if it did not, the
        // buffered path ran and the bytes were still checked.
        if FileManager.default.temporaryDirectory.path.hasPrefix("/tmp") { #expect(direct) }
    }

    @Test("buffered output (no O_DIRECT) and tmpfs give the same bytes")
    func bufferedAndTmpfsAreExact() throws {
        let (direct, _) = try Self.roundTrip(in: TempFolder(), size: Self.size, pieces: Self.pieces, direct: false)
        #expect(!direct)
        // tmpfs takes O_DIRECT on recent kernels and refuses it on older ones: either way, exact.
        _ = try Self.roundTrip(in: TempFolder(inMemory: true), size: Self.size, pieces: Self.pieces)
    }

    @Test("an abandoned output leaves nothing, with direct writes still in flight")
    func abandonLeavesNothing() throws {
        let folder = TempFolder()
        let path = folder.path + "/out.bin"
        let size = 50 << 20
        do {
            let out = try AtomicOutput(path: path, size: size)
            let chunk = [UInt8](repeating: 0xab, count: 3 << 20)
            var offset = 0
            while offset + chunk.count <= size {
                try chunk.withUnsafeBytes { try out.write($0, at: offset) }
                offset += chunk.count
            }
            // No commit: deinit abandons.
        }
        #expect(!FileManager.default.fileExists(atPath: path))
        #expect(!FileManager.default.fileExists(atPath: AtomicOutput.temporaryPath(for: path)))
    }
}
