import CKernelSupport
import Glibc
import Synchronization

/// Threads that stay alive beside the caller and run the parts of one loop at a time, for
/// `WorkerPool`. Generating a token runs ~130 parallel loops of 20–500 µs each; handing them to
/// `DispatchQueue.concurrentPerform` woke a sleeping worker every time (tens of µs on a virtual
/// machine) and left a core idle for 8% of the run. A team's workers spin for a while after each
/// loop, so the next one starts on every core at once, then sleep on a condition variable.
///
/// The caller runs parts too. Parts are claimed one by one from a single atomic word that also
/// holds the loop's number and part count, so a worker late from one loop can never claim a part
/// of the next; which thread runs a part never changes what it computes.
final class WorkerTeam: @unchecked Sendable {
    typealias Job = (Int) -> Void

    /// Loop number << 32 | part count << 16 | next unclaimed part.
    private let state = Atomic<UInt64>(0)
    private let finished = Atomic<Int>(0)
    private let sleepers = Atomic<Int>(0)
    private let stopping = Atomic<Bool>(false)
    /// Set while a loop runs: a loop started from inside a part, or from a second thread meanwhile,
    /// runs on its caller alone instead.
    private let busy = Atomic<Bool>(false)
    /// The running loop's body (a `Job`), written before its loop number is published and read
    /// only by a thread that has claimed one of its parts.
    private var job: UnsafeRawPointer?
    private var loop: UInt32 = 0
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let wake = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var threads: [pthread_t] = []

    /// How long an idle worker spins before it sleeps: longer than the serial stretches between
    /// the loops of a forward pass (norms, sampling), short enough that an idle model costs nothing.
    static let spinNanoseconds: UInt64 = 2_000_000

    /// A team of `workers` threads besides the caller (at least 1).
    init(workers: Int) {
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(wake, nil)
        for _ in 0 ..< max(1, workers) {
            var thread = pthread_t()
            let context = Unmanaged.passUnretained(self).toOpaque()
            let created = pthread_create(&thread, nil, { context in
                Unmanaged<WorkerTeam>.fromOpaque(context!).takeUnretainedValue().work()
                return nil
            }, context)
            precondition(created == 0, "WorkerTeam: pthread_create failed (\(created))")
            threads.append(thread)
        }
    }

    deinit {
        stopping.store(true, ordering: .sequentiallyConsistent)
        pthread_mutex_lock(mutex)
        pthread_cond_broadcast(wake)
        pthread_mutex_unlock(mutex)
        for thread in threads { pthread_join(thread, nil) }
        pthread_cond_destroy(wake)
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
        wake.deallocate()
    }

    /// Calls `body(part)` for every part in 0 ..< parts (at most 65535), in parallel, and returns
    /// when all have returned.
    func run(parts: Int, _ body: Job) {
        precondition(parts >= 0 && parts <= 0xFFFF, "WorkerTeam: \(parts) parts")
        guard parts > 1, busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else {
            for part in 0 ..< parts { body(part) }
            return
        }
        withoutActuallyEscaping(body) { body in
            var current: Job = body
            withUnsafeMutablePointer(to: &current) { pointer in
                job = UnsafeRawPointer(pointer)
                finished.store(0, ordering: .relaxed)
                loop &+= 1
                state.store(UInt64(loop) << 32 | UInt64(parts) << 16, ordering: .sequentiallyConsistent)
                if sleepers.load(ordering: .sequentiallyConsistent) > 0 {
                    pthread_mutex_lock(mutex)
                    pthread_cond_broadcast(wake)
                    pthread_mutex_unlock(mutex)
                }
                runParts(of: loop)
                var spins = 0
                while finished.load(ordering: .acquiring) < parts {
                    // A worker descheduled in the middle of a part (more threads than cores) is
                    // waited for without taking its core.
                    spins += 1
                    if spins & 63 == 0 { sched_yield() } else { llama_convert_spin_pause() }
                }
                job = nil
            }
        }
        busy.store(false, ordering: .releasing)
    }

    /// Claims and runs parts of loop `number` until none is left.
    private func runParts(of number: UInt32) {
        var s = state.load(ordering: .acquiring)
        while UInt32(truncatingIfNeeded: s >> 32) == number {
            let parts = (s >> 16) & 0xFFFF, next = s & 0xFFFF
            guard next < parts else { return }
            let (claimed, seen) = state.compareExchange(expected: s, desired: s + 1, ordering: .acquiringAndReleasing)
            guard claimed else { s = seen; continue }
            job!.assumingMemoryBound(to: Job.self).pointee(Int(next))
            finished.add(1, ordering: .releasing)
            s = state.load(ordering: .acquiring)
        }
    }

    private func work() {
        var seen: UInt32 = 0
        while let number = nextLoop(after: seen) {
            seen = number
            runParts(of: number)
        }
    }

    /// Waits for a loop numbered other than `seen` (spinning, then asleep); nil when stopping.
    private func nextLoop(after seen: UInt32) -> UInt32? {
        var spins = 0, start: UInt64 = 0
        while true {
            if stopping.load(ordering: .acquiring) { return nil }
            let number = UInt32(truncatingIfNeeded: state.load(ordering: .acquiring) >> 32)
            if number != seen { return number }
            spins += 1
            if spins & 63 != 0 { llama_convert_spin_pause(); continue }
            // Every 64 spins the core is offered to any other thread that wants it: with more
            // threads than cores, a spinning worker would otherwise hold the core that a thread
            // with a part to finish is waiting for (4 threads on 2 cores: Q4_0 generation fell
            // from 17.5 to 9 tok/s without this).
            sched_yield()
            if start == 0 { start = Self.now() }
            if Self.now() &- start < Self.spinNanoseconds { continue }
            pthread_mutex_lock(mutex)
            sleepers.add(1, ordering: .sequentiallyConsistent)
            while UInt32(truncatingIfNeeded: state.load(ordering: .sequentiallyConsistent) >> 32) == seen,
                  !stopping.load(ordering: .sequentiallyConsistent) {
                pthread_cond_wait(wake, mutex)
            }
            sleepers.subtract(1, ordering: .sequentiallyConsistent)
            pthread_mutex_unlock(mutex)
            spins = 0
            start = 0
        }
    }

    private static func now() -> UInt64 {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return UInt64(t.tv_sec) &* 1_000_000_000 &+ UInt64(t.tv_nsec)
    }
}
