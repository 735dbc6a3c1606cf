import Foundation
import Testing
import VigilHTTP
import VigilWire

@testable import VigilCollector

// Serialized: each test drives a collector with many requests, and the libcurl client blocks a Dispatch thread per
// request (Linux shares those with Swift's executor), so many such tests at once starve timing-sensitive suites.
/// The query API over real loopback HTTP, after real batches with spikes went in: filters return exactly the matching
/// rows, keyset pagination walks every row once, alerts carry an explanation, a score and a trace, feedback is stored,
/// every refusal is JSON with a code and a message, and `/v1/stats` agrees with what was posted. On SQLite, and on
/// PostgreSQL when `VIGIL_TEST_POSTGRES_URL` is set.
@Suite(.serialized) struct APITests {
    static var stores: [Bool] { ProcessInfo.processInfo.environment["VIGIL_TEST_POSTGRES_URL"] == nil ? [false] : [false, true] }

    @Test(arguments: stores)
    func eventFiltersReturnExactlyTheMatchingDetections(postgres: Bool) async throws {
        let (collector, posted) = try await Seeded.start(postgres: postgres)
        defer { Task { await collector.stop() } }
        let detections = posted.detections
        try #require(detections.count >= 2, "the spikes raised \(detections.count) Tier-1 detections")

        let all = try await items(collector, "/v1/events?limit=10000")
        #expect(keys(all) == expectedKeys(detections), "every posted detection is listed once")
        #expect(all.allSatisfy { $0["tier"] as? Int == 1 })
        #expect(all.allSatisfy { ($0["trace_id"] as? String) == Seeded.traceHex && ($0["span_id"] as? String) == Seeded.spanHex })
        #expect(all.allSatisfy { ($0["time"] as? String).flatMap(ISOTime.parse) == ($0["timestamp_ms"] as? NSNumber)?.int64Value })

        // symbol
        for symbol in ["AAA", "CCC", "NOPE"] {
            let got = try await items(collector, "/v1/events?symbol=\(symbol)&limit=10000")
            #expect(got.allSatisfy { $0["symbol"] as? String == symbol }, "symbol=\(symbol)")
            #expect(keys(got) == expectedKeys(detections.filter { $0.symbol == symbol }), "symbol=\(symbol)")
        }
        // detector
        let detectors = Set(detections.map(\.detector)).sorted()
        for detector in detectors + ["no_such_detector"] {
            let got = try await items(collector, "/v1/events?detector=\(detector)&limit=10000")
            #expect(got.allSatisfy { $0["detector"] as? String == detector }, "detector=\(detector)")
            #expect(keys(got) == expectedKeys(detections.filter { $0.detector == detector }), "detector=\(detector)")
        }
        // tier: every posted detection is Tier-1 (agents' detections), none is Tier-2
        #expect(keys(try await items(collector, "/v1/events?tier=1&limit=10000")) == expectedKeys(detections))
        #expect(try await items(collector, "/v1/events?tier=2&limit=10000").isEmpty)
        // symbol and detector together
        if let first = detections.first {
            let got = try await items(collector, "/v1/events?symbol=\(first.symbol)&detector=\(first.detector)&tier=1&limit=10000")
            #expect(keys(got) == expectedKeys(detections.filter { $0.symbol == first.symbol && $0.detector == first.detector }))
        }
        // from (inclusive) / to (exclusive) as ISO dates, ISO date-times and milliseconds: the same rows
        let from = Seeded.day(40)
        let to = Seeded.day(46)
        let inRange = expectedKeys(detections.filter { $0.timestampMs >= from && $0.timestampMs < to })
        try #require(!inRange.isEmpty, "the spikes on days 40 and 45 are in the range")
        for query in [
            "from=2024-02-11&to=2024-02-17", "from=2024-02-11T00:00:00Z&to=2024-02-17T00:00:00Z", "from=\(from)&to=\(to)",
        ] {
            let got = try await items(collector, "/v1/events?\(query)&limit=10000")
            #expect(keys(got) == inRange, "\(query)")
            #expect(got.allSatisfy { (($0["timestamp_ms"] as? NSNumber)?.int64Value).map { $0 >= from && $0 < to } == true }, "\(query)")
        }
        let onlyFrom = try await items(collector, "/v1/events?from=\(Seeded.day(45))&limit=10000")
        #expect(keys(onlyFrom) == expectedKeys(detections.filter { $0.timestampMs >= Seeded.day(45) }))
        let onlyTo = try await items(collector, "/v1/events?to=\(Seeded.day(45))&limit=10000")
        #expect(keys(onlyTo) == expectedKeys(detections.filter { $0.timestampMs < Seeded.day(45) }))
        #expect(try await items(collector, "/v1/events?from=2030-01-01").isEmpty)
    }

    @Test(arguments: stores)
    func cursorPaginationWalksEveryEventOnceInTimeAndIDOrder(postgres: Bool) async throws {
        let (collector, posted) = try await Seeded.start(postgres: postgres)
        defer { Task { await collector.stop() } }
        try #require(posted.detections.count >= 3, "need more than one page of detections")

        var walked: [[String: Any]] = []
        var cursor: String?
        var pages = 0
        repeat {
            let path = "/v1/events?limit=2" + (cursor.map { "&cursor=\($0)" } ?? "")
            let page = try await collector.json(path)
            let items = page["items"] as? [[String: Any]] ?? []
            #expect(items.count <= 2, "page \(pages) has \(items.count) items")
            walked += items
            cursor = page["next_cursor"] as? String
            if cursor != nil { #expect(items.count == 2, "a page with a next_cursor is full") }
            pages += 1
        } while cursor != nil && pages <= posted.detections.count + 1
        #expect(cursor == nil, "the walk ended with a page without next_cursor")

        let ids = walked.compactMap { ($0["id"] as? NSNumber)?.int64Value }
        #expect(ids.count == walked.count)
        #expect(Set(ids).count == ids.count, "no event was returned twice")
        #expect(keys(walked) == expectedKeys(posted.detections), "every event was returned")
        let order = walked.compactMap { item -> (Int64, Int64)? in
            guard let ts = (item["timestamp_ms"] as? NSNumber)?.int64Value, let id = (item["id"] as? NSNumber)?.int64Value else { return nil }
            return (ts, id)
        }
        #expect(zip(order, order.dropFirst()).allSatisfy { $0 < $1 }, "strictly ascending by (time, id)")
        // The one-page listing is the same sequence.
        let onePage = try await collector.json("/v1/events?limit=10000")
        #expect(onePage["next_cursor"] == nil || onePage["next_cursor"] is NSNull)
        #expect((onePage["items"] as? [[String: Any]] ?? []).compactMap { ($0["id"] as? NSNumber)?.int64Value } == ids)

        // A filtered walk pages within the filter.
        let symbol = "AAA"
        var filtered: [Int64] = []
        cursor = nil
        pages = 0
        repeat {
            let page = try await collector.json("/v1/events?symbol=\(symbol)&limit=1" + (cursor.map { "&cursor=\($0)" } ?? ""))
            let items = page["items"] as? [[String: Any]] ?? []
            #expect(items.allSatisfy { $0["symbol"] as? String == symbol })
            filtered += items.compactMap { ($0["id"] as? NSNumber)?.int64Value }
            cursor = page["next_cursor"] as? String
            pages += 1
        } while cursor != nil && pages <= posted.detections.count + 1
        #expect(filtered.count == posted.detections.filter { $0.symbol == symbol }.count)
        #expect(Set(filtered).count == filtered.count)

        // Alerts paginate the same way.
        let allAlerts = try await items(collector, "/v1/alerts?limit=10000")
        var alertIDs: [Int64] = []
        cursor = nil
        pages = 0
        repeat {
            let page = try await collector.json("/v1/alerts?limit=1" + (cursor.map { "&cursor=\($0)" } ?? ""))
            alertIDs += (page["items"] as? [[String: Any]] ?? []).compactMap { ($0["id"] as? NSNumber)?.int64Value }
            cursor = page["next_cursor"] as? String
            pages += 1
        } while cursor != nil && pages <= allAlerts.count + 1
        #expect(alertIDs == allAlerts.compactMap { ($0["id"] as? NSNumber)?.int64Value })
        #expect(Set(alertIDs).count == alertIDs.count)
    }

    @Test(arguments: stores)
    func alertsCarryAnExplanationAScoreAndTheirTraceAndTakeFeedback(postgres: Bool) async throws {
        let (collector, _) = try await Seeded.start(postgres: postgres)
        defer { Task { await collector.stop() } }
        let alerts = try await items(collector, "/v1/alerts?limit=10000")
        try #require(!alerts.isEmpty, "the spikes raised no alert")
        for alert in alerts {
            let id = (alert["id"] as? NSNumber)?.int64Value
            #expect(id != nil)
            #expect(!((alert["explanation"] as? String) ?? "").isEmpty, "alert \(alert)")
            let score = (alert["score"] as? NSNumber)?.doubleValue ?? -1
            #expect((0...100).contains(score), "score \(score)")
            #expect(alert["trace_id"] as? String == Seeded.traceHex, "alert \(alert)")
            #expect(["AAA", "BBB", "CCC", "ALL"].contains(alert["symbol"] as? String ?? ""))
            #expect(["info", "warning", "critical"].contains(alert["severity"] as? String ?? ""))
            #expect(alert["tier"] as? Int == 1)
            let first = (alert["first_timestamp_ms"] as? NSNumber)?.int64Value ?? 0
            let last = (alert["last_timestamp_ms"] as? NSNumber)?.int64Value ?? -1
            #expect(first <= last)
            #expect(alert["feedback"] == nil, "the listing does not embed feedback")
        }
        let aaa = try await items(collector, "/v1/alerts?symbol=AAA&limit=10000")
        #expect(aaa.allSatisfy { $0["symbol"] as? String == "AAA" })
        #expect(aaa.count == alerts.filter { $0["symbol"] as? String == "AAA" }.count)
        #expect(try await items(collector, "/v1/alerts?tier=2").isEmpty)
        for kind in Set(alerts.compactMap { $0["kind"] as? String }) {
            let got = try await items(collector, "/v1/alerts?kind=\(kind)&limit=10000")
            #expect(got.count == alerts.filter { $0["kind"] as? String == kind }.count, "kind=\(kind)")
            #expect(got.allSatisfy { $0["kind"] as? String == kind })
        }
        for severity in ["info", "warning", "critical"] {
            let got = try await items(collector, "/v1/alerts?severity=\(severity)&limit=10000")
            #expect(got.count == alerts.filter { $0["severity"] as? String == severity }.count, "severity=\(severity)")
        }
        let spikeDay = try await items(collector, "/v1/alerts?from=\(Seeded.day(40))&to=\(Seeded.day(41))&limit=10000")
        #expect(spikeDay.count == alerts.filter { ($0["first_timestamp_ms"] as? NSNumber)?.int64Value == Seeded.day(40) }.count)

        // One alert, with (so far empty) feedback.
        let id = try #require((alerts[0]["id"] as? NSNumber)?.int64Value)
        let one = try await collector.json("/v1/alerts/\(id)")
        #expect((one["id"] as? NSNumber)?.int64Value == id)
        #expect(one["explanation"] as? String == alerts[0]["explanation"] as? String)
        #expect((one["feedback"] as? [Any])?.isEmpty == true, "feedback: \(String(describing: one["feedback"]))")

        // Feedback: 201, then visible; never overwritten (a second label is kept alongside).
        let json = [("Content-Type", "application/json")]
        let created = try await collector.send(
            "/v1/alerts/\(id)/feedback", body: Array(#"{"label":"true_positive","note":"confirmed by desk"}"#.utf8), headers: json)
        #expect(created.status == 201, "\(created.bodyText)")
        let stored = object(created)
        #expect((stored["alert_id"] as? NSNumber)?.int64Value == id)
        #expect(stored["label"] as? String == "true_positive")
        #expect(stored["note"] as? String == "confirmed by desk")
        #expect((stored["created_at"] as? String).flatMap(ISOTime.parse) != nil)
        let second = try await collector.send("/v1/alerts/\(id)/feedback", body: Array(#"{"label":"false_positive"}"#.utf8), headers: json)
        #expect(second.status == 201, "\(second.bodyText)")
        let after = try await collector.json("/v1/alerts/\(id)")
        let feedback = after["feedback"] as? [[String: Any]] ?? []
        #expect(feedback.count == 2)
        #expect(Set(feedback.compactMap { $0["label"] as? String }) == ["true_positive", "false_positive"])
        #expect(feedback.allSatisfy { ($0["alert_id"] as? NSNumber)?.int64Value == id })
        #expect(feedback.contains { $0["note"] as? String == "confirmed by desk" })
        // Measured: feedback by label, and an acknowledgement time (the first feedback of an alert this collector raised).
        // Presence only: other suites in the process share the metrics registry, so the counts are not this test's.
        let metrics = try await collector.get("/metrics").bodyText
        let counted = metrics.split(separator: "\n").filter { $0.hasPrefix("vigil_collector_alert_feedback_total{") }
        for label in ["true_positive", "false_positive"] {
            #expect(
                counted.contains { $0.contains("label=\"\(label)\"") && $0.contains("tier=\"") }, "\(label) feedback not counted by tier: \(counted)")
        }
        #expect(metrics.contains("vigil_collector_alert_acknowledge_seconds_count"), "no acknowledgement time recorded")

        // Refusals, each JSON with a code and a message.
        let unknown: Int64 = 987_654_321
        let cases: [(String, String, [UInt8], [(String, String)], Int, String)] = [
            ("bad label", "/v1/alerts/\(id)/feedback", Array(#"{"label":"maybe"}"#.utf8), json, 400, "bad_request"),
            ("no label", "/v1/alerts/\(id)/feedback", Array(#"{"note":"x"}"#.utf8), json, 400, "malformed"),
            ("unknown alert", "/v1/alerts/\(unknown)/feedback", Array(#"{"label":"true_positive"}"#.utf8), json, 404, "not_found"),
            ("non-integer id", "/v1/alerts/abc/feedback", Array(#"{"label":"true_positive"}"#.utf8), json, 400, "bad_request"),
            (
                "wrong content type", "/v1/alerts/\(id)/feedback", Array(#"{"label":"true_positive"}"#.utf8), [("Content-Type", "text/plain")], 415,
                "unsupported_media_type"
            ),
            ("no content type", "/v1/alerts/\(id)/feedback", Array(#"{"label":"true_positive"}"#.utf8), [], 415, "unsupported_media_type"),
            ("malformed JSON", "/v1/alerts/\(id)/feedback", Array(#"{"label":"#.utf8), json, 400, "malformed"),
            (
                "huge note", "/v1/alerts/\(id)/feedback", Array(#"{"label":"true_positive","note":"\#(String(repeating: "n", count: 5000))"}"#.utf8),
                json, 400, "bad_request"
            ),
        ]
        for (name, path, body, headers, status, code) in cases {
            let response = try await collector.send(path, body: body, headers: headers)
            expectError(response, status: status, code: code, name)
        }
        expectError(try await collector.get("/v1/alerts/\(unknown)"), status: 404, code: "not_found", "GET unknown alert")
        expectError(try await collector.get("/v1/alerts/abc"), status: 400, code: "bad_request", "GET non-integer id")
        expectError(try await collector.get("/v1/alerts/1.5"), status: 400, code: "bad_request", "GET fractional id")
        // Nothing of a refused request took effect.
        #expect((try await collector.json("/v1/alerts/\(id)")["feedback"] as? [Any])?.count == 2)

        // The media type is compared exactly, as at the receiver: a look-alike is refused.
        let lookalike = try await collector.send(
            "/v1/alerts/\(id)/feedback", body: Array(#"{"label":"true_positive"}"#.utf8), headers: [("Content-Type", "application/jsonx")])
        expectError(lookalike, status: 415, code: "unsupported_media_type", "application/jsonx")
    }

    @Test(arguments: stores)
    func barsParametersRoutesAndHealthAnswerAsDocumented(postgres: Bool) async throws {
        let (collector, posted) = try await Seeded.start(postgres: postgres)
        defer { Task { await collector.stop() } }

        // Bars: oldest first, all of them, with the posting agent.
        let bars = try await collector.json("/v1/bars?symbol=AAA")
        #expect(bars["symbol"] as? String == "AAA")
        let list = bars["bars"] as? [[String: Any]] ?? []
        let times = list.compactMap { ($0["timestamp_ms"] as? NSNumber)?.int64Value }
        #expect(times.count == posted.bars(of: "AAA"))
        #expect(times == times.sorted() && Set(times).count == times.count, "oldest first, each bar once")
        #expect(times.first == Seeded.day(0))
        #expect(
            list.allSatisfy { $0["symbol"] as? String == "AAA" && $0["agent_id"] as? String == "agent-a" && $0["interval_seconds"] as? Int == 86_400 }
        )
        #expect(list.first?["time"] as? String == "2024-01-02T00:00:00Z")
        let limited = (try await collector.json("/v1/bars?symbol=AAA&limit=5"))["bars"] as? [[String: Any]] ?? []
        #expect(limited.compactMap { ($0["timestamp_ms"] as? NSNumber)?.int64Value } == Array(times.prefix(5)), "limit keeps the oldest")
        let window = (try await collector.json("/v1/bars?symbol=AAA&from=2024-01-05&to=\(Seeded.day(5))"))["bars"] as? [[String: Any]] ?? []
        #expect(window.compactMap { ($0["timestamp_ms"] as? NSNumber)?.int64Value } == [Seeded.day(3), Seeded.day(4)])
        #expect(((try await collector.json("/v1/bars?symbol=NOPE"))["bars"] as? [Any])?.isEmpty == true)

        // Bad parameters: 400 with a reason.
        let bad = [
            "/v1/bars", "/v1/bars?symbol=", "/v1/bars?symbol=AAA&from=yesterday", "/v1/bars?symbol=AAA&to=2024-13-45",
            "/v1/bars?symbol=AAA&from=2024-02-01&to=2024-01-01", "/v1/bars?symbol=AAA&limit=0", "/v1/bars?symbol=AAA&limit=-3",
            "/v1/bars?symbol=AAA&limit=abc", "/v1/bars?symbol=AAA&limit=10001", "/v1/events?tier=0", "/v1/events?tier=4", "/v1/events?tier=one",
            "/v1/events?cursor=nope", "/v1/events?cursor=1.2.3", "/v1/events?cursor=", "/v1/events?from=soon", "/v1/events?limit=0",
            "/v1/alerts?tier=9", "/v1/alerts?cursor=abc", "/v1/alerts?to=never", "/v1/alerts?limit=100000",
        ]
        for path in bad {
            expectError(try await collector.get(path), status: 400, code: "bad_request", path)
        }

        // Routes nobody registered: 404 (or 405 for a known path with another method), JSON with a code and a message.
        expectError(try await collector.get("/v1/nothing"), status: 404, code: "not_found", "unknown route")
        expectError(try await collector.get("/"), status: 404, code: "not_found", "root")
        expectError(try await collector.send("/v1/stats", method: "POST"), status: 404, code: nil, "POST /v1/stats", or: 405)
        expectError(try await collector.get("/v1/batches"), status: 404, code: nil, "GET /v1/batches", or: 405)
        expectError(try await collector.send("/v1/events", method: "DELETE"), status: 404, code: nil, "DELETE /v1/events", or: 405)
        expectError(try await collector.get("/v1/alerts/1/feedback"), status: 404, code: nil, "GET feedback", or: 405)

        // Liveness and readiness.
        let health = try await collector.get("/healthz")
        #expect(health.status == 200)
        #expect(health.header("content-type")?.hasPrefix("application/json") == true)
        let healthBody = object(health)
        #expect(healthBody["status"] as? String == "ok")
        #expect(healthBody["collector_id"] as? String == "test")
        #expect(healthBody["store"] as? String == (postgres ? "postgres" : "sqlite"))
        #expect(!((healthBody["version"] as? String) ?? "").isEmpty)
        let ready = try await collector.get("/readyz")
        #expect(ready.status == 200, "\(ready.bodyText)")
        #expect(ready.header("content-type")?.hasPrefix("application/json") == true)
        #expect(object(ready)["status"] as? String == "ready")
        #expect(object(ready)["store"] as? String == (postgres ? "postgres" : "sqlite"))
    }

    @Test(arguments: stores)
    func statsCountWhatWasPosted(postgres: Bool) async throws {
        let (collector, posted) = try await Seeded.start(postgres: postgres)
        defer { Task { await collector.stop() } }
        // One duplicate and one refusal on top of the accepted batches.
        let (_, duplicate) = try await collector.post(posted.batches[0])
        #expect(duplicate?.status == .duplicate)
        let refused = try await collector.send(
            WireContract.batchesPath, body: try posted.batches[0].serializedBytes(), headers: [("Content-Type", "text/plain")])
        expectError(refused, status: 415, code: "unsupported_media_type", "refused batch")
        // API refusals are not ingest rejections.
        _ = try await collector.get("/v1/events?tier=7")

        let alerts = try await items(collector, "/v1/alerts?limit=10000")
        let stats = try await collector.stats()
        #expect(stats["bars"] == posted.batches.reduce(0) { $0 + $1.series.reduce(0) { $0 + $1.close.count } })
        #expect(stats["detections"] == posted.detections.count)
        #expect(stats["alerts"] == alerts.count)
        #expect(stats["batches_accepted"] == posted.batches.count)
        #expect(stats["duplicates"] == 1)
        #expect(stats["rejected"] == 1)
        #expect(stats["agents"] == Set(posted.batches.map(\.agentID)).count)
        #expect(Set(stats.keys) == ["bars", "detections", "alerts", "batches_accepted", "duplicates", "rejected", "agents"])
    }

    /// `/v1/stats` is answered from the hot-query cache until the next *accepted* batch, but duplicates and refusals
    /// change its counts too. A long TTL makes the staleness deterministic (the default of 2 s only bounds it).
    @Test func statsAfterADuplicateAndARefusalAreNotServedStale() async throws {
        let collector = try await CollectorHarness.start { config in config.cache.queryTTLSeconds = 3600 }
        defer { Task { await collector.stop() } }
        let batch = makeBatch(sequence: 1, bars: 10)
        #expect(try await collector.post(batch).1?.status == .accepted)
        let before = try await collector.stats()
        #expect(before["duplicates"] == 0 && before["rejected"] == 0 && before["bars"] == 20)
        #expect(try await collector.post(batch).1?.status == .duplicate)
        let refused = try await collector.send(WireContract.batchesPath, body: [1], headers: [("Content-Type", "text/plain")])
        #expect(refused.status == 415)
        // Duplicates and refusals invalidate cached answers as accepted batches do.
        let after = try await collector.stats()
        #expect(after["duplicates"] == 1)
        #expect(after["rejected"] == 1)
        // The next accepted batch moves the generation on, and the counts catch up.
        #expect(try await collector.post(makeBatch(sequence: 2, bars: 5, start: 10)).1?.status == .accepted)
        let caughtUp = try await collector.stats()
        #expect(caughtUp["duplicates"] == 1 && caughtUp["rejected"] == 1 && caughtUp["batches_accepted"] == 2)
    }
}

/// A collector with three accepted batches from two agents: a spike in AAA and BBB on day 40, one in CCC on day 45,
/// and a calm continuation of AAA and BBB.
private enum Seeded {
    static let base: Int64 = 1_704_153_600_000
    static let traceHex = "0102030405060708090a0b0c0d0e0f10"
    static let spanHex = "0102030405060708"

    static func day(_ index: Int) -> Int64 { base + Int64(index) * 86_400_000 }

    struct Posted {
        var batches: [Vigil_V1_Batch]
        var detections: [Vigil_V1_Detection] { batches.flatMap(\.detections) }
        func bars(of symbol: String) -> Int {
            batches.reduce(0) { $0 + $1.series.filter { $0.symbol == symbol }.reduce(0) { $0 + $1.close.count } }
        }
    }

    static func start(postgres: Bool) async throws -> (CollectorHarness, Posted) {
        let collector = try await CollectorHarness.start(postgres: postgres)
        let batches = [
            makeBatch(agent: "agent-a", sequence: 1, symbols: ["AAA", "BBB"], bars: 50, spikeAt: 40),
            makeBatch(agent: "agent-b", sequence: 1, symbols: ["CCC"], bars: 60, spikeAt: 45),
            makeBatch(agent: "agent-a", sequence: 2, symbols: ["AAA", "BBB"], bars: 10, start: 50),
        ]
        for batch in batches {
            let (response, ack) = try await collector.post(batch)
            #expect(response.status == 200, "\(response.bodyText)")
            #expect(ack?.status == .accepted)
        }
        return (collector, Posted(batches: batches))
    }
}

/// `symbol|timestamp|detector` of each item, sorted: compares listings as multisets.
private func keys(_ items: [[String: Any]]) -> [String] {
    items.map { "\($0["symbol"] as? String ?? "?")|\(($0["timestamp_ms"] as? NSNumber)?.int64Value ?? -1)|\($0["detector"] as? String ?? "?")" }
        .sorted()
}

private func expectedKeys(_ detections: [Vigil_V1_Detection]) -> [String] {
    detections.map { "\($0.symbol)|\($0.timestampMs)|\($0.detector)" }.sorted()
}

private func items(_ collector: CollectorHarness, _ path: String) async throws -> [[String: Any]] {
    let page = try await collector.json(path)
    let items = page["items"] as? [[String: Any]]
    #expect(items != nil, "GET \(path): no items array")
    return items ?? []
}

private func object(_ response: HTTPResponse) -> [String: Any] {
    ((try? JSONSerialization.jsonObject(with: Data(response.body))) as? [String: Any]) ?? [:]
}

/// A refusal: the status (or `alternative`), a JSON body with a non-empty `code` (equal to `code` when given) and a
/// non-empty `message`.
private func expectError(
    _ response: HTTPResponse, status: Int, code: String?, _ name: String, or alternative: Int? = nil,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    #expect(
        response.status == status || response.status == alternative, "\(name): \(response.status) \(response.bodyText)",
        sourceLocation: sourceLocation)
    #expect(response.header("content-type")?.hasPrefix("application/json") == true, "\(name): content type", sourceLocation: sourceLocation)
    let body = object(response)
    let actual = body["code"] as? String ?? ""
    #expect(!actual.isEmpty, "\(name): no code in \(response.bodyText)", sourceLocation: sourceLocation)
    if let code { #expect(actual == code, "\(name): \(response.bodyText)", sourceLocation: sourceLocation) }
    #expect(!((body["message"] as? String) ?? "").isEmpty, "\(name): no message in \(response.bodyText)", sourceLocation: sourceLocation)
}
