import Foundation

/// A PyTorch checkpoint written by `torch.save` (zip format, torch ≥ 1.6), such as Meta's
/// `consolidated.NN.pth`: the state dict's tensors in pickled order, each a view of a storage
/// record read in place from the mapping. Layout and rules: formats/torch-zip-pickle.md.
public final class TorchCheckpoint {
    public let path: String
    /// The archive's top folder (`consolidated.00`, or `archive` for buffer saves).
    public let archiveName: String
    /// State-dict order as pickled. Non-tensor values are skipped.
    public let tensors: [(name: String, source: any TensorSource)]
    public let archive: ZipArchive
    private let storages: [TorchStorage]

    /// The first bytes of a pre-1.6 stream: PROTO 2, then LONG1 of the magic number.
    static let legacyMagic: [UInt8] = [0x80, 0x02, 0x8A, 0x0A, 0x6C, 0xFC, 0x9C, 0x46, 0xF9, 0x20, 0x6A, 0xA8, 0x50, 0x19]

    public convenience init(path: String) throws {
        try self.init(path: path, limits: PickleMachine.Limits())
    }

    public init(path: String, limits: PickleMachine.Limits, inflateLimit: Int = ZipArchive.defaultInflateLimit) throws {
        self.path = path
        let file = try MappedFile(path: path)
        try Self.checkLeadingBytes(file)
        let archive = try ZipArchive(file: file, inflateLimit: inflateLimit)
        self.archive = archive

        // Every record sits under the folder named by the first entry (torch's getAllRecords).
        guard let first = archive.entries.first else { throw TorchError.missingRecord(path: path, record: "data.pkl") }
        guard let slash = first.name.firstIndex(of: "/") else {
            throw TorchError.mixedArchiveFolders(path: path, entry: first.name, archive: "(none)")
        }
        let folder = String(first.name[..<slash])
        archiveName = folder
        for entry in archive.entries where !entry.name.hasPrefix(folder + "/") {
            throw TorchError.mixedArchiveFolders(path: path, entry: entry.name, archive: folder)
        }
        if archive.entry(named: folder + "/constants.pkl") != nil { throw TorchError.torchScript(path: path) }
        if let order = archive.entry(named: folder + "/byteorder") {
            let text = try archive.verifiedData(of: order).withBytes { String(decoding: $0.prefix(16), as: UTF8.self) }
                .trimmingCharacters(in: .whitespacesAndNewlines)
            guard text == "little" else { throw TorchError.unsupportedByteOrder(path: path, byteOrder: text) }
        }
        let pickleName = folder + "/data.pkl"
        guard let pickleEntry = archive.entry(named: pickleName) else { throw TorchError.missingRecord(path: path, record: pickleName) }
        let machine = PickleMachine(path: path, entry: pickleName, limits: limits)
        let top = try archive.verifiedData(of: pickleEntry).withBytes { try machine.run($0) }

        var builder = Builder(path: path, folder: folder, archive: archive)
        var tensors: [(name: String, source: any TensorSource)] = []
        for (key, value) in try Self.stateDict(top, path: path).entries {
            guard case let .tensor(tensor) = value else { continue }
            guard case let .string(name) = key else { throw TorchError.nonStringKey(path: path, key: key.kind) }
            tensors.append((name, try builder.tensor(named: name, tensor)))
        }
        self.tensors = tensors
        storages = builder.storages.values.sorted { $0.entry.dataOffset < $1.entry.dataOffset }
    }

    /// Checks the CRC-32 of every storage record now, instead of at each storage's first read.
    public func verifyChecksums() throws {
        for storage in storages { _ = try storage.verifiedBytes() }
    }

    /// Refuses legacy streams and non-zip files before the zip reader sees them (torch checks
    /// `PK\3\4` at offset 0, `_is_zipfile` in serialization.py).
    static func checkLeadingBytes(_ file: MappedFile) throws {
        let bytes = file.bytes
        if bytes.count >= 2, bytes[0] == 0x80, bytes[1] == 0x02 { throw TorchError.legacyFormat(path: file.path) }
        if bytes.count >= 262, Array(bytes[257 ..< 262]) == Array("ustar".utf8) { throw TorchError.legacyFormat(path: file.path) }
        let magic: [UInt8] = [0x50, 0x4B, 0x03, 0x04]
        guard bytes.count >= 4, Array(bytes[0 ..< 4]) == magic else {
            let shown = bytes.prefix(8).map { byte -> String in
                let digits = String(byte, radix: 16)
                return digits.count == 1 ? "0" + digits : digits
            }
            throw TorchError.notATorchFile(path: file.path, firstBytes: shown.isEmpty ? "(empty file)" : shown.joined(separator: " "))
        }
    }

    /// The dict holding the tensors: the top-level dict, or its `state_dict` / `model` entry when
    /// the top level holds no tensors itself (training checkpoints nest the weights there).
    static func stateDict(_ top: PickleValue, path: String) throws -> PickleDict {
        guard case let .dict(dict) = top else { throw TorchError.notAStateDict(path: path, found: top.kind) }
        let hasTensors = dict.entries.contains { if case .tensor = $0.value { return true } else { return false } }
        if !hasTensors {
            for key in ["state_dict", "model"] {
                if case let .dict(inner)? = dict[key] { return inner }
            }
        }
        return dict
    }

    /// Turns pickled views into tensor sources, opening each storage record once.
    private struct Builder {
        let path: String
        let folder: String
        let archive: ZipArchive
        var storages: [String: TorchStorage] = [:]

        mutating func tensor(named name: String, _ tensor: PickleTensor) throws -> any TensorSource {
            guard let dtype = tensor.dtype else {
                throw TorchError.unsupportedDType(path: path, tensor: name, dtype: "untyped (UntypedStorage without a dtype)")
            }
            guard let type = dtype.ggmlType, let elementSize = dtype.elementSize else {
                throw TorchError.unsupportedDType(path: path, tensor: name, dtype: dtype.name)
            }
            let storage = try self.storage(tensor.storage, dtype: dtype)
            let available = storage.byteCount / elementSize

            let size = tensor.size, strides = tensor.stride
            guard size.count == strides.count else {
                throw TorchError.badTensorGeometry(path: path, tensor: name, problem: "size has \(size.count) dimensions, stride \(strides.count)")
            }
            guard tensor.storageOffset >= 0, size.allSatisfy({ $0 >= 0 }), strides.allSatisfy({ $0 >= 0 }) else {
                throw TorchError.badTensorGeometry(path: path, tensor: name,
                                                   problem: "negative offset, size or stride (offset \(tensor.storageOffset), size \(size), stride \(strides))")
            }
            var count = 1
            for extent in size {
                let (product, overflow) = count.multipliedReportingOverflow(by: extent)
                guard !overflow else { throw TorchError.badTensorGeometry(path: path, tensor: name, problem: "size \(size) overflows") }
                count = product
            }
            // A view never has more elements than its storage: that only happens with overlapping
            // (stride-0, broadcast) views, which no weight uses and which would let a tiny record
            // claim an enormous tensor.
            guard count <= available, tensor.storageOffset <= available else {
                throw TorchError.badTensorGeometry(path: path, tensor: name,
                                                   problem: "view of \(count) elements at offset \(tensor.storageOffset) on a storage of \(available) elements (overlapping or out-of-range view)")
            }
            if count > 0 {
                // The last element reached is offset + Σ (size_i − 1)·stride_i; it must be inside the storage.
                var last = tensor.storageOffset
                for (extent, step) in zip(size, strides) {
                    let (reach, o1) = (extent - 1).multipliedReportingOverflow(by: step)
                    let (sum, o2) = last.addingReportingOverflow(reach)
                    guard !o1, !o2 else { throw TorchError.badTensorGeometry(path: path, tensor: name, problem: "stride \(strides) overflows") }
                    last = sum
                }
                guard last < available else {
                    throw TorchError.viewOutOfBounds(path: path, tensor: name, needed: last + 1, available: available)
                }
            }
            return TorchTensor(name: name, type: type, shape: size, strides: strides, storageOffset: tensor.storageOffset, storage: storage)
        }

        /// The record `<folder>/data/<key>`, which must hold exactly numel × element size bytes.
        mutating func storage(_ reference: PickleStorage, dtype: TorchDType) throws -> TorchStorage {
            let record = folder + "/data/" + reference.key
            if let existing = storages[reference.key] {
                guard existing.dtype == dtype else {
                    throw TorchError.storageDTypeConflict(path: path, record: record, first: existing.dtype.name, second: dtype.name)
                }
                return existing
            }
            guard let entry = archive.entry(named: record) else { throw TorchError.missingRecord(path: path, record: record) }
            // Typed storages count elements; UntypedStorage counts bytes.
            let (expected, overflow) = reference.numel.multipliedReportingOverflow(by: reference.dtype == nil ? 1 : (dtype.elementSize ?? 1))
            guard !overflow, entry.uncompressedSize == expected, expected % (dtype.elementSize ?? 1) == 0 else {
                throw TorchError.storageSizeMismatch(path: path, record: record, expected: overflow ? Int.max : expected, found: entry.uncompressedSize)
            }
            let storage = try TorchStorage(archive: archive, entry: entry, dtype: dtype)
            storages[reference.key] = storage
            return storage
        }
    }
}
