import Foundation
import Synchronization
import Testing
@testable import LlamaConvert

@Suite("Forward-pass kernels")
struct ReferenceKernelTests {
    /// y = x·Wᵀ in Double, the obvious way.
    func naiveProduct(_ w: [Float], rows: Int, cols: Int, _ x: [Float], batch: Int) -> [Double] {
        var y = [Double](repeating: 0, count: batch * rows)
        for b in 0 ..< batch {
            for r in 0 ..< rows {
                var s = 0.0
                for c in 0 ..< cols { s += Double(w[r * cols + c]) * Double(x[b * cols + c]) }
                y[b * rows + r] = s
            }
        }
        return y
    }

    func product(_ m: StoredMatrix, _ x: [Float], batch: Int, threads: Int) throws -> [Float] {
        let pool = WorkerPool(threads: threads, scratchBytesPerSlot: MatMul.scratchBytes(for: m))
        var y = [Float](repeating: .nan, count: batch * m.rows)
        try x.withUnsafeBufferPointer { xp in
            try y.withUnsafeMutableBufferPointer { yp in
                try MatMul.run(m, x: xp.baseAddress!, xStride: m.cols, batch: batch, y: yp.baseAddress!, yStride: m.rows, pool: pool)
            }
        }
        return y
    }

    @Test("batched product equals the naive product for every stored float type and odd sizes",
          arguments: [(GGMLType.f32, 37, 300, 5), (.f16, 64, 1000, 1), (.bf16, 13, 264, 70), (.f16, 300, 520, 3)])
    func batchedMatchesNaive(type: GGMLType, rows: Int, cols: Int, batch: Int) throws {
        var rng = SyntheticModel.Random(seed: UInt64(rows * cols))
        let source = SyntheticModel.tensor(rng.values(rows * cols, -1 ... 1), shape: [rows, cols], type: type, name: "w")
        let w = try source.floats() // the stored values, decoded
        let x = rng.values(batch * cols, -1 ... 1)
        let y = try product(StoredMatrix(name: "w", source: source), x, batch: batch, threads: 2)
        let expected = naiveProduct(w, rows: rows, cols: cols, x, batch: batch)
        // Float sums of ~1000 terms of size ≤ 1: a few ulps of √cols-sized results.
        for i in y.indices { #expect(abs(Double(y[i]) - expected[i]) < 1e-4, "element \(i)") }
    }

    @Test("the product's bits do not depend on the thread count or the batch a row comes in",
          arguments: [GGMLType.f16, .bf16, .f32, .q8_0])
    func deterministic(type: GGMLType) throws {
        var rng = SyntheticModel.Random(seed: 99)
        let rows = 200, cols = 2048, batch = 33
        let source = SyntheticModel.tensor(rng.values(rows * cols, -1 ... 1), shape: [rows, cols], type: type, name: "w")
        let m = StoredMatrix(name: "w", source: source)
        let x = rng.values(batch * cols, -1 ... 1)
        let reference = try product(m, x, batch: batch, threads: 1)
        for threads in [2, 3, 5] { #expect(try product(m, x, batch: batch, threads: threads) == reference) }
        // Row b of the batch alone: the same bits as inside the batch (the panel width changes).
        for b in [0, 17, 32] {
            let alone = try product(m, Array(x[b * cols ..< (b + 1) * cols]), batch: 1, threads: 2)
            #expect(alone == Array(reference[b * rows ..< (b + 1) * rows]))
        }
    }

    @Test("a matrix read through readRows gives the same bits as one addressed in memory")
    func readRowsPath() throws {
        var rng = SyntheticModel.Random(seed: 5)
        let rows = 48, cols = 96
        let values = rng.values(rows * cols, -1 ... 1)
        let whole = SyntheticModel.tensor(values, shape: [rows, cols], type: .bf16, name: "w")
        let halves = [0 ..< 48, 48 ..< 96].map { r in
            SyntheticModel.tensor((0 ..< rows).flatMap { values[$0 * cols + r.lowerBound ..< $0 * cols + r.upperBound] },
                                  shape: [rows, 48], type: .bf16, name: "w")
        }
        let joined = StoredMatrix(name: "w", source: ConcatenatedTensor(parts: halves, axis: 1))
        #expect(joined.rowStarts == nil)
        let x = rng.values(4 * cols, -1 ... 1)
        #expect(try product(joined, x, batch: 4, threads: 2) == product(StoredMatrix(name: "w", source: whole), x, batch: 4, threads: 2))
    }

    @Test("eight-wide fp16 decoding agrees with the scalar one on all 65 536 bit patterns")
    func halfDecodeExhaustive() {
        var mismatches = 0
        for base in stride(from: 0, to: 65536, by: 8) {
            let bits = SIMD8<UInt16>((0 ..< 8).map { UInt16(base + $0) })
            let fast = HalfFloat.toFloat8(bits)
            for j in 0 ..< 8 {
                let slow = HalfFloat.toFloat(bits[j])
                let same = slow.isNaN ? fast[j].isNaN : fast[j].bitPattern == slow.bitPattern
                if !same { mismatches += 1 }
            }
        }
        #expect(mismatches == 0)
    }

    @Test("eight-wide bf16 decoding is the scalar one")
    func bf16Decode() {
        let bits = SIMD8<UInt16>(0x3f80, 0xbf80, 0x0001, 0x7f80, 0xff80, 0x7fc1, 0x0000, 0x8000)
        let fast = HalfFloat.bf16ToFloat8(bits)
        for j in 0 ..< 8 { #expect(fast[j].bitPattern == HalfFloat.bf16ToFloat(bits[j]).bitPattern) }
    }

    @Test("decoding a run of halves of any length matches element by element", arguments: [1, 7, 8, 9, 31])
    func decodeTails(count: Int) throws {
        let halves = (0 ..< count).map { HalfFloat.fromFloat(Float($0) * 0.37 - 2) }
        var out = [Float](repeating: .nan, count: count)
        try halves.withUnsafeBytes { src in
            try out.withUnsafeMutableBufferPointer { try Decode.run(type: .f16, source: src.baseAddress!, count: count, into: $0.baseAddress!) }
        }
        #expect(out == halves.map(HalfFloat.toFloat))
    }

    @Test("dot product of any length equals the Double dot within float rounding", arguments: [0, 1, 5, 8, 16, 33, 100])
    func dot(count: Int) {
        var rng = SyntheticModel.Random(seed: UInt64(count))
        let a = rng.values(count, -1 ... 1), b = rng.values(count, -1 ... 1)
        let expected = zip(a, b).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        let got = a.withUnsafeBufferPointer { pa in b.withUnsafeBufferPointer { Dot.f32(pa.baseAddress!, $0.baseAddress!, count: count) } }
        #expect(abs(Double(got) - expected) < 1e-5)
    }

    @Test("the fused fp16/bf16 dot gives the bits of decode-then-dot", arguments: [8, 32, 40, 256, 264])
    func fusedHalfDot(count: Int) throws {
        var rng = SyntheticModel.Random(seed: UInt64(count) + 11)
        let x = rng.values(count, -1 ... 1), w = rng.values(count, -2 ... 2)
        for type in [GGMLType.f16, .bf16] {
            let stored = SyntheticModel.tensor(w, shape: [count], type: type, name: "w")
            let decoded = try stored.floats()
            let bytes = try stored.storedBytes()
            let fused = bytes.withUnsafeBytes { raw in
                x.withUnsafeBufferPointer { xp in
                    type == .f16 ? Dot.halves(raw.baseAddress!, xp.baseAddress!, count: count, HalfFloat.toFloat8)
                        : Dot.halves(raw.baseAddress!, xp.baseAddress!, count: count, HalfFloat.bf16ToFloat8)
                }
            }
            let plain = decoded.withUnsafeBufferPointer { d in x.withUnsafeBufferPointer { Dot.f32(d.baseAddress!, $0.baseAddress!, count: count) } }
            #expect(fused.bitPattern == plain.bitPattern, "\(type.name)")
        }
    }

    @Test("softmax sums to one, keeps order and survives large logits")
    func softmax() {
        var x: [Float] = [1000, 1001, 999, -1e30]
        x.withUnsafeMutableBufferPointer { Softmax.inPlace($0.baseAddress!, count: 4) }
        let e = [exp(-1.0), 1, exp(-2.0)], z = e.reduce(0, +)
        for i in 0 ..< 3 { #expect(abs(Double(x[i]) - e[i] / z) < 1e-6) }
        #expect(x[3] == 0)
    }

    @Test("RMSNorm scales to unit root mean square before the weight")
    func rmsNorm() {
        let x: [Float] = [3, -4, 0, 0], weight: [Float] = [1, 2, 1, 1]
        var out = [Float](repeating: 0, count: 4)
        x.withUnsafeBufferPointer { xp in
            out.withUnsafeMutableBufferPointer { RMSNorm.apply($0.baseAddress!, xp.baseAddress!, weight: weight, rows: 1, count: 4, eps: 0) }
        }
        // mean square 25/4, rms 2.5
        #expect(out == [1.2, -3.2, 0, 0])
    }

    @Test("the worker pool covers every index exactly once whatever the thread count", arguments: [1, 2, 4])
    func poolCoverage(threads: Int) {
        let pool = WorkerPool(threads: threads, scratchBytesPerSlot: 8)
        var hits = [Int](repeating: 0, count: 1000)
        hits.withUnsafeMutableBufferPointer { h in
            let shared = SharedPointer(h.baseAddress!)
            pool.forEachRange(1000) { range, _ in for i in range { shared.base[i] += 1 } }
        }
        #expect(hits.allSatisfy { $0 == 1 })
    }

    @Test("the worker team runs every part of every loop once, across sleeps, nested and concurrent loops")
    func workerTeam() {
        let team = WorkerTeam(workers: 3)
        var hits = [Int](repeating: 0, count: 64)
        hits.withUnsafeMutableBufferPointer { h in
            let shared = SharedPointer(h.baseAddress!)
            // Thousands of back-to-back loops (workers spinning), with part counts that change
            // between loops, so a late worker meeting the next loop would show as a wrong count.
            for loop in 0 ..< 5000 {
                let parts = 2 + loop % 7
                team.run(parts: parts) { part in shared.base[part] += 1 }
            }
        }
        let expected = (0 ..< 64).map { part in (0 ..< 5000).filter { 2 + $0 % 7 > part }.count }
        #expect(hits == expected)

        // After the workers have gone to sleep, a loop wakes them.
        usleep(UInt32(WorkerTeam.spinNanoseconds / 1000) * 3)
        let slept = Mutex([Int]())
        team.run(parts: 6) { part in slept.withLock { $0.append(part) } }
        #expect(slept.withLock { $0.sorted() } == Array(0 ..< 6))

        // A loop started inside a part runs on that thread alone; so does one started from a
        // second thread while the team is busy.
        let nested = Mutex(0)
        team.run(parts: 4) { _ in team.run(parts: 3) { _ in nested.withLock { $0 += 1 } } }
        #expect(nested.withLock { $0 } == 12)
        let concurrent = Mutex(0)
        DispatchQueue.concurrentPerform(iterations: 4) { _ in
            for _ in 0 ..< 200 { team.run(parts: 5) { _ in concurrent.withLock { $0 += 1 } } }
        }
        #expect(concurrent.withLock { $0 } == 4 * 200 * 5)
    }

    @Test("an error in one range is rethrown after all ranges ran")
    func poolErrors() {
        struct Boom: Error {}
        let pool = WorkerPool(threads: 2, scratchBytesPerSlot: 8)
        #expect(throws: Boom.self) {
            try pool.forEachRange(100) { range, _ in if range.contains(50) { throw Boom() } }
        }
    }
}

extension ReferenceKernelTests {
    @Test("the finite-only fp16 decoding is exact on every finite bit pattern")
    func finiteHalfDecode() {
        var mismatches = 0
        for v in 0 ..< 65536 where UInt16(v) & 0x7c00 != 0x7c00 {
            let fast = HalfFloat.finiteToFloat8(SIMD8<UInt16>(repeating: UInt16(v)))[3]
            if fast.bitPattern != HalfFloat.toFloat(UInt16(v)).bitPattern { mismatches += 1 }
        }
        #expect(mismatches == 0)
    }

    @Test("an infinity or NaN anywhere in a row is found, in the vector part or the tail", arguments: [0, 5, 8, 15, 16, 20])
    func finiteScan(position: Int) {
        var row = [UInt16](repeating: HalfFloat.fromFloat(0.5), count: 21)
        #expect(row.withUnsafeBytes { HalfFloat.allFinite($0.baseAddress!, count: 21) })
        for bad: UInt16 in [0x7c00, 0xfc00, 0x7e01] {
            row[position] = bad
            #expect(!row.withUnsafeBytes { HalfFloat.allFinite($0.baseAddress!, count: 21) })
        }
    }

    @Test("a matrix holding an infinity still decodes it as infinity")
    func infiniteWeight() throws {
        var values = [Float](repeating: 0.25, count: 4 * 16)
        values[17] = .infinity
        let m = StoredMatrix(name: "w", source: SyntheticModel.tensor(values, shape: [4, 16], type: .f16, name: "w"))
        #expect(!m.finiteHalves)
        let x = [Float](repeating: 1, count: 16)
        let y = try product(m, x, batch: 1, threads: 1)
        #expect(y[1] == .infinity && y[0] == 4)
    }
}
