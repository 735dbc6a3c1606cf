// Tier-2 models against their peers (issue 4 §7), on the data files `peers/peers.py generate` and `build-sp500` write.
//   ModelPeers --data DIR [--trees 100] [--rounds 200]
//       fits and scores Vigil's Isolation Forest and gradient-boosted trees (single thread), times them, and prints one
//       JSON object with the same fields as peers.py, so run-peers.sh can put the two side by side.
//   ModelPeers build-sp500 --data SP500_DAILY_DIR --out DIR [--seed 11] [--rate 0.01]
//       writes dataset (b): FeatureSet rows from the real daily bars with injected, labelled anomalies
//       (SP500Features.swift states the rule).
//   ModelPeers forest-score --data DIR [--trees 100] [--seed 0] [--repeat 10] [--save FILE] [--compare FILE]
//       for work on the forest's scoring kernel: best of `repeat` scorings of the test rows, and the largest difference
//       from scores saved earlier (raw little-endian float64).
import Foundation
import VigilDetection

let usage = """
    usage: ModelPeers --data DIR [--trees 100] [--rounds 200]
           ModelPeers build-sp500 --data SP500_DAILY_DIR --out DIR [--seed 11] [--rate 0.01]
           ModelPeers forest-score --data DIR [--trees 100] [--seed 0] [--repeat 10] [--save FILE] [--compare FILE]
    """

let mode = CommandLine.arguments.count > 1 && !CommandLine.arguments[1].hasPrefix("-") ? CommandLine.arguments[1] : "run"
guard let directory = argument("--data") else { fail(usage) }
let trees = Int(argument("--trees", default: "100") ?? "") ?? 100

switch mode {
case "build-sp500":
    guard let out = argument("--out") else { fail(usage) }
    let seed = UInt64(argument("--seed", default: "11") ?? "") ?? 11
    let rate = Double(argument("--rate", default: "0.01") ?? "") ?? 0.01
    var dataset: Dataset?
    let elapsed = seconds { dataset = SP500Features.build(dataDirectory: directory, seed: seed, rate: rate) }
    guard let dataset else { fail("no data set") }
    do { try dataset.write(to: out) } catch { fail("cannot write \(out): \(error)") }
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    note("built in \(String(format: "%.1f", elapsed)) s")
    print(String(decoding: (try? encoder.encode(dataset.meta)) ?? Data(), as: UTF8.self))
case "forest-score":
    let dataset = Dataset.read(from: directory)
    let split = Split(dataset)
    let repeats = Int(argument("--repeat", default: "10") ?? "") ?? 10
    let seed = UInt64(argument("--seed", default: "0") ?? "") ?? 0
    guard let forest = try? IsolationForest.fit(rows: split.xTrain, featureCount: split.d, configuration: .init(treeCount: trees), seed: seed)
    else { fail("isolation forest fit failed") }
    var scores: [Double] = []
    var best = Double.infinity
    var bestCPU = Double.infinity
    func threadCPU() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
    }
    for _ in 0..<max(repeats, 1) {
        let cpu = threadCPU()
        best = min(best, seconds { scores = forest.scores(rows: split.xTest, featureCount: split.d) })
        bestCPU = min(bestCPU, threadCPU() - cpu)
    }
    let rows = Double(split.testRows)
    var report = String(format: "%.0f rows/s (best of %d; %.0f per CPU second)", rows / best, repeats, rows / bestCPU)
    report += String(format: ", ROC-AUC %.6f", ModelMetrics.rocAUC(scores: scores, labels: split.testLabels) ?? .nan)
    let single = (0..<min(split.testRows, 1000)).map { forest.score(Array(split.xTest[($0 * split.d)..<(($0 + 1) * split.d)])) }
    report += ", single = batch: \(single.indices.allSatisfy { single[$0] == scores[$0] })"
    if let path = argument("--compare"), let data = FileManager.default.contents(atPath: path), data.count == scores.count * 8 {
        var largest = 0.0
        var differing = 0
        data.withUnsafeBytes { raw in
            for i in scores.indices {
                let saved = Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self)))
                largest = max(largest, abs(saved - scores[i]))
                differing += saved == scores[i] ? 0 : 1
            }
        }
        report += ", vs \(path): \(differing) differ, largest difference \(largest)"
    }
    if let path = argument("--save") {
        var bytes = Data()
        for s in scores { withUnsafeBytes(of: s.bitPattern.littleEndian) { bytes.append(contentsOf: $0) } }
        try? bytes.write(to: URL(fileURLWithPath: path))
    }
    print(report)
case "run":
    let rounds = Int(argument("--rounds", default: "200") ?? "") ?? 200
    print(runModels(Dataset.read(from: directory), name: directory, trees: trees, rounds: rounds))
default:
    fail(usage)
}
