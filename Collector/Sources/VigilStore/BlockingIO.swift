// Vigil collector store: runs the blocking libpq/sqlite3 calls off Swift's cooperative thread pool.
import VigilConcurrency

/// Runs synchronous database work on dedicated threads and resumes the caller when it is done.
///
/// libpq and sqlite3 block (network round trips, fsync, lock waits). On a cooperative thread (two on the target
/// machine) that would stall every other task — HTTP handlers, scorers — while a batch commits. A Dispatch queue is no
/// way out on Linux: libdispatch shares about one thread per core with Swift's executor and adds more only after a
/// one-second stall (measured: two blocked items on a concurrent queue froze every `Task.sleep` on 2 cores). Own
/// threads (at most `threads`, started on demand, FIFO) wait without taking a core from anyone. A transaction stays
/// synchronous from BEGIN to COMMIT, so it never spans an `await` and its locks are held by a running thread.
final class BlockingIO: Sendable {
    private let pool: BlockingThreadPool

    /// - Parameter threads: at most this many jobs run at once; `1` is a single FIFO writer (SQLite), the pool size
    ///   for PostgreSQL (whose pool already bounds concurrent jobs to its connection count).
    init(threads: Int) {
        pool = BlockingThreadPool(maxThreads: threads)
    }

    func run<T: Sendable>(_ work: @escaping @Sendable () throws(StoreError) -> T) async throws(StoreError) -> T {
        try await pool.run(work)
    }
}
