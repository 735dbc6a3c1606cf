import Foundation
import SwiftProtobuf
import Synchronization
import VigilHTTP
@_exported import VigilTestSupport
import VigilWire

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
