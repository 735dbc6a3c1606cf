// Tier-1 kernel benchmarks (issue section 9): bar-updates per second per core with every detector on, and the
// per-series state size. Run from Benchmarks/: `swift package --disable-sandbox benchmark --target DetectionBenchmarks`.
import Benchmark
import BenchmarkSupport
import VigilDetection

let benchmarks: @Sendable () -> Void = {
    // How many bar updates one measured iteration performs. The framework divides every `*` metric by it, so wall
    // clock, throughput and malloc counts read per bar update.
    let barsPerIteration = BenchmarkScalingFactor.kilo
    Benchmark.defaultConfiguration.maxDuration = .seconds(5)
    Benchmark.defaultConfiguration.maxIterations = 1_000_000
    Benchmark.defaultConfiguration.warmupIterations = 50

    // Peak resident memory is the benchmark process's: mostly the pre-generated bars (72 B each), not the 256 KB of
    // detector state. Fixtures are built lazily, in the first (warm-up) iteration, so each process holds only its own.
    let kernelMetrics: [BenchmarkMetric] = [.throughput, .wallClock, .mallocCountTotal, .peakMemoryResident]

    // Synthetic market: 500 series of daily bars arriving tick by tick (bar t of every symbol, then t + 1), the order
    // a feed delivers them in. 2 000 ticks, then the detectors restart from scratch (warm-up included, ~2 % of bars).
    let synthetic = KernelFixture(order: .tickMajor) { SyntheticSeries.make(symbols: 500, ticks: 2_000) }
    Benchmark(
        "Tier-1 kernel: synthetic 500 series, tick-major, all detectors",
        configuration: .init(metrics: kernelMetrics, scalingFactor: barsPerIteration)
    ) { benchmark in
        synthetic.run(benchmark.scaledIterations.count)
    }

    // The same with every series replayed in full before the next (a backtest's order): state stays in L1.
    let sequential = KernelFixture(order: .seriesMajor) { SyntheticSeries.make(symbols: 500, ticks: 2_000) }
    Benchmark(
        "Tier-1 kernel: synthetic 500 series, series-major, all detectors",
        configuration: .init(metrics: kernelMetrics, scalingFactor: barsPerIteration)
    ) { benchmark in
        sequential.run(benchmark.scaledIterations.count)
    }

    // Real, dirty data when present: 505 S&P 500 symbols, 5 years of daily bars (skipped with a message otherwise).
    if let directory = SharedData.directory(named: "sp500-daily") {
        let real = KernelFixture(order: .tickMajor) { SP500Daily.load(from: directory) }
        Benchmark(
            "Tier-1 kernel: sp500-daily (505 series, 619k bars), tick-major, all detectors",
            configuration: .init(metrics: kernelMetrics, scalingFactor: barsPerIteration)
        ) { benchmark in
            real.run(benchmark.scaledIterations.count)
        }
    } else {
        print("note: sp500-daily not found (set VIGIL_SHARED_DATA or place shared/data beside the repo); skipping that benchmark")
    }

    // Detector state per series: the inline size (goal ≤ 512 B) and the heap it owns (goal 0: the type is trivially
    // copyable, so it cannot own any). Reported as custom metrics; the iteration creates 500 detectors, so its malloc
    // count shows the one array buffer and nothing per series.
    let stateBytes = BenchmarkMetric.custom("state bytes per series (inline)", polarity: .prefersSmaller, useScalingFactor: false)
    let heapBytes = BenchmarkMetric.custom("heap bytes per series", polarity: .prefersSmaller, useScalingFactor: false)
    Benchmark(
        "Detector state bytes per series",
        configuration: .init(metrics: [stateBytes, heapBytes, .mallocCountTotal, .mallocBytesCount], maxDuration: .seconds(1), maxIterations: 1_000)
    ) { benchmark in
        let detectors = [SeriesDetector](repeating: SeriesDetector(config: .default), count: 500)
        blackHole(detectors)
        benchmark.measurement(stateBytes, MemoryLayout<SeriesDetector>.size)
        benchmark.measurement(heapBytes, _isPOD(SeriesDetector.self) ? 0 : -1)
    }
}

/// Pre-generated bars per series.
struct SyntheticSeries {
    static func make(symbols: Int, ticks: Int) -> [[Bar]] {
        var market = SyntheticMarket(seed: 7, symbols: symbols, start: 1_500_000_000_000, intervalSeconds: BarInterval.oneDay)
        var series = [[Bar]](repeating: [], count: symbols)
        var bars: [Bar] = []
        for _ in 0..<ticks {
            market.next(into: &bars)
            for (index, bar) in bars.enumerated() { series[index].append(bar) }
        }
        return series
    }
}

/// Bars laid out flat in the order they are fed, plus one detector per series. A class so the benchmark closure can
/// keep the position between iterations; only one benchmark thread ever touches it.
final class KernelFixture: @unchecked Sendable {
    enum Order {
        case tickMajor
        case seriesMajor
    }

    private let order: Order
    private let makeSeries: () -> [[Bar]]
    private var loaded = false
    private var bars: [Bar] = []
    private var seriesIndex: [Int32] = []
    private var detectors: [SeriesDetector] = []
    private var position = 0
    private var scoreSum = 0.0

    init(order: Order, series: @escaping () -> [[Bar]]) {
        self.order = order
        self.makeSeries = series
    }

    private func load() {
        let series = makeSeries()
        detectors = [SeriesDetector](repeating: SeriesDetector(config: .default), count: series.count)
        switch order {
        case .tickMajor:
            let longest = series.map(\.count).max() ?? 0
            for tick in 0..<longest {
                for (index, bars) in series.enumerated() where tick < bars.count {
                    self.bars.append(bars[tick])
                    seriesIndex.append(Int32(index))
                }
            }
        case .seriesMajor:
            for (index, bars) in series.enumerated() {
                self.bars.append(contentsOf: bars)
                seriesIndex.append(contentsOf: repeatElement(Int32(index), count: bars.count))
            }
        }
        loaded = true
    }

    /// Feeds the next `count` bars; at the end of the data, every detector starts over.
    func run(_ count: Int) {
        if !loaded { load() }
        var remaining = count
        var sum = scoreSum
        while remaining > 0 {
            if position == bars.count {
                position = 0
                for index in detectors.indices { detectors[index] = SeriesDetector(config: .default) }
            }
            let chunk = min(remaining, bars.count - position)
            let start = position
            detectors.withUnsafeMutableBufferPointer { detectors in
                bars.withUnsafeBufferPointer { bars in
                    seriesIndex.withUnsafeBufferPointer { seriesIndex in
                        for index in start..<(start + chunk) {
                            // Reading the score and the alert flag is what the agent does with every bar.
                            let score = detectors[Int(seriesIndex[index])].update(bars[index])
                            sum += score.isAlert ? score.anomalyScore + 1 : score.anomalyScore
                        }
                    }
                }
            }
            position += chunk
            remaining -= chunk
        }
        scoreSum = sum
        blackHole(sum)
    }
}
