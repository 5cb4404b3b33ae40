/// One record of a zip archive, as the central directory describes it, with the data offset
/// resolved from its local header.
public struct ZipEntry: Sendable, Equatable {
    public let name: String
    /// 0 stored, 8 deflate, 93 zstd.
    public let method: Int
    public let flags: Int
    public let crc32: UInt32
    public let compressedSize: Int
    public let uncompressedSize: Int
    public let localHeaderOffset: Int
    /// File offset of the first data byte: local header + 30 + local name length + local extra length.
    public let dataOffset: Int

    public var isStored: Bool { method == 0 }
}

/// The bytes of one entry: in place in the mapping for a stored entry, or an inflated copy.
/// `bytes` is valid only while `owner` is alive: keep this value (a stored property) or use
/// `withBytes`, because Swift may release a local right after its last use.
public struct ZipEntryData: @unchecked Sendable {
    public let bytes: UnsafeRawBufferPointer
    /// Keeps `bytes` alive: the `MappedFile`, or the `OwnedBytes` holding the inflated data.
    public let owner: AnyObject
    /// True when the CRC-32 has already been checked (inflated entries are checked as they are produced).
    public let crcVerified: Bool

    /// Runs `body` on the bytes with their owner kept alive for the whole call.
    public func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try withExtendedLifetime(owner) { try body(bytes) }
    }
}

/// A read-only zip archive over a mapped file: the end records (classic and zip64), the central
/// directory and every local header are parsed and checked at open; entry data is read on demand.
/// Byte layouts: formats/torch-zip-pickle.md §1.
public final class ZipArchive: @unchecked Sendable {
    public let file: MappedFile
    public var path: String { file.path }
    /// Entries in central-directory order.
    public let entries: [ZipEntry]
    private let index: [String: Int]

    /// An inflated entry may not exceed this many bytes (a torch storage is never compressed by
    /// torch itself; this bounds what a hostile size can make us allocate).
    public static let defaultInflateLimit = 1 << 36
    public let inflateLimit: Int

    static let eocdSignature: UInt32 = 0x0605_4b50
    static let zip64LocatorSignature: UInt32 = 0x0706_4b50
    static let zip64EndSignature: UInt32 = 0x0606_4b50
    static let centralSignature: UInt32 = 0x0201_4b50
    static let localSignature: UInt32 = 0x0403_4b50
    static let eocdSize = 22
    static let maxCommentLength = 65535
    static let centralHeaderSize = 46
    static let localHeaderSize = 30

    public convenience init(path: String, inflateLimit: Int = ZipArchive.defaultInflateLimit) throws {
        try self.init(file: MappedFile(path: path), inflateLimit: inflateLimit)
    }

    public init(file: MappedFile, inflateLimit: Int = ZipArchive.defaultInflateLimit) throws {
        self.file = file
        self.inflateLimit = inflateLimit
        let whole = file.reader()
        let directory = try Self.findCentralDirectory(whole)
        var entries: [ZipEntry] = []
        entries.reserveCapacity(directory.count)
        var index: [String: Int] = [:]
        var reader = try whole.slice(offset: directory.offset, count: directory.size)
        for _ in 0 ..< directory.count {
            let entry = try Self.readCentralEntry(&reader, whole: whole)
            guard index[entry.name] == nil else { throw ZipError.duplicateEntry(path: file.path, entry: entry.name) }
            index[entry.name] = entries.count
            entries.append(entry)
        }
        self.entries = entries
        self.index = index
    }

    public func entry(named name: String) -> ZipEntry? { index[name].map { entries[$0] } }

    /// The entry's bytes, uncompressed. Stored entries are returned in place and their CRC is not
    /// checked here (`crcVerified` is false: call `verifyCRC` before trusting them, or use
    /// `verifiedData`); compressed entries are inflated and checked.
    public func data(of entry: ZipEntry) throws -> ZipEntryData {
        let raw = try rawBytes(of: entry)
        switch entry.method {
        case 0:
            return ZipEntryData(bytes: raw, owner: file, crcVerified: false)
        case 8, 93:
            let owned = entry.method == 8
                ? try Inflate.deflate(raw, uncompressedSize: entry.uncompressedSize, limit: inflateLimit, path: path, entry: entry.name)
                : try Inflate.zstd(raw, uncompressedSize: entry.uncompressedSize, limit: inflateLimit, path: path, entry: entry.name)
            try verifyCRC(of: entry, bytes: owned.bytes)
            return ZipEntryData(bytes: owned.bytes, owner: owned, crcVerified: true)
        default:
            throw ZipError.unsupportedMethod(path: path, entry: entry.name, method: entry.method)
        }
    }

    /// The entry's bytes with the CRC checked, whatever the method (for small records such as data.pkl).
    public func verifiedData(of entry: ZipEntry) throws -> ZipEntryData {
        let data = try data(of: entry)
        if !data.crcVerified { try verifyCRC(of: entry, bytes: data.bytes) }
        return ZipEntryData(bytes: data.bytes, owner: data.owner, crcVerified: true)
    }

    /// Throws `crcMismatch` unless `bytes` (the entry's uncompressed data) have the entry's CRC-32.
    public func verifyCRC(of entry: ZipEntry, bytes: UnsafeRawBufferPointer) throws {
        let found = CRC32.checksum(bytes)
        guard found == entry.crc32 else {
            throw ZipError.crcMismatch(path: path, entry: entry.name, expected: entry.crc32, found: found)
        }
    }

    /// A copy of the entry's uncompressed bytes, CRC-checked (tests and small records).
    public func copyData(of entry: ZipEntry) throws -> [UInt8] {
        try verifiedData(of: entry).withBytes { Array($0) }
    }

    /// The entry's data as stored in the file (compressed bytes for a compressed entry), in place.
    public func rawBytes(of entry: ZipEntry) throws -> UnsafeRawBufferPointer {
        // Ranges were checked at open; check again so a hand-made ZipEntry cannot read out of bounds.
        guard entry.dataOffset >= 0, entry.compressedSize >= 0, entry.dataOffset <= file.count,
              entry.compressedSize <= file.count - entry.dataOffset else {
            throw ZipError.dataOutOfBounds(path: path, entry: entry.name, offset: entry.dataOffset,
                                           count: entry.compressedSize, size: file.count)
        }
        return UnsafeRawBufferPointer(rebasing: file.bytes[entry.dataOffset ..< entry.dataOffset + entry.compressedSize])
    }

    // MARK: - End records

    private struct CentralDirectory {
        var offset: Int
        var size: Int
        var count: Int
    }

    /// Finds the classic EOCD by scanning back over at most 22 + 65535 bytes, then follows the
    /// zip64 locator when one sits just before it.
    private static func findCentralDirectory(_ whole: ByteReader) throws -> CentralDirectory {
        let path = whole.path
        let count = whole.bytes.count
        let searched = min(count, eocdSize + maxCommentLength)
        var eocd = -1
        var candidate = count - eocdSize
        while candidate >= count - searched, candidate >= 0 {
            if try whole.peek(UInt32.self, at: candidate) == eocdSignature {
                // The comment must fit in what follows; a stray signature inside a comment would not.
                let commentLength = Int(try whole.peek(UInt16.self, at: candidate + 20))
                if commentLength <= count - candidate - eocdSize { eocd = candidate; break }
            }
            candidate -= 1
        }
        guard eocd >= 0 else { throw ZipError.noEndOfCentralDirectory(path: path, searched: searched) }

        let disk = Int(try whole.peek(UInt16.self, at: eocd + 4))
        let cdDisk = Int(try whole.peek(UInt16.self, at: eocd + 6))
        let entriesHere = Int(try whole.peek(UInt16.self, at: eocd + 8))
        let entriesTotal = Int(try whole.peek(UInt16.self, at: eocd + 10))
        let cdSize = Int(try whole.peek(UInt32.self, at: eocd + 12))
        let cdOffset = Int(try whole.peek(UInt32.self, at: eocd + 16))

        var directory = CentralDirectory(offset: cdOffset, size: cdSize, count: entriesTotal)
        var directoryEnd = eocd // the central directory must end before the end records
        let locator = eocd - 20
        if locator >= 0, try whole.peek(UInt32.self, at: locator) == zip64LocatorSignature {
            let zip64Disk = Int(try whole.peek(UInt32.self, at: locator + 4))
            let recordOffset = try whole.peek(UInt64.self, at: locator + 8)
            let disks = Int(try whole.peek(UInt32.self, at: locator + 16))
            guard zip64Disk == 0, disks <= 1 else { throw ZipError.multiDisk(path: path, offset: locator) }
            guard recordOffset <= UInt64(locator), Int(recordOffset) + 56 <= locator else {
                throw ZipError.badCentralDirectory(path: path, offset: locator,
                                                   problem: "zip64 end record offset \(recordOffset) is not before its locator")
            }
            let record = Int(recordOffset)
            let signature = try whole.peek(UInt32.self, at: record)
            guard signature == zip64EndSignature else {
                throw ZipError.badSignature(path: path, offset: record, what: "zip64 end-of-central-directory",
                                            expected: zip64EndSignature, found: signature)
            }
            let disk64 = try whole.peek(UInt32.self, at: record + 16)
            let cdDisk64 = try whole.peek(UInt32.self, at: record + 20)
            let here64 = try whole.peek(UInt64.self, at: record + 24)
            let total64 = try whole.peek(UInt64.self, at: record + 32)
            let size64 = try whole.peek(UInt64.self, at: record + 40)
            let offset64 = try whole.peek(UInt64.self, at: record + 48)
            guard disk64 == 0, cdDisk64 == 0, here64 == total64 else { throw ZipError.multiDisk(path: path, offset: record) }
            let limit = UInt64(count)
            guard size64 <= limit, offset64 <= limit, total64 <= limit else {
                throw ZipError.badCentralDirectory(path: path, offset: record,
                                                   problem: "zip64 end record gives offset \(offset64), size \(size64), \(total64) entries for a \(count)-byte file")
            }
            directory = CentralDirectory(offset: Int(offset64), size: Int(size64), count: Int(total64))
            directoryEnd = record
        } else {
            guard disk == 0, cdDisk == 0, entriesHere == entriesTotal else { throw ZipError.multiDisk(path: path, offset: eocd) }
            if entriesTotal == 0xFFFF || cdSize == 0xFFFF_FFFF || cdOffset == 0xFFFF_FFFF {
                throw ZipError.missingZip64EndRecord(path: path, offset: eocd)
            }
        }
        guard directory.offset <= directoryEnd, directory.size <= directoryEnd - directory.offset else {
            throw ZipError.badCentralDirectory(path: path, offset: eocd,
                                               problem: "central directory at \(directory.offset), \(directory.size) bytes, overlaps the end records at \(directoryEnd)")
        }
        guard directory.count <= directory.size / centralHeaderSize else {
            throw ZipError.badCentralDirectory(path: path, offset: directory.offset,
                                               problem: "\(directory.count) entries cannot fit in \(directory.size) bytes")
        }
        return directory
    }

    // MARK: - Central directory and local headers

    private static func readCentralEntry(_ reader: inout ByteReader, whole: ByteReader) throws -> ZipEntry {
        let path = reader.path
        let start = reader.fileOffset
        let signature = try reader.read(UInt32.self)
        guard signature == centralSignature else {
            throw ZipError.badSignature(path: path, offset: start, what: "central directory header",
                                        expected: centralSignature, found: signature)
        }
        try reader.skip(4) // version made by, version needed
        let flags = Int(try reader.read(UInt16.self))
        let method = Int(try reader.read(UInt16.self))
        try reader.skip(4) // time, date
        let crc = try reader.read(UInt32.self)
        var compressed = UInt64(try reader.read(UInt32.self))
        var uncompressed = UInt64(try reader.read(UInt32.self))
        let nameLength = Int(try reader.read(UInt16.self))
        let extraLength = Int(try reader.read(UInt16.self))
        let commentLength = Int(try reader.read(UInt16.self))
        var diskStart = UInt64(try reader.read(UInt16.self))
        try reader.skip(6) // internal and external attributes
        var localOffset = UInt64(try reader.read(UInt32.self))
        let name = try reader.string(nameLength, what: "entry name")
        var extra = try reader.slice(offset: reader.position, count: extraLength)
        try reader.skip(extraLength + commentLength)

        if flags & 0x0001 != 0 || flags & 0x0040 != 0 || flags & 0x2000 != 0 {
            throw ZipError.encrypted(path: path, entry: name)
        }
        // The zip64 extra field (ID 0x0001) holds, in this order, each field that is 0xFFFFFFFF.
        let needUncompressed = uncompressed == 0xFFFF_FFFF
        let needCompressed = compressed == 0xFFFF_FFFF
        let needOffset = localOffset == 0xFFFF_FFFF
        let needDisk = diskStart == 0xFFFF
        var zip64: ByteReader?
        while extra.remaining >= 4 {
            let id = try extra.read(UInt16.self)
            let size = Int(try extra.read(UInt16.self))
            let body = try extra.slice(offset: extra.position, count: size)
            try extra.skip(size)
            if id == 0x0001, zip64 == nil { zip64 = body }
        }
        func field(_ needed: Bool, _ label: String, _ value: inout UInt64, width: Int = 8) throws {
            guard needed else { return }
            guard var body = zip64, body.remaining >= width else {
                if flags & 0x0008 != 0, label != "local header offset" { throw ZipError.sizesUnknown(path: path, entry: name) }
                throw ZipError.missingZip64Field(path: path, entry: name, field: label)
            }
            value = width == 8 ? try body.read(UInt64.self) : UInt64(try body.read(UInt32.self))
            zip64 = body
        }
        try field(needUncompressed, "uncompressed size", &uncompressed)
        try field(needCompressed, "compressed size", &compressed)
        try field(needOffset, "local header offset", &localOffset)
        try field(needDisk, "disk number", &diskStart, width: 4)
        guard diskStart == 0 else { throw ZipError.multiDisk(path: path, offset: start) }

        let fileSize = UInt64(whole.bytes.count)
        guard localOffset <= fileSize, compressed <= fileSize else {
            throw ZipError.dataOutOfBounds(path: path, entry: name, offset: Int(min(localOffset, UInt64(Int.max))),
                                           count: Int(min(compressed, UInt64(Int.max))), size: whole.bytes.count)
        }
        guard uncompressed <= UInt64(Int.max) else {
            throw ZipError.inflatedSizeTooLarge(path: path, entry: name, declared: Int.max, limit: Int.max)
        }
        if method == 0, compressed != uncompressed {
            throw ZipError.storedSizeMismatch(path: path, entry: name, compressed: Int(compressed), uncompressed: Int(uncompressed))
        }

        // Local header: its own name and extra lengths decide where the data starts (torch's
        // getRecordOffset does the same); its sizes and CRC are zero when bit 3 is set, so unused.
        let local = Int(localOffset)
        let localSig = try whole.peek(UInt32.self, at: local)
        guard localSig == localSignature else {
            throw ZipError.badSignature(path: path, offset: local, what: "local file header", expected: localSignature, found: localSig)
        }
        let localFlags = Int(try whole.peek(UInt16.self, at: local + 6))
        let localMethod = Int(try whole.peek(UInt16.self, at: local + 8))
        let localNameLength = Int(try whole.peek(UInt16.self, at: local + 26))
        let localExtraLength = Int(try whole.peek(UInt16.self, at: local + 28))
        if localFlags & 0x0001 != 0 || localFlags & 0x0040 != 0 { throw ZipError.encrypted(path: path, entry: name) }
        guard localMethod == method else {
            throw ZipError.localHeaderMismatch(path: path, entry: name, offset: local, field: "compression method")
        }
        var localName = try whole.slice(offset: local + localHeaderSize, count: localNameLength)
        guard try localName.string(localNameLength, what: "local entry name") == name else {
            throw ZipError.localHeaderMismatch(path: path, entry: name, offset: local, field: "name")
        }
        let dataOffset = local + localHeaderSize + localNameLength + localExtraLength
        guard dataOffset <= whole.bytes.count, compressed <= UInt64(whole.bytes.count - dataOffset) else {
            throw ZipError.dataOutOfBounds(path: path, entry: name, offset: dataOffset, count: Int(compressed), size: whole.bytes.count)
        }
        return ZipEntry(name: name, method: method, flags: flags, crc32: crc, compressedSize: Int(compressed),
                        uncompressedSize: Int(uncompressed), localHeaderOffset: local, dataOffset: dataOffset)
    }
}
