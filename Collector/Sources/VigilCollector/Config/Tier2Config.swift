import Foundation
import VigilConfig
import VigilDetection

/// `tier2`: the market-wide models (Isolation Forest, gradient-boosted trees), their feature store and training.
public struct Tier2Section: Codable, Sendable, Equatable {
    /// Which registered metric decides a promotion.
    public enum PromotionMetric: String, Codable, Sendable, CaseIterable {
        case f1
        case prAUC = "pr_auc"
        case rocAUC = "roc_auc"
    }

    /// Score bars with the champion models (and challengers in shadow).
    public var enabled = true
    /// Recent feature rows kept in memory for training and `GET /v1/scores` (the feature store); ~260 bytes each.
    public var featureStoreRows = 500_000
    /// Scheduled training every this many seconds; 0 = only on demand (`POST /v1/models/train`).
    public var trainIntervalSeconds = 0
    /// A run needs at least this many feature rows.
    public var minTrainingRows = 2_000
    /// Positive labels (anomaly windows) the boosted trees need in the training part, and that a shadow comparison
    /// needs before a challenger may replace a champion automatically.
    public var minLabels = 30
    /// The metric a challenger must beat the champion on, and by how much (absolute).
    public var promotionMetric = PromotionMetric.prAUC
    public var promotionMargin = 0.01
    /// The newest share of the rows held out: its first half picks the decision threshold, its second half measures.
    public var holdoutFraction = 0.3
    /// Labelled injected anomalies (`symbol,kind,start_timestamp,end_timestamp`, the synthetic market's labels file);
    /// read at every run. Empty: analyst feedback only.
    public var labelsPath = ""
    /// Without labels the forest flags this share of the training rows; also the share of anomalous rows the boosted
    /// trees' decision threshold is calibrated for when it is picked on injected anomalies.
    public var contamination = 0.005
    /// Labelled anomalies the trainer injects into each symbol's stored bars for the boosted trees (the catalogue of
    /// `AnomalyShape`, sized by each symbol's own σ); 0 = learn from the labels file and feedback only.
    public var injectPerSymbol = 60
    /// Share of those shocks replayed as market-wide moves and labelled normal (a move every symbol shares is one
    /// market-wide alert, not an anomaly of each symbol).
    public var injectMarketWideShare = 0.5
    /// At most this many anomalies injected per run (per symbol fewer when there are many symbols): the boosted trees'
    /// training time grows with the rows injected.
    public var injectMaxAnomalies = 6_000
    public var forestTrees = 100
    public var forestSampleSize = 256
    /// Boosted trees: the main XGBoost-named parameters (the rest keep `GradientBoostedTrees.Configuration`'s defaults).
    public var boostedRounds = 200
    public var boostedMaxDepth = 6
    public var boostedLearningRate = 0.1
    public var boostedEarlyStoppingRounds = 20
    /// Training seed; each run adds its model version so successive models differ.
    public var seed: UInt64 = 1

    public init() {}

    enum CodingKeys: String, CodingKey {
        case enabled, featureStoreRows, trainIntervalSeconds, minTrainingRows, minLabels, promotionMetric, promotionMargin
        case holdoutFraction, labelsPath, contamination, injectPerSymbol, injectMarketWideShare, injectMaxAnomalies, forestTrees, forestSampleSize,
            boostedRounds, boostedMaxDepth,
            boostedLearningRate, boostedEarlyStoppingRounds, seed
    }

    public init(from decoder: any Swift.Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = Self()
        enabled = try c.value(.enabled, or: d.enabled)
        featureStoreRows = try c.value(.featureStoreRows, or: d.featureStoreRows)
        trainIntervalSeconds = try c.value(.trainIntervalSeconds, or: d.trainIntervalSeconds)
        minTrainingRows = try c.value(.minTrainingRows, or: d.minTrainingRows)
        minLabels = try c.value(.minLabels, or: d.minLabels)
        promotionMetric = try c.value(.promotionMetric, or: d.promotionMetric)
        promotionMargin = try c.value(.promotionMargin, or: d.promotionMargin)
        holdoutFraction = try c.value(.holdoutFraction, or: d.holdoutFraction)
        labelsPath = try c.value(.labelsPath, or: d.labelsPath)
        contamination = try c.value(.contamination, or: d.contamination)
        injectPerSymbol = try c.value(.injectPerSymbol, or: d.injectPerSymbol)
        injectMarketWideShare = try c.value(.injectMarketWideShare, or: d.injectMarketWideShare)
        injectMaxAnomalies = try c.value(.injectMaxAnomalies, or: d.injectMaxAnomalies)
        forestTrees = try c.value(.forestTrees, or: d.forestTrees)
        forestSampleSize = try c.value(.forestSampleSize, or: d.forestSampleSize)
        boostedRounds = try c.value(.boostedRounds, or: d.boostedRounds)
        boostedMaxDepth = try c.value(.boostedMaxDepth, or: d.boostedMaxDepth)
        boostedLearningRate = try c.value(.boostedLearningRate, or: d.boostedLearningRate)
        boostedEarlyStoppingRounds = try c.value(.boostedEarlyStoppingRounds, or: d.boostedEarlyStoppingRounds)
        seed = try c.value(.seed, or: d.seed)
    }

    /// The boosted trees' training parameters.
    public var boostedTrees: GradientBoostedTrees.Configuration {
        var configuration = GradientBoostedTrees.Configuration()
        configuration.rounds = boostedRounds
        configuration.maxDepth = boostedMaxDepth
        configuration.learningRate = boostedLearningRate
        configuration.earlyStoppingRounds = boostedEarlyStoppingRounds
        return configuration
    }

    /// The forest's training parameters.
    public var forest: IsolationForest.Configuration {
        IsolationForest.Configuration(treeCount: forestTrees, sampleSize: forestSampleSize)
    }

    func validationProblems() -> [ConfigProblem] {
        var problems: [ConfigProblem] = []
        func check(_ ok: Bool, _ key: String, _ message: String) {
            if !ok { problems.append(ConfigProblem(path: "tier2." + key, message: message)) }
        }
        check((1_000...50_000_000).contains(featureStoreRows), "feature_store_rows", "must be 1000...50000000")
        check(trainIntervalSeconds >= 0, "train_interval_seconds", "must be 0 (on demand only) or positive")
        check(minTrainingRows >= 100, "min_training_rows", "must be at least 100")
        check(minLabels >= 1, "min_labels", "must be positive")
        check(promotionMargin >= 0 && promotionMargin < 1, "promotion_margin", "must be in 0..<1")
        check(holdoutFraction >= 0.05 && holdoutFraction <= 0.8, "holdout_fraction", "must be in 0.05...0.8")
        check(contamination > 0 && contamination < 0.5, "contamination", "must be in 0..<0.5")
        check((0...10_000).contains(injectPerSymbol), "inject_per_symbol", "must be 0...10000")
        check(injectMarketWideShare >= 0 && injectMarketWideShare < 1, "inject_market_wide_share", "must be in 0..<1")
        check((1...10_000_000).contains(injectMaxAnomalies), "inject_max_anomalies", "must be 1...10000000")
        check((1...10_000).contains(forestTrees), "forest_trees", "must be 1...10000")
        check((2...100_000).contains(forestSampleSize), "forest_sample_size", "must be 2...100000")
        problems += boostedTrees.validate().map { ConfigProblem(path: "tier2", message: "boosted trees: " + $0) }
        return problems
    }
}
