import Foundation
import Logging
import Metrics
import Tracing
import VigilDetection

/// Configuration of the synthetic market feed (`type: synthetic`), the embedded default for demos, tests and load.
public struct SyntheticFeedConfiguration: Codable, Sendable, Hashable {
    /// Key `name`. Instance name. Default `synthetic`.
    public var name: String
    /// Key `seed`. The same seed gives the same bars and labels on every run and platform. Default 42.
    public var seed: UInt64
    /// Key `symbols`. Number of symbols (`SYN001`, `SYN002`, …). Default 20.
    public var symbols: Int
    /// Key `intervalSeconds`. Bar length in market time. Default 60.
    public var intervalSeconds: Int
    /// Key `tickRate`. Ticks (one bar per symbol each) per wall-clock second; 0 = as fast as possible. Default 1
    /// (with 60 s bars: one minute of market per second).
    public var tickRate: Double
    /// Key `anomalyRate`. Chance per idle symbol and bar that an injected anomaly starts. Default 0.002.
    public var anomalyRate: Double
    /// Key `anomalyKinds`. Kinds to inject (`price_spike`, `gap`, `level_shift`, `volume_surge`, `volatility_burst`,
    /// `flash_crash`). Default: all.
    public var anomalyKinds: [AnomalyKind]?
    /// Key `startTimestamp`. First bar time, ms since the epoch. Default: the wall clock at start, rounded down to
    /// the interval (so live demos show current times) when ticking at most in real time; a faster run starts
    /// `maxTicks` (else 100 000) intervals in the past, so its bars never lie in the future (the normalizer rejects
    /// those). Set it for reproducible runs.
    public var startTimestamp: Int64?
    /// Key `maxTicks`. Stop after this many ticks. Default: never.
    public var maxTicks: Int?
    /// Key `labelsPath`. When set, the injected anomalies are written there as CSV (`symbol,kind,start_timestamp,
    /// end_timestamp`), appended as they start. Default: not written.
    public var labelsPath: String?
    /// Key `batchSize`. With `tickRate` 0, the most bars per poll (whole ticks; at least one tick). Default 4096.
    public var batchSize: Int

    public init(
        name: String = "synthetic",
        seed: UInt64 = 42,
        symbols: Int = 20,
        intervalSeconds: Int = 60,
        tickRate: Double = 1,
        anomalyRate: Double = 0.002,
        anomalyKinds: [AnomalyKind]? = nil,
        startTimestamp: Int64? = nil,
        maxTicks: Int? = nil,
        labelsPath: String? = nil,
        batchSize: Int = 4096
    ) {
        self.name = name
        self.seed = seed
        self.symbols = symbols
        self.intervalSeconds = intervalSeconds
        self.tickRate = tickRate
        self.anomalyRate = anomalyRate
        self.anomalyKinds = anomalyKinds
        self.startTimestamp = startTimestamp
        self.maxTicks = maxTicks
        self.labelsPath = labelsPath
        self.batchSize = batchSize
    }

    public init(from decoder: any Decoder) throws {
        try ConfigKeys.rejectUnknown(in: decoder, known: CodingKeys.allCases.map(\.rawValue))
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = SyntheticFeedConfiguration()
        name = try c.decodeIfPresent(String.self, forKey: .name) ?? d.name
        seed = try c.decodeIfPresent(UInt64.self, forKey: .seed) ?? d.seed
        symbols = try c.decodeIfPresent(Int.self, forKey: .symbols) ?? d.symbols
        intervalSeconds = try c.decodeIfPresent(Int.self, forKey: .intervalSeconds) ?? d.intervalSeconds
        tickRate = try c.decodeIfPresent(Double.self, forKey: .tickRate) ?? d.tickRate
        anomalyRate = try c.decodeIfPresent(Double.self, forKey: .anomalyRate) ?? d.anomalyRate
        anomalyKinds = try c.decodeIfPresent([AnomalyKind].self, forKey: .anomalyKinds)
        startTimestamp = try c.decodeIfPresent(Int64.self, forKey: .startTimestamp)
        maxTicks = try c.decodeIfPresent(Int.self, forKey: .maxTicks)
        labelsPath = try c.decodeIfPresent(String.self, forKey: .labelsPath)
        batchSize = try c.decodeIfPresent(Int.self, forKey: .batchSize) ?? d.batchSize
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case name, seed, symbols, intervalSeconds, tickRate, anomalyRate, anomalyKinds, startTimestamp, maxTicks, labelsPath, batchSize
    }

    /// Every problem with the configuration, prefixed with `path`.
    public func validate(path: String? = nil) -> [String] {
        let path = path ?? "feeds.\(name)"
        var problems: [String] = []
        if name.isEmpty { problems.append("\(path).name: must not be empty") }
        if !(1...100_000).contains(symbols) { problems.append("\(path).symbols: must be between 1 and 100000, got \(symbols)") }
        if !(1...Int(Int32.max)).contains(intervalSeconds) {
            problems.append("\(path).intervalSeconds: must be a positive number of seconds, got \(intervalSeconds)")
        }
        if !(tickRate >= 0 && tickRate.isFinite) {
            problems.append("\(path).tickRate: must be 0 (as fast as possible) or a positive number, got \(tickRate)")
        }
        if !(0...1).contains(anomalyRate) { problems.append("\(path).anomalyRate: must be within [0, 1], got \(anomalyRate)") }
        if let maxTicks, maxTicks < 1 { problems.append("\(path).maxTicks: must be at least 1 when set, got \(maxTicks)") }
        if let labelsPath, labelsPath.isEmpty { problems.append("\(path).labelsPath: must not be empty when set") }
        if batchSize < 1 { problems.append("\(path).batchSize: must be at least 1, got \(batchSize)") }
        return problems
    }
}

/// The seeded synthetic market (`VigilDetection.SyntheticMarket`) as a feed: one bar per symbol per tick, with
/// labelled injected anomalies.
///
/// With `tickRate` > 0 each poll is one tick, at that rate; with 0 each poll is as many whole ticks as fit in
/// `batchSize` bars, immediately. Labels are appended to `labelsPath` after each poll (a label is written when its
/// anomaly starts, with its planned end), so a run that is stopped midway still has the ground truth of every bar it
/// produced. Generation reuses its buffers; the records carry no text (`RawBar.raw` is empty).
public actor SyntheticFeed: Feed {
    public nonisolated let name: String
    public nonisolated var kind: FeedKind { .synthetic }
    public nonisolated let configuration: SyntheticFeedConfiguration

    private var market: SyntheticMarket
    private let clock: any FeedClock
    private let logger: Logger
    private let metrics: FeedMetrics
    private var schedule: PollSchedule?
    private var scratch: [Bar] = []
    private var labelsWritten = 0
    private var labelsFile: FileHandle?
    private var labelsFailed = false
    private var finished = false

    public init(
        configuration: SyntheticFeedConfiguration,
        logger: Logger,
        metricsFactory: any MetricsFactory = MetricsSystem.factory,
        clock: any FeedClock = SystemFeedClock()
    ) {
        self.name = configuration.name
        self.configuration = configuration
        self.clock = clock
        var logger = logger
        logger[metadataKey: "feed.name"] = "\(configuration.name)"
        self.logger = logger
        self.metrics = FeedMetrics(feed: configuration.name, factory: metricsFactory)
        let interval = Int32(clamping: max(1, configuration.intervalSeconds))
        let intervalMillis = Int64(interval) * 1000
        let now = clock.wallMillis / intervalMillis * intervalMillis
        let realTime = configuration.tickRate > 0 && configuration.tickRate * Double(interval) <= 1
        let history = realTime ? 0 : Int64(configuration.maxTicks ?? 100_000)
        let start = configuration.startTimestamp ?? (now - history * intervalMillis)
        let market = SyntheticMarket(
            seed: configuration.seed,
            symbols: configuration.symbols,
            start: start,
            intervalSeconds: interval,
            anomalyRate: configuration.anomalyRate,
            kinds: configuration.anomalyKinds ?? AnomalyKind.allCases
        )
        self.market = market
        self.symbols = market.symbols
        self.schedule = configuration.tickRate > 0 ? PollSchedule(intervalSeconds: 1 / configuration.tickRate) : nil
    }

    /// The symbols the market generates (`SYN001` …), e.g. for the normalizer's allow-list.
    public nonisolated let symbols: [String]

    /// The labels of the anomalies injected so far.
    public func labels() -> [AnomalyLabel] { market.labels }

    /// Ticks generated so far.
    public func ticks() -> Int { market.ticks }

    public func poll() async throws -> FeedPoll? {
        guard !finished else { return nil }
        let remaining = configuration.maxTicks.map { $0 - market.ticks } ?? Int.max
        guard remaining > 0 else {
            finish()
            return nil
        }
        if var schedule {
            let wait = schedule.claim(now: clock.now)
            self.schedule = schedule
            try await clock.sleep(for: wait)
        }
        let symbolCount = max(1, configuration.symbols)
        let ticks = schedule == nil ? min(remaining, max(1, configuration.batchSize / symbolCount)) : 1
        return await FeedTracing.poll(feed: name, kind: kind) {
            var poll = FeedPoll()
            poll.records.reserveCapacity(ticks * symbolCount)
            for _ in 0..<ticks {
                market.next(into: &scratch)
                for bar in scratch { poll.records.append(RawBar(bar: bar)) }
            }
            metrics.record(poll)
            writeNewLabels()
            return poll
        }
    }

    // MARK: - Labels file

    private func finish() {
        finished = true
        writeNewLabels()
        try? labelsFile?.close()
        labelsFile = nil
        logger.info(
            "Synthetic market finished.",
            metadata: ["synthetic.ticks": "\(market.ticks)", "synthetic.labels": "\(market.labels.count)"]
        )
    }

    /// Appends labels added since the last call. A failure is logged once and counted; the feed carries on.
    private func writeNewLabels() {
        guard let path = configuration.labelsPath, !labelsFailed else { return }
        let labels = market.labels
        guard labelsFile == nil || labelsWritten < labels.count else { return }
        do {
            if labelsFile == nil {
                let directory = (path as NSString).deletingLastPathComponent
                if !directory.isEmpty { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) }
                guard FileManager.default.createFile(atPath: path, contents: Data((AnomalyLabel.csvHeader + "\n").utf8)) else {
                    throw FeedError(.io, "cannot create labels file \(path)")
                }
                labelsFile = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
                try labelsFile?.seekToEnd()
            }
            guard labelsWritten < labels.count else { return }
            var text = ""
            for label in labels[labelsWritten...] {
                text += label.csvLine
                text += "\n"
            }
            try labelsFile?.write(contentsOf: Data(text.utf8))
            labelsWritten = labels.count
        } catch {
            labelsFailed = true
            metrics.recordError(.io)
            logger.error(
                "Synthetic labels file cannot be written; labels are not recorded.",
                metadata: ["synthetic.labels_path": "\(path)", "error.message": "\(error)"])
        }
    }
}
