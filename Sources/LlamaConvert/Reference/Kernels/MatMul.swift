/// The batched matrix product y = x·Wᵀ, consuming W in its stored type: where the forward pass
/// spends nearly all its time.
///
/// The batch's rows (a prompt's tokens) share one pass over the weights: a tile of one weight row
/// is decoded once into the slot's scratch and dotted with every batch row. Columns are walked in
/// panels sized so the batch's slice of x stays in cache while the panel's weight rows stream by.
/// No matrix is ever decoded whole.
///
/// Determinism: y[b, r] is 0 plus one partial dot per tile, tiles in column order, each tile's dot
/// in `Dot.f32`'s fixed order. Tiles start at multiples of `tile` whatever the panel, the batch
/// size or the thread count, so every result is the same bits however it is computed.
enum MatMul {
    /// Columns per decoded tile: a multiple of every block size (32 and 256).
    static let tile = 256
    /// Floats of x kept hot per panel (128 KiB).
    static let panelFloats = 32 * 1024

    /// Scratch bytes a slot needs to run any product over `w`.
    static func scratchBytes(for w: StoredMatrix) -> Int {
        scratchBytes(type: w.type, cols: w.cols, rowsInMemory: w.rowStarts != nil)
    }

    /// The same for a matrix of `type` with rows of `cols`, before it exists (a conversion's chunks).
    static func scratchBytes(type: GGMLType, cols: Int, rowsInMemory: Bool) -> Int {
        let rowBytes = type.rowBytes(cols) ?? 0
        let portable = tile * MemoryLayout<Float>.stride + (rowsInMemory ? 0 : rowBytes)
        guard MatMulAVX2.kind(type: type, cols: cols) != nil else { return portable }
        return max(portable, MatMulAVX2.scratchBytes(rowBytes: rowBytes, rowsInMemory: rowsInMemory))
    }

    /// y[b·yStride + r] = Σ_c W[r, c] · x[b·xStride + c], for b < batch and r < W.rows.
    static func run(_ w: StoredMatrix, x: UnsafePointer<Float>, xStride: Int, batch: Int,
                    y: UnsafeMutablePointer<Float>, yStride: Int, pool: WorkerPool) throws {
        guard batch > 0, w.rows > 0 else { return }
        defer { if w.releasesAfterUse { w.release() } }
        if let kind = MatMulAVX2.kind(for: w) {
            return try MatMulAVX2.run(w, kind: kind, x: x, xStride: xStride, batch: batch, y: y, yStride: yStride, pool: pool)
        }
        try runPortable(w, x: x, xStride: xStride, batch: batch, y: y, yStride: yStride, pool: pool)
    }

    /// The portable kernels (plain Swift SIMD), for any processor.
    static func runPortable(_ w: StoredMatrix, x: UnsafePointer<Float>, xStride: Int, batch: Int,
                            y: UnsafeMutablePointer<Float>, yStride: Int, pool: WorkerPool) throws {
        guard batch > 0, w.rows > 0 else { return }
        precondition(pool.slotBytes >= scratchBytes(for: w), "MatMul: worker scratch too small for \(w.name)")
        let cols = w.cols, type = w.type, starts = w.rowStarts, finite = w.finiteHalves
        // Rows read through `readRows` are read once each, so their panel is the whole row.
        let panel = starts == nil ? max(cols, 1) : max(tile, panelFloats / batch / tile * tile)
        // Below ~64K multiply-adds per range, dispatching costs more than it saves.
        let grain = max(1, (1 << 16) / max(1, cols * batch))
        let fusedHalves = (type == .f16 || type == .bf16) && batch <= 2 && cols % 8 == 0
        let out = SharedPointer(y) // a range writes y[b·yStride + r] for its own rows r only
        try pool.forEachRange(w.rows, grain: grain) { rows, slot in
            let scratch = pool.scratch(slot: slot)
            let decoded = scratch.bindMemory(to: Float.self, capacity: tile)
            let rowBuffer = scratch + tile * MemoryLayout<Float>.stride
            for b in 0 ..< batch { for r in rows { out.base[b * yStride + r] = 0 } }
            var c0 = 0
            while c0 < cols {
                let c1 = min(cols, c0 + panel)
                for r in rows {
                    let row: UnsafeRawPointer
                    if let starts {
                        row = starts[r]
                    } else {
                        try w.source.readRows(r ..< r + 1, into: UnsafeMutableRawBufferPointer(start: rowBuffer, count: w.rowBytes))
                        row = UnsafeRawPointer(rowBuffer)
                    }
                    var t0 = c0
                    while t0 < c1 {
                        let n = min(tile, c1 - t0)
                        if fusedHalves {
                            // One or two tokens: decoding inside the dot beats a round trip
                            // through the scratch tile (same bits either way).
                            let source = row + 2 * t0
                            for b in 0 ..< batch {
                                let xb = x + b * xStride + t0
                                out.base[b * yStride + r] += type == .bf16
                                    ? Dot.halves(source, xb, count: n, HalfFloat.bf16ToFloat8)
                                    : finite ? Dot.halves(source, xb, count: n, HalfFloat.finiteToFloat8)
                                    : Dot.halves(source, xb, count: n, HalfFloat.toFloat8)
                            }
                            t0 += n
                            continue
                        }
                        let weights: UnsafePointer<Float>
                        if type == .f32 {
                            weights = (row + 4 * t0).assumingMemoryBound(to: Float.self)
                        } else {
                            try Decode.run(type: type, source: row + w.byteOffset(ofColumn: t0), count: n, into: decoded)
                            weights = UnsafePointer(decoded)
                        }
                        for b in 0 ..< batch {
                            out.base[b * yStride + r] += Dot.f32(weights, x + b * xStride + t0, count: n)
                        }
                        t0 += n
                    }
                }
                c0 = c1
            }
        }
    }
}
