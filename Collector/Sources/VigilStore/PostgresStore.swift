// Vigil collector store: the production store (issue 3 §6), PostgreSQL through libpq.
import CoreMetrics
import Logging
import Synchronization

/// The PostgreSQL `BatchStore`: COPY (binary) for bulk loads, monthly range partitions on bar time for `bars` and
/// `detections`, retention by dropping whole partitions, versioned migrations at start.
///
/// Exactly-once: the batch's rows, its bronze row and the agent's high-water mark are written in one transaction that
/// first locks the agent's `agent_sequences` row (`INSERT … ON CONFLICT DO NOTHING` then `SELECT … FOR UPDATE`), so two
/// appliers of the same agent serialise on that row and the second sees the first's committed high-water mark.
public final class PostgresStore: BatchStore {
    public let kind = "postgres"
    private let pool: PostgresPool
    /// One thread per connection: every caller borrows its own connection, so appliers of different agents run in
    /// parallel, and the pool never lets more than `maxConnections` jobs exist at once.
    private let io: BlockingIO
    let logger: Logger
    private let metrics: StoreMetrics
    /// Month keys (`yyyymm`) whose partitions are known to exist, so the hot path skips DDL.
    private let knownPartitions = Mutex<Set<Int64>>([])

    /// - Parameters:
    ///   - url: a libpq connection string or URI (`postgresql://user@host:port/db`); config key `store.postgres.url`.
    ///   - schema: optional schema (created if missing, used as `search_path`); lets tests and tenants share a database.
    ///     Must match `[a-z_][a-z0-9_]*`.
    ///   - maxIdleConnections: connections kept open between calls.
    ///   - maxConnections: at most this many connections exist at once; further callers wait (FIFO) for one to be
    ///     returned. Must be ≥ 1. Size it below the server's `max_connections` divided by the number of collectors.
    ///   - applicationName: `application_name` of every connection (seen in `pg_stat_activity`); same rule as `schema`.
    public init(
        url: String,
        schema: String? = nil,
        logger: Logger,
        metricsFactory: any MetricsFactory = MetricsSystem.factory,
        maxIdleConnections: Int = 4,
        maxConnections: Int = 8,
        applicationName: String = "vigil_collector"
    ) throws(StoreError) {
        /// Both are spliced into SQL (identifiers and `SET` cannot take bind parameters), so only a safe alphabet passes.
        func isIdentifier(_ name: String) -> Bool {
            !name.isEmpty && name.utf8.count <= 63
                && name.utf8.allSatisfy { ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x5F }
                && !(name.utf8.first.map { $0 >= 0x30 && $0 <= 0x39 } ?? true)
        }
        if let schema, !isIdentifier(schema) { throw StoreError(.invalidBatch, "invalid schema name \(schema)") }
        guard isIdentifier(applicationName) else { throw StoreError(.invalidBatch, "invalid application name \(applicationName)") }
        guard maxConnections >= 1 else { throw StoreError(.invalidBatch, "maxConnections must be >= 1, got \(maxConnections)") }
        self.pool = PostgresPool(
            url: url, schema: schema, applicationName: applicationName, maxIdle: min(maxIdleConnections, maxConnections),
            maxConnections: maxConnections, metrics: StorePoolMetrics(store: "postgres", factory: metricsFactory)
        )
        self.io = BlockingIO(threads: maxConnections)
        self.logger = logger
        self.metrics = StoreMetrics(store: "postgres", factory: metricsFactory)
    }

    // MARK: Migrations

    /// Versioned schema. Never edit a released migration: append a new one.
    ///
    /// Bar times are BIGINT milliseconds (exact, as on the wire, and cheap in binary COPY); partitions are ranges of
    /// them per UTC month. In PostgreSQL NaN sorts above +Infinity, so `x < 'Infinity'` rejects both NaN and ±Inf.
    /// The partitioned tables have no default partition: partitions are created before insert (`ensurePartitions`).
    static let migrations: [(version: Int64, name: String, sql: String)] = [
        (
            1, "initial",
            """
            CREATE TABLE agent_sequences (
                agent_id TEXT PRIMARY KEY,
                high_water_mark BIGINT NOT NULL,
                batches_accepted BIGINT NOT NULL DEFAULT 0,
                duplicates BIGINT NOT NULL DEFAULT 0,
                bars BIGINT NOT NULL DEFAULT 0,
                detections BIGINT NOT NULL DEFAULT 0,
                updated_at_ms BIGINT NOT NULL
            );
            CREATE TABLE batches (
                agent_id TEXT NOT NULL,
                sequence BIGINT NOT NULL,
                received_at_ms BIGINT NOT NULL,
                payload BYTEA NOT NULL,
                bar_count INTEGER NOT NULL,
                detection_count INTEGER NOT NULL,
                PRIMARY KEY (agent_id, sequence)
            );
            CREATE TABLE bars (
                symbol TEXT NOT NULL CHECK (length(symbol) BETWEEN 1 AND 64),
                interval_seconds INTEGER NOT NULL CHECK (interval_seconds > 0),
                ts_ms BIGINT NOT NULL,
                open DOUBLE PRECISION NOT NULL CHECK (open > 0 AND open < 'Infinity'),
                high DOUBLE PRECISION NOT NULL CHECK (high > 0 AND high < 'Infinity'),
                low DOUBLE PRECISION NOT NULL CHECK (low > 0 AND low < 'Infinity'),
                close DOUBLE PRECISION NOT NULL CHECK (close > 0 AND close < 'Infinity'),
                volume DOUBLE PRECISION NOT NULL CHECK (volume >= 0 AND volume < 'Infinity'),
                feed TEXT NOT NULL,
                agent_id TEXT NOT NULL,
                batch_sequence BIGINT NOT NULL,
                CHECK (high >= low AND close BETWEEN low AND high AND open BETWEEN low AND high)
            ) PARTITION BY RANGE (ts_ms);
            CREATE INDEX bars_symbol_ts ON bars (symbol, ts_ms);
            CREATE SEQUENCE detections_id_seq;
            CREATE TABLE detections (
                id BIGINT NOT NULL DEFAULT nextval('detections_id_seq'),
                symbol TEXT NOT NULL,
                ts_ms BIGINT NOT NULL,
                tier INTEGER NOT NULL CHECK (tier BETWEEN 1 AND 3),
                detector TEXT NOT NULL,
                score DOUBLE PRECISION NOT NULL,
                severity TEXT NOT NULL,
                anomaly_score DOUBLE PRECISION,
                features JSONB NOT NULL,
                trace_id TEXT,
                span_id TEXT,
                agent_id TEXT NOT NULL,
                batch_sequence BIGINT NOT NULL,
                PRIMARY KEY (ts_ms, id)
            ) PARTITION BY RANGE (ts_ms);
            CREATE INDEX detections_symbol_ts_id ON detections (symbol, ts_ms, id);
            """
        ),
        (
            2, "alerts_and_feedback",
            """
            CREATE TABLE alerts (
                id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                alert_key TEXT NOT NULL UNIQUE,
                symbol TEXT NOT NULL,
                first_ts_ms BIGINT NOT NULL,
                last_ts_ms BIGINT NOT NULL,
                tier INTEGER NOT NULL CHECK (tier BETWEEN 1 AND 3),
                kind TEXT NOT NULL,
                severity TEXT NOT NULL,
                score DOUBLE PRECISION NOT NULL CHECK (score >= 0 AND score <= 100),
                explanation TEXT NOT NULL,
                trace_id TEXT,
                span_id TEXT,
                updated_at_ms BIGINT NOT NULL,
                CHECK (last_ts_ms >= first_ts_ms)
            );
            CREATE INDEX alerts_first_ts_id ON alerts (first_ts_ms, id);
            CREATE INDEX alerts_symbol_first_ts_id ON alerts (symbol, first_ts_ms, id);
            CREATE TABLE alert_feedback (
                id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                alert_id BIGINT NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
                label TEXT NOT NULL CHECK (label IN ('true_positive', 'false_positive')),
                note TEXT NOT NULL,
                created_at_ms BIGINT NOT NULL
            );
            CREATE INDEX alert_feedback_alert_id ON alert_feedback (alert_id, id);
            """
        ),
        (
            3, "rejected_batches",
            """
            CREATE TABLE rejected_batches (
                id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                agent_id TEXT NOT NULL,
                received_at_ms BIGINT NOT NULL,
                code TEXT NOT NULL,
                message TEXT NOT NULL,
                body_bytes BIGINT NOT NULL CHECK (body_bytes >= 0)
            );
            CREATE INDEX rejected_batches_received_at ON rejected_batches (received_at_ms);
            """
        ),
        (
            // The Tier-2 model registry (issue 4 §4; see ModelRegistry.swift). Parameters and metrics are TEXT checked
            // by a jsonb cast, not JSONB: jsonb would reorder keys and reformat numbers, and both stores must give back
            // exactly what was registered. The partial unique index is what makes "at most one champion per kind" hold
            // whatever a writer does.
            4, "models",
            """
            CREATE TABLE models (
                id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                kind TEXT NOT NULL CHECK (length(kind) BETWEEN 1 AND 64),
                version INTEGER NOT NULL CHECK (version >= 1),
                feature_set_version INTEGER NOT NULL CHECK (feature_set_version >= 0),
                trained_from_ms BIGINT NOT NULL,
                trained_to_ms BIGINT NOT NULL,
                parameters TEXT NOT NULL CHECK (jsonb_typeof(parameters::jsonb) = 'object'),
                metrics TEXT NOT NULL CHECK (jsonb_typeof(metrics::jsonb) = 'object'),
                status TEXT NOT NULL CHECK (status IN ('challenger', 'champion', 'retired')),
                parent_id BIGINT REFERENCES models (id),
                created_at_ms BIGINT NOT NULL,
                created_by TEXT NOT NULL,
                promoted_at_ms BIGINT,
                promoted_by TEXT,
                artifact BYTEA NOT NULL,
                artifact_sha256 TEXT NOT NULL CHECK (artifact_sha256 ~ '^[0-9a-f]{64}$'),
                UNIQUE (kind, version),
                CHECK (trained_to_ms >= trained_from_ms),
                CHECK ((promoted_at_ms IS NULL) = (promoted_by IS NULL)),
                CHECK (status <> 'champion' OR promoted_at_ms IS NOT NULL)
            );
            CREATE UNIQUE INDEX models_one_champion_per_kind ON models (kind) WHERE status = 'champion';
            CREATE INDEX models_status_id ON models (status, id);
            """
        ),
    ]

    public func migrate() async throws {
        try await migrate(through: .max)
    }

    /// Applies pending migrations up to and including `version`; tests use it to build an older schema.
    package func migrate(through version: Int64) async throws {
        try await onConnection { [self] (conn) throws(StoreError) in
            // A session advisory lock keeps two collectors starting at once from racing through the same migration.
            try conn.exec("SELECT pg_advisory_lock(hashtext(current_schema() || '.vigil_migrations'))")
            defer { try? conn.exec("SELECT pg_advisory_unlock(hashtext(current_schema() || '.vigil_migrations'))") }
            try conn.exec(
                """
                CREATE TABLE IF NOT EXISTS schema_migrations (
                    version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at_ms BIGINT NOT NULL)
                """
            )
            for migration in Self.migrations where migration.version <= version {
                let applied = try conn.query("SELECT 1 FROM schema_migrations WHERE version = $1", [.text("\(migration.version)")])
                if !applied.isEmpty { continue }
                do throws(StoreError) {
                    try conn.exec("BEGIN")
                    try conn.exec(migration.sql)
                    try conn.query(
                        "INSERT INTO schema_migrations (version, name, applied_at_ms) VALUES ($1, $2, $3)",
                        [.text("\(migration.version)"), .text(migration.name), .text("\(wallClockMilliseconds())")]
                    )
                    try conn.exec("COMMIT")
                    logger.info("Applied store migration.", metadata: ["store": "postgres", "migration.version": "\(migration.version)"])
                } catch {
                    try? conn.exec("ROLLBACK")
                    throw StoreError(.migrationFailed, "migration \(migration.version) (\(migration.name)) failed: \(error.message)")
                }
            }
        }
    }

    // MARK: Apply

    public func apply(_ batch: StoredBatch) async throws -> ApplyOutcome {
        let start = ContinuousClock.now
        let result: Result<ApplyOutcome, StoreError>
        do throws(StoreError) {
            try batch.validate()
            result = .success(
                try await onConnection { [self] (conn) throws(StoreError) -> ApplyOutcome in
                    try ensurePartitions(for: batch, conn)
                    do throws(StoreError) {
                        return try Self.applyInTransaction(batch, conn)
                    } catch  where error.message.contains("no partition of relation") {
                        // Another process dropped a partition we had cached (retention): forget the cache and retry once.
                        knownPartitions.withLock { $0.removeAll() }
                        try ensurePartitions(for: batch, conn)
                        return try Self.applyInTransaction(batch, conn)
                    }
                })
        } catch {
            result = .failure(error)
        }
        metrics.record(result, barCount: batch.bars.count, start: start)
        if case .failure(let error) = result {
            logger.warning(
                "Store rejected batch.",
                metadata: [
                    "store": "postgres", "agent.id": "\(batch.agentID)", "batch.sequence": "\(batch.sequence)",
                    "error.type": "\(error.code)", "error.message": "\(error.message)",
                ]
            )
        }
        return try result.get()
    }

    /// One transaction on one connection: the agent's row lock, the bronze row, both COPYs, the alerts and the new
    /// high-water mark commit together or not at all (the COPYs run inside it; a failed COPY aborts it). COMMIT returns
    /// only after the WAL is flushed (`synchronous_commit = on` per connection), so an accepted batch survives a crash
    /// of either process, and a crash before COMMIT leaves nothing of it. Only `ensurePartitions` runs outside, by design.
    private static func applyInTransaction(_ batch: StoredBatch, _ conn: PostgresConnection) throws(StoreError) -> ApplyOutcome {
        let agent = PGParam.text(batch.agentID)
        try conn.exec("BEGIN")
        do throws(StoreError) {
            try conn.query(
                "INSERT INTO agent_sequences (agent_id, high_water_mark, updated_at_ms) VALUES ($1, -1, $2) ON CONFLICT DO NOTHING",
                [agent, .text("\(batch.receivedAt)")]
            )
            let rows = try conn.query("SELECT high_water_mark FROM agent_sequences WHERE agent_id = $1 FOR UPDATE", [agent])
            guard let text = rows.first?.first ?? nil, let hwm = Int64(text) else {
                throw StoreError(.queryFailed, "agent_sequences row missing for \(batch.agentID)")
            }
            if batch.sequence <= hwm {
                try conn.query("UPDATE agent_sequences SET duplicates = duplicates + 1 WHERE agent_id = $1", [agent])
                try conn.exec("COMMIT")
                return .duplicate(highWaterMark: hwm)
            }
            try conn.query(
                """
                INSERT INTO batches (agent_id, sequence, received_at_ms, payload, bar_count, detection_count)
                VALUES ($1, $2, $3, $4, $5, $6)
                """,
                [
                    agent, .text("\(batch.sequence)"), .text("\(batch.receivedAt)"), .bytes(batch.payload),
                    .text("\(batch.bars.count)"), .text("\(batch.detections.count)"),
                ]
            )
            if !batch.bars.isEmpty {
                try conn.copyIn(
                    """
                    COPY bars (symbol, interval_seconds, ts_ms, open, high, low, close, volume, feed, agent_id, batch_sequence)
                    FROM STDIN (FORMAT binary)
                    """,
                    PGCopyBinary.bars(batch.bars, sequence: batch.sequence)
                )
            }
            if !batch.detections.isEmpty {
                try conn.copyIn(
                    """
                    COPY detections (symbol, ts_ms, tier, detector, score, severity, anomaly_score, features, trace_id, span_id,
                        agent_id, batch_sequence)
                    FROM STDIN (FORMAT binary)
                    """,
                    PGCopyBinary.detections(batch.detections, agentID: batch.agentID, sequence: batch.sequence)
                )
            }
            for alert in batch.alerts { try conn.query(Self.upsertAlertSQL, Self.alertParams(alert)) }
            try conn.query(
                """
                UPDATE agent_sequences SET high_water_mark = $2, batches_accepted = batches_accepted + 1,
                    bars = bars + $3, detections = detections + $4, updated_at_ms = $5
                WHERE agent_id = $1
                """,
                [
                    agent, .text("\(batch.sequence)"), .text("\(batch.bars.count)"), .text("\(batch.detections.count)"),
                    .text("\(batch.receivedAt)"),
                ]
            )
            try conn.exec("COMMIT")
            return .accepted(highWaterMark: batch.sequence)
        } catch {
            try? conn.exec("ROLLBACK")
            throw error
        }
    }

    // MARK: Partitions

    /// Creates the monthly partitions a batch needs, before its transaction.
    ///
    /// Done in a separate short transaction under a per-schema advisory lock: creating a partition locks the parent
    /// table, and doing it inside the data transaction would serialise every applier behind DDL (and let two creators
    /// race on the same name). An empty partition left by a batch that then fails is harmless.
    private func ensurePartitions(for batch: StoredBatch, _ conn: PostgresConnection) throws(StoreError) {
        var months = Set<Int64>()
        for bar in batch.bars { months.insert(CivilTime.key(ms: bar.timestamp)) }
        for detection in batch.detections { months.insert(CivilTime.key(ms: detection.timestamp)) }
        let missing = knownPartitions.withLock { known in months.subtracting(known) }
        if missing.isEmpty { return }
        try conn.exec("BEGIN")
        do throws(StoreError) {
            try conn.exec("SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.vigil_partitions'))")
            for key in missing.sorted() {
                let (year, month) = (key / 100, key % 100)
                let lower = CivilTime.monthStart(year: year, month: month)
                let (nextYear, nextMonth) = CivilTime.next(year: year, month: month)
                let upper = CivilTime.monthStart(year: nextYear, month: nextMonth)
                let suffix = Self.partitionSuffix(key)
                for table in ["bars", "detections"] {
                    try conn.exec(
                        "CREATE TABLE IF NOT EXISTS \(table)_\(suffix) PARTITION OF \(table) FOR VALUES FROM (\(lower)) TO (\(upper))"
                    )
                }
            }
            try conn.exec("COMMIT")
        } catch {
            try? conn.exec("ROLLBACK")
            throw error
        }
        knownPartitions.withLock { $0.formUnion(missing) }
        logger.debug("Ensured store partitions.", metadata: ["store": "postgres", "partition.count": "\(missing.count)"])
    }

    /// `p202401` for January 2024; years before 1000 or after 9999 are zero-padded/unchanged but stay valid identifiers.
    static func partitionSuffix(_ key: Int64) -> String {
        let year = key / 100
        let month = key % 100
        let m = month < 10 ? "0\(month)" : "\(month)"
        return year < 0 ? "pm\(-year)\(m)" : "p\(year)\(m)"
    }

    /// The partitions of `bars` and `detections` in this schema, with their month keys.
    public func partitions() async throws -> [(table: String, name: String, month: Int64)] {
        try await onConnection { (conn) throws(StoreError) in
            let rows = try conn.query(
                """
                SELECT p.relname, c.relname FROM pg_inherits i
                JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent
                WHERE p.relname IN ('bars', 'detections') AND p.relnamespace = current_schema()::regnamespace
                ORDER BY c.relname
                """
            )
            return rows.compactMap { row -> (table: String, name: String, month: Int64)? in
                guard row.count == 2, let table = row[0], let name = row[1] else { return nil }
                guard let last = name.split(separator: "_").last, last.first == "p", let key = Int64(last.dropFirst()) else {
                    return nil
                }
                return (table, name, key)
            }
        }
    }

    /// Drops every monthly partition of `bars` and `detections` that ends at or before `cutoff` (ms since the epoch).
    /// Dropping a partition is O(1) and leaves no dead tuples to vacuum, which is why retention works per month.
    public func dropPartitions(olderThan cutoff: Int64) async throws -> [String] {
        let candidates = try await partitions()
        let dropped = try await onConnection { [self] (conn) throws(StoreError) -> [String] in
            var dropped: [String] = []
            for partition in candidates {
                let (year, month) = CivilTime.next(year: partition.month / 100, month: partition.month % 100)
                guard CivilTime.monthStart(year: year, month: month) <= cutoff else { continue }
                try conn.exec("DROP TABLE IF EXISTS \(partition.name)")
                dropped.append(partition.name)
                knownPartitions.withLock { _ = $0.remove(partition.month) }
            }
            return dropped
        }
        if !dropped.isEmpty {
            logger.info("Dropped store partitions.", metadata: ["store": "postgres", "partition.count": "\(dropped.count)"])
        }
        return dropped
    }

    public func applyRetention(olderThan cutoff: Int64) async throws -> [String] {
        try await dropPartitions(olderThan: cutoff)
    }

    // MARK: Alerts

    /// Upsert by episode key: the episode's time span only grows, the latest scoring wins, the first trace is kept.
    static let upsertAlertSQL = """
        INSERT INTO alerts (alert_key, symbol, first_ts_ms, last_ts_ms, tier, kind, severity, score, explanation, trace_id,
            span_id, updated_at_ms)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
        ON CONFLICT (alert_key) DO UPDATE SET
            first_ts_ms = LEAST(alerts.first_ts_ms, excluded.first_ts_ms),
            last_ts_ms = GREATEST(alerts.last_ts_ms, excluded.last_ts_ms),
            tier = excluded.tier, kind = excluded.kind, severity = excluded.severity, score = excluded.score,
            explanation = excluded.explanation,
            trace_id = coalesce(alerts.trace_id, excluded.trace_id), span_id = coalesce(alerts.span_id, excluded.span_id),
            updated_at_ms = excluded.updated_at_ms
        RETURNING id
        """

    static let alertColumns =
        "id, alert_key, symbol, first_ts_ms, last_ts_ms, tier, kind, severity, score, explanation, trace_id, span_id"

    static func alertParams(_ a: StoredAlert) -> [PGParam] {
        [
            .text(a.key), .text(a.symbol), .text("\(a.firstTimestamp)"), .text("\(a.lastTimestamp)"), .text("\(a.tier)"),
            .text(a.kind), .text(a.severity), .text(PGCopyBinary.floatText(a.score)), .text(a.explanation),
            a.traceID.map { .text($0) } ?? .null, a.spanID.map { .text($0) } ?? .null, .text("\(wallClockMilliseconds())"),
        ]
    }

    static func alert(from row: [String?]) -> StoredAlert? {
        guard row.count == 12, let id = row[0].flatMap({ Int64($0) }), let key = row[1], let symbol = row[2],
            let first = row[3].flatMap({ Int64($0) }), let last = row[4].flatMap({ Int64($0) }),
            let tier = row[5].flatMap({ Int32($0) }), let kind = row[6], let severity = row[7],
            let score = row[8].flatMap({ Double($0) }), let explanation = row[9]
        else { return nil }
        return StoredAlert(
            id: id, key: key, symbol: symbol, firstTimestamp: first, lastTimestamp: last, tier: tier, kind: kind,
            severity: severity, score: score, explanation: explanation, traceID: row[10], spanID: row[11]
        )
    }

    public func upsertAlerts(_ alerts: [StoredAlert]) async throws -> [Int64] {
        for alert in alerts { try alert.validate() }
        return try await onConnection { (conn) throws(StoreError) -> [Int64] in
            try conn.exec("BEGIN")
            do throws(StoreError) {
                var ids: [Int64] = []
                for alert in alerts {
                    let rows = try conn.query(Self.upsertAlertSQL, Self.alertParams(alert))
                    guard let text = rows.first?.first ?? nil, let id = Int64(text) else {
                        throw StoreError(.queryFailed, "upsert returned no id")
                    }
                    ids.append(id)
                }
                try conn.exec("COMMIT")
                return ids
            } catch {
                try? conn.exec("ROLLBACK")
                throw error
            }
        }
    }

    public func alerts(_ query: AlertQuery) async throws -> AlertPage {
        var conditions: [String] = []
        var params: [PGParam] = []
        func add(_ condition: (Int) -> String, _ values: PGParam...) {
            conditions.append(condition(params.count + 1))
            params.append(contentsOf: values)
        }
        if let symbol = query.symbol { add({ "symbol = $\($0)" }, .text(symbol)) }
        if let tier = query.tier { add({ "tier = $\($0)" }, .text("\(tier)")) }
        if let kind = query.kind { add({ "kind = $\($0)" }, .text(kind)) }
        if let severity = query.severity { add({ "severity = $\($0)" }, .text(severity)) }
        if let from = query.from { add({ "first_ts_ms >= $\($0)" }, .text("\(from)")) }
        if let to = query.to { add({ "first_ts_ms < $\($0)" }, .text("\(to)")) }
        if let after = query.after {
            add({ "(first_ts_ms, id) > ($\($0)::bigint, $\($0 + 1)::bigint)" }, .text("\(after.timestamp)"), .text("\(after.id)"))
        }
        let limit = query.clampedLimit
        params.append(.text("\(limit)"))
        let sql = """
            SELECT \(Self.alertColumns) FROM alerts \(conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND "))
            ORDER BY first_ts_ms, id LIMIT $\(params.count)
            """
        return try await onConnection { [params] (conn) throws(StoreError) -> AlertPage in
            let items = try conn.query(sql, params).compactMap(Self.alert(from:))
            let next = items.count == limit ? items.last.map { DetectionCursor(timestamp: $0.firstTimestamp, id: $0.id) } : nil
            return AlertPage(items: items, nextCursor: next)
        }
    }

    public func alert(id: Int64) async throws -> StoredAlert? {
        try await onConnection { (conn) throws(StoreError) -> StoredAlert? in
            try conn.query("SELECT \(Self.alertColumns) FROM alerts WHERE id = $1", [.text("\(id)")]).first.flatMap(Self.alert(from:))
        }
    }

    public func addFeedback(_ feedback: AlertFeedback) async throws -> AlertFeedback {
        guard !feedback.note.utf8.contains(0) else { throw StoreError(.invalidBatch, "feedback note contains NUL") }
        return try await onConnection { (conn) throws(StoreError) -> AlertFeedback in
            guard !(try conn.query("SELECT 1 FROM alerts WHERE id = $1", [.text("\(feedback.alertID)")])).isEmpty else {
                throw StoreError(.notFound, "alert \(feedback.alertID) does not exist")
            }
            let rows = try conn.query(
                "INSERT INTO alert_feedback (alert_id, label, note, created_at_ms) VALUES ($1, $2, $3, $4) RETURNING id",
                [.text("\(feedback.alertID)"), .text(feedback.label.rawValue), .text(feedback.note), .text("\(feedback.createdAt)")]
            )
            guard let text = rows.first?.first ?? nil, let id = Int64(text) else { throw StoreError(.queryFailed, "insert returned no id") }
            var stored = feedback
            stored.id = id
            return stored
        }
    }

    public func feedback(alertID: Int64) async throws -> [AlertFeedback] {
        try await onConnection { (conn) throws(StoreError) -> [AlertFeedback] in
            try conn.query(
                "SELECT id, alert_id, label, note, created_at_ms FROM alert_feedback WHERE alert_id = $1 ORDER BY id",
                [.text("\(alertID)")]
            ).compactMap { row in
                guard row.count == 5, let id = row[0].flatMap({ Int64($0) }), let alert = row[1].flatMap({ Int64($0) }),
                    let label = row[2].flatMap(AlertFeedback.Label.init(rawValue:)), let note = row[3],
                    let created = row[4].flatMap({ Int64($0) })
                else { return nil }
                return AlertFeedback(id: id, alertID: alert, label: label, note: note, createdAt: created)
            }
        }
    }

    /// Each alert with its newest feedback row (one `(alert_id, id)` index probe per alert), walked in alert id order.
    static let labelledAlertsSQL = """
        SELECT \(alertColumns.split(separator: ", ").map { "a.\($0)" }.joined(separator: ", ")), f.label, f.created_at_ms
        FROM alerts AS a
        CROSS JOIN LATERAL (
            SELECT label, created_at_ms FROM alert_feedback WHERE alert_id = a.id ORDER BY id DESC LIMIT 1
        ) AS f
        WHERE a.id > $1::bigint
        ORDER BY a.id LIMIT $2
        """

    public func labelledAlerts(after: Int64?, limit: Int) async throws -> [LabelledAlert] {
        let params: [PGParam] = [.text("\(after ?? .min)"), .text("\(clampedAlertLimit(limit))")]
        return try await onConnection { (conn) throws(StoreError) -> [LabelledAlert] in
            try conn.query(Self.labelledAlertsSQL, params).compactMap { row in
                guard row.count == 14, let alert = Self.alert(from: Array(row[0..<12])),
                    let label = row[12].flatMap(AlertFeedback.Label.init(rawValue:)), let labelledAt = row[13].flatMap({ Int64($0) })
                else { return nil }
                return LabelledAlert(alert: alert, label: label, labelledAt: labelledAt)
            }
        }
    }

    // MARK: Rejections and high-water marks

    public func recordRejection(_ rejection: RejectedBatch) async throws {
        let r = rejection.normalized
        try await onConnection { (conn) throws(StoreError) -> Void in
            _ = try conn.query(
                "INSERT INTO rejected_batches (agent_id, received_at_ms, code, message, body_bytes) VALUES ($1, $2, $3, $4, $5)",
                [.text(r.agentID), .text("\(r.receivedAt)"), .text(r.code), .text(r.message), .text("\(r.bodyBytes)")]
            )
        }
    }

    public func highWaterMarks() async throws -> [String: Int64] {
        try await onConnection { (conn) throws(StoreError) -> [String: Int64] in
            var marks: [String: Int64] = [:]
            for row in try conn.query("SELECT agent_id, high_water_mark FROM agent_sequences") {
                guard row.count == 2, let agent = row[0], let hwm = row[1].flatMap({ Int64($0) }) else { continue }
                marks[agent] = hwm
            }
            return marks
        }
    }

    /// The most recent rejections, newest first; for tests (`package`, not public API).
    package func rejectionsForTesting(limit: Int = 100) async throws -> [RejectedBatch] {
        try await onConnection { (conn) throws(StoreError) -> [RejectedBatch] in
            try conn.query(
                "SELECT agent_id, received_at_ms, code, message, body_bytes FROM rejected_batches ORDER BY id DESC LIMIT $1",
                [.text("\(limit)")]
            ).compactMap { row in
                guard row.count == 5, let agent = row[0], let received = row[1].flatMap({ Int64($0) }), let code = row[2],
                    let message = row[3], let bytes = row[4].flatMap({ Int($0) })
                else { return nil }
                return RejectedBatch(agentID: agent, receivedAt: received, code: code, message: message, bodyBytes: bytes)
            }
        }
    }

    /// The versions recorded in `schema_migrations`, ascending; for tests.
    package func appliedMigrations() async throws -> [Int64] {
        try await onConnection { (conn) throws(StoreError) -> [Int64] in
            try conn.query("SELECT version FROM schema_migrations ORDER BY version").compactMap { ($0.first ?? nil).flatMap { Int64($0) } }
        }
    }

    /// A snapshot of the connection pool (idle, busy, waiting, peak busy, waits); for tests.
    package var poolStatistics: PostgresPoolStatistics { pool.statistics }

    // MARK: Queries

    public func stats() async throws -> StoreStats {
        try await onConnection { (conn) throws(StoreError) -> StoreStats in
            let rows = try conn.query(
                """
                SELECT coalesce(sum(bars), 0), coalesce(sum(detections), 0), coalesce(sum(batches_accepted), 0),
                       coalesce(sum(duplicates), 0), count(*), (SELECT count(*) FROM alerts),
                       (SELECT count(*) FROM rejected_batches)
                FROM agent_sequences
                """
            )
            guard let row = rows.first, row.count == 7 else { throw StoreError(.queryFailed, "stats query returned no row") }
            func int(_ i: Int) -> Int64 { row[i].flatMap { Int64($0) } ?? 0 }
            return StoreStats(
                bars: int(0), detections: int(1), batchesAccepted: int(2), duplicates: int(3), agents: int(4), alerts: int(5),
                rejected: int(6)
            )
        }
    }

    public func bars(symbol: String, from: Int64, to: Int64, limit: Int) async throws -> [StoredBar] {
        try await onConnection { (conn) throws(StoreError) -> [StoredBar] in
            let rows = try conn.query(
                """
                SELECT symbol, interval_seconds, ts_ms, open, high, low, close, volume, feed, agent_id
                FROM bars WHERE symbol = $1 AND ts_ms >= $2 AND ts_ms < $3 ORDER BY ts_ms LIMIT $4
                """,
                [.text(symbol), .text("\(from)"), .text("\(to)"), .text("\(min(max(limit, 1), 100_000))")]
            )
            return rows.compactMap(Self.storedBar)
        }
    }

    public func latestBars(symbol: String, intervalSeconds: Int32, before: Int64, limit: Int) async throws -> [StoredBar] {
        try await onConnection { (conn) throws(StoreError) -> [StoredBar] in
            let rows = try conn.query(
                """
                SELECT symbol, interval_seconds, ts_ms, open, high, low, close, volume, feed, agent_id
                FROM bars WHERE symbol = $1 AND interval_seconds = $2 AND ts_ms < $3 ORDER BY ts_ms DESC LIMIT $4
                """,
                [.text(symbol), .text("\(intervalSeconds)"), .text("\(before)"), .text("\(min(max(limit, 1), 100_000))")]
            )
            return rows.reversed().compactMap(Self.storedBar)
        }
    }

    /// A `bars` row selected as `symbol, interval_seconds, ts_ms, open, high, low, close, volume, feed, agent_id`.
    private static func storedBar(_ row: [String?]) -> StoredBar? {
        guard row.count == 10, let symbol = row[0], let interval = row[1].flatMap({ Int32($0) }),
            let ts = row[2].flatMap({ Int64($0) }), let open = row[3].flatMap({ Double($0) }),
            let high = row[4].flatMap({ Double($0) }), let low = row[5].flatMap({ Double($0) }),
            let close = row[6].flatMap({ Double($0) }), let volume = row[7].flatMap({ Double($0) }), let feed = row[8],
            let agent = row[9]
        else { return nil }
        return StoredBar(
            symbol: symbol, intervalSeconds: interval, timestamp: ts, open: open, high: high, low: low, close: close,
            volume: volume, feed: feed, agentID: agent
        )
    }

    public func detections(_ query: DetectionQuery) async throws -> DetectionPage {
        var conditions: [String] = []
        var params: [PGParam] = []
        func add(_ condition: (Int) -> String, _ values: PGParam...) {
            conditions.append(condition(params.count + 1))
            params.append(contentsOf: values)
        }
        if let symbol = query.symbol { add({ "symbol = $\($0)" }, .text(symbol)) }
        if let detector = query.detector { add({ "detector = $\($0)" }, .text(detector)) }
        if let tier = query.tier { add({ "tier = $\($0)" }, .text("\(tier)")) }
        if let from = query.from { add({ "ts_ms >= $\($0)" }, .text("\(from)")) }
        if let to = query.to { add({ "ts_ms < $\($0)" }, .text("\(to)")) }
        if let after = query.after {
            add({ "(ts_ms, id) > ($\($0)::bigint, $\($0 + 1)::bigint)" }, .text("\(after.timestamp)"), .text("\(after.id)"))
        }
        let limit = query.clampedLimit
        params.append(.text("\(limit)"))
        let sql = """
            SELECT id, symbol, ts_ms, tier, detector, score, severity, anomaly_score, features::text, trace_id, span_id
            FROM detections \(conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND "))
            ORDER BY ts_ms, id LIMIT $\(params.count)
            """
        return try await onConnection { [params] (conn) throws(StoreError) -> DetectionPage in
            let items: [StoredDetection] = try conn.query(sql, params).compactMap { row in
                guard row.count == 11, let id = row[0].flatMap({ Int64($0) }), let symbol = row[1],
                    let ts = row[2].flatMap({ Int64($0) }), let tier = row[3].flatMap({ Int32($0) }), let detector = row[4],
                    let score = row[5].flatMap({ Double($0) }), let severity = row[6], let features = row[8]
                else { return nil }
                return StoredDetection(
                    id: id, symbol: symbol, timestamp: ts, tier: tier, detector: detector, score: score, severity: severity,
                    anomalyScore: row[7].flatMap { Double($0) }, featuresJSON: features, traceID: row[9], spanID: row[10]
                )
            }
            let next = items.count == limit ? items.last.map { DetectionCursor(timestamp: $0.timestamp, id: $0.id) } : nil
            return DetectionPage(items: items, nextCursor: next)
        }
    }

    /// Runs `body` on a pooled connection, on the store's I/O threads.
    ///
    /// The slot is awaited here, on the caller's task, so callers beyond `maxConnections` suspend instead of holding a
    /// thread; once granted, `run` always executes and always gives the slot back.
    func onConnection<T: Sendable>(
        _ body: @escaping @Sendable (PostgresConnection) throws(StoreError) -> T
    ) async throws(StoreError) -> T {
        let lease = try await pool.acquire()
        return try await io.run { [pool] () throws(StoreError) -> T in try pool.run(lease, body) }
    }

    public func close() async {
        pool.close()
    }

    /// Runs raw SQL on a pooled connection; for tests only (`package`, not public API).
    package func executeForTesting(_ sql: String) async throws {
        try await onConnection { (conn) throws(StoreError) in try conn.exec(sql) }
    }

    /// Drops this store's schema with everything in it, then closes the store. For tests that isolate themselves in a
    /// throwaway schema; `package` so it is not part of the public API.
    package func dropSchemaAndClose() async throws {
        if let schema = pool.schema {
            try await onConnection { (conn) throws(StoreError) in try conn.exec("DROP SCHEMA IF EXISTS \(schema) CASCADE") }
        }
        pool.close()
    }
}

// MARK: - COPY binary encoding

/// Encoder for PostgreSQL's binary COPY format (PostgreSQL docs, "COPY", section "Binary Format"): an 11-byte
/// signature, flags and header-extension length, then per row a 16-bit field count and per field a 32-bit length
/// (-1 for NULL) followed by the value in the type's binary send format, all big-endian; a 16-bit -1 ends the data.
/// Binary avoids formatting and escaping every double and string as text (the dominant cost of text COPY).
enum PGCopyBinary {
    static func bars(_ bars: [StoredBar], sequence: Int64) -> [UInt8] {
        var out = header(capacity: 19 + bars.count * 140)
        for bar in bars {
            int16(&out, 11)
            text(&out, bar.symbol)
            int32Field(&out, bar.intervalSeconds)
            int64Field(&out, bar.timestamp)
            doubleField(&out, bar.open)
            doubleField(&out, bar.high)
            doubleField(&out, bar.low)
            doubleField(&out, bar.close)
            doubleField(&out, bar.volume)
            text(&out, bar.feed)
            text(&out, bar.agentID)
            int64Field(&out, sequence)
        }
        int16(&out, -1)
        return out
    }

    static func detections(_ detections: [StoredDetection], agentID: String, sequence: Int64) -> [UInt8] {
        var out = header(capacity: 19 + detections.count * 256)
        for d in detections {
            int16(&out, 12)
            text(&out, d.symbol)
            int64Field(&out, d.timestamp)
            int32Field(&out, d.tier)
            text(&out, d.detector)
            doubleField(&out, d.score)
            text(&out, d.severity)
            if let anomaly = d.anomalyScore { doubleField(&out, anomaly) } else { int32(&out, -1) }
            // jsonb's binary send format is a version byte (1) followed by the JSON text.
            let json = Array(d.featuresJSON.utf8)
            int32(&out, Int32(clamping: json.count + 1))
            out.append(1)
            out.append(contentsOf: json)
            if let trace = d.traceID { text(&out, trace) } else { int32(&out, -1) }
            if let span = d.spanID { text(&out, span) } else { int32(&out, -1) }
            text(&out, agentID)
            int64Field(&out, sequence)
        }
        int16(&out, -1)
        return out
    }

    /// Text form of a double that PostgreSQL's float8 input accepts exactly (Swift prints `nan`/`inf`, which it also
    /// accepts, but spell them out to be explicit). Shortest round-trip digits otherwise.
    static func floatText(_ v: Double) -> String {
        if v.isNaN { return "NaN" }
        if v.isInfinite { return v < 0 ? "-Infinity" : "Infinity" }
        return "\(v)"
    }

    private static func header(capacity: Int) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(capacity)
        out.append(contentsOf: [0x50, 0x47, 0x43, 0x4F, 0x50, 0x59, 0x0A, 0xFF, 0x0D, 0x0A, 0x00])  // "PGCOPY\n\377\r\n\0"
        int32(&out, 0)  // flags: no OIDs
        int32(&out, 0)  // header extension length
        return out
    }

    private static func int16(_ out: inout [UInt8], _ v: Int16) {
        let b = UInt16(bitPattern: v)
        out.append(UInt8(b >> 8))
        out.append(UInt8(b & 0xFF))
    }

    private static func int32(_ out: inout [UInt8], _ v: Int32) {
        let b = UInt32(bitPattern: v)
        out.append(UInt8(b >> 24))
        out.append(UInt8((b >> 16) & 0xFF))
        out.append(UInt8((b >> 8) & 0xFF))
        out.append(UInt8(b & 0xFF))
    }

    private static func uint64(_ out: inout [UInt8], _ b: UInt64) {
        var shift: UInt64 = 56
        while true {
            out.append(UInt8((b >> shift) & 0xFF))
            if shift == 0 { break }
            shift -= 8
        }
    }

    private static func int32Field(_ out: inout [UInt8], _ v: Int32) {
        int32(&out, 4)
        int32(&out, v)
    }

    private static func int64Field(_ out: inout [UInt8], _ v: Int64) {
        int32(&out, 8)
        uint64(&out, UInt64(bitPattern: v))
    }

    private static func doubleField(_ out: inout [UInt8], _ v: Double) {
        int32(&out, 8)
        uint64(&out, v.bitPattern)
    }

    private static func text(_ out: inout [UInt8], _ s: String) {
        let count = s.utf8.count
        int32(&out, Int32(clamping: count))
        out.append(contentsOf: s.utf8)
    }
}
