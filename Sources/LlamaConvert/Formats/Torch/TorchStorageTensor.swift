import Foundation

/// One storage record (`<archive>/data/<key>`), shared by every tensor that views it. A stored
/// record stays in the mapping and its CRC-32 is checked the first time any of its tensors is
/// read (once, under a lock); an inflated record was checked when it was inflated.
final class TorchStorage: @unchecked Sendable {
    let archive: ZipArchive
    let entry: ZipEntry
    let dtype: TorchDType
    private let data: ZipEntryData
    private let lock = NSLock()
    private var checked: Result<Void, ZipError>?

    init(archive: ZipArchive, entry: ZipEntry, dtype: TorchDType) throws {
        self.archive = archive
        self.entry = entry
        self.dtype = dtype
        data = try archive.data(of: entry)
        if data.crcVerified { checked = .success(()) }
    }

    /// True when the bytes are the file mapping itself (so pages can be released after use).
    var isMapped: Bool { entry.isStored }
    var byteCount: Int { data.bytes.count }

    /// The bytes, after their CRC has been found correct; throws `ZipError.crcMismatch` otherwise.
    func verifiedBytes() throws -> UnsafeRawBufferPointer {
        lock.lock()
        defer { lock.unlock() }
        if checked == nil {
            do {
                try archive.verifyCRC(of: entry, bytes: data.bytes)
                checked = .success(())
            } catch let error as ZipError {
                checked = .failure(error)
            }
        }
        try checked?.get()
        return data.bytes
    }

    /// The bytes if their CRC is correct, else nil (for the non-throwing `contiguousBytes`).
    var verifiedBytesIfValid: UnsafeRawBufferPointer? { try? verifiedBytes() }
}

/// A tensor of a torch checkpoint: a view (`storage_offset`, `size`, `stride`, all in elements) of
/// a shared storage. Row-major views read straight from the storage bytes (in place for stored
/// records); any other view is gathered element by element, so transposed or offset views give
/// the values of `.contiguous()`.
public final class TorchTensor: TensorSource, @unchecked Sendable {
    public let name: String
    public let type: GGMLType
    public let shape: [Int]
    /// Strides in elements, as pickled.
    public let strides: [Int]
    /// First element's index in the storage.
    public let storageOffset: Int
    /// True when `strides` are row-major for `shape` (size-1 dimensions may have any stride).
    public let isContiguous: Bool
    let storage: TorchStorage
    private let elementSize: Int

    /// The caller has checked that every element the view reaches lies inside the storage.
    init(name: String, type: GGMLType, shape: [Int], strides: [Int], storageOffset: Int, storage: TorchStorage) {
        self.name = name
        self.type = type
        self.shape = shape
        self.strides = strides
        self.storageOffset = storageOffset
        self.storage = storage
        elementSize = type.typeSize
        isContiguous = TorchTensor.isRowMajor(shape: shape, strides: strides)
    }

    static func isRowMajor(shape: [Int], strides: [Int]) -> Bool {
        if shape.contains(0) { return true }
        var expected = 1
        for d in stride(from: shape.count - 1, through: 0, by: -1) {
            if shape[d] != 1, strides[d] != expected { return false }
            expected *= shape[d]
        }
        return true
    }

    public var origin: String { storage.archive.path }
    /// The storage record, e.g. `consolidated.00/data/3`.
    public var record: String { storage.entry.name }

    private var byteOffset: Int { storageOffset * elementSize }

    public var contiguousBytes: UnsafeRawBufferPointer? {
        guard isContiguous, let bytes = storage.verifiedBytesIfValid else { return nil }
        return UnsafeRawBufferPointer(rebasing: bytes[byteOffset ..< byteOffset + byteCount])
    }

    public func readRows(_ rows: Range<Int>, into destination: UnsafeMutableRawBufferPointer) throws {
        precondition(rows.lowerBound >= 0 && rows.upperBound <= rowCount)
        let rowBytes = self.rowBytes
        precondition(destination.count >= rows.count * rowBytes)
        let bytes = try storage.verifiedBytes()
        guard rows.count > 0, rowBytes > 0, let out = destination.baseAddress, let base = bytes.baseAddress else { return }
        if isContiguous {
            out.copyMemory(from: base + byteOffset + rows.lowerBound * rowBytes, byteCount: rows.count * rowBytes)
            return
        }
        gather(rows, from: base, into: out)
    }

    /// Strided copy: each row's elements in row-major order of the inner dimensions.
    private func gather(_ rows: Range<Int>, from base: UnsafeRawPointer, into out: UnsafeMutableRawPointer) {
        let inner = shape.count <= 1 ? shape : Array(shape.dropFirst())
        let innerStrides = shape.count <= 1 ? strides : Array(strides.dropFirst())
        let rowStride = shape.count <= 1 ? 0 : strides[0]
        let size = elementSize
        // The last dimension is copied as a run; the others are walked with an odometer.
        let runLength = inner.last ?? 1
        let runStride = innerStrides.last ?? 1
        let outer = Array(inner.dropLast())
        let outerStrides = Array(innerStrides.dropLast())
        var written = 0
        for r in rows {
            var counter = [Int](repeating: 0, count: outer.count)
            var start = storageOffset + r * rowStride
            while true {
                if runStride == 1 {
                    (out + written).copyMemory(from: base + start * size, byteCount: runLength * size)
                    written += runLength * size
                } else {
                    for i in 0 ..< runLength {
                        (out + written).copyMemory(from: base + (start + i * runStride) * size, byteCount: size)
                        written += size
                    }
                }
                // Advance the odometer over the outer inner-dimensions.
                var d = outer.count - 1
                while d >= 0 {
                    counter[d] += 1
                    start += outerStrides[d]
                    if counter[d] < outer[d] { break }
                    start -= counter[d] * outerStrides[d]
                    counter[d] = 0
                    d -= 1
                }
                if d < 0 { break }
            }
        }
    }

    public func releaseRows(_ rows: Range<Int>) {
        guard isContiguous, storage.isMapped, !rows.isEmpty else { return }
        let start = storage.entry.dataOffset + byteOffset + rows.lowerBound * rowBytes
        storage.archive.file.release(start ..< start + rows.count * rowBytes)
    }
}
