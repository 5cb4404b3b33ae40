/// A 2-D tensor in its stored type, addressed row by row without a copy.
///
/// When every row lies contiguously in memory (a mapped or owned tensor, or row-permuting and
/// row-concatenating views over such tensors) the matrix keeps a pointer to each row. Otherwise
/// (column-concatenated shards) the kernels read one row at a time through `readRows` into their
/// scratch, at the point of use.
struct StoredMatrix {
    /// For error messages.
    let name: String
    /// Keeps the mapped or owned bytes alive.
    let source: any TensorSource
    let type: GGMLType
    let rows: Int
    let cols: Int
    let rowBytes: Int
    /// The start of each row, when every row is contiguous somewhere in memory.
    let rowStarts: [UnsafeRawPointer]?
    /// F16 weights in memory with no infinity or NaN (checked once, here), so the kernels may use
    /// the shorter `HalfFloat.finiteToFloat8`, which gives the same values for finite inputs.
    let finiteHalves: Bool

    /// Whether `MatMul` gives the mapped pages back after each product (one-pass uses).
    let releasesAfterUse: Bool

    init(name: String, source: any TensorSource, releasesAfterUse: Bool = false) {
        self.name = name
        self.releasesAfterUse = releasesAfterUse
        self.source = source
        type = source.type
        rows = source.rowCount
        cols = source.rowLength
        rowBytes = source.rowBytes
        rowStarts = StoredMatrix.rowStarts(of: source)
        let cols = self.cols
        // Only the portable kernels use it; the scan reads every page of the matrix, which on a
        // converted F16 model made the built-in check's resident set the whole file.
        let portable = MatMulAVX2.kind(type: type, cols: cols) == nil
        finiteHalves = type == .f16 && portable && (rowStarts?.allSatisfy { HalfFloat.allFinite($0, count: cols) } ?? false)
    }

    /// Gives the matrix's mapped pages back to the page cache (see `TensorSource.releaseRows`).
    func release() { source.releaseRows(0 ..< rows) }

    /// Byte offset of column `column` inside a row; `column` is a multiple of the block size.
    @inline(__always)
    func byteOffset(ofColumn column: Int) -> Int { column / type.blockSize * type.typeSize }

    /// Row pointers of a source whose rows are each contiguous in memory, else nil.
    static func rowStarts(of source: any TensorSource) -> [UnsafeRawPointer]? {
        let rowBytes = source.rowBytes, rows = source.rowCount
        if let bytes = source.contiguousBytes {
            guard let base = bytes.baseAddress, bytes.count >= rows * rowBytes else { return nil }
            return (0 ..< rows).map { base + $0 * rowBytes }
        }
        if let permuted = source as? RowPermutedTensor {
            guard let base = rowStarts(of: permuted.base) else { return nil }
            return permuted.rowOrder.map { base[$0] }
        }
        if let slice = source as? RowSliceTensor {
            guard let base = rowStarts(of: slice.base) else { return nil }
            return Array(base[slice.rows])
        }
        if let joined = source as? ConcatenatedTensor, joined.axis == 0 {
            var all: [UnsafeRawPointer] = []
            all.reserveCapacity(rows)
            for part in joined.parts {
                guard let starts = rowStarts(of: part) else { return nil }
                all += starts
            }
            return all
        }
        return nil
    }

    /// Decodes row `row` to float32 into `destination` (`cols` floats). `scratch` holds `rowBytes`
    /// bytes, used only when the row is not in memory.
    func decodeRow(_ row: Int, into destination: UnsafeMutablePointer<Float>, scratch: UnsafeMutableRawPointer) throws {
        if let rowStarts {
            try Decode.run(type: type, source: rowStarts[row], count: cols, into: destination)
        } else {
            try source.readRows(row ..< row + 1, into: UnsafeMutableRawBufferPointer(start: scratch, count: rowBytes))
            try Decode.run(type: type, source: UnsafeRawPointer(scratch), count: cols, into: destination)
        }
    }
}
