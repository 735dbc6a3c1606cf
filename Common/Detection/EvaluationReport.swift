/// Scores an exported run (`vigil pilot --export`) against the synthetic market's labels: precision / recall / F1
/// overall, per tier, per Tier-2 model and per anomaly kind (`LabelEvaluation`, so the numbers equal the pilot's), and
/// ROC-AUC / PR-AUC per score column (`ModelMetrics`). Pure: the CLI reads the files and hands the text to the parsers
/// below.
public struct EvaluationReport: Sendable {
    /// One row of `detections.csv`: a bar some detector flagged.
    public struct Detection: Sendable, Hashable {
        /// `ALL` for a market-wide detection, which no label can match.
        public var symbol: String
        /// Bar time, ms since the Unix epoch.
        public var timestamp: Int64
        /// 1 (statistical detectors) or 2 (models).
        public var tier: Int
        /// Detector or model name, e.g. `gap`, `gradient_boosted_trees`.
        public var detector: String

        public init(symbol: String, timestamp: Int64, tier: Int, detector: String) {
            self.symbol = symbol
            self.timestamp = timestamp
            self.tier = tier
            self.detector = detector
        }
    }

    /// `scores.csv`: one row per bar, one optional value per score column.
    public struct ScoreTable: Sendable, Equatable {
        public struct Row: Sendable, Equatable {
            public var symbol: String
            /// Bar time, ms since the Unix epoch.
            public var timestamp: Int64
            /// One entry per column; nil where the bar has no score.
            public var values: [Double?]

            public init(symbol: String, timestamp: Int64, values: [Double?]) {
                self.symbol = symbol
                self.timestamp = timestamp
                self.values = values
            }
        }

        /// Score column names, in header order.
        public var columns: [String]
        public var rows: [Row]

        public init(columns: [String], rows: [Row]) {
            self.columns = columns
            self.rows = rows
        }
    }

    /// Threshold-free quality of one score column.
    public struct ScoreQuality: Sendable, Equatable {
        public var column: String
        /// Bars with a value in this column (inside the time window).
        public var bars: Int
        /// Of those, bars inside `[start, end]` of a label of their symbol.
        public var positives: Int
        /// nil when undefined (no positive or no negative bar).
        public var rocAUC: Double?
        /// nil when undefined (no positive bar).
        public var prAUC: Double?
    }

    /// The market-wide pseudo symbol, skipped for label scoring.
    public static let marketWideSymbol = "ALL"

    /// ms added after each label's end.
    public let tolerance: Int64
    /// Inclusive lower bound on label starts and bar times, ms.
    public let from: Int64?
    /// Exclusive upper bound on label starts and bar times, ms.
    public let to: Int64?
    /// Labels that start inside the window.
    public let labels: Int
    /// Detections inside the window that were scored (market-wide ones excluded).
    public let detections: Int
    /// Market-wide detections inside the window, ignored.
    public let marketWideDetections: Int
    /// All tiers together.
    public let overall: LabelEvaluation.Counts
    /// Tier 1 and tier 2 always, plus any other tier seen.
    public let perTier: [Int: LabelEvaluation.Counts]
    /// Each Tier-2 detector (model kind) seen in the input, even when the window holds none of its flags.
    public let perDetector: [String: LabelEvaluation.Counts]
    /// Kinds of the labels in the window (`LabelEvaluation.perKind` of `overall`).
    public let perKind: [AnomalyKind: LabelEvaluation.Counts]
    /// One entry per score column in header order; nil without a score table.
    public let scoreQuality: [ScoreQuality]?

    /// - Parameters:
    ///   - labels: ground truth (all of it; the window is applied here).
    ///   - detections: flagged bars of every tier, market-wide ones included (they are skipped).
    ///   - scores: per-bar scores, or nil when the run exported none.
    ///   - tolerance: ms after a label's end where a flag still counts (e.g. 2 × bar length).
    ///   - from: keep labels starting and bars at or after this time, ms.
    ///   - to: keep labels starting and bars before this time, ms (exclusive, so `to: t` and `from: t` split a run).
    public init(
        labels: [AnomalyLabel], detections: [Detection], scores: ScoreTable?, tolerance: Int64, from: Int64? = nil, to: Int64? = nil
    ) {
        func inWindow(_ t: Int64) -> Bool { (from.map { t >= $0 } ?? true) && (to.map { t < $0 } ?? true) }
        let labels = labels.filter { inWindow($0.startTimestamp) }
        let windowed = detections.filter { inWindow($0.timestamp) }
        let scored = windowed.filter { $0.symbol != Self.marketWideSymbol }
        func evaluate(_ keep: (Detection) -> Bool) -> LabelEvaluation {
            LabelEvaluation(
                labels: labels, flagged: scored.lazy.filter(keep).map { FlaggedBar(symbol: $0.symbol, timestamp: $0.timestamp) },
                tolerance: tolerance)
        }
        let all = evaluate { _ in true }
        var perTier: [Int: LabelEvaluation.Counts] = [:]
        for tier in Set([1, 2] + detections.map(\.tier)) { perTier[tier] = evaluate { $0.tier == tier }.overall }
        var perDetector: [String: LabelEvaluation.Counts] = [:]
        for name in Set(detections.filter { $0.tier == 2 }.map(\.detector)) {
            perDetector[name] = evaluate { $0.tier == 2 && $0.detector == name }.overall
        }
        self.tolerance = all.tolerance
        self.from = from
        self.to = to
        self.labels = labels.count
        self.detections = scored.count
        self.marketWideDetections = windowed.count - scored.count
        self.overall = all.overall
        self.perTier = perTier
        self.perDetector = perDetector
        self.perKind = all.perKind
        self.scoreQuality = scores.map { Self.quality(of: $0, labels: labels, inWindow: inWindow) }
    }

    /// ROC-AUC / PR-AUC per column; a bar is positive inside `[start, end]` of a label of its symbol (no tolerance:
    /// the aftermath of an anomaly is not an anomaly to rank).
    private static func quality(of table: ScoreTable, labels: [AnomalyLabel], inWindow: (Int64) -> Bool) -> [ScoreQuality] {
        var windows: [String: [(start: Int64, end: Int64)]] = [:]
        for label in labels { windows[label.symbol, default: []].append((label.startTimestamp, label.endTimestamp)) }
        let rows = table.rows.filter { $0.symbol != marketWideSymbol && inWindow($0.timestamp) }
        let positive = rows.map { row in windows[row.symbol]?.contains { $0.start <= row.timestamp && row.timestamp <= $0.end } ?? false }
        return table.columns.enumerated().map { column, name in
            var scores: [Double] = []
            var isPositive: [Bool] = []
            for (i, row) in rows.enumerated() {
                guard column < row.values.count, let value = row.values[column] else { continue }
                scores.append(value)
                isPositive.append(positive[i])
            }
            return ScoreQuality(
                column: name, bars: scores.count, positives: isPositive.filter { $0 }.count,
                rocAUC: ModelMetrics.rocAUC(scores: scores, labels: isPositive), prAUC: ModelMetrics.prAUC(scores: scores, labels: isPositive))
        }
    }
}

// MARK: - Parsing

extension EvaluationReport {
    /// Bad input: the file, the 1-based line (nil for the whole file) and what is wrong. Prints as `file:line: message`.
    public struct InputError: Error, Equatable, CustomStringConvertible {
        public var file: String
        public var line: Int?
        public var message: String

        public init(file: String, line: Int?, message: String) {
            self.file = file
            self.line = line
            self.message = message
        }

        public var description: String { "\(file)\(line.map { ":\($0)" } ?? ""): \(message)" }
    }

    /// Header of `detections.csv`.
    public static let detectionsHeader = ["symbol", "time", "tier", "detector", "score"]

    /// Parses `detections.csv` (columns in any order, all of `detectionsHeader` and no other).
    ///
    /// - Parameters:
    ///   - csv: the file's text.
    ///   - file: the name errors carry.
    /// - Throws: `InputError` for a missing or unknown column or a line that does not parse.
    public static func parseDetections(csv: String, file: String) throws -> [Detection] {
        var lines = CSVLines(text: csv, file: file)
        let header = try lines.header()
        var index: [String: Int] = [:]
        for (i, name) in header.enumerated() {
            guard detectionsHeader.contains(name) else { throw lines.error(line: 1, "unknown column \"\(name)\"") }
            guard index.updateValue(i, forKey: name) == nil else { throw lines.error(line: 1, "duplicate column \"\(name)\"") }
        }
        if let missing = detectionsHeader.first(where: { index[$0] == nil }) {
            throw lines.error(line: 1, "missing column \"\(missing)\" (expected \(detectionsHeader.joined(separator: ",")))")
        }
        let (symbolColumn, timeColumn, tierColumn, detectorColumn, scoreColumn) =
            (index["symbol"] ?? 0, index["time"] ?? 0, index["tier"] ?? 0, index["detector"] ?? 0, index["score"] ?? 0)
        var detections: [Detection] = []
        while let (number, fields) = try lines.next(columns: header.count) {
            let symbol = fields[symbolColumn]
            guard !symbol.isEmpty else { throw lines.error(line: number, "empty symbol") }
            guard let time = parseTime(fields[timeColumn]) else { throw lines.error(line: number, "bad time \"\(fields[timeColumn])\"") }
            guard let tier = Int(fields[tierColumn]), tier == 1 || tier == 2 else {
                throw lines.error(line: number, "bad tier \"\(fields[tierColumn])\" (expected 1 or 2)")
            }
            guard !fields[detectorColumn].isEmpty else { throw lines.error(line: number, "empty detector") }
            // The score is not used here, but a line whose score does not parse is a broken line.
            guard Double(fields[scoreColumn]) != nil else { throw lines.error(line: number, "bad score \"\(fields[scoreColumn])\"") }
            detections.append(Detection(symbol: symbol, timestamp: time, tier: tier, detector: fields[detectorColumn]))
        }
        return detections
    }

    /// Parses `scores.csv`: header `symbol,time,<column>...` (at least one score column), one row per bar, an empty
    /// field for a bar without that score.
    ///
    /// - Parameters:
    ///   - csv: the file's text.
    ///   - file: the name errors carry.
    /// - Throws: `InputError` for a bad header, a value that is not a number (or NaN), or a bar listed twice.
    public static func parseScores(csv: String, file: String) throws -> ScoreTable {
        var lines = CSVLines(text: csv, file: file)
        let header = try lines.header()
        guard header.count > 2, header[0] == "symbol", header[1] == "time" else {
            throw lines.error(line: 1, "header must be symbol,time followed by at least one score column")
        }
        let columns = Array(header.dropFirst(2))
        for (i, name) in columns.enumerated() {
            guard !name.isEmpty else { throw lines.error(line: 1, "empty column name") }
            guard !columns[..<i].contains(name) else { throw lines.error(line: 1, "duplicate column \"\(name)\"") }
        }
        var rows: [ScoreTable.Row] = []
        var seen: [FlaggedBar: Int] = [:]
        while let (number, fields) = try lines.next(columns: header.count) {
            guard !fields[0].isEmpty else { throw lines.error(line: number, "empty symbol") }
            guard let time = parseTime(fields[1]) else { throw lines.error(line: number, "bad time \"\(fields[1])\"") }
            // A bar listed twice would be ranked twice.
            if let first = seen.updateValue(number, forKey: FlaggedBar(symbol: fields[0], timestamp: time)) {
                throw lines.error(line: number, "bar \(fields[0]) \(fields[1]) already listed on line \(first)")
            }
            var values: [Double?] = []
            for (column, field) in zip(columns, fields.dropFirst(2)) {
                if field.isEmpty {
                    values.append(nil)
                } else if let value = Double(field), !value.isNaN {
                    values.append(value)
                } else {
                    throw lines.error(line: number, "bad \(column) value \"\(field)\"")
                }
            }
            rows.append(ScoreTable.Row(symbol: fields[0], timestamp: time, values: values))
        }
        return ScoreTable(columns: columns, rows: rows)
    }

    /// Parses the synthetic market's labels CSV (`AnomalyLabel.csvHeader`, then `AnomalyLabel(csvLine:)` lines).
    ///
    /// - Parameters:
    ///   - csv: the file's text.
    ///   - file: the name errors carry.
    /// - Throws: `InputError` for a wrong header or a line that does not parse.
    public static func parseLabels(csv: String, file: String) throws -> [AnomalyLabel] {
        var lines = CSVLines(text: csv, file: file)
        guard lines.headerLine() == AnomalyLabel.csvHeader else {
            throw lines.error(line: 1, "header must be \(AnomalyLabel.csvHeader)")
        }
        var labels: [AnomalyLabel] = []
        while let (number, line) = lines.nextLine() {
            guard let label = AnomalyLabel(csvLine: line) else {
                throw lines.error(line: number, "bad label \"\(line.prefix(80))\" (expected symbol,kind,start ms,end ms)")
            }
            guard label.startTimestamp <= label.endTimestamp else { throw lines.error(line: number, "label ends before it starts") }
            labels.append(label)
        }
        return labels
    }

    /// A time as ms since the epoch: integer ms, an ISO 8601 date (`2011-05-16`, midnight UTC) or date-time
    /// (`2011-05-16T09:30:00Z`, optional fraction, `Z` or `±HH:MM` offset, UTC when neither is given).
    ///
    /// - Returns: nil when the text is none of these or names an impossible date or time.
    public static func parseTime(_ text: some StringProtocol) -> Int64? {
        if let ms = Int64(text) { return ms }
        let s = Array(text.utf8)
        func number(_ range: Range<Int>) -> Int64? {
            guard range.upperBound <= s.count, !range.isEmpty else { return nil }
            var value: Int64 = 0
            for c in s[range] {
                guard c >= UInt8(ascii: "0"), c <= UInt8(ascii: "9") else { return nil }
                value = value * 10 + Int64(c - UInt8(ascii: "0"))
            }
            return value
        }
        func byte(_ i: Int, is c: Character) -> Bool { i < s.count && s[i] == c.asciiValue }
        guard let year = number(0..<4), byte(4, is: "-"), let month = number(5..<7), byte(7, is: "-"), let day = number(8..<10),
            (1...12).contains(month), day >= 1, day <= daysIn(month: month, year: year)
        else { return nil }
        let days = CivilDate.daysFromCivil(year: year, month: month, day: day)
        if s.count == 10 { return days * 86_400_000 }
        guard byte(10, is: "T") || byte(10, is: " "), let hour = number(11..<13), byte(13, is: ":"), let minute = number(14..<16),
            byte(16, is: ":"), let second = number(17..<19), hour < 24, minute < 60, second < 60
        else { return nil }
        var ms = ((days * 24 + hour) * 60 + minute) * 60_000 + second * 1000
        var i = 19
        if byte(i, is: ".") {
            let start = i + 1
            i = start
            while i < s.count, s[i] >= UInt8(ascii: "0"), s[i] <= UInt8(ascii: "9") { i += 1 }
            guard i > start else { return nil }
            // Milliseconds: the first three digits, padded; finer digits are dropped.
            let digits = s[start..<min(i, start + 3)]
            var fraction = Int64(0)
            for c in digits { fraction = fraction * 10 + Int64(c - UInt8(ascii: "0")) }
            for _ in digits.count..<3 { fraction *= 10 }
            ms += fraction
        }
        if i == s.count { return ms }
        if (byte(i, is: "Z") || byte(i, is: "z")) && i + 1 == s.count { return ms }
        guard byte(i, is: "+") || byte(i, is: "-"), let offsetHours = number(i + 1..<i + 3), offsetHours < 24 else { return nil }
        let sign: Int64 = byte(i, is: "-") ? -1 : 1
        let offsetMinutes: Int64
        if i + 3 == s.count {
            offsetMinutes = 0
        } else if byte(i + 3, is: ":"), i + 6 == s.count, let m = number(i + 4..<i + 6), m < 60 {
            offsetMinutes = m
        } else if i + 5 == s.count, let m = number(i + 3..<i + 5), m < 60 {
            offsetMinutes = m
        } else {
            return nil
        }
        return ms - sign * (offsetHours * 60 + offsetMinutes) * 60_000
    }

    private static func daysIn(month: Int64, year: Int64) -> Int64 {
        switch month {
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }
}

/// Lines of a CSV text with their 1-based numbers; fields per RFC 4180 (the pilot quotes a field holding a comma or a
/// quote). A quoted field cannot span lines: the exports never write one, and line numbers stay exact.
private struct CSVLines {
    let file: String
    private var lines: [Substring]
    private var position = 0

    init(text: String, file: String) {
        self.file = file
        // Split on bytes: "\r\n" is one Character, so a Character split on "\n" would miss it.
        lines = text.utf8.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).map { line in
            Substring(line.last == UInt8(ascii: "\r") ? line.dropLast() : line)
        }
    }

    func error(line: Int?, _ message: String) -> EvaluationReport.InputError {
        EvaluationReport.InputError(file: file, line: line, message: message)
    }

    /// Line 1 as text, "" for an empty file.
    mutating func headerLine() -> Substring {
        position = 1
        return lines.first ?? ""
    }

    /// Line 1 as trimmed column names.
    mutating func header() throws -> [String] {
        let line = headerLine()
        guard !line.isEmpty else { throw error(line: 1, "empty file: expected a header line") }
        return try fields(line, number: 1).map { $0.trimmingSpaces() }
    }

    /// The next non-blank line after the header.
    mutating func nextLine() -> (Int, Substring)? {
        while position < lines.count {
            position += 1
            let line = lines[position - 1]
            if !line.allSatisfy({ $0 == " " }) { return (position, line) }
        }
        return nil
    }

    /// The next non-blank line's fields, which must number `columns`.
    mutating func next(columns: Int) throws -> (Int, [String])? {
        guard let (number, line) = nextLine() else { return nil }
        let fields = try fields(line, number: number)
        guard fields.count == columns else { throw error(line: number, "\(fields.count) fields, expected \(columns)") }
        return (number, fields)
    }

    private func fields(_ line: Substring, number: Int) throws -> [String] {
        guard line.contains("\"") else { return line.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        var fields: [String] = []
        var field = ""
        var quoted = false
        var i = line.startIndex
        while i < line.endIndex {
            let c = line[i]
            line.formIndex(after: &i)
            if quoted {
                if c != "\"" {
                    field.append(c)
                } else if i < line.endIndex, line[i] == "\"" {
                    field.append("\"")
                    line.formIndex(after: &i)
                } else {
                    quoted = false
                }
            } else if c == "," {
                fields.append(field)
                field = ""
            } else if c == "\"" && field.isEmpty {
                quoted = true
            } else {
                field.append(c)
            }
        }
        guard !quoted else { throw error(line: number, "unterminated quoted field") }
        fields.append(field)
        return fields
    }
}

extension String {
    fileprivate func trimmingSpaces() -> String {
        String(drop { $0 == " " }.reversed().drop { $0 == " " }.reversed())
    }
}
