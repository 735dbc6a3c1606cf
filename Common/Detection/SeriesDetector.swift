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
    ///
    /// Written for throughput (see BENCHMARKS.md, "Tier-1 kernel"). Profiled with callgrind, the kernel is bound by its
    /// instruction count (~900 per bar with every detector on, at ~3.5 per cycle), with divisions and square roots next:
    /// so the four logarithms, the four z-score divisions and the four scale square roots are grouped into 4-lane vector
    /// operations, the remaining divisions are paired, no libm call is made on ordinary bars, validity tests are plain
    /// comparisons, and `min`/`max` are the compare-and-select helpers that map to single `minsd`/`maxsd` instructions.
    @inlinable @inline(__always)
    public mutating func update(_ bar: Bar) -> BarScore {
        // Validity tests as plain comparisons (`x > 0 && x < ∞` is false for NaN): two instructions each, where
        // `isFinite` costs a handful of integer operations on the bit pattern.
        let close = bar.close
        guard close > 0 && close < .infinity else { return .rejected }
        let n = seen
        if n == 0 { return first(bar) }
        let previous = previousClose
        let openValid = bar.open > 0 && bar.open < .infinity
        let open = openValid ? bar.open : close
        let high = fastMax(fastMax(abs(bar.high) < .infinity ? bar.high : close, open), close)
        let low = fastMin(fastMin(bar.low > 0 && bar.low < .infinity ? bar.low : close, open), close)
        let volume = bar.volume
        let volumeValid = volume >= 0 && volume < .infinity

        // ln(high/low), ln(close/prev), ln(open/prev) and ln(1 + volume) in one vector pass (see `logKernel`).
        let logs = logKernel(high: high, low: low, close: close, open: open, previous: previous, volume: volumeValid ? volume : 0)
        let range = logs[0]
        let r = logs[1]
        let g = openValid ? logs[2] : 0
        let logVolume = volumeValid ? logs[3] : volumeMean

        // Intraday bars after a pause (overnight, halt): compare per-bar-equivalent moves. Daily and longer bars are
        // not scaled: weekends and holidays are not trading time. The pause test is an integer compare, so ordinary
        // bars pay no division.
        var timeScale = 1.0
        var invTimeScale = 1.0
        let interval = bar.intervalSeconds
        if interval > 0 && interval < 86_400 {
            let elapsed = bar.timestamp &- lastTimestamp
            if elapsed > Int64(interval) &* 2_000 {
                let ratio = Double(elapsed) / (Double(interval) * 1_000)
                timeScale = fastMin(ratio, 10_000).squareRoot()
                invTimeScale = 1 / timeScale
            }
        }
        let rn = r * invTimeScale
        let gn = g * invTimeScale
        let floor = Double(params.scaleFloor)
        let active = n >= Int(params.allActiveFrom) ? params.enabled : params.activeSet(at: n)
        let early = n < Int(params.fullBars) ? Double(params.invEarlyMultiplier) : 1.0
        let corroborationFloor = Double(params.corroborationFloor)
        let winsor = Double(params.winsorize)

        // The four scales from the state before this bar: EWMA return std, rolling std, volume std, gap RMS.
        let rolling = history.rollingMeanVariance
        let rollingMean = rolling?.mean ?? 0
        let roots = SIMD4(returnVariance, rolling?.variance ?? 0, volumeVariance, gapVariance).squareRoot()
        let returnStd = fastMax(roots[0], floor)
        let rollingStd = rolling == nil ? 0 : roots[1]
        let volumeStd = fastMax(roots[2], 0.01)
        let gapScale = fastMax(fastMax(roots[3], 0.25 * returnStd), floor)
        let volumeExcess = logVolume - volumeMean

        // EWMA z, rolling z, volume z and gap z: one vector division.
        let z =
            SIMD4(rn - returnMean, rn - rollingMean, volumeExcess, gn) / SIMD4(returnStd, fastMax(rollingStd, floor), volumeStd, gapScale)
        let zEwma = z[0]
        let zRolling = rolling == nil ? 0 : z[1]
        let zVolume = z[2]
        let zGap = z[3]

        // Volatility burst: the fast average includes this bar, the slow baseline does not. Its division shares one
        // vector instruction with the warm-up shrink factor 1/(prior weight + bars) used by the state update below.
        let proxy = fastMax(rn * rn, 0.360_674 * range * range)
        let fastNew = fastVariance + Double(params.fastAlpha) * (proxy - fastVariance)
        let slowBase = fastMax(slowVariance, floor * floor)
        let vols = SIMD2(fastNew, slowBase).squareRoot()
        let quotients = SIMD2(vols[0], 1) / SIMD2(vols[1], Double(params.priorWeight) + Double(n) + 1)
        let volRatio = quotients[0]
        let shrink = quotients[1]

        // Robust z (median / MAD); the sorted window is maintained only while the detector is enabled.
        var zRobust = 0.0
        var median = 0.0
        var mad = 0.0
        let robustEnabled = params.enabled.contains(DetectorSet.robustZ)
        if robustEnabled, let m = history.medianInPlace() {
            median = m
            // The exact MAD costs a walk over half the window; skip it when even the MAD's lower bound shows the robust
            // evidence stays under the corroboration floor, where it cannot change whether the bar alerts.
            let deviation = abs(rn - m)
            mad = history.madLowerBoundInPlace(median: m)
            if deviation * Double(params.invRobustThreshold) * early >= corroborationFloor * fastMax(1.482_6 * mad, floor) {
                mad = history.madInPlace(median: m)
                zRobust = (rn - m) / fastMax(1.482_6 * mad, floor)
            }
        }

        // CUSUM on the clipped EWMA z; accumulates only once active, so warm-up noise does not carry over.
        let clip = Double(params.cusumClip)
        let zClipped = fastMin(fastMax(zEwma, -clip), clip)
        var cusumStatistic = 0.0
        var up = Double(cusumPositive)
        var down = Double(cusumNegative)
        let cusumActive = active.contains(DetectorSet.cusum)
        if cusumActive {
            (up, down, cusumStatistic) = Self.cusumStep(up: up, down: down, z: zClipped, k: Double(params.cusumK))
        }

        // Evidence per detector (0 while warming up or disabled).
        let eRolling = active.contains(DetectorSet.rollingZ) ? abs(zRolling) * Double(params.invRollingThreshold) * early : 0
        let eEwma = active.contains(DetectorSet.ewmaZ) ? abs(zEwma) * Double(params.invEwmaThreshold) * early : 0
        let eRobust = active.contains(DetectorSet.robustZ) ? abs(zRobust) * Double(params.invRobustThreshold) * early : 0
        let eCusum = cusumActive ? abs(cusumStatistic) * Double(params.invCusumH) * early : 0
        let volumeEvidence = fastMin(zVolume * Double(params.invVolumeThreshold), volumeExcess * Double(params.invLogMinVolumeRatio))
        let eVolume = active.contains(DetectorSet.volumeSurge) ? fastMax(0, volumeEvidence) * early : 0
        let gapEvidence = fastMin(abs(zGap) * Double(params.invGapThreshold), abs(g) * Double(params.invMinAbsGap))
        let eGap = active.contains(DetectorSet.gap) ? gapEvidence * early : 0
        let eBurst = active.contains(DetectorSet.volatilityBurst) ? fastMax(0, volRatio - 1) * Double(params.invBurstExcess) * early : 0

        // Combine: the leading family plus the corroborating excess of the others.
        let familyReturn = fastMax(fastMax(eRolling, eEwma), eRobust)
        let top = fastMax(fastMax(fastMax(familyReturn, eCusum), fastMax(eVolume, eGap)), eBurst)
        let c = corroborationFloor
        let excess =
            fastMax(0, familyReturn - c) + fastMax(0, eCusum - c) + fastMax(0, eVolume - c) + fastMax(0, eGap - c) + fastMax(0, eBurst - c)
        let evidence = top + Double(params.corroborationWeight) * (excess - fastMax(0, top - c))
        let anomalyScore = evidenceToScore(evidence)
        let isAlert = anomalyScore >= Double(params.alertThreshold)

        var fired = DetectorSet()
        var severity = Severity.info
        if isAlert {
            severity = evidence >= Double(params.criticalEvidence) ? .critical : .warning
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
                realizedVol: vols[0], baselineVol: vols[1], timeScale: timeScale
            ),
            criticalMultiple: Double(params.criticalMultiple)
        )

        // Fold the bar into the state. Early on, the factor 1/(prior weight + bars) makes each baseline the plain
        // average of the prior and the bars so far; later the EWMA factor takes over. Inputs are winsorized.
        // The side of the CUSUM that fired starts over.
        let cusumFired = eCusum >= 1
        cusumPositive = Float(cusumFired && cusumStatistic >= 0 ? 0 : up)
        cusumNegative = Float(cusumFired && cusumStatistic < 0 ? 0 : down)

        let aReturn = fastMax(Double(params.returnAlpha), shrink)
        let returnBand = winsor * returnStd
        let dr = fastMin(fastMax(rn - returnMean, -returnBand), returnBand)
        returnMean += aReturn * dr
        returnVariance = (1 - aReturn) * (returnVariance + aReturn * dr * dr)

        let aVolume = fastMax(Double(params.volumeAlpha), shrink)
        let volumeBand = winsor * volumeStd
        let dv = fastMin(fastMax(volumeExcess, -volumeBand), volumeBand)
        volumeMean += aVolume * dv
        volumeVariance = (1 - aVolume) * (volumeVariance + aVolume * dv * dv)

        let aGap = fastMax(Double(params.gapAlpha), shrink)
        let gapCap = winsor * gapScale
        gapVariance += aGap * (fastMin(gn * gn, gapCap * gapCap) - gapVariance)

        fastVariance = fastNew
        let aSlow = fastMax(Double(params.slowAlpha), shrink)
        slowVariance += aSlow * (fastMin(proxy, winsor * winsor * slowBase) - slowVariance)

        history.push(Float(rn), maintainSorted: robustEnabled)
        previousClose = close
        lastTimestamp = bar.timestamp
        seen = n + 1
        return score
    }

    /// ln(high/low), ln(close/previous), ln(open/previous) and ln(volume + 1), as lanes 0...3, for positive finite prices
    /// and a finite volume ≥ 0.
    ///
    /// Each is 2·atanh(u) with u = (a − b)/(a + b), summed as the odd series up to u¹³: for volume, a is the mantissa of
    /// volume + 1 brought into [√½, √2) (|u| ≤ 0.172, relative error < 1e-10) plus the exponent times ln 2; for prices, it
    /// is the plain ratio while |u| < 0.1 (a move under ~22 %, relative error < 1e-13), and libm's `log` otherwise. The
    /// four share one vector division and one polynomial, so a bar costs no libm call unless a price moved 22 %.
    @inlinable @inline(__always)
    func logKernel(high: Double, low: Double, close: Double, open: Double, previous: Double, volume: Double) -> SIMD4<Double> {
        let bits = (volume + 1).bitPattern
        let mantissa = Double(bitPattern: (bits & 0x000F_FFFF_FFFF_FFFF) | 0x3FF0_0000_0000_0000)
        let halve = mantissa > 1.414_213_562_373_095_1
        let m = halve ? mantissa * 0.5 : mantissa
        let exponent = Int((bits >> 52) & 0x7FF) - 1023 + (halve ? 1 : 0)
        let a = SIMD4(high, close, open, m)
        let b = SIMD4(low, previous, previous, 1)
        let u = (a - b) / (a + b)
        let u2 = u * u
        // 1 + u²/3 + u⁴/5 + … + u¹²/13 in Estrin's form: three short independent chains instead of one of 12 dependent
        // multiply-adds, which sat at the head of every other computation of the bar.
        let u4: SIMD4<Double> = u2 * u2
        let u8: SIMD4<Double> = u4 * u4
        let c01: SIMD4<Double> = u2 * (1.0 / 3) + 1
        let c23: SIMD4<Double> = u2 * (1.0 / 7) + 1.0 / 5
        let c45: SIMD4<Double> = u2 * (1.0 / 11) + 1.0 / 9
        let c03: SIMD4<Double> = c01 + u4 * c23
        let c46: SIMD4<Double> = c45 + u4 * (1.0 / 13)
        let series: SIMD4<Double> = c03 + u8 * c46
        var logs = 2 * u * series
        logs[3] += Double(exponent) * 0.693_147_180_559_945_3
        // Price lanes whose ratio is outside the series' accurate range (lane 3 never is): rare, so a branch.
        if any(u2 .>= SIMD4(0.01, 0.01, 0.01, .infinity)) {
            if u2[0] >= 0.01 { logs[0] = vLog(high / low) }
            if u2[1] >= 0.01 { logs[1] = vLog(close / previous) }
            if u2[2] >= 0.01 { logs[2] = vLog(open / previous) }
        }
        return logs
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
