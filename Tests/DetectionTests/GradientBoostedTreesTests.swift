import Testing

@testable import VigilDetection

@Suite("Gradient-boosted trees")
struct GradientBoostedTreesTests {
    // MARK: Data

    /// Rows, labels and the shape of a synthetic problem.
    struct Dataset {
        var features: [Double] = []
        var labels: [Double] = []
        var featureCount: Int
        var rowCount: Int { labels.count }

        func row(_ r: Int) -> [Double] { Array(features[(r * featureCount)..<((r + 1) * featureCount)]) }
    }

    /// XOR of the signs of two features: four clusters at (±1, ±1) with normal noise of std 0.35.
    static func xor(count: Int, seed: UInt64) -> Dataset {
        var rng = SeededGenerator(seed: seed)
        var data = Dataset(featureCount: 2)
        for _ in 0..<count {
            let a = rng.nextUnit() < 0.5
            let b = rng.nextUnit() < 0.5
            data.features += [(a ? 1 : -1) + 0.35 * rng.nextNormal(), (b ? 1 : -1) + 0.35 * rng.nextNormal()]
            data.labels.append(a != b ? 1 : 0)
        }
        return data
    }

    /// Four standard-normal features; the label is 1 exactly when feature 2 is positive.
    static func onlyFeatureTwo(count: Int, seed: UInt64) -> Dataset {
        var rng = SeededGenerator(seed: seed)
        var data = Dataset(featureCount: 4)
        for _ in 0..<count {
            let row = (0..<4).map { _ in rng.nextNormal() }
            data.features += row
            data.labels.append(row[2] > 0 ? 1 : 0)
        }
        return data
    }

    /// Five features, label drawn with probability σ(0.5·x₀): mostly noise, so deep trees overfit within a few rounds.
    static func noisy(count: Int, seed: UInt64) -> Dataset {
        var rng = SeededGenerator(seed: seed)
        var data = Dataset(featureCount: 5)
        for _ in 0..<count {
            let row = (0..<5).map { _ in rng.nextNormal() }
            data.features += row
            data.labels.append(rng.nextUnit() < 1 / (1 + vExp(-0.5 * row[0])) ? 1 : 0)
        }
        return data
    }

    static func fit(
        _ data: Dataset, validation: Dataset? = nil, _ configure: (inout GradientBoostedTrees.Configuration) -> Void = { _ in },
        seed: UInt64 = 1
    ) throws -> GradientBoostedTrees {
        var configuration = GradientBoostedTrees.Configuration.default
        configure(&configuration)
        return try GradientBoostedTrees.fit(
            features: data.features, featureCount: data.featureCount, labels: data.labels,
            validation: validation.map { ($0.features, $0.labels) }, configuration: configuration, seed: seed)
    }

    static func accuracy(_ model: GradientBoostedTrees, _ data: Dataset) -> Double {
        let p = model.predict(rows: data.features, featureCount: data.featureCount)
        let correct = zip(p, data.labels).filter { ($0 >= 0.5) == ($1 == 1) }.count
        return Double(correct) / Double(data.rowCount)
    }

    // MARK: Learning

    @Test("learns XOR, which a depth-1 (additive) model cannot")
    func learnsXor() throws {
        let train = Self.xor(count: 2_000, seed: 1)
        let test = Self.xor(count: 2_000, seed: 2)
        let deep = try Self.fit(train) { $0.rounds = 100 }
        let stumps = try Self.fit(train) {
            $0.rounds = 100
            $0.maxDepth = 1
        }
        #expect(Self.accuracy(deep, test) >= 0.95)
        #expect(Self.accuracy(stumps, test) < 0.7)
    }

    @Test("training loss decreases every round without subsampling")
    func trainingLossDecreases() throws {
        let model = try Self.fit(Self.xor(count: 1_000, seed: 3)) { $0.rounds = 60 }
        #expect(model.trainingLoss.count == 60)
        #expect(model.validationLoss.isEmpty)
        #expect(model.bestIteration == 59 && model.treeCount == 60)
        for i in 1..<model.trainingLoss.count {
            #expect(model.trainingLoss[i] < model.trainingLoss[i - 1], "round \(i)")
        }
    }

    @Test("early stopping stops before `rounds` and keeps the best iteration's trees")
    func earlyStopping() throws {
        let train = Self.noisy(count: 300, seed: 4)
        let validation = Self.noisy(count: 300, seed: 5)
        let model = try Self.fit(train, validation: validation) {
            $0.rounds = 500
            $0.earlyStoppingRounds = 10
            $0.learningRate = 0.3
        }
        let ran = model.trainingLoss.count
        #expect(ran < 500)
        #expect(model.validationLoss.count == ran)
        #expect(model.bestIteration == ran - 1 - 10)
        #expect(model.treeCount == model.bestIteration + 1)
        let best = model.validationLoss[model.bestIteration]
        #expect(model.validationLoss.allSatisfy { $0 >= best })
        // The kept trees reproduce the best round's validation loss.
        let margins = (0..<validation.rowCount).map { model.predictMargin(validation.row($0)) }
        let loss = GradientBoostedTrees.meanLogLoss(labels: validation.labels, margins: margins)
        #expect(abs(loss - best) < 1e-12)
    }

    @Test("best-first growth keeps each tree within maxLeaves; depth-wise within maxDepth")
    func growthLimits() throws {
        let data = Self.xor(count: 1_000, seed: 6)
        let leafWise = try Self.fit(data) {
            $0.rounds = 100
            $0.maxLeaves = 4
            $0.maxDepth = 0
        }
        let depthWise = try Self.fit(data) {
            $0.rounds = 100
            $0.maxDepth = 2
        }
        for (model, check) in [(leafWise, { (leaves: Int, depth: Int) in leaves <= 4 }), (depthWise, { $1 <= 2 })] {
            for t in 0..<model.treeCount {
                let shape = Self.shape(model, tree: t)
                #expect(check(shape.leaves, shape.depth), "tree \(t): \(shape)")
            }
        }
        #expect((0..<leafWise.treeCount).map { Self.shape(leafWise, tree: $0).leaves }.max() == 4)
        #expect(Self.accuracy(leafWise, data) > 0.9)
        #expect(Self.accuracy(depthWise, data) > 0.9)
    }

    /// Leaves and depth of one tree.
    static func shape(_ model: GradientBoostedTrees, tree: Int) -> (leaves: Int, depth: Int) {
        var leaves = 0
        var depth = 0
        var stack = [(Int(model.treeRoots[tree]), 0)]
        while let (i, d) = stack.popLast() {
            let node = model.nodes[i]
            if node.isLeaf {
                leaves += 1
                depth = max(depth, d)
            } else {
                stack += [(Int(node.left), d + 1), (Int(node.right), d + 1)]
            }
        }
        return (leaves, depth)
    }

    // MARK: XGBoost formulas

    @Test("one split on a hand-computed example: gain ½[G_L²/(H_L+λ) + G_R²/(H_R+λ) − G²/(H+λ)] − γ, w = −G/(H+λ)")
    func handComputedSplit() throws {
        // Mean label ½ → base score 0, p = ½: g = ½ − y, h = ¼. Left (x = 0): y = 0,0,0,1 → G_L = 1, H_L = 1;
        // right (x = 1): y = 1,1,1,0 → G_R = −1, H_R = 1; G = 0, H = 2. With λ = 1:
        // gain = ½(1/2 + 1/2 − 0) = ½; w_L = −1/2, w_R = +1/2; leaves η·w = ∓0.05.
        let data = Dataset(features: [0, 0, 0, 0, 1, 1, 1, 1], labels: [0, 0, 0, 1, 1, 1, 1, 0], featureCount: 1)
        let model = try Self.fit(data) {
            $0.rounds = 1
            $0.maxDepth = 1
        }
        #expect(model.baseScore == 0)
        #expect(model.nodeCount == 3)
        let root = model.nodes[0]
        #expect(root.feature == 0 && root.threshold == 0.5)
        #expect(abs(model.nodeGain[0] - 0.5) < 1e-15)
        #expect(abs(model.nodes[Int(root.left)].value - -0.05) < 1e-15)
        #expect(abs(model.nodes[Int(root.right)].value - 0.05) < 1e-15)
        #expect(model.nodeCover == [2, 1, 1])
        // The root's expected value is the cover-weighted mean of its leaves.
        #expect(abs(root.value) < 1e-15)
        #expect(abs(model.predictMargin([0]) - -0.05) < 1e-15)

        // γ is subtracted from the gain, and a split whose gain does not exceed it is not made.
        let withGamma = try Self.fit(data) {
            $0.rounds = 1
            $0.maxDepth = 1
            $0.gamma = 0.2
        }
        #expect(abs(withGamma.nodeGain[0] - 0.3) < 1e-15)
        let pruned = try Self.fit(data) {
            $0.rounds = 1
            $0.maxDepth = 1
            $0.gamma = 0.6
        }
        #expect(pruned.nodeCount == 1 && pruned.nodes[0].value == 0)

        #expect(GradientBoostedTrees.splitGain(gl: 1, hl: 1, gr: -1, hr: 1, lambda: 1, gamma: 0) == 0.5)
        #expect(
            abs(GradientBoostedTrees.splitGain(gl: 3, hl: 2, gr: 1, hr: 4, lambda: 2, gamma: 0.1) - (0.5 * (9.0 / 4 + 1.0 / 6 - 16.0 / 8) - 0.1))
                < 1e-15)
        #expect(GradientBoostedTrees.leafWeight(g: 3, h: 2, lambda: 1) == -1)
    }

    // MARK: Missing values

    @Test("NaN follows each split's default direction, learned when training had missing values")
    func nanFollowsDefaultDirection() throws {
        // Feature 0 is missing exactly for the positives, feature 1 is noise: the model must send NaN to the positive side.
        var rng = SeededGenerator(seed: 7)
        var data = Dataset(featureCount: 2)
        for _ in 0..<600 {
            let positive = rng.nextUnit() < 0.3
            data.features += [positive ? .nan : rng.nextNormal(), rng.nextNormal()]
            data.labels.append(positive ? 1 : 0)
        }
        let model = try Self.fit(data) { $0.rounds = 30 }
        // The first split is "value present" (every value left, threshold +∞) against "missing" (right).
        #expect(model.nodes[0].feature == 0 && model.nodes[0].threshold == .infinity && !model.nodes[0].defaultLeft)
        #expect(model.predictProbability([.nan, 0]) > 0.9)
        #expect(model.predictProbability([0.5, 0]) < 0.1)

        // Without missing values in training, NaN still lands in a leaf: the one the default directions lead to.
        let plain = try Self.fit(Self.xor(count: 500, seed: 8)) { $0.rounds = 10 }
        for row in [[Double.nan, 0.7], [-0.7, .nan], [.nan, .nan]] {
            var margin = plain.baseScore
            for root in plain.treeRoots {
                var i = Int(root)
                while !plain.nodes[i].isLeaf {
                    let node = plain.nodes[i]
                    let x = row[Int(node.feature)]
                    let left = x.isNaN ? node.defaultLeft : x <= node.threshold
                    i = Int(left ? node.left : node.right)
                }
                margin += plain.nodes[i].value
            }
            #expect(plain.predictMargin(row) == margin)
        }
    }

    /// The margin by a plain walk of `nodes`, one row at a time: the reference for the blocked scoring paths.
    static func referenceMargin(_ model: GradientBoostedTrees, _ row: [Double]) -> Double {
        var margin = model.baseScore
        for root in model.treeRoots {
            var i = Int(root)
            while !model.nodes[i].isLeaf {
                let node = model.nodes[i]
                let x = row[Int(node.feature)]
                let left = x.isNaN ? node.defaultLeft : x <= node.threshold
                i = Int(left ? node.left : node.right)
            }
            margin += model.nodes[i].value
        }
        return margin
    }

    @Test("blocks with and without NaN score exactly as a plain walk, also on values equal to a threshold")
    func blockPathsAgree() throws {
        var rng = SeededGenerator(seed: 21)
        var data = Dataset(featureCount: 3)
        for _ in 0..<1_500 {
            let row = [rng.nextNormal(), rng.nextUnit() < 0.1 ? .nan : rng.nextNormal(), rng.nextNormal()]
            data.features += row
            data.labels.append(row[0] + (row[1].isNaN ? 1 : row[1]) > 0.3 ? 1 : 0)
        }
        let model = try Self.fit(data) { $0.rounds = 25 }
        // Probe rows: random values, every threshold exactly (x ≤ t must go left), ±∞; NaN only in some blocks.
        var probe: [[Double]] = []
        for r in 0..<600 { probe.append(data.row(r).map { $0.isNaN ? 0.25 : $0 }) }
        for node in model.nodes where !node.isLeaf && node.threshold.isFinite {
            var row = [0.1, -0.2, 0.3]
            row[Int(node.feature)] = node.threshold
            probe.append(row)
            row[Int(node.feature)] = node.threshold.nextUp
            probe.append(row)
        }
        probe.append([.infinity, -.infinity, .infinity])
        probe.append([-.infinity, .infinity, -.infinity])
        // The second block of `blockSize` rows gets NaN, the others none.
        let size = GradientBoostedTrees.blockSize
        probe[size + 3][1] = .nan
        probe[size + 5][0] = .nan
        let flat = probe.flatMap { $0 }
        let decoded = try GradientBoostedTrees(serialized: model.serialized())
        for m in [model, decoded] {
            let batch = m.predict(rows: flat, featureCount: 3)
            for (r, row) in probe.enumerated() {
                let expected = Self.referenceMargin(m, row)
                #expect(m.predictMargin(row) == expected, "row \(r)")
                #expect(batch[r] == 1 / (1 + vExp(-expected)), "row \(r)")
            }
        }
    }

    @Test("the scoring layout does not rely on siblings being adjacent in the file")
    func siblingsAnywhere() throws {
        // One tree: root (x₀ ≤ 0.5) with its right child stored first and a deeper split under the left child.
        // File order: 0 root, 1 right leaf, 2 left split (x₁ ≤ −1, NaN right), 3 leaf, 4 leaf.
        var model = try Self.fit(Self.xor(count: 200, seed: 3)) {
            $0.rounds = 1; $0.maxDepth = 1
        }
        let nodes: [GradientBoostedTrees.Node] = [
            .init(threshold: 0.5, value: 0, feature: 0, left: 2, right: 1, defaultLeft: true),
            .leaf(0.75, at: 1),
            .init(threshold: -1, value: 0, feature: 1, left: 4, right: 3, defaultLeft: false),
            .leaf(-0.25, at: 3),
            .leaf(0.125, at: 4),
        ]
        model = GradientBoostedTrees(
            featureCount: 2, baseScore: 0, configuration: model.configuration, seed: 0, trainingLoss: [], validationLoss: [],
            bestIteration: 0, nodes: nodes, nodeGain: [0, 0, 0, 0, 0], nodeCover: [1, 1, 1, 1, 1], treeRoots: [0])
        let decoded = try GradientBoostedTrees(serialized: model.serialized())
        for m in [model, decoded] {
            #expect(m.predictMargin([1, 0]) == 0.75)
            #expect(m.predictMargin([0.5, -1]) == 0.125)
            #expect(m.predictMargin([0, -0.5]) == -0.25)
            #expect(m.predictMargin([.nan, .nan]) == -0.25)
            let batch = m.predict(rows: [1, 0, 0.5, -1, 0, -0.5, .nan, .nan, 2, 7], featureCount: 2)
            #expect(batch == [0.75, 0.125, -0.25, -0.25, 0.75].map { 1 / (1 + vExp(-$0)) })
        }
    }

    // MARK: Explanations

    @Test("contributions sum to the margin and credit the only informative feature most")
    func contributions() throws {
        let data = Self.onlyFeatureTwo(count: 2_000, seed: 9)
        let model = try Self.fit(data) { $0.rounds = 50 }
        let probe = Self.onlyFeatureTwo(count: 100, seed: 10)
        for r in 0..<probe.rowCount {
            let row = probe.row(r)
            let c = model.contributions(row)
            #expect(c.count == 5)
            #expect(abs(c.reduce(0, +) - model.predictMargin(row)) < 1e-9)
            let strongest = (0..<4).max { abs(c[$0]) < abs(c[$1]) }
            #expect(strongest == 2, "row \(r): \(c)")
        }
        let importance = model.featureImportance()
        #expect(importance.firstIndex(of: importance.max() ?? 0) == 2)
    }

    // MARK: Scoring

    @Test("batch prediction equals row-by-row prediction; wrong row length scores NaN")
    func batchAndWrongLength() throws {
        let data = Self.xor(count: 300, seed: 11)
        let model = try Self.fit(data) { $0.rounds = 20 }
        let batch = model.predict(rows: data.features, featureCount: 2)
        #expect(batch.count == 300)
        for r in 0..<data.rowCount { #expect(batch[r] == model.predictProbability(data.row(r))) }
        #expect(model.score([0.3, -0.2]) == model.predictProbability([0.3, -0.2]))

        let asModel: any AnomalyModel = model
        #expect(asModel.featureCount == 2)
        #expect(asModel.score([1]).isNaN)
        #expect(model.predictMargin([1, 2, 3]).isNaN)
        #expect(model.contributions([]).allSatisfy { $0.isNaN })
        #expect(model.predict(rows: [1, 2, 3], featureCount: 3).allSatisfy { $0.isNaN })
        #expect(model.predict(rows: [], featureCount: 2).isEmpty)
    }

    // MARK: Reproducibility and serialization

    @Test("the same seed gives identical bytes, with row and column sampling on")
    func sameSeedSameBytes() throws {
        let data = Self.onlyFeatureTwo(count: 500, seed: 12)
        let sampled: (inout GradientBoostedTrees.Configuration) -> Void = {
            $0.rounds = 20
            $0.subsample = 0.7
            $0.colsample = 0.5
        }
        let a = try Self.fit(data, sampled, seed: 42)
        let b = try Self.fit(data, sampled, seed: 42)
        let c = try Self.fit(data, sampled, seed: 43)
        #expect(a.serialized() == b.serialized())
        #expect(a.serialized() != c.serialized())
        // Rows left out of a round are walked through the binned matrix during training; the loss that walk recorded
        // must be the one the raw-threshold scoring gives.
        let margins = (0..<data.rowCount).map { a.predictMargin(data.row($0)) }
        #expect(abs(GradientBoostedTrees.meanLogLoss(labels: data.labels, margins: margins) - (a.trainingLoss.last ?? 0)) < 1e-12)
    }

    @Test("serialize → decode gives the same model and the same predictions")
    func roundTrip() throws {
        let train = Self.noisy(count: 400, seed: 13)
        let model = try Self.fit(train, validation: Self.noisy(count: 200, seed: 14)) { $0.rounds = 40 }
        let bytes = model.serialized()
        let decoded = try GradientBoostedTrees(serialized: bytes)
        #expect(decoded == model)
        #expect(decoded.serialized() == bytes)
        #expect(decoded.predict(rows: train.features, featureCount: 5) == model.predict(rows: train.features, featureCount: 5))
        #expect(decoded.contributions(train.row(0)) == model.contributions(train.row(0)))
    }

    @Test("truncated, garbled, foreign and future-version bytes throw")
    func rejectsBadBytes() throws {
        let model = try Self.fit(Self.xor(count: 200, seed: 15)) { $0.rounds = 5 }
        let bytes = model.serialized()

        for length in 0..<bytes.count {
            #expect(throws: ModelFormatError.self) { try GradientBoostedTrees(serialized: Array(bytes[0..<length])) }
        }
        var foreign = bytes
        foreign[0] = UInt8(ascii: "X")
        #expect(Self.code(foreign) == .wrongMagic)
        var future = bytes
        future[4] = 2
        #expect(Self.code(future) == .unsupportedVersion)
        #expect(Self.code(bytes + [0]) != nil)
        // A bit flipped inside the nodes still parses; the checksum catches it.
        var flipped = bytes
        flipped[bytes.count / 2] ^= 0x10
        #expect(Self.code(flipped) == .checksumMismatch)

        // A hostile node count with a valid checksum: refused from the byte count, before any allocation.
        let nodeCountOffset = 6 + 4 + 8 + 20 + 48 + 8 + 4 + 4 + 8 * model.trainingLoss.count + 4 + 4
        var huge = bytes
        huge.replaceSubrange(nodeCountOffset..<(nodeCountOffset + 4), with: [0xFF, 0xFF, 0xFF, 0xFF])
        #expect(Self.code(Self.resealed(huge)) == .truncated)

        // Well-formed bytes describing an impossible tree: a child pointing back at its parent (would loop).
        var cyclic = bytes
        let firstNode = nodeCountOffset + 4 + 4 * model.treeCount
        #expect(cyclic[firstNode..<(firstNode + 4)] != [0xFF, 0xFF, 0xFF, 0xFF][...], "the first root is a split")
        cyclic.replaceSubrange((firstNode + 12)..<(firstNode + 16), with: [0, 0, 0, 0])
        #expect(Self.code(Self.resealed(cyclic)) == .invalidContent)

        // Random single-byte corruptions never crash; whatever still decodes still scores.
        var rng = SeededGenerator(seed: 16)
        for _ in 0..<500 {
            var garbled = bytes
            let at = Int(rng.next() % UInt64(bytes.count))
            garbled[at] = UInt8(truncatingIfNeeded: rng.next())
            if let decoded = try? GradientBoostedTrees(serialized: Self.resealed(garbled)) {
                _ = decoded.predictProbability([0.1, -0.1])
                _ = decoded.contributions([Double.nan, 3])
            }
        }
    }

    static func code(_ bytes: [UInt8]) -> ModelFormatError.Code? {
        do {
            _ = try GradientBoostedTrees(serialized: bytes)
            return nil
        } catch {
            return error.code
        }
    }

    /// The bytes with their CRC-32 trailer recomputed, to reach the checks behind the checksum.
    static func resealed(_ bytes: [UInt8]) -> [UInt8] {
        let body = bytes.dropLast(4)
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in body {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = crc & 1 != 0 ? 0xEDB8_8320 ^ (crc >> 1) : crc >> 1 }
        }
        crc ^= 0xFFFF_FFFF
        return Array(body) + (0..<4).map { UInt8(truncatingIfNeeded: crc >> (8 * $0)) }
    }

    /// A v1 model written when the format was introduced: two trees of depth ≤ 2 on 8 rows with missing values,
    /// base score log(5/3), the second tree's split on feature 1 sending NaN right. Future builds must keep reading it.
    static let goldenV1: [UInt8] = [
        0x56, 0x47, 0x42, 0x31, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, 0x52, 0x14, 0x81, 0xFA, 0xAE, 0x58, 0xE0, 0x3F, 0x02, 0x00,
        0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xFF, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0xE0, 0x3F, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0xF0, 0x3F, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xF0, 0x3F, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0xF0, 0x3F, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x02, 0x00,
        0x00, 0x00, 0xA7, 0xF8, 0xCF, 0x7C, 0x7D, 0x15, 0xE1, 0x3F, 0x40, 0x82, 0x2E, 0x89, 0xFF, 0xC5, 0xDC, 0x3F, 0x00, 0x00,
        0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xE0, 0x3F, 0x01, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x95, 0x52, 0x4A, 0x29, 0xA5, 0x94, 0xF2, 0x3F, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0xFE, 0x3F, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
        0xFF, 0xFF, 0xFF, 0xC6, 0x18, 0x63, 0x8C, 0x31, 0xC6, 0xD8, 0xBF, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0xEE, 0x3F, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xC6, 0x18, 0x63, 0x8C, 0x31, 0xC6, 0xD8, 0x3F, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xEE, 0x3F, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0xE0, 0x3F, 0x04, 0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00, 0xFE, 0xCC, 0xF2, 0x28, 0x4C, 0xFB, 0xA4,
        0x3F, 0x9B, 0xE3, 0x80, 0xF6, 0x95, 0xE1, 0xE5, 0x3F, 0x0B, 0xEF, 0x1C, 0xF1, 0x3A, 0x1A, 0xFD, 0x3F, 0x01, 0x01, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xF8, 0x3F, 0x06, 0x00, 0x00, 0x00, 0x07, 0x00, 0x00, 0x00, 0x7B, 0xD1,
        0x5D, 0xE9, 0x03, 0x00, 0xC8, 0xBF, 0xE8, 0x6C, 0xDA, 0x1D, 0x49, 0x68, 0xAF, 0x3F, 0x5F, 0x89, 0x0F, 0x33, 0xBA, 0xE0,
        0xEF, 0x3F, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
        0xFF, 0xFF, 0xFF, 0x1D, 0xE3, 0xB8, 0xA5, 0x16, 0x54, 0xD4, 0x3F, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xB7,
        0x54, 0x2A, 0xAF, 0xBB, 0x53, 0xEA, 0x3F, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x06, 0x36, 0x3B, 0xF5, 0xC9, 0x1D, 0x95, 0xBF, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x5F, 0x89, 0x0F, 0x33, 0xBA, 0xE0, 0xDF, 0x3F, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x1B, 0x1E, 0x0A, 0x4A, 0x27, 0xAE, 0xD6,
        0xBF, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x5F, 0x89, 0x0F, 0x33, 0xBA, 0xE0, 0xDF, 0x3F, 0x00, 0x1C, 0xA5,
        0xBC, 0x96,
    ]

    @Test("golden v1 bytes keep decoding to the same model and predictions")
    func goldenV1() throws {
        let model = try GradientBoostedTrees(serialized: Self.goldenV1)
        #expect(model.featureCount == 2)
        #expect(model.treeCount == 2 && model.nodeCount == 8)
        #expect(abs(model.baseScore - vLog(5.0 / 3)) < 1e-12)
        #expect(model.configuration.rounds == 2 && model.configuration.maxDepth == 2 && model.configuration.learningRate == 0.5)
        #expect(model.predictMargin([0, .nan]) == -0.230_650_634_894_320_75)
        #expect(model.predictMargin([.nan, .nan]) == -0.230_650_634_894_320_75)
        #expect(model.predictMargin([0, 1]) == 0.103_107_401_443_999_3)
        #expect(model.predictMargin([0, -.infinity]) == 0.103_107_401_443_999_3)
        #expect(model.predictMargin([1, .nan]) == 1.215_554_750_634_119_8)
        #expect(abs(model.predictProbability([1, 3]) - 0.771_280_322_170_837_4) < 1e-12)
        // While the writer still writes v1, it writes these very bytes.
        #expect(model.serialized() == Self.goldenV1)
    }

    // MARK: Validation

    @Test("fit refuses bad shapes, labels and configurations")
    func fitValidation() {
        func code(
            _ features: [Double], _ featureCount: Int, _ labels: [Double], validation: ([Double], [Double])? = nil,
            configuration: GradientBoostedTrees.Configuration = .default
        ) -> GradientBoostedTrees.FitError.Code? {
            do {
                _ = try GradientBoostedTrees.fit(
                    features: features, featureCount: featureCount, labels: labels, validation: validation, configuration: configuration)
                return nil
            } catch {
                return error.code
            }
        }
        #expect(code([1, 2, 3], 2, [0, 1]) == .invalidShape)
        #expect(code([], 2, []) == .invalidShape)
        #expect(code([1], 0, [0]) == .invalidShape)
        #expect(code([1, 2], 1, [0, 2]) == .invalidLabel)
        #expect(code([1, 2], 1, [0, .nan]) == .invalidLabel)
        #expect(code([1, 2], 1, [0, 1], validation: ([1], [0, 1])) == .invalidShape)
        var bad = GradientBoostedTrees.Configuration()
        bad.maxDepth = 0
        bad.learningRate = 0
        bad.maxBins = 256
        #expect(bad.validate().count == 3)
        #expect(code([1, 2], 1, [0, 1], configuration: bad) == .invalidConfiguration)
        #expect(GradientBoostedTrees.Configuration.default.validate().isEmpty)
    }

    // MARK: Binning

    @Test("binning: midpoints between few distinct values, ≤ 255 equal-count bins otherwise, a spike gets its own bin")
    func binning() {
        let few = FeatureBins(sortedValues: [1, 1, 2, 4, 4, 4], maxBins: 255)
        #expect(few.edges == [1.5, 3])
        #expect(few.bin(1) == 0 && few.bin(1.5) == 0 && few.bin(2) == 1 && few.bin(100) == 2 && few.bin(.nan) == FeatureBins.missingBin)
        #expect(few.bin(-.infinity) == 0 && few.bin(.infinity) == 2)

        let many = (0..<10_000).map { Double($0) }
        let binned = FeatureBins(sortedValues: many, maxBins: 255)
        #expect(binned.binCount == 255)
        #expect(zip(binned.edges, binned.edges.dropFirst()).allSatisfy { $0 < $1 })
        var counts = [Int](repeating: 0, count: 255)
        for v in many { counts[Int(binned.bin(v))] += 1 }
        #expect(counts.max() ?? 0 <= 2 * 10_000 / 255)

        // Half the values are 0: 0 gets a bin alone and the rest still spreads over the remaining bins.
        let spiky = [Double](repeating: 0, count: 5_000) + (1...5_000).map { Double($0) }
        let spikyBins = FeatureBins(sortedValues: spiky, maxBins: 255)
        #expect(spikyBins.bin(0) == 0 && spikyBins.bin(1) == 1)
        #expect(spikyBins.binCount > 200)
    }
}
