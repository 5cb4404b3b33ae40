/// Everything that can be wrong with the zip container of a torch checkpoint. Every case names
/// the file; cases about one record also name the entry. Truncations inside a structure surface
/// as `ReadError` (file and offset) from `ByteReader`.
public enum ZipError: Error, CustomStringConvertible, Equatable {
    /// No end-of-central-directory signature in the last 65535 + 22 bytes: not a zip, or cut short.
    case noEndOfCentralDirectory(path: String, searched: Int)
    /// A structure did not start with its signature.
    case badSignature(path: String, offset: Int, what: String, expected: UInt32, found: UInt32)
    /// The archive spans several disks (split zip), which a checkpoint never does.
    case multiDisk(path: String, offset: Int)
    /// A classic end record says "see zip64" (0xFFFF/0xFFFFFFFF) but no zip64 locator precedes it.
    case missingZip64EndRecord(path: String, offset: Int)
    /// A central-directory field is 0xFFFFFFFF but the zip64 extra field does not hold its value.
    case missingZip64Field(path: String, entry: String, field: String)
    /// The central directory lies outside the file, or claims more entries than fit in it.
    case badCentralDirectory(path: String, offset: Int, problem: String)
    /// Two entries have the same name.
    case duplicateEntry(path: String, entry: String)
    /// The entry is encrypted (flag bit 0 or 6, or an encrypted central directory).
    case encrypted(path: String, entry: String)
    /// The entry defers its sizes to a data descriptor and the central directory does not fill them.
    case sizesUnknown(path: String, entry: String)
    /// The local header disagrees with the central directory (name or method).
    case localHeaderMismatch(path: String, entry: String, offset: Int, field: String)
    /// The entry's data runs past the end of the file.
    case dataOutOfBounds(path: String, entry: String, offset: Int, count: Int, size: Int)
    /// A stored entry whose compressed and uncompressed sizes differ.
    case storedSizeMismatch(path: String, entry: String, compressed: Int, uncompressed: Int)
    /// A compression method other than stored (0), deflate (8) or zstd (93).
    case unsupportedMethod(path: String, entry: String, method: Int)
    /// The declared uncompressed size is above the cap, or impossible for the compressed size.
    case inflatedSizeTooLarge(path: String, entry: String, declared: Int, limit: Int)
    /// The decompressor failed, or produced a different number of bytes than declared.
    case decompressionFailed(path: String, entry: String, problem: String)
    /// The CRC-32 of the entry's bytes differs from the central directory's.
    case crcMismatch(path: String, entry: String, expected: UInt32, found: UInt32)

    public var description: String {
        switch self {
        case let .noEndOfCentralDirectory(path, searched):
            return "\(path): not a zip archive: no end-of-central-directory record in the last \(searched) bytes (not a zip, or truncated)"
        case let .badSignature(path, offset, what, expected, found):
            return "\(path): offset \(offset): bad \(what) signature: expected \(hex(expected)), found \(hex(found))"
        case let .multiDisk(path, offset):
            return "\(path): offset \(offset): multi-disk (split) zip archives are not supported"
        case let .missingZip64EndRecord(path, offset):
            return "\(path): offset \(offset): end record defers to zip64 but no zip64 end-of-central-directory locator precedes it"
        case let .missingZip64Field(path, entry, field):
            return "\(path): entry \(entry): \(field) is 0xFFFFFFFF but the zip64 extra field does not hold it"
        case let .badCentralDirectory(path, offset, problem):
            return "\(path): offset \(offset): bad central directory: \(problem)"
        case let .duplicateEntry(path, entry):
            return "\(path): entry \(entry) appears twice in the central directory"
        case let .encrypted(path, entry):
            return "\(path): entry \(entry) is encrypted; encrypted zip entries are not supported"
        case let .sizesUnknown(path, entry):
            return "\(path): entry \(entry) uses a data descriptor and its sizes are unknown in the central directory"
        case let .localHeaderMismatch(path, entry, offset, field):
            return "\(path): offset \(offset): local header of entry \(entry) disagrees with the central directory on the \(field)"
        case let .dataOutOfBounds(path, entry, offset, count, size):
            return "\(path): offset \(offset): data of entry \(entry) (\(count) bytes) runs past the end of the file (\(size) bytes)"
        case let .storedSizeMismatch(path, entry, compressed, uncompressed):
            return "\(path): stored entry \(entry) has compressed size \(compressed) but uncompressed size \(uncompressed)"
        case let .unsupportedMethod(path, entry, method):
            return "\(path): entry \(entry) uses compression method \(method); only stored (0), deflate (8) and zstd (93) are supported"
        case let .inflatedSizeTooLarge(path, entry, declared, limit):
            return "\(path): entry \(entry) declares \(declared) uncompressed bytes, above the limit of \(limit)"
        case let .decompressionFailed(path, entry, problem):
            return "\(path): entry \(entry): decompression failed: \(problem)"
        case let .crcMismatch(path, entry, expected, found):
            return "\(path): entry \(entry): CRC-32 mismatch: central directory says \(hex(expected)), data gives \(hex(found))"
        }
    }
}

private func hex(_ value: UInt32) -> String {
    let digits = String(value, radix: 16)
    return "0x" + String(repeating: "0", count: max(0, 8 - digits.count)) + digits
}
