import Foundation
import SwiftProtobuf
import Synchronization
import VigilSpool
import VigilWire

/// Where each feed's data stands in durable batches: per feed and symbol, the newest bar time already sealed into
/// the spool. After a restart (a crash included) bars at or before it are skipped instead of being read, sealed and
/// shipped a second time under new sequence numbers — the collector's high-water mark only catches re-sent batches,
/// not re-read bars. With it, a replay or a fixed-start synthetic market delivers every bar exactly once across
/// kill -9; network feeds, which re-poll a window, stop re-sending the overlap.
///
/// The file is written after each spool append and before the shipper may send that batch (the shipper waits for
/// `durableSequence`), so a batch is never acknowledged and deleted while the checkpoint still lacks it. Batches
/// still in the spool at start-up are merged in as well, which covers a crash between the append and the write, and
/// the merged result is written back at once.
public final class ResumeCheckpoint: Sendable {
    public let path: String
    private let fsync: Bool
    private struct State {
        var positions: [String: [String: Int64]] = [:]
        var durableSequence: UInt64 = 0
    }
    private let state = Mutex(State())

    /// Loads `path` (a missing file is an empty checkpoint) and merges in the batches pending in `spool`.
    public init(path: String, fsync: Bool, spool: Spool?) throws {
        self.path = path
        self.fsync = fsync
        var positions: [String: [String: Int64]] = [:]
        if let data = FileManager.default.contents(atPath: path) {
            do {
                positions = try JSONDecoder().decode([String: [String: Int64]].self, from: data)
            } catch {
                throw AgentError(code: .state, message: "resume checkpoint \(path) is unreadable: \(error); move it away to start over")
            }
        }
        let loaded = positions
        if let spool {
            var after: UInt64? = nil
            while true {
                let records = try spool.pending(after: after, limit: 256)
                guard let last = records.last else { break }
                for record in records {
                    guard let envelope = try? SpooledBatch(decoding: record.payload),
                        let batch = try? Vigil_V1_Batch(serializedBytes: envelope.batch)
                    else { continue }
                    Self.merge(batch, into: &positions)
                }
                after = last.id
            }
        }
        // What the pending batches added must reach the file before the shipper may send (and then delete) them:
        // otherwise a second crash finds them neither in the spool nor in the file, and their bars are read again.
        if positions != loaded {
            try StateFile.write([UInt8](try JSONEncoder().encode(positions)), to: path, sync: fsync)
        }
        let merged = positions
        state.withLock {
            $0.positions = merged
            $0.durableSequence = spool?.lastRecordID ?? 0
        }
    }

    /// The newest durable bar time of `symbol` from `feed`, if any.
    public func position(feed: String, symbol: String) -> Int64? {
        state.withLock { $0.positions[feed]?[symbol] }
    }

    /// A snapshot for one feed, so the pipeline filters a poll with one lock.
    public func positions(feed: String) -> [String: Int64] {
        state.withLock { $0.positions[feed] ?? [:] }
    }

    public var isEmpty: Bool { state.withLock { $0.positions.isEmpty } }

    /// Batches up to `durableSequence` are covered by the file on disk.
    public var durableSequence: UInt64 { state.withLock { $0.durableSequence } }

    /// Records that batch `sequence` (now in the spool) holds bars up to `positions`, and persists the checkpoint.
    public func recordDurable(sequence: UInt64, positions newest: [SeriesPosition]) throws {
        let snapshot = state.withLock { state -> [String: [String: Int64]] in
            for position in newest where position.timestamp > state.positions[position.feed]?[position.symbol] ?? .min {
                state.positions[position.feed, default: [:]][position.symbol] = position.timestamp
            }
            return state.positions
        }
        // Even when the write fails the shipper must not stall: the batch is in the spool, and the cost of a stale
        // file is bars re-read after a crash, which the caller logs.
        defer { state.withLock { $0.durableSequence = max($0.durableSequence, sequence) } }
        let data = try JSONEncoder().encode(snapshot)
        try StateFile.write([UInt8](data), to: path, sync: fsync)
    }

    static func merge(_ batch: Vigil_V1_Batch, into positions: inout [String: [String: Int64]]) {
        for series in batch.series {
            var timestamp: Int64 = 0
            var newest = Int64.min
            for delta in series.timestampDeltasMs {
                timestamp &+= delta
                newest = max(newest, timestamp)
            }
            guard newest != .min else { continue }
            let current = positions[series.feed]?[series.symbol] ?? .min
            if newest > current { positions[series.feed, default: [:]][series.symbol] = newest }
        }
    }
}

/// The newest bar of one series in a sealed batch.
public struct SeriesPosition: Sendable, Equatable {
    public var feed: String
    public var symbol: String
    public var timestamp: Int64
}
