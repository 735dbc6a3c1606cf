// Vigil collector store: runs the blocking libpq/sqlite3 calls off Swift's cooperative thread pool.
import Dispatch

/// Runs synchronous database work on a Dispatch queue and resumes the caller when it is done.
///
/// libpq and sqlite3 block (network round trips, fsync, lock waits). Run directly from an async function they would
/// park one of the few cooperative threads (two on the target machine) and stall every other task in the process —
/// HTTP handlers, scorers — while a batch commits. The work itself stays synchronous from BEGIN to COMMIT, so a
/// transaction never spans an `await` and its locks are always held by a running thread.
struct BlockingIO: Sendable {
    private let queue: DispatchQueue

    /// - Parameter concurrent: `false` for a single writer (SQLite), `true` to let each caller use its own connection.
    init(label: String, concurrent: Bool) {
        queue = DispatchQueue(label: label, attributes: concurrent ? [.concurrent] : [])
    }

    func run<T: Sendable>(_ work: @escaping @Sendable () throws(StoreError) -> T) async throws(StoreError) -> T {
        let result: Result<T, StoreError> = await withCheckedContinuation { continuation in
            queue.async {
                continuation.resume(returning: Result { () throws(StoreError) -> T in try work() })
            }
        }
        return try result.get()
    }
}
