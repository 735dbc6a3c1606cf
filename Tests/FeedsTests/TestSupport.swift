import CoreMetrics
import Foundation
import Logging
import Synchronization
import Testing
import VigilHTTP

@testable import VigilFeeds

// MARK: - Shared data

/// `../shared/data` (real captures, never copied into the repo): `VIGIL_SHARED_DATA`, else the first ancestor of this
/// file that has `shared/data` (the repo sits next to `shared/`). Tests that need it are disabled when absent.
enum SharedData {
    static let root: URL? = {
        let fileManager = FileManager.default
        if let path = ProcessInfo.processInfo.environment["VIGIL_SHARED_DATA"], fileManager.fileExists(atPath: path) {
            return URL(fileURLWithPath: path)
        }
        var directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while directory.path != "/" {
            let candidate = directory.appendingPathComponent("shared/data")
            if fileManager.fileExists(atPath: candidate.appendingPathComponent("api-fixtures").path) { return candidate }
            directory = directory.deletingLastPathComponent()
        }
        return nil
    }()

    static var isAvailable: Bool { root != nil }

    /// The disabled-trait comment when absent.
    static let missing: Comment = "../shared/data not found (set VIGIL_SHARED_DATA); real-capture tests skipped"

    static func url(_ relative: String) throws -> URL {
        let root = try #require(root, "shared data missing")
        return root.appendingPathComponent(relative)
    }

    static func bytes(_ relative: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: url(relative)))
    }

    static func yahooBody(_ name: String) throws -> [UInt8] {
        try bytes("api-fixtures/yahoo-chart-v8/bodies/\(name).body.json")
    }

    static func alphaVantage(_ name: String) throws -> [UInt8] {
        try bytes("api-fixtures/alphavantage/\(name)")
    }
}

/// The project's own fixtures (cases no real capture exists for), in `Tests/FeedsTests/Fixtures`.
enum OwnFixtures {
    static func bytes(_ name: String) throws -> [UInt8] {
        let url = try #require(Bundle.module.url(forResource: name, withExtension: nil, subdirectory: "Fixtures"), "fixture \(name)")
        return [UInt8](try Data(contentsOf: url))
    }
}

// MARK: - Clock

/// A manual clock: `sleep` advances time at once (so retries, Retry-After and breaker periods cost nothing) and
/// records what was asked.
final class TestClock: FeedClock {
    private struct State {
        var now: Duration = .zero
        var wallMillis: Int64
        var sleeps: [Duration] = []
    }

    private let state: Mutex<State>

    init(wallMillis: Int64 = 1_767_225_600_000) {  // 2026-01-01T00:00:00Z
        state = Mutex(State(wallMillis: wallMillis))
    }

    var now: Duration { state.withLock { $0.now } }
    var wallMillis: Int64 { state.withLock { $0.wallMillis } }
    var sleeps: [Duration] { state.withLock { $0.sleeps } }

    func advance(by duration: Duration) {
        state.withLock { state in
            state.now += duration
            state.wallMillis += Int64(duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000)
        }
    }

    func sleep(for duration: Duration) async throws {
        try Task.checkCancellation()
        guard duration > .zero else { return }
        state.withLock { $0.sleeps.append(duration) }
        advance(by: duration)
    }
}

// MARK: - Logs

/// Captures log lines in memory (the rendered message plus every metadata value).
final class InMemoryLogs: Sendable {
    struct Entry: Sendable {
        var level: Logger.Level
        var message: String
        var metadata: [String: String]

        /// Everything of the entry as one text, to search for secrets.
        var rendered: String { "\(level) \(message) " + metadata.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ") }
    }

    private let entries = Mutex<[Entry]>([])

    var all: [Entry] { entries.withLock { $0 } }

    func append(_ entry: Entry) { entries.withLock { $0.append(entry) } }

    func logger(level: Logger.Level = .trace) -> Logger {
        var logger = Logger(label: "vigil.feeds.test") { _ in Handler(sink: self) }
        logger.logLevel = level
        return logger
    }

    struct Handler: LogHandler {
        let sink: InMemoryLogs
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            let merged = metadata.merging(event.metadata ?? [:]) { $1 }
            sink.append(Entry(level: event.level, message: event.message.description, metadata: merged.mapValues { "\($0)" }))
        }
    }
}

// MARK: - Metrics

/// A metrics factory that keeps every value, keyed by `label{k=v,…}` (dimensions sorted).
final class TestMetrics: MetricsFactory {
    private let values = Mutex<[String: Double]>([:])

    static func key(_ label: String, _ dimensions: [(String, String)]) -> String {
        let dims = dimensions.sorted { $0.0 < $1.0 }.map { "\($0.0)=\($0.1)" }.joined(separator: ",")
        return dims.isEmpty ? label : "\(label){\(dims)}"
    }

    /// The value of a metric, 0 when never touched.
    func value(_ label: String, _ dimensions: [(String, String)] = []) -> Double {
        values.withLock { $0[Self.key(label, dimensions)] ?? 0 }
    }

    /// Sum over all dimension sets of a label.
    func total(_ label: String) -> Double {
        values.withLock { $0.filter { $0.key == label || $0.key.hasPrefix(label + "{") }.values.reduce(0, +) }
    }

    fileprivate func add(_ key: String, _ amount: Double) { values.withLock { $0[key, default: 0] += amount } }
    fileprivate func set(_ key: String, _ value: Double) { values.withLock { $0[key] = value } }

    final class Handler: CounterHandler, FloatingPointCounterHandler, RecorderHandler, TimerHandler, MeterHandler, Sendable {
        let key: String
        let sink: TestMetrics
        let accumulate: Bool
        init(key: String, sink: TestMetrics, accumulate: Bool) {
            self.key = key
            self.sink = sink
            self.accumulate = accumulate
        }
        func increment(by amount: Int64) { sink.add(key, Double(amount)) }
        func increment(by amount: Double) { sink.add(key, amount) }
        func decrement(by amount: Double) { sink.add(key, -amount) }
        func reset() { sink.set(key, 0) }
        func record(_ value: Int64) { record(Double(value)) }
        func record(_ value: Double) { accumulate ? sink.add(key, 1) : sink.set(key, value) }
        func set(_ value: Int64) { sink.set(key, Double(value)) }
        func set(_ value: Double) { sink.set(key, value) }
        func recordNanoseconds(_ duration: Int64) { sink.add(key, 1) }
    }

    func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        Handler(key: Self.key(label, dimensions), sink: self, accumulate: true)
    }
    func makeFloatingPointCounter(label: String, dimensions: [(String, String)]) -> any FloatingPointCounterHandler {
        Handler(key: Self.key(label, dimensions), sink: self, accumulate: true)
    }
    func makeMeter(label: String, dimensions: [(String, String)]) -> any MeterHandler {
        Handler(key: Self.key(label, dimensions), sink: self, accumulate: false)
    }
    func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        // Gauges (non-aggregating) keep the last value; histograms count observations.
        Handler(key: Self.key(label, dimensions), sink: self, accumulate: aggregate)
    }
    /// Timers count observations.
    func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
        Handler(key: Self.key(label, dimensions), sink: self, accumulate: true)
    }
    func destroyCounter(_ handler: any CounterHandler) {}
    func destroyMeter(_ handler: any MeterHandler) {}
    func destroyFloatingPointCounter(_ handler: any FloatingPointCounterHandler) {}
    func destroyRecorder(_ handler: any RecorderHandler) {}
    func destroyTimer(_ handler: any TimerHandler) {}
}

// MARK: - Loopback server

/// A loopback HTTP server with a programmable handler that counts requests per path and keeps their query strings.
final class FixtureServer: Sendable {
    struct Seen: Sendable {
        var path: String
        var query: [String: String]
        var headers: [String: String]
    }

    private final class Log: Sendable {
        let seen = Mutex<[Seen]>([])
    }

    private let server: SimpleHTTPServer
    private let log = Log()

    /// - Parameter handler: gets the request and its 1-based sequence number.
    init(_ handler: @escaping @Sendable (ServerRequest, Int) -> ServerResponse) throws {
        let log = self.log
        server = try SimpleHTTPServer { request in
            let index = log.seen.withLock { seen -> Int in
                seen.append(Seen(path: request.path, query: request.query, headers: request.headers))
                return seen.count
            }
            return handler(request, index)
        }
        server.start()
    }

    deinit { server.stop() }

    var baseURL: String { "http://127.0.0.1:\(server.port)" }
    var requests: [Seen] { log.seen.withLock { $0 } }
    var requestCount: Int { log.seen.withLock { $0.count } }

    func stop() { server.stop() }

    static func json(_ body: [UInt8], status: Int = 200, headers: [(String, String)] = []) -> ServerResponse {
        ServerResponse(status: status, headers: [("Content-Type", "application/json")] + headers, body: body)
    }
}

/// A loopback port that refuses connections for as long as this value lives: a socket bound to it that never listens.
/// Holding the binding keeps other servers of the test process (and the kernel's ephemeral port choice) off the port,
/// which stopping a server to "free" its port does not: the next server started by a concurrent test may get it.
final class RefusingPort: Sendable {
    let port: Int
    private let fd: Int32

    init() throws {
        #if canImport(Glibc)
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
            let fd = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard fd >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EMFILE) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = in_addr_t(UInt32(0x7F00_0001).bigEndian)  // 127.0.0.1
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        var actual = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &actual) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard bound == 0, named == 0 else {
            let code = POSIXErrorCode(rawValue: errno) ?? .EADDRNOTAVAIL
            close(fd)
            throw POSIXError(code)
        }
        self.fd = fd
        self.port = Int(UInt16(bigEndian: actual.sin_port))
    }

    deinit { close(fd) }

    var baseURL: String { "http://127.0.0.1:\(port)" }
}

extension Duration {
    var secondsValue: Double { Double(components.seconds) + Double(components.attoseconds) * 1e-18 }
}
