// Vigil collector store: the blackhole (like Vector's `blackhole` sink) — for measuring the receive path only.
import Synchronization

/// Keeps the per-agent sequence high-water marks and counts in memory and stores nothing else.
///
/// It exists so that receive → decode → dedupe → partition can be measured with the real collector binary and a real
/// load generator, without a database in the way (issue 3 §11 a). Nothing survives a restart and queries return
/// empty pages: never use it for data you want to keep (the collector logs a warning when it starts on it).
public final class BlackholeStore: BatchStore {
    private struct State {
        var marks: [String: Int64] = [:]
        var stats = StoreStats()
        var nextAlertID: Int64 = 1
    }

    private let state = Mutex(State())

    public init() {}

    public var kind: String { "blackhole" }

    public func migrate() async throws {}

    public func apply(_ batch: StoredBatch) async throws -> ApplyOutcome {
        try batch.validate()
        return state.withLock { s in
            let mark = s.marks[batch.agentID] ?? -1
            guard batch.sequence > mark else {
                s.stats.duplicates += 1
                return .duplicate(highWaterMark: mark)
            }
            if s.marks[batch.agentID] == nil { s.stats.agents += 1 }
            s.marks[batch.agentID] = batch.sequence
            s.stats.batchesAccepted += 1
            s.stats.bars += Int64(batch.bars.count)
            s.stats.detections += Int64(batch.detections.count)
            return .accepted(highWaterMark: batch.sequence)
        }
    }

    public func recordRejection(_ rejection: RejectedBatch) async throws { state.withLock { $0.stats.rejected += 1 } }

    public func highWaterMarks() async throws -> [String: Int64] { state.withLock { $0.marks } }

    public func stats() async throws -> StoreStats { state.withLock { $0.stats } }

    public func bars(symbol: String, from: Int64, to: Int64, limit: Int) async throws -> [StoredBar] { [] }

    public func detections(_ query: DetectionQuery) async throws -> DetectionPage { DetectionPage(items: [], nextCursor: nil) }

    public func applyRetention(olderThan cutoff: Int64) async throws -> [String] { [] }

    public func close() async {}

    public func upsertAlerts(_ alerts: [StoredAlert]) async throws -> [Int64] {
        state.withLock { s in
            alerts.map { _ in
                defer { s.nextAlertID += 1 }
                return s.nextAlertID
            }
        }
    }

    public func alerts(_ query: AlertQuery) async throws -> AlertPage { AlertPage(items: [], nextCursor: nil) }

    public func alert(id: Int64) async throws -> StoredAlert? { nil }

    public func addFeedback(_ feedback: AlertFeedback) async throws -> AlertFeedback {
        throw StoreError(.notFound, "the blackhole store keeps no alerts")
    }

    public func feedback(alertID: Int64) async throws -> [AlertFeedback] { [] }
}
