import CoreMetrics
import Foundation
import Metrics
import Tracing
import VigilDetection

extension RejectReason: Error {}

/// Configuration block `normalizer`.
public struct NormalizerConfiguration: Codable, Sendable, Hashable {
    /// Key `allowedSymbols`. When set, bars of any other symbol are rejected as `unknown_symbol`. Default: absent
    /// (every symbol is accepted).
    public var allowedSymbols: [String]?
    /// Key `maxFutureSkewSeconds`. A bar that opens more than this far after the wall clock is rejected as
    /// `future_timestamp` (a timezone bug upstream looks exactly like that). Default 86400 (one day, so a daily bar
    /// stamped with the session date in a zone ahead of UTC passes); absent or 0 disables the check.
    public var maxFutureSkewSeconds: Double?
    /// Key `priceTolerance`. Relative slack for the OHLC range checks (1e-6 accepts an open 0.0001% above the high,
    /// as float32-rounded sources produce). Default 0: exact.
    public var priceTolerance: Double

    public static let `default` = NormalizerConfiguration()

    public init(allowedSymbols: [String]? = nil, maxFutureSkewSeconds: Double? = 86_400, priceTolerance: Double = 0) {
        self.allowedSymbols = allowedSymbols
        self.maxFutureSkewSeconds = maxFutureSkewSeconds
        self.priceTolerance = priceTolerance
    }

    public init(from decoder: any Decoder) throws {
        try ConfigKeys.rejectUnknown(in: decoder, known: CodingKeys.allCases.map(\.rawValue))
        let container = try decoder.container(keyedBy: CodingKeys.self)
        allowedSymbols = try container.decodeIfPresent([String].self, forKey: .allowedSymbols)
        maxFutureSkewSeconds =
            container.contains(.maxFutureSkewSeconds)
            ? try container.decodeIfPresent(Double.self, forKey: .maxFutureSkewSeconds) : 86_400
        priceTolerance = try container.decodeIfPresent(Double.self, forKey: .priceTolerance) ?? 0
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case allowedSymbols, maxFutureSkewSeconds, priceTolerance
    }

    /// Every problem with the values, each prefixed with `path`.
    public func validate(path: String = "normalizer") -> [String] {
        var problems: [String] = []
        if let allowedSymbols {
            if allowedSymbols.isEmpty { problems.append("\(path).allowedSymbols: is empty, which would reject every bar; omit it to allow all") }
            if allowedSymbols.contains(where: \.isEmpty) { problems.append("\(path).allowedSymbols: contains an empty symbol") }
        }
        if let skew = maxFutureSkewSeconds, !(skew >= 0 && skew.isFinite) {
            problems.append("\(path).maxFutureSkewSeconds: must be a finite number >= 0, got \(skew)")
        }
        if !(priceTolerance >= 0 && priceTolerance < 1) { problems.append("\(path).priceTolerance: must be in [0, 1), got \(priceTolerance)") }
        return problems
    }
}

/// The result of normalizing one batch.
public struct NormalizedBatch: Sendable {
    /// The accepted bars, in input order.
    public var bars: [Bar]
    /// The rejected records with their reasons, in input order.
    public var rejects: [(record: RawBar, reason: RejectReason)]

    /// Rejects per reason.
    public var rejectCounts: [RejectReason: Int] {
        rejects.reduce(into: [:]) { $0[$1.reason, default: 0] += 1 }
    }
}

/// Validates bars before anything computes on them (DESIGN.md: "a bad bar never crashes anything").
///
/// Rules, checked in this order (the first that fails is the reason): a parse problem the feed reported
/// (`missing_field`, `unparseable`); empty symbol (`missing_field`); symbol not in the allow-list; interval ≤ 0;
/// NaN/±inf in any price or the volume; a price ≤ 0; negative volume; high < low; open outside [low, high]; close
/// outside [low, high]; a timestamp too far in the future; a timestamp equal to (`duplicate_timestamp`) or older than
/// (`out_of_order`) the symbol's last *accepted* bar. A rejected bar does not move the symbol's clock.
///
/// One normalizer per feed: the per-symbol clocks assume one source per symbol. For good bars `normalize` does not
/// allocate: the per-symbol state is a dictionary updated in place, and symbols are short inline strings.
public struct Normalizer: Sendable {
    public let configuration: NormalizerConfiguration
    private let allowed: Set<String>?
    private let maxFutureSkewMillis: Int64?
    private var lastTimestamp: [String: Int64] = [:]
    private let wallClock: @Sendable () -> Int64
    private let metrics: NormalizerMetrics

    /// - Parameters:
    ///   - configuration: the rules' settings.
    ///   - metricsFactory: where `vigil_agent_normalizer_*` go; defaults to the bootstrapped factory.
    ///   - wallClock: milliseconds since the epoch, for the future-timestamp rule.
    public init(
        configuration: NormalizerConfiguration = .default,
        metricsFactory: any MetricsFactory = MetricsSystem.factory,
        wallClock: @escaping @Sendable () -> Int64 = { SystemFeedClock().wallMillis }
    ) {
        self.configuration = configuration
        self.allowed = configuration.allowedSymbols.map(Set.init)
        if let skew = configuration.maxFutureSkewSeconds, skew > 0, skew.isFinite {
            self.maxFutureSkewMillis = Int64(skew * 1000)
        } else {
            self.maxFutureSkewMillis = nil
        }
        self.wallClock = wallClock
        self.metrics = NormalizerMetrics(factory: metricsFactory)
    }

    /// Validates one record. Counts nothing (use `normalize(_:feed:deadLetters:)` in the pipeline, which counts once
    /// per batch).
    public mutating func normalize(_ raw: RawBar) -> Result<Bar, RejectReason> {
        normalize(raw, nowMillis: maxFutureSkewMillis == nil ? 0 : wallClock())
    }

    /// The symbol's last accepted bar time, if any.
    public func lastAcceptedTimestamp(of symbol: String) -> Int64? { lastTimestamp[symbol] }

    @inline(__always)
    private mutating func normalize(_ raw: RawBar, nowMillis: Int64) -> Result<Bar, RejectReason> {
        if let problem = raw.problem { return .failure(problem) }
        guard let bar = raw.bar else { return .failure(.missingField) }
        if let reason = check(bar, nowMillis: nowMillis) { return .failure(reason) }
        // In-place update: no allocation once the symbol has been seen.
        let last = lastTimestamp[bar.symbol, default: Int64.min]
        if bar.timestamp == last { return .failure(.duplicateTimestamp) }
        if bar.timestamp < last { return .failure(.outOfOrder) }
        lastTimestamp[bar.symbol] = bar.timestamp
        return .success(bar)
    }

    /// The stateless rules.
    @inline(__always)
    private func check(_ bar: Bar, nowMillis: Int64) -> RejectReason? {
        if bar.symbol.isEmpty { return .missingField }
        if let allowed, !allowed.contains(bar.symbol) { return .unknownSymbol }
        if bar.intervalSeconds <= 0 { return .invalidInterval }
        guard bar.open.isFinite, bar.high.isFinite, bar.low.isFinite, bar.close.isFinite, bar.volume.isFinite else {
            return .nanOrInfinite
        }
        if bar.open <= 0 || bar.high <= 0 || bar.low <= 0 || bar.close <= 0 { return .nonPositivePrice }
        if bar.volume < 0 { return .negativeVolume }
        let slack = configuration.priceTolerance * bar.high
        if bar.high + slack < bar.low { return .highBelowLow }
        if bar.open < bar.low - slack || bar.open > bar.high + slack { return .openOutsideRange }
        if bar.close < bar.low - slack || bar.close > bar.high + slack { return .closeOutsideRange }
        if let maxFutureSkewMillis, bar.timestamp > nowMillis &+ maxFutureSkewMillis { return .futureTimestamp }
        return nil
    }

    /// Validates a batch, writes the rejects to the dead-letter queue and counts both once per batch. No span: for
    /// callers that wrap the stage in a span of their own.
    public mutating func normalize(_ records: [RawBar], feed: String, deadLetters: DeadLetterQueue?) -> NormalizedBatch {
        let nowMillis = maxFutureSkewMillis == nil ? 0 : wallClock()
        var batch = NormalizedBatch(bars: [], rejects: [])
        batch.bars.reserveCapacity(records.count)
        for record in records {
            switch normalize(record, nowMillis: nowMillis) {
            case .success(let bar): batch.bars.append(bar)
            case .failure(let reason): batch.rejects.append((record, reason))
            }
        }
        if !batch.bars.isEmpty { metrics.bars.increment(by: batch.bars.count) }
        if !batch.rejects.isEmpty {
            for (reason, count) in batch.rejectCounts { metrics.rejects[reason]?.increment(by: count) }
            deadLetters?.append(batch.rejects, feed: feed)
        }
        return batch
    }

    /// `normalize(poll.records, …)` inside an `agent.normalizer.normalize` span that is a child of the poll's span
    /// (`poll.traceContext`), so the bar's trace continues from the feed poll.
    public mutating func normalize(_ poll: FeedPoll, feed: String, deadLetters: DeadLetterQueue?) -> NormalizedBatch {
        withSpan(FeedTracing.normalizeSpan, context: poll.traceContext ?? .current ?? .topLevel) { span in
            let batch = normalize(poll.records, feed: feed, deadLetters: deadLetters)
            span.attributes["vigil.feed.name"] = feed
            span.attributes["vigil.bars.in"] = poll.records.count
            span.attributes["vigil.bars.accepted"] = batch.bars.count
            span.attributes["vigil.bars.rejected"] = batch.rejects.count
            return batch
        }
    }
}

struct NormalizerMetrics: Sendable {
    let bars: Counter
    let rejects: [RejectReason: Counter]

    init(factory: any MetricsFactory) {
        bars = Counter(label: FeedMetricNames.normalizerBars, dimensions: [], factory: factory)
        var rejects: [RejectReason: Counter] = [:]
        for reason in RejectReason.allCases {
            rejects[reason] = Counter(label: FeedMetricNames.normalizerRejects, dimensions: [("reason", reason.rawValue)], factory: factory)
        }
        self.rejects = rejects
    }
}
