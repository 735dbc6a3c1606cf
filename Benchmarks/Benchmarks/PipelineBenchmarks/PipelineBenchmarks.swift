// Agent pipeline benchmarks (issue section 9): an in-memory replay of sp500-daily through the agent's real stages,
// Normalizer → Tier-1 (DetectionEngine) → Batcher.add → seal → SpooledBatch.encoded() → Spool.append, on one core.
// Run from Benchmarks/: `swift package --disable-sandbox benchmark --target PipelineBenchmarks`.
import Benchmark
import BenchmarkSupport
import Foundation
import Logging
import VigilAgent
import VigilDetection
import VigilFeeds
import VigilSpool

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration.maxDuration = .seconds(4)
    Benchmark.defaultConfiguration.maxIterations = 1_000_000
    Benchmark.defaultConfiguration.warmupIterations = 20

    let perBar: [BenchmarkMetric] = [.throughput, .wallClock, .mallocCountTotal, .mallocBytesCount, .peakMemoryResident, .syscalls]
    let source = ReplaySource.load()

    // The whole pipeline, bars in replay order. One iteration = 1 000 bars (scaled: every `*` metric is per bar), so
    // every fifth iteration seals a 5 000-bar batch and appends it to the spool: seal and append costs show up
    // amortised per bar, and in the upper percentiles.
    for fsync in [SpoolConfiguration.FsyncPolicy.interval, .never] {
        Benchmark(
            "Agent pipeline: \(source.name) → normalize → Tier-1 → batch → seal → spool (fsync \(fsync.rawValue))",
            configuration: .init(metrics: perBar, scalingFactor: .kilo)
        ) { benchmark in
            await PipelineFixture.shared(source: source, fsync: fsync).run(bars: benchmark.scaledIterations.count, benchmark: benchmark)
        }
    }

    // Whole batch cycles: one iteration feeds bars until the batcher is full (5 000 bars, the default `max_bars`), then
    // seals, encodes and appends that batch. Every metric here is per batch; the custom metric is the amortised rate.
    let amortised = BenchmarkMetric.custom("bars per second, amortised over the batch cycle", polarity: .prefersLarger, useScalingFactor: false)
    for fsync in [SpoolConfiguration.FsyncPolicy.interval, .never] {
        Benchmark(
            "Agent pipeline, per 5000-bar batch cycle: normalize → Tier-1 → batch → seal → spool (fsync \(fsync.rawValue))",
            configuration: .init(metrics: [.wallClock, .mallocCountTotal, .mallocBytesCount, .syscalls, amortised])
        ) { benchmark in
            let rate = await PipelineFixture.shared(source: source, fsync: fsync).runBatchCycle(benchmark: benchmark)
            benchmark.measurement(amortised, rate)
        }
    }

    // The per-bar hot path alone (normalize → Tier-1 → Batcher.add), with the seal moved outside the measurement: the
    // allocations that remain are those of the bars themselves (goal 0 per bar).
    Benchmark(
        "Agent pipeline hot path: normalize → Tier-1 → Batcher.add (no seal)",
        configuration: .init(metrics: perBar, scalingFactor: .kilo)
    ) { benchmark in
        await PipelineFixture.shared(source: source, fsync: .never).runHotPath(bars: benchmark.scaledIterations.count, benchmark: benchmark)
    }

    // One batch: seal 5 000 pending bars, encode the envelope and append it to the spool (fsync interval). Per batch.
    Benchmark(
        "Agent pipeline: seal + encode + spool append of one 5000-bar batch (fsync interval)",
        configuration: .init(metrics: [.throughput, .wallClock, .mallocCountTotal, .mallocBytesCount, .syscalls])
    ) { benchmark in
        await PipelineFixture.shared(source: source, fsync: .interval).runSealOnly(benchmark: benchmark)
    }
}

/// The bars to replay, parsed once and merged by bar time, wrapped as the feed hands them to the normalizer.
struct ReplaySource: Sendable {
    var name: String
    var records: [RawBar]

    static func load() -> ReplaySource {
        if let directory = SharedData.directory(named: "sp500-daily") {
            let bars = SP500Daily.merged(SP500Daily.load(from: directory))
            return ReplaySource(name: "sp500-daily replay", records: bars.map { RawBar(bar: $0, raw: "") })
        }
        print("note: sp500-daily not found (set VIGIL_SHARED_DATA); replaying a synthetic market of 500 symbols instead")
        var market = SyntheticMarket(seed: 7, symbols: 500, start: 1_360_000_000_000, intervalSeconds: BarInterval.oneDay)
        var records: [RawBar] = []
        for _ in 0..<1_250 { records.append(contentsOf: market.next().map { RawBar(bar: $0, raw: "") }) }
        return ReplaySource(name: "synthetic 500-symbol replay", records: records)
    }
}

/// One agent pipeline per spool policy, kept across iterations (a real agent runs for days: per-symbol state and
/// batch buffers are warm). When the replay ends it starts over with a fresh normalizer and engine, whose first bars
/// go through warm-up like a restarted agent's. Only the benchmark's thread uses it.
final class PipelineFixture: @unchecked Sendable {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var fixtures: [String: PipelineFixture] = [:]

    static func shared(source: ReplaySource, fsync: SpoolConfiguration.FsyncPolicy) -> PipelineFixture {
        lock.lock()
        defer { lock.unlock() }
        if let fixture = fixtures[fsync.rawValue] { return fixture }
        let fixture = PipelineFixture(source: source, fsync: fsync)
        fixtures[fsync.rawValue] = fixture
        return fixture
    }

    let records: [RawBar]
    let spool: Spool
    let directory: String
    var normalizer = Normalizer()
    var engine = DetectionEngine(configuration: .default)
    var batcher = Batcher(configuration: BatcherConfiguration())
    var position = 0
    var sequence: UInt64 = 0
    var unacknowledgedBytes = 0
    var rejected = 0
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

    init(source: ReplaySource, fsync: SpoolConfiguration.FsyncPolicy) {
        records = source.records
        directory = NSTemporaryDirectory() + "vigil-bench-spool-\(fsync.rawValue)-\(getpid())"
        try? FileManager.default.removeItem(atPath: directory)
        let configuration = SpoolConfiguration(directory: directory, fsync: fsync)
        do {
            spool = try Spool(configuration: configuration, logger: Logger(label: "bench.spool"))
        } catch {
            fatalError("cannot open the benchmark spool at \(directory): \(error)")
        }
    }

    deinit {
        spool.close()
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Normalizer → engine → batcher for one record, as `AgentPipeline.ingest` does per bar (alert bars also
    /// materialise their detections into the batch). Returns whether the batch is full.
    @inline(__always)
    private func process(_ record: RawBar) -> Bool {
        switch normalizer.normalize(record) {
        case .success(let bar):
            let score = engine.score(bar)
            batcher.add(bar, feed: "replay", anomalyScore: score.anomalyScore)
            if score.isAlert {
                for detection in score.detections(symbol: bar.symbol, timestamp: bar.timestamp) {
                    batcher.add(detection, intervalSeconds: bar.intervalSeconds, anomalyScore: score.anomalyScore, trace: nil)
                }
            }
        case .failure:
            rejected += 1
        }
        return batcher.isFull
    }

    private func nextRecord() -> RawBar {
        if position == records.count {
            position = 0
            normalizer = Normalizer()
            engine = DetectionEngine(configuration: .default)
        }
        defer { position += 1 }
        return records[position]
    }

    /// Seals the pending batch and appends it to the spool, as `AgentPipeline.seal` does (without tracing).
    private func sealAndAppend() async {
        sequence += 1
        do {
            let sealed = try batcher.seal(
                agentID: "bench-agent", agentVersion: "0.1.0", sequence: sequence, configVersion: "cfg-bench", spans: [],
                traceparent: traceparent
            )
            let payload = sealed.encoded()
            unacknowledgedBytes += payload.count
            try await spool.append(id: sequence, payload: payload)
        } catch {
            fatalError("seal/append failed: \(error)")
        }
    }

    /// What the shipper does after the collector's ack: frees spool space. Called outside the measurement.
    private func acknowledgeIfLarge() {
        guard unacknowledgedBytes > 64 << 20 else { return }
        spool.acknowledge(upTo: sequence)
        unacknowledgedBytes = 0
    }

    func run(bars: Int, benchmark: Benchmark) async {
        benchmark.startMeasurement()
        for _ in 0..<bars {
            if process(nextRecord()) { await sealAndAppend() }
        }
        benchmark.stopMeasurement()
        acknowledgeIfLarge()
    }

    func runHotPath(bars: Int, benchmark: Benchmark) async {
        if batcher.barCount + bars >= batcher.configuration.maxBars { await sealAndAppend() }
        acknowledgeIfLarge()
        benchmark.startMeasurement()
        for _ in 0..<bars { _ = process(nextRecord()) }
        benchmark.stopMeasurement()
    }

    /// Bars until the batch is full, then seal and append; returns the bars per second of the cycle.
    func runBatchCycle(benchmark: Benchmark) async -> Int {
        acknowledgeIfLarge()
        let clock = ContinuousClock()
        let start = clock.now
        benchmark.startMeasurement()
        var bars = 0
        while true {
            bars += 1
            if process(nextRecord()) { break }
        }
        await sealAndAppend()
        benchmark.stopMeasurement()
        let (seconds, attoseconds) = (clock.now - start).components
        return Int(Double(bars) / (Double(seconds) + Double(attoseconds) * 1e-18))
    }

    func runSealOnly(benchmark: Benchmark) async {
        while !batcher.isFull { _ = process(nextRecord()) }
        acknowledgeIfLarge()
        benchmark.startMeasurement()
        await sealAndAppend()
        benchmark.stopMeasurement()
    }
}
