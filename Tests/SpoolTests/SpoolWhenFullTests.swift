// Vigil spool tests: what a full spool does under `whenFull: block` and `whenFull: dropOldest`.

import Testing
import VigilSpool

/// Polls `condition` until it holds, for at most `timeout`. Used to wait for another task to reach a state (an append
/// parked on the spool), never to assert how long something takes.
func eventually(timeout: Duration = .seconds(60), _ condition: () -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + timeout
    while !condition() {
        if ContinuousClock.now >= deadline { return false }
        try? await Task.sleep(for: .milliseconds(1))
    }
    return true
}

@Suite("Spool when full")
struct SpoolWhenFullTests {
    /// 1000-byte records: four fill a 4096-byte segment, eight fill the 8192-byte spool.
    static let payloadSize = 1000 - Spool.recordHeaderBytes

    static func fullSpool(_ directory: TemporaryDirectory, whenFull: SpoolConfiguration.WhenFull, metrics: RecordingMetrics = RecordingMetrics())
        async throws -> Spool
    {
        let spool = try openSpool(directory.spool, segmentMaxBytes: 4096, maxTotalBytes: 8192, whenFull: whenFull, metrics: metrics)
        for id in UInt64(1)...8 {
            try await spool.append(id: id, payload: testPayload(id, size: payloadSize))
        }
        #expect(spool.stats.bytes == 8000)
        return spool
    }

    @Test("block: appends wait for an ack that frees a segment, then land in arrival order")
    func blockWaitsForAcknowledgement() async throws {
        let directory = TemporaryDirectory()
        let spool = try await Self.fullSpool(directory, whenFull: .block)
        let first = Task { try await spool.append(id: 9, payload: testPayload(9, size: Self.payloadSize)) }
        #expect(await eventually { spool.stats.waitingAppends == 1 })
        let second = Task { try await spool.append(id: 10, payload: testPayload(10, size: Self.payloadSize)) }
        #expect(await eventually { spool.stats.waitingAppends == 2 })
        #expect(spool.stats.pendingRecords == 8)
        #expect(spool.lastRecordID == 8)

        // Records 3 and 4 still pin the first segment: no space yet.
        spool.acknowledge(upTo: 2)
        #expect(spool.stats.waitingAppends == 2)
        #expect(spool.stats.pendingRecords == 6)

        spool.acknowledge(upTo: 4)
        try await first.value
        try await second.value
        #expect(spool.stats.waitingAppends == 0)
        #expect(try spool.pending(limit: 100).map(\.id) == Array(5...10))
        #expect(spool.stats.droppedRecords == 0)
        spool.close()
    }

    @Test("block: a waiting append can be cancelled, and close() fails waiting appends")
    func blockCancellationAndClose() async throws {
        let directory = TemporaryDirectory()
        let spool = try await Self.fullSpool(directory, whenFull: .block)
        let cancelled = Task { try await spool.append(id: 9, payload: testPayload(9, size: Self.payloadSize)) }
        #expect(await eventually { spool.stats.waitingAppends == 1 })
        cancelled.cancel()
        let cancellation = await cancelled.result
        #expect(throws: CancellationError.self) { try cancellation.get() }
        #expect(spool.stats.waitingAppends == 0)
        #expect(spool.lastRecordID == 8)

        let closed = Task { try await spool.append(id: 9, payload: testPayload(9, size: Self.payloadSize)) }
        #expect(await eventually { spool.stats.waitingAppends == 1 })
        spool.close()
        let closing = await closed.result
        let error = #expect(throws: SpoolError.self) { try closing.get() }
        #expect(error?.code == .closed)
    }

    @Test("dropOldest: the oldest segment goes, its pending records are counted, acked ones are not")
    func dropOldest() async throws {
        let directory = TemporaryDirectory()
        let metrics = RecordingMetrics()
        let logs = RecordingLogs()
        let spool = try await Self.fullSpool(directory, whenFull: .dropOldest, metrics: metrics)
        try await spool.append(id: 9, payload: testPayload(9, size: Self.payloadSize))
        #expect(spool.stats.droppedFullRecords == 4)
        #expect(try spool.pending(limit: 100).map(\.id) == Array(5...9))
        #expect(metrics.value("vigil_agent_spool_dropped_records_total", [("reason", "full_drop_oldest")]) == 4)

        // Records 5 and 6 are acknowledged, so dropping their segment loses only 7 and 8.
        spool.acknowledge(upTo: 6)
        for id in UInt64(10)...13 {
            try await spool.append(id: id, payload: testPayload(id, size: Self.payloadSize))
        }
        #expect(spool.stats.droppedFullRecords == 6)
        #expect(try spool.pending(limit: 100).map(\.id) == Array(9...13))
        #expect(spool.stats.bytes <= 8192)
        #expect(metrics.value("vigil_agent_spool_dropped_records_total", [("reason", "full_drop_oldest")]) == 6)
        spool.close()
        _ = logs
    }

    @Test("dropOldest logs each drop with its count")
    func dropOldestLogs() async throws {
        let directory = TemporaryDirectory()
        let logs = RecordingLogs()
        let spool = try openSpool(directory.spool, segmentMaxBytes: 4096, maxTotalBytes: 4096, whenFull: .dropOldest, logs: logs)
        for id in UInt64(1)...5 {
            try await spool.append(id: id, payload: testPayload(id, size: Self.payloadSize))
        }
        let drops = logs.messages(atLeast: .warning).filter { $0.message.contains("dropped") }
        #expect(drops.count == 1)
        #expect(drops.first?.metadata["spool.dropped_records"] == "4")
        #expect(try spool.pending(limit: 10).map(\.id) == [5])
        spool.close()
    }
}
