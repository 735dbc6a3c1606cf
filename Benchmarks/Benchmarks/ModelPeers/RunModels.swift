// Vigil's side of the comparison: the same splits, configurations and timing as peers.py's `run`.
import Foundation
import VigilDetection

/// The data set cut as peers.py cuts it: train, validation, test rows in file order.
struct Split {
    let d: Int
    let xTrain: [Double]
    let xValidation: [Double]
    let xTest: [Double]
    let yTrain: [Double]
    let yValidation: [Double]
    let testLabels: [Bool]
    var testRows: Int { testLabels.count }

    init(_ dataset: Dataset) {
        let meta = dataset.meta
        d = meta.features
        let trainEnd = meta.train
        let validationEnd = meta.train + meta.validation
        xTrain = Array(dataset.x[0..<(trainEnd * d)])
        xValidation = Array(dataset.x[(trainEnd * d)..<(validationEnd * d)])
        xTest = Array(dataset.x[(validationEnd * d)...])
        yTrain = dataset.y[0..<trainEnd].map { Double($0) }
        yValidation = dataset.y[trainEnd..<validationEnd].map { Double($0) }
        testLabels = dataset.y[validationEnd...].map { $0 == 1 }
    }
}

/// Fits and scores both models, single-threaded, wall clock of the fit / score calls only; one JSON object.
func runModels(_ dataset: Dataset, name: String, trees: Int, rounds: Int) -> String {
    let split = Split(dataset)
    let d = split.d
    let testRows = split.testRows
    var result: [String: Any] = ["dataset": dataset.meta.name ?? name, "implementation": "vigil", "test_rows": testRows]

    // Isolation Forest: unsupervised fit on the training rows, scores on the test rows.
    var forest: IsolationForest?
    let forestFit = seconds {
        forest = try? IsolationForest.fit(rows: split.xTrain, featureCount: d, configuration: .init(treeCount: trees), seed: 0)
    }
    guard let forest else { fail("isolation forest fit failed") }
    var forestScores: [Double] = []
    let forestScore = seconds { forestScores = forest.scores(rows: split.xTest, featureCount: d) }
    result["isolation_forest"] = [
        "fit_seconds": forestFit, "fit_rows_per_second": Double(split.yTrain.count) / forestFit,
        "score_rows_per_second": Double(testRows) / forestScore,
        "roc_auc": ModelMetrics.rocAUC(scores: forestScores, labels: split.testLabels) ?? .nan,
        "pr_auc": ModelMetrics.prAUC(scores: forestScores, labels: split.testLabels) ?? .nan,
    ]

    // Gradient-boosted trees: supervised, early stopping on the validation rows, as the xgboost peer.
    var configuration = GradientBoostedTrees.Configuration()
    configuration.rounds = rounds
    var boosted: GradientBoostedTrees?
    let boostedFit = seconds {
        boosted = try? GradientBoostedTrees.fit(
            features: split.xTrain, featureCount: d, labels: split.yTrain, validation: (split.xValidation, split.yValidation),
            configuration: configuration, seed: 0)
    }
    guard let boosted else { fail("gradient-boosted trees fit failed") }
    var probabilities: [Double] = []
    let boostedPredict = seconds { probabilities = boosted.predict(rows: split.xTest, featureCount: d) }
    result["gradient_boosted_trees"] = [
        "fit_seconds": boostedFit, "rounds": boosted.bestIteration + 1, "predict_rows_per_second": Double(testRows) / boostedPredict,
        "roc_auc": ModelMetrics.rocAUC(scores: probabilities, labels: split.testLabels) ?? .nan,
        "pr_auc": ModelMetrics.prAUC(scores: probabilities, labels: split.testLabels) ?? .nan,
    ]

    guard let json = try? JSONSerialization.data(withJSONObject: result, options: [.sortedKeys]) else { fail("cannot encode the result") }
    return String(decoding: json, as: UTF8.self)
}
