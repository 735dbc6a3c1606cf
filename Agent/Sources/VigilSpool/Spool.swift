// Vigil agent spool: a durable, append-only disk queue of batches awaiting the collector's acknowledgement.

import Logging
import Metrics
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// The agent's disk spool: every batch is appended here before it is sent, and deleted only after the collector acks
/// it, so batches survive collector outages, agent crashes and (with `fsync: always`) power loss.
///
/// Modelled on Kafka's log segments and Vector's disk buffer: records go into append-only segment files named by their
/// first id (format in `RecordFormat`); a segment is deleted whole once all its records are acknowledged; what has been
/// acknowledged is persisted in a small `ack` file (see `AckState`) so a restart resends nothing the collector already
/// has. `init` runs recovery (see `Spool+Recovery.swift`): a torn tail is cut, a corrupt record is skipped and counted,
/// nothing in the directory can crash it.
///
/// Thread safety: all state sits behind one `Mutex`; the append path takes it once, writes with one `writev` and (per
/// policy) one `fdatasync`, both under the lock so records land in id order. Reads for `pending` happen outside the
/// lock on their own descriptors. `append` is `async` only to wait for space under `whenFull: block`; it does not
/// suspend otherwise.
///
/// Delivery contract: at least once. A record is pending from `append` until `acknowledge`; a crash between the
/// collector's ack and `acknowledge` resends it, which the collector's per-agent sequence dedupe absorbs.
public final class Spool: Sendable {
    /// The configuration the spool was opened with.
    public let configuration: SpoolConfiguration

    /// Bytes each record takes on disk besides its payload (the header; see `RecordFormat`). Segment and total budgets
    /// count these too.
    public static let recordHeaderBytes = RecordFormat.headerBytes

    let logger: Logger
    let metrics: SpoolMetrics
    let state: Mutex<SpoolState>
    /// The spool directory itself, kept open to `fsync` it after creating or renaming files.
    let directoryFD: Int32
    /// The `lock` file, held with `flock` for the life of the spool: two agents on one directory would interleave ids.
    let lockFD: Int32

    /// Opens (creating if needed) the spool directory, takes its lock and recovers its content.
    ///
    /// - Parameters:
    ///   - configuration: Must pass `validate()`; otherwise throws `SpoolError.Code.invalidConfiguration` listing all
    ///     problems.
    ///   - logger: Recovery findings are logged at warning, opening at info, nothing per record above debug.
    ///   - metricsFactory: Where the `vigil_agent_spool_*` instruments are created (tests inject their own).
    /// - Throws: `SpoolError` with code `.invalidConfiguration`, `.locked` (another spool has the directory) or `.io`.
    public init(
        configuration: SpoolConfiguration,
        logger: Logger,
        metricsFactory: any MetricsFactory = MetricsSystem.factory
    ) throws {
        let problems = configuration.validate()
        guard problems.isEmpty else {
            throw SpoolError(code: .invalidConfiguration, message: problems.joined(separator: "; "))
        }
        let directory = configuration.directory
        try Self.makeDirectories(directory)
        let lockPath = directory + "/lock"
        let lockFD = try FileIO.open(lockPath, flags: O_RDWR | O_CREAT)
        do {
            try Self.lock(lockFD, path: lockPath)
        } catch {
            FileIO.close(lockFD)
            throw error
        }
        let directoryFD: Int32
        do {
            directoryFD = try FileIO.open(directory, flags: O_RDONLY | O_DIRECTORY)
        } catch {
            FileIO.close(lockFD)
            throw error
        }
        let metrics = SpoolMetrics(factory: metricsFactory)
        let recovered: SpoolState
        do {
            recovered = try Self.recover(
                configuration: configuration,
                directoryFD: directoryFD,
                logger: logger,
                metrics: metrics
            )
        } catch {
            FileIO.close(directoryFD)
            FileIO.close(lockFD)
            throw error
        }
        self.configuration = configuration
        self.logger = logger
        self.metrics = metrics
        self.directoryFD = directoryFD
        self.lockFD = lockFD
        self.state = Mutex(recovered)
        state.withLock { emitGauges($0) }
    }

    /// Takes the directory's `flock`, retrying for up to a second: a lock released by a `close()` in this process can
    /// still be held for a moment by a child process between `fork` and `exec` (the child shares the lock's open file
    /// description until `O_CLOEXEC` closes it), so an immediate reopen could otherwise fail spuriously.
    private static func lock(_ fd: Int32, path: String) throws(SpoolError) {
        var attempts = 0
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let code = errno
            if code == EINTR { continue }
            guard code == EWOULDBLOCK else { throw SpoolError.io("flock", path: path, errno: code) }
            attempts += 1
            guard attempts < 100 else {
                throw SpoolError(code: .locked, message: "another spool holds \(path)")
            }
            usleep(10_000)
        }
    }

    deinit {
        // A spool dropped without `close()` still releases its descriptors (and so its lock). Data already written is in
        // the page cache, and `fsync: always` appends were synced when they returned.
        let wasOpen = state.withLock { state -> Bool in
            guard !state.closed else { return false }
            state.closed = true
            FileIO.close(state.activeFD)
            state.activeFD = -1
            return true
        }
        if wasOpen {
            FileIO.close(directoryFD)
            FileIO.close(lockFD)
        }
    }

    // MARK: Appending

    /// Appends one record, durably per the fsync policy by the time it returns.
    ///
    /// Under `whenFull: block`, waits (suspended, not spinning) while the spool holds `maxTotalBytes`, until an
    /// `acknowledge` frees space; waiting appends proceed in arrival order. Under `dropOldest` it never waits: the
    /// oldest segments are deleted (and their pending records counted as dropped) to make room.
    ///
    /// - Parameters:
    ///   - id: The batch's sequence number. Must be greater than every id appended before (`lastRecordID`), including
    ///     before a restart.
    ///   - payload: At most `configuration.maxPayloadBytes`.
    /// - Throws: `SpoolError` (`.nonMonotonicID`, `.recordTooLarge`, `.closed`, `.io`), or `CancellationError` when the
    ///   task is cancelled while waiting for space. After a throw nothing was appended and the same id may be retried.
    public func append(id: UInt64, payload: [UInt8]) async throws {
        var isHead = false
        while true {
            let (outcome, wake) = payload.withUnsafeBytes { bytes in
                state.withLock { state -> (AppendOutcome, CheckedContinuation<Void, any Error>?) in
                    let outcome = appendLocked(&state, id: id, payload: bytes, isHead: isHead)
                    switch outcome {
                    case .full:
                        return (outcome, nil)
                    case .appended, .failed:
                        // Pass the turn on: the next waiter may fit now (or, after a failure, instead of us).
                        return (outcome, isHead || !state.waiters.isEmpty ? wakeEligibleWaiter(&state) : nil)
                    }
                }
            }
            wake?.resume()
            switch outcome {
            case .appended:
                return
            case .failed(let error):
                throw error
            case .full:
                try await waitForSpace(recordBytes: RecordFormat.headerBytes + payload.count, atFront: isHead)
                isHead = true
            }
        }
    }

    enum AppendOutcome {
        case appended
        case full
        case failed(SpoolError)
    }

    /// One append attempt under the lock: `.full` when it has to wait (only under `block`).
    func appendLocked(_ state: inout SpoolState, id: UInt64, payload: UnsafeRawBufferPointer, isHead: Bool) -> AppendOutcome {
        if isHead {
            state.headWoken = false
        }
        guard !state.closed else {
            return .failed(SpoolError(code: .closed, message: "append to a closed spool"))
        }
        guard payload.count <= configuration.maxPayloadBytes else {
            return .failed(
                SpoolError(
                    code: .recordTooLarge,
                    message: "record \(id) has \(payload.count) payload bytes; at most \(configuration.maxPayloadBytes) fit a segment"
                )
            )
        }
        if let last = state.lastRecordID, id <= last {
            return .failed(SpoolError(code: .nonMonotonicID, message: "record id \(id) is not above the last id \(last)"))
        }
        // Newcomers queue behind waiting appends so that ids reach the disk in the order they were waiting.
        if !isHead && (!state.waiters.isEmpty || state.headWoken) {
            return .full
        }
        let recordBytes = RecordFormat.headerBytes + payload.count
        if state.hasActiveSegment, let active = state.segments.last, active.bytes + recordBytes > configuration.segmentMaxBytes {
            sealActiveSegment(&state)
        }
        if state.totalBytes + recordBytes > configuration.maxTotalBytes {
            switch configuration.whenFull {
            case .block:
                return .full
            case .dropOldest:
                dropOldestSegments(&state, toFit: recordBytes)
            }
        }
        do {
            if !state.hasActiveSegment {
                try createSegment(&state, firstID: id)
            }
            try writeRecord(&state, id: id, payload: payload)
        } catch {
            return .failed(error)
        }
        metrics.appends.increment()
        emitGauges(state)
        return .appended
    }

    /// Writes the record to the active segment, indexes it and syncs per policy; on any failure undoes the write (so
    /// the caller may retry the id) and seals the segment.
    private func writeRecord(_ state: inout SpoolState, id: UInt64, payload: UnsafeRawBufferPointer) throws(SpoolError) {
        let index = state.segments.count - 1
        let path = state.segments[index].path
        let offset = state.segments[index].bytes
        let timestamp = FileIO.wallClockMilliseconds()
        let fd = state.activeFD
        let written = withUnsafeTemporaryAllocation(byteCount: RecordFormat.headerBytes, alignment: 8) { header -> SpoolError? in
            RecordFormat.encodeHeader(into: header, id: id, timestampMilliseconds: timestamp, payload: payload)
            do throws(SpoolError) {
                try FileIO.writeAll(fd, UnsafeRawBufferPointer(header), payload, path: path)
                return nil
            } catch {
                return error
            }
        }
        if let written {
            abandonActiveSegment(&state, restoringSize: offset)
            throw written
        }
        let recordBytes = RecordFormat.headerBytes + payload.count
        state.segments[index].records.append(
            RecordSlot(id: id, timestampMilliseconds: timestamp, offset: offset, length: UInt32(payload.count), acked: false)
        )
        state.segments[index].bytes += recordBytes
        state.totalBytes += recordBytes
        state.pendingCount += 1
        let previousLastID = state.lastRecordID
        state.lastRecordID = id
        do {
            try syncAfterAppend(&state)
        } catch {
            // fsync failed: the page cache may or may not hold the record (Linux drops the dirty pages and reports the
            // error once). Take it out of the index and the file, so the caller's retry is the only copy.
            state.segments[index].records.removeLast()
            state.segments[index].bytes -= recordBytes
            state.totalBytes -= recordBytes
            state.pendingCount -= 1
            state.lastRecordID = previousLastID
            abandonActiveSegment(&state, restoringSize: offset)
            throw error
        }
    }

    /// After a failed write: truncate the partial record away and stop appending to this segment (the next append
    /// starts a new one); an empty segment is removed.
    private func abandonActiveSegment(_ state: inout SpoolState, restoringSize size: Int) {
        guard state.hasActiveSegment, let index = state.segments.indices.last else { return }
        let path = state.segments[index].path
        do {
            try FileIO.truncate(state.activeFD, to: size, path: path)
        } catch {
            // Left as a damaged tail of a sealed segment, which recovery skips and counts.
            logger.warning(
                "Spool could not truncate a failed write.",
                metadata: ["spool.segment": "\(path)", "error.message": "\(error)"]
            )
            state.segments[index].bytes = (try? FileIO.status(state.activeFD, path: path).size) ?? size
        }
        FileIO.close(state.activeFD)
        state.activeFD = -1
        state.dataDirty = false
        if state.segments[index].records.isEmpty {
            removeSegment(&state, at: index)
        }
    }

    /// Starts a new segment named by `firstID` (or just above the newest existing name, so names keep sorting in id
    /// order even if a segment was named ahead of its ids).
    private func createSegment(_ state: inout SpoolState, firstID: UInt64) throws(SpoolError) {
        var baseID = firstID
        if let newest = state.segments.last, newest.baseID >= baseID, newest.baseID < UInt64.max {
            baseID = newest.baseID + 1
        }
        var path = configuration.directory + "/" + RecordFormat.segmentFileName(baseID: baseID)
        var fd: Int32 = -1
        // A non-file (say a directory) squatting on the name is skipped by recovery but blocks O_EXCL: take the next
        // name. Record lookups go by the ids inside, so a segment named above its first id is harmless.
        for attempt in 0..<16 {
            do {
                fd = try FileIO.open(path, flags: O_WRONLY | O_CREAT | O_EXCL | O_APPEND)
                break
            } catch {
                guard error.systemError == EEXIST, attempt < 15, baseID < UInt64.max else { throw error }
                baseID += 1
                path = configuration.directory + "/" + RecordFormat.segmentFileName(baseID: baseID)
            }
        }
        state.segments.append(Segment(baseID: baseID, path: path, bytes: 0, records: []))
        state.activeFD = fd
        state.directoryDirty = true
        logger.debug("Spool started a segment.", metadata: ["spool.segment": "\(path)"])
    }

    /// Stops appending to the active segment (it is full). Syncs it first under `interval`, since the periodic sync only
    /// knows the active descriptor; deletes it at once if everything in it is already acknowledged.
    func sealActiveSegment(_ state: inout SpoolState) {
        guard state.hasActiveSegment, let index = state.segments.indices.last else { return }
        if configuration.fsync == .interval && state.dataDirty {
            do {
                try syncActive(&state)
            } catch {
                logger.warning(
                    "Spool could not sync a full segment.",
                    metadata: ["spool.segment": "\(state.segments[index].path)", "error.message": "\(error)"]
                )
            }
        }
        FileIO.close(state.activeFD)
        state.activeFD = -1
        state.dataDirty = false
        if state.segments[index].isFullyAcked {
            removeSegment(&state, at: index)
        }
    }

    /// `whenFull: dropOldest`: deletes whole segments, oldest first, until the record fits. Whole segments because
    /// that is the unit in which disk space comes back (as in Kafka's retention); the pending records in them are
    /// counted and logged as dropped.
    private func dropOldestSegments(_ state: inout SpoolState, toFit recordBytes: Int) {
        while state.totalBytes + recordBytes > configuration.maxTotalBytes, let oldest = state.segments.first {
            if state.segments.count == 1 && state.hasActiveSegment {
                FileIO.close(state.activeFD)
                state.activeFD = -1
                state.dataDirty = false
            }
            let lost = oldest.pendingCount
            removeSegment(&state, at: 0)
            guard lost > 0 else { continue }
            state.droppedFull += lost
            metrics.droppedFull.increment(by: lost)
            logger.warning(
                "Spool full; dropped the oldest segment.",
                metadata: [
                    "spool.segment": "\(oldest.path)",
                    "spool.dropped_records": "\(lost)",
                    "spool.max_total_bytes": "\(configuration.maxTotalBytes)",
                ]
            )
        }
    }

    /// Deletes a segment file and forgets its records (the caller handles the active descriptor and the counting).
    func removeSegment(_ state: inout SpoolState, at index: Int) {
        let segment = state.segments.remove(at: index)
        state.totalBytes -= segment.bytes
        state.pendingCount -= segment.pendingCount
        do {
            try FileIO.unlink(segment.path)
        } catch {
            logger.warning(
                "Spool could not delete a segment.",
                metadata: ["spool.segment": "\(segment.path)", "error.message": "\(error)"]
            )
        }
    }

    // MARK: Waiting for space

    /// Whether a record of this size can be appended now, counting the space a full, fully acked active segment gives
    /// back when the append seals it.
    func fits(_ state: SpoolState, recordBytes: Int) -> Bool {
        var total = state.totalBytes
        if state.hasActiveSegment, let active = state.segments.last, active.isFullyAcked,
            active.bytes + recordBytes > configuration.segmentMaxBytes
        {
            total -= active.bytes
        }
        return total + recordBytes <= configuration.maxTotalBytes
    }

    /// Wakes the first waiting append if it fits now; the woken append retries as head of the queue.
    func wakeEligibleWaiter(_ state: inout SpoolState) -> CheckedContinuation<Void, any Error>? {
        guard !state.headWoken, let head = state.waiters.first, fits(state, recordBytes: head.recordBytes) else { return nil }
        state.waiters.removeFirst()
        state.headWoken = true
        return head.continuation
    }

    /// Suspends until `wakeEligibleWaiter` resumes this append, the spool closes, or the task is cancelled. Checking for
    /// space and enqueuing happen under one lock hold, so an acknowledgement cannot slip between them and be missed.
    private func waitForSpace(recordBytes: Int, atFront: Bool) async throws {
        let token = state.withLock { state in
            state.nextWaiterToken += 1
            return state.nextWaiterToken
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                var wake: CheckedContinuation<Void, any Error>?
                let immediate = state.withLock { state -> Result<Void, any Error>? in
                    if state.closed {
                        return .failure(SpoolError(code: .closed, message: "append to a closed spool"))
                    }
                    // Cancellation sets the flag before running the handler, so either the handler finds the waiter
                    // below or this check sees the flag.
                    if Task.isCancelled {
                        if atFront {
                            // We were the head; whoever is next may fit where we did not.
                            wake = wakeEligibleWaiter(&state)
                        }
                        return .failure(CancellationError())
                    }
                    let myTurn = atFront || (state.waiters.isEmpty && !state.headWoken)
                    if myTurn && fits(state, recordBytes: recordBytes) {
                        state.headWoken = true
                        return .success(())
                    }
                    let waiter = Waiter(token: token, recordBytes: recordBytes, continuation: continuation)
                    if atFront {
                        state.waiters.insert(waiter, at: 0)
                    } else {
                        state.waiters.append(waiter)
                    }
                    return nil
                }
                wake?.resume()
                if let immediate {
                    continuation.resume(with: immediate)
                }
            }
        } onCancel: {
            let (cancelled, wake) = state.withLock { state -> (Waiter?, CheckedContinuation<Void, any Error>?) in
                guard let index = state.waiters.firstIndex(where: { $0.token == token }) else { return (nil, nil) }
                let cancelled = state.waiters.remove(at: index)
                return (cancelled, index == 0 ? wakeEligibleWaiter(&state) : nil)
            }
            cancelled?.continuation.resume(throwing: CancellationError())
            wake?.resume()
        }
    }

    // MARK: Acknowledging

    /// Marks every record with an id ≤ `id` as delivered. Segments whose records are all delivered are deleted (except
    /// the active one, which goes when it fills); the new state is persisted to the `ack` file first, so a restart
    /// resends none of them. A failure to persist is logged, not thrown: the cost is a resend after a restart, which
    /// the collector dedupes.
    ///
    /// - Returns: How many pending records this acknowledged.
    @discardableResult
    public func acknowledge(upTo id: UInt64) -> Int {
        let (count, wake) = state.withLock { state -> (Int, CheckedContinuation<Void, any Error>?) in
            guard !state.closed else { return (0, nil) }
            var count = 0
            for index in state.segments.indices {
                guard let first = state.segments[index].records.first?.id, first <= id else { break }
                count += state.segments[index].acknowledge(upTo: id)
            }
            guard count > 0 else { return (0, nil) }
            state.pendingCount -= count
            return (count, finishAcknowledging(&state))
        }
        wake?.resume()
        return count
    }

    /// Marks the record with exactly this id as delivered (for shippers that have several batches in flight and get
    /// their acks out of order).
    ///
    /// - Returns: Whether the record was pending.
    @discardableResult
    public func acknowledge(id: UInt64) -> Bool {
        let (changed, wake) = state.withLock { state -> (Bool, CheckedContinuation<Void, any Error>?) in
            guard !state.closed, let index = state.segmentIndex(for: id), state.segments[index].acknowledge(id: id) else {
                return (false, nil)
            }
            state.pendingCount -= 1
            state.outOfOrderAcks.insert(id, at: insertionIndex(state.outOfOrderAcks, id))
            return (true, finishAcknowledging(&state))
        }
        wake?.resume()
        return changed
    }

    /// After records stopped being pending: persist the ack state, delete fully acked sealed segments, update gauges and
    /// pick a waiter to wake.
    func finishAcknowledging(_ state: inout SpoolState) -> CheckedContinuation<Void, any Error>? {
        let watermark = state.ackWatermark
        if let watermark {
            let stale = insertionIndex(state.outOfOrderAcks, watermark == UInt64.max ? watermark : watermark + 1)
            if stale > 0 {
                state.outOfOrderAcks.removeFirst(stale)
            }
        }
        persistAcks(&state, AckState(watermark: watermark, sparse: state.outOfOrderAcks))
        var index = 0
        while index < state.segments.count {
            let isActive = state.hasActiveSegment && index == state.segments.count - 1
            if !isActive && state.segments[index].isFullyAcked {
                removeSegment(&state, at: index)
            } else {
                index += 1
            }
        }
        emitGauges(state)
        return wakeEligibleWaiter(&state)
    }

    /// Writes the ack file (`ack.tmp`, then rename) unless it already holds this state. Synced only under `fsync: always`:
    /// losing it costs resends, never data.
    private func persistAcks(_ state: inout SpoolState, _ acks: AckState) {
        guard acks != state.persistedAcks else { return }
        let directory = configuration.directory
        let temporaryPath = directory + "/" + AckState.temporaryFileName
        let bytes = acks.encoded()
        do {
            let fd = try FileIO.open(temporaryPath, flags: O_WRONLY | O_CREAT | O_TRUNC)
            defer { FileIO.close(fd) }
            try bytes.withUnsafeBytes { buffer in try FileIO.writeAll(fd, buffer, path: temporaryPath) }
            if configuration.fsync == .always {
                try FileIO.syncData(fd, path: temporaryPath)
            }
            try FileIO.rename(temporaryPath, directory + "/" + AckState.fileName)
            if configuration.fsync == .always {
                try FileIO.syncDirectory(directoryFD, path: directory)
            }
            state.persistedAcks = acks
            if state.ackPersistFailing {
                state.ackPersistFailing = false
                logger.info("Spool is persisting acknowledgements again.", metadata: ["spool.directory": "\(directory)"])
            }
        } catch {
            state.persistedAcks = nil
            if !state.ackPersistFailing {
                state.ackPersistFailing = true
                logger.warning(
                    "Spool could not persist acknowledgements; records may be resent after a restart.",
                    metadata: ["spool.directory": "\(directory)", "error.message": "\(error)"]
                )
            }
        }
    }

    // MARK: Reading

    /// The oldest pending records, in id order, read back from disk and checked against their CRC.
    ///
    /// Records that fail the check are skipped, counted in `vigil_agent_spool_dropped_records_total{reason="corrupt"}`
    /// and no longer pending. Records acknowledged while this call reads may still be returned (at least once).
    ///
    /// - Parameters:
    ///   - id: Return only records with a greater id (a shipper with batches in flight passes the last one it sent);
    ///     nil for the oldest pending.
    ///   - limit: At most this many records.
    /// - Throws: `SpoolError` with code `.io` when a segment cannot be read, `.closed` after `close()`.
    public func pending(after id: UInt64? = nil, limit: Int) throws -> [SpoolRecord] {
        guard limit > 0 else { return [] }
        let locations = try state.withLock { state throws(SpoolError) -> [(path: String, slot: RecordSlot)] in
            guard !state.closed else { throw SpoolError(code: .closed, message: "read from a closed spool") }
            var locations: [(path: String, slot: RecordSlot)] = []
            for segment in state.segments {
                var index = segment.firstUnacked
                if let id {
                    if let last = segment.records.last, last.id <= id { continue }
                    index = max(index, segment.firstIndex(notBelow: id == UInt64.max ? id : id + 1))
                }
                while index < segment.records.count && locations.count < limit {
                    if !segment.records[index].acked {
                        locations.append((segment.path, segment.records[index]))
                    }
                    index += 1
                }
                if locations.count >= limit { break }
            }
            return locations
        }
        var records: [SpoolRecord] = []
        records.reserveCapacity(locations.count)
        var corrupt: [(path: String, id: UInt64)] = []
        var openPath: String?
        var fd: Int32 = -1
        defer { FileIO.close(fd) }
        for location in locations {
            if location.path != openPath {
                FileIO.close(fd)
                openPath = location.path
                // Nil when acknowledged and deleted since we looked: no longer pending.
                fd = try FileIO.openIfExists(location.path, flags: O_RDONLY) ?? -1
            }
            guard fd >= 0 else { continue }
            if let record = try Self.readRecord(fd, slot: location.slot, path: location.path) {
                records.append(record)
            } else {
                corrupt.append((location.path, location.slot.id))
            }
        }
        if !corrupt.isEmpty {
            markCorrupt(corrupt)
        }
        return records
    }

    /// Reads and checks one record; nil when the bytes on disk no longer match what was written.
    private static func readRecord(_ fd: Int32, slot: RecordSlot, path: String) throws(SpoolError) -> SpoolRecord? {
        let length = Int(slot.length)
        var header: (UInt64, UInt64, UInt64, UInt32) = (0, 0, 0, 0)
        let headerRead = try withUnsafeMutableBytes(of: &header) { buffer throws(SpoolError) in
            try FileIO.read(fd, into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<RecordFormat.headerBytes]), at: slot.offset, path: path)
        }
        guard headerRead == RecordFormat.headerBytes else { return nil }
        var payloadRead = 0
        var readError: SpoolError?
        let payload = [UInt8](unsafeUninitializedCapacity: length) { buffer, initialized in
            do throws(SpoolError) {
                payloadRead = try FileIO.read(
                    fd,
                    into: UnsafeMutableRawBufferPointer(buffer),
                    at: slot.offset + RecordFormat.headerBytes,
                    path: path
                )
            } catch {
                readError = error
            }
            // Zero whatever was not read, so the array never exposes uninitialised memory.
            if payloadRead < length, let base = buffer.baseAddress {
                (base + payloadRead).initialize(repeating: 0, count: length - payloadRead)
            }
            initialized = length
        }
        if let readError { throw readError }
        guard payloadRead == length else { return nil }
        let intact = withUnsafeBytes(of: &header) { raw -> Bool in
            let headerBytes = UnsafeRawBufferPointer(rebasing: raw[0..<RecordFormat.headerBytes])
            guard let decoded = RecordFormat.decodeHeader(headerBytes), decoded.id == slot.id, decoded.length == length else {
                return false
            }
            return payload.withUnsafeBytes { RecordFormat.checksum(header: headerBytes, payload: $0) } == decoded.crc
        }
        return intact ? SpoolRecord(id: slot.id, payload: payload, appendedAtMilliseconds: slot.timestampMilliseconds) : nil
    }

    /// Records that failed their check on read: no longer pending, counted and logged as corrupt.
    private func markCorrupt(_ records: [(path: String, id: UInt64)]) {
        let wake = state.withLock { state -> CheckedContinuation<Void, any Error>? in
            guard !state.closed else { return nil }
            var count = 0
            for record in records {
                guard let index = state.segmentIndex(for: record.id), state.segments[index].acknowledge(id: record.id) else { continue }
                count += 1
                state.outOfOrderAcks.insert(record.id, at: insertionIndex(state.outOfOrderAcks, record.id))
                logger.warning(
                    "Spool record failed its checksum when read back; skipped.",
                    metadata: ["spool.segment": "\(record.path)", "spool.record_id": "\(record.id)"]
                )
            }
            guard count > 0 else { return nil }
            state.pendingCount -= count
            state.droppedCorrupt += count
            metrics.droppedCorrupt.increment(by: count)
            return finishAcknowledging(&state)
        }
        wake?.resume()
    }

    // MARK: Durability

    /// Syncs the active segment and the directory now, whatever the policy. For SIGTERM handling and for callers that
    /// use `fsync: never|interval` but want a checkpoint.
    public func flush() throws {
        try state.withLock { state throws(SpoolError) in
            guard !state.closed else { return }
            try syncAll(&state)
        }
    }

    /// Under `fsync: interval`, keeps the promise "at most `fsyncIntervalMilliseconds` of appends unsynced" when appends
    /// stop (the append path only syncs when it runs), and refreshes the gauges (the oldest-age gauge moves with time).
    /// Run it in the agent's `ServiceGroup`; it returns when its task is cancelled, after a final flush. Optional under
    /// the other policies (it then only refreshes gauges, once a second).
    public func run() async {
        let milliseconds = configuration.fsync == .interval ? configuration.fsyncIntervalMilliseconds : 1000
        while !Task.isCancelled {
            do {
                try await Task.sleep(for: .milliseconds(milliseconds))
            } catch {
                break
            }
            state.withLock { state in
                guard !state.closed else { return }
                if configuration.fsync == .interval && (state.dataDirty || state.directoryDirty) {
                    do {
                        try syncAll(&state)
                    } catch {
                        logger.warning("Spool periodic sync failed.", metadata: ["error.message": "\(error)"])
                    }
                }
                emitGauges(state)
            }
        }
        do {
            try flush()
        } catch {
            logger.warning("Spool final flush failed.", metadata: ["error.message": "\(error)"])
        }
    }

    /// Per-policy sync after an append.
    private func syncAfterAppend(_ state: inout SpoolState) throws(SpoolError) {
        switch configuration.fsync {
        case .always:
            try syncAll(&state)
        case .interval:
            state.dataDirty = true
            let interval = UInt64(configuration.fsyncIntervalMilliseconds) * 1_000_000
            if FileIO.monotonicNanoseconds() &- state.lastSyncNanoseconds >= interval {
                try syncAll(&state)
            }
        case .never:
            break
        }
    }

    private func syncAll(_ state: inout SpoolState) throws(SpoolError) {
        if state.hasActiveSegment {
            try syncActive(&state)
        }
        if state.directoryDirty {
            let start = FileIO.monotonicNanoseconds()
            try FileIO.syncDirectory(directoryFD, path: configuration.directory)
            metrics.fsyncDuration.recordNanoseconds(FileIO.monotonicNanoseconds() &- start)
            state.directoryDirty = false
        }
    }

    private func syncActive(_ state: inout SpoolState) throws(SpoolError) {
        guard let segment = state.segments.last else { return }
        let start = FileIO.monotonicNanoseconds()
        try FileIO.syncData(state.activeFD, path: segment.path)
        let end = FileIO.monotonicNanoseconds()
        metrics.fsyncDuration.recordNanoseconds(end &- start)
        state.lastSyncNanoseconds = end
        state.dataDirty = false
    }

    /// Flushes (unless `fsync: never`), closes the files and releases the directory lock. Appends waiting for space
    /// fail with `SpoolError.Code.closed`; later calls fail the same way (`acknowledge` does nothing). Idempotent.
    public func close() {
        let waiters = state.withLock { state -> [Waiter] in
            guard !state.closed else { return [] }
            if configuration.fsync != .never {
                do {
                    try syncAll(&state)
                } catch {
                    logger.warning("Spool flush on close failed.", metadata: ["error.message": "\(error)"])
                }
            }
            FileIO.close(state.activeFD)
            state.activeFD = -1
            state.closed = true
            FileIO.close(directoryFD)
            FileIO.close(lockFD)
            let waiters = state.waiters
            state.waiters.removeAll()
            return waiters
        }
        for waiter in waiters {
            waiter.continuation.resume(throwing: SpoolError(code: .closed, message: "spool closed while waiting for space"))
        }
    }

    // MARK: Observing

    /// The highest record id the spool has seen: in its segments, or (when those were all acknowledged and deleted) in
    /// its ack file. After a restart the agent continues its sequence above this, as a second source next to its own
    /// persisted counter. Nil for a spool that never held a record.
    public var lastRecordID: UInt64? {
        state.withLock { $0.lastRecordID }
    }

    /// A consistent snapshot of sizes, counts and losses.
    public var stats: SpoolStats {
        state.withLock { state in
            SpoolStats(
                bytes: state.totalBytes,
                segments: state.segments.count,
                pendingRecords: state.pendingCount,
                oldestPendingAgeSeconds: oldestAgeSeconds(state),
                droppedFullRecords: state.droppedFull,
                droppedCorruptRecords: state.droppedCorrupt,
                recoveredTruncatedBytes: state.truncatedBytes,
                waitingAppends: state.waiters.count,
                lastRecordID: state.lastRecordID
            )
        }
    }

    /// Re-emits the gauges; the oldest-age gauge otherwise only moves on append and acknowledge (`run()` calls this).
    public func refreshGauges() {
        state.withLock { emitGauges($0) }
    }

    func emitGauges(_ state: SpoolState) {
        metrics.bytes.record(state.totalBytes)
        metrics.segments.record(state.segments.count)
        metrics.records.record(state.pendingCount)
        metrics.oldestAgeSeconds.record(oldestAgeSeconds(state))
    }

    private func oldestAgeSeconds(_ state: SpoolState) -> Double {
        guard let oldest = state.oldestPending else { return 0 }
        let now = FileIO.wallClockMilliseconds()
        return now > oldest.timestampMilliseconds ? Double(now - oldest.timestampMilliseconds) / 1000 : 0
    }
}
