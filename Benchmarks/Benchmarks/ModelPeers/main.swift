// Tier-2 models against their peers (issue 4 §7), on the data files `peers/peers.py generate` writes: fits and scores
// Vigil's Isolation Forest and gradient-boosted trees (single thread), times them, and prints one JSON object with the
// same fields as peers.py, so run-peers.sh can put the two side by side.
//   ModelPeers --data DIR [--trees 100] [--rounds 200]
import Foundation
import VigilDetection

struct Meta: Decodable {
    var rows: Int
    var features: Int
    var train: Int
    var validation: Int
    var name: String?
}

func argument(_ name: String, default value: String? = nil) -> String? {
    let arguments = CommandLine.arguments
    guard let index = arguments.firstIndex(of: name), index + 1 < arguments.count else { return value }
    return arguments[index + 1]
}

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("ModelPeers: \(message)\n".utf8))
    exit(2)
}

func seconds(_ body: () throws -> Void) rethrows -> Double {
    let start = ContinuousClock.now
    try body()
    let (s, atto) = start.duration(to: .now).components
    return Double(s) + Double(atto) / 1e18
}

guard let directory = argument("--data") else { fail("usage: ModelPeers --data DIR [--trees 100] [--rounds 200]") }
let trees = Int(argument("--trees", default: "100") ?? "") ?? 100
let rounds = Int(argument("--rounds", default: "200") ?? "") ?? 200
guard let metaData = FileManager.default.contents(atPath: directory + "/meta.json"),
    let meta = try? JSONDecoder().decode(Meta.self, from: metaData)
else { fail("cannot read \(directory)/meta.json") }
guard let xData = FileManager.default.contents(atPath: directory + "/X.f64"), xData.count == meta.rows * meta.features * 8,
    let yData = FileManager.default.contents(atPath: directory + "/y.u8"), yData.count == meta.rows
else { fail("X.f64 / y.u8 do not match meta.json") }

// Little-endian float64, as numpy's "<f8" writes them.
let x: [Double] = xData.withUnsafeBytes { raw in
    (0..<(meta.rows * meta.features)).map { Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 8, as: UInt64.self))) }
}
let y = [UInt8](yData)
let d = meta.features
let trainEnd = meta.train
let validationEnd = meta.train + meta.validation
let xTrain = Array(x[0..<(trainEnd * d)])
let xValidation = Array(x[(trainEnd * d)..<(validationEnd * d)])
let xTest = Array(x[(validationEnd * d)...])
let yTrain = y[0..<trainEnd].map { Double($0) }
let yValidation = y[trainEnd..<validationEnd].map { Double($0) }
let testLabels = y[validationEnd...].map { $0 == 1 }
let testRows = testLabels.count

var result: [String: Any] = ["dataset": meta.name ?? directory, "implementation": "vigil", "test_rows": testRows]

// Isolation Forest: unsupervised fit on the training rows, scores on the test rows.
var forest: IsolationForest?
let forestFit = seconds {
    forest = try? IsolationForest.fit(rows: xTrain, featureCount: d, configuration: .init(treeCount: trees), seed: 0)
}
guard let forest else { fail("isolation forest fit failed") }
var forestScores: [Double] = []
let forestScore = seconds { forestScores = forest.scores(rows: xTest, featureCount: d) }
result["isolation_forest"] = [
    "fit_seconds": forestFit, "fit_rows_per_second": Double(trainEnd) / forestFit,
    "score_rows_per_second": Double(testRows) / forestScore,
    "roc_auc": ModelMetrics.rocAUC(scores: forestScores, labels: testLabels) ?? .nan,
    "pr_auc": ModelMetrics.prAUC(scores: forestScores, labels: testLabels) ?? .nan,
]

// Gradient-boosted trees: supervised, early stopping on the validation rows, as the xgboost peer.
var configuration = GradientBoostedTrees.Configuration()
configuration.rounds = rounds
var boosted: GradientBoostedTrees?
let boostedFit = seconds {
    boosted = try? GradientBoostedTrees.fit(
        features: xTrain, featureCount: d, labels: yTrain, validation: (xValidation, yValidation), configuration: configuration, seed: 0)
}
guard let boosted else { fail("gradient-boosted trees fit failed") }
var probabilities: [Double] = []
let boostedPredict = seconds { probabilities = boosted.predict(rows: xTest, featureCount: d) }
result["gradient_boosted_trees"] = [
    "fit_seconds": boostedFit, "rounds": boosted.bestIteration + 1, "predict_rows_per_second": Double(testRows) / boostedPredict,
    "roc_auc": ModelMetrics.rocAUC(scores: probabilities, labels: testLabels) ?? .nan,
    "pr_auc": ModelMetrics.prAUC(scores: probabilities, labels: testLabels) ?? .nan,
]

let json = try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys])
print(String(decoding: json, as: UTF8.self))
