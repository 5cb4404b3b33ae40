/// A minimal protobuf wire-format reader over `ByteReader`, enough for SentencePiece's
/// `ModelProto`. Every length is checked against what remains of the enclosing message
/// before it is used, varints stop at 10 bytes, and unknown fields of every wire type are
/// skipped (groups included, to a fixed depth).
public struct ProtobufReader {
    /// Wire types of the protobuf encoding.
    public enum WireType: Int {
        case varint = 0, fixed64 = 1, lengthDelimited = 2, startGroup = 3, endGroup = 4, fixed32 = 5
    }

    /// One field key: number, wire type, and the file offset of the key.
    public struct Key {
        public let field: Int
        public let wireType: WireType
        public let offset: Int
    }

    /// Groups are deprecated and absent from SentencePiece models; the cap only bounds recursion.
    static let maxGroupDepth = 32

    public private(set) var reader: ByteReader

    public init(_ reader: ByteReader) { self.reader = reader }

    public var isAtEnd: Bool { reader.isAtEnd }
    public var fileOffset: Int { reader.fileOffset }

    /// The next field key, or nil at the end of the message.
    public mutating func nextKey() throws -> Key? {
        if reader.isAtEnd { return nil }
        let offset = reader.fileOffset
        let raw = try readVarint()
        let field = raw >> 3
        guard let wire = WireType(rawValue: Int(raw & 7)) else {
            throw TokenizerError.badWireType(path: reader.path, offset: offset, field: Int(truncatingIfNeeded: field), wireType: Int(raw & 7))
        }
        guard field >= 1, field <= 0x1FFF_FFFF else {
            throw TokenizerError.badField(path: reader.path, offset: offset, what: "field number \(field) is outside 1...536870911")
        }
        return Key(field: Int(field), wireType: wire, offset: offset)
    }

    /// A base-128 varint of at most 10 bytes (the 10th may only carry bit 63).
    public mutating func readVarint() throws -> UInt64 {
        let offset = reader.fileOffset
        var value: UInt64 = 0
        for index in 0 ..< 10 {
            guard !reader.isAtEnd else {
                throw ReadError.truncated(path: reader.path, offset: reader.fileOffset, needed: 1, remaining: 0)
            }
            let byte = try reader.read(UInt8.self)
            if index == 9 {
                guard byte <= 1 else { throw TokenizerError.varintTooLong(path: reader.path, offset: offset) }
            }
            value |= UInt64(byte & 0x7F) << (7 * UInt64(index))
            if byte & 0x80 == 0 { return value }
        }
        throw TokenizerError.varintTooLong(path: reader.path, offset: offset)
    }

    /// An `int32` field: negative values arrive as 10-byte sign-extended varints.
    public mutating func readInt32() throws -> Int32 {
        Int32(truncatingIfNeeded: Int64(bitPattern: try readVarint()))
    }

    public mutating func readBool() throws -> Bool { try readVarint() != 0 }

    public mutating func readFixed32() throws -> UInt32 { try reader.read(UInt32.self) }

    public mutating func readFloat() throws -> Float { Float(bitPattern: try readFixed32()) }

    /// The payload of a length-delimited field, as a reader over those bytes only.
    public mutating func readLengthDelimited() throws -> ByteReader {
        let offset = reader.fileOffset
        let length = try readVarint()
        guard length <= UInt64(reader.remaining) else {
            throw TokenizerError.lengthPastEnd(path: reader.path, offset: offset, length: length, remaining: reader.remaining)
        }
        let slice = try reader.slice(offset: reader.position, count: Int(length))
        try reader.skip(Int(length))
        return slice
    }

    /// A length-delimited field decoded as UTF-8; `what` names the field in errors.
    public mutating func readString(what: String) throws -> String {
        var payload = try readLengthDelimited()
        return try payload.string(payload.remaining, what: what)
    }

    /// Skips the value of a field whose key was just read.
    public mutating func skip(_ key: Key) throws {
        try skip(key, depth: 0)
    }

    private mutating func skip(_ key: Key, depth: Int) throws {
        switch key.wireType {
        case .varint: _ = try readVarint()
        case .fixed64: try reader.skip(8)
        case .fixed32: try reader.skip(4)
        case .lengthDelimited: _ = try readLengthDelimited()
        case .startGroup:
            guard depth < Self.maxGroupDepth else {
                throw TokenizerError.badGroup(path: reader.path, offset: key.offset, field: key.field)
            }
            while true {
                guard let inner = try nextKey() else {
                    throw TokenizerError.badGroup(path: reader.path, offset: key.offset, field: key.field)
                }
                if inner.wireType == .endGroup {
                    guard inner.field == key.field else {
                        throw TokenizerError.badGroup(path: reader.path, offset: inner.offset, field: inner.field)
                    }
                    return
                }
                try skip(inner, depth: depth + 1)
            }
        case .endGroup:
            throw TokenizerError.badGroup(path: reader.path, offset: key.offset, field: key.field)
        }
    }

    /// Throws unless `key` has the wire type a known field must have.
    public func expect(_ key: Key, _ wireType: WireType) throws {
        guard key.wireType == wireType else {
            throw TokenizerError.badWireType(path: reader.path, offset: key.offset, field: key.field, wireType: key.wireType.rawValue)
        }
    }
}
