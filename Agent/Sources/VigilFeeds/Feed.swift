import Tracing
import VigilDetection

// MARK: - Feed

/// A source of bars: the first stage of the agent pipeline (Feed → Normalizer → Features → …).
///
/// Shaped like an OpenTelemetry Collector receiver / Vector source: the feed owns its pacing and its I/O policy, the
/// pipeline only pulls batches. `poll()` returns the next batch *when it is due* and `nil` when the feed is finished:
///
/// - network feeds (`YahooChartFeed`, `AlphaVantageFeed`) wait for their polling schedule (the first poll is
///   immediate), then make one request per symbol through their rate limiter, retry policy and circuit breaker.
///   They never finish and never throw for a failed request: failures are reported in `FeedPoll.failures`, counted
///   and logged, so one delisted symbol does not stop the others;
/// - `ReplayFeed` returns chunks of at most `batchSize` bars, immediately (`speed` 0) or paced to scaled market time,
///   and finishes at the end of the data;
/// - `SyntheticFeed` returns ticks of the seeded synthetic market at a tick rate (or as fast as possible) and finishes
///   after `maxTicks` when one is configured.
///
/// The only errors `poll()` throws are `CancellationError` (the task was cancelled while it waited) and `FeedError`
/// for conditions that make the whole feed unusable. Drive a feed with `for try await batch in feed.batches()`.
public protocol Feed: Sendable {
    /// The instance name from the configuration; the `feed` label of every metric and the `feed` field of dead letters.
    var name: String { get }
    var kind: FeedKind { get }
    /// The next batch, once it is due; `nil` when the feed has no more data.
    func poll() async throws -> FeedPoll?
}

extension Feed {
    /// The feed as an async sequence of batches, ending when `poll()` returns `nil`.
    public func batches() -> FeedBatches {
        FeedBatches(feed: self)
    }
}

/// The kinds of feed Vigil ships. Raw values are the `type` key of a feed in the agent configuration.
public enum FeedKind: String, Sendable, Codable, CaseIterable, Hashable {
    case yahoo
    case alphaVantage = "alphavantage"
    case replay
    case synthetic
}

/// `Feed.batches()`: pulls `poll()` until it returns `nil`. Each iteration awaits the feed's own pacing, so the
/// sequence applies natural backpressure: nothing is buffered between the feed and its consumer.
public struct FeedBatches: AsyncSequence, Sendable {
    public typealias Element = FeedPoll
    let feed: any Feed

    public struct AsyncIterator: AsyncIteratorProtocol {
        let feed: any Feed
        var finished = false

        public mutating func next() async throws -> FeedPoll? {
            if finished { return nil }
            guard let batch = try await feed.poll() else {
                finished = true
                return nil
            }
            return batch
        }
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(feed: feed)
    }
}

// MARK: - Records

/// One record as a feed produced it, before validation.
///
/// `raw` is the record as the source sent it (the CSV line, or the bar's values re-serialized as a JSON object for the
/// JSON APIs) so that the dead-letter queue can show exactly what was rejected. When the feed could not even build a
/// `Bar` (an empty or non-numeric field), `bar` is `nil` and `problem` says why; the normalizer turns that into a
/// reject, so a dirty row is counted and dead-lettered like any other bad bar instead of being dropped silently.
/// Feeds that generate bars (synthetic) leave `raw` empty — there is no source text, and building one per bar would
/// cost an allocation per bar — and the dead-letter queue renders the bar's values instead.
public struct RawBar: Sendable, Hashable {
    /// The parsed bar; `nil` when `problem` is set.
    public var bar: Bar?
    /// Why the record could not be parsed into a bar (`missing_field`, `unparseable`).
    public var problem: RejectReason?
    /// The record's text, for the dead-letter queue; empty for generated bars.
    public var raw: String

    /// A record that parsed into a bar (it may still fail validation).
    public init(bar: Bar, raw: String = "") {
        self.bar = bar
        self.problem = nil
        self.raw = raw
    }

    /// A record that could not be parsed.
    public init(problem: RejectReason, raw: String) {
        self.bar = nil
        self.problem = problem
        self.raw = raw
    }
}

/// A corporate action reported by a source (Yahoo `events`, Alpha Vantage adjusted series). Downstream stages use it
/// to explain price jumps that are not market abuse (a 4:1 split looks like a -75% crash in unadjusted data).
public struct CorporateEvent: Sendable, Hashable {
    public enum Kind: Sendable, Hashable {
        /// `numerator` new shares for every `denominator` old shares (4:1 → 4, 1).
        case split(numerator: Double, denominator: Double)
        /// Cash dividend per share, in the instrument's currency.
        case dividend(amount: Double)
    }

    public var symbol: String
    /// Milliseconds since the Unix epoch (UTC): the ex-date as the source reports it.
    public var timestamp: Int64
    public var kind: Kind

    public init(symbol: String, timestamp: Int64, kind: Kind) {
        self.symbol = symbol
        self.timestamp = timestamp
        self.kind = kind
    }
}

/// A request of a network feed that failed within a poll (after retries).
public struct FeedFailure: Sendable {
    public var symbol: String
    public var error: FeedError

    public init(symbol: String, error: FeedError) {
        self.symbol = symbol
        self.error = error
    }
}

/// One batch from a feed: records to normalize, corporate events, and what the poll had to skip.
public struct FeedPoll: Sendable {
    /// The feed's records in emission order (per symbol: oldest first).
    public var records: [RawBar]
    /// Splits and dividends seen in this poll (each reported once per feed instance).
    public var events: [CorporateEvent]
    /// Indices of Yahoo quote arrays that held a `null` and were skipped across all five arrays.
    public var nullsSkipped: Int
    /// Requests that failed in this poll (network feeds only).
    public var failures: [FeedFailure]
    /// Requests (one per symbol) the poll attempted; 0 for feeds that make none.
    public var requests: Int
    /// The context of this poll's `agent.feed.poll` span. Later stages start their spans as its children, so a bar
    /// has one trace from the poll that fetched it to the alert it caused. `nil` when no tracer recorded the poll.
    public var traceContext: ServiceContext?

    public init(
        records: [RawBar] = [],
        events: [CorporateEvent] = [],
        nullsSkipped: Int = 0,
        failures: [FeedFailure] = [],
        requests: Int = 0
    ) {
        self.records = records
        self.events = events
        self.nullsSkipped = nullsSkipped
        self.failures = failures
        self.requests = requests
        self.traceContext = nil
    }

    /// The outcome label of `vigil_agent_feed_polls_total`.
    public var outcome: FeedPollOutcome {
        if failures.isEmpty { return .success }
        return failures.count < requests ? .partial : .failure
    }
}

/// Outcome of one poll, as the `outcome` label of `vigil_agent_feed_polls_total`.
public enum FeedPollOutcome: String, Sendable, CaseIterable {
    /// Every request succeeded (possibly with no new bars).
    case success
    /// Some requests failed, but data arrived.
    case partial
    /// Every request failed.
    case failure
}
