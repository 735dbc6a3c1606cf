import Foundation
import Testing
import VigilHTTP

@testable import VigilFeeds

@Suite("Feed configuration")
struct FeedConfigurationTests {
    func decode(_ json: String) throws -> FeedConfiguration {
        try JSONDecoder().decode(FeedConfiguration.self, from: Data(json.utf8))
    }

    @Test func missingKeysTakeTheirDocumentedDefaults() throws {
        guard case .yahoo(let yahoo) = try decode(#"{"type":"yahoo","symbols":["AAPL"]}"#) else {
            Issue.record("not yahoo")
            return
        }
        #expect(yahoo == YahooFeedConfiguration(symbols: ["AAPL"]))
        #expect(yahoo.name == "yahoo" && yahoo.interval == "1d" && yahoo.range == "5d")
        #expect(yahoo.baseURL == "https://query1.finance.yahoo.com" && yahoo.pollIntervalSeconds == 300)
        #expect(yahoo.rateLimit.requestsPerMinute == 60 && yahoo.retry == .default)

        guard case .alphaVantage(let av) = try decode(#"{"type":"alphavantage","symbols":["MSFT"],"rateLimit":{"requestsPerDay":500}}"#) else {
            Issue.record("not alphavantage")
            return
        }
        #expect(av.function == .daily && av.outputsize == "compact" && av.baseURL == "https://www.alphavantage.co")
        #expect(av.apiKey == .environment("ALPHAVANTAGE_API_KEY"))
        // A partial nested block keeps the other nested defaults.
        #expect(av.rateLimit == RateLimitConfiguration(requestsPerMinute: nil, requestsPerDay: 500, maxWaitSeconds: 60))

        guard case .replay(let replay) = try decode(#"{"type":"replay","path":"/data"}"#) else {
            Issue.record("not replay")
            return
        }
        #expect(replay.speed == 0 && replay.order == .time && replay.batchSize == 4096 && replay.timeLabel == "end")

        guard case .synthetic(let synthetic) = try decode(#"{"type":"synthetic","anomalyKinds":["gap","flash_crash"]}"#) else {
            Issue.record("not synthetic")
            return
        }
        #expect(synthetic.seed == 42 && synthetic.symbols == 20 && synthetic.tickRate == 1 && synthetic.labelsPath == nil)
        #expect(synthetic.anomalyKinds == [.gap, .flashCrash])
        #expect(FeedConfiguration.default.kind == .synthetic)
    }

    @Test func fullNamesAndRoundTrip() throws {
        let configuration = try decode(
            #"{"type":"alphavantage","name":"av","symbols":["IBM"],"function":"TIME_SERIES_INTRADAY","interval":"1min","apiKey":{"file":"/run/secrets/av"}}"#
        )
        guard case .alphaVantage(let av) = configuration else {
            Issue.record("not alphavantage")
            return
        }
        #expect(av.function == .intraday && av.apiKey == .file("/run/secrets/av"))
        let encoded = try JSONEncoder().encode(configuration)
        #expect(try JSONDecoder().decode(FeedConfiguration.self, from: encoded) == configuration)
    }

    @Test func typosAndUnknownTypesAreErrors() {
        #expect(throws: DecodingError.self) { try decode(#"{"type":"yahoo","symbols":["A"],"pollIntervalSecs":5}"#) }
        #expect(throws: DecodingError.self) { try decode(#"{"type":"yahoo","retry":{"maxAttempt":5}}"#) }
        #expect(throws: DecodingError.self) { try decode(#"{"type":"bloomberg"}"#) }
        #expect(throws: DecodingError.self) { try decode(#"{"symbols":["A"]}"#) }
        #expect(throws: DecodingError.self) { try decode(#"{"type":"alphavantage","function":"weekly"}"#) }
    }

    @Test func validateListsEveryProblem() {
        let yahoo = YahooFeedConfiguration(
            name: "y", symbols: [], interval: "7m", range: "2w", baseURL: "ftp://x", pollIntervalSeconds: 0,
            retry: RetryPolicy(maxAttempts: 0), circuitBreaker: CircuitBreaker.Configuration(failureThreshold: 0))
        let problems = yahoo.validate()
        #expect(problems.count == 7)
        #expect(problems.allSatisfy { $0.hasPrefix("feeds.y.") })
        #expect(problems.contains { $0.hasPrefix("feeds.y.interval:") })

        let av = AlphaVantageFeedConfiguration(
            symbols: ["A", "B", "A"], function: .intraday, interval: "2min", apiKey: APIKeySource(), pollIntervalSeconds: 600)
        let avProblems = av.validate()
        #expect(avProblems.contains { $0.contains("duplicates A") })
        #expect(avProblems.contains { $0.hasPrefix("feeds.alphavantage.interval:") })
        #expect(avProblems.contains { $0.hasPrefix("feeds.alphavantage.apiKey:") })
        // 3 symbols every 600 s = 432 requests/day against a budget of 25.
        #expect(avProblems.contains { $0.contains("need 432 requests/day") && $0.contains("every 10368 s") })

        #expect(AlphaVantageFeedConfiguration(symbols: ["MSFT"]).validate().isEmpty)
        // Windows Yahoo refuses or that leave gaps; a compact intraday response that cannot cover the poll interval.
        #expect(YahooFeedConfiguration(symbols: ["A"], interval: "1m", range: "1mo", pollIntervalSeconds: 60).validate().count == 1)
        #expect(YahooFeedConfiguration(symbols: ["A"], interval: "1d", range: "1d", pollIntervalSeconds: 172_800).validate().count == 1)
        #expect(YahooFeedConfiguration(symbols: ["A"], interval: "1m", range: "5d", pollIntervalSeconds: 60).validate().isEmpty)
        let sparse = AlphaVantageFeedConfiguration(symbols: ["A"], function: .intraday, interval: "1min", pollIntervalSeconds: 7200)
        #expect(sparse.validate().contains { $0.contains("exceeds the 100 bars of a compact 1min response") })
        #expect(SyntheticFeedConfiguration().validate().isEmpty)
        #expect(SyntheticFeedConfiguration(symbols: 0, tickRate: -1, anomalyRate: 2, maxTicks: 0).validate().count == 4)
        #expect(NormalizerConfiguration(allowedSymbols: [], priceTolerance: 2).validate().count == 2)
        #expect(DeadLetterConfiguration(path: "", maxFileBytes: -1).validate().count == 2)

        let feeds: [FeedConfiguration] = [.synthetic(SyntheticFeedConfiguration()), .synthetic(SyntheticFeedConfiguration(symbols: 0))]
        let listProblems = FeedConfiguration.validate(feeds)
        #expect(listProblems.contains { $0.hasPrefix("feeds[1] (synthetic).symbols:") })
        #expect(listProblems.contains { $0.contains("duplicate feed names synthetic") })
    }

    @Test func factoryBuildsEachKindAndRefusesInvalidConfigurations() async throws {
        let directory = try TemporaryDirectory()
        try Data("date,open,high,low,close,volume,Name\n2020-01-02,1,2,1,2,10,X\n".utf8).write(to: URL(fileURLWithPath: directory.path("X.csv")))
        let dependencies = FeedDependencies(
            httpClient: HTTPClient(), logger: InMemoryLogs().logger(), metricsFactory: TestMetrics(), clock: TestClock(), environment: ["K": "v"])
        let configurations: [FeedConfiguration] = [
            .yahoo(YahooFeedConfiguration(symbols: ["AAPL"])),
            .alphaVantage(AlphaVantageFeedConfiguration(symbols: ["MSFT"], apiKey: .environment("K"))),
            .replay(ReplayFeedConfiguration(path: directory.root)),
            .synthetic(SyntheticFeedConfiguration(maxTicks: 1)),
        ]
        for configuration in configurations {
            let feed = try FeedFactory.makeFeed(configuration, dependencies: dependencies)
            #expect(feed.kind == configuration.kind)
            #expect(feed.name == configuration.name)
        }
        let replay = try FeedFactory.makeFeed(.replay(ReplayFeedConfiguration(path: directory.root)), dependencies: dependencies)
        #expect(try await replay.poll()?.records.first?.bar?.symbol == "X")

        #expect(throws: FeedError.self) { try FeedFactory.makeFeed(.yahoo(YahooFeedConfiguration()), dependencies: dependencies) }
        #expect(throws: FeedError.self) {
            try FeedFactory.makeFeed(
                .alphaVantage(AlphaVantageFeedConfiguration(symbols: ["MSFT"], apiKey: .environment("MISSING"))), dependencies: dependencies)
        }
    }
}
