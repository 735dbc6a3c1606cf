/// The Tier-2 feature set, version 1. Models record the version they were trained on and refuse rows of another.
///
/// Per symbol (from its own recent bars, strictly causal — a bar's features use that bar and earlier ones only):
/// - `return_1`, `return_5`, `return_20`: log return of the close over 1, 5 and 20 bars;
/// - `volume_ratio`: volume over the mean volume of the previous 20 bars (1 while there is no history);
/// - `range`: (high − low) / close;
/// - `gap`: log(open / previous close);
/// - `realized_vol`: standard deviation of the last 20 one-bar log returns;
/// - `tier1_score`: the Tier-1 combined anomaly score of the bar (0...1).
/// Cross-sectional (only the collector, which sees the whole market, can compute them):
/// - `relative_return`: `return_1` minus the median `return_1` of all symbols with a bar at the same time;
/// - `market_breadth`: share of those symbols whose `return_1` is positive.
public enum FeatureSetV1 {
    public static let version = 1
    public static let names = [
        "return_1", "return_5", "return_20", "volume_ratio", "range", "gap", "realized_vol", "tier1_score", "relative_return",
        "market_breadth",
    ]
    public static var count: Int { names.count }
    /// Index of the first cross-sectional feature; the ones before it come from `SymbolFeatureState`.
    public static let crossSectionalStart = 8
}

/// One symbol's recent closes and volumes: what its per-symbol features need (fixed size, no allocation per bar).
public struct SymbolFeatureState: Sendable {
    private static let depth = 21
    private var closes = InlineArray<21, Double>(repeating: 0)
    private var volumes = InlineArray<21, Double>(repeating: 0)
    private var head = 0
    public private(set) var count = 0

    public init() {}

    private func back(_ ring: InlineArray<21, Double>, _ k: Int) -> Double {
        ring[(head - 1 - k + 2 * Self.depth) % Self.depth]
    }

    /// The per-symbol features of `bar` (the first `FeatureSetV1.crossSectionalStart` entries of a row, written into
    /// `row`), then remembers the bar.
    public mutating func update(_ bar: Bar, tier1Score: Double, into row: inout [Double]) {
        func logRatio(_ a: Double, _ b: Double) -> Double { a > 0 && b > 0 ? vLog(a / b) : 0 }
        let previousClose = count > 0 ? back(closes, 0) : bar.open
        row[0] = logRatio(bar.close, previousClose)
        row[1] = logRatio(bar.close, count >= 5 ? back(closes, 4) : (count > 0 ? back(closes, count - 1) : bar.open))
        row[2] = logRatio(bar.close, count >= 20 ? back(closes, 19) : (count > 0 ? back(closes, count - 1) : bar.open))
        let n = min(count, 20)
        var volumeSum = 0.0
        for k in 0..<n { volumeSum += back(volumes, k) }
        row[3] = n > 0 && volumeSum > 0 ? bar.volume / (volumeSum / Double(n)) : 1
        row[4] = bar.close > 0 ? (bar.high - bar.low) / bar.close : 0
        row[5] = logRatio(bar.open, previousClose)
        // Realised volatility of the last ≤ 20 one-bar returns, this bar's included.
        var sum = row[0]
        var sumSquares = row[0] * row[0]
        var returns = 1
        if count >= 2 {
            for k in 0..<min(count - 1, 19) {
                let r = logRatio(back(closes, k), back(closes, k + 1))
                sum += r
                sumSquares += r * r
                returns += 1
            }
        }
        let mean = sum / Double(returns)
        row[6] = returns > 1 ? max(0, (sumSquares - Double(returns) * mean * mean) / Double(returns - 1)).squareRoot() : 0
        row[7] = tier1Score.isFinite ? min(max(tier1Score, 0), 1) : 0
        closes[head] = bar.close
        volumes[head] = bar.volume
        head = (head + 1) % Self.depth
        count = min(count + 1, Self.depth)
    }
}

/// Fills the cross-sectional features of the rows that share one bar time (`rows` are full-width feature rows whose
/// per-symbol part is already set).
public enum CrossSection {
    public static func complete(_ rows: inout [[Double]]) {
        guard !rows.isEmpty else { return }
        var returns = rows.map { $0[0] }
        returns.sort()
        let middle = returns.count / 2
        let median = returns.count % 2 == 1 ? returns[middle] : (returns[middle - 1] + returns[middle]) / 2
        let breadth = Double(returns.filter { $0 > 0 }.count) / Double(returns.count)
        for i in rows.indices {
            rows[i][8] = rows[i][0] - median
            rows[i][9] = breadth
        }
    }
}
