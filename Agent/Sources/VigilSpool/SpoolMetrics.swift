// Vigil agent spool: the instruments the spool reports through swift-metrics.

import Metrics

/// Every instrument of the spool, created once from an injected factory (Prometheus's `scrapeMetrics` pattern) so
/// the append path never looks anything up. Names follow `vigil_agent_spool_<noun>[_unit][_total]`; the only label is
/// `reason` on drops, with two values.
struct SpoolMetrics: Sendable {
    /// Bytes of all segment files (acknowledged records included until their segment is deleted).
    let bytes: Gauge
    /// Segment files on disk.
    let segments: Gauge
    /// Records not yet acknowledged.
    let records: Gauge
    /// Age of the oldest unacknowledged record; 0 when none. Refreshed on append, acknowledge and `refreshGauges()`.
    let oldestAgeSeconds: Gauge
    /// Records appended.
    let appends: Counter
    /// Unacknowledged records deleted to make room under `whenFull: dropOldest`.
    let droppedFull: Counter
    /// Records lost to corruption: damaged stretches skipped at recovery, or records that failed their CRC when read.
    let droppedCorrupt: Counter
    /// Bytes cut from the end of the newest segment at recovery (torn writes).
    let recoveredTruncatedBytes: Counter
    /// Duration of each `fdatasync` of a segment (and of the directory after creating one).
    let fsyncDuration: Timer

    static let droppedLabel = "vigil_agent_spool_dropped_records_total"

    init(factory: any MetricsFactory) {
        bytes = Gauge(label: "vigil_agent_spool_bytes", factory: factory)
        segments = Gauge(label: "vigil_agent_spool_segments", factory: factory)
        records = Gauge(label: "vigil_agent_spool_records", factory: factory)
        oldestAgeSeconds = Gauge(label: "vigil_agent_spool_oldest_age_seconds", factory: factory)
        appends = Counter(label: "vigil_agent_spool_appends_total", factory: factory)
        droppedFull = Counter(label: Self.droppedLabel, dimensions: [("reason", "full_drop_oldest")], factory: factory)
        droppedCorrupt = Counter(label: Self.droppedLabel, dimensions: [("reason", "corrupt")], factory: factory)
        recoveredTruncatedBytes = Counter(label: "vigil_agent_spool_recovered_truncated_bytes_total", factory: factory)
        fsyncDuration = Timer(
            label: "vigil_agent_spool_fsync_seconds",
            dimensions: [],
            preferredDisplayUnit: .seconds,
            factory: factory
        )
    }
}
