// Vigil agent spool: startup recovery, from whatever the directory holds to a consistent index.

import Logging

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Recovery rules, applied by `Spool.init` before anything else touches the directory:
///
/// 1. `ack.tmp` (a write interrupted before its rename) is deleted; `ack` is read, and if it is missing or fails its
///    CRC every record counts as pending (resent, deduped by the collector).
/// 2. Files named `<20 digits>.seg` are scanned in name order; every other name is left alone. Each record must be
///    intact (magic, version, length within the file, CRC) and carry an id above every id accepted before it.
/// 3. A damaged stretch followed by an intact record (a bit flip in an older record, a zeroed block) is skipped: the
///    scanner resyncs at the next intact record (`SegmentScanner`). Each stretch counts as one record in
///    `vigil_agent_spool_dropped_records_total{reason="corrupt"}` and is logged.
/// 4. A damaged stretch with no intact record after it, in the newest segment, is a torn last write: the file is
///    truncated there and the cut bytes go to `vigil_agent_spool_recovered_truncated_bytes_total` and a warning. In an
///    older segment the same stretch counts as corrupt (rule 3) and the file is left as it is.
/// 5. Segments with no pending record left (all acknowledged per the ack file, or no intact record at all) are deleted.
/// 6. The newest segment is reopened for appending when it ends cleanly and has room; otherwise the next append starts
///    a new segment.
/// 7. `lastRecordID` is the highest id among the intact records and the ack file.
///
/// Nothing in the directory can make recovery crash: every length is bounds-checked before use and nothing is
/// force-unwrapped. Only failing system calls (permissions, I/O errors) make `init` throw.
extension Spool {
    static func recover(
        configuration: SpoolConfiguration,
        directoryFD: Int32,
        logger: Logger,
        metrics: SpoolMetrics
    ) throws(SpoolError) -> SpoolState {
        let directory = configuration.directory
        var state = SpoolState()
        // A leftover is an ack write that never reached its rename; failing to remove it only costs a warning later.
        try? FileIO.unlink(directory + "/" + AckState.temporaryFileName)
        var acks = AckState()
        if let bytes = FileIO.readSmallFile(directory + "/" + AckState.fileName, limit: 64 * 1024) {
            if let decoded = AckState.decode(bytes) {
                acks = decoded
                state.persistedAcks = decoded
            } else {
                logger.warning(
                    "Spool ack file is unreadable; pending records will be sent again.",
                    metadata: ["spool.directory": "\(directory)"]
                )
            }
        }

        var candidates: [(baseID: UInt64, path: String)] = []
        var ignored = 0
        for name in try listDirectory(directory) {
            if let baseID = RecordFormat.parseSegmentFileName(name) {
                candidates.append((baseID, directory + "/" + name))
            } else if name != AckState.fileName && name != "lock" {
                ignored += 1
            }
        }
        candidates.sort { $0.baseID < $1.baseID }
        if ignored > 0 {
            logger.info("Spool ignored unknown files in its directory.", metadata: ["spool.directory": "\(directory)", "spool.files": "\(ignored)"])
        }

        var previousID: UInt64?
        var reopenNewest = false
        var deletedAny = false
        for (position, candidate) in candidates.enumerated() {
            let isNewest = position == candidates.count - 1
            guard
                let scanned = try scanSegmentFile(
                    candidate.path,
                    after: previousID,
                    isNewest: isNewest,
                    configuration: configuration,
                    logger: logger,
                    metrics: metrics,
                    state: &state
                )
            else { continue }
            var records = scanned.records
            for index in records.indices where acks.isAcknowledged(records[index].id) {
                records[index].acked = true
            }
            if let last = records.last {
                previousID = last.id
            }
            let segment = Segment(baseID: candidate.baseID, path: candidate.path, bytes: scanned.bytes, records: records)
            if segment.isFullyAcked {
                do {
                    try FileIO.unlink(candidate.path)
                    deletedAny = true
                    logger.debug("Spool deleted a segment with nothing pending.", metadata: ["spool.segment": "\(candidate.path)"])
                } catch {
                    logger.warning(
                        "Spool could not delete a segment with nothing pending.",
                        metadata: ["spool.segment": "\(candidate.path)", "error.message": "\(error)"]
                    )
                }
                continue
            }
            state.segments.append(segment)
            state.totalBytes += segment.bytes
            state.pendingCount += segment.pendingCount
            reopenNewest = isNewest && scanned.endsCleanly && segment.bytes < configuration.segmentMaxBytes
        }
        if reopenNewest, let newest = state.segments.last {
            state.activeFD = try FileIO.open(newest.path, flags: O_WRONLY | O_APPEND)
        }
        if configuration.fsync == .always && deletedAny {
            try FileIO.syncDirectory(directoryFD, path: directory)
        }

        state.lastRecordID = [previousID, acks.watermark, acks.sparse.last].compactMap { $0 }.max()
        let watermark = state.ackWatermark
        state.outOfOrderAcks = acks.sparse.filter { id in watermark.map { id > $0 } ?? true }
        state.lastSyncNanoseconds = FileIO.monotonicNanoseconds()
        logger.info(
            "Spool opened.",
            metadata: [
                "spool.directory": "\(directory)",
                "spool.segments": "\(state.segments.count)",
                "spool.pending_records": "\(state.pendingCount)",
                "spool.bytes": "\(state.totalBytes)",
                "spool.last_record_id": "\(state.lastRecordID.map { String($0) } ?? "none")",
            ]
        )
        return state
    }

    /// One segment's intact records and the file size they end at.
    struct ScannedSegment {
        var records: ContiguousArray<RecordSlot>
        var bytes: Int
        /// Whether the file ends right after its last intact record (so appending to it keeps it clean).
        var endsCleanly: Bool
    }

    /// Scans one segment file (rules 2-4); nil when the name is not a regular file (left alone).
    static func scanSegmentFile(
        _ path: String,
        after previousID: UInt64?,
        isNewest: Bool,
        configuration: SpoolConfiguration,
        logger: Logger,
        metrics: SpoolMetrics,
        state: inout SpoolState
    ) throws(SpoolError) -> ScannedSegment? {
        // Read-only and non-blocking: a FIFO or device given a segment's name must not hang or fail the open.
        let fd = try FileIO.open(path, flags: O_RDONLY | O_NONBLOCK)
        defer { FileIO.close(fd) }
        let status = try FileIO.status(fd, path: path)
        guard status.isRegular else {
            logger.warning("Spool ignored a segment name that is not a regular file.", metadata: ["spool.segment": "\(path)"])
            return nil
        }
        var size = status.size
        var scan = SegmentScan()
        if size > 0 {
            // Mapped, not read: a segment may be up to 1 GiB and recovery only needs each byte once.
            guard let mapped = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), mapped != UnsafeMutableRawPointer(bitPattern: -1) else {
                throw SpoolError.io("mmap", path: path)
            }
            scan = SegmentScanner.scan(UnsafeRawBufferPointer(start: mapped, count: size), after: previousID)
            munmap(mapped, size)
        }
        var endsCleanly = true
        if let tail = scan.tailStart {
            if isNewest {
                let writable = try FileIO.open(path, flags: O_WRONLY)
                defer { FileIO.close(writable) }
                try FileIO.truncate(writable, to: tail, path: path)
                if configuration.fsync == .always {
                    try FileIO.syncData(writable, path: path)
                }
                let cut = size - tail
                state.truncatedBytes += cut
                metrics.recoveredTruncatedBytes.increment(by: cut)
                logger.warning(
                    "Spool truncated a torn write at the end of the newest segment.",
                    metadata: ["spool.segment": "\(path)", "spool.truncated_bytes": "\(cut)", "spool.offset": "\(tail)"]
                )
                size = tail
            } else {
                scan.corruptRegions += 1
                scan.corruptBytes += size - tail
                endsCleanly = false
            }
        }
        if scan.corruptRegions > 0 {
            state.droppedCorrupt += scan.corruptRegions
            metrics.droppedCorrupt.increment(by: scan.corruptRegions)
            logger.warning(
                "Spool skipped corrupt records in a segment.",
                metadata: [
                    "spool.segment": "\(path)",
                    "spool.corrupt_records": "\(scan.corruptRegions)",
                    "spool.corrupt_bytes": "\(scan.corruptBytes)",
                    "spool.intact_records": "\(scan.records.count)",
                ]
            )
        }
        return ScannedSegment(records: scan.records, bytes: size, endsCleanly: endsCleanly)
    }

    /// `mkdir -p`.
    static func makeDirectories(_ path: String) throws(SpoolError) {
        var current = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            current += "/" + component
            if mkdir(current, 0o755) != 0 && errno != EEXIST {
                throw SpoolError.io("mkdir", path: current)
            }
        }
    }

    /// Names in a directory, without `.` and `..`.
    static func listDirectory(_ path: String) throws(SpoolError) -> [String] {
        guard let handle = opendir(path) else {
            throw SpoolError.io("opendir", path: path)
        }
        defer { closedir(handle) }
        var names: [String] = []
        while let entry = readdir(handle) {
            let name = withUnsafeBytes(of: &entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." {
                names.append(name)
            }
        }
        return names
    }
}
