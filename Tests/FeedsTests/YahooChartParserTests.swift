import Foundation
import Testing
import VigilDetection
import VigilHTTP

@testable import VigilFeeds

@Suite("Yahoo chart v8 parser")
struct YahooChartParserTests {
    @Test(.enabled(if: SharedData.isAvailable, SharedData.missing))
    func minimalDailyResponse() throws {
        let chart = try YahooChartParser.parse(data: SharedData.yahooBody("chart-AAPL-2020-01-01-to-2020-01-03"), symbol: "AAPL")
        #expect(chart.records.count == 1)
        #expect(chart.intervalSeconds == 86_400)
        #expect(chart.nullsSkipped == 0)
        #expect(chart.currency == "USD")
        let bar = try #require(chart.records.first?.bar)
        // 2020-01-02 14:30 UTC = 09:30 ET: Yahoo's daily bars carry the session's start.
        #expect(
            bar
                == Bar(
                    symbol: "AAPL", timestamp: 1_577_975_400_000, intervalSeconds: 86_400, open: 74.05999755859375,
                    high: 75.1500015258789, low: 73.79750061035156, close: 75.0875015258789, volume: 135_480_400))
        #expect(chart.records[0].raw.contains("\"timestamp\":1577975400"))
        #expect(chart.events.isEmpty)
    }

    @Test(.enabled(if: SharedData.isAvailable, SharedData.missing))
    func splitAndDividendEvents() throws {
        let chart = try YahooChartParser.parse(data: SharedData.yahooBody("chart-AAPL-2020-08-31-to-2020-11-07"), symbol: "AAPL")
        #expect(chart.records.count == 49)
        let first = try #require(chart.records.first?.bar)
        let last = try #require(chart.records.last?.bar)
        #expect(first.timestamp == 1_598_880_600_000)
        #expect(first.open == 127.58000183105469 && first.high == 131 && first.low == 126 && first.close == 129.0399932861328)
        #expect(first.volume == 225_702_700)
        #expect(last.timestamp == 1_604_673_000_000 && last.close == 118.69000244140625)
        #expect(
            chart.events == [
                CorporateEvent(symbol: "AAPL", timestamp: 1_598_880_600_000, kind: .split(numerator: 4, denominator: 1)),
                CorporateEvent(symbol: "AAPL", timestamp: 1_604_673_000_000, kind: .dividend(amount: 0.205)),
            ])
    }

    @Test(.enabled(if: SharedData.isAvailable, SharedData.missing))
    func yearWithFourDividends() throws {
        let chart = try YahooChartParser.parse(
            data: SharedData.yahooBody("historical-via-chart-MSFT-dividends-2021-02-01-to-2022-01-31.csv"), symbol: "MSFT")
        #expect(chart.records.count == 252)
        #expect(chart.records.first?.bar?.close == 239.64999389648438)
        #expect(chart.records.last?.bar?.timestamp == 1_643_380_200_000)
        #expect(chart.records.last?.bar?.close == 308.260009765625)
        let amounts = chart.events.compactMap { event -> Double? in
            if case .dividend(let amount) = event.kind { return amount }
            return nil
        }
        #expect(amounts == [0.56, 0.56, 0.56, 0.62])
        #expect(chart.events.map(\.timestamp) == [1_613_572_200_000, 1_621_431_000_000, 1_629_293_400_000, 1_637_159_400_000])
        // Strictly ascending.
        let times = chart.records.compactMap { $0.bar?.timestamp }
        #expect(zip(times, times.dropFirst()).allSatisfy { $0 < $1 })
    }

    @Test(.enabled(if: SharedData.isAvailable, SharedData.missing))
    func yearWithSplit() throws {
        let chart = try YahooChartParser.parse(
            data: SharedData.yahooBody("historical-via-chart-NVDA-split-2021-02-01-to-2022-01-31.csv"), symbol: "NVDA")
        #expect(chart.records.count == 252)
        #expect(chart.records.first?.bar?.close == 13.237000465393066)
        #expect(chart.records.last?.bar?.close == 22.84000015258789)
        #expect(chart.records.last?.bar?.volume == 543_774_000)
        #expect(chart.events == [CorporateEvent(symbol: "NVDA", timestamp: 1_626_787_800_000, kind: .split(numerator: 4, denominator: 1))])
    }

    @Test(.enabled(if: SharedData.isAvailable, SharedData.missing))
    func emptyIntradayWindowIsNotAnError() throws {
        let chart = try YahooChartParser.parse(
            data: SharedData.yahooBody("chart-AAPL-2025-02-01-to-2025-02-02-includePrePost-false-interval-1m"), symbol: "AAPL")
        #expect(chart.records.isEmpty)
        #expect(chart.nullsSkipped == 0)
        #expect(chart.intervalSeconds == 60)
    }

    @Test(.enabled(if: SharedData.isAvailable, SharedData.missing))
    func cryptoAndNonUSInstruments() throws {
        let btc = try YahooChartParser.parse(data: SharedData.yahooBody("chart-BTC-USD-2020-01-01-to-2020-01-03"), symbol: "BTC-USD")
        #expect(btc.records.count == 3)
        #expect(btc.exchangeTimezone == "UTC")
        #expect(btc.records.first?.bar?.timestamp == 1_577_836_800_000)  // 00:00 UTC: crypto days are UTC days
        #expect(btc.records.first?.bar?.open == 7194.89208984375)
        #expect(btc.records.last?.bar?.close == 7344.88427734375)
        #expect(btc.records.last?.bar?.volume == 28_111_481_032)

        let xetra = try YahooChartParser.parse(data: SharedData.yahooBody("chart-WSU.DE-2023-08-04-to-2023-08-09"), symbol: "WSU.DE")
        #expect(xetra.records.count == 3)
        #expect(xetra.currency == "EUR")
        #expect(xetra.exchangeTimezone == "Europe/Berlin")
        #expect(xetra.records.first?.bar?.open == 34.25)
        #expect(xetra.records.first?.bar?.volume == 1251)
        #expect(xetra.records.last?.bar?.close == 33.20000076293945)
    }

    @Test(
        .enabled(if: SharedData.isAvailable, SharedData.missing),
        arguments: [
            ("error-404-historical-via-chart-SI-2020-01-01-to-2020-01-03", "Not Found: No data found, symbol may be delisted"),
            ("error-404-historicalv8-MDLY-2020-01-01-to-2021-01-04", "Not Found: No data found, symbol may be delisted"),
            ("error-400-chart-BEKE-2020-01-01-to-2020-01-03", "Bad Request: Data doesn't exist for startDate = 1577836800, endDate = 1578009600"),
        ])
    func errorBodies(file: String, message: String) throws {
        let body = try SharedData.yahooBody(file)
        #expect(YahooChartParser.errorMessage(data: body) == message)
        #expect(throws: FeedError(.apiError, message)) { try YahooChartParser.parse(data: body, symbol: "X") }
    }

    /// Every recorded wrapper (`{"request":…,"response":{"status",…,"bodyJson"|"body"}}`) yields the same result as
    /// its extracted body, and its status classifies as the feed would.
    @Test(.enabled(if: SharedData.isAvailable, SharedData.missing))
    func everyRecordedWrapper() throws {
        let directory = try SharedData.url("api-fixtures/yahoo-chart-v8")
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".json") }.sorted()
        #expect(files.count == 10)
        for file in files {
            let wrapper = try #require(
                try JSONSerialization.jsonObject(with: Data(contentsOf: directory.appendingPathComponent(file))) as? [String: Any])
            let response = try #require(wrapper["response"] as? [String: Any])
            let status = try #require(response["status"] as? Int)
            let body: [UInt8]
            if let text = response["body"] as? String {
                body = Array(text.utf8)
            } else {
                body = [UInt8](try JSONSerialization.data(withJSONObject: try #require(response["bodyJson"])))
            }
            let extracted = try SharedData.bytes("api-fixtures/yahoo-chart-v8/bodies/\(file.dropLast(5)).body.json")
            if status == 200 {
                let fromWrapper = try YahooChartParser.parse(data: body, symbol: "S")
                let fromBody = try YahooChartParser.parse(data: extracted, symbol: "S")
                #expect(fromWrapper.records.map(\.bar) == fromBody.records.map(\.bar), "\(file)")
                #expect(fromWrapper.events == fromBody.events, "\(file)")
            } else {
                let classified = FeedError.classify(
                    HTTPResponseFixture.make(status: status, body: body), wallMillis: 0, apiMessage: { YahooChartParser.errorMessage(data: $0.body) })
                #expect(classified?.code == .clientError, "\(file)")
                #expect(classified?.status == status)
                #expect(classified?.message == YahooChartParser.errorMessage(data: extracted), "\(file)")
            }
        }
    }

    @Test func nullsInsideQuoteArraysAreSkippedAcrossAllArraysAndCounted() throws {
        let chart = try YahooChartParser.parse(data: OwnFixtures.bytes("yahoo-chart-nulls-1m.body.json"), symbol: "AAPL")
        #expect(chart.intervalSeconds == 60)
        #expect(chart.nullsSkipped == 2)
        #expect(chart.records.map { $0.bar?.timestamp } == [1_738_593_000_000, 1_738_593_120_000, 1_738_593_240_000, 1_738_593_300_000])
        // Index 2's values stay together (no shifting of one array against the others).
        #expect(chart.records[1].bar?.open == 228.8800048828125)
        #expect(chart.records[1].bar?.close == 228.5399932861328)
        #expect(chart.records[1].bar?.volume == 388_120)
        #expect(chart.records[3].bar?.volume == 0)
    }

    @Test func shortArraysCountAsNullsAndGarbageIsMalformed() throws {
        let short =
            #"{"chart":{"result":[{"meta":{"dataGranularity":"1d"},"timestamp":[1,2,3],"indicators":{"quote":[{"open":[1,2,3],"high":[1,2,3],"low":[1,2,3],"close":[1,2],"volume":[5,5,5]}]}}],"error":null}}"#
        let chart = try YahooChartParser.parse(data: Array(short.utf8), symbol: "X")
        #expect(chart.records.count == 2)
        #expect(chart.nullsSkipped == 1)

        for garbage in ["", "<html>rate limited</html>", #"{"chart":{"result":null,"error":null}}"#, #"{"chart":{"result":[{"timestamp":"x"}]}}"#] {
            #expect(throws: FeedError.self) { try YahooChartParser.parse(data: Array(garbage.utf8), symbol: "X") }
            do {
                _ = try YahooChartParser.parse(data: Array(garbage.utf8), symbol: "X")
            } catch {
                #expect(error.code == .malformedResponse)
            }
        }
    }

    @Test func intervalNames() {
        #expect(YahooChartParser.intervalSeconds(of: "1m") == 60)
        #expect(YahooChartParser.intervalSeconds(of: "1h") == 3600)
        #expect(YahooChartParser.intervalSeconds(of: "1wk") == 604_800)
        #expect(YahooChartParser.intervalSeconds(of: "7m") == nil)
    }
}

enum HTTPResponseFixture {
    static func make(status: Int, body: [UInt8], headers: [String: String] = [:]) -> HTTPResponse {
        HTTPResponse(status: status, headers: headers, body: body)
    }
}
