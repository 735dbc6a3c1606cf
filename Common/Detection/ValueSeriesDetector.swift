/// Streaming anomaly score for a plain `timestamp,value` series (a metric, a spread, a rate, a P&L line): values may be
/// zero or negative and spacing may be irregular, so nothing here takes a logarithm of the value.
///
/// Three statistics, each against the state before the row (strictly streaming: the score of row i depends only on
/// rows ≤ i, so appending rows never changes earlier scores):
/// - **difference z** (EWMA): d = (v − v_prev) / √(Δt / typical Δt), against the EWMA mean/std of past d;
/// - **robust difference z**: the same d against the median / MAD of the last `robustWindow` d's;
/// - **level z**: v against a slow EWMA mean/std of the level (catches a shift that arrives in small steps).
/// The √(Δt) scaling treats the series as diffusive: a value observed after 4× the usual pause may have moved 2× as
/// far. The typical spacing is the geometric EWMA of past intervals, so one long pause does not distort it; the ratio
/// is clamped to [1/4, 10 000]. Scale-free: multiplying the series by any positive constant leaves the scores unchanged.
///
/// Score: evidence e = |z| / threshold per statistic, E = max(e) (+ half of the second largest excess over 0.5),
/// `score = E² / (1 + E²)` ∈ [0, 1); 0.5 means "at a threshold". Returns 0 during warm-up and for non-finite values
/// (which are skipped).
public struct ValueSeriesDetector: Sendable {
    /// Thresholds and memory (bars = rows).
    public struct Config: Sendable, Equatable, Codable {
        /// Half-life of the difference mean/std, rows. Default 30.
        public var differenceHalfLife: Double = 30
        /// |z| threshold of the difference z. Default 5.
        public var differenceThreshold: Double = 5
        /// Window of the robust difference z, 5...32 rows. Default 21.
        public var robustWindow: Int = 21
        /// |z| threshold of the robust difference z. Default 7.
        public var robustThreshold: Double = 7
        /// Half-life of the level mean/std, rows. Default 100.
        public var levelHalfLife: Double = 100
        /// |z| threshold of the level z. Default 6.
        public var levelThreshold: Double = 6
        /// Rows before any score. Default 10.
        public var warmUp: Int = 10

        public init() {}

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            let d = Config()
            differenceHalfLife = try c.decodeIfPresent(Double.self, forKey: .differenceHalfLife) ?? d.differenceHalfLife
            differenceThreshold = try c.decodeIfPresent(Double.self, forKey: .differenceThreshold) ?? d.differenceThreshold
            robustWindow = try c.decodeIfPresent(Int.self, forKey: .robustWindow) ?? d.robustWindow
            robustThreshold = try c.decodeIfPresent(Double.self, forKey: .robustThreshold) ?? d.robustThreshold
            levelHalfLife = try c.decodeIfPresent(Double.self, forKey: .levelHalfLife) ?? d.levelHalfLife
            levelThreshold = try c.decodeIfPresent(Double.self, forKey: .levelThreshold) ?? d.levelThreshold
            warmUp = try c.decodeIfPresent(Int.self, forKey: .warmUp) ?? d.warmUp
        }
    }

    @usableFromInline var history: ReturnHistory
    @usableFromInline let config: Config
    @usableFromInline let differenceAlpha: Double
    @usableFromInline let levelAlpha: Double
    @usableFromInline var previousValue: Double = 0
    @usableFromInline var previousTimestamp: Int64 = 0
    @usableFromInline var logSpacing: Double = 0
    @usableFromInline var differenceMean: Double = 0
    @usableFromInline var differenceVariance: Double = 0
    @usableFromInline var levelMean: Double = 0
    @usableFromInline var levelVariance: Double = 0
    @usableFromInline var rows: Int = 0

    /// Rows accepted so far.
    public var rowsSeen: Int { rows }

    public init(config: Config = Config()) {
        self.config = config
        let window = min(max(config.robustWindow, 5), DetectorConfig.maxWindow)
        history = ReturnHistory(rollingWindow: window, robustWindow: window)
        differenceAlpha = ewmaAlpha(halfLife: config.differenceHalfLife)
        levelAlpha = ewmaAlpha(halfLife: config.levelHalfLife)
    }

    /// Scores the row and folds it into the state. Timestamps in any unit (ms expected), non-decreasing; a repeated or
    /// earlier timestamp counts as the typical spacing.
    public mutating func update(timestamp: Int64, value: Double) -> Double {
        guard value.isFinite else { return 0 }
        let n = rows
        if n == 0 {
            previousValue = value
            previousTimestamp = timestamp
            levelMean = value
            rows = 1
            return 0
        }
        // Spacing relative to the typical one.
        let dt = Double(timestamp &- previousTimestamp)
        var spacingRatio = 1.0
        if dt > 0 {
            let logDt = vLog(dt)
            if n >= 2 { spacingRatio = min(max(vExp(logDt - logSpacing), 0.25), 10_000) }
            logSpacing = n == 1 ? logDt : logSpacing + 0.1 * (logDt - logSpacing)
        }
        let d = (value - previousValue) / spacingRatio.squareRoot()
        // Scale floor relative to the series' own magnitude, so the detector is scale-free and a constant series
        // scores 0 (not NaN).
        let magnitude = max(abs(levelMean), levelVariance.squareRoot(), differenceVariance.squareRoot())
        let floor = max(magnitude * 1e-9, Double.leastNormalMagnitude * 1e20)

        var e1 = 0.0
        var e2 = 0.0
        var e3 = 0.0
        let differenceStd = max(differenceVariance.squareRoot(), floor)
        let levelStd = max(levelVariance.squareRoot(), floor)
        if n >= max(config.warmUp, 3) {
            e1 = abs(d - differenceMean) / differenceStd / config.differenceThreshold
            e3 = abs(value - levelMean) / levelStd / config.levelThreshold
            if let median = history.medianInPlace() {
                let mad = history.madInPlace(median: median)
                let dScaled = d / differenceStd
                e2 = abs(dScaled - median) / max(1.482_6 * mad, 1e-9) / config.robustThreshold
            }
        }
        let top = max(e1, e2, e3)
        let second = e1 + e2 + e3 - top - min(e1, e2, e3)
        let evidence = top + 0.5 * max(0, second - 0.5)

        // Update (winsorized at 5σ so one outlier does not blind the detector).
        let shrink = 1 / Double(n + 1)
        let a = max(differenceAlpha, shrink)
        let band = 5 * differenceStd
        let dd = n == 1 ? d : min(max(d - differenceMean, -band), band)
        differenceMean += a * dd
        differenceVariance = n == 1 ? d * d : (1 - a) * (differenceVariance + a * dd * dd)
        // The robust window holds differences in units of the EWMA std (Float-safe for any magnitude of the series).
        let scaled = min(max(d / differenceStd, -1e30), 1e30)
        history.push(Float(scaled), maintainSorted: true)
        let b = max(levelAlpha, shrink)
        let levelBand = 5 * levelStd + abs(d)
        let dl = min(max(value - levelMean, -levelBand), levelBand)
        levelMean += b * dl
        levelVariance = (1 - b) * (levelVariance + b * dl * dl)
        previousValue = value
        previousTimestamp = timestamp
        rows = n + 1
        return evidenceToScore(evidence)
    }
}
