import Foundation
import VigilDetection
import VigilStore

// JSON shapes of the collector API; `openapi.yaml` documents each one (a test checks that the routes agree).
// Keys are snake_case; times are ISO 8601 UTC strings plus the exact millisecond value.

public struct APIError: Codable, Sendable {
    public var code: String
    public var message: String
}

public struct APIEvent: Codable, Sendable {
    public var id: Int64
    public var symbol: String
    public var time: String
    public var timestampMs: Int64
    public var tier: Int32
    public var detector: String
    public var score: Double
    public var severity: String
    public var anomalyScore: Double?
    public var features: [String: Double?]
    public var traceID: String?
    public var spanID: String?

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

public struct APIPage<Item: Codable & Sendable>: Codable, Sendable {
    public var items: [Item]
    public var nextCursor: String?

    enum CodingKeys: String, CodingKey {
        case items
        case nextCursor = "next_cursor"
    }
}

public struct APIAlert: Codable, Sendable {
    public var id: Int64
    public var symbol: String
    public var firstTime: String
    public var lastTime: String
    public var firstTimestampMs: Int64
    public var lastTimestampMs: Int64
    public var tier: Int32
    public var kind: String
    public var severity: String
    public var score: Double
    public var explanation: String
    public var traceID: String?
    public var spanID: String?
    public var feedback: [APIFeedback]?

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

public struct APIFeedback: Codable, Sendable {
    public var id: Int64
    public var alertID: Int64
    public var label: String
    public var note: String
    public var createdAt: String

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

public struct APIBar: Codable, Sendable {
    public var symbol: String
    public var time: String
    public var timestampMs: Int64
    public var intervalSeconds: Int32
    public var open: Double
    public var high: Double
    public var low: Double
    public var close: Double
    public var volume: Double
    public var feed: String
    public var agentID: String

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

public struct APIBars: Codable, Sendable {
    public var symbol: String
    public var bars: [APIBar]
}

public struct APIStats: Codable, Sendable {
    public var bars: Int64
    public var detections: Int64
    public var alerts: Int64
    public var batchesAccepted: Int64
    public var duplicates: Int64
    public var rejected: Int64
    public var agents: Int64

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
public struct APIIngestAck: Codable, Sendable {
    public var status: String
    public var producer: String
    public var sequence: Int64
    public var highWaterMark: Int64
    public var barsAccepted: Int
    public var detections: Int
    public var alerts: Int
    public var traceID: String?

    enum CodingKeys: String, CodingKey {
        case status, producer, sequence, detections, alerts
        case highWaterMark = "high_water_mark", barsAccepted = "bars_accepted", traceID = "trace_id"
    }
}

public struct APIHealth: Codable, Sendable {
    public var status: String
    public var version: String
    public var collectorID: String
    public var store: String
    public var reason: String?

    enum CodingKeys: String, CodingKey {
        case status, version, store, reason
        case collectorID = "collector_id"
    }
}

/// ISO 8601 UTC times as the API writes and reads them (also used by the pilot's report).
public enum ISOTime {
    /// `2024-03-15T14:30:00Z` (with `.123` when the time has milliseconds); civil-from-days, no formatter state.
    public static func format(_ milliseconds: Int64) -> String { CivilDate.iso8601(milliseconds: milliseconds) }

    /// A query parameter: ISO 8601 (date or date-time) or integer milliseconds.
    static func parse(_ text: String) -> Int64? {
        if let ms = Int64(text) { return ms }
        guard let date = RequestDecoder.parseTime(text) else { return nil }
        return Int64((date.timeIntervalSince1970 * 1000).rounded())
    }
}

/// A registered Tier-2 model (`GET /v1/models`), without its artifact.
public struct APIModel: Codable, Sendable {
    public var id: Int64
    public var kind: String
    public var version: Int
    public var status: String
    public var featureSetVersion: Int
    public var trainedFrom: String
    public var trainedTo: String
    public var parameters: [String: Double]
    public var metrics: [String: Double]
    public var parentID: Int64?
    public var createdAt: String
    public var createdBy: String
    public var promotedAt: String?
    public var promotedBy: String?
    public var artifactBytes: Int
    public var artifactSHA256: String

    enum CodingKeys: String, CodingKey {
        case id, kind, version, status, parameters, metrics
        case featureSetVersion = "feature_set_version", trainedFrom = "trained_from", trainedTo = "trained_to", parentID = "parent_id"
        case createdAt = "created_at", createdBy = "created_by", promotedAt = "promoted_at", promotedBy = "promoted_by"
        case artifactBytes = "artifact_bytes", artifactSHA256 = "artifact_sha256"
    }

    init(_ m: StoredModel) {
        id = m.id
        kind = m.kind
        version = m.version
        status = m.status.rawValue
        featureSetVersion = m.featureSetVersion
        trainedFrom = ISOTime.format(m.trainedFrom)
        trainedTo = ISOTime.format(m.trainedTo)
        parameters = ModelMetricsJSON.decode(m.parametersJSON)
        metrics = ModelMetricsJSON.decode(m.metricsJSON)
        parentID = m.parentID
        createdAt = ISOTime.format(m.createdAt)
        createdBy = m.createdBy
        promotedAt = m.promotedAt.map(ISOTime.format)
        promotedBy = m.promotedBy
        artifactBytes = m.artifactSize
        artifactSHA256 = m.artifactSHA256
    }
}

public struct APIModelList: Codable, Sendable {
    public var items: [APIModel]
}

/// One bar as Tier-2 saw it (`GET /v1/scores`): its Tier-1 score and the champions' live scores.
public struct APIScore: Codable, Sendable {
    public var symbol: String
    public var intervalSeconds: Int32
    public var time: String
    public var timestampMs: Int64
    public var tier1Score: Double
    /// Per model kind; a kind without a champion when the bar arrived is absent.
    public var scores: [String: Double]

    enum CodingKeys: String, CodingKey {
        case symbol, time, scores
        case intervalSeconds = "interval_seconds", timestampMs = "timestamp_ms", tier1Score = "tier1_score"
    }

    init(_ row: FeatureStore.ScoredRow) {
        symbol = row.symbol
        intervalSeconds = row.interval
        time = ISOTime.format(row.timestamp)
        timestampMs = row.timestamp
        tier1Score = row.tier1Score
        var scores: [String: Double] = [:]
        for (kind, value) in zip(ModelKind.all, row.scores) where value.isFinite { scores[kind] = value }
        self.scores = scores
    }
}

/// `POST /v1/models/train` answer: what the run registered and promoted.
public struct APITrainingRun: Codable, Sendable {
    public struct Promotion: Codable, Sendable {
        public var modelID: Int64
        public var kind: String
        public var how: String
        public var reason: String
        enum CodingKeys: String, CodingKey {
            case kind, how, reason
            case modelID = "model_id"
        }
    }

    public var trigger: String
    public var rows: Int
    public var positiveLabels: Int
    /// Anomalies the trainer injected into the stored bars of the training part.
    public var injectedAnomalies: Int
    public var trainedFrom: String
    public var trainedTo: String
    public var seconds: Double
    public var registered: [APIModel]
    public var promotions: [Promotion]
    public var notes: [String: String]

    enum CodingKeys: String, CodingKey {
        case trigger, rows, seconds, registered, promotions, notes
        case positiveLabels = "positive_labels", trainedFrom = "trained_from", trainedTo = "trained_to"
        case injectedAnomalies = "injected_anomalies"
    }

    init(_ o: TrainingOutcome) {
        trigger = o.trigger
        rows = o.rows
        positiveLabels = o.positiveLabels
        injectedAnomalies = o.injectedAnomalies
        trainedFrom = ISOTime.format(o.trainedFrom)
        trainedTo = ISOTime.format(o.trainedTo)
        seconds = o.seconds
        registered = o.registered.map(APIModel.init)
        promotions = o.promotions.map { Promotion(modelID: $0.modelID, kind: $0.kind, how: $0.how, reason: $0.reason) }
        notes = o.notes
    }
}

/// Optional body of `POST /v1/models/train` and `POST /v1/models/{id}/promote`.
struct ModelActionRequest: Decodable {
    var by: String?
}
