// Vigil collector store: the model registry (issue 4 §4) on the PostgreSQL store.
import Logging

extension PostgresStore {
    /// Every column but the artifact; the artifact is appended (index 16) as hex when the caller wants the bytes.
    /// `encode(…, 'hex')` rather than the column itself: its text form would follow the server's `bytea_output`.
    static let modelColumns = """
        id, kind, version, feature_set_version, trained_from_ms, trained_to_ms, parameters, metrics, status, parent_id,
        created_at_ms, created_by, promoted_at_ms, promoted_by, artifact_sha256, octet_length(artifact)
        """
    static let modelColumnsWithArtifact = modelColumns + ", encode(artifact, 'hex')"

    static func model(from row: [String?]) -> StoredModel? {
        func int64(_ i: Int) -> Int64? { row[i].flatMap { Int64($0) } }
        guard row.count >= 16, let id = int64(0), let kind = row[1], let version = row[2].flatMap({ Int($0) }),
            let featureSet = row[3].flatMap({ Int($0) }), let from = int64(4), let to = int64(5), let parameters = row[6],
            let metrics = row[7], let status = row[8].flatMap(ModelStatus.init(rawValue:)), let created = int64(10),
            let createdBy = row[11], let sha = row[14], let size = row[15].flatMap({ Int($0) })
        else { return nil }
        var artifact: [UInt8] = []
        if row.count > 16 {
            guard let hex = row[16], let bytes = decodeHex(hex) else { return nil }
            artifact = bytes
        }
        return StoredModel(
            id: id, kind: kind, version: version, featureSetVersion: featureSet, trainedFrom: from, trainedTo: to,
            parametersJSON: parameters, metricsJSON: metrics, status: status, parentID: int64(9), createdAt: created,
            createdBy: createdBy, promotedAt: int64(12), promotedBy: row[13], artifact: artifact, artifactSize: size,
            artifactSHA256: sha
        )
    }

    /// Decodes lowercase or uppercase hex without a prefix (what `encode(bytea, 'hex')` returns); nil if malformed.
    static func decodeHex(_ hex: String) -> [UInt8]? {
        func nibble(_ c: UInt8) -> UInt8? {
            switch c {
            case 0x30...0x39: c - 0x30
            case 0x61...0x66: c - 0x61 + 10
            case 0x41...0x46: c - 0x41 + 10
            default: nil
            }
        }
        let utf8 = Array(hex.utf8)
        guard utf8.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(utf8.count / 2)
        var i = 0
        while i < utf8.count {
            guard let high = nibble(utf8[i]), let low = nibble(utf8[i + 1]) else { return nil }
            bytes.append(high << 4 | low)
            i += 2
        }
        return bytes
    }

    private static func fetchModel(id: Int64, withArtifact: Bool, _ conn: PostgresConnection) throws(StoreError) -> StoredModel? {
        let columns = withArtifact ? modelColumnsWithArtifact : modelColumns
        return try conn.query("SELECT \(columns) FROM models WHERE id = $1", [.text("\(id)")]).first.flatMap(model(from:))
    }

    /// Serialises registrations and promotions of one kind until the transaction ends: the version read and insert, and
    /// the retire-then-crown pair, must not interleave with another's. A transaction-scoped advisory lock (not a row
    /// lock) because a registration has no row to lock yet; hash collisions only serialise two kinds needlessly.
    private static func lockKind(_ kind: String, _ conn: PostgresConnection) throws(StoreError) {
        try conn.query("SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.vigil_models'), hashtext($1))", [.text(kind)])
    }

    /// Retires the kind's champion (if any other than `id`) then makes `id` champion; the caller holds the kind lock
    /// in an open transaction. The order matters: the one-champion index is checked at each statement.
    private static func crown(id: Int64, kind: String, by: String, at: Int64, _ conn: PostgresConnection) throws(StoreError) {
        try conn.query(
            "UPDATE models SET status = 'retired' WHERE kind = $1 AND status = 'champion' AND id <> $2",
            [.text(kind), .text("\(id)")]
        )
        try conn.query(
            "UPDATE models SET status = 'champion', promoted_at_ms = $2, promoted_by = $3 WHERE id = $1",
            [.text("\(id)"), .text("\(at)"), .text(by)]
        )
    }

    public func registerModel(_ model: StoredModel) async throws -> StoredModel {
        let prepared = try model.prepareForRegistration()
        let stored = try await onConnection { (conn) throws(StoreError) -> StoredModel in
            try conn.exec("BEGIN")
            do throws(StoreError) {
                try Self.lockKind(prepared.kind, conn)
                if let parent = prepared.parentID, try conn.query("SELECT 1 FROM models WHERE id = $1", [.text("\(parent)")]).isEmpty {
                    throw StoreError(.notFound, "parent model \(parent) does not exist")
                }
                let next = try conn.query("SELECT coalesce(max(version), 0) + 1 FROM models WHERE kind = $1", [.text(prepared.kind)])
                guard let text = next.first?.first ?? nil, let version = Int(text) else {
                    throw StoreError(.queryFailed, "version query returned no row")
                }
                // A champion is inserted as a challenger and crowned, so the old champion is retired first.
                let rows = try conn.query(
                    """
                    INSERT INTO models (kind, version, feature_set_version, trained_from_ms, trained_to_ms, parameters, metrics,
                        status, parent_id, created_at_ms, created_by, promoted_at_ms, promoted_by, artifact, artifact_sha256)
                    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
                    RETURNING id
                    """,
                    [
                        .text(prepared.kind), .text("\(version)"), .text("\(prepared.featureSetVersion)"), .text("\(prepared.trainedFrom)"),
                        .text("\(prepared.trainedTo)"), .text(prepared.parametersJSON), .text(prepared.metricsJSON),
                        .text(prepared.status == .champion ? ModelStatus.challenger.rawValue : prepared.status.rawValue),
                        prepared.parentID.map { .text("\($0)") } ?? .null, .text("\(prepared.createdAt)"), .text(prepared.createdBy),
                        prepared.promotedAt.map { .text("\($0)") } ?? .null, prepared.promotedBy.map { .text($0) } ?? .null,
                        // Binary parameter: the bytes go over the wire as they are, no escaping.
                        .bytes(prepared.artifact), .text(prepared.artifactSHA256),
                    ]
                )
                guard let idText = rows.first?.first ?? nil, let id = Int64(idText) else {
                    throw StoreError(.queryFailed, "insert returned no id")
                }
                if prepared.status == .champion, let by = prepared.promotedBy, let at = prepared.promotedAt {
                    try Self.crown(id: id, kind: prepared.kind, by: by, at: at, conn)
                }
                try conn.exec("COMMIT")
                var stored = prepared
                stored.id = id
                stored.version = version
                return stored
            } catch {
                try? conn.exec("ROLLBACK")
                throw error
            }
        }
        stored.logRegistration(to: logger, store: "postgres")
        return stored
    }

    public func models(kind: String?, status: ModelStatus?, limit: Int) async throws -> [StoredModel] {
        var conditions: [String] = []
        var params: [PGParam] = []
        if let kind {
            params.append(.text(kind))
            conditions.append("kind = $\(params.count)")
        }
        if let status {
            params.append(.text(status.rawValue))
            conditions.append("status = $\(params.count)")
        }
        params.append(.text("\(clampedModelLimit(limit))"))
        let sql = """
            SELECT \(Self.modelColumns) FROM models \(conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND "))
            ORDER BY id DESC LIMIT $\(params.count)
            """
        return try await onConnection { [params] (conn) throws(StoreError) -> [StoredModel] in
            try conn.query(sql, params).compactMap(Self.model(from:))
        }
    }

    public func model(id: Int64) async throws -> StoredModel? {
        let found = try await onConnection { (conn) throws(StoreError) -> StoredModel? in
            try Self.fetchModel(id: id, withArtifact: true, conn)
        }
        // Hashed after the connection went back to the pool: a large artifact must not hold a slot longer.
        return try found?.verifiedArtifact()
    }

    public func champion(kind: String) async throws -> StoredModel? {
        let found = try await onConnection { (conn) throws(StoreError) -> StoredModel? in
            try conn.query(
                "SELECT \(Self.modelColumnsWithArtifact) FROM models WHERE kind = $1 AND status = 'champion'",
                [.text(kind)]
            ).first.flatMap(Self.model(from:))
        }
        return try found?.verifiedArtifact()
    }

    public func promote(id: Int64, by: String, at: Int64) async throws -> StoredModel {
        try StoredModel.checkPromotion(by: by, at: at)
        let (promoted, changed) = try await onConnection { (conn) throws(StoreError) -> (StoredModel, Bool) in
            try conn.exec("BEGIN")
            do throws(StoreError) {
                // A model's kind never changes, so it can be read before the lock; its status must be read after.
                guard let kind = try conn.query("SELECT kind FROM models WHERE id = $1", [.text("\(id)")]).first?.first ?? nil else {
                    throw StoreError(.notFound, "model \(id) does not exist")
                }
                try Self.lockKind(kind, conn)
                guard let current = try Self.fetchModel(id: id, withArtifact: false, conn) else {
                    throw StoreError(.queryFailed, "model \(id) vanished during promotion")
                }
                if current.status == .champion {
                    try conn.exec("COMMIT")
                    return (current, false)
                }
                try Self.crown(id: id, kind: kind, by: by, at: at, conn)
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
        if changed { promoted.logPromotion(to: logger, store: "postgres", by: by) }
        return promoted
    }
}
