// Vigil store tests: the one suite both stores must pass (issue 3 §6: "the same tests run on both").
import Testing
import VigilStore

@Suite("BatchStore (both implementations)")
struct BatchStoreTests {
    @Test("Migrations are idempotent", arguments: StoreKind.available)
    func migrationsIdempotent(kind: StoreKind) async throws {
        let h = try await StoreHarness.make(kind)
        try await h.store.migrate()
        try await h.store.migrate()
        #expect(try await h.store.stats() == StoreStats())
        #expect(try await h.store.apply(Fixtures.batch(sequence: 1, bars: [Fixtures.bar("AAPL", 0)])) == .accepted(highWaterMark: 1))
        try await h.store.migrate()
        #expect(try await h.store.stats().bars == 1)
        await h.tearDown()
    }

    @Test("Apply stores bronze and silver and counts them", arguments: StoreKind.available)
    func applyCounts(kind: StoreKind) async throws {
        let h = try await StoreHarness.make(kind)
        let bars = (0..<3).map { Fixtures.bar("AAPL", $0) } + [Fixtures.bar("MSFT", 0)]
        let detections = [Fixtures.detection("AAPL", 1), Fixtures.detection("MSFT", 0, detector: "iforest", tier: 2)]
        let outcome = try await h.store.apply(Fixtures.batch(sequence: 1, bars: bars, detections: detections))
        #expect(outcome == .accepted(highWaterMark: 1))
        #expect(try await h.store.stats() == StoreStats(bars: 4, detections: 2, batchesAccepted: 1, duplicates: 0, agents: 1))

        let stored = try await h.store.bars(symbol: "AAPL", from: 0, to: .max, limit: 100)
        #expect(stored == Array(bars.prefix(3)))
        let page = try await h.store.detections(DetectionQuery(tier: 2))
        #expect(page.items.count == 1)
        #expect(page.items.first?.detector == "iforest")
        #expect(page.items.first?.anomalyScore == 0.8)
        #expect(page.items.first?.traceID == "4bf92f3577b34da6a3ce929d0e0e4736")
        #expect(page.nextCursor == nil)

        let barsWritten = try h.metrics.expectCounter("vigil_collector_store_bars_written_total", [("store", kind.rawValue)])
        #expect(barsWritten.totalValue == 4)
        let timer = try h.metrics.expectTimer(
            "vigil_collector_store_apply_duration_seconds",
            [("store", kind.rawValue), ("outcome", "accepted")]
        )
        #expect(timer.values.count == 1)
        await h.tearDown()
    }

    @Test("Latest bars: the newest of one series before a time, oldest first, other intervals and symbols left out", arguments: StoreKind.available)
    func latestBars(kind: StoreKind) async throws {
        let h = try await StoreHarness.make(kind)
        let daily = (0..<10).map { Fixtures.bar("AAPL", $0) }
        var hourly = Fixtures.bar("AAPL", 3)
        hourly.intervalSeconds = 3_600
        hourly.timestamp += 3_600_000
        #expect(try await h.store.apply(Fixtures.batch(sequence: 1, bars: daily + [hourly, Fixtures.bar("MSFT", 5)])) == .accepted(highWaterMark: 1))
        let before = daily[8].timestamp
        #expect(try await h.store.latestBars(symbol: "AAPL", intervalSeconds: 86_400, before: before, limit: 3) == Array(daily[5..<8]))
        #expect(try await h.store.latestBars(symbol: "AAPL", intervalSeconds: 86_400, before: before, limit: 100) == Array(daily[0..<8]))
        #expect(try await h.store.latestBars(symbol: "AAPL", intervalSeconds: 3_600, before: .max, limit: 100) == [hourly])
        #expect(try await h.store.latestBars(symbol: "AAPL", intervalSeconds: 86_400, before: daily[0].timestamp, limit: 100).isEmpty)
        #expect(try await h.store.latestBars(symbol: "NONE", intervalSeconds: 86_400, before: .max, limit: 100).isEmpty)
        await h.tearDown()
    }

    @Test("A duplicate has no effect and is counted", arguments: StoreKind.available)
    func duplicates(kind: StoreKind) async throws {
        let h = try await StoreHarness.make(kind)
        let batch = Fixtures.batch(sequence: 1, bars: [Fixtures.bar("AAPL", 0)], detections: [Fixtures.detection("AAPL", 0)])
        #expect(try await h.store.apply(batch) == .accepted(highWaterMark: 1))
        #expect(try await h.store.apply(batch) == .duplicate(highWaterMark: 1))
        #expect(try await h.store.apply(Fixtures.batch(sequence: 0, bars: [Fixtures.bar("AAPL", 9)])) == .duplicate(highWaterMark: 1))
        #expect(try await h.store.apply(Fixtures.batch(sequence: 5, bars: [Fixtures.bar("AAPL", 1)])) == .accepted(highWaterMark: 5))
        #expect(try await h.store.apply(Fixtures.batch(sequence: 3, bars: [Fixtures.bar("AAPL", 2)])) == .duplicate(highWaterMark: 5))
        // Another agent has its own high-water mark.
        #expect(try await h.store.apply(Fixtures.batch(agent: "agent-2", sequence: 1, bars: [])) == .accepted(highWaterMark: 1))
        #expect(try await h.store.stats() == StoreStats(bars: 2, detections: 1, batchesAccepted: 3, duplicates: 3, agents: 2))
        #expect(try await h.store.bars(symbol: "AAPL", from: 0, to: .max, limit: 100).count == 2)
        let dupes = try h.metrics.expectCounter("vigil_collector_store_batches_total", [("store", kind.rawValue), ("outcome", "duplicate")])
        #expect(dupes.totalValue == 3)
        await h.tearDown()
    }

    @Test("Concurrent applies of the same (agent, sequence) take effect exactly once", arguments: StoreKind.available)
    func exactlyOnceUnderConcurrency(kind: StoreKind) async throws {
        let h = try await StoreHarness.make(kind)
        // Two store instances on the same database, as two collectors would be. SQLite: two writers serialised by
        // BEGIN IMMEDIATE. PostgreSQL: each pool gives every concurrent caller its own connection (row lock FOR UPDATE).
        let stores: [any BatchStore] = [h.store, try h.sibling()]
        let bars = (0..<50).map { Fixtures.bar("AAPL", $0) }
        for sequence in Int64(1)...5 {
            let batch = Fixtures.batch(sequence: sequence, bars: bars, detections: [Fixtures.detection("AAPL", Int(sequence))])
            let outcomes = try await withThrowingTaskGroup(of: ApplyOutcome.self) { group in
                for i in 0..<8 {
                    let store = stores[i % stores.count]
                    group.addTask { try await store.apply(batch) }
                }
                var all: [ApplyOutcome] = []
                for try await outcome in group { all.append(outcome) }
                return all
            }
            #expect(outcomes.filter { $0 == .accepted(highWaterMark: sequence) }.count == 1)
            #expect(outcomes.filter { $0 == .duplicate(highWaterMark: sequence) }.count == 7)
        }
        #expect(try await h.store.stats() == StoreStats(bars: 250, detections: 5, batchesAccepted: 5, duplicates: 35, agents: 1))
        #expect(try await h.store.bars(symbol: "AAPL", from: 0, to: .max, limit: 1_000).count == 250)
        for store in stores.dropFirst() { await store.close() }
        await h.tearDown()
    }

    @Test("A failure mid-batch leaves nothing behind and does not advance the high-water mark", arguments: StoreKind.available)
    func allOrNothing(kind: StoreKind) async throws {
        let h = try await StoreHarness.make(kind)
        #expect(try await h.store.apply(Fixtures.batch(sequence: 1, bars: [Fixtures.bar("AAPL", 0)])) == .accepted(highWaterMark: 1))
        let before = try await h.store.stats()

        let good = (1..<20).map { Fixtures.bar("AAPL", $0) }
        var nan = Fixtures.bar("AAPL", 20)
        nan.close = .nan
        var inverted = Fixtures.bar("AAPL", 21)
        inverted.high = 1
        var badJSON = Fixtures.detection("AAPL", 3)
        badJSON.featuresJSON = "{not json"
        let poisoned: [StoredBatch] = [
            Fixtures.batch(sequence: 2, bars: good + [nan], detections: [Fixtures.detection("AAPL", 1)]),
            Fixtures.batch(sequence: 2, bars: good + [inverted]),
            Fixtures.batch(sequence: 2, bars: good, detections: [Fixtures.detection("AAPL", 2), badJSON]),
            Fixtures.batch(sequence: 2, bars: good + [Fixtures.bar("AAPL", 22, close: .infinity)]),
        ]
        for batch in poisoned {
            await #expect(throws: StoreError.self) { try await h.store.apply(batch) }
            #expect(try await h.store.stats() == before)
            #expect(try await h.store.bars(symbol: "AAPL", from: 0, to: .max, limit: 100).count == 1)
            #expect(try await h.store.detections(DetectionQuery()).items.isEmpty)
        }
        do {
            _ = try await h.store.apply(poisoned[0])
            Issue.record("expected a constraint violation")
        } catch let error as StoreError {
            #expect(error.code == .constraintViolation)
            #expect(!error.isRetryable)
        }
        // Invalid batches are refused before touching the database.
        await #expect(throws: StoreError.self) { try await h.store.apply(Fixtures.batch(agent: "", sequence: 2, bars: [])) }
        await #expect(throws: StoreError.self) { try await h.store.apply(Fixtures.batch(sequence: -1, bars: [])) }
        await #expect(throws: StoreError.self) {
            try await h.store.apply(
                Fixtures.batch(
                    sequence: 2,
                    bars: [Fixtures.bar("AAPL", 0)].map { bar in
                        var far = bar
                        far.timestamp = .max
                        return far
                    }))
        }

        // The same sequence, fixed, is still accepted: the failed attempts did not move the high-water mark.
        #expect(try await h.store.apply(Fixtures.batch(sequence: 2, bars: good)) == .accepted(highWaterMark: 2))
        #expect(try await h.store.stats().bars == 20)
        let errors = try h.metrics.expectCounter("vigil_collector_store_batches_total", [("store", kind.rawValue), ("outcome", "error")])
        #expect(errors.totalValue == 8)
        await h.tearDown()
    }

    @Test("Awkward text round-trips exactly and NUL is refused", arguments: StoreKind.available)
    func awkwardText(kind: StoreKind) async throws {
        let h = try await StoreHarness.make(kind)
        var bar = Fixtures.bar("BRK.B", 0, agent: "agent\twith\ttabs")
        bar.feed = "csv\\replay\nline 'quoted' \"é\" 📈"
        var detection = Fixtures.detection("BRK.B", 0)
        detection.featuresJSON = #"{"note":"tab\tand \\ backslash","π":3.14}"#
        let batch = Fixtures.batch(agent: "agent\twith\ttabs", sequence: 1, bars: [bar], detections: [detection])
        #expect(try await h.store.apply(batch) == .accepted(highWaterMark: 1))
        #expect(try await h.store.bars(symbol: "BRK.B", from: 0, to: .max, limit: 10) == [bar])
        let stored = try await h.store.detections(DetectionQuery(symbol: "BRK.B")).items
        #expect(stored.count == 1)
        #expect(stored.first?.featuresJSON.contains("π") == true)

        var nul = Fixtures.bar("AA\u{0}PL", 1)
        nul.agentID = "agent-1"
        await #expect(throws: StoreError.self) { try await h.store.apply(Fixtures.batch(sequence: 2, bars: [nul])) }
        #expect(try await h.store.stats().bars == 1)
        await h.tearDown()
    }

    @Test("Cursor pagination covers every detection exactly once", arguments: StoreKind.available)
    func cursorPagination(kind: StoreKind) async throws {
        let h = try await StoreHarness.make(kind)
        let symbols = ["AAPL", "MSFT", "NVDA"]
        var sequence: Int64 = 0
        var expectedAAPL = 0
        for round in 0..<4 {
            // Many detections share a timestamp (same bar, several detectors/symbols), which the (ts, id) key must split.
            var detections: [StoredDetection] = []
            for index in 0..<15 {
                for symbol in symbols {
                    detections.append(Fixtures.detection(symbol, index % 5, detector: round % 2 == 0 ? "zscore" : "cusum"))
                    if symbol == "AAPL" { expectedAAPL += 1 }
                }
            }
            sequence += 1
            _ = try await h.store.apply(Fixtures.batch(sequence: sequence, bars: [], detections: detections))
        }
        let total = 4 * 15 * symbols.count

        func collect(_ base: DetectionQuery) async throws -> [StoredDetection] {
            var query = base
            var all: [StoredDetection] = []
            var pages = 0
            while true {
                let page = try await h.store.detections(query)
                all += page.items
                pages += 1
                guard let next = page.nextCursor, pages < 1_000 else { break }
                query.after = DetectionCursor(next.description)
            }
            return all
        }
        let all = try await collect(DetectionQuery(limit: 7))
        #expect(all.count == total)
        #expect(Set(all.map(\.id)).count == total)
        #expect(all.map { [$0.timestamp, $0.id] } == all.map { [$0.timestamp, $0.id] }.sorted { $0.lexicographicallyPrecedes($1) })

        let aapl = try await collect(DetectionQuery(symbol: "AAPL", limit: 11))
        #expect(aapl.count == expectedAAPL)
        #expect(aapl.allSatisfy { $0.symbol == "AAPL" })
        let cusumWindow = try await collect(
            DetectionQuery(detector: "cusum", tier: 1, from: Fixtures.day0 + Fixtures.day, to: Fixtures.day0 + 3 * Fixtures.day, limit: 4)
        )
        #expect(cusumWindow.count == 2 * 6 * symbols.count)
        #expect(DetectionCursor("garbage") == nil)
        await h.tearDown()
    }

    @Test("Retention removes old bars and detections", arguments: StoreKind.available)
    func retention(kind: StoreKind) async throws {
        let h = try await StoreHarness.make(kind)
        let january: Int64 = 1_704_067_200_000  // 2024-01-01
        let march: Int64 = 1_709_251_200_000  // 2024-03-01
        var old = Fixtures.bar("AAPL", 0)
        old.timestamp = january + Fixtures.day
        var recent = Fixtures.bar("AAPL", 0)
        recent.timestamp = march + Fixtures.day
        var oldDetection = Fixtures.detection("AAPL", 0)
        oldDetection.timestamp = old.timestamp
        _ = try await h.store.apply(Fixtures.batch(sequence: 1, bars: [old, recent], detections: [oldDetection]))
        let dropped = try await h.store.applyRetention(olderThan: march)
        #expect(!dropped.isEmpty)
        #expect(try await h.store.bars(symbol: "AAPL", from: 0, to: .max, limit: 10) == [recent])
        #expect(try await h.store.detections(DetectionQuery()).items.isEmpty)
        await h.tearDown()
    }

    // MARK: Rejections, high-water marks, schema upgrades

    @Test("Rejected batches are recorded, normalised and counted", arguments: StoreKind.available)
    func rejections(kind: StoreKind) async throws {
        let h = try await StoreHarness.make(kind)
        let undecodable = RejectedBatch(agentID: "", receivedAt: Fixtures.day0, code: "decode_error", message: "not a protobuf", bodyBytes: 17)
        try await h.store.recordRejection(undecodable)
        // 10 + 1 bytes, then 2-byte "é"s: the 1024-byte cut falls inside one, which must go whole (1023 bytes kept).
        let long = "x" + String(repeating: "é", count: 600)
        try await h.store.recordRejection(
            RejectedBatch(
                agentID: "agent\u{0}-1", receivedAt: Fixtures.day0 + 1, code: "invalid_batch", message: "bad\u{0}value: " + long, bodyBytes: 4_096)
        )
        // A thumbs-up with a skin-tone modifier is one character of two scalars: a scalar-boundary cut at 1024 bytes
        // would keep the bare thumb, a character-boundary cut keeps neither.
        try await h.store.recordRejection(
            RejectedBatch(
                agentID: "agent-2", receivedAt: Fixtures.day0 + 2, code: "constraint_violation",
                message: String(repeating: "a", count: 1_020) + "👍🏽", bodyBytes: -5)
        )
        #expect(try await h.store.stats() == StoreStats(rejected: 3))
        // A rejection is not an accepted batch: no agent row, no high-water mark.
        #expect(try await h.store.highWaterMarks().isEmpty)

        let stored = try await h.rejections()
        try #require(stored.count == 3)
        #expect(stored[2] == undecodable)
        #expect(stored[1].agentID == "agent-1")
        #expect(stored[1].message.utf8.count == 1_023)
        #expect(!stored[1].message.utf8.contains(0))
        #expect(("badvalue: " + long).hasPrefix(stored[1].message))
        #expect(stored[1].message.last == "é")
        #expect(stored[1].bodyBytes == 4_096)
        #expect(stored[0].message == String(repeating: "a", count: 1_020))
        #expect(stored[0].bodyBytes == 0)
        #expect(stored[0].code == "constraint_violation")

        // Counted next to the batches, and on a second store instance too (it is in the database, not in memory).
        #expect(try await h.store.apply(Fixtures.batch(sequence: 1, bars: [Fixtures.bar("AAPL", 0)])) == .accepted(highWaterMark: 1))
        let sibling = try h.sibling()
        #expect(try await sibling.stats() == StoreStats(bars: 1, batchesAccepted: 1, agents: 1, rejected: 3))
        await sibling.close()
        await h.tearDown()
    }

    @Test("High-water marks list every agent after accepted, duplicate and failed batches", arguments: StoreKind.available)
    func highWaterMarks(kind: StoreKind) async throws {
        let h = try await StoreHarness.make(kind)
        #expect(try await h.store.highWaterMarks().isEmpty)
        #expect(try await h.store.apply(Fixtures.batch(sequence: 1, bars: [Fixtures.bar("AAPL", 0)])) == .accepted(highWaterMark: 1))
        #expect(try await h.store.highWaterMarks() == ["agent-1": 1])
        #expect(try await h.store.apply(Fixtures.batch(sequence: 5, bars: [Fixtures.bar("AAPL", 1)])) == .accepted(highWaterMark: 5))
        #expect(try await h.store.apply(Fixtures.batch(sequence: 3, bars: [Fixtures.bar("AAPL", 2)])) == .duplicate(highWaterMark: 5))
        #expect(try await h.store.apply(Fixtures.batch(sequence: 5, bars: [Fixtures.bar("AAPL", 3)])) == .duplicate(highWaterMark: 5))
        // Sequence 0 is a valid first batch.
        #expect(try await h.store.apply(Fixtures.batch(agent: "agent-2", sequence: 0, bars: [])) == .accepted(highWaterMark: 0))
        // Failed batches move nothing, and an agent whose only batch failed has no mark.
        let poisoned = [Fixtures.bar("AAPL", 4, close: .nan)]
        await #expect(throws: StoreError.self) { try await h.store.apply(Fixtures.batch(sequence: 9, bars: poisoned)) }
        await #expect(throws: StoreError.self) { try await h.store.apply(Fixtures.batch(agent: "agent-3", sequence: 1, bars: poisoned)) }
        #expect(try await h.store.highWaterMarks() == ["agent-1": 5, "agent-2": 0])
        // What a restarted collector would load.
        let sibling = try h.sibling()
        #expect(try await sibling.highWaterMarks() == ["agent-1": 5, "agent-2": 0])
        await sibling.close()
        await h.tearDown()
    }

    @Test(
        "The rejected_batches migration upgrades a database an older release created, and migrate() stays idempotent",
        arguments: StoreKind.available, [Int64(1), 2]
    )
    func upgradeFromOlderSchema(kind: StoreKind, base: Int64) async throws {
        let h = try await StoreHarness.make(kind, migrate: false)
        try await h.migrate(through: base)
        #expect(try await h.appliedMigrations() == Array(1...base))
        // Data the older release wrote must survive the upgrade.
        #expect(try await h.store.apply(Fixtures.batch(sequence: 4, bars: [Fixtures.bar("AAPL", 0)])) == .accepted(highWaterMark: 4))
        try await h.store.migrate()
        try await h.store.migrate()
        #expect(try await h.appliedMigrations() == [1, 2, 3, 4])
        try await h.store.recordRejection(RejectedBatch(agentID: "agent-1", receivedAt: 1, code: "invalid_batch", message: "m", bodyBytes: 1))
        #expect(try await h.store.stats() == StoreStats(bars: 1, batchesAccepted: 1, agents: 1, rejected: 1))
        #expect(try await h.store.highWaterMarks() == ["agent-1": 4])
        #expect(try await h.store.apply(Fixtures.batch(sequence: 4, bars: [Fixtures.bar("AAPL", 0)])) == .duplicate(highWaterMark: 4))
        await h.tearDown()
    }
}

/// Makes the PostgreSQL skip visible in the test output instead of silently running only SQLite.
@Test(
    "PostgreSQL store tests need VIGIL_TEST_POSTGRES_URL (run scripts/postgres.sh start)",
    .disabled(if: StoreKind.postgresURL == nil, "PostgreSQL tests skipped: VIGIL_TEST_POSTGRES_URL is unset")
)
func postgresConfigured() {
    #expect(StoreKind.available.contains(.postgres))
}
