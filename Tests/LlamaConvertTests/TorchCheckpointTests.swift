import Foundation
import Testing
@testable import LlamaConvert

@Suite("Torch checkpoint reader")
struct TorchCheckpointTests {
    let folder = TempFolder()

    func write(_ zip: ZipBytes, _ name: String = "consolidated.00.pth") throws -> String {
        try folder.write(name, zip.build())
    }

    func expectError(_ path: String, contains parts: [String], _ body: () throws -> Void) {
        do {
            try body()
            Issue.record("expected an error naming \(parts)")
        } catch {
            let text = String(describing: error)
            #expect(text.contains(path), "\(text)")
            for part in parts { #expect(text.contains(part), "\(text) should mention \(part)") }
        }
    }

    /// Reads every tensor's values; the first error thrown is rethrown.
    func readAll(_ checkpoint: TorchCheckpoint) throws {
        for (_, source) in checkpoint.tensors { _ = try source.storedBytes() }
    }

    // MARK: - Hand-built checkpoints

    @Test("contiguous tensors read in place from the mapping, in pickled order")
    func contiguous() throws {
        let a: [Float] = (0 ..< 12).map { Float($0) * 0.5 }
        let b: [Float] = [7, 8, 9]
        let pickle = PickleBytes.stateDict([
            .init(name: "b.weight", key: "1", numel: 3, size: [3], stride: [1]),
            .init(name: "a.weight", key: "0", numel: 12, size: [3, 4], stride: [4, 1]),
        ])
        let path = try write(torchArchive(folder: "consolidated.00", pickle: pickle, storages: [("0", a.littleEndianBytes), ("1", b.littleEndianBytes)]))
        let checkpoint = try TorchCheckpoint(path: path)
        #expect(checkpoint.archiveName == "consolidated.00")
        #expect(checkpoint.tensors.map(\.name) == ["b.weight", "a.weight"])
        let source = checkpoint.tensors[1].source
        #expect(source.type == .f32 && source.shape == [3, 4])
        #expect(try source.floats() == a)
        let bytes = try #require(source.contiguousBytes)
        let mapping = checkpoint.archive.file.bytes
        #expect(bytes.baseAddress! >= mapping.baseAddress! && bytes.baseAddress! < mapping.baseAddress! + mapping.count)
        var row = [UInt8](repeating: 0, count: 16)
        try row.withUnsafeMutableBytes { try source.readRows(2 ..< 3, into: $0) }
        #expect(row == Array(a[8 ..< 12]).littleEndianBytes)
        try checkpoint.verifyChecksums()
    }

    @Test("tensors sharing one storage honour their offsets; transposed and sliced views give contiguous values")
    func sharedAndStrided() throws {
        let x: [Float] = (0 ..< 24).map(Float.init) // 4x6
        let pickle = PickleBytes.stateDict([
            .init(name: "t", key: "0", numel: 24, offset: 0, size: [6, 4], stride: [1, 6]),
            .init(name: "s", key: "0", numel: 24, offset: 6, size: [2, 6], stride: [6, 1]),
            .init(name: "c", key: "0", numel: 24, offset: 2, size: [4, 3], stride: [6, 1]),
            .init(name: "v", key: "0", numel: 24, offset: 1, size: [4], stride: [6]),
            .init(name: "scalar", key: "0", numel: 24, offset: 23, size: [], stride: []),
            .init(name: "cube", key: "0", numel: 24, offset: 0, size: [2, 2, 3], stride: [1, 12, 2]),
        ])
        let path = try write(torchArchive(pickle: pickle, storages: [("0", x.littleEndianBytes)]))
        let checkpoint = try TorchCheckpoint(path: path)
        let byName = Dictionary(uniqueKeysWithValues: checkpoint.tensors.map { ($0.name, $0.source) })
        let t = try #require(byName["t"])
        #expect(t.contiguousBytes == nil)
        #expect(try t.floats() == (0 ..< 6).flatMap { j in (0 ..< 4).map { i in Float(i * 6 + j) } })
        #expect(try byName["s"]!.floats() == Array(x[6 ..< 18]))
        #expect(try byName["c"]!.floats() == (0 ..< 4).flatMap { i in (2 ..< 5).map { j in Float(i * 6 + j) } })
        #expect(try byName["v"]!.floats() == [1, 7, 13, 19])
        #expect(try byName["scalar"]!.floats() == [23])
        #expect(try byName["cube"]!.floats() == [0, 2, 4, 12, 14, 16, 1, 3, 5, 13, 15, 17])
        // Rows of a strided view read on their own give the same values.
        var row = [Float](repeating: 0, count: 4)
        try row.withUnsafeMutableBytes { try t.readRows(3 ..< 4, into: $0) }
        #expect(row == [3, 9, 15, 21])
        let storages = Set(checkpoint.tensors.map { ObjectIdentifier(($0.source as! TorchTensor).storage) })
        #expect(storages.count == 1)
    }

    @Test("a view reaching past its storage is refused naming the tensor")
    func viewOutOfBounds() throws {
        let pickle = PickleBytes.stateDict([.init(name: "w", key: "0", numel: 8, offset: 2, size: [2, 4], stride: [4, 1])])
        let path = try write(torchArchive(pickle: pickle, storages: [("0", [Float](repeating: 1, count: 8).littleEndianBytes)]))
        expectError(path, contains: ["tensor w", "element 10", "8 elements"]) { _ = try TorchCheckpoint(path: path) }
    }

    @Test("broadcast (stride-0) views larger than their storage, and empty views past it, are refused")
    func overlappingViews() throws {
        let storage = [Float](repeating: 1, count: 4).littleEndianBytes
        let broadcast = PickleBytes.stateDict([.init(name: "b", key: "0", numel: 4, size: [1 << 20, 1 << 20], stride: [0, 0])])
        let path = try write(torchArchive(pickle: broadcast, storages: [("0", storage)]), "broadcast.pth")
        expectError(path, contains: ["tensor b", "overlapping"]) { _ = try TorchCheckpoint(path: path) }
        let empty = PickleBytes.stateDict([.init(name: "e", key: "0", numel: 4, offset: 1 << 40, size: [0, 3], stride: [3, 1])])
        let emptyPath = try write(torchArchive(pickle: empty, storages: [("0", storage)]), "empty.pth")
        expectError(emptyPath, contains: ["tensor e", "offset 1099511627776"]) { _ = try TorchCheckpoint(path: emptyPath) }
        // An empty view inside the storage is fine.
        let fine = PickleBytes.stateDict([.init(name: "z", key: "0", numel: 4, offset: 4, size: [0], stride: [1])])
        let finePath = try write(torchArchive(pickle: fine, storages: [("0", storage)]), "fine.pth")
        #expect(try TorchCheckpoint(path: finePath).tensors[0].source.storedBytes().isEmpty)
    }

    @Test("other storage dtypes give 'unsupported dtype X for tensor T' naming the file")
    func unsupportedDType() throws {
        let pickle = PickleBytes.stateDict([.init(name: "steps", storageClass: "LongStorage", key: "0", numel: 1, size: [1], stride: [1])])
        let path = try write(torchArchive(pickle: pickle, storages: [("0", [UInt8](repeating: 0, count: 8))]))
        expectError(path, contains: ["unsupported dtype int64 for tensor steps"]) { _ = try TorchCheckpoint(path: path) }
    }

    @Test("_rebuild_tensor_v3 on an UntypedStorage names the new dtype")
    func rebuildV3() throws {
        var p = PickleBytes()
        p.proto(); p.op(0x7D); p.string("fp8")
        p.global("torch._utils", "_rebuild_tensor_v3")
        p.mark()
        p.mark(); p.string("storage"); p.global("torch.storage", "UntypedStorage"); p.string("0"); p.string("cpu"); p.int(4); p.op(0x74)
        p.op(0x51); p.int(0); p.intTuple([4]); p.intTuple([1]); p.op(0x89)
        p.global("collections", "OrderedDict"); p.op(0x29); p.op(0x52)
        p.global("torch", "float8_e4m3fn")
        p.op(0x74); p.op(0x52); p.op(0x73); p.stop()
        let path = try write(torchArchive(pickle: p.bytes, storages: [("0", [1, 2, 3, 4])]))
        expectError(path, contains: ["unsupported dtype float8_e4m3fn for tensor fp8"]) { _ = try TorchCheckpoint(path: path) }
    }

    @Test("a storage record of the wrong size, or a missing one, is refused naming the record")
    func storageRecords() throws {
        let pickle = PickleBytes.stateDict([.init(name: "w", storageClass: "HalfStorage", key: "0", numel: 4, size: [4], stride: [1])])
        let short = try write(torchArchive(pickle: pickle, storages: [("0", [0, 0, 0, 0, 0, 0])]), "short.pth")
        expectError(short, contains: ["archive/data/0", "holds 6 bytes", "needs 8"]) { _ = try TorchCheckpoint(path: short) }
        let missing = try write(torchArchive(pickle: pickle, storages: []), "missing.pth")
        expectError(missing, contains: ["missing record archive/data/0"]) { _ = try TorchCheckpoint(path: missing) }
    }

    @Test("two views of one storage with different dtypes are refused")
    func dtypeConflict() throws {
        let pickle = PickleBytes.stateDict([
            .init(name: "a", storageClass: "HalfStorage", key: "0", numel: 4, size: [4], stride: [1]),
            .init(name: "b", storageClass: "BFloat16Storage", key: "0", numel: 4, size: [4], stride: [1]),
        ])
        let path = try write(torchArchive(pickle: pickle, storages: [("0", [UInt8](repeating: 0, count: 8))]))
        expectError(path, contains: ["float16", "bfloat16"]) { _ = try TorchCheckpoint(path: path) }
    }

    @Test("a plain dict works; non-tensor values are skipped; a 'model' wrapper is unwrapped")
    func containers() throws {
        let w: [Float] = [1, 2]
        let plain = PickleBytes.stateDict([.init(name: "w", key: "0", numel: 2, size: [2], stride: [1])], ordered: false)
        let path = try write(torchArchive(pickle: plain, storages: [("0", w.littleEndianBytes)]), "plain.pth")
        #expect(try TorchCheckpoint(path: path).tensors.map(\.name) == ["w"])

        // {"epoch": 3, "model": {"w": tensor, "note": "x"}}
        var inner = PickleBytes.stateDict([.init(name: "w", key: "0", numel: 2, size: [2], stride: [1])], ordered: false)
        inner.removeFirst(2); inner.removeLast() // drop PROTO and STOP
        var p = PickleBytes()
        p.proto(); p.op(0x7D); p.string("epoch"); p.int(3); p.op(0x73)
        p.string("model"); p.bytes += inner
        p.string("note"); p.string("x"); p.op(0x73)
        p.op(0x73); p.stop()
        let nested = try write(torchArchive(pickle: p.bytes, storages: [("0", w.littleEndianBytes)]), "nested.pth")
        let checkpoint = try TorchCheckpoint(path: nested)
        #expect(checkpoint.tensors.map(\.name) == ["w"])
        #expect(try checkpoint.tensors[0].source.floats() == w)

        var list = PickleBytes()
        list.proto(); list.op(0x5D); list.stop()
        let notDict = try write(torchArchive(pickle: list.bytes, storages: []), "list.pth")
        expectError(notDict, contains: ["top-level object is list"]) { _ = try TorchCheckpoint(path: notDict) }
    }

    @Test("a stored storage with a bad CRC opens, then fails on first read naming file and record")
    func lazyCRC() throws {
        let w: [Float] = [1, 2, 3, 4]
        let pickle = PickleBytes.stateDict([.init(name: "w", key: "0", numel: 4, size: [4], stride: [1])])
        var zip = torchArchive(pickle: pickle, storages: [("0", w.littleEndianBytes)])
        zip.entries[2].crcOverride = 0xDEAD_BEEF
        let path = try write(zip)
        let checkpoint = try TorchCheckpoint(path: path)
        let source = checkpoint.tensors[0].source
        #expect(source.contiguousBytes == nil)
        expectError(path, contains: ["archive/data/0", "CRC-32"]) { _ = try source.storedBytes() }
        expectError(path, contains: ["archive/data/0", "CRC-32"]) { try checkpoint.verifyChecksums() }
    }

    @Test("a data.pkl with a bad CRC is refused at open")
    func pickleCRC() throws {
        let pickle = PickleBytes.stateDict([])
        var zip = torchArchive(pickle: pickle, storages: [])
        zip.entries[0].crcOverride = 1
        let path = try write(zip)
        expectError(path, contains: ["archive/data.pkl", "CRC-32"]) { _ = try TorchCheckpoint(path: path) }
    }

    @Test("deflate and zstd storages are inflated, CRC-checked and read", arguments: [UInt16(8), 93])
    func compressedStorages(method: UInt16) throws {
        let w: [Float] = (0 ..< 300).map { Float($0 % 7) }
        let pickle = PickleBytes.stateDict([
            .init(name: "w", key: "0", numel: 300, offset: 0, size: [30, 10], stride: [10, 1]),
            .init(name: "t", key: "0", numel: 300, offset: 0, size: [10, 30], stride: [1, 10]),
        ])
        let path = try write(torchArchive(pickle: pickle, storages: [("0", w.littleEndianBytes)], method: method, pickleMethod: method))
        let checkpoint = try TorchCheckpoint(path: path)
        #expect(try checkpoint.tensors[0].source.floats() == w)
        #expect(try checkpoint.tensors[1].source.floats() == (0 ..< 10).flatMap { j in (0 ..< 30).map { i in w[i * 10 + j] } })
        let bytes = try #require(checkpoint.tensors[0].source.contiguousBytes)
        #expect(UInt(bitPattern: bytes.baseAddress) % 64 == 0)
    }

    @Test("legacy pre-1.6 streams are refused with advice to re-save")
    func legacy() throws {
        let path = try folder.write("old.pth", TorchCheckpoint.legacyMagic + [0x2E, 0x80, 0x02])
        expectError(path, contains: ["legacy (pre-1.6) torch serialization; re-save with torch >= 1.6"]) { _ = try TorchCheckpoint(path: path) }
    }

    @Test("garbage and empty files are refused as not a torch zip checkpoint")
    func garbage() throws {
        let path = try folder.write("junk.pth", Array("hello world, not a checkpoint".utf8))
        expectError(path, contains: ["not a PyTorch zip checkpoint", "68 65 6c 6c"]) { _ = try TorchCheckpoint(path: path) }
        let empty = try folder.write("empty.pth", [])
        expectError(empty, contains: ["not a PyTorch zip checkpoint", "empty"]) { _ = try TorchCheckpoint(path: empty) }
        let zipOnly = try folder.write("pk.pth", [0x50, 0x4B, 0x03, 0x04] + [UInt8](repeating: 0, count: 40))
        expectError(zipOnly, contains: ["end-of-central-directory"]) { _ = try TorchCheckpoint(path: zipOnly) }
    }

    @Test("TorchScript archives, big-endian byte order and records outside the archive folder are refused")
    func archiveChecks() throws {
        var script = torchArchive(pickle: PickleBytes.stateDict([]), storages: [])
        script.add("archive/constants.pkl", [0x80, 0x02, 0x29, 0x2E])
        let scriptPath = try write(script, "script.pth")
        expectError(scriptPath, contains: ["TorchScript"]) { _ = try TorchCheckpoint(path: scriptPath) }

        var big = torchArchive(pickle: PickleBytes.stateDict([]), storages: [])
        big.entries[1].data = Array("big".utf8)
        let bigPath = try write(big, "big.pth")
        expectError(bigPath, contains: ["byteorder", "big"]) { _ = try TorchCheckpoint(path: bigPath) }

        var mixed = torchArchive(pickle: PickleBytes.stateDict([]), storages: [])
        mixed.add("other/x", [1])
        let mixedPath = try write(mixed, "mixed.pth")
        expectError(mixedPath, contains: ["other/x", "archive/"]) { _ = try TorchCheckpoint(path: mixedPath) }
    }
}
