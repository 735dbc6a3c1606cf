/// Kinds of anomaly the synthetic market injects (and labels).
public enum AnomalyKind: String, CaseIterable, Sendable, Codable, Hashable {
    /// One bar jumps 6-10σ and the next bar reverts it.
    case priceSpike = "price_spike"
    /// The open gaps 5-9σ away from the previous close and the price stays there.
    case gap = "gap"
    /// The price moves 6-9σ in one direction over 3-5 bars and stays (a ramp; no single bar is extreme).
    case levelShift = "level_shift"
    /// Volume 5-12× normal for 1-2 bars, price unremarkable.
    case volumeSurge = "volume_surge"
    /// Idiosyncratic volatility ×3-5 for 5-10 bars.
    case volatilityBurst = "volatility_burst"
    /// A drop of 8-14σ on heavy volume, recovered over the next 1-3 bars.
    case flashCrash = "flash_crash"
}

/// Ground truth for one injected anomaly: bars of `symbol` with `startTimestamp ≤ t ≤ endTimestamp` are affected.
public struct AnomalyLabel: Sendable, Equatable, Hashable, Codable {
    public var symbol: String
    public var kind: AnomalyKind
    /// First affected bar, ms since the Unix epoch.
    public var startTimestamp: Int64
    /// Last affected bar (inclusive), ms since the Unix epoch.
    public var endTimestamp: Int64

    public init(symbol: String, kind: AnomalyKind, startTimestamp: Int64, endTimestamp: Int64) {
        self.symbol = symbol
        self.kind = kind
        self.startTimestamp = startTimestamp
        self.endTimestamp = endTimestamp
    }

    /// Header of the labels CSV.
    public static let csvHeader = "symbol,kind,start_timestamp,end_timestamp"

    /// One CSV line (no newline); timestamps in ms. Symbols never contain commas (validated upstream).
    public var csvLine: String { "\(symbol),\(kind.rawValue),\(startTimestamp),\(endTimestamp)" }

    /// Parses a `csvLine`; nil for the header or a malformed line.
    public init?(csvLine: some StringProtocol) {
        let fields = csvLine.split(separator: ",", omittingEmptySubsequences: false)
        guard fields.count == 4, let kind = AnomalyKind(rawValue: String(fields[1])),
            let start = Int64(fields[2]), let end = Int64(fields[3])
        else { return nil }
        self.init(symbol: String(fields[0]), kind: kind, startTimestamp: start, endTimestamp: end)
    }
}

/// A seeded synthetic market: one bar per symbol per tick, with labelled injected anomalies.
///
/// The model, per bar (all parameters per day, scaled to the bar length by √(interval / 1 day)):
/// - a market factor and one idiosyncratic component per symbol, each GARCH(1,1) (α = 0.08, β = 0.90: volatility
///   clusters and decays with a half-life of ~35 bars) driven by unit-variance Student-t₄ shocks (fat tails);
/// - return = β·market + idiosyncratic, with β ∈ [0.6, 1.4] (the cross-section is correlated, ~30 % of variance
///   is common); a quarter of each bar's variance arrives as the opening gap;
/// - high/low extend beyond open/close by half-normal excursions of the bar's volatility;
/// - volume is log-normal: a per-symbol level, an AR(1) component (φ = 0.7), a common market component, and a term
///   rising with the size of the bar's move (so |return| and volume correlate, as in real markets).
/// Anomalies start on an idle symbol with probability `anomalyRate` per bar, with a kind drawn uniformly from `kinds`,
/// and are followed by a 20-bar cooldown so labels never overlap. Magnitudes are in units of the symbol's current σ.
///
/// Deterministic: the same arguments give the same bars and labels on every platform.
public struct SyntheticMarket: Sendable {
    /// Symbol names, "SYN001", "SYN002", ...
    public let symbols: [String]
    public let intervalSeconds: Int32
    /// Per symbol and bar, the chance an anomaly starts (on an idle symbol).
    public let anomalyRate: Double
    public let kinds: [AnomalyKind]
    /// Labels of the anomalies injected so far (appended when an anomaly starts, with its planned end).
    public private(set) var labels: [AnomalyLabel] = []
    /// Timestamp of the next tick, ms.
    public private(set) var nextTimestamp: Int64
    /// Ticks generated so far.
    public private(set) var ticks: Int = 0

    var rng: SeededGenerator
    var marketVariance: Double
    var marketVolumeFactor: Double = 0
    var states: [SymbolState]
    let barSigmaScale: Double

    struct SymbolState: Sendable {
        var close: Double
        var beta: Double
        /// Unconditional idiosyncratic variance per bar.
        var idioVariance: Double
        /// Current GARCH variance per bar.
        var variance: Double
        var logVolumeLevel: Double
        var volumeAR: Double = 0
        var anomaly: ActiveAnomaly?
        var cooldown: Int = 0
    }

    struct ActiveAnomaly: Sendable {
        var shape: AnomalyShape
        /// Bars of the anomaly still to come, including the current one.
        var remaining: Int
        var step: Int = 0
        /// σ per bar at the start (anomaly sizes are relative to it).
        var sigma: Double
    }

    static let garchAlpha = 0.08
    static let garchBeta = 0.90
    static let marketDailyVol = 0.009
    static let cooldownBars = 20

    /// - Parameters:
    ///   - seed: RNG seed; the same seed gives identical output.
    ///   - symbols: number of symbols (≥ 1).
    ///   - start: timestamp of the first tick, ms since the Unix epoch.
    ///   - intervalSeconds: bar length (86 400 daily, 60 one-minute, ...).
    ///   - anomalyRate: chance per idle symbol and bar that an anomaly starts. Default 0.002 (about one anomaly per
    ///     symbol every 2 years of daily bars).
    ///   - kinds: kinds to inject (empty = none). Default: all.
    public init(
        seed: UInt64,
        symbols: Int,
        start: Int64,
        intervalSeconds: Int32,
        anomalyRate: Double = 0.002,
        kinds: [AnomalyKind] = AnomalyKind.allCases
    ) {
        var rng = SeededGenerator(seed: seed)
        let count = max(symbols, 1)
        let digits = max(3, String(count).count)
        self.symbols = (1...count).map { i in
            let n = String(i)
            return "SYN" + String(repeating: "0", count: max(0, digits - n.count)) + n
        }
        self.intervalSeconds = max(intervalSeconds, 1)
        self.anomalyRate = min(max(anomalyRate, 0), 1)
        self.kinds = kinds
        self.nextTimestamp = start
        let scale = (Double(max(intervalSeconds, 1)) / 86_400).squareRoot()
        barSigmaScale = scale
        let marketSigma = Self.marketDailyVol * scale
        marketVariance = marketSigma * marketSigma
        var states: [SymbolState] = []
        states.reserveCapacity(count)
        for _ in 0..<count {
            let dailyVol = rng.uniform(0.010, 0.025)
            let sigma = dailyVol * scale
            let price = vExp(rng.uniform(vLog(8), vLog(600)))
            // Volume per bar: daily 0.5M-30M shares, spread over the bars of a day.
            let dailyVolume = vExp(rng.uniform(vLog(5e5), vLog(3e7)))
            let perBar = dailyVolume * min(1, Double(max(intervalSeconds, 1)) / 23_400)
            states.append(
                SymbolState(
                    close: price, beta: rng.uniform(0.6, 1.4), idioVariance: sigma * sigma,
                    variance: sigma * sigma * rng.uniform(0.6, 1.6), logVolumeLevel: vLog(max(perBar, 10))
                )
            )
        }
        self.states = states
        self.rng = rng
    }

    /// The next tick: one bar per symbol, in `symbols` order.
    public mutating func next() -> [Bar] {
        var bars: [Bar] = []
        next(into: &bars)
        return bars
    }

    /// The next tick into `bars` (cleared first, capacity reused, so steady-state generation does not allocate).
    public mutating func next(into bars: inout [Bar]) {
        bars.removeAll(keepingCapacity: true)
        bars.reserveCapacity(states.count)
        let timestamp = nextTimestamp
        // Market factor: GARCH(1,1) around its unconditional variance; gap and intraday parts.
        let marketSigma = Self.marketDailyVol * barSigmaScale
        let marketOmega = marketSigma * marketSigma * (1 - Self.garchAlpha - Self.garchBeta)
        let mVol = marketVariance.squareRoot()
        let marketGap = mVol * 0.5 * rng.nextFatTailed()
        let marketDay = mVol * 0.866_025_4 * rng.nextFatTailed()
        let marketReturn = marketGap + marketDay
        marketVariance = marketOmega + Self.garchAlpha * marketReturn * marketReturn + Self.garchBeta * marketVariance
        marketVolumeFactor = 0.6 * marketVolumeFactor + 0.15 * rng.nextNormal() + 0.1 * abs(marketReturn) / mVol
        let marketStd = abs(marketReturn) / mVol

        for i in states.indices {
            var s = states[i]
            if s.anomaly == nil {
                if s.cooldown > 0 {
                    s.cooldown -= 1
                } else if !kinds.isEmpty && anomalyRate > 0 && rng.nextUnit() < anomalyRate {
                    s.anomaly = startAnomaly(symbol: symbols[i], state: s, timestamp: timestamp)
                }
            }
            let bar = makeBar(&s, symbol: symbols[i], timestamp: timestamp, marketGap: marketGap, marketDay: marketDay, marketStd: marketStd)
            states[i] = s
            bars.append(bar)
        }
        nextTimestamp = timestamp + Int64(intervalSeconds) * 1_000
        ticks += 1
    }

    mutating func startAnomaly(symbol: String, state s: SymbolState, timestamp: Int64) -> ActiveAnomaly {
        let kind = kinds[Int(rng.next() % UInt64(kinds.count))]
        let sigma = (s.variance + s.beta * s.beta * marketVariance).squareRoot()
        let shape = AnomalyShape.draw(kind, rng: &rng)
        let end = timestamp + Int64(shape.duration - 1) * Int64(intervalSeconds) * 1_000
        labels.append(AnomalyLabel(symbol: symbol, kind: kind, startTimestamp: timestamp, endTimestamp: end))
        return ActiveAnomaly(shape: shape, remaining: shape.duration, sigma: sigma)
    }

    mutating func makeBar(
        _ s: inout SymbolState, symbol: String, timestamp: Int64, marketGap: Double, marketDay: Double, marketStd: Double
    ) -> Bar {
        var effect = AnomalyShape.Effect()
        if var a = s.anomaly {
            effect = a.shape.effect(step: a.step, sigma: a.sigma)
            a.step += 1
            a.remaining -= 1
            if a.remaining <= 0 {
                s.anomaly = nil
                s.cooldown = Self.cooldownBars
            } else {
                s.anomaly = a
            }
        }
        let idioScale = effect.volatilityScale
        let extraGap = effect.extraGap
        let extraDay = effect.extraDay
        let extraLow = effect.extraLow
        let volumeMultiplier = effect.volumeMultiplier

        let idioVol = s.variance.squareRoot() * idioScale
        let eGap = idioVol * 0.5 * rng.nextFatTailed()
        let eDay = idioVol * 0.866_025_4 * rng.nextFatTailed()
        let idioReturn = eGap + eDay
        // GARCH update on the ordinary shock only (an injected anomaly must not leave a lasting regime change).
        let omega = s.idioVariance * (1 - Self.garchAlpha - Self.garchBeta)
        let baseShock = idioReturn / idioScale
        s.variance = omega + Self.garchAlpha * baseShock * baseShock + Self.garchBeta * s.variance

        let gapReturn = s.beta * marketGap + eGap + extraGap
        let dayReturn = s.beta * marketDay + eDay + extraDay
        let previous = s.close
        let open = previous * vExp(gapReturn)
        let close = open * vExp(dayReturn)
        let barVol = (s.variance * idioScale * idioScale + s.beta * s.beta * marketVariance).squareRoot()
        let high = max(open, close) * vExp(abs(rng.nextNormal()) * 0.5 * barVol)
        let low = min(open, close) * vExp(-abs(rng.nextNormal()) * 0.5 * barVol + extraLow)
        s.close = close

        let totalStd = abs(gapReturn + dayReturn) / max(barVol, 1e-12)
        s.volumeAR = 0.7 * s.volumeAR + 0.25 * rng.nextNormal()
        let logVolume =
            s.logVolumeLevel + s.volumeAR + 0.5 * marketVolumeFactor + 0.12 * min(totalStd, 6) + 0.05 * marketStd
            + vLog(volumeMultiplier)
        let volume = (vExp(logVolume)).rounded()
        return Bar(
            symbol: symbol, timestamp: timestamp, intervalSeconds: intervalSeconds, open: open, high: high, low: low,
            close: close, volume: volume
        )
    }
}
