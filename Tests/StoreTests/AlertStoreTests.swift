// Vigil store tests: alerts and feedback on both stores (issue 3 §5, §7).
import Testing
import VigilStore

@Suite("AlertStore (both implementations)")
struct AlertStoreTests {
    static func alert(_ key: String, symbol: String = "AAPL", day: Int64 = 0, score: Double = 70) -> StoredAlert {
        StoredAlert(
            key: key, symbol: symbol, firstTimestamp: Fixtures.day0 + day * Fixtures.day, lastTimestamp: Fixtures.day0 + day * Fixtures.day,
            tier: 1, kind: "volume_surge", severity: "high", score: score, explanation: "volume 6.1σ above EWMA",
            traceID: "4bf92f3577b34da6a3ce929d0e0e4736", spanID: "00f067aa0ba902b7"
        )
    }

    @Test("Alerts upsert by episode key and keep their first trace", arguments: StoreKind.available)
    func upsertByKey(kind: StoreKind) async throws {
        let h = try await StoreHarness.make(kind)
        let ids = try await h.store.upsertAlerts([Self.alert("ep-1"), Self.alert("ep-2", symbol: "MSFT")])
        #expect(ids.count == 2 && ids[0] != ids[1])
        var grown = Self.alert("ep-1", day: 2, score: 91)
        grown.firstTimestamp = Fixtures.day0 + Fixtures.day
        grown.traceID = "ffffffffffffffffffffffffffffffff"
        #expect(try await h.store.upsertAlerts([grown]) == [ids[0]])
        let stored = try #require(try await h.store.alert(id: ids[0]))
        #expect(stored.firstTimestamp == Fixtures.day0)
        #expect(stored.lastTimestamp == Fixtures.day0 + 2 * Fixtures.day)
        #expect(stored.score == 91)
        #expect(stored.traceID == "4bf92f3577b34da6a3ce929d0e0e4736")
        #expect(try await h.store.alert(id: 999_999) == nil)
        #expect(try await h.store.stats().alerts == 2)

        var bad = Self.alert("ep-3")
        bad.score = .nan
        await #expect(throws: StoreError.self) { try await h.store.upsertAlerts([Self.alert("ep-4"), bad]) }
        #expect(try await h.store.stats().alerts == 2)
        await h.tearDown()
    }

    @Test("Alerts in a batch are stored with it, exactly once and all-or-nothing", arguments: StoreKind.available)
    func alertsInBatch(kind: StoreKind) async throws {
        let h = try await StoreHarness.make(kind)
        var batch = Fixtures.batch(sequence: 1, bars: [Fixtures.bar("AAPL", 0)])
        batch.alerts = [Self.alert("ep-1")]
        #expect(try await h.store.apply(batch) == .accepted(highWaterMark: 1))
        #expect(try await h.store.apply(batch) == .duplicate(highWaterMark: 1))
        var poisoned = Fixtures.batch(sequence: 2, bars: [Fixtures.bar("AAPL", 1, close: .nan)])
        poisoned.alerts = [Self.alert("ep-2")]
        await #expect(throws: StoreError.self) { try await h.store.apply(poisoned) }
        let page = try await h.store.alerts(AlertQuery())
        #expect(page.items.map(\.key) == ["ep-1"])
        await h.tearDown()
    }

    @Test("Alert filters and cursor pagination", arguments: StoreKind.available)
    func alertPagination(kind: StoreKind) async throws {
        let h = try await StoreHarness.make(kind)
        let alerts = (0..<23).map { Self.alert("ep-\($0)", symbol: $0 % 2 == 0 ? "AAPL" : "ALL", day: Int64($0 % 4)) }
        _ = try await h.store.upsertAlerts(alerts)
        var query = AlertQuery(limit: 5)
        var keys: [String] = []
        while true {
            let page = try await h.store.alerts(query)
            keys += page.items.map(\.key)
            guard let next = page.nextCursor else { break }
            query.after = next
        }
        #expect(keys.count == 23 && Set(keys).count == 23)
        #expect(try await h.store.alerts(AlertQuery(symbol: "ALL", limit: 100)).items.count == 11)
        #expect(try await h.store.alerts(AlertQuery(from: Fixtures.day0 + 3 * Fixtures.day, limit: 100)).items.count == 5)
        #expect(try await h.store.alerts(AlertQuery(kind: "gap", limit: 100)).items.isEmpty)
        await h.tearDown()
    }

    @Test("Feedback is kept per alert; feedback on a missing alert is notFound", arguments: StoreKind.available)
    func feedback(kind: StoreKind) async throws {
        let h = try await StoreHarness.make(kind)
        let ids = try await h.store.upsertAlerts([Self.alert("ep-1")])
        let id = try #require(ids.first)
        let first = try await h.store.addFeedback(AlertFeedback(alertID: id, label: .falsePositive, note: "earnings day", createdAt: 1))
        _ = try await h.store.addFeedback(AlertFeedback(alertID: id, label: .truePositive, createdAt: 2))
        #expect(first.id > 0)
        #expect(try await h.store.feedback(alertID: id).map(\.label) == [.falsePositive, .truePositive])
        #expect(try await h.store.feedback(alertID: id).first?.note == "earnings day")
        do {
            _ = try await h.store.addFeedback(AlertFeedback(alertID: id + 1_000, label: .truePositive, createdAt: 3))
            Issue.record("expected notFound")
        } catch let error as StoreError {
            #expect(error.code == .notFound)
        }
        await h.tearDown()
    }

    @Test("Labelled alerts: only alerts with feedback, each with its latest label, market-wide included", arguments: StoreKind.available)
    func labelledAlerts(kind: StoreKind) async throws {
        let h = try await StoreHarness.make(kind)
        let ids = try await h.store.upsertAlerts([
            Self.alert("ep-0"), Self.alert("ep-1", symbol: "MSFT"), Self.alert("ep-2", symbol: "ALL", day: 1),
            Self.alert("ep-3", day: 2), Self.alert("ep-4", symbol: "ALL", day: 3),
        ])
        #expect(try await h.store.labelledAlerts(after: nil, limit: 100).isEmpty)
        // ep-1 is relabelled: the newer row wins even though its timestamp is older (ids, not clocks, decide).
        _ = try await h.store.addFeedback(AlertFeedback(alertID: ids[1], label: .truePositive, createdAt: 2_000))
        _ = try await h.store.addFeedback(AlertFeedback(alertID: ids[2], label: .falsePositive, note: "index rebalance", createdAt: 1_500))
        _ = try await h.store.addFeedback(AlertFeedback(alertID: ids[1], label: .falsePositive, note: "split", createdAt: 1_000))
        _ = try await h.store.addFeedback(AlertFeedback(alertID: ids[3], label: .truePositive, createdAt: 3_000))

        let labelled = try await h.store.labelledAlerts(after: nil, limit: 100)
        #expect(labelled.map(\.alert.id) == [ids[1], ids[2], ids[3]])
        #expect(labelled.map(\.label) == [.falsePositive, .falsePositive, .truePositive])
        #expect(labelled.map(\.labelledAt) == [1_000, 1_500, 3_000])
        for item in labelled { #expect(try await h.store.alert(id: item.alert.id) == item.alert) }
        #expect(labelled.first { $0.alert.symbol == "ALL" }?.alert.key == "ep-2")

        // A later relabel replaces the label; re-scoring the alert updates the alert but keeps the label.
        _ = try await h.store.addFeedback(AlertFeedback(alertID: ids[3], label: .falsePositive, createdAt: 4_000))
        _ = try await h.store.upsertAlerts([Self.alert("ep-3", day: 2, score: 95)])
        let relabelled = try #require(try await h.store.labelledAlerts(after: ids[2], limit: 100).first)
        #expect(relabelled.alert.id == ids[3] && relabelled.alert.score == 95)
        #expect(relabelled.label == .falsePositive && relabelled.labelledAt == 4_000)
        await h.tearDown()
    }

    @Test("Labelled alerts paginate by alert id: every labelled alert exactly once", arguments: StoreKind.available)
    func labelledAlertPagination(kind: StoreKind) async throws {
        let h = try await StoreHarness.make(kind)
        let ids = try await h.store.upsertAlerts(
            (0..<23).map { Self.alert("ep-\($0)", symbol: $0 % 2 == 0 ? "AAPL" : "ALL", day: Int64(22 - $0)) }
        )
        // Every third alert has no feedback; every fifth has two (the second one's label wins).
        var expected: [Int64: AlertFeedback.Label] = [:]
        for (i, id) in ids.enumerated() where i % 3 != 0 {
            let label: AlertFeedback.Label = i % 2 == 0 ? .truePositive : .falsePositive
            _ = try await h.store.addFeedback(AlertFeedback(alertID: id, label: label, createdAt: Int64(i)))
            if i % 5 == 0 {
                let relabel: AlertFeedback.Label = label == .truePositive ? .falsePositive : .truePositive
                _ = try await h.store.addFeedback(AlertFeedback(alertID: id, label: relabel, createdAt: Int64(100 + i)))
                expected[id] = relabel
            } else {
                expected[id] = label
            }
        }
        #expect(expected.count == 15)

        for limit in [1, 4, 15, 16] {
            var seen: [LabelledAlert] = []
            var after: Int64? = nil
            var pages = 0
            while true {
                let page = try await h.store.labelledAlerts(after: after, limit: limit)
                #expect(page.count <= limit)
                seen += page
                pages += 1
                guard let last = page.last, pages <= 20 else { break }
                after = last.alert.id
            }
            #expect(seen.map(\.alert.id) == expected.keys.sorted(), "limit \(limit)")
            #expect(Dictionary(uniqueKeysWithValues: seen.map { ($0.alert.id, $0.label) }) == expected, "limit \(limit)")
        }
        // `after` need not be a labelled alert (ids[0] and ids[3] have no feedback), and past the end is empty.
        #expect(try await h.store.labelledAlerts(after: ids[0], limit: 1).map(\.alert.id) == [ids[1]])
        #expect(try await h.store.labelledAlerts(after: ids[2], limit: 2).map(\.alert.id) == [ids[4], ids[5]])
        #expect(try await h.store.labelledAlerts(after: ids[22], limit: 100).isEmpty)
        await h.tearDown()
    }

    @Test("Labelled alerts clamp the limit to 1...10_000", arguments: StoreKind.available)
    func labelledAlertLimit(kind: StoreKind) async throws {
        let h = try await StoreHarness.make(kind)
        // 10_001 alerts, each with feedback, in two statements (the same SQL on both stores).
        try await h.execute(
            """
            WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10001)
            INSERT INTO alerts (alert_key, symbol, first_ts_ms, last_ts_ms, tier, kind, severity, score, explanation, updated_at_ms)
            SELECT 'bulk-' || i, 'AAPL', \(Fixtures.day0), \(Fixtures.day0), 1, 'volume_surge', 'high', 70, 'bulk', 0 FROM n
            """
        )
        try await h.execute("INSERT INTO alert_feedback (alert_id, label, note, created_at_ms) SELECT id, 'true_positive', '', 1 FROM alerts")
        #expect(try await h.store.labelledAlerts(after: nil, limit: 0).count == 1)
        #expect(try await h.store.labelledAlerts(after: nil, limit: -5).count == 1)
        #expect(try await h.store.labelledAlerts(after: nil, limit: Int.max).count == 10_000)
        let all = try await h.store.labelledAlerts(after: nil, limit: 20_000)
        #expect(all.count == 10_000)
        let rest = try await h.store.labelledAlerts(after: all.last?.alert.id, limit: 20_000)
        #expect(rest.map(\.alert.key) == ["bulk-10001"])
        await h.tearDown()
    }
}

@Suite("AlertStore (blackhole)")
struct BlackholeAlertStoreTests {
    @Test("The blackhole store keeps no alerts, so none are labelled")
    func labelledAlerts() async throws {
        let store = BlackholeStore()
        let ids = try await store.upsertAlerts([AlertStoreTests.alert("ep-1")])
        await #expect(throws: StoreError.self) {
            try await store.addFeedback(AlertFeedback(alertID: ids[0], label: .truePositive, createdAt: 1))
        }
        #expect(try await store.labelledAlerts(after: nil, limit: 100).isEmpty)
    }
}
