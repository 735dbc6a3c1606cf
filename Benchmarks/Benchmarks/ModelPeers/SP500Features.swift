// Dataset (b) of the peer comparison: Vigil's Tier-2 feature rows (`FeatureSet`, its current version, recorded in
// meta.json) built from the real daily bars of ../shared/data/sp500-daily, with labelled anomalies injected into the
// bars first so that both the unsupervised forest and the boosted trees have ground truth.
//
// Injection rule (seeded, so the files are the same on every run): symbols in file order, bars in time order, one
// uniform draw per bar the Normalizer accepts. When a symbol has 20 one-day returns of history and the draw is below
// `rate` (default 1 %), the bar becomes an anomaly, labelled 1, of one of three kinds drawn uniformly, with a size
// k ~ U(4, 8) in units of that symbol's recent volatility σ (standard deviation of its last 20 one-day log returns of
// the unaltered closes, at least 0.5 %) and a random sign:
//   - spike: close × exp(±k·σ) (a one-day print: the next bar's return carries the reversal and is not labelled);
//   - gap: open = previous close × exp(±k·σ) (the close is left alone: a gap that fills during the day);
//   - volume surge: volume × exp(k·σᵥ), σᵥ the standard deviation of the last 20 log(1 + volume), at least 0.1.
// High and low widen to contain the new open and close, so the bar stays valid. History (σ, σᵥ) is kept from the
// unaltered bars, so one injection does not mask the next. Everything else in the data, its real shocks, spin-offs and
// bad prints included, stays as it is and labelled 0.
//
// Features, as the collector computes them: bars merged by time; per symbol a `SeriesDetector(config:
// DetectorConfig())` gives the Tier-1 score and a `SymbolFeatureState` the per-symbol features; all rows of one bar
// time go through `CrossSection.complete` together. Bars the Normalizer would dead-letter never reach either.
// Splits by time: the first 60 % of trading dates train, the next 20 % validate, the last 20 % test.
import BenchmarkSupport
import Foundation
import VigilDetection

enum SP500Features {
    enum Kind: Int, CaseIterable { case spike, gap, volumeSurge }

    /// The Normalizer's stateless rules with its default tolerance 0 (Agent/Sources/VigilFeeds/Normalizer.swift).
    static func normalizerAccepts(_ bar: Bar) -> Bool {
        guard bar.open.isFinite, bar.high.isFinite, bar.low.isFinite, bar.close.isFinite, bar.volume.isFinite else { return false }
        if bar.open <= 0 || bar.high <= 0 || bar.low <= 0 || bar.close <= 0 || bar.volume < 0 { return false }
        return bar.low <= bar.high && (bar.low...bar.high).contains(bar.open) && (bar.low...bar.high).contains(bar.close)
    }

    /// Standard deviation (n − 1) of the last `count` values of `values`.
    static func recentDeviation(_ values: [Double], count: Int) -> Double {
        let window = values.suffix(count)
        let mean = window.reduce(0, +) / Double(window.count)
        let squares = window.reduce(0) { $0 + ($1 - mean) * ($1 - mean) }
        return (squares / Double(window.count - 1)).squareRoot()
    }

    static func build(dataDirectory: String, seed: UInt64, rate: Double) -> Dataset {
        let series = SP500Daily.load(from: dataDirectory)
        guard !series.isEmpty else { fail("no *_data.csv files in \(dataDirectory)") }
        var random = SeededGenerator(seed: seed)
        var barsRead = 0
        var deadLettered = 0
        var injected = [Int](repeating: 0, count: Kind.allCases.count)
        // Per symbol: the accepted bars (some altered) and their labels.
        var streams: [(bars: [Bar], labels: [UInt8])] = []
        for bars in series {
            var kept: [Bar] = []
            var labels: [UInt8] = []
            var returns: [Double] = []
            var logVolumes: [Double] = []
            var previousClose: Double?
            for bar in bars {
                barsRead += 1
                guard normalizerAccepts(bar) else {
                    deadLettered += 1
                    continue
                }
                var altered = bar
                var label: UInt8 = 0
                if random.nextUnit() < rate, returns.count >= 20, let previous = previousClose {
                    let sigma = max(recentDeviation(returns, count: 20), 0.005)
                    let k = random.uniform(4, 8)
                    let sign: Double = random.next() & 1 == 0 ? 1 : -1
                    var kind = Kind(rawValue: Int(random.next() % 3)) ?? .spike
                    if kind == .volumeSurge, bar.volume <= 0 { kind = .spike }
                    switch kind {
                    case .spike: altered.close = bar.close * exp(sign * k * sigma)
                    case .gap: altered.open = previous * exp(sign * k * sigma)
                    case .volumeSurge: altered.volume = bar.volume * exp(k * max(recentDeviation(logVolumes, count: 20), 0.1))
                    }
                    altered.high = max(bar.high, altered.open, altered.close)
                    altered.low = min(bar.low, altered.open, altered.close)
                    label = 1
                    injected[kind.rawValue] += 1
                }
                if let previous = previousClose { returns.append(log(bar.close / previous)) }
                logVolumes.append(log1p(bar.volume))
                previousClose = bar.close
                kept.append(altered)
                labels.append(label)
            }
            if !kept.isEmpty { streams.append((kept, labels)) }
        }

        // Merge by bar time (ties in symbol-file order), then compute the rows time by time.
        var order: [(timestamp: Int64, stream: Int, index: Int)] = []
        for (s, stream) in streams.enumerated() {
            for (i, bar) in stream.bars.enumerated() { order.append((bar.timestamp, s, i)) }
        }
        order.sort { ($0.timestamp, $0.stream, $0.index) < ($1.timestamp, $1.stream, $1.index) }
        let width = FeatureSet.count
        var detectors = [SeriesDetector](repeating: SeriesDetector(config: DetectorConfig()), count: streams.count)
        var states = [SymbolFeatureState](repeating: SymbolFeatureState(), count: streams.count)
        var x: [Double] = []
        x.reserveCapacity(order.count * width)
        var y: [UInt8] = []
        y.reserveCapacity(order.count)
        var dates: [Int64] = []  // one per bar time
        var rowsBefore: [Int] = []  // rows before each bar time
        var row = [Double](repeating: 0, count: width)
        var start = 0
        while start < order.count {
            var end = start
            while end < order.count, order[end].timestamp == order[start].timestamp { end += 1 }
            var rows: [[Double]] = []
            rows.reserveCapacity(end - start)
            for (_, s, i) in order[start..<end] {
                let bar = streams[s].bars[i]
                let tier1 = detectors[s].update(bar).anomalyScore
                states[s].update(bar, tier1Score: tier1, into: &row)
                rows.append(row)
                y.append(streams[s].labels[i])
            }
            CrossSection.complete(&rows)
            dates.append(order[start].timestamp)
            rowsBefore.append(x.count / width)
            for r in rows { x += r }
            start = end
        }
        if let bad = x.firstIndex(where: { !$0.isFinite }) {
            fail("feature \(FeatureSet.names[bad % width]) of row \(bad / width) is \(x[bad])")
        }
        let validationDate = dates.count * 6 / 10
        let testDate = dates.count * 8 / 10
        let train = rowsBefore[validationDate]
        let validation = rowsBefore[testDate] - train
        let outliers = y.reduce(0) { $0 + Int($1) }
        let meta = Meta(
            rows: y.count, features: width, train: train, validation: validation,
            name: "sp500-daily, FeatureSet v\(FeatureSet.version), \(y.count) x \(width), \(outliers) injected anomalies, seed \(seed)",
            seed: seed, outliers: outliers, featureSetVersion: FeatureSet.version, featureNames: FeatureSet.names,
            source: SourceSummary(
                directory: dataDirectory, symbols: streams.count, barsRead: barsRead, deadLettered: deadLettered,
                injectedSpikes: injected[Kind.spike.rawValue], injectedGaps: injected[Kind.gap.rawValue],
                injectedVolumeSurges: injected[Kind.volumeSurge.rawValue], firstDate: day(dates[0]),
                validationFrom: day(dates[validationDate]), testFrom: day(dates[testDate]), lastDate: day(dates[dates.count - 1])
            )
        )
        return Dataset(meta: meta, x: x, y: y)
    }

    /// `yyyy-MM-dd` of a UTC midnight in milliseconds.
    static func day(_ milliseconds: Int64) -> String { CivilDate.isoDate(milliseconds: milliseconds) }
}
