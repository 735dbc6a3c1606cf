import VigilTelemetry

// The collector's metric names (Prometheus naming: vigil_collector_<stage>_<noun>_<unit>[_total]) and their help
// text. Label values are bounded: endpoint, route templates, outcome, partition index, tier, detector kind, severity.
extension MetricName {
    public static let collectorBatches = "vigil_collector_batches_total"
    public static let collectorBarsReceived = "vigil_collector_bars_received_total"
    public static let collectorDedupeHits = "vigil_collector_dedupe_hits_total"
    public static let collectorWarmupSeries = "vigil_collector_warmup_series_total"
    public static let collectorWarmupBars = "vigil_collector_warmup_bars_total"
    public static let collectorPartitionQueueDepth = "vigil_collector_partition_queue_depth"
    public static let collectorDetections = "vigil_collector_detections_total"
    public static let collectorAlerts = "vigil_collector_alerts_total"
    public static let collectorIngestLag = "vigil_collector_ingest_lag_seconds"
    public static let collectorNewestBarTime = "vigil_collector_newest_bar_timestamp_seconds"
    public static let collectorRequests = "vigil_collector_http_requests_total"
    public static let collectorRequestDuration = "vigil_collector_http_request_duration_seconds"
    public static let collectorInflight = "vigil_collector_http_inflight_requests"
    public static let collectorRejectedBytes = "vigil_collector_rejected_body_bytes_total"
    public static let collectorInfo = "vigil_collector_info"
    public static let collectorStartTime = "vigil_collector_start_time_seconds"
    public static let collectorStoreApply = "vigil_collector_store_apply_duration_seconds"
    public static let collectorStoreBatches = "vigil_collector_store_batches_total"
    public static let collectorStoreBarsWritten = "vigil_collector_store_bars_written_total"
    public static let collectorAgentHighWaterMark = "vigil_collector_agents"
    public static let collectorStoreConnections = "vigil_collector_store_connections"
    public static let collectorStorePoolWaits = "vigil_collector_store_pool_waits_total"
    public static let collectorFeatureStoreRows = "vigil_collector_feature_store_rows"
    public static let collectorTier2ScoreDuration = "vigil_collector_tier2_score_duration_seconds"
    public static let collectorTier2Flags = "vigil_collector_tier2_flags_total"
    public static let collectorTier2ScoredBars = "vigil_collector_tier2_scored_bars_total"
    public static let collectorTrainingRuns = "vigil_collector_training_runs_total"
    public static let collectorTrainingDuration = "vigil_collector_training_duration_seconds"
    public static let collectorTrainingInjected = "vigil_collector_training_injected_anomalies_total"
    public static let collectorFeedback = "vigil_collector_alert_feedback_total"
    public static let collectorAlertAcknowledge = "vigil_collector_alert_acknowledge_seconds"
    public static let collectorModelPromotions = "vigil_collector_model_promotions_total"
    public static let collectorChampionVersion = "vigil_collector_model_champion_version"
}

public enum CollectorMetricCatalogue {
    public static let all: [MetricDescriptor] = [
        .init(
            name: MetricName.collectorBatches, type: .counter,
            help:
                "Requests on the ingest endpoints by endpoint (agent, ingest) and outcome (accepted, duplicate, rejected, unauthorized, throttled, unavailable, store_error).",
            labels: ["endpoint", "outcome"]),
        .init(name: MetricName.collectorBarsReceived, type: .counter, help: "Bars accepted into the store, by endpoint.", labels: ["endpoint"]),
        .init(
            name: MetricName.collectorDedupeHits, type: .counter, help: "Batches whose sequence was at or below the agent's high-water mark.",
            labels: []),
        .init(
            name: MetricName.collectorPartitionQueueDepth, type: .gauge, help: "Requests queued for or running in each partition.",
            labels: ["partition"]),
        .init(
            name: MetricName.collectorWarmupSeries, type: .counter,
            help:
                "Series whose detector or feature state was missing (a restart, a new symbol), by outcome: warmed from stored bars, empty (no history), failed (store error).",
            labels: ["outcome"]),
        .init(
            name: MetricName.collectorWarmupBars, type: .counter, help: "Stored bars read to rebuild the state of cold series.", labels: []),
        .init(
            name: MetricName.collectorDetections, type: .counter,
            help: "Detections stored, by tier and detector (agents' Tier-1 and the collector's).",
            labels: ["tier", "detector"]),
        .init(
            name: MetricName.collectorAlerts, type: .counter, help: "Alerts raised (episodes opened), by tier, kind and severity.",
            labels: ["tier", "kind", "severity"]),
        .init(
            name: MetricName.collectorIngestLag, type: .histogram,
            help: "Time from the newest bar's open time to its receipt, per accepted request, in seconds.",
            labels: []),
        .init(name: MetricName.collectorNewestBarTime, type: .gauge, help: "Open time of the newest bar accepted, in Unix seconds.", labels: []),
        .init(
            name: MetricName.collectorRequests, type: .counter, help: "HTTP requests by route template, method and status code.",
            labels: ["route", "method", "status"]),
        .init(
            name: MetricName.collectorRequestDuration, type: .histogram, help: "HTTP request duration by route template and method, in seconds.",
            labels: ["route", "method"]),
        .init(name: MetricName.collectorInflight, type: .gauge, help: "Ingest requests being decoded or applied.", labels: []),
        .init(name: MetricName.collectorRejectedBytes, type: .counter, help: "Body bytes of refused ingest requests.", labels: []),
        .init(
            name: MetricName.collectorInfo, type: .gauge, help: "Collector identity: always 1; labels carry the instance id, version and store kind.",
            labels: ["collector_id", "version", "store"]),
        .init(name: MetricName.collectorStartTime, type: .gauge, help: "Unix time at which the collector process started, in seconds.", labels: []),
        .init(
            name: MetricName.collectorStoreApply, type: .histogram,
            help: "Time to apply one batch in the store (one transaction), by store and outcome, in seconds.",
            labels: ["store", "outcome"]),
        .init(
            name: MetricName.collectorStoreBatches, type: .counter, help: "Batches applied by the store, by store and outcome.",
            labels: ["store", "outcome"]),
        .init(name: MetricName.collectorStoreBarsWritten, type: .counter, help: "Bars written to the store.", labels: ["store"]),
        .init(name: MetricName.collectorAgentHighWaterMark, type: .gauge, help: "Agents (and ingest producers) known to the deduper.", labels: []),
        .init(
            name: MetricName.collectorStoreConnections, type: .gauge, help: "PostgreSQL pool connections by state (idle, busy).",
            labels: ["store", "state"]),
        .init(
            name: MetricName.collectorStorePoolWaits, type: .counter, help: "Store calls that waited for a free PostgreSQL connection.",
            labels: ["store"]),
        .init(name: MetricName.collectorFeatureStoreRows, type: .gauge, help: "Feature rows kept in memory for Tier-2 training.", labels: []),
        .init(
            name: MetricName.collectorTier2ScoreDuration, type: .histogram,
            help: "Time to score one partition's share of a request with the Tier-2 models (champions and challengers), in seconds.",
            labels: []),
        .init(
            name: MetricName.collectorTier2ScoredBars, type: .counter,
            help: "Bars scored by a Tier-2 model, by model kind and role (champion, challenger).",
            labels: ["kind", "role"]),
        .init(
            name: MetricName.collectorTier2Flags, type: .counter,
            help: "Bars a Tier-2 model flagged, by model kind and role; a challenger's flags are shadow only (no detection, no alert).",
            labels: ["kind", "role"]),
        .init(
            name: MetricName.collectorTrainingRuns, type: .counter,
            help: "Tier-2 training runs by trigger (schedule, api) and outcome (trained, insufficient_data, failed).",
            labels: ["trigger", "outcome"]),
        .init(
            name: MetricName.collectorTrainingDuration, type: .histogram, help: "Time to train and evaluate one model, by model kind, in seconds.",
            labels: ["kind"]),
        .init(
            name: MetricName.collectorTrainingInjected, type: .counter,
            help:
                "Anomalies the trainer injected into stored bars to train on, by anomaly kind "
                + "(market_wide: shocks replayed on every symbol, labelled normal).",
            labels: ["kind"]),
        .init(
            name: MetricName.collectorFeedback, type: .counter,
            help:
                "Analyst feedback on alerts by label (true_positive, false_positive) and the alert's tier: the confirmed rate is the alerts' precision.",
            labels: ["label", "tier"]),
        .init(
            name: MetricName.collectorAlertAcknowledge, type: .histogram,
            help: "Seconds from raising an alert to its first feedback (alerts raised since this collector started).", labels: []),
        .init(
            name: MetricName.collectorModelPromotions, type: .counter,
            help: "Models made champion, by model kind and how (bootstrap, shadow, manual).", labels: ["kind", "how"]),
        .init(
            name: MetricName.collectorChampionVersion, type: .gauge, help: "Registry version of the champion scoring live, by model kind (0: none).",
            labels: ["kind"]),
    ]

    /// Help text for every collector family, including the shared catalogue's (spans, cache, trace export).
    /// Timers measured in minutes to days: their histograms get buckets up to a week.
    public static let longDurations: Set<String> = [MetricName.collectorIngestLag, MetricName.collectorAlertAcknowledge]

    public static var help: [String: String] {
        var help = MetricCatalogue.byName.mapValues(\.help)
        for descriptor in all { help[descriptor.name] = descriptor.help }
        return help
    }
}
