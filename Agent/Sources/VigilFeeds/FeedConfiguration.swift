import Foundation
import Logging
import Metrics
import VigilHTTP

/// One entry of the agent's `feeds:` list: a `type` key selects the kind, the other keys are that kind's
/// configuration, side by side (as in Vector's `sources.<id>.type`):
///
/// ```yaml
/// feeds:
///   - type: synthetic
///     symbols: 50
///   - type: alphavantage
///     name: av-msft
///     symbols: [MSFT]
///     apiKey: {env: ALPHAVANTAGE_API_KEY}
/// ```
public enum FeedConfiguration: Codable, Sendable, Hashable {
    case yahoo(YahooFeedConfiguration)
    case alphaVantage(AlphaVantageFeedConfiguration)
    case replay(ReplayFeedConfiguration)
    case synthetic(SyntheticFeedConfiguration)

    /// The embedded default: a synthetic market (demos, tests and load need no network and no data files).
    public static let `default` = FeedConfiguration.synthetic(SyntheticFeedConfiguration())

    public var kind: FeedKind {
        switch self {
        case .yahoo: .yahoo
        case .alphaVantage: .alphaVantage
        case .replay: .replay
        case .synthetic: .synthetic
        }
    }

    /// The instance name.
    public var name: String {
        switch self {
        case .yahoo(let configuration): configuration.name
        case .alphaVantage(let configuration): configuration.name
        case .replay(let configuration): configuration.name
        case .synthetic(let configuration): configuration.name
        }
    }

    /// Every problem with the configuration, prefixed with `path` (default `feeds.<name>`).
    public func validate(path: String? = nil) -> [String] {
        switch self {
        case .yahoo(let configuration): configuration.validate(path: path)
        case .alphaVantage(let configuration): configuration.validate(path: path)
        case .replay(let configuration): configuration.validate(path: path)
        case .synthetic(let configuration): configuration.validate(path: path)
        }
    }

    /// Problems of a whole `feeds:` list: each entry's, plus duplicate names (names are metric labels and must be
    /// unique).
    public static func validate(_ feeds: [FeedConfiguration], path: String = "feeds") -> [String] {
        var problems: [String] = []
        for (index, feed) in feeds.enumerated() {
            problems += feed.validate(path: "\(path)[\(index)] (\(feed.name))")
        }
        let duplicates = Dictionary(grouping: feeds.map(\.name), by: { $0 }).filter { $0.value.count > 1 }.keys.sorted()
        if !duplicates.isEmpty { problems.append("\(path): duplicate feed names \(duplicates.joined(separator: ", ")); set distinct `name`s") }
        return problems
    }

    enum TypeKey: String, CodingKey {
        case type
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: TypeKey.self)
        let typeName = try container.decode(String.self, forKey: .type)
        guard let kind = FeedKind(rawValue: typeName.lowercased()) else {
            throw DecodingError.dataCorruptedError(
                forKey: .type,
                in: container,
                debugDescription: "unknown feed type '\(typeName)' (\(FeedKind.allCases.map(\.rawValue).joined(separator: ", ")))"
            )
        }
        switch kind {
        case .yahoo: self = .yahoo(try YahooFeedConfiguration(from: decoder))
        case .alphaVantage: self = .alphaVantage(try AlphaVantageFeedConfiguration(from: decoder))
        case .replay: self = .replay(try ReplayFeedConfiguration(from: decoder))
        case .synthetic: self = .synthetic(try SyntheticFeedConfiguration(from: decoder))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: TypeKey.self)
        try container.encode(kind.rawValue, forKey: .type)
        switch self {
        case .yahoo(let configuration): try configuration.encode(to: encoder)
        case .alphaVantage(let configuration): try configuration.encode(to: encoder)
        case .replay(let configuration): try configuration.encode(to: encoder)
        case .synthetic(let configuration): try configuration.encode(to: encoder)
        }
    }
}

/// What the feeds need from the agent.
public struct FeedDependencies: Sendable {
    /// The libcurl client shared by the network feeds.
    public var httpClient: HTTPClient
    public var logger: Logger
    public var metricsFactory: any MetricsFactory
    public var clock: any FeedClock
    /// Where `APIKeySource.env` names are looked up.
    public var environment: [String: String]

    public init(
        httpClient: HTTPClient,
        logger: Logger,
        metricsFactory: any MetricsFactory = MetricsSystem.factory,
        clock: any FeedClock = SystemFeedClock(),
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) {
        self.httpClient = httpClient
        self.logger = logger
        self.metricsFactory = metricsFactory
        self.clock = clock
        self.environment = environment
    }
}

/// Builds feeds from configuration (the OpenTelemetry Collector's receiver factory).
public enum FeedFactory {
    /// - Throws: `FeedError(.configuration)` when the configuration is invalid (every `validate()` problem is in the
    ///   message), the API key cannot be loaded, or the replay path is unusable. Call at startup and exit on error.
    public static func makeFeed(_ configuration: FeedConfiguration, dependencies: FeedDependencies) throws(FeedError) -> any Feed {
        let problems = configuration.validate()
        guard problems.isEmpty else {
            throw FeedError(.configuration, problems.joined(separator: "; "))
        }
        switch configuration {
        case .yahoo(let configuration):
            return YahooChartFeed(
                configuration: configuration,
                httpClient: dependencies.httpClient,
                logger: dependencies.logger,
                metricsFactory: dependencies.metricsFactory,
                clock: dependencies.clock
            )
        case .alphaVantage(let configuration):
            return try AlphaVantageFeed(
                configuration: configuration,
                httpClient: dependencies.httpClient,
                logger: dependencies.logger,
                metricsFactory: dependencies.metricsFactory,
                clock: dependencies.clock,
                environment: dependencies.environment
            )
        case .replay(let configuration):
            return try ReplayFeed(
                configuration: configuration,
                logger: dependencies.logger,
                metricsFactory: dependencies.metricsFactory,
                clock: dependencies.clock
            )
        case .synthetic(let configuration):
            return SyntheticFeed(
                configuration: configuration,
                logger: dependencies.logger,
                metricsFactory: dependencies.metricsFactory,
                clock: dependencies.clock
            )
        }
    }
}
