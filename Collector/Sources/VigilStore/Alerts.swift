// Vigil collector store: alerts and analyst feedback (issue 3 §5, §7: `/v1/alerts`, feedback kept for training).

/// An alert as the Alerter produces it: one per symbol episode (or `ALL` for a market-wide event).
///
/// `key` is the Alerter's stable episode key: storing an alert whose key already exists *updates* that alert (the
/// episode grew), so re-applying the same batch or re-scoring never duplicates alerts. `id` is assigned by the store.
public struct StoredAlert: Sendable, Hashable {
    public var id: Int64
    public var key: String
    /// The symbol, or `ALL` for a market-wide alert.
    public var symbol: String
    /// First and last bar time of the episode, ms since the epoch.
    public var firstTimestamp: Int64
    public var lastTimestamp: Int64
    public var tier: Int32
    public var kind: String
    public var severity: String
    /// 0...100.
    public var score: Double
    /// Human-readable: which detectors and features, by how much.
    public var explanation: String
    /// Trace and span of the bar that raised the alert (kept from the first store; later updates do not replace it).
    public var traceID: String?
    public var spanID: String?

    public init(
        id: Int64 = 0,
        key: String,
        symbol: String,
        firstTimestamp: Int64,
        lastTimestamp: Int64,
        tier: Int32,
        kind: String,
        severity: String,
        score: Double,
        explanation: String,
        traceID: String? = nil,
        spanID: String? = nil
    ) {
        self.id = id
        self.key = key
        self.symbol = symbol
        self.firstTimestamp = firstTimestamp
        self.lastTimestamp = lastTimestamp
        self.tier = tier
        self.kind = kind
        self.severity = severity
        self.score = score
        self.explanation = explanation
        self.traceID = traceID
        self.spanID = spanID
    }
}

/// Filters for `AlertStore.alerts(_:)`; `from`/`to` apply to the episode's first bar time.
public struct AlertQuery: Sendable, Hashable {
    public var symbol: String?
    public var tier: Int32?
    public var kind: String?
    public var severity: String?
    public var from: Int64?
    public var to: Int64?
    /// Continues after the `(firstTimestamp, id)` of the previous page's last alert.
    public var after: DetectionCursor?
    public var limit: Int

    public init(
        symbol: String? = nil,
        tier: Int32? = nil,
        kind: String? = nil,
        severity: String? = nil,
        from: Int64? = nil,
        to: Int64? = nil,
        after: DetectionCursor? = nil,
        limit: Int = 100
    ) {
        self.symbol = symbol
        self.tier = tier
        self.kind = kind
        self.severity = severity
        self.from = from
        self.to = to
        self.after = after
        self.limit = limit
    }

    var clampedLimit: Int { clampedAlertLimit(limit) }
}

/// Page sizes of the alert queries: 1...10_000.
func clampedAlertLimit(_ limit: Int) -> Int { min(max(limit, 1), 10_000) }

public struct AlertPage: Sendable, Hashable {
    public var items: [StoredAlert]
    public var nextCursor: DetectionCursor?

    public init(items: [StoredAlert], nextCursor: DetectionCursor?) {
        self.items = items
        self.nextCursor = nextCursor
    }
}

/// An analyst's verdict on an alert; kept (never overwritten) as labels for training the Tier-2 models.
public struct AlertFeedback: Sendable, Hashable {
    public enum Label: String, Sendable, Hashable, CaseIterable {
        case truePositive = "true_positive"
        case falsePositive = "false_positive"
    }

    public var id: Int64
    public var alertID: Int64
    public var label: Label
    public var note: String
    public var createdAt: Int64

    public init(id: Int64 = 0, alertID: Int64, label: Label, note: String = "", createdAt: Int64) {
        self.id = id
        self.alertID = alertID
        self.label = label
        self.note = note
        self.createdAt = createdAt
    }
}

/// An alert with the analyst's latest verdict on it: a training label for the Tier-2 models.
public struct LabelledAlert: Sendable, Hashable {
    public var alert: StoredAlert
    /// The latest feedback's label (feedback is never overwritten; the newest row by id wins).
    public var label: AlertFeedback.Label
    /// When that feedback was given, ms since the epoch.
    public var labelledAt: Int64

    public init(alert: StoredAlert, label: AlertFeedback.Label, labelledAt: Int64) {
        self.alert = alert
        self.label = label
        self.labelledAt = labelledAt
    }
}

/// Alerts and feedback; both stores implement it next to `BatchStore`.
public protocol AlertStore: Sendable {
    /// Inserts or updates (by `key`) alerts; returns their ids in order. Each call is one transaction.
    func upsertAlerts(_ alerts: [StoredAlert]) async throws -> [Int64]
    /// One page of alerts in `(firstTimestamp, id)` order.
    func alerts(_ query: AlertQuery) async throws -> AlertPage
    func alert(id: Int64) async throws -> StoredAlert?
    /// Stores feedback; throws `.notFound` when the alert does not exist.
    func addFeedback(_ feedback: AlertFeedback) async throws -> AlertFeedback
    func feedback(alertID: Int64) async throws -> [AlertFeedback]
    /// Alerts that have feedback, each with its latest label, in alert id order; `after` continues after that alert id,
    /// `limit` is clamped to 1...10_000. Market-wide (`ALL`) alerts are included.
    func labelledAlerts(after: Int64?, limit: Int) async throws -> [LabelledAlert]
}

extension StoredAlert {
    func validate() throws(StoreError) {
        guard !key.isEmpty, !symbol.isEmpty else { throw StoreError(.invalidBatch, "alert key and symbol must not be empty") }
        for text in [key, symbol, kind, severity, explanation, traceID ?? "", spanID ?? ""] where text.utf8.contains(0) {
            throw StoreError(.invalidBatch, "alert text field contains NUL")
        }
    }
}
