import Foundation
import Testing
@testable import LlamaConvert

/// The torch checkpoints in fixtures/ (written by Scripts/make_fixtures.py with real torch).
@Suite("Torch checkpoint fixtures")
struct TorchFixtureTests {
    struct TensorTable: Decodable {
        struct Record: Decodable {
            let dtype: String
            let shape: [Int]
            let crc32: UInt32
            let sum: Double
            let first: [Double]
            let stride: [Int]?
            let storage_offset: Int?
        }
        let tensors: [String: Record]
    }

    static func table(_ relative: String) throws -> TensorTable {
        try JSONDecoder().decode(TensorTable.self, from: Data(contentsOf: URL(fileURLWithPath: Fixtures.path(relative))))
    }

    /// Values summed in float64 by the generator; ours sum the same floats in index order, so
    /// only the summation order differs: allow 1e-9 relative to the sum of magnitudes.
    func expectMatches(_ source: any TensorSource, _ record: TensorTable.Record, _ name: String) throws {
        #expect(source.type.name.lowercased() == record.dtype, "\(name) dtype")
        #expect(source.shape == record.shape, "\(name) shape")
        let bytes = try source.storedBytes()
        #expect(CRC32.checksum(bytes) == record.crc32, "\(name) crc32")
        let values = try source.floats()
        let sum = values.reduce(0.0) { $0 + Double($1) }
        let magnitude = values.reduce(0.0) { $0 + abs(Double($1)) }
        #expect(abs(sum - record.sum) <= 1e-9 * max(magnitude, 1), "\(name) sum \(sum) vs \(record.sum)")
        #expect(values.prefix(record.first.count).map(Double.init) == record.first, "\(name) first values")
    }

    @Test("every tensor of every Meta shard equals its reference record",
          arguments: ["meta-gqa-mp2", "meta-mha-l2-mp2", "meta-copy-of-hf-mqa"])
    func metaShards(folder: String) throws {
        let reference = try Fixtures.reference(folder)
        let shards = try #require(reference.shards)
        #expect(!shards.isEmpty)
        for (file, records) in shards {
            let checkpoint = try TorchCheckpoint(path: Fixtures.path(folder + "/" + file))
            #expect(checkpoint.archiveName + ".pth" == file)
            #expect(Set(checkpoint.tensors.map(\.name)) == Set(records.keys), "\(folder)/\(file) names")
            #expect(checkpoint.tensors.count == records.count)
            for (name, source) in checkpoint.tensors {
                let record = try #require(records[name])
                let table = TensorTable.Record(dtype: record.dtype, shape: record.shape, crc32: record.crc32, sum: record.sum,
                                               first: record.first, stride: nil, storage_offset: nil)
                try expectMatches(source, table, "\(file):\(name)")
            }
            try checkpoint.verifyChecksums()
        }
    }

    @Test("compressed fixtures (deflate, zstd) read correctly",
          arguments: ["torch-compressed", "torch-zstd"])
    func compressed(name: String) throws {
        let table = try Self.table("bad/\(name).json")
        let checkpoint = try TorchCheckpoint(path: Fixtures.path("bad/\(name).pth"))
        #expect(Set(checkpoint.tensors.map(\.name)) == Set(table.tensors.keys))
        #expect(checkpoint.archive.entries.contains { $0.method == (name == "torch-zstd" ? 93 : 8) })
        for (tensor, source) in checkpoint.tensors { try expectMatches(source, try #require(table.tensors[tensor]), tensor) }
    }

    @Test("non-contiguous views (transpose, offset slices of one storage) give their .contiguous() values")
    func noncontiguous() throws {
        let table = try Self.table("bad/torch-noncontiguous.json")
        let checkpoint = try TorchCheckpoint(path: Fixtures.path("bad/torch-noncontiguous.pth"))
        #expect(Set(checkpoint.tensors.map(\.name)) == Set(table.tensors.keys))
        for (name, source) in checkpoint.tensors {
            let record = try #require(table.tensors[name])
            let tensor = try #require(source as? TorchTensor)
            #expect(tensor.strides == record.stride && tensor.storageOffset == record.storage_offset, "\(name) view")
            try expectMatches(source, record, name)
        }
        let records = Set(checkpoint.tensors.compactMap { ($0.source as? TorchTensor)?.record })
        #expect(records.count == 1)
    }

    @Test("hostile pickles are refused naming the global, and nothing runs",
          arguments: [("pickle-os-system", "posix.system"), ("pickle-os-system-literal", "os.system"),
                      ("pickle-eval", "builtins.eval"), ("pickle-unknown-global", "numpy._core.multiarray._reconstruct")])
    func hostilePickles(file: String, global: String) throws {
        let marker = "/tmp/llama-convert-pwned"
        try? FileManager.default.removeItem(atPath: marker)
        let path = Fixtures.path("bad/\(file).pth")
        do {
            _ = try TorchCheckpoint(path: path)
            Issue.record("\(file) was accepted")
        } catch let error as PickleError {
            guard case let .forbiddenGlobal(errorPath, entry, _, name) = error else {
                Issue.record("\(file): \(error)"); return
            }
            #expect(errorPath == path && entry == "\(file)/data.pkl" && name == global)
            #expect(error.description.contains(path) && error.description.contains(global))
        }
        #expect(!FileManager.default.fileExists(atPath: marker))
    }

    @Test("a flipped byte in a stored record is reported on read with the file and record name")
    func badCRC() throws {
        let path = Fixtures.path("bad/zip-bad-crc.pth")
        let checkpoint = try TorchCheckpoint(path: path) // stored records are checked on first read
        var failures: [String] = []
        for (_, source) in checkpoint.tensors {
            do { _ = try source.storedBytes() } catch { failures.append(String(describing: error)) }
        }
        #expect(!failures.isEmpty)
        for text in failures { #expect(text.contains(path) && text.contains("zip-bad-crc/data/0") && text.contains("CRC-32"), "\(text)") }
        #expect(throws: ZipError.self) { try checkpoint.verifyChecksums() }
    }

    @Test("a checkpoint cut before its central directory is refused naming the file")
    func truncated() {
        let path = Fixtures.path("bad/zip-truncated.pth")
        #expect {
            _ = try TorchCheckpoint(path: path)
        } throws: { error in
            let text = String(describing: error)
            return text.hasPrefix(path + ": ") && text.contains("end-of-central-directory")
        }
    }

    @Test("a legacy (pre-1.6) file is refused with advice to re-save")
    func legacy() {
        let path = Fixtures.path("bad/legacy-nonzip.pth")
        #expect(throws: TorchError.legacyFormat(path: path)) { _ = try TorchCheckpoint(path: path) }
    }
}
