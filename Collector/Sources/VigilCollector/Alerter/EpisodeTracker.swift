// Vigil collector alerter: per-symbol episodes. A run of flagged bars (with short quiet stretches) becomes one alert
// that is upserted by key as the run grows.

import Foundation
import VigilStore

/// Turns one partition's detections into episode alerts.
///
/// Not thread-safe: each partition actor owns one tracker, so it is a value type mutated in place. Memory is O(1) per
/// series: its newest bar time, its quiet-bar count and at most one open episode, whose aggregates keep the top three
/// detectors rather than every detection. A closed episode's state is dropped at once.
///
/// Series are keyed by symbol *and* bar interval, so a daily and a one-minute series of the same symbol do not reject
/// each other's bars as redeliveries (alert keys stay `symbol:firstTimestamp`).
struct EpisodeTracker {
    private struct SeriesKey: Hashable {
        var symbol: String
        var intervalSeconds: Int32
    }

    private struct Series {
        /// Bar times at or before this were already observed; seeing them again is a redelivery.
        var newestBar = Int64.min
        /// Unflagged bars since the open episode's last flagged bar.
        var quietBars = 0
        var episode: Episode?
    }

    private let configuration: AlerterConfiguration
    private var series: [SeriesKey: Series] = [:]
    /// Series with an open episode.
    private(set) var openEpisodes = 0

    /// Prepended to alert keys, so another tier's tracker never updates this one's alerts.
    private let keyPrefix: String

    init(configuration: AlerterConfiguration, keyPrefix: String = "") {
        self.configuration = configuration
        self.keyPrefix = keyPrefix
    }

    /// One symbol's bars in this batch (bar times ascending, ms) and that symbol's detections in this batch (any tier,
    /// any order).
    ///
    /// A flagged bar is a bar time with at least one qualifying detection; detections at times missing from
    /// `barTimestamps` are flagged bars too. Times at or before the newest one already observed for the series are
    /// ignored, so a redelivered batch yields nothing and quiet bars are not counted twice.
    ///
    /// - Returns: The alerts to upsert (new episodes and episodes that grew), at most one per episode touched, in the
    ///   order the episodes were closed (an episode still open comes last).
    mutating func observe(symbol: String, intervalSeconds: Int32, barTimestamps: [Int64], detections: [StoredDetection]) -> [StoredAlert] {
        guard !barTimestamps.isEmpty || !detections.isEmpty else { return [] }
        let key = SeriesKey(symbol: symbol, intervalSeconds: intervalSeconds)
        // Taken out of the dictionary so that mutating the episode's arrays does not copy them.
        var state = series.removeValue(forKey: key) ?? Series()
        defer { series[key] = state }

        let floor = state.newestBar
        let minimum = configuration.minAnomalyScore
        var flagged = detections.filter { $0.timestamp > floor && ($0.anomalyScore ?? $0.score) >= minimum }
        flagged.sort { $0.timestamp < $1.timestamp }
        let bars = Self.isAscending(barTimestamps) ? barTimestamps : barTimestamps.sorted()
        var barIndex = bars.firstIndex { $0 > floor } ?? bars.endIndex
        var detectionIndex = 0

        var alerts: [StoredAlert] = []
        var touched = false
        // Merge the bar times and the flagged detections' times, ascending, each time once.
        while barIndex < bars.endIndex || detectionIndex < flagged.endIndex {
            let time: Int64
            if detectionIndex < flagged.endIndex, barIndex == bars.endIndex || flagged[detectionIndex].timestamp <= bars[barIndex] {
                time = flagged[detectionIndex].timestamp
            } else {
                time = bars[barIndex]
            }
            while barIndex < bars.endIndex, bars[barIndex] <= time { barIndex += 1 }
            let first = detectionIndex
            while detectionIndex < flagged.endIndex, flagged[detectionIndex].timestamp == time { detectionIndex += 1 }
            state.newestBar = time

            if first < detectionIndex {
                if state.episode == nil {
                    state.episode = Episode(firstTimestamp: time)
                    openEpisodes += 1
                }
                state.episode?.add(barTime: time, detections: flagged[first..<detectionIndex])
                state.quietBars = 0
                touched = true
            } else if let episode = state.episode {
                state.quietBars += 1
                // Closed as soon as the gap is exceeded: any later flagged bar starts a new episode anyway.
                if state.quietBars > configuration.episodeGapBars {
                    if touched { alerts.append(episode.alert(symbol: symbol, intervalSeconds: intervalSeconds, keyPrefix: keyPrefix)) }
                    state.episode = nil
                    state.quietBars = 0
                    openEpisodes -= 1
                    touched = false
                }
            }
        }
        if touched, let episode = state.episode {
            alerts.append(episode.alert(symbol: symbol, intervalSeconds: intervalSeconds, keyPrefix: keyPrefix))
        }
        return alerts
    }

    private static func isAscending(_ times: [Int64]) -> Bool {
        zip(times, times.dropFirst()).allSatisfy { $0 <= $1 }
    }
}

// MARK: - Episode aggregates

/// The running aggregates of one open episode: constant size whatever its length.
private struct Episode {
    /// One detector's best detection in the episode, for `kind` and the explanation.
    struct Contributor {
        var detector: String
        /// Strength used for ranking: the magnitude of the statistic (a -9σ drop outranks a +4σ rise).
        var score: Double
        /// The statistic with its sign, as shown in the explanation.
        var signed: Double
        /// Kept unparsed: only rendered when an alert is built, for at most three contributors.
        var featuresJSON: String
    }

    static let maxContributors = 3
    static let severities = ["info", "warning", "critical"]

    let firstTimestamp: Int64
    var lastTimestamp: Int64
    var flaggedBars = 0
    var tier: Int32 = .min
    var severityRank = 0
    /// Max anomaly score in 0...1.
    var maxAnomaly = 0.0
    /// Distinct detectors by descending best score; at most `maxContributors`.
    var contributors: [Contributor] = []
    var traceID: String?
    var spanID: String?

    init(firstTimestamp: Int64) {
        self.firstTimestamp = firstTimestamp
        self.lastTimestamp = firstTimestamp
        contributors.reserveCapacity(Self.maxContributors + 1)
    }

    mutating func add(barTime: Int64, detections: ArraySlice<StoredDetection>) {
        lastTimestamp = barTime
        flaggedBars += 1
        var traced: StoredDetection?
        for detection in detections {
            tier = max(tier, detection.tier)
            severityRank = max(severityRank, Self.severities.firstIndex(of: detection.severity) ?? 0)
            maxAnomaly = max(maxAnomaly, Self.unit(detection.anomalyScore ?? detection.score))
            offer(detection)
            if detection.traceID != nil, traced.map({ Self.rank(detection) > Self.rank($0) }) ?? true { traced = detection }
        }
        // The first flagged bar names the trace; later bars only fill it in when none of the first bar's detections
        // carried one (the store keeps the trace of the first upsert).
        if traceID == nil, let traced {
            traceID = traced.traceID
            spanID = traced.spanID
        }
    }

    private mutating func offer(_ detection: StoredDetection) {
        let score = Self.rank(detection)
        if let index = contributors.firstIndex(where: { $0.detector == detection.detector }) {
            guard score > contributors[index].score else { return }
            contributors[index].score = score
            contributors[index].signed = detection.score
            contributors[index].featuresJSON = detection.featuresJSON
        } else {
            guard contributors.count < Self.maxContributors || score > contributors[contributors.count - 1].score else { return }
            contributors.append(
                Contributor(detector: detection.detector, score: score, signed: detection.score, featuresJSON: detection.featuresJSON))
        }
        // Stable for ties: the detector seen first stays ahead.
        var index = contributors.count - 1
        while index > 0, contributors[index].score > contributors[index - 1].score {
            contributors.swapAt(index, index - 1)
            index -= 1
        }
        if contributors.count > Self.maxContributors { contributors.removeLast() }
    }

    func alert(symbol: String, intervalSeconds: Int32, keyPrefix: String) -> StoredAlert {
        StoredAlert(
            // The interval keeps a daily and a one-minute episode of one symbol that start together apart.
            key: "\(keyPrefix)\(symbol):\(intervalSeconds):\(firstTimestamp)",
            symbol: symbol,
            firstTimestamp: firstTimestamp,
            lastTimestamp: lastTimestamp,
            tier: tier == .min ? 1 : tier,
            kind: contributors.first?.detector ?? "unknown",
            severity: Self.severities[severityRank],
            score: (maxAnomaly * 1000).rounded() / 10,
            explanation: explanation,
            traceID: traceID,
            spanID: spanID
        )
    }

    /// e.g. `3 flagged bars; volume_surge 6.20 (volume_ratio=6.2); zscore 4.10 (return=-0.12, z=4.1); tier 1`.
    var explanation: String {
        var parts = ["\(flaggedBars) flagged bar\(flaggedBars == 1 ? "" : "s")"]
        for contributor in contributors {
            var part = "\(contributor.detector) \(String(format: "%.2f", contributor.signed))"
            let features = Self.features(contributor.featuresJSON, limit: 2)
            if !features.isEmpty { part += " (\(features.joined(separator: ", ")))" }
            parts.append(part)
        }
        parts.append("tier \(tier == .min ? 1 : tier)")
        return parts.joined(separator: "; ")
    }

    /// Up to `limit` numeric features as `name=value`, by name so the text is stable; bad JSON yields none.
    static func features(_ json: String, limit: Int) -> [String] {
        guard let object = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any] else { return [] }
        var result: [String] = []
        for name in object.keys.sorted() {
            guard result.count < limit else { break }
            guard let number = object[name] as? NSNumber else { continue }
            result.append("\(name)=\(String(format: "%.4g", number.doubleValue))")
        }
        return result
    }

    /// A detection's ranking score, its magnitude; NaN ranks lowest instead of poisoning comparisons.
    static func rank(_ detection: StoredDetection) -> Double {
        detection.score.isNaN ? -.infinity : abs(detection.score)
    }

    /// Clamped to 0...1 (NaN counts as 0).
    static func unit(_ value: Double) -> Double {
        value.isNaN ? 0 : min(max(value, 0), 1)
    }
}
