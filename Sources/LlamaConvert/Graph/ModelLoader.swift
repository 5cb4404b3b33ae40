import Foundation

/// Opens any input the tool accepts and returns its canonical graph: a folder or file of
/// Hugging Face safetensors, Meta's consolidated.NN.pth shards, or a GGUF file.
public enum ModelLoader {
    public static func load(path: String) throws -> WeightGraph {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else {
            throw FileError.cannotOpen(path: path, reason: "No such file or directory")
        }
        if isFolder.boolValue { return try loadFolder(path) }
        let folder = (path as NSString).deletingLastPathComponent
        if try isGGUF(path) { return try GGUFImporter.load(path: path) }
        let dir = folder.isEmpty ? "." : folder
        if path.hasSuffix(".safetensors") {
            // The file is validated first, so a broken file is reported as such.
            let checkpoint = try SafetensorsCheckpoint(file: path)
            let config = dir + "/config.json"
            guard FileManager.default.fileExists(atPath: config) else {
                throw FileError.missing(path: dir, what: "config.json beside \(path)")
            }
            return try HFImporter.build(path: path, hf: HFConfig.read(path: config),
                                        tensors: checkpoint.tensors.map { ($0.name, $0.source as any TensorSource) },
                                        tokenizerFiles: tokenizerFiles(in: dir, alsoParent: false))
        }
        if path.hasSuffix(".pth") {
            let checkpoint = try TorchCheckpoint(path: path)
            let shards = try metaShards(in: dir)
            guard shards.count <= 1 else {
                throw ConfigError.unrecognisedInput(path: path, problem: "one of \(shards.count) model-parallel shards; pass the folder \(dir) to merge them")
            }
            guard FileManager.default.fileExists(atPath: dir + "/params.json") else {
                throw FileError.missing(path: dir, what: "params.json beside \(path)")
            }
            return try MetaImporter.build(path: path, params: MetaParams.read(path: dir + "/params.json"),
                                          shards: [(path, checkpoint.tensors)],
                                          tokenizerFiles: tokenizerFiles(in: dir, alsoParent: true))
        }
        throw ConfigError.unrecognisedInput(path: path, problem: "not a GGUF, .safetensors or .pth file")
    }

    static func loadFolder(_ folder: String) throws -> WeightGraph {
        let entries = try FileManager.default.contentsOfDirectory(atPath: folder)
        let has = Set(entries)
        if has.contains("config.json"), entries.contains(where: { $0.hasSuffix(".safetensors") }) {
            let checkpoint = try SafetensorsCheckpoint.open(folder: folder)
            return try HFImporter.build(path: folder, hf: HFConfig.read(path: folder + "/config.json"),
                                        tensors: checkpoint.tensors.map { ($0.name, $0.source as any TensorSource) },
                                        tokenizerFiles: tokenizerFiles(in: folder, alsoParent: false))
        }
        if has.contains("params.json") {
            let shards = try metaShards(in: folder)
            guard !shards.isEmpty else {
                throw ConfigError.unrecognisedInput(path: folder, problem: "params.json but no consolidated.NN.pth files")
            }
            return try loadMeta(folder, shards: shards)
        }
        let ggufs = entries.filter { $0.hasSuffix(".gguf") }.sorted()
        if ggufs.count == 1 { return try GGUFImporter.load(path: folder + "/" + ggufs[0]) }
        throw ConfigError.unrecognisedInput(
            path: folder, problem: "no model found (expected config.json + *.safetensors, params.json + consolidated.NN.pth, or one .gguf)")
    }

    static func loadMeta(_ folder: String, shards: [String]) throws -> WeightGraph {
        let params = try MetaParams.read(path: folder + "/params.json")
        let opened = try shards.map { path -> (path: String, tensors: [(name: String, source: any TensorSource)]) in
            (path, try TorchCheckpoint(path: path).tensors)
        }
        return try MetaImporter.build(path: folder, params: params, shards: opened,
                                      tokenizerFiles: tokenizerFiles(in: folder, alsoParent: true))
    }

    /// `consolidated.NN.pth` in file-name order, as Meta's loader gives rank i the i-th file.
    static func metaShards(in folder: String) throws -> [String] {
        let entries = try FileManager.default.contentsOfDirectory(atPath: folder)
        let shards = entries.filter { $0.hasPrefix("consolidated.") && $0.hasSuffix(".pth") }.sorted()
        for (rank, name) in shards.enumerated() {
            let number = name.dropFirst("consolidated.".count).dropLast(".pth".count)
            guard Int(number) == rank else {
                throw ConfigError.unrecognisedInput(path: folder, problem: "shard \(name) out of sequence: expected rank \(rank) (shards \(shards.joined(separator: ", ")))")
            }
        }
        return shards.map { folder + "/" + $0 }
    }

    /// Names of the tokenizer files llama.cpp's converters read.
    public static let tokenizerNames = ["tokenizer.model", "tokenizer.json", "tokenizer_config.json",
                                        "special_tokens_map.json", "generation_config.json", "added_tokens.json"]

    /// Tokenizer files in the folder; Meta's Llama 2 downloads keep `tokenizer.model` in the parent.
    static func tokenizerFiles(in folder: String, alsoParent: Bool) -> [String] {
        var found = tokenizerNames.map { folder + "/" + $0 }.filter { FileManager.default.fileExists(atPath: $0) }
        if alsoParent, !found.contains(where: { $0.hasSuffix("/tokenizer.model") }) {
            let parent = (folder as NSString).deletingLastPathComponent
            let candidate = (parent.isEmpty ? "." : parent) + "/tokenizer.model"
            if FileManager.default.fileExists(atPath: candidate) { found.append(candidate) }
        }
        return found
    }

    static func isGGUF(_ path: String) throws -> Bool {
        guard let handle = FileHandle(forReadingAtPath: path) else { return false }
        defer { try? handle.close() }
        let magic = try handle.read(upToCount: 4) ?? Data()
        return magic == Data("GGUF".utf8)
    }
}
