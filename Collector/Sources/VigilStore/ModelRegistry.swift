// Vigil collector store: the Tier-2 model registry (issue 4 §4): versions, feature-set version, training range,
// parameters, held-out metrics, champion/challenger status, lineage, and who or what promoted each model.
import Logging

/// Where a model stands in the champion/challenger cycle.
public enum ModelStatus: String, Sendable, Hashable, CaseIterable {
    /// Registered (trained and evaluated) but not scoring live.
    case challenger
    /// The model of its kind that the scorer uses. At most one per kind: the stores enforce it with a unique index.
    case champion
    /// A former champion that a promotion replaced; kept for lineage, and promoting it again rolls back to it.
    case retired
}

/// One registered model: its metadata and the serialized model (`artifact`).
public struct StoredModel: Sendable, Hashable {
    /// Store-assigned; `0` until registered.
    public var id: Int64
    /// The model family (`isolation_forest`, `gradient_boosted_trees`, …); 1...`maxKindBytes` bytes.
    public var kind: String
    /// 1, 2, … per `kind`, assigned by the store when the model is registered; `0` until then.
    public var version: Int
    /// The feature set the model was trained on; the scorer must feed it the same features. 0...`Int32.max`.
    public var featureSetVersion: Int
    /// The training data range, ms since the epoch, `trainedFrom <= trainedTo`.
    public var trainedFrom: Int64
    public var trainedTo: Int64
    /// Hyper-parameters, a JSON object. Stored verbatim; the SQL stores reject text that is not a JSON object.
    public var parametersJSON: String
    /// Held-out metrics, a JSON object (`precision`, `recall`, `f1`, `roc_auc`, `pr_auc`, …); same rules.
    public var metricsJSON: String
    public var status: ModelStatus
    /// The model this one was derived from (retrained or tuned from), for lineage. Must exist when registering.
    public var parentID: Int64?
    /// When the model was registered (ms since the epoch) and by whom or what (a user, a training job).
    public var createdAt: Int64
    public var createdBy: String
    /// The model's latest promotion to champion; a retired model keeps the promotion it was champion by.
    public var promotedAt: Int64?
    public var promotedBy: String?
    /// The serialized model. Empty in `ModelRegistry.models(kind:status:limit:)` results and in what `promote` returns.
    public var artifact: [UInt8]
    /// The artifact's size in bytes, set by the store (so it is known where `artifact` is left out).
    public var artifactSize: Int
    /// Lowercase hex SHA-256 of the artifact, computed by the store. When registering, a non-empty value is checked
    /// against the bytes (so a trainer can pass the digest it computed and a damaged upload is refused).
    public var artifactSHA256: String

    public static let maxKindBytes = 64
    /// For `createdBy` and `promotedBy`.
    public static let maxActorBytes = 256
    /// Serialized forests and boosted-tree ensembles are a few MiB; the cap keeps PostgreSQL's hex text form of the
    /// artifact (twice its size) far below its 1 GiB limit on a value.
    public static let maxArtifactBytes = 64 << 20

    public init(
        id: Int64 = 0,
        kind: String,
        version: Int = 0,
        featureSetVersion: Int,
        trainedFrom: Int64,
        trainedTo: Int64,
        parametersJSON: String = "{}",
        metricsJSON: String = "{}",
        status: ModelStatus = .challenger,
        parentID: Int64? = nil,
        createdAt: Int64,
        createdBy: String,
        promotedAt: Int64? = nil,
        promotedBy: String? = nil,
        artifact: [UInt8],
        artifactSize: Int? = nil,
        artifactSHA256: String = ""
    ) {
        self.id = id
        self.kind = kind
        self.version = version
        self.featureSetVersion = featureSetVersion
        self.trainedFrom = trainedFrom
        self.trainedTo = trainedTo
        self.parametersJSON = parametersJSON
        self.metricsJSON = metricsJSON
        self.status = status
        self.parentID = parentID
        self.createdAt = createdAt
        self.createdBy = createdBy
        self.promotedAt = promotedAt
        self.promotedBy = promotedBy
        self.artifact = artifact
        self.artifactSize = artifactSize ?? artifact.count
        self.artifactSHA256 = artifactSHA256
    }
}

/// The registry of Tier-2 models; every `BatchStore` implements it.
///
/// Promotion is the only way a model becomes champion after registration, and it is one transaction: the kind's
/// current champion becomes `retired` and the promoted model `champion`, so a reader sees either the old or the new
/// champion, never none or two. Concurrent promotions of one kind serialise; the last one wins.
public protocol ModelRegistry: Sendable {
    /// Stores a model and returns it with `id`, `version` (the kind's highest + 1), `artifactSize` and
    /// `artifactSHA256` assigned; the input's `id` and `version` are ignored.
    ///
    /// The status is kept as given (`challenger` by default). Registering a `champion` promotes it in the same
    /// transaction (the current champion is retired; `promotedBy`/`promotedAt` default to `createdBy`/`createdAt`).
    /// - Throws: `StoreError` `.invalidBatch` (empty or oversized kind or actor, NUL in text, bad range, artifact
    ///   checksum mismatch), `.notFound` (unknown `parentID`), `.constraintViolation` (parameters or metrics not a
    ///   JSON object); nothing is stored then.
    func registerModel(_ model: StoredModel) async throws -> StoredModel

    /// Models newest (last registered) first, filtered by kind and status when given, without artifacts.
    /// `limit` is clamped to 1...10_000.
    func models(kind: String?, status: ModelStatus?, limit: Int) async throws -> [StoredModel]

    /// One model with its artifact, or nil. Throws `.constraintViolation` if the artifact no longer matches its digest.
    func model(id: Int64) async throws -> StoredModel?

    /// The kind's champion with its artifact, or nil when the kind has none; the digest is checked as in `model(id:)`.
    func champion(kind: String) async throws -> StoredModel?

    /// Makes model `id` its kind's champion, retiring the current one, in one transaction; returns it (no artifact).
    ///
    /// Promoting a retired model is a rollback to it. Promoting the current champion changes nothing and returns it.
    /// - Parameters:
    ///   - by: who or what promoted it (a user, an evaluation job); kept in `promotedBy`.
    ///   - at: when, ms since the epoch; kept in `promotedAt`.
    /// - Throws: `StoreError` `.notFound` for an unknown id, `.invalidBatch` for an empty or oversized `by`.
    func promote(id: Int64, by: String, at: Int64) async throws -> StoredModel
}

// MARK: - Validation shared by the stores

extension StoredModel {
    /// The model as the store writes it: checked, digest and size computed, status-dependent fields filled in.
    /// What the database checks itself (JSON objects, the parent's existence) is left to it.
    func prepareForRegistration() throws(StoreError) -> StoredModel {
        guard !kind.isEmpty, kind.utf8.count <= Self.maxKindBytes else {
            throw StoreError(.invalidBatch, "model kind must be 1...\(Self.maxKindBytes) bytes")
        }
        try Self.checkActor(createdBy, "createdBy")
        if let promotedBy { try Self.checkActor(promotedBy, "promotedBy") }
        guard (0...Int(Int32.max)).contains(featureSetVersion) else {
            throw StoreError(.invalidBatch, "feature set version must be 0...\(Int32.max), got \(featureSetVersion)")
        }
        for time in [trainedFrom, trainedTo, createdAt, promotedAt ?? createdAt] where !StoredBatch.validTimestamps.contains(time) {
            throw StoreError(.invalidBatch, "model time \(time) outside years 1...9999")
        }
        guard trainedFrom <= trainedTo else { throw StoreError(.invalidBatch, "trainedFrom \(trainedFrom) is after trainedTo \(trainedTo)") }
        // NUL cannot be stored in PostgreSQL text; refuse it in every store so they behave the same.
        for text in [kind, parametersJSON, metricsJSON] where text.utf8.contains(0) {
            throw StoreError(.invalidBatch, "model text field contains NUL")
        }
        guard artifact.count <= Self.maxArtifactBytes else {
            throw StoreError(.invalidBatch, "artifact is \(artifact.count) bytes, more than \(Self.maxArtifactBytes)")
        }
        var prepared = self
        prepared.id = 0
        prepared.version = 0
        prepared.artifactSize = artifact.count
        prepared.artifactSHA256 = ArtifactDigest.sha256Hex(artifact)
        if !artifactSHA256.isEmpty && artifactSHA256.lowercased() != prepared.artifactSHA256 {
            throw StoreError(.invalidBatch, "artifact SHA-256 is \(prepared.artifactSHA256), not the given \(artifactSHA256)")
        }
        if status == .champion {
            prepared.promotedBy = promotedBy ?? createdBy
            prepared.promotedAt = promotedAt ?? createdAt
        }
        // The tables require both promotion fields or neither.
        guard (prepared.promotedBy == nil) == (prepared.promotedAt == nil) else {
            throw StoreError(.invalidBatch, "promotedBy and promotedAt must be given together")
        }
        return prepared
    }

    /// Checks an artifact read back from the database against the digest stored with it.
    func verifiedArtifact() throws(StoreError) -> StoredModel {
        guard artifact.count == artifactSize, ArtifactDigest.sha256Hex(artifact) == artifactSHA256 else {
            throw StoreError(.constraintViolation, "artifact of model \(id) does not match its stored SHA-256 (damaged)")
        }
        return self
    }

    static func checkActor(_ actor: String, _ field: String) throws(StoreError) {
        guard !actor.isEmpty, actor.utf8.count <= maxActorBytes, !actor.utf8.contains(0) else {
            throw StoreError(.invalidBatch, "\(field) must be 1...\(maxActorBytes) bytes without NUL")
        }
    }

    static func checkPromotion(by: String, at: Int64) throws(StoreError) {
        try checkActor(by, "promoted by")
        guard StoredBatch.validTimestamps.contains(at) else { throw StoreError(.invalidBatch, "promotion time \(at) outside years 1...9999") }
    }
}

/// Clamps a `models(kind:status:limit:)` limit.
func clampedModelLimit(_ limit: Int) -> Int { min(max(limit, 1), 10_000) }

extension StoredModel {
    /// One log line per registration, the same from every store.
    func logRegistration(to logger: Logger, store: String) {
        logger.info(
            "Registered model.",
            metadata: [
                "store": "\(store)", "model.id": "\(id)", "model.kind": "\(kind)", "model.version": "\(version)",
                "model.status": "\(status.rawValue)",
            ]
        )
    }

    /// One log line per promotion that changed the champion, the same from every store.
    func logPromotion(to logger: Logger, store: String, by: String) {
        logger.info(
            "Promoted model to champion.",
            metadata: [
                "store": "\(store)", "model.id": "\(id)", "model.kind": "\(kind)", "model.version": "\(version)",
                "model.promoted_by": "\(by)",
            ]
        )
    }
}
