import Foundation
import Testing
import VigilDetection

@testable import VigilFeeds

@Suite("Alpha Vantage parser")
struct AlphaVantageParserTests {
    @Test(.enabled(if: SharedData.isAvailable, SharedData.missing))
    func compactDailySeriesIsEmittedOldestFirst() throws {
        let series = try AlphaVantageParser.parse(data: SharedData.alphaVantage("asmarques_time_series_daily.MSFT.json"), symbol: "MSFT")
        #expect(series.records.count == 100)
        #expect(series.intervalSeconds == 86_400)
        #expect(series.lastRefreshed == "2018-06-08")
        let first = try #require(series.records.first?.bar)
        let last = try #require(series.records.last?.bar)
        // 2018-01-17 00:00 UTC: daily bars carry the session date (the Bar convention).
        #expect(first == Bar(symbol: "MSFT", timestamp: 1_516_147_200_000, open: 89.08, high: 90.28, low: 88.75, close: 90.14, volume: 24_659_472))
        #expect(
            last == Bar(symbol: "MSFT", timestamp: 1_528_416_000_000, open: 101.0924, high: 101.95, low: 100.54, close: 101.63, volume: 22_165_128))
        let times = series.records.compactMap { $0.bar?.timestamp }
        #expect(zip(times, times.dropFirst()).allSatisfy { $0 < $1 })
        #expect(series.records.allSatisfy { $0.problem == nil })
        #expect(last.symbol == "MSFT")
        #expect(series.records.last?.raw.hasPrefix(#"{"2018-06-08":{"1. open":"101.0924""#) == true)
    }

    @Test(.enabled(if: SharedData.isAvailable, SharedData.missing))
    func intradayLabelsAreBarEndsInUSEastern() throws {
        // 2018-06-01 is daylight time (UTC-4): the 16:00 label is the 15:59-16:00 bar, opening 19:59 UTC.
        let june = try AlphaVantageParser.parse(data: SharedData.alphaVantage("asmarques_time_series_intraday_1min.MSFT.json"), symbol: "MSFT")
        #expect(june.records.count == 100)
        #expect(june.intervalSeconds == 60)
        let closingBar = try #require(june.records.last?.bar)
        #expect(closingBar.timestamp == 1_527_883_140_000)
        #expect(closingBar.volume == 4_129_781)  // the closing auction
        #expect(closingBar.open == 100.615 && closingBar.close == 100.79)

        // 2017-12-18 is standard time (UTC-5): 14:56 label → bar opening 14:55 EST = 19:55 UTC.
        let december = try AlphaVantageParser.parse(
            data: SharedData.alphaVantage("RomelTorres_mock_time_series.TIME_SERIES_INTRADAY_1min_MSFT.json"), symbol: "MSFT")
        #expect(december.records.count == 100)
        #expect(december.records.last?.bar?.timestamp == 1_513_626_900_000)
        #expect(december.records.first?.bar?.open == 86.8101)
        #expect(december.records.first?.bar?.volume == 31172)
    }

    @Test(.enabled(if: SharedData.isAvailable, SharedData.missing))
    func trimmedCapturesAndAdjustedSeries() throws {
        let daily = try AlphaVantageParser.parse(data: SharedData.alphaVantage("crazzyghost_daily.IBM.json"), symbol: "IBM")
        #expect(daily.records.compactMap { $0.bar?.close } == [121.23, 121.79])
        #expect(daily.lastRefreshed == "2020-05-08 14:07:03")

        let intraday = try AlphaVantageParser.parse(data: SharedData.alphaVantage("crazzyghost_intraday.IBM.json"), symbol: "IBM")
        #expect(intraday.intervalSeconds == 300)
        // 14:05 EDT label, 5-minute bar → opens 14:00 EDT = 18:00 UTC.
        #expect(intraday.records.last?.bar?.timestamp == 1_588_960_800_000)
        #expect(intraday.records.map { $0.bar?.intervalSeconds } == [300, 300])

        let adjusted = try AlphaVantageParser.parse(data: SharedData.alphaVantage("crazzyghost_dailyadjusted.IBM.json"), symbol: "IBM")
        #expect(adjusted.records.count == 2)
        #expect(adjusted.records.last?.bar?.volume == 2_542_577)  // "6. volume" in the adjusted layout
        #expect(adjusted.events == [CorporateEvent(symbol: "IBM", timestamp: 1_588_809_600_000, kind: .dividend(amount: 1.63))])

        for file in ["kirlut_daily-not-adjusted.MSFT.json", "kirlut_daily-adjusted.MSFT.json"] {
            let series = try AlphaVantageParser.parse(data: SharedData.alphaVantage(file), symbol: "MSFT")
            #expect(series.records.count == 3, "\(file)")
            #expect(series.records.first?.bar?.open == 95.8456, "\(file)")
            #expect(series.events.isEmpty, "\(file)")
        }
    }

    @Test(.enabled(if: SharedData.isAvailable, SharedData.missing))
    func throttleBodiesAreThrottlesThatPauseTheFeed() throws {
        for file in ["note-rate-limit-2018_finance-quote-PR104.json", "information-rate-limit-2025_beanprice-issue124.json"] {
            let failure = error(of: try SharedData.alphaVantage("from-issue-threads/\(file)"))
            #expect(failure.code == .throttled, "\(file)")
            #expect(failure.isRetryable == false, "throttles pause the feed instead of an immediate retry")
            #expect(failure.message.contains("Thank you for using Alpha Vantage!"))
        }
        let note = try SharedData.alphaVantage("from-issue-threads/note-rate-limit-2018_finance-quote-PR104.json")
        let information = try SharedData.alphaVantage("from-issue-threads/information-rate-limit-2025_beanprice-issue124.json")
        #expect(!AlphaVantageParser.isDailyQuota(error(of: note)))
        #expect(AlphaVantageParser.isDailyQuota(error(of: information)))
    }

    @Test(.enabled(if: SharedData.isAvailable, SharedData.missing))
    func errorMessageBodiesArePermanentAPIErrors() throws {
        for file in [
            "error-message-invalid-call-FX_DAILY-2021_alpha_vantage-issue289.json", "error-message-intraday-outage-2017_stocksjs-issue13.json",
        ] {
            let failure = error(of: try SharedData.alphaVantage("from-issue-threads/\(file)"))
            #expect(failure.code == .apiError, "\(file)")
            #expect(!failure.isRetryable)
        }
        let invalid = error(
            of: try SharedData.alphaVantage("from-issue-threads/error-message-invalid-call-FX_DAILY-2021_alpha_vantage-issue289.json"))
        #expect(
            invalid.message
                == "Alpha Vantage Error Message: Invalid API call. Please retry or visit the documentation (https://www.alphavantage.co/documentation/) for FX_DAILY."
        )
    }

    @Test func premiumInformationIsPermanent() {
        let body =
            #"{"Information": "Thank you for using Alpha Vantage! This is a premium endpoint. You may subscribe to any of the premium plans."}"#
        #expect(error(of: Array(body.utf8)).code == .apiError)
    }

    @Test func dirtyFieldsBecomeRejectableRecords() throws {
        let series = try AlphaVantageParser.parse(data: OwnFixtures.bytes("alphavantage-dirty-fields.json"), symbol: "TEST")
        #expect(series.records.count == 5)
        #expect(series.records.map(\.problem) == [nil, .missingField, .unparseable, .missingField, nil])
        #expect(series.records.compactMap { $0.bar?.close } == [99.05, 101.75])
        #expect(series.records[1].raw.contains(#""5. volume":"n/a""#) == false)  // 2024-03-05: missing close
        #expect(series.records[2].raw.contains(#""5. volume":"n/a""#))
    }

    @Test func malformedBodies() {
        for body in ["", "[]", "{}", #"{"Meta Data": {}}"#, "<html>", #"{"Time Series (Daily)": 5}"#] {
            #expect(error(of: Array(body.utf8)).code == .malformedResponse, "\(body)")
        }
    }

    private func error(of body: [UInt8]) -> FeedError {
        do {
            _ = try AlphaVantageParser.parse(data: body, symbol: "MSFT")
            return FeedError(.io, "parsed")
        } catch {
            return error
        }
    }
}
