import CoreMetrics
import Metrics

/// The metric names of the feeds, the normalizer and the dead-letter queue (Prometheus naming:
/// `vigil_agent_<stage>_<noun>_<unit>[_total]`). Labels are bounded: `feed` (configured instance names), `outcome`
/// (`FeedPollOutcome`), `reason` (`FeedError.Code` or `RejectReason` raw values). Never a symbol.
public enum FeedMetricNames {
    /// Counter `{feed, outcome}`: polls by outcome (success, partial, failure).
    public static let polls = "vigil_agent_feed_polls_total"
    /// Counter `{feed}`: records the feed produced (before validation).
    public static let bars = "vigil_agent_feed_bars_total"
    /// Counter `{feed, reason}`: failed requests / feed errors by `FeedError.Code`.
    public static let errors = "vigil_agent_feed_errors_total"
    /// Counter `{feed}`: Yahoo quote-array indices skipped because an entry was `null`.
    public static let nullEntries = "vigil_agent_feed_null_entries_total"
    /// Counter `{feed}`: request retries (attempts after the first).
    public static let retries = "vigil_agent_feed_retries_total"
    /// Gauge `{feed}`: circuit breaker state, 0 closed, 1 half-open, 2 open.
    public static let breakerState = "vigil_agent_feed_breaker_state"
    /// Timer `{feed}`: duration of each HTTP request attempt.
    public static let requestDuration = "vigil_agent_feed_request_duration_seconds"
    /// Counter `{feed}`: corporate events (splits, dividends) reported.
    public static let events = "vigil_agent_feed_events_total"
    /// Counter `{reason}`: records the normalizer rejected.
    public static let normalizerRejects = "vigil_agent_normalizer_rejects_total"
    /// Counter: bars the normalizer accepted.
    public static let normalizerBars = "vigil_agent_normalizer_bars_total"
    /// Counter `{reason}`: records written to the dead-letter file.
    public static let deadLetterRecords = "vigil_agent_deadletter_records_total"
    /// Counter: dead letters that could not be written (disk full, permissions).
    public static let deadLetterWriteErrors = "vigil_agent_deadletter_write_errors_total"
}

/// The instruments of one feed instance, created once from an injected factory (Prometheus' `scrapeMetrics`
/// pattern): handles are looked up at construction, never on the hot path.
struct FeedMetrics: Sendable {
    let polls: [FeedPollOutcome: Counter]
    let bars: Counter
    let errors: [FeedError.Code: Counter]
    let nullEntries: Counter
    let retries: Counter
    let breakerState: Gauge
    let requestDuration: CoreMetrics.Timer
    let events: Counter

    init(feed: String, factory: any MetricsFactory) {
        var polls: [FeedPollOutcome: Counter] = [:]
        for outcome in FeedPollOutcome.allCases {
            polls[outcome] = Counter(label: FeedMetricNames.polls, dimensions: [("feed", feed), ("outcome", outcome.rawValue)], factory: factory)
        }
        self.polls = polls
        var errors: [FeedError.Code: Counter] = [:]
        for code in FeedError.Code.allCases {
            errors[code] = Counter(label: FeedMetricNames.errors, dimensions: [("feed", feed), ("reason", code.rawValue)], factory: factory)
        }
        self.errors = errors
        bars = Counter(label: FeedMetricNames.bars, dimensions: [("feed", feed)], factory: factory)
        nullEntries = Counter(label: FeedMetricNames.nullEntries, dimensions: [("feed", feed)], factory: factory)
        retries = Counter(label: FeedMetricNames.retries, dimensions: [("feed", feed)], factory: factory)
        breakerState = Gauge(label: FeedMetricNames.breakerState, dimensions: [("feed", feed)], factory: factory)
        requestDuration = CoreMetrics.Timer(label: FeedMetricNames.requestDuration, dimensions: [("feed", feed)], factory: factory)
        events = Counter(label: FeedMetricNames.events, dimensions: [("feed", feed)], factory: factory)
    }

    /// Counts one finished poll (once per batch, not per bar).
    func record(_ poll: FeedPoll) {
        polls[poll.outcome]?.increment()
        if !poll.records.isEmpty { bars.increment(by: poll.records.count) }
        if poll.nullsSkipped > 0 { nullEntries.increment(by: poll.nullsSkipped) }
        if !poll.events.isEmpty { events.increment(by: poll.events.count) }
    }

    func recordError(_ code: FeedError.Code) {
        errors[code]?.increment()
    }
}
