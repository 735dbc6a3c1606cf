import Synchronization

/// The per-agent sequence high-water marks, mirrored in memory from the store.
///
/// The store is the authority (it moves the mark in the same transaction as the batch's data); this copy only lets
/// the receiver answer an obvious duplicate without touching partitions, and hands out sequences to ingest producers
/// that send none.
final class Deduper: Sendable {
    private let marks: Mutex<[String: Int64]>

    init(highWaterMarks: [String: Int64]) {
        marks = Mutex(highWaterMarks)
    }

    func highWaterMark(of agentID: String) -> Int64 { marks.withLock { $0[agentID] ?? -1 } }

    /// Records the store's answer (never moves the mark backwards).
    func record(_ agentID: String, highWaterMark: Int64) {
        marks.withLock { $0[agentID] = max($0[agentID] ?? -1, highWaterMark) }
    }

    /// The next sequence for a producer that sends none. Only safe under that producer's `KeyedLock`.
    func nextSequence(for agentID: String) -> Int64 { highWaterMark(of: agentID) + 1 }

    var agentCount: Int { marks.withLock { $0.count } }
}

/// A FIFO async lock per key: one agent's batches are applied one at a time, in arrival order, so a retry racing its
/// original cannot both pass the high-water mark, and producer sequences are applied in the order they were handed out.
actor KeyedLock {
    private var holders: [String: [CheckedContinuation<Void, Never>]] = [:]

    func lock(_ key: String) async {
        if holders[key] == nil {
            holders[key] = []
            return
        }
        await withCheckedContinuation { holders[key, default: []].append($0) }
    }

    func unlock(_ key: String) {
        guard var waiters = holders[key] else { return }
        if waiters.isEmpty {
            holders[key] = nil
        } else {
            let next = waiters.removeFirst()
            holders[key] = waiters
            next.resume()
        }
    }

    func withLock<T: Sendable>(_ key: String, _ body: @Sendable () async throws -> T) async rethrows -> T {
        await lock(key)
        do {
            let value = try await body()
            unlock(key)
            return value
        } catch {
            unlock(key)
            throw error
        }
    }
}
