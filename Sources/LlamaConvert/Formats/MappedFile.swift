#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A read-only memory mapping of a whole file. Every reader works on these bytes in place, so a
/// tensor is only paged in when a consumer touches it.
public final class MappedFile: @unchecked Sendable {
    public let path: String
    public let bytes: UnsafeRawBufferPointer
    private let base: UnsafeMutableRawPointer?
    private let length: Int

    public init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw FileError.cannotOpen(path: path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw FileError.cannotOpen(path: path, reason: String(cString: strerror(errno))) }
        guard (info.st_mode & S_IFMT) == S_IFREG else { throw FileError.notARegularFile(path: path) }
        length = Int(info.st_size)
        if length == 0 {
            base = nil
            bytes = UnsafeRawBufferPointer(start: nil, count: 0)
            return
        }
        let address = mmap(nil, length, PROT_READ, MAP_PRIVATE, fd, 0)
        guard let address, address != MAP_FAILED else {
            throw FileError.cannotMap(path: path, reason: String(cString: strerror(errno)))
        }
        base = address
        bytes = UnsafeRawBufferPointer(start: address, count: length)
    }

    deinit {
        if let base { munmap(base, length) }
    }

    public var count: Int { length }

    /// A reader over the whole file.
    public func reader() -> ByteReader { ByteReader(path: path, bytes: bytes, baseOffset: 0) }

    /// Tells the kernel the pages of `range` (file offsets) were consumed: the resident set of a
    /// streaming pass then stays a few chunks wide instead of growing to the file size.
    public func release(_ range: Range<Int>) {
        guard let base, !range.isEmpty else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = (max(range.lowerBound, 0) + page - 1) / page * page
        let end = min(range.upperBound, length) / page * page
        guard end > start else { return }
        _ = madvise(base + start, end - start, Int32(MADV_DONTNEED))
    }

    /// Hints a sequential read of `range`, so read-ahead works for us.
    public func adviseSequential(_ range: Range<Int>) {
        guard let base, !range.isEmpty else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = max(range.lowerBound, 0) / page * page
        let end = min(range.upperBound, length)
        guard end > start else { return }
        _ = madvise(base + start, end - start, Int32(MADV_WILLNEED))
    }
}

/// Errors opening or mapping a file.
public enum FileError: Error, CustomStringConvertible, Equatable {
    /// open(2) or stat(2) failed.
    case cannotOpen(path: String, reason: String)
    /// The path is a folder, a device or another non-regular file.
    case notARegularFile(path: String)
    /// mmap(2) failed.
    case cannotMap(path: String, reason: String)
    /// A file a model needs is absent.
    case missing(path: String, what: String)

    public var description: String {
        switch self {
        case let .cannotOpen(path, reason): return "\(path): cannot open: \(reason)"
        case let .notARegularFile(path): return "\(path): not a regular file"
        case let .cannotMap(path, reason): return "\(path): cannot map: \(reason)"
        case let .missing(path, what): return "\(path): missing \(what)"
        }
    }
}
