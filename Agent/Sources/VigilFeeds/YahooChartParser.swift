import Foundation
import VigilDetection

/// One parsed Yahoo chart response.
public struct YahooChart: Sendable {
    public var symbol: String
    /// Bar length from `meta.dataGranularity` (falls back to the requested interval).
    public var intervalSeconds: Int32
    /// Bars oldest first, one per non-null index of the quote arrays.
    public var records: [RawBar]
    /// Splits and dividends from `events`, oldest first.
    public var events: [CorporateEvent]
    /// Indices skipped because an entry of `open`/`high`/`low`/`close`/`volume` was `null` (or missing).
    public var nullsSkipped: Int
    /// `meta.currency` (`USD`, `EUR`, …).
    public var currency: String?
    /// `meta.exchangeTimezoneName` (`America/New_York`, `Europe/Berlin`, `UTC`).
    public var exchangeTimezone: String?
}

/// Parses Yahoo Finance chart v8 bodies (`GET /v8/finance/chart/{symbol}`): a pure function, no I/O.
///
/// Schema (see `../shared/data/api-fixtures/FIXTURES.md`): `chart.result[0]` holds `meta`, `timestamp` (unix seconds,
/// bar start) and `indicators.quote[0]` with five parallel arrays. Behaviour on the documented edge cases:
/// - an empty window has no `timestamp` and `quote: [{}]`: zero bars, not an error;
/// - a `null` at index i of any of the five arrays skips index i for all of them and is counted in `nullsSkipped`
///   (bars with no trades; yahoo-finance2 issues #429, #635);
/// - `chart.error` (`{"code":"Not Found","description":"No data found, symbol may be delisted"}`) throws
///   `FeedError(.apiError)` with the API's `code: description` as the message (the HTTP feed maps it to
///   `client_error` with the status when it came with a 4xx);
/// - anything that is not this JSON throws `FeedError(.malformedResponse)`.
/// Bar timestamps stay the source's precise bar start (daily US bars open at 13:30/14:30 UTC).
public enum YahooChartParser {
    /// - Parameters:
    ///   - data: the response body.
    ///   - symbol: the symbol the bars are attributed to (the requested one; Yahoo echoes it in `meta.symbol`).
    ///   - defaultIntervalSeconds: used when `meta.dataGranularity` is absent or unknown.
    public static func parse(data: [UInt8], symbol: String, defaultIntervalSeconds: Int32 = 86_400) throws(FeedError) -> YahooChart {
        let envelope: Envelope
        do {
            envelope = try JSONDecoder().decode(Envelope.self, from: Data(data))
        } catch {
            throw FeedError(.malformedResponse, "Yahoo chart body is not the chart v8 JSON: \(describe(error))")
        }
        if let apiError = envelope.chart.error {
            throw FeedError(.apiError, apiError.message)
        }
        guard let result = envelope.chart.result?.first else {
            throw FeedError(.malformedResponse, "Yahoo chart body has neither a result nor an error")
        }

        let interval = result.meta?.dataGranularity.flatMap(intervalSeconds(of:)) ?? defaultIntervalSeconds
        var chart = YahooChart(
            symbol: symbol,
            intervalSeconds: interval,
            records: [],
            events: [],
            nullsSkipped: 0,
            currency: result.meta?.currency,
            exchangeTimezone: result.meta?.exchangeTimezoneName
        )

        let timestamps = result.timestamp ?? []
        let quote = result.indicators?.quote?.first ?? Quote()
        chart.records.reserveCapacity(timestamps.count)
        for (index, seconds) in timestamps.enumerated() {
            guard let open = quote.open?.element(at: index), let high = quote.high?.element(at: index),
                let low = quote.low?.element(at: index), let close = quote.close?.element(at: index),
                let volume = quote.volume?.element(at: index)
            else {
                chart.nullsSkipped += 1
                continue
            }
            let bar = Bar(
                symbol: symbol,
                timestamp: seconds &* 1000,
                intervalSeconds: interval,
                open: open,
                high: high,
                low: low,
                close: close,
                volume: volume
            )
            chart.records.append(RawBar(bar: bar, raw: rawText(bar, seconds: seconds)))
        }
        // Yahoo returns ascending timestamps; sorting keeps the emission contract even if a response does not.
        let ascending = zip(chart.records, chart.records.dropFirst()).allSatisfy { ($0.bar?.timestamp ?? 0) <= ($1.bar?.timestamp ?? 0) }
        if !ascending {
            chart.records.sort { ($0.bar?.timestamp ?? 0) < ($1.bar?.timestamp ?? 0) }
        }

        for dividend in (result.events?.dividends ?? [:]).values {
            guard let date = dividend.date, let amount = dividend.amount else { continue }
            chart.events.append(CorporateEvent(symbol: symbol, timestamp: date &* 1000, kind: .dividend(amount: amount)))
        }
        for split in (result.events?.splits ?? [:]).values {
            guard let date = split.date, let numerator = split.numerator, let denominator = split.denominator, denominator != 0 else { continue }
            chart.events.append(
                CorporateEvent(symbol: symbol, timestamp: date &* 1000, kind: .split(numerator: numerator, denominator: denominator))
            )
        }
        chart.events.sort { ($0.timestamp, $0.kind.sortKey) < ($1.timestamp, $1.kind.sortKey) }
        return chart
    }

    /// The `code: description` of a Yahoo error body (`{"chart":{"result":null,"error":{…}}}`), if the body is one.
    /// Some 4xx/5xx bodies are `{"finance":{"error":{…}}}` instead; both are understood.
    public static func errorMessage(data: [UInt8]) -> String? {
        guard let envelope = try? JSONDecoder().decode(ErrorEnvelope.self, from: Data(data)) else { return nil }
        return (envelope.chart?.error ?? envelope.finance?.error)?.message
    }

    /// Seconds of a Yahoo interval name (`1m`, `5m`, `1h`, `1d`, `1wk`, `1mo`, …); months count as 30 days.
    public static func intervalSeconds(of name: String) -> Int32? {
        switch name {
        case "1m": 60
        case "2m": 120
        case "5m": 300
        case "15m": 900
        case "30m": 1_800
        case "60m", "1h": 3_600
        case "90m": 5_400
        case "1d": 86_400
        case "5d": 432_000
        case "1wk": 604_800
        case "1mo": 2_592_000
        case "3mo": 7_776_000
        default: nil
        }
    }

    /// The bar as a compact JSON object, for the dead-letter queue (the JSON APIs have no per-bar text of their own).
    static func rawText(_ bar: Bar, seconds: Int64) -> String {
        "{\"symbol\":\"\(bar.symbol)\",\"timestamp\":\(seconds),\"open\":\(bar.open),\"high\":\(bar.high),\"low\":\(bar.low),"
            + "\"close\":\(bar.close),\"volume\":\(bar.volume)}"
    }

    static func describe(_ error: any Error) -> String {
        switch error {
        case DecodingError.dataCorrupted(let context), DecodingError.keyNotFound(_, let context),
            DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context):
            let path = context.codingPath.map(\.stringValue).joined(separator: ".")
            return path.isEmpty ? context.debugDescription : "\(path): \(context.debugDescription)"
        default:
            return "\(error)"
        }
    }

    // MARK: - Schema

    struct Envelope: Decodable {
        var chart: Chart
    }

    struct ErrorEnvelope: Decodable {
        var chart: ErrorHolder?
        var finance: ErrorHolder?
    }

    struct ErrorHolder: Decodable {
        var error: APIError?
    }

    struct Chart: Decodable {
        var result: [Result]?
        var error: APIError?
    }

    struct APIError: Decodable {
        var code: String?
        var description: String?

        var message: String {
            switch (code, description) {
            case (let code?, let description?): "\(code): \(description)"
            case (let code?, nil): code
            case (nil, let description?): description
            case (nil, nil): "unspecified Yahoo error"
            }
        }
    }

    struct Result: Decodable {
        var meta: Meta?
        var timestamp: [Int64]?
        var indicators: Indicators?
        var events: Events?
    }

    struct Meta: Decodable {
        var currency: String?
        var symbol: String?
        var exchangeTimezoneName: String?
        var dataGranularity: String?
    }

    struct Indicators: Decodable {
        var quote: [Quote]?
    }

    struct Quote: Decodable {
        var open: [Double?]?
        var high: [Double?]?
        var low: [Double?]?
        var close: [Double?]?
        var volume: [Double?]?
    }

    struct Events: Decodable {
        var dividends: [String: Dividend]?
        var splits: [String: Split]?
    }

    struct Dividend: Decodable {
        var amount: Double?
        var date: Int64?
    }

    struct Split: Decodable {
        var date: Int64?
        var numerator: Double?
        var denominator: Double?
    }
}

extension CorporateEvent.Kind {
    fileprivate var sortKey: Int {
        switch self {
        case .split: 0
        case .dividend: 1
        }
    }
}

extension Array where Element == Double? {
    /// The element at `index` when it exists and is not `null`.
    fileprivate func element(at index: Int) -> Double? {
        index < count ? self[index] : nil
    }
}
