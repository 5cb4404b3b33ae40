import AVX2Kernels
import AVX512Kernels

/// `MatMul` on the AVX2 kernels (see `AVX2Kernels` for their summation order), used when
/// `HostCPU.avx2` and the matrix is in a format they decode with a row length that is a multiple
/// of 8. The same matrix always takes the same path, whatever the batch, so a token's logits do
/// not depend on the batch it is processed in; results differ from the portable path only by the
/// summation order (tested within float rounding).
///
/// One or two tokens: a worker's range of rows goes straight to `matVec`, which decodes inside the
/// dot product (in blocks of `blockRows` read into scratch when the rows are not in memory). More:
/// the range is walked in blocks of `blockRows`; each 256-column tile of a block is decoded once
/// into the slot's scratch and `gemmTile` runs the whole batch over it.
enum MatMulAVX2 {
    /// Rows per block: a multiple of the kernels' 8 (one token), 4 (two) and 3 (the batch tile).
    static let blockRows = 24

    static func kind(of type: GGMLType) -> AVX2Kernels.Kind? {
        switch type {
        case .f32: return .f32
        case .f16: return .f16
        case .bf16: return .bf16
        case .q8_0: return .q8_0
        case .q4_0: return .q4_0
        case .q4_1: return .q4_1
        case .q5_0: return .q5_0
        case .q5_1: return .q5_1
        case .q4_K: return .q4_K
        case .q5_K: return .q5_K
        case .q6_K: return .q6_K
        default: return nil
        }
    }

    /// The kernel format for `w`, or nil when the portable path must run it.
    static func kind(for w: StoredMatrix) -> AVX2Kernels.Kind? { kind(type: w.type, cols: w.cols) }

    static func kind(type: GGMLType, cols: Int) -> AVX2Kernels.Kind? {
        guard HostCPU.avx2, cols % 8 == 0, let kind = kind(of: type), cols % kind.blockSize == 0 else { return nil }
        return kind
    }

    /// Scratch: the block's row pointers, its decoded tile, and its raw rows when they must be read.
    static func scratchBytes(for w: StoredMatrix) -> Int {
        scratchBytes(rowBytes: w.rowBytes, rowsInMemory: w.rowStarts != nil)
    }

    static func scratchBytes(rowBytes: Int, rowsInMemory: Bool) -> Int {
        let pointers = blockRows * MemoryLayout<UnsafeRawPointer>.stride
        let tile = blockRows * AVX2Kernels.tileColumns * MemoryLayout<Float>.stride
        return pointers + tile + (rowsInMemory ? 0 : blockRows * rowBytes)
    }

    static func run(_ w: StoredMatrix, kind: AVX2Kernels.Kind, x: UnsafePointer<Float>, xStride: Int, batch: Int,
                    y: UnsafeMutablePointer<Float>, yStride: Int, pool: WorkerPool) throws {
        precondition(pool.slotBytes >= scratchBytes(for: w), "MatMul: worker scratch too small for \(w.name)")
        let cols = w.cols, starts = w.rowStarts, tile = AVX2Kernels.tileColumns
        let grain = max(1, (1 << 16) / max(1, cols * batch))
        let out = SharedPointer(y) // a range writes y[b·yStride + r] for its own rows r only
        try pool.forEachRange(w.rows, grain: grain) { rows, slot in
            if batch <= 2, let starts {
                // The whole range in one call, so what the kernel prepares from x (the column
                // sums of the K-quants) is done once per range rather than once per block.
                starts.withUnsafeBufferPointer { p in
                    AVX2Kernels.matVec(kind, rows: p.baseAddress! + rows.lowerBound, rowCount: rows.count, cols: cols, x: x,
                                       xStride: xStride, batch: batch, y: out.base + rows.lowerBound, yStride: yStride)
                }
                return
            }
            let scratch = pool.scratch(slot: slot)
            let pointers = scratch.bindMemory(to: UnsafeRawPointer.self, capacity: blockRows)
            let decodedStart = scratch + blockRows * MemoryLayout<UnsafeRawPointer>.stride
            let decoded = decodedStart.bindMemory(to: Float.self, capacity: blockRows * tile)
            let raw = decodedStart + blockRows * tile * MemoryLayout<Float>.stride
            var r0 = rows.lowerBound
            while r0 < rows.upperBound {
                let n = min(blockRows, rows.upperBound - r0)
                if let starts {
                    for i in 0 ..< n { pointers[i] = starts[r0 + i] }
                } else {
                    try w.source.readRows(r0 ..< r0 + n, into: UnsafeMutableRawBufferPointer(start: raw, count: n * w.rowBytes))
                    for i in 0 ..< n { pointers[i] = UnsafeRawPointer(raw + i * w.rowBytes) }
                }
                let y0 = out.base + r0
                if batch <= 2 {
                    AVX2Kernels.matVec(kind, rows: pointers, rowCount: n, cols: cols, x: x, xStride: xStride, batch: batch,
                                       y: y0, yStride: yStride)
                } else {
                    for b in 0 ..< batch { (y0 + b * yStride).update(repeating: 0, count: n) }
                    var t0 = 0
                    while t0 < cols {
                        let count = min(tile, cols - t0)
                        let offset = w.byteOffset(ofColumn: t0)
                        for i in 0 ..< n {
                            AVX2Kernels.decode(kind, source: pointers[i] + offset, count: count, into: decoded + i * tile)
                        }
                        if t0 + count < cols {
                            // The next tile's bytes arrive while this one is multiplied.
                            let next = w.byteOffset(ofColumn: t0 + count)
                            let bytes = w.byteOffset(ofColumn: min(cols, t0 + count + tile)) - next
                            for i in 0 ..< n { AVX2Kernels.prefetch(pointers[i] + next, bytes: bytes) }
                        }
                        if HostCPU.avx512 {
                            AVX512Kernels.gemmTile(w: decoded, wStride: tile, rows: n, x: x + t0, xStride: xStride, batch: batch,
                                                   count: count, y: y0, yStride: yStride)
                        } else {
                            AVX2Kernels.gemmTile(w: decoded, wStride: tile, rows: n, x: x + t0, xStride: xStride, batch: batch,
                                                 count: count, y: y0, yStride: yStride)
                        }
                        t0 += count
                    }
                }
                r0 += n
            }
        }
    }
}
