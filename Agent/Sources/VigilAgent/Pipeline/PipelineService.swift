import Foundation
import Logging
import Metrics
import ServiceLifecycle
import Synchronization
import Tracing
import UnixSignals
import VigilConcurrency
import VigilConfig
import VigilFeeds
import VigilSpool
import VigilTelemetry

/// Drives the feeds into the pipeline, seals batches on their age timer, and reloads the configuration on SIGHUP.
///
/// Feeds run as one generation of child tasks. A reload that changes feeds ends the generation and starts the next
/// one with the new set, reusing the feed instances whose configuration did not change (a replay keeps its position);
/// detector state lives in the pipeline actor and is never rebuilt, so nothing learned or buffered is lost.
final class PipelineService: Service, Sendable {
    private let pipeline: AgentPipeline
    private let spool: Spool
    private let dependencies: FeedDependencies
    private let health: AgentHealth
    private let info: AgentInfoMetric
    private let tracer: VigilTracer
    private let configPath: String?
    private let exitWhenDrained: Bool
    private let logger: Logger
    private let state: Mutex<State>
    private let reloadRequests = WakeupSignal()

    private struct State {
        var config: AgentConfig
        var feeds: [String: any Feed]
    }

    init(
        config: AgentConfig, configPath: String?, feeds: [String: any Feed], pipeline: AgentPipeline, spool: Spool,
        dependencies: FeedDependencies, health: AgentHealth, info: AgentInfoMetric, tracer: VigilTracer, exitWhenDrained: Bool,
        logger: Logger
    ) {
        self.state = Mutex(State(config: config, feeds: feeds))
        self.configPath = configPath
        self.pipeline = pipeline
        self.spool = spool
        self.dependencies = dependencies
        self.health = health
        self.info = info
        self.tracer = tracer
        self.exitWhenDrained = exitWhenDrained
        self.logger = logger
    }

    func run() async throws {
        health.setReady()
        // Graceful shutdown cancels the feeds, the timer and the signal watcher; the flush below then runs
        // un-cancelled so what was read becomes durable.
        do {
            try await cancelWhenGracefulShutdown {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { await self.sealTimer() }
                    group.addTask { await self.watchReloadSignals() }
                    group.addTask { try await self.runGenerations() }
                    group.addTask { await self.watchBackpressure() }
                    // Any of them ending (feeds done + drained, or shutdown) ends the service.
                    try await group.next()
                    group.cancelAll()
                }
            }
        } catch is CancellationError {
            // Graceful shutdown.
        }
        health.setNotReady("shutting down")
        // Bounded: with a full spool under `when_full: block` the append could wait forever.
        let pipeline = self.pipeline
        let flushed = await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                do {
                    try await pipeline.flush(trigger: .shutdown)
                    return true
                } catch {
                    return false
                }
            }
            group.addTask {
                try? await Task.sleep(for: .seconds(10))
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
        if !flushed {
            let unspooled = await pipeline.unspooledBatches
            logger.error(
                "Could not flush every pending bar to the spool at shutdown (spool full or failing); unspooled bars are lost.",
                metadata: ["batches.unspooled": "\(unspooled)"])
        }
    }

    /// Runs feed generations until shutdown; returns when every feed is finite and done (and, with
    /// `exitWhenDrained`, the spool is empty).
    private func runGenerations() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            let feeds = state.withLock { Array($0.feeds.values) }
            let outcome: GenerationOutcome = try await withThrowingTaskGroup(of: GenerationOutcome.self) { group in
                for feed in feeds { group.addTask { try await self.runFeed(feed) } }
                group.addTask {
                    // A reload request ends this generation.
                    await self.reloadRequests.wait()
                    return Task.isCancelled ? .cancelled : .reload
                }
                var finished = 0
                while let result = try await group.next() {
                    switch result {
                    case .feedFinished:
                        finished += 1
                        if finished == feeds.count {
                            group.cancelAll()
                            return .allFeedsFinished
                        }
                    case .reload, .cancelled:
                        group.cancelAll()
                        return .reload
                    case .allFeedsFinished:
                        break
                    }
                }
                return .cancelled
            }
            switch outcome {
            case .allFeedsFinished:
                try await pipeline.flush(trigger: .flush)
                let series = await pipeline.seriesCount
                logger.info("All feeds finished.", metadata: ["agent.series": "\(series)"])
                if exitWhenDrained {
                    // Returning ends the agent (the service is configured to shut the group down on success).
                    await waitForDrain()
                    return
                }
                // Keep shipping what is spooled and serve /metrics until told to stop.
                try? await gracefulShutdown()
                return
            case .reload:
                if Task.isShuttingDownGracefully || Task.isCancelled { return }
                await applyReload()
            case .cancelled, .feedFinished:
                return
            }
        }
    }

    private enum GenerationOutcome: Sendable {
        case feedFinished, reload, allFeedsFinished, cancelled
    }

    private func runFeed(_ feed: any Feed) async throws -> GenerationOutcome {
        var errors = 0
        while !Task.isCancelled {
            let poll: FeedPoll?
            do {
                poll = try await feed.poll()
                errors = 0
            } catch is CancellationError {
                return .cancelled
            } catch {
                if Task.isCancelled { return .cancelled }
                errors += 1
                // Feeds count and log their own failures; this only keeps a failing feed from spinning.
                if errors == 1 || errors % 50 == 0 {
                    logger.warning("Feed poll failed.", metadata: ["feed.name": "\(feed.name)", "error.message": "\(error)"])
                }
                try? await Task.sleep(for: .milliseconds(min(30_000, 100 * (1 << min(errors, 8)))))
                continue
            }
            guard let poll else { return .feedFinished }
            try await pipeline.ingest(poll, feed: feed.name, context: poll.traceContext ?? .topLevel)
        }
        return .cancelled
    }

    private func sealTimer() async {
        while !Task.isCancelled {
            let wait = await pipeline.timeUntilDue() ?? .milliseconds(250)
            try? await Task.sleep(for: max(wait, .milliseconds(5)))
            if Task.isCancelled { return }
            do {
                try await pipeline.sealIfDue()
            } catch {
                logger.error("Sealing a batch failed.", metadata: ["error.message": "\(error)"])
            }
        }
    }

    /// Readiness follows the spool: while appends wait for space the agent takes no new data.
    private func watchBackpressure() async {
        var wasBlocked = false
        while !Task.isCancelled {
            let blocked = spool.stats.waitingAppends > 0
            if blocked != wasBlocked {
                if blocked {
                    health.setNotReady("spool full: waiting for the collector to acknowledge batches")
                    logger.warning("Spool is full; feeds are paused until the collector acknowledges batches.")
                } else {
                    health.setReady()
                    logger.info("Spool has room again; feeds resumed.")
                }
                wasBlocked = blocked
            }
            try? await Task.sleep(for: .milliseconds(500))
        }
    }

    private func waitForDrain() async {
        while !Task.isCancelled && !Task.isShuttingDownGracefully && spool.stats.pendingRecords > 0 {
            try? await Task.sleep(for: .milliseconds(100))
        }
        if spool.stats.pendingRecords == 0 { logger.info("Spool drained: the collector acknowledged every batch.") }
    }

    private func watchReloadSignals() async {
        let signals = await UnixSignalsSequence(trapping: .sighup)
        for await _ in signals {
            if Task.isCancelled { return }
            reloadRequests.signal()
        }
    }

    /// Re-reads the configuration file. An invalid file is reported and ignored (the running config stays).
    private func applyReload() async {
        guard let configPath else {
            logger.notice("SIGHUP ignored: the agent runs on built-in defaults (no --config).")
            return
        }
        let loaded: AgentConfig
        do {
            loaded = try ConfigLoader.load(AgentConfig.self, path: configPath).resolvingPaths()
        } catch {
            Counter(label: MetricName.configReloads, dimensions: [("outcome", "invalid")]).increment()
            logger.error("Configuration reload rejected; keeping the running configuration.", metadata: ["error.message": "\(error)"])
            return
        }
        let current = state.withLock { $0.config }
        var restartNotes: [String] = []
        if loaded.agent != current.agent { restartNotes.append("agent") }
        if loaded.spool != current.spool { restartNotes.append("spool") }
        if loaded.collector != current.collector { restartNotes.append("collector") }
        if loaded.admin != current.admin { restartNotes.append("admin") }
        if !restartNotes.isEmpty {
            logger.warning(
                "Some changed sections apply only after a restart.", metadata: ["config.sections": "\(restartNotes.joined(separator: ","))"])
        }
        var feeds = state.withLock { $0.feeds }
        var next: [String: any Feed] = [:]
        for feedConfig in loaded.feeds {
            if let existing = feeds[feedConfig.name], current.feeds.contains(feedConfig) {
                next[feedConfig.name] = existing
                feeds[feedConfig.name] = nil
                continue
            }
            do {
                next[feedConfig.name] = try FeedFactory.makeFeed(feedConfig, dependencies: dependencies)
            } catch {
                Counter(label: MetricName.configReloads, dimensions: [("outcome", "invalid")]).increment()
                logger.error(
                    "Configuration reload rejected: a feed cannot start.", metadata: ["feed.name": "\(feedConfig.name)", "error.message": "\(error)"])
                return
            }
        }
        await pipeline.reconfigure(detectors: loaded.detection, batcher: loaded.batch, configVersion: loaded.version)
        state.withLock {
            $0.config = loaded
            $0.feeds = next
        }
        info.set(configVersion: loaded.version)
        Counter(label: MetricName.configReloads, dimensions: [("outcome", "applied")]).increment()
        logger.info(
            "Configuration reloaded.", metadata: ["config.version": "\(loaded.version)", "feeds": "\(next.keys.sorted().joined(separator: ","))"])
    }
}
