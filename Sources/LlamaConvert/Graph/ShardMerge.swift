/// Merges Meta's model-parallel shards into one lazy tensor per name, along the axis fairscale
/// split it on. Nothing is copied: the result is a view over the shards' mapped tensors.
enum ShardMerge {
    struct Shard {
        let path: String
        let tensors: [String: any TensorSource]
    }

    /// `dim` decides the embedding's axis: Llama 1/2 split its columns, Llama 3 its rows.
    static func merge(name: String, axis: ShardAxis, shards: [Shard], dim: Int, folder: String) throws -> (source: any TensorSource, note: String?) {
        var parts: [any TensorSource] = []
        for shard in shards {
            guard let part = shard.tensors[name] else {
                throw ConfigError.missingTensor(path: shard.path, tensor: name)
            }
            parts.append(part)
        }
        if parts.count == 1 { return (parts[0], nil) }
        let first = parts[0]
        for (shard, part) in zip(shards, parts) where part.type != first.type || part.shape.count != first.shape.count {
            throw ConfigError.inconsistentShards(path: shard.path, tensor: name,
                                                 problem: "\(part.type.name) \(part.shape) beside \(first.type.name) \(first.shape) in \(shards[0].path)")
        }
        switch axis {
        case .replicated:
            for (shard, part) in zip(shards, parts).dropFirst() where part.shape != first.shape {
                throw ConfigError.inconsistentShards(path: shard.path, tensor: name, problem: "replicated tensor has shape \(part.shape), shard 0 \(first.shape)")
            }
            // Replicated norms are not always bit-identical across Meta's files; take shard 0 and say so.
            let reference = try first.storedBytes()
            let differing = try zip(shards, parts).dropFirst().filter { try $0.1.storedBytes() != reference }.map(\.0.path)
            let note = differing.isEmpty ? nil : "\(name): differs between shards (\(differing.joined(separator: ", "))); took \(shards[0].path)"
            return (first, note)
        case .rows:
            return (try concatenate(name, parts, shards, axis: 0), nil)
        case .columns:
            return (try concatenate(name, parts, shards, axis: 1), nil)
        case .fromShapes:
            guard first.shape.count == 2 else {
                throw ConfigError.inconsistentShards(path: shards[0].path, tensor: name, problem: "embedding shard is not 2-D: \(first.shape)")
            }
            if parts.allSatisfy({ $0.shape[1] == dim }) {
                return (try concatenate(name, parts, shards, axis: 0), nil)           // VocabParallelEmbedding (Llama 3)
            }
            if parts.reduce(0, { $0 + $1.shape[1] }) == dim, parts.allSatisfy({ $0.shape[0] == first.shape[0] }) {
                return (try concatenate(name, parts, shards, axis: 1), nil)           // ParallelEmbedding (Llama 1/2)
            }
            throw ConfigError.inconsistentShards(
                path: folder, tensor: name,
                problem: "shard shapes \(parts.map(\.shape)) split neither the vocabulary (each [v, \(dim)]) nor the width (columns summing to \(dim))")
        }
    }

    static func concatenate(_ name: String, _ parts: [any TensorSource], _ shards: [Shard], axis: Int) throws -> any TensorSource {
        let first = parts[0]
        guard first.shape.count == 2 else {
            throw ConfigError.inconsistentShards(path: shards[0].path, tensor: name, problem: "expected a 2-D tensor, found \(first.shape)")
        }
        let kept = 1 - axis
        for (shard, part) in zip(shards, parts) where part.shape[kept] != first.shape[kept] {
            throw ConfigError.inconsistentShards(
                path: shard.path, tensor: name,
                problem: "shape \(part.shape) cannot be joined on dim \(axis) with \(first.shape) from \(shards[0].path)")
        }
        return ConcatenatedTensor(parts: parts, axis: axis)
    }
}
