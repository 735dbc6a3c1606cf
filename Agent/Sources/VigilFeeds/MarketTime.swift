import Foundation
import VigilDetection

/// Calendar arithmetic for source timestamps, without Foundation's `Calendar` on the hot path.
///
/// Replay parses hundreds of thousands of `YYYY-MM-DD` dates; `CivilDate` (Howard Hinnant's
/// `days_from_civil`) is a handful of integer operations. US/Eastern — the time zone of every Alpha Vantage series
/// and of the intraday CSV — is built in (US DST rules since 1987), so a static agent binary needs no tzdata for it.
public enum MarketTime {
    /// Days since 1970-01-01 for a proleptic Gregorian date.
    public static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        Int(CivilDate.daysFromCivil(year: Int64(year), month: Int64(month), day: Int64(day)))
    }

    /// Day of week, 0 = Sunday.
    static func weekday(daysSinceEpoch days: Int) -> Int {
        ((days % 7) + 7 + 4) % 7
    }

    static func isLeap(_ year: Int) -> Bool { (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 }

    static func daysInMonth(year: Int, month: Int) -> Int {
        switch month {
        case 2: isLeap(year) ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// The day of month of the `n`-th (1-based) Sunday of a month, or of the last one when `n` is 0.
    static func sunday(year: Int, month: Int, n: Int) -> Int {
        if n == 0 {
            let last = daysInMonth(year: year, month: month)
            let weekday = weekday(daysSinceEpoch: daysFromCivil(year: year, month: month, day: last))
            return last - weekday
        }
        let first = weekday(daysSinceEpoch: daysFromCivil(year: year, month: month, day: 1))
        return 1 + (7 - first) % 7 + (n - 1) * 7
    }

    /// The UTC offset of US/Eastern, in seconds, at a local wall-clock time (-4 h in daylight time, -5 h otherwise).
    ///
    /// US rules: since 2007 DST runs from the second Sunday of March 02:00 to the first Sunday of November 02:00;
    /// 1987–2006 from the first Sunday of April to the last Sunday of October. In the repeated hour of the fall-back
    /// night the earlier (daylight) reading is used; markets are closed then.
    public static func easternOffsetSeconds(year: Int, month: Int, day: Int, hour: Int) -> Int {
        let (startMonth, startDay, endMonth, endDay): (Int, Int, Int, Int) =
            year >= 2007
            ? (3, sunday(year: year, month: 3, n: 2), 11, sunday(year: year, month: 11, n: 1))
            : (4, sunday(year: year, month: 4, n: 1), 10, sunday(year: year, month: 10, n: 0))
        let local = (month, day, hour)
        let afterStart = local >= (startMonth, startDay, 2)
        let beforeEnd = local < (endMonth, endDay, 2)
        return afterStart && beforeEnd ? -4 * 3600 : -5 * 3600
    }

    /// A time zone a source reports its local times in.
    public enum Zone: Sendable, Hashable {
        case utc
        case usEastern
        /// Any other IANA zone, resolved through Foundation (needs tzdata on the host).
        case other(TimeZone)

        /// Parses a zone name: `UTC`/`GMT`, `US/Eastern`/`America/New_York`, or any IANA identifier Foundation knows.
        public init?(identifier: String) {
            switch identifier.lowercased() {
            case "utc", "gmt", "z", "etc/utc": self = .utc
            case "us/eastern", "america/new_york", "est5edt", "eastern": self = .usEastern
            default:
                guard let zone = TimeZone(identifier: identifier) else { return nil }
                self = .other(zone)
            }
        }

        /// Milliseconds since the epoch of a local wall-clock time in this zone.
        public func epochMillis(year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int) -> Int64 {
            let days = MarketTime.daysFromCivil(year: year, month: month, day: day)
            let localSeconds = Int64(days) * 86_400 + Int64(hour * 3600 + minute * 60 + second)
            let offset: Int
            switch self {
            case .utc:
                offset = 0
            case .usEastern:
                offset = MarketTime.easternOffsetSeconds(year: year, month: month, day: day, hour: hour)
            case .other(let zone):
                // Guess with the offset at the local time read as UTC, then correct once (enough away from transitions).
                let guess = zone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(localSeconds)))
                offset = zone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(localSeconds - Int64(guess))))
            }
            return (localSeconds - Int64(offset)) * 1000
        }
    }

    /// A parsed `YYYY-MM-DD` or `YYYY-MM-DD HH:MM[:SS]` (also with a `T` separator).
    public struct LocalDateTime: Sendable, Hashable {
        public var year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int
        /// Whether the text carried a time of day.
        public var hasTime: Bool

        public func epochMillis(in zone: Zone) -> Int64 {
            zone.epochMillis(year: year, month: month, day: day, hour: hour, minute: minute, second: second)
        }
    }

    /// Parses a date or date-time from ASCII bytes; `nil` when the text is not one.
    public static func parse(_ bytes: some Collection<UInt8>) -> LocalDateTime? {
        var iterator = bytes.makeIterator()
        var count = 0

        func number(_ digits: Int) -> Int? {
            var value = 0
            for _ in 0..<digits {
                guard let byte = iterator.next(), byte >= 48, byte <= 57 else { return nil }
                value = value * 10 + Int(byte - 48)
                count += 1
            }
            return value
        }
        func expect(_ allowed: Set<UInt8>) -> Bool {
            guard let byte = iterator.next(), allowed.contains(byte) else { return false }
            count += 1
            return true
        }

        guard let year = number(4), expect([45]), let month = number(2), expect([45]), let day = number(2) else { return nil }
        guard (1...12).contains(month), day >= 1, day <= daysInMonth(year: year, month: month) else { return nil }
        var result = LocalDateTime(year: year, month: month, day: day, hour: 0, minute: 0, second: 0, hasTime: false)
        guard count < bytes.count else { return result }
        guard expect([32, 84]), let hour = number(2), expect([58]), let minute = number(2) else { return nil }
        result.hour = hour
        result.minute = minute
        result.hasTime = true
        if count < bytes.count {
            guard expect([58]), let second = number(2) else { return nil }
            result.second = second
        }
        guard count == bytes.count, hour < 24, minute < 60, result.second < 61 else { return nil }
        return result
    }

    public static func parse(_ text: String) -> LocalDateTime? {
        parse(Array(text.utf8))
    }

    /// ISO 8601 UTC with milliseconds (`2024-05-01T12:00:00.000Z`) for dead-letter timestamps.
    public static func iso8601(millis: Int64) -> String {
        CivilDate.iso8601(milliseconds: millis, alwaysMilliseconds: true)
    }

    /// Inverse of `daysFromCivil`.
    static func civilFromDays(_ days: Int) -> (year: Int, month: Int, day: Int) {
        let (year, month, day) = CivilDate.civilFromDays(Int64(days))
        return (Int(year), Int(month), Int(day))
    }
}

/// Fast decimal parsing from ASCII bytes for CSV replay and Alpha Vantage's numbers-as-strings.
enum DecimalParser {
    private static let powersOfTen: [Double] = (0...22).map { pow(10, Double($0)) }

    /// Parses `[+-]digits[.digits][e[+-]digits]` (also `nan`/`inf` spelled as Swift's `Double` accepts them).
    /// Up to 15 significant digits without an exponent are computed exactly (integer mantissa ÷ an exact power of
    /// ten is correctly rounded); anything else falls back to the standard library's parser.
    static func parse(_ bytes: UnsafeBufferPointer<UInt8>) -> Double? {
        guard !bytes.isEmpty else { return nil }
        var index = 0
        var negative = false
        if bytes[0] == 45 || bytes[0] == 43 {
            negative = bytes[0] == 45
            index = 1
        }
        var mantissa: UInt64 = 0
        var significant = 0
        var fractionDigits = 0
        var sawDigit = false
        var sawDot = false
        var fast = true
        while index < bytes.count {
            let byte = bytes[index]
            if byte >= 48 && byte <= 57 {
                guard significant < 15 else {
                    fast = false
                    break
                }
                sawDigit = true
                mantissa = mantissa * 10 + UInt64(byte - 48)
                if mantissa != 0 { significant += 1 }
                if sawDot { fractionDigits += 1 }
            } else if byte == 46 && !sawDot {
                sawDot = true
            } else {
                fast = false
                break
            }
            index += 1
        }
        if fast && sawDigit && fractionDigits <= 22 {
            let value = Double(mantissa) / powersOfTen[fractionDigits]
            return negative ? -value : value
        }
        return Double(String(decoding: bytes, as: UTF8.self))
    }

    static func parse(_ text: String) -> Double? {
        var text = text
        return text.withUTF8 { parse($0) }
    }
}
