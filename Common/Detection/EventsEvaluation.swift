/// A dated market event from an events file (`date,symbols,kind,description,...`, symbols `ALL` or `A;B;C`).
public struct MarketEvent: Sendable, Hashable, Codable {
    public var date: String
    /// Empty for a market-wide event (`ALL`).
    public var symbols: [String]
    public var kind: String
    public var description: String

    public var isMarketWide: Bool { symbols.isEmpty }

    public init(date: String, symbols: [String], kind: String, description: String) {
        self.date = date
        self.symbols = symbols
        self.kind = kind
        self.description = description
    }

    /// Parses an events CSV (RFC 4180 quoting). Throws a message naming the line for anything it cannot read.
    public static func parse(csv text: String) throws(EventsFileError) -> [MarketEvent] {
        let rows = CSVRows.parse(text)
        guard let header = rows.first else { throw EventsFileError(message: "empty events file") }
        guard let date = header.firstIndex(of: "date"), let symbols = header.firstIndex(of: "symbols") else {
            throw EventsFileError(message: "events file needs date and symbols columns, has \(header.joined(separator: ","))")
        }
        let kind = header.firstIndex(of: "kind")
        let description = header.firstIndex(of: "description")
        var events: [MarketEvent] = []
        for (number, row) in rows.dropFirst().enumerated() where !(row.count == 1 && row[0].isEmpty) {
            guard row.count > max(date, symbols) else { throw EventsFileError(message: "line \(number + 2): too few columns") }
            let day = row[date]
            guard day.count == 10, day.split(separator: "-").count == 3 else {
                throw EventsFileError(message: "line \(number + 2): date must be YYYY-MM-DD, got \(day)")
            }
            let list = row[symbols] == "ALL" ? [] : row[symbols].split(separator: ";").map(String.init)
            events.append(
                MarketEvent(
                    date: day, symbols: list, kind: kind.flatMap { $0 < row.count ? row[$0] : nil } ?? "",
                    description: description.flatMap { $0 < row.count ? row[$0] : nil } ?? ""))
        }
        return events
    }
}

public struct EventsFileError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

/// Scores flags against dated events, with the rules of `../shared/tools/events_eval.py` so both agree:
/// a single-stock event is found when every listed symbol is flagged within ±1 trading day; a market-wide event when
/// its date ranks in the top 2 % of trading days by the number of symbols flagged.
public struct EventsEvaluation: Sendable {
    public struct Result: Sendable, Hashable, Codable {
        public var date: String
        public var symbols: String
        public var kind: String
        public var hit: Bool
        public var why: String?
        public var missed: [String]?
        public var rank: Int?
        public var flagged: Int?
    }

    public private(set) var results: [Result] = []
    public private(set) var flaggedBars = 0
    public private(set) var bars = 0
    /// Flagged bars per symbol-month (21 trading days).
    public private(set) var flagsPerSymbolMonth = 0.0

    public var hits: Int { results.filter(\.hit).count }
    public var recall: Double { results.isEmpty ? 0 : Double(hits) / Double(results.count) }
    public var missed: [Result] { results.filter { !$0.hit } }

    /// - Parameters:
    ///   - barDays: per symbol, the days (YYYY-MM-DD) it has a bar.
    ///   - flaggedDays: per day, the symbols flagged that day.
    public init(events: [MarketEvent], barDays: [String: Set<String>], flaggedDays: [String: Set<String>]) {
        var allDays = Set<String>()
        for days in barDays.values { allDays.formUnion(days) }
        let days = allDays.sorted()
        var index: [String: Int] = [:]
        for (i, day) in days.enumerated() { index[day] = i }
        let counts = days.map { (count: flaggedDays[$0]?.count ?? 0, day: $0) }.sorted { ($0.count, $0.day) > ($1.count, $1.day) }
        var rank: [String: Int] = [:]
        for (i, entry) in counts.enumerated() { rank[entry.day] = i + 1 }
        let top = max(1, Int(0.02 * Double(days.count)))
        for event in events {
            let label = event.isMarketWide ? "ALL" : event.symbols.joined(separator: ";")
            guard let i = index[event.date] else {
                results.append(Result(date: event.date, symbols: label, kind: event.kind, hit: false, why: "date not in the data"))
                continue
            }
            if event.isMarketWide {
                let r = rank[event.date] ?? Int.max
                results.append(
                    Result(date: event.date, symbols: label, kind: event.kind, hit: r <= top, rank: r, flagged: flaggedDays[event.date]?.count ?? 0))
            } else {
                let near = days[max(0, i - 1)...min(days.count - 1, i + 1)]
                let miss = event.symbols.filter { symbol in !near.contains { flaggedDays[$0]?.contains(symbol) ?? false } }
                results.append(Result(date: event.date, symbols: label, kind: event.kind, hit: miss.isEmpty, missed: miss.isEmpty ? nil : miss))
            }
        }
        bars = barDays.values.reduce(0) { $0 + $1.count }
        flaggedBars = flaggedDays.values.reduce(0) { $0 + $1.count }
        let symbolMonths = Double(bars) / 21
        flagsPerSymbolMonth = symbolMonths > 0 ? Double(flaggedBars) / symbolMonths : 0
    }
}

/// Minimal RFC 4180 reader: quoted fields with "" escapes and embedded commas/newlines.
enum CSVRows {
    static func parse(_ text: String) -> [[String]] {
        var rows: [[String]] = []
        var row: [String] = []
        var field = ""
        var quoted = false
        var iterator = text.unicodeScalars.makeIterator()
        var pending: Unicode.Scalar? = nil
        while let c = pending ?? iterator.next() {
            pending = nil
            if quoted {
                if c == "\"" {
                    if let next = iterator.next() {
                        if next == "\"" { field.unicodeScalars.append("\"") } else { quoted = false; pending = next }
                    } else {
                        quoted = false
                    }
                } else {
                    field.unicodeScalars.append(c)
                }
                continue
            }
            switch c {
            case "\"": quoted = true
            case ",":
                row.append(field)
                field = ""
            case "\n":
                row.append(field)
                rows.append(row)
                row = []
                field = ""
            case "\r": break
            default: field.unicodeScalars.append(c)
            }
        }
        if !field.isEmpty || !row.isEmpty {
            row.append(field)
            rows.append(row)
        }
        return rows
    }
}
