// Vigil collector store: the blackhole (like Vector's `blackhole` sink) — for measuring the receive path only.
import Synchronization

/// Keeps the per-agent sequence high-water marks and counts in memory and stores nothing else.
///
/// It exists so that receive → decode → dedupe → partition can be measured with the real collector binary and a real
/// load generator, without a database in the way (issue 3 §11 a). Nothing survives a restart and queries return
/// empty pages: never use it for data you want to keep (the collector logs a warning when it starts on it).
///
/// The model registry is the exception: it is kept in memory with the same rules as the SQL stores (versions per kind,
/// one champion, promotion and rollback, digests), so a load test can run the Tier-2 scorer on a registered model.
/// Unlike them it does not check that parameters and metrics are JSON objects (no JSON parser here), and it forgets
/// everything at exit.
public final class BlackholeStore: BatchStore {
    private struct State {
        var marks: [String: Int64] = [:]
        var stats = StoreStats()
        var nextAlertID: Int64 = 1
        /// Registered models in registration order, artifacts included; `models[i].id == i + 1`.
        var models: [StoredModel] = []
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
    public func latestBars(symbol: String, intervalSeconds: Int32, before: Int64, limit: Int) async throws -> [StoredBar] { [] }

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

    public func labelledAlerts(after: Int64?, limit: Int) async throws -> [LabelledAlert] { [] }

    // MARK: Model registry (in memory)

    public func registerModel(_ model: StoredModel) async throws -> StoredModel {
        var stored = try model.prepareForRegistration()
        return try state.withLock { (s) throws(StoreError) -> StoredModel in
            if let parent = stored.parentID, Self.index(of: parent, in: s) == nil {
                throw StoreError(.notFound, "parent model \(parent) does not exist")
            }
            stored.id = Int64(s.models.count + 1)
            stored.version = (s.models.filter { $0.kind == stored.kind }.map(\.version).max() ?? 0) + 1
            if stored.status == .champion { Self.retireChampion(of: stored.kind, in: &s) }
            s.models.append(stored)
            return stored
        }
    }

    public func models(kind: String?, status: ModelStatus?, limit: Int) async throws -> [StoredModel] {
        state.withLock { s in
            s.models.reversed().lazy.filter { m in (kind.map { m.kind == $0 } ?? true) && (status.map { m.status == $0 } ?? true) }
                .prefix(clampedModelLimit(limit)).map { m in
                    var listed = m
                    listed.artifact = []
                    return listed
                }
        }
    }

    public func model(id: Int64) async throws -> StoredModel? {
        state.withLock { s in Self.index(of: id, in: s).map { s.models[$0] } }
    }

    public func champion(kind: String) async throws -> StoredModel? {
        state.withLock { s in s.models.first { $0.kind == kind && $0.status == .champion } }
    }

    public func promote(id: Int64, by: String, at: Int64) async throws -> StoredModel {
        try StoredModel.checkPromotion(by: by, at: at)
        var promoted = try state.withLock { (s) throws(StoreError) -> StoredModel in
            guard let index = Self.index(of: id, in: s) else { throw StoreError(.notFound, "model \(id) does not exist") }
            if s.models[index].status != .champion {
                Self.retireChampion(of: s.models[index].kind, in: &s)
                s.models[index].status = .champion
                s.models[index].promotedBy = by
                s.models[index].promotedAt = at
            }
            return s.models[index]
        }
        promoted.artifact = []
        return promoted
    }

    /// Ids are 1-based positions in `models`.
    private static func index(of id: Int64, in s: State) -> Int? {
        id >= 1 && id <= Int64(s.models.count) ? Int(id - 1) : nil
    }

    private static func retireChampion(of kind: String, in s: inout State) {
        for i in s.models.indices where s.models[i].kind == kind && s.models[i].status == .champion { s.models[i].status = .retired }
    }
}
