/// Everything `SeriesDetector` needs from a `DetectorConfig`, precomputed (inverse thresholds, EWMA factors) and packed
/// small, because a copy lives in every series' state.
@usableFromInline
struct KernelParameters: Sendable {
    @usableFromInline var invRollingThreshold: Float
    @usableFromInline var invEwmaThreshold: Float
    @usableFromInline var invRobustThreshold: Float
    @usableFromInline var invCusumH: Float
    @usableFromInline var invVolumeThreshold: Float
    @usableFromInline var invLogMinVolumeRatio: Float
    @usableFromInline var invGapThreshold: Float
    @usableFromInline var invMinAbsGap: Float
    @usableFromInline var invBurstExcess: Float
    @usableFromInline var invEarlyMultiplier: Float
    @usableFromInline var returnAlpha: Float
    @usableFromInline var volumeAlpha: Float
    @usableFromInline var gapAlpha: Float
    @usableFromInline var fastAlpha: Float
    @usableFromInline var slowAlpha: Float
    @usableFromInline var winsorize: Float
    @usableFromInline var cusumK: Float
    @usableFromInline var cusumClip: Float
    @usableFromInline var scaleFloor: Float
    @usableFromInline var returnVolatilityPrior: Float
    @usableFromInline var logVolumeVariancePrior: Float
    @usableFromInline var priorWeight: Float
    @usableFromInline var corroborationFloor: Float
    @usableFromInline var corroborationWeight: Float
    @usableFromInline var alertThreshold: Float
    @usableFromInline var criticalEvidence: Float
    @usableFromInline var criticalMultiple: Float
    @usableFromInline var fullBars: Int32
    /// First bar index (0-based) at which each detector may fire, by `DetectorKind.bitIndex`.
    @usableFromInline var activeFrom: (UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16)
    @usableFromInline var enabled: DetectorSet
    /// Bar index from which every enabled detector is active (the max of `activeFrom` over enabled detectors).
    @usableFromInline var allActiveFrom: UInt16

    @usableFromInline
    init(_ c: DetectorConfig) {
        func inv(_ x: Double) -> Float { x > 0 && x.isFinite ? Float(1 / x) : 0 }
        invRollingThreshold = inv(c.rollingZ.threshold)
        invEwmaThreshold = inv(c.ewmaZ.threshold)
        invRobustThreshold = inv(c.robustZ.threshold)
        invCusumH = inv(c.cusum.h)
        invVolumeThreshold = inv(c.volumeSurge.threshold)
        invLogMinVolumeRatio = c.volumeSurge.minRatio > 1 ? inv(vLog(c.volumeSurge.minRatio)) : 1e6
        invGapThreshold = inv(c.gap.threshold)
        invMinAbsGap = inv(c.gap.minAbsGap)
        invBurstExcess = c.volatilityBurst.threshold > 1 ? inv(c.volatilityBurst.threshold - 1) : 1e6
        invEarlyMultiplier = inv(max(c.warmUp.earlyThresholdMultiplier, 1))
        returnAlpha = Float(ewmaAlpha(halfLife: c.ewmaZ.halfLife))
        volumeAlpha = Float(ewmaAlpha(halfLife: c.volumeSurge.halfLife))
        gapAlpha = Float(ewmaAlpha(halfLife: c.gap.halfLife))
        fastAlpha = Float(ewmaAlpha(halfLife: c.volatilityBurst.fastHalfLife))
        slowAlpha = Float(ewmaAlpha(halfLife: c.volatilityBurst.slowHalfLife))
        winsorize = Float(max(c.ewmaZ.winsorize, 1))
        cusumK = Float(c.cusum.k)
        cusumClip = Float(c.cusum.clip)
        scaleFloor = Float(max(c.minimumReturnScale, 1e-12))
        returnVolatilityPrior = Float(c.warmUp.returnVolatilityPrior)
        logVolumeVariancePrior = Float(c.warmUp.logVolumeStdPrior * c.warmUp.logVolumeStdPrior)
        priorWeight = Float(max(c.warmUp.priorWeight, 0))
        corroborationFloor = Float(c.corroboration.floor)
        corroborationWeight = Float(min(max(c.corroboration.weight, 0), 1))
        alertThreshold = Float(c.alertThreshold)
        criticalMultiple = Float(max(c.criticalMultiple, 1))
        criticalEvidence = Float(scoreToEvidence(c.alertThreshold) * max(c.criticalMultiple, 1))
        fullBars = Int32(clamping: c.warmUp.fullBars)
        let minimum = max(c.warmUp.minimumBars, 1)
        // A window detector needs `window` past returns, i.e. window + 1 bars before the scored one.
        func from(_ warm: Int, window: Int = 0) -> UInt16 { UInt16(clamping: max(minimum, warm, window + 1)) }
        activeFrom = (
            from(c.rollingZ.warmUp, window: c.rollingZ.window), from(c.ewmaZ.warmUp),
            from(c.robustZ.warmUp, window: c.robustZ.window), from(c.cusum.warmUp), from(c.volumeSurge.warmUp),
            from(c.gap.warmUp), from(c.volatilityBurst.warmUp)
        )
        enabled = c.enabledDetectors
        allActiveFrom = 0
        for kind in DetectorKind.allCases where enabled.contains(kind) {
            allActiveFrom = max(allActiveFrom, activeFrom(kind))
        }
    }

    @usableFromInline
    func activeFrom(_ kind: DetectorKind) -> UInt16 {
        switch kind {
        case .rollingZ: return activeFrom.0
        case .ewmaZ: return activeFrom.1
        case .robustZ: return activeFrom.2
        case .cusum: return activeFrom.3
        case .volumeSurge: return activeFrom.4
        case .gap: return activeFrom.5
        case .volatilityBurst: return activeFrom.6
        }
    }

    /// Detectors active at bar index `n` (warm-up phase only; afterwards it is `enabled`).
    @usableFromInline
    func activeSet(at n: Int) -> DetectorSet {
        var set = DetectorSet()
        for kind in DetectorKind.allCases where enabled.contains(kind) && n >= Int(activeFrom(kind)) {
            set.insert(DetectorSet(kind))
        }
        return set
    }
}

/// Tier-1 detection state of one series (one symbol at one bar interval): streaming features and all seven detectors.
///
/// `update` is O(1) (the robust window costs O(w), w ≤ 32) and never allocates; the state is a fixed-size value with no
/// heap storage (`MemoryLayout<SeriesDetector>.size` ≤ 512), so an agent holds thousands of series in a flat array.
///
/// Every statistic compares the bar with the state *before* it (prediction error), so a bigger shock always scores at
/// least as high, and one outlier cannot hide itself. Baselines are updated with winsorized values.
public struct SeriesDetector: Sendable {
    @usableFromInline var history: ReturnHistory
    @usableFromInline var params: KernelParameters
    @usableFromInline var previousClose: Double = 0
    @usableFromInline var lastTimestamp: Int64 = 0
    @usableFromInline var returnMean: Double = 0
    @usableFromInline var returnVariance: Double = 0
    @usableFromInline var volumeMean: Double = 0
    @usableFromInline var volumeVariance: Double = 0
    @usableFromInline var gapVariance: Double = 0
    @usableFromInline var fastVariance: Double = 0
    @usableFromInline var slowVariance: Double = 0
    @usableFromInline var cusumPositive: Float = 0
    @usableFromInline var cusumNegative: Float = 0
    @usableFromInline var seen: Int = 0

    /// Valid bars processed so far (rejected bars are not counted).
    public var barsSeen: Int { seen }

    public init(config: DetectorConfig) {
        history = ReturnHistory(rollingWindow: config.rollingZ.window, robustWindow: config.robustZ.window)
        params = KernelParameters(config)
    }

    /// Applies a new config (SIGHUP reload) and keeps everything learned: baselines, windows, CUSUM sums, bar count.
    /// Window lengths may change (both stay within the 32 returns kept); the windows are rebuilt from stored returns.
    public mutating func reconfigure(_ config: DetectorConfig) {
        params = KernelParameters(config)
        history.resize(rollingWindow: config.rollingZ.window, robustWindow: config.robustZ.window)
    }

    /// Scores one bar and folds it into the state. Bars must come in time order; a bar with a non-finite or
    /// non-positive close is rejected (`isValid == false`) without touching the state. Missing or inconsistent
    /// open/high/low/volume are repaired conservatively (gap 0, range from open/close, baseline volume).
    ///
    /// Allocation-free and O(1). `@inline(__always)` so a caller that reads only part of the `BarScore` (the score, the
    /// alert flag) does not pay for storing the rest.
    @inlinable @inline(__always)
    public mutating func update(_ bar: Bar) -> BarScore {
        let close = bar.close
        guard close.isFinite, close > 0 else { return .rejected }
        let n = seen
        if n == 0 { return first(bar) }
        let p = params
        let previous = previousClose
        let openValid = bar.open.isFinite && bar.open > 0
        let open = openValid ? bar.open : close
        let high = max(bar.high.isFinite ? bar.high : close, open, close)
        let low = min(bar.low.isFinite && bar.low > 0 ? bar.low : close, open, close)
        let range = high > low ? fastLogRatio(high, low) : 0
        let volume = bar.volume
        let logVolume = volume.isFinite && volume >= 0 ? fastLogAtLeastOne(volume + 1) : volumeMean
        let r = fastLogRatio(close, previous)
        let g = openValid ? fastLogRatio(open, previous) : 0

        // Intraday bars after a pause (overnight, halt): compare per-bar-equivalent moves. Daily and longer bars are
        // not scaled: weekends and holidays are not trading time.
        var timeScale = 1.0
        var invTimeScale = 1.0
        if bar.intervalSeconds > 0 && bar.intervalSeconds < 86_400 {
            let ratio = Double(bar.timestamp &- lastTimestamp) / (Double(bar.intervalSeconds) * 1_000)
            if ratio > 2 {
                timeScale = min(ratio, 10_000).squareRoot()
                invTimeScale = 1 / timeScale
            }
        }
        let rn = r * invTimeScale
        let gn = g * invTimeScale
        let floor = Double(p.scaleFloor)
        let active = n >= Int(p.allActiveFrom) ? p.enabled : p.activeSet(at: n)
        let early = n < Int(p.fullBars) ? Double(p.invEarlyMultiplier) : 1.0
        let corroborationFloor = Double(p.corroborationFloor)
        let winsor = Double(p.winsorize)

        // EWMA z against the state before this bar.
        let returnStd = max(returnVariance.squareRoot(), floor)
        let zEwma = (rn - returnMean) / returnStd

        // Rolling z.
        var zRolling = 0.0
        var rollingMean = 0.0
        var rollingStd = 0.0
        if let m = history.rollingMoments {
            rollingMean = m.mean
            rollingStd = m.std
            zRolling = (rn - m.mean) / max(m.std, floor)
        }

        // Robust z (median / MAD); the sorted window is maintained only while the detector is enabled.
        var zRobust = 0.0
        var median = 0.0
        var mad = 0.0
        let robustEnabled = p.enabled.contains(DetectorSet.robustZ)
        if robustEnabled, let m = history.median {
            median = m
            // The exact MAD costs a walk over half the window; skip it when even the MAD's lower bound shows the robust
            // evidence stays under the corroboration floor, where it cannot change whether the bar alerts.
            let deviation = abs(rn - m)
            mad = history.madLowerBound(median: m)
            if deviation * Double(p.invRobustThreshold) * early >= corroborationFloor * max(1.482_6 * mad, floor) {
                mad = history.mad(median: m)
                zRobust = (rn - m) / max(1.482_6 * mad, floor)
            }
        }

        // CUSUM on the clipped EWMA z; accumulates only once active, so warm-up noise does not carry over.
        let clip = Double(p.cusumClip)
        let zClipped = min(max(zEwma, -clip), clip)
        var cusumStatistic = 0.0
        var up = Double(cusumPositive)
        var down = Double(cusumNegative)
        if active.contains(DetectorSet.cusum) {
            (up, down, cusumStatistic) = Self.cusumStep(up: up, down: down, z: zClipped, k: Double(p.cusumK))
        }

        // Volume surge (one-sided).
        let volumeStd = max(volumeVariance.squareRoot(), 0.01)
        let volumeExcess = logVolume - volumeMean
        let zVolume = volumeExcess / volumeStd

        // Gap.
        let gapScale = max(gapVariance.squareRoot(), 0.25 * returnStd, floor)
        let zGap = gn / gapScale

        // Volatility burst: the fast average includes this bar, the slow baseline does not.
        let proxy = max(rn * rn, 0.360_674 * range * range)
        let fastNew = fastVariance + Double(p.fastAlpha) * (proxy - fastVariance)
        let slowFloor = floor * floor
        let slowBase = max(slowVariance, slowFloor)
        let volRatio = (fastNew / slowBase).squareRoot()

        // Evidence per detector (0 while warming up or disabled).
        let eRolling = active.contains(DetectorSet.rollingZ) ? abs(zRolling) * Double(p.invRollingThreshold) * early : 0
        let eEwma = active.contains(DetectorSet.ewmaZ) ? abs(zEwma) * Double(p.invEwmaThreshold) * early : 0
        let eRobust = active.contains(DetectorSet.robustZ) ? abs(zRobust) * Double(p.invRobustThreshold) * early : 0
        let eCusum = active.contains(DetectorSet.cusum) ? abs(cusumStatistic) * Double(p.invCusumH) * early : 0
        let eVolume =
            active.contains(DetectorSet.volumeSurge)
            ? max(0, min(zVolume * Double(p.invVolumeThreshold), volumeExcess * Double(p.invLogMinVolumeRatio))) * early : 0
        let eGap = active.contains(DetectorSet.gap) ? min(abs(zGap) * Double(p.invGapThreshold), abs(g) * Double(p.invMinAbsGap)) * early : 0
        let eBurst = active.contains(DetectorSet.volatilityBurst) ? max(0, volRatio - 1) * Double(p.invBurstExcess) * early : 0

        // Combine: the leading family plus the corroborating excess of the others.
        let familyReturn = max(eRolling, eEwma, eRobust)
        let top = max(familyReturn, eCusum, eVolume, eGap, eBurst)
        let c = corroborationFloor
        let excess =
            max(0, familyReturn - c) + max(0, eCusum - c) + max(0, eVolume - c) + max(0, eGap - c) + max(0, eBurst - c)
        let evidence = top + Double(p.corroborationWeight) * (excess - max(0, top - c))
        let anomalyScore = evidenceToScore(evidence)
        let isAlert = anomalyScore >= Double(p.alertThreshold)

        var fired = DetectorSet()
        var severity = Severity.info
        if isAlert {
            severity = evidence >= Double(p.criticalEvidence) ? .critical : .warning
            fired = Self.firedSet(
                evidence: (eRolling, eEwma, eRobust, eCusum, eVolume, eGap, eBurst), floor: c, leadingIsReturn: top == familyReturn
            )
        }
        let score = BarScore(
            anomalyScore: anomalyScore,
            evidence: evidence,
            fired: fired,
            severity: severity,
            isAlert: isAlert,
            isValid: true,
            statistics: DetectorValues(storage: [zRolling, zEwma, zRobust, cusumStatistic, zVolume, zGap, volRatio]),
            detectorEvidence: DetectorValues(storage: [eRolling, eEwma, eRobust, eCusum, eVolume, eGap, eBurst]),
            features: FeatureSnapshot(
                logReturn: r, gap: g, range: range, logVolume: logVolume, returnMean: returnMean, returnStd: returnStd,
                rollingMean: rollingMean, rollingStd: rollingStd, median: median, mad: mad, cusumPositive: up,
                cusumNegative: down, volumeMean: volumeMean, volumeStd: volumeStd, gapScale: gapScale,
                realizedVol: fastNew.squareRoot(), baselineVol: slowBase.squareRoot(), timeScale: timeScale
            ),
            criticalMultiple: Double(p.criticalMultiple)
        )

        // Fold the bar into the state. Early on, the factor 1/(prior weight + bars) makes each baseline the plain
        // average of the prior and the bars so far; later the EWMA factor takes over. Inputs are winsorized.
        if eCusum >= 1 {
            // The side that fired starts over.
            if cusumStatistic >= 0 { up = 0 } else { down = 0 }
        }
        cusumPositive = Float(up)
        cusumNegative = Float(down)

        let shrink = 1 / (Double(p.priorWeight) + Double(n) + 1)
        let aReturn = max(Double(p.returnAlpha), shrink)
        let returnBand = winsor * returnStd
        let dr = min(max(rn - returnMean, -returnBand), returnBand)
        returnMean += aReturn * dr
        returnVariance = (1 - aReturn) * (returnVariance + aReturn * dr * dr)

        let aVolume = max(Double(p.volumeAlpha), shrink)
        let volumeBand = winsor * volumeStd
        let dv = min(max(volumeExcess, -volumeBand), volumeBand)
        volumeMean += aVolume * dv
        volumeVariance = (1 - aVolume) * (volumeVariance + aVolume * dv * dv)

        let aGap = max(Double(p.gapAlpha), shrink)
        let gapCap = winsor * gapScale
        gapVariance += aGap * (min(gn * gn, gapCap * gapCap) - gapVariance)

        fastVariance = fastNew
        let aSlow = max(Double(p.slowAlpha), shrink)
        slowVariance += aSlow * (min(proxy, winsor * winsor * slowBase) - slowVariance)

        history.push(Float(rn), maintainSorted: robustEnabled)
        previousClose = close
        lastTimestamp = bar.timestamp
        seen = n + 1
        return score
    }

    /// One step of the two-sided CUSUM: S⁺ ← max(0, S⁺ + z − k), S⁻ ← max(0, S⁻ − z − k). The statistic is the side the
    /// bar moved towards, signed (+S⁺ for z ≥ 0, −S⁻ otherwise): only that side can have grown, so only it can cross h,
    /// and its magnitude is non-decreasing in the size of the move. The caller resets the side that crossed h.
    @inlinable @inline(__always)
    static func cusumStep(up: Double, down: Double, z: Double, k: Double) -> (up: Double, down: Double, statistic: Double) {
        let newUp = max(0, up + z - k)
        let newDown = max(0, down - z - k)
        return (newUp, newDown, z >= 0 ? newUp : -newDown)
    }

    /// The detectors to report on an alert bar: those at or over their own threshold, else (a corroboration alert) those
    /// over the corroboration floor, else the leading one.
    @usableFromInline
    static func firedSet(
        evidence e: (Double, Double, Double, Double, Double, Double, Double), floor: Double, leadingIsReturn: Bool
    ) -> DetectorSet {
        // Inline storage: alert bars do not allocate either.
        let values: InlineArray<7, Double> = [e.0, e.1, e.2, e.3, e.4, e.5, e.6]
        var fired = DetectorSet()
        for i in 0..<7 where values[i] >= 1 { fired.rawValue |= 1 << UInt8(i) }
        if fired.isEmpty {
            for i in 0..<7 where values[i] > floor { fired.rawValue |= 1 << UInt8(i) }
        }
        if fired.isEmpty { fired.insert(leadingIsReturn ? .ewmaZ : .volatilityBurst) }
        return fired
    }

    /// The first bar of a series: it only seeds the baselines (there is no return yet).
    @usableFromInline
    mutating func first(_ bar: Bar) -> BarScore {
        let p = params
        let close = bar.close
        let volumeValid = bar.volume.isFinite && bar.volume >= 0
        let logVolume = volumeValid ? vLog1p(bar.volume) : 0
        let open = bar.open.isFinite && bar.open > 0 ? bar.open : close
        let high = max(bar.high.isFinite ? bar.high : close, open, close)
        let low = min(bar.low.isFinite && bar.low > 0 ? bar.low : close, open, close)
        let volPriorPerBar =
            Double(p.returnVolatilityPrior) * (Double(max(bar.intervalSeconds, 1)) * (1.0 / 86_400)).squareRoot()
        let priorVariance = max(volPriorPerBar * volPriorPerBar, Double(p.scaleFloor) * Double(p.scaleFloor))
        previousClose = close
        lastTimestamp = bar.timestamp
        returnMean = 0
        returnVariance = priorVariance
        fastVariance = priorVariance
        slowVariance = priorVariance
        gapVariance = 0.36 * priorVariance
        volumeMean = logVolume
        volumeVariance = Double(p.logVolumeVariancePrior)
        seen = 1
        var score = BarScore()
        score.criticalMultiple = Double(p.criticalMultiple)
        score.features.range = vLog(high / low)
        score.features.logVolume = logVolume
        score.features.returnStd = priorVariance.squareRoot()
        score.features.volumeMean = volumeMean
        score.features.volumeStd = volumeVariance.squareRoot()
        score.features.realizedVol = priorVariance.squareRoot()
        score.features.baselineVol = priorVariance.squareRoot()
        return score
    }
}
