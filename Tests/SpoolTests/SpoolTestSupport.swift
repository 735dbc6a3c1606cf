// Vigil spool tests: temporary directories, a recording metrics factory, a recording log handler.

import Foundation
import Logging
import Metrics
import Synchronization
import Testing
import VigilSpool

/// A fresh directory under the system temp dir, removed when the test ends.
final class TemporaryDirectory: Sendable {
    let path: String

    init(_ name: String = #function) {
        let safe = name.filter { $0.isLetter || $0.isNumber }
        path =
            FileManager.default.temporaryDirectory
            .appendingPathComponent("vigil-spool-\(safe)-\(UUID().uuidString)").path
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    /// The spool directory inside it (left for the spool to create).
    var spool: String { path + "/spool" }

    deinit {
        try? FileManager.default.removeItem(atPath: path)
    }
}

/// Segment files of a spool directory, oldest first.
func segmentFiles(_ directory: String) -> [String] {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
    return names.filter { $0.hasSuffix(".seg") }.sorted().map { directory + "/" + $0 }
}

func fileSize(_ path: String) -> Int {
    ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber)?.intValue ?? -1
}

func readFile(_ path: String) -> [UInt8] {
    (FileManager.default.contents(atPath: path)).map { [UInt8]($0) } ?? []
}

func writeFile(_ path: String, _ bytes: [UInt8]) {
    if !FileManager.default.createFile(atPath: path, contents: Data(bytes)) {
        Issue.record("cannot write \(path)")
    }
}

/// A payload of `size` bytes that differs per id.
func testPayload(_ id: UInt64, size: Int) -> [UInt8] {
    var generator = SplitMix64(seed: id &* 31 &+ UInt64(size))
    return (0..<size).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
}

/// Opens a spool with test defaults: no fsync (tests that are about durability say so), a recording logger.
func openSpool(
    _ directory: String,
    segmentMaxBytes: Int = 4096,
    maxTotalBytes: Int = 1 << 20,
    fsync: SpoolConfiguration.FsyncPolicy = .never,
    whenFull: SpoolConfiguration.WhenFull = .block,
    logs: RecordingLogs = RecordingLogs(),
    metrics: RecordingMetrics = RecordingMetrics()
) throws -> Spool {
    let configuration = SpoolConfiguration(
        directory: directory,
        segmentMaxBytes: segmentMaxBytes,
        maxTotalBytes: maxTotalBytes,
        fsync: fsync,
        whenFull: whenFull
    )
    return try Spool(configuration: configuration, logger: logs.logger, metricsFactory: metrics)
}

/// Record size on disk for a payload of `size` bytes.
func recordBytes(_ size: Int) -> Int {
    Spool.recordHeaderBytes + size
}

// MARK: Logs

/// Keeps every log message, to assert that recovery reported what it did.
final class RecordingLogs: Sendable {
    struct Entry: Sendable {
        var level: Logger.Level
        var message: String
        var metadata: Logger.Metadata
    }

    let entries = Mutex<[Entry]>([])

    var logger: Logger {
        var logger = Logger(label: "vigil.spool.test") { _ in Handler(sink: self) }
        logger.logLevel = .trace
        return logger
    }

    func messages(atLeast level: Logger.Level) -> [Entry] {
        entries.withLock { $0.filter { $0.level >= level } }
    }

    struct Handler: LogHandler {
        let sink: RecordingLogs
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            var merged = metadata
            merged.merge(event.metadata ?? [:]) { $1 }
            sink.entries.withLock { $0.append(Entry(level: event.level, message: "\(event.message)", metadata: merged)) }
        }
    }
}

// MARK: Metrics

/// A metrics backend that remembers the last value of every instrument, keyed by label and dimensions.
final class RecordingMetrics: MetricsFactory {
    let values = Mutex<[String: Double]>([:])
    let timerCounts = Mutex<[String: Int]>([:])

    static func key(_ label: String, _ dimensions: [(String, String)]) -> String {
        dimensions.isEmpty ? label : label + "{" + dimensions.map { "\($0.0)=\($0.1)" }.joined(separator: ",") + "}"
    }

    func value(_ label: String, _ dimensions: [(String, String)] = []) -> Double? {
        values.withLock { $0[Self.key(label, dimensions)] }
    }

    func timerCount(_ label: String) -> Int {
        timerCounts.withLock { $0[label] ?? 0 }
    }

    func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        Handler(metrics: self, key: Self.key(label, dimensions))
    }

    func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        Handler(metrics: self, key: Self.key(label, dimensions))
    }

    func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
        Handler(metrics: self, key: Self.key(label, dimensions))
    }

    func destroyCounter(_ handler: any CounterHandler) {}
    func destroyRecorder(_ handler: any RecorderHandler) {}
    func destroyTimer(_ handler: any TimerHandler) {}

    final class Handler: CounterHandler, RecorderHandler, TimerHandler {
        let metrics: RecordingMetrics
        let key: String

        init(metrics: RecordingMetrics, key: String) {
            self.metrics = metrics
            self.key = key
        }

        func increment(by amount: Int64) {
            metrics.values.withLock { $0[key, default: 0] += Double(amount) }
        }

        func reset() {
            metrics.values.withLock { $0[key] = 0 }
        }

        func record(_ value: Int64) {
            metrics.values.withLock { $0[key] = Double(value) }
        }

        func record(_ value: Double) {
            metrics.values.withLock { $0[key] = value }
        }

        func recordNanoseconds(_ duration: Int64) {
            metrics.timerCounts.withLock { $0[key, default: 0] += 1 }
        }
    }
}
