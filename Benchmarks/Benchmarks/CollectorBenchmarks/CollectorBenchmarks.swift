// Collector receive-path benchmarks (issue 3 §11 a): receive → decode → dedupe → partition, per 10 000-bar batch of
// 100 symbols (100 bars each), the shape `vigil loadgen` sends. Run from Benchmarks/:
// `swift package --disable-sandbox benchmark --target CollectorBenchmarks` (or `./run.sh --target CollectorBenchmarks`).
//
// What is measured, and why this way:
// - `RequestDecoder.decodeBatch` (public): protobuf bytes → validated `IngestRequest`, in process, with and without gzip.
// - The partition step (`Partition.process`, the deduper, the pipeline's merge) is `internal` to VigilCollector, so it
//   is measured through the HTTP path instead: a real `CollectorRuntime` in this process (Hummingbird on loopback, the
//   default 2 partitions, SQLite on tmpfs at /dev/shm), driven by the VigilHTTP client one request at a time.
// - Two reference points isolate the partition step from that total: the same request as a duplicate (receive →
//   decode → dedupe → ack, no partition work, a 4-statement store transaction), and `SQLiteStore.apply` of the
//   same 10 000 rows alone (tmpfs and the real disk).
// Each iteration is one batch; "bars per second" is 10 000 / the iteration's measured wall time.
import Benchmark
import Foundation
import Logging
import Prometheus
import VigilCollector
import VigilDetection
import VigilHTTP  // not a product of the main package: built as part of VigilCollector
import VigilStore
import VigilTelemetry  // not a product of the main package: built as part of VigilCollector
import VigilWire

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration.maxDuration = .seconds(4)
    Benchmark.defaultConfiguration.maxIterations = 100_000
    Benchmark.defaultConfiguration.warmupIterations = 5

    let barsPerSecond = BenchmarkMetric.custom("bars per second", polarity: .prefersLarger, useScalingFactor: false)
    let inProcess: [BenchmarkMetric] = [.throughput, .wallClock, .mallocCountTotal, .mallocBytesCount, .peakMemoryResident, barsPerSecond]
    // The HTTP path runs on several threads (NIO, the cooperative pool, the client's Dispatch worker): CPU time is the
    // whole process's per request, client included.
    let overHTTP: [BenchmarkMetric] = [
        .throughput, .wallClock, .cpuTotal, .mallocCountTotal, .mallocBytesCount, .peakMemoryResident, .syscalls, barsPerSecond,
    ]

    // MARK: Decode (in process)

    let decoder = RequestDecoder(maxDecompressedBytes: WireContract.defaultMaxDecompressedBytes, maxBars: 250_000)
    let bodies = BodySet(count: 8)
    Benchmark(
        "Collector decode: protobuf → IngestRequest (RequestDecoder.decodeBatch), 10k bars × 100 symbols",
        configuration: .init(metrics: inProcess)
    ) { benchmark in
        let body = bodies.next()
        let start = ContinuousClock.now
        benchmark.startMeasurement()
        let request = decode(decoder, body.raw)
        benchmark.stopMeasurement()
        benchmark.measurement(barsPerSecond, rate(bars: request.barCount, since: start))
        blackHole(request)
    }

    Benchmark(
        "Collector gunzip + decode: gzip body → IngestRequest (inflate + decodeBatch), 10k bars × 100 symbols",
        configuration: .init(metrics: inProcess)
    ) { benchmark in
        let body = bodies.next()
        let start = ContinuousClock.now
        benchmark.startMeasurement()
        let request: IngestRequest
        do {
            request = decode(decoder, try decoder.inflate(body.gzip, contentEncoding: "gzip"))
        } catch {
            fatalError("inflate failed: \(error)")
        }
        benchmark.stopMeasurement()
        benchmark.measurement(barsPerSecond, rate(bars: request.barCount, since: start))
        blackHole(request)
    }

    // MARK: HTTP path (in-process collector, SQLite on tmpfs)

    let collector = CollectorHolder()
    Benchmark(
        "Collector HTTP POST /v1/batches → decode → dedupe → partitions → SQLite on /dev/shm, 10k bars (in process, 1 client)",
        configuration: .init(metrics: overHTTP, warmupIterations: 3, maxDuration: .seconds(6))
    ) { benchmark in
        let running = await collector.running()
        let body = running.nextBody()  // built outside the measurement
        let start = ContinuousClock.now
        benchmark.startMeasurement()
        let ack = await running.post(body)
        benchmark.stopMeasurement()
        guard ack.status == .accepted, ack.barsAccepted == 10_000 else { fatalError("collector answered \(ack)") }
        benchmark.measurement(barsPerSecond, rate(bars: 10_000, since: start))
    } setup: {
        try await collector.start()
    } teardown: {
        await collector.stop()
    }

    Benchmark(
        "Collector HTTP POST of a duplicate batch → decode → dedupe → ack (no partition work), 10k bars (in process)",
        configuration: .init(metrics: overHTTP, warmupIterations: 3, maxDuration: .seconds(4))
    ) { benchmark in
        let running = await collector.running()
        let body = running.duplicateBody
        let start = ContinuousClock.now
        benchmark.startMeasurement()
        let ack = await running.post(body)
        benchmark.stopMeasurement()
        guard ack.status == .duplicate else { fatalError("expected a duplicate, collector answered \(ack)") }
        benchmark.measurement(barsPerSecond, rate(bars: 10_000, since: start))
    } setup: {
        try await collector.start()
        _ = await collector.running().post(await collector.running().duplicateBody)  // accepted once, duplicate from now on
    } teardown: {
        await collector.stop()
    }

    // MARK: Store alone (the same rows the partitions produce)

    for (label, directory) in [("/dev/shm (tmpfs)", "/dev/shm"), ("the real disk (\(NSTemporaryDirectory()))", NSTemporaryDirectory())] {
        let store = StoreHolder(directory: directory)
        Benchmark(
            "SQLiteStore.apply of one 10k-bar batch (bronze + 10k bars + high-water mark, WAL, synchronous=FULL) on \(label)",
            configuration: .init(metrics: overHTTP, warmupIterations: 3, maxDuration: .seconds(4))
        ) { benchmark in
            let batch = await store.nextBatch()
            let start = ContinuousClock.now
            benchmark.startMeasurement()
            let outcome = await store.apply(batch)
            benchmark.stopMeasurement()
            guard case .accepted = outcome else { fatalError("store answered \(outcome)") }
            benchmark.measurement(barsPerSecond, rate(bars: batch.bars.count, since: start))
        } setup: {
            try await store.open()
        } teardown: {
            await store.close()
        }
    }
}

// MARK: Helpers

private func decode(_ decoder: RequestDecoder, _ bytes: [UInt8]) -> IngestRequest {
    do {
        return try decoder.decodeBatch(bytes, traceparent: nil)
    } catch {
        fatalError("decodeBatch refused a loadgen batch: \(error)")
    }
}

private func rate(bars: Int, since start: ContinuousClock.Instant) -> Int {
    let (seconds, attoseconds) = start.duration(to: .now).components
    let elapsed = Double(seconds) + Double(attoseconds) * 1e-18
    return elapsed > 0 ? Int(Double(bars) / elapsed) : 0
}

private let quiet = Logger(label: "bench.collector", factory: { _ in SwiftLogNoOpLogHandler() })

/// Batches shaped like `vigil loadgen`'s: 100 symbols × 100 one-minute bars, random-walk prices with valid OHLC,
/// each symbol's bar times continuing from the previous batch (so the partitions' windows advance as in production).
struct BatchFactory: Sendable {
    var agentID: String
    let symbols = 100
    let barsPerSymbol = 100
    private var rng: SeededGenerator
    private var prices: [Double]
    private var emitted = 0
    private let names: [String]

    init(agentID: String, seed: UInt64) {
        self.agentID = agentID
        rng = SeededGenerator(seed: seed)
        names = (0..<symbols).map { "BN\(String(format: "%04d", $0))" }
        var prices: [Double] = []
        for _ in 0..<symbols { prices.append(20 + 180 * rng.nextUnit()) }
        self.prices = prices
    }

    mutating func next(sequence: UInt64) -> Vigil_V1_Batch {
        var batch = Vigil_V1_Batch()
        batch.agentID = agentID
        batch.sequence = sequence
        batch.agentVersion = "bench"
        batch.createdUnixNanos = Int64(Date().timeIntervalSince1970 * 1e9)
        var bars: [Bar] = []
        bars.reserveCapacity(barsPerSymbol)
        for s in 0..<symbols {
            bars.removeAll(keepingCapacity: true)
            for i in 0..<barsPerSymbol {
                let open = prices[s]
                let close = max(0.01, open * (1 + rng.nextNormal() * 0.002))
                bars.append(
                    Bar(
                        symbol: names[s], timestamp: 1_767_571_200_000 + Int64(emitted + i) * 60_000, intervalSeconds: 60, open: open,
                        high: max(open, close) * (1 + 0.002 * rng.nextUnit()), low: min(open, close) * (1 - 0.002 * rng.nextUnit()),
                        close: close, volume: (1_000 + 99_000 * rng.nextUnit()).rounded()))
                prices[s] = close
            }
            batch.series.append(Vigil_V1_Series(symbol: names[s], intervalSeconds: 60, feed: "bench", bars: bars))
        }
        emitted += barsPerSymbol
        return batch
    }

    mutating func nextBody(sequence: UInt64) -> [UInt8] {
        do {
            return try next(sequence: sequence).serializedBytes()
        } catch {
            fatalError("cannot serialize a batch: \(error)")
        }
    }
}

/// A few pre-built bodies, raw and gzipped, cycled by the decode benchmarks. Only the benchmark's thread uses it.
final class BodySet: @unchecked Sendable {
    struct Body {
        var raw: [UInt8]
        var gzip: [UInt8]
    }

    private var bodies: [Body] = []
    private var position = 0
    private let count: Int

    init(count: Int) { self.count = count }

    func next() -> Body {
        if bodies.isEmpty {
            var factory = BatchFactory(agentID: "bench-decode", seed: 11)
            for sequence in 1...UInt64(count) {
                let raw = factory.nextBody(sequence: sequence)
                do {
                    bodies.append(Body(raw: raw, gzip: try Gzip.compress(raw)))
                } catch {
                    fatalError("gzip failed: \(error)")
                }
            }
        }
        defer { position = (position + 1) % bodies.count }
        return bodies[position]
    }
}

/// A running in-process collector and its client.
final class RunningCollector: @unchecked Sendable {
    let task: Task<Void, any Error>
    let directory: String
    let endpoint: String
    let client = HTTPClient(userAgent: "vigil-bench")
    let duplicateBody: [UInt8]
    // Touched only by the benchmark closure, one iteration at a time.
    private var factory: BatchFactory
    private var sequence: UInt64 = 0

    init(task: Task<Void, any Error>, directory: String, port: Int) {
        self.task = task
        self.directory = directory
        endpoint = "http://127.0.0.1:\(port)\(WireContract.batchesPath)"
        let run = UInt32.random(in: 0...UInt32.max)
        factory = BatchFactory(agentID: "bench-http-\(run)", seed: 5)
        var duplicates = BatchFactory(agentID: "bench-dup-\(run)", seed: 6)
        duplicateBody = duplicates.nextBody(sequence: 1)
    }

    func nextBody() -> [UInt8] {
        sequence += 1
        return factory.nextBody(sequence: sequence)
    }

    func post(_ body: [UInt8]) async -> Vigil_V1_Ack {
        let request = HTTPRequest(
            method: "POST", url: endpoint, headers: [("Content-Type", WireContract.protobufContentType)], body: body, timeoutSeconds: 60)
        do {
            let response = try await client.execute(request)
            guard response.status == 200 else { fatalError("collector answered \(response.status): \(response.bodyText)") }
            return try Vigil_V1_Ack(serializedBytes: response.body)
        } catch {
            fatalError("request failed: \(error)")
        }
    }
}

/// Starts and stops the in-process collector around each HTTP benchmark (a fresh SQLite file on tmpfs each time).
actor CollectorHolder {
    private var current: RunningCollector?
    private var generation = 0

    func running() -> RunningCollector {
        guard let current else { fatalError("collector not started") }
        return current
    }

    func start() async throws {
        if current != nil { return }
        generation += 1
        let directory = "/dev/shm/vigil-bench-collector-\(getpid())-\(generation)"
        try? FileManager.default.removeItem(atPath: directory)
        var config = CollectorConfig()
        config.collector.id = "bench"
        config.collector.dataDir = directory
        config.server.listen = "127.0.0.1:0"
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        let runtime = CollectorRuntime(config: config) { port in
            continuation.yield(port)
            continuation.finish()
        }
        let registry = PrometheusCollectorRegistry()
        let recorder = SpanRecorder(capacity: 4096, component: "collector")
        let task = Task {
            defer { continuation.finish() }
            try await runtime.run(registry: registry, tracer: VigilTracer(recorder: recorder), recorder: recorder, logger: quiet)
        }
        var port: Int?
        for await bound in ports { port = bound }
        guard let port else {
            _ = try await task.value
            throw CollectorError("the collector stopped before listening")
        }
        current = RunningCollector(task: task, directory: directory, port: port)
    }

    func stop() async {
        guard let current else { return }
        current.task.cancel()
        _ = await current.task.result
        try? FileManager.default.removeItem(atPath: current.directory)
        self.current = nil
    }
}

/// A SQLite store on its own directory, fed batches built exactly as the partitions build them (one `StoredBar` per
/// bar with the series' feed and the agent id, the protobuf body as the bronze payload).
actor StoreHolder {
    let parent: String
    private var store: SQLiteStore?
    private var directory = ""
    private var factory = BatchFactory(agentID: "bench-store", seed: 9)
    private var sequence: Int64 = 0
    private let decoder = RequestDecoder(maxDecompressedBytes: WireContract.defaultMaxDecompressedBytes, maxBars: 250_000)

    init(directory: String) { parent = directory.hasSuffix("/") ? String(directory.dropLast()) : directory }

    func open() async throws {
        directory = "\(parent)/vigil-bench-store-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let store = try SQLiteStore(dataDirectory: directory, logger: quiet)
        try await store.migrate()
        self.store = store
    }

    func nextBatch() -> StoredBatch {
        sequence += 1
        let body = factory.nextBody(sequence: UInt64(sequence))
        let request = decode(decoder, body)
        var batch = StoredBatch(agentID: request.agentID, sequence: sequence, receivedAt: Int64(Date().timeIntervalSince1970 * 1000), payload: body)
        batch.bars.reserveCapacity(request.barCount)
        for part in request.series {
            for bar in part.bars {
                batch.bars.append(
                    StoredBar(
                        symbol: bar.symbol, intervalSeconds: bar.intervalSeconds, timestamp: bar.timestamp, open: bar.open, high: bar.high,
                        low: bar.low, close: bar.close, volume: bar.volume, feed: part.feed, agentID: request.agentID))
            }
        }
        return batch
    }

    func apply(_ batch: StoredBatch) async -> ApplyOutcome {
        guard let store else { fatalError("store not opened") }
        do {
            return try await store.apply(batch)
        } catch {
            fatalError("apply failed: \(error)")
        }
    }

    func close() async {
        await store?.close()
        store = nil
        try? FileManager.default.removeItem(atPath: directory)
    }
}
