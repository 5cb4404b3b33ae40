/// A bounds-checked little-endian cursor over mapped bytes. Every parser reads through this one
/// type, so no length taken from a file is used before it has been checked against what remains.
public struct ByteReader {
    public let path: String
    public let bytes: UnsafeRawBufferPointer
    /// File offset of `bytes[0]`, so errors name offsets in the file, not in a slice.
    public let baseOffset: Int
    public private(set) var position: Int = 0

    public init(path: String, bytes: UnsafeRawBufferPointer, baseOffset: Int) {
        self.path = path
        self.bytes = bytes
        self.baseOffset = baseOffset
    }

    public var remaining: Int { bytes.count - position }
    public var isAtEnd: Bool { position == bytes.count }
    /// The file offset of the next byte to be read.
    public var fileOffset: Int { baseOffset + position }

    /// Throws unless `count` bytes remain; compares by subtraction so a huge count cannot overflow.
    @inline(__always)
    public func require(_ count: Int) throws {
        guard count >= 0, count <= remaining else {
            throw ReadError.truncated(path: path, offset: fileOffset, needed: count, remaining: remaining)
        }
    }

    public mutating func read<T: FixedWidthInteger>(_: T.Type) throws -> T {
        try require(MemoryLayout<T>.size)
        let value = bytes.loadUnaligned(fromByteOffset: position, as: T.self)
        position += MemoryLayout<T>.size
        return T(littleEndian: value)
    }

    public mutating func readBigEndian<T: FixedWidthInteger>(_: T.Type) throws -> T {
        try require(MemoryLayout<T>.size)
        let value = bytes.loadUnaligned(fromByteOffset: position, as: T.self)
        position += MemoryLayout<T>.size
        return T(bigEndian: value)
    }

    public mutating func readFloat32() throws -> Float { Float(bitPattern: try read(UInt32.self)) }
    public mutating func readFloat64() throws -> Double { Double(bitPattern: try read(UInt64.self)) }

    /// The next `count` bytes, in place (no copy).
    public mutating func bytes(_ count: Int) throws -> UnsafeRawBufferPointer {
        try require(count)
        let slice = UnsafeRawBufferPointer(rebasing: bytes[position ..< position + count])
        position += count
        return slice
    }

    /// The next `count` bytes decoded as UTF-8; `what` names the field in the error.
    public mutating func string(_ count: Int, what: String) throws -> String {
        let offset = fileOffset
        let raw = try bytes(count)
        guard let text = String(validating: raw, as: UTF8.self) else {
            throw ReadError.invalidUTF8(path: path, offset: offset, what: what)
        }
        return text
    }

    public mutating func skip(_ count: Int) throws {
        try require(count)
        position += count
    }

    public mutating func seek(to position: Int) throws {
        guard position >= 0, position <= bytes.count else {
            throw ReadError.truncated(path: path, offset: baseOffset + position, needed: 0, remaining: 0)
        }
        self.position = position
    }

    /// Reads a value at `offset` (relative to this reader's start) without moving.
    public func peek<T: FixedWidthInteger>(_: T.Type, at offset: Int) throws -> T {
        guard offset >= 0, offset <= bytes.count, MemoryLayout<T>.size <= bytes.count - offset else {
            throw ReadError.truncated(path: path, offset: baseOffset + max(offset, 0), needed: MemoryLayout<T>.size,
                                      remaining: max(0, bytes.count - max(offset, 0)))
        }
        return T(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: T.self))
    }

    /// A reader over `count` bytes at `offset` (relative to this reader's start), for nested structures.
    public func slice(offset: Int, count: Int) throws -> ByteReader {
        guard offset >= 0, count >= 0, offset <= bytes.count, count <= bytes.count - offset else {
            throw ReadError.outOfBounds(path: path, offset: baseOffset + max(offset, 0), count: count, size: baseOffset + bytes.count)
        }
        return ByteReader(path: path, bytes: UnsafeRawBufferPointer(rebasing: bytes[offset ..< offset + count]),
                          baseOffset: baseOffset + offset)
    }
}

/// Errors any parser raises when bytes run short.
public enum ReadError: Error, CustomStringConvertible, Equatable {
    /// Fewer bytes remain than a field needs.
    case truncated(path: String, offset: Int, needed: Int, remaining: Int)
    /// A range named by the file lies outside it.
    case outOfBounds(path: String, offset: Int, count: Int, size: Int)
    /// A string field is not UTF-8.
    case invalidUTF8(path: String, offset: Int, what: String)

    public var description: String {
        switch self {
        case let .truncated(path, offset, needed, remaining):
            return "\(path): offset \(offset): truncated: needed \(needed) bytes, only \(remaining) remain"
        case let .outOfBounds(path, offset, count, size):
            return "\(path): offset \(offset): range of \(count) bytes runs past the end (\(size) bytes)"
        case let .invalidUTF8(path, offset, what):
            return "\(path): offset \(offset): \(what) is not valid UTF-8"
        }
    }
}
