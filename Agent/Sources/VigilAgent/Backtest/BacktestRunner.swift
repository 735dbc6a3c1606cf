import Foundation
import Logging
import VigilDetection
import VigilFeeds

public enum BacktestFormat: String, Sendable, CaseIterable {
    case bars, series
}

public struct BacktestSummary: Sendable, CustomStringConvertible {
    public var rows = 0
    public var flagged = 0
    public var rejected = 0
    public var symbols = 0
    public var seconds = 0.0

    public var description: String {
        let rate = seconds > 0 ? Double(rows) / seconds : 0
        return "backtest: \(rows) rows, \(symbols) series, \(flagged) flagged, \(rejected) rejected, "
            + String(format: "%.2f s (%.0f rows/s)", seconds, rate)
    }
}

/// `vigil-agent backtest`: historical data through the same normalizer and Tier-1 detectors as `run`, offline.
public struct BacktestRunner: Sendable {
    public var detection: DetectorConfig
    public var normalizer: NormalizerConfiguration
    public var deadLetterPath: String?
    public var seriesConfig = ValueSeriesDetector.Config()

    public init(detection: DetectorConfig, normalizer: NormalizerConfiguration, deadLetterPath: String?) {
        self.detection = detection
        self.normalizer = normalizer
        self.deadLetterPath = deadLetterPath
    }

    public func run(input: String, output: String, format: BacktestFormat, progress: @Sendable (String) -> Void) async throws -> BacktestSummary {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: input, isDirectory: &isDirectory) else {
            throw AgentError(code: .input, message: "input \(input) does not exist")
        }
        guard let writer = CSVWriter(path: output) else {
            throw AgentError(code: .io, message: "cannot create \(output): \(String(cString: strerror(errno)))")
        }
        defer { writer.close() }
        switch format {
        case .bars: return try await runBars(input: input, isDirectory: isDirectory.boolValue, writer: writer, progress: progress)
        case .series:
            guard !isDirectory.boolValue else { throw AgentError(code: .input, message: "--format series takes one CSV file, not a directory") }
            return try runSeries(input: input, writer: writer)
        }
    }

    private func runBars(input: String, isDirectory: Bool, writer: CSVWriter, progress: @Sendable (String) -> Void) async throws -> BacktestSummary {
        let started = ContinuousClock.now
        let files: [String]
        if isDirectory {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: input)) ?? []
            files = names.filter { $0.lowercased().hasSuffix(".csv") && $0.uppercased() != "MANIFEST.CSV" }.sorted().map { input + "/" + $0 }
        } else {
            files = [input]
        }
        guard !files.isEmpty else { throw AgentError(code: .input, message: "no CSV files in \(input)") }
        var logger = Logger(label: "vigil.backtest")
        logger.logLevel = .warning
        let deadLetters = deadLetterPath.map {
            DeadLetterQueue(configuration: DeadLetterConfiguration(path: $0, maxFileBytes: 1 << 30, maxFiles: 1), logger: logger)
        }
        var summary = BacktestSummary()
        writer.write("symbol,time,anomaly_score,detectors\n")
        var lastProgress = ContinuousClock.now
        for (index, file) in files.enumerated() {
            // One replay per file (`order: file`): each symbol's bars in time order, memory bounded by one file.
            let feed: ReplayFeed
            do {
                feed = try ReplayFeed(
                    configuration: ReplayFeedConfiguration(name: "backtest", path: file, speed: 0, order: .file), logger: logger)
            } catch {
                throw AgentError(code: .input, message: "\(file): \(error)")
            }
            let fileSymbol = Self.symbol(fromPath: file)
            var normalizer = Normalizer(configuration: normalizer)
            var detectors: [String: SeriesDetector] = [:]
            var fileRows = 0
            while let poll = try await feed.poll() {
                var rejects: [(record: RawBar, reason: RejectReason)] = []
                for record in poll.records {
                    fileRows += 1
                    switch normalizer.normalize(record) {
                    case .success(let bar):
                        let score = detectors[bar.symbol, default: SeriesDetector(config: detection)].update(bar)
                        if score.isAlert { summary.flagged += 1 }
                        writer.write(bar.symbol)
                        writer.write(",")
                        writer.write(MarketTime.iso8601(millis: bar.timestamp))
                        writer.write(",")
                        writer.write(Self.format(score.anomalyScore))
                        writer.write(",")
                        if score.isAlert { writer.write(score.fired.names) }
                        writer.write("\n")
                    case .failure(let reason):
                        // Rejected bars keep their row (score 0, never flagged) so the output lines up with the input.
                        summary.rejected += 1
                        rejects.append((record, reason))
                        let symbol = record.bar?.symbol ?? fileSymbol
                        let time = record.bar.map { MarketTime.iso8601(millis: $0.timestamp) } ?? Self.firstField(record.raw)
                        writer.write("\(symbol),\(time),0,\n")
                    }
                }
                summary.rows += poll.records.count
                deadLetters?.append(rejects, feed: "backtest")
            }
            summary.symbols += 1
            if ContinuousClock.now - lastProgress > .milliseconds(500) || index == files.count - 1 {
                lastProgress = .now
                progress("\rbacktest: \(index + 1)/\(files.count) files, \(summary.rows) rows, \(summary.flagged) flagged")
            }
            if fileRows == 0 { progress("\nbacktest: \(file) holds no bars\n") }
        }
        progress("\n")
        let elapsed = ContinuousClock.now - started
        summary.seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        return summary
    }

    /// `timestamp,value` rows, scored strictly in order: row i's score depends on rows ≤ i only.
    private func runSeries(input: String, writer: CSVWriter) throws -> BacktestSummary {
        let started = ContinuousClock.now
        guard let data = FileManager.default.contents(atPath: input) else {
            throw AgentError(code: .input, message: "cannot read \(input)")
        }
        var detector = ValueSeriesDetector(config: seriesConfig)
        var summary = BacktestSummary()
        summary.symbols = 1
        writer.write("timestamp,value,anomaly_score\n")
        var first = true
        var previousTime: Int64 = .min
        for line in String(decoding: data, as: UTF8.self).split(whereSeparator: \.isNewline) {
            let fields = line.split(separator: ",", maxSplits: 2, omittingEmptySubsequences: false)
            let timeText = fields.first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
            let valueText = fields.count > 1 ? fields[1].trimmingCharacters(in: .whitespaces) : ""
            if first {
                first = false
                if Double(valueText) == nil && Self.parseTime(timeText) == nil { continue }  // header
            }
            summary.rows += 1
            guard let value = Double(valueText), value.isFinite, var time = Self.parseTime(timeText) else {
                summary.rejected += 1
                writer.write("\(timeText),\(valueText),0\n")
                continue
            }
            // Equal or backwards timestamps still get a score; the detector sees them a millisecond apart.
            if time <= previousTime { time = previousTime + 1 }
            previousTime = time
            let score = detector.update(timestamp: time, value: value)
            if score >= detection.alertThreshold { summary.flagged += 1 }
            writer.write("\(timeText),\(valueText),\(Self.format(score))\n")
        }
        let elapsed = ContinuousClock.now - started
        summary.seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        return summary
    }

    /// Epoch seconds or milliseconds, or an ISO 8601 date / date-time (UTC unless it carries an offset).
    static func parseTime(_ text: String) -> Int64? {
        if let number = Double(text), number.isFinite {
            return number > 1e11 ? Int64(number) : Int64(number * 1000)
        }
        let formatter = ISO8601DateFormatter()
        for options: ISO8601DateFormatter.Options in [
            [.withInternetDateTime, .withFractionalSeconds], [.withInternetDateTime], [.withFullDate],
        ] {
            formatter.formatOptions = options
            if let date = formatter.date(from: text) { return Int64(date.timeIntervalSince1970 * 1000) }
        }
        if let local = MarketTime.parse(text) {
            return Int64(MarketTime.daysFromCivil(year: local.year, month: local.month, day: local.day)) * 86_400_000
                + Int64(local.hour * 3_600_000 + local.minute * 60_000 + local.second * 1000)
        }
        return nil
    }

    static func format(_ score: Double) -> String { String(format: "%.6f", score.isFinite ? score : 0) }

    static func firstField(_ raw: String) -> String {
        String(raw.prefix { $0 != "," }).replacingOccurrences(of: "\"", with: "")
    }

    /// `AAPL_data.csv` → `AAPL`, `msft.csv` → `MSFT`.
    static func symbol(fromPath path: String) -> String {
        let name = (path as NSString).lastPathComponent
        let stem = name.split(separator: ".").first.map(String.init) ?? name
        return (stem.split(separator: "_").first.map(String.init) ?? stem).uppercased()
    }
}

/// Buffered text output (the backtest writes one line per bar; unbuffered writes would dominate its run time).
final class CSVWriter: @unchecked Sendable {
    private let fd: Int32
    private var buffer: [UInt8] = []

    init?(path: String) {
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { return nil }
        buffer.reserveCapacity(1 << 20)
    }

    func write(_ text: String) {
        buffer.append(contentsOf: text.utf8)
        if buffer.count >= 1 << 20 { drain() }
    }

    private func drain() {
        buffer.withUnsafeBytes { bytes in
            var offset = 0
            while offset < bytes.count {
                guard let base = bytes.baseAddress else { return }
                let written = Foundation.write(fd, base + offset, bytes.count - offset)
                if written <= 0 { return }
                offset += written
            }
        }
        buffer.removeAll(keepingCapacity: true)
    }

    func close() {
        drain()
        Foundation.close(fd)
    }
}
