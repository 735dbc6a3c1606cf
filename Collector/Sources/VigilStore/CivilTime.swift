// Vigil collector store: month arithmetic on epoch milliseconds, for monthly partitions (no Foundation Calendar).

import VigilDetection

/// UTC month boundaries from `CivilDate`, so that partition bounds are exact integers and independent of the machine's
/// time zone.
enum CivilTime {
    static let msPerDay: Int64 = 86_400_000

    /// The (year, month) of a UTC instant in ms since the epoch.
    static func yearMonth(ms: Int64) -> (year: Int64, month: Int64) {
        let (year, month, _) = CivilDate.civilFromDays(CivilDate.floorDiv(ms, msPerDay))
        return (year, month)
    }

    /// Milliseconds at 00:00 UTC on the first day of the month.
    static func monthStart(year: Int64, month: Int64) -> Int64 {
        CivilDate.daysFromCivil(year: year, month: month, day: 1) * msPerDay
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
}
