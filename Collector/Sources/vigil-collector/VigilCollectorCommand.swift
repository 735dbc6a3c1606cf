import ArgumentParser
import Foundation
import Logging
import Metrics
import Prometheus
import Tracing
import VigilCollector
import VigilConfig
import VigilTelemetry

@main
struct VigilCollectorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vigil-collector",
        abstract: "The Vigil collector: receives agents' batches, dedupes, partitions, alerts, stores, serves the API.",
        version: CollectorVersion.string,
        subcommands: [Serve.self, ValidateConfig.self],
        defaultSubcommand: Serve.self)
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the collector (SIGTERM/SIGINT: stop accepting, finish requests in flight, close the store).")

    @Option(name: .shortAndLong, help: "YAML configuration file; without one the embedded defaults apply (SQLite under ./data/collector).")
    var config: String?

    @Option(help: "Override server.listen (host:port).")
    var listen: String?

    @Option(help: "Override collector.data_dir.")
    var dataDir: String?

    func run() async throws {
        var loaded: CollectorConfig
        do {
            loaded = try config.map { try ConfigLoader.load(CollectorConfig.self, path: $0) } ?? CollectorConfig()
        } catch {
            FileHandle.standardError.write(Data("\(error)\n".utf8))
            throw ExitCode(1)
        }
        if let listen { loaded.server.listen = listen }
        if let dataDir { loaded.collector.dataDir = dataDir }
        let problems = loaded.validationProblems()
        guard problems.isEmpty else {
            FileHandle.standardError.write(Data((problems.map { "  - \($0)" }.joined(separator: "\n") + "\n").utf8))
            throw ExitCode(1)
        }
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(
            CataloguedPrometheusFactory(
                registry: registry, extraHelp: CollectorMetricCatalogue.help, longDurations: CollectorMetricCatalogue.longDurations))
        let recorder = SpanRecorder(capacity: loaded.tracing.maxQueueSpans, component: "collector")
        let tracer = VigilTracer(recorder: recorder)
        InstrumentationSystem.bootstrap(tracer)
        let level = Logger.Level(rawValue: loaded.logging.level) ?? .info
        let json = loaded.logging.format == "json"
        LoggingSystem.bootstrap { label in
            if json { return JSONLogHandler(label: label, level: level) }
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "vigil.collector")
        do {
            try await CollectorRuntime(config: loaded).run(registry: registry, tracer: tracer, recorder: recorder, logger: logger)
        } catch {
            logger.critical("Collector failed.", metadata: ["error.message": "\(error)"])
            throw ExitCode(1)
        }
    }
}

struct ValidateConfig: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate-config", abstract: "Check a configuration file and report every problem (exit 1 when there is any).")

    @Argument(help: "The YAML file to check.")
    var file: String

    func run() throws {
        do {
            let config = try ConfigLoader.load(CollectorConfig.self, path: file)
            print("\(file): ok (store \(config.store.kind.rawValue), listen \(config.server.listen), \(config.partitions.effectiveCount) partitions)")
        } catch {
            FileHandle.standardError.write(Data("\(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}
