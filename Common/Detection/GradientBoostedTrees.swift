/// Gradient-boosted decision trees for binary classification: the Tier-2 supervised model, trained on labelled alerts,
/// scoring a row of features with the probability that it is a true anomaly and explaining that score per feature.
///
/// ## Training (XGBoost `tree_method=hist`, LightGBM)
///
/// - **Binning.** Each feature is cut into at most `maxBins` (≤ 255) bins before training; the binned matrix is stored
///   as `UInt8`, column-major, so one split search reads one contiguous column. Edges come from the sorted values of the
///   training set (a seeded sample of 200 000 rows when there are more, LightGBM's `bin_construct_sample_cnt`): with
///   few distinct values each value gets its own bin and the edge sits midway between neighbours; otherwise bins are
///   closed greedily at equal-count quantiles, and a value that alone holds a full bin's share (a spike of zeros) gets
///   a bin to itself. Bin `b` holds `edge[b−1] < x ≤ edge[b]`, so a split "bins ≤ b go left" is exactly the raw test
///   `x ≤ edge[b]`: the model keeps the `Double` edge as its threshold and scoring never bins.
/// - **Missing values.** NaN goes to a separate bin (code 255). Every split tries the missing rows on both sides and
///   keeps the better one as the node's default direction (XGBoost's sparsity-aware split); a split that sends only the
///   missing rows one way (threshold +∞) is a candidate too, so "value absent" can be a signal. When a node saw no
///   missing value in training, NaN follows the child with the larger cover. ±∞ are ordinary values.
/// - **Growth.** Histograms of gradient and hessian sums are built per node; for a split, only the child with fewer rows
///   is histogrammed and the other is the parent minus it (the subtraction trick), done in the parent's buffer.
///   `maxLeaves == 0` grows depth-wise to `maxDepth` (XGBoost `grow_policy=depthwise`); `maxLeaves > 0` grows best-first,
///   always splitting the leaf with the largest gain, up to `maxLeaves` leaves (LightGBM, XGBoost `lossguide`).
/// - **Objective.** Logistic loss, labels in [0, 1]: `g = p − y`, `h = max(p(1 − p), 1e−16)`, `p = σ(margin)`; base
///   score = log-odds of the mean label. Split gain and leaf weight are XGBoost's (Chen & Guestrin 2016, eq. 6–7):
///   `gain = ½[G_L²/(H_L+λ) + G_R²/(H_R+λ) − G²/(H+λ)] − γ` and `w = −G/(H+λ)`, shrunk by η. A split needs
///   `gain > 1e−6` (XGBoost's `kRtEps`) and hessian sums ≥ `minChildWeight` on both sides.
/// - **Early stopping.** With a validation set, training stops once the validation log loss has not improved for
///   `earlyStoppingRounds` rounds and keeps the trees up to the best round; both loss histories keep every round run.
///
/// ## Scoring
///
/// Nodes of all trees live in one flat array of 32-byte records (threshold, value, feature, left, right, default-left);
/// a step is `x ≤ threshold`, NaN taking the default direction. Rows are scored in blocks that walk the trees (two at a
/// time) in lock-step, branch-free, so a tree's nodes stay in cache and the rows' walks overlap (see `accumulate`); a
/// block without NaN walks a compact copy of the trees (`WalkTrees`: 16-byte nodes, siblings adjacent, the same `Double`
/// thresholds), so both paths reach the same leaves.
/// `contributions` explains a margin per feature with the Saabas method.
///
/// Training and scoring are deterministic: the same data, configuration and seed give the same bytes.
public struct GradientBoostedTrees: AnomalyModel, Sendable, Equatable {
    /// One node of a tree, packed so that one traversal step reads one record (two per cache line).
    ///
    /// A leaf points to itself (`left == right ==` its own index, feature 0), so stepping from a leaf stays there: a
    /// walk of exactly the tree's depth ends at the right leaf for every row, with no leaf test in the loop.
    struct Node: Sendable, Equatable {
        /// `x ≤ threshold` goes left. May be +∞: the split then separates only the missing values.
        var threshold: Double
        /// Leaf: its term of the margin (η·w). Internal node: its expected value, the cover-weighted mean of the leaves
        /// below it, which `contributions` needs.
        var value: Double
        /// Split feature (0 for a leaf).
        var feature: Int32
        /// Global indices of the children (a leaf's own index for both).
        var left: Int32
        var right: Int32
        /// Where NaN goes at this split.
        var defaultLeft: Bool

        var isLeaf: Bool { left == right }

        static func leaf(_ value: Double, at index: Int) -> Node {
            let me = Int32(truncatingIfNeeded: index)
            return Node(threshold: 0, value: value, feature: 0, left: me, right: me, defaultLeft: false)
        }
    }

    /// Values a row must have, in training order; a row of any other length scores NaN.
    public let featureCount: Int
    /// Margin before any tree: the log-odds of the mean training label.
    public let baseScore: Double
    /// Parameters the model was trained with.
    public let configuration: Configuration
    /// Seed of the row/column sampling and the binning sample.
    public let seed: UInt64
    /// Mean log loss on the training set after each round run (all rows, also when rows are subsampled).
    public let trainingLoss: [Double]
    /// Mean log loss on the validation set after each round run; empty without a validation set.
    public let validationLoss: [Double]
    /// Zero-based round whose trees the model keeps (`treeCount == bestIteration + 1`): with early stopping on a
    /// validation set, the round with the lowest validation loss; otherwise the last round.
    public let bestIteration: Int
    /// All trees' nodes; each tree is contiguous and starts with its root, children come after their parent.
    let nodes: [Node]
    /// Split gain per node (0 for leaves), as XGBoost reports it in model dumps.
    let nodeGain: [Double]
    /// Hessian sum of the training rows that reached each node (XGBoost's "cover").
    let nodeCover: [Double]
    /// Index in `nodes` of each tree's root.
    let treeRoots: [Int32]
    /// Depth of each tree (edges on its longest root-to-leaf path): the steps of a lock-step walk.
    let treeDepths: [Int32]
    /// The trees again, laid out for scoring rows without NaN (derived from `nodes`, see `WalkTrees`).
    let walk: WalkTrees

    init(
        featureCount: Int, baseScore: Double, configuration: Configuration, seed: UInt64, trainingLoss: [Double],
        validationLoss: [Double], bestIteration: Int, nodes: [Node], nodeGain: [Double], nodeCover: [Double], treeRoots: [Int32]
    ) {
        self.featureCount = featureCount
        self.baseScore = baseScore
        self.configuration = configuration
        self.seed = seed
        self.trainingLoss = trainingLoss
        self.validationLoss = validationLoss
        self.bestIteration = bestIteration
        self.nodes = nodes
        self.nodeGain = nodeGain
        self.nodeCover = nodeCover
        self.treeRoots = treeRoots
        // Children come after their parent, so one forward pass gives every node's depth.
        var depth = [Int32](repeating: 0, count: nodes.count)
        var treeDepths: [Int32] = []
        for (t, root) in treeRoots.enumerated() {
            let end = t + 1 < treeRoots.count ? Int(treeRoots[t + 1]) : nodes.count
            var deepest: Int32 = 0
            for i in Int(root)..<end {
                deepest = max(deepest, depth[i])
                if !nodes[i].isLeaf {
                    depth[Int(nodes[i].left)] = depth[i] + 1
                    depth[Int(nodes[i].right)] = depth[i] + 1
                }
            }
            treeDepths.append(deepest)
        }
        self.treeDepths = treeDepths
        self.walk = WalkTrees(nodes: nodes, roots: treeRoots)
    }

    /// Number of trees kept.
    public var treeCount: Int { treeRoots.count }
    /// Number of nodes over all trees.
    public var nodeCount: Int { nodes.count }
}

/// The trees re-laid for the NaN-free scoring path: 16-byte nodes (threshold, feature, left) whose right child is
/// always `left + 1`, so a step is one record load, one value load, one compare and an add. A leaf has threshold NaN
/// (`x ≤ NaN` is false for every x) and `left` one before itself, so stepping from a leaf stays there. Thresholds are the
/// model's own doubles, so for a value that is not NaN a step goes where `GradientBoostedTrees.step` goes.
struct WalkTrees: Sendable, Equatable {
    struct Node: Sendable, Equatable {
        var threshold: Double
        var feature: Int32
        var left: Int32

        /// Bitwise on the threshold, so that leaves (threshold NaN) equal themselves and models compare as their data.
        static func == (a: Node, b: Node) -> Bool {
            a.threshold.bitPattern == b.threshold.bitPattern && a.feature == b.feature && a.left == b.left
        }
    }

    var nodes: [Node] = []
    /// Leaf value per walk node (0 for internal nodes).
    var values: [Double] = []
    var roots: [Int32] = []

    init() {}

    /// Renumbers each tree breadth-first so that siblings are adjacent.
    init(nodes source: [GradientBoostedTrees.Node], roots sourceRoots: [Int32]) {
        nodes.reserveCapacity(source.count)
        values.reserveCapacity(source.count)
        roots.reserveCapacity(sourceRoots.count)
        var queue: [Int] = []
        for root in sourceRoots { append(tree: Int(root), from: source, queue: &queue) }
    }

    /// Appends the tree rooted at `source[root]` (the source's walk must reach leaves, as `validated` ensures).
    mutating func append(tree root: Int, from source: [GradientBoostedTrees.Node], queue: inout [Int]) {
        queue.removeAll(keepingCapacity: true)
        queue.append(root)
        let base = nodes.count
        roots.append(Int32(truncatingIfNeeded: base))
        var head = 0
        while head < queue.count {
            let node = source[queue[head]]
            let me = base + head
            if node.isLeaf {
                nodes.append(Node(threshold: .nan, feature: 0, left: Int32(truncatingIfNeeded: me - 1)))
                values.append(node.value)
            } else {
                nodes.append(Node(threshold: node.threshold, feature: node.feature, left: Int32(truncatingIfNeeded: base + queue.count)))
                values.append(0)
                queue.append(Int(node.left))
                queue.append(Int(node.right))
            }
            head += 1
        }
    }
}

// MARK: - Configuration

extension GradientBoostedTrees {
    /// Training parameters, named after XGBoost's. Every field has a default (`Configuration.default`); decoding a
    /// document that omits keys falls back to it. Keys are snake_case.
    public struct Configuration: Sendable, Codable, Equatable {
        /// Boosting rounds, i.e. trees, at most. Key `rounds`, default **200**.
        public var rounds: Int = 200
        /// Deepest level of a tree, the root being depth 0 (XGBoost `max_depth`). Key `max_depth`, default **6**.
        /// 0 = unlimited, allowed only with `maxLeaves > 0`.
        public var maxDepth: Int = 6
        /// Leaves per tree at most, grown best-first; 0 = depth-wise growth instead. Key `max_leaves`, default **0**.
        public var maxLeaves: Int = 0
        /// Shrinkage η of every leaf weight. Key `learning_rate`, default **0.1**.
        public var learningRate: Double = 0.1
        /// Least hessian sum in a child for a split to be made. Key `min_child_weight`, default **1**.
        public var minChildWeight: Double = 1
        /// L2 penalty λ on leaf weights. Key `lambda`, default **1**.
        public var lambda: Double = 1
        /// Least gain γ a split must bring (subtracted in the gain). Key `gamma`, default **0**.
        public var gamma: Double = 0
        /// Stop when the validation loss has not improved for this many rounds and keep the best round's trees; 0 = run
        /// every round and keep all trees (as without a validation set). Key `early_stopping_rounds`, default **20**.
        public var earlyStoppingRounds: Int = 20
        /// Fraction of the rows each tree is trained on, drawn per round with the seed. Key `subsample`, default **1**.
        public var subsample: Double = 1
        /// Fraction of the features each tree may split on (XGBoost `colsample_bytree`), drawn per tree with the seed.
        /// Key `colsample`, default **1**.
        public var colsample: Double = 1
        /// Bins per feature at most, 2…255 (the missing bin is extra). Key `max_bins`, default **255**.
        public var maxBins: Int = 255

        public init() {}

        /// The defaults listed on each field.
        public static let `default` = Configuration()

        /// Every problem with the configuration; empty when it is usable.
        public func validate() -> [String] {
            var issues: [String] = []
            if !(1...1_000_000).contains(rounds) { issues.append("rounds must be in 1...1000000, is \(rounds)") }
            if !(0...64).contains(maxDepth) { issues.append("max_depth must be in 0...64, is \(maxDepth)") }
            if maxDepth == 0 && maxLeaves == 0 { issues.append("max_depth 0 (unlimited) needs max_leaves > 0") }
            if maxLeaves == 1 || !(0...1 << 20).contains(maxLeaves) {
                issues.append("max_leaves must be 0 or in 2...1048576, is \(maxLeaves)")
            }
            if !(learningRate > 0 && learningRate <= 1) { issues.append("learning_rate must be in (0, 1], is \(learningRate)") }
            if !(minChildWeight >= 0 && minChildWeight.isFinite) {
                issues.append("min_child_weight must be finite and ≥ 0, is \(minChildWeight)")
            }
            if !(lambda >= 0 && lambda.isFinite) { issues.append("lambda must be finite and ≥ 0, is \(lambda)") }
            if !(gamma >= 0 && gamma.isFinite) { issues.append("gamma must be finite and ≥ 0, is \(gamma)") }
            if !(0...1_000_000).contains(earlyStoppingRounds) {
                issues.append("early_stopping_rounds must be in 0...1000000, is \(earlyStoppingRounds)")
            }
            if !(subsample > 0 && subsample <= 1) { issues.append("subsample must be in (0, 1], is \(subsample)") }
            if !(colsample > 0 && colsample <= 1) { issues.append("colsample must be in (0, 1], is \(colsample)") }
            if !(2...255).contains(maxBins) { issues.append("max_bins must be in 2...255, is \(maxBins)") }
            return issues
        }

        enum CodingKeys: String, CodingKey {
            case rounds
            case maxDepth = "max_depth"
            case maxLeaves = "max_leaves"
            case learningRate = "learning_rate"
            case minChildWeight = "min_child_weight"
            case lambda
            case gamma
            case earlyStoppingRounds = "early_stopping_rounds"
            case subsample
            case colsample
            case maxBins = "max_bins"
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            let d = Configuration()
            rounds = try c.decodeIfPresent(Int.self, forKey: .rounds) ?? d.rounds
            maxDepth = try c.decodeIfPresent(Int.self, forKey: .maxDepth) ?? d.maxDepth
            maxLeaves = try c.decodeIfPresent(Int.self, forKey: .maxLeaves) ?? d.maxLeaves
            learningRate = try c.decodeIfPresent(Double.self, forKey: .learningRate) ?? d.learningRate
            minChildWeight = try c.decodeIfPresent(Double.self, forKey: .minChildWeight) ?? d.minChildWeight
            lambda = try c.decodeIfPresent(Double.self, forKey: .lambda) ?? d.lambda
            gamma = try c.decodeIfPresent(Double.self, forKey: .gamma) ?? d.gamma
            earlyStoppingRounds = try c.decodeIfPresent(Int.self, forKey: .earlyStoppingRounds) ?? d.earlyStoppingRounds
            subsample = try c.decodeIfPresent(Double.self, forKey: .subsample) ?? d.subsample
            colsample = try c.decodeIfPresent(Double.self, forKey: .colsample) ?? d.colsample
            maxBins = try c.decodeIfPresent(Int.self, forKey: .maxBins) ?? d.maxBins
        }
    }
}

// MARK: - Errors

extension GradientBoostedTrees {
    /// Why `fit` refused its input.
    public struct FitError: Error, Sendable, Hashable, CustomStringConvertible {
        public enum Code: String, Sendable, Hashable {
            /// `Configuration.validate()` found problems.
            case invalidConfiguration
            /// Features and labels do not match `featureCount`, there are no rows, or too many.
            case invalidShape
            /// A label outside [0, 1] (or NaN).
            case invalidLabel
        }

        public let code: Code
        public let message: String

        public init(_ code: Code, _ message: String) {
            self.code = code
            self.message = message
        }

        public var description: String { "\(code.rawValue): \(message)" }
    }

    /// Most features a model may have: bounds what `contributions` allocates for a model read from a file.
    public static let maxFeatureCount = 1 << 16
}

// MARK: - Training

extension GradientBoostedTrees {
    /// Trains a model.
    ///
    /// - Parameters:
    ///   - features: Training rows, row-major, `featureCount` values per row; NaN means missing.
    ///   - featureCount: Columns per row, ≥ 1.
    ///   - labels: One label in [0, 1] per row (normally 0 or 1).
    ///   - validation: Rows (same layout) and labels for the validation loss and early stopping.
    ///   - configuration: Training parameters.
    ///   - seed: Seeds the binning sample and the row/column sampling.
    /// - Throws: `FitError`.
    public static func fit(
        features: [Double],
        featureCount: Int,
        labels: [Double],
        validation: (features: [Double], labels: [Double])? = nil,
        configuration: Configuration = .default,
        seed: UInt64 = 0
    ) throws(FitError) -> GradientBoostedTrees {
        let issues = configuration.validate()
        guard issues.isEmpty else { throw FitError(.invalidConfiguration, issues.joined(separator: "; ")) }
        let rowCount = try checkedRowCount(features: features, featureCount: featureCount, labels: labels, what: "training")
        var validationRows = 0
        if let validation {
            validationRows = try checkedRowCount(
                features: validation.features, featureCount: featureCount, labels: validation.labels, what: "validation")
        }

        var rng = SeededGenerator(seed: seed)
        let trainer = Trainer(features: features, rowCount: rowCount, featureCount: featureCount, configuration: configuration, rng: &rng)

        var meanLabel = 0.0
        for y in labels { meanLabel += y }
        // Clamped so that an all-0 or all-1 training set still gives a finite margin.
        meanLabel = min(max(meanLabel / Double(rowCount), 1e-7), 1 - 1e-7)
        let baseScore = vLog(meanLabel / (1 - meanLabel))

        var margins = [Double](repeating: baseScore, count: rowCount)
        var validationMargins = [Double](repeating: baseScore, count: validationRows)
        var nodes: [Node] = []
        var gains: [Double] = []
        var covers: [Double] = []
        var roots: [Int32] = []
        var trainingLoss: [Double] = []
        var validationLoss: [Double] = []
        var bestIteration = 0
        var bestValidationLoss = Double.infinity
        let allFeatures = Array(0..<featureCount)
        var walkQueue: [Int] = []

        trainer.computeGradients(labels: labels, margins: margins)
        for round in 0..<configuration.rounds {
            let sampled = trainer.sampleRows(fraction: configuration.subsample, rng: &rng)
            let columns = sampleColumns(allFeatures, fraction: configuration.colsample, rng: &rng)
            let tree = trainer.buildTree(sampledRowCount: sampled, features: columns)
            trainer.addTree(tree, allRowsSampled: sampled == rowCount, to: &margins)

            let root = nodes.count
            roots.append(Int32(truncatingIfNeeded: root))
            let offset = Int32(truncatingIfNeeded: root)
            for node in tree {
                if node.feature < 0 {
                    nodes.append(.leaf(node.value, at: nodes.count))
                } else {
                    nodes.append(
                        Node(
                            threshold: node.threshold, value: node.value, feature: node.feature, left: node.left + offset,
                            right: node.right + offset, defaultLeft: node.defaultLeft))
                }
                gains.append(node.gain)
                covers.append(node.h)
            }
            // The next round's gradients come with this round's loss, from one pass over the margins.
            trainingLoss.append(trainer.computeGradientsAndLoss(labels: labels, margins: margins))

            guard let validation else {
                bestIteration = round
                continue
            }
            let depth = Self.depth(of: nodes, root: root)
            var walk = WalkTrees()
            walk.append(tree: root, from: nodes, queue: &walkQueue)
            validationMargins.withUnsafeMutableBufferPointer { out in
                Self.accumulate(
                    nodes: nodes, roots: [Int32(truncatingIfNeeded: root)], depths: [depth], walk: walk, rows: validation.features,
                    stride: featureCount, into: out)
            }
            let loss = meanLogLoss(labels: validation.labels, margins: validationMargins)
            validationLoss.append(loss)
            if configuration.earlyStoppingRounds == 0 {
                bestIteration = round
            } else if loss < bestValidationLoss {
                bestValidationLoss = loss
                bestIteration = round
            } else if round - bestIteration >= configuration.earlyStoppingRounds {
                break
            }
        }

        // Keep the trees up to the best round; children always follow their parent, so a prefix of `nodes` is whole trees.
        let keptTrees = bestIteration + 1
        let keptNodes = keptTrees < roots.count ? Int(roots[keptTrees]) : nodes.count
        return GradientBoostedTrees(
            featureCount: featureCount, baseScore: baseScore, configuration: configuration, seed: seed,
            trainingLoss: trainingLoss, validationLoss: validationLoss, bestIteration: bestIteration,
            nodes: Array(nodes[0..<keptNodes]), nodeGain: Array(gains[0..<keptNodes]), nodeCover: Array(covers[0..<keptNodes]),
            treeRoots: Array(roots[0..<keptTrees]))
    }

    private static func checkedRowCount(
        features: [Double], featureCount: Int, labels: [Double], what: String
    ) throws(FitError) -> Int {
        guard (1...maxFeatureCount).contains(featureCount) else {
            throw FitError(.invalidShape, "featureCount must be in 1...\(maxFeatureCount), is \(featureCount)")
        }
        guard !labels.isEmpty else { throw FitError(.invalidShape, "the \(what) set has no rows") }
        // Row indices are Int32 during training.
        guard labels.count <= Int(Int32.max) else {
            throw FitError(.invalidShape, "the \(what) set has \(labels.count) rows, at most \(Int32.max) are supported")
        }
        let (expected, overflow) = labels.count.multipliedReportingOverflow(by: featureCount)
        guard !overflow && expected == features.count else {
            throw FitError(.invalidShape, "\(what) features have \(features.count) values, expected \(labels.count) rows × \(featureCount)")
        }
        for (i, y) in labels.enumerated() where !(y >= 0 && y <= 1) {
            throw FitError(.invalidLabel, "\(what) label \(i) is \(y), must be in [0, 1]")
        }
        return labels.count
    }

    /// `colsample_bytree`: a seeded partial Fisher–Yates draw of ⌈fraction·n⌉ features (at least one), in ascending order.
    private static func sampleColumns(_ all: [Int], fraction: Double, rng: inout SeededGenerator) -> [Int] {
        guard fraction < 1 else { return all }
        let count = max(1, Int((fraction * Double(all.count)).rounded(.up)))
        var pool = all
        for i in 0..<min(count, pool.count) {
            let j = i + boundedRandom(pool.count - i, &rng)
            pool.swapAt(i, j)
        }
        return pool[0..<min(count, pool.count)].sorted()
    }

    /// Mean logistic loss `log(1 + e^m) − y·m`, computed without overflow for large |m|.
    static func meanLogLoss(labels: [Double], margins: [Double]) -> Double {
        var sum = 0.0
        for i in 0..<min(labels.count, margins.count) {
            let m = margins[i]
            let softplus = m > 0 ? m + log1pSeries(vExp(-m)) : log1pSeries(vExp(m))
            sum += softplus - labels[i] * m
        }
        return sum / Double(max(labels.count, 1))
    }

    /// XGBoost's split gain: `½[G_L²/(H_L+λ) + G_R²/(H_R+λ) − G²/(H+λ)] − γ`.
    static func splitGain(gl: Double, hl: Double, gr: Double, hr: Double, lambda: Double, gamma: Double) -> Double {
        0.5 * (score(gl, hl, lambda) + score(gr, hr, lambda) - score(gl + gr, hl + hr, lambda)) - gamma
    }

    /// XGBoost's optimal leaf weight `−G/(H+λ)` (before shrinkage); 0 when `H + λ` is 0.
    static func leafWeight(g: Double, h: Double, lambda: Double) -> Double {
        h + lambda > 0 ? -g / (h + lambda) : 0
    }

    @inline(__always)
    fileprivate static func score(_ g: Double, _ h: Double, _ lambda: Double) -> Double {
        h + lambda > 0 ? g * g / (h + lambda) : 0
    }
}

/// `log1p(x)` for x ≥ 0, as the loss needs it for `x = e^−|m|`: below 1/64 (every confidently classified row, i.e.
/// most of them after a few rounds) by its Taylor series to x¹⁰, whose truncation error is below 10⁻²⁰ relative, in
/// Horner form (a few ulps, like `log1p`) and several times faster than the library call; otherwise `log1p` itself.
@inline(__always)
private func log1pSeries(_ x: Double) -> Double {
    guard x < 0.015625 else { return vLog1p(x) }
    // x(1 − x(1/2 − x(1/3 − … − x/10)))
    var s = 1.0 / 10
    s = 1.0 / 9 - x * s
    s = 1.0 / 8 - x * s
    s = 1.0 / 7 - x * s
    s = 1.0 / 6 - x * s
    s = 1.0 / 5 - x * s
    s = 1.0 / 4 - x * s
    s = 1.0 / 3 - x * s
    s = 1.0 / 2 - x * s
    s = 1.0 - x * s
    return x * s
}

/// Uniform integer in `0..<bound` from 64 random bits by multiply-shift (Lemire); the bias is below 2⁻³² for any bound
/// used here, and unlike `Int.random(in:using:)` the mapping is ours, so sequences stay the same across Swift versions.
@inline(__always)
private func boundedRandom(_ bound: Int, _ rng: inout SeededGenerator) -> Int {
    Int(truncatingIfNeeded: rng.next().multipliedFullWidth(by: UInt64(bound)).high)
}

// MARK: - Binning

/// Quantile bin edges of one feature. Bin `b` holds `edges[b−1] < x ≤ edges[b]`; the last bin, `edges.count`, is
/// unbounded above; NaN has the separate code `missingBin`.
struct FeatureBins: Sendable, Equatable {
    static let missingBin: UInt8 = 255

    var edges: [Double]

    var binCount: Int { edges.count + 1 }

    /// Bin of a value: the first edge it does not exceed (binary search).
    @inline(__always)
    func bin(_ x: Double) -> UInt8 {
        if x.isNaN { return Self.missingBin }
        var low = 0
        var high = edges.count
        while low < high {
            let mid = (low + high) >> 1
            if x <= edges[mid] { high = mid } else { low = mid + 1 }
        }
        return UInt8(truncatingIfNeeded: low)
    }

    /// Edges for non-NaN values sorted ascending, at most `maxBins` bins.
    init(sortedValues values: [Double], maxBins: Int) {
        var distinct: [Double] = []
        var counts: [Int] = []
        for v in values {
            if let last = distinct.last, last == v {
                counts[counts.count - 1] += 1
            } else {
                distinct.append(v)
                counts.append(1)
            }
        }
        var edges: [Double] = []
        if distinct.count <= maxBins {
            for j in 0..<max(distinct.count - 1, 0) { edges.append(Self.cut(distinct[j], distinct[j + 1])) }
        } else {
            // Greedy equal-count bins: close the current bin when it holds its share of what is left, or just before a
            // value that alone holds a share, so that a spike gets a bin of its own and does not swallow the bins after it.
            var binStart = 0
            var cumulative = 0
            for j in 0..<(distinct.count - 1) {
                cumulative += counts[j]
                let share = Double(values.count - binStart) / Double(maxBins - edges.count)
                if Double(cumulative - binStart) >= share || Double(counts[j + 1]) >= share {
                    edges.append(Self.cut(distinct[j], distinct[j + 1]))
                    binStart = cumulative
                    if edges.count == maxBins - 1 { break }
                }
            }
        }
        self.edges = edges
    }

    /// Edge between two neighbouring distinct values: the midpoint (so unseen values in the gap split sensibly), or the
    /// lower value when the midpoint is not strictly between them (adjacent doubles, infinities).
    private static func cut(_ a: Double, _ b: Double) -> Double {
        let mid = a * 0.5 + b * 0.5
        return mid >= a && mid < b ? mid : a
    }
}

// MARK: - Tree builder

/// A node while its tree grows; indices are local to the tree.
struct BuildNode: Sendable {
    var g: Double
    var h: Double
    var begin: Int
    var end: Int
    var depth: Int
    var feature: Int32 = -1
    var bin: Int = 0
    var threshold: Double = 0
    var defaultLeft = false
    var left: Int32 = -1
    var right: Int32 = -1
    var gain: Double = 0
    var value: Double = 0
}

/// The best split of a node found in its histogram.
private struct Split {
    var gain: Double
    var feature: Int
    var bin: Int
    var missingLeft: Bool
    var sawMissing: Bool
    var gl: Double
    var hl: Double
}

/// Owns the binned matrix, gradients and row partition for one `fit`. Manual memory, because every hot loop reads it
/// through raw pointers and arrays would be copied-on-write or bounds-checked there; freed in `deinit`.
private final class Trainer {
    /// (g, h) pairs per feature in a histogram: 256 bin codes, code 255 being the missing bin.
    static let histogramStride = 256
    /// Rows of the binning sample (LightGBM's `bin_construct_sample_cnt`).
    static let binningSampleSize = 200_000

    let rowCount: Int
    let featureCount: Int
    let configuration: GradientBoostedTrees.Configuration
    let featureBins: [FeatureBins]
    /// `rowCount × featureCount` bin codes, row-major: a histogram pass reads each row's codes from one place.
    let bins: UnsafeMutablePointer<UInt8>
    /// The same codes column-major (`featureCount × rowCount`): partitioning a node reads one feature of its rows.
    let columns: UnsafeMutablePointer<UInt8>
    /// (g, h) of every row, interleaved, so a histogram update is one 16-byte load and one vector add per feature.
    let gradHess: UnsafeMutablePointer<SIMD2<Double>>
    /// Sampled row indices, partitioned so that each node owns a contiguous range.
    let rows: UnsafeMutablePointer<Int32>
    let scratchRows: UnsafeMutablePointer<Int32>
    private var freeHistograms: [UnsafeMutablePointer<SIMD2<Double>>] = []
    private var allHistograms: [UnsafeMutablePointer<SIMD2<Double>>] = []

    init(
        features: [Double], rowCount: Int, featureCount: Int, configuration: GradientBoostedTrees.Configuration,
        rng: inout SeededGenerator
    ) {
        self.rowCount = rowCount
        self.featureCount = featureCount
        self.configuration = configuration
        bins = .allocate(capacity: rowCount * featureCount)
        columns = .allocate(capacity: rowCount * featureCount)
        gradHess = .allocate(capacity: rowCount)
        rows = .allocate(capacity: rowCount)
        scratchRows = .allocate(capacity: rowCount)

        var sample: [Int] = []
        if rowCount > Self.binningSampleSize {
            sample = (0..<Self.binningSampleSize).map { _ in boundedRandom(rowCount, &rng) }
        }
        var featureBins: [FeatureBins] = []
        featureBins.reserveCapacity(featureCount)
        var values: [Double] = []
        for f in 0..<featureCount {
            values.removeAll(keepingCapacity: true)
            if sample.isEmpty {
                for r in 0..<rowCount where !features[r * featureCount + f].isNaN { values.append(features[r * featureCount + f]) }
            } else {
                for r in sample where !features[r * featureCount + f].isNaN { values.append(features[r * featureCount + f]) }
            }
            values.sort()
            let binning = FeatureBins(sortedValues: values, maxBins: configuration.maxBins)
            let column = columns + f * rowCount
            for r in 0..<rowCount {
                let code = binning.bin(features[r * featureCount + f])
                column[r] = code
                bins[r * featureCount + f] = code
            }
            featureBins.append(binning)
        }
        self.featureBins = featureBins
    }

    deinit {
        bins.deallocate()
        columns.deallocate()
        gradHess.deallocate()
        rows.deallocate()
        scratchRows.deallocate()
        for h in allHistograms { h.deallocate() }
    }

    /// Computes the gradients for the margins, as `computeGradients`, and returns the mean log loss at them (the
    /// training loss of the round that produced them), reusing the gradient's `e^−m`: the loss term is
    /// `m + log1p(e^−m)` for m > 0 and `log1p(1/e^−m)` otherwise, with no second exponential.
    func computeGradientsAndLoss(labels: [Double], margins: [Double]) -> Double {
        var sum = 0.0
        labels.withUnsafeBufferPointer { y in
            margins.withUnsafeBufferPointer { m in
                for r in 0..<rowCount {
                    let margin = m[r]
                    let e = vExp(-margin)
                    let p = 1 / (1 + e)
                    gradHess[r] = SIMD2(p - y[r], max(p * (1 - p), 1e-16))
                    let softplus = margin > 0 ? margin + log1pSeries(e) : log1pSeries(1 / e)
                    sum += softplus - y[r] * margin
                }
            }
        }
        return sum / Double(max(rowCount, 1))
    }

    func computeGradients(labels: [Double], margins: [Double]) {
        labels.withUnsafeBufferPointer { y in
            margins.withUnsafeBufferPointer { m in
                for r in 0..<rowCount {
                    let p = 1 / (1 + vExp(-m[r]))
                    // XGBoost's floor keeps saturated rows from dividing by zero in leaf weights.
                    gradHess[r] = SIMD2(p - y[r], max(p * (1 - p), 1e-16))
                }
            }
        }
    }

    /// Fills `rows` with this round's rows (each kept with probability `fraction`) and returns how many.
    func sampleRows(fraction: Double, rng: inout SeededGenerator) -> Int {
        var count = 0
        for r in 0..<rowCount where fraction >= 1 || rng.nextUnit() < fraction {
            rows[count] = Int32(truncatingIfNeeded: r)
            count += 1
        }
        return count
    }

    // MARK: Histograms

    private func takeHistogram() -> UnsafeMutablePointer<SIMD2<Double>> {
        if let h = freeHistograms.popLast() { return h }
        let h = UnsafeMutablePointer<SIMD2<Double>>.allocate(capacity: featureCount * Self.histogramStride)
        allHistograms.append(h)
        return h
    }

    private func release(_ h: UnsafeMutablePointer<SIMD2<Double>>?) {
        if let h { freeHistograms.append(h) }
    }

    /// Sums (g, h) per bin of every sampled feature over the node's rows, row by row (each row's codes are adjacent,
    /// and its (g, h) is read once); every bin still adds its rows in row order, so the sums do not depend on the layout.
    private func buildHistogram(_ hist: UnsafeMutablePointer<SIMD2<Double>>, begin: Int, end: Int, features: [Int]) {
        hist.update(repeating: .zero, count: featureCount * Self.histogramStride)
        let nodeRows = rows + begin
        let count = end - begin
        let stride = featureCount
        if features.count == featureCount {
            for i in 0..<count {
                let r = Int(nodeRows[i])
                let v = gradHess[r]
                let codes = bins + r &* stride
                var h = hist
                for f in 0..<stride {
                    h[Int(codes[f])] += v
                    h += Self.histogramStride
                }
            }
        } else {
            features.withUnsafeBufferPointer { fs in
                for i in 0..<count {
                    let r = Int(nodeRows[i])
                    let v = gradHess[r]
                    let codes = bins + r &* stride
                    for f in fs { hist[f &* Self.histogramStride &+ Int(codes[f])] += v }
                }
            }
        }
    }

    /// `parent − child`, in the parent's buffer: the sibling's histogram without reading its rows.
    private func subtract(
        _ child: UnsafeMutablePointer<SIMD2<Double>>, from parent: UnsafeMutablePointer<SIMD2<Double>>, features: [Int]
    ) {
        for f in features {
            let p = parent + f * Self.histogramStride
            let c = child + f * Self.histogramStride
            for k in 0..<Self.histogramStride { p[k] -= c[k] }
        }
    }

    // MARK: Split search

    private func findSplit(_ hist: UnsafeMutablePointer<SIMD2<Double>>, g: Double, h: Double, features: [Int]) -> Split? {
        let lambda = configuration.lambda
        let gamma = configuration.gamma
        // A relative floor as well, so that rounding (H − H_L ≈ 1e−17 for an empty side) never makes a child.
        let minHessian = max(configuration.minChildWeight, h * 1e-10, Double.leastNormalMagnitude)
        let parentScore = GradientBoostedTrees.score(g, h, lambda)
        var best: Split?
        var bestGain = 1e-6  // XGBoost's kRtEps: smaller gains are rounding noise.

        @inline(__always)
        func consider(_ gl: Double, _ hl: Double, feature: Int, bin: Int, missingLeft: Bool, sawMissing: Bool) {
            let gr = g - gl
            let hr = h - hl
            guard hl >= minHessian && hr >= minHessian else { return }
            let gain =
                0.5 * (GradientBoostedTrees.score(gl, hl, lambda) + GradientBoostedTrees.score(gr, hr, lambda) - parentScore) - gamma
            if gain > bestGain {
                bestGain = gain
                best = Split(gain: gain, feature: feature, bin: bin, missingLeft: missingLeft, sawMissing: sawMissing, gl: gl, hl: hl)
            }
        }

        for f in features {
            let hf = hist + f * Self.histogramStride
            let binCount = featureBins[f].binCount
            let gMissing = hf[Int(FeatureBins.missingBin)].x
            let hMissing = hf[Int(FeatureBins.missingBin)].y
            // Every row has h > 0, so a positive sum means the node has missing rows.
            let sawMissing = hMissing > 0
            var gl = 0.0
            var hl = 0.0
            for b in 0..<binCount {
                gl += hf[b].x
                hl += hf[b].y
                if b == binCount - 1 {
                    // All values left, missing right: a split on "value present".
                    if sawMissing { consider(gl, hl, feature: f, bin: b, missingLeft: false, sawMissing: true) }
                } else {
                    consider(gl, hl, feature: f, bin: b, missingLeft: false, sawMissing: sawMissing)
                    if sawMissing { consider(gl + gMissing, hl + hMissing, feature: f, bin: b, missingLeft: true, sawMissing: true) }
                }
            }
        }
        return best
    }

    // MARK: Growth

    private func canSplit(_ node: BuildNode) -> Bool {
        (configuration.maxDepth == 0 || node.depth < configuration.maxDepth) && node.end - node.begin >= 2
            && node.h >= 2 * configuration.minChildWeight
    }

    /// Moves the node's rows that go left to the front of its range (order kept, for cache-friendly histograms).
    private func partition(_ node: BuildNode, feature: Int, bin: Int, missingLeft: Bool) -> Int {
        let column = columns + feature * rowCount
        var left = node.begin
        var rightCount = 0
        // Branch-free: a table gives each bin code's side as 0/1, every row is written to both places, and only the side
        // it belongs to advances (the side of a row is data, a branch on it would be mispredicted half the time).
        withUnsafeTemporaryAllocation(of: Int.self, capacity: 256) { goesLeft in
            for code in 0..<256 {
                goesLeft[code] = (code == Int(FeatureBins.missingBin) ? missingLeft : code <= bin) ? 1 : 0
            }
            for i in node.begin..<node.end {
                let r = rows[i]
                let l = goesLeft[Int(column[Int(r)])]
                rows[left] = r
                scratchRows[rightCount] = r
                left &+= l
                rightCount &+= 1 &- l
            }
        }
        (rows + left).update(from: scratchRows, count: rightCount)
        return left
    }

    /// Grows one tree over `rows[0..<sampledRowCount]` with the current gradients; returns its nodes, root first.
    func buildTree(sampledRowCount: Int, features: [Int]) -> [BuildNode] {
        var g = 0.0
        var h = 0.0
        for i in 0..<sampledRowCount {
            let v = gradHess[Int(rows[i])]
            g += v.x
            h += v.y
        }
        var nodes = [BuildNode(g: g, h: h, begin: 0, end: sampledRowCount, depth: 0)]
        var pending: [(node: Int, split: Split, histogram: UnsafeMutablePointer<SIMD2<Double>>)] = []
        var leafCount = 1
        let maxLeaves = configuration.maxLeaves

        func queue(_ index: Int, _ node: BuildNode, _ hist: UnsafeMutablePointer<SIMD2<Double>>?) {
            guard let hist else { return }
            if canSplit(node), let split = findSplit(hist, g: node.g, h: node.h, features: features) {
                pending.append((index, split, hist))
            } else {
                release(hist)
            }
        }

        if canSplit(nodes[0]) {
            let hist = takeHistogram()
            buildHistogram(hist, begin: 0, end: sampledRowCount, features: features)
            queue(0, nodes[0], hist)
        }

        while !pending.isEmpty && (maxLeaves == 0 || leafCount < maxLeaves) {
            // Depth-wise: first created first (breadth-first). Best-first: largest gain, earliest node on ties.
            var pick = 0
            if maxLeaves > 0 {
                for k in 1..<pending.count where pending[k].split.gain > pending[pick].split.gain { pick = k }
            }
            let (parentIndex, split, parentHistogram) = pending.remove(at: pick)
            let parent = nodes[parentIndex]
            let middle = partition(parent, feature: split.feature, bin: split.bin, missingLeft: split.missingLeft)
            let gr = parent.g - split.gl
            let hr = parent.h - split.hl
            let leftIndex = nodes.count
            nodes[parentIndex].feature = Int32(truncatingIfNeeded: split.feature)
            nodes[parentIndex].bin = split.bin
            let edges = featureBins[split.feature].edges
            nodes[parentIndex].threshold = split.bin < edges.count ? edges[split.bin] : .infinity
            nodes[parentIndex].defaultLeft = split.sawMissing ? split.missingLeft : split.hl >= hr
            nodes[parentIndex].gain = split.gain
            nodes[parentIndex].left = Int32(truncatingIfNeeded: leftIndex)
            nodes[parentIndex].right = Int32(truncatingIfNeeded: leftIndex + 1)
            let left = BuildNode(g: split.gl, h: split.hl, begin: parent.begin, end: middle, depth: parent.depth + 1)
            let right = BuildNode(g: gr, h: hr, begin: middle, end: parent.end, depth: parent.depth + 1)
            nodes.append(left)
            nodes.append(right)
            leafCount += 1

            // Histogram the child with fewer rows; its sibling is the parent minus it, in the parent's buffer.
            let leftIsSmall = left.end - left.begin <= right.end - right.begin
            let (small, large) = leftIsSmall ? (left, right) : (right, left)
            var smallHistogram: UnsafeMutablePointer<SIMD2<Double>>?
            var largeHistogram: UnsafeMutablePointer<SIMD2<Double>>?
            if canSplit(small) || canSplit(large) {
                let hist = takeHistogram()
                buildHistogram(hist, begin: small.begin, end: small.end, features: features)
                smallHistogram = hist
                if canSplit(large) {
                    subtract(hist, from: parentHistogram, features: features)
                    largeHistogram = parentHistogram
                }
            }
            if largeHistogram == nil { release(parentHistogram) }
            // Left is queued before right, which keeps depth-wise growth breadth-first.
            let leftHistogram = leftIsSmall ? smallHistogram : largeHistogram
            let rightHistogram = leftIsSmall ? largeHistogram : smallHistogram
            queue(leftIndex, left, leftHistogram)
            queue(leftIndex + 1, right, rightHistogram)
        }
        for item in pending { release(item.histogram) }

        // Leaf weights, then expected values bottom-up (children always have larger indices than their parent).
        let eta = configuration.learningRate
        for i in nodes.indices.reversed() {
            if nodes[i].feature < 0 {
                nodes[i].value = eta * GradientBoostedTrees.leafWeight(g: nodes[i].g, h: nodes[i].h, lambda: configuration.lambda)
            } else {
                let l = nodes[Int(nodes[i].left)]
                let r = nodes[Int(nodes[i].right)]
                let cover = l.h + r.h
                nodes[i].value = cover > 0 ? (l.h * l.value + r.h * r.value) / cover : 0.5 * (l.value + r.value)
            }
        }
        return nodes
    }

    /// Adds the new tree's output to every training row's margin: from the leaves' row ranges when every row was in the
    /// tree, by walking the binned rows otherwise.
    func addTree(_ tree: [BuildNode], allRowsSampled: Bool, to margins: inout [Double]) {
        margins.withUnsafeMutableBufferPointer { m in
            if allRowsSampled {
                for node in tree where node.feature < 0 {
                    for i in node.begin..<node.end { m[Int(rows[i])] += node.value }
                }
                return
            }
            for r in 0..<rowCount {
                var i = 0
                while tree[i].feature >= 0 {
                    let node = tree[i]
                    let b = bins[r * featureCount + Int(node.feature)]
                    let goLeft = b == FeatureBins.missingBin ? node.defaultLeft : Int(b) <= node.bin
                    i = Int(goLeft ? node.left : node.right)
                }
                m[r] += tree[i].value
            }
        }
    }
}

// MARK: - Scoring

extension GradientBoostedTrees {
    /// Rows walked together through one tree.
    static let blockSize = 128

    /// Depth of the tree rooted at `root` in a node array still being built (its nodes are the last ones).
    fileprivate static func depth(of nodes: [Node], root: Int) -> Int32 {
        var depth = [Int32](repeating: 0, count: nodes.count - root)
        var deepest: Int32 = 0
        for i in root..<nodes.count {
            deepest = max(deepest, depth[i - root])
            if !nodes[i].isLeaf {
                depth[Int(nodes[i].left) - root] = depth[i - root] + 1
                depth[Int(nodes[i].right) - root] = depth[i - root] + 1
            }
        }
        return deepest
    }

    /// One step down a tree. `defaultLeft ? !(x > t) : x ≤ t` decides NaN by the default direction (every comparison
    /// with NaN is false), and both arms and the child choice compile to selects, not branches.
    @inline(__always)
    static func step(_ nodes: UnsafePointer<Node>, _ i: Int, _ row: UnsafePointer<Double>) -> Int {
        let node = nodes[i]
        let x = row[Int(node.feature)]
        let goLeft = node.defaultLeft ? !(x > node.threshold) : x <= node.threshold
        return Int(goLeft ? node.left : node.right)
    }

    /// Adds every tree's leaf value to `out[r]` for the rows stored `stride` apart, trees in order (so the sums have
    /// the same bits as `predictMargin`). A block of rows walks a tree in lock-step, one level at a time: each row's
    /// walk is a chain of dependent loads, and interleaving the block's independent chains lets the CPU overlap them,
    /// while self-looping leaves make the walk a fixed `depth` steps with no exit branch to mispredict. A block without
    /// NaN (the usual case, checked once per block) walks the compact `walk` layout; a block with NaN walks `nodes`,
    /// which carry each split's default direction. Both reach the same leaf for every row.
    static func accumulate(
        nodes: [Node], roots: [Int32], depths: [Int32], walk: WalkTrees, rows: [Double], stride: Int,
        into out: UnsafeMutableBufferPointer<Double>
    ) {
        let rowCount = min(rows.count / stride, out.count)
        let treeCount = min(roots.count, depths.count, walk.roots.count)
        nodes.withUnsafeBufferPointer { nodeBuffer in
            walk.nodes.withUnsafeBufferPointer { walkBuffer in
                walk.values.withUnsafeBufferPointer { values in
                    walk.roots.withUnsafeBufferPointer { walkRoots in
                        roots.withUnsafeBufferPointer { roots in
                            depths.withUnsafeBufferPointer { depths in
                                rows.withUnsafeBufferPointer { rowBuffer in
                                    withUnsafeTemporaryAllocation(of: Int.self, capacity: 2 * blockSize) { cursor in
                                        guard let nodeBase = nodeBuffer.baseAddress, let rowBase = rowBuffer.baseAddress,
                                            let walkBase = walkBuffer.baseAddress, let cursor = cursor.baseAddress
                                        else { return }
                                        var blockStart = 0
                                        while blockStart < rowCount {
                                            let count = min(blockSize, rowCount - blockStart)
                                            let block = rowBase + blockStart * stride
                                            let sums = out.baseAddress! + blockStart
                                            var hasNaN = false
                                            for v in 0..<(count * stride) where block[v].isNaN { hasNaN = true }
                                            if hasNaN {
                                                for t in 0..<treeCount {
                                                    let root = Int(roots[t])
                                                    for k in 0..<count { cursor[k] = root }
                                                    for _ in 0..<depths[t] {
                                                        for k in 0..<count { cursor[k] = step(nodeBase, cursor[k], block + k * stride) }
                                                    }
                                                    for k in 0..<count { sums[k] += nodeBase[cursor[k]].value }
                                                }
                                            } else {
                                                // Two trees at a time: twice the independent walks per pass over the block. A root step
                                                // is loaded once for all rows; a leaf root steps to itself, as every leaf does, so the
                                                // shallower tree of a pair can take the deeper one's steps. Leaf values are added in tree
                                                // order, keeping the sums' bits.
                                                let other = cursor + blockSize
                                                var t = 0
                                                while t + 1 < treeCount {
                                                    let depth = max(depths[t], depths[t + 1])
                                                    let rootA = walkBase[Int(walkRoots[t])]
                                                    let rootB = walkBase[Int(walkRoots[t + 1])]
                                                    var row = block
                                                    for k in 0..<count {
                                                        cursor[k] = Int(rootA.left) &+ (row[Int(rootA.feature)] <= rootA.threshold ? 0 : 1)
                                                        other[k] = Int(rootB.left) &+ (row[Int(rootB.feature)] <= rootB.threshold ? 0 : 1)
                                                        row += stride
                                                    }
                                                    for _ in 1..<max(depth, 1) {
                                                        row = block
                                                        for k in 0..<count {
                                                            let a = walkBase[cursor[k]]
                                                            let b = walkBase[other[k]]
                                                            cursor[k] = Int(a.left) &+ (row[Int(a.feature)] <= a.threshold ? 0 : 1)
                                                            other[k] = Int(b.left) &+ (row[Int(b.feature)] <= b.threshold ? 0 : 1)
                                                            row += stride
                                                        }
                                                    }
                                                    for k in 0..<count { sums[k] = sums[k] + values[cursor[k]] + values[other[k]] }
                                                    t += 2
                                                }
                                                if t < treeCount {
                                                    let root = walkBase[Int(walkRoots[t])]
                                                    var row = block
                                                    for k in 0..<count {
                                                        cursor[k] = Int(root.left) &+ (row[Int(root.feature)] <= root.threshold ? 0 : 1)
                                                        row += stride
                                                    }
                                                    for _ in 1..<max(depths[t], 1) {
                                                        row = block
                                                        for k in 0..<count {
                                                            let node = walkBase[cursor[k]]
                                                            cursor[k] = Int(node.left) &+ (row[Int(node.feature)] <= node.threshold ? 0 : 1)
                                                            row += stride
                                                        }
                                                    }
                                                    for k in 0..<count { sums[k] += values[cursor[k]] }
                                                }
                                            }
                                            blockStart += count
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// Raw margin (log-odds) of one row: base score plus every tree's leaf value; NaN when the row does not have
    /// `featureCount` values (rows come from data, so a wrong length is an answer, not a trap).
    public func predictMargin(_ row: [Double]) -> Double {
        guard row.count == featureCount else { return .nan }
        var margin = baseScore
        withUnsafeMutablePointer(to: &margin) {
            Self.accumulate(
                nodes: nodes, roots: treeRoots, depths: treeDepths, walk: walk, rows: row, stride: featureCount,
                into: UnsafeMutableBufferPointer(start: $0, count: 1))
        }
        return margin
    }

    /// Probability that the row is positive, σ(margin); NaN for a row of the wrong length.
    public func predictProbability(_ row: [Double]) -> Double {
        1 / (1 + vExp(-predictMargin(row)))
    }

    /// Probabilities of many rows stored one after another (row-major), `featureCount` values each; a trailing partial
    /// row is ignored, and every row is NaN when `featureCount` is not the model's. Nothing is allocated per row.
    public func predict(rows: [Double], featureCount stride: Int) -> [Double] {
        guard stride > 0 else { return [] }
        let rowCount = rows.count / stride
        guard stride == featureCount else { return [Double](repeating: .nan, count: rowCount) }
        var output = [Double](repeating: baseScore, count: rowCount)
        output.withUnsafeMutableBufferPointer { out in
            Self.accumulate(nodes: nodes, roots: treeRoots, depths: treeDepths, walk: walk, rows: rows, stride: stride, into: out)
            for r in 0..<out.count { out[r] = 1 / (1 + vExp(-out[r])) }
        }
        return output
    }

    /// Per-feature contributions to the row's margin by the Saabas method: walking each tree from the root, every split
    /// credits its feature with the change in expected value from the node to the child taken (expected value = the
    /// cover-weighted mean of the leaves below, stored in each internal node). Element `featureCount` is the bias: the
    /// base score plus each root's expected value. The elements sum to `predictMargin(row)`; all are NaN for a row of
    /// the wrong length.
    ///
    /// Saabas is cheap (one walk per tree) and what `xgboost predict(pred_contribs=True, approx_contribs=True)` computes;
    /// unlike TreeSHAP it is not consistent (the credit of a feature depends on how deep its splits sit), which is
    /// acceptable for ranking the features behind an alert.
    public func contributions(_ row: [Double]) -> [Double] {
        guard row.count == featureCount else { return [Double](repeating: .nan, count: featureCount + 1) }
        var result = [Double](repeating: 0, count: featureCount + 1)
        result[featureCount] = baseScore
        for root in treeRoots {
            var i = Int(root)
            result[featureCount] += nodes[i].value
            while !nodes[i].isLeaf {
                let node = nodes[i]
                let x = row[Int(node.feature)]
                let goLeft = node.defaultLeft ? !(x > node.threshold) : x <= node.threshold
                let next = Int(goLeft ? node.left : node.right)
                result[Int(node.feature)] += nodes[next].value - node.value
                i = next
            }
        }
        return result
    }

    /// Total split gain per feature over all trees (XGBoost's `importance_type="total_gain"`).
    public func featureImportance() -> [Double] {
        var importance = [Double](repeating: 0, count: featureCount)
        for (i, node) in nodes.enumerated() where !node.isLeaf { importance[Int(node.feature)] += nodeGain[i] }
        return importance
    }

    /// The anomaly score: the predicted probability that the row is a true anomaly; NaN for a row of the wrong length.
    public func score(_ row: [Double]) -> Double { predictProbability(row) }
}

// MARK: - Serialization

extension GradientBoostedTrees {
    /// `VGB1` in ASCII.
    static let magic: [UInt8] = [0x56, 0x47, 0x42, 0x31]
    static let formatVersion: UInt16 = 1
    /// Bytes of one serialized node: i32 feature, f64 threshold, i32 left, i32 right, f64 value, f64 gain, f64 cover, u8 flags.
    static let serializedNodeSize = 45

    /// The model as bytes, format v1, every field little-endian:
    ///
    /// ```
    /// "VGB1"  u16 version = 1  u32 featureCount  f64 baseScore
    /// configuration: u32 rounds, maxDepth, maxLeaves, maxBins, earlyStoppingRounds
    ///                f64 learningRate, minChildWeight, lambda, gamma, subsample, colsample   u64 seed
    /// i32 bestIteration  u32 n, n × f64 trainingLoss  u32 n, n × f64 validationLoss
    /// u32 treeCount  u32 nodeCount  treeCount × i32 root node index
    /// nodeCount × (i32 feature (−1 = leaf), f64 threshold, i32 left, i32 right, f64 value, f64 gain, f64 cover,
    ///              u8 flags (bit 0 = NaN goes left))
    /// u32 CRC-32 (IEEE, as zlib) of every byte before it
    /// ```
    ///
    /// Child indices are global; every tree's nodes are contiguous from its root, and children follow their parent.
    public func serialized() -> [UInt8] {
        var w = ModelFileWriter()
        w.bytes.reserveCapacity(
            128 + 8 * (trainingLoss.count + validationLoss.count) + 4 * treeCount + Self.serializedNodeSize * nodes.count)
        w.bytes += Self.magic
        w.u16(Self.formatVersion)
        w.u32(featureCount)
        w.f64(baseScore)
        let c = configuration
        for v in [c.rounds, c.maxDepth, c.maxLeaves, c.maxBins, c.earlyStoppingRounds] { w.u32(v) }
        for v in [c.learningRate, c.minChildWeight, c.lambda, c.gamma, c.subsample, c.colsample] { w.f64(v) }
        w.u64(seed)
        w.i32(Int32(truncatingIfNeeded: bestIteration))
        w.u32(trainingLoss.count)
        for v in trainingLoss { w.f64(v) }
        w.u32(validationLoss.count)
        for v in validationLoss { w.f64(v) }
        w.u32(treeRoots.count)
        w.u32(nodes.count)
        for root in treeRoots { w.i32(root) }
        for (i, node) in nodes.enumerated() {
            // The file marks a leaf with feature and children −1; self-looping is an in-memory layout only.
            w.i32(node.isLeaf ? -1 : node.feature)
            w.f64(node.threshold)
            w.i32(node.isLeaf ? -1 : node.left)
            w.i32(node.isLeaf ? -1 : node.right)
            w.f64(node.value)
            w.f64(nodeGain[i])
            w.f64(nodeCover[i])
            w.bytes.append(node.defaultLeft ? 1 : 0)
        }
        w.u32(modelFileCRC32(w.bytes[...]))
        return w.bytes
    }

    /// Reads a model written by `serialized()`. Every count is checked against the bytes actually present before
    /// anything is allocated, so a short or hostile file costs at most its own size; the checksum catches changed bytes;
    /// then every tree is checked to be well-formed (children inside their tree and after their parent, split features
    /// below `featureCount`, finite values), so scoring a decoded model can never read out of range or loop.
    public init(serialized bytes: [UInt8]) throws(ModelFormatError) {
        guard bytes.count >= 6 else { throw ModelFormatError(.truncated, "\(bytes.count) bytes is shorter than a VGB1 header") }
        guard Array(bytes[0..<4]) == Self.magic else {
            throw ModelFormatError(.wrongMagic, "not a gradient-boosted trees model (no VGB1 magic)")
        }
        let version = UInt16(bytes[4]) | UInt16(bytes[5]) << 8
        guard version == Self.formatVersion else {
            throw ModelFormatError(
                .unsupportedVersion, "gradient-boosted trees format version \(version); this build reads versions 1...\(Self.formatVersion)")
        }
        guard bytes.count >= 10 else { throw ModelFormatError(.truncated, "\(bytes.count) bytes leave no room for the checksum") }
        // The body ends where the checksum begins; reads past it are truncation.
        var r = ByteReader(bytes: bytes, offset: 6, end: bytes.count - 4)
        let featureCount = Int(try r.u32("featureCount"))
        let baseScore = try r.f64("baseScore")
        var c = Configuration()
        c.rounds = Int(try r.u32("rounds"))
        c.maxDepth = Int(try r.u32("maxDepth"))
        c.maxLeaves = Int(try r.u32("maxLeaves"))
        c.maxBins = Int(try r.u32("maxBins"))
        c.earlyStoppingRounds = Int(try r.u32("earlyStoppingRounds"))
        c.learningRate = try r.f64("learningRate")
        c.minChildWeight = try r.f64("minChildWeight")
        c.lambda = try r.f64("lambda")
        c.gamma = try r.f64("gamma")
        c.subsample = try r.f64("subsample")
        c.colsample = try r.f64("colsample")
        let seed = try r.u64("seed")
        let bestIteration = Int(try r.i32("bestIteration"))
        let trainingLoss = try r.doubles("trainingLoss")
        let validationLoss = try r.doubles("validationLoss")
        let treeCount = Int(try r.u32("treeCount"))
        let nodeCount = Int(try r.u32("nodeCount"))
        // Both counts are below 2³², so the product cannot overflow Int.
        guard treeCount * 4 + nodeCount * Self.serializedNodeSize <= r.remaining else {
            throw ModelFormatError(.truncated, "\(treeCount) trees and \(nodeCount) nodes announced, \(r.remaining) bytes remain")
        }
        var roots: [Int32] = []
        roots.reserveCapacity(treeCount)
        for _ in 0..<treeCount { roots.append(try r.i32("root")) }
        var nodes: [Node] = []
        var gains: [Double] = []
        var covers: [Double] = []
        var flags: [UInt8] = []
        nodes.reserveCapacity(nodeCount)
        gains.reserveCapacity(nodeCount)
        covers.reserveCapacity(nodeCount)
        flags.reserveCapacity(nodeCount)
        for _ in 0..<nodeCount {
            let feature = try r.i32("feature")
            let threshold = try r.f64("threshold")
            let left = try r.i32("left")
            let right = try r.i32("right")
            let value = try r.f64("value")
            gains.append(try r.f64("gain"))
            covers.append(try r.f64("cover"))
            let flag = try r.u8("flags")
            flags.append(flag)
            nodes.append(Node(threshold: threshold, value: value, feature: feature, left: left, right: right, defaultLeft: flag & 1 == 1))
        }
        guard r.remaining == 0 else { throw ModelFormatError(.invalidContent, "\(r.remaining) bytes after the last node") }
        var trailer = ByteReader(bytes: bytes, offset: bytes.count - 4, end: bytes.count)
        let stored = try trailer.u32("checksum")
        let computed = modelFileCRC32(bytes[0..<(bytes.count - 4)])
        guard stored == computed else {
            throw ModelFormatError(.checksumMismatch, "checksum \(hex(stored)) does not match the content's \(hex(computed))")
        }

        guard (1...Self.maxFeatureCount).contains(featureCount) else {
            throw ModelFormatError(.invalidContent, "feature count must be in 1...\(Self.maxFeatureCount), is \(featureCount)")
        }
        guard baseScore.isFinite else { throw ModelFormatError(.invalidContent, "base score is \(baseScore)") }
        if let i = flags.firstIndex(where: { $0 > 1 }) {
            throw ModelFormatError(.invalidContent, "node \(i) has unknown flags \(flags[i])")
        }
        nodes = try Self.validated(nodes: nodes, roots: roots, featureCount: featureCount)
        self.init(
            featureCount: featureCount, baseScore: baseScore, configuration: c, seed: seed, trainingLoss: trainingLoss,
            validationLoss: validationLoss, bestIteration: bestIteration, nodes: nodes, nodeGain: gains, nodeCover: covers,
            treeRoots: roots)
    }

    /// Trees are contiguous, in order, start at their root, and every child lies after its parent inside the same tree:
    /// then every walk ends at a leaf in at most tree-size steps, and the depth pass in `init` is well-defined.
    /// Returns the nodes with leaves turned into the in-memory self-looping form.
    private static func validated(nodes: [Node], roots: [Int32], featureCount: Int) throws(ModelFormatError) -> [Node] {
        var result = nodes
        var previousEnd = 0
        for t in roots.indices {
            let start = Int(roots[t])
            let end = t + 1 < roots.count ? Int(roots[t + 1]) : nodes.count
            guard start == previousEnd, start < end, end <= nodes.count else {
                throw ModelFormatError(.invalidContent, "tree \(t) spans nodes \(start)..<\(end) of \(nodes.count)")
            }
            previousEnd = end
            for i in start..<end {
                let node = nodes[i]
                guard node.value.isFinite else { throw ModelFormatError(.invalidContent, "node \(i): value \(node.value)") }
                if node.feature < 0 {
                    guard node.feature == -1 && node.left == -1 && node.right == -1 else {
                        throw ModelFormatError(.invalidContent, "node \(i): leaf with feature \(node.feature), children \(node.left), \(node.right)")
                    }
                    result[i].feature = 0
                    result[i].left = Int32(truncatingIfNeeded: i)
                    result[i].right = Int32(truncatingIfNeeded: i)
                } else {
                    guard Int(node.feature) < featureCount, !node.threshold.isNaN, node.left != node.right,
                        Int(node.left) > i, Int(node.left) < end, Int(node.right) > i, Int(node.right) < end
                    else {
                        throw ModelFormatError(
                            .invalidContent,
                            "node \(i) of tree \(t) (nodes \(start)..<\(end)): feature \(node.feature), children \(node.left), \(node.right)")
                    }
                }
            }
        }
        guard previousEnd == nodes.count else { throw ModelFormatError(.invalidContent, "nodes without trees") }
        return result
    }
}

/// Little-endian reads up to `end` that throw instead of trapping.
private struct ByteReader {
    let bytes: [UInt8]
    var offset: Int
    let end: Int

    var remaining: Int { end - offset }

    private mutating func take(_ size: Int, _ what: String) throws(ModelFormatError) -> Int {
        guard size <= remaining else {
            throw ModelFormatError(.truncated, "the bytes end inside \(what) at offset \(offset)")
        }
        defer { offset += size }
        return offset
    }

    private mutating func little(_ size: Int, _ what: String) throws(ModelFormatError) -> UInt64 {
        let start = try take(size, what)
        var v: UInt64 = 0
        for k in 0..<size { v |= UInt64(bytes[start + k]) << UInt64(8 * k) }
        return v
    }

    mutating func u8(_ what: String) throws(ModelFormatError) -> UInt8 { bytes[try take(1, what)] }

    mutating func u32(_ what: String) throws(ModelFormatError) -> UInt32 { UInt32(truncatingIfNeeded: try little(4, what)) }

    mutating func i32(_ what: String) throws(ModelFormatError) -> Int32 { Int32(bitPattern: try u32(what)) }

    mutating func u64(_ what: String) throws(ModelFormatError) -> UInt64 { try little(8, what) }

    mutating func f64(_ what: String) throws(ModelFormatError) -> Double { Double(bitPattern: try u64(what)) }

    /// A u32 count followed by that many f64, the count checked against the bytes that remain before allocating.
    mutating func doubles(_ what: String) throws(ModelFormatError) -> [Double] {
        let n = Int(try u32(what))
        guard n <= remaining / 8 else { throw ModelFormatError(.truncated, "\(what) announces \(n) values, \(remaining) bytes remain") }
        var result: [Double] = []
        result.reserveCapacity(n)
        for _ in 0..<n { result.append(try f64(what)) }
        return result
    }
}

private func hex(_ value: UInt32) -> String {
    let digits = String(value, radix: 16)
    return "0x" + String(repeating: "0", count: 8 - digits.count) + digits
}
