// Vigil collector Tier-2: the models scoring live — each kind's champion, and its newest challenger in shadow.

import Foundation
import Logging
import Metrics
import Synchronization
import VigilDetection
import VigilStore
import VigilTelemetry

/// The model families the registry holds.
public enum ModelKind {
    public static let isolationForest = "isolation_forest"
    public static let boostedTrees = "gradient_boosted_trees"
    public static let all = [isolationForest, boostedTrees]
}

/// A decoded model of either family.
enum Tier2Model: Sendable {
    case forest(IsolationForest)
    case boosted(GradientBoostedTrees)

    init(kind: String, artifact: [UInt8]) throws {
        switch kind {
        case ModelKind.isolationForest: self = .forest(try IsolationForest(serialized: artifact))
        case ModelKind.boostedTrees: self = .boosted(try GradientBoostedTrees(serialized: artifact))
        default: throw ModelFormatError(.invalidContent, "unknown model kind \(kind)")
        }
    }

    var kind: String {
        switch self {
        case .forest: ModelKind.isolationForest
        case .boosted: ModelKind.boostedTrees
        }
    }

    var featureCount: Int {
        switch self {
        case .forest(let f): f.featureCount
        case .boosted(let b): b.featureCount
        }
    }

    var artifact: [UInt8] {
        switch self {
        case .forest(let f): f.serialized()
        case .boosted(let b): b.serialized()
        }
    }

    /// Scores in 0...1 (forest: anomaly score; boosted trees: probability), one per row of `rows` (row-major).
    func scores(_ rows: [Double]) -> [Double] {
        switch self {
        case .forest(let f): f.scores(rows: rows, featureCount: FeatureSet.count)
        case .boosted(let b): b.predict(rows: rows, featureCount: FeatureSet.count)
        }
    }

    /// Per feature, how much it pushed this row towards "anomalous" (forest: path shortened; trees: log-odds).
    func contributions(_ row: [Double]) -> [Double] {
        switch self {
        case .forest(let f): f.pathContributions(row)
        case .boosted(let b): Array(b.contributions(row).prefix(FeatureSet.count))
        }
    }
}

/// A registered model ready to score, with the decision threshold its training run chose.
struct LoadedModel: Sendable {
    var id: Int64
    var version: Int
    var threshold: Double
    var trainedTo: Int64
    var metrics: [String: Double]
    var model: Tier2Model

    var kind: String { model.kind }

    init(_ record: StoredModel) throws {
        guard record.featureSetVersion == FeatureSet.version else {
            throw ModelFormatError(
                .invalidContent, "model \(record.id) uses feature set \(record.featureSetVersion), this build computes \(FeatureSet.version)")
        }
        let model = try Tier2Model(kind: record.kind, artifact: record.artifact)
        guard model.featureCount == FeatureSet.count else {
            throw ModelFormatError(.invalidContent, "model \(record.id) has \(model.featureCount) features, not \(FeatureSet.count)")
        }
        let metrics = ModelMetricsJSON.decode(record.metricsJSON)
        id = record.id
        version = record.version
        threshold = metrics["threshold"] ?? 0.5
        trainedTo = record.trainedTo
        self.metrics = metrics
        self.model = model
    }
}

/// The models in use, swapped as a whole after a training run or a promotion (readers take one snapshot per request).
final class Tier2Models: Sendable {
    struct Active: Sendable {
        var champions: [LoadedModel] = []
        var challengers: [LoadedModel] = []
        var isEmpty: Bool { champions.isEmpty && challengers.isEmpty }
    }

    private let state = Mutex(Active())
    private let logger: Logger

    init(logger: Logger) {
        self.logger = logger
    }

    var active: Active { state.withLock { $0 } }

    /// Loads each kind's champion and newest challenger from the registry. A model this build cannot use is logged and
    /// skipped (scoring continues with what loads); a store failure keeps the models already loaded.
    func reload(from store: any ModelRegistry) async throws {
        var active = Active()
        for kind in ModelKind.all {
            if let champion = try await store.champion(kind: kind) {
                if let loaded = load(champion) { active.champions.append(loaded) }
            }
            if let newest = try await store.models(kind: kind, status: .challenger, limit: 1).first,
                let full = try await store.model(id: newest.id), let loaded = load(full)
            {
                active.challengers.append(loaded)
            }
        }
        for kind in ModelKind.all {
            Metrics.Gauge(label: MetricName.collectorChampionVersion, dimensions: [("kind", kind)])
                .record(active.champions.first { $0.kind == kind }?.version ?? 0)
        }
        let loaded = active
        state.withLock { $0 = loaded }
        logger.info(
            "Tier-2 models loaded.",
            metadata: [
                "models.champions": "\(loaded.champions.map { "\($0.kind) v\($0.version)" })",
                "models.challengers": "\(loaded.challengers.map { "\($0.kind) v\($0.version)" })",
            ])
    }

    private func load(_ record: StoredModel) -> LoadedModel? {
        do {
            return try LoadedModel(record)
        } catch {
            logger.error(
                "Cannot use a registered model; it is skipped.", metadata: ["model.id": "\(record.id)", "error.message": "\(error)"])
            return nil
        }
    }
}

/// The metrics object of a registered model, read as numbers (other values are ignored).
enum ModelMetricsJSON {
    static func decode(_ json: String) -> [String: Double] {
        guard let object = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any] else { return [:] }
        var result: [String: Double] = [:]
        for (key, value) in object {
            if let number = value as? NSNumber { result[key] = number.doubleValue }
        }
        return result
    }

    static func encode(_ values: [String: Double]) -> String {
        let finite = values.filter { $0.value.isFinite }
        guard let data = try? JSONSerialization.data(withJSONObject: finite, options: [.sortedKeys]) else { return "{}" }
        return String(decoding: data, as: UTF8.self)
    }
}
