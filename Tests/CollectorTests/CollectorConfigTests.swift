import Foundation
import Testing
import VigilConfig
import VigilTestSupport

@testable import VigilCollector

/// The collector's YAML configuration: defaults are valid, snake_case keys map onto the Swift fields, unknown keys and
/// every mistake are reported with their paths (by the loader and by the real `vigil-collector validate-config`), and
/// the shipped example is the defaults.
@Suite struct CollectorConfigTests {
    static let binary = packageBinary("vigil-collector")
    static let examplePath: String = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("deploy/collector.example.yaml").path

    /// A variable nobody sets, so `kind: postgres` without `postgres_url` has no URL.
    static let unsetVariable = "VIGIL_COLLECTOR_CONFIG_TEST_SURELY_UNSET"

    @Test func theDefaultsAreValidAndAnEmptyFileIsTheDefaults() throws {
        let defaults = CollectorConfig()
        #expect(defaults.validationProblems().isEmpty, "\(defaults.validationProblems())")
        #expect(defaults.server.listen == "127.0.0.1:8080")
        #expect(defaults.store.kind == .sqlite)
        #expect(defaults.auth.required == false && defaults.auth.tokens.isEmpty)
        #expect(defaults.resolvingPaths().store.sqlitePath == defaults.collector.dataDir + "/vigil.sqlite")
        #expect(try ConfigLoader.load(CollectorConfig.self, yaml: "", file: "empty.yaml") == defaults)
        #expect(try ConfigLoader.load(CollectorConfig.self, yaml: "server: {}\nstore: {}\n", file: "sections.yaml") == defaults)
    }

    @Test func snakeCaseKeysMapOntoEveryField() throws {
        let directory = TemporaryDirectory()
        let tokenFile = directory.path + "/token"
        try Data("s3cret\n".utf8).write(to: URL(fileURLWithPath: tokenFile))
        let yaml = """
            collector:
              id: collector-7
              data_dir: /var/lib/vigil
            server:
              listen: 0.0.0.0:9000
              max_body_bytes: 2048
              max_decompressed_bytes: 8192
              max_bars_per_request: 10
              max_inflight_requests: 3
              retry_after_seconds: 7
            auth:
              tokens:
                - name: fleet-a
                  token_file: \(tokenFile)
                  agents: [agent-1, agent-2]
                - name: fleet-b
                  sha256: \(String(repeating: "ab", count: 32))
            partitions:
              count: 4
              queue_depth: 9
            cache:
              bars_per_symbol: 64
              bars_max_bytes: 1000
              bars_ttl_seconds: 60
              query_max_bytes: 500
              query_ttl_seconds: 5
            detection:
              alert_threshold: 0.7
            alerter:
              episode_gap_bars: 4
              min_anomaly_score: 0.3
              market_wide_share: 0.5
              market_wide_min_symbols: 10
              market_wide_max_intervals: 500
            store:
              kind: postgres
              sqlite_path: /tmp/unused.sqlite
              postgres_url: postgresql://vigil@db:5432/vigil
              postgres_url_env: MY_PG
              postgres_max_connections: 3
              postgres_schema: surveillance
              retention_days: 30
            tracing:
              otlp_endpoint: http://jaeger:4318/v1/traces
              forward_agent_spans: false
              max_queue_spans: 100
              max_export_batch_spans: 10
              export_interval_milliseconds: 250
              export_timeout_seconds: 2.5
            logging:
              level: debug
              format: text
            """
        let config = try ConfigLoader.load(CollectorConfig.self, yaml: yaml, file: "full.yaml")
        var expected = CollectorConfig()
        expected.collector.id = "collector-7"
        expected.collector.dataDir = "/var/lib/vigil"
        expected.server.listen = "0.0.0.0:9000"
        expected.server.maxBodyBytes = 2048
        expected.server.maxDecompressedBytes = 8192
        expected.server.maxBarsPerRequest = 10
        expected.server.maxInflightRequests = 3
        expected.server.retryAfterSeconds = 7
        expected.auth.required = true  // implied by listing tokens
        expected.auth.tokens = [
            .init(name: "fleet-a", tokenFile: tokenFile, agents: ["agent-1", "agent-2"]),
            .init(name: "fleet-b", sha256: String(repeating: "ab", count: 32)),
        ]
        expected.partitions.count = 4
        expected.partitions.queueDepth = 9
        expected.cache.barsPerSymbol = 64
        expected.cache.barsMaxBytes = 1000
        expected.cache.barsTTLSeconds = 60
        expected.cache.queryMaxBytes = 500
        expected.cache.queryTTLSeconds = 5
        expected.detection.alertThreshold = 0.7
        expected.alerter = AlerterConfiguration(
            episodeGapBars: 4, minAnomalyScore: 0.3, marketWideShare: 0.5, marketWideMinSymbols: 10, marketWideMaxIntervals: 500)
        expected.store.kind = .postgres
        expected.store.sqlitePath = "/tmp/unused.sqlite"
        expected.store.postgresURL = "postgresql://vigil@db:5432/vigil"
        expected.store.postgresURLEnv = "MY_PG"
        expected.store.postgresMaxConnections = 3
        expected.store.postgresSchema = "surveillance"
        expected.store.retentionDays = 30
        expected.tracing.otlpEndpoint = "http://jaeger:4318/v1/traces"
        expected.tracing.forwardAgentSpans = false
        expected.tracing.maxQueueSpans = 100
        expected.tracing.maxExportBatchSpans = 10
        expected.tracing.exportIntervalMilliseconds = 250
        expected.tracing.exportTimeoutSeconds = 2.5
        expected.logging.level = "debug"
        expected.logging.format = "text"
        #expect(config == expected)
        // Spot checks that name the keys the brief cares about, so a failure says which mapping broke.
        #expect(config.server.maxBodyBytes == 2048)
        #expect(config.store.postgresURL == "postgresql://vigil@db:5432/vigil")
        #expect(config.cache.queryTTLSeconds == 5)
        #expect(config.alerter.episodeGapBars == 4)
        #expect(config.auth.tokens.first?.tokenFile == tokenFile)
        #expect(config.server.hostAndPort?.host == "0.0.0.0" && config.server.hostAndPort?.port == 9000)
        #expect(config.partitions.effectiveCount == 4)
        // An explicit `required: false` with tokens is honoured.
        let optional = try ConfigLoader.load(
            CollectorConfig.self, yaml: "auth:\n  required: false\n  tokens: [{name: t, sha256: \(String(repeating: "cd", count: 32))}]\n",
            file: "optional.yaml")
        #expect(optional.auth.required == false && optional.auth.tokens.count == 1)
    }

    @Test func anUnknownKeyIsReportedWithItsPath() {
        let cases: [(yaml: String, path: String)] = [
            ("server:\n  listen: 127.0.0.1:1\n  max_body_byte: 10\n", "server.max_body_byte"),
            ("colector:\n  id: x\n", "colector"),
            ("store:\n  kind: sqlite\n  postgres_uri: x\n", "store.postgres_uri"),
            ("auth:\n  tokens:\n    - name: t\n      sha256: \(String(repeating: "a", count: 64))\n      agent: [a]\n", "auth.tokens[0].agent"),
            ("alerter:\n  episode_gap: 3\n", "alerter.episode_gap"),
        ]
        for (yaml, path) in cases {
            do {
                let config = try ConfigLoader.load(CollectorConfig.self, yaml: yaml, file: "unknown.yaml")
                Issue.record("\(path) was accepted: \(config)")
            } catch {
                #expect(error.file == "unknown.yaml")
                let problem = error.problems.first { $0.path == path }
                #expect(problem != nil, "\(path) not reported: \(error.problems)")
                #expect(problem?.message.contains("unknown key") == true, "\(problem?.message ?? "")")
                #expect(error.problems.count == 1, "only the unknown key is wrong: \(error.problems)")
            }
        }
    }

    @Test func aFileWithSeveralMistakesReportsEveryOne() {
        let yaml = Self.badYAML
        do {
            let config = try ConfigLoader.load(CollectorConfig.self, yaml: yaml, file: "bad.yaml")
            Issue.record("a bad file was accepted: \(config)")
        } catch {
            let paths = Set(error.problems.map(\.path))
            for path in Self.badPaths { #expect(paths.contains(path), "\(path) not reported: \(error.problems)") }
            #expect(error.problems.allSatisfy { !$0.message.isEmpty })
            #expect(error.description.contains("bad.yaml"))
            #expect(error.description.contains("\(error.problems.count) problems"))
        }
        // A wrong type in one section does not hide the mistakes in the others.
        do {
            _ = try ConfigLoader.load(CollectorConfig.self, yaml: "server:\n  max_body_bytes: lots\nlogging:\n  level: loud\n", file: "types.yaml")
            Issue.record("a wrong type was accepted")
        } catch {
            let paths = error.problems.map(\.path)
            #expect(paths.contains("server.max_body_bytes"), "\(error.problems)")
            #expect(paths.contains("logging.level"), "\(error.problems)")
        }
        // Not YAML at all, and not a mapping.
        for text in ["server: [unclosed", "- just\n- a list\n"] {
            #expect(throws: ConfigError.self) { try ConfigLoader.load(CollectorConfig.self, yaml: text, file: "x.yaml") }
        }
    }

    static let badPaths = ["server.listen", "store.retention_days", "auth.tokens[0].sha256", "store.postgres_url", "logging.level"]

    static var badYAML: String {
        """
        server:
          listen: nonsense
        auth:
          tokens:
            - name: fleet
              sha256: abc123
        store:
          kind: postgres
          postgres_url_env: \(unsetVariable)
          retention_days: -1
        logging:
          level: loud
        """
    }

    @Test(.enabled(if: binary != nil, "needs the vigil-collector executable (swift build --build-tests)"))
    func validateConfigExitsZeroOnAGoodFileAndOneWithEveryProblemOnABadOne() async throws {
        let binary = try #require(Self.binary)
        let directory = TemporaryDirectory()
        let good = directory.path + "/good.yaml"
        try Data("server:\n  listen: 127.0.0.1:9911\npartitions:\n  count: 3\nlogging:\n  level: warning\n".utf8)
            .write(to: URL(fileURLWithPath: good))
        let ok = try await runProcess(binary, ["validate-config", good], environment: [Self.unsetVariable: ""])
        #expect(ok.status == 0, "stdout: \(ok.stdout)\nstderr: \(ok.stderr)")
        #expect(ok.stdout.contains("ok"), "\(ok.stdout)")
        #expect(ok.stdout.contains("127.0.0.1:9911") && ok.stdout.contains("3 partitions"), "\(ok.stdout)")

        let bad = directory.path + "/bad.yaml"
        try Data(Self.badYAML.utf8).write(to: URL(fileURLWithPath: bad))
        let refused = try await runProcess(binary, ["validate-config", bad], environment: [Self.unsetVariable: ""])
        #expect(refused.status == 1, "stdout: \(refused.stdout)\nstderr: \(refused.stderr)")
        for path in Self.badPaths { #expect(refused.stderr.contains(path), "\(path) missing from stderr:\n\(refused.stderr)") }
        #expect(refused.stderr.contains(bad))
        #expect(!refused.stdout.contains("ok"))

        let missing = try await runProcess(binary, ["validate-config", directory.path + "/absent.yaml"])
        #expect(missing.status == 1)
        #expect(missing.stderr.contains("cannot read"), "\(missing.stderr)")
    }

    @Test(.enabled(if: FileManager.default.fileExists(atPath: examplePath), "deploy/collector.example.yaml does not exist yet"))
    func theExampleFileIsTheDefaults() throws {
        let text = try String(contentsOfFile: Self.examplePath, encoding: .utf8)
        let example = try ConfigLoader.load(CollectorConfig.self, yaml: text, file: Self.examplePath)
        var defaults = CollectorConfig()
        // `collector.id` defaults to the host name, which the example cannot know.
        defaults.collector.id = example.collector.id
        #expect(example == defaults, "deploy/collector.example.yaml differs from CollectorConfig()")
        #expect(example.validationProblems().isEmpty)
        // Every section of the configuration appears in the example.
        for section in ["collector", "server", "auth", "partitions", "cache", "detection", "alerter", "store", "tracing", "logging"] {
            #expect(text.contains("\n\(section):") || text.hasPrefix("\(section):"), "the example has no \(section) section")
        }
    }
}
