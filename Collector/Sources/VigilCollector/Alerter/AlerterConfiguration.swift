// Vigil collector alerter: how detections become alerts (episodes per symbol, market-wide events).

/// Keys under `alerter:` in the collector's YAML (snake_case in the file, mapped to these camelCase names by the
/// config loader). Every key is optional; a missing key keeps its default.
public struct AlerterConfiguration: Codable, Sendable, Hashable {
    /// `episode_gap_bars`: a symbol's flagged bars separated by at most this many unflagged bars of that symbol belong
    /// to one episode (one alert). 0 means only consecutive flagged bars share an episode. Default 2.
    public var episodeGapBars: Int
    /// `min_anomaly_score`: detections whose anomaly score (their `score` when they carry none) is below this are not
    /// alerted on. The agent already applies its threshold; this is an extra collector-side filter. Default 0.
    public var minAnomalyScore: Double
    /// `market_wide_share`: a market-wide alert is raised when at least this share of the symbols with a bar at the
    /// same bar time are flagged (and `market_wide_min_symbols` is met). Default 0.25.
    public var marketWideShare: Double
    /// `market_wide_min_symbols`: at least this many symbols must have a bar at that time, so that a handful of
    /// symbols cannot make a "market". Default 20.
    public var marketWideMinSymbols: Int
    /// `market_wide_max_intervals`: bar times remembered for market-wide tallies; the oldest are forgotten beyond it.
    /// Default 100000.
    public var marketWideMaxIntervals: Int

    public static let `default` = AlerterConfiguration()

    public init(
        episodeGapBars: Int = 2,
        minAnomalyScore: Double = 0.0,
        marketWideShare: Double = 0.25,
        marketWideMinSymbols: Int = 20,
        marketWideMaxIntervals: Int = 100_000
    ) {
        self.episodeGapBars = episodeGapBars
        self.minAnomalyScore = minAnomalyScore
        self.marketWideShare = marketWideShare
        self.marketWideMinSymbols = marketWideMinSymbols
        self.marketWideMaxIntervals = marketWideMaxIntervals
    }

    enum CodingKeys: String, CodingKey {
        case episodeGapBars, minAnomalyScore, marketWideShare, marketWideMinSymbols, marketWideMaxIntervals
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = AlerterConfiguration()
        episodeGapBars = try container.decodeIfPresent(Int.self, forKey: .episodeGapBars) ?? defaults.episodeGapBars
        minAnomalyScore = try container.decodeIfPresent(Double.self, forKey: .minAnomalyScore) ?? defaults.minAnomalyScore
        marketWideShare = try container.decodeIfPresent(Double.self, forKey: .marketWideShare) ?? defaults.marketWideShare
        marketWideMinSymbols = try container.decodeIfPresent(Int.self, forKey: .marketWideMinSymbols) ?? defaults.marketWideMinSymbols
        marketWideMaxIntervals = try container.decodeIfPresent(Int.self, forKey: .marketWideMaxIntervals) ?? defaults.marketWideMaxIntervals
    }

    /// Every out-of-range value; empty when valid. Paths are the snake_case keys as written in the file, relative to
    /// the `alerter:` section (the caller prefixes the section name).
    public func validationProblems() -> [(path: String, message: String)] {
        var problems: [(path: String, message: String)] = []
        if !(0...10_000).contains(episodeGapBars) {
            problems.append(("episode_gap_bars", "must be between 0 and 10000, got \(episodeGapBars)"))
        }
        // Anomaly scores are in [0, 1]; NaN fails both comparisons, so it is reported too.
        if !(minAnomalyScore >= 0 && minAnomalyScore <= 1) {
            problems.append(("min_anomaly_score", "must be between 0 and 1, got \(minAnomalyScore)"))
        }
        if !(marketWideShare > 0 && marketWideShare <= 1) {
            problems.append(("market_wide_share", "must be greater than 0 and at most 1, got \(marketWideShare)"))
        }
        if !(1...10_000_000).contains(marketWideMinSymbols) {
            problems.append(("market_wide_min_symbols", "must be between 1 and 10000000, got \(marketWideMinSymbols)"))
        }
        if !(1...10_000_000).contains(marketWideMaxIntervals) {
            problems.append(("market_wide_max_intervals", "must be between 1 and 10000000, got \(marketWideMaxIntervals)"))
        }
        return problems
    }
}
