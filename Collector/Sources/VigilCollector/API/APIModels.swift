import Foundation
import VigilStore

// JSON shapes of the collector API; `openapi.yaml` documents each one (a test checks that the routes agree).
// Keys are snake_case; times are ISO 8601 UTC strings plus the exact millisecond value.

struct APIError: Codable, Sendable {
    var code: String
    var message: String
}

struct APIEvent: Codable, Sendable {
    var id: Int64
    var symbol: String
    var time: String
    var timestampMs: Int64
    var tier: Int32
    var detector: String
    var score: Double
    var severity: String
    var anomalyScore: Double?
    var features: [String: Double?]
    var traceID: String?
    var spanID: String?

    enum CodingKeys: String, CodingKey {
        case id, symbol, time, tier, detector, score, severity, features
        case timestampMs = "timestamp_ms", anomalyScore = "anomaly_score", traceID = "trace_id", spanID = "span_id"
    }

    init(_ d: StoredDetection) {
        id = d.id
        symbol = d.symbol
        time = ISOTime.format(d.timestamp)
        timestampMs = d.timestamp
        tier = d.tier
        detector = d.detector
        score = d.score.isFinite ? d.score : 0
        severity = d.severity
        anomalyScore = d.anomalyScore.flatMap { $0.isFinite ? $0 : nil }
        features = Self.parseFeatures(d.featuresJSON)
        traceID = d.traceID
        spanID = d.spanID
    }

    static func parseFeatures(_ json: String) -> [String: Double?] {
        guard let object = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any] else { return [:] }
        var out: [String: Double?] = [:]
        for (key, value) in object { out[key] = (value as? NSNumber)?.doubleValue }
        return out
    }
}

struct APIPage<Item: Codable & Sendable>: Codable, Sendable {
    var items: [Item]
    var nextCursor: String?

    enum CodingKeys: String, CodingKey {
        case items
        case nextCursor = "next_cursor"
    }
}

struct APIAlert: Codable, Sendable {
    var id: Int64
    var symbol: String
    var firstTime: String
    var lastTime: String
    var firstTimestampMs: Int64
    var lastTimestampMs: Int64
    var tier: Int32
    var kind: String
    var severity: String
    var score: Double
    var explanation: String
    var traceID: String?
    var spanID: String?
    var feedback: [APIFeedback]?

    enum CodingKeys: String, CodingKey {
        case id, symbol, tier, kind, severity, score, explanation, feedback
        case firstTime = "first_time", lastTime = "last_time", firstTimestampMs = "first_timestamp_ms"
        case lastTimestampMs = "last_timestamp_ms", traceID = "trace_id", spanID = "span_id"
    }

    init(_ a: StoredAlert, feedback: [AlertFeedback]? = nil) {
        id = a.id
        symbol = a.symbol
        firstTime = ISOTime.format(a.firstTimestamp)
        lastTime = ISOTime.format(a.lastTimestamp)
        firstTimestampMs = a.firstTimestamp
        lastTimestampMs = a.lastTimestamp
        tier = a.tier
        kind = a.kind
        severity = a.severity
        score = a.score
        explanation = a.explanation
        traceID = a.traceID
        spanID = a.spanID
        self.feedback = feedback?.map(APIFeedback.init)
    }
}

struct APIFeedback: Codable, Sendable {
    var id: Int64
    var alertID: Int64
    var label: String
    var note: String
    var createdAt: String

    enum CodingKeys: String, CodingKey {
        case id, label, note
        case alertID = "alert_id", createdAt = "created_at"
    }

    init(_ f: AlertFeedback) {
        id = f.id
        alertID = f.alertID
        label = f.label.rawValue
        note = f.note
        createdAt = ISOTime.format(f.createdAt)
    }
}

/// `POST /v1/alerts/{id}/feedback` body.
struct FeedbackRequest: Decodable {
    var label: String
    var note: String?
}

struct APIBar: Codable, Sendable {
    var symbol: String
    var time: String
    var timestampMs: Int64
    var intervalSeconds: Int32
    var open: Double
    var high: Double
    var low: Double
    var close: Double
    var volume: Double
    var feed: String
    var agentID: String

    enum CodingKeys: String, CodingKey {
        case symbol, time, open, high, low, close, volume, feed
        case timestampMs = "timestamp_ms", intervalSeconds = "interval_seconds", agentID = "agent_id"
    }

    init(_ b: StoredBar) {
        symbol = b.symbol
        time = ISOTime.format(b.timestamp)
        timestampMs = b.timestamp
        intervalSeconds = b.intervalSeconds
        open = b.open
        high = b.high
        low = b.low
        close = b.close
        volume = b.volume
        feed = b.feed
        agentID = b.agentID
    }
}

struct APIBars: Codable, Sendable {
    var symbol: String
    var bars: [APIBar]
}

struct APIStats: Codable, Sendable {
    var bars: Int64
    var detections: Int64
    var alerts: Int64
    var batchesAccepted: Int64
    var duplicates: Int64
    var rejected: Int64
    var agents: Int64

    enum CodingKeys: String, CodingKey {
        case bars, detections, alerts, duplicates, rejected, agents
        case batchesAccepted = "batches_accepted"
    }

    init(_ s: StoreStats) {
        bars = s.bars
        detections = s.detections
        alerts = s.alerts
        batchesAccepted = s.batchesAccepted
        duplicates = s.duplicates
        rejected = s.rejected
        agents = s.agents
    }
}

/// `POST /v1/ingest` answer (agents get a protobuf `Ack` instead).
struct APIIngestAck: Codable, Sendable {
    var status: String
    var producer: String
    var sequence: Int64
    var highWaterMark: Int64
    var barsAccepted: Int
    var detections: Int
    var alerts: Int
    var traceID: String?

    enum CodingKeys: String, CodingKey {
        case status, producer, sequence, detections, alerts
        case highWaterMark = "high_water_mark", barsAccepted = "bars_accepted", traceID = "trace_id"
    }
}

struct APIHealth: Codable, Sendable {
    var status: String
    var version: String
    var collectorID: String
    var store: String
    var reason: String?

    enum CodingKeys: String, CodingKey {
        case status, version, store, reason
        case collectorID = "collector_id"
    }
}

enum ISOTime {
    /// `2024-03-15T14:30:00Z` (with `.123` when the time has milliseconds); civil-from-days, no formatter state.
    static func format(_ milliseconds: Int64) -> String {
        let ms = ((milliseconds % 1000) + 1000) % 1000
        let seconds = (milliseconds - ms) / 1000
        let secondOfDay = ((seconds % 86_400) + 86_400) % 86_400
        let days = (seconds - secondOfDay) / 86_400
        // Howard Hinnant's days_from_civil inverse.
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yoe + era * 400 + (month <= 2 ? 1 : 0)
        func pad(_ value: Int64, _ width: Int) -> String {
            let text = String(value)
            return text.count >= width ? text : String(repeating: "0", count: width - text.count) + text
        }
        var text =
            "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))T\(pad(secondOfDay / 3600, 2)):\(pad(secondOfDay / 60 % 60, 2)):\(pad(secondOfDay % 60, 2))"
        if ms != 0 { text += ".\(pad(ms, 3))" }
        return text + "Z"
    }

    /// A query parameter: ISO 8601 (date or date-time) or integer milliseconds.
    static func parse(_ text: String) -> Int64? {
        if let ms = Int64(text) { return ms }
        guard let date = RequestDecoder.parseTime(text) else { return nil }
        return Int64((date.timeIntervalSince1970 * 1000).rounded())
    }
}
