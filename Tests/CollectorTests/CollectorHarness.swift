import Foundation
import Logging
import Metrics
import Prometheus
import Testing
import VigilCollector
import VigilDetection
import VigilHTTP
import VigilTelemetry
import VigilTestSupport
import VigilWire

/// One Prometheus registry for the whole test process (swift-metrics can be bootstrapped once per process).
let testRegistry: PrometheusCollectorRegistry = {
    let registry = PrometheusCollectorRegistry()
    MetricsSystem.bootstrap(
        CataloguedPrometheusFactory(
            registry: registry, extraHelp: CollectorMetricCatalogue.help, longDurations: CollectorMetricCatalogue.longDurations))
    return registry
}()

/// A collector running in this process on a free loopback port, over a store in a temporary directory (or a fresh
/// PostgreSQL schema), spoken to over real HTTP.
final class CollectorHarness: Sendable {
    let directory: TemporaryDirectory
    let port: Int
    let recorder: SpanRecorder
    private let task: Task<Void, any Error>

    var base: String { "http://127.0.0.1:\(port)" }

    /// `directory`: a stopped harness's, to restart a collector on its store (SQLite).
    static func start(
        postgres: Bool = false, directory: TemporaryDirectory? = nil, _ configure: @Sendable (inout CollectorConfig) -> Void = { _ in }
    ) async throws -> CollectorHarness {
        _ = testRegistry
        let directory = directory ?? TemporaryDirectory()
        var config = CollectorConfig()
        config.collector.id = "test"
        config.collector.dataDir = directory.path
        config.server.listen = "127.0.0.1:0"
        config.server.retryAfterSeconds = 1
        if postgres {
            config.store.kind = .postgres
            config.store.postgresURLEnv = "VIGIL_TEST_POSTGRES_URL"
            config.store.postgresSchema = "vigil_c_" + String(UInt32.random(in: 0...UInt32.max), radix: 16)
        }
        configure(&config)
        let ports = AsyncStream<Int>.makeStream()
        let recorder = SpanRecorder(capacity: 10_000, component: "collector-test")
        let frozen = config
        let task = Task {
            defer { ports.continuation.finish() }
            var logger = Logger(label: "collector-test")
            logger.logLevel = .critical  // refusals are expected here; the assertions say what matters
            try await CollectorRuntime(config: frozen, onListening: { ports.continuation.yield($0) })
                .run(registry: testRegistry, tracer: VigilTracer(recorder: recorder), recorder: recorder, logger: logger)
        }
        var iterator = ports.stream.makeAsyncIterator()
        guard let port = await iterator.next() else {
            _ = try await task.value
            throw TestFailure("collector did not start")
        }
        return CollectorHarness(directory: directory, port: port, recorder: recorder, task: task)
    }

    private init(directory: TemporaryDirectory, port: Int, recorder: SpanRecorder, task: Task<Void, any Error>) {
        self.directory = directory
        self.port = port
        self.recorder = recorder
        self.task = task
    }

    func stop() async {
        task.cancel()
        _ = try? await task.value
    }

    /// The timeout only guards against a hang: `POST /v1/models/train` answers when training is done, which in a debug
    /// build on a loaded 2-core machine took over 30 s.
    func send(_ path: String, method: String = "POST", body: [UInt8] = [], headers: [(String, String)] = []) async throws -> HTTPResponse {
        try await HTTPClient().execute(HTTPRequest(method: method, url: base + path, headers: headers, body: body, timeoutSeconds: 300))
    }

    func get(_ path: String) async throws -> HTTPResponse { try await send(path, method: "GET") }

    func json(_ path: String) async throws -> [String: Any] {
        let response = try await get(path)
        #expect(response.status == 200, "GET \(path): \(response.status) \(response.bodyText)")
        return (try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any]) ?? [:]
    }

    func stats() async throws -> [String: Int] {
        (try await json("/v1/stats")).compactMapValues { ($0 as? NSNumber)?.intValue }
    }

    /// Posts an agent batch (protobuf, optionally gzipped) and decodes the Ack when the answer is 200.
    func post(_ batch: Vigil_V1_Batch, gzip: Bool = false, headers: [(String, String)] = []) async throws -> (HTTPResponse, Vigil_V1_Ack?) {
        var body: [UInt8] = try batch.serializedBytes()
        var all = [("Content-Type", WireContract.protobufContentType)] + headers
        if gzip {
            body = try Gzip.compress(body)
            all.append(("Content-Encoding", "gzip"))
        }
        let response = try await send(WireContract.batchesPath, body: body, headers: all)
        return (response, response.status == 200 ? try? Vigil_V1_Ack(serializedBytes: response.body) : nil)
    }
}

/// A batch of `symbols` × `bars` daily bars starting at 2024-01-02, a calm random walk with one price spike per
/// symbol at `spikeAt` (when given), and agent-side Tier-1 detections made by the real detectors.
func makeBatch(
    agent: String = "agent-a", sequence: UInt64, symbols: [String] = ["AAA", "BBB"], bars: Int = 50, start: Int = 0, spikeAt: Int? = nil
) -> Vigil_V1_Batch {
    var batch = Vigil_V1_Batch()
    batch.agentID = agent
    batch.sequence = sequence
    for (s, symbol) in symbols.enumerated() {
        var generator = SeededGenerator(seed: UInt64(s + 1))
        var detector = SeriesDetector(config: .default)
        var list: [Bar] = []
        var price = 100.0
        for i in 0..<(start + bars) {
            let shock = i == spikeAt ? 0.35 : Double.random(in: -0.01...0.01, using: &generator)
            price *= 1 + shock
            let bar = Bar(
                symbol: symbol, timestamp: 1_704_153_600_000 + Int64(i) * 86_400_000, intervalSeconds: 86_400, open: price,
                high: price * 1.01, low: price * 0.99, close: price, volume: i == spikeAt ? 9_000_000 : 1_000_000)
            let score = detector.update(bar)
            guard i >= start else { continue }
            list.append(bar)
            if score.isAlert {
                for detection in score.detections(symbol: symbol, timestamp: bar.timestamp) {
                    var wire = Vigil_V1_Detection()
                    wire.symbol = symbol
                    wire.timestampMs = bar.timestamp
                    wire.intervalSeconds = 86_400
                    wire.detector = detection.detector.rawValue
                    wire.score = detection.statistic
                    wire.anomalyScore = score.anomalyScore
                    wire.severity = .warning
                    wire.tier = .tier1
                    wire.traceID = Data((0..<16).map { UInt8($0 + 1) })
                    wire.spanID = Data((0..<8).map { UInt8($0 + 1) })
                    batch.detections.append(wire)
                }
            }
        }
        batch.series.append(Vigil_V1_Series(symbol: symbol, intervalSeconds: 86_400, feed: "test", bars: list))
    }
    return batch
}

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// A port nothing listens on right now (bind to 0, read it back, close).
func freePort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw TestFailure("socket() failed") }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard bound == 0 else { throw TestFailure("bind() failed") }
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let named = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
    }
    guard named == 0 else { throw TestFailure("getsockname() failed") }
    return Int(UInt16(bigEndian: address.sin_port))
}
