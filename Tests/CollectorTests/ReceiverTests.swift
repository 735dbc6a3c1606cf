import Foundation
import Testing
import VigilHTTP
import VigilStore
import VigilWire

@testable import VigilCollector

/// The receiver over real loopback HTTP: exactly-once effect, and every kind of bad input refused with a status and a
/// reason while what was accepted stays.
@Suite struct ReceiverTests {
    static var stores: [Bool] { ProcessInfo.processInfo.environment["VIGIL_TEST_POSTGRES_URL"] == nil ? [false] : [false, true] }

    @Test(arguments: stores)
    func aBatchTakesEffectOnceAndItsDuplicateIsAcknowledgedAndCounted(postgres: Bool) async throws {
        let collector = try await CollectorHarness.start(postgres: postgres)
        defer { Task { await collector.stop() } }
        let batch = makeBatch(sequence: 1, spikeAt: 40)
        let (first, ack) = try await collector.post(batch, gzip: true)
        #expect(first.status == 200, "\(first.bodyText)")
        #expect(ack?.status == .accepted)
        #expect(ack?.highWaterMark == 1)
        #expect(ack?.barsAccepted == 100)
        let (again, duplicate) = try await collector.post(batch)
        #expect(again.status == 200)
        #expect(duplicate?.status == .duplicate)
        let stats = try await collector.stats()
        #expect(stats["bars"] == 100)
        #expect(stats["batches_accepted"] == 1)
        #expect(stats["duplicates"] == 1)
        #expect(stats["detections"] == batch.detections.count)
        // An older sequence after a newer one is a duplicate too (the high-water mark), a newer one is accepted.
        let (_, next) = try await collector.post(makeBatch(sequence: 3, bars: 10, start: 50))
        #expect(next?.status == .accepted)
        let (_, old) = try await collector.post(makeBatch(sequence: 2, bars: 10, start: 60))
        #expect(old?.status == .duplicate)
        #expect(try await collector.stats()["bars"] == 120)
    }

    @Test func everyKindOfBadInputIsRefusedWithAReasonAndLosesNothing() async throws {
        let collector = try await CollectorHarness.start { config in
            config.server.maxBodyBytes = 64 * 1024
            config.server.maxDecompressedBytes = 256 * 1024
            config.server.maxBarsPerRequest = 500
        }
        defer { Task { await collector.stop() } }
        let good = makeBatch(sequence: 1)
        #expect(try await collector.post(good).1?.status == .accepted)
        let protobuf = [("Content-Type", WireContract.protobufContentType)]
        let valid: [UInt8] = try makeBatch(sequence: 2).serializedBytes()
        var nan = makeBatch(sequence: 2)
        nan.series[0].close[3] = .nan
        var noAgent = makeBatch(sequence: 2)
        noAgent.agentID = ""
        var ragged = makeBatch(sequence: 2)
        ragged.series[0].high.removeLast()
        let zeros = [UInt8](repeating: 0, count: 1_000_000)
        var random = SeededBytes(seed: 7)
        let cases: [(name: String, body: [UInt8], headers: [(String, String)], status: Int, code: String)] = [
            ("random bytes", random.next(4096), protobuf, 400, "malformed"),
            ("truncated protobuf", Array(valid.prefix(valid.count / 2)), protobuf, 400, "malformed"),
            ("truncated gzip", Array(try Gzip.compress(valid).prefix(40)), protobuf + [("Content-Encoding", "gzip")], 400, "malformed"),
            ("not gzip", valid, protobuf + [("Content-Encoding", "gzip")], 400, "malformed"),
            ("gzip bomb", try Gzip.compress(zeros), protobuf + [("Content-Encoding", "gzip")], 413, "too_large"),
            ("huge body", [UInt8](repeating: 1, count: 200 * 1024), protobuf, 413, "too_large"),
            ("too many bars", try makeBatch(sequence: 2, symbols: ["A", "B", "C"], bars: 200).serializedBytes(), protobuf, 413, "too_large"),
            ("wrong content type", valid, [("Content-Type", "text/plain")], 415, "unsupported_media_type"),
            ("no content type", valid, [], 415, "unsupported_media_type"),
            ("unknown encoding", valid, protobuf + [("Content-Encoding", "br")], 415, "unsupported_media_type"),
            ("NaN price", try nan.serializedBytes(), protobuf, 400, "invalid_batch"),
            ("empty agent id", try noAgent.serializedBytes(), protobuf, 400, "invalid_batch"),
            ("ragged columns", try ragged.serializedBytes(), protobuf, 400, "invalid_batch"),
        ]
        for bad in cases {
            let response = try await collector.send(WireContract.batchesPath, body: bad.body, headers: bad.headers)
            #expect(response.status == bad.status, "\(bad.name): \(response.status) \(response.bodyText)")
            let error = (try? JSONSerialization.jsonObject(with: Data(response.body))) as? [String: String]
            #expect(error?["code"] == bad.code, "\(bad.name): \(response.bodyText)")
            let message = error?["message"] ?? ""
            #expect(!message.isEmpty, "\(bad.name): no reason given")
        }
        // Fuzz: mutated valid batches never crash the collector, each gets 200 or a 4xx with a JSON reason.
        for round in 0..<200 {
            var body = valid
            for _ in 0..<(1 + round % 8) { body[Int(random.next(1)[0]) * body.count / 256] ^= random.next(1)[0] | 1 }
            var batch = (try? Vigil_V1_Batch(serializedBytes: body)) ?? Vigil_V1_Batch()
            batch.sequence = 1000 + UInt64(round)
            let payload = (try? batch.serializedBytes()) ?? body
            let response = try await collector.send(WireContract.batchesPath, body: round % 2 == 0 ? payload : body, headers: protobuf)
            #expect([200, 400, 413].contains(response.status), "fuzz round \(round): \(response.status) \(response.bodyText)")
        }
        // The process is alive, what was accepted is still there, and the rejections are counted in the store.
        let stats = try await collector.stats()
        #expect(stats["bars"] ?? 0 >= 100)
        #expect(stats["rejected"] ?? 0 >= cases.count)
        #expect(try await collector.post(makeBatch(sequence: 5000)).1?.status == .accepted)
    }

    @Test func bearerTokensAreCheckedAndScopedToAgents() async throws {
        let token = "s3cret-token"
        let collector = try await CollectorHarness.start { config in
            config.auth.tokens = [.init(name: "fleet-a", sha256: ArtifactDigest.sha256Hex(Array(token.utf8)), agents: ["agent-a"])]
            config.auth.required = true
        }
        defer { Task { await collector.stop() } }
        let batch = makeBatch(sequence: 1)
        #expect(try await collector.post(batch).0.status == 401)
        #expect(try await collector.post(batch, headers: [("Authorization", "Bearer nope")]).0.status == 401)
        #expect(try await collector.post(batch, headers: [("Authorization", "Basic abc")]).0.status == 401)
        let other = makeBatch(agent: "agent-b", sequence: 1)
        let forbidden = try await collector.post(other, headers: [("Authorization", "Bearer \(token)")]).0
        #expect(forbidden.status == 403, "\(forbidden.bodyText)")
        #expect(try await collector.post(batch, headers: [("Authorization", "Bearer \(token)")]).1?.status == .accepted)
        #expect(try await collector.stats()["rejected"] == 4)
    }

    @Test func ingestedJSONBarsGetTier1AndAreIdempotentWithASequence() async throws {
        let collector = try await CollectorHarness.start()
        defer { Task { await collector.stop() } }
        var bars: [String] = []
        var price = 50.0
        for day in 0..<60 {
            price *= day == 45 ? 1.4 : (day % 2 == 0 ? 1.004 : 0.996)
            let volume = day == 45 ? 8_000_000 : 1_000_000
            bars.append(
                #"{"symbol":"XYZ","timestamp_ms":\#(1_704_153_600_000 + Int64(day) * 86_400_000),"interval_seconds":86400,"open":\#(price),"high":\#(price * 1.01),"low":\#(price * 0.99),"close":\#(price),"volume":\#(volume)}"#
            )
        }
        let body = Array(#"{"producer":"etl","sequence":1,"bars":[\#(bars.joined(separator: ","))]}"#.utf8)
        let json = [("Content-Type", "application/json")]
        let response = try await collector.send(WireContract.ingestPath, body: body, headers: json)
        #expect(response.status == 200, "\(response.bodyText)")
        let ack = try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any]
        #expect(ack?["status"] as? String == "accepted")
        #expect(ack?["bars_accepted"] as? Int == 60)
        let events = try await collector.json("/v1/events?symbol=XYZ&tier=1")
        let items = events["items"] as? [[String: Any]] ?? []
        #expect(!items.isEmpty, "the spike on day 45 raised no Tier-1 detection")
        #expect(items.contains { ($0["time"] as? String)?.hasPrefix("2024-02-16") == true })
        #expect(items.allSatisfy { ($0["trace_id"] as? String)?.count == 32 })
        let alerts = try await collector.json("/v1/alerts?symbol=XYZ")
        #expect(!(alerts["items"] as? [Any] ?? []).isEmpty)
        // The same sequence again: acknowledged as a duplicate, nothing added.
        let again = try await collector.send(WireContract.ingestPath, body: body, headers: json)
        #expect((try JSONSerialization.jsonObject(with: Data(again.body)) as? [String: Any])?["status"] as? String == "duplicate")
        #expect(try await collector.stats()["bars"] == 60)
        // Bad documents: a reason naming what is wrong.
        let bad: [(String, String)] = [
            ("{", "malformed"), (#"{"bars":[]}"#, "invalid_batch"), (#"{"bars":[{"symbol":"X","open":1,"high":1,"low":1}]}"#, "malformed"),
            (#"{"bars":[{"symbol":"X","open":"a","high":1,"low":1,"close":1}]}"#, "malformed"),
            (#"{"bars":[{"symbol":"X","open":2,"high":1,"low":1,"close":1,"time":"2024-01-02"}]}"#, "invalid_batch"),
            (#"{"bars":[{"symbol":"X","open":1,"high":1,"low":1,"close":1}]}"#, "invalid_batch"),
            (#"{"sequence":-1,"bars":[{"symbol":"X","open":1,"high":1,"low":1,"close":1,"time":"2024-01-02"}]}"#, "invalid_batch"),
        ]
        for (text, code) in bad {
            let refused = try await collector.send(WireContract.ingestPath, body: Array(text.utf8), headers: json)
            #expect(refused.status == 400, "\(text): \(refused.status)")
            #expect(refused.bodyText.contains("\"code\":\"\(code)\""), "\(text): \(refused.bodyText)")
        }
        // Without a sequence the collector assigns the next one.
        let unsequenced = Array(
            #"{"producer":"etl","bars":[{"symbol":"XYZ","time":"2024-06-03T00:00:00Z","open":60,"high":61,"low":59,"close":60}]}"#.utf8)
        let assigned = try await collector.send(WireContract.ingestPath, body: unsequenced, headers: json)
        #expect((try JSONSerialization.jsonObject(with: Data(assigned.body)) as? [String: Any])?["sequence"] as? Int == 2)
    }
}

/// Deterministic bytes for fuzzing.
struct SeededBytes {
    var state: UInt64
    init(seed: UInt64) { state = seed &* 0x9E37_79B9_7F4A_7C15 | 1 }
    mutating func next(_ count: Int) -> [UInt8] {
        (0..<count).map { _ in
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            return UInt8(truncatingIfNeeded: state)
        }
    }
}

/// Overload answers: a request beyond `max_inflight_requests` gets 503 with `Retry-After` (the agent keeps the batch
/// and retries), and the collector recovers once the slow request is gone.
@Suite struct OverloadTests {
    @Test func requestsBeyondTheInflightBoundGet503WithRetryAfter() async throws {
        let collector = try await CollectorHarness.start { config in
            config.server.maxInflightRequests = 1
            config.server.retryAfterSeconds = 3
        }
        defer { Task { await collector.stop() } }
        // A client that sends headers promising a body and then stalls holds the one in-flight slot. The server picks
        // the stalled connection up asynchronously, so probe (with fresh sequences) until it does, re-stalling if needed.
        var stalls: [StalledUpload] = []
        var refused: HTTPResponse?
        var sequence: UInt64 = 1
        for attempt in 0..<200 where refused?.status != 503 {
            if attempt % 20 == 0 { stalls.append(try StalledUpload(port: collector.port, path: WireContract.batchesPath, contentLength: 4096)) }
            try await Task.sleep(for: .milliseconds(25))
            refused = try await collector.post(makeBatch(sequence: sequence, bars: 1)).0
            sequence += 1
        }
        #expect(refused?.status == 503, "\(refused?.bodyText ?? "")")
        #expect(refused?.header("retry-after") == "3")
        #expect(refused?.bodyText.contains("\"code\":\"unavailable\"") == true)
        for stall in stalls { stall.close() }
        // The slot frees when the stalled requests end; the refused batch is then accepted, once.
        let batch = makeBatch(sequence: 10_000)
        var accepted: Vigil_V1_Ack?
        for _ in 0..<100 where accepted == nil {
            accepted = try await collector.post(batch).1
            if accepted == nil { try await Task.sleep(for: .milliseconds(50)) }
        }
        #expect(accepted?.status == .accepted)
        #expect(try await collector.post(batch).1?.status == .duplicate)
    }

    @Test func mutatedIngestDocumentsNeverCrashTheCollector() async throws {
        let collector = try await CollectorHarness.start()
        defer { Task { await collector.stop() } }
        let valid = Array(
            #"{"producer":"fuzz","bars":[{"symbol":"F","time":"2024-01-02","open":1,"high":2,"low":0.5,"close":1.5,"volume":10},{"symbol":"F","timestamp_ms":1704240000000,"open":1,"high":2,"low":0.5,"close":1.5}]}"#
                .utf8)
        var random = SeededBytes(seed: 11)
        for round in 0..<300 {
            var body = valid
            for _ in 0..<(1 + round % 6) { body[Int(random.next(1)[0]) * body.count / 256] = random.next(1)[0] }
            let response = try await collector.send(WireContract.ingestPath, body: body, headers: [("Content-Type", "application/json")])
            #expect([200, 400, 413].contains(response.status), "round \(round): \(response.status) \(response.bodyText)")
        }
        #expect(try await collector.get("/healthz").status == 200)
    }
}

/// A raw TCP client that sends a request's headers and never its body.
final class StalledUpload: Sendable {
    private let fd: Int32

    init(port: Int, path: String, contentLength: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestFailure("socket() failed") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw TestFailure("connect() failed") }
        let head = Array(
            "POST \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-protobuf\r\nContent-Length: \(contentLength)\r\n\r\nxx"
                .utf8)
        _ = head.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
    }

    func close() { _ = Glibc.close(fd) }
}
