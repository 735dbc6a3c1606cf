import Foundation
import Testing

@testable import VigilDetection

@Suite("Isolation Forest")
struct IsolationForestTests {
    /// scikit-learn's `_average_path_length`, written out independently of the code under test.
    static func c(_ n: Double) -> Double {
        if n <= 1 { return 0 }
        if n == 2 { return 1 }
        return 2 * (log(n - 1) + 0.5772156649) - 2 * (n - 1) / n
    }

    /// `count` rows of standard-normal features; a `outlierShare` of them are pushed 6-9 units out in a random
    /// direction (the ordinary rows have norm ≈ √8 ≈ 2.8). Returns the rows and which are outliers.
    static func gaussianWithOutliers(count: Int, features: Int, outlierShare: Double, seed: UInt64) -> (rows: [Double], labels: [Bool]) {
        var rng = SeededGenerator(seed: seed)
        var rows: [Double] = []
        var labels: [Bool] = []
        rows.reserveCapacity(count * features)
        for _ in 0..<count {
            let row = (0..<features).map { _ in rng.nextNormal() }
            let outlier = rng.nextUnit() < outlierShare
            labels.append(outlier)
            if outlier {
                let norm = row.reduce(0) { $0 + $1 * $1 }.squareRoot()
                let radius = rng.uniform(6, 9)
                rows += row.map { $0 / norm * radius }
            } else {
                rows += row
            }
        }
        return (rows, labels)
    }

    static let small = gaussianWithOutliers(count: 600, features: 4, outlierShare: 0.02, seed: 5)

    // MARK: Definitions

    @Test("c(n) matches scikit-learn's average path length")
    func averagePathLength() {
        #expect(IsolationForest.averagePathLength(0) == 0)
        #expect(IsolationForest.averagePathLength(1) == 0)
        #expect(IsolationForest.averagePathLength(2) == 1)
        // c(3) = 2(ln 2 + γ) − 4/3; c(256) = 2(ln 255 + γ) − 510/256 ≈ 10.2447.
        #expect(abs(IsolationForest.averagePathLength(3) - (2 * (0.693_147_180_56 + 0.5772156649) - 4.0 / 3)) < 1e-9)
        #expect(abs(IsolationForest.averagePathLength(256) - 10.2447) < 1e-4)
        for n in [3, 8, 100, 256, 10_000] {
            #expect(abs(IsolationForest.averagePathLength(n) - Self.c(Double(n))) < 1e-9)
        }
    }

    @Test("a hand-built axis-parallel forest scores by the formula")
    func handBuiltForest() throws {
        // Tree A: x0 <= 0.5 → leaf of 1 | x1 <= 2 → leaf of 3 | leaf of 4.
        // Tree B: x1 <= 1 → (x0 <= −1 → leaf of 2 | leaf of 2) | leaf of 4. ψ = 8.
        let forest = try IsolationForest(
            featureCount: 2, sampleSize: 8,
            trees: [
                .split(
                    feature: 0, threshold: 0.5, left: .leaf(size: 1),
                    right: .split(feature: 1, threshold: 2, left: .leaf(size: 3), right: .leaf(size: 4))),
                .split(
                    feature: 1, threshold: 1, left: .split(feature: 0, threshold: -1, left: .leaf(size: 2), right: .leaf(size: 2)),
                    right: .leaf(size: 4)),
            ])
        let c8 = 2 * (log(7.0) + 0.5772156649) - 14.0 / 8
        let c4 = 2 * (log(3.0) + 0.5772156649) - 6.0 / 4
        // (0, 0): A → leaf of 1 at depth 1, h = 1; B → left, then right: leaf of 2 at depth 2, h = 2 + c(2) = 3.
        let p: [Double] = [0, 0]
        #expect(abs(forest.expectedPathLength(p) - 2) < 1e-12)
        #expect(abs(forest.score(p) - pow(2, -2 / c8)) < 1e-9)
        // (1, 5): A → right, right: leaf of 4 at depth 2; B → right: leaf of 4 at depth 1.
        let q: [Double] = [1, 5]
        let hq = ((2 + c4) + (1 + c4)) / 2
        #expect(abs(forest.expectedPathLength(q) - hq) < 1e-9)
        #expect(abs(forest.score(q) - pow(2, -hq / c8)) < 1e-9)
        // A point exactly on a threshold goes left, as in scikit-learn.
        #expect(abs(forest.expectedPathLength([0.5, 1]) - (1 + 3) / 2) < 1e-12)
        // Batch and single-row scoring agree to the bit; rows of the wrong length score NaN.
        #expect(forest.scores(rows: p + q, featureCount: 2) == [forest.score(p), forest.score(q)])
        #expect(forest.score([1]).isNaN)
        #expect(forest.scores(rows: [1, 2, 3], featureCount: 3).allSatisfy { $0.isNaN })

        // Contributions of (0, 0): A credits x0 with E(root) − E(leaf) = c(8) − 1. B credits x1 with c(8) − (1 + c(4))
        // and x0 with (1 + c(4)) − 3. Averaged over the two trees.
        let contributions = forest.pathContributions(p)
        #expect(abs(contributions[0] - ((c8 - 1) + (1 + c4 - 3)) / 2) < 1e-9)
        #expect(abs(contributions[1] - (c8 - 1 - c4) / 2) < 1e-9)
        #expect(abs(contributions.reduce(0, +) - (c8 - forest.expectedPathLength(p))) < 1e-9)
    }

    @Test("a hand-built hyperplane tree routes by normal · (x − intercept)")
    func handBuiltHyperplane() throws {
        // x0 + x1 <= 0 → leaf of 3 | leaf of 1; ψ = 4.
        let forest = try IsolationForest(
            featureCount: 2, sampleSize: 4,
            trees: [.hyperplane(normal: [1, 1], intercept: [0.5, -0.5], left: .leaf(size: 3), right: .leaf(size: 1))])
        let c4 = 2 * (log(3.0) + 0.5772156649) - 6.0 / 4
        let c3 = 2 * (log(2.0) + 0.5772156649) - 4.0 / 3
        #expect(abs(forest.score([1, 1]) - pow(2, -1 / c4)) < 1e-12)
        #expect(abs(forest.score([-1, 0]) - pow(2, -(1 + c3) / c4)) < 1e-12)
        // The whole credit of the one split goes to the features in proportion to |nⱼ (xⱼ − pⱼ)|: (0.5, 1.5) for (1, 1).
        let contributions = forest.pathContributions([1, 1])
        #expect(abs(contributions[0] - (c4 - 1) * 0.25) < 1e-9)
        #expect(abs(contributions[1] - (c4 - 1) * 0.75) < 1e-9)
    }

    // MARK: Fitting

    @Test(
        "the same seed grows the same bytes; another seed does not",
        arguments: [
            IsolationForest.Configuration(), IsolationForest.Configuration(variant: .extended(extensionLevel: 3)),
        ])
    func determinism(configuration: IsolationForest.Configuration) throws {
        let (rows, _) = Self.small
        let a = try IsolationForest.fit(rows: rows, featureCount: 4, configuration: configuration, seed: 42)
        let b = try IsolationForest.fit(rows: rows, featureCount: 4, configuration: configuration, seed: 42)
        let c = try IsolationForest.fit(rows: rows, featureCount: 4, configuration: configuration, seed: 43)
        #expect(a.serialized() == b.serialized())
        #expect(a == b)
        #expect(a.serialized() != c.serialized())
    }

    @Test("defaults resolve like scikit-learn: ψ = min(256, n), depth limit ceil(log2 ψ)")
    func resolvedConfiguration() throws {
        let (rows, _) = Self.small
        let big = try IsolationForest.fit(rows: rows, featureCount: 4, seed: 1)
        #expect(big.configuration == IsolationForest.Configuration(treeCount: 100, sampleSize: 256, maxDepth: 8))
        #expect(big.treeCount == 100 && big.sampleSize == 256 && big.featureCount == 4)
        #expect(big.treeDepth.allSatisfy { $0 <= 8 })
        let few = try IsolationForest.fit(rows: Array(rows[0..<(10 * 4)]), featureCount: 4, seed: 1)
        #expect(few.sampleSize == 10 && few.configuration.maxDepth == 4)
        // Every score is a probability-like number.
        let scores = big.scores(rows: rows, featureCount: 4)
        #expect(scores.allSatisfy { $0 > 0 && $0 <= 1 })
    }

    @Test("identical rows cannot be isolated: every tree is one leaf and every score 0.5")
    func constantRows() throws {
        let forest = try IsolationForest.fit(rows: [Double](repeating: 3, count: 50 * 2), featureCount: 2, seed: 9)
        #expect(forest.split.count == forest.treeCount)
        #expect(abs(forest.score([3, 3]) - 0.5) < 1e-12)
        #expect(abs(forest.score([-100, 100]) - 0.5) < 1e-12)
    }

    static func fitError(
        _ rows: [Double], _ featureCount: Int, _ configuration: IsolationForest.Configuration = .default
    ) -> IsolationForest.FitError.Code? {
        do {
            _ = try IsolationForest.fit(rows: rows, featureCount: featureCount, configuration: configuration, seed: 1)
            return nil
        } catch {
            return error.code
        }
    }

    @Test("fit refuses bad input with a reason")
    func fitErrors() {
        let rows: [Double] = [1, 2, 3, 4, 5, 6]
        #expect(Self.fitError(rows, 4) == .invalidShape)
        #expect(Self.fitError(rows, 0) == .invalidShape)
        #expect(Self.fitError([1, 2], 2) == .invalidShape)
        #expect(Self.fitError([1, 2, .nan, 4], 2) == .nonFiniteValue)
        #expect(Self.fitError([1, 2, .infinity, 4], 2) == .nonFiniteValue)
        #expect(Self.fitError(rows, 2, .init(variant: .extended(extensionLevel: 2))) == .invalidConfiguration)
        #expect(Self.fitError(rows, 2, .init(treeCount: 0)) == .invalidConfiguration)
        // 10 000 trees of ψ = 120 000 rows could need more nodes than Int32 indexes: refused before growing anything.
        let wide = [Double](repeating: 0, count: 120_000)
        #expect(Self.fitError(wide, 1, .init(treeCount: 10_000, sampleSize: 1 << 20)) == .invalidConfiguration)
        let problems = IsolationForest.Configuration(treeCount: 0, sampleSize: 1, maxDepth: 0, variant: .extended(extensionLevel: -1)).validate()
        #expect(problems.count == 4)
        #expect(problems.contains("tree_count must be between 1 and 10000, got 0"))
        #expect(IsolationForest.Configuration.default.validate().isEmpty)
    }

    // MARK: Detection quality

    @Test(
        "separates far outliers from 10 000 × 8 Gaussian rows: ROC-AUC > 0.95",
        arguments: [
            IsolationForest.Configuration.Variant.axisParallel, .extended(extensionLevel: 7),
        ])
    func separatesOutliers(variant: IsolationForest.Configuration.Variant) throws {
        let (rows, labels) = Self.gaussianWithOutliers(count: 10_000, features: 8, outlierShare: 0.01, seed: 2024)
        #expect(labels.filter { $0 }.count > 50)
        let forest = try IsolationForest.fit(rows: rows, featureCount: 8, configuration: .init(variant: variant), seed: 7)
        let scores = forest.scores(rows: rows, featureCount: 8)
        let auc = try #require(ModelMetrics.rocAUC(scores: scores, labels: labels))
        #expect(auc > 0.95, "ROC-AUC \(auc)")
        let averagePrecision = try #require(ModelMetrics.prAUC(scores: scores, labels: labels))
        #expect(averagePrecision > 0.5, "PR-AUC \(averagePrecision)")
    }

    @Test(
        "the feature that isolates an outlier gets the largest contribution",
        arguments: [
            IsolationForest.Configuration.Variant.axisParallel, .extended(extensionLevel: 7),
        ])
    func contributions(variant: IsolationForest.Configuration.Variant) throws {
        let (rows, _) = Self.gaussianWithOutliers(count: 2_000, features: 8, outlierShare: 0, seed: 77)
        let forest = try IsolationForest.fit(rows: rows, featureCount: 8, configuration: .init(variant: variant), seed: 3)
        var outlier = [Double](repeating: 0, count: 8)
        outlier[3] = 8
        let contributions = forest.pathContributions(outlier)
        let top = contributions.indices.max { contributions[$0] < contributions[$1] }
        #expect(top == 3, "\(contributions)")
        // They add up to how much shorter than average the path is.
        let shortening = IsolationForest.averagePathLength(forest.sampleSize) - forest.expectedPathLength(outlier)
        #expect(abs(contributions.reduce(0, +) - shortening) < 1e-9)
        #expect(forest.pathContributions([1, 2]).allSatisfy { $0.isNaN })
    }

    @Test("batch scoring equals row-by-row scoring across block boundaries")
    func batchMatchesSingle() throws {
        let (rows, _) = Self.small
        for variant in [IsolationForest.Configuration.Variant.axisParallel, .extended(extensionLevel: 1)] {
            let forest = try IsolationForest.fit(rows: rows, featureCount: 4, configuration: .init(treeCount: 13, variant: variant), seed: 11)
            let batch = forest.scores(rows: rows, featureCount: 4)
            #expect(batch.count == 600)
            for r in 0..<600 {
                let row = Array(rows[(r * 4)..<(r * 4 + 4)])
                #expect(batch[r] == forest.score(row))
                #expect(batch[r] == row.withUnsafeBufferPointer { forest.score($0) })
            }
        }
    }

    /// Σ over trees of h(x), walking the flat Float64 arrays (the model as serialized) one node at a time, with
    /// `goesRight` deciding each split. Written out independently of the scoring kernels.
    static func referencePathLengthSum(_ forest: IsolationForest, _ x: ArraySlice<Double>, goesRight: (Double, Double) -> Bool) -> Double {
        var sum = 0.0
        for t in 0..<forest.treeCount {
            var node = Int(forest.treeStart[t])
            while Int(forest.left[node]) != node {
                let value = x[x.startIndex + Int(forest.split[node])]
                node = Int(forest.left[node]) + (goesRight(value, forest.threshold[node]) ? 1 : 0)
            }
            sum += forest.pathLength[node]
        }
        return sum
    }

    @Test("axis-parallel scoring compares in float32 as scikit-learn does, and stays within rounding of Float64")
    func float32Routing() throws {
        let (rows, labels) = Self.gaussianWithOutliers(count: 3_001, features: 8, outlierShare: 0.02, seed: 21)
        let forest = try IsolationForest.fit(rows: rows, featureCount: 8, configuration: .init(treeCount: 37), seed: 4)
        #expect(forest.completeTrees != nil)
        let batch = forest.scores(rows: rows, featureCount: 8)
        var exactScores: [Double] = []
        var differing = 0
        for r in 0..<3_001 {
            let x = rows[(r * 8)..<(r * 8 + 8)]
            // The kernels route exactly as `Float(x) > threshold` (scikit-learn: X cast to float32, `X <= threshold`
            // goes left) and add the trees in order, so the sums agree to the bit.
            let float32 = Self.referencePathLengthSum(forest, x) { Double(Float($0)) > $1 }
            #expect(forest.expectedPathLength(Array(x)) == float32 / 37)
            #expect(batch[r] == forest.score(Array(x)))
            // Against Float64 routing a row can only move where a value and a threshold share a float32 neighbourhood:
            // rarely, and by at most the difference between two leaves of one tree.
            let float64 = Self.referencePathLengthSum(forest, x) { $0 > $1 }
            if float64 != float32 { differing += 1 }
            #expect(abs(float64 - float32) <= 8 + IsolationForest.averagePathLength(256))
            exactScores.append(pow(2, -(float64 / 37) / IsolationForest.averagePathLength(forest.sampleSize)))
        }
        #expect(differing <= 3, "\(differing) of 3001 rows route differently in float32")
        let auc = try #require(ModelMetrics.rocAUC(scores: batch, labels: labels))
        let exactAUC = try #require(ModelMetrics.rocAUC(scores: exactScores, labels: labels))
        #expect(abs(auc - exactAUC) < 0.005, "float32 \(auc), float64 \(exactAUC)")
    }

    @Test("float32 routing: ties go left, −0 equals +0, NaN goes left, values between Float(t) and t follow float32")
    func float32Edges() throws {
        // t = 0.1 is not a float32: Float(0.1) rounds up above 0.1, so Float(x) > 0.1 already for x = Float(0.1) and
        // not for the largest float below it.
        let t = 0.1
        let forest = try IsolationForest(
            featureCount: 1, sampleSize: 4, trees: [.split(feature: 0, threshold: t, left: .leaf(size: 3), right: .leaf(size: 1))])
        let c3 = IsolationForest.averagePathLength(3)
        func h(_ x: Double) -> Double { forest.expectedPathLength([x]) }
        #expect(Double(Float(t)) > t)
        #expect(h(Double(Float(t))) == 1)  // right
        #expect(h(Double(Float(t).nextDown)) == 1 + c3)  // left
        #expect(h(t) == 1)  // Float(0.1) > 0.1: right, where Float64 would go left (0.1 <= 0.1)
        #expect(h(.nan) == 1 + c3)
        #expect(h(.infinity) == 1)
        #expect(h(-.infinity) == 1 + c3)
        let zero = try IsolationForest(
            featureCount: 1, sampleSize: 4, trees: [.split(feature: 0, threshold: -0.0, left: .leaf(size: 3), right: .leaf(size: 1))])
        #expect(zero.expectedPathLength([0.0]) == 1 + c3)
        #expect(zero.expectedPathLength([-0.0]) == 1 + c3)
        #expect(zero.expectedPathLength([Double(Float.leastNonzeroMagnitude)]) == 1)
        // Batch scoring of the same values agrees, including a partial group of rows.
        let values = [t, Double(Float(t).nextDown), .nan, .infinity, -.infinity, 0.5, -3]
        #expect(forest.scores(rows: values, featureCount: 1) == values.map { forest.score([$0]) })
    }

    @Test("forests the complete-tree layout cannot hold are scored on the flat arrays in Float64")
    func flatFallback() throws {
        // More features than a record's 16-bit offset holds.
        let features = CompleteTrees.maxFeatureCount + 1
        var rng = SeededGenerator(seed: 12)
        let rows = (0..<(12 * features)).map { _ in rng.nextNormal() }
        let wide = try IsolationForest.fit(rows: rows, featureCount: features, configuration: .init(treeCount: 3), seed: 1)
        #expect(wide.completeTrees == nil)
        let x = rows[0..<features]
        #expect(wide.expectedPathLength(Array(x)) == Self.referencePathLengthSum(wide, x) { $0 > $1 } / 3)
        // The extended variant has hyperplanes, not one feature per split.
        let (small, _) = Self.small
        let extended = try IsolationForest.fit(
            rows: small, featureCount: 4, configuration: .init(treeCount: 5, variant: .extended(extensionLevel: 1)), seed: 1)
        #expect(extended.completeTrees == nil)
    }

    @Test("batch scoring equals single-row scoring for row counts around the block and lane sizes", arguments: [1, 7, 9, 255, 257, 515])
    func batchSizes(count: Int) throws {
        let (rows, _) = Self.gaussianWithOutliers(count: count, features: 3, outlierShare: 0.1, seed: UInt64(count))
        let (train, _) = Self.gaussianWithOutliers(count: 400, features: 3, outlierShare: 0.02, seed: 3)
        let forest = try IsolationForest.fit(rows: train, featureCount: 3, configuration: .init(treeCount: 11), seed: 2)
        let batch = forest.scores(rows: rows, featureCount: 3)
        #expect(batch.count == count)
        for r in 0..<count { #expect(batch[r] == forest.score(Array(rows[(r * 3)..<(r * 3 + 3)]))) }
    }

    @Test(
        "the vector pass over the top levels routes as the scalar walk, for wide rows, blocks of other sizes and shallow trees",
        arguments: [(17, 256, 121), (17, 256, 241), (9, 256, 300), (3, 4, 9), (3, 8, 17), (5, 16, 300)])
    func vectorTopLevels(features: Int, sampleSize: Int, count: Int) throws {
        let (train, _) = Self.gaussianWithOutliers(count: 500, features: features, outlierShare: 0.02, seed: 8)
        let (rows, _) = Self.gaussianWithOutliers(count: count, features: features, outlierShare: 0.1, seed: UInt64(count))
        let forest = try IsolationForest.fit(
            rows: train, featureCount: features, configuration: .init(treeCount: 9, sampleSize: sampleSize), seed: 6)
        let trees = try #require(forest.completeTrees)
        // The vector pass runs when every walk has at least its levels (ψ = 4 grows trees of depth ≤ 2).
        #expect(trees.topThresholds.isEmpty == (trees.depth < CompleteTrees.topLevels))
        let batch = forest.scores(rows: rows, featureCount: features)
        for r in 0..<count {
            let x = rows[(r * features)..<((r + 1) * features)]
            let sum = Self.referencePathLengthSum(forest, x) { Double(Float($0)) > $1 }
            #expect(batch[r] == pow(2, -(sum / 9) / IsolationForest.averagePathLength(forest.sampleSize)))
        }
    }

    @Test("a block of rows and the tree it walks fit a 32 KB L1")
    func blockRows() {
        #expect(CompleteTrees.blockRows(featureCount: 1) == 256)
        #expect(CompleteTrees.blockRows(featureCount: 8) == 256)
        #expect(CompleteTrees.blockRows(featureCount: 17) == 120)
        #expect(CompleteTrees.blockRows(featureCount: CompleteTrees.maxFeatureCount) == CompleteTrees.lanes)
    }

    // MARK: Serialization

    @Test(
        "serialization round trip keeps the model and its scores",
        arguments: [
            IsolationForest.Configuration(), IsolationForest.Configuration(treeCount: 20, variant: .extended(extensionLevel: 2)),
        ])
    func roundTrip(configuration: IsolationForest.Configuration) throws {
        let (rows, _) = Self.small
        let forest = try IsolationForest.fit(rows: rows, featureCount: 4, configuration: configuration, seed: 8)
        let bytes = forest.serialized()
        let decoded = try IsolationForest(serialized: bytes)
        #expect(decoded == forest)
        #expect(decoded.serialized() == bytes)
        #expect(decoded.scores(rows: rows, featureCount: 4) == forest.scores(rows: rows, featureCount: 4))
        let model: any AnomalyModel = decoded
        #expect(model.featureCount == 4)
    }

    static func formatError(_ bytes: [UInt8]) -> ModelFormatError? {
        do {
            _ = try IsolationForest(serialized: bytes)
            return nil
        } catch {
            return error
        }
    }

    @Test("truncated, garbled, foreign and future inputs throw")
    func malformedInput() throws {
        let forest = try IsolationForest.fit(rows: Self.small.rows, featureCount: 4, configuration: .init(treeCount: 4, sampleSize: 16), seed: 2)
        let bytes = forest.serialized()
        // Every prefix is refused.
        for length in 0..<bytes.count {
            let error = Self.formatError(Array(bytes[0..<length]))
            #expect(error?.code == .truncated, "prefix of \(length) bytes: \(String(describing: error))")
        }
        #expect(Self.formatError(bytes + [0])?.code == .invalidContent)
        // Any changed byte after the version is caught (by the checksum or, for the checksum itself, by the mismatch).
        for offset in stride(from: 6, to: bytes.count, by: 7) {
            var garbled = bytes
            garbled[offset] ^= 0x5A
            let code = Self.formatError(garbled)?.code
            #expect(code != nil, "byte \(offset) changed undetected")
        }
        var foreign = bytes
        foreign[0] = UInt8(ascii: "X")
        #expect(Self.formatError(foreign)?.code == .wrongMagic)
        #expect(Self.formatError(Array("GBT1 not a forest".utf8))?.code == .wrongMagic)
        var future = bytes
        future[4] = 2
        let error = try #require(Self.formatError(future))
        #expect(error.code == .unsupportedVersion)
        #expect(error.message.contains("version 2"))
    }

    @Test("hostile counts and structures with a valid checksum are refused without allocating")
    func hostileContent() throws {
        let forest = try IsolationForest.fit(rows: Self.small.rows, featureCount: 4, configuration: .init(treeCount: 2, sampleSize: 8), seed: 2)
        let bytes = forest.serialized()
        /// Rewrites a UInt32 field and re-seals the checksum, so that only the structural checks stand in the way.
        func patched(_ offset: Int, _ value: UInt32) -> [UInt8] {
            var b = Array(bytes.dropLast(4))
            for k in 0..<4 { b[offset + k] = UInt8(truncatingIfNeeded: value >> (8 * k)) }
            return b + le32(crc32(b))
        }
        #expect(Self.formatError(patched(28, UInt32.max))?.code == .truncated)  // node count
        #expect(Self.formatError(patched(32, UInt32.max))?.code == .truncated)  // hyperplane count
        #expect(Self.formatError(patched(12, UInt32.max))?.code == .invalidContent)  // feature count
        #expect(Self.formatError(patched(16, 1))?.code == .invalidContent)  // ψ = 1 makes c(ψ) = 0
        #expect(Self.formatError(patched(6, 7))?.code == .invalidContent)  // unknown variant
        // The first tree's root pointing back at itself is a leaf with a split: refused. The left-child array follows
        // the tree starts (4·T) and the splits (4·N).
        let nodeCount = forest.split.count
        let leftArray = IsolationForest.headerSize + 4 * forest.treeCount + 4 * nodeCount
        #expect(Self.formatError(patched(leftArray, 0))?.code == .invalidContent)
        // A child outside the tree, a backward child (a loop), a feature out of range.
        #expect(Self.formatError(patched(leftArray, UInt32(nodeCount)))?.code == .invalidContent)
        #expect(Self.formatError(patched(leftArray + 4, 0))?.code == .invalidContent)
        #expect(Self.formatError(patched(IsolationForest.headerSize + 4 * forest.treeCount, 4))?.code == .invalidContent)
        // A NaN threshold on the root.
        let thresholdArray = leftArray + 4 * nodeCount
        #expect(Self.formatError(patched(thresholdArray + 4, 0x7FF8_0000))?.code == .invalidContent)
    }

    // MARK: Golden v1 files

    /// Written by the first VIF1 writer: `fit(rows: goldenRows, featureCount: 2, configuration: .init(treeCount: 3,
    /// sampleSize: 8), seed: 7)`. Must keep decoding to the same scores.
    static let goldenAxisV1 = """
        VklGMQEAAAAAAAAAAgAAAAgAAAADAAAAAwAAAB8AAAAAAAAAAAAAAA0AAAAWAAAAAAAAAAEAAAAAAAAAAQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\
        AAAAAAAAAAAAAAAAAAAAEAAAABAAAAAAAAAAAAAAAAAAAAAAAAAAEAAAAAAAAAAQAAAAEAAAABAAAAAAAAAAAAAAAAAAAAAAAAAAEAAAADAAAACQAAAAUAAAAHAAAABQAA\
        AAYAAAAHAAAACAAAAAsAAAAKAAAACwAAAAwAAAAOAAAAEAAAAA8AAAASAAAAFAAAABIAAAATAAAAFAAAABUAAAAXAAAAFwAAABkAAAAbAAAAHQAAABsAAAAcAAAAHQAAAB\
        4AAAAAUxAQ6hS4PxSF7SaPh9g/KHcFzkZ+EkAsbjO9JzDVv2IiBr1j3+a/AAAAAAAA8H8AAAAAAADwfwAAAAAAAPB/AAAAAAAA8H/nPgZp/5bvPwAAAAAAAPB/AAAAAAAA\
        8H8AAAAAAADwf7de0Cf+DxFADSLXAwyPyz8AAAAAAADwf2vKA9CMZtk/HOXeRQAr4L8AAAAAAADwfwAAAAAAAPB/AAAAAAAA8H8AAAAAAADwfz6sIufoFfO/AAAAAAAA8H\
        /Icuk92FLhPwBOMdcRMXS/CZq/2E9E6z8AAAAAAADwfwAAAAAAAPB/AAAAAAAA8H8AAAAAAADwf2Q1aiy5XgpAGN7k+DDQBkAY3uT4MNAGQAAAAAAAAAhAAAAAAAAACEAA\
        AAAAAAAIQAAAAAAAAAhAAAAAAAAACEAAAAAAAAAIQFpNClO9qAlAAAAAAAAAAEAAAAAAAAAIQAAAAAAAABBAZDVqLLleCkDQj1WFOxgQQAAAAAAAAPA/AAAAAAAACEAYpD\
        JY3k4RQAAAAAAAAAhAAAAAAAAACEAAAAAAAAAQQK0mhale1BBAZDVqLLleCkAAAAAAAADwP9CPVYU7GBBAGKQyWN5OEUAAAAAAAAAIQK0mhale1BBAAAAAAAAAEEAAAAAA\
        AAAIQAAAAAAAAAhAQSG+uw==
        """

    /// Same rows, `configuration: .init(treeCount: 2, sampleSize: 8, variant: .extended(extensionLevel: 1)), seed: 7`.
    static let goldenExtendedV1 = """
        VklGMQEAAQABAAAAAgAAAAgAAAADAAAAAgAAAA4AAAAGAAAAAAAAAAcAAAAAAAAAAAAAAAEAAAAAAAAAAgAAAAAAAAAAAAAAAwAAAAAAAAAEAAAAAAAAAAUAAAAAAAAAAA\
        AAAAEAAAABAAAAAwAAAAMAAAAFAAAABQAAAAYAAAAIAAAACAAAAAoAAAAKAAAADAAAAAwAAAANAAAALEx+SA7IK8AAAAAAAADwfzi/u0rM2ti/AAAAAAAA8H9smUth3iHx\
        vwAAAAAAAPB/AAAAAAAA8H/N3KmJtEv6vwAAAAAAAPB/0z7zZ6YF5r8AAAAAAADwf4LRSuhATPM/AAAAAAAA8H8AAAAAAADwf2Q1aiy5XgpAAAAAAAAA8D/Qj1WFOxgQQA\
        AAAAAAAABAdQlokJnTEkCtJoWpXtQQQK0mhale1BBAZDVqLLleCkAAAAAAAADwP9CPVYU7GBBAAAAAAAAAAEDQj1WFOxgUQNCPVYU7GBhAAAAAAAAACECW+KyuBwb+v/tl\
        eP11v96/+nmQmAnp5T9f/Neua2Ddv4wTLAi6h/A/FyKYlr9U/z/EWHqOa1K3vy8ibixiG/q/zq8de3J7yL+Mci4ieN/jv6mW7J0Optc/pRyE7og57j/N8Ud/8LwYQMt0q5\
        +sBxNAbdwLd7kV8L+DkjU/q+nkv2y7CWbVZt6/PAGS59H00r/uzDqC93ccQPA6bp35g+M/uPE061uz+D90JfCw7D7kP6IIvGdMcf4/sHVv5CYL4T9tV16K
        """

    static let goldenRows: [Double] = [
        0.1, 0.2, -0.3, 0.5, 0.8, -1.1, 1.4, 0.3, -0.7, -0.2, 0.0, 0.9, 2.2, -0.4, -1.5, 1.0,
        0.6, 0.6, -0.9, -1.3, 1.1, 0.1, 0.3, -0.8, 9.0, 9.5, -0.1, 0.4,
    ]
    static let goldenPoints: [[Double]] = [[0, 0], [9, 9.5], [-1.5, 1.0], [3, -3]]

    @Test(
        "golden v1 files keep decoding to the same scores",
        arguments: [
            (
                IsolationForestTests.goldenAxisV1, [0.4961163269125681, 0.6566744390879904, 0.5321390962382649, 0.5321390962382649],
                IsolationForest.Configuration.Variant.axisParallel
            ),
            (
                IsolationForestTests.goldenExtendedV1, [0.3410551797448981, 0.8103545144490715, 0.4301497170488366, 0.3410551797448981],
                .extended(extensionLevel: 1)
            ),
        ])
    func goldenV1(base64: String, expected: [Double], variant: IsolationForest.Configuration.Variant) throws {
        let bytes = try #require(Data(base64Encoded: base64).map { [UInt8]($0) })
        let forest = try IsolationForest(serialized: bytes)
        #expect(forest.configuration.variant == variant)
        #expect(forest.featureCount == 2 && forest.sampleSize == 8 && forest.configuration.maxDepth == 3)
        for (point, score) in zip(Self.goldenPoints, expected) {
            #expect(abs(forest.score(point) - score) < 1e-12, "\(point)")
        }
        // The writer still produces the same bytes for the same model.
        #expect(forest.serialized() == bytes)
    }

    // MARK: Metrics

    @Test("ROC-AUC and PR-AUC by hand, ties counted once")
    func metrics() {
        // Positives 0.9, 0.5; negatives 0.5, 0.1. Pairs: (0.9 > 0.5) 1, (0.9 > 0.1) 1, (0.5 = 0.5) ½, (0.5 > 0.1) 1 → 3.5/4.
        let scores: [Double] = [0.9, 0.5, 0.5, 0.1]
        let labels = [true, true, false, false]
        #expect(ModelMetrics.rocAUC(scores: scores, labels: labels) == 0.875)
        // Thresholds 0.9: P 1, R ½; 0.5: P 2/3, R 1; 0.1: R unchanged. AP = ½·1 + ½·⅔ = ⅚.
        #expect(abs((ModelMetrics.prAUC(scores: scores, labels: labels) ?? 0) - 5.0 / 6) < 1e-12)
        #expect(ModelMetrics.rocAUC(scores: [0.1, 0.2, 0.3], labels: [false, false, true]) == 1)
        #expect(ModelMetrics.rocAUC(scores: [0.3, 0.2], labels: [false, true]) == 0)
        #expect(ModelMetrics.prAUC(scores: [0.3, 0.2, 0.1], labels: [true, false, true]) == 0.5 * 1 + 0.5 * (2.0 / 3))
        // Undefined cases.
        #expect(ModelMetrics.rocAUC(scores: [0.1, 0.2], labels: [true, true]) == nil)
        #expect(ModelMetrics.rocAUC(scores: [0.1, .nan], labels: [true, false]) == nil)
        #expect(ModelMetrics.rocAUC(scores: [0.1], labels: [true, false]) == nil)
        #expect(ModelMetrics.prAUC(scores: [0.1, 0.2], labels: [false, false]) == nil)
    }

    @Test("the test's CRC-32 is the standard one")
    func testCRC() {
        #expect(crc32(Array("123456789".utf8)) == 0xCBF4_3926)
    }
}

// MARK: - Helpers

/// CRC-32 (IEEE) written bit by bit, independently of the table-driven one in the model code.
private func crc32(_ bytes: [UInt8]) -> UInt32 {
    var crc: UInt32 = 0xFFFF_FFFF
    for byte in bytes {
        crc ^= UInt32(byte)
        for _ in 0..<8 { crc = (crc >> 1) ^ (crc & 1 == 1 ? 0xEDB8_8320 : 0) }
    }
    return ~crc
}

private func le32(_ v: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) } }
