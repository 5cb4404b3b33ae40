/// GGUF metadata value types (`enum gguf_type` in ggml/include/gguf.h, `GGUFValueType` in
/// gguf-py/gguf/constants.py), written as a u32 before every value.
public enum GGUFValueType: UInt32, CaseIterable, Sendable, Codable {
    case uint8 = 0, int8 = 1, uint16 = 2, int16 = 3, uint32 = 4, int32 = 5, float32 = 6, bool = 7
    case string = 8, array = 9, uint64 = 10, int64 = 11, float64 = 12

    /// Encoded size of one value, nil for the variable-length string and array.
    public var fixedSize: Int? {
        switch self {
        case .uint8, .int8, .bool: return 1
        case .uint16, .int16: return 2
        case .uint32, .int32, .float32: return 4
        case .uint64, .int64, .float64: return 8
        case .string, .array: return nil
        }
    }

    /// The fewest bytes one value can take (a string needs its u64 length, an array its type and count).
    public var minimumSize: Int { fixedSize ?? (self == .string ? 8 : 4 + 8) }

    /// The upper-case name gguf-py prints (`UINT32`, `STRING`, ...), used in EXPECT files and errors.
    public var name: String {
        switch self {
        case .uint8: return "UINT8"
        case .int8: return "INT8"
        case .uint16: return "UINT16"
        case .int16: return "INT16"
        case .uint32: return "UINT32"
        case .int32: return "INT32"
        case .float32: return "FLOAT32"
        case .bool: return "BOOL"
        case .string: return "STRING"
        case .array: return "ARRAY"
        case .uint64: return "UINT64"
        case .int64: return "INT64"
        case .float64: return "FLOAT64"
        }
    }
}

/// One metadata value. Arrays are typed: every element has `elementType`, and an array of arrays
/// (allowed by the GGUF spec, refused by ggml's own reader) holds `.array` elements.
public indirect enum GGUFValue: Equatable, Sendable {
    case uint8(UInt8)
    case int8(Int8)
    case uint16(UInt16)
    case int16(Int16)
    case uint32(UInt32)
    case int32(Int32)
    case float32(Float)
    case bool(Bool)
    case string(String)
    case array(GGUFValueType, [GGUFValue])
    case uint64(UInt64)
    case int64(Int64)
    case float64(Double)

    public var type: GGUFValueType {
        switch self {
        case .uint8: return .uint8
        case .int8: return .int8
        case .uint16: return .uint16
        case .int16: return .int16
        case .uint32: return .uint32
        case .int32: return .int32
        case .float32: return .float32
        case .bool: return .bool
        case .string: return .string
        case .array: return .array
        case .uint64: return .uint64
        case .int64: return .int64
        case .float64: return .float64
        }
    }

    /// Convenience constructors for the arrays the tokenizer keys use.
    public static func strings(_ values: [String]) -> GGUFValue { .array(.string, values.map { .string($0) }) }
    public static func float32s(_ values: [Float]) -> GGUFValue { .array(.float32, values.map { .float32($0) }) }
    public static func int32s(_ values: [Int32]) -> GGUFValue { .array(.int32, values.map { .int32($0) }) }

    /// Any integer value as an Int (nil for non-integers and for UInt64 values beyond Int.max).
    public var intValue: Int? {
        switch self {
        case let .uint8(v): return Int(v)
        case let .int8(v): return Int(v)
        case let .uint16(v): return Int(v)
        case let .int16(v): return Int(v)
        case let .uint32(v): return Int(v)
        case let .int32(v): return Int(v)
        case let .uint64(v): return Int(exactly: v)
        case let .int64(v): return Int(v)
        default: return nil
        }
    }

    /// A float32 or float64 value as a Double.
    public var doubleValue: Double? {
        switch self {
        case let .float32(v): return Double(v)
        case let .float64(v): return v
        default: return nil
        }
    }

    public var stringValue: String? {
        if case let .string(s) = self { return s }
        return nil
    }

    public var arrayValue: (elementType: GGUFValueType, elements: [GGUFValue])? {
        if case let .array(t, e) = self { return (t, e) }
        return nil
    }

    /// Equality that compares floats by bit pattern, so NaN payloads and -0.0 round-trip checks work.
    public func isBitwiseEqual(to other: GGUFValue) -> Bool {
        switch (self, other) {
        case let (.float32(a), .float32(b)): return a.bitPattern == b.bitPattern
        case let (.float64(a), .float64(b)): return a.bitPattern == b.bitPattern
        case let (.array(ta, ea), .array(tb, eb)):
            return ta == tb && ea.count == eb.count && zip(ea, eb).allSatisfy { $0.isBitwiseEqual(to: $1) }
        default: return self == other
        }
    }
}

// MARK: - Encoding

extension GGUFValue {
    /// Bytes of the value without its leading type (for an array: element type, count, elements).
    public var encodedSize: Int {
        switch self {
        case let .string(s): return 8 + s.utf8.count
        case let .array(_, elements): return 4 + 8 + elements.reduce(0) { $0 + $1.encodedSize }
        default: return type.fixedSize!
        }
    }

    /// Appends the value (without its leading type) in little-endian order. The caller has checked
    /// that array elements match their element type (`validate`).
    public func encode(into out: inout [UInt8]) {
        switch self {
        case let .uint8(v): out.append(v)
        case let .int8(v): out.append(UInt8(bitPattern: v))
        case let .uint16(v): out.appendLE(v)
        case let .int16(v): out.appendLE(v)
        case let .uint32(v): out.appendLE(v)
        case let .int32(v): out.appendLE(v)
        case let .float32(v): out.appendLE(v.bitPattern)
        case let .bool(v): out.append(v ? 1 : 0)
        case let .string(s): out.appendGGUFString(s)
        case let .array(elementType, elements):
            out.appendLE(elementType.rawValue)
            out.appendLE(UInt64(elements.count))
            for e in elements { e.encode(into: &out) }
        case let .uint64(v): out.appendLE(v)
        case let .int64(v): out.appendLE(v)
        case let .float64(v): out.appendLE(v.bitPattern)
        }
    }

    /// The first element (as a path like `[3][1]`) whose type differs from its array's element type.
    public func firstMistypedElement() -> String? {
        guard case let .array(elementType, elements) = self else { return nil }
        for (i, e) in elements.enumerated() {
            if e.type != elementType { return "[\(i)]" }
            if let inner = e.firstMistypedElement() { return "[\(i)]" + inner }
        }
        return nil
    }
}

extension [UInt8] {
    mutating func appendLE<T: FixedWidthInteger>(_ value: T) {
        Swift.withUnsafeBytes(of: value.littleEndian) { append(contentsOf: $0) }
    }

    /// A GGUF string: u64 byte length, then the UTF-8 bytes, no terminator.
    mutating func appendGGUFString(_ s: String) {
        appendLE(UInt64(s.utf8.count))
        append(contentsOf: s.utf8)
    }
}
