import ArgumentParser
import Foundation
import Logging
import Metrics
import Prometheus
import Synchronization
import VigilAgent
import VigilCollector
import VigilDetection
import VigilFeeds
import VigilHTTP
import VigilTelemetry

/// `vigil pilot`: a collector on the embedded store and agents over loopback HTTP, end to end, then a report.
struct Pilot: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a collector (embedded SQLite store) and agents over loopback HTTP on a market, then report what was found.")

    @Option(help: "synthetic (a seeded market with labelled anomalies) or replay:DIR (one CSV per symbol).")
    var source: String = "synthetic"

    @Option(help: "Number of symbols (100 for the proof of concept, ~500 for the pilot).")
    var symbols: Int = 100

    @Option(help: "Synthetic market: bars per symbol.")
    var ticks: Int = 1000

    @Option(help: "Synthetic market: seed.")
    var seed: UInt64 = 42

    @Option(help: "Agents to run (replay splits the symbols between them; the synthetic market runs in one).")
    var agents: Int = 2

    @Option(help: "Score the run against an events file (date,symbols,kind,...).")
    var events: String?

    @Option(help: "Working directory for the store, spools and logs (emptied first).")
    var dataDir: String = "./data/pilot"

    @Option(help: "Collector listen address; port 0 picks a free port.")
    var listen: String = "127.0.0.1:0"

    @Option(help: "sqlite (embedded, default) or postgres (URL in $VIGIL_POSTGRES_URL).")
    var store: String = "sqlite"

    @Flag(help: "Print the report as JSON on stdout.")
    var json = false

    @Option(help: "Write alerts.csv, detections.csv and (synthetic market) scores.csv into this directory, for `vigil evaluate`.")
    var export: String?

    @Flag(help: "Leave the collector running (API, /metrics) after the report; stop with Ctrl-C.")
    var keepRunning = false

    @Option(help: "Top alerts to show.")
    var top: Int = 10

    func validate() throws {
        guard symbols > 0 else { throw ValidationError("--symbols must be positive") }
        guard ticks > 0 else { throw ValidationError("--ticks must be positive") }
        guard agents > 0, agents <= 64 else { throw ValidationError("--agents must be 1...64") }
        guard source == "synthetic" || source.hasPrefix("replay:") else {
            throw ValidationError("--source must be synthetic or replay:DIR, got \(source)")
        }
        guard ["sqlite", "postgres"].contains(store) else { throw ValidationError("--store must be sqlite or postgres") }
        if let events, !FileManager.default.isReadableFile(atPath: events) { throw ValidationError("cannot read --events \(events)") }
    }

    func run() async throws {
        let plan = try PilotPlan(self)
        let progress = ProgressLine(enabled: true)
        let fm = FileManager.default
        try? fm.removeItem(atPath: dataDir)
        try fm.createDirectory(atPath: dataDir, withIntermediateDirectories: true)

        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(
            CataloguedPrometheusFactory(
                registry: registry, extraHelp: CollectorMetricCatalogue.help, longDurations: CollectorMetricCatalogue.longDurations))
        let logSink = try LogFile(path: dataDir + "/pilot.log")
        LoggingSystem.bootstrap { label in JSONLogHandler(label: label, level: .info, sink: { logSink.write($0) }) }
        let logger = Logger(label: "vigil.pilot")

        var collectorConfig = CollectorConfig()
        collectorConfig.collector.id = "pilot"
        collectorConfig.collector.dataDir = dataDir + "/collector"
        collectorConfig.server.listen = listen
        if store == "postgres" { collectorConfig.store.kind = .postgres }
        // The synthetic agent writes the labels of the anomalies it injects; the trainer reads them at every run.
        if let labels = plan.labelsPath(dataDir: dataDir) { collectorConfig.tier2.labelsPath = labels }
        let problems = collectorConfig.validationProblems()
        guard problems.isEmpty else { throw ValidationError(problems.map(\.description).joined(separator: "; ")) }

        let port = AsyncStream<Int>.makeStream()
        let collectorRecorder = SpanRecorder(capacity: 20_000, component: "collector")
        let collectorTask = Task {
            try await CollectorRuntime(config: collectorConfig, onListening: { port.continuation.yield($0) })
                .run(registry: registry, tracer: VigilTracer(recorder: collectorRecorder), recorder: collectorRecorder, logger: logger)
        }
        var portIterator = port.stream.makeAsyncIterator()
        guard let boundPort = await portIterator.next() else { throw ValidationError("the collector did not start") }
        let base = "http://127.0.0.1:\(boundPort)"
        progress.note(
            "collector on \(base) (\(store) store under \(dataDir)/collector); \(plan.agentConfigs(collector: base, dataDir: dataDir).count) agent(s) on \(plan.description)"
        )

        let client = HTTPClient(userAgent: "vigil-pilot")
        let api = PilotAPI(base: base, client: client)
        let started = ContinuousClock.now
        let watcher = Task {
            var previous = (bars: Int64(0), at: ContinuousClock.now)
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(1))
                guard let stats = try? await api.stats() else { continue }
                let now = ContinuousClock.now
                let rate = Double(stats.bars - previous.bars) / max(1e-9, seconds(previous.at.duration(to: now)))
                previous = (stats.bars, now)
                progress.update(
                    "bars \(stats.bars.grouped) (\(Int(rate).grouped)/s) · detections \(stats.detections.grouped) · alerts \(stats.alerts.grouped) · \(Int(seconds(started.duration(to: now))))s"
                )
            }
        }
        // The synthetic market runs in two halves with a training cycle between them, so the second half is scored
        // live by the champions that the first half trained (and the report measures Tier-2 on bars it never saw);
        // a second cycle at the end registers challengers that would shadow the champions from then on.
        var training: [APITrainingRun] = []
        var splitTimestamp: Int64?
        // The report's throughput is the bars' trip through agents and collector; training cycles are timed apart.
        var trainingSeconds = 0.0
        let phases: [Int?] = plan.isSynthetic ? [max(1, ticks / 2), ticks] : [nil]
        for (phase, maxTicks) in phases.enumerated() {
            do {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for config in plan.agentConfigs(collector: base, dataDir: dataDir, maxTicks: maxTicks) {
                        group.addTask {
                            let recorder = SpanRecorder(capacity: 8192, component: "agent")
                            try await AgentRuntime(config: config, configPath: nil, exitWhenDrained: true)
                                .run(registry: registry, tracer: VigilTracer(recorder: recorder), logger: logger)
                        }
                    }
                    try await group.waitForAll()
                }
            } catch {
                watcher.cancel()
                await watcher.value
                collectorTask.cancel()
                progress.finish()
                FileHandle.standardError.write(Data("pilot: an agent failed: \(error) (log: \(dataDir)/pilot.log)\n".utf8))
                throw ExitCode(1)
            }
            if phase == 0, phases.count > 1, let half = maxTicks { splitTimestamp = PilotPlan.syntheticStart + Int64(half) * 86_400_000 }
            let trainingStarted = ContinuousClock.now
            defer { trainingSeconds += seconds(trainingStarted.duration(to: .now)) }
            do {
                let run = try await api.train(by: "vigil pilot")
                training.append(run)
                progress.update(
                    "training cycle \(phase + 1): \(run.rows.grouped) rows, \(run.positiveLabels) labels → "
                        + run.registered.map { "\($0.kind) v\($0.version) \($0.status)" }.joined(separator: ", "))
            } catch {
                progress.note("training cycle \(phase + 1) did not train: \(error)")
            }
        }
        let elapsed = seconds(started.duration(to: .now)) - trainingSeconds
        watcher.cancel()
        await watcher.value
        progress.finish()

        let report = try await PilotReport.build(
            api: api, plan: plan, elapsedSeconds: elapsed, eventsPath: events, labelsPath: plan.labelsPath(dataDir: dataDir), top: top,
            store: store, training: training, splitTimestamp: splitTimestamp)
        if json {
            FileHandle.standardOutput.write(Data((try report.jsonText()).utf8))
        } else {
            print(report.text())
        }
        if let export {
            try report.export(to: export)
            FileHandle.standardError.write(
                Data(
                    "exported alerts.csv, detections.csv\(report.allScores.isEmpty ? "" : " and scores.csv") to \(export) (score them with `vigil evaluate --input \(export) --labels ...`)\n"
                        .utf8))
        }
        if keepRunning {
            FileHandle.standardError.write(
                Data("collector still running: \(base)/v1/alerts  \(base)/v1/stats  \(base)/metrics  (Ctrl-C to stop)\n".utf8))
            _ = try? await collectorTask.value
        } else {
            collectorTask.cancel()
            _ = try? await collectorTask.value
        }
    }
}

/// Which agents to run on which data.
struct PilotPlan: Sendable {
    enum Source: Sendable {
        case synthetic(seed: UInt64, symbols: Int, ticks: Int)
        case replay(directory: String, symbols: [String])
    }

    let source: Source
    let agents: Int

    init(_ command: Pilot) throws {
        if command.source == "synthetic" {
            source = .synthetic(seed: command.seed, symbols: command.symbols, ticks: command.ticks)
            agents = 1
        } else {
            let directory = String(command.source.dropFirst("replay:".count))
            let files = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
            // The replay feed names a file's symbol by what precedes the first "_" (AAPL_data.csv → AAPL).
            let names = files.filter { $0.lowercased().hasSuffix(".csv") && !$0.uppercased().hasPrefix("MANIFEST") }.sorted().prefix(command.symbols)
                .map { String($0.dropLast(4).split(separator: "_").first ?? "") }
            guard !names.isEmpty else { throw ValidationError("no .csv files in \(directory)") }
            source = .replay(directory: directory, symbols: names)
            agents = min(command.agents, names.count)
        }
    }

    var description: String {
        switch source {
        case .synthetic(let seed, let symbols, let ticks): "the synthetic market (\(symbols) symbols × \(ticks) bars, seed \(seed))"
        case .replay(let directory, let symbols): "\(directory) (\(symbols.count) symbols)"
        }
    }

    var isSynthetic: Bool { if case .synthetic = source { true } else { false } }

    func labelsPath(dataDir: String) -> String? { isSynthetic ? dataDir + "/labels.csv" : nil }

    /// Where the synthetic market starts (its bars are daily).
    static let syntheticStart: Int64 = 1_262_304_000_000

    func agentConfigs(collector: String, dataDir: String, maxTicks: Int? = nil) -> [AgentConfig] {
        var configs: [AgentConfig] = []
        for index in 0..<agents {
            var config = AgentConfig()
            config.agent.id = "pilot-agent-\(index + 1)"
            config.agent.dataDir = "\(dataDir)/agent-\(index + 1)"
            config.collector.url = collector
            config.admin.enabled = false
            config.batch.maxBars = 10_000
            switch source {
            case .synthetic(let seed, let symbols, let ticks):
                config.feeds = [
                    .synthetic(
                        SyntheticFeedConfiguration(
                            name: "synthetic", seed: seed, symbols: symbols, intervalSeconds: 86_400, tickRate: 0,
                            startTimestamp: Self.syntheticStart,
                            maxTicks: maxTicks ?? ticks,
                            labelsPath: labelsPath(dataDir: dataDir)))
                ]
            case .replay(let directory, let symbols):
                let mine = symbols.enumerated().filter { $0.offset % agents == index }.map(\.element)
                config.feeds = [.replay(ReplayFeedConfiguration(name: "replay", path: directory, speed: 0, symbols: mine))]
            }
            configs.append(config.resolvingPaths())
        }
        return configs
    }
}

/// Log lines go to a file so the terminal shows the progress and the report.
final class LogFile: Sendable {
    private let handle: Mutex<FileHandle>

    init(path: String) throws {
        _ = FileManager.default.createFile(atPath: path, contents: nil)
        guard let handle = FileHandle(forWritingAtPath: path) else { throw ValidationError("cannot write \(path)") }
        self.handle = Mutex(handle)
    }

    func write(_ line: String) {
        handle.withLock { $0.write(Data((line + "\n").utf8)) }
    }
}

/// One self-overwriting progress line on stderr.
final class ProgressLine: Sendable {
    let enabled: Bool
    init(enabled: Bool) { self.enabled = enabled }

    func note(_ text: String) { FileHandle.standardError.write(Data("pilot: \(text)\n".utf8)) }

    func update(_ text: String) {
        guard enabled else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[2K  \(text)".utf8))
    }

    func finish() {
        guard enabled else { return }
        FileHandle.standardError.write(Data("\n".utf8))
    }
}

func seconds(_ duration: Duration) -> Double {
    let (s, atto) = duration.components
    return Double(s) + Double(atto) / 1e18
}

extension BinaryInteger {
    /// 1234567 → "1,234,567".
    var grouped: String {
        let text = String(self)
        let negative = text.hasPrefix("-")
        var digits = Array(negative ? text.dropFirst() : Substring(text))
        var out: [Character] = []
        while digits.count > 3 {
            out = [","] + digits.suffix(3) + out
            digits.removeLast(3)
        }
        return (negative ? "-" : "") + String(digits + out)
    }
}
