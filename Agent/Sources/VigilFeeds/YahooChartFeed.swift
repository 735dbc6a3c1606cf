import Foundation
import Logging
import Metrics
import Tracing
import VigilDetection
import VigilHTTP

/// Configuration of a Yahoo Finance chart v8 feed (`type: yahoo`).
public struct YahooFeedConfiguration: Codable, Sendable, Hashable {
    /// Key `name`. Instance name: the `feed` metric label and dead-letter field. Default `yahoo`.
    public var name: String
    /// Key `symbols`. Yahoo tickers (`AAPL`, `BTC-USD`, `WSU.DE`, `^GSPC`). Required, non-empty.
    public var symbols: [String]
    /// Key `interval`. Bar interval: `1m` `2m` `5m` `15m` `30m` `60m` `90m` `1h` `1d` `5d` `1wk` `1mo` `3mo`.
    /// Default `1d`.
    public var interval: String
    /// Key `range`. Window requested on each poll (`1d` `5d` `1mo` …); must cover the poll interval. Default `5d`.
    public var range: String
    /// Key `includePrePost`. Include pre/post-market bars (intraday intervals only). Default false.
    public var includePrePost: Bool
    /// Key `baseURL`. Default `https://query1.finance.yahoo.com`; tests point it at a loopback server.
    public var baseURL: String
    /// Key `pollIntervalSeconds`. Time between polls (each poll requests every symbol once). Default 300.
    public var pollIntervalSeconds: Double
    /// Key `emitIncompleteBars`. Emit the bar still forming (open + interval > now). Default false: it would change
    /// on the next poll and the detectors would see a partial bar.
    public var emitIncompleteBars: Bool
    /// Key `timeoutSeconds`. Per-attempt request timeout. Default 10.
    public var timeoutSeconds: Double
    /// Key `rateLimit`. Default `{requestsPerMinute: 60}` (Yahoo publishes no quota; ~60/min stays clear of 429s).
    public var rateLimit: RateLimitConfiguration
    /// Key `retry`. Default `RetryPolicy.default` (3 attempts, 0.5 s initial, full jitter).
    public var retry: RetryPolicy
    /// Key `circuitBreaker`. Default 5 failures, 30 s open, 1 probe.
    public var circuitBreaker: CircuitBreaker.Configuration
    /// Key `userAgent`. Sent instead of the agent's own `User-Agent`: Yahoo tends to answer 429 to library user
    /// agents. Default: absent (the HTTP client's).
    public var userAgent: String?

    public static let defaultBaseURL = "https://query1.finance.yahoo.com"

    public init(
        name: String = "yahoo",
        symbols: [String] = [],
        interval: String = "1d",
        range: String = "5d",
        includePrePost: Bool = false,
        baseURL: String = YahooFeedConfiguration.defaultBaseURL,
        pollIntervalSeconds: Double = 300,
        emitIncompleteBars: Bool = false,
        timeoutSeconds: Double = 10,
        rateLimit: RateLimitConfiguration = RateLimitConfiguration(requestsPerMinute: 60),
        retry: RetryPolicy = .default,
        circuitBreaker: CircuitBreaker.Configuration = .default,
        userAgent: String? = nil
    ) {
        self.name = name
        self.symbols = symbols
        self.interval = interval
        self.range = range
        self.includePrePost = includePrePost
        self.baseURL = baseURL
        self.pollIntervalSeconds = pollIntervalSeconds
        self.emitIncompleteBars = emitIncompleteBars
        self.timeoutSeconds = timeoutSeconds
        self.rateLimit = rateLimit
        self.retry = retry
        self.circuitBreaker = circuitBreaker
        self.userAgent = userAgent
    }

    public init(from decoder: any Decoder) throws {
        try ConfigKeys.rejectUnknown(in: decoder, known: CodingKeys.allCases.map(\.rawValue))
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = YahooFeedConfiguration()
        name = try c.decodeIfPresent(String.self, forKey: .name) ?? d.name
        symbols = try c.decodeIfPresent([String].self, forKey: .symbols) ?? d.symbols
        interval = try c.decodeIfPresent(String.self, forKey: .interval) ?? d.interval
        range = try c.decodeIfPresent(String.self, forKey: .range) ?? d.range
        includePrePost = try c.decodeIfPresent(Bool.self, forKey: .includePrePost) ?? d.includePrePost
        baseURL = try c.decodeIfPresent(String.self, forKey: .baseURL) ?? d.baseURL
        pollIntervalSeconds = try c.decodeIfPresent(Double.self, forKey: .pollIntervalSeconds) ?? d.pollIntervalSeconds
        emitIncompleteBars = try c.decodeIfPresent(Bool.self, forKey: .emitIncompleteBars) ?? d.emitIncompleteBars
        timeoutSeconds = try c.decodeIfPresent(Double.self, forKey: .timeoutSeconds) ?? d.timeoutSeconds
        rateLimit = try c.decodeIfPresent(RateLimitConfiguration.self, forKey: .rateLimit) ?? d.rateLimit
        retry = try c.decodeIfPresent(RetryPolicy.self, forKey: .retry) ?? d.retry
        circuitBreaker = try c.decodeIfPresent(CircuitBreaker.Configuration.self, forKey: .circuitBreaker) ?? d.circuitBreaker
        userAgent = try c.decodeIfPresent(String.self, forKey: .userAgent)
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case name, symbols, interval, range, includePrePost, baseURL, pollIntervalSeconds, emitIncompleteBars, timeoutSeconds
        case rateLimit, retry, circuitBreaker, userAgent
    }

    /// Every problem with the configuration (Vector-style: all of them, not the first), prefixed with `path`.
    public func validate(path: String? = nil) -> [String] {
        let path = path ?? "feeds.\(name)"
        var problems = NetworkFeedChecks.common(
            path: path, name: name, symbols: symbols, baseURL: baseURL, pollIntervalSeconds: pollIntervalSeconds, timeoutSeconds: timeoutSeconds
        )
        if YahooChartParser.intervalSeconds(of: interval) == nil {
            problems.append("\(path).interval: unknown interval '\(interval)' (1m 2m 5m 15m 30m 60m 90m 1h 1d 5d 1wk 1mo 3mo)")
        }
        if let rangeSeconds = Self.rangeSeconds[range] {
            // Yahoo refuses long windows of fine bars ("Only 8 days worth of 1m granularity data are allowed",
            // "15m data not available … must be within the last 60 days"; ranaroussi/yfinance #2902).
            if let step = YahooChartParser.intervalSeconds(of: interval), let limit = Self.maxRangeSeconds(intervalSeconds: step),
                rangeSeconds > limit
            {
                problems.append("\(path).range: '\(range)' is longer than Yahoo serves \(interval) bars for (at most \(Int(limit / 86_400)) days)")
            }
            if pollIntervalSeconds > rangeSeconds {
                problems.append(
                    "\(path).range: '\(range)' is shorter than pollIntervalSeconds \(pollIntervalSeconds); bars between polls would be missed")
            }
        } else {
            problems.append("\(path).range: unknown range '\(range)' (\(Self.rangeSeconds.keys.sorted().joined(separator: " ")))")
        }
        problems += rateLimit.validate(path: "\(path).rateLimit")
        problems += retry.validate(path: "\(path).retry")
        problems += circuitBreaker.validate(path: "\(path).circuitBreaker")
        return problems
    }

    public var policy: FeedHTTPPolicy {
        FeedHTTPPolicy(timeoutSeconds: timeoutSeconds, rateLimit: rateLimit, retry: retry, circuitBreaker: circuitBreaker, userAgent: userAgent)
    }

    /// Yahoo's `range` values and their length (`ytd` and `max` count as unbounded).
    static let rangeSeconds: [String: Double] = [
        "1d": 86_400, "5d": 5 * 86_400, "1mo": 31 * 86_400, "3mo": 92 * 86_400, "6mo": 183 * 86_400, "1y": 366 * 86_400,
        "2y": 731 * 86_400, "5y": 1_827 * 86_400, "10y": 3_653 * 86_400, "ytd": .infinity, "max": .infinity,
    ]

    /// The longest window Yahoo serves bars of a given length for: 1m → 7 days, under 1h → 60 days, 1h → 730 days.
    static func maxRangeSeconds(intervalSeconds: Int32) -> Double? {
        switch intervalSeconds {
        case ..<120: 7 * 86_400
        case ..<3_600: 60 * 86_400
        case ..<86_400: 730 * 86_400
        default: nil
        }
    }
}

/// Yahoo Finance chart v8 feed: one `GET {baseURL}/v8/finance/chart/{symbol}?interval=…&range=…` per symbol per poll.
///
/// Each poll re-reads a window (`range`) that overlaps the previous one, so the feed remembers the newest bar it
/// emitted per symbol and emits only newer, complete bars; corporate events are emitted once each. A failed symbol
/// (404 for a delisted ticker, breaker open, …) is reported in `FeedPoll.failures` and logged once per poll; the
/// other symbols' bars still flow.
public actor YahooChartFeed: Feed {
    public nonisolated let name: String
    public nonisolated var kind: FeedKind { .yahoo }
    public nonisolated let configuration: YahooFeedConfiguration

    private let executor: FeedHTTPExecutor
    private let clock: any FeedClock
    private let logger: Logger
    private let metrics: FeedMetrics
    private let intervalSeconds: Int32
    private var schedule: PollSchedule
    private var fresh = FreshRecordFilter()
    private var seenEvents: Set<CorporateEvent> = []

    /// - Parameters:
    ///   - configuration: a configuration that passed `validate()`.
    ///   - httpClient: the shared libcurl client.
    ///   - logger: the feed logs with `feed.name` metadata; never per bar above debug.
    ///   - metricsFactory: defaults to the bootstrapped factory.
    ///   - clock: schedules, backoff and breaker time.
    public init(
        configuration: YahooFeedConfiguration,
        httpClient: HTTPClient,
        logger: Logger,
        metricsFactory: any MetricsFactory = MetricsSystem.factory,
        clock: any FeedClock = SystemFeedClock()
    ) {
        self.init(
            configuration: configuration,
            transport: { try await httpClient.execute($0) },
            logger: logger,
            metricsFactory: metricsFactory,
            clock: clock
        )
    }

    init(
        configuration: YahooFeedConfiguration,
        transport: @escaping FeedHTTPExecutor.Transport,
        logger: Logger,
        metricsFactory: any MetricsFactory,
        clock: any FeedClock,
        jitterSeed: UInt64? = nil
    ) {
        self.name = configuration.name
        self.configuration = configuration
        self.clock = clock
        var logger = logger
        logger[metadataKey: "feed.name"] = "\(configuration.name)"
        self.logger = logger
        let metrics = FeedMetrics(feed: configuration.name, factory: metricsFactory)
        self.metrics = metrics
        self.intervalSeconds = YahooChartParser.intervalSeconds(of: configuration.interval) ?? 86_400
        self.schedule = PollSchedule(intervalSeconds: configuration.pollIntervalSeconds)
        self.executor = FeedHTTPExecutor(
            feed: configuration.name,
            policy: configuration.policy,
            transport: transport,
            clock: clock,
            logger: logger,
            metrics: metrics,
            jitterSeed: jitterSeed
        )
    }

    /// The URL of one symbol's chart request.
    public nonisolated func url(for symbol: String) -> String {
        let base = configuration.baseURL.hasSuffix("/") ? String(configuration.baseURL.dropLast()) : configuration.baseURL
        return "\(base)/v8/finance/chart/\(URLEncoding.pathSegment(symbol))?interval=\(URLEncoding.queryValue(configuration.interval))"
            + "&range=\(URLEncoding.queryValue(configuration.range))&includePrePost=\(configuration.includePrePost)&events=div%7Csplit"
    }

    /// The breaker's phase.
    public func breakerPhase() async -> CircuitBreaker.Phase { await executor.breakerPhase }

    public func poll() async throws -> FeedPoll? {
        try await clock.sleep(for: schedule.claim(now: clock.now))
        return try await FeedTracing.poll(feed: name, kind: kind) {
            var poll = FeedPoll(requests: configuration.symbols.count)
            for symbol in configuration.symbols {
                do {
                    let chart = try await fetch(symbol)
                    poll.nullsSkipped += chart.nullsSkipped
                    poll.records += fresh.filter(
                        chart.records,
                        timestamps: chart.records.map { $0.bar?.timestamp },
                        symbol: symbol,
                        intervalSeconds: chart.intervalSeconds,
                        nowMillis: clock.wallMillis,
                        emitIncomplete: configuration.emitIncompleteBars
                    )
                    poll.events += chart.events.filter { seenEvents.insert($0).inserted }
                } catch let error as FeedError {
                    poll.failures.append(FeedFailure(symbol: symbol, error: error))
                    logger.warning(
                        "Feed request failed.",
                        metadata: [
                            "feed.symbol": "\(symbol)", "error.type": "\(error.code.rawValue)", "error.message": "\(error.message)",
                            "http.status": "\(error.status.map(String.init) ?? "-")",
                        ]
                    )
                }
            }
            metrics.record(poll)
            return poll
        }
    }

    private func fetch(_ symbol: String) async throws -> YahooChart {
        let interval = intervalSeconds
        let clock = clock
        return try await executor.get(url(for: symbol)) { response throws(FeedError) -> YahooChart in
            if let error = FeedError.classify(response, wallMillis: clock.wallMillis, apiMessage: { YahooChartParser.errorMessage(data: $0.body) }) {
                throw error
            }
            return try YahooChartParser.parse(data: response.body, symbol: symbol, defaultIntervalSeconds: interval)
        }
    }

}

/// What a polling feed has already emitted. Each poll re-reads a window that overlaps the previous one, so only
/// records newer than the symbol's newest emitted bar pass — including records that failed to parse, which would
/// otherwise be dead-lettered again on every poll — and, unless asked, only complete bars (open + interval ≤ now):
/// the bar still forming changes on the next poll.
struct FreshRecordFilter: Sendable {
    private var lastEmitted: [String: Int64] = [:]
    /// Records without a readable time are passed once each (bounded, so a broken source cannot grow it forever).
    private var seenUndated: Set<String> = []
    private static let maxUndated = 10_000

    mutating func filter(
        _ records: [RawBar],
        timestamps: [Int64?],
        symbol: String,
        intervalSeconds: Int32,
        nowMillis: Int64,
        emitIncomplete: Bool
    ) -> [RawBar] {
        let last = lastEmitted[symbol] ?? Int64.min
        var newest = last
        var fresh: [RawBar] = []
        for (record, timestamp) in zip(records, timestamps) {
            guard let timestamp else {
                if seenUndated.count < Self.maxUndated, seenUndated.insert(record.raw).inserted { fresh.append(record) }
                continue
            }
            guard timestamp > last else { continue }
            if !emitIncomplete && timestamp + Int64(intervalSeconds) * 1000 > nowMillis { continue }
            fresh.append(record)
            newest = max(newest, timestamp)
        }
        lastEmitted[symbol] = newest
        return fresh
    }
}

/// A fixed-rate schedule: the first poll is due at once, each next one `intervalSeconds` after the previous one was
/// due. A poll that overran is followed immediately, but missed polls are not made up in a burst.
struct PollSchedule: Sendable {
    let interval: Duration
    private var nextDue: Duration?

    init(intervalSeconds: Double) {
        interval = .seconds(clamping: intervalSeconds)
    }

    /// Claims the next slot: returns how long to wait before polling (zero when due) and moves the schedule on.
    mutating func claim(now: Duration) -> Duration {
        let due = max(nextDue ?? now, now - interval)
        nextDue = max(due, now) + interval
        return due > now ? due - now : .zero
    }
}

/// Percent-encoding for the URLs the feeds build.
enum URLEncoding {
    private static let unreserved = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")

    /// A path segment: everything but RFC 3986 unreserved characters is escaped (`^GSPC` → `%5EGSPC`).
    static func pathSegment(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: unreserved) ?? text
    }

    /// A query value.
    static func queryValue(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: unreserved) ?? text
    }
}

/// Checks shared by the network feed configurations.
enum NetworkFeedChecks {
    static func common(
        path: String,
        name: String,
        symbols: [String],
        baseURL: String,
        pollIntervalSeconds: Double,
        timeoutSeconds: Double
    ) -> [String] {
        var problems: [String] = []
        if name.isEmpty { problems.append("\(path).name: must not be empty") }
        if symbols.isEmpty { problems.append("\(path).symbols: must list at least one symbol") }
        if symbols.contains(where: { $0.trimmingCharacters(in: .whitespaces).isEmpty }) {
            problems.append("\(path).symbols: contains an empty symbol")
        }
        let duplicates = Dictionary(grouping: symbols, by: { $0 }).filter { $0.value.count > 1 }.keys.sorted()
        if !duplicates.isEmpty { problems.append("\(path).symbols: duplicates \(duplicates.joined(separator: ", "))") }
        if !(baseURL.hasPrefix("http://") || baseURL.hasPrefix("https://")) {
            problems.append("\(path).baseURL: must start with http:// or https://, got '\(baseURL)'")
        }
        if !(pollIntervalSeconds > 0 && pollIntervalSeconds.isFinite) {
            problems.append("\(path).pollIntervalSeconds: must be a finite number > 0, got \(pollIntervalSeconds)")
        }
        if !(timeoutSeconds > 0 && timeoutSeconds.isFinite) {
            problems.append("\(path).timeoutSeconds: must be a finite number > 0, got \(timeoutSeconds)")
        }
        return problems
    }
}
