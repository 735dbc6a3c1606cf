import Foundation
import Metrics
import Synchronization
import VigilDetection
import VigilStore
import VigilTelemetry

/// Symbols map to partitions by a stable hash (FNV-1a 64 of the UTF-8 symbol), so a symbol always lands in the same
/// partition, across restarts and on every collector with the same partition count.
public enum PartitionHash {
    public static func partition(of symbol: String, count: Int) -> Int {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in symbol.utf8 {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01b3
        }
        return Int(hash % UInt64(max(count, 1)))
    }
}

/// What one request hands to one partition: the series (and the agent's detections) of the symbols it owns.
struct PartitionWork: Sendable {
    var agentID: String
    var series: [SeriesPart] = []
    var detections: [StoredDetection] = []
    /// Score the bars with Tier-1 here (bars from `/v1/ingest`; agents already did it at the edge).
    var scoreTier1: Bool
    /// Trace/span the Tier-1 detections made here are attributed to (the collector's detect span).
    var detectSpan: SpanContext?
    /// Compute Tier-2 feature rows for the new bars.
    var computeFeatures = false
    /// Stored history of series this partition had no state for (`Partition.coldSeries`), oldest first.
    var history: [Partition.SeriesKey: [StoredBar]] = [:]
}

/// What a partition returns: silver rows, the alerts its episodes raised or grew, and the market tallies.
struct PartitionResult: Sendable {
    var bars: [StoredBar] = []
    var detections: [StoredDetection] = []
    var alerts: [StoredAlert] = []
    var tallies: [Int64: MarketTally] = [:]
    /// Tier-2 features of the new bars (per-symbol part; the pipeline adds the cross-section).
    var features = FeatureBatch()
    /// Stored bars replayed to rebuild cold series' state.
    var warmedBars = 0
}

/// The recent bars of one series (the feature window), a fixed-capacity ring.
///
/// A class so the cache holds it by reference; it is only ever touched by the one partition that owns its symbol
/// (the stable hash), which serialises all access, hence `@unchecked Sendable`.
final class BarWindow: @unchecked Sendable {
    struct Entry {
        var timestamp: Int64
        var open, high, low, close, volume: Double
    }

    private var ring: [Entry]
    private var next = 0
    private(set) var count = 0
    let capacity: Int

    init(capacity: Int) {
        self.capacity = max(1, capacity)
        ring = []
        ring.reserveCapacity(self.capacity)
    }

    /// Bytes the window holds at capacity (what the cache charges for it).
    var cost: Int { capacity * MemoryLayout<Entry>.stride + 64 }

    func append(_ bar: Bar) {
        let entry = Entry(timestamp: bar.timestamp, open: bar.open, high: bar.high, low: bar.low, close: bar.close, volume: bar.volume)
        if ring.count < capacity {
            ring.append(entry)
        } else {
            ring[next] = entry
        }
        next = (next + 1) % capacity
        count = min(count + 1, capacity)
    }

    /// Oldest first.
    var entries: [Entry] {
        guard ring.count == capacity else { return ring }
        return Array(ring[next...] + ring[..<next])
    }

    var newestTimestamp: Int64? { count == 0 ? nil : ring[(next - 1 + capacity) % capacity].timestamp }
}

/// Per-partition queue depth, readable without entering the partition (admission control).
final class QueueDepth: Sendable {
    private let value = Atomic<Int>(0)
    let gauge: Metrics.Gauge

    init(partition: Int) {
        gauge = Metrics.Gauge(label: MetricName.collectorPartitionQueueDepth, dimensions: [("partition", "\(partition)")])
        gauge.record(0)
    }

    var current: Int { value.load(ordering: .relaxed) }

    func add(_ delta: Int) {
        let now = value.add(delta, ordering: .relaxed).newValue
        gauge.record(now)
    }
}

/// One partition: owns its symbols' Tier-1 state, feature windows and alert episodes. Being an actor it runs one
/// piece of work at a time, so per-symbol order holds without locks on the state.
actor Partition {
    struct SeriesKey: Hashable, Sendable {
        var symbol: String
        var interval: Int32
    }

    let index: Int
    let depth: QueueDepth
    private var detectors: [SeriesKey: SeriesDetector] = [:]
    private var detectorConfig: DetectorConfig
    private var tracker: EpisodeTracker
    /// Tier-2 episodes: their own alerts (keys `t2:…`), raised by the models' own thresholds.
    private var tier2Tracker: EpisodeTracker
    private var featureStates: [SeriesKey: SymbolFeatureState] = [:]
    private let tier2Metrics = Tier2ScoringMetrics()
    private let windows: ByteLRUCache<SeriesKey, BarWindow>
    private let barsPerSymbol: Int
    private let detectionCounter: [Counter]

    init(index: Int, detectorConfig: DetectorConfig, alerter: AlerterConfiguration, windows: ByteLRUCache<SeriesKey, BarWindow>, barsPerSymbol: Int) {
        self.index = index
        self.depth = QueueDepth(partition: index)
        self.detectorConfig = detectorConfig
        self.tracker = EpisodeTracker(configuration: alerter)
        var tier2Alerter = alerter
        tier2Alerter.minAnomalyScore = 0
        self.tier2Tracker = EpisodeTracker(configuration: tier2Alerter, keyPrefix: "t2:")
        self.windows = windows
        self.barsPerSymbol = barsPerSymbol
        detectionCounter = DetectorKind.allCases.map {
            Counter(label: MetricName.collectorDetections, dimensions: [("tier", "1"), ("detector", $0.rawValue)])
        }
    }

    var openEpisodes: Int { tracker.openEpisodes }

    func window(symbol: String, interval: Int32) -> [BarWindow.Entry] {
        windows.get(SeriesKey(symbol: symbol, interval: interval))?.entries ?? []
    }

    /// The series of `work` whose Tier-1 detector (ingested bars) or feature state (Tier-2) this partition does not
    /// have — after a restart, or for a symbol never seen — each with its first bar time in the request. Those dictionaries
    /// are never evicted, so in steady state this asks the store for nothing.
    func coldSeries(_ work: PartitionWork) -> [(key: SeriesKey, before: Int64)] {
        guard work.scoreTier1 || work.computeFeatures else { return [] }
        return work.series.compactMap { part in
            let key = SeriesKey(symbol: part.symbol, interval: part.intervalSeconds)
            let cold = (work.scoreTier1 && detectors[key] == nil) || (work.computeFeatures && featureStates[key] == nil)
            guard cold, let first = part.bars.lazy.map(\.timestamp).min() else { return nil }
            return (key, first)
        }
    }

    /// Rebuilds the missing state of one series from its stored history, so its first new bars are scored as if the
    /// collector had never stopped (the feature state looks back 21 bars, so it comes back exactly). State that exists
    /// already — another request for the symbol got here first — is left alone. Returns the bars replayed.
    private func warm(_ key: SeriesKey, from history: [StoredBar], work: PartitionWork) -> Int {
        let needsDetector = work.scoreTier1 && detectors[key] == nil
        let needsFeatures = work.computeFeatures && featureStates[key] == nil
        guard needsDetector || needsFeatures, !history.isEmpty else { return 0 }
        let window = windows.get(key) == nil ? BarWindow(capacity: barsPerSymbol) : nil
        var detector = needsDetector ? SeriesDetector(config: detectorConfig) : nil
        var features = needsFeatures ? SymbolFeatureState() : nil
        var row = [Double](repeating: 0, count: FeatureSet.count)
        var newest = Int64.min
        var replayed = 0
        for stored in history where stored.timestamp > newest {
            newest = stored.timestamp
            let bar = Bar(
                symbol: stored.symbol, timestamp: stored.timestamp, intervalSeconds: stored.intervalSeconds, open: stored.open,
                high: stored.high, low: stored.low, close: stored.close, volume: stored.volume)
            window?.append(bar)
            _ = detector?.update(bar)
            features?.update(bar, tier1Score: 0, into: &row)
            replayed += 1
        }
        if let window { windows.put(key, window, cost: window.cost) }
        if let detector { detectors[key] = detector }
        if let features { featureStates[key] = features }
        return replayed
    }

    func process(_ work: PartitionWork) -> PartitionResult {
        var result = PartitionResult()
        result.bars.reserveCapacity(work.series.reduce(0) { $0 + $1.bars.count })
        var detectionsBySymbol: [String: [StoredDetection]] = [:]
        for detection in work.detections { detectionsBySymbol[detection.symbol, default: []].append(detection) }

        var timestampsBySymbol: [String: (interval: Int32, timestamps: [Int64])] = [:]
        // One scratch row for the whole request; the batch copies it into its column.
        var row: [Double] = []
        for part in work.series {
            let key = SeriesKey(symbol: part.symbol, interval: part.intervalSeconds)
            if let history = work.history[key] { result.warmedBars += warm(key, from: history, work: work) }
            let window: BarWindow
            if let cached = windows.get(key) {
                window = cached
            } else {
                window = BarWindow(capacity: barsPerSymbol)
                windows.put(key, window, cost: window.cost)
            }
            var timestamps = timestampsBySymbol[part.symbol]?.timestamps ?? []
            timestamps.reserveCapacity(timestamps.count + part.bars.count)
            var detector = work.scoreTier1 ? detectors[key] ?? SeriesDetector(config: detectorConfig) : nil
            var features = work.computeFeatures ? featureStates[key] ?? SymbolFeatureState() : nil
            if features != nil && row.isEmpty { row = [Double](repeating: 0, count: FeatureSet.count) }
            for (barIndex, bar) in part.bars.enumerated() {
                // Every bar is stored (a batch retried after a failed store must store all of it again), but a bar at
                // or before the window's newest one (redelivery, overlap) must not advance the window, Tier-1 or the
                // market tally twice.
                result.bars.append(
                    StoredBar(
                        symbol: bar.symbol, intervalSeconds: bar.intervalSeconds, timestamp: bar.timestamp, open: bar.open, high: bar.high,
                        low: bar.low, close: bar.close, volume: bar.volume, feed: part.feed, agentID: work.agentID))
                if let newest = window.newestTimestamp, bar.timestamp <= newest { continue }
                window.append(bar)
                timestamps.append(bar.timestamp)
                result.tallies[bar.timestamp, default: MarketTally(symbolsSeen: 0, flagged: [])].symbolsSeen += 1
                var tier1Score = barIndex < part.anomalyScores.count ? Double(part.anomalyScores[barIndex]) : 0
                let score = detector?.update(bar)
                if let score { tier1Score = score.anomalyScore }
                if features != nil {
                    features?.update(bar, tier1Score: tier1Score, into: &row)
                    result.features.append(symbol: bar.symbol, interval: bar.intervalSeconds, timestamp: bar.timestamp, values: row)
                }
                if let score, score.isAlert {
                    for detection in score.detections(symbol: bar.symbol, timestamp: bar.timestamp) {
                        detectionsBySymbol[bar.symbol, default: []].append(
                            StoredDetection(
                                symbol: bar.symbol, timestamp: bar.timestamp, tier: 1, detector: detection.detector.rawValue,
                                score: detection.statistic, severity: detection.severity.name, anomalyScore: score.anomalyScore,
                                featuresJSON: FeatureJSON.encode(detection.features.map { ($0.name, $0.value) }),
                                traceID: work.detectSpan?.traceIDHex, spanID: work.detectSpan?.spanIDHex))
                        detectionCounter[detection.detector.index].increment()
                    }
                }
            }
            if let detector { detectors[key] = detector }
            if let features { featureStates[key] = features }
            timestampsBySymbol[part.symbol] = (part.intervalSeconds, timestamps)
        }

        for (symbol, detections) in detectionsBySymbol {
            result.detections += detections
            // The strongest detection per bar time is what the market-wide tally sees for this symbol.
            var strongest: [Int64: StoredDetection] = [:]
            for detection in detections where (strongest[detection.timestamp]?.strength ?? -1) < detection.strength {
                strongest[detection.timestamp] = detection
            }
            for (timestamp, detection) in strongest {
                result.tallies[timestamp, default: MarketTally(symbolsSeen: 0, flagged: [])].flagged.append(
                    FlaggedSymbol(
                        symbol: symbol, score: detection.strength, traceID: detection.traceID, spanID: detection.spanID,
                        detector: detection.detector))
            }
        }
        let symbols = Set(timestampsBySymbol.keys).union(detectionsBySymbol.keys)
        for symbol in symbols.sorted() {
            let seen = timestampsBySymbol[symbol]
            result.alerts += tracker.observe(
                symbol: symbol, intervalSeconds: seen?.interval ?? 0, barTimestamps: seen?.timestamps ?? [],
                detections: detectionsBySymbol[symbol] ?? [])
        }
        return result
    }

    /// Tier-2: scores this partition's rows (cross-section complete) with the champions and, in shadow, the
    /// challengers; champions' flags become tier-2 detections and episode alerts, explained by the features that
    /// pushed the score most, and carry the trace of the request that brought the bars.
    func score(_ rows: FeatureBatch, models: Tier2Models.Active, traceID: String?, spanID: String?) -> PartitionResult {
        var result = PartitionResult()
        result.features = rows
        guard !rows.isEmpty, !models.isEmpty else { return result }
        let kinds = ModelKind.all.count
        let started = ContinuousClock.now
        var detectionsBySymbol: [String: [StoredDetection]] = [:]
        for (role, loaded) in models.champions.map({ ("champion", $0) }) + models.challengers.map({ ("challenger", $0) }) {
            let scores = loaded.model.scores(rows.values)
            // The champions' scores stay with the rows (the feature store keeps them for `GET /v1/scores`).
            if role == "champion", let column = ModelKind.all.firstIndex(of: loaded.kind) {
                for i in scores.indices { result.features.scores[i * kinds + column] = scores[i] }
            }
            var flags = 0
            for (i, score) in scores.enumerated() where score.isFinite && score >= loaded.threshold {
                flags += 1
                guard role == "champion" else { continue }
                let values = rows.row(i)
                let contributions = loaded.model.contributions(values)
                let top = contributions.indices.filter { contributions[$0].isFinite }.sorted { contributions[$0] > contributions[$1] }.prefix(3)
                let explanation = top.map { (FeatureSet.names[$0], (values[$0] * 1000).rounded() / 1000) }
                // Above the threshold is a warning; halfway from it to certainty, critical.
                let severity = score >= (1 + loaded.threshold) / 2 ? "critical" : "warning"
                detectionsBySymbol[rows.symbols[i], default: []].append(
                    StoredDetection(
                        symbol: rows.symbols[i], timestamp: rows.timestamps[i], tier: 2, detector: loaded.kind, score: score, severity: severity,
                        anomalyScore: score, featuresJSON: FeatureJSON.encode(explanation), traceID: traceID, spanID: spanID))
            }
            tier2Metrics.record(kind: loaded.kind, role: role, scored: rows.count, flagged: flags)
        }
        var timestamps: [String: (Int32, [Int64])] = [:]
        for i in 0..<rows.count { timestamps[rows.symbols[i], default: (rows.intervals[i], [])].1.append(rows.timestamps[i]) }
        for symbol in timestamps.keys.sorted() {
            let detections = detectionsBySymbol[symbol] ?? []
            result.detections += detections
            guard let (interval, times) = timestamps[symbol] else { continue }
            result.alerts += tier2Tracker.observe(symbol: symbol, intervalSeconds: interval, barTimestamps: times, detections: detections)
        }
        let (seconds, attoseconds) = (ContinuousClock.now - started).components
        tier2Metrics.duration.recordNanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
        return result
    }

    func reconfigure(_ config: DetectorConfig) {
        detectorConfig = config
        for key in detectors.keys { detectors[key]?.reconfigure(config) }
    }
}

extension StoredDetection {
    /// 0...1: the combined anomaly score when the detector sent one, else its own score squashed the same way.
    var strength: Double {
        if let anomalyScore, anomalyScore.isFinite { return min(max(anomalyScore, 0), 1) }
        let e = abs(score)
        return e.isFinite ? e * e / (1 + e * e) : 1
    }
}

extension DetectorKind {
    var index: Int { DetectorKind.allCases.firstIndex(of: self) ?? 0 }
}

/// Tier-2 scoring instruments (bounded labels: two kinds × two roles).
struct Tier2ScoringMetrics: Sendable {
    let duration = Metrics.Timer(label: MetricName.collectorTier2ScoreDuration)
    private let scored: [String: Counter]
    private let flagged: [String: Counter]

    init() {
        var scored: [String: Counter] = [:]
        var flagged: [String: Counter] = [:]
        for kind in ModelKind.all {
            for role in ["champion", "challenger"] {
                let dimensions = [("kind", kind), ("role", role)]
                scored[kind + role] = Counter(label: MetricName.collectorTier2ScoredBars, dimensions: dimensions)
                flagged[kind + role] = Counter(label: MetricName.collectorTier2Flags, dimensions: dimensions)
            }
        }
        self.scored = scored
        self.flagged = flagged
    }

    func record(kind: String, role: String, scored count: Int, flagged flags: Int) {
        scored[kind + role]?.increment(by: count)
        if flags > 0 { flagged[kind + role]?.increment(by: flags) }
    }
}
