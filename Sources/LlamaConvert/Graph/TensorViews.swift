/// Lazy views: a shard merge or a RoPE reorder reads its base tensors row range by row range and
/// never holds a merged copy.

/// Rows of `base` taken in another order: row `r` of the view is row `rowOrder[r]` of the base.
public final class RowPermutedTensor: TensorSource, @unchecked Sendable {
    public let base: any TensorSource
    public let rowOrder: [Int]

    public init(base: any TensorSource, rowOrder: [Int]) {
        precondition(rowOrder.count == base.rowCount)
        self.base = base
        self.rowOrder = rowOrder
    }

    public var type: GGMLType { base.type }
    public var shape: [Int] { base.shape }
    public var origin: String { base.origin }

    public func readRows(_ rows: Range<Int>, into destination: UnsafeMutableRawBufferPointer) throws {
        let rowBytes = self.rowBytes
        var r = rows.lowerBound
        while r < rows.upperBound {
            // Coalesce runs of consecutive source rows into one read.
            var end = r + 1
            while end < rows.upperBound, rowOrder[end] == rowOrder[end - 1] + 1 { end += 1 }
            let start = (r - rows.lowerBound) * rowBytes
            try base.readRows(rowOrder[r] ..< rowOrder[r] + (end - r),
                              into: UnsafeMutableRawBufferPointer(rebasing: destination[start ..< start + (end - r) * rowBytes]))
            r = end
        }
    }

    public func releaseRows(_ rows: Range<Int>) {
        // A permutation never crosses a head, so the rows of a range span a few heads of the base.
        guard !rows.isEmpty else { return }
        let touched = rows.map { rowOrder[$0] }
        base.releaseRows(touched.min()! ..< touched.max()! + 1)
    }
}

/// Tensors joined along dim 0 (more rows) or dim 1 (longer rows), as model-parallel shards are.
public final class ConcatenatedTensor: TensorSource, @unchecked Sendable {
    public let parts: [any TensorSource]
    public let axis: Int
    public let shape: [Int]

    /// Parts must share the type; for axis 0 the same row shape, for axis 1 the same row count
    /// and 2-D shapes. Callers validate and report mismatches with file names.
    public init(parts: [any TensorSource], axis: Int) {
        precondition(!parts.isEmpty && (axis == 0 || axis == 1))
        self.parts = parts
        self.axis = axis
        var shape = parts[0].shape
        if axis == 0 {
            shape[0] = parts.reduce(0) { $0 + $1.shape[0] }
        } else {
            shape[1] = parts.reduce(0) { $0 + $1.shape[1] }
        }
        self.shape = shape
    }

    public var type: GGMLType { parts[0].type }
    public var origin: String { parts.map(\.origin).joined(separator: " + ") }

    public func readRows(_ rows: Range<Int>, into destination: UnsafeMutableRawBufferPointer) throws {
        if axis == 0 {
            var partStart = 0
            for part in parts {
                let partRows = partStart ..< partStart + part.rowCount
                let overlap = rows.clamped(to: partRows)
                if !overlap.isEmpty {
                    let out = (overlap.lowerBound - rows.lowerBound) * rowBytes
                    try part.readRows(overlap.lowerBound - partStart ..< overlap.upperBound - partStart,
                                      into: UnsafeMutableRawBufferPointer(rebasing: destination[out ..< out + overlap.count * rowBytes]))
                }
                partStart += part.rowCount
            }
            return
        }
        let rowBytes = self.rowBytes
        var column = 0
        for part in parts {
            let partRowBytes = part.rowBytes
            if let bytes = part.contiguousBytes {
                for r in rows {
                    (destination.baseAddress! + (r - rows.lowerBound) * rowBytes + column)
                        .copyMemory(from: bytes.baseAddress! + r * partRowBytes, byteCount: partRowBytes)
                }
            } else {
                let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: max(rows.count * partRowBytes, 1), alignment: 64)
                defer { scratch.deallocate() }
                try part.readRows(rows, into: scratch)
                for r in 0 ..< rows.count {
                    (destination.baseAddress! + r * rowBytes + column)
                        .copyMemory(from: scratch.baseAddress! + r * partRowBytes, byteCount: partRowBytes)
                }
            }
            column += partRowBytes
        }
    }

    public func releaseRows(_ rows: Range<Int>) {
        if axis == 1 {
            for part in parts { part.releaseRows(rows) }
            return
        }
        var partStart = 0
        for part in parts {
            let overlap = rows.clamped(to: partStart ..< partStart + part.rowCount)
            if !overlap.isEmpty { part.releaseRows(overlap.lowerBound - partStart ..< overlap.upperBound - partStart) }
            partStart += part.rowCount
        }
    }
}

/// Rows `rows` of `base` as a tensor of their own: the part of a matrix one chunk of a conversion
/// covers, for the built-in check to multiply while the rows are hot.
final class RowSliceTensor: TensorSource, @unchecked Sendable {
    let base: any TensorSource
    let rows: Range<Int>

    init(base: any TensorSource, rows: Range<Int>) {
        precondition(rows.lowerBound >= 0 && rows.upperBound <= base.rowCount && base.shape.count == 2)
        self.base = base
        self.rows = rows
    }

    var type: GGMLType { base.type }
    var shape: [Int] { [rows.count, base.rowLength] }
    var origin: String { base.origin }

    var contiguousBytes: UnsafeRawBufferPointer? {
        guard let all = base.contiguousBytes else { return nil }
        let rowBytes = self.rowBytes
        return UnsafeRawBufferPointer(rebasing: all[rows.lowerBound * rowBytes ..< rows.upperBound * rowBytes])
    }

    func readRows(_ part: Range<Int>, into destination: UnsafeMutableRawBufferPointer) throws {
        try base.readRows(part.lowerBound + rows.lowerBound ..< part.upperBound + rows.lowerBound, into: destination)
    }

    func releaseRows(_ part: Range<Int>) {
        base.releaseRows(part.lowerBound + rows.lowerBound ..< part.upperBound + rows.lowerBound)
    }
}

/// Bytes the caller owns and keeps alive while the tensor is in use, seen as a tensor: a chunk of
/// encoded rows on its way to the output file.
final class BorrowedTensor: TensorSource, @unchecked Sendable {
    let type: GGMLType
    let shape: [Int]
    let origin: String
    private let bytes: UnsafeRawBufferPointer

    init(type: GGMLType, shape: [Int], bytes: UnsafeRawBufferPointer, origin: String) {
        self.type = type
        self.shape = shape
        self.origin = origin
        self.bytes = bytes
        precondition(bytes.count == byteCount, "BorrowedTensor: \(bytes.count) bytes for shape \(shape) of \(type.name)")
    }

    var contiguousBytes: UnsafeRawBufferPointer? { bytes }

    func readRows(_ rows: Range<Int>, into destination: UnsafeMutableRawBufferPointer) throws {
        let rowBytes = self.rowBytes
        precondition(rows.lowerBound >= 0 && rows.upperBound <= rowCount && destination.count >= rows.count * rowBytes)
        guard !rows.isEmpty else { return }
        destination.baseAddress!.copyMemory(from: bytes.baseAddress! + rows.lowerBound * rowBytes, byteCount: rows.count * rowBytes)
    }

    func releaseRows(_ rows: Range<Int>) {}
}
