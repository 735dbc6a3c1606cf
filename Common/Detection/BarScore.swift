/// The streaming features of one bar, as the detectors saw them. A fixed struct (no heap) so computing it costs nothing
/// when nothing fires.
///
/// Returns are log returns. For intraday bars after a pause (overnight, halt), return-based statistics use the return
/// divided by `timeScale` = √(elapsed / bar length); the raw values below are not scaled.
public struct FeatureSnapshot: Sendable, Equatable {
    /// log(close / previous close).
    public var logReturn: Double
    /// log(open / previous close).
    public var gap: Double
    /// log(high / low).
    public var range: Double
    /// log(1 + volume).
    public var logVolume: Double
    /// EWMA mean of past returns (per bar).
    public var returnMean: Double
    /// EWMA standard deviation of past returns (per bar).
    public var returnStd: Double
    /// Mean of the rolling window of past returns (0 until it is full).
    public var rollingMean: Double
    /// Sample std of the rolling window of past returns (0 until it is full).
    public var rollingStd: Double
    /// Median of the robust window of past returns (0 until it is full).
    public var median: Double
    /// Median absolute deviation of the robust window (raw; ×1.4826 estimates σ). Exact when the robust z was
    /// evaluated; on calm bars, where it cannot matter, a cheap lower bound (the quartile distance) instead.
    public var mad: Double
    /// CUSUM upward statistic after this bar (before any reset), in σ.
    public var cusumPositive: Double
    /// CUSUM downward statistic after this bar (before any reset), in σ.
    public var cusumNegative: Double
    /// EWMA baseline of log(1 + volume).
    public var volumeMean: Double
    /// EWMA standard deviation of log(1 + volume).
    public var volumeStd: Double
    /// Scale the gap was compared with (EWMA RMS of past gaps, floored at a quarter of `returnStd`).
    public var gapScale: Double
    /// Short-horizon realised volatility per bar, this bar included.
    public var realizedVol: Double
    /// Long-horizon baseline volatility per bar, this bar excluded.
    public var baselineVol: Double
    /// √(elapsed / bar length) for intraday bars after a pause, else 1.
    public var timeScale: Double

    @inlinable
    public init() {
        self.init(
            logReturn: 0, gap: 0, range: 0, logVolume: 0, returnMean: 0, returnStd: 0, rollingMean: 0, rollingStd: 0,
            median: 0, mad: 0, cusumPositive: 0, cusumNegative: 0, volumeMean: 0, volumeStd: 0, gapScale: 0,
            realizedVol: 0, baselineVol: 0, timeScale: 1
        )
    }

    @inlinable
    init(
        logReturn: Double, gap: Double, range: Double, logVolume: Double, returnMean: Double, returnStd: Double,
        rollingMean: Double, rollingStd: Double, median: Double, mad: Double, cusumPositive: Double,
        cusumNegative: Double, volumeMean: Double, volumeStd: Double, gapScale: Double, realizedVol: Double,
        baselineVol: Double, timeScale: Double
    ) {
        self.logReturn = logReturn
        self.gap = gap
        self.range = range
        self.logVolume = logVolume
        self.returnMean = returnMean
        self.returnStd = returnStd
        self.rollingMean = rollingMean
        self.rollingStd = rollingStd
        self.median = median
        self.mad = mad
        self.cusumPositive = cusumPositive
        self.cusumNegative = cusumNegative
        self.volumeMean = volumeMean
        self.volumeStd = volumeStd
        self.gapScale = gapScale
        self.realizedVol = realizedVol
        self.baselineVol = baselineVol
        self.timeScale = timeScale
    }

    /// Volume as a multiple of its baseline (geometric mean).
    public var volumeRatio: Double { vExp(logVolume - volumeMean) }

    /// Short over long volatility.
    public var volatilityRatio: Double { baselineVol > 0 ? realizedVol / baselineVol : 0 }

    /// Every feature by its stable name (snake_case, as in detections and on the wire).
    public var all: [FeatureValue] {
        [
            FeatureValue("log_return", logReturn), FeatureValue("gap", gap), FeatureValue("range", range),
            FeatureValue("log_volume", logVolume), FeatureValue("return_mean", returnMean),
            FeatureValue("return_std", returnStd), FeatureValue("rolling_mean", rollingMean),
            FeatureValue("rolling_std", rollingStd), FeatureValue("median", median), FeatureValue("mad", mad),
            FeatureValue("cusum_pos", cusumPositive), FeatureValue("cusum_neg", cusumNegative),
            FeatureValue("volume_mean", volumeMean), FeatureValue("volume_std", volumeStd),
            FeatureValue("volume_ratio", volumeRatio), FeatureValue("gap_scale", gapScale),
            FeatureValue("realized_vol", realizedVol), FeatureValue("baseline_vol", baselineVol),
            FeatureValue("time_scale", timeScale),
        ]
    }

    /// The features that drive `kind`, in the order an analyst reads them.
    public func driving(_ kind: DetectorKind) -> [FeatureValue] {
        switch kind {
        case .rollingZ:
            return [FeatureValue("log_return", logReturn), FeatureValue("rolling_mean", rollingMean), FeatureValue("rolling_std", rollingStd)]
        case .ewmaZ:
            return [FeatureValue("log_return", logReturn), FeatureValue("return_mean", returnMean), FeatureValue("return_std", returnStd)]
        case .robustZ:
            return [FeatureValue("log_return", logReturn), FeatureValue("median", median), FeatureValue("mad", mad)]
        case .cusum:
            return [
                FeatureValue("log_return", logReturn), FeatureValue("cusum_pos", cusumPositive),
                FeatureValue("cusum_neg", cusumNegative), FeatureValue("return_std", returnStd),
            ]
        case .volumeSurge:
            return [
                FeatureValue("log_volume", logVolume), FeatureValue("volume_mean", volumeMean), FeatureValue("volume_std", volumeStd),
                FeatureValue("volume_ratio", volumeRatio),
            ]
        case .gap:
            return [FeatureValue("gap", gap), FeatureValue("gap_scale", gapScale), FeatureValue("log_return", logReturn)]
        case .volatilityBurst:
            return [
                FeatureValue("realized_vol", realizedVol), FeatureValue("baseline_vol", baselineVol),
                FeatureValue("range", range), FeatureValue("log_return", logReturn),
            ]
        }
    }
}

/// A named feature value attached to a detection ("why did it fire").
public struct FeatureValue: Sendable, Equatable, Hashable, Codable {
    public var name: String
    public var value: Double

    public init(_ name: String, _ value: Double) {
        self.name = name
        self.value = value
    }

    public init(name: String, value: Double) {
        self.init(name, value)
    }
}

/// One value per detector, inline (no heap), indexed by `DetectorKind`.
public struct DetectorValues: Sendable, Equatable {
    @usableFromInline var storage: InlineArray<7, Double>

    @inlinable
    public init() { storage = InlineArray(repeating: 0) }

    @inlinable
    init(storage: InlineArray<7, Double>) { self.storage = storage }

    @inlinable
    public subscript(kind: DetectorKind) -> Double {
        get { storage[unchecked: kind.bitIndex] }
        set { storage[unchecked: kind.bitIndex] = newValue }
    }

    public static func == (lhs: DetectorValues, rhs: DetectorValues) -> Bool {
        DetectorKind.allCases.allSatisfy { lhs[$0] == rhs[$0] }
    }
}

/// What `SeriesDetector.update` says about one bar.
public struct BarScore: Sendable {
    /// Combined anomaly score in [0, 1): `E² / (1 + E²)` of the combined evidence E (see `DetectorConfig`).
    public var anomalyScore: Double
    /// Combined evidence E ≥ 0 (1 = the default alert line).
    public var evidence: Double
    /// Detectors that carried an alert: on an alert bar, those at or over their own threshold, or — when the alert
    /// comes from corroboration alone — those whose evidence exceeded the corroboration floor. Empty when not an alert.
    public var fired: DetectorSet
    /// Severity of the bar: critical at `criticalMultiple` × the alert evidence, warning on an alert, else info.
    public var severity: Severity
    /// `anomalyScore ≥ DetectorConfig.alertThreshold`. Always implies a non-empty `fired`, so a backtest's
    /// `detectors` column is non-empty exactly on alert bars.
    public var isAlert: Bool
    /// False when the bar was rejected (non-finite or non-positive close) and did not touch the state.
    public var isValid: Bool
    /// Raw statistic per detector: signed z for rolling_z / ewma_z / robust_z / gap, signed CUSUM sum in σ (sign = side),
    /// volume z, volatility ratio. 0 for a detector still warming up.
    public var statistics: DetectorValues
    /// Evidence per detector (statistic / threshold, early-phase adjusted; 0 while warming up or disabled).
    public var detectorEvidence: DetectorValues
    /// The bar's features.
    public var features: FeatureSnapshot
    /// Copied from the config so detections can grade themselves.
    public var criticalMultiple: Double

    @inlinable
    public init() {
        self.init(
            anomalyScore: 0, evidence: 0, fired: [], severity: .info, isAlert: false, isValid: true,
            statistics: DetectorValues(), detectorEvidence: DetectorValues(), features: FeatureSnapshot(), criticalMultiple: 2
        )
    }

    @inlinable
    init(
        anomalyScore: Double, evidence: Double, fired: DetectorSet, severity: Severity, isAlert: Bool, isValid: Bool,
        statistics: DetectorValues, detectorEvidence: DetectorValues, features: FeatureSnapshot, criticalMultiple: Double
    ) {
        self.anomalyScore = anomalyScore
        self.evidence = evidence
        self.fired = fired
        self.severity = severity
        self.isAlert = isAlert
        self.isValid = isValid
        self.statistics = statistics
        self.detectorEvidence = detectorEvidence
        self.features = features
        self.criticalMultiple = criticalMultiple
    }

    /// A rejected bar: zero score, never an alert.
    public static var rejected: BarScore {
        var score = BarScore()
        score.isValid = false
        return score
    }

    /// Per-detector score in [0, 1), same mapping as the combined score.
    public func score(of kind: DetectorKind) -> Double { evidenceToScore(detectorEvidence[kind]) }

    /// One `Detection` per fired detector (empty when not an alert). Allocates; call it only for alert bars.
    public func detections(symbol: String, timestamp: Int64) -> [Detection] {
        guard isAlert else { return [] }
        return fired.kinds.map { kind in
            let e = detectorEvidence[kind]
            let severity: Severity = e >= criticalMultiple ? .critical : (e >= 1 ? .warning : .info)
            return Detection(
                symbol: symbol,
                timestamp: timestamp,
                detector: kind,
                score: evidenceToScore(e),
                severity: severity,
                statistic: statistics[kind],
                features: features.driving(kind)
            )
        }
    }
}

/// One detector's finding on one bar of one symbol.
public struct Detection: Sendable, Equatable, Hashable {
    public var symbol: String
    /// Bar time, milliseconds since the Unix epoch (UTC).
    public var timestamp: Int64
    public var detector: DetectorKind
    /// The detector's score in [0, 1) (0.5 = at its threshold).
    public var score: Double
    public var severity: Severity
    /// The detector's raw statistic (see `BarScore.statistics`), e.g. the z-score.
    public var statistic: Double
    /// The feature values that drove it.
    public var features: [FeatureValue]

    public init(
        symbol: String,
        timestamp: Int64,
        detector: DetectorKind,
        score: Double,
        severity: Severity,
        statistic: Double = 0,
        features: [FeatureValue] = []
    ) {
        self.symbol = symbol
        self.timestamp = timestamp
        self.detector = detector
        self.score = score
        self.severity = severity
        self.statistic = statistic
        self.features = features
    }
}
