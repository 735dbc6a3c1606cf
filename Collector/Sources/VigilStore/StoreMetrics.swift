// Vigil collector store: metric instruments (STYLE.md §8.7). Names follow <app>_<stage>_<noun>_<unit>[_total].
import CoreMetrics

/// The store's instruments, built once per store from an injected factory so tests can assert on them.
struct StoreMetrics: Sendable {
    let applyAccepted: Timer
    let applyDuplicate: Timer
    let applyError: Timer
    let batchesAccepted: Counter
    let batchesDuplicate: Counter
    let batchesError: Counter
    let barsWritten: Counter

    init(store: String, factory: any MetricsFactory) {
        func timer(_ outcome: String) -> Timer {
            Timer(
                label: "vigil_collector_store_apply_duration_seconds",
                dimensions: [("store", store), ("outcome", outcome)],
                factory: factory
            )
        }
        func batches(_ outcome: String) -> Counter {
            Counter(label: "vigil_collector_store_batches_total", dimensions: [("store", store), ("outcome", outcome)], factory: factory)
        }
        applyAccepted = timer("accepted")
        applyDuplicate = timer("duplicate")
        applyError = timer("error")
        batchesAccepted = batches("accepted")
        batchesDuplicate = batches("duplicate")
        batchesError = batches("error")
        barsWritten = Counter(label: "vigil_collector_store_bars_written_total", dimensions: [("store", store)], factory: factory)
    }

    /// Records one apply call: once per batch, never per bar.
    func record(_ result: Result<ApplyOutcome, StoreError>, barCount: Int, start: ContinuousClock.Instant) {
        let (seconds, attos) = start.duration(to: .now).components
        let elapsed = seconds &* 1_000_000_000 &+ attos / 1_000_000_000
        switch result {
        case .success(.accepted):
            applyAccepted.recordNanoseconds(elapsed)
            batchesAccepted.increment()
            barsWritten.increment(by: Int64(barCount))
        case .success(.duplicate):
            applyDuplicate.recordNanoseconds(elapsed)
            batchesDuplicate.increment()
        case .failure:
            applyError.recordNanoseconds(elapsed)
            batchesError.increment()
        }
    }
}

/// The PostgreSQL connection pool's instruments. Values are recorded under the pool's lock, so the last value of each
/// gauge is always the current state (recording outside it could let an older value land last).
struct StorePoolMetrics: Sendable {
    /// Connections open and waiting in the pool.
    let idle: Gauge
    /// Connection slots in use (a connection being opened counts as busy).
    let busy: Gauge
    /// Callers that found every slot busy and had to wait.
    let waits: Counter

    init(store: String, factory: any MetricsFactory) {
        func connections(_ state: String) -> Gauge {
            Gauge(label: "vigil_collector_store_connections", dimensions: [("store", store), ("state", state)], factory: factory)
        }
        idle = connections("idle")
        busy = connections("busy")
        waits = Counter(label: "vigil_collector_store_pool_waits_total", dimensions: [("store", store)], factory: factory)
    }
}
