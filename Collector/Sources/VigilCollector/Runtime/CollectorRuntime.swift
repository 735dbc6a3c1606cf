import Foundation
import Hummingbird
import Logging
import Metrics
import NIOCore
import Prometheus
import ServiceLifecycle
import Synchronization
import Tracing
import UnixSignals
import VigilStore
import VigilTelemetry

/// Builds the collector from its configuration and runs it until SIGTERM/SIGINT (or until the surrounding task is
/// cancelled, as in the pilot).
///
/// Start: open and migrate the store, load the agents' high-water marks, build partitions, then listen. Stop
/// (swift-service-lifecycle, reverse order): readiness turns 503, the HTTP server stops accepting and finishes the
/// requests in flight (each is one store transaction, acknowledged only after commit), the span exporter flushes,
/// the store closes.
public struct CollectorRuntime: Sendable {
    public var config: CollectorConfig
    /// Called with the bound port once the server listens (port 0 in the config picks a free one).
    public var onListening: @Sendable (Int) async -> Void

    public init(config: CollectorConfig, onListening: @escaping @Sendable (Int) async -> Void = { _ in }) {
        self.config = config.resolvingPaths()
        self.onListening = onListening
    }

    public static func openStore(_ section: StoreSection, dataDir: String, logger: Logger) throws -> any BatchStore {
        switch section.kind {
        case .sqlite:
            let path = section.sqlitePath.isEmpty ? dataDir + "/vigil.sqlite" : section.sqlitePath
            let directory = (path as NSString).deletingLastPathComponent
            if !directory.isEmpty { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) }
            return try SQLiteStore(path: path, logger: logger)
        case .blackhole:
            logger.warning("store.kind is blackhole: nothing is stored; use it only to load-test the receive path.")
            return BlackholeStore()
        case .postgres:
            guard let url = section.resolvedPostgresURL() else {
                throw StoreError(.connectionFailed, "store.kind postgres needs postgres_url or $\(section.postgresURLEnv)")
            }
            return try PostgresStore(
                url: url, schema: section.postgresSchema.isEmpty ? nil : section.postgresSchema, logger: logger,
                maxConnections: section.postgresMaxConnections)
        }
    }

    public func run(registry: PrometheusCollectorRegistry, tracer: VigilTracer, recorder: SpanRecorder, logger: Logger) async throws {
        let config = self.config
        try FileManager.default.createDirectory(atPath: config.collector.dataDir, withIntermediateDirectories: true)
        let store = try Self.openStore(config.store, dataDir: config.collector.dataDir, logger: logger)
        do {
            try await store.migrate()
            try await runServices(store: store, registry: registry, tracer: tracer, recorder: recorder, logger: logger)
        } catch {
            await store.close()
            throw error
        }
        await store.close()
        logger.info("Collector stopped.")
    }

    private func runServices(
        store: any BatchStore, registry: PrometheusCollectorRegistry, tracer: VigilTracer, recorder: SpanRecorder, logger: Logger
    ) async throws {
        let config = self.config
        let marks = try await store.highWaterMarks()
        let deduper = Deduper(highWaterMarks: marks)
        let windows = ByteLRUCache<Partition.SeriesKey, BarWindow>(
            name: "bar_windows", maxBytes: config.cache.barsMaxBytes, ttl: .seconds(config.cache.barsTTLSeconds))
        let partitions = (0..<config.partitions.effectiveCount).map {
            Partition(
                index: $0, detectorConfig: config.detection, alerter: config.alerter, windows: windows, barsPerSymbol: config.cache.barsPerSymbol)
        }
        let resource: [(String, String)] = [
            ("service.name", "vigil-collector"), ("service.version", CollectorVersion.string), ("service.instance.id", config.collector.id),
        ]
        let exporter: SpanExporter? =
            config.tracing.otlpEndpoint.isEmpty
            ? nil
            : SpanExporter(
                endpoint: config.tracing.otlpEndpoint, recorder: recorder, resource: resource, scope: "vigil-collector",
                version: CollectorVersion.string, maxQueueSpans: config.tracing.maxQueueSpans, maxBatchSpans: config.tracing.maxExportBatchSpans,
                interval: .milliseconds(config.tracing.exportIntervalMilliseconds), timeoutSeconds: config.tracing.exportTimeoutSeconds,
                logger: logger)
        let tier2 =
            config.tier2.enabled
            ? Tier2Runtime(configuration: config.tier2, detectorConfig: config.detection, store: store, tracer: tracer, logger: logger) : nil
        do {
            try await tier2?.models.reload(from: store)
        } catch {
            logger.error("Cannot load the Tier-2 models; scoring starts without them.", metadata: ["error.message": "\(error)"])
        }
        let pipeline = IngestPipeline(
            store: store, partitions: partitions, market: MarketWatch(configuration: config.alerter), deduper: deduper, tracer: tracer,
            spans: config.tracing.forwardAgentSpans ? exporter : nil, queueLimit: config.partitions.queueDepth,
            retryAfterSeconds: config.server.retryAfterSeconds, logger: logger, tier2: tier2)
        let verifier = try TokenVerifier(config.auth) { path in try String(contentsOfFile: path, encoding: .utf8) }
        let agentsGauge = Metrics.Gauge(label: MetricName.collectorAgentHighWaterMark)
        let http = CollectorHTTP(
            pipeline: pipeline, store: store, verifier: verifier, server: config.server, cache: config.cache, collectorID: config.collector.id,
            registry: registry, tracer: tracer, logger: logger, beforeScrape: { agentsGauge.record(deduper.agentCount) })
        Metrics.Gauge(
            label: MetricName.collectorInfo,
            dimensions: [("collector_id", config.collector.id), ("version", CollectorVersion.string), ("store", store.kind)]
        ).record(1)
        Metrics.Gauge(label: MetricName.collectorStartTime).record(Date().timeIntervalSince1970)

        guard let (host, port) = config.server.hostAndPort else { throw CollectorError("server.listen is not host:port") }
        let onListening = self.onListening
        let app = Application(
            router: http.makeRouter(),
            configuration: .init(address: .hostname(host, port: port), serverName: "vigil-collector/\(CollectorVersion.string)"),
            onServerRunning: { channel in
                http.ready.store(true, ordering: .relaxed)
                let bound = channel.localAddress?.port ?? port
                logger.info(
                    "Collector listening.",
                    metadata: [
                        "server.address": "\(host)", "server.port": "\(bound)", "store": "\(store.kind)", "partitions": "\(partitions.count)",
                        "agents.known": "\(marks.count)", "auth.required": "\(config.auth.required)",
                    ])
                await onListening(bound)
            },
            logger: logger)
        // Shutdown runs in reverse order: readiness turns 503 first, then the server drains its requests, and the
        // span exporter (first in the list) flushes last, with the spans of those requests.
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
        if let exporter { services.append(.init(service: exporter)) }
        services.append(.init(service: app))
        if let tier2, config.tier2.trainIntervalSeconds > 0 {
            services.append(.init(service: TrainingService(tier2: tier2, interval: .seconds(config.tier2.trainIntervalSeconds))))
        }
        if config.store.retentionDays > 0 {
            services.append(.init(service: RetentionService(store: store, days: config.store.retentionDays, logger: logger)))
        }
        services.append(.init(service: ReadinessGate(ready: http), successTerminationBehavior: .ignore))
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}

public struct CollectorError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Turns /readyz to 503 as soon as shutdown begins (it is the last service, so it is told first).
struct ReadinessGate: Service {
    let ready: CollectorHTTP

    func run() async throws {
        try? await gracefulShutdown()
        ready.ready.store(false, ordering: .relaxed)
    }
}

/// Applies retention hourly (PostgreSQL drops whole monthly partitions).
struct RetentionService: Service {
    let store: any BatchStore
    let days: Int
    let logger: Logger

    func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            let cutoff = Int64(Date().timeIntervalSince1970 * 1000) - Int64(days) * 86_400_000
            do {
                let dropped = try await store.applyRetention(olderThan: cutoff)
                if !dropped.isEmpty { logger.info("Retention applied.", metadata: ["dropped": "\(dropped.joined(separator: ","))"]) }
            } catch {
                logger.warning("Retention failed.", metadata: ["error.message": "\(error)"])
            }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(3600)) }
        }
    }
}
