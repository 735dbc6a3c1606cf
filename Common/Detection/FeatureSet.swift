/// The Tier-2 feature set. Models record the version they were trained on and refuse rows of another.
///
/// Version 2 (current). Per symbol, from its own recent bars, strictly causal (a bar's features use that bar and
/// earlier ones only); σ is the standard deviation of the symbol's previous ≤ 20 one-bar log returns, *excluding* this
/// bar, so an outlier does not hide itself by inflating its own yardstick:
/// - `return_1`, `return_5`, `return_20`: log return of the close over 1, 5 and 20 bars;
/// - `volume_ratio`: volume over the mean volume of the previous 20 bars (1 while there is no history);
/// - `range`: (high − low) / close;
/// - `gap`: log(open / previous close);
/// - `realized_vol`: standard deviation of the last 20 one-bar log returns, this bar's included;
/// - `tier1_score`: the Tier-1 combined anomaly score of the bar (0...1);
/// - `return_1_z`, `return_5_z`, `gap_z`: `return_1` / σ, `return_5` / (σ √5), `gap` / σ — moves in units of the
///   symbol's own volatility, so one split serves a quiet and a volatile symbol alike;
/// - `volume_z`: log volume minus the mean log volume of the previous 20 bars, over their standard deviation;
/// - `range_ratio`: `range` over the mean range of the previous 20 bars;
/// - `vol_ratio`: standard deviation of the last 5 one-bar returns (this bar's included) over σ — a volatility burst;
/// - `return_3_z`: 3-bar log return / (σ √3);
/// - `sign_run`: how many one-bar returns in a row, ending with this bar's, share its sign (±1…±5) — a drift;
/// - `volume_ratio_3`: mean volume of the last 3 bars over the mean of the 20 before them (1 without history);
/// - `drift_3_z`, `drift_5_z`: the 3- and 5-bar log return over σ√3, σ√5 with σ measured on the returns *before*
///   those bars — a ramp spread over several bars would otherwise inflate its own yardstick;
/// - `burst_ratio`: mean absolute one-bar return of the last 5 bars (this one's included) over that of the returns
///   before them — a volatility burst measured against the calm before it, and (absolute values, not squares) not
///   dominated by one fat-tailed bar.
/// Cross-sectional (only the collector, which sees the whole market, can compute them):
/// - `relative_return`: `return_1` minus the median `return_1` of the symbols with a bar at the same time;
/// - `market_breadth`: share of those symbols whose `return_1` is positive;
/// - `relative_return_z`: `relative_return` / σ;
/// - `relative_gap_z`, `relative_volume_z`, `relative_return_3_z`, `relative_return_5_z`, `relative_vol_ratio`,
///   `relative_range_ratio`: the symbol's feature minus the median of that feature across the symbols with a bar at the
///   same time — what is left of a move, a volume or a volatility when the whole market shares it.
/// z-scores are 0 until a symbol has 5 previous returns.
///
/// Version 3 adds `drift_3_z`, `drift_5_z`, `burst_ratio` and the six market-relative features: without them a market-wide crash day, on which every symbol moves
/// 4-5σ on heavy volume, looked like an anomaly on every symbol (it is one market-wide alert, raised elsewhere); they
/// took most of the boosted trees' false positives on the synthetic market away.
/// Version 1 was the first 8 per-symbol features followed by `relative_return` and `market_breadth`; version 2 adds
/// the volatility-normalised ones, which lifted the boosted trees' held-out F1 on the synthetic market from ~0.7 to
/// above 0.9 (level shifts and volatility bursts are invisible in raw returns of a volatile symbol).
public enum FeatureSet {
    public static let version = 3
    public static let names = [
        "return_1", "return_5", "return_20", "volume_ratio", "range", "gap", "realized_vol", "tier1_score", "return_1_z", "return_5_z",
        "gap_z", "volume_z", "range_ratio", "vol_ratio", "return_3_z", "sign_run", "volume_ratio_3", "drift_3_z", "drift_5_z", "burst_ratio",
        "relative_return",
        "market_breadth", "relative_return_z", "relative_gap_z", "relative_volume_z", "relative_return_3_z", "relative_return_5_z",
        "relative_vol_ratio", "relative_range_ratio",
    ]
    public static var count: Int { names.count }
    /// Index of the first cross-sectional feature; the ones before it come from `SymbolFeatureState`.
    public static let crossSectionalStart = 20
    /// Index of `return_1_z`'s σ-normalised return that `CrossSection` divides by (σ travels in the row as
    /// `return_1 / return_1_z`, so it is recovered rather than stored twice).
    public static let return1 = 0
    public static let return1Z = 8
    /// The per-symbol features whose cross-sectional median is subtracted (`relative_gap_z` ... `relative_range_ratio`).
    public static let relativeColumns = [10, 11, 14, 9, 13, 12]
}

/// One symbol's recent closes, log volumes and ranges: what its per-symbol features need (fixed size, no allocation
/// per bar).
public struct SymbolFeatureState: Sendable {
    private static let depth = 21
    private var closes = InlineArray<21, Double>(repeating: 0)
    private var logVolumes = InlineArray<21, Double>(repeating: 0)
    private var volumes = InlineArray<21, Double>(repeating: 0)
    private var ranges = InlineArray<21, Double>(repeating: 0)
    /// Each bar's one-bar log return as computed when it arrived, so the windows below read them instead of taking
    /// twenty logarithms per bar again (the oldest entry, a first bar's, is never among the `count - 1` read).
    private var returns = InlineArray<21, Double>(repeating: 0)
    private var head = 0
    public private(set) var count = 0
    /// σ of this symbol's previous returns as of the last update (what `relative_return_z` divides by).
    public private(set) var sigma = 0.0

    public init() {}

    /// Ring index of the bar `k` bars before the newest stored one (the rings are indexed in place: passing an
    /// `InlineArray` to a helper would copy all of it on every read).
    private func slot(_ k: Int) -> Int { (head - 1 - k + 2 * Self.depth) % Self.depth }

    /// The per-symbol features of `bar` (the first `FeatureSet.crossSectionalStart` entries of a row, written into
    /// `row`), then remembers the bar.
    public mutating func update(_ bar: Bar, tier1Score: Double, into row: inout [Double]) {
        func logRatio(_ a: Double, _ b: Double) -> Double { a > 0 && b > 0 ? vLog(a / b) : 0 }
        let previousClose = count > 0 ? closes[slot(0)] : bar.open
        let r1 = logRatio(bar.close, previousClose)
        row[0] = r1
        row[1] = logRatio(bar.close, count >= 5 ? closes[slot(4)] : (count > 0 ? closes[slot(count - 1)] : bar.open))
        row[2] = logRatio(bar.close, count >= 20 ? closes[slot(19)] : (count > 0 ? closes[slot(count - 1)] : bar.open))
        let n = min(count, 20)
        var volumeSum = 0.0
        var logVolumeSum = 0.0
        var logVolumeSquares = 0.0
        var rangeSum = 0.0
        for k in 0..<n {
            volumeSum += volumes[slot(k)]
            let lv = logVolumes[slot(k)]
            logVolumeSum += lv
            logVolumeSquares += lv * lv
            rangeSum += ranges[slot(k)]
        }
        row[3] = n > 0 && volumeSum > 0 ? bar.volume / (volumeSum / Double(n)) : 1
        let range = bar.close > 0 ? (bar.high - bar.low) / bar.close : 0
        row[4] = range
        let gap = logRatio(bar.open, previousClose)
        row[5] = gap
        // The previous ≤ 20 one-bar returns (needs count ≥ 2), then σ without and realised vol with this bar.
        var previousSum = 0.0
        var previousSquares = 0.0
        var previousCount = 0
        var recent5Sum = r1
        var recent5Squares = r1 * r1
        var recent5Count = 1
        // Returns before the last 3 and the last 5 bars (ring positions from 2 and from 4), for the drift yardsticks.
        var before3 = (sum: 0.0, squares: 0.0, count: 0)
        var before5 = (sum: 0.0, squares: 0.0, count: 0)
        var absolute = (recent: abs(r1), before: 0.0)
        if count >= 2 {
            for k in 0..<min(count - 1, 20) {
                let r = returns[slot(k)]
                if k >= 2 {
                    before3.sum += r
                    before3.squares += r * r
                    before3.count += 1
                }
                if k >= 4 {
                    before5.sum += r
                    before5.squares += r * r
                    before5.count += 1
                    absolute.before += abs(r)
                } else {
                    absolute.recent += abs(r)
                }
                if k < 19 {
                    previousSum += r
                    previousSquares += r * r
                    previousCount += 1
                }
                if k < 4 {
                    recent5Sum += r
                    recent5Squares += r * r
                    recent5Count += 1
                }
            }
        }
        func std(_ sum: Double, _ squares: Double, _ n: Int) -> Double {
            guard n > 1 else { return 0 }
            let mean = sum / Double(n)
            return max(0, (squares - Double(n) * mean * mean) / Double(n - 1)).squareRoot()
        }
        row[6] = std(previousSum + r1, previousSquares + r1 * r1, previousCount + 1)
        row[7] = tier1Score.isFinite ? min(max(tier1Score, 0), 1) : 0
        let sigma = previousCount >= 5 ? std(previousSum, previousSquares, previousCount) : 0
        self.sigma = sigma
        func z(_ x: Double, _ scale: Double) -> Double { scale > 1e-12 ? x / scale : 0 }
        row[8] = z(r1, sigma)
        row[9] = z(row[1], sigma * 5.0.squareRoot())
        row[10] = z(gap, sigma)
        let logVolume = bar.volume > 0 ? vLog(bar.volume) : 0
        row[11] = n >= 5 ? z(logVolume - logVolumeSum / Double(n), std(logVolumeSum, logVolumeSquares, n)) : 0
        row[12] = n > 0 && rangeSum > 0 ? range / (rangeSum / Double(n)) : 1
        row[13] = recent5Count >= 3 ? z(std(recent5Sum, recent5Squares, recent5Count), sigma) : 0
        row[14] = z(logRatio(bar.close, count >= 3 ? closes[slot(2)] : (count > 0 ? closes[slot(count - 1)] : bar.open)), sigma * 3.0.squareRoot())
        var run = r1 == 0 ? 0 : 1
        if r1 != 0 && count >= 2 {
            for k in 0..<min(count - 1, 4) {
                let r = returns[slot(k)]
                guard (r > 0) == (r1 > 0), r != 0 else { break }
                run += 1
            }
        }
        row[15] = r1 < 0 ? -Double(run) : Double(run)
        let recentVolume = bar.volume + (count > 0 ? volumes[slot(0)] : bar.volume) + (count > 1 ? volumes[slot(1)] : bar.volume)
        let older = min(max(count - 2, 0), 19)
        var olderSum = 0.0
        for k in 0..<older { olderSum += volumes[slot(k + 2)] }
        row[16] = older > 0 && olderSum > 0 ? (recentVolume / 3) / (olderSum / Double(older)) : 1
        let sigma3 = before3.count >= 5 ? std(before3.sum, before3.squares, before3.count) : 0
        let sigma5 = before5.count >= 5 ? std(before5.sum, before5.squares, before5.count) : 0
        let close3 = count >= 3 ? closes[slot(2)] : (count > 0 ? closes[slot(count - 1)] : bar.open)
        row[17] = z(logRatio(bar.close, close3), sigma3 * 3.0.squareRoot())
        row[18] = z(row[1], sigma5 * 5.0.squareRoot())
        let recentCount = min(count, 5)
        row[19] =
            before5.count >= 5 && absolute.before > 0 ? (absolute.recent / Double(recentCount)) / (absolute.before / Double(before5.count)) : 1
        closes[head] = bar.close
        returns[head] = r1
        volumes[head] = bar.volume
        logVolumes[head] = logVolume
        ranges[head] = range
        head = (head + 1) % Self.depth
        count = min(count + 1, Self.depth)
    }
}

/// The market at one bar time: what the cross-sectional features of a row need from the other symbols.
public struct MarketSummary: Sendable, Equatable {
    /// Median one-bar return.
    public var median: Double
    /// Share of positive one-bar returns.
    public var breadth: Double
    /// Medians of `FeatureSet.relativeColumns`, in that order.
    public var medians: [Double]

    public init(median: Double = 0, breadth: Double = 0.5, medians: [Double] = [Double](repeating: 0, count: FeatureSet.relativeColumns.count)) {
        self.median = median
        self.breadth = breadth
        self.medians = medians
    }

    /// The features the summary is made of, one array per column: `return_1` then `FeatureSet.relativeColumns`.
    public static let columns = [FeatureSet.return1] + FeatureSet.relativeColumns
}

/// Fills the cross-sectional features of rows that share one bar time.
public enum CrossSection {
    /// `rows` are full-width feature rows whose per-symbol part is set; the market summary comes from the rows
    /// themselves.
    public static func complete(_ rows: inout [[Double]]) {
        guard !rows.isEmpty else { return }
        let columns = MarketSummary.columns.map { c in rows.map { $0[c] }.sorted() }
        let market = summary(sortedColumns: columns)
        for i in rows.indices { fill(&rows[i], market: market) }
    }

    /// The summary from sorted columns (`MarketSummary.columns` order, each sorted ascending).
    public static func summary(sortedColumns columns: [[Double]]) -> MarketSummary {
        guard let returns = columns.first, !returns.isEmpty else { return MarketSummary() }
        // The first index of a return > 0, by binary search over the sorted returns.
        var low = 0
        var high = returns.count
        while low < high {
            let mid = (low + high) / 2
            if returns[mid] > 0 { high = mid } else { low = mid + 1 }
        }
        return MarketSummary(
            median: median(sorted: returns), breadth: Double(returns.count - low) / Double(returns.count),
            medians: columns.dropFirst().map { median(sorted: $0) })
    }

    static func median(sorted values: [Double]) -> Double {
        guard !values.isEmpty else { return 0 }
        let middle = values.count / 2
        return values.count % 2 == 1 ? values[middle] : (values[middle - 1] + values[middle]) / 2
    }

    /// Writes the cross-sectional features of one row.
    public static func fill(_ row: inout [Double], market: MarketSummary) {
        fill(&row, row: 0, market: market)
    }

    /// The same for row `row` of row-major `values` (`FeatureSet.count` per row).
    public static func fill(_ values: inout [Double], row: Int, market: MarketSummary) {
        let base = row * FeatureSet.count
        let start = base + FeatureSet.crossSectionalStart
        let r1 = values[base + FeatureSet.return1]
        let relative = r1 - market.median
        values[start] = relative
        values[start + 1] = market.breadth
        let z = values[base + FeatureSet.return1Z]
        let sigma = z != 0 ? r1 / z : 0
        values[start + 2] = sigma.isFinite && abs(sigma) > 1e-12 ? relative / abs(sigma) : 0
        for (k, column) in FeatureSet.relativeColumns.enumerated() where k < market.medians.count {
            values[start + 3 + k] = values[base + column] - market.medians[k]
        }
    }
}
