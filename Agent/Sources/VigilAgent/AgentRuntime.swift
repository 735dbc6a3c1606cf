import Foundation
import Logging
import Metrics
import Prometheus
import ServiceLifecycle
import Synchronization
import Tracing
import UnixSignals
import VigilFeeds
import VigilHTTP
import VigilSpool
import VigilTelemetry

/// The agent version reported in batches, logs and `vigil_agent_info`.
public let vigilAgentVersion = "0.1.0"

/// Builds the agent from its configuration and runs it until SIGTERM/SIGINT (or, with `exitWhenDrained`, until every
/// finite feed ended and the collector acknowledged everything).
///
/// Services, in start order: spool (interval fsync), shipper, pipeline (feeds, batch timer, SIGHUP reload), admin
/// port. swift-service-lifecycle stops them in reverse order, so on SIGTERM the admin port closes, the pipeline seals
/// what it holds into the spool, the shipper finishes the request in flight, and the spool syncs last.
public struct AgentRuntime: Sendable {
    public var config: AgentConfig
    public var configPath: String?
    public var exitWhenDrained: Bool

    public init(config: AgentConfig, configPath: String?, exitWhenDrained: Bool = false) {
        self.config = config.resolvingPaths()
        self.configPath = configPath
        self.exitWhenDrained = exitWhenDrained
    }

    public func run(registry: PrometheusCollectorRegistry, tracer: VigilTracer, logger: Logger) async throws {
        let config = self.config
        try FileManager.default.createDirectory(atPath: config.agent.dataDir, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: config.spool.directory, withIntermediateDirectories: true)
        let spool = try Spool(configuration: config.spool, logger: logger)
        let sequences = try SequenceAllocator(path: config.agent.dataDir + "/sequence", floor: spool.lastRecordID ?? 0)
        let checkpoint = try ResumeCheckpoint(path: config.agent.dataDir + "/checkpoint.json", fsync: config.spool.fsync == .always, spool: spool)
        if !checkpoint.isEmpty {
            logger.info(
                "Resuming: bars already in durable batches will be skipped.",
                metadata: ["checkpoint.sequence": "\(checkpoint.durableSequence)", "checkpoint.path": "\(checkpoint.path)"])
        }
        let deadLetters = DeadLetterQueue(configuration: config.deadLetter, logger: logger)
        let token = try config.collector.resolveToken()
        if token == nil {
            logger.warning(
                "No collector token configured; batches are sent without Authorization.",
                metadata: ["collector.token_env": "\(config.collector.tokenEnv)"])
        }
        let client = HTTPClient(userAgent: "vigil-agent/\(vigilAgentVersion)")
        let shipper = Shipper(
            configuration: config.collector, token: token, spool: spool, client: client, tracer: tracer,
            deadLetterPath: config.agent.dataDir + "/deadletter-batches.jsonl", checkpoint: checkpoint, logger: logger)
        let identity = AgentPipeline.Identity(agentID: config.agent.id, agentVersion: vigilAgentVersion, configVersion: config.version)
        let pipeline = AgentPipeline(
            identity: identity, normalizer: config.normalizer, detectors: config.detection, batcher: config.batch,
            sequences: sequences, spool: spool, deadLetters: deadLetters, checkpoint: checkpoint,
            detectorStatePath: config.agent.dataDir + "/detectors.state", detectorSnapshotSeconds: config.agent.detectorSnapshotSeconds,
            tracer: tracer,
            maxSpansPerBatch: config.tracing.enabled ? config.tracing.maxSpansPerBatch : 0, logger: logger,
            onSealed: { shipper.notify() })
        let restored = await pipeline.restoreDetectorState()
        if restored > 0 { logger.info("Detector state restored.", metadata: ["detector.series": "\(restored)"]) }
        let health = AgentHealth()
        let dependencies = FeedDependencies(httpClient: client, logger: logger)
        var feeds: [String: any Feed] = [:]
        for feedConfig in config.feeds {
            do {
                feeds[feedConfig.name] = try FeedFactory.makeFeed(feedConfig, dependencies: dependencies)
            } catch {
                throw AgentError(code: .config, message: "feed \(feedConfig.name): \(error)")
            }
        }
        let info = AgentInfoMetric(agentID: config.agent.id)
        info.set(configVersion: config.version)
        Metrics.Gauge(label: MetricName.agentUp).record(Date().timeIntervalSince1970)

        let pipelineService = PipelineService(
            config: config, configPath: configPath, feeds: feeds, pipeline: pipeline, spool: spool, dependencies: dependencies,
            health: health, info: info, tracer: tracer, exitWhenDrained: exitWhenDrained, logger: logger)
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: SpoolService(spool: spool)),
            .init(service: shipper),
            // Returning normally (finite feeds done and drained, with --exit-when-drained) shuts the agent down.
            .init(service: pipelineService, successTerminationBehavior: .gracefullyShutdownGroup),
        ]
        if config.admin.enabled {
            let admin = try AdminServer(
                listen: config.admin.listen, registry: registry, health: health, beforeScrape: { spool.refreshGauges() }, logger: logger)
            services.append(.init(service: admin))
        }
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        logger.info(
            "Agent starting.",
            metadata: [
                "agent.id": "\(config.agent.id)", "agent.version": "\(vigilAgentVersion)", "config.version": "\(config.version)",
                "feeds": "\(config.feeds.map(\.name).joined(separator: ","))", "spool.pending": "\(spool.stats.pendingRecords)",
                "collector.url": "\(config.collector.url)",
            ])
        try await group.run()
        if config.tracing.enabled { await shipRecordedSpans(pipeline: pipeline, shipper: shipper, spool: spool, logger: logger) }
        spool.close()
        logger.info("Agent stopped.", metadata: ["spool.pending": "\(spool.stats.pendingRecords)"])
    }
}

/// After a graceful stop: a batch's spool-append and send spans travel in the next batch, so the last batch's would be
/// lost. Once the collector has acknowledged everything, they are sealed into spans-only batches
/// (`max_spans_per_batch` each), each sent once (5 s at most); one that fails waits in the spool for the next start like
/// any other batch. With batches still pending (collector unreachable) they are not sealed: a full spool under
/// `when_full: block` would hold the shutdown forever, and those spans only describe failed attempts.
private func shipRecordedSpans(pipeline: AgentPipeline, shipper: Shipper, spool: Spool, logger: Logger) async {
    do {
        while spool.stats.pendingRecords == 0, let sequence = try await pipeline.sealRecordedSpans() {
            guard let record = try spool.pending(limit: 1).first, record.id == sequence,
                case .acked = await shipper.send(record, traced: false, timeoutSeconds: min(shipper.configuration.timeoutSeconds, 5))
            else {
                logger.info("The last spans wait in the spool for the collector.", metadata: ["batch.sequence": "\(sequence)"])
                return
            }
            _ = spool.acknowledge(upTo: record.id)
        }
    } catch {
        logger.warning("Cannot seal the last spans into a batch.", metadata: ["error.message": "\(error)"])
    }
}

/// Runs the spool's own housekeeping (interval fsync, gauges) as a service.
struct SpoolService: Service {
    let spool: Spool

    func run() async throws {
        // The spool's loop runs until cancelled; the last sync happens after the services above it stopped.
        await cancelWhenGracefulShutdown { await spool.run() }
        try? spool.flush()
    }
}

/// `vigil_agent_info{agent_id, version, config_version} 1`; the old series is removed when the config changes.
final class AgentInfoMetric: Sendable {
    let agentID: String
    private let current = Mutex<(version: String, gauge: Metrics.Gauge)?>(nil)

    init(agentID: String) { self.agentID = agentID }

    func set(configVersion: String) {
        if current.withLock({ $0?.version == configVersion }) { return }
        let gauge = Metrics.Gauge(
            label: MetricName.agentInfo, dimensions: [("agent_id", agentID), ("version", vigilAgentVersion), ("config_version", configVersion)])
        gauge.record(1)
        let previous = current.withLock { old -> Metrics.Gauge? in
            defer { old = (configVersion, gauge) }
            return old?.gauge
        }
        previous?.destroy()
    }
}
