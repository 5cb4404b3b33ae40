/// The dtype names safetensors defines (huggingface/safetensors `tensor.rs`, `enum Dtype` and
/// `bitsize`), exact and case-sensitive.
public enum SafetensorsDType: String, CaseIterable, Sendable {
    case F4, F6_E2M3, F6_E3M2
    case BOOL, U8, I8, F8_E5M2, F8_E4M3, F8_E8M0, F8_E4M3FNUZ, F8_E5M2FNUZ
    case I16, U16, F16, BF16
    case I32, U32, F32
    case I64, U64, F64, C64

    /// Bits per element.
    public var bits: Int {
        switch self {
        case .F4: return 4
        case .F6_E2M3, .F6_E3M2: return 6
        case .BOOL, .U8, .I8, .F8_E5M2, .F8_E4M3, .F8_E8M0, .F8_E4M3FNUZ, .F8_E5M2FNUZ: return 8
        case .I16, .U16, .F16, .BF16: return 16
        case .I32, .U32, .F32: return 32
        case .I64, .U64, .F64, .C64: return 64
        }
    }

    /// The ggml type llama-convert reads this dtype as; nil when it does not convert it.
    public var ggmlType: GGMLType? {
        switch self {
        case .F32: return .f32
        case .F16: return .f16
        case .BF16: return .bf16
        default: return nil
        }
    }
}

/// The validated header of one safetensors file: what `SafeTensors::read_metadata` checks, in the
/// same order, each failure its own `SafetensorsError` case. Only the first `8 + N` bytes are read;
/// the data section is never touched, only its length compared.
///
///     offset 0      8                 8+N                                   file end
///     +-------------+-----------------+-------------------------------------+
///     | N: u64 LE   | header: N bytes | data: tensors back to back,         |
///     |             | UTF-8 JSON      | data_offsets relative to 8+N        |
///     +-------------+-----------------+-------------------------------------+
public struct SafetensorsHeader {
    /// Upstream `MAX_HEADER_SIZE`: a longer header is refused before anything is read.
    public static let maxHeaderBytes = 100_000_000
    /// The bytes of the header length field (upstream `N_LEN`).
    public static let lengthFieldBytes = 8
    /// The header key that holds string metadata instead of a tensor.
    public static let metadataKey = "__metadata__"

    public struct Entry: Sendable {
        public let name: String
        public let dtype: SafetensorsDType
        /// PyTorch order, rows first.
        public let shape: [Int]
        /// Byte range relative to the data section.
        public let begin: Int
        public let end: Int
    }

    /// N, the header length.
    public let headerLength: Int
    /// File offset of the data section.
    public var dataStart: Int { Self.lengthFieldBytes + headerLength }
    public let metadata: [String: String]
    /// Sorted by `(begin, end)`, then name: the order of the bytes in the file.
    public let entries: [Entry]

    /// Validates `file` (the whole file's bytes; only the header is read).
    public static func parse(_ file: UnsafeRawBufferPointer, path: String) throws -> SafetensorsHeader {
        let reader = ByteReader(path: path, bytes: file, baseOffset: 0)

        // 1. The length field.
        guard file.count >= lengthFieldBytes else { throw SafetensorsError.fileTooSmall(path: path, size: file.count) }
        let rawLength = try reader.peek(UInt64.self, at: 0)
        // 2. The cap, before the length is used for anything.
        guard rawLength <= UInt64(maxHeaderBytes) else {
            throw SafetensorsError.headerTooLarge(path: path, length: rawLength, cap: maxHeaderBytes)
        }
        let headerLength = Int(rawLength)
        // 3. The header lies inside the file (subtract: never add a file-given length).
        guard headerLength <= file.count - lengthFieldBytes else {
            throw SafetensorsError.headerPastEnd(path: path, length: headerLength, fileSize: file.count)
        }
        let header = try reader.slice(offset: lengthFieldBytes, count: headerLength)

        // 4. UTF-8.
        if let bad = UTF8Check.firstInvalidOffset(header.bytes) {
            throw SafetensorsError.headerNotUTF8(path: path, offset: lengthFieldBytes + bad)
        }
        // 5. JSON (whitespace either side allowed, duplicate keys refused), an object at the top.
        let root = try StrictJSONParser.parse(path: path, bytes: header.bytes, baseOffset: lengthFieldBytes)
        guard case let .object(members) = root.value else {
            throw SafetensorsError.headerNotObject(path: path, offset: root.offset, found: root.kindName)
        }

        // 6. `__metadata__` and each tensor entry, in file order.
        var metadata: [String: String] = [:]
        var entries: [Entry] = []
        entries.reserveCapacity(members.count)
        for member in members {
            if member.key == metadataKey {
                metadata = try parseMetadata(member.node, path: path)
            } else {
                entries.append(try parseEntry(member, path: path))
            }
        }

        // 7. Sorted by offsets, each tensor starts where the previous ended, the first at 0.
        entries.sort { ($0.begin, $0.end, $0.name) < ($1.begin, $1.end, $1.name) }
        var expected = 0
        for entry in entries {
            guard entry.begin == expected else {
                throw SafetensorsError.offsetMismatch(path: path, tensor: entry.name, expected: expected, found: entry.begin)
            }
            expected = entry.end
        }
        // 8. ... and the last ends at the end of the file: no trailing bytes, nothing past the end.
        let fileDataBytes = file.count - lengthFieldBytes - headerLength
        guard expected == fileDataBytes else {
            let end = expected <= fileDataBytes ? lengthFieldBytes + headerLength + expected : file.count
            throw SafetensorsError.dataSizeMismatch(path: path, offset: end, dataBytes: expected, fileDataBytes: fileDataBytes)
        }

        // 9. Only now, with the layout known to be sound, the types llama-convert reads.
        for entry in entries where entry.dtype.ggmlType == nil {
            throw SafetensorsError.unsupportedDtype(path: path, tensor: entry.name, dtype: entry.dtype.rawValue)
        }
        return SafetensorsHeader(headerLength: headerLength, metadata: metadata, entries: entries)
    }

    /// `__metadata__`: an object whose values are all strings (upstream `Option<HashMap<String, String>>`,
    /// so `null` means absent there and here).
    private static func parseMetadata(_ node: JSONNode, path: String) throws -> [String: String] {
        if case .null = node.value { return [:] }
        guard case let .object(members) = node.value else {
            throw SafetensorsError.invalidMetadata(path: path, offset: node.offset, problem: "is \(node.kindName), expected an object of strings")
        }
        var metadata: [String: String] = [:]
        for member in members {
            guard case let .string(text) = member.node.value else {
                throw SafetensorsError.invalidMetadata(
                    path: path, offset: member.node.offset,
                    problem: "value of \(SafetensorsError.quoted(member.key)) is \(member.node.kindName), expected a string")
            }
            metadata[member.key] = text
        }
        return metadata
    }

    /// One tensor entry: fields, then element count, then byte count against `data_offsets`.
    /// Unknown extra fields are ignored, as upstream does.
    private static func parseEntry(_ member: JSONMember, path: String) throws -> Entry {
        let name = member.key
        guard case let .object(fields) = member.node.value else {
            throw SafetensorsError.entryNotObject(path: path, tensor: name, found: member.node.kindName)
        }
        func field(_ key: String) throws -> JSONNode {
            guard let found = fields.first(where: { $0.key == key }) else {
                throw SafetensorsError.missingField(path: path, tensor: name, field: key)
            }
            return found.node
        }
        func invalid(_ key: String, _ problem: String) -> SafetensorsError {
            .invalidField(path: path, tensor: name, field: key, problem: problem)
        }
        func integers(_ key: String, _ node: JSONNode) throws -> [Int] {
            guard case let .array(elements) = node.value else { throw invalid(key, "is \(node.kindName), expected an array") }
            var values: [Int] = []
            values.reserveCapacity(elements.count)
            for element in elements {
                switch element.nonNegativeInteger {
                case let .value(n): values.append(n)
                case .tooLarge: throw invalid(key, "holds an integer too large for this machine")
                case .notAnInteger: throw invalid(key, "holds \(element.kindName) that is not a non-negative integer")
                }
            }
            return values
        }

        let dtypeNode = try field("dtype")
        guard case let .string(dtypeName) = dtypeNode.value else { throw invalid("dtype", "is \(dtypeNode.kindName), expected a string") }
        guard let dtype = SafetensorsDType(rawValue: dtypeName) else {
            throw SafetensorsError.unknownDtype(path: path, tensor: name, dtype: dtypeName)
        }
        let shape = try integers("shape", try field("shape"))
        let offsets = try integers("data_offsets", try field("data_offsets"))
        guard offsets.count == 2 else { throw invalid("data_offsets", "has \(offsets.count) values, expected [begin, end]") }
        let (begin, end) = (offsets[0], offsets[1])
        guard begin <= end else { throw SafetensorsError.reversedOffsets(path: path, tensor: name, begin: begin, end: end) }

        // Element count by checked multiplication. The fold skips zeros so that no partial product a
        // consumer may form (a row length, say) can overflow either: stricter than upstream only for
        // zero-sized tensors whose other dimensions multiply past Int.max.
        var nonZeroProduct = 1
        for dim in shape where dim != 0 {
            let (p, overflow) = nonZeroProduct.multipliedReportingOverflow(by: dim)
            guard !overflow else { throw SafetensorsError.sizeOverflow(path: path, tensor: name, shape: shape) }
            nonZeroProduct = p
        }
        let (bitsIfNonZero, bitsOverflow) = nonZeroProduct.multipliedReportingOverflow(by: dtype.bits)
        guard !bitsOverflow else { throw SafetensorsError.sizeOverflow(path: path, tensor: name, shape: shape) }
        let elements = shape.contains(0) ? 0 : nonZeroProduct
        let bits = shape.contains(0) ? 0 : bitsIfNonZero
        guard bits % 8 == 0 else {
            throw SafetensorsError.misalignedSize(path: path, tensor: name, dtype: dtypeName, elements: elements)
        }
        guard bits / 8 == end - begin else {
            throw SafetensorsError.byteCountMismatch(path: path, tensor: name, expected: bits / 8, found: end - begin)
        }
        return Entry(name: name, dtype: dtype, shape: shape, begin: begin, end: end)
    }
}
