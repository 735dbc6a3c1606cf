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
}
