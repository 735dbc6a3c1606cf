// Vigil spool tests: startup recovery from torn tails, bit flips and arbitrary directory content.

import Foundation
import Testing
import VigilSpool

@Suite("Spool recovery")
struct SpoolRecoveryTests {
    /// Appends ids `range` with `testPayload(id, size:)`.
    static func fill(_ spool: Spool, _ range: ClosedRange<UInt64>, size: (UInt64) -> Int) async throws {
        for id in range {
            try await spool.append(id: id, payload: testPayload(id, size: size(id)))
        }
    }

    static func expectIntact(_ records: [SpoolRecord], size: (UInt64) -> Int, sourceLocation: SourceLocation = #_sourceLocation) {
        for record in records {
            #expect(record.payload == testPayload(record.id, size: size(record.id)), "record \(record.id)", sourceLocation: sourceLocation)
        }
    }

    @Test("A torn last record is cut off; every complete record survives; appending continues")
    func tornTail() async throws {
        let directory = TemporaryDirectory()
        let size = { (id: UInt64) in 100 + Int(id) * 37 }
        var spool = try openSpool(directory.spool, segmentMaxBytes: 1 << 20)
        try await Self.fill(spool, 1...10, size: size)
        spool.close()

        let segment = try #require(segmentFiles(directory.spool).first)
        let full = fileSize(segment)
        #expect(full == (1...10).reduce(0) { $0 + recordBytes(size($1)) })
        // Cut record 10 in the middle of its payload.
        let cut = 10
        try FileHandle(forWritingTo: URL(fileURLWithPath: segment)).truncate(atOffset: UInt64(full - cut))

        let logs = RecordingLogs()
        let metrics = RecordingMetrics()
        spool = try openSpool(directory.spool, segmentMaxBytes: 1 << 20, logs: logs, metrics: metrics)
        var records = try spool.pending(limit: 100)
        #expect(records.map(\.id) == Array(1...9))
        Self.expectIntact(records, size: size)
        #expect(spool.lastRecordID == 9)
        #expect(spool.stats.recoveredTruncatedBytes == recordBytes(size(10)) - cut)
        #expect(spool.stats.droppedCorruptRecords == 0)
        #expect(metrics.value("vigil_agent_spool_recovered_truncated_bytes_total") == Double(recordBytes(size(10)) - cut))
        #expect(fileSize(segment) == full - recordBytes(size(10)))
        let warning = logs.messages(atLeast: .warning).first { $0.message.contains("torn") }
        #expect(warning?.metadata["spool.truncated_bytes"] == "\(recordBytes(size(10)) - cut)")

        // The torn id is free again and the reopened segment takes new records after the cut.
        try await Self.fill(spool, 10...12, size: size)
        spool.close()

        // Garbage after the last record (a half-written header, then random bytes) is cut too.
        for garbage in [[0x8E, 0x56, 0x53, 0x01, 0x10] as [UInt8], testPayload(99, size: 3000)] {
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: segment))
            try handle.seekToEnd()
            handle.write(Data(garbage))
            try handle.close()
            spool = try openSpool(directory.spool, segmentMaxBytes: 1 << 20)
            records = try spool.pending(limit: 100)
            #expect(records.map(\.id) == Array(1...12))
            Self.expectIntact(records, size: size)
            #expect(spool.stats.recoveredTruncatedBytes == garbage.count)
            spool.close()
        }
        #expect(segmentFiles(directory.spool).count == 1)
    }

    @Test("A newest segment with no intact record at all is removed")
    func tornFirstRecordOfNewSegment() async throws {
        let directory = TemporaryDirectory()
        var spool = try openSpool(directory.spool)
        try await Self.fill(spool, 1...3, size: { _ in 500 })
        spool.close()
        // A crash right after creating the next segment, in the middle of its first header.
        writeFile(directory.spool + "/00000000000000000004.seg", [0x8E, 0x56, 0x53])
        spool = try openSpool(directory.spool)
        #expect(try spool.pending(limit: 10).map(\.id) == [1, 2, 3])
        #expect(spool.stats.recoveredTruncatedBytes == 3)
        #expect(segmentFiles(directory.spool).count == 1)
        try await spool.append(id: 4, payload: [1, 2, 3])
        #expect(try spool.pending(limit: 10).map(\.id) == [1, 2, 3, 4])
        spool.close()
    }

    @Test("Bit flips in older segments lose only the damaged records, which are counted")
    func bitFlipInOlderSegments() async throws {
        let directory = TemporaryDirectory()
        let size = { (_: UInt64) in 500 }
        let record = recordBytes(500)  // 528: 7 records per 4096-byte segment
        var spool = try openSpool(directory.spool, segmentMaxBytes: 4096)
        try await Self.fill(spool, 1...30, size: size)
        spool.close()
        let segments = segmentFiles(directory.spool)
        #expect(segments.count == 5)
        let sizesBefore = segments.map(fileSize)

        func flip(_ path: String, at offset: Int, bit: UInt8) throws {
            var bytes = readFile(path)
            bytes[offset] ^= bit
            writeFile(path, bytes)
        }
        // Record 3 (segment 1, third record): a payload bit.
        try flip(segments[0], at: 2 * record + 28 + 100, bit: 0x10)
        // Record 10 (segment 2, third record): the length field, so the record's extent is wrong too.
        try flip(segments[1], at: 2 * record + 6, bit: 0x01)
        // Record 21 (segment 3, last record): damage at the end of an older segment is corruption, not a torn tail.
        try flip(segments[2], at: 6 * record + 13, bit: 0x80)

        let logs = RecordingLogs()
        let metrics = RecordingMetrics()
        spool = try openSpool(directory.spool, segmentMaxBytes: 4096, logs: logs, metrics: metrics)
        var records = try spool.pending(limit: 100)
        let expected = (1...30).filter { ![3, 10, 21].contains($0) }
        #expect(records.map(\.id) == expected.map(UInt64.init))
        Self.expectIntact(records, size: size)
        #expect(spool.stats.droppedCorruptRecords == 3)
        #expect(spool.stats.recoveredTruncatedBytes == 0)
        #expect(metrics.value("vigil_agent_spool_dropped_records_total", [("reason", "corrupt")]) == 3)
        #expect(logs.messages(atLeast: .warning).filter { $0.message.contains("corrupt") }.count == 3)
        #expect(segmentFiles(directory.spool).map(fileSize) == sizesBefore, "older segments are not rewritten")
        #expect(spool.lastRecordID == 30)

        // Damage after recovery is caught when the record is read back: skipped, counted, no longer pending.
        try flip(segments[3], at: 3 * record + 28 + 1, bit: 0x04)  // record 25
        records = try spool.pending(limit: 100)
        #expect(!records.contains { $0.id == 25 })
        #expect(records.count == expected.count - 1)
        Self.expectIntact(records, size: size)
        #expect(spool.stats.droppedCorruptRecords == 4)
        #expect(spool.stats.pendingRecords == records.count)
        #expect(metrics.value("vigil_agent_spool_dropped_records_total", [("reason", "corrupt")]) == 4)
        spool.close()
    }

    @Test("Random garbage, truncations and stray files never crash recovery or surface a wrong record")
    func fuzzedDirectories() async throws {
        // One real spool to mutate: 40 records of 10..1500 bytes over ~12 segments.
        let golden = TemporaryDirectory()
        let size = { (id: UInt64) in 10 + Int(id &* 7919 % 1490) }
        let spool = try openSpool(golden.spool, segmentMaxBytes: 4096)
        try await Self.fill(spool, 1...40, size: size)
        spool.acknowledge(upTo: 5)
        spool.close()
        let goldenFiles = try FileManager.default.contentsOfDirectory(atPath: golden.spool).filter { $0 != "lock" }
        let goldenBytes = Dictionary(uniqueKeysWithValues: goldenFiles.map { ($0, readFile(golden.spool + "/" + $0)) })

        let seed = UInt64.random(in: 0...UInt64.max)
        var random = SplitMix64(seed: seed)
        for iteration in 0..<150 {
            let directory = TemporaryDirectory()
            try FileManager.default.createDirectory(atPath: directory.spool, withIntermediateDirectories: true)
            for (name, bytes) in goldenBytes {
                writeFile(directory.spool + "/" + name, bytes)
            }
            for _ in 0..<Int.random(in: 1...6, using: &random) {
                Self.mutate(directory.spool, using: &random)
            }
            let context: Comment = "seed \(seed) iteration \(iteration)"
            let reopened = try openSpool(directory.spool, segmentMaxBytes: 4096)
            let records = try reopened.pending(limit: 1000)
            let ids = records.map(\.id)
            #expect(ids == ids.sorted() && Set(ids).count == ids.count, context)
            for record in records {
                #expect(record.payload == testPayload(record.id, size: size(record.id)), context)
            }
            #expect(reopened.stats.pendingRecords == records.count, context)
            let next = (reopened.lastRecordID ?? 0) + 1
            try await reopened.append(id: next, payload: [7, 7, 7])
            reopened.close()
            let again = try openSpool(directory.spool, segmentMaxBytes: 4096)
            #expect(try again.pending(limit: 1000).last?.id == next, context)
            again.close()
        }
    }

    /// One random mutation of a spool directory: a bit flip, a truncation, garbage appended or written over, a file
    /// removed or duplicated under another segment name, a random `ack` file, stray files and directories.
    static func mutate(_ directory: String, using random: inout SplitMix64) {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { $0 != "lock" }.sorted()
        let pick = names.isEmpty ? nil : names[Int.random(in: 0..<names.count, using: &random)]
        // Mutations may collide with a directory made by an earlier one; such a write simply does not happen.
        func writeFile(_ path: String, _ bytes: [UInt8]) {
            _ = FileManager.default.createFile(atPath: path, contents: Data(bytes))
        }
        func garbage(_ count: Int) -> [UInt8] {
            (0..<count).map { _ in UInt8(truncatingIfNeeded: random.next()) }
        }
        switch Int.random(in: 0..<10, using: &random) {
        case 0, 1:
            guard let pick else { return }
            var bytes = readFile(directory + "/" + pick)
            guard !bytes.isEmpty else { return }
            bytes[Int.random(in: 0..<bytes.count, using: &random)] ^= 1 << UInt8.random(in: 0..<8, using: &random)
            writeFile(directory + "/" + pick, bytes)
        case 2:
            guard let pick else { return }
            let bytes = readFile(directory + "/" + pick)
            writeFile(directory + "/" + pick, Array(bytes.prefix(Int.random(in: 0...bytes.count, using: &random))))
        case 3:
            guard let pick else { return }
            writeFile(directory + "/" + pick, readFile(directory + "/" + pick) + garbage(Int.random(in: 1...5000, using: &random)))
        case 4:
            guard let pick else { return }
            var bytes = readFile(directory + "/" + pick)
            guard bytes.count > 1 else { return }
            let start = Int.random(in: 0..<bytes.count, using: &random)
            let end = min(bytes.count, start + Int.random(in: 1...600, using: &random))
            let fill = Bool.random(using: &random) ? [UInt8](repeating: 0, count: end - start) : garbage(end - start)
            bytes.replaceSubrange(start..<end, with: fill)
            writeFile(directory + "/" + pick, bytes)
        case 5:
            guard let pick else { return }
            if Bool.random(using: &random) {
                try? FileManager.default.removeItem(atPath: directory + "/" + pick)
            } else {
                let id = UInt64.random(in: 0...60, using: &random)
                let name = String(repeating: "0", count: 20 - String(id).count) + String(id) + ".seg"
                writeFile(directory + "/" + name, readFile(directory + "/" + pick))
            }
        case 6:
            // An ack file that is garbage, or a valid-looking header with random content.
            var bytes = Array("VSAK".utf8) + [1, 0, 0, 0] + garbage(Int.random(in: 0...64, using: &random))
            if Bool.random(using: &random) { bytes = garbage(Int.random(in: 0...100, using: &random)) }
            writeFile(directory + "/ack", bytes)
        case 7:
            // A segment-named file of pure garbage, sometimes made of record-looking headers with random lengths.
            let id = UInt64.random(in: 0...UInt64.max, using: &random)
            let name = String(repeating: "0", count: max(0, 20 - String(id).count)) + String(id) + ".seg"
            var bytes: [UInt8] = []
            for _ in 0..<Int.random(in: 0...20, using: &random) {
                bytes += [0x8E, 0x56, 0x53, 0x01] + garbage(Int.random(in: 0...40, using: &random))
            }
            writeFile(directory + "/" + name, bytes + garbage(Int.random(in: 0...300, using: &random)))
        case 8:
            try? FileManager.default.createDirectory(
                atPath: directory + "/0000000000000000" + String(Int.random(in: 1000...9999, using: &random)) + ".seg",
                withIntermediateDirectories: true
            )
        default:
            writeFile(directory + "/" + ["README", "ack.tmp", ".seg", "1.seg", "x.seg.tmp"][Int.random(in: 0..<5, using: &random)], garbage(100))
        }
    }
}
