/// Proleptic Gregorian dates ↔ days since 1970-01-01 (Howard Hinnant's `days_from_civil` / `civil_from_days`), and
/// ISO 8601 UTC text: a handful of integer operations, no Foundation `Calendar` or time zone. The one copy the agent's
/// parsers, the collector's API, the store's monthly partitions and the benchmarks share.
public enum CivilDate {
    /// Days since 1970-01-01 (negative before).
    @inlinable
    public static func daysFromCivil(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = floorDiv(y, 400)
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    /// The date of a day count (inverse of `daysFromCivil`).
    @inlinable
    public static func civilFromDays(_ days: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let z = days + 719_468
        let era = floorDiv(z, 146_097)
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    /// `2024-03-15T14:30:00Z`, with `.123` when the instant has milliseconds or `alwaysMilliseconds` is set.
    public static func iso8601(milliseconds: Int64, alwaysMilliseconds: Bool = false) -> String {
        let ms = floorMod(milliseconds, 1000)
        let seconds = (milliseconds - ms) / 1000
        let secondOfDay = floorMod(seconds, 86_400)
        let (year, month, day) = civilFromDays((seconds - secondOfDay) / 86_400)
        var text = date(year: year, month: month, day: day)
        text += "T\(pad(secondOfDay / 3600, 2)):\(pad(secondOfDay / 60 % 60, 2)):\(pad(secondOfDay % 60, 2))"
        if ms != 0 || alwaysMilliseconds { text += ".\(pad(ms, 3))" }
        return text + "Z"
    }

    /// `yyyy-MM-dd` of the UTC day holding `milliseconds`.
    public static func isoDate(milliseconds: Int64) -> String {
        let (year, month, day) = civilFromDays(floorDiv(milliseconds, 86_400_000))
        return date(year: year, month: month, day: day)
    }

    private static func date(year: Int64, month: Int64, day: Int64) -> String {
        "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))"
    }

    private static func pad(_ value: Int64, _ width: Int) -> String {
        let text = String(value)
        return text.count >= width ? text : String(repeating: "0", count: width - text.count) + text
    }

    @inlinable
    public static func floorDiv(_ a: Int64, _ b: Int64) -> Int64 {
        let q = a / b
        return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q
    }

    static func floorMod(_ a: Int64, _ b: Int64) -> Int64 { a - floorDiv(a, b) * b }
}
