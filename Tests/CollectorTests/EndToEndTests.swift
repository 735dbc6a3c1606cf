import Foundation
import Testing
import VigilHTTP
import VigilTestSupport

/// Real processes: `vigil-agent` replays real daily bars to `vigil-collector` over loopback HTTP while one of them is
/// killed with SIGKILL three times. Afterwards `/v1/stats` must hold exactly the bars sent minus the normalizer's
/// rejects, and no bar may be stored twice — on the embedded store and on PostgreSQL.
@Suite(.serialized)
struct EndToEndTests {
    static let collector = packageBinary("vigil-collector")
    static let agent = packageBinary("vigil-agent")
    static var ready: Bool { collector != nil && agent != nil && sharedData != nil }

    enum Store: String, CaseIterable, Sendable { case sqlite, postgres }
    static var stores: [Store] { ProcessInfo.processInfo.environment["VIGIL_TEST_POSTGRES_URL"] == nil ? [.sqlite] : Store.allCases }

    @Test(.enabled(if: ready, "needs vigil-collector, vigil-agent (swift build) and ../shared/data"), arguments: stores)
    func collectorKilledThreeTimesLosesNothingAndDuplicatesNothing(store: Store) async throws {
        let run = try Run(store: store, symbols: 24)
        var collector = try run.startCollector()
        let agent = try run.startAgent()
        var kills = 0
        for _ in 0..<3 {
            // Let batches flow (and some be mid-flight), then kill the collector without warning.
            _ = await eventually { (try? await run.stats())?.bars ?? 0 > 0 }
            try await Task.sleep(for: .milliseconds(Int.random(in: 300...900)))
            kill(collector.processIdentifier, SIGKILL)
            collector.waitUntilExit()
            #expect(collector.terminationReason == .uncaughtSignal)
            kills += 1
            try await Task.sleep(for: .milliseconds(300))  // the agent retries against a dead port meanwhile
            collector = try run.startCollector()
        }
        try await run.waitForExit(agent, timeout: .seconds(240))
        #expect(agent.terminationStatus == 0, "agent exit \(agent.terminationStatus): \(run.agentLog.suffix(2000))")
        #expect(kills == 3)
        try await run.verifyExactlyOnce()
        kill(collector.processIdentifier, SIGTERM)
        collector.waitUntilExit()
        #expect(collector.terminationStatus == 0, "collector did not stop cleanly on SIGTERM: \(run.collectorLog.suffix(1500))")
    }

    @Test(.enabled(if: ready, "needs vigil-collector, vigil-agent (swift build) and ../shared/data"), arguments: stores)
    func agentKilledThreeTimesLosesNothingAndDuplicatesNothing(store: Store) async throws {
        let run = try Run(store: store, symbols: 24)
        let collector = try run.startCollector()
        for _ in 0..<3 {
            let agent = try run.startAgent()
            _ = await eventually { (try? await run.stats())?.bars ?? 0 > 0 }
            try await Task.sleep(for: .milliseconds(Int.random(in: 200...700)))
            kill(agent.processIdentifier, SIGKILL)
            agent.waitUntilExit()
            #expect(agent.terminationReason == .uncaughtSignal)
        }
        let agent = try run.startAgent()
        try await run.waitForExit(agent, timeout: .seconds(240))
        #expect(agent.terminationStatus == 0, "agent exit \(agent.terminationStatus): \(run.agentLog.suffix(2000))")
        try await run.verifyExactlyOnce()
        kill(collector.processIdentifier, SIGTERM)
        collector.waitUntilExit()
    }
}

/// One agent + collector pair in a temporary directory.
final class Run: Sendable {
    let directory = TemporaryDirectory()
    let port: Int
    let files: [String]
    let symbols: [String]
    let replay: String
    let store: EndToEndTests.Store

    init(store: EndToEndTests.Store, symbols count: Int) throws {
        self.store = store
        port = try freePort()
        let data = try #require(sharedData) + "/sp500-daily"
        replay = data
        files = Array(try FileManager.default.contentsOfDirectory(atPath: data).filter { $0.hasSuffix(".csv") }.sorted().prefix(count))
        // The replay feed names a file's symbol by what precedes the first "_" (AAPL_data.csv → AAPL).
        symbols = files.map { String($0.dropLast(4).split(separator: "_").first ?? "") }
        let schema = "vigil_e2e_" + String(UInt32.random(in: 0...UInt32.max), radix: 16)
        let storeYAML =
            store == .sqlite
            ? "{kind: sqlite}"
            : "{kind: postgres, postgres_url_env: VIGIL_TEST_POSTGRES_URL, postgres_schema: \(schema)}"
        try """
        collector: {id: e2e, data_dir: \(directory.path)/collector}
        server: {listen: "127.0.0.1:\(port)", retry_after_seconds: 0}
        store: \(storeYAML)
        logging: {level: info}
        """.write(toFile: directory.path + "/collector.yaml", atomically: true, encoding: .utf8)
        // Replay paced so a run lasts several seconds (50 trading days per second), small batches so many are in flight.
        try """
        agent: {id: e2e-agent, data_dir: \(directory.path)/agent}
        collector: {url: "http://127.0.0.1:\(port)", initial_backoff_ms: 50, max_backoff_ms: 400, timeout_seconds: 5}
        batch: {max_bars: 300, max_age_ms: 100}
        spool: {fsync: always}
        admin: {enabled: false}
        feeds:
          - {type: replay, name: replay, path: \(data), speed: 4320000, symbols: [\(symbols.joined(separator: ", "))]}
        """.write(toFile: directory.path + "/agent.yaml", atomically: true, encoding: .utf8)
    }

    var collectorLog: String { (try? String(contentsOfFile: directory.path + "/collector.log", encoding: .utf8)) ?? "" }
    var agentLog: String { (try? String(contentsOfFile: directory.path + "/agent.log", encoding: .utf8)) ?? "" }

    func startCollector() throws -> Process {
        let process = try launch(
            try #require(EndToEndTests.collector), ["serve", "--config", directory.path + "/collector.yaml"], log: "collector.log")
        return process
    }

    func startAgent() throws -> Process {
        try launch(try #require(EndToEndTests.agent), ["run", "--config", directory.path + "/agent.yaml", "--exit-when-drained"], log: "agent.log")
    }

    private func launch(_ binary: String, _ arguments: [String], log: String) throws -> Process {
        try launchLogged(binary, arguments, logPath: directory.path + "/" + log)
    }

    func waitForExit(_ process: Process, timeout: Duration) async throws {
        let deadline = ContinuousClock.now + timeout
        while process.isRunning && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
        if process.isRunning {
            process.terminate()
            Issue.record("process did not exit within \(timeout)")
        }
        process.waitUntilExit()
    }

    struct Stats: Decodable {
        var bars: Int64
        var batchesAccepted: Int64
        var duplicates: Int64
        var rejected: Int64
    }

    func get<T: Decodable>(_ path: String, as: T.Type) async throws -> T {
        let response = try await HTTPClient().execute(HTTPRequest(url: "http://127.0.0.1:\(port)\(path)", timeoutSeconds: 60))
        guard response.status == 200 else { throw TestFailure("GET \(path): \(response.status) \(response.bodyText)") }
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return try decoder.decode(T.self, from: Data(response.body))
    }

    func stats() async throws -> Stats { try await get("/v1/stats", as: Stats.self) }

    /// Bars stored = rows in the replayed files − the agent's normalizer rejects (its dead-letter lines), and no
    /// (symbol, time) twice.
    func verifyExactlyOnce() async throws {
        var rows = 0
        for file in files {
            let text = try String(contentsOfFile: "\(replay)/\(file)", encoding: .utf8)
            rows += text.split(whereSeparator: \.isNewline).dropFirst().filter { !$0.isEmpty }.count
        }
        let deadLetters =
            (try? String(contentsOfFile: directory.path + "/agent/deadletter.jsonl", encoding: .utf8))?
            .split(separator: "\n").count ?? 0
        // The agent exits once everything is acknowledged; the collector must be up to answer.
        #expect(await eventually { (try? await self.stats()) != nil })
        let stats = try await stats()
        #expect(stats.bars == Int64(rows - deadLetters), "stored \(stats.bars), sent \(rows) − \(deadLetters) rejected")
        #expect(stats.rejected == 0)
        struct Bars: Decodable {
            struct Bar: Decodable { var timestampMs: Int64 }
            var bars: [Bar]
        }
        var stored = 0
        for symbol in symbols {
            let page = try await get("/v1/bars?symbol=\(symbol)&limit=10000", as: Bars.self)
            let times = page.bars.map(\.timestampMs)
            #expect(Set(times).count == times.count, "\(symbol): a bar stored twice")
            stored += times.count
        }
        #expect(stored == Int(stats.bars))
    }
}
