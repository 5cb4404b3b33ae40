/// A pointer shared by the iterations of a parallel loop. Swift 6 refuses to capture an
/// `UnsafeMutablePointer` in a concurrent closure; this wrapper is sound because each iteration
/// writes only the elements of its own contiguous range (every use says which).
struct SharedPointer<T>: @unchecked Sendable {
    let base: UnsafeMutablePointer<T>
    init(_ base: UnsafeMutablePointer<T>) { self.base = base }
}

/// Runs loops as contiguous ranges on a `WorkerTeam` (the caller and `threads` − 1 workers), with
/// one scratch area per range ("slot"), allocated once.
///
/// Results never depend on `threads`: an iteration computes whole output elements, each in an
/// order fixed by its index alone.
final class WorkerPool {
    /// Threads the caller asked for; 1 runs every loop on the calling thread.
    let threads: Int
    /// Iterations per loop: three per thread, so a slow core does not hold the others up.
    let slots: Int
    let slotBytes: Int
    private let scratch: UnsafeMutableRawPointer
    private let team: WorkerTeam?

    init(threads: Int, scratchBytesPerSlot: Int) {
        self.threads = max(1, threads)
        slots = self.threads == 1 ? 1 : 3 * self.threads
        // Round each slot to a cache line so neighbours never share one.
        slotBytes = (max(scratchBytesPerSlot, 64) + 63) / 64 * 64
        scratch = UnsafeMutableRawPointer.allocate(byteCount: slots * slotBytes, alignment: 64)
        team = self.threads == 1 ? nil : WorkerTeam(workers: self.threads - 1)
    }

    deinit { scratch.deallocate() }

    /// The scratch area of slot `slot` (`slotBytes` bytes).
    func scratch(slot: Int) -> UnsafeMutableRawPointer { scratch + slot * slotBytes }

    /// Calls `body(range, slot)` for contiguous ranges covering `0 ..< count`, each of at least
    /// `grain` items (except when `count` is smaller), in parallel.
    func forEachRange(_ count: Int, grain: Int = 1, _ body: (Range<Int>, Int) -> Void) {
        guard count > 0 else { return }
        let parts = max(1, min(slots, count / max(grain, 1)))
        guard parts > 1, let team else {
            body(0 ..< count, 0)
            return
        }
        team.run(parts: parts) { part in body(count * part / parts ..< count * (part + 1) / parts, part) }
    }

    /// The throwing form: every range runs; the error of the lowest-numbered failing range is
    /// rethrown afterwards.
    func forEachRange(_ count: Int, grain: Int = 1, _ body: (Range<Int>, Int) throws -> Void) throws {
        let parts = slots
        let errors = UnsafeMutablePointer<(any Error)?>.allocate(capacity: parts)
        errors.initialize(repeating: nil, count: parts)
        defer { errors.deinitialize(count: parts); errors.deallocate() }
        let shared = SharedPointer(errors) // range number `slot` writes errors[slot] only
        forEachRange(count, grain: grain) { range, slot in
            do { try body(range, slot) } catch { shared.base[slot] = error }
        }
        for i in 0 ..< parts { if let error = errors[i] { throw error } }
    }
}
