import Foundation
import SwiftProtobuf
import Synchronization
import VigilHTTP
import VigilWire

/// A fresh directory under /tmp, removed when the value goes away.
final class TemporaryDirectory: Sendable {
    let path: String

    init() {
        path = NSTemporaryDirectory() + "vigil-agent-test-" + UUID().uuidString
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// A built executable of this package: next to the test runner (SwiftPM puts both in `<scratch>/debug/`).
func packageBinary(_ name: String) -> String? {
    let runner = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
    let candidates = [runner.deletingLastPathComponent(), Bundle.main.bundleURL, Bundle.main.bundleURL.deletingLastPathComponent()]
        .map { $0.appendingPathComponent(name).path }
    return candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
}

/// `../shared/data`, when present (CI has it); tests that need it are skipped otherwise.
let sharedData: String? = {
    if let path = ProcessInfo.processInfo.environment["VIGIL_SHARED_DATA"], FileManager.default.fileExists(atPath: path) { return path }
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<6 {
        url.deleteLastPathComponent()
        let candidate = url.appendingPathComponent("shared/data").path
        if FileManager.default.fileExists(atPath: candidate + "/sp500-daily") { return candidate }
    }
    return nil
}()

/// What a real collector does with a batch, reduced to what the agent's tests check: a loopback HTTP server that
/// checks the bearer token, gunzips and decodes `vigil.v1.Batch`, dedupes by the agent's sequence high-water mark and
/// answers with an `Ack` — or with the failure a test scripts (503 + Retry-After, 429, 400, …).
final class LoopbackCollector: Sendable {
    let state: CollectorState
    let server: SimpleHTTPServer

    init(token: String? = nil) throws {
        let state = CollectorState(token: token)
        self.state = state
        server = try SimpleHTTPServer { request in state.handle(request) }
        server.start()
    }

    deinit { server.stop() }

    var url: String { "http://127.0.0.1:\(server.port)" }
    var bars: Int { state.received.withLock { $0.batches.reduce(0) { $0 + $1.barCount } } }
}

final class CollectorState: Sendable {
    struct Received: Sendable {
        var batches: [Vigil_V1_Batch] = []
        var duplicates = 0
        var requests = 0
        var highWater: [String: UInt64] = [:]
        var traceparents: [String] = []
        var contentEncodings: [String] = []
    }

    enum Answer: Sendable {
        case accept
        case fail(status: Int, retryAfter: String?, body: String)
    }

    let token: String?
    let received = Mutex(Received())
    /// Answers for the next requests, in order; `.accept` once the script is used up.
    let script = Mutex<[Answer]>([])
    /// When set, every request gets this answer (overrides the script).
    let always = Mutex<Answer?>(nil)

    init(token: String?) { self.token = token }

    func handle(_ request: ServerRequest) -> ServerResponse {
        received.withLock { $0.requests += 1 }
        guard request.method == "POST", request.path == WireContract.batchesPath else { return ServerResponse(status: 404) }
        if let token, request.header("authorization") != "Bearer \(token)" {
            return ServerResponse(status: 401, contentType: "application/json", text: #"{"code":"unauthorized","message":"bad token"}"#)
        }
        let answer = always.withLock { $0 } ?? script.withLock { $0.isEmpty ? .accept : $0.removeFirst() }
        if case .fail(let status, let retryAfter, let body) = answer {
            var headers = [("Content-Type", "application/json")]
            if let retryAfter { headers.append(("Retry-After", retryAfter)) }
            return ServerResponse(status: status, headers: headers, body: Array(body.utf8))
        }
        var body = request.body
        if request.header("content-encoding") == "gzip" {
            guard let plain = try? Gzip.decompress(body, maxOutputBytes: 64 << 20) else {
                return ServerResponse(status: 400, contentType: "application/json", text: #"{"message":"bad gzip"}"#)
            }
            body = plain
        }
        guard let batch = try? Vigil_V1_Batch(serializedBytes: body) else {
            return ServerResponse(status: 400, contentType: "application/json", text: #"{"message":"not a vigil.v1.Batch"}"#)
        }
        var ack = Vigil_V1_Ack()
        ack.agentID = batch.agentID
        ack.sequence = batch.sequence
        received.withLock { state in
            state.traceparents.append(request.header("traceparent") ?? "")
            state.contentEncodings.append(request.header("content-encoding") ?? "")
            if batch.sequence <= state.highWater[batch.agentID, default: 0] {
                state.duplicates += 1
                ack.status = .duplicate
            } else {
                state.highWater[batch.agentID] = batch.sequence
                state.batches.append(batch)
                ack.status = .accepted
                ack.barsAccepted = UInt64(batch.barCount)
            }
            ack.highWaterMark = state.highWater[batch.agentID, default: 0]
        }
        return ServerResponse(status: 200, headers: [("Content-Type", WireContract.protobufContentType)], body: (try? ack.serializedBytes()) ?? [])
    }
}

/// Runs a process to completion, capturing its output.
struct ProcessResult {
    var status: Int32
    var stdout: String
    var stderr: String
}

func runProcess(_ path: String, _ arguments: [String], environment: [String: String] = [:], timeout: Duration = .seconds(120)) async throws
    -> ProcessResult
{
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    let out = Pipe()
    let err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let outData = Task.detached { out.fileHandleForReading.readDataToEndOfFile() }
    let errData = Task.detached { err.fileHandleForReading.readDataToEndOfFile() }
    let deadline = ContinuousClock.now + timeout
    while process.isRunning {
        if ContinuousClock.now > deadline {
            process.terminate()
            break
        }
        try await Task.sleep(for: .milliseconds(20))
    }
    process.waitUntilExit()
    return ProcessResult(
        status: process.terminationStatus, stdout: String(decoding: await outData.value, as: UTF8.self),
        stderr: String(decoding: await errData.value, as: UTF8.self))
}

/// Polls `condition` every 50 ms until it holds or `timeout` passes; returns whether it held.
func eventually(timeout: Duration = .seconds(60), _ condition: () async throws -> Bool) async rethrows -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try? await Task.sleep(for: .milliseconds(50))
    }
    return try await condition()
}

/// GET on the agent's admin port.
func httpGet(_ url: String) async -> (Int, String)? {
    guard let response = try? await HTTPClient().execute(HTTPRequest(url: url, timeoutSeconds: 2)) else { return nil }
    return (response.status, response.bodyText)
}
