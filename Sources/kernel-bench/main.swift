// Single-thread speed of the one-token AVX2 matrix kernels, apart from the forward pass: the same
// product over a matrix that stays in the L2 cache (decoding speed) and one 32x larger than the
// last-level cache (the stream from memory), in weights per second.
// Run: swift run -c release kernel-bench [kind …] (default: q4_0 q4_K q6_K q8_0 f16).
import AVX2Kernels
import Foundation

let cols = 2048
let kinds: [String: (AVX2Kernels.Kind, Int)] = [ // bytes per 256 weights
    "f16": (.f16, 512), "q8_0": (.q8_0, 272), "q4_0": (.q4_0, 144), "q4_1": (.q4_1, 160),
    "q5_0": (.q5_0, 176), "q5_1": (.q5_1, 192), "q4_K": (.q4_K, 144), "q5_K": (.q5_K, 176), "q6_K": (.q6_K, 210),
]
let names = CommandLine.arguments.count > 1 ? Array(CommandLine.arguments.dropFirst()) : ["q4_0", "q4_K", "q6_K", "q8_0", "f16"]

var state: UInt64 = 12345
func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
}

/// Random bytes with every 16-bit field a small positive half (0x2000…0x27FF), so no scale is
/// inf or NaN whatever the layout (only the speed is measured).
func matrix(rows: Int, rowBytes: Int) -> UnsafeMutableRawPointer {
    let p = UnsafeMutableRawPointer.allocate(byteCount: rows * rowBytes, alignment: 64)
    let halves = p.bindMemory(to: UInt16.self, capacity: rows * rowBytes / 2)
    for i in 0 ..< rows * rowBytes / 2 { halves[i] = 0x2000 | UInt16(truncatingIfNeeded: next() & 0x7FF) }
    return p
}

for name in names {
    guard let (kind, bytes256) = kinds[name] else { print("unknown kind \(name)"); continue }
    let rowBytes = cols / 256 * bytes256
    let x = (0 ..< cols).map { _ in Float(Int(next() % 2001) - 1000) / 1000 }
    var line = "\(name.padding(toLength: 5, withPad: " ", startingAt: 0))"
    for (label, rows) in [("L2", 128 * 1024 / rowBytes / 24 * 24), ("memory", 1 << 30 / rowBytes / 24 * 24)] {
        let w = matrix(rows: rows, rowBytes: rowBytes)
        let pointers = (0 ..< rows).map { UnsafeRawPointer(w + $0 * rowBytes) }
        var y = [Float](repeating: 0, count: rows)
        let repeats = label == "L2" ? 4000 : 3
        var best = Double.infinity
        for _ in 0 ..< 5 {
            let start = DispatchTime.now().uptimeNanoseconds
            for _ in 0 ..< repeats {
                pointers.withUnsafeBufferPointer { pp in
                    y.withUnsafeMutableBufferPointer { yp in
                        var r = 0
                        while r < rows {
                            AVX2Kernels.matVec(kind, rows: pp.baseAddress! + r, rowCount: 24, cols: cols, x: x, xStride: cols,
                                               batch: 1, y: yp.baseAddress! + r, yStride: rows)
                            r += 24
                        }
                    }
                }
            }
            best = min(best, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        }
        let weights = Double(rows * cols * repeats)
        line += String(format: "   %@ %6.2f Gweights/s %6.2f GB/s", label, weights / best / 1e9, weights * Double(bytes256) / 256 / best / 1e9)
        w.deallocate()
    }
    print(line)
}
