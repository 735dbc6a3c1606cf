// Vigil store tests: what only the PostgreSQL store has (monthly partitions, retention by DROP, COPY throughput).
import Testing
import VigilStore

@Suite(
    "PostgresStore",
    .enabled(if: StoreKind.postgresURL != nil, "PostgreSQL tests skipped: VIGIL_TEST_POSTGRES_URL is unset (scripts/postgres.sh start)")
)
struct PostgresStoreTests {
    /// Month starts (ms, UTC).
    static let jan2020: Int64 = 1_577_836_800_000
    static let feb2020: Int64 = 1_580_515_200_000
    static let mar2020: Int64 = 1_583_020_800_000
    static let apr2020: Int64 = 1_585_699_200_000

    static func bar(at ts: Int64, symbol: String = "AAPL") -> StoredBar {
        var bar = Fixtures.bar(symbol, 0)
        bar.timestamp = ts
        return bar
    }

    @Test("Monthly partitions are created on demand and retention drops whole old months")
    func partitionsAndRetention() async throws {
        let h = try await StoreHarness.make(.postgres)
        guard let store = h.store as? PostgresStore else { throw StoreError(.invalidBatch, "not a PostgresStore") }
        // The last millisecond of February and the first of March land in different partitions.
        let bars = [Self.bar(at: Self.jan2020 + 5), Self.bar(at: Self.mar2020 - 1), Self.bar(at: Self.mar2020), Self.bar(at: Self.apr2020 - 1)]
        var detection = Fixtures.detection("AAPL", 0)
        detection.timestamp = Self.jan2020 + 5
        #expect(try await store.apply(Fixtures.batch(sequence: 1, bars: bars, detections: [detection])) == .accepted(highWaterMark: 1))

        let names = try await store.partitions().map(\.name)
        #expect(names == ["bars_p202001", "bars_p202002", "bars_p202003", "detections_p202001", "detections_p202002", "detections_p202003"])

        // A cutoff inside March keeps March: only partitions that end at or before the cutoff go.
        let dropped = try await store.dropPartitions(olderThan: Self.mar2020 + Fixtures.day)
        #expect(dropped.sorted() == ["bars_p202001", "bars_p202002", "detections_p202001", "detections_p202002"])
        #expect(try await store.bars(symbol: "AAPL", from: 0, to: .max, limit: 10).map(\.timestamp) == [Self.mar2020, Self.apr2020 - 1])
        #expect(try await store.detections(DetectionQuery()).items.isEmpty)
        #expect(try await store.dropPartitions(olderThan: Self.mar2020 + Fixtures.day).isEmpty)

        // Late data for a dropped month recreates its partition (the store's partition cache is invalidated).
        #expect(try await store.apply(Fixtures.batch(sequence: 2, bars: [Self.bar(at: Self.jan2020 + 7)])) == .accepted(highWaterMark: 2))
        #expect(try await store.partitions().map(\.name).contains("bars_p202001"))

        // History before 1970 (negative times: the S&P 500 daily data starts in 1962) gets its own month too.
        let early = Self.bar(at: -252_374_400_000)  // 1962-01-02
        #expect(try await store.apply(Fixtures.batch(sequence: 3, bars: [early])) == .accepted(highWaterMark: 3))
        #expect(try await store.partitions().map(\.name).contains("bars_p196201"))
        #expect(try await store.bars(symbol: "AAPL", from: .min, to: 0, limit: 10) == [early])
        await h.tearDown()
    }

    @Test("A second store instance recovers when retention dropped a partition it had cached")
    func staleCacheRecovers() async throws {
        let h = try await StoreHarness.make(.postgres)
        guard let store = h.store as? PostgresStore else { throw StoreError(.invalidBatch, "not a PostgresStore") }
        let other = try h.sibling()
        // `other` (a second collector) creates and caches January; `store` then drops it behind `other`'s back.
        _ = try await other.apply(Fixtures.batch(sequence: 1, bars: [Self.bar(at: Self.jan2020 + 1)]))
        #expect(try await store.dropPartitions(olderThan: Self.feb2020) == ["bars_p202001", "detections_p202001"])
        #expect(try await other.apply(Fixtures.batch(sequence: 2, bars: [Self.bar(at: Self.jan2020 + 2)])) == .accepted(highWaterMark: 2))
        #expect(try await store.bars(symbol: "AAPL", from: 0, to: .max, limit: 10).map(\.timestamp) == [Self.jan2020 + 2])
        await other.close()
        await h.tearDown()
    }

    @Test("A pooled connection killed by the server is replaced transparently")
    func brokenConnectionIsReplaced() async throws {
        let h = try await StoreHarness.make(.postgres)
        guard let url = StoreKind.postgresURL, let schema = h.postgresSchema else { throw StoreError(.invalidBatch, "no schema") }
        let name = "vigil_kill_" + String(UInt32.random(in: 0...UInt32.max), radix: 16)
        let victim = try PostgresStore(url: url, schema: schema, logger: StoreHarness.logger, applicationName: name)
        #expect(try await victim.apply(Fixtures.batch(sequence: 1, bars: [Fixtures.bar("AAPL", 0)])) == .accepted(highWaterMark: 1))
        // Kill the victim's idle pooled connection from another session, as a server restart would.
        guard let admin = h.store as? PostgresStore else { throw StoreError(.invalidBatch, "not a PostgresStore") }
        try await admin.executeForTesting("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '\(name)'")
        try await Task.sleep(for: .milliseconds(100))
        #expect(try await victim.apply(Fixtures.batch(sequence: 2, bars: [Fixtures.bar("AAPL", 1)])) == .accepted(highWaterMark: 2))
        #expect(try await victim.stats().bars == 2)
        await victim.close()
        await h.tearDown()
    }

    @Test("COPY bulk-load throughput (printed, not asserted)")
    func copyThroughput() async throws {
        let h = try await StoreHarness.make(.postgres)
        let symbols = (0..<500).map { "S\($0)" }
        let perBatch = 10_000
        let batches = 20
        var prepared: [StoredBatch] = []
        for b in 0..<batches {
            var bars: [StoredBar] = []
            bars.reserveCapacity(perBatch)
            for i in 0..<perBatch {
                let global = b * perBatch + i
                var bar = Fixtures.bar(symbols[global % symbols.count], global / symbols.count)
                bar.agentID = "bench"
                bars.append(bar)
            }
            prepared.append(Fixtures.batch(agent: "bench", sequence: Int64(b + 1), bars: bars))
        }
        let clock = ContinuousClock()
        let elapsed = try await clock.measure {
            for batch in prepared { _ = try await h.store.apply(batch) }
        }
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let total = perBatch * batches
        print("vigil-store-bench postgres: \(total) bars in \(batches) batches, \(seconds) s, \(Int(Double(total) / seconds)) bars/s")
        #expect(try await h.store.stats().bars == Int64(total))
        await h.tearDown()
    }
}

/// Runs without a server: connection and configuration failures are `StoreError`s, not crashes.
@Test("An unreachable server or an invalid schema name is a StoreError")
func postgresFailuresAreErrors() async throws {
    let store = try PostgresStore(url: "postgresql://postgres@127.0.0.1:1/none?connect_timeout=2", logger: StoreHarness.logger)
    do {
        try await store.migrate()
        Issue.record("expected a connection failure")
    } catch let error as StoreError {
        #expect(error.code == .connectionFailed)
        #expect(error.isRetryable)
    }
    #expect(throws: StoreError.self) {
        _ = try PostgresStore(url: "postgresql://x", schema: "bad; DROP TABLE bars", logger: StoreHarness.logger)
    }
}
