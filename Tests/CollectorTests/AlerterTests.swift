// Tests for the collector's alerter: episode tracking per symbol and market-wide events.

import Foundation
import Testing
import VigilStore

@testable import VigilCollector

// MARK: - Helpers

private let minute: Int64 = 60_000

/// Bar times `0, 1, ... count-1` minutes after `start`.
private func bars(_ count: Int, from start: Int64 = 0) -> [Int64] {
    (0..<Int64(count)).map { start + $0 * minute }
}

private func detection(
    _ symbol: String = "AAPL",
    at bar: Int64,
    detector: String = "zscore",
    score: Double = 4,
    severity: String = "warning",
    anomalyScore: Double? = 0.8,
    tier: Int32 = 1,
    features: String = "{}",
    trace: String? = nil,
    span: String? = nil
) -> StoredDetection {
    StoredDetection(
        symbol: symbol, timestamp: bar * minute, tier: tier, detector: detector, score: score, severity: severity,
        anomalyScore: anomalyScore, featuresJSON: features, traceID: trace, spanID: span)
}

private func flagged(_ symbol: String, _ score: Double, trace: String? = nil) -> FlaggedSymbol {
    FlaggedSymbol(symbol: symbol, score: score, traceID: trace, spanID: trace.map { _ in "span-\(symbol)" }, detector: "zscore")
}

// MARK: - Configuration

@Suite struct AlerterConfigurationTests {
    @Test func defaultsAndPartialDecoding() throws {
        let defaults = AlerterConfiguration()
        #expect(defaults.episodeGapBars == 2)
        #expect(defaults.minAnomalyScore == 0)
        #expect(defaults.marketWideShare == 0.25)
        #expect(defaults.marketWideMinSymbols == 20)
        #expect(defaults.marketWideMaxIntervals == 100_000)
        #expect(defaults.validationProblems().isEmpty)

        let decoded = try JSONDecoder().decode(AlerterConfiguration.self, from: Data(#"{"episodeGapBars": 5, "marketWideShare": 0.5}"#.utf8))
        #expect(decoded == AlerterConfiguration(episodeGapBars: 5, marketWideShare: 0.5))
        let empty = try JSONDecoder().decode(AlerterConfiguration.self, from: Data("{}".utf8))
        #expect(empty == .default)
    }

    @Test func everyOutOfRangeValueIsReported() {
        let bad = AlerterConfiguration(
            episodeGapBars: -1, minAnomalyScore: .nan, marketWideShare: 0, marketWideMinSymbols: 0, marketWideMaxIntervals: 0)
        #expect(
            bad.validationProblems().map(\.path) == [
                "episode_gap_bars", "min_anomaly_score", "market_wide_share", "market_wide_min_symbols", "market_wide_max_intervals",
            ])
        #expect(AlerterConfiguration(marketWideShare: 1.5).validationProblems().map(\.path) == ["market_wide_share"])
    }
}

// MARK: - Episodes

@Suite struct EpisodeTrackerTests {
    @Test func consecutiveFlaggedBarsGrowOneAlertWithTheSameKey() throws {
        var tracker = EpisodeTracker(configuration: .default)
        let first = tracker.observe(symbol: "AAPL", intervalSeconds: 60, barTimestamps: bars(2), detections: [detection(at: 1)])
        #expect(first.count == 1)
        let alert = try #require(first.first)
        #expect(alert.key == "AAPL:60:\(1 * minute)")
        #expect(alert.symbol == "AAPL")
        #expect(alert.firstTimestamp == minute)
        #expect(alert.lastTimestamp == minute)
        #expect(tracker.openEpisodes == 1)

        let second = tracker.observe(
            symbol: "AAPL", intervalSeconds: 60, barTimestamps: bars(2, from: 2 * minute),
            detections: [detection(at: 2), detection(at: 3)])
        #expect(second.count == 1)
        #expect(second.first?.key == alert.key)
        #expect(second.first?.firstTimestamp == minute)
        #expect(second.first?.lastTimestamp == 3 * minute)
        #expect(second.first?.explanation.hasPrefix("3 flagged bars; ") == true)
        #expect(tracker.openEpisodes == 1)
    }

    @Test func aGapLongerThanTheConfiguredBarsSplitsEpisodes() {
        var tracker = EpisodeTracker(configuration: AlerterConfiguration(episodeGapBars: 2))
        // Flagged at 0, 3 (two quiet bars between: same episode), 7 (three quiet bars: a new one).
        let alerts = tracker.observe(
            symbol: "MSFT", intervalSeconds: 60, barTimestamps: bars(9),
            detections: [detection("MSFT", at: 0), detection("MSFT", at: 3), detection("MSFT", at: 7)])
        #expect(alerts.map(\.key) == ["MSFT:60:0", "MSFT:60:\(7 * minute)"])
        #expect(alerts.map(\.lastTimestamp) == [3 * minute, 7 * minute])
        #expect(alerts.first?.explanation.hasPrefix("2 flagged bars;") == true)
        #expect(tracker.openEpisodes == 1)

        // Quiet bars in a later batch close the open episode without a new alert; a flag after that starts anew.
        #expect(tracker.observe(symbol: "MSFT", intervalSeconds: 60, barTimestamps: bars(3, from: 9 * minute), detections: []).isEmpty)
        #expect(tracker.openEpisodes == 0)
        let later = tracker.observe(
            symbol: "MSFT", intervalSeconds: 60, barTimestamps: bars(1, from: 12 * minute), detections: [detection("MSFT", at: 12)])
        #expect(later.map(\.key) == ["MSFT:60:\(12 * minute)"])
    }

    @Test func quietBarsAcrossBatchesCountTowardTheGap() {
        var tracker = EpisodeTracker(configuration: AlerterConfiguration(episodeGapBars: 1))
        _ = tracker.observe(symbol: "X", intervalSeconds: 60, barTimestamps: bars(2), detections: [detection("X", at: 0)])
        // Bar 1 was quiet; bar 2 quiet too: the gap of 1 is exceeded before bar 3 is flagged.
        let alerts = tracker.observe(
            symbol: "X", intervalSeconds: 60, barTimestamps: bars(2, from: 2 * minute), detections: [detection("X", at: 3)])
        #expect(alerts.map(\.key) == ["X:60:\(3 * minute)"])
    }

    @Test func redeliveryReturnsNoAlertsAndDoesNotCountQuietBarsTwice() {
        var tracker = EpisodeTracker(configuration: AlerterConfiguration(episodeGapBars: 2))
        let batch = (bars: bars(3), detections: [detection(at: 0)])
        #expect(tracker.observe(symbol: "AAPL", intervalSeconds: 60, barTimestamps: batch.bars, detections: batch.detections).count == 1)
        #expect(tracker.observe(symbol: "AAPL", intervalSeconds: 60, barTimestamps: batch.bars, detections: batch.detections).isEmpty)
        #expect(tracker.observe(symbol: "AAPL", intervalSeconds: 60, barTimestamps: batch.bars, detections: batch.detections).isEmpty)
        // Two quiet bars so far (1, 2), counted once: a flag at bar 3 still extends the episode.
        let next = tracker.observe(symbol: "AAPL", intervalSeconds: 60, barTimestamps: [3 * minute], detections: [detection(at: 3)])
        #expect(next.map(\.key) == ["AAPL:60:0"])
        #expect(next.first?.lastTimestamp == 3 * minute)
    }

    @Test func scoreSeverityTierAndKindAggregateOverTheEpisode() throws {
        var tracker = EpisodeTracker(configuration: .default)
        let alerts = tracker.observe(
            symbol: "AAPL", intervalSeconds: 60, barTimestamps: bars(3),
            detections: [
                detection(at: 0, detector: "zscore", score: 4.1, severity: "warning", anomalyScore: 0.7),
                detection(at: 1, detector: "volume_surge", score: 6.2, severity: "critical", anomalyScore: 0.912, tier: 2),
                detection(at: 2, detector: "gap", score: 3.0, severity: "info", anomalyScore: nil),
            ])
        let alert = try #require(alerts.first)
        #expect(alerts.count == 1)
        #expect(alert.kind == "volume_surge")
        #expect(alert.severity == "critical")
        #expect(alert.tier == 2)
        // The gap detection carries no anomaly score: its score 3.0, clamped to 1, is the episode's maximum.
        #expect(alert.score == 100)
        let withoutFallback = EpisodeTracker.scoreOnly([
            detection(at: 0, anomalyScore: 0.7), detection(at: 1, anomalyScore: 0.9123),
        ])
        #expect(withoutFallback == 91.2)
    }

    @Test func explanationNamesTopThreeDetectorsWithFeatures() throws {
        var tracker = EpisodeTracker(configuration: .default)
        let alerts = tracker.observe(
            symbol: "AAPL", intervalSeconds: 60, barTimestamps: bars(3),
            detections: [
                detection(at: 0, detector: "zscore", score: 4.1, features: #"{"z": 4.1, "return": -0.12, "window": 20}"#),
                detection(at: 1, detector: "volume_surge", score: 6.2, features: #"{"volume_ratio": 6.2}"#),
                detection(at: 1, detector: "zscore", score: 3.0, features: #"{"z": 3.0}"#),
                detection(at: 2, detector: "ewma", score: 2.5, features: "not json"),
                detection(at: 2, detector: "gap", score: 1.5, features: #"{"gap": 0.05}"#),
            ])
        let alert = try #require(alerts.first)
        #expect(alert.explanation == "3 flagged bars; volume_surge 6.20 (volume_ratio=6.2); zscore 4.10 (return=-0.12, window=20); ewma 2.50; tier 1")
    }

    @Test func traceComesFromTheFirstFlaggedBarsBestTracedDetection() throws {
        var tracker = EpisodeTracker(configuration: .default)
        let alerts = tracker.observe(
            symbol: "AAPL", intervalSeconds: 60, barTimestamps: bars(2),
            detections: [
                detection(at: 0, score: 9, trace: nil),
                detection(at: 0, detector: "gap", score: 5, trace: "t-first-best", span: "s-first-best"),
                detection(at: 0, detector: "ewma", score: 2, trace: "t-first-low", span: "s-first-low"),
                detection(at: 1, detector: "cusum", score: 50, trace: "t-second", span: "s-second"),
            ])
        let alert = try #require(alerts.first)
        #expect(alert.traceID == "t-first-best")
        #expect(alert.spanID == "s-first-best")
        #expect(alert.kind == "cusum")
    }

    @Test func detectionsBelowTheMinimumAreIgnoredAndOffBarTimesStillCount() {
        var tracker = EpisodeTracker(configuration: AlerterConfiguration(minAnomalyScore: 0.5))
        // No bars given: the qualifying detection's time is a flagged bar on its own.
        let alerts = tracker.observe(
            symbol: "AAPL", intervalSeconds: 60, barTimestamps: [],
            detections: [detection(at: 0, anomalyScore: 0.2), detection(at: 4, anomalyScore: 0.6)])
        #expect(alerts.map(\.key) == ["AAPL:60:\(4 * minute)"])
        #expect(alerts.first?.score == 60)
    }

    @Test func seriesOfDifferentIntervalsAreTrackedApart() {
        var tracker = EpisodeTracker(configuration: .default)
        _ = tracker.observe(symbol: "AAPL", intervalSeconds: 60, barTimestamps: bars(10, from: 86_400_000), detections: [])
        // A daily bar at an earlier time is not a redelivery of the minute series.
        let daily = tracker.observe(symbol: "AAPL", intervalSeconds: 86_400, barTimestamps: [0], detections: [detection(at: 0)])
        #expect(daily.count == 1)
    }
}

extension EpisodeTracker {
    /// The score of the single alert a fresh tracker raises for `detections` on consecutive bars.
    fileprivate static func scoreOnly(_ detections: [StoredDetection]) -> Double? {
        var tracker = EpisodeTracker(configuration: .default)
        let times = Set(detections.map(\.timestamp)).sorted()
        return tracker.observe(symbol: "S", intervalSeconds: 60, barTimestamps: times, detections: detections).first?.score
    }
}

// MARK: - Market-wide

@Suite struct MarketWatchTests {
    @Test func crossesOnlyWithEnoughSymbolsAndShare() throws {
        let watch = MarketWatch(configuration: AlerterConfiguration(marketWideShare: 0.25, marketWideMinSymbols: 20))
        // 5 of 10 flagged: a high share, but too few symbols.
        #expect(watch.record([100: MarketTally(symbolsSeen: 10, flagged: (0..<5).map { flagged("S\($0)", 0.6) })]).isEmpty)
        // 4 of 20 at another time: enough symbols, share 0.2 < 0.25.
        #expect(watch.record([200: MarketTally(symbolsSeen: 20, flagged: (0..<4).map { flagged("T\($0)", 0.6) })]).isEmpty)
        // 10 more symbols at time 100, 1 flagged: 6 of 20 = 30%.
        let alerts = watch.record([100: MarketTally(symbolsSeen: 10, flagged: [flagged("AAPL", 0.99, trace: "trace-aapl")])])
        let alert = try #require(alerts.first)
        #expect(alerts.count == 1)
        #expect(alert.key == "ALL:100")
        #expect(alert.symbol == "ALL")
        #expect(alert.firstTimestamp == 100)
        #expect(alert.lastTimestamp == 100)
        #expect(alert.kind == "market_wide")
        #expect(alert.tier == 1)
        #expect(alert.severity == "warning")
        #expect(alert.score == 30)
        #expect(alert.traceID == "trace-aapl")
        #expect(alert.spanID == "span-AAPL")
        #expect(alert.explanation.hasPrefix("6 of 20 symbols flagged (30.0%); top: AAPL 0.99 (zscore), S0 0.60 (zscore)"))
    }

    @Test func updatesAfterCrossingAndKeepsTheTopFive() throws {
        let watch = MarketWatch(configuration: AlerterConfiguration(marketWideShare: 0.25, marketWideMinSymbols: 4))
        let first = watch.record([7: MarketTally(symbolsSeen: 4, flagged: [flagged("A", 0.5), flagged("B", 0.7)])])
        #expect(first.first?.severity == "critical")  // 50% ≥ 2 × 25%
        #expect(first.first?.score == 50)
        // More symbols, more flags: the same key comes back, updated.
        let second = watch.record([
            7: MarketTally(
                symbolsSeen: 6, flagged: [flagged("C", 0.9), flagged("D", 0.6), flagged("E", 0.8), flagged("F", 0.55)])
        ])
        let alert = try #require(second.first)
        #expect(alert.key == "ALL:7")
        #expect(alert.severity == "critical")
        #expect(alert.score == 60)
        #expect(alert.explanation.contains("top: C 0.90 (zscore), E 0.80 (zscore), B 0.70 (zscore), D 0.60 (zscore), F 0.55 (zscore)"))
        #expect(!alert.explanation.contains("A 0.50"))
        // A tally that changes nothing at that time (no symbols) returns nothing.
        #expect(watch.record([7: MarketTally(symbolsSeen: 0, flagged: [])]).isEmpty)
        // A change that lowers the share still updates the alert it already raised.
        let diluted = watch.record([7: MarketTally(symbolsSeen: 20, flagged: [])])
        #expect(diluted.first?.score == 20)
        #expect(diluted.first?.severity == "warning")
    }

    @Test func forgetsTheOldestTimesBeyondTheBound() {
        let watch = MarketWatch(configuration: AlerterConfiguration(marketWideShare: 0.5, marketWideMinSymbols: 2, marketWideMaxIntervals: 3))
        for time in [50, 10, 40, 20, 30] as [Int64] {
            _ = watch.record([time: MarketTally(symbolsSeen: 1, flagged: [flagged("A", 0.9)])])
        }
        #expect(watch.intervalCount == 3)
        // 10 and 20 were forgotten: their late tallies are ignored instead of re-alerting on partial counts.
        #expect(watch.record([10: MarketTally(symbolsSeen: 1, flagged: [flagged("B", 0.9)])]).isEmpty)
        #expect(watch.record([30: MarketTally(symbolsSeen: 1, flagged: [flagged("B", 0.9)])]).map(\.key) == ["ALL:30"])
        #expect(watch.intervalCount == 3)
    }
}
