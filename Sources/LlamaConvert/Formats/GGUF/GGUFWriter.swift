#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes a whole GGUF file from in-memory tensors (tests and small outputs; the convert pipeline
/// streams through `GGUFLayout` itself). The bytes go to a temp file beside `path` that is renamed
/// over it at the end, so a reader that has `path` mapped never sees it shrink.
public func writeGGUF(path: String, metadata: [(String, GGUFValue)], tensors: [(plan: GGUFTensorPlan, bytes: [UInt8])],
                      alignment: Int = GGUFLayout.defaultAlignment) throws {
    let layout = try GGUFLayout(metadata: metadata, tensors: tensors.map(\.plan), alignment: alignment)
    for (i, t) in tensors.enumerated() where t.bytes.count != layout.tensorByteCounts[i] {
        throw GGUFError.wrongTensorByteCount(name: t.plan.name, expected: layout.tensorByteCounts[i], found: t.bytes.count)
    }
    let temp = path + ".tmp-llama-convert"
    let fd = open(temp, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    guard fd >= 0 else { throw GGUFError.writeFailed(path: temp, reason: String(cString: strerror(errno))) }
    var closed = false
    defer { if !closed { close(fd); unlink(temp) } }

    try writeAll(fd, layout.headerBytes, path: temp)
    let zeros = [UInt8](repeating: 0, count: layout.alignment)
    for (i, t) in tensors.enumerated() {
        try writeAll(fd, t.bytes, path: temp)
        try writeAll(fd, Array(zeros[0 ..< layout.padding(after: i)]), path: temp)
    }
    guard fsync(fd) == 0 else { throw GGUFError.writeFailed(path: temp, reason: String(cString: strerror(errno))) }
    closed = true
    guard close(fd) == 0 else {
        unlink(temp)
        throw GGUFError.writeFailed(path: temp, reason: String(cString: strerror(errno)))
    }
    guard rename(temp, path) == 0 else {
        let reason = String(cString: strerror(errno))
        unlink(temp)
        throw GGUFError.writeFailed(path: path, reason: reason)
    }
}

/// write(2) until every byte is out, retrying on EINTR and short writes.
func writeAll(_ fd: Int32, _ bytes: [UInt8], path: String) throws {
    try bytes.withUnsafeBytes { raw in
        var done = 0
        while done < raw.count {
            let n = write(fd, raw.baseAddress! + done, raw.count - done)
            if n < 0 {
                if errno == EINTR { continue }
                throw GGUFError.writeFailed(path: path, reason: String(cString: strerror(errno)))
            }
            done += n
        }
    }
}
