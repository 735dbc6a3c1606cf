// Data the benchmarks share: where ../shared/data is, and the sp500-daily CSVs parsed into bars.
import Foundation
import VigilDetection

/// `../shared/data` beside the repository (or `VIGIL_SHARED_DATA`): real data is read there, never copied.
public enum SharedData {
    /// The named entry of the shared data directory, or nil (with no error) when it is absent: benchmarks that need
    /// it are skipped with a message, so a fresh clone without the data still runs the rest.
    public static func directory(named name: String) -> String? {
        let environment = ProcessInfo.processInfo.environment["VIGIL_SHARED_DATA"]
        // This file is <repo>/Benchmarks/Benchmarks/BenchmarkSupport/SharedData.swift.
        var repository = URL(fileURLWithPath: #filePath)
        for _ in 0..<4 { repository.deleteLastPathComponent() }
        let besideRepository = repository.deletingLastPathComponent().appendingPathComponent("shared/data").path
        for base in [environment, besideRepository].compactMap({ $0 }) {
            let path = base + "/" + name
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue { return path }
        }
        return nil
    }
}

/// The `sp500-daily` CSVs (`date,open,high,low,close,volume,Name`), parsed before anything is measured. Empty fields
/// become NaN and stay in: the kernel repairs or rejects such bars, as it must with real feeds.
public enum SP500Daily {
    /// One array of daily bars per symbol file, in file order (time order within each).
    public static func load(from directory: String) -> [[Bar]] {
        let files = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { $0.hasSuffix("_data.csv") }.sorted()
        var series: [[Bar]] = []
        for file in files {
            guard let text = try? String(contentsOfFile: directory + "/" + file, encoding: .utf8) else { continue }
            var bars: [Bar] = []
            for line in text.split(separator: "\n").dropFirst() {
                let fields = line.split(separator: ",", omittingEmptySubsequences: false)
                guard fields.count >= 7, let timestamp = millisecondsSinceEpoch(date: fields[0]) else { continue }
                func number(_ index: Int) -> Double { Double(fields[index]) ?? .nan }
                bars.append(
                    Bar(
                        symbol: String(fields[6]), timestamp: timestamp, open: number(1), high: number(2), low: number(3),
                        close: number(4), volume: number(5)
                    )
                )
            }
            series.append(bars)
        }
        return series
    }

    /// All series merged into one stream by bar time (ties in symbol-file order): what a replay feed delivers.
    public static func merged(_ series: [[Bar]]) -> [Bar] {
        var indexed: [(bar: Bar, series: Int, row: Int)] = []
        for (seriesIndex, bars) in series.enumerated() {
            for (row, bar) in bars.enumerated() { indexed.append((bar, seriesIndex, row)) }
        }
        indexed.sort { ($0.bar.timestamp, $0.series, $0.row) < ($1.bar.timestamp, $1.series, $1.row) }
        return indexed.map(\.bar)
    }

    /// `yyyy-MM-dd` at 00:00 UTC, in milliseconds (days-from-civil; no `DateFormatter` in the loader).
    static func millisecondsSinceEpoch(date: Substring) -> Int64? {
        let parts = date.split(separator: "-")
        guard parts.count == 3, var year = Int64(parts[0]), let month = Int64(parts[1]), let day = Int64(parts[2]) else { return nil }
        year -= month <= 2 ? 1 : 0
        let era = (year >= 0 ? year : year - 399) / 400
        let yearOfEra = year - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return (era * 146_097 + dayOfEra - 719_468) * 86_400_000
    }
}
