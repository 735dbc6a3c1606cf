import CoreMetrics
import Prometheus

/// Metric names used by Vigil's components. Components create metrics through swift-metrics with these labels; the
/// catalogue below gives each its Prometheus type and help text, so `/metrics` passes `promtool check metrics`
/// (which wants HELP on every family) and the README's metric table is generated from one place.
public enum MetricName {
    // Tracing (both processes)
    public static let spansRecorded = "vigil_spans_recorded_total"
    public static let spansDropped = "vigil_spans_dropped_total"
    // Agent: feeds and normalizer
    public static let feedPolls = "vigil_agent_feed_polls_total"
    public static let feedBars = "vigil_agent_feed_bars_total"
    public static let feedErrors = "vigil_agent_feed_errors_total"
    public static let feedNullEntries = "vigil_agent_feed_null_entries_total"
    public static let feedRetries = "vigil_agent_feed_retries_total"
    public static let feedBreakerState = "vigil_agent_feed_breaker_state"
    public static let feedRequestDuration = "vigil_agent_feed_request_duration_seconds"
    public static let feedEvents = "vigil_agent_feed_events_total"
    public static let deadLetterWriteErrors = "vigil_agent_deadletter_write_errors_total"
    public static let normalizerBars = "vigil_agent_normalizer_bars_total"
    public static let normalizerRejects = "vigil_agent_normalizer_rejects_total"
    public static let deadLetterRecords = "vigil_agent_deadletter_records_total"
    // Agent: detection, batching, spool, shipping
    public static let detections = "vigil_agent_detections_total"
    public static let barsProcessed = "vigil_agent_bars_processed_total"
    public static let detectDuration = "vigil_agent_detect_duration_seconds"
    public static let batchesSealed = "vigil_agent_batches_sealed_total"
    public static let batchBars = "vigil_agent_batch_bars"
    public static let batchBytes = "vigil_agent_batch_bytes"
    public static let spoolBytes = "vigil_agent_spool_bytes"
    public static let spoolSegments = "vigil_agent_spool_segments"
    public static let spoolRecords = "vigil_agent_spool_records"
    public static let spoolOldestAge = "vigil_agent_spool_oldest_age_seconds"
    public static let spoolAppends = "vigil_agent_spool_appends_total"
    public static let spoolDropped = "vigil_agent_spool_dropped_records_total"
    public static let spoolTruncatedBytes = "vigil_agent_spool_recovered_truncated_bytes_total"
    public static let spoolFsyncDuration = "vigil_agent_spool_fsync_seconds"
    public static let shipperRequests = "vigil_agent_shipper_requests_total"
    public static let shipperDuration = "vigil_agent_shipper_request_duration_seconds"
    public static let shipperRetries = "vigil_agent_shipper_retries_total"
    public static let shipperBatchesAcked = "vigil_agent_shipper_batches_acked_total"
    public static let shipperBarsAcked = "vigil_agent_shipper_bars_acked_total"
    public static let shipperDeadLettered = "vigil_agent_shipper_batches_dead_lettered_total"
    public static let shipperLag = "vigil_agent_shipper_lag_batches"
    public static let resumeSkipped = "vigil_agent_resume_skipped_bars_total"
    public static let agentInfo = "vigil_agent_info"
    public static let agentUp = "vigil_agent_start_time_seconds"
    public static let configReloads = "vigil_agent_config_reloads_total"
    // Collector cache
    public static let cacheHits = "vigil_collector_cache_hits_total"
    public static let cacheMisses = "vigil_collector_cache_misses_total"
    public static let cacheEvictions = "vigil_collector_cache_evictions_total"
    public static let cacheBytes = "vigil_collector_cache_bytes"
    public static let cacheEntries = "vigil_collector_cache_entries"
    // Collector trace export
    public static let collectorTraceExportSpans = "vigil_collector_trace_export_spans_total"
    public static let collectorTraceExportRequests = "vigil_collector_trace_export_requests_total"
    public static let collectorTraceExportDuration = "vigil_collector_trace_export_duration_seconds"
    public static let collectorTraceExportQueueSpans = "vigil_collector_trace_export_queue_spans"
}

public enum MetricType: String, Sendable {
    case counter, gauge, histogram
}

public struct MetricDescriptor: Sendable {
    public var name: String
    public var type: MetricType
    public var help: String
    public var labels: [String]

    public init(name: String, type: MetricType, help: String, labels: [String]) {
        self.name = name
        self.type = type
        self.help = help
        self.labels = labels
    }
}

public enum MetricCatalogue {
    public static let all: [MetricDescriptor] = [
        .init(name: MetricName.spansRecorded, type: .counter, help: "Finished spans recorded for export.", labels: ["component"]),
        .init(name: MetricName.spansDropped, type: .counter, help: "Finished spans dropped because the span buffer was full.", labels: ["component"]),
        .init(name: MetricName.feedPolls, type: .counter, help: "Feed polls by outcome (success, partial, failure).", labels: ["feed", "outcome"]),
        .init(name: MetricName.feedBars, type: .counter, help: "Raw bars produced by each feed before normalization.", labels: ["feed"]),
        .init(name: MetricName.feedErrors, type: .counter, help: "Feed errors by reason.", labels: ["feed", "reason"]),
        .init(name: MetricName.feedNullEntries, type: .counter, help: "Null entries skipped inside provider quote arrays.", labels: ["feed"]),
        .init(name: MetricName.feedRetries, type: .counter, help: "Feed request retries.", labels: ["feed"]),
        .init(
            name: MetricName.feedBreakerState, type: .gauge, help: "Circuit breaker state per feed: 0 closed, 1 half-open, 2 open.", labels: ["feed"]),
        .init(name: MetricName.feedRequestDuration, type: .histogram, help: "Feed HTTP request duration in seconds.", labels: ["feed"]),
        .init(name: MetricName.feedEvents, type: .counter, help: "Corporate actions (splits, dividends) reported by feeds.", labels: ["feed"]),
        .init(
            name: MetricName.deadLetterWriteErrors, type: .counter, help: "Rejected records that could not be written to the dead-letter file.",
            labels: []),
        .init(name: MetricName.normalizerBars, type: .counter, help: "Bars that passed normalization.", labels: []),
        .init(name: MetricName.normalizerRejects, type: .counter, help: "Bars rejected by the normalizer, by reason.", labels: ["reason"]),
        .init(name: MetricName.deadLetterRecords, type: .counter, help: "Records written to the dead-letter file, by reason.", labels: ["reason"]),
        .init(name: MetricName.detections, type: .counter, help: "Tier-1 detections raised, by detector.", labels: ["detector"]),
        .init(name: MetricName.barsProcessed, type: .counter, help: "Bars scored by the Tier-1 detectors.", labels: []),
        .init(name: MetricName.detectDuration, type: .histogram, help: "Time to run Tier-1 detection over one feed poll, in seconds.", labels: []),
        .init(
            name: MetricName.batchesSealed, type: .counter, help: "Batches sealed by the batcher, by trigger (size, age, shutdown, flush, spans).",
            labels: ["trigger"]),
        .init(name: MetricName.batchBars, type: .histogram, help: "Bars per sealed batch.", labels: []),
        .init(name: MetricName.batchBytes, type: .histogram, help: "Encoded size of sealed batches in bytes.", labels: []),
        .init(name: MetricName.spoolBytes, type: .gauge, help: "Bytes held in the spool.", labels: []),
        .init(name: MetricName.spoolSegments, type: .gauge, help: "Segment files in the spool.", labels: []),
        .init(name: MetricName.spoolRecords, type: .gauge, help: "Batches in the spool not yet acknowledged by the collector.", labels: []),
        .init(name: MetricName.spoolOldestAge, type: .gauge, help: "Age of the oldest unacknowledged batch in the spool, in seconds.", labels: []),
        .init(name: MetricName.spoolAppends, type: .counter, help: "Batches appended to the spool.", labels: []),
        .init(name: MetricName.spoolDropped, type: .counter, help: "Spool records lost, by reason (full_drop_oldest, corrupt).", labels: ["reason"]),
        .init(
            name: MetricName.spoolTruncatedBytes, type: .counter, help: "Bytes of torn records cut from the spool tail during recovery.", labels: []),
        .init(name: MetricName.spoolFsyncDuration, type: .histogram, help: "Spool fsync duration in seconds.", labels: []),
        .init(
            name: MetricName.resumeSkipped, type: .counter,
            help: "Bars a restarted agent skipped because its resume checkpoint shows they were already sealed.", labels: ["feed"]),
        .init(
            name: MetricName.shipperRequests, type: .counter, help: "Batch shipments by outcome (acked, duplicate, retryable, permanent, transport).",
            labels: ["outcome"]),
        .init(name: MetricName.shipperDuration, type: .histogram, help: "Batch shipment request latency in seconds.", labels: []),
        .init(name: MetricName.shipperRetries, type: .counter, help: "Batch shipment retries, by reason.", labels: ["reason"]),
        .init(name: MetricName.shipperBatchesAcked, type: .counter, help: "Batches acknowledged by the collector.", labels: []),
        .init(name: MetricName.shipperBarsAcked, type: .counter, help: "Bars in batches acknowledged by the collector.", labels: []),
        .init(
            name: MetricName.shipperDeadLettered, type: .counter, help: "Batches the collector rejected permanently, moved to the dead-letter queue.",
            labels: []),
        .init(name: MetricName.shipperLag, type: .gauge, help: "Sealed batches not yet acknowledged.", labels: []),
        .init(
            name: MetricName.agentInfo, type: .gauge, help: "Agent identity: always 1, labels carry agent id, version and config version.",
            labels: ["agent_id", "version", "config_version"]),
        .init(name: MetricName.agentUp, type: .gauge, help: "Unix time at which the agent process started, in seconds.", labels: []),
        .init(name: MetricName.configReloads, type: .counter, help: "Configuration reloads (SIGHUP) by outcome.", labels: ["outcome"]),
        // Collector cache
        .init(name: MetricName.cacheHits, type: .counter, help: "Collector cache lookups that found a fresh entry.", labels: ["cache"]),
        .init(name: MetricName.cacheMisses, type: .counter, help: "Collector cache lookups that missed (absent or expired).", labels: ["cache"]),
        .init(
            name: MetricName.cacheEvictions, type: .counter, help: "Collector cache entries evicted, by reason (size, ttl).",
            labels: ["cache", "reason"]),
        .init(name: MetricName.cacheBytes, type: .gauge, help: "Bytes held by a collector cache, per-entry overhead included.", labels: ["cache"]),
        .init(name: MetricName.cacheEntries, type: .gauge, help: "Entries held by a collector cache.", labels: ["cache"]),
        // Collector trace export
        .init(
            name: MetricName.collectorTraceExportSpans, type: .counter,
            help: "Spans handled by the OTLP trace exporter, by outcome (exported, dropped_queue_full, dropped_failed, rejected).",
            labels: ["outcome"]),
        .init(
            name: MetricName.collectorTraceExportRequests, type: .counter,
            help: "OTLP trace export requests by outcome (success, retry, failure).", labels: ["outcome"]),
        .init(
            name: MetricName.collectorTraceExportDuration, type: .histogram, help: "OTLP trace export request duration in seconds.", labels: []),
        .init(
            name: MetricName.collectorTraceExportQueueSpans, type: .gauge, help: "Spans waiting in the OTLP trace exporter's queue.", labels: []),
    ]

    public static let byName: [String: MetricDescriptor] = Dictionary(all.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
}

/// A swift-metrics backend over a swift-prometheus registry that attaches the catalogue's help text, and uses
/// buckets suited to each histogram's unit (seconds vs sizes).
public struct CataloguedPrometheusFactory: MetricsFactory {
    public let registry: PrometheusCollectorRegistry
    private let help: [String: String]
    private let longDurations: Set<String>

    /// - Parameter longDurations: timers measured in minutes to days (lags, times to acknowledge): buckets up to a week,
    ///   where the default ones stop at 30 s.
    public init(registry: PrometheusCollectorRegistry, extraHelp: [String: String] = [:], longDurations: Set<String> = []) {
        self.registry = registry
        self.longDurations = longDurations
        var help = MetricCatalogue.byName.mapValues(\.help)
        help.merge(extraHelp) { _, new in new }
        self.help = help
    }

    private func helpText(_ label: String) -> String { help[label] ?? "" }

    static let durationBuckets: [Duration] = [
        .microseconds(50), .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2.5),
        .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250),
        .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5), .seconds(10), .seconds(30),
    ]
    static let longDurationBuckets: [Duration] = [1, 5, 15, 30, 60, 300, 900, 1_800, 3_600, 14_400, 43_200, 86_400, 259_200, 604_800]
        .map { .seconds($0) }
    static let sizeBuckets: [Double] = [1, 10, 100, 500, 1_000, 5_000, 10_000, 50_000, 100_000, 1_000_000, 10_000_000]

    public func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        registry.makeCounter(name: label, labels: dimensions, help: helpText(label))
    }

    public func makeFloatingPointCounter(label: String, dimensions: [(String, String)]) -> any FloatingPointCounterHandler {
        registry.makeCounter(name: label, labels: dimensions, help: helpText(label))
    }

    public func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        guard aggregate else { return registry.makeGauge(name: label, labels: dimensions, help: helpText(label)) }
        return registry.makeValueHistogram(name: label, labels: dimensions, buckets: Self.sizeBuckets, help: helpText(label))
    }

    public func makeMeter(label: String, dimensions: [(String, String)]) -> any MeterHandler {
        registry.makeGauge(name: label, labels: dimensions, help: helpText(label))
    }

    public func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
        registry.makeDurationHistogram(
            name: label, labels: dimensions, buckets: longDurations.contains(label) ? Self.longDurationBuckets : Self.durationBuckets,
            help: helpText(label))
    }

    public func destroyCounter(_ handler: any CounterHandler) {
        if let counter = handler as? Prometheus.Counter { registry.unregisterCounter(counter) }
    }

    public func destroyFloatingPointCounter(_ handler: any FloatingPointCounterHandler) {
        if let counter = handler as? Prometheus.Counter { registry.unregisterCounter(counter) }
    }

    public func destroyRecorder(_ handler: any RecorderHandler) {
        if let gauge = handler as? Prometheus.Gauge { registry.unregisterGauge(gauge) }
        if let histogram = handler as? ValueHistogram { registry.unregisterValueHistogram(histogram) }
    }

    public func destroyMeter(_ handler: any MeterHandler) {
        if let gauge = handler as? Prometheus.Gauge { registry.unregisterGauge(gauge) }
    }

    public func destroyTimer(_ handler: any TimerHandler) {
        if let histogram = handler as? DurationHistogram { registry.unregisterDurationHistogram(histogram) }
    }
}

/// Serves the Prometheus text exposition format (version 0.0.4).
public enum PrometheusExposition {
    public static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    public static func render(_ registry: PrometheusCollectorRegistry, process: ProcessMetrics? = nil) -> [UInt8] {
        process?.update()
        return registry.emitToBuffer()
    }
}
