import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The output file is written under a temporary name beside its destination and renamed into
/// place only when complete, so no reader ever sees a partial model and an existing file survives
/// any failure. A run killed with SIGKILL leaves only `.NAME.llama-convert-partial`, which the next
/// run to the same destination removes.
final class AtomicOutput {
    let finalPath: String
    let tempPath: String
    let size: Int
    private var fd: Int32
    /// Write-behind with O_DIRECT where the file system allows it; nil writes through the page cache.
    private var direct: DirectWriter?
    private var committed = false
    private var cleanupSlot: Int?

    static func temporaryPath(for path: String) -> String {
        let slash = path.lastIndex(of: "/")
        let folder = slash.map { String(path[...$0]) } ?? ""
        let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
        return folder + "." + name + ".llama-convert-partial"
    }

    /// Direct writes unless `LLAMA_CONVERT_BUFFERED_OUTPUT=1` (to compare the two).
    static var directByDefault: Bool { ProcessInfo.processInfo.environment["LLAMA_CONVERT_BUFFERED_OUTPUT"] != "1" }

    init(path: String, size: Int, direct useDirect: Bool = AtomicOutput.directByDefault) throws {
        finalPath = path
        self.size = size
        tempPath = AtomicOutput.temporaryPath(for: path)
        unlink(tempPath)   // left by a killed run
        // Armed before the file exists: an interrupt right after open must find it registered.
        cleanupSlot = InterruptCleanup.arm(tempPath)
        fd = open(tempPath, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            let reason = String(cString: strerror(errno))
            InterruptCleanup.disarm(cleanupSlot)
            cleanupSlot = nil
            committed = true   // nothing to abandon: deinit must not unlink or disarm again
            throw OutputError.cannotCreate(path: tempPath, reason: reason)
        }
        if ftruncate(fd, off_t(size)) != 0 {
            let reason = String(cString: strerror(errno))
            abandon()
            throw OutputError.writeFailed(path: tempPath, offset: 0, reason: reason)
        }
        if useDirect { direct = DirectWriter(path: tempPath) }
    }

    /// Whether data goes out with O_DIRECT (for tests and `--verbose`).
    var writesDirectly: Bool { direct != nil }

    deinit { if !committed { abandon() } }

    /// Writes `bytes` at `offset`. With direct output, offsets must ascend from one call to the next
    /// (the converter writes the header, then each tensor in file order).
    func write(_ bytes: UnsafeRawBufferPointer, at offset: Int) throws {
        if let direct { return try direct.write(bytes, at: offset) }
        var done = 0
        while done < bytes.count {
            let n = pwrite(fd, bytes.baseAddress! + done, bytes.count - done, off_t(offset + done))
            if n < 0 {
                if errno == EINTR { continue }
                throw OutputError.writeFailed(path: tempPath, offset: offset + done, reason: String(cString: strerror(errno)))
            }
            done += n
        }
    }

    /// Waits until every byte is in the temporary file, which can then be read back at `tempPath`
    /// (the built-in check does, before `commit`). No write may follow.
    func finishWriting() throws {
        guard let direct else { return }
        try direct.finish()
        direct.closeFile()
        self.direct = nil
        // The last direct block was padded to the alignment: cut the file back to its size.
        guard ftruncate(fd, off_t(size)) == 0 else {
            throw OutputError.writeFailed(path: tempPath, offset: size, reason: String(cString: strerror(errno)))
        }
    }

    /// fsync, rename into place, fsync the folder.
    func commit() throws {
        try finishWriting()
        guard fsync(fd) == 0 else { throw OutputError.writeFailed(path: tempPath, offset: 0, reason: String(cString: strerror(errno))) }
        close(fd)
        fd = -1
        guard rename(tempPath, finalPath) == 0 else {
            let reason = String(cString: strerror(errno))
            abandon()
            throw OutputError.cannotCreate(path: finalPath, reason: reason)
        }
        committed = true
        InterruptCleanup.disarm(cleanupSlot)
        cleanupSlot = nil
        let slash = finalPath.lastIndex(of: "/")
        let folder = slash.map { String(finalPath[..<$0]) } ?? "."
        let dirfd = open(folder.isEmpty ? "/" : folder, O_RDONLY)
        if dirfd >= 0 { fsync(dirfd); close(dirfd) }
    }

    func abandon() {
        direct?.closeFile()
        direct = nil
        if fd >= 0 { close(fd); fd = -1 }
        unlink(tempPath)
        InterruptCleanup.disarm(cleanupSlot)
        cleanupSlot = nil
    }
}

/// Removes temporary outputs when the user interrupts (SIGINT, SIGTERM, SIGHUP). Several
/// conversions may be under way in one process (the library, tests), so each owns a slot; the
/// handler only reads the slots and calls unlink, then dies of the same signal with the default
/// action, all async-signal-safe.
enum InterruptCleanup {
    static let slotCount = 64
    nonisolated(unsafe) private static let slots: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?> = {
        let p = UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>.allocate(capacity: slotCount)
        p.initialize(repeating: nil, count: slotCount)
        return p
    }()
    private static let lock = NSLock()
    nonisolated(unsafe) private static var installed = false

    /// Registers `path` for removal on interrupt; returns the slot to `disarm` later.
    static func arm(_ path: String) -> Int? {
        lock.lock(); defer { lock.unlock() }
        if !installed {
            installed = true
            for sig in [SIGINT, SIGTERM, SIGHUP] {
                signal(sig) { sig in
                    for i in 0 ..< InterruptCleanup.slotCount {
                        if let p = InterruptCleanup.slots[i] { unlink(p) }
                    }
                    signal(sig, SIG_DFL)
                    raise(sig)
                }
            }
        }
        // A parent may have started us with these signals blocked (posix_spawn masks); unblock them.
        var set = sigset_t()
        sigemptyset(&set)
        for sig in [SIGINT, SIGTERM, SIGHUP] { sigaddset(&set, sig) }
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
        guard let slot = (0 ..< slotCount).first(where: { slots[$0] == nil }) else { return nil }
        slots[slot] = strdup(path)
        return slot
    }

    static func disarm(_ slot: Int?) {
        guard let slot else { return }
        lock.lock(); defer { lock.unlock() }
        let p = slots[slot]
        slots[slot] = nil
        free(p)
    }
}

/// Errors writing the output.
public enum OutputError: Error, CustomStringConvertible, Equatable {
    /// The temporary file or the final name could not be created.
    case cannotCreate(path: String, reason: String)
    /// A write failed (disk full, I/O error).
    case writeFailed(path: String, offset: Int, reason: String)
    /// The output would replace one of the inputs, which are memory-mapped while we write.
    case outputIsInput(path: String)

    public var description: String {
        switch self {
        case let .cannotCreate(path, reason): return "\(path): cannot create: \(reason)"
        case let .writeFailed(path, offset, reason): return "\(path): offset \(offset): write failed: \(reason)"
        case let .outputIsInput(path): return "\(path): the output would overwrite an input file"
        }
    }
}
