// Vigil spool tests: acknowledgements delete segments and survive restarts; ids, sizes and reads behave.

import Foundation
import Testing
import VigilSpool

@Suite("Spool acknowledgements")
struct SpoolAckTests {
    @Test("Acks delete whole segments and persist across reopen, in order and out of order")
    func acknowledgementsPersist() async throws {
        let directory = TemporaryDirectory()
        let metrics = RecordingMetrics()
        var spool = try openSpool(directory.spool, segmentMaxBytes: 4096, metrics: metrics)
        for id in UInt64(1)...20 {
            try await spool.append(id: id, payload: testPayload(id, size: 500))  // 7 records per segment
        }
        #expect(
            segmentFiles(directory.spool).map { URL(fileURLWithPath: $0).lastPathComponent } == [
                "00000000000000000001.seg", "00000000000000000008.seg", "00000000000000000015.seg",
            ])
        #expect(metrics.value("vigil_agent_spool_appends_total") == 20)
        #expect(metrics.value("vigil_agent_spool_records") == 20)
        #expect(metrics.value("vigil_agent_spool_segments") == 3)

        #expect(spool.acknowledge(upTo: 9) == 9)
        #expect(segmentFiles(directory.spool).count == 2)
        #expect(try spool.pending(limit: 1).first?.id == 10)
        #expect(spool.acknowledge(id: 12))
        #expect(!spool.acknowledge(id: 12))
        #expect(!spool.acknowledge(id: 999))
        #expect(spool.stats.pendingRecords == 10)
        #expect(metrics.value("vigil_agent_spool_records") == 10)
        #expect(metrics.value("vigil_agent_spool_segments") == 2)
        #expect(metrics.value("vigil_agent_spool_bytes") == Double(spool.stats.bytes))
        spool.close()

        spool = try openSpool(directory.spool, segmentMaxBytes: 4096)
        #expect(try spool.pending(limit: 100).map(\.id) == [10, 11] + Array(13...20))
        #expect(try spool.pending(after: 11, limit: 3).map(\.id) == [13, 14, 15])
        #expect(spool.lastRecordID == 20)

        #expect(spool.acknowledge(upTo: 20) == 10)
        // The active segment stays (it is still being appended to) but nothing in it is pending.
        #expect(segmentFiles(directory.spool).count == 1)
        #expect(spool.stats.pendingRecords == 0)
        #expect(spool.stats.oldestPendingAgeSeconds == 0)
        spool.close()

        spool = try openSpool(directory.spool, segmentMaxBytes: 4096)
        #expect(try spool.pending(limit: 100).isEmpty)
        #expect(segmentFiles(directory.spool).isEmpty, "a fully acknowledged segment is deleted at startup")
        #expect(spool.lastRecordID == 20, "the ack file remembers the sequence after all segments are gone")
        let error = await #expect(throws: SpoolError.self) { try await spool.append(id: 20, payload: [1]) }
        #expect(error?.code == .nonMonotonicID)
        try await spool.append(id: 21, payload: [1])
        #expect(segmentFiles(directory.spool).map { URL(fileURLWithPath: $0).lastPathComponent } == ["00000000000000000021.seg"])
        spool.close()
    }

    @Test("Out-of-order acks beyond the first pending record survive a restart")
    func sparseAcknowledgements() async throws {
        let directory = TemporaryDirectory()
        var spool = try openSpool(directory.spool)
        for id in UInt64(1)...6 {
            try await spool.append(id: id, payload: [UInt8(id)])
        }
        spool.acknowledge(id: 2)
        spool.acknowledge(id: 5)
        spool.close()
        spool = try openSpool(directory.spool)
        #expect(try spool.pending(limit: 10).map(\.id) == [1, 3, 4, 6])
        spool.acknowledge(id: 1)
        spool.close()
        spool = try openSpool(directory.spool)
        #expect(try spool.pending(limit: 10).map(\.id) == [3, 4, 6])
        spool.close()
    }

    @Test("Records too large for a segment are refused; ids must increase; a closed spool refuses appends")
    func appendPreconditions() async throws {
        let directory = TemporaryDirectory()
        let spool = try openSpool(directory.spool, segmentMaxBytes: 4096)
        let tooLarge = await #expect(throws: SpoolError.self) {
            try await spool.append(id: 1, payload: [UInt8](repeating: 0, count: 4096 - Spool.recordHeaderBytes + 1))
        }
        #expect(tooLarge?.code == .recordTooLarge)
        try await spool.append(id: 1, payload: [UInt8](repeating: 0, count: 4096 - Spool.recordHeaderBytes))
        try await spool.append(id: 5, payload: [])
        let backwards = await #expect(throws: SpoolError.self) { try await spool.append(id: 3, payload: [1]) }
        #expect(backwards?.code == .nonMonotonicID)
        #expect(try spool.pending(limit: 10).map(\.id) == [1, 5])
        #expect(try spool.pending(limit: 10).last?.payload == [])
        spool.close()
        spool.close()
        let closed = await #expect(throws: SpoolError.self) { try await spool.append(id: 6, payload: [1]) }
        #expect(closed?.code == .closed)
    }

    @Test("Only one spool per directory")
    func directoryLock() throws {
        let directory = TemporaryDirectory()
        let first = try openSpool(directory.spool)
        let error = try #require(throws: SpoolError.self) { try openSpool(directory.spool) }
        #expect(error.code == .locked)
        first.close()
        let second = try openSpool(directory.spool)
        second.close()
    }

    @Test("fsync policies sync when they promise to, and flush() syncs on demand")
    func fsyncPolicies() async throws {
        let directory = TemporaryDirectory()
        let metrics = RecordingMetrics()
        var spool = try openSpool(directory.spool, fsync: .always, metrics: metrics)
        try await spool.append(id: 1, payload: [1])
        try await spool.append(id: 2, payload: [2])
        // Two data syncs plus one directory sync for the new segment.
        #expect(metrics.timerCount("vigil_agent_spool_fsync_seconds") == 3)
        spool.close()

        let neverMetrics = RecordingMetrics()
        spool = try openSpool(directory.spool, fsync: .never, metrics: neverMetrics)
        try await spool.append(id: 3, payload: [3])
        #expect(neverMetrics.timerCount("vigil_agent_spool_fsync_seconds") == 0)
        try spool.flush()
        // The reopened segment's data (the directory entry was synced when `.always` created it).
        #expect(neverMetrics.timerCount("vigil_agent_spool_fsync_seconds") == 1)
        spool.close()

        let intervalMetrics = RecordingMetrics()
        let configuration = SpoolConfiguration(directory: directory.spool, fsync: .interval, fsyncIntervalMilliseconds: 60_000)
        spool = try Spool(configuration: configuration, logger: RecordingLogs().logger, metricsFactory: intervalMetrics)
        try await spool.append(id: 4, payload: [4])
        try await spool.append(id: 5, payload: [5])
        #expect(intervalMetrics.timerCount("vigil_agent_spool_fsync_seconds") == 0, "the interval has not elapsed")
        spool.close()  // flushes
        #expect(intervalMetrics.timerCount("vigil_agent_spool_fsync_seconds") == 1)
    }

    @Test("run() syncs pending data under fsync: interval and returns when cancelled")
    func runSyncsPeriodically() async throws {
        let directory = TemporaryDirectory()
        let metrics = RecordingMetrics()
        let configuration = SpoolConfiguration(directory: directory.spool, fsync: .interval, fsyncIntervalMilliseconds: 20)
        let spool = try Spool(configuration: configuration, logger: RecordingLogs().logger, metricsFactory: metrics)
        let runner = Task { await spool.run() }
        try await spool.append(id: 1, payload: [1])
        // Whether the append itself or run() syncs depends on timing; either way the data gets synced without
        // another append or a flush.
        #expect(await eventually { metrics.timerCount("vigil_agent_spool_fsync_seconds") >= 1 })
        runner.cancel()
        await runner.value
        spool.close()
    }

    @Test("Gauges track appends and the age of the oldest pending record")
    func gauges() async throws {
        let directory = TemporaryDirectory()
        let metrics = RecordingMetrics()
        let spool = try openSpool(directory.spool, metrics: metrics)
        try await spool.append(id: 1, payload: [1, 2, 3])
        #expect(metrics.value("vigil_agent_spool_records") == 1)
        #expect(metrics.value("vigil_agent_spool_bytes") == Double(recordBytes(3)))
        spool.refreshGauges()
        let age = try #require(metrics.value("vigil_agent_spool_oldest_age_seconds"))
        #expect(age >= 0 && age < 60)
        let record = try #require(try spool.pending(limit: 1).first)
        let now = UInt64(Date().timeIntervalSince1970 * 1000)
        #expect(record.appendedAtMilliseconds <= now && now - record.appendedAtMilliseconds < 60_000)
        spool.close()
    }
}
