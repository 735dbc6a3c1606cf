import Foundation
import Logging
import Metrics
import Tracing
import VigilDetection
import VigilHTTP

/// Configuration of an Alpha Vantage feed (`type: alphavantage`).
public struct AlphaVantageFeedConfiguration: Codable, Sendable, Hashable, CustomStringConvertible {
    /// The time series function.
    public enum Function: String, Codable, Sendable, Hashable, CaseIterable {
        /// `TIME_SERIES_DAILY` (raw daily OHLCV).
        case daily
        /// `TIME_SERIES_DAILY_ADJUSTED` (adds dividends and split coefficients; a premium endpoint today).
        case dailyAdjusted = "daily_adjusted"
        /// `TIME_SERIES_INTRADAY` (needs `interval`).
        case intraday

        public var apiName: String {
            switch self {
            case .daily: "TIME_SERIES_DAILY"
            case .dailyAdjusted: "TIME_SERIES_DAILY_ADJUSTED"
            case .intraday: "TIME_SERIES_INTRADAY"
            }
        }

        public init(from decoder: any Decoder) throws {
            let text = try decoder.singleValueContainer().decode(String.self)
            let normalized = text.lowercased().replacingOccurrences(of: "time_series_", with: "")
            guard let function = Function(rawValue: normalized) else {
                throw DecodingError.dataCorrupted(
                    DecodingError.Context(
                        codingPath: decoder.codingPath,
                        debugDescription: "unknown function '\(text)' (daily, daily_adjusted, intraday)"
                    )
                )
            }
            self = function
        }
    }

    /// Key `name`. Instance name: the `feed` metric label and dead-letter field. Default `alphavantage`.
    public var name: String
    /// Key `symbols`. Required, non-empty. Each symbol costs one request per poll against the budget.
    public var symbols: [String]
    /// Key `function`. `daily`, `daily_adjusted` or `intraday` (full API names are accepted too). Default `daily`.
    public var function: Function
    /// Key `interval`. Intraday bar interval: `1min` `5min` `15min` `30min` `60min`. Default `5min`.
    public var interval: String
    /// Key `outputsize`. `compact` (latest 100 bars) or `full`. Default `compact`: polling needs only the tail.
    public var outputsize: String
    /// Key `baseURL`. Default `https://www.alphavantage.co`; tests point it at a loopback server.
    public var baseURL: String
    /// Key `apiKey`. Where the key comes from. Default `{env: ALPHAVANTAGE_API_KEY}`.
    public var apiKey: APIKeySource
    /// Key `pollIntervalSeconds`. Time between polls. Default 3600 (with the free tier's 25 requests a day that is
    /// one symbol polled hourly; `validate()` flags a schedule that cannot fit the daily budget).
    public var pollIntervalSeconds: Double
    /// Key `emitIncompleteBars`. Emit the bar still forming. Default false.
    public var emitIncompleteBars: Bool
    /// Key `timeoutSeconds`. Per-attempt request timeout. Default 15.
    public var timeoutSeconds: Double
    /// Key `rateLimit`. Default `{requestsPerMinute: 5, requestsPerDay: 25}`: the free tier.
    public var rateLimit: RateLimitConfiguration
    /// Key `retry`. Default `RetryPolicy.default`.
    public var retry: RetryPolicy
    /// Key `circuitBreaker`. Default 5 failures, 30 s open, 1 probe.
    public var circuitBreaker: CircuitBreaker.Configuration
    /// Key `throttlePauseSeconds`. How long the feed stops after a `Note` throttle body. Default 60 (the per-minute
    /// window). An `Information` body about the daily quota pauses for `quotaPauseSeconds` instead.
    public var throttlePauseSeconds: Double
    /// Key `quotaPauseSeconds`. Pause after the daily quota is reported spent. Default 3600.
    public var quotaPauseSeconds: Double

    public static let defaultBaseURL = "https://www.alphavantage.co"

    public init(
        name: String = "alphavantage",
        symbols: [String] = [],
        function: Function = .daily,
        interval: String = "5min",
        outputsize: String = "compact",
        baseURL: String = AlphaVantageFeedConfiguration.defaultBaseURL,
        apiKey: APIKeySource = .environment("ALPHAVANTAGE_API_KEY"),
        pollIntervalSeconds: Double = 3600,
        emitIncompleteBars: Bool = false,
        timeoutSeconds: Double = 15,
        rateLimit: RateLimitConfiguration = RateLimitConfiguration(requestsPerMinute: 5, requestsPerDay: 25),
        retry: RetryPolicy = .default,
        circuitBreaker: CircuitBreaker.Configuration = .default,
        throttlePauseSeconds: Double = 60,
        quotaPauseSeconds: Double = 3600
    ) {
        self.name = name
        self.symbols = symbols
        self.function = function
        self.interval = interval
        self.outputsize = outputsize
        self.baseURL = baseURL
        self.apiKey = apiKey
        self.pollIntervalSeconds = pollIntervalSeconds
        self.emitIncompleteBars = emitIncompleteBars
        self.timeoutSeconds = timeoutSeconds
        self.rateLimit = rateLimit
        self.retry = retry
        self.circuitBreaker = circuitBreaker
        self.throttlePauseSeconds = throttlePauseSeconds
        self.quotaPauseSeconds = quotaPauseSeconds
    }

    public init(from decoder: any Decoder) throws {
        try ConfigKeys.rejectUnknown(in: decoder, known: CodingKeys.allCases.map(\.rawValue))
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = AlphaVantageFeedConfiguration()
        name = try c.decodeIfPresent(String.self, forKey: .name) ?? d.name
        symbols = try c.decodeIfPresent([String].self, forKey: .symbols) ?? d.symbols
        function = try c.decodeIfPresent(Function.self, forKey: .function) ?? d.function
        interval = try c.decodeIfPresent(String.self, forKey: .interval) ?? d.interval
        outputsize = try c.decodeIfPresent(String.self, forKey: .outputsize) ?? d.outputsize
        baseURL = try c.decodeIfPresent(String.self, forKey: .baseURL) ?? d.baseURL
        apiKey = try c.decodeIfPresent(APIKeySource.self, forKey: .apiKey) ?? d.apiKey
        pollIntervalSeconds = try c.decodeIfPresent(Double.self, forKey: .pollIntervalSeconds) ?? d.pollIntervalSeconds
        emitIncompleteBars = try c.decodeIfPresent(Bool.self, forKey: .emitIncompleteBars) ?? d.emitIncompleteBars
        timeoutSeconds = try c.decodeIfPresent(Double.self, forKey: .timeoutSeconds) ?? d.timeoutSeconds
        rateLimit = try c.decodeIfPresent(RateLimitConfiguration.self, forKey: .rateLimit) ?? d.rateLimit
        retry = try c.decodeIfPresent(RetryPolicy.self, forKey: .retry) ?? d.retry
        circuitBreaker = try c.decodeIfPresent(CircuitBreaker.Configuration.self, forKey: .circuitBreaker) ?? d.circuitBreaker
        throttlePauseSeconds = try c.decodeIfPresent(Double.self, forKey: .throttlePauseSeconds) ?? d.throttlePauseSeconds
        quotaPauseSeconds = try c.decodeIfPresent(Double.self, forKey: .quotaPauseSeconds) ?? d.quotaPauseSeconds
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case name, symbols, function, interval, outputsize, baseURL, apiKey, pollIntervalSeconds, emitIncompleteBars
        case timeoutSeconds, rateLimit, retry, circuitBreaker, throttlePauseSeconds, quotaPauseSeconds
    }

    /// Every problem with the configuration, prefixed with `path`.
    public func validate(path: String? = nil) -> [String] {
        let path = path ?? "feeds.\(name)"
        var problems = NetworkFeedChecks.common(
            path: path, name: name, symbols: symbols, baseURL: baseURL, pollIntervalSeconds: pollIntervalSeconds, timeoutSeconds: timeoutSeconds
        )
        if function == .intraday && AlphaVantageParser.intervalSeconds(of: interval).map({ [60, 300, 900, 1800, 3600].contains($0) }) != true {
            problems.append("\(path).interval: must be one of 1min 5min 15min 30min 60min, got '\(interval)'")
        }
        if !["compact", "full"].contains(outputsize) { problems.append("\(path).outputsize: must be compact or full, got '\(outputsize)'") }
        // `compact` returns the latest 100 bars: polling less often than that leaves gaps.
        if outputsize == "compact", function == .intraday, let step = AlphaVantageParser.intervalSeconds(of: interval),
            pollIntervalSeconds > 100 * Double(step)
        {
            problems.append(
                "\(path).pollIntervalSeconds: \(pollIntervalSeconds) s exceeds the 100 bars of a compact \(interval) response "
                    + "(\(100 * Int(step)) s); poll more often or use outputsize full")
        }
        problems += apiKey.validate(path: "\(path).apiKey")
        problems += rateLimit.validate(path: "\(path).rateLimit")
        problems += retry.validate(path: "\(path).retry")
        problems += circuitBreaker.validate(path: "\(path).circuitBreaker")
        for (key, value) in [("throttlePauseSeconds", throttlePauseSeconds), ("quotaPauseSeconds", quotaPauseSeconds)]
        where !(value >= 0 && value.isFinite) {
            problems.append("\(path).\(key): must be a finite number >= 0, got \(value)")
        }
        // The budget check that bites in production: N symbols every T seconds must fit the daily quota.
        if let perDay = rateLimit.requestsPerDay, pollIntervalSeconds > 0, !symbols.isEmpty {
            let needed = Double(symbols.count) * 86_400 / pollIntervalSeconds
            if needed > perDay {
                problems.append(
                    "\(path).pollIntervalSeconds: \(symbols.count) symbol(s) every \(pollIntervalSeconds) s need \(Int(needed.rounded(.up))) "
                        + "requests/day, over rateLimit.requestsPerDay \(Int(perDay)); poll at least every "
                        + "\(Int((Double(symbols.count) * 86_400 / perDay).rounded(.up))) s"
                )
            }
        }
        return problems
    }

    public var policy: FeedHTTPPolicy {
        FeedHTTPPolicy(
            timeoutSeconds: timeoutSeconds,
            rateLimit: rateLimit,
            retry: retry,
            circuitBreaker: circuitBreaker,
            throttlePauseSeconds: throttlePauseSeconds
        )
    }

    public var description: String {
        "AlphaVantageFeedConfiguration(name: \(name), symbols: \(symbols), function: \(function.rawValue), interval: \(interval), "
            + "outputsize: \(outputsize), baseURL: \(baseURL), apiKey: \(apiKey), pollIntervalSeconds: \(pollIntervalSeconds))"
    }
}

/// Alpha Vantage feed: one `GET {baseURL}/query?function=…&symbol=…&apikey=…` per symbol per poll, under the free
/// tier's budget (5 a minute, 25 a day by default).
///
/// Throttling (`Note`, `Information` bodies with HTTP 200) is not retried within the poll — retrying at once would
/// spend the budget on more refusals — the feed pauses instead: `throttlePauseSeconds` after a `Note`,
/// `quotaPauseSeconds` after an `Information` about the daily quota, and the rate limiter refuses requests until
/// then (`budget_exhausted` failures, no network traffic). Throttling does not open the circuit breaker: the API is
/// up. `Error Message` bodies are permanent `api_error` failures of that symbol.
///
/// The API key is loaded once at construction; it appears only in the request URL, which is redacted
/// (`apikey=REDACTED`) wherever it is logged, and scrubbed from error messages.
public actor AlphaVantageFeed: Feed {
    public nonisolated let name: String
    public nonisolated var kind: FeedKind { .alphaVantage }
    public nonisolated let configuration: AlphaVantageFeedConfiguration

    private let apiKey: APIKey
    private let executor: FeedHTTPExecutor
    private let clock: any FeedClock
    private let logger: Logger
    private let metrics: FeedMetrics
    private var schedule: PollSchedule
    private var fresh = FreshRecordFilter()
    private var seenEvents: Set<CorporateEvent> = []

    /// - Throws: `FeedError(.configuration)` when the API key cannot be loaded (fail fast at startup).
    public init(
        configuration: AlphaVantageFeedConfiguration,
        httpClient: HTTPClient,
        logger: Logger,
        metricsFactory: any MetricsFactory = MetricsSystem.factory,
        clock: any FeedClock = SystemFeedClock(),
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(FeedError) {
        try self.init(
            configuration: configuration,
            transport: { try await httpClient.execute($0) },
            logger: logger,
            metricsFactory: metricsFactory,
            clock: clock,
            environment: environment
        )
    }

    init(
        configuration: AlphaVantageFeedConfiguration,
        transport: @escaping FeedHTTPExecutor.Transport,
        logger: Logger,
        metricsFactory: any MetricsFactory,
        clock: any FeedClock,
        environment: [String: String] = ProcessInfo.processInfo.environment,
        jitterSeed: UInt64? = nil
    ) throws(FeedError) {
        let apiKey = try configuration.apiKey.load(environment: environment)
        self.apiKey = apiKey
        self.name = configuration.name
        self.configuration = configuration
        self.clock = clock
        var logger = logger
        logger[metadataKey: "feed.name"] = "\(configuration.name)"
        self.logger = logger
        let metrics = FeedMetrics(feed: configuration.name, factory: metricsFactory)
        self.metrics = metrics
        self.schedule = PollSchedule(intervalSeconds: configuration.pollIntervalSeconds)
        self.executor = FeedHTTPExecutor(
            feed: configuration.name,
            policy: configuration.policy,
            transport: transport,
            clock: clock,
            logger: logger,
            metrics: metrics,
            apiKey: apiKey,
            jitterSeed: jitterSeed
        )
    }

    /// The request URL of one symbol, with the key (never log this; see `redactedURL(for:)`).
    nonisolated func url(for symbol: String) -> String {
        let base = configuration.baseURL.hasSuffix("/") ? String(configuration.baseURL.dropLast()) : configuration.baseURL
        var url = "\(base)/query?function=\(configuration.function.apiName)&symbol=\(URLEncoding.queryValue(symbol))"
        if configuration.function == .intraday { url += "&interval=\(URLEncoding.queryValue(configuration.interval))" }
        url += "&outputsize=\(URLEncoding.queryValue(configuration.outputsize))&datatype=json&apikey=\(URLEncoding.queryValue(apiKey.reveal))"
        return url
    }

    /// The request URL as it may be logged.
    public nonisolated func redactedURL(for symbol: String) -> String { URLRedaction.redact(url(for: symbol)) }

    public func breakerPhase() async -> CircuitBreaker.Phase { await executor.breakerPhase }

    /// Tokens left in the per-minute and per-day budgets.
    public func remainingBudget() async -> (perMinute: Double?, perDay: Double?) { await executor.remainingBudget() }

    public func poll() async throws -> FeedPoll? {
        try await clock.sleep(for: schedule.claim(now: clock.now))
        return try await FeedTracing.poll(feed: name, kind: kind) {
            var poll = FeedPoll(requests: configuration.symbols.count)
            for symbol in configuration.symbols {
                do {
                    let series = try await fetch(symbol)
                    poll.records += fresh.filter(
                        series.records,
                        timestamps: series.recordTimestamps,
                        symbol: symbol,
                        intervalSeconds: series.intervalSeconds,
                        nowMillis: clock.wallMillis,
                        emitIncomplete: configuration.emitIncompleteBars
                    )
                    poll.events += series.events.filter { seenEvents.insert($0).inserted }
                } catch let error as FeedError {
                    poll.failures.append(FeedFailure(symbol: symbol, error: error))
                    logger.warning(
                        "Feed request failed.",
                        metadata: [
                            "feed.symbol": "\(symbol)", "error.type": "\(error.code.rawValue)", "error.message": "\(error.message)",
                            "http.url": "\(redactedURL(for: symbol))",
                        ]
                    )
                }
            }
            metrics.record(poll)
            return poll
        }
    }

    private func fetch(_ symbol: String) async throws -> AlphaVantageSeries {
        let clock = clock
        let throttlePause = configuration.throttlePauseSeconds
        let quotaPause = configuration.quotaPauseSeconds
        return try await executor.get(url(for: symbol)) { response throws(FeedError) -> AlphaVantageSeries in
            if let error = FeedError.classify(response, wallMillis: clock.wallMillis, apiMessage: { _ in nil }) { throw error }
            do throws(FeedError) {
                return try AlphaVantageParser.parse(data: response.body, symbol: symbol)
            } catch {
                guard error.code == .throttled else { throw error }
                var throttled = error
                throttled.retryAfterSeconds = AlphaVantageParser.isDailyQuota(error) ? quotaPause : throttlePause
                throw throttled
            }
        }
    }
}
