// Vigil collector Tier-2: the feature store — the features of recent bars, exactly as they were scored, kept for
// training (so a model is trained on what it will see, with no training/serving skew).

import Foundation
import Metrics
import Synchronization
import VigilDetection
import VigilTelemetry

/// Tier-2 feature rows, column-wise: one growing buffer per column rather than an array per bar, and the values
/// row-major so a model scores them as they are.
struct FeatureBatch: Sendable {
    var symbols: [String] = []
    var intervals: [Int32] = []
    var timestamps: [Int64] = []
    /// `FeatureSet.count` values per row, `FeatureSet.names` order.
    var values: [Double] = []
    /// The champions' live scores, `ModelKind.all` order per row (NaN: no champion of that kind scored the row).
    var scores: [Double] = []

    var count: Int { timestamps.count }
    var isEmpty: Bool { timestamps.isEmpty }

    mutating func append(symbol: String, interval: Int32, timestamp: Int64, values row: [Double]) {
        symbols.append(symbol)
        intervals.append(interval)
        timestamps.append(timestamp)
        values.append(contentsOf: row)
        for _ in ModelKind.all { scores.append(.nan) }
    }

    func row(_ i: Int) -> [Double] { Array(values[i * FeatureSet.count..<(i + 1) * FeatureSet.count]) }
}

/// A bounded ring of the most recent feature rows across all partitions (oldest overwritten), stored column-wise.
///
/// Appended once per request (one lock), read in full by a training run. Rows live in memory only: after a restart
/// training waits until enough new bars have arrived (`tier2.min_training_rows`).
final class FeatureStore: Sendable {
    struct Snapshot: Sendable {
        var symbols: [String] = []
        var intervals: [Int32] = []
        var timestamps: [Int64] = []
        /// Row-major, `FeatureSet.count` per row.
        var values: [Double] = []
        var count: Int { timestamps.count }
    }

    private struct State {
        var symbols: [String] = []
        var intervals: [Int32] = []
        var timestamps: [Int64] = []
        var values: [Double] = []
        var scores: [Double] = []
        var next = 0
    }

    let capacity: Int
    private let state = Mutex(State())
    private let gauge = Metrics.Gauge(label: MetricName.collectorFeatureStoreRows)

    init(capacity: Int) {
        self.capacity = max(1, capacity)
        gauge.record(0)
    }

    func append(_ batches: [FeatureBatch]) {
        guard batches.contains(where: { !$0.isEmpty }) else { return }
        let width = FeatureSet.count
        let kinds = ModelKind.all.count
        let capacity = capacity
        let count = state.withLock { state -> Int in
            for batch in batches {
                for i in 0..<batch.count {
                    let row = batch.values[i * width..<(i + 1) * width]
                    let scores = batch.scores[i * kinds..<(i + 1) * kinds]
                    if state.timestamps.count < capacity {
                        state.symbols.append(batch.symbols[i])
                        state.intervals.append(batch.intervals[i])
                        state.timestamps.append(batch.timestamps[i])
                        state.values.append(contentsOf: row)
                        state.scores.append(contentsOf: scores)
                    } else {
                        state.symbols[state.next] = batch.symbols[i]
                        state.intervals[state.next] = batch.intervals[i]
                        state.timestamps[state.next] = batch.timestamps[i]
                        state.values.replaceSubrange(state.next * width..<(state.next + 1) * width, with: row)
                        state.scores.replaceSubrange(state.next * kinds..<(state.next + 1) * kinds, with: scores)
                    }
                    state.next = (state.next + 1) % capacity
                }
            }
            return state.timestamps.count
        }
        gauge.record(count)
    }

    var count: Int { state.withLock { $0.timestamps.count } }

    /// One row's live scores, for `GET /v1/scores`.
    struct ScoredRow: Sendable {
        var symbol: String
        var interval: Int32
        var timestamp: Int64
        var tier1Score: Double
        /// `ModelKind.all` order; NaN where no champion of the kind scored the row.
        var scores: [Double]
    }

    /// Rows with `from ≤ time < to` (and `symbol`, when given) after `cursor` (time, symbol) in (time, symbol) order:
    /// what the champions made of each bar when it arrived. Memory only: as far back as the store's capacity reaches.
    func scored(symbol: String?, from: Int64, to: Int64, after cursor: (Int64, String)?, limit: Int) -> [ScoredRow] {
        let width = FeatureSet.count
        let kinds = ModelKind.all.count
        return state.withLock { state in
            var matching: [Int] = []
            for i in state.timestamps.indices {
                let t = state.timestamps[i]
                guard t >= from, t < to, symbol == nil || state.symbols[i] == symbol else { continue }
                if let (ct, cs) = cursor, (t, state.symbols[i]) <= (ct, cs) { continue }
                matching.append(i)
            }
            matching.sort {
                (state.timestamps[$0], state.symbols[$0], state.intervals[$0]) < (state.timestamps[$1], state.symbols[$1], state.intervals[$1])
            }
            return matching.prefix(limit).map { i in
                ScoredRow(
                    symbol: state.symbols[i], interval: state.intervals[i], timestamp: state.timestamps[i], tier1Score: state.values[i * width + 7],
                    scores: Array(state.scores[i * kinds..<(i + 1) * kinds]))
            }
        }
    }

    /// Every row, ordered by bar time (ties in arrival order).
    func snapshot() -> Snapshot {
        let width = FeatureSet.count
        let (symbols, intervals, timestamps, values, next) = state.withLock { ($0.symbols, $0.intervals, $0.timestamps, $0.values, $0.next) }
        let n = timestamps.count
        // Arrival order first (the ring starts at `next` once full), then a stable sort by bar time.
        let start = n == capacity ? next : 0
        var order = (0..<n).map { (start + $0) % max(n, 1) }
        order = order.enumerated().sorted { a, b in
            let (ta, tb) = (timestamps[a.element], timestamps[b.element])
            return ta != tb ? ta < tb : a.offset < b.offset
        }.map(\.element)
        var snapshot = Snapshot()
        snapshot.symbols.reserveCapacity(n)
        snapshot.intervals.reserveCapacity(n)
        snapshot.timestamps.reserveCapacity(n)
        snapshot.values.reserveCapacity(n * width)
        for i in order {
            snapshot.symbols.append(symbols[i])
            snapshot.intervals.append(intervals[i])
            snapshot.timestamps.append(timestamps[i])
            snapshot.values.append(contentsOf: values[i * width..<(i + 1) * width])
        }
        return snapshot
    }
}

/// The market's cross-section per bar time, across requests and partitions: the one-bar returns (and the other
/// `MarketSummary.columns`) of every symbol seen at that time so far. A row's cross-sectional features use what is
/// known when its request arrives (its own request's included), so they never wait for stragglers; with one batch per
/// bar time (one agent) they are exact. At most `maxTimes` bar times are remembered (the oldest are forgotten).
final class CrossSectionBoard: Sendable {
    private struct Key: Hashable {
        var interval: Int32
        var timestamp: Int64
    }

    private struct State {
        /// Per bar time, one sorted array per summary column.
        var columns: [Key: [[Double]]] = [:]
        var order: [Key] = []
        var head = 0
    }

    private let maxTimes: Int
    private let maxSymbols = 50_000
    private let state = Mutex(State())

    init(maxTimes: Int = 4_096) {
        self.maxTimes = max(1, maxTimes)
    }

    /// Adds the batches' values to their bar times and fills their cross-sectional features (the batches are the
    /// partitions' shares of one request; each keeps its rows).
    func complete(_ batches: inout [FeatureBatch]) {
        let width = FeatureSet.count
        var groups: [Key: [(batch: Int, row: Int)]] = [:]
        for (b, batch) in batches.enumerated() {
            for i in 0..<batch.count { groups[Key(interval: batch.intervals[i], timestamp: batch.timestamps[i]), default: []].append((b, i)) }
        }
        guard !groups.isEmpty else { return }
        let maxTimes = maxTimes
        let maxSymbols = maxSymbols
        let columns = MarketSummary.columns
        let summaries = state.withLock { state -> [Key: MarketSummary] in
            var summaries: [Key: MarketSummary] = [:]
            for (key, indices) in groups {
                var known: [[Double]]
                if let existing = state.columns.removeValue(forKey: key) {
                    known = existing
                } else {
                    known = [[Double]](repeating: [], count: columns.count)
                    state.order.append(key)
                }
                if known[0].count < maxSymbols {
                    for (c, column) in columns.enumerated() {
                        let old = known[c].count
                        known[c] += indices.map { batches[$0.batch].values[$0.row * width + column] }
                        // The known part is sorted already: sort the new values and merge (the market arrives one
                        // request at a time, so re-sorting everything per request would be quadratic in requests).
                        known[c][old...].sort()
                        Self.mergeSorted(&known[c], at: old)
                    }
                }
                summaries[key] = CrossSection.summary(sortedColumns: known)
                state.columns[key] = known
            }
            while state.order.count - state.head > maxTimes {
                state.columns.removeValue(forKey: state.order[state.head])
                state.head += 1
            }
            if state.head > 4 * maxTimes {
                state.order.removeFirst(state.head)
                state.head = 0
            }
            return summaries
        }
        for (key, indices) in groups {
            guard let market = summaries[key] else { continue }
            for (b, i) in indices { CrossSection.fill(&batches[b].values, row: i, market: market) }
        }
    }

    /// Merges the sorted runs `values[..<middle]` and `values[middle...]` in place (one buffer of the second run).
    static func mergeSorted(_ values: inout [Double], at middle: Int) {
        guard middle > 0, middle < values.count, values[middle - 1] > values[middle] else { return }
        let right = Array(values[middle...])
        var i = middle - 1
        var j = right.count - 1
        var k = values.count - 1
        while j >= 0 {
            if i >= 0 && values[i] > right[j] {
                values[k] = values[i]
                i -= 1
            } else {
                values[k] = right[j]
                j -= 1
            }
            k -= 1
        }
    }
}
