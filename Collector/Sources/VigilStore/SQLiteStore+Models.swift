// Vigil collector store: the model registry (issue 4 §4) on the embedded SQLite store.
import Logging

extension SQLiteStore {
    /// Every column but the artifact; `artifact` is appended (index 16) when the caller wants the bytes.
    static let modelColumns = """
        id, kind, version, feature_set_version, trained_from_ms, trained_to_ms, parameters, metrics, status, parent_id,
        created_at_ms, created_by, promoted_at_ms, promoted_by, artifact_sha256, length(artifact)
        """

    static func model(from row: [SQLValue]) -> StoredModel? {
        guard row.count >= 16, let id = row[0].int64, let kind = row[1].string, let version = row[2].int64,
            let featureSet = row[3].int64, let from = row[4].int64, let to = row[5].int64, let parameters = row[6].string,
            let metrics = row[7].string, let status = row[8].string.flatMap(ModelStatus.init(rawValue:)),
            let created = row[10].int64, let createdBy = row[11].string, let sha = row[14].string, let size = row[15].int64
        else { return nil }
        var artifact: [UInt8] = []
        if row.count > 16, case .blob(let bytes) = row[16] { artifact = bytes }
        return StoredModel(
            id: id, kind: kind, version: Int(version), featureSetVersion: Int(featureSet), trainedFrom: from, trainedTo: to,
            parametersJSON: parameters, metricsJSON: metrics, status: status, parentID: row[9].int64, createdAt: created,
            createdBy: createdBy, promotedAt: row[12].int64, promotedBy: row[13].string, artifact: artifact,
            artifactSize: Int(size), artifactSHA256: sha
        )
    }

    private static func fetchModel(id: Int64, withArtifact: Bool, _ conn: SQLiteConnection) throws(StoreError) -> StoredModel? {
        let columns = withArtifact ? modelColumns + ", artifact" : modelColumns
        return try conn.query("SELECT \(columns) FROM models WHERE id = ?", [.int(id)]).first.flatMap(model(from:))
    }

    /// Retires the kind's champion (if any other than `id`) then makes `id` champion. The caller holds the write
    /// transaction; the order matters, as the one-champion index is checked per statement.
    private static func crown(id: Int64, kind: String, by: String, at: Int64, _ conn: SQLiteConnection) throws(StoreError) {
        try conn.run("UPDATE models SET status = 'retired' WHERE kind = ? AND status = 'champion' AND id <> ?", [.text(kind), .int(id)])
        try conn.run(
            "UPDATE models SET status = 'champion', promoted_at_ms = ?, promoted_by = ? WHERE id = ?",
            [.int(at), .text(by), .int(id)]
        )
    }

    public func registerModel(_ model: StoredModel) async throws -> StoredModel {
        let prepared = try model.prepareForRegistration()
        let stored = try await locked { (conn) throws(StoreError) -> StoredModel in
            // BEGIN IMMEDIATE takes the write lock first, so the version read and the insert cannot interleave with
            // another writer's (UNIQUE (kind, version) would otherwise refuse the second).
            try conn.exec("BEGIN IMMEDIATE")
            do throws(StoreError) {
                if let parent = prepared.parentID, try conn.query("SELECT 1 FROM models WHERE id = ?", [.int(parent)]).isEmpty {
                    throw StoreError(.notFound, "parent model \(parent) does not exist")
                }
                let next = try conn.query("SELECT coalesce(max(version), 0) + 1 FROM models WHERE kind = ?", [.text(prepared.kind)])
                guard let version = next.first?.first?.int64 else { throw StoreError(.queryFailed, "version query returned no row") }
                // A champion is inserted as a challenger and crowned, so the old champion is retired first.
                let rows = try conn.query(
                    """
                    INSERT INTO models (kind, version, feature_set_version, trained_from_ms, trained_to_ms, parameters, metrics,
                        status, parent_id, created_at_ms, created_by, promoted_at_ms, promoted_by, artifact, artifact_sha256)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    RETURNING id
                    """,
                    [
                        .text(prepared.kind), .int(version), .int(Int64(prepared.featureSetVersion)), .int(prepared.trainedFrom),
                        .int(prepared.trainedTo), .text(prepared.parametersJSON), .text(prepared.metricsJSON),
                        .text(prepared.status == .champion ? ModelStatus.challenger.rawValue : prepared.status.rawValue),
                        prepared.parentID.map { .int($0) } ?? .null, .int(prepared.createdAt), .text(prepared.createdBy),
                        prepared.promotedAt.map { .int($0) } ?? .null, prepared.promotedBy.map { .text($0) } ?? .null,
                        .blob(prepared.artifact), .text(prepared.artifactSHA256),
                    ]
                )
                guard let id = rows.first?.first?.int64 else { throw StoreError(.queryFailed, "insert returned no id") }
                if prepared.status == .champion, let by = prepared.promotedBy, let at = prepared.promotedAt {
                    try Self.crown(id: id, kind: prepared.kind, by: by, at: at, conn)
                }
                try conn.exec("COMMIT")
                var stored = prepared
                stored.id = id
                stored.version = Int(version)
                return stored
            } catch {
                try? conn.exec("ROLLBACK")
                throw error
            }
        }
        stored.logRegistration(to: logger, store: "sqlite")
        return stored
    }

    public func models(kind: String?, status: ModelStatus?, limit: Int) async throws -> [StoredModel] {
        var conditions: [String] = []
        var values: [SQLValue] = []
        if let kind {
            conditions.append("kind = ?")
            values.append(.text(kind))
        }
        if let status {
            conditions.append("status = ?")
            values.append(.text(status.rawValue))
        }
        values.append(.int(Int64(clampedModelLimit(limit))))
        let sql = """
            SELECT \(Self.modelColumns) FROM models \(conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND "))
            ORDER BY id DESC LIMIT ?
            """
        return try await locked { [values] (conn) throws(StoreError) -> [StoredModel] in
            try conn.query(sql, values).compactMap(Self.model(from:))
        }
    }

    public func model(id: Int64) async throws -> StoredModel? {
        let found = try await locked { (conn) throws(StoreError) -> StoredModel? in try Self.fetchModel(id: id, withArtifact: true, conn) }
        // Hashed outside the connection lock: a large artifact must not hold up batches.
        return try found?.verifiedArtifact()
    }

    public func champion(kind: String) async throws -> StoredModel? {
        let found = try await locked { (conn) throws(StoreError) -> StoredModel? in
            try conn.query(
                "SELECT \(Self.modelColumns), artifact FROM models WHERE kind = ? AND status = 'champion'",
                [.text(kind)]
            ).first.flatMap(Self.model(from:))
        }
        return try found?.verifiedArtifact()
    }

    public func promote(id: Int64, by: String, at: Int64) async throws -> StoredModel {
        try StoredModel.checkPromotion(by: by, at: at)
        let (promoted, changed) = try await locked { (conn) throws(StoreError) -> (StoredModel, Bool) in
            try conn.exec("BEGIN IMMEDIATE")
            do throws(StoreError) {
                guard let current = try Self.fetchModel(id: id, withArtifact: false, conn) else {
                    throw StoreError(.notFound, "model \(id) does not exist")
                }
                if current.status == .champion {
                    try conn.exec("COMMIT")
                    return (current, false)
                }
                try Self.crown(id: id, kind: current.kind, by: by, at: at, conn)
                guard let promoted = try Self.fetchModel(id: id, withArtifact: false, conn) else {
                    throw StoreError(.queryFailed, "model \(id) vanished during promotion")
                }
                try conn.exec("COMMIT")
                return (promoted, true)
            } catch {
                try? conn.exec("ROLLBACK")
                throw error
            }
        }
        if changed { promoted.logPromotion(to: logger, store: "sqlite", by: by) }
        return promoted
    }
}
