import Foundation
import Testing
import VigilDetection
import VigilTestSupport
import VigilWire

@testable import VigilCollector

/// The promotion rule on its own: labels first, then the margin.
@Suite struct PromotionRuleTests {
    func decide(_ challenger: Double?, _ champion: Double?, labels: Int) -> PromotionRule.Decision {
        PromotionRule.decide(challenger: challenger, champion: champion, labels: labels, minLabels: 30, margin: 0.02, metric: "pr_auc")
    }

    @Test func neverAutomaticallyWithTooFewLabels() {
        guard case .keep(let reason) = decide(0.99, 0.10, labels: 29) else {
            Issue.record("promoted on 29 labels")
            return
        }
        #expect(reason.contains("29 labels"))
    }

    @Test func promotesOnlyWhenAheadByTheMargin() {
        #expect(decide(0.92, 0.90, labels: 30) == .promote("pr_auc 0.9200 beats the champion's 0.9000 by 0.0200 ≥ 0.0200"))
        guard case .keep = decide(0.919, 0.90, labels: 500) else {
            Issue.record("promoted below the margin")
            return
        }
        guard case .keep = decide(nil, 0.90, labels: 500) else {
            Issue.record("promoted without a challenger metric")
            return
        }
        guard case .promote = decide(0.5, nil, labels: 500) else {
            Issue.record("a measured challenger did not replace a champion without a metric")
            return
        }
    }

    @Test func episodeThresholdCountsAnomaliesFoundAndFlaggedBars() throws {
        // Anomaly 0 has two bars (0.9, 0.5), anomaly 1 one bar (0.4); normal rows at 0.8 and 0.3.
        let rows: [EpisodeThreshold.Row] = [
            .init(score: 0.9, window: 0, weight: 1), .init(score: 0.5, window: 0, weight: 1), .init(score: 0.4, window: 1, weight: 1),
            .init(score: 0.8, window: nil, weight: 1), .init(score: 0.3, window: nil, weight: 1),
        ]
        // ≥ 0.9: P 1, R 1/2 → 2/3; ≥ 0.8: P 1/2, R 1/2; ≥ 0.5: P 2/3, R 1/2; ≥ 0.4: P 3/4, R 1 → 6/7 (best).
        let best = try #require(EpisodeThreshold.best(rows, windowWeights: [1, 1]))
        #expect(best.threshold == 0.4 && abs(best.f1 - 6.0 / 7.0) < 1e-12)
        // A normal row weighing 0 (just after an anomaly) changes nothing; a heavy false alarm moves the cut up.
        var weighted = rows
        weighted[3].weight = 0
        #expect(EpisodeThreshold.best(weighted, windowWeights: [1, 1])?.threshold == 0.4)
        weighted[3].weight = 1
        weighted[4].weight = 0
        weighted.append(.init(score: 0.45, window: nil, weight: 10))
        #expect(EpisodeThreshold.best(weighted, windowWeights: [1, 1])?.threshold == 0.9)
        #expect(EpisodeThreshold.best(rows.filter { $0.window == nil }, windowWeights: []) == nil)
    }

    @Test func crossSectionBoardMergesSortedRuns() {
        for (left, right) in [([1.0, 4, 9], [2.0, 3, 10]), ([], [1.0]), ([5.0], [1.0, 2]), ([1.0, 2], [3.0])] {
            var values = left + right
            CrossSectionBoard.mergeSorted(&values, at: left.count)
            #expect(values == (left + right).sorted())
        }
    }

    @Test func bestF1ThresholdAndHeldOutMetrics() throws {
        let scores = [0.9, 0.8, 0.7, 0.4, 0.3, 0.2]
        let labels = [true, true, false, true, false, false]
        // Flagging ≥ 0.4 catches all three positives with one false alarm: F1 = 6/7, the best cut.
        #expect(HeldOut.bestF1Threshold(scores: scores, labels: labels) == 0.4)
        #expect(HeldOut.bestF1Threshold(scores: scores, labels: labels.map { _ in false }) == nil)
        let metrics = HeldOut.metrics(scores: scores, labels: labels, threshold: 0.4)
        #expect(metrics["precision"] == 0.75 && metrics["recall"] == 1)
        #expect(abs((metrics["f1"] ?? 0) - 6.0 / 7.0) < 1e-12)
        #expect(abs((metrics["roc_auc"] ?? 0) - 8.0 / 9.0) < 1e-12)
    }
}

/// Tier-2 end to end over real loopback HTTP: a synthetic market with labelled anomalies goes in, a training run
/// registers both model kinds (champions by bootstrap), the champions score the next bars into tier-2 detections and
/// alerts, a second run registers challengers, and a manual promotion swaps the champion.
@Suite(.serialized) struct Tier2Tests {
    static let symbols = 40
    static let ticks = 600

    /// Batches of 50 ticks with the agents' per-bar Tier-1 scores, and the market's labels.
    static func market() -> (batches: [Vigil_V1_Batch], labels: [AnomalyLabel]) {
        var market = SyntheticMarket(seed: 5, symbols: symbols, start: 1_600_000_000_000, intervalSeconds: 86_400, anomalyRate: 0.01)
        var detectors: [String: SeriesDetector] = [:]
        var batches: [Vigil_V1_Batch] = []
        for chunk in 0..<(ticks / 50) {
            var bars: [String: [Bar]] = [:]
            var scores: [String: [Float]] = [:]
            for _ in 0..<50 {
                for bar in market.next() {
                    var detector = detectors[bar.symbol] ?? SeriesDetector(config: .default)
                    scores[bar.symbol, default: []].append(Float(detector.update(bar).anomalyScore))
                    detectors[bar.symbol] = detector
                    bars[bar.symbol, default: []].append(bar)
                }
            }
            var batch = Vigil_V1_Batch()
            batch.agentID = "tier2-agent"
            batch.sequence = UInt64(chunk + 1)
            for symbol in bars.keys.sorted() {
                batch.series.append(
                    Vigil_V1_Series(
                        symbol: symbol, intervalSeconds: 86_400, feed: "synthetic", bars: bars[symbol] ?? [], anomalyScores: scores[symbol] ?? []))
            }
            batches.append(batch)
        }
        return (batches, market.labels)
    }

    func models(_ collector: CollectorHarness, _ query: String = "") async throws -> [[String: Any]] {
        (try await collector.json("/v1/models" + query))["items"] as? [[String: Any]] ?? []
    }

    /// A market nobody labelled: the models are trained on injected anomalies, measured on anomalies injected into the
    /// held-out part (and say so), and stay challengers — nothing is promoted without labels.
    @Test func withoutLabelsModelsAreMeasuredOnInjectedAnomaliesAndStayChallengers() async throws {
        let (batches, _) = Self.market()
        let collector = try await CollectorHarness.start { config in
            config.tier2.minTrainingRows = 2_000
            config.tier2.minLabels = 10
            config.tier2.injectPerSymbol = 10
        }
        defer { Task { await collector.stop() } }
        for batch in batches.prefix(6) { #expect(try await collector.post(batch).0.status == 200) }
        let response = try await collector.send("/v1/models/train")
        #expect(response.status == 200, "\(response.bodyText)")
        let run = try #require(try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any])
        #expect(run["positive_labels"] as? Int == 0)
        #expect((run["injected_anomalies"] as? Int ?? 0) > 0)
        let registered = try await models(collector)
        #expect(registered.count == 2 && registered.allSatisfy { $0["status"] as? String == "challenger" }, "\(registered)")
        for model in registered {
            let metrics = model["metrics"] as? [String: Double] ?? [:]
            #expect(metrics["measured_on_injected"] == 1 && (metrics["test_injected_anomalies"] ?? 0) > 0, "\(metrics)")
            // Injected anomalies are separable from the market's own bars: better than chance.
            #expect((metrics["roc_auc"] ?? 0) > 0.7, "\(model["kind"] ?? "?"): \(metrics)")
        }
    }

    /// A collector restarted between two requests scores the bars after the restart as one that never stopped: the
    /// symbols' feature state comes back from their stored bars (`collector.partition.warmup`), so the champions'
    /// scores of the first bars after the restart are the same. Without it each symbol started from an empty history.
    @Test func aRestartedCollectorScoresTheNextBarsAsIfItHadNeverStopped() async throws {
        let (batches, labels) = Self.market()
        let directory = TemporaryDirectory()
        let labelsPath = directory.path + "/labels.csv"
        let split: Int64 = 1_600_000_000_000 + 300 * 86_400_000
        let text = ([AnomalyLabel.csvHeader] + labels.filter { $0.endTimestamp < split }.map(\.csvLine)).joined(separator: "\n")
        try text.write(toFile: labelsPath, atomically: true, encoding: .utf8)
        let configure: @Sendable (inout CollectorConfig) -> Void = { config in
            config.tier2.labelsPath = labelsPath
            config.tier2.minTrainingRows = 2_000
            config.tier2.minLabels = 10
            config.tier2.injectPerSymbol = 10
        }
        // Two collectors see the same first half and train the same champions (training is deterministic).
        let steady = try await CollectorHarness.start(configure)
        defer { Task { await steady.stop() } }
        var first = try await CollectorHarness.start(configure)
        for collector in [steady, first] {
            for batch in batches.prefix(6) { #expect(try await collector.post(batch).0.status == 200) }
            #expect(try await collector.send("/v1/models/train").status == 200)
        }
        // One of them restarts on its store; both then get the next batch.
        let store = first.directory
        let warmedBefore = try await warmed(steady)
        await first.stop()
        first = try await CollectorHarness.start(directory: store, configure)
        let restarted = first
        defer { Task { await restarted.stop() } }
        for collector in [steady, restarted] { #expect(try await collector.post(batches[6]).0.status == 200) }

        func scores(_ collector: CollectorHarness) async throws -> [String: [String: Double]] {
            let items = (try await collector.json("/v1/scores?from=\(split)&limit=10000"))["items"] as? [[String: Any]] ?? []
            return Dictionary(
                uniqueKeysWithValues: items.map { ("\($0["symbol"] ?? "")@\($0["time"] ?? "")", $0["scores"] as? [String: Double] ?? [:]) })
        }
        let expected = try await scores(steady)
        let got = try await scores(restarted)
        #expect(expected.count == Self.symbols * 50 && got.keys.sorted() == expected.keys.sorted())
        let differing = expected.filter { key, value in
            ModelKind.all.contains { kind in !(abs((value[kind] ?? .nan) - (got[key]?[kind] ?? .nan)) <= 1e-12) }
        }
        #expect(
            differing.count == 0,
            "rows score differently after the restart, e.g. \(differing.first.map { "\($0.key): \($0.value) vs \(got[$0.key] ?? [:])" } ?? "")"
        )
        // Every symbol was warmed from the store (the registry is the test process's, shared with other suites' collectors).
        #expect(try await warmed(restarted) - warmedBefore >= Double(Self.symbols))
    }

    /// `vigil_collector_warmup_series_total{outcome="warmed"}` as scraped.
    func warmed(_ collector: CollectorHarness) async throws -> Double {
        let line = try await collector.get("/metrics").bodyText.split(separator: "\n").first {
            $0.hasPrefix("vigil_collector_warmup_series_total{outcome=\"warmed\"}")
        }
        return line.flatMap { $0.split(separator: " ").last.flatMap { Double($0) } } ?? 0
    }

    @Test func trainScorePromoteOverHTTP() async throws {
        let (batches, labels) = Self.market()
        let directory = TemporaryDirectory()
        let labelsPath = directory.path + "/labels.csv"
        func writeLabels(before timestamp: Int64) throws {
            let text = ([AnomalyLabel.csvHeader] + labels.filter { $0.endTimestamp < timestamp }.map(\.csvLine)).joined(separator: "\n")
            try text.write(toFile: labelsPath, atomically: true, encoding: .utf8)
        }
        let collector = try await CollectorHarness.start { config in
            config.tier2.labelsPath = labelsPath
            config.tier2.minTrainingRows = 2_000
            config.tier2.minLabels = 10
            // Fewer injected anomalies than the default keep a debug build's training short.
            config.tier2.injectPerSymbol = 10
        }
        defer { Task { await collector.stop() } }
        let json = [("Content-Type", "application/json")]

        // Nothing to train on yet: 409 with the reason.
        let early = try await collector.send("/v1/models/train")
        #expect(early.status == 409 && early.bodyText.contains("insufficient_data"), "\(early.status) \(early.bodyText)")

        // First half, then a run: both kinds registered, champions by bootstrap (labels were there to measure them).
        for batch in batches.prefix(6) { #expect(try await collector.post(batch).0.status == 200) }
        try writeLabels(before: 1_600_000_000_000 + 300 * 86_400_000)
        let first = try await collector.send("/v1/models/train", body: [UInt8](#"{"by": "test-suite"}"#.utf8), headers: json)
        #expect(first.status == 200, "\(first.bodyText)")
        let run = try #require(try JSONSerialization.jsonObject(with: Data(first.body)) as? [String: Any])
        #expect(run["rows"] as? Int == Self.symbols * 300)
        #expect((run["positive_labels"] as? Int ?? 0) >= 10)
        // Anomalies were injected into the stored bars: up to 10 per symbol, the rest replayed market-wide or refused
        // where a labelled anomaly sits.
        #expect((1...(Self.symbols * 10)).contains(run["injected_anomalies"] as? Int ?? 0), "\(run)")
        let registered = run["registered"] as? [[String: Any]] ?? []
        #expect(Set(registered.compactMap { $0["kind"] as? String }) == ["isolation_forest", "gradient_boosted_trees"], "\(run)")
        #expect(registered.allSatisfy { $0["status"] as? String == "champion" && ($0["created_by"] as? String)?.contains("test-suite") == true })
        let champions = try await models(collector, "?status=champion")
        #expect(champions.count == 2)
        for model in champions {
            let metrics = model["metrics"] as? [String: Double] ?? [:]
            for key in ["precision", "recall", "f1", "roc_auc", "pr_auc", "threshold"] { #expect(metrics[key] != nil, "\(key) in \(metrics)") }
            // Better than chance on held-out bars of a market with labelled anomalies.
            #expect((metrics["roc_auc"] ?? 0) > 0.8, "\(model["kind"] ?? "?"): \(metrics)")
            #expect(model["feature_set_version"] as? Int == FeatureSet.version)
        }

        // The champions score the second half: tier-2 detections and alerts with explanations and traces.
        for batch in batches.dropFirst(6) { #expect(try await collector.post(batch).0.status == 200) }
        let events = (try await collector.json("/v1/events?tier=2&limit=10000"))["items"] as? [[String: Any]] ?? []
        #expect(!events.isEmpty)
        #expect(events.allSatisfy { ["isolation_forest", "gradient_boosted_trees"].contains($0["detector"] as? String ?? "") })
        let alerts = (try await collector.json("/v1/alerts?tier=2&limit=10000"))["items"] as? [[String: Any]] ?? []
        #expect(!alerts.isEmpty)
        #expect(alerts.allSatisfy { alert in FeatureSet.names.contains { (alert["explanation"] as? String ?? "").contains($0) } })
        #expect(alerts.allSatisfy { ($0["trace_id"] as? String)?.count == 32 })

        // Every bar of the second half carries its live scores: the champions' and the agent's Tier-1 score.
        let secondHalf = "from=\(1_600_000_000_000 + 300 * 86_400_000)"
        var scored: [[String: Any]] = []
        var cursor: String?
        repeat {
            let page = try await collector.json("/v1/scores?\(secondHalf)&limit=5000" + (cursor.map { "&cursor=\($0)" } ?? ""))
            scored += page["items"] as? [[String: Any]] ?? []
            cursor = page["next_cursor"] as? String
        } while cursor != nil
        #expect(scored.count == Self.symbols * 300)
        #expect(scored.allSatisfy { (($0["scores"] as? [String: Double]) ?? [:]).keys.sorted() == ModelKind.all.sorted() })
        let oneSymbol = (try await collector.json("/v1/scores?symbol=SYN001&\(secondHalf)&limit=10000"))["items"] as? [[String: Any]] ?? []
        #expect(oneSymbol.count == 300 && oneSymbol.allSatisfy { $0["symbol"] as? String == "SYN001" })
        // Flags are the scores at or above the champion's threshold: every tier-2 event's bar scored that high.
        let flaggedBars = Set(events.compactMap { e in (e["symbol"] as? String).map { "\($0)@\(e["time"] ?? "")" } })
        let scoredBars = Set(scored.map { "\($0["symbol"] ?? "")@\($0["time"] ?? "")" })
        #expect(flaggedBars.isSubset(of: scoredBars))
        #expect(try await collector.get("/v1/scores?cursor=nonsense").status == 400)
        #expect(try await collector.get("/v1/scores?from=2020-01-02&to=2020-01-01").status == 400)

        // A second run: challengers (shadow), champions unchanged.
        try writeLabels(before: Int64.max)
        let second = try await collector.send("/v1/models/train")
        #expect(second.status == 200, "\(second.bodyText)")
        let challengers = try await models(collector, "?status=challenger")
        #expect(challengers.count == 2)
        #expect(try await models(collector, "?status=champion").count == 2)
        #expect(challengers.allSatisfy { $0["parent_id"] as? Int64 != nil || $0["parent_id"] as? Int != nil })

        // Manual promotion: the challenger becomes champion, the old champion is retired.
        let challenger = try #require(challengers.first { $0["kind"] as? String == "isolation_forest" })
        let id = try #require((challenger["id"] as? NSNumber)?.int64Value)
        let promoted = try await collector.send("/v1/models/\(id)/promote", body: [UInt8](#"{"by": "alice"}"#.utf8), headers: json)
        #expect(promoted.status == 200, "\(promoted.bodyText)")
        let now = try await models(collector, "?kind=isolation_forest")
        #expect(now.first { ($0["id"] as? NSNumber)?.int64Value == id }?["status"] as? String == "champion")
        #expect(now.first { ($0["id"] as? NSNumber)?.int64Value == id }?["promoted_by"] as? String == "alice")
        #expect(now.filter { $0["status"] as? String == "retired" }.count == 1)

        // Bad requests: a reason and a status each.
        #expect(try await collector.send("/v1/models/999999/promote").status == 404)
        #expect(try await collector.send("/v1/models/abc/promote").status == 400)
        #expect(try await collector.get("/v1/models?status=bogus").status == 400)
        #expect(try await collector.send("/v1/models/train", body: [UInt8]("not json".utf8), headers: json).status == 400)

        // Measured: scoring, flags, runs, promotions, feature store.
        let metrics = try await collector.get("/metrics").bodyText
        for family in [
            "vigil_collector_tier2_scored_bars_total", "vigil_collector_tier2_flags_total", "vigil_collector_training_runs_total",
            "vigil_collector_model_promotions_total", "vigil_collector_feature_store_rows", "vigil_collector_tier2_score_duration_seconds",
            "vigil_collector_training_injected_anomalies_total",
        ] {
            #expect(metrics.contains(family), "\(family) missing")
        }
        let manual = metrics.split(separator: "\n").filter { $0.hasPrefix("vigil_collector_model_promotions_total{") && $0.contains("manual") }
        #expect(manual.count == 1 && manual.first?.hasSuffix(" 1") == true, "\(manual)")
        // The scorer's span is recorded.
        let spans = collector.recorder.drain(limit: 100_000)
        #expect(spans.contains { $0.name == "collector.scorer.score" })
    }
}
