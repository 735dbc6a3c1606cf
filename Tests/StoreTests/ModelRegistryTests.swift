// Vigil store tests: the Tier-2 model registry (issue 4 §4) on both stores, plus the blackhole's in-memory one.
import Testing
import VigilStore

@Suite("ModelRegistry (both implementations)")
struct ModelRegistryTests {
    static let forest = "isolation_forest"
    static let trees = "gradient_boosted_trees"
    static let parameters = #"{"trees": 100, "sample_size": 256, "contamination": 0.01, "seed": 7}"#
    static let metrics = #"{"precision":0.81,"recall":0.64,"f1":0.715,"roc_auc":0.93,"pr_auc":0.58}"#

    static func model(
        _ kind: String = forest,
        artifact: [UInt8] = [0x56, 0x49, 0x47, 0x00, 0xFF],
        parent: Int64? = nil,
        status: ModelStatus = .challenger,
        createdAt: Int64 = Fixtures.day0 + 31 * Fixtures.day
    ) -> StoredModel {
        StoredModel(
            kind: kind, featureSetVersion: 1, trainedFrom: Fixtures.day0, trainedTo: Fixtures.day0 + 30 * Fixtures.day,
            parametersJSON: parameters, metricsJSON: metrics, status: status, parentID: parent, createdAt: createdAt,
            createdBy: "trainer/nightly", artifact: artifact
        )
    }

    /// Deterministic pseudo-random bytes (xorshift64), with runs of 0x00 and 0xFF at both ends.
    static func bigArtifact(bytes count: Int) -> [UInt8] {
        var x: UInt64 = 0x9E37_79B9_7F4A_7C15
        var bytes = [UInt8](repeating: 0, count: count)
        for i in bytes.indices {
            x ^= x << 13
            x ^= x >> 7
            x ^= x << 17
            bytes[i] = UInt8(truncatingIfNeeded: x)
        }
        for i in 0..<64 {
            bytes[i] = 0x00
            bytes[count - 1 - i] = 0xFF
        }
        return bytes
    }

    static func expectCode(_ code: StoreError.Code, _ body: () async throws -> Void) async {
        do {
            try await body()
            Issue.record("expected StoreError(\(code))")
        } catch let error as StoreError {
            #expect(error.code == code, "\(error)")
        } catch {
            Issue.record("expected StoreError(\(code)), got \(error)")
        }
    }

    @Test("Versions are assigned per kind, and a registered model starts as a challenger", arguments: StoreKind.available)
    func versionsPerKind(kind: StoreKind) async throws {
        let h = try await StoreHarness.make(kind)
        let first = try await h.store.registerModel(Self.model())
        let second = try await h.store.registerModel(Self.model())
        let other = try await h.store.registerModel(Self.model(Self.trees))
        #expect(first.version == 1 && second.version == 2 && other.version == 1)
        #expect(first.id > 0 && second.id > first.id && other.id > second.id)
        #expect([first, second, other].allSatisfy { $0.status == .challenger && $0.promotedAt == nil && $0.promotedBy == nil })
        #expect(first.artifactSize == 5)
        #expect(first.artifactSHA256 == ArtifactDigest.sha256Hex([0x56, 0x49, 0x47, 0x00, 0xFF]))
        // What registration returns is exactly what the store gives back, JSON text included.
        #expect(try await h.store.model(id: first.id) == first)
        #expect(try await h.store.model(id: other.id) == other)
        #expect(try await h.store.model(id: second.id)?.parametersJSON == Self.parameters)
        #expect(try await h.store.champion(kind: Self.forest) == nil)
        await h.tearDown()
    }

    @Test("Artifacts round-trip byte for byte: every byte value, empty, and 1 MiB", arguments: StoreKind.available)
    func artifactsRoundTrip(kind: StoreKind) async throws {
        let h = try await StoreHarness.make(kind)
        let artifacts: [[UInt8]] = [
            [0x00], [0xFF], [0x00, 0xFF, 0x00, 0x00, 0xFF, 0xFF], Array(0...255) + Array((0...255).reversed()), [],
            Self.bigArtifact(bytes: 1 << 20),
        ]
        for artifact in artifacts {
            let registered = try await h.store.registerModel(Self.model(artifact: artifact))
            let loaded = try #require(try await h.store.model(id: registered.id))
            #expect(loaded.artifact == artifact)
            #expect(loaded.artifactSize == artifact.count)
            #expect(loaded.artifactSHA256 == ArtifactDigest.sha256Hex(artifact))
            #expect(loaded == registered)
        }
        // The champion is loaded with its bytes too (what the scorer reads at start).
        let big = try #require(try await h.store.models(kind: Self.forest, status: nil, limit: 1).first)
        _ = try await h.store.promote(id: big.id, by: "ops", at: Fixtures.day0)
        #expect(try await h.store.champion(kind: Self.forest)?.artifact == Self.bigArtifact(bytes: 1 << 20))
        await h.tearDown()
    }

    @Test("Lists leave artifacts out, filter by kind and status, newest first", arguments: StoreKind.available)
    func listing(kind: StoreKind) async throws {
        let h = try await StoreHarness.make(kind)
        let f1 = try await h.store.registerModel(Self.model())
        let f2 = try await h.store.registerModel(Self.model(artifact: Array(repeating: 0xAB, count: 1_000)))
        let t1 = try await h.store.registerModel(Self.model(Self.trees))
        let f3 = try await h.store.registerModel(Self.model())
        _ = try await h.store.promote(id: f2.id, by: "ops", at: Fixtures.day0)

        let all = try await h.store.models(kind: nil, status: nil, limit: 100)
        #expect(all.map(\.id) == [f3.id, t1.id, f2.id, f1.id])
        #expect(all.allSatisfy { $0.artifact.isEmpty })
        #expect(all.map(\.artifactSize) == [5, 5, 1_000, 5])
        #expect(all.map(\.artifactSHA256) == [f3, t1, f2, f1].map(\.artifactSHA256))
        var listedF1 = f1
        listedF1.artifact = []
        #expect(all.last == listedF1)

        #expect(try await h.store.models(kind: Self.forest, status: nil, limit: 100).map(\.id) == [f3.id, f2.id, f1.id])
        #expect(try await h.store.models(kind: nil, status: .champion, limit: 100).map(\.id) == [f2.id])
        #expect(try await h.store.models(kind: Self.forest, status: .challenger, limit: 100).map(\.id) == [f3.id, f1.id])
        #expect(try await h.store.models(kind: Self.trees, status: .champion, limit: 100).isEmpty)
        #expect(try await h.store.models(kind: "sequence_model", status: nil, limit: 100).isEmpty)
        #expect(try await h.store.models(kind: nil, status: nil, limit: 2).map(\.id) == [f3.id, t1.id])
        // A limit below 1 is clamped, not an error.
        #expect(try await h.store.models(kind: nil, status: nil, limit: 0).count == 1)
        await h.tearDown()
    }

    @Test("Promote, replace and roll back: exactly one champion, promotions recorded", arguments: StoreKind.available)
    func promotionAndRollback(kind: StoreKind) async throws {
        let h = try await StoreHarness.make(kind)
        let m1 = try await h.store.registerModel(Self.model())
        let m2 = try await h.store.registerModel(Self.model(parent: m1.id))
        let other = try await h.store.registerModel(Self.model(Self.trees))
        func status(_ id: Int64) async throws -> ModelStatus? { try await h.store.model(id: id)?.status }
        func champions() async throws -> [Int64] { try await h.store.models(kind: Self.forest, status: .champion, limit: 10).map(\.id) }

        let p1 = try await h.store.promote(id: m1.id, by: "alice", at: 1_000)
        #expect(p1.status == .champion && p1.promotedBy == "alice" && p1.promotedAt == 1_000)
        #expect(p1.artifact.isEmpty && p1.artifactSize == m1.artifactSize)
        #expect(try await h.store.champion(kind: Self.forest)?.id == m1.id)
        #expect(try await h.store.champion(kind: Self.forest)?.artifact == m1.artifact)
        #expect(try await champions() == [m1.id])

        let p2 = try await h.store.promote(id: m2.id, by: "evaluator/weekly", at: 2_000)
        #expect(p2.status == .champion && p2.promotedBy == "evaluator/weekly" && p2.promotedAt == 2_000)
        let retired = try #require(try await h.store.model(id: m1.id))
        #expect(retired.status == .retired)
        // A retired model keeps the promotion it had been champion by.
        #expect(retired.promotedBy == "alice" && retired.promotedAt == 1_000)
        #expect(try await champions() == [m2.id])

        // Rollback: the retired model becomes champion again, with the new promotion recorded.
        let back = try await h.store.promote(id: m1.id, by: "bob", at: 3_000)
        #expect(back.status == .champion && back.promotedBy == "bob" && back.promotedAt == 3_000)
        #expect(try await status(m2.id) == .retired)
        #expect(try await champions() == [m1.id])

        // Promoting the champion again changes nothing.
        let again = try await h.store.promote(id: m1.id, by: "carol", at: 4_000)
        #expect(again == back)
        #expect(try await h.store.model(id: m1.id)?.promotedBy == "bob")

        // Other kinds are untouched.
        #expect(try await status(other.id) == .challenger)
        #expect(try await h.store.champion(kind: Self.trees) == nil)
        _ = try await h.store.promote(id: other.id, by: "alice", at: 5_000)
        #expect(try await h.store.champion(kind: Self.trees)?.id == other.id)
        #expect(try await champions() == [m1.id])
        await h.tearDown()
    }

    @Test("Registering a champion promotes it in the same transaction", arguments: StoreKind.available)
    func registerAsChampion(kind: StoreKind) async throws {
        let h = try await StoreHarness.make(kind)
        let first = try await h.store.registerModel(Self.model(status: .champion, createdAt: 10))
        #expect(first.status == .champion && first.promotedBy == "trainer/nightly" && first.promotedAt == 10)
        var explicit = Self.model(status: .champion, createdAt: 20)
        explicit.promotedBy = "bootstrap"
        explicit.promotedAt = 21
        let second = try await h.store.registerModel(explicit)
        #expect(second.promotedBy == "bootstrap" && second.promotedAt == 21 && second.version == 2)
        #expect(try await h.store.model(id: first.id)?.status == .retired)
        #expect(try await h.store.champion(kind: Self.forest) == second)
        // A retired model can be registered as such (an imported history) and is left alone.
        let archived = try await h.store.registerModel(Self.model(status: .retired))
        #expect(archived.status == .retired && archived.promotedAt == nil)
        #expect(try await h.store.models(kind: Self.forest, status: .champion, limit: 10).map(\.id) == [second.id])
        await h.tearDown()
    }

    @Test("Concurrent promotions from two store instances always leave exactly one champion", arguments: StoreKind.available)
    func concurrentPromotions(kind: StoreKind) async throws {
        let h = try await StoreHarness.make(kind)
        let stores: [any BatchStore] = [h.store, try h.sibling()]
        // Concurrent registrations of one kind get distinct versions 1...n.
        let registered = try await withThrowingTaskGroup(of: StoredModel.self) { group in
            for i in 0..<6 {
                let store = stores[i % stores.count]
                group.addTask { try await store.registerModel(Self.model()) }
            }
            var all: [StoredModel] = []
            for try await model in group { all.append(model) }
            return all
        }
        #expect(registered.map(\.version).sorted() == Array(1...6))
        let ids = registered.sorted { $0.version < $1.version }.map(\.id)

        for round in 0..<12 {
            // Two different ids, promoted at once by two tasks on two store instances (two collectors).
            let pair = [ids[round % ids.count], ids[(round + 3) % ids.count]]
            let results = try await withThrowingTaskGroup(of: StoredModel.self) { group in
                for (i, id) in pair.enumerated() {
                    let store = stores[i]
                    group.addTask { try await store.promote(id: id, by: "task-\(i)", at: Int64(round)) }
                }
                var all: [StoredModel] = []
                for try await model in group { all.append(model) }
                return all
            }
            #expect(results.count == 2 && results.allSatisfy { $0.status == .champion })
            let champions = try await h.store.models(kind: Self.forest, status: .champion, limit: 100)
            #expect(champions.count == 1, "round \(round)")
            let winner = try #require(champions.first)
            #expect(pair.contains(winner.id))
            for id in pair where id != winner.id { #expect(try await h.store.model(id: id)?.status == .retired) }
        }
        // Everyone at once.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (i, id) in ids.enumerated() {
                let store = stores[i % stores.count]
                group.addTask { _ = try await store.promote(id: id, by: "everyone", at: 99) }
            }
            try await group.waitForAll()
        }
        let statuses = try await h.store.models(kind: Self.forest, status: nil, limit: 100).map(\.status)
        #expect(statuses.filter { $0 == .champion }.count == 1)
        #expect(statuses.filter { $0 == .retired }.count == 5)
        for store in stores.dropFirst() { await store.close() }
        await h.tearDown()
    }

    @Test("The database itself refuses a second champion of a kind", arguments: StoreKind.available)
    func oneChampionIndex(kind: StoreKind) async throws {
        let h = try await StoreHarness.make(kind)
        let m1 = try await h.store.registerModel(Self.model())
        _ = try await h.store.registerModel(Self.model())
        _ = try await h.store.promote(id: m1.id, by: "ops", at: 1)
        await Self.expectCode(.constraintViolation) {
            try await h.execute("UPDATE models SET status = 'champion', promoted_at_ms = 1, promoted_by = 'x'")
        }
        #expect(try await h.store.models(kind: Self.forest, status: .champion, limit: 10).map(\.id) == [m1.id])
        await h.tearDown()
    }

    @Test("Unknown ids: promote and parent are notFound, lookups are nil", arguments: StoreKind.available)
    func unknownIDs(kind: StoreKind) async throws {
        let h = try await StoreHarness.make(kind)
        let m1 = try await h.store.registerModel(Self.model())
        await Self.expectCode(.notFound) { _ = try await h.store.promote(id: m1.id + 1_000, by: "ops", at: 1) }
        await Self.expectCode(.notFound) { _ = try await h.store.promote(id: -1, by: "ops", at: 1) }
        await Self.expectCode(.notFound) { _ = try await h.store.registerModel(Self.model(parent: m1.id + 1_000)) }
        #expect(try await h.store.model(id: m1.id + 1_000) == nil)
        #expect(try await h.store.champion(kind: "no_such_kind") == nil)
        #expect(try await h.store.models(kind: nil, status: nil, limit: 10).map(\.id) == [m1.id])
        #expect(try await h.store.model(id: m1.id)?.status == .challenger)
        await h.tearDown()
    }

    @Test("Invalid models are refused and leave nothing behind", arguments: StoreKind.available)
    func invalidModels(kind: StoreKind) async throws {
        let h = try await StoreHarness.make(kind)
        func with(_ change: (inout StoredModel) -> Void) -> StoredModel {
            var model = Self.model()
            change(&model)
            return model
        }
        // Not JSON, or JSON that is not an object: the tables' CHECKs refuse them.
        for text in ["{not json", "", "[1, 2]", "42", #"{"a": 1"#] {
            await Self.expectCode(.constraintViolation) { _ = try await h.store.registerModel(with { $0.parametersJSON = text }) }
            await Self.expectCode(.constraintViolation) { _ = try await h.store.registerModel(with { $0.metricsJSON = text }) }
        }
        let invalid: [StoredModel] = [
            with { $0.kind = "" },
            with { $0.kind = String(repeating: "k", count: 65) },
            with { $0.createdBy = "" },
            with { $0.createdBy = "nul\u{0}" },
            with { $0.parametersJSON = "{\"a\": \"\u{0}\"}" },
            with { $0.trainedFrom = $0.trainedTo + 1 },
            with { $0.trainedTo = .max },
            with { $0.featureSetVersion = -1 },
            with { $0.featureSetVersion = Int(Int32.max) + 1 },
            with { $0.artifactSHA256 = String(repeating: "0", count: 64) },
            with { $0.promotedBy = "ops" },  // without promotedAt
        ]
        for model in invalid {
            await Self.expectCode(.invalidBatch) { _ = try await h.store.registerModel(model) }
        }
        let m1 = try await h.store.registerModel(Self.model())
        await Self.expectCode(.invalidBatch) { _ = try await h.store.promote(id: m1.id, by: "", at: 1) }
        await Self.expectCode(.invalidBatch) { _ = try await h.store.promote(id: m1.id, by: "ops", at: .min) }
        // Nothing of the failed attempts was stored, and they used up no version numbers.
        #expect(m1.version == 1)
        #expect(try await h.store.models(kind: nil, status: nil, limit: 100).map(\.id) == [m1.id])
        #expect(try await h.store.model(id: m1.id)?.status == .challenger)
        // The digest may be given (in any case) when it matches.
        let digest = ArtifactDigest.sha256Hex(m1.artifact).uppercased()
        #expect(try await h.store.registerModel(with { $0.artifactSHA256 = digest }).version == 2)
        await h.tearDown()
    }

    @Test("Lineage: each model keeps its parent", arguments: StoreKind.available)
    func lineage(kind: StoreKind) async throws {
        let h = try await StoreHarness.make(kind)
        let root = try await h.store.registerModel(Self.model())
        let child = try await h.store.registerModel(Self.model(parent: root.id))
        let grandchild = try await h.store.registerModel(Self.model(parent: child.id))
        // Lineage may cross kinds (a boosted-tree model trained on a forest's flagged alerts).
        let crossKind = try await h.store.registerModel(Self.model(Self.trees, parent: grandchild.id))
        #expect(try await h.store.model(id: root.id)?.parentID == nil)
        #expect(try await h.store.model(id: child.id)?.parentID == root.id)
        #expect(try await h.store.model(id: grandchild.id)?.parentID == child.id)
        #expect(try await h.store.model(id: crossKind.id)?.parentID == grandchild.id)
        let listed = try await h.store.models(kind: nil, status: nil, limit: 10).map(\.parentID)
        #expect(listed == [grandchild.id, child.id, root.id, nil])
        // Promotion does not touch lineage.
        #expect(try await h.store.promote(id: grandchild.id, by: "ops", at: 1).parentID == child.id)
        await h.tearDown()
    }

    @Test("A damaged artifact is detected when loaded", arguments: StoreKind.available)
    func damagedArtifact(kind: StoreKind) async throws {
        let h = try await StoreHarness.make(kind)
        let m1 = try await h.store.registerModel(Self.model(status: .champion))
        let bytes = kind == .sqlite ? "x'56494700fe'" : "decode('56494700fe', 'hex')"
        try await h.execute("UPDATE models SET artifact = \(bytes) WHERE id = \(m1.id)")
        await Self.expectCode(.constraintViolation) { _ = try await h.store.model(id: m1.id) }
        await Self.expectCode(.constraintViolation) { _ = try await h.store.champion(kind: Self.forest) }
        // Listing reads no artifact, so it still works (an operator can see and replace the model).
        #expect(try await h.store.models(kind: nil, status: nil, limit: 10).map(\.id) == [m1.id])
        await h.tearDown()
    }

    @Test("The registry survives closing and reopening the store", arguments: StoreKind.available)
    func survivesReopen(kind: StoreKind) async throws {
        let h = try await StoreHarness.make(kind)
        let m1 = try await h.store.registerModel(Self.model(artifact: Self.bigArtifact(bytes: 4_096)))
        let m2 = try await h.store.registerModel(Self.model(parent: m1.id))
        _ = try await h.store.promote(id: m1.id, by: "alice", at: 1)
        let champion = try await h.store.promote(id: m2.id, by: "bob", at: 2)
        await h.store.close()

        let reopened = try h.sibling()
        try await reopened.migrate()
        var expected = m1
        expected.status = .retired
        expected.promotedBy = "alice"
        expected.promotedAt = 1
        #expect(try await reopened.model(id: m1.id) == expected)
        var loadedChampion = try #require(try await reopened.champion(kind: Self.forest))
        #expect(loadedChampion.artifact == m2.artifact)
        loadedChampion.artifact = []
        #expect(loadedChampion == champion)
        // Numbering continues where it stopped.
        #expect(try await reopened.registerModel(Self.model()).version == 3)
        if let postgres = reopened as? PostgresStore { try await postgres.dropSchemaAndClose() } else { await reopened.close() }
        await h.tearDown()
    }

    @Test("Migration 4 upgrades a database at version 3, keeping its data", arguments: StoreKind.available)
    func upgradeFromVersion3(kind: StoreKind) async throws {
        let h = try await StoreHarness.make(kind, migrate: false)
        try await h.migrate(through: 3)
        #expect(try await h.appliedMigrations() == [1, 2, 3])
        await #expect(throws: StoreError.self) { try await h.store.models(kind: nil, status: nil, limit: 10) }
        #expect(try await h.store.apply(Fixtures.batch(sequence: 1, bars: [Fixtures.bar("AAPL", 0)])) == .accepted(highWaterMark: 1))
        let alertIDs = try await h.store.upsertAlerts([AlertStoreTests.alert("ep-1")])

        try await h.store.migrate()
        try await h.store.migrate()
        #expect(try await h.appliedMigrations() == [1, 2, 3, 4])
        #expect(try await h.store.stats() == StoreStats(bars: 1, batchesAccepted: 1, agents: 1, alerts: 1))
        #expect(try await h.store.alert(id: try #require(alertIDs.first))?.key == "ep-1")
        let m1 = try await h.store.registerModel(Self.model())
        #expect(m1.version == 1)
        #expect(try await h.store.promote(id: m1.id, by: "ops", at: 1).status == .champion)
        #expect(try await h.store.champion(kind: Self.forest)?.id == m1.id)
        await h.tearDown()
    }
}

@Suite("ModelRegistry (blackhole, in memory)")
struct BlackholeModelRegistryTests {
    @Test("The blackhole keeps the registry in memory with the same rules")
    func blackholeRegistry() async throws {
        let store = BlackholeStore()
        let m1 = try await store.registerModel(ModelRegistryTests.model(artifact: [0x00, 0xFF]))
        let m2 = try await store.registerModel(ModelRegistryTests.model(parent: m1.id))
        let other = try await store.registerModel(ModelRegistryTests.model(ModelRegistryTests.trees))
        #expect(m1.version == 1 && m2.version == 2 && other.version == 1)
        #expect(try await store.model(id: m1.id) == m1)
        #expect(try await store.models(kind: ModelRegistryTests.forest, status: nil, limit: 10).map(\.id) == [m2.id, m1.id])
        #expect(try await store.models(kind: nil, status: nil, limit: 10).allSatisfy { $0.artifact.isEmpty })

        #expect(try await store.promote(id: m1.id, by: "alice", at: 1).status == .champion)
        #expect(try await store.promote(id: m2.id, by: "bob", at: 2).promotedBy == "bob")
        #expect(try await store.model(id: m1.id)?.status == .retired)
        #expect(try await store.promote(id: m1.id, by: "carol", at: 3).status == .champion)
        #expect(try await store.model(id: m2.id)?.status == .retired)
        #expect(try await store.promote(id: m1.id, by: "dave", at: 4).promotedBy == "carol")
        #expect(try await store.champion(kind: ModelRegistryTests.forest)?.artifact == [0x00, 0xFF])
        #expect(try await store.champion(kind: ModelRegistryTests.trees) == nil)

        await ModelRegistryTests.expectCode(.notFound) { _ = try await store.promote(id: 99, by: "ops", at: 1) }
        await ModelRegistryTests.expectCode(.notFound) { _ = try await store.promote(id: .min, by: "ops", at: 1) }
        await ModelRegistryTests.expectCode(.notFound) { _ = try await store.registerModel(ModelRegistryTests.model(parent: 99)) }
        await ModelRegistryTests.expectCode(.invalidBatch) { _ = try await store.registerModel(ModelRegistryTests.model("")) }
        #expect(try await store.model(id: .min) == nil)
        #expect(try await store.models(kind: nil, status: nil, limit: 10).count == 3)
    }
}

@Suite("ArtifactDigest")
struct ArtifactDigestTests {
    /// FIPS 180-4 examples and lengths around the padding boundaries (55/56 and 119/120 bytes change the block count),
    /// checked against Python's hashlib.
    @Test("SHA-256 matches the reference vectors")
    func vectors() {
        func hex(_ text: String) -> String { ArtifactDigest.sha256Hex(Array(text.utf8)) }
        #expect(hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(
            hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")
                == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        let lengths: [Int: String] = [
            55: "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318",
            56: "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a",
            63: "7d3e74a05d7db15bce4ad9ec0658ea98e3f06eeecf16b4c6fff2da457ddc2f34",
            64: "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb",
            65: "635361c48bb9eab14198e76ea8ab7f1a41685d6ad62aa9146d301d4f17eb0ae0",
            119: "31eba51c313a5c08226adf18d4a359cfdfd8d2e816b13f4af952f7ea6584dcfb",
            120: "2f3d335432c70b580af0e8e1b3674a7c020d683aa5f73aaaedfdc55af904c21c",
        ]
        for (length, digest) in lengths { #expect(hex(String(repeating: "a", count: length)) == digest, "length \(length)") }
        #expect(
            ArtifactDigest.sha256Hex(Array(0...255) + Array(0...255) + Array(0...255))
                == "f3a25aa93aa2fbba28d79260535bbd6a5eb0fc1c24a8b0f04e12b484c1dfe363")
        #expect(
            ArtifactDigest.sha256Hex([UInt8](repeating: 0x61, count: 1_000_000))
                == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }
}
