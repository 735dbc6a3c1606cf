// Vigil spool crash writer: appends to a spool until killed, so SpoolTests can check what survives SIGKILL.
//
//   vigil-spool-crash-writer DIR COUNT [SEGMENT_MAX_BYTES]
//       Opens a spool on DIR with fsync=always, continues after its lastRecordID and appends ids up to COUNT with
//       `CrashPayload.payload(for:)`. After each append returns (so after its fsync) prints the id on its own line to
//       stdout; a printed id is a promise the test holds the spool to after killing this process at any instant.
//
//   vigil-spool-crash-writer --bench DIR COUNT PAYLOAD_BYTES [always|interval|never] [--appends-only]
//       Measures append latency and throughput (build with -c release for meaningful numbers), read-back and recovery
//       speed, and the CRC-32C rate. DIR should be new or empty.

import Logging
import VigilSpool

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Writes a line to stdout with one `write(2)`: no stdio buffer that a SIGKILL could strand, no shared C `stdout`.
func emit(_ line: String) {
    var text = line + "\n"
    text.withUTF8 { buffer in
        var offset = 0
        while offset < buffer.count {
            let written = write(1, buffer.baseAddress.map { $0 + offset }, buffer.count - offset)
            if written < 0 {
                if errno == EINTR { continue }
                exit(3)
            }
            offset += written
        }
    }
}

func fail(_ message: String) -> Never {
    var text = "vigil-spool-crash-writer: " + message + "\n"
    text.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
    exit(2)
}

let logger = Logger(label: "vigil.spool.crash-writer") { StreamLogHandler.standardError(label: $0) }

func runCrashWriter(_ arguments: [String]) async throws {
    guard arguments.count == 2 || arguments.count == 3, let count = UInt64(arguments[1]) else {
        fail("usage: vigil-spool-crash-writer DIR COUNT [SEGMENT_MAX_BYTES]")
    }
    var configuration = SpoolConfiguration(directory: arguments[0], fsync: .always)
    if arguments.count == 3 {
        guard let segmentMaxBytes = Int(arguments[2]) else { fail("SEGMENT_MAX_BYTES must be an integer") }
        configuration.segmentMaxBytes = segmentMaxBytes
    }
    let spool = try Spool(configuration: configuration, logger: logger)
    let first = (spool.lastRecordID ?? 0) + 1
    if first <= count {
        for id in first...count {
            try await spool.append(id: id, payload: CrashPayload.payload(for: id))
            emit(String(id))
        }
    }
    spool.close()
}

func runBenchmark(_ allArguments: [String]) async throws {
    // `--appends-only` skips the read and reopen phases, so a heap profiler sees the append path alone.
    let appendsOnly = allArguments.contains("--appends-only")
    let arguments = allArguments.filter { $0 != "--appends-only" }
    guard arguments.count == 3 || arguments.count == 4, let count = Int(arguments[1]), let size = Int(arguments[2]), count > 0 else {
        fail("usage: vigil-spool-crash-writer --bench DIR COUNT PAYLOAD_BYTES [always|interval|never] [--appends-only]")
    }
    let policy = arguments.count == 4 ? SpoolConfiguration.FsyncPolicy(rawValue: arguments[3]) : .never
    guard let policy else { fail("fsync policy must be always, interval or never") }
    let configuration = SpoolConfiguration(directory: arguments[0], fsync: policy)
    var payload = [UInt8](repeating: 0, count: size)
    var generator = SplitMix64(seed: 42)
    for index in payload.indices {
        payload[index] = UInt8(truncatingIfNeeded: generator.next())
    }
    let clock = ContinuousClock()

    var spool = try Spool(configuration: configuration, logger: logger)
    var id = spool.lastRecordID ?? 0
    // Keep the last `retained` records pending so the recovery measurement below has something to scan.
    let retained = min(count, configuration.maxTotalBytes / 2 / (size + 28))
    var appendTime = Duration.zero
    var slowest = Duration.zero
    for index in 0..<count {
        id += 1
        let start = clock.now
        try await spool.append(id: id, payload: payload)
        let elapsed = clock.now - start
        appendTime += elapsed
        slowest = max(slowest, elapsed)
        if index % 1024 == 1023 && count - index > retained {
            spool.acknowledge(upTo: id)
        }
    }
    let perAppend = appendTime / count
    let seconds = Double(appendTime.components.seconds) + Double(appendTime.components.attoseconds) / 1e18
    emit("append: \(count) x \(size) B, fsync=\(policy.rawValue): \(format(perAppend)) per append (slowest \(format(slowest))),")
    emit("        \(Int(Double(count) / seconds)) appends/s, \(Int(Double(count * size) / seconds / 1e6)) MB/s of payload")

    if appendsOnly {
        spool.close()
        return
    }
    let readStart = clock.now
    var read = 0
    var after: UInt64?
    while true {
        let batch = try spool.pending(after: after, limit: 256)
        guard let last = batch.last else { break }
        read += batch.count
        after = last.id
    }
    let readTime = clock.now - readStart
    emit("read:   \(read) pending records in \(format(readTime)) (\(format(readTime / max(read, 1))) per record)")
    spool.close()

    let recoverStart = clock.now
    spool = try Spool(configuration: configuration, logger: logger)
    let recoverTime = clock.now - recoverStart
    let stats = spool.stats
    emit("open:   recovered \(stats.pendingRecords) records, \(stats.bytes / 1_048_576) MiB in \(stats.segments) segments in \(format(recoverTime))")
    spool.close()

    let crcBytes = [UInt8](repeating: 0x5A, count: 1 << 20)
    let crcStart = clock.now
    var crc: UInt32 = 0
    for _ in 0..<256 {
        crc = CRC32C.checksum(crcBytes, continuing: crc)
    }
    let crcTime = clock.now - crcStart
    let crcSeconds = Double(crcTime.components.seconds) + Double(crcTime.components.attoseconds) / 1e18
    emit("crc32c: \(Double(Int(256.0 / 1024 / crcSeconds * 100)) / 100) GiB/s (checksum \(crc))")
}

func format(_ duration: Duration) -> String {
    let nanoseconds = Double(duration.components.seconds) * 1e9 + Double(duration.components.attoseconds) / 1e9
    if nanoseconds < 1e3 { return "\(Int(nanoseconds)) ns" }
    if nanoseconds < 1e6 { return "\(Double(Int(nanoseconds / 10)) / 100) µs" }
    if nanoseconds < 1e9 { return "\(Double(Int(nanoseconds / 1e4)) / 100) ms" }
    return "\(Double(Int(nanoseconds / 1e7)) / 100) s"
}

let arguments = Array(CommandLine.arguments.dropFirst())
do {
    if arguments.first == "--bench" {
        try await runBenchmark(Array(arguments.dropFirst()))
    } else {
        try await runCrashWriter(arguments)
    }
} catch {
    fail("\(error)")
}
