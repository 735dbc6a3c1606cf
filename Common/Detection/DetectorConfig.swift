/// Configuration of the Tier-1 detectors of one series (shared by all series of an agent).
///
/// Every field has a default (`DetectorConfig.default`), documented next to it; decoding a document that omits keys
/// falls back to those defaults, so a YAML file only needs the settings it changes. Keys are snake_case and the
/// detector sections are named after `DetectorKind` raw values (`rolling_z`, `ewma_z`, ...).
///
/// Windows and half-lives are counted in bars, so the same config works for daily and intraday bars. The defaults were
/// tuned on the seeded synthetic market (F1 per anomaly kind) and checked on five years of S&P 500 daily bars, where
/// they flag about 0.5 bars per symbol-month (about 2.5 % of bars).
///
/// How the evidence becomes an alert: each detector turns its statistic into *evidence* `e = statistic / threshold`
/// (1 = exactly at its threshold). Per bar, the combined evidence is
/// `E = max(e) + corroboration.weight · Σ max(0, e_f − corroboration.floor)` over the other detector families
/// (return shock {rolling_z, ewma_z, robust_z}, cusum, volume, gap, volatility), and
/// `anomaly_score = E² / (1 + E²)` ∈ [0, 1), which is non-decreasing in every detector's evidence.
/// A bar is an alert when `anomaly_score ≥ alertThreshold`.
public struct DetectorConfig: Sendable, Codable, Equatable {
    /// Combined-score alert line. Default **0.5**, which is exactly `E = 1`: any single detector at its own threshold,
    /// or several families each part of the way there (a market-wide sell-off: a 2.5σ drop on double volume with a wide
    /// range). Raising it to 0.6 needs `E ≥ 1.22`, to 0.8 needs `E ≥ 2`.
    public var alertThreshold: Double = 0.5
    /// Evidence multiple of the alert line at which severity becomes critical. Default **2** (E ≥ 2, score ≥ 0.8).
    public var criticalMultiple: Double = 2.0
    /// Warm-up and priors for new series.
    public var warmUp: WarmUp = WarmUp()
    /// Smallest return scale (std, MAD, gap scale) used as a divisor. Default **1e-5** (one part in 100 000, below a
    /// tick for any listed price): a constant series gives z = 0, never NaN, and the first real move after it scores high.
    public var minimumReturnScale: Double = 1e-5
    /// Rolling-window z-score of returns.
    public var rollingZ: RollingZ = RollingZ()
    /// EWMA z-score of returns; its mean and variance also standardize returns for CUSUM.
    public var ewmaZ: EwmaZ = EwmaZ()
    /// Median/MAD z-score of returns.
    public var robustZ: RobustZ = RobustZ()
    /// Two-sided CUSUM on standardized returns.
    public var cusum: Cusum = Cusum()
    /// Volume surge on log volume.
    public var volumeSurge: VolumeSurge = VolumeSurge()
    /// Opening gap.
    public var gap: Gap = Gap()
    /// Volatility burst.
    public var volatilityBurst: VolatilityBurst = VolatilityBurst()
    /// How evidence from different detector families adds up.
    public var corroboration: Corroboration = Corroboration()

    /// The defaults documented on each field.
    public static let `default` = DetectorConfig()

    public init() {}

    /// Warm-up: how long a new series is silent, then cautious.
    public struct WarmUp: Sendable, Codable, Equatable {
        /// No detector may fire before the series has this many bars. Default **4**: the first bar has no return, and
        /// three returns shrunk towards the priors below are enough to recognise a move of 10+ σ. New listings and
        /// spin-offs make their biggest moves in their first days, so a long silent period would miss them.
        public var minimumBars: Int = 4
        /// Until this many bars, every threshold is multiplied by `earlyThresholdMultiplier`. Default **20** (a trading
        /// month of daily bars; also the default EWMA half-life).
        public var fullBars: Int = 20
        /// Threshold multiplier during the early phase. Default **2**: estimates from few bars are noisy, so only
        /// twice-as-strong evidence alerts.
        public var earlyThresholdMultiplier: Double = 2.0
        /// Prior return volatility per day (scaled by √(bar length / 1 day)). Default **0.02** (2 %/day, a typical
        /// single stock). Blended with the observed returns with weight `priorWeight` bars, so it fades within weeks.
        public var returnVolatilityPrior: Double = 0.02
        /// Prior standard deviation of log volume. Default **0.5** (daily equity volume varies by ±40-60 % bar to bar).
        public var logVolumeStdPrior: Double = 0.5
        /// Weight of the priors, in bars. Default **5**.
        public var priorWeight: Double = 5

        public init() {}

        enum CodingKeys: String, CodingKey {
            case minimumBars
            case fullBars
            case earlyThresholdMultiplier
            case returnVolatilityPrior
            case logVolumeStdPrior
            case priorWeight
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            let d = WarmUp()
            minimumBars = try c.decodeIfPresent(Int.self, forKey: .minimumBars) ?? d.minimumBars
            fullBars = try c.decodeIfPresent(Int.self, forKey: .fullBars) ?? d.fullBars
            earlyThresholdMultiplier = try c.decodeIfPresent(Double.self, forKey: .earlyThresholdMultiplier) ?? d.earlyThresholdMultiplier
            returnVolatilityPrior = try c.decodeIfPresent(Double.self, forKey: .returnVolatilityPrior) ?? d.returnVolatilityPrior
            logVolumeStdPrior = try c.decodeIfPresent(Double.self, forKey: .logVolumeStdPrior) ?? d.logVolumeStdPrior
            priorWeight = try c.decodeIfPresent(Double.self, forKey: .priorWeight) ?? d.priorWeight
        }
    }

    /// Rolling-window z-score: |r − mean| / std over the last `window` returns (the current one excluded).
    public struct RollingZ: Sendable, Codable, Equatable {
        /// Default **true**.
        public var enabled: Bool = true
        /// Window in bars, 5...32 (the window lives inline in the per-series state). Default **20** (a trading month).
        public var window: Int = 20
        /// |z| threshold. Default **6.5**: a 20-sample std is itself noisy (the z is Student-t with 19 df) and real
        /// returns are fat-tailed; the EWMA z covers ordinary shocks, this one the shocks a short calm window makes
        /// extreme.
        public var threshold: Double = 6.5
        /// Bars before this detector may fire (at least `window`). Default **20**.
        public var warmUp: Int = 20

        public init() {}

        enum CodingKeys: String, CodingKey {
            case enabled, window, threshold
            case warmUp
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            let d = RollingZ()
            enabled = try c.decodeIfPresent(Bool.self, forKey: .enabled) ?? d.enabled
            window = try c.decodeIfPresent(Int.self, forKey: .window) ?? d.window
            threshold = try c.decodeIfPresent(Double.self, forKey: .threshold) ?? d.threshold
            warmUp = try c.decodeIfPresent(Int.self, forKey: .warmUp) ?? d.warmUp
        }
    }

    /// EWMA z-score: |r − m| / s with m, s² the exponentially weighted mean and variance of past returns.
    public struct EwmaZ: Sendable, Codable, Equatable {
        /// Default **true**.
        public var enabled: Bool = true
        /// Half-life of the EWMA mean and variance, in bars. Default **60** (a quarter of daily bars): long enough that
        /// one turbulent week does not hide the next market-wide drop, short enough to follow volatility regimes
        /// (the rolling z is the short-memory view).
        public var halfLife: Double = 60
        /// |z| threshold. Default **4**: with the winsorized baseline, about one ordinary bar in 400 of a daily
        /// equity reaches it; market-wide sell-offs push many symbols past ¾ of it, where corroboration finishes the job.
        public var threshold: Double = 4.0
        /// Returns beyond this many σ are clipped before they update the mean and variance, so one crash does not
        /// blind the detector for weeks. Default **4**.
        public var winsorize: Double = 4.0
        /// Bars before this detector may fire (the priors make early values usable). Default **4**.
        public var warmUp: Int = 4

        public init() {}

        enum CodingKeys: String, CodingKey {
            case enabled, threshold, winsorize
            case halfLife
            case warmUp
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            let d = EwmaZ()
            enabled = try c.decodeIfPresent(Bool.self, forKey: .enabled) ?? d.enabled
            halfLife = try c.decodeIfPresent(Double.self, forKey: .halfLife) ?? d.halfLife
            threshold = try c.decodeIfPresent(Double.self, forKey: .threshold) ?? d.threshold
            winsorize = try c.decodeIfPresent(Double.self, forKey: .winsorize) ?? d.winsorize
            warmUp = try c.decodeIfPresent(Int.self, forKey: .warmUp) ?? d.warmUp
        }
    }

    /// Robust z-score: |r − median| / (1.4826 · MAD) over the last `window` returns (the current one excluded).
    public struct RobustZ: Sendable, Codable, Equatable {
        /// Default **true**.
        public var enabled: Bool = true
        /// Window in bars, 5...32. Default **21**: odd, so the median is one sample.
        public var window: Int = 21
        /// |z| threshold. Default **9**: the MAD of 21 samples is a coarse scale (calm windows make it tiny), and
        /// ordinary fat-tailed days reach robust z of 6-7.
        public var threshold: Double = 9.0
        /// Bars before this detector may fire (at least `window`). Default **21**.
        public var warmUp: Int = 21

        public init() {}

        enum CodingKeys: String, CodingKey {
            case enabled, window, threshold
            case warmUp
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            let d = RobustZ()
            enabled = try c.decodeIfPresent(Bool.self, forKey: .enabled) ?? d.enabled
            window = try c.decodeIfPresent(Int.self, forKey: .window) ?? d.window
            threshold = try c.decodeIfPresent(Double.self, forKey: .threshold) ?? d.threshold
            warmUp = try c.decodeIfPresent(Int.self, forKey: .warmUp) ?? d.warmUp
        }
    }

    /// Two-sided CUSUM on z = (r − m)/s (EWMA, clipped at ±`clip`): S⁺ ← max(0, S⁺ + z − k), S⁻ ← max(0, S⁻ − z − k);
    /// fires when a side reaches `h`, then that side resets to 0.
    public struct Cusum: Sendable, Codable, Equatable {
        /// Default **true**.
        public var enabled: Bool = true
        /// Allowance per bar in σ (half the drift to detect). Default **0.75**: ignores drifts under 1.5σ per bar, which
        /// ordinary momentum produces.
        public var k: Double = 0.75
        /// Decision interval in σ. Default **7**: a ramp of four 2.5σ bars in one direction fires; a random walk of
        /// fat-tailed returns fires about once in 500 bars per side.
        public var h: Double = 7.0
        /// Standardized returns are clipped to ±clip before accumulating, so a single spike (the z detectors' job)
        /// cannot fire the CUSUM alone. Default **4**.
        public var clip: Double = 4.0
        /// Bars before this detector may fire. Default **20**.
        public var warmUp: Int = 20

        public init() {}

        enum CodingKeys: String, CodingKey {
            case enabled, k, h, clip
            case warmUp
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            let d = Cusum()
            enabled = try c.decodeIfPresent(Bool.self, forKey: .enabled) ?? d.enabled
            k = try c.decodeIfPresent(Double.self, forKey: .k) ?? d.k
            h = try c.decodeIfPresent(Double.self, forKey: .h) ?? d.h
            clip = try c.decodeIfPresent(Double.self, forKey: .clip) ?? d.clip
            warmUp = try c.decodeIfPresent(Int.self, forKey: .warmUp) ?? d.warmUp
        }
    }

    /// Volume surge: z of log(1 + volume) against its EWMA mean and std, one-sided (only surges).
    public struct VolumeSurge: Sendable, Codable, Equatable {
        /// Default **true**.
        public var enabled: Bool = true
        /// Half-life of the log-volume baseline, in bars. Default **20**.
        public var halfLife: Double = 20
        /// z threshold. Default **4.5**.
        public var threshold: Double = 4.5
        /// The volume must also be at least this multiple of the baseline (geometric mean); keeps very steady series
        /// from alerting on a 30 % blip. Default **3**. Evidence is the smaller of z/threshold and ln(ratio)/ln(minRatio).
        public var minRatio: Double = 3.0
        /// Bars before this detector may fire. Default **4**.
        public var warmUp: Int = 4

        public init() {}

        enum CodingKeys: String, CodingKey {
            case enabled, threshold
            case halfLife
            case minRatio
            case warmUp
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            let d = VolumeSurge()
            enabled = try c.decodeIfPresent(Bool.self, forKey: .enabled) ?? d.enabled
            halfLife = try c.decodeIfPresent(Double.self, forKey: .halfLife) ?? d.halfLife
            threshold = try c.decodeIfPresent(Double.self, forKey: .threshold) ?? d.threshold
            minRatio = try c.decodeIfPresent(Double.self, forKey: .minRatio) ?? d.minRatio
            warmUp = try c.decodeIfPresent(Int.self, forKey: .warmUp) ?? d.warmUp
        }
    }

    /// Gap: |log(open / previous close)| against the EWMA RMS of past gaps (floored at a quarter of the return std).
    /// For intraday bars after a pause longer than two bars (overnight, halts) the scale grows with √(elapsed / bar).
    public struct Gap: Sendable, Codable, Equatable {
        /// Default **true**.
        public var enabled: Bool = true
        /// Half-life of the gap scale, in bars. Default **20**.
        public var halfLife: Double = 20
        /// |z| threshold. Default **5**: overnight gaps of single stocks are fat-tailed (earnings).
        public var threshold: Double = 5.0
        /// The gap must also be at least this large in absolute log terms. Default **0.03** (3 %).
        /// Evidence is the smaller of |z|/threshold and |gap|/minAbsGap.
        public var minAbsGap: Double = 0.03
        /// Bars before this detector may fire. Default **4**.
        public var warmUp: Int = 4

        public init() {}

        enum CodingKeys: String, CodingKey {
            case enabled, threshold
            case halfLife
            case minAbsGap
            case warmUp
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            let d = Gap()
            enabled = try c.decodeIfPresent(Bool.self, forKey: .enabled) ?? d.enabled
            halfLife = try c.decodeIfPresent(Double.self, forKey: .halfLife) ?? d.halfLife
            threshold = try c.decodeIfPresent(Double.self, forKey: .threshold) ?? d.threshold
            minAbsGap = try c.decodeIfPresent(Double.self, forKey: .minAbsGap) ?? d.minAbsGap
            warmUp = try c.decodeIfPresent(Int.self, forKey: .warmUp) ?? d.warmUp
        }
    }

    /// Volatility burst: √(fast EWMA / slow EWMA) of the per-bar variance proxy max(r², 0.361 · ln(high/low)²)
    /// (0.361 = 1/(4 ln 2), Parkinson's range estimator). The fast average includes the current bar, the slow one does not.
    public struct VolatilityBurst: Sendable, Codable, Equatable {
        /// Default **true**.
        public var enabled: Bool = true
        /// Half-life of the fast average, in bars. Default **3**.
        public var fastHalfLife: Double = 3
        /// Half-life of the slow baseline, in bars. Default **60** (a quarter of daily bars).
        public var slowHalfLife: Double = 60
        /// Volatility-ratio threshold. Default **3**.
        public var threshold: Double = 3.0
        /// Bars before this detector may fire. Default **20**.
        public var warmUp: Int = 20

        public init() {}

        enum CodingKeys: String, CodingKey {
            case enabled, threshold
            case fastHalfLife
            case slowHalfLife
            case warmUp
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            let d = VolatilityBurst()
            enabled = try c.decodeIfPresent(Bool.self, forKey: .enabled) ?? d.enabled
            fastHalfLife = try c.decodeIfPresent(Double.self, forKey: .fastHalfLife) ?? d.fastHalfLife
            slowHalfLife = try c.decodeIfPresent(Double.self, forKey: .slowHalfLife) ?? d.slowHalfLife
            threshold = try c.decodeIfPresent(Double.self, forKey: .threshold) ?? d.threshold
            warmUp = try c.decodeIfPresent(Int.self, forKey: .warmUp) ?? d.warmUp
        }
    }

    /// How several moderately anomalous families add up (see the type's doc comment for the formula).
    public struct Corroboration: Sendable, Codable, Equatable {
        /// Evidence a non-leading family must exceed before it adds anything. Default **0.35**: ordinary noise sits
        /// below it, so calm bars do not add up to an alert.
        public var floor: Double = 0.35
        /// Weight of the excess over `floor` of each non-leading family, 0...1 (≤ 1 keeps the score monotone).
        /// Default **1**: a market-wide sell-off (a 3σ drop that gapped down, on heavy volume and a wide range) alerts
        /// although no single detector reaches its threshold.
        public var weight: Double = 1.0

        public init() {}

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            let d = Corroboration()
            floor = try c.decodeIfPresent(Double.self, forKey: .floor) ?? d.floor
            weight = try c.decodeIfPresent(Double.self, forKey: .weight) ?? d.weight
        }
    }

    enum CodingKeys: String, CodingKey {
        case alertThreshold
        case criticalMultiple
        case warmUp
        case minimumReturnScale
        case rollingZ
        case ewmaZ
        case robustZ
        case cusum
        case volumeSurge
        case gap
        case volatilityBurst
        case corroboration
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = DetectorConfig()
        alertThreshold = try c.decodeIfPresent(Double.self, forKey: .alertThreshold) ?? d.alertThreshold
        criticalMultiple = try c.decodeIfPresent(Double.self, forKey: .criticalMultiple) ?? d.criticalMultiple
        warmUp = try c.decodeIfPresent(WarmUp.self, forKey: .warmUp) ?? d.warmUp
        minimumReturnScale = try c.decodeIfPresent(Double.self, forKey: .minimumReturnScale) ?? d.minimumReturnScale
        rollingZ = try c.decodeIfPresent(RollingZ.self, forKey: .rollingZ) ?? d.rollingZ
        ewmaZ = try c.decodeIfPresent(EwmaZ.self, forKey: .ewmaZ) ?? d.ewmaZ
        robustZ = try c.decodeIfPresent(RobustZ.self, forKey: .robustZ) ?? d.robustZ
        cusum = try c.decodeIfPresent(Cusum.self, forKey: .cusum) ?? d.cusum
        volumeSurge = try c.decodeIfPresent(VolumeSurge.self, forKey: .volumeSurge) ?? d.volumeSurge
        gap = try c.decodeIfPresent(Gap.self, forKey: .gap) ?? d.gap
        volatilityBurst = try c.decodeIfPresent(VolatilityBurst.self, forKey: .volatilityBurst) ?? d.volatilityBurst
        corroboration = try c.decodeIfPresent(Corroboration.self, forKey: .corroboration) ?? d.corroboration
    }

    /// The enabled detectors.
    public var enabledDetectors: DetectorSet {
        var set = DetectorSet()
        if rollingZ.enabled { set.insert(.rollingZ) }
        if ewmaZ.enabled { set.insert(.ewmaZ) }
        if robustZ.enabled { set.insert(.robustZ) }
        if cusum.enabled { set.insert(.cusum) }
        if volumeSurge.enabled { set.insert(.volumeSurge) }
        if gap.enabled { set.insert(.gap) }
        if volatilityBurst.enabled { set.insert(.volatilityBurst) }
        return set
    }

    /// Enables exactly the detectors in `set` (other settings unchanged).
    public mutating func enable(only set: DetectorSet) {
        rollingZ.enabled = set.contains(.rollingZ)
        ewmaZ.enabled = set.contains(.ewmaZ)
        robustZ.enabled = set.contains(.robustZ)
        cusum.enabled = set.contains(.cusum)
        volumeSurge.enabled = set.contains(.volumeSurge)
        gap.enabled = set.contains(.gap)
        volatilityBurst.enabled = set.contains(.volatilityBurst)
    }

    /// Upper bound of `rolling_z.window` and `robust_z.window`: the return history kept inline per series.
    public static let maxWindow = 32

    /// Every problem with this config, one message per field (empty when valid), e.g.
    /// `"rolling_z.window must be between 5 and 32, got 2"`. A config with problems must not be applied; the agent keeps
    /// the previous one and reports these messages.
    public func validate() -> [String] {
        var problems: [String] = []
        func check(_ name: String, _ value: Double, _ low: Double, _ high: Double) {
            // Written so that NaN fails too.
            if !(value >= low && value <= high) { problems.append("\(name) must be between \(low) and \(high), got \(value)") }
        }
        func check(_ name: String, _ value: Int, _ low: Int, _ high: Int) {
            if !(value >= low && value <= high) { problems.append("\(name) must be between \(low) and \(high), got \(value)") }
        }
        check("alert_threshold", alertThreshold, 0.01, 0.99)
        check("critical_multiple", criticalMultiple, 1, 100)
        check("minimum_return_scale", minimumReturnScale, 1e-12, 0.01)
        check("warm_up.minimum_bars", warmUp.minimumBars, 2, 100_000)
        check("warm_up.full_bars", warmUp.fullBars, 0, 1_000_000)
        check("warm_up.early_threshold_multiplier", warmUp.earlyThresholdMultiplier, 1, 20)
        check("warm_up.return_volatility_prior", warmUp.returnVolatilityPrior, 1e-6, 5)
        check("warm_up.log_volume_std_prior", warmUp.logVolumeStdPrior, 1e-3, 10)
        check("warm_up.prior_weight", warmUp.priorWeight, 0, 10_000)
        check("rolling_z.window", rollingZ.window, 5, Self.maxWindow)
        check("rolling_z.threshold", rollingZ.threshold, 0.5, 1_000)
        check("rolling_z.warm_up", rollingZ.warmUp, 0, 1_000_000)
        check("ewma_z.half_life", ewmaZ.halfLife, 1, 100_000)
        check("ewma_z.threshold", ewmaZ.threshold, 0.5, 1_000)
        check("ewma_z.winsorize", ewmaZ.winsorize, 1, 1_000)
        check("ewma_z.warm_up", ewmaZ.warmUp, 0, 1_000_000)
        check("robust_z.window", robustZ.window, 5, Self.maxWindow)
        check("robust_z.threshold", robustZ.threshold, 0.5, 1_000)
        check("robust_z.warm_up", robustZ.warmUp, 0, 1_000_000)
        check("cusum.k", cusum.k, 0, 10)
        check("cusum.h", cusum.h, 0.1, 1_000)
        check("cusum.clip", cusum.clip, 0.5, 1_000)
        check("cusum.warm_up", cusum.warmUp, 0, 1_000_000)
        check("volume_surge.half_life", volumeSurge.halfLife, 1, 100_000)
        check("volume_surge.threshold", volumeSurge.threshold, 0.5, 1_000)
        check("volume_surge.min_ratio", volumeSurge.minRatio, 1.01, 1_000_000)
        check("volume_surge.warm_up", volumeSurge.warmUp, 0, 1_000_000)
        check("gap.half_life", gap.halfLife, 1, 100_000)
        check("gap.threshold", gap.threshold, 0.5, 1_000)
        check("gap.min_abs_gap", gap.minAbsGap, 1e-9, 10)
        check("gap.warm_up", gap.warmUp, 0, 1_000_000)
        check("volatility_burst.fast_half_life", volatilityBurst.fastHalfLife, 0.5, 10_000)
        check("volatility_burst.slow_half_life", volatilityBurst.slowHalfLife, 1, 100_000)
        if volatilityBurst.fastHalfLife.isFinite, volatilityBurst.slowHalfLife.isFinite,
            volatilityBurst.fastHalfLife >= volatilityBurst.slowHalfLife
        {
            problems.append(
                "volatility_burst.fast_half_life must be below volatility_burst.slow_half_life, got "
                    + "\(volatilityBurst.fastHalfLife) >= \(volatilityBurst.slowHalfLife)"
            )
        }
        check("volatility_burst.threshold", volatilityBurst.threshold, 1.01, 1_000)
        check("volatility_burst.warm_up", volatilityBurst.warmUp, 0, 1_000_000)
        check("corroboration.floor", corroboration.floor, 0, 1)
        check("corroboration.weight", corroboration.weight, 0, 1)
        return problems
    }
}
