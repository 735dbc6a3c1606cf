import Foundation
import Logging
import Synchronization
import Testing
import VigilDetection
import VigilHTTP

@testable import VigilFeeds

/// Real HTTP over loopback: `SimpleHTTPServer` serves the captured bodies of `../shared/data/api-fixtures` and the
/// feeds fetch them through libcurl. Time is a `TestClock`, so backoff, Retry-After and breaker periods are instant.
@Suite("HTTP feeds over loopback", .enabled(if: SharedData.isAvailable, SharedData.missing))
struct HTTPFeedTests {
    /// symbol → (status, Yahoo body file).
    static let yahooRoutes: [String: (Int, String)] = [
        "AAPL": (200, "chart-AAPL-2020-08-31-to-2020-11-07"),
        "NVDA": (200, "historical-via-chart-NVDA-split-2021-02-01-to-2022-01-31.csv"),
        "MSFT": (200, "historical-via-chart-MSFT-dividends-2021-02-01-to-2022-01-31.csv"),
        "BTC-USD": (200, "chart-BTC-USD-2020-01-01-to-2020-01-03"),
        "WSU.DE": (200, "chart-WSU.DE-2023-08-04-to-2023-08-09"),
        "SI": (404, "error-404-historical-via-chart-SI-2020-01-01-to-2020-01-03"),
        "BEKE": (400, "error-400-chart-BEKE-2020-01-01-to-2020-01-03"),
        "EMPTY": (200, "chart-AAPL-2025-02-01-to-2025-02-02-includePrePost-false-interval-1m"),
    ]

    static func yahooServer() throws -> FixtureServer {
        var bodies: [String: (Int, [UInt8])] = [:]
        for (symbol, (status, file)) in yahooRoutes { bodies[symbol] = (status, try SharedData.yahooBody(file)) }
        let routes = bodies
        return try FixtureServer { request, _ in
            let symbol = String(request.path.split(separator: "/").last ?? "")
            guard request.path.hasPrefix("/v8/finance/chart/"), let (status, body) = routes[symbol] else {
                return ServerResponse(status: 500, contentType: "text/plain", text: "no route \(request.path)")
            }
            return FixtureServer.json(body, status: status)
        }
    }

    func yahooFeed(
        _ server: FixtureServer,
        symbols: [String],
        clock: TestClock,
        metrics: TestMetrics,
        logs: InMemoryLogs = InMemoryLogs(),
        retry: RetryPolicy = RetryPolicy(maxAttempts: 3, initialBackoffSeconds: 0.5),
        breaker: CircuitBreaker.Configuration = .default,
        pollIntervalSeconds: Double = 300
    ) -> YahooChartFeed {
        YahooChartFeed(
            configuration: YahooFeedConfiguration(
                name: "yahoo-test",
                symbols: symbols,
                baseURL: server.baseURL,
                pollIntervalSeconds: pollIntervalSeconds,
                retry: retry,
                circuitBreaker: breaker
            ),
            httpClient: HTTPClient(),
            logger: logs.logger(),
            metricsFactory: metrics,
            clock: clock
        )
    }

    // MARK: - Yahoo

    @Test func yahooFeedFetchesEveryCaptureAndReportsFailuresPerSymbol() async throws {
        let server = try Self.yahooServer()
        let clock = TestClock()
        let metrics = TestMetrics()
        let symbols = ["AAPL", "NVDA", "MSFT", "BTC-USD", "WSU.DE", "SI", "BEKE", "EMPTY"]
        let feed = yahooFeed(server, symbols: symbols, clock: clock, metrics: metrics)

        let poll = try #require(try await feed.poll())
        #expect(poll.records.count == 559)  // 49 + 252 + 252 + 3 + 3
        #expect(poll.requests == 8)
        #expect(poll.outcome == .partial)
        #expect(poll.events.count == 7)  // AAPL split+dividend, NVDA split, MSFT 4 dividends
        let failures = Dictionary(uniqueKeysWithValues: poll.failures.map { ($0.symbol, $0.error) })
        #expect(failures["SI"] == FeedError(.clientError, "Not Found: No data found, symbol may be delisted", status: 404))
        #expect(failures["BEKE"]?.code == .clientError)
        #expect(failures["BEKE"]?.status == 400)
        #expect(failures["BEKE"]?.message == "Bad Request: Data doesn't exist for startDate = 1577836800, endDate = 1578009600")
        // 4xx is permanent: one request per symbol, no retries.
        #expect(server.requestCount == 8)
        #expect(metrics.total(FeedMetricNames.retries) == 0)
        #expect(await feed.breakerPhase() == .closed)

        let query = try #require(server.requests.first?.query)
        #expect(query["interval"] == "1d" && query["range"] == "5d" && query["events"] == "div|split" && query["includePrePost"] == "false")
        #expect(server.requests.map(\.path).contains("/v8/finance/chart/BTC-USD"))

        #expect(metrics.value(FeedMetricNames.polls, [("feed", "yahoo-test"), ("outcome", "partial")]) == 1)
        #expect(metrics.value(FeedMetricNames.bars, [("feed", "yahoo-test")]) == 559)
        #expect(metrics.value(FeedMetricNames.errors, [("feed", "yahoo-test"), ("reason", "client_error")]) == 2)
        #expect(metrics.value(FeedMetricNames.requestDuration, [("feed", "yahoo-test")]) == 8)
        #expect(metrics.value(FeedMetricNames.events, [("feed", "yahoo-test")]) == 7)

        // The next poll waits for the schedule and re-reads overlapping windows: nothing is emitted twice.
        let again = try #require(try await feed.poll())
        #expect(clock.sleeps.last == .seconds(300))
        #expect(again.records.isEmpty)
        #expect(again.events.isEmpty)
        #expect(server.requestCount == 16)
    }

    @Test func incompleteBarsAreHeldBack() async throws {
        let server = try Self.yahooServer()
        // Wall clock inside the last BTC bar (2020-01-03 00:00 UTC + 1 h): that daily bar is still forming.
        let clock = TestClock(wallMillis: 1_578_009_600_000 + 3_600_000)
        let feed = yahooFeed(server, symbols: ["BTC-USD"], clock: clock, metrics: TestMetrics())
        let poll = try #require(try await feed.poll())
        #expect(poll.records.compactMap { $0.bar?.timestamp } == [1_577_836_800_000, 1_577_923_200_000])
        clock.advance(by: .seconds(86_400))
        let later = try #require(try await feed.poll())
        #expect(later.records.compactMap { $0.bar?.timestamp } == [1_578_009_600_000])
    }

    @Test func retriesServerErrorsThenSucceeds() async throws {
        let body = try SharedData.yahooBody("chart-AAPL-2020-01-01-to-2020-01-03")
        let server = try FixtureServer { _, index in
            index <= 2 ? ServerResponse(status: 503, contentType: "text/plain", text: "upstream busy") : FixtureServer.json(body)
        }
        let clock = TestClock()
        let metrics = TestMetrics()
        let feed = yahooFeed(
            server, symbols: ["AAPL"], clock: clock, metrics: metrics, retry: RetryPolicy(maxAttempts: 3, initialBackoffSeconds: 0.5))
        let poll = try #require(try await feed.poll())
        #expect(poll.failures.isEmpty)
        #expect(poll.records.count == 1)
        #expect(server.requestCount == 3)
        #expect(metrics.value(FeedMetricNames.retries, [("feed", "yahoo-test")]) == 2)
        #expect(metrics.value(FeedMetricNames.errors, [("feed", "yahoo-test"), ("reason", "server_error")]) == 2)
        // Full jitter: first delay within [0, 0.5] s, second within [0, 1] s.
        let sleeps = clock.sleeps
        #expect(sleeps.count == 2)
        #expect(sleeps[0] <= .milliseconds(500) && sleeps[1] <= .seconds(1))
    }

    @Test func givesUpAfterMaxAttempts() async throws {
        let server = try FixtureServer { _, _ in ServerResponse(status: 502, contentType: "text/plain", text: "bad gateway") }
        let feed = yahooFeed(server, symbols: ["AAPL"], clock: TestClock(), metrics: TestMetrics(), retry: RetryPolicy(maxAttempts: 4))
        let poll = try #require(try await feed.poll())
        #expect(poll.outcome == .failure)
        #expect(poll.failures.first?.error.code == .serverError)
        #expect(poll.failures.first?.error.message == "bad gateway")
        #expect(server.requestCount == 4)
    }

    @Test func retryAfterIsHonoured() async throws {
        let body = try SharedData.yahooBody("chart-AAPL-2020-01-01-to-2020-01-03")
        let server = try FixtureServer { _, index in
            index == 1
                ? ServerResponse(status: 429, headers: [("Retry-After", "2")], body: Array("Too Many Requests".utf8)) : FixtureServer.json(body)
        }
        let clock = TestClock()
        let metrics = TestMetrics()
        let feed = yahooFeed(server, symbols: ["AAPL"], clock: clock, metrics: metrics)
        let poll = try #require(try await feed.poll())
        #expect(poll.records.count == 1)
        #expect(server.requestCount == 2)
        // Exactly the server's delay, not a jittered backoff; 429 does not count against the breaker.
        #expect(clock.sleeps == [.seconds(2)])
        #expect(metrics.value(FeedMetricNames.errors, [("feed", "yahoo-test"), ("reason", "rate_limited")]) == 1)
        #expect(await feed.breakerPhase() == .closed)
    }

    @Test func retryAfterIsHonouredInRealTime() async throws {
        let body = try SharedData.yahooBody("chart-AAPL-2020-01-01-to-2020-01-03")
        let server = try FixtureServer { _, index in
            index == 1 ? ServerResponse(status: 503, headers: [("Retry-After", "1")], body: []) : FixtureServer.json(body)
        }
        let feed = YahooChartFeed(
            configuration: YahooFeedConfiguration(symbols: ["AAPL"], baseURL: server.baseURL, retry: RetryPolicy(maxAttempts: 2)),
            httpClient: HTTPClient(),
            logger: InMemoryLogs().logger(),
            metricsFactory: TestMetrics()
        )
        let started = ContinuousClock.now
        let poll = try #require(try await feed.poll())
        let elapsed = ContinuousClock.now - started
        #expect(poll.records.count == 1)
        // At least the server's delay on the real clock; that it is exactly the delay (not a longer backoff) is the
        // injected-clock test's to show — an upper bound on wall time would only measure how busy the machine is.
        #expect(elapsed >= .seconds(1))
    }

    @Test func circuitBreakerOpensProbesAndCloses() async throws {
        let body = try SharedData.yahooBody("chart-AAPL-2020-01-01-to-2020-01-03")
        let healthy = HealthFlag()
        let server = try FixtureServer { _, _ in
            healthy.value ? FixtureServer.json(body) : ServerResponse(status: 500, contentType: "text/plain", text: "boom")
        }
        let clock = TestClock()
        let metrics = TestMetrics()
        let logs = InMemoryLogs()
        let feed = yahooFeed(
            server, symbols: ["AAPL"], clock: clock, metrics: metrics, logs: logs,
            retry: RetryPolicy(maxAttempts: 10, initialBackoffSeconds: 0.1),
            breaker: CircuitBreaker.Configuration(failureThreshold: 3, openDurationSeconds: 60),
            pollIntervalSeconds: 25
        )
        let gauge = { metrics.value(FeedMetricNames.breakerState, [("feed", "yahoo-test")]) }

        // Poll 1: three failed attempts open the breaker, which also stops the remaining retries.
        let first = try #require(try await feed.poll())
        #expect(first.failures.first?.error.code == .serverError)
        #expect(server.requestCount == 3)
        #expect(await feed.breakerPhase() == .open)
        #expect(gauge() == 2)
        #expect(logs.all.contains { $0.level == .warning && $0.message.contains("circuit breaker opened") })

        // Polls 2 and 3 (t = 25 s, 50 s): refused locally, no request reaches the server.
        for _ in 0..<2 {
            let refused = try #require(try await feed.poll())
            #expect(refused.failures.first?.error.code == .circuitOpen)
        }
        #expect(server.requestCount == 3)
        #expect(metrics.value(FeedMetricNames.errors, [("feed", "yahoo-test"), ("reason", "circuit_open")]) == 2)

        // Poll 4 (t = 75 s, after the 60 s open period): one half-open probe; the API is back, so the breaker closes.
        healthy.value = true
        let recovered = try #require(try await feed.poll())
        #expect(recovered.failures.isEmpty)
        #expect(recovered.records.count == 1)
        #expect(server.requestCount == 4)
        #expect(await feed.breakerPhase() == .closed)
        #expect(gauge() == 0)
    }

    @Test func connectionFailuresAreTransportErrorsAndRetried() async throws {
        // A port nobody listens on, and nobody else can take while the test runs.
        let down = try RefusingPort()
        let metrics = TestMetrics()
        let feed = YahooChartFeed(
            configuration: YahooFeedConfiguration(
                name: "down", symbols: ["AAPL"], baseURL: down.baseURL, timeoutSeconds: 2, retry: RetryPolicy(maxAttempts: 2)),
            httpClient: HTTPClient(),
            logger: InMemoryLogs().logger(),
            metricsFactory: metrics,
            clock: TestClock()
        )
        defer { withExtendedLifetime(down) {} }
        let poll = try #require(try await feed.poll())
        #expect(poll.failures.first?.error.code == .transport)
        #expect(metrics.value(FeedMetricNames.retries, [("feed", "down")]) == 1)
        #expect(metrics.value(FeedMetricNames.polls, [("feed", "down"), ("outcome", "failure")]) == 1)
    }

    // MARK: - Alpha Vantage

    func alphaVantageFeed(
        _ server: FixtureServer,
        symbols: [String] = ["MSFT"],
        function: AlphaVantageFeedConfiguration.Function = .daily,
        interval: String = "5min",
        clock: TestClock,
        metrics: TestMetrics = TestMetrics(),
        logs: InMemoryLogs = InMemoryLogs(),
        rateLimit: RateLimitConfiguration = RateLimitConfiguration(requestsPerMinute: 5, requestsPerDay: 25),
        pollIntervalSeconds: Double = 3600,
        key: String = "testkey"
    ) throws -> AlphaVantageFeed {
        try AlphaVantageFeed(
            configuration: AlphaVantageFeedConfiguration(
                name: "av-test",
                symbols: symbols,
                function: function,
                interval: interval,
                baseURL: server.baseURL,
                apiKey: .environment("VIGIL_TEST_AV_KEY"),
                pollIntervalSeconds: pollIntervalSeconds,
                rateLimit: rateLimit,
                retry: RetryPolicy(maxAttempts: 3)
            ),
            httpClient: HTTPClient(),
            logger: logs.logger(),
            metricsFactory: metrics,
            clock: clock,
            environment: ["VIGIL_TEST_AV_KEY": key]
        )
    }

    @Test func alphaVantageDailyAndIntradayOverLoopback() async throws {
        let daily = try SharedData.alphaVantage("asmarques_time_series_daily.MSFT.json")
        let intraday = try SharedData.alphaVantage("asmarques_time_series_intraday_1min.MSFT.json")
        let server = try FixtureServer { request, _ in
            guard request.path == "/query" else { return ServerResponse(status: 404) }
            return FixtureServer.json(request.query["function"] == "TIME_SERIES_INTRADAY" ? intraday : daily)
        }
        let dailyFeed = try alphaVantageFeed(server, clock: TestClock())
        let dailyPoll = try #require(try await dailyFeed.poll())
        #expect(dailyPoll.records.count == 100)
        #expect(dailyPoll.records.last?.bar?.close == 101.63)
        let dailyQuery = try #require(server.requests.last?.query)
        #expect(dailyQuery["function"] == "TIME_SERIES_DAILY")
        #expect(dailyQuery["symbol"] == "MSFT" && dailyQuery["outputsize"] == "compact" && dailyQuery["datatype"] == "json")
        #expect(dailyQuery["apikey"] == "testkey")
        #expect(dailyQuery["interval"] == nil)

        let intradayFeed = try alphaVantageFeed(server, function: .intraday, interval: "1min", clock: TestClock())
        let intradayPoll = try #require(try await intradayFeed.poll())
        #expect(intradayPoll.records.count == 100)
        #expect(intradayPoll.records.allSatisfy { $0.bar?.intervalSeconds == 60 })
        #expect(server.requests.last?.query["interval"] == "1min")
    }

    @Test func noteThrottlePausesTheFeedInsteadOfRetrying() async throws {
        let note = try SharedData.alphaVantage("from-issue-threads/note-rate-limit-2018_finance-quote-PR104.json")
        let daily = try SharedData.alphaVantage("kirlut_daily-not-adjusted.MSFT.json")
        let throttled = HealthFlag(initial: false)
        let server = try FixtureServer { _, _ in FixtureServer.json(throttled.value ? daily : note) }
        let clock = TestClock()
        let metrics = TestMetrics()
        let feed = try alphaVantageFeed(
            server, clock: clock, metrics: metrics, rateLimit: RateLimitConfiguration(requestsPerMinute: 5, requestsPerDay: 25, maxWaitSeconds: 5),
            pollIntervalSeconds: 30
        )

        let first = try #require(try await feed.poll())
        #expect(first.failures.first?.error.code == .throttled)
        #expect(first.failures.first?.error.retryAfterSeconds == 60)
        #expect(server.requestCount == 1)  // HTTP 200 + Note: not retried at once
        #expect(await feed.breakerPhase() == .closed)  // the API is up

        // 30 s later the 60 s pause still holds: refused locally, nothing sent.
        let second = try #require(try await feed.poll())
        #expect(second.failures.first?.error.code == .budgetExhausted)
        #expect(server.requestCount == 1)

        throttled.value = true
        let third = try #require(try await feed.poll())
        #expect(third.failures.isEmpty)
        #expect(third.records.count == 3)
        #expect(server.requestCount == 2)
        #expect(metrics.value(FeedMetricNames.errors, [("feed", "av-test"), ("reason", "throttled")]) == 1)
        #expect(metrics.value(FeedMetricNames.errors, [("feed", "av-test"), ("reason", "budget_exhausted")]) == 1)
    }

    @Test func dailyQuotaInformationPausesForTheQuotaPause() async throws {
        let information = try SharedData.alphaVantage("from-issue-threads/information-rate-limit-2025_beanprice-issue124.json")
        let server = try FixtureServer { _, _ in FixtureServer.json(information) }
        let feed = try alphaVantageFeed(server, clock: TestClock())
        let poll = try #require(try await feed.poll())
        #expect(poll.failures.first?.error.code == .throttled)
        #expect(poll.failures.first?.error.retryAfterSeconds == 3600)
        #expect(server.requestCount == 1)
    }

    @Test func errorMessageBodiesArePermanent() async throws {
        let body = try SharedData.alphaVantage("from-issue-threads/error-message-invalid-call-FX_DAILY-2021_alpha_vantage-issue289.json")
        let server = try FixtureServer { _, _ in FixtureServer.json(body) }
        let feed = try alphaVantageFeed(server, clock: TestClock())
        let poll = try #require(try await feed.poll())
        #expect(poll.failures.first?.error.code == .apiError)
        #expect(poll.failures.first?.error.message.hasSuffix("for FX_DAILY.") == true)
        #expect(server.requestCount == 1)
        #expect(await feed.breakerPhase() == .closed)
    }

    @Test func dailyBudgetIsEnforcedLocally() async throws {
        let body = try SharedData.alphaVantage("crazzyghost_daily.IBM.json")
        let server = try FixtureServer { _, _ in FixtureServer.json(body) }
        let clock = TestClock()
        let feed = try alphaVantageFeed(
            server, symbols: ["IBM"], clock: clock, rateLimit: RateLimitConfiguration(requestsPerMinute: 5, requestsPerDay: 3),
            pollIntervalSeconds: 60)
        for _ in 0..<3 {
            let poll = try #require(try await feed.poll())
            #expect(poll.failures.isEmpty)
        }
        let refused = try #require(try await feed.poll())
        #expect(refused.failures.first?.error.code == .budgetExhausted)
        #expect((refused.failures.first?.error.retryAfterSeconds ?? 0) > 60)
        #expect(server.requestCount == 3)
        let budget = await feed.remainingBudget()
        #expect((budget.perDay ?? 1) < 1)
    }

    @Test func apiKeyNeverAppearsInLogsErrorsOrDescriptions() async throws {
        let secret = "SECRET-KEY-8f3a9c"
        let note = try SharedData.alphaVantage("from-issue-threads/note-rate-limit-2018_finance-quote-PR104.json")
        // Worst case: an upstream error page that echoes the full request URL, key included.
        let server = try FixtureServer { request, index in
            if index == 1 {
                let echoed =
                    "upstream failed for /query?function=TIME_SERIES_DAILY&apikey=\(request.query["apikey"] ?? "") key \(request.query["apikey"] ?? "")"
                return ServerResponse(status: 500, contentType: "text/plain", text: echoed)
            }
            return FixtureServer.json(note)
        }
        let logs = InMemoryLogs()
        let clock = TestClock()
        let feed = try alphaVantageFeed(server, clock: clock, logs: logs, key: secret)
        let poll = try #require(try await feed.poll())
        #expect(server.requests.first?.query["apikey"] == secret)  // the key is used…
        #expect(poll.failures.first?.error.code == .throttled)
        #expect(!logs.all.isEmpty)
        for entry in logs.all {
            #expect(!entry.rendered.contains(secret), "log line leaks the key: \(entry.rendered)")
        }
        #expect(logs.all.contains { $0.level == .debug && $0.metadata["http.url"]?.contains("apikey=REDACTED") == true })
        for failure in poll.failures { #expect(!failure.error.description.contains(secret)) }
        #expect(feed.redactedURL(for: "MSFT").hasSuffix("apikey=REDACTED"))

        // Configurations holding the key inline redact it in every textual form.
        let inline = AlphaVantageFeedConfiguration(symbols: ["MSFT"], apiKey: APIKeySource(value: secret))
        var dumped = ""
        dump(inline, to: &dumped)
        for text in [String(describing: inline), String(reflecting: inline), dumped, "\(inline.apiKey)", String(reflecting: APIKey(secret))] {
            #expect(!text.contains(secret), "\(text)")
        }
        let encoded = String(decoding: try JSONEncoder().encode(FeedConfiguration.alphaVantage(inline)), as: UTF8.self)
        #expect(!encoded.contains(secret))
    }

    @Test func repeatedPollsDoNotReEmitRecordsIncludingDirtyOnes() async throws {
        let body = try OwnFixtures.bytes("alphavantage-dirty-fields.json")
        let server = try FixtureServer { _, _ in FixtureServer.json(body) }
        let feed = try alphaVantageFeed(server, symbols: ["TEST"], clock: TestClock(), pollIntervalSeconds: 3600)
        let first = try #require(try await feed.poll())
        #expect(first.records.map(\.problem) == [nil, .missingField, .unparseable, .missingField, nil])
        let second = try #require(try await feed.poll())
        #expect(second.records.isEmpty)  // nothing dead-lettered twice
        #expect(server.requestCount == 2)
    }

    @Test func configuredUserAgentIsSent() async throws {
        let body = try SharedData.yahooBody("chart-AAPL-2020-01-01-to-2020-01-03")
        let server = try FixtureServer { _, _ in FixtureServer.json(body) }
        let feed = YahooChartFeed(
            configuration: YahooFeedConfiguration(symbols: ["AAPL"], baseURL: server.baseURL, userAgent: "Mozilla/5.0 (X11; Linux x86_64)"),
            httpClient: HTTPClient(),
            logger: InMemoryLogs().logger(),
            metricsFactory: TestMetrics(),
            clock: TestClock()
        )
        _ = try await feed.poll()
        #expect(server.requests.first?.headers["user-agent"] == "Mozilla/5.0 (X11; Linux x86_64)")
    }

    @Test func missingAPIKeyFailsAtConstruction() throws {
        let configuration = AlphaVantageFeedConfiguration(symbols: ["MSFT"], apiKey: .environment("VIGIL_NO_SUCH_KEY"))
        #expect(throws: FeedError.self) {
            try AlphaVantageFeed(configuration: configuration, httpClient: HTTPClient(), logger: InMemoryLogs().logger(), environment: [:])
        }
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-av-key-\(UUID().uuidString)")
        try Data("  filekey\n".utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        #expect(try APIKeySource.file(file.path).load().reveal == "filekey")
    }
}

/// A flag a server handler reads and a test flips.
final class HealthFlag: Sendable {
    private let state: Mutex<Bool>
    init(initial: Bool = false) { state = Mutex(initial) }
    var value: Bool {
        get { state.withLock { $0 } }
        set { state.withLock { $0 = newValue } }
    }
}
