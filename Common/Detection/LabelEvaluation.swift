/// A bar some detector flagged: what a backtest produces and `LabelEvaluation` scores.
public struct FlaggedBar: Sendable, Hashable {
    public var symbol: String
    /// Bar time, ms since the Unix epoch.
    public var timestamp: Int64

    public init(symbol: String, timestamp: Int64) {
        self.symbol = symbol
        self.timestamp = timestamp
    }
}

/// Precision / recall / F1 of flagged bars against injected anomaly labels.
///
/// Matching rule (the window of a label is `[start, end + tolerance]`, same symbol):
/// - **Recall is per label**: a label is detected when at least one flagged bar of its symbol falls in its window.
///   A 10-bar volatility burst found on any one of its bars counts as found: an analyst who gets one alert looks at the
///   whole episode.
/// - **Precision is per flagged bar**: a flagged bar is a true positive when it falls in some label's window, else a
///   false positive. Flagging several bars of one multi-bar anomaly is therefore never penalised (each is a true
///   positive), and `tolerance` (e.g. 1-2 bars) forgives alerts on the bars right after an anomaly ends, where the
///   detectors legitimately still see the aftermath (a reverting spike, the recovery of a flash crash).
/// - **Per kind**: recall as above over that kind's labels. True-positive bars belong to the kind of the label they
///   matched (the earliest-starting one if windows overlap); false positives cannot be attributed to a kind, so each
///   kind is charged the share of false positives equal to its share of labels. With a single-kind market this is
///   exactly the overall precision.
public struct LabelEvaluation: Sendable {
    /// Counts and ratios for one slice (overall or one kind).
    public struct Counts: Sendable, Equatable {
        public var labels: Int = 0
        public var detectedLabels: Int = 0
        public var truePositiveBars: Int = 0
        /// False-positive bars charged to this slice (fractional for kinds).
        public var falsePositiveBars: Double = 0

        public init() {}

        /// detected / labels (0 without labels).
        public var recall: Double { labels > 0 ? Double(detectedLabels) / Double(labels) : 0 }
        /// TP / (TP + FP); 1 when nothing was flagged (no false alarm was raised).
        public var precision: Double {
            let flagged = Double(truePositiveBars) + falsePositiveBars
            return flagged > 0 ? Double(truePositiveBars) / flagged : 1
        }
        /// Harmonic mean of precision and recall.
        public var f1: Double {
            let p = precision
            let r = recall
            return p + r > 0 ? 2 * p * r / (p + r) : 0
        }
    }

    public private(set) var overall = Counts()
    public private(set) var perKind: [AnomalyKind: Counts] = [:]
    /// Labels that no flagged bar matched.
    public private(set) var missed: [AnomalyLabel] = []
    /// `tolerance` used, ms.
    public let tolerance: Int64

    /// - Parameters:
    ///   - labels: ground truth.
    ///   - flagged: flagged bars (duplicates are counted once).
    ///   - tolerance: ms added after each label's end (e.g. 2 × bar length).
    public init(labels: [AnomalyLabel], flagged: some Sequence<FlaggedBar>, tolerance: Int64) {
        self.tolerance = max(tolerance, 0)
        var bySymbol: [String: [Int]] = [:]
        for (i, label) in labels.enumerated() { bySymbol[label.symbol, default: []].append(i) }
        for key in bySymbol.keys {
            bySymbol[key]?.sort { labels[$0].startTimestamp < labels[$1].startTimestamp }
        }
        var detected = [Bool](repeating: false, count: labels.count)
        var truePositives: [AnomalyKind: Int] = [:]
        var falsePositives = 0
        for bar in Set(flagged) {
            var matchedKind: AnomalyKind?
            for i in bySymbol[bar.symbol] ?? [] {
                let label = labels[i]
                if label.startTimestamp > bar.timestamp { break }
                if bar.timestamp <= label.endTimestamp + self.tolerance {
                    detected[i] = true
                    if matchedKind == nil { matchedKind = label.kind }
                }
            }
            if let kind = matchedKind { truePositives[kind, default: 0] += 1 } else { falsePositives += 1 }
        }
        var perKind: [AnomalyKind: Counts] = [:]
        for (i, label) in labels.enumerated() {
            perKind[label.kind, default: Counts()].labels += 1
            if detected[i] { perKind[label.kind, default: Counts()].detectedLabels += 1 } else { missed.append(label) }
        }
        var overall = Counts()
        overall.labels = labels.count
        overall.detectedLabels = detected.filter { $0 }.count
        overall.truePositiveBars = truePositives.values.reduce(0, +)
        overall.falsePositiveBars = Double(falsePositives)
        for kind in perKind.keys {
            perKind[kind]?.truePositiveBars = truePositives[kind] ?? 0
            let share = Double(perKind[kind]?.labels ?? 0) / Double(max(labels.count, 1))
            perKind[kind]?.falsePositiveBars = Double(falsePositives) * share
        }
        self.overall = overall
        self.perKind = perKind
    }
}
