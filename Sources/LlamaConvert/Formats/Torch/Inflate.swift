import CZlib
import CZstd
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Heap bytes that free themselves: the output of inflating a compressed zip entry.
public final class OwnedBytes: @unchecked Sendable {
    public let bytes: UnsafeRawBufferPointer
    private let base: UnsafeMutableRawPointer

    /// Allocates `count` bytes, 64-aligned so tensor elements are naturally aligned; nil when the
    /// system refuses (a failed allocation is reported, never a crash). Pages are only touched
    /// as the decompressor writes them.
    static func allocate(count: Int) -> OwnedBytes? {
        var pointer: UnsafeMutableRawPointer?
        guard count >= 0, posix_memalign(&pointer, 64, max(count, 1)) == 0, let pointer else { return nil }
        return OwnedBytes(base: pointer, count: count)
    }

    private init(base: UnsafeMutableRawPointer, count: Int) {
        self.base = base
        bytes = UnsafeRawBufferPointer(start: base, count: count)
    }

    var mutableBytes: UnsafeMutableRawBufferPointer { UnsafeMutableRawBufferPointer(start: base, count: bytes.count) }

    deinit { free(base) }
}

/// Decompression of zip entries: method 8 (raw deflate, zlib) and method 93 (zstd, libzstd).
/// The output buffer is sized from the central directory's uncompressed size, which is checked
/// against `limit` and against what the compressed bytes can possibly expand to before anything
/// is allocated; the decompressor must then produce exactly that many bytes.
enum Inflate {
    /// Deflate cannot expand better than 1032:1 (a 258-byte match costs at least 2 bits), so a
    /// declared size above this bound is a lie and is refused before allocation.
    static let deflateMaxRatio = 1032

    static func deflate(_ compressed: UnsafeRawBufferPointer, uncompressedSize: Int, limit: Int,
                        path: String, entry: String) throws -> OwnedBytes {
        let bound = compressed.count.multipliedReportingOverflow(by: deflateMaxRatio)
        let ceiling = min(limit, bound.overflow ? Int.max : bound.partialValue + 64)
        guard uncompressedSize <= ceiling else {
            throw ZipError.inflatedSizeTooLarge(path: path, entry: entry, declared: uncompressedSize, limit: ceiling)
        }
        let output = try allocate(uncompressedSize, path: path, entry: entry)
        var stream = z_stream()
        // windowBits -15: a raw deflate stream, no zlib header or trailer (zip stores it that way).
        guard inflateInit2_(&stream, -15, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw ZipError.decompressionFailed(path: path, entry: entry, problem: "zlib inflateInit2 failed")
        }
        defer { inflateEnd(&stream) }
        let chunk = 1 << 30 // avail_in/avail_out are 32-bit: feed at most 1 GiB at a time
        var inOffset = 0
        var outOffset = 0
        let inBase = compressed.baseAddress.map { UnsafeMutablePointer(mutating: $0.assumingMemoryBound(to: Bytef.self)) }
        let outBase = output.mutableBytes.baseAddress?.assumingMemoryBound(to: Bytef.self)
        var spare: UInt8 = 0 // one byte of room past the end, to detect output longer than declared
        while true {
            let inCount = min(compressed.count - inOffset, chunk)
            let outCount = min(uncompressedSize - outOffset, chunk)
            stream.next_in = inCount > 0 ? inBase.map { $0 + inOffset } : nil
            stream.avail_in = uInt(inCount)
            let status: Int32 = withUnsafeMutablePointer(to: &spare) { sparePointer in
                if outCount > 0, let outBase {
                    stream.next_out = outBase + outOffset
                    stream.avail_out = uInt(outCount)
                } else {
                    stream.next_out = sparePointer
                    stream.avail_out = 1
                }
                return CZlib.inflate(&stream, Z_NO_FLUSH)
            }
            let consumed = inCount - Int(stream.avail_in)
            let produced = (outCount > 0 ? outCount : 1) - Int(stream.avail_out)
            inOffset += consumed
            if outCount > 0 {
                outOffset += produced
            } else if produced > 0 {
                throw ZipError.decompressionFailed(path: path, entry: entry,
                                                   problem: "inflates to more than the declared \(uncompressedSize) bytes")
            }
            if status == Z_STREAM_END { break }
            let progressed = consumed > 0 || produced > 0
            if (status == Z_OK || status == Z_BUF_ERROR) && progressed { continue }
            if status == Z_OK || status == Z_BUF_ERROR {
                throw ZipError.decompressionFailed(path: path, entry: entry,
                                                   problem: "deflate stream incomplete after \(outOffset) of \(uncompressedSize) bytes")
            }
            let message = stream.msg.map { String(cString: $0) } ?? "zlib error \(status)"
            throw ZipError.decompressionFailed(path: path, entry: entry, problem: message)
        }
        guard outOffset == uncompressedSize else {
            throw ZipError.decompressionFailed(path: path, entry: entry,
                                               problem: "inflated \(outOffset) bytes, central directory says \(uncompressedSize)")
        }
        return output
    }

    static func allocate(_ count: Int, path: String, entry: String) throws -> OwnedBytes {
        guard let output = OwnedBytes.allocate(count: count) else {
            throw ZipError.decompressionFailed(path: path, entry: entry, problem: "cannot allocate \(count) bytes for the output")
        }
        return output
    }

    static func zstd(_ compressed: UnsafeRawBufferPointer, uncompressedSize: Int, limit: Int,
                     path: String, entry: String) throws -> OwnedBytes {
        guard uncompressedSize <= limit else {
            throw ZipError.inflatedSizeTooLarge(path: path, entry: entry, declared: uncompressedSize, limit: limit)
        }
        // Sum the content sizes the frames declare; when every frame declares one, it must match
        // the central directory before the output is allocated.
        var declared: UInt64 = 0
        var known = true
        var offset = 0
        while offset < compressed.count {
            let frame = UnsafeRawBufferPointer(rebasing: compressed[offset...])
            let frameSize = ZSTD_findFrameCompressedSize(frame.baseAddress, frame.count)
            if ZSTD_isError(frameSize) != 0 {
                throw ZipError.decompressionFailed(path: path, entry: entry,
                                                   problem: "bad zstd frame at byte \(offset): " + String(cString: ZSTD_getErrorName(frameSize)))
            }
            let content = ZSTD_getFrameContentSize(frame.baseAddress, frame.count)
            if content == UInt64.max - 1 {
                throw ZipError.decompressionFailed(path: path, entry: entry, problem: "bad zstd frame header at byte \(offset)")
            } else if content == UInt64.max {
                known = false
            } else {
                let (sum, overflow) = declared.addingReportingOverflow(content)
                declared = overflow ? UInt64.max : sum
            }
            offset += frameSize
        }
        if known, declared != UInt64(uncompressedSize) {
            throw ZipError.decompressionFailed(path: path, entry: entry,
                                               problem: "zstd frames declare \(declared) bytes, central directory says \(uncompressedSize)")
        }
        let output = try allocate(uncompressedSize, path: path, entry: entry)
        guard uncompressedSize > 0 || compressed.count > 0 else { return output }
        let produced = ZSTD_decompress(output.mutableBytes.baseAddress, uncompressedSize, compressed.baseAddress, compressed.count)
        if ZSTD_isError(produced) != 0 {
            throw ZipError.decompressionFailed(path: path, entry: entry, problem: String(cString: ZSTD_getErrorName(produced)))
        }
        guard produced == uncompressedSize else {
            throw ZipError.decompressionFailed(path: path, entry: entry,
                                               problem: "zstd produced \(produced) bytes, central directory says \(uncompressedSize)")
        }
        return output
    }
}
