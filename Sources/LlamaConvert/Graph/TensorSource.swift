import Foundation

/// A tensor that can be read in ranges of rows, in its stored type, without loading the rest.
/// Readers return mapped slices; shard merges and RoPE reorders are views over them.
///
/// Shape is in PyTorch order (rows first). A row is the last dimensions flattened: a 2-D `[r, c]`
/// tensor has r rows of c values, a 1-D `[n]` tensor one row of n values.
public protocol TensorSource: AnyObject, Sendable {
    var type: GGMLType { get }
    var shape: [Int] { get }
    /// The file(s) the bytes come from, for `inspect` and error messages.
    var origin: String { get }
    /// Copies rows `rows` in the stored type into `destination` (exactly `rows.count * rowBytes` bytes).
    func readRows(_ rows: Range<Int>, into destination: UnsafeMutableRawBufferPointer) throws
    /// The whole tensor as one contiguous range of mapped bytes, when it is stored that way.
    var contiguousBytes: UnsafeRawBufferPointer? { get }
    /// Says that rows `rows` have been consumed, so their mapped pages may be dropped.
    func releaseRows(_ rows: Range<Int>)
}

extension TensorSource {
    public var rowCount: Int { shape.count <= 1 ? 1 : shape[0] }
    public var rowLength: Int { shape.count <= 1 ? (shape.first ?? 1) : shape.dropFirst().reduce(1, *) }
    public var elementCount: Int { shape.reduce(1, *) }
    /// Bytes of one stored row. Readers only build tensors whose rows are whole blocks.
    public var rowBytes: Int { type.rowBytes(rowLength) ?? 0 }
    public var byteCount: Int { rowBytes * rowCount }

    /// Rows `rows` decoded to float32 into `destination` (`rows.count * rowLength` floats).
    /// `scratch` must hold `rows.count * rowBytes` bytes unless the type is F32.
    public func readFloatRows(_ rows: Range<Int>, into destination: UnsafeMutableBufferPointer<Float>,
                              scratch: UnsafeMutableRawBufferPointer) throws {
        precondition(destination.count >= rows.count * rowLength)
        if type == .f32 {
            try readRows(rows, into: UnsafeMutableRawBufferPointer(start: destination.baseAddress,
                                                                   count: rows.count * rowBytes))
            return
        }
        let stored = UnsafeMutableRawBufferPointer(rebasing: scratch[0 ..< rows.count * rowBytes])
        try readRows(rows, into: stored)
        for r in 0 ..< rows.count {
            try RowCodec.dequantizeRow(type: type, source: UnsafeRawPointer(stored.baseAddress! + r * rowBytes),
                                       count: rowLength, into: destination.baseAddress! + r * rowLength)
        }
    }

    /// The whole tensor as float32 (tests and small tensors only: this allocates the full size).
    public func floats() throws -> [Float] {
        var out = [Float](repeating: 0, count: elementCount)
        let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: max(byteCount, 1), alignment: 64)
        defer { scratch.deallocate() }
        try out.withUnsafeMutableBufferPointer { try readFloatRows(0 ..< rowCount, into: $0, scratch: scratch) }
        return out
    }

    /// The whole tensor's stored bytes (tests and checksums).
    public func storedBytes() throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: byteCount)
        try out.withUnsafeMutableBytes { try readRows(0 ..< rowCount, into: $0) }
        return out
    }

    public var contiguousBytes: UnsafeRawBufferPointer? { nil }
    public func releaseRows(_ rows: Range<Int>) {}
}

/// A tensor stored contiguously in a mapped file.
public final class MappedTensor: TensorSource, @unchecked Sendable {
    public let file: MappedFile
    public let offset: Int
    public let type: GGMLType
    public let shape: [Int]

    /// The caller has checked that `offset + byte size` lies inside the file.
    public init(file: MappedFile, offset: Int, type: GGMLType, shape: [Int]) {
        self.file = file
        self.offset = offset
        self.type = type
        self.shape = shape
        precondition(offset >= 0 && offset + (type.rowBytes(shape.count <= 1 ? (shape.first ?? 1) : shape.dropFirst().reduce(1, *)) ?? 0) * (shape.count <= 1 ? 1 : shape[0]) <= file.count,
                     "MappedTensor built past the end of \(file.path)")
    }

    public var origin: String { file.path }

    public var contiguousBytes: UnsafeRawBufferPointer? {
        UnsafeRawBufferPointer(rebasing: file.bytes[offset ..< offset + byteCount])
    }

    public func readRows(_ rows: Range<Int>, into destination: UnsafeMutableRawBufferPointer) throws {
        precondition(rows.lowerBound >= 0 && rows.upperBound <= rowCount)
        let n = rows.count * rowBytes
        precondition(destination.count >= n)
        guard n > 0 else { return }
        destination.baseAddress!.copyMemory(from: file.bytes.baseAddress! + offset + rows.lowerBound * rowBytes, byteCount: n)
    }

    public func releaseRows(_ rows: Range<Int>) {
        file.release(offset + rows.lowerBound * rowBytes ..< offset + rows.upperBound * rowBytes)
    }
}

/// A tensor held in memory: inflated zip entries, derived tensors (`rope_freqs`), tests.
public final class OwnedTensor: TensorSource, @unchecked Sendable {
    public let type: GGMLType
    public let shape: [Int]
    public let origin: String
    private let storage: UnsafeMutableRawBufferPointer

    public init(type: GGMLType, shape: [Int], bytes: UnsafeRawBufferPointer, origin: String) {
        self.type = type
        self.shape = shape
        self.origin = origin
        storage = UnsafeMutableRawBufferPointer.allocate(byteCount: max(bytes.count, 1), alignment: 64)
        if bytes.count > 0 { storage.baseAddress!.copyMemory(from: bytes.baseAddress!, byteCount: bytes.count) }
        precondition(bytes.count == byteCount, "OwnedTensor: \(bytes.count) bytes for shape \(shape) of \(type.name)")
    }

    public convenience init(floats: [Float], shape: [Int], origin: String = "memory") {
        self.init(type: .f32, shape: shape, bytes: floats.withUnsafeBytes { UnsafeRawBufferPointer($0) }, origin: origin)
        // The buffer is copied inside the designated initialiser before `floats` goes away.
    }

    deinit { storage.deallocate() }

    public var contiguousBytes: UnsafeRawBufferPointer? {
        UnsafeRawBufferPointer(rebasing: storage[0 ..< byteCount])
    }

    public func readRows(_ rows: Range<Int>, into destination: UnsafeMutableRawBufferPointer) throws {
        precondition(rows.lowerBound >= 0 && rows.upperBound <= rowCount)
        let n = rows.count * rowBytes
        guard n > 0 else { return }
        destination.baseAddress!.copyMemory(from: storage.baseAddress! + rows.lowerBound * rowBytes, byteCount: n)
    }
}
