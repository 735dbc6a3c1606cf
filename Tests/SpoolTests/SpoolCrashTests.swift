// Vigil spool tests: SIGKILL a real writer process mid-append, repeatedly, and hold the spool to its promises.

import Foundation
import Testing
import VigilSpool

#if canImport(Glibc)
    import Glibc
#endif

@Suite("Spool crash safety")
struct SpoolCrashTests {
    static let writerName = "vigil-spool-crash-writer"
    /// Small segments, so kills land around segment rolls and acks delete files between rounds.
    static let segmentMaxBytes = 256 * 1024

    /// The writer binary: `VIGIL_SPOOL_CRASH_WRITER`, else next to the test runner. SwiftPM puts both in
    /// `<scratch>/debug/`; on Linux the runner is `<scratch>/debug/<package>PackageTests.xctest`, which is
    /// `CommandLine.arguments[0]` and `Bundle.main.bundlePath` (its directory) alike.
    static func writerPath() -> (path: String?, searched: [String]) {
        if let override = ProcessInfo.processInfo.environment["VIGIL_SPOOL_CRASH_WRITER"] {
            return (FileManager.default.isExecutableFile(atPath: override) ? override : nil, [override])
        }
        let runner = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        let directories = [
            runner.deletingLastPathComponent(),
            Bundle.main.bundleURL,
            Bundle.main.bundleURL.deletingLastPathComponent(),
        ]
        let candidates = directories.map { $0.appendingPathComponent(writerName).path }
        return (candidates.first { FileManager.default.isExecutableFile(atPath: $0) }, candidates)
    }

    /// Reads the writer's stdout until it has printed `lines` ids (or exited), with a generous stall guard.
    static func readLines(_ fd: Int32, into buffer: inout [UInt8], until lines: Int) -> Bool {
        var chunk = [UInt8](repeating: 0, count: 4096)
        while buffer.reduce(0, { $0 + ($1 == UInt8(ascii: "\n") ? 1 : 0) }) < lines {
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&poller, 1, 60_000)
            if ready == 0 { return false }  // 60 s without output: the writer is stuck
            if ready < 0 { if errno == EINTR { continue } else { return false } }
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count <= 0 { return true }  // writer exited
            buffer.append(contentsOf: chunk[0..<count])
        }
        return true
    }

    /// Complete lines only: a line cut by the kill was never fully printed, so it promises nothing.
    static func printedIDs(_ buffer: [UInt8]) -> [UInt64] {
        let complete = buffer.lastIndex(of: UInt8(ascii: "\n")).map { buffer[...$0] } ?? []
        return complete.split(separator: UInt8(ascii: "\n")).compactMap { UInt64(String(decoding: $0, as: UTF8.self)) }
    }

    @Test("SIGKILL mid-append loses nothing the writer reported as appended, and the spool stays usable")
    func killedWriterLosesNothingAcknowledged() async throws {
        let (path, searched) = Self.writerPath()
        let writer = try #require(
            path,
            """
            \(Self.writerName) not found (looked for \(searched)). Build it before the tests: \
            swift build --product \(Self.writerName) (with the same --scratch-path), or set VIGIL_SPOOL_CRASH_WRITER.
            """
        )
        let directory = TemporaryDirectory()
        let seed = UInt64.random(in: 0...UInt64.max)
        var random = SplitMix64(seed: seed)
        let tag = "[seed \(seed)]"
        var acknowledgedThrough: UInt64 = 0
        var printedTotal = 0

        for round in 1...8 {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: writer)
            process.arguments = [directory.spool, "100000000", String(Self.segmentMaxBytes)]
            let output = Pipe()
            process.standardOutput = output
            let errorLog = directory.path + "/writer-\(round).stderr"
            _ = FileManager.default.createFile(atPath: errorLog, contents: nil)
            process.standardError = FileHandle(forWritingAtPath: errorLog)
            try process.run()
            try output.fileHandleForWriting.close()

            // Let it run a random short while: usually a random number of fsynced appends plus a random few hundred
            // µs, so the kill lands at an arbitrary point of the next append; sometimes a few ms from the start, so it
            // lands in recovery (truncating, deleting acked segments, reopening).
            var buffer: [UInt8] = []
            let fd = output.fileHandleForReading.fileDescriptor
            var progressed = true
            if round % 4 == 3 {
                usleep(UInt32.random(in: 0...20_000, using: &random))
            } else {
                progressed = Self.readLines(fd, into: &buffer, until: Int.random(in: 1...40, using: &random))
                usleep(UInt32.random(in: 0...3000, using: &random))
            }
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            _ = Self.readLines(fd, into: &buffer, until: Int.max)
            try output.fileHandleForReading.close()
            let stderr = String(decoding: readFile(errorLog), as: UTF8.self)
            try #require(progressed, "round \(round): the writer stalled. stderr: \(stderr) \(tag)")
            #expect(process.terminationReason == .uncaughtSignal, "round \(round): the writer exited early. stderr: \(stderr) \(tag)")

            let printed = Self.printedIDs(buffer)
            printedTotal += printed.count
            let spool = try openSpool(directory.spool, segmentMaxBytes: Self.segmentMaxBytes, maxTotalBytes: 1 << 30, fsync: .always)
            let last = spool.lastRecordID ?? 0
            #expect(last >= printed.last ?? 0, "round \(round): an id reported as appended is missing \(tag)")
            let records = try spool.pending(limit: Int.max)
            let ids = records.map(\.id)
            // Everything from the first unacknowledged id up to the last one on disk, without a gap.
            let expected = last > acknowledgedThrough ? Array((acknowledgedThrough + 1)...last) : []
            #expect(ids == expected, "round \(round) \(tag)")
            #expect(Set(printed.filter { $0 > acknowledgedThrough }).isSubset(of: Set(ids)), "round \(round) \(tag)")
            for record in records where record.payload != CrashPayload.payload(for: record.id) {
                Issue.record("round \(round): payload of record \(record.id) differs. \(tag)")
            }
            #expect(spool.stats.droppedCorruptRecords == 0, "round \(round): a kill must only ever tear the tail \(tag)")

            // Acknowledge a random prefix, so the next round also checks that acks (and segment deletions) persist.
            acknowledgedThrough = UInt64.random(in: acknowledgedThrough...last, using: &random)
            spool.acknowledge(upTo: acknowledgedThrough)
            spool.close()
        }

        #expect(printedTotal > 0, "the writer never got to append \(tag)")

        // The recovered spool keeps working: append from this process, reopen, read everything back.
        var spool = try openSpool(directory.spool, segmentMaxBytes: Self.segmentMaxBytes, maxTotalBytes: 1 << 30, fsync: .always)
        let resumeAfter = spool.lastRecordID ?? 0
        for id in (resumeAfter + 1)...(resumeAfter + 20) {
            try await spool.append(id: id, payload: CrashPayload.payload(for: id))
        }
        spool.close()
        spool = try openSpool(directory.spool, segmentMaxBytes: Self.segmentMaxBytes, maxTotalBytes: 1 << 30, fsync: .always)
        let records = try spool.pending(limit: Int.max)
        #expect(records.map(\.id) == Array((acknowledgedThrough + 1)...(resumeAfter + 20)), "\(tag)")
        #expect(records.allSatisfy { $0.payload == CrashPayload.payload(for: $0.id) }, "\(tag)")
        spool.acknowledge(upTo: resumeAfter + 20)
        #expect(spool.stats.pendingRecords == 0)
        spool.close()
    }
}
