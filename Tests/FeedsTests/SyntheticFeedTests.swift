import Foundation
import Testing
import VigilDetection

@testable import VigilFeeds

@Suite("Synthetic market feed")
struct SyntheticFeedTests {
    func feed(_ configuration: SyntheticFeedConfiguration, clock: TestClock = TestClock(), metrics: TestMetrics = TestMetrics()) -> SyntheticFeed {
        SyntheticFeed(configuration: configuration, logger: InMemoryLogs().logger(), metricsFactory: metrics, clock: clock)
    }

    @Test func sameSeedSameBars() async throws {
        let configuration = SyntheticFeedConfiguration(seed: 7, symbols: 5, tickRate: 0, startTimestamp: 1_700_000_040_000, maxTicks: 50)
        let a = try await collect(feed(configuration))
        let b = try await collect(feed(configuration))
        #expect(a.count == 250)
        #expect(a.map(\.bar) == b.map(\.bar))
        let other = try await collect(
            feed(SyntheticFeedConfiguration(seed: 8, symbols: 5, tickRate: 0, startTimestamp: 1_700_000_040_000, maxTicks: 50)))
        #expect(a.map(\.bar) != other.map(\.bar))
        #expect(a.first?.bar?.symbol == "SYN001" && a.first?.bar?.timestamp == 1_700_000_040_000)
        #expect(a.last?.bar?.timestamp == Int64(1_700_000_040_000 + 49 * 60_000))
    }

    @Test func asFastAsPossibleInWholeTicksAndStopsAtMaxTicks() async throws {
        let metrics = TestMetrics()
        let synthetic = feed(SyntheticFeedConfiguration(name: "syn", symbols: 30, tickRate: 0, maxTicks: 250, batchSize: 1000), metrics: metrics)
        var sizes: [Int] = []
        for try await batch in synthetic.batches() { sizes.append(batch.records.count) }
        // 1000 bars / 30 symbols = 33 whole ticks per poll; 250 ticks = 7 × 33 + 19.
        #expect(sizes == Array(repeating: 990, count: 7) + [570])
        #expect(await synthetic.ticks() == 250)
        #expect(try await synthetic.poll() == nil)
        #expect(metrics.value(FeedMetricNames.bars, [("feed", "syn")]) == 7500)
    }

    @Test func tickRatePacesPolls() async throws {
        let clock = TestClock()
        let synthetic = feed(SyntheticFeedConfiguration(symbols: 3, tickRate: 4, maxTicks: 5), clock: clock)
        var polls = 0
        for try await batch in synthetic.batches() {
            #expect(batch.records.count == 3)
            polls += 1
        }
        #expect(polls == 5)
        #expect(clock.sleeps == Array(repeating: .milliseconds(250), count: 4))
    }

    @Test func defaultStartIsTheWallClockAlignedToTheInterval() async throws {
        let clock = TestClock(wallMillis: 1_767_225_645_500)  // 2026-01-01T00:00:45.5Z
        // In real time (one 60 s bar per 60 s) the market starts now.
        let live = feed(SyntheticFeedConfiguration(symbols: 1, intervalSeconds: 60, tickRate: 1.0 / 60, maxTicks: 1), clock: clock)
        let first = try #require(try await live.poll())
        #expect(first.records.first?.bar?.timestamp == 1_767_225_600_000)
        // Faster than real time it starts max_ticks intervals back, so its last bar is not in the future.
        let fast = feed(SyntheticFeedConfiguration(symbols: 1, intervalSeconds: 60, tickRate: 0, maxTicks: 10), clock: clock)
        let poll = try #require(try await fast.poll())
        let tenIntervalsBack: Int64 = 1_767_225_600_000 - 10 * 60_000
        #expect(poll.records.first?.bar?.timestamp == tenIntervalsBack)
    }

    @Test func writesItsLabelsAsCSVAndItsBarsAreValid() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("out/labels.csv")
        let synthetic = feed(
            SyntheticFeedConfiguration(
                seed: 11, symbols: 20, intervalSeconds: 86_400, tickRate: 0, anomalyRate: 0.01, startTimestamp: 0, maxTicks: 400, labelsPath: path))
        let records = try await collect(synthetic)
        let labels = await synthetic.labels()
        #expect(labels.count > 20)
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map(String.init)
        #expect(lines.first == AnomalyLabel.csvHeader)
        #expect(lines.dropFirst().compactMap { AnomalyLabel(csvLine: $0) } == labels)

        // The generator's bars pass validation (SyntheticMarket and Normalizer agree on what a bar is).
        var normalizer = Normalizer(configuration: NormalizerConfiguration(allowedSymbols: synthetic.symbols, maxFutureSkewSeconds: nil))
        let batch = normalizer.normalize(records, feed: "synthetic", deadLetters: nil)
        #expect(batch.rejects.isEmpty)
        #expect(batch.bars.count == 8000)
    }

    private func collect(_ feed: SyntheticFeed) async throws -> [RawBar] {
        var records: [RawBar] = []
        for try await batch in feed.batches() { records += batch.records }
        return records
    }
}
