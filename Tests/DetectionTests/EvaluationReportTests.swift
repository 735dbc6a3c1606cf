import Testing

@testable import VigilDetection

/// Hand-computed cases for `vigil evaluate`: tolerance 2 days, times in whole days since the epoch.
@Suite("Evaluation report: slices, AUCs, windows, parsing")
struct EvaluationReportTests {
    static let day: Int64 = 86_400_000
    static let tolerance = 2 * day

    /// A: price spike on day 10, gap on days 30-31. B: volatility burst on days 10-14, price spike on day 50.
    static let labels = [
        AnomalyLabel(symbol: "A", kind: .priceSpike, startTimestamp: 10 * day, endTimestamp: 10 * day),
        AnomalyLabel(symbol: "A", kind: .gap, startTimestamp: 30 * day, endTimestamp: 31 * day),
        AnomalyLabel(symbol: "B", kind: .volatilityBurst, startTimestamp: 10 * day, endTimestamp: 14 * day),
        AnomalyLabel(symbol: "B", kind: .priceSpike, startTimestamp: 50 * day, endTimestamp: 50 * day),
    ]

    static func flag(_ symbol: String, _ d: Int64, _ tier: Int, _ detector: String) -> EvaluationReport.Detection {
        EvaluationReport.Detection(symbol: symbol, timestamp: d * day, tier: tier, detector: detector)
    }

    static let detections = [
        flag("A", 12, 1, "rolling_z"),  // last bar of the price spike's tolerance: found
        flag("A", 13, 1, "rolling_z"),  // one bar past it: false positive
        flag("A", 12, 2, "gradient_boosted_trees"),  // same bar as the first: counted once overall
        flag("B", 9, 2, "isolation_forest"),  // the day before the burst: false positive
        flag("B", 14, 1, "gap"),  // inside the burst
        flag("B", 14, 2, "isolation_forest"),
        flag("ALL", 30, 1, "rolling_z"),  // market-wide: ignored
        flag("C", 5, 2, "gradient_boosted_trees"),  // a symbol without labels: false positive
        flag("A", 33, 2, "gradient_boosted_trees"),  // last bar of the gap's tolerance: found
        flag("B", 60, 1, "robust_z"),  // false positive
    ]

    static func expect(
        _ c: LabelEvaluation.Counts?, labels: Int, detected: Int, tp: Int, fp: Double, precision: Double, recall: Double,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        guard let c else {
            Issue.record("missing slice", sourceLocation: sourceLocation)
            return
        }
        #expect(c.labels == labels, sourceLocation: sourceLocation)
        #expect(c.detectedLabels == detected, sourceLocation: sourceLocation)
        #expect(c.truePositiveBars == tp, sourceLocation: sourceLocation)
        #expect(abs(c.falsePositiveBars - fp) < 1e-12, sourceLocation: sourceLocation)
        #expect(abs(c.precision - precision) < 1e-12, sourceLocation: sourceLocation)
        #expect(abs(c.recall - recall) < 1e-12, sourceLocation: sourceLocation)
    }

    @Test("overall, per tier, per Tier-2 model and per kind, with the tolerance edge")
    func slices() {
        let r = EvaluationReport(labels: Self.labels, detections: Self.detections, scores: nil, tolerance: Self.tolerance)
        #expect(r.labels == 4)
        #expect(r.detections == 9)
        #expect(r.marketWideDetections == 1)
        #expect(r.scoreQuality == nil)
        // Bars A12 A13 B9 B14 C5 A33 B60; hits A12 B14 A33; found: A's spike and gap, B's burst.
        Self.expect(r.overall, labels: 4, detected: 3, tp: 3, fp: 4, precision: 3.0 / 7, recall: 0.75)
        #expect(abs(r.overall.f1 - 2 * (3.0 / 7) * 0.75 / (3.0 / 7 + 0.75)) < 1e-12)
        #expect(r.perTier.keys.sorted() == [1, 2])
        Self.expect(r.perTier[1], labels: 4, detected: 2, tp: 2, fp: 2, precision: 0.5, recall: 0.5)
        Self.expect(r.perTier[2], labels: 4, detected: 3, tp: 3, fp: 2, precision: 0.6, recall: 0.75)
        #expect(r.perDetector.keys.sorted() == ["gradient_boosted_trees", "isolation_forest"])
        Self.expect(r.perDetector["gradient_boosted_trees"], labels: 4, detected: 2, tp: 2, fp: 1, precision: 2.0 / 3, recall: 0.5)
        Self.expect(r.perDetector["isolation_forest"], labels: 4, detected: 1, tp: 1, fp: 1, precision: 0.5, recall: 0.25)
        // Kinds are charged false positives by their share of labels: 4 × 2/4, 4 × 1/4, 4 × 1/4.
        #expect(r.perKind.keys.count == 3)
        Self.expect(r.perKind[.priceSpike], labels: 2, detected: 1, tp: 1, fp: 2, precision: 1.0 / 3, recall: 0.5)
        Self.expect(r.perKind[.gap], labels: 1, detected: 1, tp: 1, fp: 1, precision: 0.5, recall: 1)
        Self.expect(r.perKind[.volatilityBurst], labels: 1, detected: 1, tp: 1, fp: 1, precision: 0.5, recall: 1)
    }

    @Test("the numbers are LabelEvaluation's over the same flags")
    func matchesLabelEvaluation() {
        let r = EvaluationReport(labels: Self.labels, detections: Self.detections, scores: nil, tolerance: Self.tolerance)
        let flags = Self.detections.filter { $0.symbol != "ALL" && $0.tier == 1 }.map { FlaggedBar(symbol: $0.symbol, timestamp: $0.timestamp) }
        #expect(r.perTier[1] == LabelEvaluation(labels: Self.labels, flagged: flags, tolerance: Self.tolerance).overall)
    }

    @Test("--from keeps labels starting and bars at or after it; --to keeps those before it")
    func window() {
        let late = EvaluationReport(labels: Self.labels, detections: Self.detections, scores: nil, tolerance: Self.tolerance, from: 20 * Self.day)
        #expect(late.labels == 2)
        #expect(late.detections == 2)
        #expect(late.marketWideDetections == 1)
        Self.expect(late.overall, labels: 2, detected: 1, tp: 1, fp: 1, precision: 0.5, recall: 0.5)
        Self.expect(late.perTier[1], labels: 2, detected: 0, tp: 0, fp: 1, precision: 0, recall: 0)
        Self.expect(late.perTier[2], labels: 2, detected: 1, tp: 1, fp: 0, precision: 1, recall: 0.5)
        // A model seen in the run but silent in the window still gets its row: nothing flagged, precision 1.
        Self.expect(late.perDetector["isolation_forest"], labels: 2, detected: 0, tp: 0, fp: 0, precision: 1, recall: 0)
        #expect(late.perKind.keys.sorted { $0.rawValue < $1.rawValue } == [.gap, .priceSpike])

        let early = EvaluationReport(labels: Self.labels, detections: Self.detections, scores: nil, tolerance: Self.tolerance, to: 20 * Self.day)
        #expect(early.labels == 2)
        Self.expect(early.overall, labels: 2, detected: 2, tp: 2, fp: 3, precision: 0.4, recall: 1)
        #expect(early.marketWideDetections == 0)

        let none = EvaluationReport(
            labels: Self.labels, detections: Self.detections, scores: nil, tolerance: Self.tolerance, from: 20 * Self.day, to: 30 * Self.day)
        Self.expect(none.overall, labels: 0, detected: 0, tp: 0, fp: 0, precision: 1, recall: 0)
    }

    @Test("AUCs per score column: positives inside [start, end] without tolerance, empty fields skipped")
    func auc() {
        typealias Row = EvaluationReport.ScoreTable.Row
        let day = Self.day
        let table = EvaluationReport.ScoreTable(
            columns: ["m", "n", "k"],
            rows: [
                Row(symbol: "A", timestamp: 10 * day, values: [0.9, 1.0, nil]),  // positive
                Row(symbol: "A", timestamp: 11 * day, values: [0.8, 2.0, 5]),  // inside the tolerance only: negative
                Row(symbol: "A", timestamp: 30 * day, values: [0.3, nil, nil]),  // positive
                Row(symbol: "A", timestamp: 20 * day, values: [0.1, nil, 1]),
                Row(symbol: "B", timestamp: 40 * day, values: [nil, nil, nil]),
                Row(symbol: "ALL", timestamp: 10 * day, values: [0.5, 0.5, 0.5]),  // market-wide: skipped
            ])
        let r = EvaluationReport(labels: Self.labels, detections: [], scores: table, tolerance: Self.tolerance)
        let q = r.scoreQuality ?? []
        #expect(q.map(\.column) == ["m", "n", "k"])
        #expect(q.map(\.bars) == [4, 2, 2])
        #expect(q.map(\.positives) == [2, 1, 0])
        // m: positives 0.9 and 0.3 against negatives 0.8 and 0.1 win 3 of 4 pairs; average precision 1·½ + ⅔·½.
        #expect(abs((q.first?.rocAUC ?? -1) - 0.75) < 1e-12)
        #expect(abs((q.first?.prAUC ?? -1) - 5.0 / 6) < 1e-12)
        // n: the only positive ranks below the only negative.
        #expect(q.dropFirst().first?.rocAUC == 0)
        #expect(q.dropFirst().first?.prAUC == 0.5)
        // k: no positive, so both are undefined.
        #expect(q.last?.rocAUC == nil)
        #expect(q.last?.prAUC == nil)

        let late = EvaluationReport(labels: Self.labels, detections: [], scores: table, tolerance: Self.tolerance, from: 20 * day)
        // From day 20: A30 (positive) and A20 (negative) remain in m; A's day-10 spike is outside the window.
        #expect(late.scoreQuality?.first?.bars == 2)
        #expect(late.scoreQuality?.first?.rocAUC == 1)
        #expect(late.scoreQuality?.dropFirst().first?.bars == 0)
        #expect(late.scoreQuality?.dropFirst().first?.rocAUC == nil)
    }

    // MARK: - Parsing

    @Test("detections.csv: columns by name, quoted fields, CRLF, blank lines")
    func parseDetections() throws {
        let csv = """
            symbol,time,tier,detector,score\r
            SYN090,2010-01-15T00:00:00Z,1,gap,7.555252247252281\r
            SYN001,2010-01-16T12:30:00Z,2,"my,model",0.5\r
            \r

            """
        let d = try EvaluationReport.parseDetections(csv: csv, file: "detections.csv")
        #expect(
            d == [
                EvaluationReport.Detection(symbol: "SYN090", timestamp: 1_263_513_600_000, tier: 1, detector: "gap"),
                EvaluationReport.Detection(symbol: "SYN001", timestamp: 1_263_645_000_000, tier: 2, detector: "my,model"),
            ])
        let reordered = try EvaluationReport.parseDetections(csv: "tier,detector,score,symbol,time\n2,iso,1,A,1000\n", file: "d.csv")
        #expect(reordered == [EvaluationReport.Detection(symbol: "A", timestamp: 1000, tier: 2, detector: "iso")])
        #expect(try EvaluationReport.parseDetections(csv: "symbol,time,tier,detector,score\n", file: "d.csv").isEmpty)
    }

    @Test(
        "detections.csv errors name the file and line",
        arguments: [
            ("", 1, "empty file: expected a header line"),
            ("symbol,time,tier,detector\nA,2010-01-01,1,gap\n", 1, "missing column \"score\" (expected symbol,time,tier,detector,score)"),
            ("symbol,time,tier,detector,score,extra\n", 1, "unknown column \"extra\""),
            ("symbol,time,tier,detector,score\nA,2010-01-01,1,gap,1\nA,2010-13-01,1,gap,1\n", 3, "bad time \"2010-13-01\""),
            ("symbol,time,tier,detector,score\nA,2010-01-01,3,gap,1\n", 2, "bad tier \"3\" (expected 1 or 2)"),
            ("symbol,time,tier,detector,score\nA,2010-01-01,1,gap\n", 2, "4 fields, expected 5"),
            ("symbol,time,tier,detector,score\nA,2010-01-01,1,gap,high\n", 2, "bad score \"high\""),
            ("symbol,time,tier,detector,score\nA,2010-01-01,1,\"gap,1\n", 2, "unterminated quoted field"),
        ])
    func detectionErrors(csv: String, line: Int, message: String) {
        let expected = EvaluationReport.InputError(file: "run/detections.csv", line: line, message: message)
        #expect(throws: expected) { try EvaluationReport.parseDetections(csv: csv, file: "run/detections.csv") }
        #expect(expected.description == "run/detections.csv:\(line): \(message)")
    }

    @Test("scores.csv: columns from the header, empty fields are nil")
    func parseScores() throws {
        let csv = "symbol,time,tier1,isolation_forest,gradient_boosted_trees\nA,2010-01-14T00:00:00Z,3.5,,0.25\nB,2010-01-14T00:00:00Z,,,\n"
        let t = try EvaluationReport.parseScores(csv: csv, file: "scores.csv")
        #expect(t.columns == ["tier1", "isolation_forest", "gradient_boosted_trees"])
        #expect(
            t.rows == [
                .init(symbol: "A", timestamp: 1_263_427_200_000, values: [3.5, nil, 0.25]),
                .init(symbol: "B", timestamp: 1_263_427_200_000, values: [nil, nil, nil]),
            ])
    }

    @Test(
        "scores.csv errors name the file and line",
        arguments: [
            ("symbol,time\n", 1, "header must be symbol,time followed by at least one score column"),
            ("time,symbol,m\n", 1, "header must be symbol,time followed by at least one score column"),
            ("symbol,time,m,m\n", 1, "duplicate column \"m\""),
            ("symbol,time,m\nA,2010-01-01,1\nA,2010-01-02,x\n", 3, "bad m value \"x\""),
            ("symbol,time,m\nA,2010-01-01,nan\n", 2, "bad m value \"nan\""),
            ("symbol,time,m\nA,2010-01-01,1\nA,2010-01-01T00:00:00Z,2\n", 3, "bar A 2010-01-01T00:00:00Z already listed on line 2"),
            ("symbol,time,m\nA,yesterday,1\n", 2, "bad time \"yesterday\""),
        ])
    func scoreErrors(csv: String, line: Int, message: String) {
        #expect(throws: EvaluationReport.InputError(file: "scores.csv", line: line, message: message)) {
            try EvaluationReport.parseScores(csv: csv, file: "scores.csv")
        }
    }

    @Test("labels CSV: AnomalyLabel lines after the header; errors carry the line")
    func parseLabels() throws {
        let labels = try EvaluationReport.parseLabels(
            csv: "symbol,kind,start_timestamp,end_timestamp\nSYN018,volatility_burst,1262736000000,1263340800000\n", file: "labels.csv")
        #expect(
            labels == [AnomalyLabel(symbol: "SYN018", kind: .volatilityBurst, startTimestamp: 1_262_736_000_000, endTimestamp: 1_263_340_800_000)])
        #expect(throws: EvaluationReport.InputError(file: "labels.csv", line: 1, message: "header must be symbol,kind,start_timestamp,end_timestamp"))
        {
            try EvaluationReport.parseLabels(csv: "symbol,time\n", file: "labels.csv")
        }
        #expect(
            throws: EvaluationReport.InputError(
                file: "labels.csv", line: 3, message: "bad label \"B,meteor,1,2\" (expected symbol,kind,start ms,end ms)")
        ) {
            try EvaluationReport.parseLabels(csv: "symbol,kind,start_timestamp,end_timestamp\nA,gap,1,2\nB,meteor,1,2\n", file: "labels.csv")
        }
    }

    @Test("times: ms, ISO dates and date-times with fractions and offsets; impossible ones are nil")
    func times() {
        let midnight: Int64 = 1_305_504_000_000  // 2011-05-16T00:00:00Z
        #expect(EvaluationReport.parseTime("2011-05-16") == midnight)
        #expect(EvaluationReport.parseTime("2011-05-16T00:00:00Z") == midnight)
        #expect(EvaluationReport.parseTime("2011-05-16T00:00:00") == midnight)
        #expect(EvaluationReport.parseTime("\(midnight)") == midnight)
        #expect(EvaluationReport.parseTime("2011-05-16T09:30:15.5Z") == midnight + 34_215_500)
        #expect(EvaluationReport.parseTime("2011-05-16T09:30:15.123456Z") == midnight + 34_215_123)
        #expect(EvaluationReport.parseTime("2011-05-16T02:00:00+02:00") == midnight)
        #expect(EvaluationReport.parseTime("2011-05-15T19:00:00-0500") == midnight)
        #expect(EvaluationReport.parseTime("2012-02-29") != nil)
        for bad in ["2011-02-29", "2011-04-31", "2011-5-16", "2011-05-16T24:00:00Z", "2011-05-16T00:00Z", "2011-05-16T00:00:00.Z", "2011-05-16Z", ""]
        {
            #expect(EvaluationReport.parseTime(bad) == nil, "\(bad)")
        }
    }
}
