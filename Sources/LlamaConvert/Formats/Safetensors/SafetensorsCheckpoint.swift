import Foundation

/// The safetensors files of one checkpoint: a single file, or the shards a
/// `model.safetensors.index.json` names, cross-checked against the index.
public struct SafetensorsCheckpoint: Sendable {
    /// In index order (shard names sorted), or the single file.
    public let files: [SafetensorsFile]
    /// All tensors: files in index order, offsets ascending within each file.
    public let tensors: [SafetensorsTensor]
    /// The index file, when the checkpoint is sharded.
    public let indexPath: String?
    private let indexByName: [String: Int]

    /// Opens a folder: `model.safetensors.index.json` if present, else its single `.safetensors` file.
    ///
    /// With an index: every shard it names must exist, every tensor it maps must be in the shard it
    /// names, no tensor may be in two shards, and no shard may hold a tensor the index does not list.
    /// Without one: exactly one `.safetensors` file (hidden files ignored); several → `ambiguousFolder`.
    public static func open(folder: String) throws -> SafetensorsCheckpoint {
        let indexPath = folder + "/" + ShardIndex.fileName
        if FileManager.default.fileExists(atPath: indexPath) {
            return try SafetensorsCheckpoint(index: try ShardIndex(path: indexPath), folder: folder)
        }
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: folder)
        } catch {
            throw FileError.cannotOpen(path: folder, reason: "cannot list the folder")
        }
        let candidates = names.filter { $0.hasSuffix(".safetensors") && !$0.hasPrefix(".") }.sorted()
        guard !candidates.isEmpty else {
            throw FileError.missing(path: folder, what: "a .safetensors file or \(ShardIndex.fileName)")
        }
        guard candidates.count == 1 else { throw SafetensorsError.ambiguousFolder(path: folder, files: candidates) }
        return try SafetensorsCheckpoint(file: folder + "/" + candidates[0])
    }

    /// One unsharded file.
    public init(file: String) throws {
        self.init(files: [try SafetensorsFile(path: file)], indexPath: nil)
    }

    /// The shards of `index`, which sit in `folder`.
    public init(index: ShardIndex, folder: String) throws {
        let indexPath = index.path
        var shardCounts: [String: Int] = [:]
        for (_, shard) in index.weightMap { shardCounts[shard, default: 0] += 1 }

        // Every shard exists (checked for all before any is opened, so the error is about the index).
        for shard in index.shards where !FileManager.default.fileExists(atPath: folder + "/" + shard) {
            throw SafetensorsError.shardMissing(path: indexPath, shard: shard, tensors: shardCounts[shard] ?? 0)
        }
        let files = try index.shards.map { try SafetensorsFile(path: folder + "/" + $0) }

        // No tensor in two shards.
        var shardOf: [String: String] = [:]
        for (file, shard) in zip(files, index.shards) {
            for tensor in file.tensors {
                if let first = shardOf[tensor.name] {
                    throw SafetensorsError.tensorInTwoShards(path: indexPath, tensor: tensor.name, first: first, second: shard)
                }
                shardOf[tensor.name] = shard
            }
        }
        // Every mapped tensor is in the shard the index names.
        var mapped: [String: String] = [:]
        for (tensor, shard) in index.weightMap {
            guard shardOf[tensor] == shard else {
                throw SafetensorsError.tensorMissingFromShard(path: indexPath, tensor: tensor, shard: shard)
            }
            mapped[tensor] = shard
        }
        // Every tensor of every shard is listed (after the check above, listed means listed for its shard).
        for (file, shard) in zip(files, index.shards) {
            for tensor in file.tensors where mapped[tensor.name] == nil {
                throw SafetensorsError.tensorNotInIndex(path: indexPath, tensor: tensor.name, shard: shard)
            }
        }
        self.init(files: files, indexPath: indexPath)
    }

    private init(files: [SafetensorsFile], indexPath: String?) {
        self.files = files
        self.indexPath = indexPath
        tensors = files.flatMap(\.tensors)
        var indexByName: [String: Int] = [:]
        for (i, tensor) in tensors.enumerated() { indexByName[tensor.name] = i }
        self.indexByName = indexByName
    }

    public func tensor(named name: String) -> MappedTensor? {
        indexByName[name].map { tensors[$0].source }
    }
}
