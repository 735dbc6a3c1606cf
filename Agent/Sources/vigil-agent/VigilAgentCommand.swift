import ArgumentParser
import Foundation
import Logging
import Metrics
import Prometheus
import Tracing
import VigilAgent
import VigilConfig
import VigilTelemetry

@main
struct VigilAgentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vigil-agent",
        abstract: "Vigil edge agent: market-data feeds, Tier-1 anomaly detection, durable spool, shipping to the collector.",
        version: vigilAgentVersion,
        subcommands: [Run.self, ValidateConfig.self, Backtest.self],
        defaultSubcommand: Run.self
    )
}

struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the agent until SIGTERM/SIGINT. SIGHUP reloads the configuration.")

    @Option(name: .shortAndLong, help: "YAML configuration file. Without it the built-in defaults run (synthetic market).")
    var config: String?

    @Flag(help: "Exit once every finite feed (replay, synthetic with max_ticks) ended and the collector acknowledged everything.")
    var exitWhenDrained = false

    func run() async throws {
        let loaded: AgentConfig
        if let config {
            do {
                loaded = try ConfigLoader.load(AgentConfig.self, path: config)
            } catch {
                FileHandle.standardError.write(Data("vigil-agent: invalid configuration\n\(error)\n".utf8))
                throw ExitCode(2)
            }
        } else {
            loaded = AgentConfig()
        }
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(CataloguedPrometheusFactory(registry: registry))
        let tracer = VigilTracer(recorder: SpanRecorder(capacity: loaded.tracing.bufferSpans, component: "agent"))
        if loaded.tracing.enabled { InstrumentationSystem.bootstrap(tracer) }
        let level = loaded.logging.logLevel
        let json = loaded.logging.format == "json"
        LoggingSystem.bootstrap { label in
            if json { return JSONLogHandler(label: label, level: level) }
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "vigil.agent")
        do {
            try await AgentRuntime(config: loaded, configPath: config, exitWhenDrained: exitWhenDrained)
                .run(registry: registry, tracer: tracer, logger: logger)
        } catch {
            logger.critical("Agent failed.", metadata: ["error.message": "\(error)"])
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
            let config = try ConfigLoader.load(AgentConfig.self, path: file)
            print("\(file): ok (config version \(config.version), \(config.feeds.count) feed\(config.feeds.count == 1 ? "" : "s"))")
        } catch {
            FileHandle.standardError.write(Data("\(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}

struct Backtest: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Score historical data offline with the same normalizer, features and detectors as `run`, as fast as possible.")

    @Option(help: "A per-symbol CSV file or a directory of them (bars), or a timestamp,value CSV (series).")
    var input: String

    @Option(help: "Where to write the scores (CSV).")
    var output: String

    @Option(help: "bars: one row per input bar (symbol,time,anomaly_score,detectors); series: timestamp,value,anomaly_score.")
    var format: BacktestFormat = .bars

    @Option(name: .shortAndLong, help: "Agent configuration whose `detection` and `normalizer` sections to use (default: built-in).")
    var config: String?

    @Option(help: "Write rejected input records here as JSON lines (bars format).")
    var deadLetter: String?

    func run() async throws {
        var settings = AgentConfig()
        if let config {
            do {
                settings = try ConfigLoader.load(AgentConfig.self, path: config)
            } catch {
                FileHandle.standardError.write(Data("vigil-agent: invalid configuration\n\(error)\n".utf8))
                throw ExitCode(2)
            }
        }
        do {
            let runner = BacktestRunner(detection: settings.detection, normalizer: settings.normalizer, deadLetterPath: deadLetter)
            let summary = try await runner.run(input: input, output: output, format: format) { progress in
                FileHandle.standardError.write(Data(progress.utf8))
            }
            FileHandle.standardError.write(Data((summary.description + "\n").utf8))
        } catch let error as AgentError {
            FileHandle.standardError.write(Data("vigil-agent backtest: \(error.message)\n".utf8))
            throw ExitCode(1)
        }
    }
}

extension BacktestFormat: ExpressibleByArgument {}
