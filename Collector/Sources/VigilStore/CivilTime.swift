// Vigil collector store: month arithmetic on epoch milliseconds, for monthly partitions (no Foundation Calendar).

/// UTC month boundaries, computed with Howard Hinnant's `days_from_civil`/`civil_from_days` algorithms so that
/// partition bounds are exact integers and independent of the machine's time zone.
enum CivilTime {
    static let msPerDay: Int64 = 86_400_000

    /// The (year, month) of a UTC instant in ms since the epoch.
    static func yearMonth(ms: Int64) -> (year: Int64, month: Int64) {
        let days = floorDiv(ms, msPerDay)
        let z = days + 719_468
        let era = floorDiv(z, 146_097)
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yoe + era * 400 + (month <= 2 ? 1 : 0)
        return (year, month)
    }

    /// Milliseconds at 00:00 UTC on the first day of the month.
    static func monthStart(year: Int64, month: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = floorDiv(y, 400)
        let yoe = y - era * 400
        let mp = month > 2 ? month - 3 : month + 9
        let doy = (153 * mp + 2) / 5
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return (era * 146_097 + doe - 719_468) * msPerDay
    }

    /// The month after (year, month).
    static func next(year: Int64, month: Int64) -> (year: Int64, month: Int64) {
        month == 12 ? (year + 1, 1) : (year, month + 1)
    }

    /// A month key `yyyymm`, used in partition names.
    static func key(ms: Int64) -> Int64 {
        let (y, m) = yearMonth(ms: ms)
        return y * 100 + m
    }

    private static func floorDiv(_ a: Int64, _ b: Int64) -> Int64 {
        let q = a / b
        return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q
    }
}
