import ArgumentParser
import Foundation
import VigilCollector
import VigilDetection
import VigilHTTP

/// The collector's API as the pilot uses it: real HTTP over loopback, the same JSON an operator's tools get.
struct PilotAPI: Sendable {
    let base: String
    let client: HTTPClient

    func get<T: Decodable>(_ path: String, as type: T.Type) async throws -> T {
        let response = try await client.execute(HTTPRequest(url: base + path, timeoutSeconds: 60))
        guard response.status == 200 else { throw ValidationError("GET \(path): HTTP \(response.status) \(response.bodyText.prefix(200))") }
        return try JSONDecoder().decode(T.self, from: Data(response.body))
    }

    func stats() async throws -> APIStats { try await get("/v1/stats", as: APIStats.self) }

    /// `POST /v1/models/train`: one training cycle, answered when it is done.
    func train(by actor: String) async throws -> APITrainingRun {
        let body = try JSONEncoder().encode(["by": actor])
        let response = try await client.execute(
            HTTPRequest(
                method: "POST", url: base + "/v1/models/train", headers: [("Content-Type", "application/json")], body: [UInt8](body),
                timeoutSeconds: 900))
        guard response.status == 200 else { throw ValidationError("HTTP \(response.status) \(response.bodyText.prefix(300))") }
        return try JSONDecoder().decode(APITrainingRun.self, from: Data(response.body))
    }

    func models() async throws -> [APIModel] { try await get("/v1/models?limit=100", as: APIModelList.self).items }

    func all<Item: Codable & Sendable>(_ path: String, as: Item.Type) async throws -> [Item] {
        var items: [Item] = []
        var cursor: String?
        repeat {
            let separator = path.contains("?") ? "&" : "?"
            let page = try await get(path + separator + "limit=10000" + (cursor.map { "&cursor=\($0)" } ?? ""), as: APIPage<Item>.self)
            items += page.items
            cursor = page.nextCursor
        } while cursor != nil
        return items
    }

    func barTimes(symbol: String) async throws -> [Int64] {
        var times: [Int64] = []
        var from: Int64 = Int64.min / 2
        while true {
            let escaped = symbol.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? symbol
            let page = try await get("/v1/bars?symbol=\(escaped)&from=\(from)&limit=10000", as: APIBars.self)
            times += page.bars.map(\.timestampMs)
            guard page.bars.count == 10_000, let last = page.bars.last?.timestampMs else { return times }
            from = last + 1
        }
    }
}

/// What `vigil pilot` prints (text) or emits (`--json`).
struct PilotReport: Encodable {
    struct Scores: Encodable {
        var labels: Int
        var detected: Int
        var precision: Double
        var recall: Double
        var f1: Double
    }

    struct Events: Encodable {
        var events: Int
        var hits: Int
        var recall: Double
        var flagsPerSymbolMonth: Double
        var missed: [EventsEvaluation.Result]
    }

    var source: String
    var store: String
    var agents: Int
    var symbols: Int
    var bars: Int64
    var elapsedSeconds: Double
    var barsPerSecond: Double
    var batchesAccepted: Int64
    var duplicates: Int64
    var rejected: Int64
    var detections: [String: Int]
    var alerts: [String: Int]
    var marketWideAlerts: Int
    var topAlerts: [APIAlert]
    var precision: Double?
    var recall: Double?
    var f1: Double?
    var byTier: [String: Scores]?
    var byKind: [String: Scores]?
    var events: Events?
    /// The training cycles the pilot ran and the registry afterwards.
    var training: [APITrainingRun] = []
    var models: [APIModel] = []
    /// The synthetic market's second half, scored live by the champions the first half trained.
    var live: LiveScores?

    struct LiveScores: Encodable {
        var from: String
        var tier1: Scores
        var tier2: Scores
        /// Per Tier-2 model; the boosted trees' row is the system's verdict (Tier-1 scores are among its features).
        var byModel: [String: Scores]
        /// A bar flagged by either tier.
        var either: Scores
        /// Ranking quality of each score over the half's bars (`tier1`, then each model kind).
        var auc: [String: ScoreQuality] = [:]
    }

    struct ScoreQuality: Encodable {
        var rocAUC: Double?
        var prAUC: Double?
        var bars: Int
    }

    /// `GET /v1/scores` rows as `vigil evaluate`'s score table (`tier1`, then the model kinds).
    static func scoreTable(_ scores: [APIScore]) -> EvaluationReport.ScoreTable {
        EvaluationReport.ScoreTable(
            columns: ["tier1"] + ModelKind.all,
            rows: scores.map { s in
                EvaluationReport.ScoreTable.Row(
                    symbol: s.symbol, timestamp: s.timestampMs, values: [s.tier1Score] + ModelKind.all.map { s.scores[$0] })
            })
    }

    // Kept for --export, not part of the JSON report.
    var allAlerts: [APIAlert] = []
    var allEvents: [APIEvent] = []
    var allScores: [APIScore] = []

    enum CodingKeys: String, CodingKey {
        case source, store, agents, symbols, bars, detections, alerts, precision, recall, f1, events
        case elapsedSeconds = "elapsed_seconds", barsPerSecond = "bars_per_second", batchesAccepted = "batches_accepted"
        case duplicates, rejected, marketWideAlerts = "market_wide_alerts", topAlerts = "top_alerts", byTier = "by_tier", byKind = "by_kind"
        case training, models, live
    }

    static func build(
        api: PilotAPI, plan: PilotPlan, elapsedSeconds: Double, eventsPath: String?, labelsPath: String?, top: Int, store: String,
        training: [APITrainingRun] = [], splitTimestamp: Int64? = nil
    ) async throws -> PilotReport {
        let stats = try await api.stats()
        let alerts = try await api.all("/v1/alerts", as: APIAlert.self)
        let events = try await api.all("/v1/events", as: APIEvent.self)
        var detectionsByTier: [String: Int] = ["total": events.count]
        for event in events { detectionsByTier["tier\(event.tier)", default: 0] += 1 }
        var alertsByTier: [String: Int] = ["total": alerts.count]
        for alert in alerts { alertsByTier["tier\(alert.tier)", default: 0] += 1 }
        let symbols: [String]
        switch plan.source {
        case .synthetic(_, let count, _): symbols = (1...count).map { String(format: "SYN%03d", $0) }
        case .replay(_, let names): symbols = names
        }
        var report = PilotReport(
            source: plan.description, store: store, agents: plan.agents, symbols: symbols.count, bars: stats.bars, elapsedSeconds: elapsedSeconds,
            barsPerSecond: elapsedSeconds > 0 ? Double(stats.bars) / elapsedSeconds : 0, batchesAccepted: stats.batchesAccepted,
            duplicates: stats.duplicates, rejected: stats.rejected, detections: detectionsByTier, alerts: alertsByTier,
            marketWideAlerts: alerts.filter { $0.symbol == "ALL" }.count,
            topAlerts: Array(alerts.sorted { ($0.score, $1.id) > ($1.score, $0.id) }.prefix(top)))
        report.allAlerts = alerts
        report.allEvents = events

        // Labelled anomalies (synthetic market): `vigil evaluate`'s rules over what the collector stored and scored.
        if let labelsPath, let text = try? String(contentsOfFile: labelsPath, encoding: .utf8) {
            let labels = text.split(separator: "\n").dropFirst().compactMap { AnomalyLabel(csvLine: $0) }
            let tolerance: Int64 = 2 * 86_400_000
            let detections = events.map {
                EvaluationReport.Detection(symbol: $0.symbol, timestamp: $0.timestampMs, tier: Int($0.tier), detector: $0.detector)
            }
            let scores = try await api.all("/v1/scores", as: APIScore.self)
            report.allScores = scores
            let table = PilotReport.scoreTable(scores)
            let whole = EvaluationReport(labels: labels, detections: detections, scores: table, tolerance: tolerance)
            report.precision = whole.overall.precision
            report.recall = whole.overall.recall
            report.f1 = whole.overall.f1
            report.byTier = Dictionary(
                uniqueKeysWithValues: whole.perTier.filter { $0.value.truePositiveBars + Int($0.value.falsePositiveBars) > 0 }.map {
                    ("tier\($0.key)", Scores($0.value))
                })
            report.byKind = Dictionary(uniqueKeysWithValues: whole.perKind.map { ($0.key.rawValue, Scores($0.value)) })
            // The second half: labels that start there, flags and scores of its bars.
            if let split = splitTimestamp {
                let live = EvaluationReport(labels: labels, detections: detections, scores: table, tolerance: tolerance, from: split)
                var auc: [String: ScoreQuality] = [:]
                for q in live.scoreQuality ?? [] { auc[q.column] = ScoreQuality(rocAUC: q.rocAUC, prAUC: q.prAUC, bars: q.bars) }
                report.live = LiveScores(
                    from: ISOTime.format(split), tier1: Scores(live.perTier[1] ?? .init()), tier2: Scores(live.perTier[2] ?? .init()),
                    byModel: live.perDetector.mapValues { Scores($0) }, either: Scores(live.overall), auc: auc)
            }
        }
        report.training = training
        report.models = (try? await api.models()) ?? []

        // Dated events (replay of real data): the rules of events_eval.py over what the collector stored.
        if let eventsPath {
            let marketEvents = try MarketEvent.parse(csv: try String(contentsOfFile: eventsPath, encoding: .utf8))
            var barDays: [String: Set<String>] = [:]
            for symbol in symbols {
                barDays[symbol] = Set(try await api.barTimes(symbol: symbol).map { String(ISOTime.format($0).prefix(10)) })
            }
            var flaggedDays: [String: Set<String>] = [:]
            for event in events where event.symbol != "ALL" { flaggedDays[String(event.time.prefix(10)), default: []].insert(event.symbol) }
            let evaluation = EventsEvaluation(events: marketEvents, barDays: barDays, flaggedDays: flaggedDays)
            report.events = Events(
                events: evaluation.results.count, hits: evaluation.hits, recall: evaluation.recall,
                flagsPerSymbolMonth: evaluation.flagsPerSymbolMonth,
                missed: evaluation.missed)
        }
        return report
    }

    func jsonText() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        return String(decoding: try encoder.encode(self), as: UTF8.self) + "\n"
    }

    func text() -> String {
        func pct(_ x: Double?) -> String { x.map { String(format: "%.3f", $0) } ?? "-" }
        var lines: [String] = []
        lines.append("Vigil pilot report")
        lines.append("  source          \(source); \(agents) agent(s); \(store) store")
        lines.append(
            "  bars            \(bars.grouped) in \(String(format: "%.1f", elapsedSeconds)) s = \(Int(barsPerSecond).grouped) bars/s "
                + "(\(batchesAccepted.grouped) batches, \(duplicates) duplicates, \(rejected) rejected)")
        let tiers = detections.keys.filter { $0 != "total" }.sorted().map { "\($0) \(detections[$0] ?? 0)" }.joined(separator: ", ")
        lines.append("  detections      \((detections["total"] ?? 0).grouped) (\(tiers.isEmpty ? "none" : tiers))")
        let alertTiers = alerts.keys.filter { $0 != "total" }.sorted().map { "\($0) \(alerts[$0] ?? 0)" }.joined(separator: ", ")
        lines.append(
            "  alerts          \((alerts["total"] ?? 0).grouped) (\(alertTiers.isEmpty ? "none" : alertTiers); \(marketWideAlerts) market-wide)")
        if let precision {
            lines.append("  labels          precision \(pct(precision))  recall \(pct(recall))  F1 \(pct(f1))")
            for (tier, s) in (byTier ?? [:]).sorted(by: { $0.key < $1.key }) {
                lines.append(
                    "    \(tier.padding(toLength: 16, withPad: " ", startingAt: 0)) precision \(pct(s.precision))  recall \(pct(s.recall))  F1 \(pct(s.f1))"
                )
            }
            for (kind, s) in (byKind ?? [:]).sorted(by: { $0.key < $1.key }) {
                lines.append(
                    "    \(kind.padding(toLength: 16, withPad: " ", startingAt: 0)) \(s.detected)/\(s.labels) found  precision \(pct(s.precision))  recall \(pct(s.recall))  F1 \(pct(s.f1))"
                )
            }
        }
        if let live {
            lines.append("  second half     (from \(live.from.prefix(10)), scored live by the champions the first half trained)")
            let rows =
                [("tier 1 (edge)", live.tier1, "tier1"), ("tier 2 (any model)", live.tier2, "")]
                + live.byModel.sorted { $0.key < $1.key }.map { ("  " + $0.key, $0.value, $0.key) }
                + [("either tier", live.either, "")]
            for (name, s, column) in rows {
                let auc = live.auc[column].map { "  ROC-AUC \(pct($0.rocAUC))  PR-AUC \(pct($0.prAUC))" } ?? ""
                lines.append(
                    "    \(name.padding(toLength: 26, withPad: " ", startingAt: 0)) \(s.detected)/\(s.labels) found  precision \(pct(s.precision))  recall \(pct(s.recall))  F1 \(pct(s.f1))\(auc)"
                )
            }
            if let verdict = live.byModel[ModelKind.boostedTrees] {
                lines.append(
                    "    Tier-1 + Tier-2 verdict: F1 \(pct(verdict.f1)) (the boosted trees decide, with the agents' Tier-1 scores among their features)"
                )
            }
        }
        for (index, run) in training.enumerated() {
            lines.append(
                "  training \(index + 1)      \(run.rows.grouped) feature rows, \(run.positiveLabels) labelled + \(run.injectedAnomalies.grouped) injected anomalies, \(String(format: "%.1f", run.seconds)) s → "
                    + (run.registered.isEmpty
                        ? "nothing registered" : run.registered.map { "\($0.kind) v\($0.version) \($0.status)" }.joined(separator: ", ")))
            for (key, note) in run.notes.sorted(by: { $0.key < $1.key }) { lines.append("    \(key): \(note)") }
        }
        if !models.isEmpty {
            lines.append("  model registry")
            for model in models {
                let m = model.metrics
                lines.append(
                    "    #\(model.id) \(model.kind) v\(model.version) \(model.status)  held-out\(m["measured_on_injected"] == 1 ? " (injected)" : "") F1 \(pct(m["f1"]))  ROC-AUC \(pct(m["roc_auc"]))  PR-AUC \(pct(m["pr_auc"]))  threshold \(pct(m["threshold"]))"
                )
            }
        }
        if let events {
            lines.append(
                "  events          \(events.hits)/\(events.events) found, recall \(pct(events.recall)); \(String(format: "%.2f", events.flagsPerSymbolMonth)) flags per symbol-month"
            )
            for miss in events.missed {
                lines.append(
                    "    missed \(miss.date) \(miss.symbols) (\(miss.kind))\(miss.missed.map { ": not flagged " + $0.joined(separator: ",") } ?? "")\(miss.rank.map { ": day rank \($0)" } ?? "")"
                )
            }
        }
        lines.append("  top alerts")
        for alert in topAlerts {
            let span =
                alert.firstTime == alert.lastTime ? String(alert.firstTime.prefix(10)) : "\(alert.firstTime.prefix(10))..\(alert.lastTime.prefix(10))"
            lines.append(
                "    #\(alert.id) \(alert.symbol) \(span) tier \(alert.tier) \(alert.kind) \(alert.severity) score \(String(format: "%.1f", alert.score))"
                    + (alert.traceID.map { " trace \($0)" } ?? ""))
            lines.append("        \(alert.explanation)")
        }
        return lines.joined(separator: "\n")
    }

    /// `alerts.csv` (id, symbol or ALL, first/last bar time ISO 8601, tier, kind, score), `detections.csv`
    /// (symbol, bar time, tier, detector, score) and, when the collector scored bars, `scores.csv` (symbol, bar time,
    /// Tier-1 score, each model kind's live score) — `vigil evaluate`'s input.
    func export(to directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var alertsCSV = "id,symbol,first_time,last_time,tier,kind,severity,score\n"
        for a in allAlerts {
            alertsCSV += "\(a.id),\(CSV.field(a.symbol)),\(a.firstTime),\(a.lastTime),\(a.tier),\(CSV.field(a.kind)),\(a.severity),\(a.score)\n"
        }
        try alertsCSV.write(toFile: directory + "/alerts.csv", atomically: true, encoding: .utf8)
        var detectionsCSV = "symbol,time,tier,detector,score\n"
        for d in allEvents { detectionsCSV += "\(CSV.field(d.symbol)),\(d.time),\(d.tier),\(CSV.field(d.detector)),\(d.score)\n" }
        try detectionsCSV.write(toFile: directory + "/detections.csv", atomically: true, encoding: .utf8)
        guard !allScores.isEmpty else { return }
        var scoresCSV = "symbol,time,tier1," + ModelKind.all.joined(separator: ",") + "\n"
        for s in allScores {
            scoresCSV += "\(CSV.field(s.symbol)),\(s.time),\(s.tier1Score)"
            for kind in ModelKind.all { scoresCSV += "," + (s.scores[kind].map { "\($0)" } ?? "") }
            scoresCSV += "\n"
        }
        try scoresCSV.write(toFile: directory + "/scores.csv", atomically: true, encoding: .utf8)
    }
}

extension PilotReport.Scores {
    init(_ counts: LabelEvaluation.Counts) {
        self.init(labels: counts.labels, detected: counts.detectedLabels, precision: counts.precision, recall: counts.recall, f1: counts.f1)
    }
}

enum CSV {
    static func field(_ text: String) -> String {
        text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" }) ? "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : text
    }
}
