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
