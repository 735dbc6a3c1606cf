import Foundation
import Logging
import SwiftProtobuf
import Testing
import VigilSpool
import VigilTelemetry
import VigilWire

@testable import VigilAgent

/// The real `vigil-agent` binary, run as a process against a loopback collector.
@Suite("vigil-agent process", .serialized)
struct AgentProcessTests {
    static let binary = packageBinary("vigil-agent")

    func writeConfig(
        _ directory: TemporaryDirectory, collector: String, feeds: String, extra: String = "", spool: String = "{fsync: never}",
        admin: String = "127.0.0.1:0"
    ) throws -> String {
        let path = directory.path + "/agent.yaml"
        let yaml = """
            agent: {id: test-agent, data_dir: \(directory.path)/data}
            collector: {url: "\(collector)", token_env: VIGIL_TEST_TOKEN, initial_backoff_ms: 5, max_backoff_ms: 200}
            batch: {max_bars: 500, max_age_ms: 50}
            spool: \(spool)
            admin: {listen: "\(admin)"}
            logging: {level: info}
            feeds:
            \(feeds)
            \(extra)
            """
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test(.enabled(if: binary != nil, "build vigil-agent first (swift build)"))
    func syntheticMarketIsDeliveredExactlyOnceWithDetectionsAndSpans() async throws {
        let binary = try #require(Self.binary)
        let directory = TemporaryDirectory()
        let collector = try LoopbackCollector(token: "t0k3n")
        // The collector is down (503) for the first requests: the agent must spool and retry.
        collector.state.script.withLock { $0 = Array(repeating: .fail(status: 503, retryAfter: "0", body: "{}"), count: 5) }
        let labels = directory.path + "/labels.csv"
        let config = try writeConfig(
            directory, collector: collector.url,
            feeds: """
                  - {type: synthetic, symbols: 25, tick_rate: 0, max_ticks: 400, anomaly_rate: 0.01, seed: 7, interval_seconds: 86400, start_timestamp: 1500000000000, labels_path: \(labels)}
                """)
        let result = try await runProcess(binary, ["run", "--config", config, "--exit-when-drained"], environment: ["VIGIL_TEST_TOKEN": "t0k3n"])
        #expect(result.status == 0, "\(result.stderr.suffix(2000))")
        let received = collector.state.received.withLock { $0 }
        #expect(collector.bars == 25 * 400)
        #expect(received.duplicates == 0)
        let sequences = received.batches.map(\.sequence)
        #expect(sequences == sequences.sorted() && Set(sequences).count == sequences.count)
        #expect(received.batches.allSatisfy { $0.agentID == "test-agent" && !$0.configVersion.isEmpty })
        // Every symbol's bars arrive in time order, once.
        var perSymbol: [String: [Int64]] = [:]
        for batch in received.batches {
            for series in batch.series { try series.forEachBar { perSymbol[$0.symbol, default: []].append($0.timestamp) } }
        }
        #expect(perSymbol.count == 25)
        #expect(perSymbol.values.allSatisfy { $0 == $0.sorted() && Set($0).count == 400 })
        // Injected anomalies raise Tier-1 detections that carry the trace of the bar's processing.
        let detections = received.batches.flatMap(\.detections)
        #expect(!detections.isEmpty)
        #expect(detections.allSatisfy { $0.traceID.count == 16 && $0.spanID.count == 8 && $0.tier == .tier1 })
        // The agent's spans travel inside the batches, with its identity as resource attributes.
        let spans = received.batches.flatMap(\.resourceSpans)
        let names = Set(spans.flatMap { $0.scopeSpans.flatMap { $0.spans.map(\.name) } })
        for expected in [
            "agent.feed.poll", "agent.normalizer.normalize", "agent.detector.detect", "agent.batcher.seal", "agent.spool.append",
            "agent.shipper.send",
        ] {
            #expect(names.contains(expected), "missing span \(expected) in \(names)")
        }
        let resource = try #require(spans.first?.resource.attributes)
        #expect(resource.contains { $0.key == "service.name" && $0.value.stringValue == "vigil-agent" })
        #expect(resource.contains { $0.key == "vigil.agent.id" && $0.value.stringValue == "test-agent" })
        // A detection's trace holds the poll → detect spans; its span id is the detect span.
        let allSpans = spans.flatMap { $0.scopeSpans.flatMap(\.spans) }
        if let detection = detections.first, let detect = allSpans.first(where: { $0.spanID == detection.spanID }) {
            #expect(detect.name == "agent.detector.detect")
            #expect(detect.traceID == detection.traceID)
            #expect(allSpans.contains { $0.spanID == detect.parentSpanID && $0.name == "agent.feed.poll" })
        }
        // Labels were written for the injected anomalies.
        let labelLines = try String(contentsOfFile: labels, encoding: .utf8).split(separator: "\n")
        #expect(labelLines.count > 1)
        // JSON logs with the agent's messages.
        #expect(result.stderr.contains(#""msg":"Agent starting.""#))
    }

    /// Kill -9 the agent three times mid-run (collector down, up, down), restart it each time, then let it drain:
    /// every bar of a deterministic synthetic market arrives exactly once — spooled batches survive, re-sent batches
    /// are dropped by the sequence high-water mark, and bars already sealed are not read again (resume checkpoint).
    @Test(.enabled(if: binary != nil, "build vigil-agent first (swift build)"))
    func killMinus9DuringARunLosesNothingAndDuplicatesNothing() async throws {
        let binary = try #require(Self.binary)
        let directory = TemporaryDirectory()
        let collector = try LoopbackCollector()
        let symbols = 20
        let ticks = 3000
        let config = try writeConfig(
            directory, collector: collector.url,
            feeds: """
                  - {type: synthetic, symbols: \(symbols), tick_rate: 1500, max_ticks: \(ticks), seed: 11, interval_seconds: 60, start_timestamp: 1600000000000}
                """, spool: "{fsync: always}")
        var kills = 0
        for round in 0..<3 {
            collector.state.always.withLock { $0 = round == 1 ? nil : .fail(status: 503, retryAfter: "0", body: "{}") }
            let process = Process()
            process.executableURL = URL(fileURLWithPath: binary)
            process.arguments = ["run", "--config", config]
            process.standardError = FileHandle.nullDevice
            try process.run()
            try await Task.sleep(for: .milliseconds(Int.random(in: 500...1100)))
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            #expect(process.terminationReason == .uncaughtSignal)
            kills += 1
        }
        collector.state.always.withLock { $0 = nil }
        let final = try await runProcess(binary, ["run", "--config", config, "--exit-when-drained"])
        #expect(final.status == 0, "\(final.stderr.suffix(1500))")
        #expect(kills == 3)
        var seen: [String: Set<Int64>] = [:]
        var total = 0
        for batch in collector.state.received.withLock({ $0.batches }) {
            for series in batch.series {
                try series.forEachBar { bar in
                    total += 1
                    seen[bar.symbol, default: []].insert(bar.timestamp)
                }
            }
        }
        #expect(total == symbols * ticks, "bars received \(total), expected \(symbols * ticks) (duplicates or loss)")
        #expect(seen.count == symbols)
        #expect(seen.values.allSatisfy { $0.count == ticks })
        // The last run resumed from the checkpoint rather than re-reading everything.
        #expect(final.stderr.contains("Resuming: bars already in durable batches will be skipped."))
    }

    /// A full spool under `when_full: block` holds the feeds back (readiness 503) instead of losing data; once the
    /// collector is back the spool drains, readiness returns, and every bar arrives exactly once.
    @Test(.enabled(if: binary != nil, "build vigil-agent first (swift build)"))
    func fullSpoolBlocksTheFeedsAndLosesNothing() async throws {
        let binary = try #require(Self.binary)
        let directory = TemporaryDirectory()
        let collector = try LoopbackCollector()
        collector.state.always.withLock { $0 = .fail(status: 503, retryAfter: "0", body: "{}") }
        let port = Int.random(in: 40_001...50_000)
        let config = try writeConfig(
            directory, collector: collector.url,
            feeds: """
                  - {type: synthetic, symbols: 10, tick_rate: 0, max_ticks: 4000, seed: 5, interval_seconds: 60, start_timestamp: 1600000000000}
                """, spool: "{fsync: never, segment_max_bytes: 65536, max_total_bytes: 131072, when_full: block}", admin: "127.0.0.1:\(port)")
        let logPath = directory.path + "/agent.log"
        let process = try launchLogged(binary, ["run", "--config", config, "--exit-when-drained"], logPath: logPath)
        defer { if process.isRunning { process.terminate() } }
        func logs() -> String { String((try? String(contentsOfFile: logPath, encoding: .utf8))?.suffix(3000) ?? "") }
        let base = "http://127.0.0.1:\(port)"
        // 40 000 bars are ~1.7 MB of batches: far more than the 128 KiB spool, so the pipeline must stop and wait.
        let blocked = await eventually {
            guard let (status, body) = await httpGet(base + "/readyz") else { return false }
            return status == 503 && body.contains("spool full")
        }
        let metrics = await httpGet(base + "/metrics")?.1 ?? ""
        #expect(blocked, "\(logs())")
        // The spool stays within its bound while blocked.
        let spoolBytes = metrics.split(separator: "\n").first { $0.hasPrefix("vigil_agent_spool_bytes ") }
            .flatMap { Double($0.split(separator: " ")[1]) }
        #expect(spoolBytes.map { $0 > 0 && $0 <= 131_072 } == true, "spool bytes \(String(describing: spoolBytes))")
        collector.state.always.withLock { $0 = nil }
        #expect(await eventually(timeout: .seconds(60)) { !process.isRunning })
        #expect(process.terminationStatus == 0, "\(logs())")
        #expect(collector.bars == 10 * 4000)
        #expect(collector.state.received.withLock { $0.duplicates } == 0)
    }

    @Test(.enabled(if: binary != nil, "build vigil-agent first (swift build)"))
    func sigtermFlushesEverythingToTheSpoolWhileTheCollectorIsDown() async throws {
        let binary = try #require(Self.binary)
        let directory = TemporaryDirectory()
        let collector = try LoopbackCollector()
        collector.state.always.withLock { $0 = .fail(status: 503, retryAfter: "0", body: "{}") }
        let config = try writeConfig(
            directory, collector: collector.url,
            feeds: "  - {type: synthetic, symbols: 10, tick_rate: 200, seed: 3}", extra: "")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["run", "--config", config]
        let errors = Pipe()
        process.standardError = errors
        try process.run()
        // Signal handlers are installed before the shipper starts, so once the dead collector has seen two requests the
        // agent is running and spooling (a fixed sleep could land before that on a loaded machine).
        #expect(await eventually { collector.state.received.withLock { $0.requests } >= 2 })
        try await Task.sleep(for: .milliseconds(500))
        process.terminate()  // SIGTERM
        let stderrTask = Task.detached { errors.fileHandleForReading.readDataToEndOfFile() }
        process.waitUntilExit()
        let logs = String(decoding: await stderrTask.value, as: UTF8.self)
        #expect(process.terminationReason == .exit && process.terminationStatus == 0, "\(logs.suffix(1500))")
        #expect(logs.contains("Agent stopped."))
        // Everything the agent generated is durable: count generated bars from the poll logs' metric-free path —
        // reopen the spool and check that it holds complete, decodable batches with increasing sequences.
        var spoolConfig = SpoolConfiguration()
        spoolConfig.directory = directory.path + "/data/spool"
        let spool = try Spool(configuration: spoolConfig, logger: Logger(label: "test"))
        let records = try spool.pending(limit: 100_000)
        #expect(!records.isEmpty)
        var bars = 0
        var previous: UInt64 = 0
        for record in records {
            let envelope = try SpooledBatch(decoding: record.payload)
            let batch = try Vigil_V1_Batch(serializedBytes: envelope.batch)
            #expect(batch.sequence == record.id && record.id > previous)
            previous = record.id
            bars += batch.barCount
        }
        // Ticks are whole: 10 bars each, none cut in half by the shutdown.
        #expect(bars > 0 && bars % 10 == 0)
        #expect(collector.bars == 0)
    }

    @Test(.enabled(if: binary != nil, "build vigil-agent first (swift build)"))
    func adminPortServesMetricsHealthAndReadiness() async throws {
        let binary = try #require(Self.binary)
        let directory = TemporaryDirectory()
        let collector = try LoopbackCollector()
        let port = Int.random(in: 20_000...40_000)
        let config = try writeConfig(
            directory, collector: collector.url, feeds: "  - {type: synthetic, symbols: 5, tick_rate: 50}", admin: "127.0.0.1:\(port)")
        let text = try String(contentsOfFile: config, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["run", "--config", config]
        process.standardError = FileHandle.nullDevice
        try process.run()
        defer { if process.isRunning { process.terminate() } }
        let base = "http://127.0.0.1:\(port)"
        #expect(await eventually { await httpGet(base + "/readyz")?.0 == 200 })
        #expect(await httpGet(base + "/healthz")?.0 == 200)
        #expect(await eventually { (await httpGet(base + "/metrics")?.1 ?? "").contains("vigil_agent_batches_sealed_total") })
        let metrics = await httpGet(base + "/metrics")?.1 ?? ""
        for name in [
            "vigil_agent_feed_bars_total", "vigil_agent_normalizer_bars_total", "vigil_agent_batches_sealed_total", "vigil_agent_spool_bytes",
            "vigil_agent_spool_oldest_age_seconds", "vigil_agent_shipper_request_duration_seconds_bucket", "vigil_agent_info",
        ] {
            #expect(metrics.contains(name), "missing \(name)")
        }
        // Every family has HELP text (promtool check metrics wants it).
        let families = Set(metrics.split(separator: "\n").filter { $0.hasPrefix("# TYPE ") }.map { $0.split(separator: " ")[2] })
        let helped = Set(metrics.split(separator: "\n").filter { $0.hasPrefix("# HELP ") }.map { $0.split(separator: " ")[2] })
        #expect(families.subtracting(helped).isEmpty, "no HELP for \(families.subtracting(helped))")
        #expect(await httpGet(base + "/nope")?.0 == 404)
        // SIGHUP with a changed detection section: reloaded, the config version in vigil_agent_info changes.
        let before = metrics.split(separator: "\n").first { $0.hasPrefix("vigil_agent_info{") }.map(String.init) ?? ""
        try (text + "\ndetection: {alert_threshold: 0.7}\n").write(toFile: config, atomically: true, encoding: .utf8)
        kill(process.processIdentifier, SIGHUP)
        #expect(
            await eventually {
                let now = await httpGet(base + "/metrics")?.1 ?? ""
                return now.contains("vigil_agent_config_reloads_total{outcome=\"applied\"} 1") && !now.contains(before)
            })
        // An invalid file is rejected and the agent keeps running.
        try "batch: {max_bars: -1}\n".write(toFile: config, atomically: true, encoding: .utf8)
        kill(process.processIdentifier, SIGHUP)
        #expect(
            await eventually {
                (await httpGet(base + "/metrics")?.1 ?? "").contains("vigil_agent_config_reloads_total{outcome=\"invalid\"} 1")
            })
        #expect(process.isRunning)
    }

    /// SIGHUP that adds a feed: the new feed starts, the unchanged one keeps going (no restart, no repeated bars).
    @Test(.enabled(if: binary != nil, "build vigil-agent first (swift build)"))
    func sighupAddsAFeedWithoutRestartingTheOthers() async throws {
        let binary = try #require(Self.binary)
        let directory = TemporaryDirectory()
        let collector = try LoopbackCollector()
        let first = "  - {type: synthetic, name: alpha, symbols: 3, tick_rate: 40, seed: 1, interval_seconds: 60, start_timestamp: 1600000000000}"
        let config = try writeConfig(directory, collector: collector.url, feeds: first)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["run", "--config", config]
        process.standardError = FileHandle.nullDevice
        try process.run()
        defer { if process.isRunning { process.terminate() } }
        func feeds() -> Set<String> {
            Set(collector.state.received.withLock { $0.batches.flatMap { $0.series.map(\.feed) } })
        }
        #expect(await eventually { feeds() == ["alpha"] })
        let text = try String(contentsOfFile: config, encoding: .utf8)
        let second = "  - {type: synthetic, name: beta, symbols: 2, tick_rate: 40, seed: 2, interval_seconds: 60, start_timestamp: 1600000000000}"
        try text.replacingOccurrences(of: first, with: first + "\n" + second).write(toFile: config, atomically: true, encoding: .utf8)
        kill(process.processIdentifier, SIGHUP)
        #expect(await eventually { feeds() == ["alpha", "beta"] })
        try await Task.sleep(for: .milliseconds(300))
        process.terminate()
        process.waitUntilExit()
        // The unchanged feed kept its position: every alpha bar arrived once, in order, per symbol.
        var alpha: [String: [Int64]] = [:]
        for batch in collector.state.received.withLock({ $0.batches }) {
            for series in batch.series where series.feed == "alpha" {
                try series.forEachBar { alpha[$0.symbol, default: []].append($0.timestamp) }
            }
        }
        #expect(alpha.count == 3)
        #expect(alpha.values.allSatisfy { $0 == $0.sorted() && Set($0).count == $0.count })
    }

    /// The Tier-1 state survives a restart: saved at shutdown, restored at start-up for every series.
    @Test(.enabled(if: binary != nil, "build vigil-agent first (swift build)"))
    func detectorStateSurvivesARestart() async throws {
        let binary = try #require(Self.binary)
        let directory = TemporaryDirectory()
        let collector = try LoopbackCollector()
        let config = try writeConfig(
            directory, collector: collector.url,
            feeds: "  - {type: synthetic, symbols: 7, tick_rate: 0, max_ticks: 200, seed: 3, interval_seconds: 60, start_timestamp: 1600000000000}")
        let first = try await runProcess(binary, ["run", "--config", config, "--exit-when-drained"])
        #expect(first.status == 0)
        #expect(!first.stderr.contains("Detector state restored."))
        #expect(FileManager.default.fileExists(atPath: directory.path + "/data/detectors.state"))
        let second = try await runProcess(binary, ["run", "--config", config, "--exit-when-drained"])
        #expect(second.status == 0)
        #expect(second.stderr.contains(#""msg":"Detector state restored.""#) && second.stderr.contains(#""detector.series":"7""#))
        // The restarted feed's bars were all durable already: skipped, not shipped twice.
        #expect(collector.bars == 7 * 200)
    }

    @Test(.enabled(if: binary != nil, "build vigil-agent first (swift build)"))
    func validateConfigExitCodes() async throws {
        let binary = try #require(Self.binary)
        let fixtures = Bundle.module.bundleURL.appendingPathComponent("Fixtures/config").path
        let good = try await runProcess(binary, ["validate-config", fixtures + "/replay.good.yaml"])
        #expect(good.status == 0)
        #expect(good.stdout.contains("ok"))
        let bad = try await runProcess(binary, ["validate-config", fixtures + "/many-problems.bad.yaml"])
        #expect(bad.status == 1)
        #expect(bad.stderr.contains("11 problems"))
        let missing = try await runProcess(binary, ["validate-config", "/nonexistent.yaml"])
        #expect(missing.status == 1)
        #expect(missing.stderr.contains("cannot read the file"))
    }

    @Test(.enabled(if: binary != nil && sharedData != nil, "needs vigil-agent and ../shared/data"))
    func backtestFindsTheDevEventsWithFewFlags() async throws {
        let binary = try #require(Self.binary)
        let data = try #require(sharedData)
        let directory = TemporaryDirectory()
        let output = directory.path + "/out.csv"
        let run = try await runProcess(binary, ["backtest", "--input", data + "/sp500-daily", "--output", output], timeout: .seconds(600))
        #expect(run.status == 0, "\(run.stderr.suffix(1000))")
        let score = try await runProcess("/usr/bin/env", ["python3", data + "/../tools/events_eval.py", output, data + "/events-dev.csv"])
        #expect(score.status == 0, "\(score.stdout)")
        let summary = try #require(score.stdout.split(separator: "\n").first)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(summary.utf8)) as? [String: Any])
        #expect(json["recall"] as? Double == 1.0)
        #expect((json["flags_per_symbol_month"] as? Double ?? 99) < 1.0)
        #expect(json["bars"] as? Int == 619_040)
    }

    @Test(.enabled(if: binary != nil, "build vigil-agent first (swift build)"))
    func backtestSeriesIsStrictlyStreaming() async throws {
        let binary = try #require(Self.binary)
        let directory = TemporaryDirectory()
        var rows = ["timestamp,value"]
        var generator = SystemRandomNumberGenerator()
        var time = 1_700_000_000
        for index in 0..<400 {
            time += [60, 60, 120, 30][index % 4]
            let value = index == 300 ? 250.0 : Double.random(in: -5...5, using: &generator)
            rows.append("\(time),\(value)")
        }
        let full = directory.path + "/full.csv"
        let prefix = directory.path + "/prefix.csv"
        try rows.joined(separator: "\n").write(toFile: full, atomically: true, encoding: .utf8)
        try rows.prefix(311).joined(separator: "\n").write(toFile: prefix, atomically: true, encoding: .utf8)
        for (input, output) in [(full, full + ".out"), (prefix, prefix + ".out")] {
            let run = try await runProcess(binary, ["backtest", "--format", "series", "--input", input, "--output", output])
            #expect(run.status == 0, "\(run.stderr)")
        }
        let fullOut = try String(contentsOfFile: full + ".out", encoding: .utf8).split(separator: "\n")
        let prefixOut = try String(contentsOfFile: prefix + ".out", encoding: .utf8).split(separator: "\n")
        #expect(fullOut.first == "timestamp,value,anomaly_score")
        #expect(fullOut.count == 401)
        // Row i's score uses rows ≤ i only: the prefix run scores its rows identically.
        #expect(Array(fullOut.prefix(prefixOut.count)) == prefixOut)
        let spike = fullOut[301].split(separator: ",")
        #expect(Double(spike[2]) ?? 0 > 0.9)
        // Bad input is an error with a message and exit code, not a crash.
        let missing = try await runProcess(binary, ["backtest", "--input", "/nonexistent", "--output", directory.path + "/x.csv"])
        #expect(missing.status == 1)
        #expect(missing.stderr.contains("does not exist"))
    }
}
