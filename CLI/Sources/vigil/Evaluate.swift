import ArgumentParser
import Foundation
import VigilDetection

/// `vigil evaluate`: scores a run exported by `vigil pilot --export` against the synthetic market's labels, offline,
/// with the pilot's rules (`EvaluationReport`), so a run can be re-scored over any window without re-running it.
struct Evaluate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Precision, recall and F1 per tier, model and anomaly kind, plus ROC-AUC / PR-AUC, of an exported pilot run.")

    @Option(help: "Directory written by `vigil pilot --export` (detections.csv; scores.csv when the pilot wrote it).")
    var input: String

    @Option(help: "The synthetic market's labels CSV (symbol,kind,start_timestamp,end_timestamp).")
    var labels: String

    @Option(help: "Bar length in seconds (the unit of --tolerance-bars).")
    var intervalSeconds: Int = 86_400

    @Option(help: "Bars after a label's end where a flag still counts as found.")
    var toleranceBars: Int = 2

    @Option(help: "Keep labels starting and bars at or after this time (ISO 8601 date or date-time UTC, or ms).")
    var from: String?

    @Option(help: "Keep labels starting and bars before this time (exclusive; same formats as --from).")
    var to: String?

    @Flag(help: "Print a JSON document instead of text.")
    var json = false

    func validate() throws {
        guard intervalSeconds > 0 else { throw ValidationError("--interval-seconds must be positive, got \(intervalSeconds)") }
        guard toleranceBars >= 0 else { throw ValidationError("--tolerance-bars must not be negative, got \(toleranceBars)") }
        let (from, to) = try window()
        if let from, let to, from >= to { throw ValidationError("--from must be before --to") }
    }

    private func window() throws -> (from: Int64?, to: Int64?) {
        func parse(_ text: String?, _ option: String) throws -> Int64? {
            guard let text else { return nil }
            guard let ms = EvaluationReport.parseTime(text) else {
                throw ValidationError("\(option): cannot read \"\(text)\" as an ISO 8601 date or date-time, or ms since the epoch")
            }
            return ms
        }
        return (try parse(from, "--from"), try parse(to, "--to"))
    }

    func run() throws {
        let report: EvaluationReport
        let scoresPresent: Bool
        do {
            let detectionsPath = (input as NSString).appendingPathComponent("detections.csv")
            let scoresPath = (input as NSString).appendingPathComponent("scores.csv")
            let labelList = try EvaluationReport.parseLabels(csv: try Self.read(labels), file: labels)
            let detections = try EvaluationReport.parseDetections(csv: try Self.read(detectionsPath), file: detectionsPath)
            scoresPresent = FileManager.default.fileExists(atPath: scoresPath)
            let scores = scoresPresent ? try EvaluationReport.parseScores(csv: try Self.read(scoresPath), file: scoresPath) : nil
            let (from, to) = try window()
            report = EvaluationReport(
                labels: labelList, detections: detections, scores: scores, tolerance: Int64(toleranceBars) * Int64(intervalSeconds) * 1000,
                from: from, to: to)
        } catch let error as EvaluationReport.InputError {
            // Bad data is not a usage mistake: the message alone, without ArgumentParser's usage text.
            FileHandle.standardError.write(Data("vigil evaluate: \(error)\n".utf8))
            throw ExitCode.failure
        }
        var output = EvaluationOutput(report, input: input, labelsFile: labels, toleranceBars: toleranceBars, intervalSeconds: intervalSeconds)
        if !scoresPresent {
            output.aucUnavailable = "no scores.csv in \(input): AUCs need `vigil pilot --export` from a version that writes it"
        }
        print(json ? try output.jsonText() : output.text())
    }

    private static func read(_ path: String) throws -> String {
        guard FileManager.default.fileExists(atPath: path) else {
            throw EvaluationReport.InputError(file: path, line: nil, message: "no such file")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw EvaluationReport.InputError(file: path, line: nil, message: "cannot read the file")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw EvaluationReport.InputError(file: path, line: nil, message: "not UTF-8 text")
        }
        return text
    }
}

/// What `vigil evaluate` prints: the report's slices as text or JSON (sorted snake_case keys).
struct EvaluationOutput: Encodable {
    struct Scores: Encodable {
        var labels: Int
        var detected: Int
        /// Distinct flagged bars; nil for a kind, whose false positives are a charged share.
        var flaggedBars: Int?
        var truePositiveBars: Int
        var precision: Double
        var recall: Double
        var f1: Double

        enum CodingKeys: String, CodingKey {
            case labels, detected, precision, recall, f1
            case flaggedBars = "flagged_bars", truePositiveBars = "true_positive_bars"
        }

        init(_ counts: LabelEvaluation.Counts, isKind: Bool = false) {
            labels = counts.labels
            detected = counts.detectedLabels
            flaggedBars = isKind ? nil : counts.truePositiveBars + Int(counts.falsePositiveBars.rounded())
            truePositiveBars = counts.truePositiveBars
            precision = counts.precision
            recall = counts.recall
            f1 = counts.f1
        }
    }

    struct Quality: Encodable {
        var bars: Int
        var positives: Int
        var rocAUC: Double?
        var prAUC: Double?

        enum CodingKeys: String, CodingKey {
            case bars, positives, rocAUC = "roc_auc", prAUC = "pr_auc"
        }

        // Undefined AUCs are written as null rather than left out.
        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(bars, forKey: .bars)
            try container.encode(positives, forKey: .positives)
            try container.encode(rocAUC, forKey: .rocAUC)
            try container.encode(prAUC, forKey: .prAUC)
        }
    }

    var input: String
    var labelsFile: String
    var from: String?
    var to: String?
    var toleranceBars: Int
    var intervalSeconds: Int
    var labels: Int
    var detections: Int
    var marketWideIgnored: Int
    var overall: Scores
    var byTier: [String: Scores]
    var byDetector: [String: Scores]
    var byKind: [String: Scores]
    /// Per score column; nil without scores.csv.
    var auc: [String: Quality]?
    /// Column order of scores.csv, for the text.
    var aucColumns: [String] = []
    /// Why `auc` is absent.
    var aucUnavailable: String?

    enum CodingKeys: String, CodingKey {
        case input, from, to, labels, detections, overall, auc, aucUnavailable = "auc_unavailable"
        case labelsFile = "labels_file", toleranceBars = "tolerance_bars", intervalSeconds = "interval_seconds"
        case marketWideIgnored = "market_wide_ignored", byTier = "by_tier", byDetector = "by_detector", byKind = "by_kind"
    }

    init(_ report: EvaluationReport, input: String, labelsFile: String, toleranceBars: Int, intervalSeconds: Int) {
        self.input = input
        self.labelsFile = labelsFile
        from = report.from.map { CivilDate.iso8601(milliseconds: $0) }
        to = report.to.map { CivilDate.iso8601(milliseconds: $0) }
        self.toleranceBars = toleranceBars
        self.intervalSeconds = intervalSeconds
        labels = report.labels
        detections = report.detections
        marketWideIgnored = report.marketWideDetections
        overall = Scores(report.overall)
        byTier = Dictionary(uniqueKeysWithValues: report.perTier.map { ("tier\($0.key)", Scores($0.value)) })
        byDetector = report.perDetector.mapValues { Scores($0) }
        byKind = Dictionary(uniqueKeysWithValues: report.perKind.map { ($0.key.rawValue, Scores($0.value, isKind: true)) })
        if let quality = report.scoreQuality {
            auc = Dictionary(
                quality.map { ($0.column, Quality(bars: $0.bars, positives: $0.positives, rocAUC: $0.rocAUC, prAUC: $0.prAUC)) },
                uniquingKeysWith: { first, _ in first })
            aucColumns = quality.map(\.column)
        }
    }

    func jsonText() throws -> String {
        let encoder = JSONEncoder()
        // Keys are spelled out in CodingKeys: a key strategy would also rewrite detector names used as dictionary keys.
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }

    func text() -> String {
        func pct(_ x: Double?) -> String { x.map { String(format: "%.3f", $0) } ?? "-" }
        var lines: [String] = []
        lines.append("Vigil evaluation")
        lines.append("  input           \(input): \(detections.grouped) detections (\(marketWideIgnored) market-wide ignored), \(labels) labels")
        let window =
            switch (from, to) {
            case (nil, nil): "all bars"
            case (let from?, nil): "from \(from)"
            case (nil, let to?): "before \(to)"
            case (let from?, let to?): "from \(from) before \(to)"
            }
        lines.append("  window          \(window); a flag counts up to \(toleranceBars) bar(s) of \(intervalSeconds) s after a label")

        var rows: [[String]] = [["", "found", "flagged", "hits", "precision", "recall", "F1"]]
        func row(_ name: String, _ s: Scores) {
            rows.append([
                name, "\(s.detected)/\(s.labels)", s.flaggedBars.map(\.grouped) ?? "-", s.truePositiveBars.grouped, pct(s.precision),
                pct(s.recall), pct(s.f1),
            ])
        }
        row("overall", overall)
        for (tier, s) in byTier.sorted(by: { $0.key < $1.key }) {
            row(tier, s)
            if tier == "tier2" { for (name, s) in byDetector.sorted(by: { $0.key < $1.key }) { row("  " + name, s) } }
        }
        for (kind, s) in byKind.sorted(by: { $0.key < $1.key }) { row("kind " + kind, s) }
        lines += Self.table(rows, indent: "  ")
        lines.append("    (hits: flagged bars inside a label's window; a kind is charged its share of the other flagged bars)")

        if let auc {
            var aucRows: [[String]] = [["scores", "bars", "positive", "ROC-AUC", "PR-AUC"]]
            for column in aucColumns {
                guard let q = auc[column] else { continue }
                aucRows.append([column, q.bars.grouped, q.positives.grouped, pct(q.rocAUC), pct(q.prAUC)])
            }
            lines += Self.table(aucRows, indent: "  ")
            lines.append("    (positive: a bar inside a label of its symbol, no tolerance; - where undefined)")
        } else {
            lines.append("  scores          ROC-AUC -  PR-AUC -  (\(aucUnavailable ?? "no scores"))")
        }
        return lines.joined(separator: "\n")
    }

    /// Rows padded to aligned columns: the first left-aligned, the others right-aligned, two spaces apart.
    private static func table(_ rows: [[String]], indent: String) -> [String] {
        let count = rows.map(\.count).max() ?? 0
        let widths = (0..<count).map { column in rows.map { column < $0.count ? $0[column].count : 0 }.max() ?? 0 }
        return rows.map { row in
            let cells = row.enumerated().map { column, cell in
                let pad = String(repeating: " ", count: widths[column] - cell.count)
                return column == 0 ? cell + pad : pad + cell
            }
            return indent + cells.joined(separator: "  ")
        }
    }
}
