/// `model.safetensors.index.json`: which shard file holds each tensor of a sharded checkpoint.
///
///     {"metadata": {"total_size": 123, ...}, "weight_map": {"<tensor>": "model-00001-of-00002.safetensors", ...}}
///
/// Written by huggingface_hub (`serialization/_base.py`) and transformers (`modeling_utils.py`).
/// `metadata` is informational only (the old Meta converter writes `param_count * 2` as total_size),
/// so it is read but never checked against the shards.
public struct ShardIndex: Sendable {
    public static let fileName = "model.safetensors.index.json"
    /// An index lists one short line per tensor; this is far above any real model's.
    public static let maxIndexBytes = 100_000_000

    public let path: String
    /// `weight_map` in file order.
    public let weightMap: [(tensor: String, shard: String)]
    /// The distinct shard file names, sorted (the zero-padded `-00001-of-00004` names sort in shard order).
    public let shards: [String]
    /// `metadata.total_size` when it is a non-negative integer.
    public let totalSize: Int?

    public init(path: String) throws {
        let file = try MappedFile(path: path)
        try self.init(bytes: file.bytes, path: path)
    }

    public init(bytes: UnsafeRawBufferPointer, path: String) throws {
        self.path = path
        guard bytes.count <= Self.maxIndexBytes else {
            throw SafetensorsError.invalidIndex(path: path, offset: 0, problem: "index is \(bytes.count) bytes, over the cap of \(Self.maxIndexBytes)")
        }
        if let bad = UTF8Check.firstInvalidOffset(bytes) {
            throw SafetensorsError.invalidJSON(path: path, offset: bad, problem: "not valid UTF-8")
        }
        let root = try StrictJSONParser.parse(path: path, bytes: bytes, baseOffset: 0)
        guard case let .object(members) = root.value else {
            throw SafetensorsError.invalidIndex(path: path, offset: root.offset, problem: "index is \(root.kindName), expected a JSON object")
        }
        guard let mapMember = members.first(where: { $0.key == "weight_map" }) else {
            throw SafetensorsError.invalidIndex(path: path, offset: root.offset, problem: "index has no weight_map")
        }
        guard case let .object(entries) = mapMember.node.value else {
            throw SafetensorsError.invalidIndex(path: path, offset: mapMember.node.offset,
                                                problem: "weight_map is \(mapMember.node.kindName), expected an object")
        }
        guard !entries.isEmpty else {
            throw SafetensorsError.invalidIndex(path: path, offset: mapMember.node.offset, problem: "weight_map lists no tensors")
        }
        var weightMap: [(tensor: String, shard: String)] = []
        var shards: Set<String> = []
        for entry in entries {
            guard case let .string(shard) = entry.node.value else {
                throw SafetensorsError.invalidIndex(
                    path: path, offset: entry.node.offset,
                    problem: "weight_map value for \(SafetensorsError.quoted(entry.key)) is \(entry.node.kindName), expected a file name")
            }
            // A shard lives beside the index: refuse paths that could reach elsewhere.
            guard !shard.isEmpty, shard != ".", shard != "..", !shard.contains("/"), !shard.contains("\0") else {
                throw SafetensorsError.invalidIndex(
                    path: path, offset: entry.node.offset,
                    problem: "weight_map names \(SafetensorsError.quoted(shard)), not a file name beside the index")
            }
            weightMap.append((entry.key, shard))
            shards.insert(shard)
        }
        self.weightMap = weightMap
        self.shards = shards.sorted()

        var totalSize: Int?
        if let meta = members.first(where: { $0.key == "metadata" }), case let .object(fields) = meta.node.value,
           let total = fields.first(where: { $0.key == "total_size" }), case let .value(n) = total.node.nonNegativeInteger {
            totalSize = n
        }
        self.totalSize = totalSize
    }
}
