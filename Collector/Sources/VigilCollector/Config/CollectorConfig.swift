import Foundation
import VigilConfig
import VigilDetection

/// The collector's YAML configuration (`vigil-collector serve --config collector.yaml`). Every section and key is
/// optional: with no file the collector listens on `127.0.0.1:8080`, stores into SQLite under `./data/collector` and
/// accepts unauthenticated agents (the pilot's embedded defaults). `deploy/collector.example.yaml` lists every key.
public struct CollectorConfig: ValidatableConfig, Sendable, Equatable {
    public var collector = CollectorSection()
    public var server = ServerSection()
    public var auth = AuthSection()
    public var partitions = PartitionSection()
    public var cache = CacheSection()
    /// Tier-1 thresholds for bars that arrive through `/v1/ingest` (agents run Tier-1 themselves).
    public var detection = DetectorConfig.default
    public var alerter = AlerterConfiguration()
    public var store = StoreSection()
    public var tier2 = Tier2Section()
    public var tracing = TracingSection()
    public var logging = LoggingSection()

    public init() {}

    enum CodingKeys: String, CodingKey {
        case collector, server, auth, partitions, cache, detection, alerter, store, tier2, tracing, logging
    }

    public init(from decoder: any Swift.Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        collector = try c.value(.collector, or: CollectorSection())
        server = try c.value(.server, or: ServerSection())
        auth = try c.value(.auth, or: AuthSection())
        partitions = try c.value(.partitions, or: PartitionSection())
        cache = try c.value(.cache, or: CacheSection())
        detection = try c.value(.detection, or: .default)
        alerter = try c.value(.alerter, or: AlerterConfiguration())
        store = try c.value(.store, or: StoreSection())
        tier2 = try c.value(.tier2, or: Tier2Section())
        tracing = try c.value(.tracing, or: TracingSection())
        logging = try c.value(.logging, or: LoggingSection())
    }

    public func validationProblems() -> [ConfigProblem] {
        var problems: [ConfigProblem] = []
        problems += collector.validationProblems()
        problems += server.validationProblems()
        problems += auth.validationProblems()
        problems += partitions.validationProblems()
        problems += cache.validationProblems()
        problems += detection.validate().map { ConfigProblem(path: "detection", message: $0) }
        problems += alerter.validationProblems().map { ConfigProblem(path: "alerter." + $0.path, message: $0.message) }
        problems += store.validationProblems()
        problems += tier2.validationProblems()
        problems += tracing.validationProblems()
        problems += logging.validationProblems()
        return problems
    }

    /// Paths derived from `collector.data_dir` where the file left them at their defaults.
    public func resolvingPaths() -> CollectorConfig {
        var resolved = self
        if store.sqlitePath.isEmpty { resolved.store.sqlitePath = collector.dataDir + "/vigil.sqlite" }
        return resolved
    }
}

public struct CollectorSection: Codable, Sendable, Equatable {
    /// This collector's instance id, in logs, spans (`service.instance.id`) and `vigil_collector_info`.
    public var id: String = ProcessInfo.processInfo.hostName
    public var dataDir: String = "./data/collector"

    public init() {}

    enum CodingKeys: String, CodingKey { case id, dataDir }

    public init(from decoder: any Swift.Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = Self()
        id = try c.value(.id, or: defaults.id)
        dataDir = try c.value(.dataDir, or: defaults.dataDir)
    }

    func validationProblems() -> [ConfigProblem] {
        var problems: [ConfigProblem] = []
        if id.isEmpty || id.utf8.count > 128 { problems.append(.init(path: "collector.id", message: "must be 1...128 bytes")) }
        if dataDir.isEmpty { problems.append(.init(path: "collector.data_dir", message: "must not be empty")) }
        return problems
    }
}

public struct ServerSection: Codable, Sendable, Equatable {
    /// `host:port`; port 0 picks a free port (tests, the pilot).
    public var listen: String = "127.0.0.1:8080"
    /// Largest request body, compressed or not (413 beyond).
    public var maxBodyBytes: Int = 16 << 20
    /// Largest body after gunzip: the guard against gzip bombs (413 beyond).
    public var maxDecompressedBytes: Int = 64 << 20
    /// Most bars in one request (413 beyond).
    public var maxBarsPerRequest: Int = 250_000
    /// Requests being decoded or applied at once; more get 503 with Retry-After (bounded memory under overload).
    public var maxInflightRequests: Int = 32
    /// What 429/503 responses put in `Retry-After`.
    public var retryAfterSeconds: Int = 1

    public init() {}

    enum CodingKeys: String, CodingKey {
        case listen, maxBodyBytes, maxDecompressedBytes, maxBarsPerRequest, maxInflightRequests, retryAfterSeconds
    }

    public init(from decoder: any Swift.Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = Self()
        listen = try c.value(.listen, or: d.listen)
        maxBodyBytes = try c.value(.maxBodyBytes, or: d.maxBodyBytes)
        maxDecompressedBytes = try c.value(.maxDecompressedBytes, or: d.maxDecompressedBytes)
        maxBarsPerRequest = try c.value(.maxBarsPerRequest, or: d.maxBarsPerRequest)
        maxInflightRequests = try c.value(.maxInflightRequests, or: d.maxInflightRequests)
        retryAfterSeconds = try c.value(.retryAfterSeconds, or: d.retryAfterSeconds)
    }

    /// `listen` split into host and port; nil when malformed.
    public var hostAndPort: (host: String, port: Int)? {
        guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]), (0...65535).contains(port)
        else { return nil }
        let host = String(listen[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        return host.isEmpty ? nil : (host, port)
    }

    func validationProblems() -> [ConfigProblem] {
        var problems: [ConfigProblem] = []
        if hostAndPort == nil { problems.append(.init(path: "server.listen", message: "must be host:port, got \(listen)")) }
        if maxBodyBytes < 1024 { problems.append(.init(path: "server.max_body_bytes", message: "must be at least 1024")) }
        if maxDecompressedBytes < maxBodyBytes {
            problems.append(.init(path: "server.max_decompressed_bytes", message: "must be at least max_body_bytes"))
        }
        if maxBarsPerRequest < 1 { problems.append(.init(path: "server.max_bars_per_request", message: "must be positive")) }
        if maxInflightRequests < 1 { problems.append(.init(path: "server.max_inflight_requests", message: "must be positive")) }
        if !(0...3600).contains(retryAfterSeconds) {
            problems.append(.init(path: "server.retry_after_seconds", message: "must be 0...3600"))
        }
        return problems
    }
}

/// Agent bearer tokens. Tokens are kept only as SHA-256 digests (from the file, or hashed at load) and compared in
/// constant time, so neither a config dump nor a timing probe reveals them.
public struct AuthSection: Codable, Sendable, Equatable {
    public struct Token: Codable, Sendable, Equatable {
        /// A name for logs and metrics (never the token).
        public var name: String = ""
        /// Hex SHA-256 of the token (`printf %s "$TOKEN" | sha256sum`).
        public var sha256: String?
        /// A file holding the token itself (a mounted secret); hashed when loaded.
        public var tokenFile: String?
        /// Agent ids this token may send for; `["*"]` for any (403 otherwise).
        public var agents: [String] = ["*"]

        public init(name: String, sha256: String? = nil, tokenFile: String? = nil, agents: [String] = ["*"]) {
            self.name = name
            self.sha256 = sha256
            self.tokenFile = tokenFile
            self.agents = agents
        }

        enum CodingKeys: String, CodingKey { case name, sha256, tokenFile, agents }

        public init(from decoder: any Swift.Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            name = try c.value(.name, or: "")
            sha256 = try c.decodeIfPresent(String.self, forKey: .sha256)
            tokenFile = try c.decodeIfPresent(String.self, forKey: .tokenFile)
            agents = try c.value(.agents, or: ["*"])
        }
    }

    /// When false (the default with no tokens), requests without credentials are accepted; with tokens configured,
    /// every ingest request must carry one.
    public var required: Bool = false
    public var tokens: [Token] = []

    public init() {}

    enum CodingKeys: String, CodingKey { case required, tokens }

    public init(from decoder: any Swift.Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        tokens = try c.value(.tokens, or: [])
        required = try c.value(.required, or: !tokens.isEmpty)
    }

    func validationProblems() -> [ConfigProblem] {
        var problems: [ConfigProblem] = []
        if required && tokens.isEmpty { problems.append(.init(path: "auth.tokens", message: "auth.required is true but no tokens are configured")) }
        for (index, token) in tokens.enumerated() {
            let path = "auth.tokens[\(index)]"
            if token.name.isEmpty { problems.append(.init(path: path + ".name", message: "must not be empty")) }
            switch (token.sha256, token.tokenFile) {
            case (nil, nil), (.some, .some):
                problems.append(.init(path: path, message: "needs exactly one of sha256 or token_file"))
            case (.some(let hex), nil):
                if hex.count != 64 || !hex.allSatisfy(\.isHexDigit) {
                    problems.append(.init(path: path + ".sha256", message: "must be 64 hex digits"))
                }
            case (nil, .some(let file)):
                if !FileManager.default.isReadableFile(atPath: file) {
                    problems.append(.init(path: path + ".token_file", message: "cannot read \(file)"))
                }
            }
            if token.agents.isEmpty { problems.append(.init(path: path + ".agents", message: "must list agent ids or \"*\"")) }
        }
        return problems
    }
}

public struct PartitionSection: Codable, Sendable, Equatable {
    /// Number of partitions; 0 = one per CPU core.
    public var count: Int = 0
    /// Batch parts waiting per partition; a request that would exceed it gets 429 with Retry-After.
    public var queueDepth: Int = 64

    public init() {}

    enum CodingKeys: String, CodingKey { case count, queueDepth }

    public init(from decoder: any Swift.Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        count = try c.value(.count, or: 0)
        queueDepth = try c.value(.queueDepth, or: 64)
    }

    public var effectiveCount: Int { count > 0 ? count : max(1, ProcessInfo.processInfo.activeProcessorCount) }

    func validationProblems() -> [ConfigProblem] {
        var problems: [ConfigProblem] = []
        if !(0...1024).contains(count) { problems.append(.init(path: "partitions.count", message: "must be 0...1024 (0 = one per core)")) }
        if queueDepth < 1 { problems.append(.init(path: "partitions.queue_depth", message: "must be positive")) }
        return problems
    }
}

public struct CacheSection: Codable, Sendable, Equatable {
    /// Recent bars kept per symbol (the feature windows); older ones are read from the store.
    public var barsPerSymbol: Int = 256
    /// Bound on the bar windows' memory, all partitions together.
    public var barsMaxBytes: Int = 128 << 20
    /// A symbol's window idle this long is dropped.
    public var barsTTLSeconds: Int = 86_400
    /// Hot API query results (`/v1/stats`, `/v1/alerts`, ...).
    public var queryMaxBytes: Int = 16 << 20
    public var queryTTLSeconds: Int = 2

    public init() {}

    enum CodingKeys: String, CodingKey {
        case barsPerSymbol, barsMaxBytes, barsTTLSeconds, queryMaxBytes, queryTTLSeconds
    }

    public init(from decoder: any Swift.Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = Self()
        barsPerSymbol = try c.value(.barsPerSymbol, or: d.barsPerSymbol)
        barsMaxBytes = try c.value(.barsMaxBytes, or: d.barsMaxBytes)
        barsTTLSeconds = try c.value(.barsTTLSeconds, or: d.barsTTLSeconds)
        queryMaxBytes = try c.value(.queryMaxBytes, or: d.queryMaxBytes)
        queryTTLSeconds = try c.value(.queryTTLSeconds, or: d.queryTTLSeconds)
    }

    func validationProblems() -> [ConfigProblem] {
        var problems: [ConfigProblem] = []
        if !(1...100_000).contains(barsPerSymbol) { problems.append(.init(path: "cache.bars_per_symbol", message: "must be 1...100000")) }
        if barsMaxBytes < 0 { problems.append(.init(path: "cache.bars_max_bytes", message: "must not be negative")) }
        if barsTTLSeconds < 1 { problems.append(.init(path: "cache.bars_ttl_seconds", message: "must be positive")) }
        if queryMaxBytes < 0 { problems.append(.init(path: "cache.query_max_bytes", message: "must not be negative")) }
        if queryTTLSeconds < 0 { problems.append(.init(path: "cache.query_ttl_seconds", message: "must not be negative")) }
        return problems
    }
}

public struct StoreSection: Codable, Sendable, Equatable {
    /// `blackhole` keeps only the dedupe marks in memory and stores nothing: for load-testing the receive path.
    public enum Kind: String, Codable, Sendable, CaseIterable { case sqlite, postgres, blackhole }

    public var kind: Kind = .sqlite
    /// SQLite file; default `<data_dir>/vigil.sqlite`.
    public var sqlitePath: String = ""
    /// libpq connection string for `kind: postgres`; or name a variable holding it with `postgres_url_env`.
    public var postgresURL: String?
    public var postgresURLEnv: String = "VIGIL_POSTGRES_URL"
    public var postgresMaxConnections: Int = 8
    /// Schema for Vigil's tables (created if missing); empty = the connection's default (`public`).
    public var postgresSchema: String = ""
    /// Drop bars and detections older than this many days (PostgreSQL drops whole monthly partitions); 0 keeps all.
    public var retentionDays: Int = 0

    public init() {}

    enum CodingKeys: String, CodingKey {
        case kind, sqlitePath, postgresURL, postgresURLEnv, postgresMaxConnections, postgresSchema, retentionDays
    }

    public init(from decoder: any Swift.Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = Self()
        kind = try c.value(.kind, or: d.kind)
        sqlitePath = try c.value(.sqlitePath, or: d.sqlitePath)
        postgresURL = try c.decodeIfPresent(String.self, forKey: .postgresURL)
        postgresURLEnv = try c.value(.postgresURLEnv, or: d.postgresURLEnv)
        postgresMaxConnections = try c.value(.postgresMaxConnections, or: d.postgresMaxConnections)
        postgresSchema = try c.value(.postgresSchema, or: d.postgresSchema)
        retentionDays = try c.value(.retentionDays, or: d.retentionDays)
    }

    /// The PostgreSQL URL from the file or the environment.
    public func resolvedPostgresURL(environment: [String: String] = ProcessInfo.processInfo.environment) -> String? {
        if let postgresURL, !postgresURL.isEmpty { return postgresURL }
        if let value = environment[postgresURLEnv], !value.isEmpty { return value }
        return nil
    }

    func validationProblems() -> [ConfigProblem] {
        var problems: [ConfigProblem] = []
        if kind == .postgres && resolvedPostgresURL() == nil {
            problems.append(.init(path: "store.postgres_url", message: "kind postgres needs postgres_url or the variable \(postgresURLEnv)"))
        }
        if !(1...256).contains(postgresMaxConnections) {
            problems.append(.init(path: "store.postgres_max_connections", message: "must be 1...256"))
        }
        if retentionDays < 0 { problems.append(.init(path: "store.retention_days", message: "must not be negative")) }
        return problems
    }
}

public struct TracingSection: Codable, Sendable, Equatable {
    /// OTLP/HTTP protobuf traces endpoint (Jaeger: `http://jaeger:4318/v1/traces`); empty = spans are not exported.
    public var otlpEndpoint: String = ""
    /// Forward the agents' spans that ride in batches, so one trace spans agent and collector.
    public var forwardAgentSpans: Bool = true
    /// Spans waiting for export; beyond it new spans are dropped and counted (never blocks ingest).
    public var maxQueueSpans: Int = 20_000
    public var maxExportBatchSpans: Int = 512
    public var exportIntervalMilliseconds: Int = 1_000
    public var exportTimeoutSeconds: Double = 10

    public init() {}

    enum CodingKeys: String, CodingKey {
        case otlpEndpoint, forwardAgentSpans, maxQueueSpans, maxExportBatchSpans, exportIntervalMilliseconds, exportTimeoutSeconds
    }

    public init(from decoder: any Swift.Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = Self()
        otlpEndpoint = try c.value(.otlpEndpoint, or: d.otlpEndpoint)
        forwardAgentSpans = try c.value(.forwardAgentSpans, or: d.forwardAgentSpans)
        maxQueueSpans = try c.value(.maxQueueSpans, or: d.maxQueueSpans)
        maxExportBatchSpans = try c.value(.maxExportBatchSpans, or: d.maxExportBatchSpans)
        exportIntervalMilliseconds = try c.value(.exportIntervalMilliseconds, or: d.exportIntervalMilliseconds)
        exportTimeoutSeconds = try c.value(.exportTimeoutSeconds, or: d.exportTimeoutSeconds)
    }

    func validationProblems() -> [ConfigProblem] {
        var problems: [ConfigProblem] = []
        if !otlpEndpoint.isEmpty {
            if let url = URL(string: otlpEndpoint), let scheme = url.scheme, ["http", "https"].contains(scheme), url.host != nil {
            } else {
                problems.append(.init(path: "tracing.otlp_endpoint", message: "must be an http(s) URL, got \(otlpEndpoint)"))
            }
        }
        if maxQueueSpans < 1 { problems.append(.init(path: "tracing.max_queue_spans", message: "must be positive")) }
        if !(1...100_000).contains(maxExportBatchSpans) {
            problems.append(.init(path: "tracing.max_export_batch_spans", message: "must be 1...100000"))
        }
        if exportIntervalMilliseconds < 10 {
            problems.append(.init(path: "tracing.export_interval_milliseconds", message: "must be at least 10"))
        }
        if !(exportTimeoutSeconds > 0) { problems.append(.init(path: "tracing.export_timeout_seconds", message: "must be positive")) }
        return problems
    }
}

public struct LoggingSection: Codable, Sendable, Equatable {
    public var level: String = "info"
    /// `json` (one object per line, with trace ids) or `text`.
    public var format: String = "json"

    public init() {}

    enum CodingKeys: String, CodingKey { case level, format }

    public init(from decoder: any Swift.Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        level = try c.value(.level, or: "info")
        format = try c.value(.format, or: "json")
    }

    static let levels = ["trace", "debug", "info", "notice", "warning", "error", "critical"]

    func validationProblems() -> [ConfigProblem] {
        var problems: [ConfigProblem] = []
        if !Self.levels.contains(level) {
            problems.append(.init(path: "logging.level", message: "must be one of \(Self.levels.joined(separator: ", "))"))
        }
        if !["json", "text"].contains(format) { problems.append(.init(path: "logging.format", message: "must be json or text")) }
        return problems
    }
}
