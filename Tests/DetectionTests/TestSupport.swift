@testable import VigilDetection

/// Builds bars from a list of log returns (closes compound from `start`), with flat open = previous close, a tight
/// range and constant volume, so that only what a test changes moves the detectors.
func bars(
    logReturns: [Double],
    start: Double = 100,
    volume: Double = 1_000_000,
    interval: Int32 = 86_400,
    symbol: String = "TEST"
) -> [Bar] {
    var result: [Bar] = []
    var close = start
    var t: Int64 = 1_600_000_000_000
    let step = Int64(interval) * 1_000
    result.append(
        Bar(
            symbol: symbol, timestamp: t, intervalSeconds: interval, open: close, high: close * 1.001, low: close * 0.999, close: close,
            volume: volume)
    )
    for r in logReturns {
        let open = close
        close *= vExp(r)
        t += step
        result.append(
            Bar(
                symbol: symbol, timestamp: t, intervalSeconds: interval, open: open, high: max(open, close) * 1.001,
                low: min(open, close) * 0.999, close: close, volume: volume
            )
        )
    }
    return result
}

/// A deterministic pseudo-random return path with std `sigma` (normal, via the seeded generator).
func noiseReturns(count: Int, sigma: Double = 0.01, seed: UInt64 = 1) -> [Double] {
    var rng = SeededGenerator(seed: seed)
    return (0..<count).map { _ in sigma * rng.nextNormal() }
}

/// A realistic warm series: synthetic market bars of one symbol without injected anomalies.
func calmSeries(count: Int, seed: UInt64 = 11) -> [Bar] {
    var market = SyntheticMarket(seed: seed, symbols: 1, start: 1_600_000_000_000, intervalSeconds: 86_400, anomalyRate: 0)
    return (0..<count).compactMap { _ in market.next().first }
}

/// Runs `bars` through a detector and returns the scores.
func run(_ detector: inout SeriesDetector, _ bars: [Bar]) -> [BarScore] {
    bars.map { detector.update($0) }
}

/// The bar after `last` with a given log return, gap fraction and volume multiple.
func shockBar(after last: Bar, logReturn: Double, volumeMultiple: Double = 1, gapShare: Double = 0) -> Bar {
    let open = last.close * vExp(logReturn * gapShare)
    let close = last.close * vExp(logReturn)
    return Bar(
        symbol: last.symbol, timestamp: last.timestamp + Int64(last.intervalSeconds) * 1_000, intervalSeconds: last.intervalSeconds,
        open: open, high: max(open, close) * 1.001, low: min(open, close) * 0.999, close: close,
        volume: last.volume * volumeMultiple
    )
}
