/// Isolation Forest (Liu, Ting & Zhou 2008) scored exactly as scikit-learn's `IsolationForest.score_samples` (negated
/// back to the paper's 0...1 score), with the extended, random-hyperplane variant (Hariri, Carrasco Kind & Brunner 2018)
/// as an option. The Tier-2 unsupervised model of the collector.
///
/// Definitions (scikit-learn `sklearn/ensemble/_iforest.py`):
/// - `c(n) = 2·H(n−1) − 2(n−1)/n` with `H(i) ≈ ln(i) + γ`, `c(2) = 1`, `c(n ≤ 1) = 0`: the average path length of an
///   unsuccessful search in a binary search tree of `n` points (`_average_path_length`).
/// - `h(x)` in one tree: the number of edges from the root to the leaf `x` falls into, plus `c(leaf size)`.
/// - `s(x) = 2^(−E[h(x)] / c(ψ))` over the trees, with `ψ = min(sampleSize, rows)` the rows each tree is grown on.
///   Near 1: isolated quickly, anomalous; about 0.5 or less: ordinary.
///
/// Growing (`fit`): each tree gets ψ rows drawn without replacement; a node becomes a leaf at the depth limit
/// (default `ceil(log2 ψ)`), when it holds at most one row, or when all its rows are identical. Otherwise the
/// axis-parallel variant splits on a feature drawn uniformly among those not constant in the node, at a threshold
/// uniform in `[min, max)` of that feature in the node; rows with `x[f] <= threshold` go left, as in scikit-learn.
///
/// Storage: every tree's nodes live in one set of flat arrays (struct of arrays). Children are adjacent (right =
/// left + 1) and a leaf is its own left child with threshold `+∞`, so scoring is a fixed number of branch-free steps
/// per tree, `node = left[node] + (x[split[node]] > threshold[node])`, over memory the cache can hold. These arrays
/// are the model and what `serialized()` writes (Float64 thresholds).
///
/// Scoring the axis-parallel variant uses a copy re-laid out as complete binary trees of 8-byte split records
/// (`CompleteTrees`), compared in float32 as scikit-learn does: a row goes right when `Float(x[f]) > threshold`.
/// Batch scoring takes blocks of rows through the first three levels of a tree with vector compares, then walks the
/// rest eight rows in lock-step; same routing, so the same scores as one row at a time.
/// The extended variant, and forests deeper than `CompleteTrees.maxDepth` or without any split, are scored on the
/// flat arrays in Float64.
public struct IsolationForest: AnomalyModel, Sendable, Equatable {
    // MARK: Configuration

    public struct Configuration: Sendable, Hashable {
        /// How splits are drawn.
        public enum Variant: Sendable, Hashable {
            /// One feature per split, as in the original paper and scikit-learn.
            case axisParallel
            /// A random hyperplane per split (Hariri et al.): `extensionLevel + 1` features get a standard-normal
            /// weight, the others 0, and the hyperplane passes through a point uniform in the node's bounding box.
            /// Level 0 is axis-parallel in effect; `featureCount − 1` is fully extended. Removes the axis-aligned
            /// "ghost" regions of low score that the axis-parallel forest draws around clusters.
            case extended(extensionLevel: Int)
        }

        /// Number of trees. Default 100.
        public var treeCount: Int
        /// Rows each tree is grown on, ψ (capped at the number of rows). Default 256.
        public var sampleSize: Int
        /// Depth at which a node always becomes a leaf; nil = `ceil(log2 ψ)`. Default nil.
        public var maxDepth: Int?
        /// Default `.axisParallel`.
        public var variant: Variant

        public init(treeCount: Int = 100, sampleSize: Int = 256, maxDepth: Int? = nil, variant: Variant = .axisParallel) {
            self.treeCount = treeCount
            self.sampleSize = sampleSize
            self.maxDepth = maxDepth
            self.variant = variant
        }

        /// scikit-learn's defaults: 100 trees, ψ = 256, depth limit `ceil(log2 ψ)`, axis-parallel.
        public static let `default` = Configuration()

        /// Every problem with the configuration (empty when valid). The extension level is checked against the feature
        /// count again by `fit`.
        public func validate() -> [String] {
            var problems: [String] = []
            if !(1...IsolationForest.maxTreeCount).contains(treeCount) {
                problems.append("tree_count must be between 1 and \(IsolationForest.maxTreeCount), got \(treeCount)")
            }
            if !(2...IsolationForest.maxSampleSize).contains(sampleSize) {
                problems.append("sample_size must be between 2 and \(IsolationForest.maxSampleSize), got \(sampleSize)")
            }
            if let maxDepth, !(1...IsolationForest.maxDepthLimit).contains(maxDepth) {
                problems.append("max_depth must be between 1 and \(IsolationForest.maxDepthLimit), got \(maxDepth)")
            }
            if case .extended(let level) = variant, level < 0 {
                problems.append("extension_level must be at least 0, got \(level)")
            }
            return problems
        }
    }

    /// Why `fit` refused its input.
    public struct FitError: Error, Sendable, Hashable, CustomStringConvertible {
        public enum Code: String, Sendable, Hashable {
            case invalidConfiguration
            /// The row buffer does not match the feature count, or there are fewer than two rows.
            case invalidShape
            /// A NaN or infinite value: the forest cannot place it, so the caller has to clean rows first.
            case nonFiniteValue
        }

        public let code: Code
        public let message: String

        public var description: String { "\(code.rawValue): \(message)" }
    }

    // Limits that keep node indices in Int32 and bound what a model file can make a reader allocate.
    public static let maxTreeCount = 10_000
    public static let maxSampleSize = 1 << 20
    public static let maxDepthLimit = 64
    public static let maxFeatureCount = 1 << 16
    /// Version `serialized()` writes; `init(serialized:)` reads it and every older one.
    public static let formatVersion: UInt16 = 1

    // MARK: Model

    public let featureCount: Int
    /// ψ: the rows each tree was grown on. Fixes the normalisation `c(ψ)` of the score.
    public let sampleSize: Int
    /// The configuration the forest was grown with, with ψ and the depth limit resolved.
    public let configuration: Configuration

    // Flat tree storage. Node `i` of the forest: `split[i]` is the feature (axis-parallel) or the hyperplane row
    // (extended); rows with value (or projection) `<= threshold[i]` go to `left[i]`, the others to `left[i] + 1`.
    // A leaf has `left[i] == i`, `split[i] == 0` and `threshold[i] == +∞`, so extra steps stay on it.
    // `pathLength[i]` = depth(i) + c(rows in i): h(x) for a leaf, the expected h(x) below an inner node.
    let treeStart: [Int32]  // treeCount + 1 entries; tree t is nodes treeStart[t]..<treeStart[t + 1], root first
    let treeDepth: [Int32]  // longest root-to-leaf path of each tree = the number of steps scoring takes
    let split: [Int32]
    let threshold: [Double]
    let left: [Int32]
    let pathLength: [Double]
    // Extended variant only: hyperplane h has normal normals[h·F..<(h+1)·F] and passes through intercepts[h·F..<(h+1)·F];
    // `threshold` holds normal·intercept, so scoring needs only the normal.
    let normals: [Double]
    let intercepts: [Double]
    /// The same axis-parallel trees re-laid out for batch scoring (nil for the extended variant or very deep trees);
    /// derived from the arrays above, never serialized.
    let completeTrees: CompleteTrees?

    public var treeCount: Int { treeStart.count - 1 }

    /// Average path length of an unsuccessful search in a binary search tree of `n` points, scikit-learn's
    /// `_average_path_length`: 0 for n ≤ 1, 1 for n = 2, `2(ln(n−1) + γ) − 2(n−1)/n` above.
    public static func averagePathLength(_ n: Int) -> Double {
        if n <= 1 { return 0 }
        if n == 2 { return 1 }
        let m = Double(n - 1)
        return 2 * (vLog(m) + 0.577_215_664_901_532_9) - 2 * m / Double(n)
    }

    /// Stores arrays that are already known to be consistent and derives the per-tree depths.
    init(
        featureCount: Int, sampleSize: Int, configuration: Configuration, treeStart: [Int32], split: [Int32], threshold: [Double],
        left: [Int32], pathLength: [Double], normals: [Double], intercepts: [Double]
    ) {
        self.featureCount = featureCount
        self.sampleSize = sampleSize
        self.configuration = configuration
        self.treeStart = treeStart
        self.split = split
        self.threshold = threshold
        self.left = left
        self.pathLength = pathLength
        self.normals = normals
        self.intercepts = intercepts
        // Children always come after their parent, so one forward pass finds the longest path.
        var depth = [Int32](repeating: 0, count: split.count)
        var treeDepth = [Int32](repeating: 0, count: treeStart.count - 1)
        for t in 0..<(treeStart.count - 1) {
            var deepest: Int32 = 0
            for i in Int(treeStart[t])..<Int(treeStart[t + 1]) {
                let l = Int(left[i])
                if l == i {
                    deepest = max(deepest, depth[i])
                } else {
                    depth[l] = max(depth[l], depth[i] + 1)
                    depth[l + 1] = max(depth[l + 1], depth[i] + 1)
                }
            }
            treeDepth[t] = deepest
        }
        self.treeDepth = treeDepth
        self.completeTrees = CompleteTrees(
            featureCount: featureCount, treeStart: treeStart, treeDepth: treeDepth, split: split, threshold: threshold, left: left,
            pathLength: pathLength, extended: !normals.isEmpty)
    }

    // MARK: Scoring

    /// The anomaly score `2^(−E[h(x)]/c(ψ))` of one row, in (0, 1]; NaN when `row.count != featureCount`. A NaN
    /// feature goes left at every split on it (compare false), so clean rows first.
    public func score(_ row: UnsafeBufferPointer<Double>) -> Double {
        guard row.count == featureCount, let base = row.baseAddress else { return .nan }
        guard let sum = pathLengthSum(base) else { return .nan }
        return normalizedScore(pathLengthSum: sum)
    }

    /// The anomaly score of one row; see `score(_:)` on a buffer.
    public func score(_ row: [Double]) -> Double {
        row.withUnsafeBufferPointer { score($0) }
    }

    /// Scores many rows at once, faster per row than `score(_:)` because each tree is walked by a block of rows.
    ///
    /// - Parameters:
    ///   - rows: the rows one after another (row-major), `featureCount` values each.
    ///   - featureCount: values per row; must equal the model's.
    /// - Returns: one score per row; NaN for every row when `featureCount` is not the model's or `rows` does not hold
    ///   whole rows (a caller's bug, made visible without trapping).
    public func scores(rows: [Double], featureCount: Int) -> [Double] {
        guard featureCount > 0 else { return [] }
        let rowCount = rows.count / featureCount
        guard featureCount == self.featureCount, rows.count % featureCount == 0, rowCount > 0 else {
            return [Double](repeating: .nan, count: rowCount)
        }
        return [Double](unsafeUninitializedCapacity: rowCount) { output, initialized in
            output.initialize(repeating: 0)
            initialized = rowCount
            let scored = rows.withUnsafeBufferPointer { input in
                guard let rowBase = input.baseAddress, let outputBase = output.baseAddress else { return false }
                if let completeTrees {
                    completeTrees.accumulatePathLengths(rows: rowBase, rowCount: rowCount, into: outputBase)
                    return true
                }
                return withKernel { $0.accumulatePathLengths(rows: rowBase, rowCount: rowCount, into: outputBase) } != nil
            }
            for r in 0..<rowCount { output[r] = scored ? normalizedScore(pathLengthSum: output[r]) : .nan }
        }
    }

    /// E[h(x)]: the average over the trees of the path length of `row`, NaN for a row of the wrong length. Compare with
    /// `averagePathLength(sampleSize)`, the value for an ordinary row.
    public func expectedPathLength(_ row: [Double]) -> Double {
        guard row.count == featureCount else { return .nan }
        return row.withUnsafeBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return .nan }
            guard let sum = pathLengthSum(base) else { return .nan }
            return sum / Double(treeCount)
        }
    }

    /// Σ over trees of h(x) for one row, by the same kernel as batch scoring so both give the same bits.
    private func pathLengthSum(_ x: UnsafePointer<Double>) -> Double? {
        if let completeTrees { return completeTrees.pathLengthSum(x) }
        return withKernel { $0.pathLengthSum(x) }
    }

    /// One formula for single and batch scoring, so both give the same bits.
    private func normalizedScore(pathLengthSum: Double) -> Double {
        vPow(2, -(pathLengthSum / Double(treeCount)) / Self.averagePathLength(sampleSize))
    }

    // MARK: Explanation

    /// How much each feature shortened `row`'s path: the explanation of an Isolation Forest alert.
    ///
    /// Each node `v` has an expected path length `E(v) = depth(v) + c(rows in v)`; at the root it is `c(ψ)` and at the
    /// leaf `x` reaches it is `h(x)`. Every split on `x`'s path moves `x` from `v` to a child `w` and is credited
    /// `E(v) − E(w)`: more than 0 when `x` lands among few of `v`'s rows, less than 0 when it stays with most of them.
    /// An axis-parallel split credits its feature; a hyperplane shares the credit among features in proportion to
    /// `|normalⱼ · (xⱼ − interceptⱼ)|`, each feature's term of x's signed distance from the plane. Averaged over trees, so the
    /// contributions add up to `c(ψ) − E[h(x)]` and the score is `2^(−(c(ψ) − Σ contributions)/c(ψ))`.
    ///
    /// - Returns: one value per feature, largest = shortened the path most; NaN for every feature when the row has the
    ///   wrong length.
    public func pathContributions(_ row: [Double]) -> [Double] {
        guard row.count == featureCount else { return [Double](repeating: .nan, count: featureCount) }
        var contributions = [Double](repeating: 0, count: featureCount)
        let extended = !normals.isEmpty
        for t in 0..<treeCount {
            var node = Int(treeStart[t])
            while Int(left[node]) != node {
                let child = Int(left[node]) + (goesRight(row, node: node) ? 1 : 0)
                let credit = pathLength[node] - pathLength[child]
                let s = Int(split[node])
                if extended {
                    shareHyperplaneCredit(credit, hyperplane: s, row: row, into: &contributions)
                } else {
                    contributions[s] += credit
                }
                node = child
            }
        }
        let trees = Double(treeCount)
        return contributions.map { $0 / trees }
    }

    /// The scoring kernel's decision, so the explanation follows the path that was scored.
    private func goesRight(_ row: [Double], node: Int) -> Bool {
        let s = Int(split[node])
        if normals.isEmpty {
            if completeTrees != nil { return CompleteTrees.goesRight(row[s], threshold: threshold[node]) }
            return row[s] > threshold[node]
        }
        return normals.withUnsafeBufferPointer { n in
            row.withUnsafeBufferPointer { x in
                guard let n = n.baseAddress, let x = x.baseAddress else { return false }
                return projection(n + s * featureCount, x, featureCount) > threshold[node]
            }
        }
    }

    private func shareHyperplaneCredit(_ credit: Double, hyperplane h: Int, row: [Double], into contributions: inout [Double]) {
        let base = h * featureCount
        var total = 0.0
        for j in 0..<featureCount { total += abs(normals[base + j] * (row[j] - intercepts[base + j])) }
        if total > 0, total.isFinite {
            for j in 0..<featureCount { contributions[j] += credit * abs(normals[base + j] * (row[j] - intercepts[base + j])) / total }
            return
        }
        // x sits on the plane's anchor point in every weighted feature (or a term is infinite): share by the normal alone.
        var weights = 0.0
        for j in 0..<featureCount { weights += abs(normals[base + j]) }
        guard weights > 0 else { return }
        for j in 0..<featureCount { contributions[j] += credit * abs(normals[base + j]) / weights }
    }
}

// MARK: - Scoring kernel

extension IsolationForest {
    /// Raw pointers into the model's arrays for the duration of one scoring call, so the hot loops carry no bounds
    /// checks or retain/release traffic. Every index it follows was validated when the model was built or read.
    fileprivate struct Kernel {
        let featureCount: Int
        let treeCount: Int
        let treeStart: UnsafePointer<Int32>
        let treeDepth: UnsafePointer<Int32>
        let split: UnsafePointer<Int32>
        let threshold: UnsafePointer<Double>
        let left: UnsafePointer<Int32>
        let pathLength: UnsafePointer<Double>
        /// nil for the axis-parallel variant.
        let normals: UnsafePointer<Double>?

        /// Rows walked through one tree together by the batch kernel: enough independent walks to hide the latency of
        /// each dependent load, few enough that their node indices and the top of the tree stay in L1. 64-256 measure
        /// the same; below 16 the walks no longer overlap.
        static let blockRows = 128
        /// Trees one row walks at once in `pathLengthSum`: 8 independent walks score a single row 4-5× faster than
        /// one tree after the other, which waits on every load.
        static let treeGroup = 8

        /// Σ over trees of h(x) for one row.
        func pathLengthSum(_ x: UnsafePointer<Double>) -> Double {
            if let normals { return pathLengthSum(x, Hyperplane(normals: normals, featureCount: featureCount)) }
            return pathLengthSum(x, Axis())
        }

        /// Adds Σ over trees of h(x) for each row to `sums`.
        func accumulatePathLengths(rows: UnsafePointer<Double>, rowCount: Int, into sums: UnsafeMutablePointer<Double>) {
            if let normals {
                accumulatePathLengths(rows: rows, rowCount: rowCount, into: sums, Hyperplane(normals: normals, featureCount: featureCount))
            } else {
                accumulatePathLengths(rows: rows, rowCount: rowCount, into: sums, Axis())
            }
        }

        /// Adds the trees' path lengths in tree order, as the batch kernel does, so both give the same bits.
        private func pathLengthSum<V: SplitValue>(_ x: UnsafePointer<Double>, _ value: V) -> Double {
            withUnsafeTemporaryAllocation(of: Int32.self, capacity: Self.treeGroup) { buffer in
                guard let nodes = buffer.baseAddress else { return .nan }
                var sum = 0.0
                var t = 0
                while t < treeCount {
                    let group = min(Self.treeGroup, treeCount - t)
                    var depth: Int32 = 0
                    for k in 0..<group {
                        nodes[k] = treeStart[t + k]
                        depth = max(depth, treeDepth[t + k])
                    }
                    // Trees shallower than the deepest of the group sit on their leaf for the extra steps.
                    for _ in 0..<depth {
                        for k in 0..<group { nodes[k] = step(nodes[k], x, value) }
                    }
                    for k in 0..<group { sum += pathLength[Int(nodes[k])] }
                    t += group
                }
                return sum
            }
        }

        /// Trees-outer over blocks of rows: the steps of different rows are independent, so the CPU overlaps their
        /// loads. Measured faster than rows-outer (with trees interleaved) by ~1.7×.
        private func accumulatePathLengths<V: SplitValue>(
            rows: UnsafePointer<Double>, rowCount: Int, into sums: UnsafeMutablePointer<Double>, _ value: V
        ) {
            withUnsafeTemporaryAllocation(of: Int32.self, capacity: Self.blockRows) { buffer in
                guard let nodes = buffer.baseAddress else { return }
                var blockStart = 0
                while blockStart < rowCount {
                    let count = min(Self.blockRows, rowCount - blockStart)
                    let blockRows = rows + blockStart &* featureCount
                    let blockSums = sums + blockStart
                    for t in 0..<treeCount {
                        let root = treeStart[t]
                        for r in 0..<count { nodes[r] = root }
                        for _ in 0..<treeDepth[t] {
                            var x = blockRows
                            for r in 0..<count {
                                nodes[r] = step(nodes[r], x, value)
                                x += featureCount
                            }
                        }
                        for r in 0..<count { blockSums[r] += pathLength[Int(nodes[r])] }
                    }
                    blockStart += count
                }
            }
        }

        /// One step down: from `node` to the child `x` belongs in, or nowhere from a leaf (its threshold is +∞).
        @inline(__always)
        private func step<V: SplitValue>(_ node: Int32, _ x: UnsafePointer<Double>, _ value: V) -> Int32 {
            let i = Int(node)
            return left[i] &+ (value.of(x, Int(split[i])) > threshold[i] ? 1 : 0)
        }
    }

    /// Returns nil only for a forest without nodes, which neither `fit` nor the validating initializers produce.
    private func withKernel<R>(_ body: (Kernel) -> R) -> R? {
        treeStart.withUnsafeBufferPointer { treeStart in
            treeDepth.withUnsafeBufferPointer { treeDepth in
                split.withUnsafeBufferPointer { split in
                    threshold.withUnsafeBufferPointer { threshold in
                        left.withUnsafeBufferPointer { left in
                            pathLength.withUnsafeBufferPointer { pathLength in
                                normals.withUnsafeBufferPointer { normals in
                                    guard let ts = treeStart.baseAddress, let td = treeDepth.baseAddress, let sp = split.baseAddress,
                                        let th = threshold.baseAddress, let le = left.baseAddress, let pl = pathLength.baseAddress
                                    else { return nil }
                                    return body(
                                        Kernel(
                                            featureCount: featureCount, treeCount: treeCount, treeStart: ts, treeDepth: td, split: sp,
                                            threshold: th, left: le, pathLength: pl, normals: normals.isEmpty ? nil : normals.baseAddress
                                        )
                                    )
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// What a node compares with its threshold. A generic parameter rather than a branch, so each variant gets its own
/// specialised loop.
private protocol SplitValue {
    func of(_ x: UnsafePointer<Double>, _ split: Int) -> Double
}

/// The feature itself.
private struct Axis: SplitValue {
    @inline(__always)
    func of(_ x: UnsafePointer<Double>, _ split: Int) -> Double { x[split] }
}

/// The projection on hyperplane `split`'s normal.
private struct Hyperplane: SplitValue {
    let normals: UnsafePointer<Double>
    let featureCount: Int

    @inline(__always)
    func of(_ x: UnsafePointer<Double>, _ split: Int) -> Double { projection(normals + split * featureCount, x, featureCount) }
}

/// `normal · x`, the one function that `fit`, scoring and explanations all use, so that they round identically and a
/// row lands on the same side of a plane in each. Four partial sums: the additions of different features overlap
/// (~20% faster extended scoring than one running sum).
@inline(__always)
private func projection(_ normal: UnsafePointer<Double>, _ x: UnsafePointer<Double>, _ count: Int) -> Double {
    var a = 0.0
    var b = 0.0
    var c = 0.0
    var d = 0.0
    var j = 0
    while j + 4 <= count {
        a += normal[j] * x[j]
        b += normal[j + 1] * x[j + 1]
        c += normal[j + 2] * x[j + 2]
        d += normal[j + 3] * x[j + 3]
        j += 4
    }
    while j < count {
        a += normal[j] * x[j]
        j += 1
    }
    return (a + b) + (c + d)
}

// MARK: - Fitting

extension IsolationForest {
    /// Grows a forest on `rows`. Deterministic: the same rows, configuration and seed give the same model, byte for
    /// byte (`serialized()`), on a given platform.
    ///
    /// - Parameters:
    ///   - rows: training rows one after another (row-major), `featureCount` finite values each; at least 2 rows.
    ///   - featureCount: values per row.
    ///   - configuration: trees, ψ, depth limit, variant.
    ///   - seed: seeds the `SeededGenerator` that draws the subsamples, features, thresholds and hyperplanes.
    public static func fit(
        rows: [Double], featureCount: Int, configuration: Configuration = .default, seed: UInt64
    ) throws(FitError) -> IsolationForest {
        var problems = configuration.validate()
        if case .extended(let level) = configuration.variant, level >= featureCount {
            problems.append("extension_level must be below the feature count \(featureCount), got \(level)")
        }
        guard problems.isEmpty else { throw FitError(code: .invalidConfiguration, message: problems.joined(separator: "; ")) }
        guard (1...maxFeatureCount).contains(featureCount) else {
            throw FitError(code: .invalidShape, message: "feature count must be between 1 and \(maxFeatureCount), got \(featureCount)")
        }
        guard rows.count % featureCount == 0 else {
            throw FitError(code: .invalidShape, message: "\(rows.count) values are not whole rows of \(featureCount) features")
        }
        let rowCount = rows.count / featureCount
        guard rowCount >= 2, rowCount <= Int(Int32.max) else {
            throw FitError(code: .invalidShape, message: "need between 2 and \(Int32.max) rows, got \(rowCount)")
        }
        if let bad = rows.firstIndex(where: { !$0.isFinite }) {
            throw FitError(
                code: .nonFiniteValue,
                message: "row \(bad / featureCount) feature \(bad % featureCount) is \(rows[bad]); rows must be finite")
        }

        let psi = min(configuration.sampleSize, rowCount)
        var depthLimit = 0
        while (1 << depthLimit) < psi { depthLimit += 1 }  // ceil(log2 ψ), ψ ≥ 2
        depthLimit = configuration.maxDepth ?? depthLimit
        var resolved = configuration
        resolved.sampleSize = psi
        resolved.maxDepth = depthLimit
        guard configuration.treeCount * TreeBuilder.maxNodesPerTree(psi: psi, depthLimit: depthLimit) <= Int(Int32.max) else {
            throw FitError(
                code: .invalidConfiguration,
                message: "\(configuration.treeCount) trees of up to ψ = \(psi) rows could exceed \(Int32.max) nodes; use fewer trees or rows")
        }

        var builder = TreeBuilder(featureCount: featureCount, rowCount: rowCount, psi: psi, configuration: resolved, seed: seed)
        rows.withUnsafeBufferPointer { builder.growForest(data: $0) }
        return IsolationForest(
            featureCount: featureCount, sampleSize: psi, configuration: resolved, treeStart: builder.treeStart, split: builder.split,
            threshold: builder.threshold, left: builder.left, pathLength: builder.pathLength, normals: builder.normals,
            intercepts: builder.intercepts
        )
    }
}

/// Grows the trees of one forest straight into the flat arrays.
private struct TreeBuilder {
    let featureCount: Int
    let rowCount: Int
    let psi: Int
    let treeCount: Int
    let depthLimit: Int
    /// nil: axis-parallel; otherwise features with a non-zero weight per hyperplane.
    let hyperplaneFeatures: Int?
    var rng: SeededGenerator

    var treeStart: [Int32] = [0]
    var split: [Int32] = []
    var threshold: [Double] = []
    var left: [Int32] = []
    var pathLength: [Double] = []
    var normals: [Double] = []
    var intercepts: [Double] = []

    // Scratch reused by every node.
    private var permutation: [Int32]
    private var sample: [Int32]
    private var mins: [Double]
    private var maxs: [Double]
    private var candidates: [Int]
    private var stack: [(node: Int32, lo: Int32, hi: Int32, depth: Int32)] = []

    init(featureCount: Int, rowCount: Int, psi: Int, configuration: IsolationForest.Configuration, seed: UInt64) {
        self.featureCount = featureCount
        self.rowCount = rowCount
        self.psi = psi
        self.treeCount = configuration.treeCount
        self.depthLimit = configuration.maxDepth ?? 0
        if case .extended(let level) = configuration.variant {
            hyperplaneFeatures = level + 1
        } else {
            hyperplaneFeatures = nil
        }
        rng = SeededGenerator(seed: seed)
        permutation = (0..<Int32(rowCount)).map { $0 }
        sample = [Int32](repeating: 0, count: psi)
        mins = [Double](repeating: 0, count: featureCount)
        maxs = [Double](repeating: 0, count: featureCount)
        candidates = []
        candidates.reserveCapacity(featureCount)
        // Random thresholds leave trees far from full (~120 nodes for ψ = 256), so reserve the worst case only while
        // it is small.
        let capacity = min(treeCount * Self.maxNodesPerTree(psi: psi, depthLimit: depthLimit), 1 << 20)
        split.reserveCapacity(capacity)
        threshold.reserveCapacity(capacity)
        left.reserveCapacity(capacity)
        pathLength.reserveCapacity(capacity)
    }

    /// A tree has at most min(2ψ − 1, 2^(depth+1) − 1) nodes.
    static func maxNodesPerTree(psi: Int, depthLimit: Int) -> Int {
        min(2 * psi - 1, (1 << min(depthLimit + 1, 40)) - 1)
    }

    mutating func growForest(data: UnsafeBufferPointer<Double>) {
        guard let base = data.baseAddress else { return }
        for _ in 0..<treeCount {
            // Partial Fisher–Yates: the first ψ entries become a uniform sample without replacement, whatever order the
            // permutation was left in by the previous tree.
            for i in 0..<psi {
                permutation.swapAt(i, i + rng.index(below: rowCount - i))
                sample[i] = permutation[i]
            }
            growTree(base)
            treeStart.append(Int32(split.count))
        }
    }

    private mutating func growTree(_ data: UnsafePointer<Double>) {
        let root = appendNode()
        stack.append((root, 0, Int32(psi), 0))
        while let (node, lo, hi, depth) = stack.popLast() {
            let n = Int(hi - lo)
            let i = Int(node)
            pathLength[i] = Double(depth) + IsolationForest.averagePathLength(n)
            guard Int(depth) < depthLimit, n > 1 else { continue }
            findRanges(data, lo: Int(lo), hi: Int(hi))
            candidates.removeAll(keepingCapacity: true)
            for f in 0..<featureCount where maxs[f] > mins[f] { candidates.append(f) }
            guard !candidates.isEmpty else { continue }  // identical rows cannot be separated

            let mid: Int
            if let k = hyperplaneFeatures {
                mid = splitOnHyperplane(data, node: i, lo: Int(lo), hi: Int(hi), weighted: min(k, candidates.count))
            } else {
                let f = candidates[rng.index(below: candidates.count)]
                // rand_uniform(min, max), falling back to min at the upper end, as scikit-learn's random splitter.
                var t = mins[f] + (maxs[f] - mins[f]) * rng.nextUnit()
                if !(t < maxs[f]) { t = mins[f] }
                split[i] = Int32(f)
                threshold[i] = t
                let stride = featureCount
                mid = partition(lo: Int(lo), hi: Int(hi)) { row in data[row * stride + f] <= t }
            }
            let child = appendNode()
            _ = appendNode()
            left[i] = child
            stack.append((child + 1, Int32(mid), hi, depth + 1))
            stack.append((child, lo, Int32(mid), depth + 1))
        }
    }

    /// Hariri et al.'s split: standard-normal weights on `weighted` features drawn among the non-constant ones (a
    /// weight on a constant feature only tilts the plane without separating anything), through a point uniform in the
    /// node's bounding box. The children may be empty, as in the paper.
    private mutating func splitOnHyperplane(_ data: UnsafePointer<Double>, node i: Int, lo: Int, hi: Int, weighted: Int) -> Int {
        let row = normals.count / featureCount
        normals.append(contentsOf: repeatElement(0, count: featureCount))
        intercepts.append(contentsOf: repeatElement(0, count: featureCount))
        let base = row * featureCount
        for pick in 0..<weighted {
            candidates.swapAt(pick, pick + rng.index(below: candidates.count - pick))
            let f = candidates[pick]
            normals[base + f] = rng.nextNormal()
            intercepts[base + f] = mins[f] + (maxs[f] - mins[f]) * rng.nextUnit()
        }
        // Copies, so that the partition (which mutates self) does not overlap a read of `normals`; fitting only.
        let normal = Array(normals[base..<(base + featureCount)])
        let point = Array(intercepts[base..<(base + featureCount)])
        let stride = featureCount
        return normal.withUnsafeBufferPointer { n in
            point.withUnsafeBufferPointer { p in
                guard let n = n.baseAddress, let p = p.baseAddress else { return lo }
                let offset = projection(n, p, stride)
                split[i] = Int32(row)
                threshold[i] = offset
                // Routed with the scoring kernel's projection, so each training row is scored on the side it was put.
                return partition(lo: lo, hi: hi) { r in projection(n, data + r * stride, stride) <= offset }
            }
        }
    }

    private mutating func findRanges(_ data: UnsafePointer<Double>, lo: Int, hi: Int) {
        let first = Int(sample[lo]) * featureCount
        for f in 0..<featureCount {
            mins[f] = data[first + f]
            maxs[f] = data[first + f]
        }
        for k in (lo + 1)..<hi {
            let r = Int(sample[k]) * featureCount
            for f in 0..<featureCount {
                let v = data[r + f]
                if v < mins[f] { mins[f] = v }
                if v > maxs[f] { maxs[f] = v }
            }
        }
    }

    /// Moves the sample rows that go left to the front of `lo..<hi`; returns where the right child's rows start.
    private mutating func partition(lo: Int, hi: Int, goesLeft: (Int) -> Bool) -> Int {
        var mid = lo
        for k in lo..<hi where goesLeft(Int(sample[k])) {
            sample.swapAt(k, mid)
            mid += 1
        }
        return mid
    }

    /// A new node, a leaf until it is split.
    private mutating func appendNode() -> Int32 {
        let index = Int32(split.count)
        split.append(0)
        threshold.append(.infinity)
        left.append(index)
        pathLength.append(0)
        return index
    }
}

extension SeededGenerator {
    /// Uniform in `0..<bound` (bound > 0) by Lemire's multiply-and-reject, written out rather than taken from
    /// `Int.random(in:using:)`, whose algorithm the standard library may change: a model must regrow identically.
    fileprivate mutating func index(below bound: Int) -> Int {
        let b = UInt64(bound)
        var m = next().multipliedFullWidth(by: b)
        if m.low < b {
            let floor = (0 &- b) % b
            while m.low < floor { m = next().multipliedFullWidth(by: b) }
        }
        return Int(m.high)
    }
}

// MARK: - Hand-built trees

extension IsolationForest {
    /// A tree written out node by node, for tests and for checking scores against the formula by hand.
    indirect enum TreeNode {
        /// A leaf that held `size` training rows.
        case leaf(size: Int)
        /// Rows with `x[feature] <= threshold` go left.
        case split(feature: Int, threshold: Double, left: TreeNode, right: TreeNode)
        /// Rows with `normal · (x − intercept) <= 0` go left (as `normal · x <= normal · intercept`).
        case hyperplane(normal: [Double], intercept: [Double], left: TreeNode, right: TreeNode)

        var size: Int {
            switch self {
            case .leaf(let size): size
            case .split(_, _, let l, let r), .hyperplane(_, _, let l, let r): l.size + r.size
            }
        }
    }

    /// A forest of hand-built trees: `pathLength` and the layout are derived exactly as `fit` derives them, and the
    /// result goes through the same validation as a model file.
    init(featureCount: Int, sampleSize: Int, trees: [TreeNode]) throws(ModelFormatError) {
        var split: [Int32] = []
        var threshold: [Double] = []
        var left: [Int32] = []
        var pathLength: [Double] = []
        var normals: [Double] = []
        var intercepts: [Double] = []
        var treeStart: [Int32] = [0]
        var extended = false
        for tree in trees {
            split.append(0)
            threshold.append(.infinity)
            left.append(Int32(left.count))
            pathLength.append(0)
            var pending: [(node: TreeNode, index: Int, depth: Int)] = [(tree, split.count - 1, 0)]
            while let (node, i, depth) = pending.popLast() {
                pathLength[i] = Double(depth) + Self.averagePathLength(node.size)
                let children: (TreeNode, TreeNode)
                switch node {
                case .leaf:
                    continue
                case .split(let feature, let t, let l, let r):
                    split[i] = Int32(feature)
                    threshold[i] = t
                    children = (l, r)
                case .hyperplane(let normal, let intercept, let l, let r):
                    extended = true
                    split[i] = Int32(normals.count / max(featureCount, 1))
                    var offset = 0.0
                    for j in 0..<min(normal.count, intercept.count) { offset += normal[j] * intercept[j] }
                    threshold[i] = offset
                    normals += normal
                    intercepts += intercept
                    children = (l, r)
                }
                let child = split.count
                left[i] = Int32(child)
                split += [0, 0]
                threshold += [.infinity, .infinity]
                left += [Int32(child), Int32(child + 1)]
                pathLength += [0, 0]
                pending.append((children.1, child + 1, depth + 1))
                pending.append((children.0, child, depth + 1))
            }
            treeStart.append(Int32(split.count))
        }
        let variant: Configuration.Variant = extended ? .extended(extensionLevel: featureCount - 1) : .axisParallel
        try self.init(
            validating: featureCount, sampleSize: sampleSize, variant: variant, depthLimit: 0, treeStart: treeStart, split: split,
            threshold: threshold, left: left, pathLength: pathLength, normals: normals, intercepts: intercepts)
    }

    /// Checks everything the scoring kernel relies on, then stores the arrays. The only way untrusted arrays become a
    /// model.
    init(
        validating featureCount: Int, sampleSize: Int, variant: Configuration.Variant, depthLimit: Int, treeStart: [Int32],
        split: [Int32], threshold: [Double], left: [Int32], pathLength: [Double], normals: [Double], intercepts: [Double]
    ) throws(ModelFormatError) {
        func invalid(_ message: String) -> ModelFormatError { ModelFormatError(.invalidContent, message) }
        guard (1...Self.maxFeatureCount).contains(featureCount) else {
            throw invalid("feature count must be between 1 and \(Self.maxFeatureCount), got \(featureCount)")
        }
        guard sampleSize >= 2 else { throw invalid("sample size must be at least 2, got \(sampleSize)") }
        guard (0...Self.maxDepthLimit).contains(depthLimit) else { throw invalid("depth limit \(depthLimit) is out of range") }
        let treeCount = treeStart.count - 1
        guard (1...Self.maxTreeCount).contains(treeCount) else { throw invalid("tree count \(treeCount) is out of range") }
        let nodeCount = split.count
        guard threshold.count == nodeCount, left.count == nodeCount, pathLength.count == nodeCount else {
            throw invalid("node arrays differ in length")
        }
        let hyperplaneCount: Int
        switch variant {
        case .axisParallel:
            guard normals.isEmpty, intercepts.isEmpty else { throw invalid("an axis-parallel forest has hyperplanes") }
            hyperplaneCount = 0
        case .extended(let level):
            guard (0..<featureCount).contains(level) else { throw invalid("extension level \(level) for \(featureCount) features") }
            guard normals.count == intercepts.count, normals.count % featureCount == 0 else {
                throw invalid("hyperplane arrays are not whole rows of \(featureCount) features")
            }
            hyperplaneCount = normals.count / featureCount
        }
        guard treeStart[0] == 0, Int(treeStart[treeCount]) == nodeCount else { throw invalid("trees do not cover the nodes exactly") }
        // Features for axis-parallel splits, hyperplane rows for extended ones.
        let splitCount = variant == .axisParallel ? featureCount : hyperplaneCount
        for t in 0..<treeCount {
            let start = Int(treeStart[t])
            let end = Int(treeStart[t + 1])
            guard start < end else { throw invalid("tree \(t) has no nodes") }
            for i in start..<end {
                guard pathLength[i].isFinite, pathLength[i] >= 0 else { throw invalid("node \(i) has path length \(pathLength[i])") }
                let l = Int(left[i])
                let s = Int(split[i])
                if l == i {
                    guard s == 0, threshold[i] == .infinity else { throw invalid("leaf \(i) has a split") }
                    continue
                }
                // Children strictly after the parent and inside its tree: every walk ends at a leaf of the same tree.
                guard l > i, l + 1 < end else { throw invalid("node \(i) has children \(l), \(l + 1) outside \(i + 1)..<\(end)") }
                guard threshold[i].isFinite else { throw invalid("node \(i) has threshold \(threshold[i])") }
                guard (0..<splitCount).contains(s) else { throw invalid("node \(i) splits on \(s) of \(splitCount)") }
            }
        }
        guard normals.allSatisfy(\.isFinite), intercepts.allSatisfy(\.isFinite) else { throw invalid("a hyperplane is not finite") }
        self.init(
            featureCount: featureCount, sampleSize: sampleSize,
            configuration: Configuration(
                treeCount: treeCount, sampleSize: sampleSize, maxDepth: depthLimit == 0 ? nil : depthLimit, variant: variant),
            treeStart: treeStart, split: split, threshold: threshold, left: left, pathLength: pathLength, normals: normals,
            intercepts: intercepts)
    }
}

// MARK: - Serialization

// Format "VIF1", version 1; every field little-endian.
//
//   offset  size       field
//   0       4          magic "VIF1"
//   4       2          version (UInt16) = 1
//   6       1          variant: 0 axis-parallel, 1 extended
//   7       1          reserved, 0
//   8       4          extension level (UInt32; 0 when axis-parallel)
//   12      4          feature count F
//   16      4          sample size ψ
//   20      4          depth limit the forest was grown with (informational)
//   24      4          tree count T
//   28      4          node count N
//   32      4          hyperplane count H (0 when axis-parallel)
//   36      4·T        first node of each tree (UInt32)
//           4·N        split: feature or hyperplane row (Int32)
//           4·N        left child, absolute node index; a leaf is its own (Int32)
//           8·N        threshold (Float64; +∞ at leaves)
//           8·N        path length depth + c(rows) (Float64)
//           8·H·F      hyperplane normals (Float64)
//           8·H·F      hyperplane intercept points (Float64)
//           4          CRC-32 (IEEE, as zlib) of every byte before it
extension IsolationForest {
    static let magic: [UInt8] = Array("VIF1".utf8)
    static let headerSize = 36

    public func serialized() -> [UInt8] {
        let hyperplaneCount = normals.count / featureCount
        var w = ModelFileWriter()
        w.bytes.reserveCapacity(Self.headerSize + 4 * treeCount + 24 * split.count + 16 * normals.count + 4)
        w.bytes += Self.magic
        w.u16(Self.formatVersion)
        switch configuration.variant {
        case .axisParallel:
            w.u8(0)
            w.u8(0)
            w.u32(0)
        case .extended(let level):
            w.u8(1)
            w.u8(0)
            w.u32(UInt32(level))
        }
        w.u32(UInt32(featureCount))
        w.u32(UInt32(sampleSize))
        w.u32(UInt32(configuration.maxDepth ?? 0))
        w.u32(UInt32(treeCount))
        w.u32(UInt32(split.count))
        w.u32(UInt32(hyperplaneCount))
        for t in 0..<treeCount { w.u32(UInt32(treeStart[t])) }
        for s in split { w.u32(UInt32(bitPattern: s)) }
        for l in left { w.u32(UInt32(bitPattern: l)) }
        for t in threshold { w.u64(t.bitPattern) }
        for p in pathLength { w.u64(p.bitPattern) }
        for n in normals { w.u64(n.bitPattern) }
        for p in intercepts { w.u64(p.bitPattern) }
        w.u32(modelFileCRC32(w.bytes[...]))
        return w.bytes
    }

    /// Reads a model written by `serialized()` of this or an older version.
    ///
    /// Counts are checked against the bytes actually present before anything is allocated, so a short or hostile
    /// file costs at most its own size; the checksum catches changed bytes; the structure is then validated so that
    /// scoring can never index out of range or loop.
    public init(serialized bytes: [UInt8]) throws(ModelFormatError) {
        guard bytes.count >= 6 else { throw ModelFormatError(.truncated, "\(bytes.count) bytes is shorter than a VIF1 header") }
        guard Array(bytes[0..<4]) == Self.magic else { throw ModelFormatError(.wrongMagic, "not an Isolation Forest model (no VIF1 magic)") }
        var r = ByteReader(bytes: bytes, offset: 4)
        let version = try r.u16()
        guard version == 1 else {
            throw ModelFormatError(
                .unsupportedVersion, "Isolation Forest format version \(version); this build reads versions 1...\(Self.formatVersion)")
        }
        guard bytes.count >= Self.headerSize else {
            throw ModelFormatError(.truncated, "\(bytes.count) bytes is shorter than the \(Self.headerSize)-byte VIF1 header")
        }
        let variantTag = try r.u8()
        let reserved = try r.u8()
        let extensionLevel = Int(try r.u32())
        let featureCount = Int(try r.u32())
        let sampleSize = Int(try r.u32())
        let depthLimit = Int(try r.u32())
        let treeCount = Int(try r.u32())
        let nodeCount = Int(try r.u32())
        let hyperplaneCount = Int(try r.u32())
        guard reserved == 0 else { throw ModelFormatError(.invalidContent, "reserved header byte is \(reserved)") }
        let variant: Configuration.Variant
        switch variantTag {
        case 0: variant = .axisParallel
        case 1: variant = .extended(extensionLevel: extensionLevel)
        default: throw ModelFormatError(.invalidContent, "unknown variant \(variantTag)")
        }
        guard (1...Self.maxFeatureCount).contains(featureCount) else {
            throw ModelFormatError(.invalidContent, "feature count must be between 1 and \(Self.maxFeatureCount), got \(featureCount)")
        }
        // Sizes in UInt64 so that hostile counts cannot overflow; every factor is below 2^32 and F below 2^17.
        let expected =
            UInt64(Self.headerSize) + 4 * UInt64(treeCount) + 24 * UInt64(nodeCount) + 16 * UInt64(hyperplaneCount) * UInt64(featureCount)
            + 4
        guard UInt64(bytes.count) >= expected else {
            throw ModelFormatError(.truncated, "the header announces \(expected) bytes, only \(bytes.count) present")
        }
        guard UInt64(bytes.count) == expected else {
            throw ModelFormatError(.invalidContent, "\(UInt64(bytes.count) - expected) bytes after the end of the model")
        }
        let body = bytes[0..<(bytes.count - 4)]
        var trailer = ByteReader(bytes: bytes, offset: bytes.count - 4)
        let stored = try trailer.u32()
        let computed = modelFileCRC32(body)
        guard stored == computed else {
            throw ModelFormatError(.checksumMismatch, "checksum \(hex(stored)) does not match the content's \(hex(computed))")
        }
        guard nodeCount <= Int(Int32.max) else { throw ModelFormatError(.invalidContent, "\(nodeCount) nodes exceed the index range") }

        var treeStart = try r.int32s(treeCount)
        treeStart.append(Int32(nodeCount))
        let split = try r.int32s(nodeCount)
        let left = try r.int32s(nodeCount)
        let threshold = try r.doubles(nodeCount)
        let pathLength = try r.doubles(nodeCount)
        let normals = try r.doubles(hyperplaneCount * featureCount)
        let intercepts = try r.doubles(hyperplaneCount * featureCount)
        if case .axisParallel = variant, hyperplaneCount != 0 {
            throw ModelFormatError(.invalidContent, "an axis-parallel forest with \(hyperplaneCount) hyperplanes")
        }
        try self.init(
            validating: featureCount, sampleSize: sampleSize, variant: variant, depthLimit: depthLimit, treeStart: treeStart, split: split,
            threshold: threshold, left: left, pathLength: pathLength, normals: normals, intercepts: intercepts)
    }
}

private func hex(_ value: UInt32) -> String {
    let digits = String(value, radix: 16)
    return "0x" + String(repeating: "0", count: 8 - digits.count) + digits
}

/// Little-endian reads that throw at the end of the bytes instead of trapping.
private struct ByteReader {
    let bytes: [UInt8]
    var offset: Int

    mutating func take(_ count: Int) throws(ModelFormatError) -> Int {
        guard count <= bytes.count - offset else { throw ModelFormatError(.truncated, "the bytes end inside a field at offset \(offset)") }
        defer { offset += count }
        return offset
    }

    mutating func u8() throws(ModelFormatError) -> UInt8 {
        let at = try take(1)
        return bytes[at]
    }

    mutating func u16() throws(ModelFormatError) -> UInt16 {
        let at = try take(2)
        return UInt16(bytes[at]) | UInt16(bytes[at + 1]) << 8
    }

    mutating func u32() throws(ModelFormatError) -> UInt32 {
        let at = try take(4)
        var v: UInt32 = 0
        for k in 0..<4 { v |= UInt32(bytes[at + k]) << (8 * k) }
        return v
    }

    mutating func u64() throws(ModelFormatError) -> UInt64 {
        let at = try take(8)
        var v: UInt64 = 0
        for k in 0..<8 { v |= UInt64(bytes[at + k]) << (8 * k) }
        return v
    }

    /// `count` Int32 values; `count` has been checked against the byte length by the caller.
    mutating func int32s(_ count: Int) throws(ModelFormatError) -> [Int32] {
        var values: [Int32] = []
        values.reserveCapacity(count)
        for _ in 0..<count { values.append(Int32(bitPattern: try u32())) }
        return values
    }

    mutating func doubles(_ count: Int) throws(ModelFormatError) -> [Double] {
        var values: [Double] = []
        values.reserveCapacity(count)
        for _ in 0..<count { values.append(Double(bitPattern: try u64())) }
        return values
    }
}

// MARK: - Complete-tree scoring layout

/// Every axis-parallel tree padded to a complete binary tree of the forest's greatest depth `D`, in breadth-first
/// order: the children of slot `s` are `2s + 1` and `2s + 2`, so a step needs no child index, only one 8-byte split
/// record `(threshold key, feature)`. A leaf above depth `D` becomes a chain of splits that always go left (threshold
/// `+∞`, as the leaves of the flat arrays), so every walk takes exactly `D` steps and ends in one of the `2^D` leaf
/// slots, which hold the original leaf's path length (Float64, so sums are as exact as before).
///
/// Comparisons are in float32, as scikit-learn's trees make them (it casts X to float32 and tests
/// `X32[f] <= threshold`): a row goes right when `Float(x[f]) > threshold`, threshold still the Float64 of the model.
/// Since `Float(x)` is a float, that is `Float(x[f]) > t32` with `t32` the largest float ≤ threshold, exactly. It
/// differs from the Float64 test `x[f] > threshold` only when `x[f]` and the threshold round to the same float32
/// region (within about 6e-8 relative), which moves a row by one leaf in one tree. Both sides are stored as
/// order-preserving Int32 keys, so a step is integer arithmetic without compare-and-branch, which the compiler
/// otherwise turns into a mispredicted branch: `slot = 2·slot + 1 + (sign of t − x)`. A NaN feature gets the lowest
/// key and goes left at every split, as in the Float64 kernel.
struct CompleteTrees: Sendable, Equatable {
    /// One split record in one 64-bit word, fetched by one load: the threshold's order key in bits 16..<48, the
    /// feature times `lanes` (its offset in a transposed group of rows) in bits 0..<16.
    typealias Split = UInt64

    static func record(key: UInt32, feature: Int) -> Split {
        UInt64(key) << 16 | UInt64(feature &* lanes)
    }

    /// Features whose offset fits the record's 16 bits.
    static let maxFeatureCount = (1 << 16) / lanes

    /// Above this depth the padding costs more memory than it saves time; the flat kernel scores such forests.
    static let maxDepth = 12

    let featureCount: Int
    let treeCount: Int
    let depth: Int
    /// `treeCount × (2^D − 1)` split records, tree after tree.
    let splits: [Split]
    /// `treeCount × 2^D` path lengths, tree after tree.
    let leaves: [Double]
    /// The first `topLevels` levels of every tree (`topNodes` splits), for the vector pass that starts the walks:
    /// thresholds as signed keys repeated in 4 lanes, and each split's feature as the byte offset of its column in a
    /// group of transposed Int32 keys. Empty when the trees are shallower than `topLevels`.
    let topThresholds: [SIMD4<Int32>]
    let topColumns: [Int]

    /// The order key of a float32: unsigned integers compare as the floats do (−0 and +0 alike), NaN lowest.
    @inline(__always)
    static func key(_ value: Float) -> UInt32 {
        if value.isNaN { return 0 }
        let bits = Int32(bitPattern: (value + 0).bitPattern)  // + 0 turns −0 into +0
        return UInt32(bitPattern: bits ^ ((bits >> 31) & .max)) ^ 0x8000_0000
    }

    /// The order key of the largest float32 ≤ `threshold`: `Float(x) > threshold` ⟺ `key(Float(x)) > thresholdKey`.
    static func thresholdKey(_ threshold: Double) -> UInt32 {
        var t = Float(threshold)
        if Double(t) > threshold { t = t.nextDown }
        return key(t)
    }

    /// The routing the kernel applies, for code that walks the flat arrays (explanations).
    static func goesRight(_ x: Double, threshold: Double) -> Bool {
        key(Float(x)) > thresholdKey(threshold)
    }

    init?(
        featureCount: Int, treeStart: [Int32], treeDepth: [Int32], split: [Int32], threshold: [Double], left: [Int32],
        pathLength: [Double], extended: Bool
    ) {
        let treeCount = treeStart.count - 1
        guard !extended, treeCount > 0, featureCount <= Self.maxFeatureCount else { return nil }
        let depth = Int(treeDepth.max() ?? 0)
        // Depth 0 (every tree one leaf) has no splits to compare; the flat kernel handles it.
        guard (1...Self.maxDepth).contains(depth) else { return nil }
        let inner = (1 << depth) - 1
        let leafCount = 1 << depth
        var splits = [Split](repeating: Self.record(key: Self.key(.infinity), feature: 0), count: treeCount * inner)
        var leaves = [Double](repeating: 0, count: treeCount * leafCount)
        for t in 0..<treeCount {
            // (original node, slot) pairs; a leaf of the original keeps walking left with itself.
            var pending: [(node: Int, slot: Int)] = [(Int(treeStart[t]), 0)]
            while let (node, slot) = pending.popLast() {
                if slot >= inner {
                    leaves[t * leafCount + slot - inner] = pathLength[node]
                    continue
                }
                let l = Int(left[node])
                if l == node {
                    pending.append((node, 2 * slot + 1))
                    pending.append((node, 2 * slot + 2))
                } else {
                    splits[t * inner + slot] = Self.record(key: Self.thresholdKey(threshold[node]), feature: Int(split[node]))
                    pending.append((l, 2 * slot + 1))
                    pending.append((l + 1, 2 * slot + 2))
                }
            }
        }
        self.featureCount = featureCount
        self.treeCount = treeCount
        self.depth = depth
        self.splits = splits
        self.leaves = leaves
        var topThresholds: [SIMD4<Int32>] = []
        var topColumns: [Int] = []
        if depth >= Self.topLevels {
            topThresholds.reserveCapacity(treeCount * Self.topNodes)
            topColumns.reserveCapacity(treeCount * Self.topNodes)
            for t in 0..<treeCount {
                for n in 0..<Self.topNodes {
                    let record = splits[t * inner + n]
                    topThresholds.append(SIMD4(repeating: Self.signedKey(UInt32(truncatingIfNeeded: record >> 16))))
                    topColumns.append(Int(record & 0xFFFF) * MemoryLayout<Int32>.stride)
                }
            }
        }
        self.topThresholds = topThresholds
        self.topColumns = topColumns
    }

    /// Rows walked through one tree in lock-step: independent walks whose loads overlap, few enough that their slots
    /// stay in registers (4 lanes left the walks waiting on each other's latency: slower than the flat kernel).
    static let lanes = 8
    /// Rows walked through one tree before the next (a multiple of `lanes`): their keys (12 bytes a feature) and the
    /// tree (4 KB at depth 8) stay in a 32 KB L1 — 256 rows up to 8 features, fewer above.
    static func blockRows(featureCount: Int) -> Int {
        max(lanes, min(256, 24_576 / (12 * max(featureCount, 1))) / lanes * lanes)
    }
    /// Levels the vector pass decides for every row before the scalar walk takes over, and the splits they hold.
    /// Level k has 2^k splits, all evaluated for 4 rows at once and then selected, so the cost doubles per level while
    /// a scalar level costs the same: 3 levels measured best (2 within 3 %, 4 slower).
    static let topLevels = 3
    static let topNodes = (1 << topLevels) - 1

    /// A key as a signed integer, so that SSE2's signed compare orders keys as unsigned ones.
    @inline(__always)
    static func signedKey(_ key: UInt32) -> Int32 { Int32(bitPattern: key ^ 0x8000_0000) }

    /// Σ over trees of h(x) for one row, adding in tree order as the batch kernel does: `lanes` trees in lock-step.
    func pathLengthSum(_ x: UnsafePointer<Double>) -> Double {
        let f = featureCount
        return withUnsafeTemporaryAllocation(of: UInt32.self, capacity: f) { keyBuffer in
            splits.withUnsafeBufferPointer { splitBuffer in
                leaves.withUnsafeBufferPointer { leafBuffer in
                    guard let keys = keyBuffer.baseAddress, let splitBase = splitBuffer.baseAddress, let leafBase = leafBuffer.baseAddress
                    else { return .nan }
                    for j in 0..<f { keys[j] = Self.key(Float(x[j])) }
                    let inner = (1 << depth) - 1
                    let leafCount = 1 << depth
                    var sum = 0.0
                    var t = 0
                    while t < treeCount {
                        let group = min(Self.lanes, treeCount - t)
                        var slots: (Int, Int, Int, Int, Int, Int, Int, Int) = (1, 1, 1, 1, 1, 1, 1, 1)
                        withUnsafeMutableBytes(of: &slots) { raw in
                            let slot = raw.baseAddress!.assumingMemoryBound(to: Int.self)
                            for _ in 0..<depth {
                                for k in 0..<group {
                                    let n = splitBase[(t &+ k) &* inner &+ slot[k] &- 1]
                                    let x = keys[Int(n & 0xFFFF) / Self.lanes]
                                    slot[k] = 2 &* slot[k] &+ (UInt32(truncatingIfNeeded: n >> 16) < x ? 1 : 0)
                                }
                            }
                            for k in 0..<group { sum += leafBase[(t &+ k) &* leafCount &+ slot[k] &- leafCount] }
                        }
                        t += group
                    }
                    return sum
                }
            }
        }
    }

    /// Adds Σ over trees of h(x) for each row to `sums`, trees in order.
    func accumulatePathLengths(rows: UnsafePointer<Double>, rowCount: Int, into sums: UnsafeMutablePointer<Double>) {
        let f = featureCount
        let lanes = Self.lanes
        let blockRows = Self.blockRows(featureCount: f)
        withUnsafeTemporaryAllocation(of: UInt64.self, capacity: blockRows * f) { keyBuffer in
            // The same keys as signed Int32 in the same transposed order, for the vector pass (SIMD4-aligned).
            withUnsafeTemporaryAllocation(of: SIMD4<Int32>.self, capacity: blockRows * f / 4) { vectorKeyBuffer in
                withUnsafeTemporaryAllocation(of: Int32.self, capacity: blockRows) { startBuffer in
                    withUnsafeTemporaryAllocation(of: Double.self, capacity: blockRows) { sumBuffer in
                        splits.withUnsafeBufferPointer { splitBuffer in
                            leaves.withUnsafeBufferPointer { leafBuffer in
                                guard let keys = keyBuffer.baseAddress, let vectorKeys = vectorKeyBuffer.baseAddress,
                                    let starts = startBuffer.baseAddress, let blockSums = sumBuffer.baseAddress,
                                    let splitBase = splitBuffer.baseAddress, let leafBase = leafBuffer.baseAddress
                                else { return }
                                let keys32 = UnsafeMutableRawPointer(vectorKeys).assumingMemoryBound(to: Int32.self)
                                var blockStart = 0
                                while blockStart < rowCount {
                                    let count = min(blockRows, rowCount - blockStart)
                                    let groups = (count + lanes - 1) / lanes
                                    // Transposed by groups of `lanes` rows: feature j of row k of group g at (g·F + j)·lanes + k.
                                    // Rows past the end get NaN's key and are walked but not added.
                                    let source = rows + blockStart &* f
                                    for g in 0..<groups {
                                        let at = g &* f &* lanes
                                        for k in 0..<lanes {
                                            let r = g &* lanes &+ k
                                            if r < count {
                                                let row = source + r &* f
                                                for j in 0..<f {
                                                    let key = Self.key(Float(row[j]))
                                                    keys[at &+ j &* lanes &+ k] = UInt64(key) << 16
                                                    keys32[at &+ j &* lanes &+ k] = Self.signedKey(key)
                                                }
                                            } else {
                                                for j in 0..<f {
                                                    keys[at &+ j &* lanes &+ k] = 0
                                                    keys32[at &+ j &* lanes &+ k] = Self.signedKey(0)
                                                }
                                            }
                                        }
                                    }
                                    for r in 0..<count { blockSums[r] = sums[blockStart + r] }
                                    walk(
                                        keys: keys, vectorKeys: UnsafeRawPointer(vectorKeys), starts: starts, groups: groups, count: count,
                                        splits: splitBase, leaves: leafBase, into: blockSums)
                                    for r in 0..<count { sums[blockStart + r] = blockSums[r] }
                                    blockStart += count
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// All trees over one block of rows (as transposed keys), trees outer so that each tree stays in L1 while the rows
    /// go through. Per tree, a vector pass takes every row through the first `topLevels` levels (`startSlots`), then
    /// the scalar walk goes the rest of the way, `lanes` rows in lock-step.
    @inline(__always)
    private func walk(
        keys: UnsafePointer<UInt64>, vectorKeys: UnsafeRawPointer, starts: UnsafeMutablePointer<Int32>, groups: Int, count: Int,
        splits: UnsafePointer<Split>, leaves: UnsafePointer<Double>, into sums: UnsafeMutablePointer<Double>
    ) {
        let f = featureCount
        let inner = (1 << depth) - 1
        let leafCount = 1 << depth
        let vectorLevels = topThresholds.isEmpty ? 0 : Self.topLevels
        // Slots numbered from 1 (heap order): slot ← 2·slot + (1 when x's key exceeds the threshold's). Row keys are
        // stored shifted left by 16 like the record's, so `record − x` is `(t − x)·2^16 + offset` with offset < 2^16:
        // negative exactly when t < x, and its sign is the bit. Arithmetic on 64-bit loads, so that the compiler
        // cannot turn it into a compare and then a branch (it did, and the branch mispredicts every other step).
        // Lane k reads its own row's key at the record's offset + k. Slots are kept as byte offsets (slot · 8): six
        // single-µop instructions a step (load, movzx, sub, shr, add, lea), no spills with 8 lanes. Slot indices
        // compiled to a slow `shld` (also with a −1 folded in), a compare-and-carry form to `setb` and a branch.
        @inline(__always)
        func step(_ offset: Int, _ x: UnsafePointer<UInt64>, _ nodes: UnsafeRawPointer) -> Int {
            let n = nodes.load(fromByteOffset: offset, as: UInt64.self)
            let right = (n &- x[Int(n & 0xFFFF)]) >> 63
            return 2 &* offset &+ Int(truncatingIfNeeded: right << 3)
        }
        for t in 0..<treeCount {
            let nodes = UnsafeRawPointer(splits + (t &* inner &- 1))
            let leaf = UnsafeRawPointer(leaves + (t &* leafCount &- leafCount))
            if vectorLevels > 0 {
                topThresholds.withUnsafeBufferPointer { thresholds in
                    topColumns.withUnsafeBufferPointer { columns in
                        guard let thresholds = thresholds.baseAddress, let columns = columns.baseAddress else { return }
                        startSlots(
                            vectorKeys: vectorKeys, quads: groups &* 2, thresholds: thresholds + t &* Self.topNodes,
                            columns: columns + t &* Self.topNodes, into: starts)
                    }
                }
            }
            for g in 0..<groups {
                let x = keys + g &* f &* Self.lanes
                var i0 = 8
                var i1 = 8
                var i2 = 8
                var i3 = 8
                var i4 = 8
                var i5 = 8
                var i6 = 8
                var i7 = 8
                if vectorLevels > 0 {
                    let start = starts + g &* Self.lanes
                    i0 = Int(start[0])
                    i1 = Int(start[1])
                    i2 = Int(start[2])
                    i3 = Int(start[3])
                    i4 = Int(start[4])
                    i5 = Int(start[5])
                    i6 = Int(start[6])
                    i7 = Int(start[7])
                }
                for _ in vectorLevels..<depth {
                    i0 = step(i0, x, nodes)
                    i1 = step(i1, x + 1, nodes)
                    i2 = step(i2, x + 2, nodes)
                    i3 = step(i3, x + 3, nodes)
                    i4 = step(i4, x + 4, nodes)
                    i5 = step(i5, x + 5, nodes)
                    i6 = step(i6, x + 6, nodes)
                    i7 = step(i7, x + 7, nodes)
                }
                let r = g &* Self.lanes
                if r &+ Self.lanes <= count {
                    sums[r] += leaf.load(fromByteOffset: i0, as: Double.self)
                    sums[r + 1] += leaf.load(fromByteOffset: i1, as: Double.self)
                    sums[r + 2] += leaf.load(fromByteOffset: i2, as: Double.self)
                    sums[r + 3] += leaf.load(fromByteOffset: i3, as: Double.self)
                    sums[r + 4] += leaf.load(fromByteOffset: i4, as: Double.self)
                    sums[r + 5] += leaf.load(fromByteOffset: i5, as: Double.self)
                    sums[r + 6] += leaf.load(fromByteOffset: i6, as: Double.self)
                    sums[r + 7] += leaf.load(fromByteOffset: i7, as: Double.self)
                } else {
                    let last = (i0, i1, i2, i3, i4, i5, i6, i7)
                    withUnsafeBytes(of: last) { raw in
                        for k in 0..<(count &- r) {
                            sums[r + k] += leaf.load(fromByteOffset: raw.load(fromByteOffset: k * 8, as: Int.self), as: Double.self)
                        }
                    }
                }
            }
        }
    }

    /// The vector pass of one tree: the slot (as a byte offset, as the scalar walk keeps it) each row of the block
    /// reaches after `topLevels` levels, 4 rows at a time. Every split of those levels is compared for all 4 rows
    /// (SSE2 has no gather, so a lane cannot fetch its own split), and each row's path then selects its bits:
    /// the same keys and thresholds as the scalar walk, so the same slots.
    @inline(__always)
    private func startSlots(
        vectorKeys: UnsafeRawPointer, quads: Int, thresholds: UnsafePointer<SIMD4<Int32>>, columns: UnsafePointer<Int>,
        into starts: UnsafeMutablePointer<Int32>
    ) {
        let groupBytes = featureCount &* Self.lanes &* MemoryLayout<Int32>.stride
        // m ? a : b, lane by lane, for masks of all ones or zeros.
        @inline(__always)
        func select(_ m: SIMD4<Int32>, _ a: SIMD4<Int32>, _ b: SIMD4<Int32>) -> SIMD4<Int32> { b ^ ((a ^ b) & m) }
        for q in 0..<quads {
            // Quad q is half (q & 1) of group q / 2: 4 consecutive lanes, 16 bytes into each column.
            let base = vectorKeys + ((q &>> 1) &* groupBytes &+ (q & 1) &* 16)
            // All ones in the lanes whose row goes right at split n (key > threshold).
            @inline(__always)
            func right(_ n: Int) -> SIMD4<Int32> {
                let column = base.load(fromByteOffset: columns[n], as: SIMD4<Int32>.self)
                let goesRight: SIMDMask<SIMD4<Int32>> = column .> thresholds[n]
                return SIMD4<Int32>.zero.replacing(with: -1, where: goesRight)
            }
            let level0 = right(0)
            let left1 = right(1)
            let right1 = right(2)
            let level1 = select(level0, right1, left1)
            let level2 = select(level0, select(right1, right(6), right(5)), select(left1, right(4), right(3)))
            // Heap slot 8 + 4·b0 + 2·b1 + b2 as a byte offset; the masks are −1 where a bit is 1.
            var bits = level0 &+ level0 &+ level1
            bits = bits &+ bits &+ level2
            let slot = SIMD4<Int32>(repeating: 8 &* 8) &- (bits &<< 3)
            UnsafeMutableRawPointer(starts).storeBytes(of: slot, toByteOffset: q &* 16, as: SIMD4<Int32>.self)
        }
    }
}
