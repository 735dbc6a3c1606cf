// Runs blocking C calls (libpq, sqlite3, libcurl) off Swift's cooperative thread pool.
import Dispatch
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Runs synchronous, blocking work on dedicated threads and resumes the awaiting caller when it is done.
///
/// libpq, sqlite3 and libcurl block (network round trips, fsync, lock waits). On a cooperative thread (two on the
/// target machine) that would stall every other task while one request waits. A Dispatch queue is no way out on
/// Linux: libdispatch shares about one thread per core with Swift's executor and adds more only after a one-second
/// stall (measured: two blocked items on a concurrent queue froze every `Task.sleep` on 2 cores). Own threads (at most
/// `maxThreads`, started on demand, FIFO) wait without taking a core from anyone.
public final class BlockingThreadPool: Sendable {
    private let workers: Workers

    /// - Parameter maxThreads: at most this many jobs run at once; more wait in FIFO order.
    public init(maxThreads: Int) {
        workers = Workers(maxThreads: max(maxThreads, 1))
    }

    /// Lets idle threads exit once the pool is gone; jobs already queued still run first.
    deinit { workers.shutDown() }

    public func run<T: Sendable, E: Error>(_ work: @escaping @Sendable () throws(E) -> T) async throws(E) -> T {
        let result: Result<T, E> = await withCheckedContinuation { continuation in
            workers.submit {
                continuation.resume(returning: Result { () throws(E) -> T in try work() })
            }
        }
        return try result.get()
    }

    /// Queues `job` without waiting for it (for callers that resume their own continuation, e.g. cancellable ones).
    public func submit(_ job: @escaping @Sendable () -> Void) {
        workers.submit(job)
    }
}

/// The threads and their FIFO job queue, kept apart from `BlockingThreadPool` so running threads do not keep it alive.
///
/// One semaphore signal per submitted job and one per thread at shutdown: a woken thread takes the oldest job, and a
/// thread that wakes to an empty queue was woken by shutdown and exits.
private final class Workers: Sendable {
    typealias Job = @Sendable () -> Void

    private struct State {
        var jobs: [Job] = []
        var threads = 0
        var running = 0
    }

    let maxThreads: Int
    private let state = Mutex(State())
    private let wakeups = DispatchSemaphore(value: 0)

    init(maxThreads: Int) {
        self.maxThreads = maxThreads
    }

    func submit(_ job: @escaping Job) {
        let spawn = state.withLock { s -> Bool in
            s.jobs.append(job)
            // Start a thread only when every existing one has work: idle ones are (or will be) waiting for a signal.
            guard s.threads < maxThreads, s.jobs.count + s.running > s.threads else { return false }
            s.threads += 1
            return true
        }
        if spawn && !startThread() {
            // No thread could be created (resource exhaustion): run the job here rather than lose it.
            state.withLock { $0.threads -= 1 }
            runNextJob()
            return
        }
        wakeups.signal()
    }

    func shutDown() {
        let threads = state.withLock { $0.threads }
        for _ in 0..<threads { wakeups.signal() }
    }

    private func workLoop() {
        while true {
            wakeups.wait()
            guard runNextJob() else { break }
        }
        state.withLock { $0.threads -= 1 }
    }

    /// Runs the oldest queued job; false when there was none (a shutdown wake-up).
    @discardableResult
    private func runNextJob() -> Bool {
        let job = state.withLock { s -> Job? in
            guard !s.jobs.isEmpty else { return nil }
            s.running += 1
            return s.jobs.removeFirst()
        }
        guard let job else { return false }
        job()
        state.withLock { $0.running -= 1 }
        return true
    }

    private func startThread() -> Bool {
        let context = Unmanaged.passRetained(self).toOpaque()
        #if canImport(Glibc)
            var thread = pthread_t()
        #else
            var thread: pthread_t?
        #endif
        let rc = pthread_create(
            &thread, nil,
            { context in
                #if canImport(Glibc)
                    guard let context else { return nil }
                #endif
                Unmanaged<Workers>.fromOpaque(context).takeRetainedValue().workLoop()
                return nil
            }, context)
        guard rc == 0 else {
            Unmanaged<Workers>.fromOpaque(context).release()
            return false
        }
        #if canImport(Glibc)
            pthread_detach(thread)
        #else
            if let thread { pthread_detach(thread) }
        #endif
        return true
    }
}
