import Foundation
import Testing
import VigilConfig

@testable import VigilAgent

/// Prometheus-style config fixtures: every `*.good.yaml` loads, every `*.bad.yaml` fails with at least the problems
/// listed (one substring per line) in its `*.bad.errors`.
@Suite("Agent configuration")
struct ConfigTests {
    static let directory = Bundle.module.bundleURL.appendingPathComponent("Fixtures/config").path

    static func fixtures(_ suffix: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { $0.hasSuffix(suffix) }.sorted()
    }

    @Test func fixturesArePresent() {
        #expect(Self.fixtures(".good.yaml").count >= 3)
        #expect(Self.fixtures(".bad.yaml").count >= 4)
    }

    @Test(arguments: fixtures(".good.yaml"))
    func goodFixtureLoads(name: String) throws {
        _ = try ConfigLoader.load(AgentConfig.self, path: "\(Self.directory)/\(name)")
    }

    @Test(arguments: fixtures(".bad.yaml"))
    func badFixtureReportsEveryExpectedProblem(name: String) throws {
        let path = "\(Self.directory)/\(name)"
        let expected = try String(contentsOfFile: path.replacingOccurrences(of: ".yaml", with: ".errors"), encoding: .utf8)
            .split(separator: "\n").map(String.init).filter { !$0.isEmpty }
        #expect(!expected.isEmpty)
        do {
            _ = try ConfigLoader.load(AgentConfig.self, path: path)
            Issue.record("\(name) loaded but should fail")
        } catch {
            let report = error.description
            for line in expected {
                #expect(report.contains(line), "\(name): missing «\(line)» in\n\(report)")
            }
        }
    }

    @Test func shippedExampleIsValidAndDocumentsDefaults() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let example = try ConfigLoader.load(AgentConfig.self, path: root.appendingPathComponent("deploy/agent.example.yaml").path)
        let defaults = AgentConfig()
        // The example spells out the defaults; only identity and paths differ.
        #expect(example.batch == defaults.batch)
        #expect(example.detection == defaults.detection)
        #expect(example.collector == defaults.collector)
        #expect(example.tracing == defaults.tracing)
    }

    @Test func defaultsDeriveFromTheDataDirectory() {
        var config = AgentConfig()
        config.agent.dataDir = "/srv/vigil"
        let resolved = config.resolvingPaths()
        #expect(resolved.spool.directory == "/srv/vigil/spool")
        #expect(resolved.deadLetter.path == "/srv/vigil/deadletter.jsonl")
    }

    @Test func configVersionTracksContent() throws {
        let a = try ConfigLoader.load(AgentConfig.self, yaml: "batch: {max_bars: 10}", file: "a")
        let b = try ConfigLoader.load(AgentConfig.self, yaml: "batch:\n  max_bars: 10\n", file: "b")
        let c = try ConfigLoader.load(AgentConfig.self, yaml: "batch: {max_bars: 11}", file: "c")
        #expect(a.version == b.version)
        #expect(a.version != c.version)
    }

    @Test func keyCaseConversion() {
        #expect(ConfigLoader.camelCase("base_url") == "baseURL")
        #expect(ConfigLoader.camelCase("max_attempts") == "maxAttempts")
        #expect(ConfigLoader.camelCase("agent_id") == "agentID")
        #expect(ConfigLoader.snakeCase("baseURL") == "base_url")
        #expect(ConfigLoader.snakeCase("pollIntervalSeconds") == "poll_interval_seconds")
    }

    @Test func tokenResolutionPrefersInlineThenFileThenEnvironmentAndIsRedacted() throws {
        let directory = TemporaryDirectory()
        let file = directory.path + "/token"
        try "from-file\n".write(toFile: file, atomically: true, encoding: .utf8)
        var collector = CollectorConfiguration()
        #expect(try collector.resolveToken(environment: ["VIGIL_AGENT_TOKEN": "from-env"]) == "from-env")
        collector.tokenFile = file
        #expect(try collector.resolveToken(environment: ["VIGIL_AGENT_TOKEN": "from-env"]) == "from-file")
        collector.token = "inline-secret"
        #expect(try collector.resolveToken() == "inline-secret")
        #expect(!collector.description.contains("inline-secret"))
        collector.token = nil
        collector.tokenFile = directory.path + "/missing"
        #expect(throws: AgentError.self) { try collector.resolveToken() }
    }
}
