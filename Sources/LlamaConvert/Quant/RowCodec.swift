/// Dispatch from a ggml type to its row quantizer and dequantizer: one `switch` per row, so the
/// block loops inside are specialised per format.
public enum RowCodec {
    /// Decodes `count` weights stored as `type` at `source` into float32.
    public static func dequantizeRow(type: GGMLType, source: UnsafeRawPointer, count: Int,
                                     into destination: UnsafeMutablePointer<Float>) throws {
        guard count % type.blockSize == 0 else {
            throw QuantError.rowNotBlockAligned(tensor: "row", rowLength: count, type: type)
        }
        switch type {
        case .f32:
            destination.update(from: source.assumingMemoryBound(to: Float.self), count: count)
        case .f16:
            for i in 0 ..< count {
                destination[i] = HalfFloat.toFloat(source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
            }
        case .bf16:
            for i in 0 ..< count {
                destination[i] = HalfFloat.bf16ToFloat(source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
            }
        case .q8_0: Q8_0.dequantizeRow(source, count: count, into: destination)
        case .q4_0: Q4_0.dequantizeRow(source, count: count, into: destination)
        case .q4_1: Q4_1.dequantizeRow(source, count: count, into: destination)
        case .q5_0: Q5_0.dequantizeRow(source, count: count, into: destination)
        case .q5_1: Q5_1.dequantizeRow(source, count: count, into: destination)
        case .q4_K: Q4_K.dequantizeRow(source, count: count, into: destination)
        case .q5_K: Q5_K.dequantizeRow(source, count: count, into: destination)
        case .q6_K: Q6_K.dequantizeRow(source, count: count, into: destination)
        default:
            throw QuantError.unsupportedType(type)
        }
    }

    /// Encodes `count` float32 weights as `type` into `destination` (`type.rowBytes(count)` bytes).
    public static func quantizeRow(type: GGMLType, source: UnsafePointer<Float>, count: Int,
                                   into destination: UnsafeMutableRawPointer) throws {
        guard count % type.blockSize == 0 else {
            throw QuantError.rowNotBlockAligned(tensor: "row", rowLength: count, type: type)
        }
        switch type {
        case .f32:
            destination.copyMemory(from: source, byteCount: 4 * count)
        case .f16:
            for i in 0 ..< count {
                destination.storeBytes(of: HalfFloat.fromFloat(source[i]), toByteOffset: 2 * i, as: UInt16.self)
            }
        case .bf16:
            for i in 0 ..< count {
                destination.storeBytes(of: HalfFloat.bf16FromFloat(source[i]), toByteOffset: 2 * i, as: UInt16.self)
            }
        case .q8_0: Q8_0.quantizeRow(source, count: count, into: destination)
        case .q4_0: Q4_0.quantizeRow(source, count: count, into: destination)
        case .q4_1: Q4_1.quantizeRow(source, count: count, into: destination)
        case .q5_0: Q5_0.quantizeRow(source, count: count, into: destination)
        case .q5_1: Q5_1.quantizeRow(source, count: count, into: destination)
        case .q4_K: Q4_K.quantizeRow(source, count: count, into: destination)
        case .q5_K: Q5_K.quantizeRow(source, count: count, into: destination)
        case .q6_K: Q6_K.quantizeRow(source, count: count, into: destination)
        default:
            throw QuantError.unsupportedType(type)
        }
    }
}

/// Errors of the quantizers.
public enum QuantError: Error, CustomStringConvertible, Equatable {
    /// No row codec exists for this type.
    case unsupportedType(GGMLType)
    /// A row is not a whole number of blocks.
    case rowNotBlockAligned(tensor: String, rowLength: Int, type: GGMLType)

    public var description: String {
        switch self {
        case let .unsupportedType(type): return "no quantizer for type \(type.name)"
        case let .rowNotBlockAligned(tensor, length, type):
            return "\(tensor): row length \(length) is not a multiple of \(type.name)'s block of \(type.blockSize)"
        }
    }
}
