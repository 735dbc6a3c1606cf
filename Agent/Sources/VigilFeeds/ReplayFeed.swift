import Foundation
import Logging
import Metrics
import Tracing
import VigilDetection

/// Configuration of a CSV replay feed (`type: replay`).
public struct ReplayFeedConfiguration: Codable, Sendable, Hashable {
    /// The order in which a directory's files are replayed.
    public enum Order: String, Codable, Sendable, Hashable, CaseIterable {
        /// Merge all files by bar time, as a live market would deliver them (what cross-sectional detection needs).
        /// Holds every file's text in memory (30 MB for the 505-file sp500 set).
        case time
        /// One file after the other, each in time order. Holds one file at a time.
        case file
    }

    /// Key `name`. Instance name. Default `replay`.
    public var name: String
    /// Key `path`. A bar CSV file, or a directory whose `*.csv` files are replayed (files whose header does not name
    /// the bar columns, like `MANIFEST.csv`, are skipped). Required.
    public var path: String
    /// Key `speed`. 0 = as fast as possible (chunks of `batchSize`); N > 0 = N seconds of market time per wall-clock
    /// second (60: one minute of bars per second). Default 0.
    public var speed: Double
    /// Key `batchSize`. Most bars per poll. Default 4096.
    public var batchSize: Int
    /// Key `order`. `time` or `file`. Default `time`.
    public var order: Order
    /// Key `symbols`. Only replay files of these symbols. Default: all.
    public var symbols: [String]?
    /// Key `maxSymbols`. Only replay the first N files (by name) — the 100-symbol PoC. Default: all.
    public var maxSymbols: Int?
    /// Key `symbol`. Symbol for a single file without a symbol column, overriding the file-name rule
    /// (`MSFT_1min_….csv` → `MSFT`). Default: from the file name.
    public var symbol: String?
    /// Key `timeZone`. Zone of date-time values (date-only rows are 00:00 UTC). Default `America/New_York`, the zone
    /// of Alpha Vantage's CSV.
    public var timeZone: String
    /// Key `timeLabel`. `end` when a date-time labels the bar's end (Alpha Vantage: there are 20:00 bars but no 04:00
    /// bar in its 04:00–20:00 session), `start` otherwise. Default `end`.
    public var timeLabel: String
    /// Key `intervalSeconds`. Bar length of date-time rows. Default: from the file name (`_1min_` → 60), else 60.
    public var intervalSeconds: Int?

    public init(
        name: String = "replay",
        path: String = "",
        speed: Double = 0,
        batchSize: Int = 4096,
        order: Order = .time,
        symbols: [String]? = nil,
        maxSymbols: Int? = nil,
        symbol: String? = nil,
        timeZone: String = "America/New_York",
        timeLabel: String = "end",
        intervalSeconds: Int? = nil
    ) {
        self.name = name
        self.path = path
        self.speed = speed
        self.batchSize = batchSize
        self.order = order
        self.symbols = symbols
        self.maxSymbols = maxSymbols
        self.symbol = symbol
        self.timeZone = timeZone
        self.timeLabel = timeLabel
        self.intervalSeconds = intervalSeconds
    }

    public init(from decoder: any Decoder) throws {
        try ConfigKeys.rejectUnknown(in: decoder, known: CodingKeys.allCases.map(\.rawValue))
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = ReplayFeedConfiguration()
        name = try c.decodeIfPresent(String.self, forKey: .name) ?? d.name
        path = try c.decodeIfPresent(String.self, forKey: .path) ?? d.path
        speed = try c.decodeIfPresent(Double.self, forKey: .speed) ?? d.speed
        batchSize = try c.decodeIfPresent(Int.self, forKey: .batchSize) ?? d.batchSize
        order = try c.decodeIfPresent(Order.self, forKey: .order) ?? d.order
        symbols = try c.decodeIfPresent([String].self, forKey: .symbols)
        maxSymbols = try c.decodeIfPresent(Int.self, forKey: .maxSymbols)
        symbol = try c.decodeIfPresent(String.self, forKey: .symbol)
        timeZone = try c.decodeIfPresent(String.self, forKey: .timeZone) ?? d.timeZone
        timeLabel = try c.decodeIfPresent(String.self, forKey: .timeLabel) ?? d.timeLabel
        intervalSeconds = try c.decodeIfPresent(Int.self, forKey: .intervalSeconds)
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case name, path, speed, batchSize, order, symbols, maxSymbols, symbol, timeZone, timeLabel, intervalSeconds
    }

    /// Every problem with the configuration, prefixed with `path`. Checks that the path exists (a startup check).
    public func validate(path configPath: String? = nil) -> [String] {
        let configPath = configPath ?? "feeds.\(name)"
        var problems: [String] = []
        if name.isEmpty { problems.append("\(configPath).name: must not be empty") }
        if path.isEmpty {
            problems.append("\(configPath).path: required (a CSV file or a directory of CSV files)")
        } else if !FileManager.default.fileExists(atPath: path) {
            problems.append("\(configPath).path: '\(path)' does not exist")
        }
        if !(speed >= 0 && speed.isFinite) {
            problems.append("\(configPath).speed: must be 0 (as fast as possible) or a positive number, got \(speed)")
        }
        if batchSize < 1 { problems.append("\(configPath).batchSize: must be at least 1, got \(batchSize)") }
        if let maxSymbols, maxSymbols < 1 { problems.append("\(configPath).maxSymbols: must be at least 1 when set, got \(maxSymbols)") }
        if let symbols, symbols.isEmpty { problems.append("\(configPath).symbols: is empty; omit it to replay every file") }
        if MarketTime.Zone(identifier: timeZone) == nil { problems.append("\(configPath).timeZone: unknown time zone '\(timeZone)'") }
        if !["end", "start"].contains(timeLabel) { problems.append("\(configPath).timeLabel: must be end or start, got '\(timeLabel)'") }
        if let intervalSeconds, !(1...Int(Int32.max)).contains(intervalSeconds) {
            problems.append("\(configPath).intervalSeconds: must be a positive number of seconds, got \(intervalSeconds)")
        }
        return problems
    }
}

/// Replays bar CSV files (`../shared/data/sp500-daily`, Alpha Vantage's intraday CSV) as a feed.
///
/// - As fast as possible (`speed` 0): each poll returns the next `batchSize` bars at once; the pipeline's own pace
///   is the only limit.
/// - Scaled real time (`speed` > 0): the first bar anchors market time to the wall clock; a bar is returned when
///   `(bar time − first bar time) / speed` has elapsed. Gaps (nights, weekends) are replayed as gaps, scaled.
///
/// Bars are emitted oldest first per symbol, also from newest-first files. With `order: time` a directory is merged
/// across files by bar time (ties in file-name order), as a live market would deliver it. Dirty rows (empty fields,
/// bad numbers) are emitted as `RawBar`s with a `problem` so the normalizer dead-letters them; nothing is dropped
/// silently. `poll()` returns `nil` once every file has been replayed.
public actor ReplayFeed: Feed {
    public nonisolated let name: String
    public nonisolated var kind: FeedKind { .replay }
    public nonisolated let configuration: ReplayFeedConfiguration
    /// The files this feed replays, in name order (after the `symbols` / `maxSymbols` selection).
    public nonisolated let files: [String]

    private let clock: any FeedClock
    private let logger: Logger
    private let metrics: FeedMetrics
    private let zone: MarketTime.Zone

    private var started = false
    private var finished = false
    private var cursors: [CSVBarFile?] = []
    /// The next record of each cursor, for the time merge.
    private var pending: [(timestamp: Int64, record: RawBar)?] = []
    private var heap = MergeHeap()
    /// `order: file`: the file being replayed.
    private var fileIndex = 0
    private var anchor: (wall: Duration, market: Int64)?
    private var emitted = 0
    private var skippedFiles = 0

    /// - Throws: `FeedError(.configuration)` when `path` does not exist or holds no CSV file.
    public init(
        configuration: ReplayFeedConfiguration,
        logger: Logger,
        metricsFactory: any MetricsFactory = MetricsSystem.factory,
        clock: any FeedClock = SystemFeedClock()
    ) throws(FeedError) {
        self.name = configuration.name
        self.configuration = configuration
        self.clock = clock
        var logger = logger
        logger[metadataKey: "feed.name"] = "\(configuration.name)"
        self.logger = logger
        self.metrics = FeedMetrics(feed: configuration.name, factory: metricsFactory)
        self.zone = MarketTime.Zone(identifier: configuration.timeZone) ?? .usEastern
        self.files = try ReplayFeed.listFiles(configuration)
    }

    static func listFiles(_ configuration: ReplayFeedConfiguration) throws(FeedError) -> [String] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: configuration.path, isDirectory: &isDirectory) else {
            throw FeedError(.configuration, "replay path '\(configuration.path)' does not exist")
        }
        guard isDirectory.boolValue else { return [configuration.path] }
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: configuration.path)
        } catch {
            throw FeedError(.configuration, "cannot list replay directory '\(configuration.path)': \(error)")
        }
        var files = names.filter { $0.lowercased().hasSuffix(".csv") }.sorted().map { (configuration.path as NSString).appendingPathComponent($0) }
        if let symbols = configuration.symbols {
            let wanted = Set(symbols)
            files = files.filter { wanted.contains(CSVBarFile.symbol(fromPath: $0)) }
        }
        // MANIFEST-style files are not bar files; leave them out of the symbol count.
        files = files.filter { !(($0 as NSString).lastPathComponent.uppercased().hasPrefix("MANIFEST")) }
        if let maxSymbols = configuration.maxSymbols { files = Array(files.prefix(maxSymbols)) }
        guard !files.isEmpty else { throw FeedError(.configuration, "replay directory '\(configuration.path)' has no matching CSV files") }
        return files
    }

    public func poll() async throws -> FeedPoll? {
        guard !finished else { return nil }
        if !started { start() }
        guard let next = peekTimestamp() else {
            finished = true
            logger.info("Replay finished.", metadata: ["replay.bars": "\(emitted)", "replay.files": "\(files.count - skippedFiles)"])
            return nil
        }
        let batchSize = max(1, configuration.batchSize)

        if configuration.speed > 0 {
            var anchor = self.anchor ?? (clock.now, next)
            if next < anchor.market { anchor = (clock.now, next) }  // a new file in `order: file`
            self.anchor = anchor
            let due = self.due(next, anchor: anchor)
            let now = clock.now
            if due > now { try await clock.sleep(for: due - now) }
        }

        return await FeedTracing.poll(feed: name, kind: kind) {
            var poll = FeedPoll()
            poll.records.reserveCapacity(configuration.speed > 0 ? 64 : batchSize)
            let now = clock.now
            while poll.records.count < batchSize {
                if configuration.speed > 0, let anchor, let next = peekTimestamp(), due(next, anchor: anchor) > now { break }
                guard let record = nextRecord() else { break }
                poll.records.append(record)
            }
            emitted += poll.records.count
            metrics.record(poll)
            return poll
        }
    }

    private func due(_ timestamp: Int64, anchor: (wall: Duration, market: Int64)) -> Duration {
        anchor.wall + Duration.seconds(clamping: Double(timestamp - anchor.market) / 1000 / configuration.speed)
    }

    // MARK: - Cursors

    private func start() {
        started = true
        switch configuration.order {
        case .time:
            cursors = files.map { open($0) }
            pending = Array(repeating: nil, count: cursors.count)
            for index in cursors.indices {
                pending[index] = cursors[index]?.next()
                if let entry = pending[index] { heap.push((entry.timestamp, index)) }
                cursors[index] = cursors[index]?.isExhausted == true ? nil : cursors[index]
            }
        case .file:
            cursors = [nil]
            pending = [nil]
            advanceFile()
        }
    }

    private func open(_ path: String) -> CSVBarFile? {
        let interval = configuration.intervalSeconds.map { Int32(clamping: $0) } ?? CSVBarFile.intervalSeconds(fromPath: path) ?? 60
        let convention = CSVTimeConvention(zone: zone, labelsBarEnd: configuration.timeLabel != "start", intervalSeconds: interval)
        do {
            guard let file = try CSVBarFile(path: path, symbol: files.count == 1 ? configuration.symbol : nil, convention: convention) else {
                skippedFiles += 1
                logger.info("Replay file skipped: its header does not name the bar columns.", metadata: ["replay.file": "\(path)"])
                return nil
            }
            return file
        } catch {
            skippedFiles += 1
            metrics.recordError(error.code)
            logger.warning("Replay file skipped: it cannot be read.", metadata: ["replay.file": "\(path)", "error.message": "\(error.message)"])
            return nil
        }
    }

    /// `order: file`: loads the next readable file into slot 0 (the previous one is released).
    private func advanceFile() {
        while fileIndex < files.count {
            let path = files[fileIndex]
            fileIndex += 1
            guard var file = open(path) else { continue }
            if let first = file.next() {
                cursors[0] = file
                pending[0] = first
                return
            }
        }
        cursors[0] = nil
        pending[0] = nil
    }

    private func peekTimestamp() -> Int64? {
        switch configuration.order {
        case .time: heap.min.map { $0.timestamp }
        case .file: pending[0]?.timestamp
        }
    }

    private func nextRecord() -> RawBar? {
        switch configuration.order {
        case .time:
            guard let top = heap.popMin(), let entry = pending[top.index] else { return nil }
            pending[top.index] = cursors[top.index]?.next()
            if let next = pending[top.index] {
                heap.push((next.timestamp, top.index))
            } else {
                cursors[top.index] = nil  // releases the file's bytes
            }
            return entry.record
        case .file:
            guard let entry = pending[0] else { return nil }
            pending[0] = cursors[0]?.next()
            if pending[0] == nil { advanceFile() }
            return entry.record
        }
    }
}

/// A binary min-heap of (timestamp, cursor index); ties resolve to the lower index (file-name order).
struct MergeHeap: Sendable {
    private var items: [(timestamp: Int64, index: Int)] = []

    var min: (timestamp: Int64, index: Int)? { items.first }

    private static func less(_ a: (timestamp: Int64, index: Int), _ b: (timestamp: Int64, index: Int)) -> Bool {
        a.timestamp != b.timestamp ? a.timestamp < b.timestamp : a.index < b.index
    }

    mutating func push(_ item: (timestamp: Int64, index: Int)) {
        items.append(item)
        var child = items.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard Self.less(items[child], items[parent]) else { break }
            items.swapAt(child, parent)
            child = parent
        }
    }

    mutating func popMin() -> (timestamp: Int64, index: Int)? {
        guard let top = items.first else { return nil }
        let last = items.removeLast()
        if !items.isEmpty {
            items[0] = last
            var parent = 0
            while true {
                let left = 2 * parent + 1
                let right = left + 1
                var smallest = parent
                if left < items.count && Self.less(items[left], items[smallest]) { smallest = left }
                if right < items.count && Self.less(items[right], items[smallest]) { smallest = right }
                if smallest == parent { break }
                items.swapAt(parent, smallest)
                parent = smallest
            }
        }
        return top
    }
}
