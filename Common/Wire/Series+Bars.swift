import VigilDetection

/// Why a batch could not be turned back into bars.
public struct WireDecodingError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

extension Vigil_V1_Series {
    /// Builds the columnar form of bars that all share `symbol` and `intervalSeconds`, oldest first.
    public init(symbol: String, intervalSeconds: Int32, feed: String, bars: some Collection<Bar>, anomalyScores: [Float] = []) {
        self.init()
        self.symbol = symbol
        self.intervalSeconds = intervalSeconds
        self.feed = feed
        timestampDeltasMs.reserveCapacity(bars.count)
        open.reserveCapacity(bars.count)
        high.reserveCapacity(bars.count)
        low.reserveCapacity(bars.count)
        close.reserveCapacity(bars.count)
        volume.reserveCapacity(bars.count)
        var previous: Int64 = 0
        for bar in bars {
            timestampDeltasMs.append(bar.timestamp &- previous)
            previous = bar.timestamp
            open.append(bar.open)
            high.append(bar.high)
            low.append(bar.low)
            close.append(bar.close)
            volume.append(bar.volume)
        }
        self.anomalyScores = anomalyScores
    }

    /// Number of bars, after checking that the columns agree.
    public func validatedCount() throws(WireDecodingError) -> Int {
        let count = timestampDeltasMs.count
        guard open.count == count, high.count == count, low.count == count, close.count == count, volume.count == count else {
            throw WireDecodingError(
                "series \(symbol): column lengths differ (timestamps \(count), open \(open.count), high \(high.count), "
                    + "low \(low.count), close \(close.count), volume \(volume.count))")
        }
        guard anomalyScores.isEmpty || anomalyScores.count == count else {
            throw WireDecodingError("series \(symbol): \(anomalyScores.count) anomaly scores for \(count) bars")
        }
        guard !symbol.isEmpty else { throw WireDecodingError("series without a symbol") }
        return count
    }

    /// Calls `body` with each bar, oldest first, without materialising an array.
    public func forEachBar(_ body: (Bar) throws -> Void) throws {
        let count = try validatedCount()
        var timestamp: Int64 = 0
        for index in 0..<count {
            timestamp = timestamp &+ timestampDeltasMs[index]
            try body(
                Bar(
                    symbol: symbol, timestamp: timestamp, intervalSeconds: intervalSeconds, open: open[index], high: high[index],
                    low: low[index], close: close[index], volume: volume[index]))
        }
    }

    public func bars() throws -> [Bar] {
        var result: [Bar] = []
        result.reserveCapacity(timestampDeltasMs.count)
        try forEachBar { result.append($0) }
        return result
    }
}

extension Vigil_V1_Batch {
    /// Total bars across all series.
    public var barCount: Int { series.reduce(0) { $0 + $1.timestampDeltasMs.count } }
}
