// Single-thread speed of the K-quant row quantizers: scalar reference vs lane-parallel path.
// Run: swift run -c release quant-bench [rows] (rows of 4096 weights, default 128).
import Foundation
import LlamaConvert

let rows = CommandLine.arguments.count > 1 ? Int(CommandLine.arguments[1]) ?? 128 : 128
let n = 4096

// Weight-like input: N(0, 0.02²) from a fixed-seed generator (SplitMix64 + Box–Muller).
var state: UInt64 = 12345
func next() -> Double {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return Double((z ^ (z >> 31)) >> 11) / Double(1 << 53)
}
let input: [Float] = (0 ..< rows * n).map { _ in
    Float((-2 * log(max(next(), 1e-300))).squareRoot() * cos(2 * Double.pi * next()) * 0.02)
}

func threadCPUSeconds() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
}

typealias RowFunction = (UnsafePointer<Float>, Int, UnsafeMutableRawPointer) -> Void

/// Quantizes all rows `repeats` times and reports the fastest pass (the machine is shared, so
/// the best pass is the least disturbed one), in rows and MB of float input per second of this
/// thread's CPU time, with that pass's wall time alongside.
func measure(_ name: String, typeSize: Int, repeats: Int = 5, _ quantize: RowFunction) -> [UInt8] {
    var out = [UInt8](repeating: 0, count: rows * n / 256 * typeSize)
    let rowBytes = n / 256 * typeSize
    var best = (cpu: Double.infinity, wall: 0.0)
    for _ in 0 ..< repeats {
        let start = DispatchTime.now().uptimeNanoseconds, cpuStart = threadCPUSeconds()
        input.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBytes { dst in
                for r in 0 ..< rows { quantize(src.baseAddress! + r * n, n, dst.baseAddress! + r * rowBytes) }
            }
        }
        let cpu = threadCPUSeconds() - cpuStart
        if cpu < best.cpu { best = (cpu, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9) }
    }
    let mb = Double(rows * n * 4) / 1e6
    print(name.padding(toLength: 22, withPad: " ", startingAt: 0),
          String(format: "%8.1f rows/s  %7.2f MB/s of f32 input  (%d rows of %d: best of %d, %.3f s CPU, %.3f s wall)",
                 Double(rows) / best.cpu, mb / best.cpu, rows, n, repeats, best.cpu, best.wall))
    return out
}

let formats: [(String, Int, RowFunction, RowFunction)] = [
    ("Q4_K", Q4_K.typeSize, { Q4_K.quantizeRowReference($0, count: $1, into: $2) }, { Q4_K.quantizeRow($0, count: $1, into: $2) }),
    ("Q5_K", Q5_K.typeSize, { Q5_K.quantizeRowReference($0, count: $1, into: $2) }, { Q5_K.quantizeRow($0, count: $1, into: $2) }),
    ("Q6_K", Q6_K.typeSize, { Q6_K.quantizeRowReference($0, count: $1, into: $2) }, { Q6_K.quantizeRow($0, count: $1, into: $2) }),
]
for (name, typeSize, reference, fast) in formats {
    let a = measure("\(name) scalar reference", typeSize: typeSize, reference)
    let b = measure("\(name) lanes", typeSize: typeSize, fast)
    print("\(name): outputs \(a == b ? "identical" : "DIFFER")")
}
