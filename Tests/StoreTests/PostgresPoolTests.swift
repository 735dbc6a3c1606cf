// Vigil store tests: the PostgreSQL connection pool's bound, FIFO waiting, cancellation and broken connections.
import MetricsTestKit
import Testing
import VigilStore

@Suite(
    "PostgresPool",
    .enabled(if: StoreKind.postgresURL != nil, "PostgreSQL tests skipped: VIGIL_TEST_POSTGRES_URL is unset (scripts/postgres.sh start)"),
    // A leaked slot shows up as a hang; fail instead of blocking the whole run.
    .timeLimit(.minutes(1))
)
struct PostgresPoolTests {
    /// A store on the harness's schema with its own pool size and metrics.
    static func store(_ h: StoreHarness, maxConnections: Int, metrics: TestMetrics = TestMetrics()) throws -> PostgresStore {
        guard let url = StoreKind.postgresURL, let schema = h.postgresSchema else { throw StoreError(.invalidBatch, "no schema") }
        return try PostgresStore(
            url: url, schema: schema, logger: StoreHarness.logger, metricsFactory: metrics, maxConnections: maxConnections
        )
    }

    /// Polls `condition` until it holds; throws after 60 s so a broken pool fails the test instead of hanging it.
    static func waitUntil(_ what: String, _ condition: () -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(60)
        while !condition() {
            guard ContinuousClock.now < deadline else { throw StoreError(.busy, "timed out waiting until \(what)") }
            try await Task.sleep(for: .milliseconds(5))
        }
    }

    @Test("With maxConnections 2, ten concurrent calls all succeed on at most two connections")
    func boundHolds() async throws {
        let h = try await StoreHarness.make(.postgres)
        let metrics = TestMetrics()
        let store = try Self.store(h, maxConnections: 2, metrics: metrics)
        // Two slow calls take both slots first, so the ten stats() calls really contend for them.
        let sleepers = (0..<2).map { _ in Task { try await store.executeForTesting("SELECT pg_sleep(0.5)") } }
        try await Self.waitUntil("both slots are busy") { store.poolStatistics.busy == 2 }
        let results = try await withThrowingTaskGroup(of: StoreStats.self) { group in
            for _ in 0..<10 { group.addTask { try await store.stats() } }
            var all: [StoreStats] = []
            for try await stats in group { all.append(stats) }
            return all
        }
        for sleeper in sleepers { try await sleeper.value }
        #expect(results.count == 10)
        #expect(results.allSatisfy { $0 == StoreStats() })

        let pool = store.poolStatistics
        #expect(pool.peakBusy == 2)
        #expect(pool.busy == 0 && pool.waiting == 0 && pool.idle <= 2)
        #expect(pool.waits == 10)
        let busy = try metrics.expectGauge("vigil_collector_store_connections", [("store", "postgres"), ("state", "busy")])
        let idle = try metrics.expectGauge("vigil_collector_store_connections", [("store", "postgres"), ("state", "idle")])
        #expect((busy.values.max() ?? 0) == 2)
        #expect(busy.lastValue == 0)
        #expect((idle.values.max() ?? 0) <= 2)
        #expect(try metrics.expectCounter("vigil_collector_store_pool_waits_total", [("store", "postgres")]).totalValue == 10)
        await store.close()
        await h.tearDown()
    }

    @Test("Waiters are served first come, first served")
    func fifo() async throws {
        let h = try await StoreHarness.make(.postgres)
        let store = try Self.store(h, maxConnections: 1)
        // The holder must outlast queueing all five writers, even on a loaded machine (0.5 s did not, in CI).
        let holder = Task { try await store.executeForTesting("SELECT pg_sleep(3)") }
        try await Self.waitUntil("the slot is busy") { store.poolStatistics.busy == 1 }
        // Queue five writers one after another; with one connection their rows' ids record the order they ran in.
        var writers: [Task<Void, any Error>] = []
        for i in 0..<5 {
            writers.append(
                Task {
                    try await store.recordRejection(RejectedBatch(agentID: "a", receivedAt: 0, code: "c", message: "\(i)", bodyBytes: 0))
                })
            try await Self.waitUntil("writer \(i) waits") { store.poolStatistics.waiting == i + 1 }
        }
        try await holder.value
        for writer in writers { try await writer.value }
        #expect(try await h.rejections().reversed().map(\.message) == ["0", "1", "2", "3", "4"])
        await store.close()
        await h.tearDown()
    }

    @Test("A cancelled waiter leaves the queue, throws .cancelled and does not leak its slot")
    func cancelledWaiter() async throws {
        let h = try await StoreHarness.make(.postgres)
        let metrics = TestMetrics()
        let store = try Self.store(h, maxConnections: 1, metrics: metrics)
        let holder = Task { try await store.executeForTesting("SELECT pg_sleep(0.5)") }
        try await Self.waitUntil("the slot is busy") { store.poolStatistics.busy == 1 }
        let waiter = Task { try await store.stats() }
        try await Self.waitUntil("the waiter is queued") { store.poolStatistics.waiting == 1 }
        waiter.cancel()
        do {
            _ = try await waiter.value
            Issue.record("expected the cancelled waiter to throw")
        } catch let error as StoreError {
            #expect(error.code == .cancelled)
            #expect(error.isRetryable)
        }
        #expect(store.poolStatistics.waiting == 0)
        try await holder.value

        // With one slot, a leak would make every later call wait forever.
        #expect(store.poolStatistics.busy == 0)
        #expect(try await store.stats() == StoreStats())
        let served = try await withThrowingTaskGroup(of: StoreStats.self) { group in
            for _ in 0..<3 { group.addTask { try await store.stats() } }
            var count = 0
            for try await _ in group { count += 1 }
            return count
        }
        #expect(served == 3)
        let pool = store.poolStatistics
        #expect(pool.busy == 0 && pool.idle == 1 && pool.peakBusy == 1)

        // A task cancelled before it asks never queues either.
        let holder2 = Task { try await store.executeForTesting("SELECT pg_sleep(0.5)") }
        try await Self.waitUntil("the slot is busy again") { store.poolStatistics.busy == 1 }
        let early = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return try await store.stats()
        }
        await #expect(throws: StoreError.self) { try await early.value }
        #expect(store.poolStatistics.waiting == 0)
        try await holder2.value
        #expect(store.poolStatistics.busy == 0)
        await store.close()
        await h.tearDown()
    }

    @Test("A connection that breaks is closed and its slot released, not returned to the pool")
    func brokenConnectionReleasesSlot() async throws {
        let h = try await StoreHarness.make(.postgres)
        let store = try Self.store(h, maxConnections: 1)
        // The session kills its own backend: libpq reports the connection bad after the error.
        do {
            try await store.executeForTesting("SELECT pg_terminate_backend(pg_backend_pid())")
            Issue.record("expected the connection to break")
        } catch let error as StoreError {
            #expect(error.code == .connectionFailed)
        }
        #expect(store.poolStatistics.busy == 0)
        #expect(store.poolStatistics.idle == 0)
        // The only slot is free again, and a fresh connection takes it.
        #expect(try await store.stats() == StoreStats())
        #expect(store.poolStatistics.idle == 1)
        await store.close()
        await h.tearDown()
    }

    @Test("Closing the store fails queued waiters; busy connections close when they come back")
    func closeFailsWaiters() async throws {
        let h = try await StoreHarness.make(.postgres)
        let store = try Self.store(h, maxConnections: 1)
        let holder = Task { try await store.executeForTesting("SELECT pg_sleep(0.5)") }
        try await Self.waitUntil("the slot is busy") { store.poolStatistics.busy == 1 }
        let waiter = Task { try await store.stats() }
        try await Self.waitUntil("the waiter is queued") { store.poolStatistics.waiting == 1 }
        await store.close()
        do {
            _ = try await waiter.value
            Issue.record("expected the waiter to fail")
        } catch let error as StoreError {
            #expect(error.code == .closed)
        }
        try await holder.value
        let pool = store.poolStatistics
        #expect(pool.idle == 0 && pool.busy == 0 && pool.waiting == 0 && pool.waits == 1)
        await #expect(throws: StoreError.self) { try await store.stats() }
        await h.tearDown()
    }

    @Test("maxConnections below 1 is refused")
    func invalidBound() {
        #expect(throws: StoreError.self) {
            _ = try PostgresStore(url: "postgresql://x", logger: StoreHarness.logger, maxConnections: 0)
        }
    }
}
