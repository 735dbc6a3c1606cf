import Foundation
import VigilDetection

/// How the rows of a bar CSV are read, detected from its header line.
///
/// Columns are found by name (case-insensitive, any order): a time column (`date`, `time`, `timestamp`, `datetime`),
/// `open`, `high`, `low`, `close`, `volume`, and optionally a symbol column (`name`, `symbol`, `ticker`). That covers
/// `../shared/data/sp500-daily` (`date,open,high,low,close,volume,Name`) and Alpha Vantage's intraday CSV
/// (`time,open,high,low,close,volume`, no symbol column: the symbol comes from the file name).
public struct CSVBarFormat: Sendable, Hashable {
    public var timeColumn: Int
    public var openColumn: Int
    public var highColumn: Int
    public var lowColumn: Int
    public var closeColumn: Int
    public var volumeColumn: Int
    public var symbolColumn: Int?
    public var columnCount: Int

    /// Detects the format from a header line; `nil` when the header does not name the bar columns (e.g. the
    /// `MANIFEST.csv` next to the sp500 files), so a directory replay can skip such files.
    public init?(header: String) {
        let names = header.split(separator: ",", omittingEmptySubsequences: false).map {
            $0.trimmingCharacters(in: CharacterSet(charactersIn: " \t\r\"\u{FEFF}")).lowercased()
        }
        func column(_ candidates: [String]) -> Int? { names.firstIndex { candidates.contains($0) } }
        guard let time = column(["date", "time", "timestamp", "datetime"]), let open = column(["open"]), let high = column(["high"]),
            let low = column(["low"]), let close = column(["close"]), let volume = column(["volume"])
        else { return nil }
        timeColumn = time
        openColumn = open
        highColumn = high
        lowColumn = low
        closeColumn = close
        volumeColumn = volume
        symbolColumn = column(["name", "symbol", "ticker"])
        columnCount = names.count
    }
}

/// How the local times of a CSV are turned into bar-open instants.
public struct CSVTimeConvention: Sendable, Hashable {
    /// The zone of date-time values. Date-only values are always 00:00 UTC of that date (the `Bar` convention).
    public var zone: MarketTime.Zone
    /// Whether a date-time labels the bar's end (Alpha Vantage) rather than its start.
    public var labelsBarEnd: Bool
    /// Bar length for date-time rows; date-only rows are daily bars.
    public var intervalSeconds: Int32

    public init(zone: MarketTime.Zone = .usEastern, labelsBarEnd: Bool = true, intervalSeconds: Int32 = 60) {
        self.zone = zone
        self.labelsBarEnd = labelsBarEnd
        self.intervalSeconds = intervalSeconds
    }
}

/// One bar CSV file in memory, read record by record in time order (oldest first), whichever order the file has.
///
/// The whole file is read as bytes (the largest real file, the 11,190-row intraday capture, is 600 KB) and rows are
/// parsed lazily from the byte buffer as the replay asks for them, so a replay never holds more than the files' text
/// plus one output chunk. A file in descending order (Alpha Vantage, newest first) is walked backwards.
struct CSVBarFile: Sendable {
    let path: String
    let symbol: String
    let format: CSVBarFormat
    let convention: CSVTimeConvention
    private let bytes: [UInt8]
    /// Start offsets of the data lines (not the header), in file order.
    private let lineStarts: [Int]
    private let descending: Bool
    private var position = 0
    /// Field ranges of the row being parsed, reused across rows.
    private var scratch: [Range<Int>] = []
    private let maxRequiredColumn: Int
    /// Timestamp of the last row that had one; rows with unreadable times inherit it so they keep their place.
    private var lastTimestamp: Int64 = Int64.min

    /// The number of data rows.
    var rowCount: Int { lineStarts.count }
    /// Whether every row has been read.
    var isExhausted: Bool { position >= lineStarts.count }

    /// Loads and indexes a file.
    /// - Throws: `FeedError(.io)` when the file cannot be read; returns `nil` when it is not a bar CSV.
    init?(path: String, symbol: String? = nil, convention: CSVTimeConvention) throws(FeedError) {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw FeedError(.io, "cannot read replay file \(path)")
        }
        try self.init(bytes: [UInt8](data), path: path, symbol: symbol, convention: convention)
    }

    init?(bytes: [UInt8], path: String, symbol: String? = nil, convention: CSVTimeConvention) throws(FeedError) {
        var starts: [Int] = []
        var headerEnd: Int?
        var index = 0
        var lineStart = 0
        let count = bytes.count
        while index <= count {
            if index == count || bytes[index] == 10 {
                if headerEnd == nil {
                    headerEnd = index
                } else if index > lineStart && !(index == lineStart + 1 && bytes[lineStart] == 13) {
                    starts.append(lineStart)
                }
                lineStart = index + 1
            }
            index += 1
        }
        let header = String(decoding: bytes[0..<(headerEnd ?? 0)], as: UTF8.self)
        guard let format = CSVBarFormat(header: header) else { return nil }
        self.path = path
        self.bytes = bytes
        self.lineStarts = starts
        self.format = format
        self.convention = convention
        self.symbol = symbol ?? CSVBarFile.symbol(fromPath: path)
        self.maxRequiredColumn =
            [
                format.timeColumn, format.openColumn, format.highColumn, format.lowColumn, format.closeColumn, format.volumeColumn,
            ].max() ?? 0
        self.scratch.reserveCapacity(format.columnCount + 1)
        // Order from the first and last readable time: files are sorted one way or the other as a whole.
        var first: Int64?
        var last: Int64?
        for start in starts {
            if let time = CSVBarFile.timestamp(bytes: bytes, lineStart: start, format: format, convention: convention) {
                first = time
                break
            }
        }
        for start in starts.reversed() {
            if let time = CSVBarFile.timestamp(bytes: bytes, lineStart: start, format: format, convention: convention) {
                last = time
                break
            }
        }
        self.descending = (first ?? 0) > (last ?? 0)
    }

    /// `AAPL_data.csv` → `AAPL`; `MSFT_1min_2020-11-23_….csv` → `MSFT`; `BRK.B.csv` → `BRK.B`.
    static func symbol(fromPath path: String) -> String {
        var base = (path as NSString).lastPathComponent
        if base.lowercased().hasSuffix(".csv") { base = String(base.dropLast(4)) }
        return String(base.split(separator: "_", maxSplits: 1).first ?? Substring(base))
    }

    /// The interval named in a file name (`…_1min_…` → 60, `…_5min_…` → 300), if any.
    static func intervalSeconds(fromPath path: String) -> Int32? {
        let base = (path as NSString).lastPathComponent.lowercased()
        for token in base.split(whereSeparator: { $0 == "_" || $0 == "." || $0 == "-" }) {
            if let seconds = AlphaVantageParser.intervalSeconds(of: String(token)) { return seconds }
        }
        return nil
    }

    /// The next record in time order with its timestamp (for merging), or `nil` at the end.
    mutating func next() -> (timestamp: Int64, record: RawBar)? {
        guard position < lineStarts.count else { return nil }
        let lineIndex = descending ? lineStarts.count - 1 - position : position
        position += 1
        let (timestamp, record) = parseLine(at: lineStarts[lineIndex])
        if let timestamp { lastTimestamp = timestamp }
        return (timestamp ?? lastTimestamp, record)
    }

    // MARK: - Row parsing

    private static func lineEnd(bytes: [UInt8], from start: Int) -> Int {
        var end = start
        while end < bytes.count && bytes[end] != 10 { end += 1 }
        if end > start && bytes[end - 1] == 13 { end -= 1 }
        return end
    }

    /// Field ranges of a line (commas; surrounding double quotes are stripped).
    private static func fields(bytes: [UInt8], start: Int, end: Int, into ranges: inout [Range<Int>]) {
        ranges.removeAll(keepingCapacity: true)
        var fieldStart = start
        var index = start
        while index <= end {
            if index == end || bytes[index] == 44 {
                var lower = fieldStart
                var upper = index
                while lower < upper && bytes[lower] == 32 { lower += 1 }
                while upper > lower && bytes[upper - 1] == 32 { upper -= 1 }
                if upper - lower >= 2 && bytes[lower] == 34 && bytes[upper - 1] == 34 {
                    lower += 1
                    upper -= 1
                }
                ranges.append(lower..<upper)
                fieldStart = index + 1
            }
            index += 1
        }
    }

    private static func timestamp(bytes: [UInt8], lineStart: Int, format: CSVBarFormat, convention: CSVTimeConvention) -> Int64? {
        let end = lineEnd(bytes: bytes, from: lineStart)
        var ranges: [Range<Int>] = []
        fields(bytes: bytes, start: lineStart, end: end, into: &ranges)
        guard format.timeColumn < ranges.count else { return nil }
        return time(bytes[ranges[format.timeColumn]], convention: convention)?.timestamp
    }

    private static func time(_ text: ArraySlice<UInt8>, convention: CSVTimeConvention) -> (timestamp: Int64, intervalSeconds: Int32)? {
        guard let local = MarketTime.parse(text) else { return nil }
        guard local.hasTime else { return (local.epochMillis(in: .utc), BarInterval.oneDay) }
        let labelled = local.epochMillis(in: convention.zone)
        let interval = convention.intervalSeconds
        return (convention.labelsBarEnd ? labelled - Int64(interval) * 1000 : labelled, interval)
    }

    private mutating func parseLine(at start: Int) -> (Int64?, RawBar) {
        let end = CSVBarFile.lineEnd(bytes: bytes, from: start)
        let raw = String(decoding: bytes[start..<end], as: UTF8.self)
        CSVBarFile.fields(bytes: bytes, start: start, end: end, into: &scratch)
        let ranges = scratch
        guard maxRequiredColumn < ranges.count else {
            return (nil, RawBar(problem: ranges.count <= 1 ? .unparseable : .missingField, raw: raw))
        }
        let timeRange = ranges[format.timeColumn]
        guard !timeRange.isEmpty else { return (nil, RawBar(problem: .missingField, raw: raw)) }
        guard let (timestamp, interval) = CSVBarFile.time(bytes[timeRange], convention: convention) else {
            return (nil, RawBar(problem: .unparseable, raw: raw))
        }
        var values = (open: 0.0, high: 0.0, low: 0.0, close: 0.0, volume: 0.0)
        var problem: RejectReason?
        bytes.withUnsafeBufferPointer { buffer in
            func number(_ column: Int) -> Double {
                let range = ranges[column]
                if range.isEmpty {
                    problem = problem ?? .missingField
                    return .nan
                }
                guard let value = DecimalParser.parse(UnsafeBufferPointer(rebasing: buffer[range])) else {
                    problem = problem ?? .unparseable
                    return .nan
                }
                return value
            }
            values = (
                number(format.openColumn), number(format.highColumn), number(format.lowColumn), number(format.closeColumn),
                number(format.volumeColumn)
            )
        }
        if let problem { return (timestamp, RawBar(problem: problem, raw: raw)) }
        var symbol = self.symbol
        if let column = format.symbolColumn, column < ranges.count, !ranges[column].isEmpty {
            let range = ranges[column]
            // Reuse the file's symbol string when the column repeats it (it always does in sp500-daily): no allocation.
            if !bytes[range].elementsEqual(symbol.utf8) { symbol = String(decoding: bytes[range], as: UTF8.self) }
        }
        let bar = Bar(
            symbol: symbol,
            timestamp: timestamp,
            intervalSeconds: interval,
            open: values.open,
            high: values.high,
            low: values.low,
            close: values.close,
            volume: values.volume
        )
        return (timestamp, RawBar(bar: bar, raw: raw))
    }
}
