/// One tensor of a safetensors file: its name and its bytes, mapped in place.
public struct SafetensorsTensor: Sendable {
    public let name: String
    /// `source.type` is `.f32`, `.f16` or `.bf16`; `source.shape` is in PyTorch order.
    public let source: MappedTensor
}

/// One `.safetensors` file, memory-mapped. Opening it validates the header (see
/// `SafetensorsHeader.parse`) and reads nothing of the data section: tensor bytes are paged in only
/// when a consumer reads them. Immutable after `init` (the mapping is read-only), hence Sendable.
public final class SafetensorsFile: @unchecked Sendable {
    public let path: String
    public let file: MappedFile
    /// N, the header length; the data section starts at file offset `8 + N`.
    public let headerLength: Int
    /// `__metadata__` (transformers writes `{"format": "pt"}`); empty when absent.
    public let metadata: [String: String]
    /// Sorted by data offset.
    public let tensors: [SafetensorsTensor]
    private let indexByName: [String: Int]

    /// Maps and validates `path`. Throws `FileError` (cannot open or map), `SafetensorsError` (bad
    /// contents) or `ReadError`.
    public convenience init(path: String) throws {
        try self.init(file: try MappedFile(path: path))
    }

    /// Validates an already mapped file.
    public init(file: MappedFile) throws {
        let header = try SafetensorsHeader.parse(file.bytes, path: file.path)
        path = file.path
        self.file = file
        headerLength = header.headerLength
        metadata = header.metadata
        var tensors: [SafetensorsTensor] = []
        tensors.reserveCapacity(header.entries.count)
        var indexByName: [String: Int] = [:]
        for entry in header.entries {
            // `parse` refuses every other dtype, so this always succeeds; keep it a thrown error anyway.
            guard let type = entry.dtype.ggmlType else {
                throw SafetensorsError.unsupportedDtype(path: file.path, tensor: entry.name, dtype: entry.dtype.rawValue)
            }
            let source = MappedTensor(file: file, offset: header.dataStart + entry.begin, type: type, shape: entry.shape)
            indexByName[entry.name] = tensors.count
            tensors.append(SafetensorsTensor(name: entry.name, source: source))
        }
        self.tensors = tensors
        self.indexByName = indexByName
    }

    public func tensor(named name: String) -> MappedTensor? {
        indexByName[name].map { tensors[$0].source }
    }

    /// The file's tensor names, in data order.
    public var names: [String] { tensors.map(\.name) }
}
