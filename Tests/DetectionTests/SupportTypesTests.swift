import Foundation
import Testing

@testable import VigilDetection

@Suite("Kinds, config, synthetic market, evaluation, value series")
struct SupportTypesTests {
    @Test("detector and severity names are the wire names")
    func names() {
        #expect(DetectorKind.allCases.map(\.rawValue) == ["rolling_z", "ewma_z", "robust_z", "cusum", "volume_surge", "gap", "volatility_burst"])
        let set: DetectorSet = [.gap, .rollingZ, .volumeSurge]
        #expect(set.kinds == [.rollingZ, .volumeSurge, .gap])
        #expect(set.names == "rolling_z;volume_surge;gap")
        #expect(DetectorSet(names: set.names) == set)
        #expect(DetectorSet().names.isEmpty)
        #expect(DetectorSet.all.kinds == DetectorKind.allCases)
        #expect(Severity.allCases.map(\.name) == ["info", "warning", "critical"])
        #expect(Severity.info < .warning && Severity.warning < .critical)
        #expect(Severity(name: "critical") == .critical)
    }

    @Test("default config is valid; validate lists every problem")
    func validation() {
        #expect(DetectorConfig.default.validate().isEmpty)
        var c = DetectorConfig.default
        c.rollingZ.window = 2
        c.robustZ.window = 40
        c.alertThreshold = 1.5
        c.ewmaZ.threshold = .nan
        c.cusum.h = -1
        c.volumeSurge.minRatio = 1
        c.volatilityBurst.fastHalfLife = 100
        c.corroboration.weight = 2
        let problems = c.validate()
        #expect(problems.contains("rolling_z.window must be between 5 and 32, got 2"))
        #expect(problems.contains("robust_z.window must be between 5 and 32, got 40"))
        #expect(problems.contains { $0.hasPrefix("alert_threshold ") })
        #expect(problems.contains { $0.hasPrefix("ewma_z.threshold ") && $0.hasSuffix("nan") })
        #expect(problems.contains { $0.hasPrefix("cusum.h ") })
        #expect(problems.contains { $0.hasPrefix("volume_surge.min_ratio ") })
        #expect(problems.contains { $0.hasPrefix("volatility_burst.fast_half_life must be below") })
        #expect(problems.contains { $0.hasPrefix("corroboration.weight ") })
        #expect(problems.count == 8)
    }

    @Test("decoding falls back to defaults for missing keys and round-trips")
    func decoding() throws {
        // Swift-side keys are camelCase; the agent's YAML loader maps the files' snake_case keys onto them.
        let json = #"{"rollingZ": {"window": 10}, "alertThreshold": 0.6, "volumeSurge": {"enabled": false}}"#
        let c = try JSONDecoder().decode(DetectorConfig.self, from: Data(json.utf8))
        #expect(c.rollingZ.window == 10)
        #expect(c.rollingZ.threshold == DetectorConfig.default.rollingZ.threshold)
        #expect(c.alertThreshold == 0.6)
        #expect(!c.volumeSurge.enabled && c.volumeSurge.threshold == DetectorConfig.default.volumeSurge.threshold)
        #expect(c.cusum == DetectorConfig.default.cusum)
        #expect(!c.enabledDetectors.contains(.volumeSurge))
        let empty = try JSONDecoder().decode(DetectorConfig.self, from: Data("{}".utf8))
        #expect(empty == .default)
        let roundTrip = try JSONDecoder().decode(DetectorConfig.self, from: JSONEncoder().encode(c))
        #expect(roundTrip == c)
    }

    @Test("same seed gives identical bars and labels; another seed differs")
    func syntheticDeterminism() {
        var a = SyntheticMarket(seed: 123, symbols: 8, start: 1_000, intervalSeconds: 60, anomalyRate: 0.05)
        var b = SyntheticMarket(seed: 123, symbols: 8, start: 1_000, intervalSeconds: 60, anomalyRate: 0.05)
        var c = SyntheticMarket(seed: 124, symbols: 8, start: 1_000, intervalSeconds: 60, anomalyRate: 0.05)
        var differs = false
        for _ in 0..<200 {
            let x = a.next()
            #expect(x == b.next())
            if x != c.next() { differs = true }
        }
        #expect(a.labels == b.labels)
        #expect(differs)
        #expect(a.symbols.first == "SYN001")
    }

    @Test("bars are well formed and every anomaly kind is injected and labelled")
    func syntheticLabels() {
        var m = SyntheticMarket(seed: 9, symbols: 30, start: 0, intervalSeconds: 86_400, anomalyRate: 0.02)
        var buffer: [Bar] = []
        var last: Int64 = 0
        for _ in 0..<600 {
            m.next(into: &buffer)
            #expect(buffer.count == 30)
            for bar in buffer {
                #expect(bar.low > 0 && bar.low <= min(bar.open, bar.close) && bar.high >= max(bar.open, bar.close))
                #expect(bar.volume >= 0 && bar.volume.isFinite)
                last = bar.timestamp
            }
        }
        #expect(Set(m.labels.map(\.kind)) == Set(AnomalyKind.allCases))
        for label in m.labels {
            #expect(label.startTimestamp <= label.endTimestamp)
            #expect(label.startTimestamp <= last)
            #expect(AnomalyLabel(csvLine: label.csvLine) == label)
        }
        #expect(AnomalyLabel.csvHeader == "symbol,kind,start_timestamp,end_timestamp")
        #expect(AnomalyLabel(csvLine: AnomalyLabel.csvHeader) == nil)
        let none = SyntheticMarket(seed: 9, symbols: 3, start: 0, intervalSeconds: 60, anomalyRate: 0.5, kinds: [])
        var quiet = none
        for _ in 0..<50 { _ = quiet.next() }
        #expect(quiet.labels.isEmpty)
    }

    @Test("detectors find most injected anomalies")
    func syntheticRecall() {
        var m = SyntheticMarket(seed: 4, symbols: 40, start: 0, intervalSeconds: 86_400, anomalyRate: 0.004)
        var detectors = [SeriesDetector](repeating: SeriesDetector(config: .default), count: 40)
        var flagged: [FlaggedBar] = []
        for _ in 0..<1_000 {
            for (i, bar) in m.next().enumerated() where detectors[i].update(bar).isAlert {
                flagged.append(FlaggedBar(symbol: bar.symbol, timestamp: bar.timestamp))
            }
        }
        let evaluation = LabelEvaluation(labels: m.labels, flagged: flagged, tolerance: 2 * 86_400_000)
        #expect(evaluation.overall.labels > 50)
        #expect(evaluation.overall.recall > 0.6)
        #expect((evaluation.perKind[.flashCrash]?.recall ?? 0) > 0.9)
        #expect((evaluation.perKind[.priceSpike]?.recall ?? 0) > 0.9)
    }

    @Test("label evaluation on a hand-made case")
    func labelEvaluation() {
        let day: Int64 = 86_400_000
        let labels = [
            AnomalyLabel(symbol: "A", kind: .priceSpike, startTimestamp: 1 * day, endTimestamp: 2 * day),
            AnomalyLabel(symbol: "A", kind: .gap, startTimestamp: 5 * day, endTimestamp: 5 * day),
            AnomalyLabel(symbol: "B", kind: .volumeSurge, startTimestamp: 3 * day, endTimestamp: 3 * day),
        ]
        let flagged = [
            FlaggedBar(symbol: "A", timestamp: 1 * day),  // TP spike
            FlaggedBar(symbol: "A", timestamp: 2 * day),  // TP spike (second bar of the same label)
            FlaggedBar(symbol: "A", timestamp: 6 * day),  // TP gap, inside the one-day tolerance
            FlaggedBar(symbol: "A", timestamp: 6 * day),  // duplicate, counted once
            FlaggedBar(symbol: "B", timestamp: 9 * day),  // FP: too late for the volume label
            FlaggedBar(symbol: "C", timestamp: 1 * day),  // FP: no label for C
        ]
        let e = LabelEvaluation(labels: labels, flagged: flagged, tolerance: day)
        #expect(e.overall.labels == 3 && e.overall.detectedLabels == 2)
        #expect(e.overall.truePositiveBars == 3 && e.overall.falsePositiveBars == 2)
        #expect(abs(e.overall.precision - 0.6) < 1e-12)
        #expect(abs(e.overall.recall - 2.0 / 3.0) < 1e-12)
        #expect(abs(e.overall.f1 - 2 * 0.6 * (2.0 / 3.0) / (0.6 + 2.0 / 3.0)) < 1e-12)
        let spike = e.perKind[.priceSpike]
        #expect(spike?.truePositiveBars == 2)
        #expect(abs((spike?.precision ?? 0) - 2 / (2 + 2.0 / 3.0)) < 1e-12)
        #expect(e.perKind[.volumeSurge]?.recall == 0)
        #expect(e.missed == [labels[2]])
    }

    @Test("value series: strictly streaming")
    func valueSeriesStreaming() {
        var rng = SeededGenerator(seed: 8)
        var rows: [(Int64, Double)] = []
        var t: Int64 = 0
        var v = -3.0
        for i in 0..<400 {
            t += Int64(1_000 + Int(rng.next() % 4_000))
            v += rng.nextNormal() + (i == 250 ? 30 : 0)
            rows.append((t, v))
        }
        var full = ValueSeriesDetector()
        let all = rows.map { full.update(timestamp: $0.0, value: $0.1) }
        var prefix = ValueSeriesDetector()
        let head = rows[..<200].map { prefix.update(timestamp: $0.0, value: $0.1) }
        #expect(Array(all[..<200]) == head)
        #expect(all.allSatisfy { $0 >= 0 && $0 < 1 && $0.isFinite })
        #expect(all[250] > 0.5)
        #expect(all[..<10].allSatisfy { $0 == 0 })
    }

    @Test("value series: scale-free, zero/negative values, constant series, irregular spacing")
    func valueSeriesRobustness() {
        var rng = SeededGenerator(seed: 2)
        let values = (0..<300).map { i in rng.nextNormal() - 0.5 + (i == 200 ? 12 : 0) }
        var a = ValueSeriesDetector()
        var b = ValueSeriesDetector()
        for (i, v) in values.enumerated() {
            let x = a.update(timestamp: Int64(i) * 60_000, value: v)
            let y = b.update(timestamp: Int64(i) * 60_000, value: v * 1e6)
            #expect(abs(x - y) < 1e-9)
        }
        var constant = ValueSeriesDetector()
        for i in 0..<100 { #expect(constant.update(timestamp: Int64(i), value: 0) == 0) }
        let jump = constant.update(timestamp: 100, value: 1)
        #expect(jump.isFinite && jump > 0.5 && jump < 1)
        #expect(constant.update(timestamp: 101, value: .nan) == 0)

        // The same move scores lower after a pause 100× the usual spacing (√100 = 10× the expected move).
        var regular = ValueSeriesDetector()
        var paused = ValueSeriesDetector()
        var noise = SeededGenerator(seed: 5)
        var level = 0.0
        for i in 0..<200 {
            level += noise.nextNormal()
            _ = regular.update(timestamp: Int64(i) * 1_000, value: level)
            _ = paused.update(timestamp: Int64(i) * 1_000, value: level)
        }
        let soon = regular.update(timestamp: 200_000, value: level + 8)
        let late = paused.update(timestamp: 199_000 + 100_000, value: level + 8)
        #expect(soon > late)
    }
}
