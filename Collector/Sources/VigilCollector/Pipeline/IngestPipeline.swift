import Foundation
import Logging
import Metrics
import ServiceContextModule
import Synchronization
import Tracing
import VigilDetection
import VigilStore
import VigilTelemetry
import VigilWire

/// What the receiver answers for a request that took effect (or had already).
public struct IngestOutcome: Sendable {
    public enum Status: String, Sendable { case accepted, duplicate }
    public var status: Status
    public var agentID: String
    public var sequence: Int64
    public var highWaterMark: Int64
    public var barsAccepted: Int
    public var detections: Int
    public var alerts: Int
    public var traceID: String?
}

/// Receiver → Deduper → Partitions → Alerter → Store, for one decoded request (DESIGN.md "Collector").
///
/// A request takes effect exactly once: the store applies the bars, detections, alerts and the agent's new
/// high-water mark in one transaction, and only then is the request acknowledged.
public final class IngestPipeline: Sendable {
    let store: any BatchStore
    let partitions: [Partition]
    let market: MarketWatch
    let deduper: Deduper
    let locks = KeyedLock()
    let tracer: VigilTracer
    let spans: SpanExporter?
    let queueLimit: Int
    let retryAfterSeconds: Int
    let logger: Logger
    let metrics = PipelineMetrics()
    /// Tier-2 features, scoring and training; nil when `tier2.enabled` is false.
    let tier2: Tier2Runtime?
    /// Alert keys already counted in `vigil_collector_alerts_total`, so an episode that grows is counted once.
    /// Alert keys raised recently, with when (ms since the epoch): counts each alert once, and times its acknowledgement.
    let raisedAlerts: ByteLRUCache<String, Int64>
    /// Bumped by every write (accepted, duplicate, rejected): API answers cached under an older generation are stale.
    let generation = Atomic<UInt64>(0)

    init(
        store: any BatchStore, partitions: [Partition], market: MarketWatch, deduper: Deduper, tracer: VigilTracer, spans: SpanExporter?,
        queueLimit: Int, retryAfterSeconds: Int, logger: Logger, tier2: Tier2Runtime? = nil
    ) {
        self.tier2 = tier2
        self.store = store
        self.partitions = partitions
        self.market = market
        self.deduper = deduper
        self.tracer = tracer
        self.spans = spans
        self.queueLimit = queueLimit
        self.retryAfterSeconds = retryAfterSeconds
        self.logger = logger
        self.raisedAlerts = ByteLRUCache(name: "alert_keys", maxBytes: 4 << 20, ttl: .seconds(7 * 86_400))
    }

    public func handle(_ request: IngestRequest, context: ServiceContext, receivedAt: Int64) async throws(IngestError) -> IngestOutcome {
        do {
            return try await locks.withLock(request.agentID) { () async throws -> IngestOutcome in
                try await self.handleLocked(request, context: context, receivedAt: receivedAt)
            }
        } catch let error as IngestError {
            throw error
        } catch {
            throw IngestError(.unavailable, "\(error)", retryAfterSeconds: retryAfterSeconds)
        }
    }

    private func handleLocked(_ request: IngestRequest, context: ServiceContext, receivedAt: Int64) async throws(IngestError)
        -> IngestOutcome
    {
        let sequence = request.sequence ?? deduper.nextSequence(for: request.agentID)
        let endpoint = request.source.rawValue

        // Deduper: an obvious duplicate is answered from memory; the store still counts it (and stays the authority).
        let dedupeSpan = tracer.startSpan("collector.deduper.check", context: context, ofKind: .internal)
        dedupeSpan.attributes["vigil.agent.id"] = request.agentID
        dedupeSpan.attributes["vigil.batch.sequence"] = Int(sequence)
        let knownMark = deduper.highWaterMark(of: request.agentID)
        dedupeSpan.attributes["vigil.dedupe.duplicate"] = sequence <= knownMark
        dedupeSpan.end()
        if sequence <= knownMark {
            let outcome = try await apply(StoredBatch(agentID: request.agentID, sequence: sequence, receivedAt: receivedAt), context: context)
            generation.add(1, ordering: .relaxed)  // the duplicate count changed
            metrics.duplicate(endpoint: endpoint)
            return IngestOutcome(
                status: .duplicate, agentID: request.agentID, sequence: sequence, highWaterMark: outcome.highWaterMark, barsAccepted: 0,
                detections: 0, alerts: 0, traceID: context.spanContext?.traceIDHex)
        }

        // Partitions: split the request by owner, refuse (429) rather than queue without bound.
        var work: [Int: PartitionWork] = [:]
        let empty = PartitionWork(
            agentID: request.agentID, scoreTier1: request.source == .ingest, detectSpan: request.source == .ingest ? context.spanContext : nil,
            computeFeatures: tier2 != nil)
        for part in request.series {
            let index = PartitionHash.partition(of: part.symbol, count: partitions.count)
            work[index, default: empty].series.append(part)
        }
        for detection in request.detections {
            let index = PartitionHash.partition(of: detection.symbol, count: partitions.count)
            work[index, default: empty].detections.append(detection)
        }
        for index in work.keys where partitions[index].depth.current >= queueLimit {
            metrics.throttled(endpoint: endpoint)
            throw IngestError(.throttled, "partition \(index) has \(queueLimit) requests queued", retryAfterSeconds: retryAfterSeconds)
        }
        for index in work.keys { partitions[index].depth.add(1) }
        let results = await withTaskGroup(of: (Int, PartitionResult).self) { group in
            for (index, item) in work {
                let partition = partitions[index]
                group.addTask {
                    defer { partition.depth.add(-1) }
                    // Series the partition holds no state for (after a restart, new symbols) get it back from the store
                    // first; each partition asks for its own, in parallel with the others.
                    var item = item
                    item.history = await self.coldHistory(of: item, in: partition, context: context)
                    return await self.tracer.withSpan("collector.partition.process", context: context, ofKind: .internal) { span in
                        span.attributes["vigil.partition"] = index
                        span.attributes["vigil.bars"] = item.series.reduce(0) { $0 + $1.bars.count }
                        if item.scoreTier1 { span.attributes["vigil.detect.tier1"] = true }
                        return (index, await partition.process(item))
                    }
                }
            }
            var all: [(partition: Int, result: PartitionResult)] = []
            for await result in group { all.append(result) }
            // In partition order, not completion order: what is stored, and the order of the Tier-2 feature rows (which
            // rows a model samples), must not depend on which partition finished first.
            return all.sorted { $0.partition < $1.partition }
        }

        // Alerter: symbol episodes came from the partitions; the market-wide view needs all of them.
        var batch = StoredBatch(agentID: request.agentID, sequence: sequence, receivedAt: receivedAt, payload: request.payload)
        batch.bars.reserveCapacity(request.barCount)
        var tallies: [Int64: MarketTally] = [:]
        for (_, result) in results {
            batch.bars += result.bars
            batch.detections += result.detections
            batch.alerts += result.alerts
            for (timestamp, tally) in result.tallies {
                tallies[timestamp, default: MarketTally(symbolsSeen: 0, flagged: [])].merge(tally)
            }
        }
        if let tier2 {
            let scored = await scoreTier2(results.map { ($0.partition, $0.result.features) }, tier2: tier2, context: context)
            batch.detections += scored.detections
            batch.alerts += scored.alerts
        }
        let alertSpan = tracer.startSpan("collector.alerter.raise", context: context, ofKind: .internal)
        batch.alerts += market.record(tallies)
        alertSpan.attributes["vigil.alerts"] = batch.alerts.count
        alertSpan.end()

        // Store: all of it, with the high-water mark, in one transaction.
        let outcome = try await apply(batch, context: context)
        deduper.record(request.agentID, highWaterMark: outcome.highWaterMark)
        generation.add(1, ordering: .relaxed)
        guard case .accepted = outcome else {
            metrics.duplicate(endpoint: endpoint)
            return IngestOutcome(
                status: .duplicate, agentID: request.agentID, sequence: sequence, highWaterMark: outcome.highWaterMark, barsAccepted: 0,
                detections: 0, alerts: 0, traceID: context.spanContext?.traceIDHex)
        }
        metrics.accepted(endpoint: endpoint, bars: batch.bars.count, newestBar: request.newestBarTimestamp, receivedAt: receivedAt)
        for detection in request.detections { metrics.detection(tier: detection.tier, detector: detection.detector) }
        for detection in batch.detections where detection.tier == 2 { metrics.detection(tier: 2, detector: detection.detector) }
        for alert in batch.alerts where raisedAlerts.get(alert.key) == nil {
            raisedAlerts.put(alert.key, Int64(Date().timeIntervalSince1970 * 1000), cost: alert.key.utf8.count + 16)
            metrics.alert(alert)
            logger.info(
                "Alert raised.",
                metadata: [
                    "alert.key": "\(alert.key)", "alert.kind": "\(alert.kind)", "alert.severity": "\(alert.severity)",
                    "alert.score": "\(alert.score)", "trace_id": "\(alert.traceID ?? "")", "span_id": "\(alert.spanID ?? "")",
                ])
        }
        if let spans, !request.resourceSpans.isEmpty { spans.forward(request.resourceSpans) }
        return IngestOutcome(
            status: .accepted, agentID: request.agentID, sequence: sequence, highWaterMark: outcome.highWaterMark,
            barsAccepted: batch.bars.count, detections: batch.detections.count, alerts: batch.alerts.count,
            traceID: context.spanContext?.traceIDHex)
    }

    /// The stored history of `item`'s cold series (`Partition.coldSeries`); nothing in steady state. Ingested bars get
    /// enough for the Tier-1 detectors to settle, agents' bars (scored at the edge) enough for the features' 21-bar
    /// look-back. A failed read costs only the warm-up: those series start from their new bars.
    private func coldHistory(of item: PartitionWork, in partition: Partition, context: ServiceContext) async
        -> [Partition.SeriesKey: [StoredBar]]
    {
        let cold = await partition.coldSeries(item)
        guard !cold.isEmpty else { return [:] }
        let limit = item.scoreTier1 ? 256 : 32
        return await tracer.withSpan("collector.partition.warmup", context: context, ofKind: .internal) { span in
            var histories: [Partition.SeriesKey: [StoredBar]] = [:]
            var bars = 0
            var failures: [String] = []
            for series in cold {
                do {
                    let history = try await store.latestBars(
                        symbol: series.key.symbol, intervalSeconds: series.key.interval, before: series.before, limit: limit)
                    histories[series.key] = history
                    bars += history.count
                    metrics.warmup(history.isEmpty ? "empty" : "warmed")
                } catch {
                    metrics.warmup("failed")
                    if failures.count < 3 { failures.append("\(series.key.symbol): \(error)") }
                }
            }
            metrics.warmupBars.increment(by: bars)
            span.attributes["vigil.partition"] = partition.index
            span.attributes["vigil.series"] = cold.count
            span.attributes["vigil.bars"] = bars
            if !failures.isEmpty {
                span.setStatus(SpanStatus(code: .error, message: failures[0]))
                logger.warning(
                    "Cannot read the stored history of cold series; they warm up from their new bars.",
                    metadata: ["error.message": "\(failures.joined(separator: "; "))", "trace_id": "\(context.spanContext?.traceIDHex ?? "")"])
            }
            return histories
        }
    }

    /// Completes the rows' cross-section, keeps them in the feature store, and has each partition score its own rows
    /// with the models in use (one snapshot of them for the whole request).
    private func scoreTier2(_ shares: [(partition: Int, features: FeatureBatch)], tier2: Tier2Runtime, context: ServiceContext) async
        -> PartitionResult
    {
        var batches = shares.map(\.features)
        let rowCount = batches.reduce(0) { $0 + $1.count }
        guard rowCount > 0 else { return PartitionResult() }
        tier2.board.complete(&batches)
        let active = tier2.models.active
        guard !active.isEmpty else {
            tier2.features.append(batches)
            return PartitionResult()
        }
        let traceID = context.spanContext?.traceIDHex
        let spanID = context.spanContext?.spanIDHex
        return await tracer.withSpan("collector.scorer.score", context: context, ofKind: .internal) { span in
            span.attributes["vigil.bars"] = rowCount
            span.attributes["vigil.models"] = (active.champions + active.challengers).map { "\($0.kind) v\($0.version)" }.joined(separator: ",")
            let merged = await withTaskGroup(of: (Int, PartitionResult).self) { group in
                for (k, (share, rows)) in zip(shares, batches).enumerated() where !rows.isEmpty {
                    let partition = partitions[share.partition]
                    group.addTask { (k, await partition.score(rows, models: active, traceID: traceID, spanID: spanID)) }
                }
                var merged = PartitionResult()
                for await (k, result) in group {
                    merged.detections += result.detections
                    merged.alerts += result.alerts
                    batches[k] = result.features
                }
                return merged
            }
            // Kept with the champions' scores, after scoring.
            tier2.features.append(batches)
            span.attributes["vigil.detections"] = merged.detections.count
            return merged
        }
    }

    private func apply(_ batch: StoredBatch, context: ServiceContext) async throws(IngestError) -> ApplyOutcome {
        let span = tracer.startSpan("collector.store.apply", context: context, ofKind: .client)
        span.attributes["db.system"] = store.kind == "postgres" ? "postgresql" : "sqlite"
        span.attributes["vigil.bars"] = batch.bars.count
        defer { span.end() }
        do {
            let outcome = try await store.apply(batch)
            span.attributes["vigil.store.outcome"] = outcome.label
            return outcome
        } catch let error as StoreError {
            span.recordError(error)
            span.setStatus(SpanStatus(code: .error, message: error.message))
            if error.isRetryable {
                logger.error("Store unavailable; the batch stays with the agent.", metadata: ["error.message": "\(error)"])
                throw IngestError(.storeFailure, "store unavailable: \(error.message)", retryAfterSeconds: retryAfterSeconds)
            }
            throw IngestError(.invalidBatch, "store refused the batch: \(error.message)")
        } catch {
            span.recordError(error)
            throw IngestError(.storeFailure, "store failed: \(error)", retryAfterSeconds: retryAfterSeconds)
        }
    }

    /// Queued partition work across all partitions.
    var queuedWork: Int { partitions.reduce(0) { $0 + $1.depth.current } }
}

extension MarketTally {
    mutating func merge(_ other: MarketTally) {
        symbolsSeen += other.symbolsSeen
        flagged += other.flagged
    }
}

/// The pipeline's instruments, created once (label sets are bounded: endpoint, tier, detector, kind, severity).
final class PipelineMetrics: Sendable {
    private let batches: [String: Counter]
    private let bars: [String: Counter]
    private let dedupeHits = Counter(label: MetricName.collectorDedupeHits)
    private let warmupSeries = ["warmed", "empty", "failed"].reduce(into: [String: Counter]()) {
        $0[$1] = Counter(label: MetricName.collectorWarmupSeries, dimensions: [("outcome", $1)])
    }
    let warmupBars = Counter(label: MetricName.collectorWarmupBars)
    private let lag = Metrics.Timer(label: MetricName.collectorIngestLag)
    private let lastBar = Metrics.Gauge(label: MetricName.collectorNewestBarTime)
    private let detections = Mutex<[String: Counter]>([:])
    private let alerts = Mutex<[String: Counter]>([:])

    init() {
        var batches: [String: Counter] = [:]
        var bars: [String: Counter] = [:]
        for endpoint in ["agent", "ingest"] {
            for outcome in ["accepted", "duplicate", "throttled"] {
                batches["\(endpoint)/\(outcome)"] = Counter(
                    label: MetricName.collectorBatches, dimensions: [("endpoint", endpoint), ("outcome", outcome)])
            }
            bars[endpoint] = Counter(label: MetricName.collectorBarsReceived, dimensions: [("endpoint", endpoint)])
        }
        self.batches = batches
        self.bars = bars
    }

    func accepted(endpoint: String, bars count: Int, newestBar: Int64?, receivedAt: Int64) {
        batches["\(endpoint)/accepted"]?.increment()
        bars[endpoint]?.increment(by: count)
        if let newestBar {
            lag.recordMilliseconds(max(0, receivedAt - newestBar))
            lastBar.record(Double(newestBar) / 1000)
        }
    }

    func warmup(_ outcome: String) { warmupSeries[outcome]?.increment() }

    func duplicate(endpoint: String) {
        batches["\(endpoint)/duplicate"]?.increment()
        dedupeHits.increment()
    }

    func throttled(endpoint: String) { batches["\(endpoint)/throttled"]?.increment() }

    /// Detector names and tiers come from agents: anything not in the known set shares one label value, so a
    /// misbehaving agent cannot create unbounded series.
    static func boundedDetector(_ name: String) -> String {
        name == "market_wide" || DetectorKind(rawValue: name) != nil || ModelKind.all.contains(name) ? name : "other"
    }

    static func boundedTier(_ tier: Int32) -> String { (1...3).contains(tier) ? "\(tier)" : "other" }

    func detection(tier: Int32, detector: String) {
        let key = "\(Self.boundedTier(tier))/\(Self.boundedDetector(detector))"
        counter(key, in: detections) {
            Counter(
                label: MetricName.collectorDetections,
                dimensions: [("tier", Self.boundedTier(tier)), ("detector", Self.boundedDetector(detector))])
        }.increment()
    }

    func alert(_ alert: StoredAlert) {
        let tier = Self.boundedTier(alert.tier)
        let kind = Self.boundedDetector(alert.kind)
        let severity = ["info", "warning", "critical"].contains(alert.severity) ? alert.severity : "other"
        counter("\(tier)/\(kind)/\(severity)", in: alerts) {
            Counter(label: MetricName.collectorAlerts, dimensions: [("tier", tier), ("kind", kind), ("severity", severity)])
        }.increment()
    }

    /// Counters are created once per label set and reused (creating one per event costs a registry lookup).
    private func counter(_ key: String, in cache: borrowing Mutex<[String: Counter]>, make: () -> Counter) -> Counter {
        cache.withLock { counters in
            if let counter = counters[key] { return counter }
            let counter = make()
            counters[key] = counter
            return counter
        }
    }
}
