// Vigil collector Tier-2: the training pipeline — scheduled or on demand, the forest unsupervised on recent features,
// the boosted trees supervised on analyst feedback plus labelled injected anomalies; new models shadow the champion
// as challengers and replace it only when they beat it, on data neither was trained on, with enough labels.

import Foundation
import Logging
import Metrics
import ServiceContextModule
import ServiceLifecycle
import Synchronization
import Tracing
import VigilConcurrency
import VigilDetection
import VigilStore
import VigilTelemetry

/// Why a run or a promotion did not happen; the API maps the code to a status.
public struct TrainingError: Error, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable {
        /// Another run is in progress (409).
        case busy
        /// Not enough feature rows yet (409: retry later).
        case insufficientData = "insufficient_data"
        /// Tier-2 is disabled in the configuration (409).
        case disabled
    }

    public var code: Code
    public var message: String
    public var description: String { "\(code.rawValue): \(message)" }
}

/// What one training run did.
public struct TrainingOutcome: Sendable {
    public struct Promotion: Sendable {
        public var modelID: Int64
        public var kind: String
        public var how: String
        public var reason: String
    }

    public var trigger: String
    public var rows: Int
    /// Positive label windows (injected anomalies + true-positive feedback) that fall in the rows' time range.
    public var positiveLabels: Int
    /// Anomalies injected into the stored bars of the training part.
    public var injectedAnomalies = 0
    public var trainedFrom: Int64
    public var trainedTo: Int64
    public var registered: [StoredModel] = []
    public var promotions: [Promotion] = []
    /// Per kind, why no model was trained or promoted.
    public var notes: [String: String] = [:]
    public var seconds: Double = 0
}

/// The promotion rule, kept pure so the tests can pin it down.
public enum PromotionRule {
    public enum Decision: Equatable, Sendable {
        case promote(String)
        case keep(String)
    }

    /// A challenger replaces the champion only when both were measured on enough labels and the challenger's metric
    /// beats the champion's by at least `margin`.
    public static func decide(
        challenger: Double?, champion: Double?, labels: Int, minLabels: Int, margin: Double, metric: String
    ) -> Decision {
        guard labels >= minLabels else { return .keep("\(labels) labels, \(minLabels) needed before an automatic promotion") }
        guard let challenger, challenger.isFinite else { return .keep("challenger has no \(metric) on the labels") }
        guard let champion, champion.isFinite else { return .promote("no champion \(metric) to beat; challenger \(fmt(challenger))") }
        if challenger >= champion + margin {
            return .promote("\(metric) \(fmt(challenger)) beats the champion's \(fmt(champion)) by \(fmt(challenger - champion)) ≥ \(fmt(margin))")
        }
        return .keep("\(metric) \(fmt(challenger)) vs the champion's \(fmt(champion)): not ahead by \(fmt(margin))")
    }

    static func fmt(_ x: Double) -> String { String(format: "%.4f", x) }
}

/// Held-out measures of a scorer against row labels; the threshold is chosen elsewhere.
enum HeldOut {
    static func metrics(scores: [Double], labels: [Bool], threshold: Double) -> [String: Double] {
        var tp = 0
        var fp = 0
        var fn = 0
        for (score, label) in zip(scores, labels) {
            let flagged = score >= threshold
            if flagged && label { tp += 1 } else if flagged { fp += 1 } else if label { fn += 1 }
        }
        let precision = tp + fp > 0 ? Double(tp) / Double(tp + fp) : 1
        let recall = tp + fn > 0 ? Double(tp) / Double(tp + fn) : 0
        var result: [String: Double] = [
            "precision": precision, "recall": recall, "f1": precision + recall > 0 ? 2 * precision * recall / (precision + recall) : 0,
            "threshold": threshold, "test_rows": Double(scores.count), "test_positive_rows": Double(tp + fn),
        ]
        if let auc = ModelMetrics.rocAUC(scores: scores, labels: labels) { result["roc_auc"] = auc }
        if let auc = ModelMetrics.prAUC(scores: scores, labels: labels) { result["pr_auc"] = auc }
        return result
    }

    /// The threshold with the best F1 on these rows (ties: the higher threshold), or nil without a positive.
    static func bestF1Threshold(scores: [Double], labels: [Bool]) -> Double? {
        let positives = labels.filter { $0 }.count
        guard positives > 0 else { return nil }
        let order = scores.indices.filter { scores[$0].isFinite }.sorted { scores[$0] > scores[$1] }
        var tp = 0
        var flagged = 0
        var best = (f1: -1.0, threshold: 1.0)
        var i = 0
        while i < order.count {
            let value = scores[order[i]]
            // Take every row with this same score together: a threshold cannot split them.
            while i < order.count && scores[order[i]] == value {
                flagged += 1
                if labels[order[i]] { tp += 1 }
                i += 1
            }
            let f1 = 2 * Double(tp) / Double(flagged + positives)
            if f1 > best.f1 { best = (f1, value) }
        }
        return best.threshold
    }
}

/// Tier-2 at runtime: the cross-section board and feature store the pipeline fills, the models it scores with, and
/// the training runs.
public final class Tier2Runtime: Sendable {
    let configuration: Tier2Section
    let board = CrossSectionBoard()
    let features: FeatureStore
    let models: Tier2Models
    let store: any BatchStore
    let tracer: VigilTracer
    let logger: Logger
    /// The Tier-1 detectors' settings, replayed over injected anomalies (their scores are a feature).
    let detectorConfig: DetectorConfig
    private let running = Mutex(false)
    /// Training is CPU-bound for seconds: on its own thread, never on the executor that serves requests.
    let pool = BlockingThreadPool(maxThreads: 1)

    init(configuration: Tier2Section, detectorConfig: DetectorConfig = DetectorConfig(), store: any BatchStore, tracer: VigilTracer, logger: Logger) {
        self.configuration = configuration
        self.detectorConfig = detectorConfig
        self.features = FeatureStore(capacity: configuration.featureStoreRows)
        self.models = Tier2Models(logger: logger)
        self.store = store
        self.tracer = tracer
        self.logger = logger
    }

    private func countRun(trigger: String, outcome: String) {
        Counter(label: MetricName.collectorTrainingRuns, dimensions: [("trigger", trigger), ("outcome", outcome)]).increment()
    }

    /// One training run. `trigger` is `schedule` or `api`; `actor` who asked (kept as the models' `createdBy`).
    public func train(trigger: String, actor: String, context: ServiceContext = .topLevel) async throws -> TrainingOutcome {
        guard configuration.enabled else { throw TrainingError(code: .disabled, message: "tier2.enabled is false") }
        let acquired = running.withLock { busy in
            if busy { return false }
            busy = true
            return true
        }
        guard acquired else { throw TrainingError(code: .busy, message: "a training run is already in progress") }
        defer { running.withLock { $0 = false } }
        let span = tracer.startSpan("collector.trainer.train", context: context, ofKind: .internal)
        span.attributes["vigil.training.trigger"] = trigger
        defer { span.end() }
        let started = ContinuousClock.now
        do {
            var outcome = try await runLocked(trigger: trigger, actor: actor, span: span)
            let (s, atto) = (ContinuousClock.now - started).components
            outcome.seconds = Double(s) + Double(atto) / 1e18
            countRun(trigger: trigger, outcome: "trained")
            logger.info(
                "Tier-2 training run finished.",
                metadata: [
                    "training.trigger": "\(trigger)", "training.rows": "\(outcome.rows)", "training.labels": "\(outcome.positiveLabels)",
                    "training.registered": "\(outcome.registered.map { "\($0.kind) v\($0.version) \($0.status.rawValue)" })",
                    "training.promotions": "\(outcome.promotions.map { "\($0.kind) #\($0.modelID) \($0.how)" })",
                    "training.notes": "\(outcome.notes)", "training.seconds": "\(outcome.seconds)",
                    "trace_id": "\(span.spanContext.traceIDHex)",
                ])
            return outcome
        } catch let error as TrainingError {
            countRun(trigger: trigger, outcome: error.code == .insufficientData ? "insufficient_data" : "failed")
            span.recordError(error)
            logger.notice(
                "Tier-2 training run did not train.", metadata: ["error.message": "\(error)", "trace_id": "\(span.spanContext.traceIDHex)"])
            throw error
        } catch {
            countRun(trigger: trigger, outcome: "failed")
            span.recordError(error)
            logger.error("Tier-2 training run failed.", metadata: ["error.message": "\(error)", "trace_id": "\(span.spanContext.traceIDHex)"])
            throw error
        }
    }

    private struct LabelWindow {
        var symbol: String
        var start: Int64
        var end: Int64
        var positive: Bool
    }

    /// Injected-anomaly labels from `labels_path` and analyst feedback from the store.
    private func loadLabels() async throws -> [LabelWindow] {
        var windows: [LabelWindow] = []
        if !configuration.labelsPath.isEmpty {
            if let text = try? String(contentsOfFile: configuration.labelsPath, encoding: .utf8) {
                for line in text.split(separator: "\n").dropFirst() {
                    guard let label = AnomalyLabel(csvLine: line) else { continue }
                    windows.append(LabelWindow(symbol: label.symbol, start: label.startTimestamp, end: label.endTimestamp, positive: true))
                }
            } else {
                logger.warning("Cannot read tier2.labels_path; training on feedback only.", metadata: ["path": "\(configuration.labelsPath)"])
            }
        }
        var after: Int64?
        while windows.count < 5_000_000 {
            let page = try await store.labelledAlerts(after: after, limit: 10_000)
            guard let last = page.last else { break }
            for item in page where item.alert.symbol != "ALL" {
                windows.append(
                    LabelWindow(
                        symbol: item.alert.symbol, start: item.alert.firstTimestamp, end: item.alert.lastTimestamp,
                        positive: item.label == .truePositive))
            }
            after = last.alert.id
        }
        return windows
    }

    private func runLocked(trigger: String, actor: String, span: VigilSpan) async throws -> TrainingOutcome {
        let configuration = configuration
        let snapshot = features.snapshot()
        let n = snapshot.count
        guard n >= configuration.minTrainingRows, let first = snapshot.timestamps.first, let last = snapshot.timestamps.last else {
            throw TrainingError(
                code: .insufficientData, message: "\(n) feature rows in memory, tier2.min_training_rows is \(configuration.minTrainingRows)")
        }
        let windows = try await loadLabels()
        // Row labels: a bar inside a positive window is positive; false-positive feedback only confirms the default.
        // Each (row, window) match is found once; the label counts of the splits below are read from it.
        let positives = windows.filter(\.positive)
        var bySymbol: [String: [Int]] = [:]
        for (w, window) in positives.enumerated() { bySymbol[window.symbol, default: []].append(w) }
        var labels = [Bool](repeating: false, count: n)
        var matches: [(row: Int, window: Int)] = []
        /// Rows just after a positive window (within two bars): neither counted for nor against a threshold.
        var afterWindow = [Bool](repeating: false, count: n)
        for i in 0..<n {
            let t = snapshot.timestamps[i]
            for w in bySymbol[snapshot.symbols[i]] ?? [] {
                if t >= positives[w].start && t <= positives[w].end {
                    labels[i] = true
                    matches.append((i, w))
                } else if t > positives[w].end && t <= positives[w].end + 2_000 * Int64(snapshot.intervals[i]) {
                    afterWindow[i] = true
                }
            }
        }
        var avoid: [String: [ClosedRange<Int64>]] = [:]
        for window in windows where window.start <= window.end { avoid[window.symbol, default: []].append(window.start...window.end) }
        /// Distinct positive windows with a bar among `range`'s rows (`matches` is in row order).
        func positiveWindows(_ range: Range<Int>) -> Int {
            Set(matches.lazy.filter { range.contains($0.row) }.map(\.window)).count
        }
        var outcome = TrainingOutcome(trigger: trigger, rows: n, positiveLabels: positiveWindows(0..<n), trainedFrom: first, trainedTo: last)
        span.attributes["vigil.training.rows"] = n
        span.attributes["vigil.training.labels"] = outcome.positiveLabels
        let width = FeatureSet.count
        func rows(_ range: Range<Int>) -> [Double] { Array(snapshot.values[range.lowerBound * width..<range.upperBound * width]) }

        // 1. Challengers in shadow: compared with the champion on the bars that arrived after the challenger's training
        //    data, which neither model was trained on.
        let active = models.active
        for challenger in active.challengers {
            guard let champion = active.champions.first(where: { $0.kind == challenger.kind }) else { continue }
            let start = snapshot.timestamps.firstIndex { $0 > challenger.trainedTo } ?? n
            let window = start..<n
            let labelCount = positiveWindows(window)
            let metric = configuration.promotionMetric.rawValue
            var challengerValue: Double?
            var championValue: Double?
            if labelCount > 0 {
                let x = rows(window)
                let y = Array(labels[window])
                challengerValue = HeldOut.metrics(scores: challenger.model.scores(x), labels: y, threshold: challenger.threshold)[metric]
                championValue = HeldOut.metrics(scores: champion.model.scores(x), labels: y, threshold: champion.threshold)[metric]
            }
            let decision = PromotionRule.decide(
                challenger: challengerValue, champion: championValue, labels: labelCount, minLabels: configuration.minLabels,
                margin: configuration.promotionMargin, metric: metric)
            switch decision {
            case .promote(let reason):
                _ = try await store.promote(id: challenger.id, by: "trainer: shadow (\(reason))", at: Self.now())
                outcome.promotions.append(.init(modelID: challenger.id, kind: challenger.kind, how: "shadow", reason: reason))
                countPromotion(kind: challenger.kind, how: "shadow")
            case .keep(let reason):
                outcome.notes["shadow \(challenger.kind) v\(challenger.version)"] = reason
            }
        }
        if !outcome.promotions.isEmpty { try await models.reload(from: store) }

        // 2. New models on the current rows: train | calibration (threshold, early stopping) | test, by time.
        let holdout = Int(Double(n) * configuration.holdoutFraction)
        let trainEnd = n - holdout
        let calibrationEnd = trainEnd + holdout / 2
        let trainRange = 0..<trainEnd
        let calibrationRange = trainEnd..<calibrationEnd
        let testRange = calibrationEnd..<n
        let trainLabels = positiveWindows(trainRange)
        let testLabels = positiveWindows(testRange)
        let champions = models.active.champions
        var versionSeed = configuration.seed &+ UInt64(truncatingIfNeeded: outcome.rows)

        // Labelled anomalies injected into the stored bars: many per symbol in the training part, and in the calibration
        // part enough to pick a threshold (weighted down to the `contamination` share of rows there).
        let perSymbol = configuration.injectPerSymbol
        let calibrationShare = Double(calibrationRange.count) / Double(max(trainRange.count, 1))
        let perSymbolHeldOut = perSymbol > 0 ? max(4, Int((Double(perSymbol) * calibrationShare).rounded(.up))) : 0
        // The stored bars are read once for all three slices.
        let source = InjectionSource(snapshot: snapshot, store: store)
        let injectedTrain = try await injected(
            source: source, snapshot: snapshot, range: trainRange, avoid: avoid, perSymbol: perSymbol, seed: versionSeed &+ 101)
        let injectedCalibration = try await injected(
            source: source, snapshot: snapshot, range: calibrationRange, avoid: avoid, perSymbol: perSymbolHeldOut, seed: versionSeed &+ 202)
        // Without a labelled anomaly in the test part (a real market nobody has labelled yet) the held-out measures are
        // taken on anomalies injected there instead, and say so (`measured_on_injected`), rather than reading 0.
        let injectedTest =
            testLabels == 0
            ? try await injected(
                source: source, snapshot: snapshot, range: testRange, avoid: avoid, perSymbol: perSymbolHeldOut, seed: versionSeed &+ 303)
            : InjectedSet()
        outcome.injectedAnomalies = injectedTrain.anomalies
        for set in [injectedTrain, injectedCalibration] {
            for (kind, count) in set.rows.injected {
                Counter(label: MetricName.collectorTrainingInjected, dimensions: [("kind", kind.rawValue)]).increment(by: count)
            }
            if set.rows.marketWide > 0 {
                Counter(label: MetricName.collectorTrainingInjected, dimensions: [("kind", "market_wide")]).increment(by: set.rows.marketWide)
            }
        }
        span.attributes["vigil.training.injected_anomalies"] = injectedTrain.anomalies
        let calibrationIndex = naturalWindowIndex(matches: matches, range: calibrationRange)
        func calibrationThreshold(_ model: Tier2Model) -> Double? {
            let natural = model.scores(rows(calibrationRange))
            let injectedScores = model.scores(injectedCalibration.rows.values)
            let injectedPositives = injectedCalibration.rows.labels.filter { $0 }.count
            let weight =
                injectedPositives > 0 ? min(1, configuration.contamination * Double(calibrationRange.count) / Double(injectedPositives)) : 0
            var thresholdRows: [EpisodeThreshold.Row] = []
            for (k, i) in calibrationRange.enumerated() {
                thresholdRows.append(.init(score: natural[k], window: calibrationIndex.windowOfRow[i], weight: afterWindow[i] && !labels[i] ? 0 : 1))
            }
            let offset = calibrationIndex.count
            for (k, window) in injectedCalibration.windows.enumerated() {
                thresholdRows.append(.init(score: injectedScores[k], window: window.map { $0 + offset }, weight: weight))
            }
            let windowWeights = [Double](repeating: 1, count: offset) + [Double](repeating: weight, count: injectedCalibration.anomalies)
            return EpisodeThreshold.best(thresholdRows, windowWeights: windowWeights)?.threshold
        }

        for kind in ModelKind.all {
            let kindStarted = ContinuousClock.now
            let childSpan = tracer.startSpan("collector.trainer.fit", context: span.context, ofKind: .internal)
            childSpan.attributes["vigil.model.kind"] = kind
            defer { childSpan.end() }
            versionSeed &+= 1
            let seed = versionSeed
            let trainX = rows(trainRange)
            let trainY = Array(labels[trainRange])
            let calibrationX = rows(calibrationRange)
            let calibrationY = Array(labels[calibrationRange])
            let model: Tier2Model
            var threshold: Double
            var parameters: [String: Double]
            if kind == ModelKind.isolationForest {
                let forestConfiguration = configuration.forest
                let forest = try await pool.run {
                    try IsolationForest.fit(rows: trainX, featureCount: width, configuration: forestConfiguration, seed: seed)
                }
                model = .forest(forest)
                if let best = calibrationThreshold(model) {
                    threshold = best
                } else {
                    // Unsupervised: flag the `contamination` share of the training rows.
                    let trainScores = model.scores(trainX).sorted()
                    threshold = trainScores[min(trainScores.count - 1, Int(Double(trainScores.count) * (1 - configuration.contamination)))]
                }
                parameters = [
                    "trees": Double(configuration.forestTrees), "sample_size": Double(configuration.forestSampleSize),
                    "contamination": configuration.contamination, "seed": Double(seed),
                ]
            } else {
                let calibrationPositives = calibrationY.contains(true) || injectedCalibration.anomalies > 0
                let enoughLabels = trainLabels >= configuration.minLabels || injectedTrain.anomalies >= configuration.minLabels
                guard enoughLabels, calibrationPositives else {
                    outcome.notes[kind] =
                        "not trained: \(trainLabels) labelled and \(injectedTrain.anomalies) injected anomalies in the training part "
                        + "(\(configuration.minLabels) needed), calibration positives \(calibrationPositives)"
                    continue
                }
                let boostedConfiguration = configuration.boostedTrees
                let x = trainX + injectedTrain.rows.values
                let y = (trainY + injectedTrain.rows.labels).map { $0 ? 1.0 : 0.0 }
                let validation = (
                    features: calibrationX + injectedCalibration.rows.values,
                    labels: (calibrationY + injectedCalibration.rows.labels).map { $0 ? 1.0 : 0.0 }
                )
                let trees = try await pool.run {
                    try GradientBoostedTrees.fit(
                        features: x, featureCount: width, labels: y, validation: validation, configuration: boostedConfiguration, seed: seed)
                }
                model = .boosted(trees)
                threshold = calibrationThreshold(model) ?? 0.5
                parameters = [
                    "rounds": Double(configuration.boostedRounds), "max_depth": Double(configuration.boostedMaxDepth),
                    "learning_rate": configuration.boostedLearningRate, "early_stopping_rounds": Double(configuration.boostedEarlyStoppingRounds),
                    "seed": Double(seed),
                ]
            }
            var metrics: [String: Double]
            if testLabels == 0 && injectedTest.anomalies > 0 {
                metrics = HeldOut.metrics(
                    scores: model.scores(rows(testRange) + injectedTest.rows.values), labels: Array(labels[testRange]) + injectedTest.rows.labels,
                    threshold: threshold)
                metrics["measured_on_injected"] = 1
                metrics["test_injected_anomalies"] = Double(injectedTest.anomalies)
            } else {
                metrics = HeldOut.metrics(scores: model.scores(rows(testRange)), labels: Array(labels[testRange]), threshold: threshold)
            }
            metrics["train_rows"] = Double(trainRange.count)
            metrics["train_labels"] = Double(trainLabels)
            metrics["test_labels"] = Double(testLabels)
            metrics["injected_anomalies"] = Double(injectedTrain.anomalies)
            metrics["injected_market_wide"] = Double(injectedTrain.rows.marketWide)
            let champion = champions.first { $0.kind == kind }
            // Bootstrap: the first model of a kind becomes champion at once, but only when it was measured on labels.
            let bootstrap = champion == nil && testLabels >= 1 && trainLabels + testLabels >= configuration.minLabels
            var record = StoredModel(
                kind: kind, featureSetVersion: FeatureSet.version, trainedFrom: first, trainedTo: snapshot.timestamps[trainEnd - 1],
                parametersJSON: ModelMetricsJSON.encode(parameters), metricsJSON: ModelMetricsJSON.encode(metrics),
                status: bootstrap ? .champion : .challenger, parentID: champion?.id, createdAt: Self.now(),
                createdBy: "trainer:\(trigger) (\(actor))",
                promotedAt: bootstrap ? Self.now() : nil,
                promotedBy: bootstrap ? "trainer: bootstrap (no champion; \(testLabels) test labels)" : nil, artifact: model.artifact)
            record = try await store.registerModel(record)
            outcome.registered.append(record)
            if bootstrap {
                outcome.promotions.append(.init(modelID: record.id, kind: kind, how: "bootstrap", reason: "no champion of this kind"))
                countPromotion(kind: kind, how: "bootstrap")
            } else if champion == nil {
                outcome.notes[kind] = "registered as challenger: too few labels (\(trainLabels + testLabels)) to make it champion automatically"
            }
            let (s, atto) = (ContinuousClock.now - kindStarted).components
            Metrics.Timer(label: MetricName.collectorTrainingDuration, dimensions: [("kind", kind)])
                .recordNanoseconds(s * 1_000_000_000 + atto / 1_000_000_000)
            childSpan.attributes["vigil.model.id"] = Int(record.id)
            childSpan.attributes["vigil.model.status"] = record.status.rawValue
        }
        try await models.reload(from: store)
        return outcome
    }

    /// Natural label windows with rows in `range`, numbered from 0, and each row's window.
    private func naturalWindowIndex(matches: [(row: Int, window: Int)], range: Range<Int>) -> (windowOfRow: [Int: Int], count: Int) {
        var numbers: [Int: Int] = [:]
        var windowOfRow: [Int: Int] = [:]
        for match in matches where range.contains(match.row) {
            let number = numbers[match.window] ?? numbers.count
            numbers[match.window] = number
            windowOfRow[match.row] = number
        }
        return (windowOfRow, numbers.count)
    }

    /// A manual promotion (`POST /v1/models/{id}/promote`).
    public func promote(id: Int64, by actor: String) async throws -> StoredModel {
        let model = try await store.promote(id: id, by: actor, at: Self.now())
        countPromotion(kind: model.kind, how: "manual")
        try await models.reload(from: store)
        logger.info("Model promoted.", metadata: ["model.id": "\(id)", "model.kind": "\(model.kind)", "promoted_by": "\(actor)"])
        return model
    }

    private func countPromotion(kind: String, how: String) {
        let kind = ModelKind.all.contains(kind) ? kind : "other"
        Counter(label: MetricName.collectorModelPromotions, dimensions: [("kind", kind), ("how", how)]).increment()
    }

    static func now() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }
}

/// Scheduled training (`tier2.train_interval_seconds`).
struct TrainingService: Service {
    let tier2: Tier2Runtime
    let interval: Duration

    func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
            guard !Task.isCancelled && !Task.isShuttingDownGracefully else { break }
            _ = try? await tier2.train(trigger: "schedule", actor: "schedule")
        }
    }
}
