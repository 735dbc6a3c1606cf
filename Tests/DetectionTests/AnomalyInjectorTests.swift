import Foundation
import Testing
import VigilDetection

@Suite struct AnomalyInjectorTests {
    /// One quiet symbol's history (no anomalies of its own) and its Tier-1 scores.
    func history(bars count: Int = 400, seed: UInt64 = 3) -> (bars: [Bar], scores: [Double]) {
        var market = SyntheticMarket(seed: seed, symbols: 1, start: 1_600_000_000_000, intervalSeconds: 86_400, anomalyRate: 0)
        var detector = SeriesDetector(config: .default)
        var bars: [Bar] = []
        var scores: [Double] = []
        for _ in 0..<count {
            for bar in market.next() {
                bars.append(bar)
                scores.append(detector.update(bar).anomalyScore)
            }
        }
        return (bars, scores)
    }

    func inject(
        _ h: (bars: [Bar], scores: [Double]), count: Int, kinds: [AnomalyKind] = AnomalyKind.allCases, from: Int64 = .min,
        avoid: [ClosedRange<Int64>] = [], marketWide: Double = 0, seed: UInt64 = 1
    ) -> InjectedRows {
        var rows = InjectedRows()
        var rng = SeededGenerator(seed: seed)
        AnomalyInjector.inject(
            into: &rows, series: h.bars, tier1Scores: h.scores, count: count, from: from, kinds: kinds, detectorConfig: .default,
            crossSection: [:], avoid: avoid, marketWideShare: marketWide, rng: &rng)
        return rows
    }

    @Test func shapesStayInTheCatalogue() {
        var rng = SeededGenerator(seed: 11)
        for kind in AnomalyKind.allCases {
            for _ in 0..<200 {
                let shape = AnomalyShape.draw(kind, rng: &rng)
                switch kind {
                case .priceSpike: #expect(shape.duration == 2 && (6...10).contains(abs(shape.size)))
                case .gap: #expect(shape.duration == 1 && (5...9).contains(abs(shape.size)))
                case .levelShift: #expect((3...5).contains(shape.duration) && (6...9).contains(abs(shape.size)))
                case .volumeSurge: #expect((1...2).contains(shape.duration) && (5...12).contains(shape.volumeMultiplier))
                case .volatilityBurst: #expect((5...10).contains(shape.duration) && (3...5).contains(shape.size))
                case .flashCrash: #expect(shape.duration == shape.recoveryBars + 1 && (-14 ... -8).contains(shape.size))
                }
            }
        }
        // A level shift moves the price by its size in σ over its bars, and nothing after them.
        let shift = AnomalyShape(kind: .levelShift, duration: 4, size: 8, volumeMultiplier: 1.5)
        let total = (0..<4).map { shift.effect(step: $0, sigma: 0.01).extraDay }.reduce(0, +)
        #expect(abs(total - 0.08) < 1e-12)
    }

    @Test func injectedGapsAreLabelledAndMeasuredInSigmas() {
        let h = history()
        let rows = inject(h, count: 25, kinds: [.gap])
        #expect(rows.injected[.gap] == 25 && rows.marketWide == 0)
        let width = FeatureSet.count
        let gapZ = FeatureSet.names.firstIndex(of: "gap_z") ?? -1
        let positives = rows.labels.indices.filter { rows.labels[$0] }
        // A gap lasts one bar: one positive row per injection, and its gap is 5-9 σ (plus the day's own gap).
        #expect(positives.count == 25)
        for i in positives { #expect(abs(rows.values[i * width + gapZ]) > 3.5, "gap_z \(rows.values[i * width + gapZ])") }
        // The tails are negatives, from the third bar after the anomaly (cut short at the end of the history).
        let index = Dictionary(uniqueKeysWithValues: h.bars.enumerated().map { ($1.timestamp, $0) })
        let expectedTails = positives.map { i in max(0, min(h.bars.count - 1 - (index[rows.timestamps[i]] ?? 0), AnomalyInjector.tailBars) - 2) }
        #expect(rows.labels.filter { !$0 }.count == expectedTails.reduce(0, +))
        #expect(rows.values.count == rows.count * width && rows.timestamps.count == rows.count)
    }

    @Test func injectionsStayClearOfLabelledWindowsAndBeforeFrom() {
        let h = history()
        let blocked = h.bars[150].timestamp...h.bars[250].timestamp
        let from = h.bars[100].timestamp
        let rows = inject(h, count: 60, from: from, avoid: [blocked])
        #expect(rows.injected.values.reduce(0, +) > 0)
        for (i, t) in rows.timestamps.enumerated() where rows.labels[i] {
            #expect(!blocked.contains(t) && t >= from)
        }
        // Same seed, same rows; another seed, other rows.
        #expect(inject(h, count: 60, from: from, avoid: [blocked]).values == rows.values)
        #expect(inject(h, count: 60, from: from, avoid: [blocked], seed: 2).values != rows.values)
    }

    @Test func marketWideShocksAreNegativesThatKeepTheCleanBarsRelativeFeatures() {
        let h = history()
        let rows = inject(h, count: 30, kinds: [.flashCrash], marketWide: 0.9999)
        #expect(rows.marketWide == 30 && rows.injected.isEmpty)
        #expect(!rows.labels.contains(true))
        let width = FeatureSet.count
        let returnZ = FeatureSet.names.firstIndex(of: "return_1_z") ?? -1
        let relativeZ = FeatureSet.names.firstIndex(of: "relative_return_z") ?? -1
        // The crash bar: a large drop of the symbol, but no more than its clean bar relative to a market that fell alike.
        let crashes = (0..<rows.count).filter { rows.values[$0 * width + returnZ] < -6 }
        #expect(!crashes.isEmpty)
        for i in crashes { #expect(abs(rows.values[i * width + relativeZ]) < 6) }
    }
}
