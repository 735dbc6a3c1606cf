import Foundation
import Testing
import VigilDetection

@testable import VigilFeeds

@Suite("CSV replay", .enabled(if: SharedData.isAvailable, SharedData.missing))
struct ReplayFeedTests {
    func drain(_ feed: ReplayFeed) async throws -> (records: [RawBar], chunks: [Int]) {
        var records: [RawBar] = []
        var chunks: [Int] = []
        for try await batch in feed.batches() {
            chunks.append(batch.records.count)
            records += batch.records
        }
        return (records, chunks)
    }

    func replay(_ configuration: ReplayFeedConfiguration, metrics: TestMetrics = TestMetrics(), clock: TestClock = TestClock()) throws -> ReplayFeed {
        try ReplayFeed(configuration: configuration, logger: InMemoryLogs().logger(), metricsFactory: metrics, clock: clock)
    }

    @Test func sp500FileAsFastAsPossibleInChunks() async throws {
        let metrics = TestMetrics()
        let feed = try replay(
            ReplayFeedConfiguration(name: "aapl", path: SharedData.url("sp500-daily/AAPL_data.csv").path, batchSize: 500), metrics: metrics)
        let (records, chunks) = try await drain(feed)
        #expect(chunks == [500, 500, 259])
        #expect(records.count == 1259)
        let first = try #require(records.first?.bar)
        let last = try #require(records.last?.bar)
        #expect(
            first
                == Bar(
                    symbol: "AAPL", timestamp: 1_360_281_600_000, intervalSeconds: 86_400, open: 67.7142, high: 68.4014, low: 66.8928,
                    close: 67.8542, volume: 158_168_416))
        #expect(last.timestamp == 1_517_961_600_000 && last.close == 159.54 && last.open == 163.085)
        #expect(records.first?.raw == "2013-02-08,67.7142,68.4014,66.8928,67.8542,158168416,AAPL")
        #expect(try await feed.poll() == nil)  // finished stays finished
        #expect(metrics.value(FeedMetricNames.bars, [("feed", "aapl")]) == 1259)
        #expect(metrics.value(FeedMetricNames.polls, [("feed", "aapl"), ("outcome", "success")]) == 3)

        var normalizer = Normalizer(configuration: NormalizerConfiguration(allowedSymbols: ["AAPL"]), metricsFactory: metrics)
        #expect(normalizer.normalize(records, feed: "aapl", deadLetters: nil).bars.count == 1259)
    }

    @Test func dirtyRowsBecomeDeadLettersWithAReason() async throws {
        let directory = try TemporaryDirectory()
        let metrics = TestMetrics()
        let feed = try replay(ReplayFeedConfiguration(name: "dhr", path: SharedData.url("sp500-daily/DHR_data.csv").path), metrics: metrics)
        let (records, _) = try await drain(feed)
        #expect(records.count == 1243)
        #expect(
            records.filter { $0.problem == .missingField }.map(\.raw) == ["2015-07-17,,88.76,88.24,88.72,2056819,DHR", "2016-01-12,,,,88.55,0,DHR"])

        let deadLetters = DeadLetterQueue(
            configuration: DeadLetterConfiguration(path: directory.path("dlq.jsonl")), logger: InMemoryLogs().logger(), metricsFactory: metrics)
        var normalizer = Normalizer(metricsFactory: metrics)
        let batch = normalizer.normalize(records, feed: "dhr", deadLetters: deadLetters)
        #expect(batch.bars.count == 1240)
        #expect(batch.rejectCounts == [.missingField: 2, .openOutsideRange: 1])  // DHR 2014-11-06: open 78.47 < low 80.49
        #expect(metrics.value(FeedMetricNames.normalizerRejects, [("reason", "missing_field")]) == 2)
        #expect(metrics.value(FeedMetricNames.normalizerRejects, [("reason", "open_outside_range")]) == 1)
        #expect(metrics.value(FeedMetricNames.normalizerBars) == 1240)
        #expect(metrics.value(FeedMetricNames.deadLetterRecords, [("reason", "missing_field")]) == 2)

        let lines = try String(contentsOfFile: directory.path("dlq.jsonl"), encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 3)
        let objects = try lines.map { try #require(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: String]) }
        #expect(objects.map { $0["reason"] } == ["open_outside_range", "missing_field", "missing_field"])
        #expect(objects.allSatisfy { $0["feed"] == "dhr" && $0["time"]?.hasSuffix("Z") == true })
        #expect(objects[0]["symbol"] == "DHR")
        #expect(objects[2]["raw"] == "2016-01-12,,,,88.55,0,DHR")
    }

    @Test func newestFirstIntradayCSVIsEmittedOldestFirstInUTC() async throws {
        let path = try SharedData.url("intraday/MSFT_1min_2020-11-23_2020-12-18_alphavantage_extended.csv").path
        let feed = try replay(ReplayFeedConfiguration(name: "msft-1m", path: path))
        let (records, _) = try await drain(feed)
        #expect(records.count == 11_190)
        #expect(records.allSatisfy { $0.problem == nil && $0.bar?.symbol == "MSFT" && $0.bar?.intervalSeconds == 60 })
        let times = records.compactMap { $0.bar?.timestamp }
        #expect(zip(times, times.dropFirst()).allSatisfy { $0 < $1 })
        // Oldest row "2020-11-23 04:01:00" (EST, label = bar end) → bar 04:00-04:01 EST = 09:00 UTC.
        #expect(times.first == 1_606_122_000_000)
        // Newest row "2020-12-18 20:00:00" → bar opening 19:59 EST = 00:59 UTC the next day.
        #expect(times.last == 1_608_339_540_000)
        // The quadruple-witching opening cross (label 09:31) is the 09:30-09:31 bar: 14:30 UTC.
        let cross = try #require(records.first { $0.bar?.volume == 6_499_753 }?.bar)
        #expect(cross.timestamp == 1_608_301_800_000)

        var normalizer = Normalizer()
        #expect(normalizer.normalize(records, feed: "msft-1m", deadLetters: nil).rejects.isEmpty)
    }

    @Test func directoryReplayMergesFilesByTime() async throws {
        let root = try SharedData.url("sp500-daily").path
        let feed = try replay(ReplayFeedConfiguration(name: "dir", path: root, batchSize: 1000, symbols: ["AAPL", "APTV", "DHR"]))
        #expect(feed.files.map { ($0 as NSString).lastPathComponent } == ["AAPL_data.csv", "APTV_data.csv", "DHR_data.csv"])
        let (records, chunks) = try await drain(feed)
        #expect(records.count == 1259 + 44 + 1243)
        #expect(chunks.allSatisfy { $0 <= 1000 })
        let times = records.map { $0.bar?.timestamp ?? 0 }.filter { $0 != 0 }
        #expect(zip(times, times.dropFirst()).allSatisfy { $0 <= $1 })
        // Per date, file-name order: the first three records of 2017-12-05 are AAPL, APTV, DHR.
        let dec5 = records.compactMap(\.bar).filter { $0.timestamp == 1_512_432_000_000 }.map(\.symbol)
        #expect(dec5 == ["AAPL", "APTV", "DHR"])
    }

    @Test func directoryReplayFileOrderWithSymbolLimit() async throws {
        let root = try SharedData.url("sp500-daily").path
        let feed = try replay(ReplayFeedConfiguration(name: "dir", path: root, batchSize: 700, order: .file, maxSymbols: 3))
        #expect(feed.files.count == 3)
        let (records, chunks) = try await drain(feed)
        let symbols = records.compactMap { $0.bar?.symbol }
        // Files one after the other: symbol changes exactly twice.
        #expect(zip(symbols, symbols.dropFirst()).filter { $0 != $1 }.count == 2)
        #expect(records.count == 3 * 1259)
        #expect(chunks.allSatisfy { $0 <= 700 })
    }

    /// The whole data set (505 files, 619,040 rows) streams through in bounded chunks.
    @Test func wholeSP500DirectoryInBoundedChunks() async throws {
        let root = try SharedData.url("sp500-daily").path
        let feed = try replay(ReplayFeedConfiguration(name: "all", path: root, batchSize: 8192))
        #expect(feed.files.count == 505)  // MANIFEST.csv is not a bar file
        var total = 0
        var problems = 0
        var maxChunk = 0
        var lastTime = Int64.min
        var ordered = true
        for try await batch in feed.batches() {
            total += batch.records.count
            maxChunk = max(maxChunk, batch.records.count)
            for record in batch.records {
                if record.problem != nil { problems += 1 }
                if let time = record.bar?.timestamp {
                    ordered = ordered && time >= lastTime
                    lastTime = time
                }
            }
        }
        #expect(total == 619_040)
        #expect(problems == 11)  // the 11 rows with an empty open (SOURCE.md)
        #expect(maxChunk == 8192)
        #expect(ordered)
    }

    @Test func scaledRealTimePacesByMarketTime() async throws {
        let path = try SharedData.url("intraday/MSFT_1min_2020-11-23_2020-12-18_alphavantage_extended.csv").path
        let clock = TestClock()
        let feed = try replay(ReplayFeedConfiguration(name: "rt", path: path, speed: 60), clock: clock)
        let first = try #require(try await feed.poll())
        #expect(first.records.count == 1)  // only the first minute is due at the anchor
        #expect(clock.sleeps.isEmpty)
        var previous = try #require(first.records.first?.bar?.timestamp)
        for _ in 0..<5 {
            let poll = try #require(try await feed.poll())
            let time = try #require(poll.records.first?.bar?.timestamp)
            // 60× speed: a gap of g market ms is g/60 wall ms.
            #expect(clock.sleeps.last == Duration.microseconds((time - previous) * 1000 / 60))
            #expect(poll.records.allSatisfy { $0.bar?.timestamp == time })
            previous = time
        }
    }

    @Test func dirtyCSVShapesNeverCrash() async throws {
        let directory = try TemporaryDirectory()
        let text = [
            "Date,Open,High,Low,Close,Volume,Name",
            "2020-01-02,10,11,9,10.5,100,XYZ\r",
            "",
            "2020-01-03,\"10.5\",11,10,10.8,200,XYZ",
            "2020-01-06,abc,11,10,10.8,200,XYZ",
            "2020-13-07,10,11,10,10.8,200,XYZ",
            "2020-01-08,10,11",
            "garbage",
            "2020-01-09,10,11,10,10.8,,XYZ",
            "2020-01-10,10,11,10,10.8,-5,XYZ",
            "2020-01-10,10,11,10,10.8,5,XYZ",
        ].joined(separator: "\n")
        let path = directory.path("XYZ_daily.csv")
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        let feed = try replay(ReplayFeedConfiguration(name: "dirty", path: path))
        let (records, _) = try await drain(feed)
        #expect(records.map(\.problem) == [nil, nil, .unparseable, .unparseable, .missingField, .unparseable, .missingField, nil, nil])
        #expect(records[1].bar?.open == 10.5)  // quoted field
        #expect(records[0].raw == "2020-01-02,10,11,9,10.5,100,XYZ")  // CR stripped

        var normalizer = Normalizer()
        let batch = normalizer.normalize(records, feed: "dirty", deadLetters: nil)
        // The negative-volume row is rejected without moving XYZ's clock, so the next row of that day is accepted.
        #expect(batch.bars.map(\.timestamp) == [1_577_923_200_000, 1_578_009_600_000, 1_578_614_400_000])
        #expect(batch.rejectCounts == [.unparseable: 3, .missingField: 2, .negativeVolume: 1])
    }

    @Test func configurationErrorsAreReportedNotThrownLater() throws {
        #expect(throws: FeedError.self) { try replay(ReplayFeedConfiguration(path: "/nonexistent/vigil")) }
        let directory = try TemporaryDirectory()
        #expect(throws: FeedError.self) { try replay(ReplayFeedConfiguration(path: directory.root)) }
        let problems = ReplayFeedConfiguration(path: "", speed: -1, batchSize: 0, timeZone: "Mars/Olympus", timeLabel: "middle").validate()
        #expect(problems.count == 5)
    }
}

/// A temporary directory removed when the value goes away.
final class TemporaryDirectory {
    let root: String

    init() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-feeds-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: root) }

    func path(_ name: String) -> String { (root as NSString).appendingPathComponent(name) }
}
