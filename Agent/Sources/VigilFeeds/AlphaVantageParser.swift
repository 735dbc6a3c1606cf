import Foundation
import VigilDetection

/// One parsed Alpha Vantage time series.
public struct AlphaVantageSeries: Sendable {
    public var symbol: String
    public var intervalSeconds: Int32
    /// Records oldest first (Alpha Vantage sends newest first).
    public var records: [RawBar]
    /// Dividends (`7. dividend amount` ≠ 0) and splits (`8. split coefficient` ≠ 1) of adjusted series.
    public var events: [CorporateEvent]
    /// `Meta Data` `Last Refreshed`, as sent.
    public var lastRefreshed: String?
    /// The bar-open time of each record (also of records that failed to parse); `nil` when the date itself is
    /// unreadable. Lets a polling feed tell new records from ones it already emitted.
    public var recordTimestamps: [Int64?] = []
}

/// Parses Alpha Vantage `TIME_SERIES_DAILY`, `TIME_SERIES_DAILY_ADJUSTED` and `TIME_SERIES_INTRADAY` JSON bodies: a
/// pure function, no I/O.
///
/// Alpha Vantage answers HTTP 200 to everything, so the body decides (RomelTorres/alpha_vantage issue #248):
/// - `{"Error Message": …}` (unknown symbol, bad parameters, an outage of one function) → `FeedError(.apiError)`:
///   permanent, retrying the same call cannot help;
/// - `{"Note": …}` (per-minute throttle, 2018+) and `{"Information": …}` (throttle and daily quota, 2024+) →
///   `FeedError(.throttled)`: retryable, but only after a pause — the HTTP feed pauses instead of retrying at once;
///   an `Information` about a *premium endpoint* is an `.apiError` (no pause makes it work);
/// - otherwise a `Time Series (…)` object keyed by date; numbers are JSON strings (`"101.0924"`).
///
/// Timestamps: daily dates become 00:00 UTC of the session date (the `Bar` convention). Intraday labels are local
/// times in `Meta Data` `Time Zone` (US/Eastern) and mark the bar's *end*: in the real 1-minute capture there are
/// bars at 20:00 but none at 04:00 (the extended session is 04:00–20:00), and the opening cross (6.5M shares on
/// 2020-12-18) is in the bar labelled 09:31. So the bar open is label − interval, converted to UTC.
///
/// A record with an empty/absent field becomes a `RawBar` with `missing_field`, a non-numeric one `unparseable`:
/// the normalizer dead-letters it; the rest of the series still flows.
public enum AlphaVantageParser {
    public static func parse(data: [UInt8], symbol: String) throws(FeedError) -> AlphaVantageSeries {
        let body: Body
        do {
            body = try JSONDecoder().decode(Body.self, from: Data(data))
        } catch {
            throw FeedError(.malformedResponse, "Alpha Vantage body is not JSON: \(YahooChartParser.describe(error))")
        }
        if let message = body.errorMessage {
            throw FeedError(.apiError, "Alpha Vantage Error Message: \(message)")
        }
        guard let series = body.series else {
            if let note = body.note {
                throw FeedError(.throttled, "\(notePrefix)\(note)")
            }
            if let information = body.information {
                if information.lowercased().contains("this is a premium endpoint") {
                    throw FeedError(.apiError, "\(informationPrefix)\(information)")
                }
                throw FeedError(.throttled, "\(informationPrefix)\(information)")
            }
            throw FeedError(.malformedResponse, "Alpha Vantage body has no time series (keys: \(body.keys.sorted().joined(separator: ", ")))")
        }

        let meta = body.meta ?? [:]
        let zoneName = meta.first { $0.key.hasSuffix("Time Zone") }?.value ?? "US/Eastern"
        let zone = MarketTime.Zone(identifier: zoneName) ?? .usEastern
        let intervalName = seriesInterval(body.seriesKey) ?? meta.first { $0.key.hasSuffix("Interval") }?.value
        let isIntraday = intervalName.map { $0.hasSuffix("min") } ?? false
        let interval: Int32 = isIntraday ? (intervalName.flatMap(intervalSeconds(of:)) ?? 60) : seriesIntervalSeconds(body.seriesKey)

        var result = AlphaVantageSeries(
            symbol: symbol,
            intervalSeconds: interval,
            records: [],
            events: [],
            lastRefreshed: meta.first { $0.key.hasSuffix("Last Refreshed") }?.value
        )
        var dated: [(Int64, RawBar)] = []
        dated.reserveCapacity(series.count)
        for (label, fields) in series {
            let raw = rawText(label: label, fields: fields)
            guard let local = MarketTime.parse(label) else {
                dated.append((Int64.max, RawBar(problem: .unparseable, raw: raw)))
                continue
            }
            let timestamp =
                isIntraday ? local.epochMillis(in: zone) - Int64(interval) * 1000 : local.epochMillis(in: .utc)
            var values: [String: Double] = [:]
            var problem: RejectReason?
            for name in ["open", "high", "low", "close", "volume"] {
                switch number(fields, name) {
                case .value(let value): values[name] = value
                case .missing: problem = problem ?? .missingField
                case .unparseable: problem = problem ?? .unparseable
                }
            }
            if let problem {
                dated.append((timestamp, RawBar(problem: problem, raw: raw)))
                continue
            }
            let bar = Bar(
                symbol: symbol,
                timestamp: timestamp,
                intervalSeconds: interval,
                open: values["open", default: .nan],
                high: values["high", default: .nan],
                low: values["low", default: .nan],
                close: values["close", default: .nan],
                volume: values["volume", default: .nan]
            )
            dated.append((timestamp, RawBar(bar: bar, raw: raw)))
            if case .value(let amount) = number(fields, "dividend amount"), amount != 0, amount.isFinite {
                result.events.append(CorporateEvent(symbol: symbol, timestamp: timestamp, kind: .dividend(amount: amount)))
            }
            if case .value(let coefficient) = number(fields, "split coefficient"), coefficient != 1, coefficient > 0, coefficient.isFinite {
                result.events.append(CorporateEvent(symbol: symbol, timestamp: timestamp, kind: .split(numerator: coefficient, denominator: 1)))
            }
        }
        // Newest first on the wire; the pipeline wants oldest first. Stable for equal keys so duplicates stay visible.
        dated.sort { $0.0 < $1.0 }
        result.records = dated.map(\.1)
        result.recordTimestamps = dated.map { $0.0 == Int64.max ? nil : $0.0 }
        result.events.sort { $0.timestamp < $1.timestamp }
        return result
    }

    static let notePrefix = "Alpha Vantage Note: "
    static let informationPrefix = "Alpha Vantage Information: "

    /// Whether a `throttled` error is the daily quota (an `Information` body naming the day: "25 requests per day")
    /// rather than the per-minute throttle. A `Note` names both limits ("5 calls per minute and 500 calls per day")
    /// and is the per-minute one.
    public static func isDailyQuota(_ error: FeedError) -> Bool {
        guard error.code == .throttled, error.message.hasPrefix(informationPrefix) else { return false }
        let text = error.message.lowercased()
        return text.contains("per day") || text.contains("daily")
    }

    /// `1min` → 60, `5min` → 300, … `60min` → 3600.
    public static func intervalSeconds(of name: String) -> Int32? {
        guard name.hasSuffix("min"), let minutes = Int32(name.dropLast(3)), minutes > 0, minutes <= 1440 else { return nil }
        return minutes * 60
    }

    static func seriesInterval(_ key: String?) -> String? {
        // "Time Series (1min)" → "1min"; "Time Series (Daily)" → "Daily".
        guard let key, let open = key.firstIndex(of: "("), let close = key.lastIndex(of: ")"), open < close else { return nil }
        return String(key[key.index(after: open)..<close])
    }

    static func seriesIntervalSeconds(_ key: String?) -> Int32 {
        switch seriesInterval(key)?.lowercased() {
        case "weekly": 604_800
        case "monthly": 2_592_000
        default: 86_400
        }
    }

    enum NumberField {
        case value(Double)
        case missing
        case unparseable
    }

    /// The field whose key ends in `. <name>` (`"1. open"`, `"5. adjusted close"`), as a number.
    static func number(_ fields: [String: Lenient], _ name: String) -> NumberField {
        guard let entry = fields.first(where: { $0.key == name || $0.key.hasSuffix(". \(name)") }) else { return .missing }
        switch entry.value {
        case .number(let value): return .value(value)
        case .null: return .missing
        case .other: return .unparseable
        case .string(let text):
            let trimmed = text.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty || trimmed == "-" || trimmed.lowercased() == "none" { return .missing }
            guard let value = DecimalParser.parse(trimmed) else { return .unparseable }
            return .value(value)
        }
    }

    /// `{"2018-06-08":{"1. open":"101.0924",…}}`: the record as it stood in the response, keys sorted for stability.
    static func rawText(label: String, fields: [String: Lenient]) -> String {
        var text = ""
        DeadLetterQueue.appendJSONString(label, to: &text)
        text += ":{"
        for (index, key) in fields.keys.sorted().enumerated() {
            if index > 0 { text += "," }
            DeadLetterQueue.appendJSONString(key, to: &text)
            text += ":"
            switch fields[key] ?? .null {
            case .string(let value): DeadLetterQueue.appendJSONString(value, to: &text)
            case .number(let value): text += "\(value)"
            case .null: text += "null"
            case .other: text += "\"<non-scalar>\""
            }
        }
        return "{" + text + "}}"
    }

    // MARK: - Schema

    /// A field value as Alpha Vantage might send it: normally a string, defensively a number, null or anything else.
    enum Lenient: Decodable {
        case string(String)
        case number(Double)
        case null
        case other

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if container.decodeNil() {
                self = .null
            } else if let text = try? container.decode(String.self) {
                self = .string(text)
            } else if let value = try? container.decode(Double.self) {
                self = .number(value)
            } else {
                self = .other
            }
        }
    }

    struct Body: Decodable {
        var keys: [String] = []
        var meta: [String: String]?
        var seriesKey: String?
        var series: [String: [String: Lenient]]?
        var note: String?
        var information: String?
        var errorMessage: String?

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: ConfigKeys.AnyKey.self)
            keys = container.allKeys.map(\.stringValue)
            for key in container.allKeys {
                switch key.stringValue {
                case "Meta Data":
                    meta = try? container.decode([String: String].self, forKey: key)
                case "Note":
                    note = (try? container.decode(String.self, forKey: key)) ?? "(non-text Note)"
                case "Information":
                    information = (try? container.decode(String.self, forKey: key)) ?? "(non-text Information)"
                case "Error Message":
                    errorMessage = (try? container.decode(String.self, forKey: key)) ?? "(non-text Error Message)"
                case let name where name.hasPrefix("Time Series"):
                    seriesKey = name
                    series = try container.decode([String: [String: Lenient]].self, forKey: key)
                default:
                    continue
                }
            }
        }
    }
}
