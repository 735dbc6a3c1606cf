// Vigil collector Tier-2: labelled anomalies injected into the stored bars, so the boosted trees learn the catalogue
// of anomaly shapes from thousands of examples instead of the few dozen an analyst or a labels file provides.

import VigilDetection
import VigilStore

/// Injected rows for one time slice of the feature store, with how much each row counts when a threshold is picked.
struct InjectedSet {
    var rows = InjectedRows()
    /// Per row: the injected anomaly it belongs to (positives) or nil (negatives).
    var windows: [Int?] = []
    var anomalies = 0
}

/// What injection needs from one training run's snapshot, built once for all the slices anomalies are injected into
/// (training, calibration, test): each series' feature rows (row index and Tier-1 score per bar time), the market per
/// bar time, and — read from the store the first time a slice needs them — the series' stored bars.
///
/// Used by one training run, in one task.
final class InjectionSource {
    struct SeriesKey: Hashable, Comparable {
        var symbol: String
        var interval: Int32
        static func < (a: Self, b: Self) -> Bool { (a.symbol, a.interval) < (b.symbol, b.interval) }
    }

    private let store: any BatchStore
    private static let pageSize = 10_000
    /// Per series, per bar time: the feature row and the bar's Tier-1 score.
    private var rows: [SeriesKey: [Int64: (row: Int, score: Double)]] = [:]
    /// Per series, its first feature row (a slice ending before it does not include the series).
    private var firstRow: [SeriesKey: Int] = [:]
    /// Series in (symbol, interval) order.
    private let keys: [SeriesKey]
    let markets: [Int32: [Int64: MarketSummary]]
    private let from: Int64
    private let to: Int64
    /// Each series' stored bars that have feature rows, over the whole snapshot, once read.
    private var bars: [SeriesKey: [Bar]] = [:]

    init(snapshot: FeatureStore.Snapshot, store: any BatchStore) {
        self.store = store
        let width = FeatureSet.count
        let cs = FeatureSet.crossSectionalStart
        let v = snapshot.values
        var markets: [Int32: [Int64: MarketSummary]] = [:]
        for i in 0..<snapshot.count {
            let base = i * width
            let key = SeriesKey(symbol: snapshot.symbols[i], interval: snapshot.intervals[i])
            let t = snapshot.timestamps[i]
            rows[key, default: [:]][t] = (i, v[base + 7])
            if firstRow[key] == nil { firstRow[key] = i }
            if markets[key.interval]?[t] == nil {
                // The row holds its feature and its market-relative value: their difference is the market's median.
                let medians = FeatureSet.relativeColumns.enumerated().map { k, column in v[base + column] - v[base + cs + 3 + k] }
                markets[key.interval, default: [:]][t] = MarketSummary(
                    median: v[base + FeatureSet.return1] - v[base + cs], breadth: v[base + cs + 1], medians: medians)
            }
        }
        self.markets = markets
        keys = rows.keys.sorted()
        from = snapshot.timestamps.first ?? 0
        to = snapshot.timestamps.last ?? 0
    }

    /// The series with feature rows before `end`, each with its bars and Tier-1 scores among those rows (at most
    /// `budget` series, spread evenly), and how many anomalies to inject into each so that `budget` holds.
    func slice(before end: Int, perSymbol: Int, budget: Int) async throws -> (
        series: [(key: SeriesKey, bars: [Bar], scores: [Double])], perSymbol: Int
    ) {
        let keys = keys.filter { (firstRow[$0] ?? end) < end }
        let step = max(1, (keys.count + budget - 1) / budget)
        let perSymbol = min(perSymbol, max(1, budget / max(1, (keys.count + step - 1) / step)))
        var series: [(key: SeriesKey, bars: [Bar], scores: [Double])] = []
        for key in stride(from: 0, to: keys.count, by: step).map({ keys[$0] }) {
            guard let rows = rows[key] else { continue }
            let all: [Bar]
            if let cached = bars[key] {
                all = cached
            } else {
                // Every stored bar of the range, page by page: the store may hold more of them than the feature store
                // kept (its ring forgets by arrival, not by bar time), so a limit sized by the rows would cut the series.
                var stored: [StoredBar] = []
                var pageFrom = from
                while true {
                    let page = try await store.bars(symbol: key.symbol, from: pageFrom, to: to + 1, limit: Self.pageSize)
                    stored += page
                    guard page.count == Self.pageSize, let last = page.last?.timestamp else { break }
                    pageFrom = last + 1
                }
                // Only the bars that have feature rows: their Tier-1 scores are known and the replay matches the store.
                all = stored.filter { $0.intervalSeconds == key.interval && rows[$0.timestamp] != nil }.map {
                    Bar(
                        symbol: $0.symbol, timestamp: $0.timestamp, intervalSeconds: $0.intervalSeconds, open: $0.open, high: $0.high,
                        low: $0.low, close: $0.close, volume: $0.volume)
                }
                bars[key] = all
            }
            let mine = all.filter { (rows[$0.timestamp]?.row ?? end) < end }
            series.append((key, mine, mine.map { rows[$0.timestamp]?.score ?? 0 }))
        }
        return (series, perSymbol)
    }
}

extension Tier2Runtime {
    /// Injects `perSymbol` anomalies into each symbol's stored bars at the times of the rows `range` of the snapshot
    /// behind `source` (at most `tier2.inject_max_anomalies` in all: fewer per symbol, and one symbol in so many, when
    /// there are many), clear of `avoid` (labelled windows per symbol). The bars before the range are replayed as
    /// history (warm-up), never injected into.
    func injected(
        source: InjectionSource, snapshot: FeatureStore.Snapshot, range: Range<Int>, avoid: [String: [ClosedRange<Int64>]], perSymbol: Int,
        seed: UInt64
    ) async throws -> InjectedSet {
        guard perSymbol > 0, !range.isEmpty else { return InjectedSet() }
        let injectFrom = snapshot.timestamps[range.lowerBound]
        let (allSeries, perSymbol) = try await source.slice(
            before: range.upperBound, perSymbol: perSymbol, budget: configuration.injectMaxAnomalies)
        let detectorConfig = detectorConfig
        let share = configuration.injectMarketWideShare
        let allMarkets = source.markets
        return try await pool.run {
            var set = InjectedSet()
            var rng = SeededGenerator(seed: seed)
            for s in allSeries {
                let before = set.rows.count
                AnomalyInjector.inject(
                    into: &set.rows, series: s.bars, tier1Scores: s.scores, count: perSymbol, from: injectFrom, detectorConfig: detectorConfig,
                    crossSection: allMarkets[s.key.interval] ?? [:], avoid: avoid[s.key.symbol] ?? [], marketWideShare: share, rng: &rng)
                // Number the positives of each injection (an injection's positive rows are consecutive).
                var anomaly = set.anomalies
                var previousPositive = false
                for r in before..<set.rows.count {
                    if set.rows.labels[r] {
                        if !previousPositive { anomaly += 1 }
                        set.windows.append(anomaly - 1)
                    } else {
                        set.windows.append(nil)
                    }
                    previousPositive = set.rows.labels[r]
                }
                set.anomalies = anomaly
            }
            return set
        }
    }
}

/// The decision threshold that maximises F1 as operators meet it — an anomaly counts as found when any of its bars is
/// flagged, precision is over flagged bars — with weighted rows (injected anomalies weigh what makes their share of
/// the rows `contamination`, so the threshold suits the real anomaly rate rather than the injected one).
enum EpisodeThreshold {
    struct Row {
        var score: Double
        /// The anomaly (window) the row belongs to, or nil for a normal row.
        var window: Int?
        var weight: Double
    }

    /// - Parameter windowWeights: each window's weight in the recall (its rows' weight).
    static func best(_ rows: [Row], windowWeights: [Double]) -> (threshold: Double, f1: Double)? {
        let totalWindows = windowWeights.reduce(0, +)
        guard totalWindows > 0 else { return nil }
        let order = rows.indices.filter { rows[$0].score.isFinite && rows[$0].weight > 0 }.sorted { rows[$0].score > rows[$1].score }
        var found = [Bool](repeating: false, count: windowWeights.count)
        var foundWeight = 0.0
        var truePositive = 0.0
        var flagged = 0.0
        var best: (threshold: Double, f1: Double) = (1, -1)
        var i = 0
        while i < order.count {
            let value = rows[order[i]].score
            while i < order.count && rows[order[i]].score == value {
                let row = rows[order[i]]
                flagged += row.weight
                if let w = row.window {
                    truePositive += row.weight
                    if !found[w] {
                        found[w] = true
                        foundWeight += windowWeights[w]
                    }
                }
                i += 1
            }
            let precision = truePositive / flagged
            let recall = foundWeight / totalWindows
            let f1 = precision + recall > 0 ? 2 * precision * recall / (precision + recall) : 0
            if f1 > best.f1 { best = (value, f1) }
        }
        return best.f1 >= 0 ? best : nil
    }
}
