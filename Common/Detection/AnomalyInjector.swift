/// The catalogue of anomaly shapes, shared by the synthetic market (which generates them) and the anomaly injector
/// (which writes them into real bar histories so Tier-2 can be trained where nobody labelled anything).
public struct AnomalyShape: Sendable, Equatable {
    public var kind: AnomalyKind
    /// Bars affected.
    public var duration: Int
    /// Signed size in units of the symbol's σ per bar at the start (the volatility multiple for a burst).
    public var size: Double
    public var volumeMultiplier: Double
    /// Flash crash: bars over which the drop is recovered.
    public var recoveryBars: Int = 0

    public init(kind: AnomalyKind, duration: Int, size: Double, volumeMultiplier: Double, recoveryBars: Int = 0) {
        self.kind = kind
        self.duration = duration
        self.size = size
        self.volumeMultiplier = volumeMultiplier
        self.recoveryBars = recoveryBars
    }

    /// What the anomaly does to one bar, on top of the ordinary market.
    public struct Effect: Sendable, Equatable {
        /// Multiplies the bar's idiosyncratic moves.
        public var volatilityScale = 1.0
        /// Added to the log opening gap and to the log open-to-close return.
        public var extraGap = 0.0
        public var extraDay = 0.0
        /// Added to log(low) (negative: a deeper intraday low).
        public var extraLow = 0.0
        public var volumeMultiplier = 1.0
        public init() {}
    }

    /// Draws a shape of `kind` (the synthetic market's draw order: its output depends on it).
    public static func draw(_ kind: AnomalyKind, rng: inout SeededGenerator) -> AnomalyShape {
        let sign: Double = rng.nextUnit() < 0.5 ? -1 : 1
        switch kind {
        case .priceSpike:
            return AnomalyShape(kind: kind, duration: 2, size: sign * rng.uniform(6, 10), volumeMultiplier: rng.uniform(2, 4))
        case .gap:
            return AnomalyShape(kind: kind, duration: 1, size: sign * rng.uniform(5, 9), volumeMultiplier: rng.uniform(2, 5))
        case .levelShift:
            let d = 3 + Int(rng.next() % 3)
            return AnomalyShape(kind: kind, duration: d, size: sign * rng.uniform(6, 9), volumeMultiplier: 1.5)
        case .volumeSurge:
            let d = 1 + Int(rng.next() % 2)
            return AnomalyShape(kind: kind, duration: d, size: 0, volumeMultiplier: rng.uniform(5, 12))
        case .volatilityBurst:
            let d = 5 + Int(rng.next() % 6)
            return AnomalyShape(kind: kind, duration: d, size: rng.uniform(3, 5), volumeMultiplier: 1.8)
        case .flashCrash:
            let k = 1 + Int(rng.next() % 3)
            return AnomalyShape(kind: kind, duration: 1 + k, size: -rng.uniform(8, 14), volumeMultiplier: rng.uniform(4, 8), recoveryBars: k)
        }
    }

    /// The effect on the anomaly's bar number `step` (0-based), for a symbol whose σ per bar is `sigma`.
    public func effect(step: Int, sigma unit: Double) -> Effect {
        var e = Effect()
        switch kind {
        case .priceSpike:
            if step == 0 {
                e.extraDay = size * unit
                e.volumeMultiplier = volumeMultiplier
            } else {
                e.extraGap = -size * unit * 0.5
                e.extraDay = -size * unit * 0.5
                e.volumeMultiplier = 0.5 * (1 + volumeMultiplier)
            }
        case .gap:
            e.extraGap = size * unit
            e.volumeMultiplier = volumeMultiplier
        case .levelShift:
            e.extraDay = size * unit / Double(duration)
            e.volumeMultiplier = volumeMultiplier
        case .volumeSurge:
            e.volumeMultiplier = volumeMultiplier
        case .volatilityBurst:
            e.volatilityScale = size
            e.volumeMultiplier = volumeMultiplier
        case .flashCrash:
            if step == 0 {
                e.extraDay = size * unit
                e.extraLow = size * unit * 0.4
                e.volumeMultiplier = volumeMultiplier
            } else {
                e.extraDay = -size * unit / Double(max(recoveryBars, 1))
                e.volumeMultiplier = 0.5 * (1 + volumeMultiplier)
            }
        }
        return e
    }
}

/// Feature rows made by injecting labelled anomalies into real bar histories: the "labelled injected anomalies" the
/// boosted trees learn from when analysts have labelled little or nothing.
///
/// Each injection copies one symbol's history, writes one anomaly shape into it at a random bar (sized by the σ the
/// features measure there), and replays the detector and feature state — copied as they were just before that bar —
/// over the changed bars and a tail after them. Rows of the anomaly's bars are positives; the tail's rows from the
/// third bar after it are negatives (an anomaly's aftermath is not itself an anomaly: the evaluation forgives the
/// first two bars after a label, so those are left out). Injections stay clear of `avoid` (labelled anomalies).
public struct InjectedRows: Sendable {
    public var values: [Double] = []
    public var labels: [Bool] = []
    public var timestamps: [Int64] = []
    /// Anomalies injected, per kind.
    public var injected: [AnomalyKind: Int] = [:]
    /// Shocks replayed as market-wide (negatives).
    public var marketWide = 0
    public var count: Int { labels.count }
    public init() {}
}

public enum AnomalyInjector {
    /// Bars replayed after an anomaly (negatives from its third bar on).
    public static let tailBars = 20
    /// Bars of history a symbol needs before an injection (the detectors' and features' warm-up).
    public static let warmUpBars = 60

    /// Injects up to `count` anomalies into `series` (one symbol, one interval, bars in time order).
    /// - Parameters:
    ///   - tier1Scores: the Tier-1 anomaly score the symbol's bars had (as stored), aligned with `series`; scores of
    ///     injected bars come from `detectorConfig`'s detectors replayed from the state before the injection.
    ///   - crossSection: market median return and breadth per bar time (the bars of other symbols are unchanged).
    ///   - from: injections start at bars at or after this time (the earlier bars are history only).
    ///   - avoid: time ranges (labelled anomalies) an injection must not touch.
    ///   - marketWideShare: the share of shocks replayed as market-wide moves (negatives).
    public static func inject(
        into rows: inout InjectedRows, series: [Bar], tier1Scores: [Double], count: Int, from: Int64 = .min,
        kinds: [AnomalyKind] = AnomalyKind.allCases,
        detectorConfig: DetectorConfig, crossSection: [Int64: MarketSummary], avoid: [ClosedRange<Int64>], marketWideShare: Double = 0,
        rng: inout SeededGenerator
    ) {
        let longest = 11
        let n = series.count
        let first = max(warmUpBars, series.firstIndex { $0.timestamp >= from } ?? n)
        guard count > 0, !kinds.isEmpty, n - longest > first else { return }
        // Positions: random and clear of labelled windows. Injections may overlap one another: each is replayed on its
        // own copy of the history, so they never see each other.
        var chosen: [Int] = []
        var attempts = 0
        while chosen.count < count && attempts < count * 20 {
            attempts += 1
            let p = first + Int(rng.next() % UInt64(n - longest - first))
            let span = series[max(0, p - tailBars)].timestamp...series[min(n - 1, p + longest + tailBars)].timestamp
            guard !avoid.contains(where: { $0.overlaps(span) }) else { continue }
            chosen.append(p)
        }
        chosen.sort()
        // One pass over the clean history, pausing at each chosen bar to inject from a copy of the state there.
        var detector = SeriesDetector(config: detectorConfig)
        var features = SymbolFeatureState()
        var row = [Double](repeating: 0, count: FeatureSet.count)
        var next = 0
        for (i, bar) in series.enumerated() {
            while next < chosen.count && chosen[next] == i {
                next += 1
                let shape = AnomalyShape.draw(kinds[Int(rng.next() % UInt64(kinds.count))], rng: &rng)
                let marketWide = rng.nextUnit() < marketWideShare
                replay(
                    shape: shape, at: i, series: series, tier1Scores: tier1Scores, detector: detector, features: features,
                    marketWide: marketWide, crossSection: crossSection, row: &row, into: &rows)
                if marketWide { rows.marketWide += 1 } else { rows.injected[shape.kind, default: 0] += 1 }
            }
            _ = detector.update(bar)
            features.update(bar, tier1Score: i < tier1Scores.count ? tier1Scores[i] : 0, into: &row)
        }
    }

    /// Replays `series` from `start` with `shape` written into it. `marketWide`: the same shock hit every symbol, so
    /// the rows are negatives whose market-relative features are those of the clean bar (everyone moved alike) — a
    /// market-wide move is one market-wide alert, not an anomaly of each symbol.
    private static func replay(
        shape: AnomalyShape, at start: Int, series: [Bar], tier1Scores: [Double], detector: SeriesDetector, features: SymbolFeatureState,
        marketWide: Bool, crossSection: [Int64: MarketSummary], row: inout [Double], into rows: inout InjectedRows
    ) {
        var detector = detector
        var clean = features
        var cleanRow = row
        var features = features
        // σ as the features measure it just before the anomaly (the previous bars' returns).
        let sigma = features.sigma > 0 ? features.sigma : 0.01
        var previousOriginal = series[start - 1].close
        var previousNew = previousOriginal
        let end = min(series.count, start + shape.duration + tailBars)
        for i in start..<end {
            let bar = series[i]
            let step = i - start
            let effect = step < shape.duration ? shape.effect(step: step, sigma: sigma) : AnomalyShape.Effect()
            // The bar's own moves (gap, open→close, excursions beyond them), re-applied from the changed previous close.
            let gap = logRatio(bar.open, previousOriginal) * effect.volatilityScale + effect.extraGap
            let day = logRatio(bar.close, bar.open) * effect.volatilityScale + effect.extraDay
            let up = logRatio(bar.high, max(bar.open, bar.close)) * effect.volatilityScale
            let down = logRatio(min(bar.open, bar.close), bar.low) * effect.volatilityScale
            let open = previousNew * vExp(gap)
            let close = open * vExp(day)
            var changed = bar
            changed.open = open
            changed.close = close
            changed.high = max(open, close) * vExp(max(up, 0))
            changed.low = min(open, close) * vExp(-max(down, 0) + effect.extraLow)
            changed.volume = (bar.volume * effect.volumeMultiplier).rounded()
            previousOriginal = bar.close
            previousNew = close
            let score = detector.update(changed)
            features.update(changed, tier1Score: score.anomalyScore, into: &row)
            let inside = step < shape.duration
            let market = crossSection[bar.timestamp] ?? MarketSummary()
            if marketWide {
                clean.update(bar, tier1Score: i < tier1Scores.count ? tier1Scores[i] : 0, into: &cleanRow)
                CrossSection.fill(&cleanRow, market: market)
                let shift = row[FeatureSet.return1Z] - cleanRow[FeatureSet.return1Z]
                for c in FeatureSet.crossSectionalStart..<FeatureSet.count { row[c] = cleanRow[c] }
                // Breadth follows a shock that moved everyone by more than a σ.
                let breadth = FeatureSet.crossSectionalStart + 1
                row[breadth] = shift > 1 ? max(row[breadth], 0.9) : shift < -1 ? min(row[breadth], 0.1) : row[breadth]
            } else {
                guard inside || step >= shape.duration + 2 else { continue }
                CrossSection.fill(&row, market: market)
            }
            rows.values += row
            rows.labels.append(inside && !marketWide)
            rows.timestamps.append(bar.timestamp)
        }
    }

    private static func logRatio(_ a: Double, _ b: Double) -> Double { a > 0 && b > 0 ? vLog(a / b) : 0 }
}
