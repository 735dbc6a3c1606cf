// `vigil loadgen`: a load generator for the collector's receiver (issue 3 §11). It plays N agents over loopback HTTP,
// each with its own agent id and sequence, sending real `vigil.v1.Batch` protobufs (built and serialized before the
// clock starts) to `POST /v1/batches`, checks every ack, and reports throughput and per-request latency.
import ArgumentParser
import Foundation
import Synchronization
import VigilDetection
import VigilHTTP
import VigilWire

/// `vigil loadgen --url http://127.0.0.1:8080 --agents 2 --batches 50 --bars-per-batch 10000 [--gzip] [--json]`.
///
/// Every request must be answered 200 with a `vigil.v1.Ack` of status `accepted` carrying the batch's bar count;
/// 429 and 503 are retried after `Retry-After` (counted as retries), anything else is counted as an error by reason
/// and makes the command exit 1 after its report. Agent ids are `loadgen-<random>-<n>`, so a rerun against the same
/// store is new data, not duplicates.
struct LoadGen: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "loadgen",
        abstract: "Send real protobuf batches to a collector from N concurrent agents; report bars/s and latency percentiles.",
        discussion: """
            Batches are built (random-walk prices with valid OHLC, one bar per interval per symbol, the symbols split \
            evenly in every batch) and serialized — gzipped with --gzip — before timing starts; all of them are held in \
            memory (about 0.57 MB per 10 000 bars). Warm-up batches go first, with the same agent ids and sequences, \
            and are not timed. MB are 10^6 bytes.
            """)

    @Option(help: "Collector base URL; batches go to <url>/v1/batches.")
    var url: String = "http://127.0.0.1:8080"

    @Option(help: "Concurrent agent streams, each with its own agent id and sequence (one request in flight per agent).")
    var agents: Int = 2

    @Option(help: "Timed batches per agent.")
    var batches: Int = 50

    @Option(help: "Bars per batch, split evenly over --symbols.")
    var barsPerBatch: Int = 10_000

    @Option(help: "Symbols per agent (every batch carries all of them; agents do not share symbols).")
    var symbols: Int = 100

    @Option(help: "Bar interval in seconds.")
    var intervalSeconds: Int32 = 60

    @Flag(help: "Send gzip bodies (Content-Encoding: gzip, level 1 as the agent's shipper).")
    var gzip = false

    @Option(help: "Untimed batches per agent before the timed ones.")
    var warmup: Int = 2

    @Option(help: "Seed for prices (agent ids are random per run regardless).")
    var seed: UInt64 = 1

    @Option(help: "Per-request timeout in seconds.")
    var timeout: Double = 120

    @Option(help: "Most 429/503 retries of one batch before it counts as an error.")
    var maxRetries: Int = 30

    @Flag(help: "Print one JSON object instead of the text report.")
    var json = false

    func validate() throws {
        guard agents > 0, agents <= 256 else { throw ValidationError("--agents must be 1...256") }
        guard batches > 0 else { throw ValidationError("--batches must be positive") }
        guard warmup >= 0 else { throw ValidationError("--warmup must not be negative") }
        guard symbols > 0, symbols <= 100_000 else { throw ValidationError("--symbols must be 1...100000") }
        guard barsPerBatch >= symbols else { throw ValidationError("--bars-per-batch must be at least --symbols") }
        guard intervalSeconds > 0 else { throw ValidationError("--interval-seconds must be positive") }
        guard timeout > 0 else { throw ValidationError("--timeout must be positive") }
        guard url.hasPrefix("http://") || url.hasPrefix("https://") else { throw ValidationError("--url must be http(s)://host:port") }
    }

    func run() async throws {
        let endpoint = (url.hasSuffix("/") ? String(url.dropLast()) : url) + WireContract.batchesPath
        let runID = String(UInt32.random(in: 0...UInt32.max), radix: 16)
        let prepareStart = ContinuousClock.now
        let streams = try (0..<agents).map { agent in
            try LoadStream.build(
                agentID: "loadgen-\(runID)-\(agent)", agentIndex: agent, batches: warmup + batches, barsPerBatch: barsPerBatch,
                symbols: symbols, intervalSeconds: intervalSeconds, gzip: gzip, seed: seed)
        }
        let prepareSeconds = prepareStart.duration(to: .now).loadSeconds
        if !json {
            let perBatch = streams[0].bodies.map(\.count).reduce(0, +) / max(1, streams[0].bodies.count)
            print(
                "loadgen: \(agents) agent(s) × \(batches) batches × \(barsPerBatch) bars (\(symbols) symbols each), "
                    + "gzip \(gzip ? "on" : "off"), warm-up \(warmup) per agent → \(endpoint)")
            print("  prepared \(agents * (warmup + batches)) bodies in \(format(prepareSeconds, 2)) s, ~\(perBatch / 1000) kB each on the wire")
        }

        let sender = Sender(
            client: HTTPClient(userAgent: "vigil-loadgen", maxPooledHandles: max(8, agents)),
            endpoint: endpoint, gzip: gzip, timeout: timeout, maxRetries: maxRetries)

        // Warm-up: the first `warmup` batches of every agent, concurrently, not timed (connections, collector caches,
        // the store's first pages and, on PostgreSQL, the month's partitions).
        var warmupErrors = 0
        if warmup > 0 {
            let warm = await sender.run(streams, range: 0..<warmup)
            warmupErrors = warm.errorCount
            if !warm.errors.isEmpty && !json { print("  warm-up errors: \(warm.errorSummary)") }
        }

        let cpuBefore = ProcessCPU.seconds()
        let start = ContinuousClock.now
        let stats = await sender.run(streams, range: warmup..<(warmup + batches))
        let seconds = start.duration(to: .now).loadSeconds
        let clientCPU = ProcessCPU.seconds() - cpuBefore

        let report = LoadReport(
            agents: agents, batchesPerAgent: batches, barsPerBatch: barsPerBatch, symbols: symbols, gzip: gzip, warmup: warmup,
            stats: stats, warmupErrors: warmupErrors, seconds: seconds, clientCPUSeconds: clientCPU)
        if json {
            print(report.json())
        } else {
            report.printText()
        }
        if !stats.errors.isEmpty { throw ExitCode(1) }
    }

    private func format(_ value: Double, _ digits: Int) -> String { String(format: "%.\(digits)f", value) }
}

// MARK: Batches

/// One agent's pre-built request bodies, in sequence order (sequence = index + 1).
struct LoadStream: Sendable {
    var agentID: String
    var bodies: [[UInt8]]
    /// Serialized size before gzip, per body.
    var rawBytes: [Int]
    var barsPerBody: Int

    /// 2026-01-05T00:00:00Z: every run writes the same bar times (under new agent ids), inside one calendar month.
    static let startMs: Int64 = 1_767_571_200_000

    static func build(
        agentID: String, agentIndex: Int, batches: Int, barsPerBatch: Int, symbols: Int, intervalSeconds: Int32, gzip: Bool, seed: UInt64
    ) throws -> LoadStream {
        var rng = SeededGenerator(seed: seed &+ UInt64(agentIndex) &* 0x9E37_79B9_7F4A_7C15)
        let names = (0..<symbols).map { "LG\(agentIndex)S\(String(format: "%04d", $0))" }
        var prices = (0..<symbols).map { _ in 20 + 180 * rng.nextUnit() }
        var emitted = [Int64](repeating: 0, count: symbols)
        let stepMs = Int64(intervalSeconds) * 1000
        var bodies: [[UInt8]] = []
        var rawBytes: [Int] = []
        bodies.reserveCapacity(batches)
        var bars: [Bar] = []
        for index in 0..<batches {
            var batch = Vigil_V1_Batch()
            batch.agentID = agentID
            batch.sequence = UInt64(index + 1)
            batch.agentVersion = "loadgen"
            batch.configVersion = "loadgen"
            batch.createdUnixNanos = Int64(Date().timeIntervalSince1970 * 1e9)
            batch.series.reserveCapacity(symbols)
            for s in 0..<symbols {
                // Split the batch's bars over the symbols; the first `barsPerBatch % symbols` get one more.
                let count = barsPerBatch / symbols + (s < barsPerBatch % symbols ? 1 : 0)
                bars.removeAll(keepingCapacity: true)
                for _ in 0..<count {
                    let open = prices[s]
                    // Random walk: ~0.2 % per bar, with a rare 3 % jump so some bars look anomalous.
                    var move = rng.nextNormal() * 0.002
                    if rng.nextUnit() < 0.001 { move += rng.nextUnit() < 0.5 ? -0.03 : 0.03 }
                    let close = max(0.01, open * (1 + move))
                    let high = max(open, close) * (1 + 0.002 * rng.nextUnit())
                    let low = min(open, close) * (1 - 0.002 * rng.nextUnit())
                    let volume = (1_000 + 99_000 * rng.nextUnit()).rounded()
                    bars.append(
                        Bar(
                            symbol: names[s], timestamp: startMs + emitted[s] * stepMs, intervalSeconds: intervalSeconds, open: open,
                            high: high, low: low, close: close, volume: volume))
                    emitted[s] += 1
                    prices[s] = close
                }
                batch.series.append(Vigil_V1_Series(symbol: names[s], intervalSeconds: intervalSeconds, feed: "loadgen", bars: bars))
            }
            let raw: [UInt8] = try batch.serializedBytes()
            rawBytes.append(raw.count)
            bodies.append(gzip ? try Gzip.compress(raw) : raw)
        }
        return LoadStream(agentID: agentID, bodies: bodies, rawBytes: rawBytes, barsPerBody: barsPerBatch)
    }
}

// MARK: Sending

/// What a set of requests produced.
struct LoadStats: Sendable {
    /// Latency of each accepted request's final attempt, in seconds.
    var latencies: [Double] = []
    var accepted = 0
    var bars = 0
    var wireBytes = 0
    var rawBytes = 0
    var retries = 0
    var errors: [String: Int] = [:]

    mutating func merge(_ other: LoadStats) {
        latencies += other.latencies
        accepted += other.accepted
        bars += other.bars
        wireBytes += other.wireBytes
        rawBytes += other.rawBytes
        retries += other.retries
        for (reason, count) in other.errors { errors[reason, default: 0] += count }
    }

    var errorCount: Int { errors.values.reduce(0, +) }
    var errorSummary: String { errors.sorted { $0.key < $1.key }.map { "\($0.value)× \($0.key)" }.joined(separator: ", ") }
}

/// Posts the streams' bodies: one task per agent, one request in flight per agent (as a real agent's shipper).
struct Sender: Sendable {
    let client: HTTPClient
    let endpoint: String
    let gzip: Bool
    let timeout: Double
    let maxRetries: Int

    func run(_ streams: [LoadStream], range: Range<Int>) async -> LoadStats {
        await withTaskGroup(of: LoadStats.self) { group in
            for stream in streams {
                group.addTask {
                    var stats = LoadStats()
                    for index in range { await send(stream, index: index, into: &stats) }
                    return stats
                }
            }
            var total = LoadStats()
            for await stats in group { total.merge(stats) }
            return total
        }
    }

    private func send(_ stream: LoadStream, index: Int, into stats: inout LoadStats) async {
        var headers = [("Content-Type", WireContract.protobufContentType)]
        if gzip { headers.append(("Content-Encoding", "gzip")) }
        let request = HTTPRequest(method: "POST", url: endpoint, headers: headers, body: stream.bodies[index], timeoutSeconds: timeout)
        var attempt = 0
        while true {
            let start = ContinuousClock.now
            let response: HTTPResponse
            do {
                response = try await client.execute(request)
            } catch let error as HTTPClientError {
                stats.errors["transport \(error.code.rawValue)", default: 0] += 1
                return
            } catch {
                stats.errors["transport", default: 0] += 1
                return
            }
            let latency = start.duration(to: .now).loadSeconds
            if response.status == 429 || response.status == 503 {
                attempt += 1
                guard attempt <= maxRetries else {
                    stats.errors["http \(response.status) after \(maxRetries) retries", default: 0] += 1
                    return
                }
                stats.retries += 1
                let wait = response.header("Retry-After").flatMap(Double.init) ?? 1
                try? await Task.sleep(for: .seconds(max(0.05, min(wait, 30))))
                continue
            }
            guard response.status == 200 else {
                stats.errors["http \(response.status): \(Self.reason(response))", default: 0] += 1
                return
            }
            guard let ack = try? Vigil_V1_Ack(serializedBytes: response.body) else {
                stats.errors["200 without a decodable vigil.v1.Ack", default: 0] += 1
                return
            }
            guard ack.status == .accepted else {
                stats.errors["ack status \(ack.status)", default: 0] += 1
                return
            }
            guard ack.barsAccepted == UInt64(stream.barsPerBody), ack.sequence == UInt64(index + 1) else {
                stats.errors["ack mismatch (bars \(ack.barsAccepted), sequence \(ack.sequence))", default: 0] += 1
                return
            }
            stats.accepted += 1
            stats.bars += stream.barsPerBody
            stats.wireBytes += stream.bodies[index].count
            stats.rawBytes += stream.rawBytes[index]
            stats.latencies.append(latency)
            return
        }
    }

    /// The `code` of the collector's JSON error body, or the start of whatever it sent (bounded label for the report).
    private static func reason(_ response: HTTPResponse) -> String {
        struct Body: Decodable { var code: String }
        if let body = try? JSONDecoder().decode(Body.self, from: Data(response.body)) { return body.code }
        return String(response.bodyText.prefix(60))
    }
}

// MARK: Report

struct LoadReport {
    var agents: Int
    var batchesPerAgent: Int
    var barsPerBatch: Int
    var symbols: Int
    var gzip: Bool
    var warmup: Int
    var stats: LoadStats
    var warmupErrors: Int
    var seconds: Double
    var clientCPUSeconds: Double

    var requests: Int { agents * batchesPerAgent }
    var barsPerSecond: Double { Double(stats.bars) / seconds }
    var requestsPerSecond: Double { Double(stats.accepted) / seconds }
    var wireMBPerSecond: Double { Double(stats.wireBytes) / 1e6 / seconds }
    var rawMBPerSecond: Double { Double(stats.rawBytes) / 1e6 / seconds }

    /// Nearest-rank percentile of the accepted requests' latencies, in milliseconds.
    func percentile(_ p: Double) -> Double {
        let sorted = stats.latencies.sorted()
        guard !sorted.isEmpty else { return 0 }
        let rank = Int((p / 100 * Double(sorted.count)).rounded(.up))
        return sorted[min(max(rank, 1), sorted.count) - 1] * 1000
    }

    var meanMs: Double { stats.latencies.isEmpty ? 0 : stats.latencies.reduce(0, +) / Double(stats.latencies.count) * 1000 }

    func printText() {
        func f(_ value: Double, _ digits: Int = 1) -> String { String(format: "%.\(digits)f", value) }
        print("  accepted \(stats.accepted)/\(requests) requests, \(stats.bars) bars in \(f(seconds, 3)) s")
        print(
            "  throughput \(Int(barsPerSecond.rounded())) bars/s, \(f(requestsPerSecond)) requests/s, "
                + "\(f(wireMBPerSecond)) MB/s on the wire (\(f(rawMBPerSecond)) MB/s protobuf)")
        print(
            "  latency per request: p50 \(f(percentile(50))) ms, p90 \(f(percentile(90))) ms, p99 \(f(percentile(99))) ms, "
                + "max \(f(percentile(100))) ms, mean \(f(meanMs)) ms")
        print("  retries (429/503) \(stats.retries), errors \(stats.errorCount)\(stats.errors.isEmpty ? "" : ": " + stats.errorSummary)")
        print("  loadgen CPU \(f(clientCPUSeconds, 2)) s (\(f(clientCPUSeconds / seconds * 100, 0)) % of one core)")
    }

    func json() -> String {
        var object: [String: Any] = [
            "agents": agents, "batches_per_agent": batchesPerAgent, "bars_per_batch": barsPerBatch, "symbols": symbols, "gzip": gzip,
            "warmup": warmup, "requests": requests, "accepted": stats.accepted, "bars": stats.bars, "seconds": seconds,
            "bars_per_second": barsPerSecond, "requests_per_second": requestsPerSecond, "wire_mb_per_second": wireMBPerSecond,
            "protobuf_mb_per_second": rawMBPerSecond,
            "wire_bytes_per_request": stats.accepted == 0 ? 0 : stats.wireBytes / stats.accepted,
            "protobuf_bytes_per_request": stats.accepted == 0 ? 0 : stats.rawBytes / stats.accepted,
            "latency_ms": [
                "p50": percentile(50), "p90": percentile(90), "p99": percentile(99), "max": percentile(100), "mean": meanMs,
            ],
            "retries": stats.retries, "errors": stats.errorCount, "warmup_errors": warmupErrors, "loadgen_cpu_seconds": clientCPUSeconds,
        ]
        object["error_reasons"] = stats.errors
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) else { return "{}" }
        return String(decoding: data, as: UTF8.self)
    }
}

extension Duration {
    fileprivate var loadSeconds: Double {
        let (s, attoseconds) = components
        return Double(s) + Double(attoseconds) * 1e-18
    }
}

/// User + system CPU time of this process (all threads).
enum ProcessCPU {
    static func seconds() -> Double {
        var now = timespec()
        guard clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now) == 0 else { return 0 }
        return Double(now.tv_sec) + Double(now.tv_nsec) * 1e-9
    }
}
