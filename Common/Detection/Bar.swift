/// One OHLCV bar of one symbol. The unit of everything Vigil moves and scores.
///
/// `timestamp` is the bar's open time in milliseconds since the Unix epoch (UTC); daily bars use the session's date at
/// 00:00 UTC unless the source gives a precise time. `intervalSeconds` is the bar length (60 for 1-minute bars, 86_400
/// for daily). Volume is a `Double` because some sources report fractional volume (crypto) and the detectors take its
/// logarithm anyway. The symbol is kept short (≤ 15 UTF-8 bytes stays inline in `String`, so no heap allocation).
public struct Bar: Sendable, Hashable {
    public var symbol: String
    public var timestamp: Int64
    public var intervalSeconds: Int32
    public var open: Double
    public var high: Double
    public var low: Double
    public var close: Double
    public var volume: Double

    public init(
        symbol: String,
        timestamp: Int64,
        intervalSeconds: Int32 = 86_400,
        open: Double,
        high: Double,
        low: Double,
        close: Double,
        volume: Double
    ) {
        self.symbol = symbol
        self.timestamp = timestamp
        self.intervalSeconds = intervalSeconds
        self.open = open
        self.high = high
        self.low = low
        self.close = close
        self.volume = volume
    }
}

/// Well-known bar intervals, in seconds.
public enum BarInterval {
    public static let oneMinute: Int32 = 60
    public static let fiveMinutes: Int32 = 300
    public static let fifteenMinutes: Int32 = 900
    public static let thirtyMinutes: Int32 = 1_800
    public static let oneHour: Int32 = 3_600
    public static let oneDay: Int32 = 86_400
    public static let oneWeek: Int32 = 604_800
}
