import CoreMetrics
import Foundation
import Logging
import Metrics
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Configuration block `deadLetter`.
public struct DeadLetterConfiguration: Codable, Sendable, Hashable {
    /// Key `path`. The JSON-lines file rejected records are appended to. Default `vigil-deadletter.jsonl`.
    public var path: String
    /// Key `maxFileBytes`. The file is rotated (`path` → `path.1` → `path.2` …) before it would exceed this size.
    /// Default 64 MiB; 0 disables rotation.
    public var maxFileBytes: Int
    /// Key `maxFiles`. Rotated files kept besides the current one. Default 3.
    public var maxFiles: Int

    public static let `default` = DeadLetterConfiguration()

    public init(path: String = "vigil-deadletter.jsonl", maxFileBytes: Int = 64 << 20, maxFiles: Int = 3) {
        self.path = path
        self.maxFileBytes = maxFileBytes
        self.maxFiles = maxFiles
    }

    public init(from decoder: any Decoder) throws {
        try ConfigKeys.rejectUnknown(in: decoder, known: CodingKeys.allCases.map(\.rawValue))
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = DeadLetterConfiguration()
        path = try container.decodeIfPresent(String.self, forKey: .path) ?? defaults.path
        maxFileBytes = try container.decodeIfPresent(Int.self, forKey: .maxFileBytes) ?? defaults.maxFileBytes
        maxFiles = try container.decodeIfPresent(Int.self, forKey: .maxFiles) ?? defaults.maxFiles
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case path, maxFileBytes, maxFiles
    }

    /// Every problem with the values, each prefixed with `path`.
    public func validate(path configPath: String = "deadLetter") -> [String] {
        var problems: [String] = []
        if path.isEmpty { problems.append("\(configPath).path: must not be empty") }
        if maxFileBytes < 0 { problems.append("\(configPath).maxFileBytes: must be >= 0, got \(maxFileBytes)") }
        if maxFiles < 0 { problems.append("\(configPath).maxFiles: must be >= 0, got \(maxFiles)") }
        return problems
    }
}

/// The dead-letter queue: every record the normalizer rejects is appended as one JSON line
/// `{"time":"2024-05-01T12:00:00.000Z","feed":"sp500","reason":"missing_field","symbol":"DHR","raw":"2016-01-12,,,,88.55,0,DHR"}`
/// (`symbol` only when the record parsed far enough to have one).
///
/// It never throws into the pipeline: a write that fails (disk full, permissions) is counted in
/// `vigil_agent_deadletter_write_errors_total` and logged at most once a minute, and the pipeline carries on —
/// losing a dead letter is better than stopping the data. The file is opened on the first reject (no empty files)
/// with `O_APPEND`, so several processes may share it line by line, and rotated by size.
public final class DeadLetterQueue: Sendable {
    public let configuration: DeadLetterConfiguration
    private let logger: Logger
    private let clock: any FeedClock
    private let recordsCounters: [RejectReason: Counter]
    private let writeErrors: Counter
    private let state = Mutex(State())

    private struct State {
        var descriptor: Int32 = -1
        var size = 0
        var counts: [RejectReason: Int] = [:]
        var written = 0
        var failures = 0
        var lastFailureLog: Duration?
    }

    public init(
        configuration: DeadLetterConfiguration,
        logger: Logger,
        metricsFactory: any MetricsFactory = MetricsSystem.factory,
        clock: any FeedClock = SystemFeedClock()
    ) {
        self.configuration = configuration
        self.logger = logger
        self.clock = clock
        var counters: [RejectReason: Counter] = [:]
        for reason in RejectReason.allCases {
            counters[reason] = Counter(label: FeedMetricNames.deadLetterRecords, dimensions: [("reason", reason.rawValue)], factory: metricsFactory)
        }
        self.recordsCounters = counters
        self.writeErrors = Counter(label: FeedMetricNames.deadLetterWriteErrors, dimensions: [], factory: metricsFactory)
    }

    deinit {
        state.withLock { state in
            if state.descriptor >= 0 { _ = closeDescriptor(state.descriptor) }
            state.descriptor = -1
        }
    }

    /// Appends one rejected record.
    public func append(_ record: RawBar, feed: String, reason: RejectReason) {
        append([(record, reason)], feed: feed)
    }

    /// Appends a batch of rejected records with one write and counts them once.
    public func append(_ rejects: [(record: RawBar, reason: RejectReason)], feed: String) {
        guard !rejects.isEmpty else { return }
        let time = MarketTime.iso8601(millis: clock.wallMillis)
        var text = ""
        text.reserveCapacity(rejects.count * 160)
        var perReason: [RejectReason: Int] = [:]
        for (record, reason) in rejects {
            Self.appendLine(to: &text, time: time, feed: feed, reason: reason, record: record)
            perReason[reason, default: 0] += 1
        }
        enum Outcome {
            case written
            case failed(message: String, log: Bool)
        }
        let outcome: Outcome = state.withLock { state in
            let bytes = Array(text.utf8)
            if let error = rotateIfNeeded(&state, adding: bytes.count) ?? openIfNeeded(&state) ?? write(&state, bytes) {
                state.failures += rejects.count
                let now = clock.now
                let shouldLog = state.lastFailureLog.map { now - $0 >= .seconds(60) } ?? true
                if shouldLog { state.lastFailureLog = now }
                // A broken descriptor (file deleted, disk remounted) is reopened on the next append.
                if state.descriptor >= 0 { _ = closeDescriptor(state.descriptor) }
                state.descriptor = -1
                return .failed(message: error, log: shouldLog)
            }
            state.written += rejects.count
            for (reason, count) in perReason { state.counts[reason, default: 0] += count }
            return .written
        }
        switch outcome {
        case .written:
            // Counted only once written, so the metric matches the file.
            for (reason, count) in perReason { recordsCounters[reason]?.increment(by: count) }
        case .failed(let message, let log):
            writeErrors.increment(by: rejects.count)
            if log {
                logger.error(
                    "Dead-letter write failed; rejected records are being dropped.",
                    metadata: [
                        "deadletter.path": "\(configuration.path)", "error.message": "\(message)",
                        "deadletter.dropped": "\(rejects.count)",
                    ]
                )
            }
        }
    }

    /// Records written per reason since start.
    public func counts() -> [RejectReason: Int] {
        state.withLock { $0.counts }
    }

    /// Records written since start.
    public var writtenCount: Int { state.withLock { $0.written } }

    /// Records that could not be written since start.
    public var failedCount: Int { state.withLock { $0.failures } }

    /// Closes the file; a later append reopens it.
    public func close() {
        state.withLock { state in
            if state.descriptor >= 0 { _ = closeDescriptor(state.descriptor) }
            state.descriptor = -1
        }
    }

    // MARK: - File handling (called with the lock held)

    private func openIfNeeded(_ state: inout State) -> String? {
        guard state.descriptor < 0 else { return nil }
        let directory = (configuration.path as NSString).deletingLastPathComponent
        if !directory.isEmpty && !FileManager.default.fileExists(atPath: directory) {
            try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        }
        let descriptor = open(configuration.path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { return "open: \(String(cString: strerror(errno)))" }
        var info = stat()
        state.size = fstat(descriptor, &info) == 0 ? Int(info.st_size) : 0
        state.descriptor = descriptor
        return nil
    }

    private func rotateIfNeeded(_ state: inout State, adding count: Int) -> String? {
        guard configuration.maxFileBytes > 0 else { return nil }
        if state.descriptor < 0, let error = openIfNeeded(&state) { return error }
        guard state.size > 0, state.size + count > configuration.maxFileBytes else { return nil }
        _ = closeDescriptor(state.descriptor)
        state.descriptor = -1
        let path = configuration.path
        if configuration.maxFiles > 0 {
            unlink("\(path).\(configuration.maxFiles)")
            if configuration.maxFiles > 1 {
                for index in stride(from: configuration.maxFiles - 1, through: 1, by: -1) {
                    rename("\(path).\(index)", "\(path).\(index + 1)")
                }
            }
            rename(path, "\(path).1")
        } else {
            unlink(path)
        }
        return nil
    }

    private func write(_ state: inout State, _ bytes: [UInt8]) -> String? {
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { buffer -> Int in
                guard let base = buffer.baseAddress else { return 0 }
                return Foundation.write(state.descriptor, base + offset, buffer.count - offset)
            }
            if written < 0 {
                if errno == EINTR { continue }
                return "write: \(String(cString: strerror(errno)))"
            }
            offset += written
        }
        state.size += bytes.count
        return nil
    }

    private func closeDescriptor(_ descriptor: Int32) -> Int32 {
        Foundation.close(descriptor)
    }

    // MARK: - JSON

    static func appendLine(to text: inout String, time: String, feed: String, reason: RejectReason, record: RawBar) {
        text += "{\"time\":\""
        text += time
        text += "\",\"feed\":"
        appendJSONString(feed, to: &text)
        text += ",\"reason\":\""
        text += reason.rawValue
        text += "\""
        if let symbol = record.bar?.symbol {
            text += ",\"symbol\":"
            appendJSONString(symbol, to: &text)
        }
        text += ",\"raw\":"
        if record.raw.isEmpty, let bar = record.bar {
            // Feeds that generate bars (synthetic) keep no text per bar; render the values instead.
            appendJSONString(YahooChartParser.rawText(bar, seconds: bar.timestamp / 1000), to: &text)
        } else {
            appendJSONString(record.raw, to: &text)
        }
        text += "}\n"
    }

    /// Appends `value` as a JSON string literal (RFC 8259 §7: quote, backslash and control characters escaped).
    ///
    /// Works on UTF-8 bytes and appends whole runs: going through `text.unicodeScalars` copied the entire `text`
    /// buffer on every append (quadratic in a poll's rejects; a 4 000-reject poll took ~0.8 s).
    static func appendJSONString(_ value: String, to text: inout String) {
        text += "\""
        var value = value
        value.withUTF8 { bytes in
            var runStart = 0
            for index in 0..<bytes.count {
                let byte = bytes[index]
                guard byte == 0x22 || byte == 0x5C || byte < 0x20 else { continue }
                if runStart < index { text += String(decoding: UnsafeBufferPointer(rebasing: bytes[runStart..<index]), as: UTF8.self) }
                switch byte {
                case 0x22: text += "\\\""
                case 0x5C: text += "\\\\"
                case 0x0A: text += "\\n"
                case 0x0D: text += "\\r"
                case 0x09: text += "\\t"
                default:
                    let hex = String(byte, radix: 16)
                    text += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                }
                runStart = index + 1
            }
            if runStart < bytes.count {
                text += String(decoding: UnsafeBufferPointer(rebasing: bytes[runStart..<bytes.count]), as: UTF8.self)
            }
        }
        text += "\""
    }
}
