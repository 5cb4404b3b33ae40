/// Decoding runs of stored weights to float32 for the matrix kernels: SIMD paths for the float
/// types, `RowCodec` for the block formats.
enum Decode {
    /// Decodes `count` weights of `type` starting at `source` (a whole number of blocks) into
    /// `destination`.
    @inline(__always)
    static func run(type: GGMLType, source: UnsafeRawPointer, count: Int,
                    into destination: UnsafeMutablePointer<Float>) throws {
        switch type {
        case .f32:
            destination.update(from: source.assumingMemoryBound(to: Float.self), count: count)
        case .f16:
            halves(source, count: count, into: destination, HalfFloat.toFloat8)
        case .bf16:
            halves(source, count: count, into: destination, HalfFloat.bf16ToFloat8)
        default:
            try RowCodec.dequantizeRow(type: type, source: source, count: count, into: destination)
        }
    }

    @inline(__always)
    private static func halves(_ source: UnsafeRawPointer, count: Int, into destination: UnsafeMutablePointer<Float>,
                               _ convert: (SIMD8<UInt16>) -> SIMD8<Float>) {
        let out = UnsafeMutableRawPointer(destination)
        var i = 0
        while i &+ 8 <= count {
            let v = convert(source.loadUnaligned(fromByteOffset: 2 &* i, as: SIMD8<UInt16>.self))
            out.storeBytes(of: v, toByteOffset: 4 &* i, as: SIMD8<Float>.self)
            i &+= 8
        }
        if i < count {
            var tail = SIMD8<UInt16>()
            for j in 0 ..< count &- i { tail[j] = source.loadUnaligned(fromByteOffset: 2 &* (i &+ j), as: UInt16.self) }
            let v = convert(tail)
            for j in 0 ..< count &- i { destination[i &+ j] = v[j] }
        }
    }
}
