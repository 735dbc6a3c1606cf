import VigilDetection

/// Tier-1 state for every series the agent has seen: one `SeriesDetector` per (symbol, interval), fixed size each.
public struct DetectionEngine: Sendable {
    struct Key: Hashable {
        var symbol: String
        var interval: Int32
    }

    public private(set) var configuration: DetectorConfig
    private var states: [Key: SeriesDetector] = [:]

    public init(configuration: DetectorConfig) {
        self.configuration = configuration
    }

    public var seriesCount: Int { states.count }

    /// Scores one normalized bar, updating that series' state.
    public mutating func score(_ bar: Bar) -> BarScore {
        let key = Key(symbol: bar.symbol, interval: bar.intervalSeconds)
        let configuration = configuration
        return states[key, default: SeriesDetector(config: configuration)].update(bar)
    }

    /// Every series' state, for `DetectorSnapshot`.
    func snapshotStates() -> [(symbol: String, interval: Int32, detector: SeriesDetector)] {
        states.map { ($0.key.symbol, $0.key.interval, $0.value) }
    }

    /// Adopts restored series states (thresholds stay those of `configuration`).
    mutating func restore(_ restored: [(symbol: String, interval: Int32, detector: SeriesDetector)]) {
        for state in restored { states[Key(symbol: state.symbol, interval: state.interval)] = state.detector }
    }

    /// New thresholds apply from the next bar; every series keeps what it has learned (SIGHUP reload).
    public mutating func reconfigure(_ configuration: DetectorConfig) {
        self.configuration = configuration
        for key in states.keys { states[key]?.reconfigure(configuration) }
    }
}
