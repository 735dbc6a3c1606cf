import Foundation
import Logging
import SwiftProtobuf
import Testing
import VigilDetection
import VigilHTTP
import VigilSpool
import VigilTelemetry
import VigilWire

@testable import VigilAgent

/// The shipper against a real loopback server answering 200, 429, 503, 400 and 401.
@Suite("Shipper")
struct ShipperTests {
    struct Fixture {
        let directory = TemporaryDirectory()
        let spool: Spool
        let tracer = VigilTracer(recorder: SpanRecorder(component: "test"))

        init() throws {
            var configuration = SpoolConfiguration()
            configuration.directory = directory.path + "/spool"
            configuration.fsync = .never
            spool = try Spool(configuration: configuration, logger: Logger(label: "test"))
        }

        /// Appends `count` sealed batches of `bars` bars each, sequences 1...count.
        func fill(count: Int, bars: Int = 10) async throws {
            var batcher = Batcher(configuration: BatcherConfiguration())
            for sequence in 1...count {
                for index in 0..<bars {
                    let bar = Bar(
                        symbol: "S\(index % 3)", timestamp: Int64(sequence * 1000 + index) * 60_000, intervalSeconds: 60, open: 10, high: 11,
                        low: 9, close: 10.5, volume: 1000)
                    batcher.add(bar, feed: "test", anomalyScore: 0.1)
                }
                let sealed = try batcher.seal(
                    agentID: "agent-t", agentVersion: "0", sequence: UInt64(sequence), configVersion: "cfg", spans: [],
                    traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
                try await spool.append(id: UInt64(sequence), payload: sealed.encoded())
            }
        }

        func shipper(url: String, token: String? = "secret", compression: String = "gzip") -> Shipper {
            var configuration = CollectorConfiguration()
            configuration.url = url
            configuration.compression = compression
            configuration.initialBackoffMs = 1
            configuration.maxBackoffMs = 50
            return Shipper(
                configuration: configuration, token: token, spool: spool, client: HTTPClient(), tracer: tracer,
                deadLetterPath: directory.path + "/deadletter-batches.jsonl", logger: Logger(label: "test"))
        }
    }

    @Test func classifiesEveryAnswer() async throws {
        let fixture = try Fixture()
        try await fixture.fill(count: 1)
        let collector = try LoopbackCollector(token: "secret")
        collector.state.script.withLock {
            $0 = [
                .fail(status: 503, retryAfter: "0.02", body: #"{"message":"queue full"}"#),
                .fail(status: 429, retryAfter: nil, body: "{}"),
                .fail(status: 502, retryAfter: nil, body: ""),
                .fail(status: 400, retryAfter: nil, body: #"{"code":"malformed","message":"series AAPL: column lengths differ"}"#),
                .fail(status: 413, retryAfter: nil, body: "too big"),
            ]
        }
        let shipper = fixture.shipper(url: collector.url)
        let record = try #require(try fixture.spool.pending(limit: 1).first)
        #expect(await shipper.send(record) == .retry(after: .milliseconds(20), reason: "http_503"))
        #expect(await shipper.send(record) == .retry(after: .zero, reason: "http_429"))
        #expect(await shipper.send(record) == .retry(after: .zero, reason: "http_502"))
        #expect(await shipper.send(record) == .permanent(reason: "HTTP 400: series AAPL: column lengths differ"))
        #expect(await shipper.send(record) == .permanent(reason: "HTTP 413: too big"))
        #expect(await shipper.send(record) == .acked(duplicate: false))
        #expect(await shipper.send(record) == .acked(duplicate: true))
        // A wrong token is not a reason to drop data: retried, not dead-lettered.
        let wrongToken = fixture.shipper(url: collector.url, token: "wrong")
        if case .retry(_, let reason) = await wrongToken.send(record) { #expect(reason == "unauthorized") } else { Issue.record("401 must retry") }
        // Nobody listening: a transport error, retried.
        let nowhere = fixture.shipper(url: "http://127.0.0.1:1")
        #expect(await nowhere.send(record) == .retry(after: .zero, reason: "transport"))
    }

    @Test func deliversInOrderThroughFailuresAndEmptiesTheSpool() async throws {
        let fixture = try Fixture()
        try await fixture.fill(count: 5, bars: 7)
        let collector = try LoopbackCollector(token: "secret")
        collector.state.script.withLock {
            $0 = [
                .fail(status: 503, retryAfter: "0", body: "{}"), .accept, .fail(status: 429, retryAfter: "0", body: "{}"),
                .fail(status: 504, retryAfter: nil, body: ""),
            ]
        }
        let shipper = fixture.shipper(url: collector.url)
        let task = Task { try await shipper.run() }
        let drained = await eventually { fixture.spool.stats.pendingRecords == 0 }
        task.cancel()
        _ = try? await task.value
        #expect(drained)
        let received = collector.state.received.withLock { $0 }
        #expect(received.batches.map(\.sequence) == [1, 2, 3, 4, 5])
        #expect(received.duplicates == 0)
        #expect(collector.bars == 35)
        #expect(received.contentEncodings.allSatisfy { $0 == "gzip" })
        // Each request continues the batch's trace (same trace id as the sealing span, new span id).
        #expect(received.traceparents.allSatisfy { $0.hasPrefix("00-4bf92f3577b34da6a3ce929d0e0e4736-") })
        #expect(!received.traceparents.contains("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"))
        // The shipper's own spans were recorded for the next batch.
        #expect(fixture.tracer.recorder.drain().contains { $0.name == "agent.shipper.send" })
    }

    @Test func permanentRejectionGoesToTheDeadLetterFileAndUnblocksTheRest() async throws {
        let fixture = try Fixture()
        try await fixture.fill(count: 3)
        let collector = try LoopbackCollector(token: "secret")
        collector.state.script.withLock { $0 = [.fail(status: 400, retryAfter: nil, body: #"{"message":"bad batch"}"#)] }
        let shipper = fixture.shipper(url: collector.url, compression: "none")
        let task = Task { try await shipper.run() }
        #expect(await eventually { fixture.spool.stats.pendingRecords == 0 })
        task.cancel()
        _ = try? await task.value
        #expect(collector.state.received.withLock { $0.batches.map(\.sequence) } == [2, 3])
        let lines = try String(contentsOfFile: fixture.directory.path + "/deadletter-batches.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 1)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any])
        #expect(object["sequence"] as? Int == 1)
        #expect((object["reason"] as? String)?.contains("bad batch") == true)
        let payload = try #require(Data(base64Encoded: object["payload_base64"] as? String ?? ""))
        #expect(try SpooledBatch(decoding: [UInt8](payload)).barCount == 10)
    }

    /// A crash right after a spool append leaves the batch out of the checkpoint file; the next start merges the
    /// pending batch in and must write that to the file at once, because the batch may be shipped and deleted before
    /// anything else is sealed — and a second crash would then re-read its bars (found by the kill -9 process test).
    @Test func pendingBatchesMergedAtStartReachTheCheckpointFileBeforeTheyCanBeShipped() async throws {
        let fixture = try Fixture()
        try await fixture.fill(count: 2)
        let path = fixture.directory.path + "/checkpoint.json"
        let checkpoint = try ResumeCheckpoint(path: path, fsync: false, spool: fixture.spool)
        #expect(checkpoint.durableSequence == 2)
        #expect(checkpoint.position(feed: "test", symbol: "S0") == Int64(2 * 1000 + 9) * 60_000)
        // The batches leave the spool (as after a successful shipment) and the process dies before any new seal.
        #expect(fixture.spool.acknowledge(upTo: 2) == 2)
        let restarted = try ResumeCheckpoint(path: path, fsync: false, spool: fixture.spool)
        #expect(restarted.position(feed: "test", symbol: "S0") == Int64(2 * 1000 + 9) * 60_000)
        #expect(restarted.position(feed: "test", symbol: "S2") == Int64(2 * 1000 + 8) * 60_000)
    }
}
