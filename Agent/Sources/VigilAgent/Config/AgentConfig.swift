import Foundation
import Logging
import VigilConfig
import VigilDetection
import VigilFeeds
import VigilSpool

/// The agent's YAML configuration (`vigil-agent run --config agent.yaml`). Every section and key is optional; the
/// defaults run a synthetic market, spool under `./data/agent` and ship to a collector on `127.0.0.1:8080`.
/// `deploy/agent.example.yaml` lists every key with its default (a test keeps it valid and equal to the defaults).
public struct AgentConfig: ValidatableConfig, Sendable, Equatable {
    public var agent = AgentSection()
    public var collector = CollectorConfiguration()
    public var batch = BatcherConfiguration()
    public var spool = SpoolConfiguration()
    public var detection = DetectorConfig.default
    public var normalizer = NormalizerConfiguration.default
    public var deadLetter = DeadLetterConfiguration.default
    public var feeds: [FeedConfiguration] = [.default]
    public var admin = AdminSection()
    public var logging = LoggingSection()
    public var tracing = TracingSection()

    public init() {}

    enum CodingKeys: String, CodingKey {
        case agent, collector, batch, spool, detection, normalizer, deadLetter, feeds, admin, logging, tracing
    }

    public init(from decoder: any Swift.Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        agent = try container.decodeIfPresent(AgentSection.self, forKey: .agent) ?? AgentSection()
        collector = try container.decodeIfPresent(CollectorConfiguration.self, forKey: .collector) ?? CollectorConfiguration()
        batch = try container.decodeIfPresent(BatcherConfiguration.self, forKey: .batch) ?? BatcherConfiguration()
        spool = try container.decodeIfPresent(SpoolConfiguration.self, forKey: .spool) ?? SpoolConfiguration()
        detection = try container.decodeIfPresent(DetectorConfig.self, forKey: .detection) ?? .default
        normalizer = try container.decodeIfPresent(NormalizerConfiguration.self, forKey: .normalizer) ?? .default
        deadLetter = try container.decodeIfPresent(DeadLetterConfiguration.self, forKey: .deadLetter) ?? .default
        feeds = try container.decodeIfPresent([FeedConfiguration].self, forKey: .feeds) ?? [.default]
        admin = try container.decodeIfPresent(AdminSection.self, forKey: .admin) ?? AdminSection()
        logging = try container.decodeIfPresent(LoggingSection.self, forKey: .logging) ?? LoggingSection()
        tracing = try container.decodeIfPresent(TracingSection.self, forKey: .tracing) ?? TracingSection()
    }

    public func validationProblems() -> [ConfigProblem] {
        var problems: [ConfigProblem] = []
        problems += agent.validationProblems()
        problems += collector.validationProblems(path: "collector")
        problems += batch.validationProblems(path: "batch")
        problems += spool.validate().map { ConfigProblem(path: "spool", message: $0) }
        problems += detection.validate().map { ConfigProblem(path: "detection", message: $0) }
        problems += normalizer.validate(path: "normalizer").map(Self.problem)
        problems += deadLetter.validate(path: "dead_letter").map(Self.problem)
        if feeds.isEmpty { problems.append(ConfigProblem(path: "feeds", message: "at least one feed is required")) }
        problems += FeedConfiguration.validate(feeds).map(Self.problem)
        problems += admin.validationProblems()
        problems += logging.validationProblems()
        problems += tracing.validationProblems()
        return problems
    }

    /// Feed and normalizer problems come as "path.camelKey: message"; show the keys as they are written in the file.
    static func problem(_ text: String) -> ConfigProblem {
        guard let separator = text.range(of: ": ") else { return ConfigProblem(path: "", message: text) }
        let path = text[..<separator.lowerBound].split(separator: ".", omittingEmptySubsequences: false)
            .map { ConfigLoader.snakeCase(String($0)) }.joined(separator: ".")
        return ConfigProblem(path: path, message: String(text[separator.upperBound...]))
    }

    /// Paths derived from `agent.data_dir` where the file left them at their defaults.
    public func resolvingPaths() -> AgentConfig {
        var resolved = self
        let dataDir = agent.dataDir
        if spool.directory == SpoolConfiguration.defaultDirectory { resolved.spool.directory = dataDir + "/spool" }
        if deadLetter.path == DeadLetterConfiguration.default.path { resolved.deadLetter.path = dataDir + "/deadletter.jsonl" }
        return resolved
    }

    /// A short, stable identifier of the effective configuration, reported in batches and `/metrics` (fleet rollouts
    /// compare it): FNV-1a over the canonical JSON encoding.
    public var version: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let bytes = (try? encoder.encode(self)) ?? Data()
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01b3
        }
        let hex = String(hash, radix: 16)
        return "cfg-" + String(repeating: "0", count: 16 - hex.count) + hex
    }
}

/// Keys under `agent:`.
public struct AgentSection: Codable, Sendable, Equatable {
    /// Stable agent identity, unique in the fleet. Default: the host name.
    public var id: String = ProcessInfo.processInfo.hostName
    /// Directory for the spool, the sequence state and dead letters. Default `./data/agent`.
    public var dataDir: String = "./data/agent"
    /// How often at most (seconds) the Tier-1 state of every series is saved, so a restart does not warm up again;
    /// it is also saved at shutdown. 0 disables. Default 60.
    public var detectorSnapshotSeconds: Int = 60

    public init() {}

    public init(from decoder: any Swift.Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = AgentSection()
        id = try container.decodeIfPresent(String.self, forKey: .id) ?? defaults.id
        dataDir = try container.decodeIfPresent(String.self, forKey: .dataDir) ?? defaults.dataDir
        detectorSnapshotSeconds = try container.decodeIfPresent(Int.self, forKey: .detectorSnapshotSeconds) ?? defaults.detectorSnapshotSeconds
    }

    func validationProblems() -> [ConfigProblem] {
        var problems: [ConfigProblem] = []
        if id.isEmpty || id.count > 128 || !id.allSatisfy({ $0.isLetter || $0.isNumber || "-_.".contains($0) }) {
            problems.append(ConfigProblem(path: "agent.id", message: "must be 1-128 letters, digits, '-', '_' or '.', got '\(id)'"))
        }
        if dataDir.isEmpty { problems.append(ConfigProblem(path: "agent.data_dir", message: "must not be empty")) }
        if !(0...86_400).contains(detectorSnapshotSeconds) {
            problems.append(
                ConfigProblem(path: "agent.detector_snapshot_seconds", message: "must be between 0 and 86400, got \(detectorSnapshotSeconds)"))
        }
        return problems
    }
}

/// Keys under `admin:`.
public struct AdminSection: Codable, Sendable, Equatable {
    /// Serve /metrics, /healthz and /readyz. Default true.
    public var enabled = true
    /// `host:port` of the admin port. Default `127.0.0.1:9464`; port 0 picks a free port (logged).
    public var listen = "127.0.0.1:9464"

    public init() {}

    public init(from decoder: any Swift.Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        enabled = try container.decodeIfPresent(Bool.self, forKey: .enabled) ?? true
        listen = try container.decodeIfPresent(String.self, forKey: .listen) ?? "127.0.0.1:9464"
    }

    func validationProblems() -> [ConfigProblem] {
        do {
            _ = try AdminServer.parse(listen)
            return []
        } catch {
            return [ConfigProblem(path: "admin.listen", message: "must be host:port, got \(listen)")]
        }
    }
}

/// Keys under `logging:`.
public struct LoggingSection: Codable, Sendable, Equatable {
    /// trace, debug, info, notice, warning, error or critical. Default info.
    public var level = "info"
    /// `json` (default; one object per line with trace ids) or `text`.
    public var format = "json"

    public init() {}

    public init(from decoder: any Swift.Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        level = try container.decodeIfPresent(String.self, forKey: .level) ?? "info"
        format = try container.decodeIfPresent(String.self, forKey: .format) ?? "json"
    }

    public var logLevel: Logger.Level { Logger.Level(rawValue: level) ?? .info }

    func validationProblems() -> [ConfigProblem] {
        var problems: [ConfigProblem] = []
        if Logger.Level(rawValue: level) == nil {
            problems.append(
                ConfigProblem(
                    path: "logging.level", message: "must be one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", ")), got \(level)"))
        }
        if !["json", "text"].contains(format) {
            problems.append(ConfigProblem(path: "logging.format", message: "must be json or text, got \(format)"))
        }
        return problems
    }
}

/// Keys under `tracing:`.
public struct TracingSection: Codable, Sendable, Equatable {
    /// Record spans and ship them inside batches. Default true.
    public var enabled = true
    /// Finished spans kept while waiting for the next batch; more are dropped and counted. Default 8192.
    public var bufferSpans = 8192
    /// Spans attached to one batch. Default 512.
    public var maxSpansPerBatch = 512

    public init() {}

    public init(from decoder: any Swift.Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        enabled = try container.decodeIfPresent(Bool.self, forKey: .enabled) ?? true
        bufferSpans = try container.decodeIfPresent(Int.self, forKey: .bufferSpans) ?? 8192
        maxSpansPerBatch = try container.decodeIfPresent(Int.self, forKey: .maxSpansPerBatch) ?? 512
    }

    func validationProblems() -> [ConfigProblem] {
        var problems: [ConfigProblem] = []
        if !(1...1_000_000).contains(bufferSpans) {
            problems.append(ConfigProblem(path: "tracing.buffer_spans", message: "must be between 1 and 1000000, got \(bufferSpans)"))
        }
        if !(0...100_000).contains(maxSpansPerBatch) {
            problems.append(ConfigProblem(path: "tracing.max_spans_per_batch", message: "must be between 0 and 100000, got \(maxSpansPerBatch)"))
        }
        return problems
    }
}
