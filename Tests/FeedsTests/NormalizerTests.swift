import Foundation
import Logging
import Testing
import VigilDetection

@testable import VigilFeeds

@Suite("Normalizer")
struct NormalizerTests {
    static let now: Int64 = 1_700_000_000_000

    func bar(_ symbol: String = "AAA", t: Int64 = 1_600_000_000_000, o: Double = 10, h: Double = 11, l: Double = 9, c: Double = 10.5, v: Double = 100)
        -> RawBar
    {
        RawBar(bar: Bar(symbol: symbol, timestamp: t, intervalSeconds: 60, open: o, high: h, low: l, close: c, volume: v), raw: "raw")
    }

    func normalizer(_ configuration: NormalizerConfiguration = .default) -> Normalizer {
        Normalizer(configuration: configuration, metricsFactory: TestMetrics(), wallClock: { Self.now })
    }

    @Test func everyRejectReason() throws {
        let cases: [(RawBar, RejectReason)] = [
            (RawBar(problem: .missingField, raw: "2016-01-12,,,,88.55,0,DHR"), .missingField),
            (RawBar(problem: .unparseable, raw: "garbage"), .unparseable),
            (bar(""), .missingField),
            (
                RawBar(bar: Bar(symbol: "AAA", timestamp: 1, intervalSeconds: 0, open: 1, high: 1, low: 1, close: 1, volume: 1), raw: ""),
                .invalidInterval
            ),
            (bar(o: .nan), .nanOrInfinite),
            (bar(h: .infinity), .nanOrInfinite),
            (bar(v: -.infinity), .nanOrInfinite),
            (bar(l: 0), .nonPositivePrice),
            (bar(c: -1), .nonPositivePrice),
            (bar(v: -1), .negativeVolume),
            (bar(h: 8, l: 9, c: 8.5), .highBelowLow),
            (bar(o: 12), .openOutsideRange),
            (bar(o: 8.99), .openOutsideRange),
            (bar(c: 11.01), .closeOutsideRange),
            (bar(c: 8), .closeOutsideRange),
            (bar("ZZZ"), .unknownSymbol),
            (bar(t: now + 86_400_001), .futureTimestamp),
        ]
        for (record, reason) in cases {
            var normalizer = normalizer(NormalizerConfiguration(allowedSymbols: ["AAA"]))
            #expect(normalizer.normalize(record) == .failure(reason), "\(record) → \(reason)")
        }
        // Every reason except the stateful two is covered above; those follow.
        var normalizer = normalizer()
        #expect(try normalizer.normalize(bar(t: 2_000)).get().timestamp == 2_000)
        #expect(normalizer.normalize(bar(t: 2_000)) == .failure(.duplicateTimestamp))
        #expect(normalizer.normalize(bar(t: 1_000)) == .failure(.outOfOrder))
        let covered: Set<RejectReason> = Set(cases.map(\.1)).union([.duplicateTimestamp, .outOfOrder])
        #expect(covered == Set(RejectReason.allCases))
    }

    var now: Int64 { Self.now }

    @Test func perSymbolClocksAndRejectedBarsDoNotMoveThem() {
        var normalizer = normalizer()
        #expect((try? normalizer.normalize(bar("AAA", t: 100)).get()) != nil)
        #expect((try? normalizer.normalize(bar("BBB", t: 50)).get()) != nil)  // other symbol, own clock
        #expect(normalizer.normalize(bar("AAA", t: 200, v: -1)) == .failure(.negativeVolume))
        #expect(normalizer.lastAcceptedTimestamp(of: "AAA") == 100)
        #expect((try? normalizer.normalize(bar("AAA", t: 200)).get()) != nil)
        #expect(normalizer.lastAcceptedTimestamp(of: "AAA") == 200)
    }

    @Test func boundaryValuesAreAccepted() {
        var normalizer = normalizer()
        // open == low, close == high, zero volume (a no-trade session), high == low.
        #expect((try? normalizer.normalize(bar(t: 1, o: 9, c: 11, v: 0)).get()) != nil)
        #expect((try? normalizer.normalize(bar(t: 2, o: 5, h: 5, l: 5, c: 5)).get()) != nil)
        #expect((try? normalizer.normalize(bar(t: now + 86_400_000)).get()) != nil)
    }

    @Test func toleranceAndDisabledSkew() {
        var tolerant = normalizer(NormalizerConfiguration(maxFutureSkewSeconds: nil, priceTolerance: 1e-6))
        #expect((try? tolerant.normalize(bar(t: 1, o: 11.000_001)).get()) != nil)
        #expect(tolerant.normalize(bar(t: 2, o: 11.1)) == .failure(.openOutsideRange))
        #expect((try? tolerant.normalize(bar(t: Int64.max / 2)).get()) != nil)
    }

    @Test func batchCountsOncePerReasonAndWritesDeadLetters() throws {
        let directory = try TemporaryDirectory()
        let metrics = TestMetrics()
        let dlq = DeadLetterQueue(
            configuration: DeadLetterConfiguration(path: directory.path("d.jsonl")), logger: InMemoryLogs().logger(), metricsFactory: metrics)
        var normalizer = Normalizer(metricsFactory: metrics, wallClock: { Self.now })
        let records = [bar(t: 1), bar(t: 1), bar(t: 2, v: -3), bar(t: 3), RawBar(problem: .missingField, raw: "x,,y")]
        let batch = normalizer.normalize(FeedPoll(records: records), feed: "f", deadLetters: dlq)
        #expect(batch.bars.map(\.timestamp) == [1, 3])
        #expect(batch.rejects.map(\.reason) == [.duplicateTimestamp, .negativeVolume, .missingField])
        #expect(metrics.value(FeedMetricNames.normalizerBars) == 2)
        #expect(metrics.value(FeedMetricNames.normalizerRejects, [("reason", "duplicate_timestamp")]) == 1)
        #expect(metrics.value(FeedMetricNames.deadLetterRecords, [("reason", "negative_volume")]) == 1)
        #expect(dlq.counts() == [.duplicateTimestamp: 1, .negativeVolume: 1, .missingField: 1])
    }
}

@Suite("Dead-letter queue")
struct DeadLetterQueueTests {
    @Test func writesParseableJSONLinesAndCounts() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("nested/dir/dlq.jsonl")
        let metrics = TestMetrics()
        let clock = TestClock(wallMillis: 1_700_000_000_123)
        let dlq = DeadLetterQueue(
            configuration: DeadLetterConfiguration(path: path), logger: InMemoryLogs().logger(), metricsFactory: metrics, clock: clock)
        #expect(!FileManager.default.fileExists(atPath: path))  // opened on the first reject only
        let tricky = "2016-01-12,\"quoted\",\\back\\slash,\ttab,\u{1}ctl,ünï,\n"
        dlq.append(RawBar(problem: .unparseable, raw: tricky), feed: "feed \"one\"", reason: .unparseable)
        dlq.append(
            [(RawBar(bar: Bar(symbol: "SYN001", timestamp: 1_700_000_000_000, open: 1, high: 0.5, low: 1, close: 1, volume: 1)), .highBelowLow)],
            feed: "synthetic")
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 2)
        let first = try #require(try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: String])
        #expect(first == ["time": "2023-11-14T22:13:20.123Z", "feed": "feed \"one\"", "reason": "unparseable", "raw": tricky])
        let second = try #require(try JSONSerialization.jsonObject(with: Data(lines[1].utf8)) as? [String: String])
        #expect(second["symbol"] == "SYN001")
        #expect(second["raw"]?.contains("\"high\":0.5") == true)  // generated bars are rendered from their values
        #expect(dlq.counts() == [.unparseable: 1, .highBelowLow: 1])
        #expect(dlq.writtenCount == 2)
        #expect(metrics.value(FeedMetricNames.deadLetterRecords, [("reason", "high_below_low")]) == 1)
    }

    @Test func rotatesBySize() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("dlq.jsonl")
        let dlq = DeadLetterQueue(
            configuration: DeadLetterConfiguration(path: path, maxFileBytes: 1000, maxFiles: 2), logger: InMemoryLogs().logger())
        for index in 0..<40 {
            dlq.append(RawBar(problem: .unparseable, raw: "row \(index) " + String(repeating: "x", count: 40)), feed: "f", reason: .unparseable)
        }
        for file in [path, path + ".1", path + ".2"] {
            let size = (try FileManager.default.attributesOfItem(atPath: file)[.size] as? Int) ?? 0
            #expect(size > 0 && size <= 1000, "\(file)")
        }
        #expect(!FileManager.default.fileExists(atPath: path + ".3"))
        #expect(dlq.writtenCount == 40)
        // The newest line is in the current file.
        #expect(try String(contentsOfFile: path, encoding: .utf8).contains("row 39 "))
    }

    @Test func writeFailuresAreCountedAndLoggedButNeverThrown() throws {
        let directory = try TemporaryDirectory()
        // A path below a regular file cannot be created.
        try Data("x".utf8).write(to: URL(fileURLWithPath: directory.path("file")))
        let metrics = TestMetrics()
        let logs = InMemoryLogs()
        let dlq = DeadLetterQueue(
            configuration: DeadLetterConfiguration(path: directory.path("file/dlq.jsonl")), logger: logs.logger(), metricsFactory: metrics,
            clock: TestClock())
        for _ in 0..<3 { dlq.append(RawBar(problem: .missingField, raw: "r"), feed: "f", reason: .missingField) }
        #expect(dlq.failedCount == 3)
        #expect(dlq.writtenCount == 0)
        #expect(metrics.value(FeedMetricNames.deadLetterWriteErrors) == 3)
        #expect(metrics.value(FeedMetricNames.deadLetterRecords, [("reason", "missing_field")]) == 0)
        #expect(logs.all.filter { $0.level == .error }.count == 1)  // once a minute, not per record
    }
}
